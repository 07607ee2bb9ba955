//! Linux TUN devices: `/dev/net/tun` with `IFF_TUN | IFF_NO_PI`, so every read and write is one
//! whole IP datagram. The file descriptor is non-blocking and `recv` waits with poll(2) on it
//! and on an eventfd that [`Device::wakeup`] writes to.
//!
//! Creating a TUN device needs `CAP_NET_ADMIN` (root). The device is created in the network
//! namespace of the calling *thread*; see [`netns`] to open one inside a namespace.
//!
//! [`Tun::open_offload`] opts in to the kernel's offloads (`IFF_VNET_HDR`, `TUNSETOFFLOAD`):
//! segments go out merged into datagrams of up to 64 KiB and come in unsplit, with checksums
//! the device completes; see `offload.rs`.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::device::{send_each, Device, Wakeup};
use crate::offload::{self, VnetHdr, F_NEEDS_CSUM, GSO_NONE, MAX_SEGMENTS, VNET_HDR_LEN};

const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
/// Every read and write starts with a `struct virtio_net_hdr`.
const IFF_VNET_HDR: libc::c_short = 0x4000;
/// `TUNSETOFFLOAD` flags: what the kernel may hand us unfinished. Partial checksums, and TCP
/// over IPv4 and IPv6 unsegmented (TSO needs CSUM). Not ECN (`TUN_F_TSO_ECN`): a datagram
/// with CWR is segmented by the kernel first.
const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;
/// `_IOC_WRITE`: the direction bits differ on the few architectures with other ioctl encodings.
#[cfg(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "sparc64"
))]
const IOC_WRITE: libc::c_ulong = 0x8000_0000;
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "sparc64"
)))]
const IOC_WRITE: libc::c_ulong = 0x4000_0000;

/// `_IOW('T', nr, int)`: a 4-byte argument written to the TUN driver.
const fn iow_tun(nr: libc::c_ulong) -> libc::c_ulong {
    IOC_WRITE | (4 << 16) | ((b'T' as libc::c_ulong) << 8) | nr
}

const TUNSETIFF: libc::c_ulong = iow_tun(202);
const TUNSETOFFLOAD: libc::c_ulong = iow_tun(208);

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
    /// Opened with [`Tun::open_offload`]: a `virtio_net_hdr` before every datagram.
    vnet: bool,
    stats: OffloadStats,
}

/// What a TUN device's offloads did: a handle to its counters (take it before the device
/// moves into a stack, read it any time).
#[derive(Clone, Debug, Default)]
pub struct OffloadStats(Arc<[AtomicU64; 4]>);

/// A snapshot of [`OffloadStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffloadCounts {
    /// Datagrams written that merged several segments (TSO).
    pub merged_writes: u64,
    /// Segments those datagrams carried.
    pub merged_segments: u64,
    /// Datagrams read that the kernel left unsegmented (`gso_type` not NONE).
    pub unsplit_reads: u64,
    /// Received datagrams whose partial checksum the device completed.
    pub checksums_completed: u64,
}

