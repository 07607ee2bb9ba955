//! Row 5: bulk transfer over a Linux TUN device with the kernel's TCP as the peer, both
//! directions, synack (its runtime `Stack` over its own `Tun` device, blocking sockets on an
//! application thread; once with the kernel's TUN offloads, once without) against smoltcp (an
//! `Interface` over smoltcp's own `TunTapInterface`, polled in a loop that also does the
//! application's work), with the same MTU and socket buffers (256 KiB each way, synack's
//! default).
//!
//! Every run makes its own network namespace (`synack-bench-<pid>-<n>`) and removes it on
//! every exit path (a guard with `Drop`, which runs on panics too): the stack's thread enters
//! it with setns(2) before it opens the TUN device, the kernel's side of the device gets
//! [`KERNEL_IP`]/24 and the stack owns [`STACK_IP`]; the kernel's end of the connection is a
//! thread that enters the same namespace and uses `std::net`. No traffic goes anywhere else.
//!
//! Needs root (`CAP_NET_ADMIN`), `/dev/net/tun` and `ip`; without them the rows come back with
//! no figures and the reason in their name ([`skip_reason`]).

use crate::Row;

/// The kernel's address on its side of the TUN device (inside the namespace).
pub const KERNEL_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 200, 0, 1);
/// The address the stack under test owns (inside the namespace).
pub const STACK_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 200, 0, 2);
/// The TUN device MTUs the row runs at.
pub const MTUS: [usize; 1] = [1500];

/// Which way the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The stack under test sends, the kernel receives.
    ToKernel,
    /// The kernel sends, the stack under test receives.
    FromKernel,
}

impl Dir {
    fn label(self, mtu: usize) -> String {
        match self {
            Dir::ToKernel => format!("bulk over TUN, stack -> kernel, MTU {mtu}"),
            Dir::FromKernel => format!("bulk over TUN, kernel -> stack, MTU {mtu}"),
        }
    }
}

/// Why this machine cannot run row 5, if it cannot: not Linux, not root, no `/dev/net/tun`,
/// or no `ip`.
pub fn skip_reason() -> Option<String> {
    imp::skip_reason()
}

/// Row 5: for each MTU of [`MTUS`] and each direction, bytes per second of wall time moving
/// `bytes` (best of `runs`) against the kernel: synack with the TUN offloads
/// (`synack::tun::Tun::open_offload`) and without, each beside smoltcp (measured once per
/// direction; its TUN device has no offloads). A stack that could not run has no figure and
/// the reason is appended to the row's name.
pub fn tun_bulk(bytes: u64, runs: usize) -> Vec<Row> {
    let skip = skip_reason();
    let mut rows = Vec::new();
    for mtu in MTUS {
        for dir in [Dir::ToKernel, Dir::FromKernel] {
            let mut notes = Vec::new();
            let mut fig = |stack: Which| {
                if let Some(why) = &skip {
                    notes.push((stack, format!("skipped: {}", clean(why))));
                    return None;
                }
                let mut best = 0f64;
                for _ in 0..runs.max(1) {
                    match imp::measure(stack, dir, mtu, bytes) {
                        Ok(v) => best = best.max(v),
                        Err(e) => {
                            notes.push((stack, format!("{stack:?} failed: {}", clean(&e))));
                            return None;
                        }
                    }
                }
                Some(best)
            };
            let smoltcp = fig(Which::Smoltcp);
            let offload = fig(Which::SynackOffload);
            let plain = fig(Which::Synack);
            // One reason per row: a skip says it once; a failure names its stack.
            let note = |which: &[Which]| {
                let mut s = String::new();
                for (stack, n) in &notes {
                    if (which.contains(stack) || *stack == Which::Smoltcp) && !s.contains(n) {
                        s.push_str(&format!(" ({n})"));
                    }
                }
                s
            };
            for (what, synack, which) in [
                ("synack with TUN offloads", offload, Which::SynackOffload),
                ("synack without offloads", plain, Which::Synack),
            ] {
                rows.push(Row {
                    bench: format!("{}, {what}{}", dir.label(mtu), note(&[which])),
                    unit: "bytes/s",
                    synack,
                    smoltcp,
                    higher_is_better: true,
                });
            }
        }
    }
    rows
}

