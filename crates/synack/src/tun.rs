//! Linux TUN devices: `/dev/net/tun` with `IFF_TUN | IFF_NO_PI`, so every read and write is one
//! whole IP datagram. The file descriptor is non-blocking and `recv` waits with poll(2) on it
//! and on an eventfd that [`Device::wakeup`] writes to.
//!
//! Creating a TUN device needs `CAP_NET_ADMIN` (root). The device is created in the network
//! namespace of the calling *thread*; see [`crate::netns`] to open one inside a namespace.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::device::{Device, Wakeup};

const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
/// `_IOW('T', 202, int)`; the encoding differs on the few architectures with other ioctl
/// direction bits.
#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "sparc64"
))]
const TUNSETIFF: libc::c_ulong = 0x8004_54ca;
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "sparc64"
)))]
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags (the rest is a union we do
/// not use).
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// A Linux TUN device carrying raw IP datagrams.
pub struct Tun {
    fd: OwnedFd,
    event: Arc<OwnedFd>,
    name: String,
    mtu: usize,
}

impl Tun {
    /// Create (or attach to) the TUN device `name` (at most 15 bytes; `%d` lets the kernel
    /// pick a number). Its MTU is taken to be 1500 until [`Tun::set_mtu`] says otherwise.
    pub fn open(name: &str) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', ' ', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?} (1 to 15 bytes, no '/' or spaces)"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("open /dev/net/tun: {e}")))?;
        let fd = OwnedFd::from(file);
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TUN | IFF_NO_PI,
            _pad: [0; 22],
        };
        for (dst, src) in req.name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: `req` is a properly sized, initialised ifreq that outlives the call.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("TUNSETIFF {name}: {e}")));
        }
        let actual: Vec<u8> = req
            .name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        // SAFETY: eventfd returns a new descriptor or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `efd` is a fresh descriptor we own.
        let event = Arc::new(unsafe { OwnedFd::from_raw_fd(efd) });
        Ok(Tun {
            fd,
            event,
            name: String::from_utf8_lossy(&actual).into_owned(),
            mtu: 1500,
        })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Set the interface MTU (`ip link set NAME mtu N`) and use it for [`Device::mtu`].
    pub fn set_mtu(&mut self, mtu: usize) -> io::Result<()> {
        ip(&["link", "set", &self.name, "mtu", &mtu.to_string()])?;
        self.mtu = mtu;
        Ok(())
    }

    /// Configure the kernel's side of the device: bring it up (`ip link set NAME up`) and, if
    /// given, add an address with its prefix (see [`Tun::add_host_addr`]), which also routes
    /// the prefix through the device. Runs `ip` in the calling thread's network namespace.
    pub fn configure_host(&self, cidr: Option<&str>) -> io::Result<()> {
        self.configure_host_addrs(cidr.as_slice())
    }

    /// Like [`Tun::configure_host`] with any number of addresses, IPv4 and IPv6 mixed
    /// (e.g. `["10.200.0.1/24", "fd00:5a::1/64"]`): each is added, then the device comes up.
    pub fn configure_host_addrs(&self, cidrs: &[&str]) -> io::Result<()> {
        for cidr in cidrs {
            self.add_host_addr(cidr)?;
        }
        ip(&["link", "set", &self.name, "up"])
    }

    /// Give the kernel's side of the device one more address with its prefix: `ip addr add
    /// CIDR dev NAME`, or for IPv6 `ip -6 addr add CIDR dev NAME nodad` (no duplicate address
    /// detection: nobody else is on a TUN link, and DAD would hold the address back for a
    /// second or more). The prefix is routed through the device.
    pub fn add_host_addr(&self, cidr: &str) -> io::Result<()> {
        if cidr.contains(':') {
            ip(&["-6", "addr", "add", cidr, "dev", &self.name, "nodad"])
        } else {
            ip(&["addr", "add", cidr, "dev", &self.name])
        }
    }
}

/// Run `ip ARGS…`; an error carries its stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running `ip {}`: {e}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// poll(2) timeout in milliseconds, rounded up so we never wake before a deadline.
fn poll_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_micros().div_ceil(1000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

impl Device for Tun {
    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<Option<usize>> {
        // Try first: under load a datagram is usually waiting and poll(2) is one syscall more.
        if let Some(n) = self.read_now(buf)? {
            return Ok(Some(n));
        }
        let mut fds = [
            libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.event.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, poll_ms(timeout)) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        if fds[1].revents != 0 {
            let mut v = 0u64;
            // SAFETY: reading 8 bytes into a u64 from our eventfd (non-blocking).
            unsafe { libc::read(self.event.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        }
        if fds[0].revents & libc::POLLIN != 0 {
            return self.read_now(buf);
        }
        if fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(io::Error::other(format!("{}: device error", self.name)));
        }
        Ok(None)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: writing `packet.len()` initialised bytes from `packet`.
        let r = unsafe { libc::write(self.fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            // A full queue or a device that is down drops the datagram; TCP retransmits.
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EIO) => Ok(()),
                _ => Err(e),
            };
        }
        Ok(())
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn wakeup(&self) -> Wakeup {
        let event = self.event.clone();
        Wakeup::new(move || {
            let one = 1u64;
            // SAFETY: writing 8 bytes from a u64 to our eventfd (non-blocking; a full counter
            // means a wakeup is pending anyway).
            unsafe { libc::write(event.as_raw_fd(), (&one as *const u64).cast(), 8) };
        })
    }
}

impl Tun {
    fn read_now(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: reading at most `buf.len()` bytes into `buf`.
        let r = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(r as usize))
    }
}

/// Network namespaces (Linux): enter one on the current thread.
pub mod netns {
    use super::*;

    /// Move the calling thread into the named network namespace (the file
    /// `/var/run/netns/NAME` that `ip netns add NAME` creates). Only this thread moves; a TUN
    /// device opened afterwards on it lives in that namespace, and so do programs it spawns.
    pub fn enter(name: &str) -> io::Result<()> {
        if name.is_empty() || name.contains(['/', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad namespace name",
            ));
        }
        let path = CString::new(format!("/var/run/netns/{name}"))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad namespace name"))?;
        // SAFETY: `path` is a valid C string.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("open netns {name}: {e}")));
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        const CLONE_NEWNET: libc::c_int = 0x4000_0000;
        // SAFETY: setns on a namespace fd; affects only the calling thread.
        if unsafe { libc::setns(fd.as_raw_fd(), CLONE_NEWNET) } < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("setns {name}: {e}")));
        }
        Ok(())
    }
}