impl OffloadStats {
    fn add(&self, i: usize, n: u64) {
        self.0[i].fetch_add(n, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn get(&self) -> OffloadCounts {
        let v = |i: usize| self.0[i].load(Ordering::Relaxed);
        OffloadCounts {
            merged_writes: v(0),
            merged_segments: v(1),
            unsplit_reads: v(2),
            checksums_completed: v(3),
        }
    }
}

impl Tun {
    /// Create (or attach to) the TUN device `name` (at most 15 bytes; `%d` lets the kernel
    /// pick the lowest free number; [`Tun::name`] tells which). Its MTU is taken to be 1500
    /// until [`Tun::set_mtu`] says otherwise. A device of that name that another process
    /// holds fails with `ErrorKind::ResourceBusy`, saying so.
    pub fn open(name: &str) -> io::Result<Tun> {
        Tun::open_with(name, false)
    }

    /// Like [`Tun::open`], with the kernel's offloads on (`IFF_VNET_HDR` and `TUNSETOFFLOAD`
    /// with partial checksums and TSO for IPv4 and IPv6), which cuts the system calls per byte
    /// by up to 45 times at MTU 1500:
    ///
    /// - consecutive full-sized segments of one connection that the stack sends in one round
    ///   are written as one datagram of up to 64 KiB that the kernel takes whole (it segments
    ///   it only if it forwards it);
    /// - the kernel's own TCP sends us its 64 KiB buffers unsegmented, and leaves checksums
    ///   for us to complete; [`Device::recv_len`] is then 64 KiB, whatever the MTU.
    ///
    /// The MTU, and so the MSS the stack advertises, is unchanged. Fails with
    /// `ErrorKind::Unsupported` where the kernel does not offer the offloads (fall back to
    /// [`Tun::open`] then, or use [`Tun::open_best`]), and with the kernel's error otherwise.
    pub fn open_offload(name: &str) -> io::Result<Tun> {
        Tun::open_with(name, true)
    }

    /// [`Tun::open_offload`] where the kernel offers the offloads, else [`Tun::open`];
    /// [`Tun::offload`] tells which. Other errors (no permission, a name in use) are returned.
    pub fn open_best(name: &str) -> io::Result<Tun> {
        match Tun::open_with(name, true) {
            Err(e) if e.kind() == io::ErrorKind::Unsupported => Tun::open_with(name, false),
            r => r,
        }
    }

    /// Whether this device was opened with [`Tun::open_offload`].
    pub fn offload(&self) -> bool {
        self.vnet
    }

    /// A handle to the offload counters (all zero without offloads).
    pub fn offload_stats(&self) -> OffloadStats {
        self.stats.clone()
    }

    fn open_with(name: &str, vnet: bool) -> io::Result<Tun> {
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
            flags: IFF_TUN | IFF_NO_PI | if vnet { IFF_VNET_HDR } else { 0 },
            _pad: [0; 22],
        };
        for (dst, src) in req.name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: `req` is a properly sized, initialised ifreq that outlives the call.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
        if r < 0 {
            let e = io::Error::last_os_error();
            // A kernel without IFF_VNET_HDR refuses the flag itself.
            let kind = match e.raw_os_error() {
                Some(libc::EINVAL) if vnet => io::ErrorKind::Unsupported,
                _ => e.kind(),
            };
            return Err(io::Error::new(kind, setiff_error(name, &e, vnet)));
        }
        if vnet {
            let flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
            // SAFETY: TUNSETOFFLOAD takes its argument by value.
            let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD as _, flags) };
            if r < 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("TUNSETOFFLOAD {name}: {e}"),
                ));
            }
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
            vnet,
            stats: OffloadStats::default(),
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

    /// Set the length of the kernel's queue of datagrams waiting for us to read them (`ip link
    /// set NAME txqueuelen N`; the kernel's default for a TUN device is 500). A burst longer
    /// than the queue while the stack is busy is dropped by the kernel before we see it — SYNs
    /// and ACKs included — so a busy server wants room for what arrives between two reads.
    pub fn set_txqueuelen(&self, len: u32) -> io::Result<()> {
        ip(&["link", "set", &self.name, "txqueuelen", &len.to_string()])
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

/// What a failed TUNSETIFF means for the name asked for. A TUN device that is not
/// multiqueue takes one file descriptor: EBUSY says another process holds it.
fn setiff_error(name: &str, e: &io::Error, vnet: bool) -> String {
    match e.raw_os_error() {
        Some(libc::EBUSY) => format!(
            "TUN device {name} is in use: another program (maybe another synack) holds it \
             (TUNSETIFF: {e})"
        ),
        // With IFF_VNET_HDR, EINVAL is taken for a kernel without it (and retried without).
        Some(libc::EINVAL) if !vnet && interface_exists(name) => format!(
            "{name} exists and is not a TUN device this can attach to (a TAP, multiqueue or \
             other kind of interface) (TUNSETIFF: {e})"
        ),
        _ => format!("TUNSETIFF {name}: {e}"),
    }
}

/// Whether an interface of this name exists in the calling thread's network namespace.
fn interface_exists(name: &str) -> bool {
    let Ok(c) = CString::new(name) else {
        return false;
    };
    // SAFETY: `c` is a valid C string; if_nametoindex only reads it.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
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
        if self.vnet {
            // Finished as it is: no checksum to complete, nothing to segment.
            let hdr = VnetHdr::default().encode();
            return self.write_vectored(&[&hdr, packet]);
        }
        self.write_vectored(&[packet])
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn recv_len(&self) -> usize {
        if self.vnet {
            // The kernel's GSO limit (one skb of at most 64 KiB).
            65536
        } else {
            self.mtu
        }
    }

    fn send_batch(&mut self, buf: &[u8], lens: &[usize]) -> usize {
        if !self.vnet {
            return send_each(self, buf, lens);
        }
        let mut failed = 0;
        let mut off = 0;
        offload::runs(buf, lens, |i, n| {
            let run_lens = &lens[i..i + n];
            let end = off + run_lens.iter().sum::<usize>();
            let run = &buf[off..end];
            off = end;
            if let Err(e) = self.write_run(run, run_lens) {
                tracing::warn!(error = %e, segments = n, "device send failed; datagram dropped");
                failed += n;
            }
        });
        failed
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
        let mut hdr = [0u8; VNET_HDR_LEN];
        let r = if self.vnet {
            let iov = [
                libc::iovec {
                    iov_base: hdr.as_mut_ptr().cast(),
                    iov_len: hdr.len(),
                },
                libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                },
            ];
            // SAFETY: both iovecs point at writable buffers of their lengths.
            unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), 2) }
        } else {
            // SAFETY: reading at most `buf.len()` bytes into `buf`.
            unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let r = r as usize;
        if !self.vnet {
            return Ok(Some(r));
        }
        // A datagram shorter than its header is empty (the stack drops it).
        let n = r.saturating_sub(VNET_HDR_LEN).min(buf.len());
        let h = VnetHdr::decode(&hdr);
        if h.gso_type != GSO_NONE {
            self.stats.add(2, 1);
        }
        if h.flags & F_NEEDS_CSUM != 0
            && offload::complete_checksum(
                &mut buf[..n],
                usize::from(h.csum_start),
                usize::from(h.csum_offset),
            )
        {
            self.stats.add(3, 1);
        }
        Ok(Some(n))
    }

    /// Write one datagram gathered from `parts`. A full queue or a device that is down drops
    /// it (TCP retransmits); only other errors are errors.
    fn write_vectored(&self, parts: &[&[u8]]) -> io::Result<()> {
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_SEGMENTS + 2];
        for (v, p) in iov.iter_mut().zip(parts) {
            v.iov_base = p.as_ptr() as *mut libc::c_void;
            v.iov_len = p.len();
        }
        let n = parts.len().min(iov.len());
        // SAFETY: the first `n` iovecs point at readable buffers of their lengths, which
        // outlive the call; the kernel only reads them.
        let r = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), n as libc::c_int) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EIO) => Ok(()),
                _ => Err(e),
            };
        }
        Ok(())
    }

    /// Write a run of segments that [`offload::runs`] found mergeable: alone if it is one,
    /// else one datagram with the merged headers and every segment's payload in order.
    fn write_run(&mut self, run: &[u8], lens: &[usize]) -> io::Result<()> {
        if lens.len() < 2 {
            return self.send(run);
        }
        let first = &run[..lens[0]];
        let last = &run[run.len() - lens[lens.len() - 1]..];
        let hl = offload::header_len(first);
        let payload = run.len() - hl * lens.len();
        // The merged datagram's IP and TCP headers (at most 60 + 60 bytes).
        let mut head = [0u8; 128];
        let Some(vh) = offload::merged_header(first, payload, offload::has_psh(last), &mut head)
        else {
            return match send_each(self, run, lens) {
                0 => Ok(()),
                _ => Err(io::Error::other("sending a run one by one failed")),
            };
        };
        let vh = vh.encode();
        let mut parts: [&[u8]; MAX_SEGMENTS + 2] = [&[]; MAX_SEGMENTS + 2];
        parts[0] = &vh;
        parts[1] = &head[..hl];
        let mut off = 0;
        for (part, &len) in parts[2..].iter_mut().zip(lens) {
            *part = &run[off + hl..off + len];
            off += len;
        }
        self.write_vectored(&parts[..lens.len() + 2])?;
        self.stats.add(0, 1);
        self.stats.add(1, lens.len() as u64);
        Ok(())
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

    /// The interface that has the address `ip` in the calling thread's network namespace, if
    /// one has (getifaddrs(3), which asks the kernel over a netlink socket of this thread's
    /// namespace). Tells a program about to give the kernel's side of a device an address
    /// whether another interface — another synack's device, say — already holds it.
    pub fn interface_with_addr(ip: std::net::IpAddr) -> io::Result<Option<String>> {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs fills `list` with a list we free below.
        if unsafe { libc::getifaddrs(&mut list) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut found = None;
        let mut p = list;
        while !p.is_null() && found.is_none() {
            // SAFETY: `p` is a node of the list getifaddrs returned, not yet freed.
            let ifa = unsafe { &*p };
            p = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            // SAFETY: a non-null ifa_addr points at a sockaddr whose family tells its type.
            let addr = unsafe {
                match libc::c_int::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        IpAddr::V4(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()))
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
                    }
                    _ => continue,
                }
            };
            if addr == ip {
                // SAFETY: ifa_name is a NUL-terminated string owned by the list.
                let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
                found = Some(name.to_string_lossy().into_owned());
            }
        }
        // SAFETY: `list` came from getifaddrs and is freed once.
        unsafe { libc::freeifaddrs(list) };
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    //! The offload paths over a socket pair standing in for the TUN descriptor: what the
    //! device writes is read back as the kernel would (one message per datagram, the
    //! `virtio_net_hdr` first), and what "the kernel" writes is read through `recv`.

    use super::*;
    use crate::offload::tests::{data, kernel_segment, seg4, seg6};

    /// The values of <linux/if_tun.h> (x86, ARM and most others).
    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn ioctl_numbers_match_the_kernel_headers() {
        assert_eq!(TUNSETIFF, 0x4004_54ca);
        assert_eq!(TUNSETOFFLOAD, 0x4004_54d0);
    }
    use crate::offload::{GSO_TCPV4, GSO_TCPV6};
    use synack_wire::{parse_ipv4_tcp, TcpFlags};

    /// A device with offloads on one end of a SOCK_SEQPACKET pair; the other end.
    fn pair() -> (Tun, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two descriptors into `fds`.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        // SAFETY: fresh descriptors we own.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: eventfd returns a new descriptor (checked below).
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(efd >= 0);
        let tun = Tun {
            fd: a,
            // SAFETY: a fresh descriptor we own.
            event: Arc::new(unsafe { OwnedFd::from_raw_fd(efd) }),
            name: "test".into(),
            mtu: 1500,
            vnet: true,
            stats: OffloadStats::default(),
        };
        (tun, b)
    }

    /// Every message waiting on `fd`, split into its virtio_net_hdr and datagram.
    fn messages(fd: &OwnedFd) -> Vec<(VnetHdr, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 70_000];
        loop {
            // SAFETY: reading at most `buf.len()` bytes into `buf`.
            let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r < 0 {
                return out;
            }
            let m = &buf[..r as usize];
            let h = VnetHdr::decode(m[..VNET_HDR_LEN].try_into().unwrap());
            out.push((h, m[VNET_HDR_LEN..].to_vec()));
        }
    }

    fn write_msg(fd: &OwnedFd, parts: &[&[u8]]) {
        let m = parts.concat();
        // SAFETY: writing `m.len()` initialised bytes.
        let r = unsafe { libc::write(fd.as_raw_fd(), m.as_ptr().cast(), m.len()) };
        assert_eq!(r as usize, m.len());
    }

    #[test]
    fn a_batch_goes_out_as_merged_datagrams_the_kernel_segments_back_into_it() {
        let (mut tun, peer) = pair();
        let d = data(1448 * 50 + 1, 9);
        let mut pkts: Vec<Vec<u8>> = d
            .chunks(1448)
            .enumerate()
            .map(|(k, c)| seg4(1 + (k * 1448) as u32, c, TcpFlags::ACK, k as u16))
            .collect();
        pkts.push(seg4(99, &[], TcpFlags::ACK, 60)); // a pure ACK goes alone
        let d6 = data(3000, 4);
        pkts.extend(
            d6.chunks(1000)
                .enumerate()
                .map(|(k, c)| seg6(5 + (k * 1000) as u32, c, TcpFlags::ACK)),
        );
        let buf = pkts.concat();
        let lens: Vec<usize> = pkts.iter().map(Vec::len).collect();
        assert_eq!(tun.send_batch(&buf, &lens), 0);

        let got = messages(&peer);
        let shapes: Vec<(u8, usize)> = got
            .iter()
            .map(|(h, p)| (h.gso_type, if h.gso_type == GSO_NONE { 1 } else { p.len() }))
            .collect();
        // 45 segments fill 64 KiB; then the other 6 (the last one 1 byte), the ACK, IPv6.
        assert_eq!(
            shapes,
            vec![
                (GSO_TCPV4, 52 + 45 * 1448),
                (GSO_TCPV4, 52 + 5 * 1448 + 1),
                (GSO_NONE, 1),
                (GSO_TCPV6, 60 + 3000),
            ]
        );
        // Segmenting each datagram as the kernel does gives back exactly what was sent.
        let mut back = Vec::new();
        for (h, p) in &got {
            if h.gso_type == GSO_NONE {
                assert_eq!(*h, VnetHdr::default());
                back.push(p.clone());
            } else {
                back.extend(kernel_segment(h, p));
            }
        }
        assert_eq!(back, pkts);
        let s = tun.offload_stats().get();
        assert_eq!((s.merged_writes, s.merged_segments), (3, 54));
    }

    #[test]
    fn an_unsplit_datagram_with_a_partial_checksum_comes_in_whole_and_checked() {
        let (mut tun, peer) = pair();
        assert_eq!(tun.recv_len(), 65536);
        // What the kernel's TSO hands a TUN device: 40 segments' worth in one datagram,
        // its checksum only the pseudo-header sum.
        let d = data(1448 * 40, 2);
        let whole = seg4(1000, &d, TcpFlags::ACK | TcpFlags::PSH, 3);
        let mut partial = whole.clone();
        let ps = !synack_wire::checksum::combine(&[synack_wire::checksum::pseudo_header(
            &"10.200.0.2".parse().unwrap(),
            &"10.200.0.1".parse().unwrap(),
            6,
            (whole.len() - 20) as u32,
        )]);
        partial[36..38].copy_from_slice(&ps.to_be_bytes());
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        write_msg(&peer, &[&h.encode(), &partial]);
        // A finished datagram passes untouched; a message shorter than the header is empty.
        let ack = seg4(5, &[], TcpFlags::ACK, 4);
        write_msg(&peer, &[&VnetHdr::default().encode(), &ack]);
        write_msg(&peer, &[&[0u8; 4]]);

        let mut buf = vec![0u8; tun.recv_len()];
        let n = tun.recv(&mut buf, Some(Duration::ZERO)).unwrap().unwrap();
        assert_eq!(&buf[..n], &whole[..]);
        let (_, tcp) = parse_ipv4_tcp(&buf[..n]).unwrap();
        assert_eq!(tcp.payload, &d[..]);
        let n = tun.recv(&mut buf, Some(Duration::ZERO)).unwrap().unwrap();
        assert_eq!(&buf[..n], &ack[..]);
        assert_eq!(tun.recv(&mut buf, Some(Duration::ZERO)).unwrap(), Some(0));
        assert_eq!(tun.recv(&mut buf, Some(Duration::ZERO)).unwrap(), None);
        let s = tun.offload_stats().get();
        assert_eq!((s.unsplit_reads, s.checksums_completed), (1, 1));
    }

    #[test]
    fn without_offloads_a_batch_is_one_write_per_datagram() {
        let (mut tun, peer) = pair();
        tun.vnet = false;
        let pkts: Vec<Vec<u8>> = (0..3)
            .map(|k| seg4(1 + k * 100, &data(100, 0), TcpFlags::ACK, 0))
            .collect();
        let lens: Vec<usize> = pkts.iter().map(Vec::len).collect();
        assert_eq!(tun.send_batch(&pkts.concat(), &lens), 0);
        let mut n = 0;
        let mut buf = vec![0u8; 2000];
        // SAFETY: reading at most `buf.len()` bytes into `buf`.
        while unsafe { libc::read(peer.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
            == pkts[0].len() as isize
        {
            n += 1;
        }
        assert_eq!(n, 3);
        assert_eq!(tun.offload_stats().get(), OffloadCounts::default());
    }
}