/// One transfer of `bytes` by one stack in one direction at `mtu`, in a fresh namespace:
/// bytes per second (for profiling one case alone: `tun_bulk MB RUNS offload recv`).
pub fn measure(which: Which, dir: Dir, mtu: usize, bytes: u64) -> Result<f64, String> {
    if let Some(why) = skip_reason() {
        return Err(why);
    }
    imp::measure(which, dir, mtu, bytes)
}

/// A reason fit for a row's name (which [`Row::json`] prints without escaping).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// The stack measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// synack on `Tun::open`.
    Synack,
    /// synack on `Tun::open_offload`.
    SynackOffload,
    Smoltcp,
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Which;

    pub fn skip_reason() -> Option<String> {
        Some("TUN devices are Linux only".into())
    }

    pub fn measure(_: Which, _: super::Dir, _: usize, _: u64) -> Result<f64, String> {
        Err("TUN devices are Linux only".into())
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io::{self, Read, Write};
    use std::net::{IpAddr, Shutdown, SocketAddr};
    use std::os::fd::AsRawFd;
    use std::path::Path;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::thread::{self, JoinHandle};
    use std::time::{Duration, Instant as Wall};

    use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
    use smoltcp::phy::{self, Medium, TunTapInterface};
    use smoltcp::socket::tcp;
    use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
    use synack::net::{TcpListener, TcpStream};
    use synack::tun::{netns, Tun};
    use synack::Stack;

    use super::{Dir, Which, KERNEL_IP, STACK_IP};
    use crate::net::{smol_socket, synack_config};
    use crate::rows::BULK_BUFFER;

    /// The port the receiving side listens on.
    const PORT: u16 = 5001;
    /// Application reads and writes, both stacks and the kernel.
    const CHUNK: usize = 64 * 1024;
    /// A transfer that makes no progress for this long has failed.
    const STALL: Duration = Duration::from_secs(10);
    /// The TUN device's name inside the namespace.
    const DEV: &str = "bench0";

    pub fn skip_reason() -> Option<String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("needs root".into());
        }
        if !Path::new("/dev/net/tun").exists() {
            return Some("no /dev/net/tun".into());
        }
        let on_path = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("ip").is_file()));
        (!on_path).then(|| "`ip` is not installed".into())
    }

    /// Bytes per second of one transfer of `bytes` in direction `dir`, in a fresh namespace.
    pub fn measure(which: Which, dir: Dir, mtu: usize, bytes: u64) -> Result<f64, String> {
        let ns = Netns::new().map_err(|e| e.to_string())?;
        let secs = match which {
            Which::Synack => synack_run(&ns, dir, mtu, bytes, false),
            Which::SynackOffload => synack_run(&ns, dir, mtu, bytes, true),
            Which::Smoltcp => smoltcp_run(&ns, dir, mtu, bytes),
        }
        .map_err(|e| e.to_string())?;
        Ok(bytes as f64 / secs)
    }

    /// A network namespace that exists while this guard lives.
    struct Netns {
        name: String,
    }

    impl Netns {
        fn new() -> io::Result<Netns> {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let name = format!(
                "synack-bench-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            synack::tun::ip(&["netns", "add", &name])?;
            Ok(Netns { name })
        }
    }

    impl Drop for Netns {
        fn drop(&mut self) {
            // The namespace goes away once the last thread in it has left and its last
            // socket is closed; every one of ours has been joined by now.
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .status();
        }
    }

    fn timed_out(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, format!("{what}: no progress"))
    }

    fn pattern() -> Vec<u8> {
        (0..CHUNK).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// Join a helper thread; a panic in it becomes an error.
    fn join<T>(h: JoinHandle<io::Result<T>>) -> io::Result<T> {
        h.join()
            .unwrap_or_else(|_| Err(io::Error::other("kernel-side thread panicked")))
    }

    // ----- the kernel's end --------------------------------------------------------------------

    /// The kernel receives: a thread in the namespace listens on KERNEL_IP:PORT (the TUN device
    /// must already carry KERNEL_IP), reports `ready`, takes one connection and reads it to the
    /// end. Returns the bytes read and when the last one came.
    fn kernel_sink(ns: &str, ready: mpsc::Sender<()>) -> JoinHandle<io::Result<(u64, Wall)>> {
        let ns = ns.to_string();
        thread::spawn(move || {
            netns::enter(&ns)?;
            let listener = std::net::TcpListener::bind((KERNEL_IP, PORT))?;
            listener.set_nonblocking(true)?;
            let _ = ready.send(());
            let end = Wall::now() + STALL;
            let mut s = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && Wall::now() < end => {
                        thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Err(timed_out("kernel accept"))
                    }
                    Err(e) => return Err(e),
                }
            };
            s.set_nonblocking(false)?;
            s.set_read_timeout(Some(STALL))?;
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0u64;
            let mut last = Wall::now();
            loop {
                match s.read(&mut buf)? {
                    0 => return Ok((got, last)),
                    n => {
                        got += n as u64;
                        last = Wall::now();
                    }
                }
            }
        })
    }

    /// The kernel sends: a thread in the namespace connects to STACK_IP:PORT (the stack must
    /// be listening), writes `bytes` and closes.
    fn kernel_source(ns: &str, bytes: u64) -> JoinHandle<io::Result<()>> {
        let ns = ns.to_string();
        thread::spawn(move || {
            netns::enter(&ns)?;
            let to = SocketAddr::new(IpAddr::V4(STACK_IP), PORT);
            use_cubic();
            let mut s = std::net::TcpStream::connect_timeout(&to, STALL)?;
            s.set_write_timeout(Some(STALL))?;
            let data = pattern();
            let mut sent = 0u64;
            while sent < bytes {
                let n = (bytes - sent).min(CHUNK as u64) as usize;
                s.write_all(&data[..n])?;
                sent += n as u64;
            }
            s.shutdown(Shutdown::Write)?;
            Ok(())
        })
    }

    /// The kernel sender's congestion control in the bench's namespace: CUBIC, Linux's
    /// default, so the row does not depend on the host's `net.ipv4.tcp_congestion_control`
    /// (each namespace has its own, copied from the host's when it is made). A host that
    /// defaults to BBR without the `fq` qdisc has the kernel pace its one flow with a timer;
    /// on the 2026-12-05 machine that held it near 1.5 GB/s, so the receive row measured the
    /// kernel's pacing rather than either stack. Set for the namespace before the socket
    /// exists: a socket that started with BBR keeps pacing after switching (setsockopt). Best
    /// effort: a kernel without CUBIC keeps its default. Called on a thread in the namespace.
    fn use_cubic() {
        let _ = std::fs::write("/proc/sys/net/ipv4/tcp_congestion_control", "cubic");
    }

    // ----- synack ------------------------------------------------------------------------------

    /// A synack stack whose thread lives in namespace `ns`, on TUN device DEV there, with the
    /// kernel's offloads if `offload`.
    fn synack_stack(ns: &str, mtu: usize, offload: bool) -> io::Result<Stack> {
        let ns = ns.to_string();
        Stack::builder(synack_config(mtu, Some(STACK_IP))).spawn(move || {
            netns::enter(&ns)?;
            let mut tun = if offload {
                Tun::open_offload(DEV)?
            } else {
                Tun::open(DEV)?
            };
            tun.set_mtu(mtu)?;
            tun.configure_host(Some(&format!("{KERNEL_IP}/24")))?;
            Ok(tun)
        })
    }

    /// Seconds from the established connection to the receiver's last byte.
    fn synack_run(ns: &Netns, dir: Dir, mtu: usize, bytes: u64, offload: bool) -> io::Result<f64> {
        let stack = synack_stack(&ns.name, mtu, offload)?;
        match dir {
            Dir::ToKernel => {
                let (tx, rx) = mpsc::channel();
                let kernel = kernel_sink(&ns.name, tx);
                let sent = rx
                    .recv_timeout(STALL)
                    .map_err(|_| io::Error::other("kernel listener did not start"))
                    .and_then(|()| {
                        let to = SocketAddr::new(IpAddr::V4(KERNEL_IP), PORT);
                        let mut s = TcpStream::connect_timeout(&stack, &to, STALL)?;
                        s.set_write_timeout(Some(STALL))?;
                        let start = Wall::now();
                        let data = pattern();
                        let mut sent = 0u64;
                        while sent < bytes {
                            let n = (bytes - sent).min(CHUNK as u64) as usize;
                            s.write_all(&data[..n])?;
                            sent += n as u64;
                        }
                        s.shutdown(Shutdown::Write)?;
                        Ok(start)
                    });
                // The sink ends on the FIN, or on its own timeouts if the send failed.
                let got = join(kernel);
                let start = sent?;
                let (got, end) = got?;
                check(got, bytes)?;
                Ok((end - start).as_secs_f64())
            }
            Dir::FromKernel => {
                let listener =
                    TcpListener::bind(&stack, SocketAddr::new(IpAddr::V4(STACK_IP), PORT))?;
                let kernel = kernel_source(&ns.name, bytes);
                let got = (|| {
                    let (mut s, _) = listener.accept_timeout(STALL)?;
                    let start = Wall::now();
                    s.set_read_timeout(Some(STALL))?;
                    let mut buf = vec![0u8; CHUNK];
                    let mut got = 0u64;
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => got += n as u64,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                return Err(timed_out("synack read"))
                            }
                            Err(e) => return Err(e),
                        }
                        if got >= bytes {
                            break;
                        }
                    }
                    Ok((got, start.elapsed()))
                })();
                join(kernel)?;
                let (got, took) = got?;
                check(got, bytes)?;
                Ok(took.as_secs_f64())
            }
        }
    }

    fn check(got: u64, want: u64) -> io::Result<()> {
        if got == want {
            Ok(())
        } else {
            Err(io::Error::other(format!("received {got} of {want} bytes")))
        }
    }

    // ----- smoltcp -----------------------------------------------------------------------------

    /// Runs the smoltcp side on a thread in the namespace: smoltcp's `TunTapInterface` is not
    /// `Send`, and the device must be opened in the namespace.
    fn smoltcp_run(ns: &Netns, dir: Dir, mtu: usize, bytes: u64) -> io::Result<f64> {
        let name = ns.name.clone();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let smol = thread::spawn(move || -> io::Result<(Wall, Option<Wall>)> {
            netns::enter(&name)?;
            // Create the device first so its MTU is set before smoltcp reads it.
            synack::tun::ip(&["tuntap", "add", "dev", DEV, "mode", "tun"])?;
            synack::tun::ip(&["link", "set", DEV, "mtu", &mtu.to_string()])?;
            synack::tun::ip(&["addr", "add", &format!("{KERNEL_IP}/24"), "dev", DEV])?;
            let mut dev = TunTapInterface::new(DEV, Medium::Ip)?;
            synack::tun::ip(&["link", "set", DEV, "up"])?;
            let _ = ready_tx.send(());
            // The kernel's end is in place (or gave up) before we connect.
            let _ = go_rx.recv_timeout(STALL);
            smoltcp_transfer(&mut dev, dir, bytes)
        });
        let result = match dir {
            Dir::ToKernel => {
                let (tx, rx) = mpsc::channel();
                let ready = ready_rx.recv_timeout(STALL);
                let kernel = ready.is_ok().then(|| kernel_sink(&ns.name, tx));
                if kernel.is_some() {
                    let _ = rx.recv_timeout(STALL);
                }
                let _ = go_tx.send(());
                let smol = join(smol);
                let got = kernel.map(join);
                let (start, _) = smol?;
                let (got, end) = got.ok_or_else(|| io::Error::other("smoltcp device failed"))??;
                check(got, bytes)?;
                (end - start).as_secs_f64()
            }
            Dir::FromKernel => {
                let ready = ready_rx.recv_timeout(STALL);
                let _ = go_tx.send(());
                // smoltcp listens before its first poll; the kernel's connect retries the SYN
                // if it comes early.
                let kernel = ready.is_ok().then(|| kernel_source(&ns.name, bytes));
                let smol = join(smol);
                if let Some(k) = kernel {
                    join(k)?;
                }
                let (start, end) = smol?;
                let end = end.ok_or_else(|| io::Error::other("smoltcp received no end"))?;
                (end - start).as_secs_f64()
            }
        };
        Ok(result)
    }

    /// The smoltcp loop: poll the interface, do the application's part (fill the send buffer
    /// or drain the receive buffer), wait on the device until the next deadline. Returns when
    /// the connection was established and, receiving, when the last byte was read.
    fn smoltcp_transfer(
        dev: &mut TunTapInterface,
        dir: Dir,
        bytes: u64,
    ) -> io::Result<(Wall, Option<Wall>)> {
        let now = smoltcp::time::Instant::now;
        let mut iface = Interface::new(IfaceConfig::new(HardwareAddress::Ip), dev, now());
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(STACK_IP), 24))
                .expect("one address fits");
        });
        let mut sockets = SocketSet::new(Vec::new());
        let h = sockets.add(smol_socket(BULK_BUFFER, BULK_BUFFER));
        match dir {
            Dir::ToKernel => {
                let cx = iface.context();
                sockets
                    .get_mut::<tcp::Socket>(h)
                    .connect(cx, (IpAddress::Ipv4(KERNEL_IP), PORT), 40000)
                    .map_err(|e| io::Error::other(format!("smoltcp connect: {e}")))?;
            }
            Dir::FromKernel => {
                sockets
                    .get_mut::<tcp::Socket>(h)
                    .listen(PORT)
                    .map_err(|e| io::Error::other(format!("smoltcp listen: {e}")))?;
            }
        }
        let data = pattern();
        let mut buf = vec![0u8; CHUNK];
        let (mut sent, mut got) = (0u64, 0u64);
        let mut start = None;
        let mut progress = Wall::now();
        let fd = dev.as_raw_fd();
        loop {
            let t = now();
            iface.poll(t, dev, &mut sockets);
            let s = sockets.get_mut::<tcp::Socket>(h);
            if start.is_none() && s.state() == tcp::State::Established {
                start = Some(Wall::now());
                progress = Wall::now();
            }
            match dir {
                Dir::ToKernel => {
                    while sent < bytes && s.can_send() {
                        let n = (bytes - sent).min(CHUNK as u64) as usize;
                        match s.send_slice(&data[..n]) {
                            Ok(0) => break,
                            Ok(n) => {
                                sent += n as u64;
                                progress = Wall::now();
                            }
                            Err(e) => return Err(io::Error::other(format!("smoltcp send: {e}"))),
                        }
                    }
                    if sent == bytes && s.send_queue() == 0 {
                        // Everything was sent and acknowledged: FIN, and the kernel's
                        // sink reports when it read the end.
                        s.close();
                        let start = start.ok_or_else(|| io::Error::other("never established"))?;
                        // Let the FIN go out and the kernel close its side.
                        finish(&mut iface, dev, &mut sockets, h, fd);
                        return Ok((start, None));
                    }
                }
                Dir::FromKernel => {
                    while s.can_recv() {
                        match s.recv_slice(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                got += n as u64;
                                progress = Wall::now();
                            }
                            Err(e) => return Err(io::Error::other(format!("smoltcp recv: {e}"))),
                        }
                    }
                    if got >= bytes {
                        let end = Wall::now();
                        let start = start.ok_or_else(|| io::Error::other("never established"))?;
                        s.close();
                        finish(&mut iface, dev, &mut sockets, h, fd);
                        std::hint::black_box(&buf);
                        return Ok((start, Some(end)));
                    }
                    if !s.is_open() && start.is_some() {
                        return Err(io::Error::other(format!(
                            "smoltcp: connection ended after {got} of {bytes} bytes"
                        )));
                    }
                }
            }
            if progress.elapsed() > STALL {
                return Err(timed_out("smoltcp transfer"));
            }
            let delay = iface
                .poll_delay(now(), &sockets)
                .map_or(smoltcp::time::Duration::from_millis(10), |d| {
                    d.min(smoltcp::time::Duration::from_millis(10))
                });
            phy::wait(fd, Some(delay))?;
        }
    }

    /// Poll until the socket is closed (the FIN exchange done) or a second passes.
    fn finish(
        iface: &mut Interface,
        dev: &mut TunTapInterface,
        sockets: &mut SocketSet<'_>,
        h: smoltcp::iface::SocketHandle,
        fd: std::os::fd::RawFd,
    ) {
        let end = Wall::now() + Duration::from_secs(1);
        while Wall::now() < end {
            let t = smoltcp::time::Instant::now();
            iface.poll(t, dev, sockets);
            let st = sockets.get::<tcp::Socket>(h).state();
            if matches!(st, tcp::State::Closed | tcp::State::TimeWait) {
                break;
            }
            let _ = phy::wait(fd, Some(smoltcp::time::Duration::from_millis(10)));
        }
    }
}
