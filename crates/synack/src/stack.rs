//! The stack: one [`Endpoint`], one [`Device`] and a monotonic clock, driven by a thread of
//! its own.
//!
//! The loop: wait on the device with the endpoint's next deadline as timeout, feed what
//! arrived to the endpoint, run due timers, hand every event to whoever waits for it (blocked
//! callers on one `Condvar`, async tasks through per-connection wakers), then drain
//! `poll_transmit` onto the device (at most `TX_BATCH` datagrams a turn). User calls (in
//! [`crate::net`] and [`crate::tokio`]) take the same lock, call the endpoint, and *kick* the
//! thread through the device's [`Wakeup`] so what they queued goes out at once.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::Duration;

use synack_proto::{CloseReason, Config, ConnHandle, Endpoint, EndpointStats, Event, Instant};

use crate::device::{ip_version, Device, Wakeup};

/// Datagrams read from the device before the endpoint lock is taken once for all of them.
const BATCH: usize = 32;

/// Datagrams sent at most per turn of the loop. With many connections that have data to send,
/// draining `poll_transmit` dry would send every congestion window at once (hundreds of
/// thousands of segments for a thousand busy connections) before the next read of the device:
/// the ACKs and SYNs waiting there would sit in the kernel's queue, or be dropped from it,
/// for the whole burst, and the burst itself would sit in memory. A bounded turn keeps the
/// work of each wakeup in proportion to what arrived, and the reads frequent.
const TX_BATCH: usize = 512;

/// Which way a datagram went, for [`StackBuilder::on_packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received from the device.
    In,
    /// Sent to the device.
    Out,
}

/// Called on the stack thread for every endpoint event.
pub type EventHook = Box<dyn FnMut(Instant, &Event) + Send>;
/// Called on the stack thread for every datagram received or sent.
pub type PacketHook = Box<dyn FnMut(Instant, Direction, &[u8]) + Send>;

/// Counters of the runtime itself (the endpoint keeps its own, see [`Stack::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    pub packets_in: u64,
    pub packets_out: u64,
    /// Datagrams of no known IP version (neither 4 nor 6), dropped before the endpoint. The
    /// endpoint takes every IPv4 and IPv6 datagram and counts what it does not use (UDP, …)
    /// itself ([`synack_proto::EndpointStats::other_protocol`]).
    pub other_dropped: u64,
    pub send_errors: u64,
}

/// Per-connection state the runtime keeps beside the endpoint's.
#[derive(Default)]
pub(crate) struct Slot {
    pub read: Option<Waker>,
    pub write: Option<Waker>,
    pub closed: Option<CloseReason>,
    /// The error `take_error` reports (and clears), like `SO_ERROR`: how the connection ended
    /// if not normally, or the last ICMP error that is not about path MTU.
    pub error: Option<PendingError>,
}

/// An error the stack recorded for a connection, kept until `take_error` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingError {
    Closed(CloseReason),
    Icmp(synack_proto::IcmpError),
}

impl PendingError {
    pub fn to_io(self) -> Option<io::Error> {
        use std::io::ErrorKind as K;
        use synack_proto::IcmpError as I;
        match self {
            PendingError::Closed(r) => r.error().map(io::Error::from),
            // The errno Linux gives each ICMP error (icmp_err_convert).
            PendingError::Icmp(e) => {
                let kind = match e {
                    I::NetUnreachable => K::NetworkUnreachable,
                    I::HostUnreachable | I::AdminProhibited | I::TimeExceeded => K::HostUnreachable,
                    I::PortUnreachable | I::ProtocolUnreachable => K::ConnectionRefused,
                    _ => K::Other,
                };
                Some(io::Error::new(kind, format!("ICMP: {e:?}")))
            }
        }
    }
}

impl Slot {
    fn wake(&mut self) {
        if let Some(w) = self.read.take() {
            w.wake();
        }
        if let Some(w) = self.write.take() {
            w.wake();
        }
    }
}

/// Everything behind the stack's one lock.
pub(crate) struct Inner {
    pub ep: Endpoint,
    pub conns: HashMap<ConnHandle, Slot>,
    /// Listening addresses and the task waiting to accept on each.
    pub listeners: HashMap<SocketAddr, Option<Waker>>,
    pub stopped: bool,
    /// Why the stack thread stopped on its own (a device error).
    pub failure: Option<String>,
    pub rt: RuntimeStats,
    /// Times the control socket shows (only while one is on).
    pub watch: Option<crate::control::Tracker>,
}

impl Inner {
    /// The error user calls get once the stack is gone.
    pub fn stopped_error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotConnected,
            match &self.failure {
                Some(f) => format!("synack stack stopped: {f}"),
                None => "synack stack stopped".to_string(),
            },
        )
    }

    /// Mark the stack stopped and wake every task waiting on it (connections and listeners),
    /// so an async `accept`, `read` or `write` returns the stopped error instead of waiting for
    /// an event that will never come. Blocked callers are woken through the `Condvar`.
    pub fn stop(&mut self) {
        self.stopped = true;
        for s in self.conns.values_mut() {
            s.wake();
        }
        for w in self.listeners.values_mut().filter_map(Option::take) {
            w.wake();
        }
    }

    fn dispatch(&mut self, ev: &Event) {
        match *ev {
            Event::Incoming { listener, .. } => {
                if let Some(w) = self.listeners.get_mut(&listener).and_then(Option::take) {
                    w.wake();
                }
            }
            Event::Closed { conn, reason } => {
                if let Some(s) = self.conns.get_mut(&conn) {
                    s.closed = Some(reason);
                    if reason.error().is_some() {
                        s.error = Some(PendingError::Closed(reason));
                    }
                    s.wake();
                }
            }
            Event::IcmpError { conn, error } => {
                if let Some(s) = self.conns.get_mut(&conn) {
                    // Path MTU news is acted on, not an error of the connection.
                    if !matches!(
                        error,
                        synack_proto::IcmpError::FragmentationNeeded { .. }
                            | synack_proto::IcmpError::PacketTooBig { .. }
                    ) {
                        s.error = Some(PendingError::Icmp(error));
                    }
                    s.wake();
                }
            }
            _ => {
                if let Some(s) = self.conns.get_mut(&ev.conn()) {
                    s.wake();
                }
            }
        }
    }
}

/// The error inside the `TimedOut` of a [`Shared::wait_for`] whose deadline passed (a read
/// timeout turns it into `WouldBlock`, as std does).
#[derive(Debug)]
pub(crate) struct DeadlinePassed;

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for DeadlinePassed {}

/// What the stack thread and every socket share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Signalled after every batch of events; blocked callers re-check their condition.
    pub cond: Condvar,
    wakeup: Wakeup,
    kicked: AtomicBool,
    start: std::time::Instant,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stack's clock: microseconds since the stack started.
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// Make the stack thread transmit what a user call queued (coalesced: one wakeup until
    /// the thread runs again).
    pub fn kick(&self) {
        if !self.kicked.swap(true, Ordering::AcqRel) {
            self.wakeup.wake();
        }
    }

    /// Block until `f` returns `Some`, re-running it after every batch of events; give up
    /// with `TimedOut` at `deadline`. `f` runs under the lock; the thread is kicked after each
    /// call that did something, since it may have queued segments. Once the stack has stopped
    /// `f` runs only if `after_stop` (a read can still take what arrived, and the end of the
    /// stream, from the stopped endpoint; a write could only queue what nobody will send).
    pub fn wait_for<T>(
        &self,
        deadline: Option<std::time::Instant>,
        after_stop: bool,
        mut f: impl FnMut(&mut Inner) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        let mut g = self.lock();
        loop {
            if g.stopped && !after_stop {
                return Err(g.stopped_error());
            }
            let r = f(&mut g);
            if r.is_none() && g.stopped {
                return Err(g.stopped_error());
            }
            // Wake the thread only for what the call queued: segments, moved deadlines,
            // events (a read that opened no window worth announcing queued nothing).
            if g.ep.wants_poll() {
                self.kick();
            }
            if let Some(r) = r {
                return r;
            }
            g = match deadline {
                None => self.cond.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, DeadlinePassed));
                    }
                    self.cond
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

/// Configures and starts a [`Stack`].
pub struct StackBuilder {
    config: Config,
    on_event: Option<EventHook>,
    on_packet: Option<PacketHook>,
    secret: Option<[u8; 16]>,
    control: Option<PathBuf>,
    idle_release: Option<Duration>,
}

/// How long the stack waits without a datagram in or out before it gives memory back
/// ([`StackBuilder::idle_release`]).
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);

impl StackBuilder {
    /// Serve the connection table on a Unix socket at `path` (see [`crate::control`];
    /// [`crate::control::default_path`] is the CLI's choice). The file is removed when the
    /// stack is dropped.
    pub fn control_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.control = Some(path.into());
        self
    }

    /// Call `f` on the stack thread for every endpoint event (state changes, Incoming, …).
    pub fn on_event(mut self, f: impl FnMut(Instant, &Event) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(f));
        self
    }

    /// Call `f` on the stack thread for every datagram received or sent.
    pub fn on_packet(mut self, f: impl FnMut(Instant, Direction, &[u8]) + Send + 'static) -> Self {
        self.on_packet = Some(Box::new(f));
        self
    }

    /// After `after` without a datagram in or out, give back the memory kept for the next
    /// burst ([`Endpoint::release_memory`]: emptied rings, spent packet buffers, the slack
    /// of the connection table) and ask the allocator to return free pages to the kernel
    /// (glibc's `malloc_trim`). Once per idle spell; `None` never does. Default
    /// [`IDLE_RELEASE`] (10 s).
    pub fn idle_release(mut self, after: Option<Duration>) -> Self {
        self.idle_release = after;
        self
    }

    /// Use this ISN/port secret instead of 16 random bytes from `/dev/urandom`.
    pub fn secret(mut self, secret: [u8; 16]) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Start the stack over `device`.
    pub fn build<D: Device + 'static>(self, device: D) -> io::Result<Stack> {
        self.spawn(move || Ok(device))
    }

    /// Start the stack thread and create its device *on that thread* with `make_device`:
    /// what a device that belongs to a thread needs (a TUN device opened after
    /// [`crate::tun::netns::enter`], which moves only the calling thread).
    pub fn spawn<D, F>(self, make_device: F) -> io::Result<Stack>
    where
        D: Device + 'static,
        F: FnOnce() -> io::Result<D> + Send + 'static,
    {
        let secret = match self.secret {
            Some(s) => s,
            None => random_secret()?,
        };
        let StackBuilder {
            mut config,
            on_event,
            on_packet,
            control,
            idle_release,
            ..
        } = self;
        let watch = control.is_some();
        let (tx, rx) = mpsc::channel::<io::Result<Arc<Shared>>>();
        let thread = std::thread::Builder::new()
            .name("synack-stack".into())
            .spawn(move || {
                let device = match make_device() {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                // MUST-67: advertise no more than the MTU allows (IPv4 and TCP headers, 40
                // bytes without options; the endpoint advertises 20 bytes less over IPv6).
                let mss = device.mtu().saturating_sub(40).clamp(536, 65495);
                config.mss = config.mss.min(mss as u16);
                let shared = Arc::new(Shared {
                    inner: Mutex::new(Inner {
                        ep: Endpoint::new(config, secret),
                        conns: HashMap::new(),
                        listeners: HashMap::new(),
                        stopped: false,
                        failure: None,
                        rt: RuntimeStats::default(),
                        watch: watch.then(Default::default),
                    }),
                    cond: Condvar::new(),
                    wakeup: device.wakeup(),
                    kicked: AtomicBool::new(false),
                    start: std::time::Instant::now(),
                });
                if tx.send(Ok(shared.clone())).is_err() {
                    return;
                }
                run(&shared, device, on_event, on_packet, idle_release);
            })?;
        match rx.recv() {
            Ok(Ok(shared)) => {
                let stack = Stack {
                    shared: shared.clone(),
                    thread: Mutex::new(Some(thread)),
                    control: Mutex::new(None),
                };
                if let Some(path) = control {
                    *stack.control.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(crate::control::Server::start(path, shared)?);
                }
                Ok(stack)
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other("synack stack thread died while starting"))
            }
        }
    }
}

/// A running TCP/IP stack; see the module docs. Dropping it stops its thread (after sending
/// what was already queued); sockets still open then fail with `NotConnected`.
pub struct Stack {
    pub(crate) shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    control: Mutex<Option<crate::control::Server>>,
}

impl Stack {
    /// A builder for a stack with this endpoint configuration (set `local_addrs` to the
    /// addresses the stack owns; an active open without a local address uses the first).
    pub fn builder(config: Config) -> StackBuilder {
        StackBuilder {
            config,
            on_event: None,
            on_packet: None,
            secret: None,
            control: None,
            idle_release: Some(IDLE_RELEASE),
        }
    }

    /// Start a stack over `device` with `config`.
    pub fn new<D: Device + 'static>(device: D, config: Config) -> io::Result<Stack> {
        Stack::builder(config).build(device)
    }

    /// The addresses the stack owns.
    pub fn local_addrs(&self) -> Vec<IpAddr> {
        self.shared.lock().ep.config().local_addrs.clone()
    }

    /// The stack's clock.
    pub fn now(&self) -> Instant {
        self.shared.now()
    }

    /// Connections alive in the endpoint (TIME-WAIT included).
    pub fn connection_count(&self) -> usize {
        self.shared.lock().ep.connection_count()
    }

    /// The endpoint's counters.
    pub fn stats(&self) -> EndpointStats {
        self.shared.lock().ep.stats().clone()
    }

    /// The runtime's counters.
    pub fn runtime_stats(&self) -> RuntimeStats {
        self.shared.lock().rt.clone()
    }

    /// Run `f` on the endpoint under the stack's lock (for tools like `ss`), then let the
    /// thread transmit whatever it queued.
    pub fn with_endpoint<R>(&self, f: impl FnOnce(&mut Endpoint) -> R) -> R {
        let r = f(&mut self.shared.lock().ep);
        self.shared.kick();
        r
    }

    /// Whether the thread still runs; if it stopped on a device error, that error.
    pub fn status(&self) -> Result<(), String> {
        let g = self.shared.lock();
        match (&g.failure, g.stopped) {
            (Some(f), _) => Err(f.clone()),
            (None, true) => Err("stopped".into()),
            (None, false) => Ok(()),
        }
    }

    /// The control socket's path, if one is on.
    pub fn control_path(&self) -> Option<PathBuf> {
        let g = self.control.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map(|c| c.path().to_path_buf())
    }

    /// Stop the thread (after it sends what is queued) and the control socket, and wait
    /// for both.
    pub(crate) fn stop_and_join(&self) {
        self.shared.lock().stop();
        self.shared.cond.notify_all();
        self.shared.wakeup.wake();
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            let _ = t.join();
        }
        drop(
            self.control
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }

    /// What the control socket serves: the connection table, listeners and counters as JSON.
    pub fn snapshot_json(&self) -> String {
        crate::control::snapshot(&self.shared)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Ask the allocator to give its free pages back to the kernel. glibc keeps freed memory in
/// its arenas (one per thread that allocated) for reuse; after a busy spell that is most of
/// what a quiet server holds.
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// 16 bytes from the kernel's CSPRNG, keying ISNs (RFC 6528) and ephemeral ports.
fn random_secret() -> io::Result<[u8; 16]> {
    let mut s = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut s)?;
    Ok(s)
}

/// The stack thread.
fn run<D: Device>(
    shared: &Shared,
    mut dev: D,
    mut on_event: Option<EventHook>,
    mut on_packet: Option<PacketHook>,
    idle_release: Option<Duration>,
) {
    // A device with receive offloads hands over datagrams longer than its MTU (recv_len).
    let bufsize = dev.recv_len().clamp(1500, 1 << 17);
    let mut rx: Vec<Vec<u8>> = vec![vec![0u8; bufsize]; BATCH];
    let mut rx_len = [0usize; BATCH];
    let mut tx = vec![0u8; 65536];
    let mut out: Vec<u8> = Vec::new();
    let mut out_lens: Vec<usize> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let mut timeout = Some(Duration::ZERO);
    // The last time a datagram went in or out, and whether memory was given back since.
    let mut last_busy = shared.now();
    let mut released = true;
    loop {
        // 1. Wait for datagrams (or a kick, or the next deadline), then take what else is
        //    already waiting, up to a batch.
        let mut n_rx = 0;
        let mut failure = None;
        match dev.recv(&mut rx[0], timeout) {
            Ok(Some(n)) => {
                rx_len[0] = n;
                n_rx = 1;
                while n_rx < BATCH {
                    match dev.recv(&mut rx[n_rx], Some(Duration::ZERO)) {
                        Ok(Some(n)) => {
                            rx_len[n_rx] = n;
                            n_rx += 1;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(e) => failure = Some(e),
        }
        shared.kicked.store(false, Ordering::Release);

        // The hook sees each datagram before the endpoint may keep its buffer: after
        // `handle_owned` the slot holds another buffer (tests/packet_hooks.rs).
        let now = shared.now();
        if let Some(f) = on_packet.as_mut() {
            for (buf, &len) in rx.iter().zip(&rx_len).take(n_rx) {
                f(now, Direction::In, &buf[..len.min(buf.len())]);
            }
        }

        // 2. Everything the endpoint does, under the lock.
        let stop;
        let mut more = false;
        let mut trim = false;
        {
            let mut g = shared.lock();
            let inner = &mut *g;
            for (buf, &len) in rx.iter_mut().zip(&rx_len).take(n_rx) {
                let len = len.min(buf.len());
                let p = &buf[..len];
                inner.rt.packets_in += 1;
                // TCP, ICMP and ICMPv6 over IPv4 and IPv6 all go to the endpoint (echo replies,
                // ICMP errors for connections); a TUN device carries nothing else we know.
                match ip_version(p) {
                    Some(4 | 6) => {
                        if let Some(w) = inner.watch.as_mut() {
                            w.on_packet(now, Direction::In, p);
                        }
                        // The buffer is handed over: a large in-order segment stays in it until
                        // the application reads it (one copy fewer); a buffer read empty
                        // comes back through `reclaim`, else a new one takes its place.
                        let packet = std::mem::take(buf);
                        *buf = match inner.ep.handle_owned(now, packet, len) {
                            Some(packet) => packet,
                            None => inner.ep.reclaim().unwrap_or_else(|| vec![0u8; bufsize]),
                        };
                    }
                    _ => inner.rt.other_dropped += 1,
                }
            }
            inner.ep.handle_timeout(now);
            let mut any = false;
            loop {
                while let Some(ev) = inner.ep.poll_event() {
                    inner.dispatch(&ev);
                    if let Some(w) = inner.watch.as_mut() {
                        w.on_event(now, &ev);
                    }
                    any = true;
                    if on_event.is_some() {
                        events.push(ev);
                    }
                }
                if out_lens.len() >= TX_BATCH {
                    more = true; // the rest goes out after the next read
                    break;
                }
                let Some(n) = inner.ep.poll_transmit(now, &mut tx) else {
                    break;
                };
                if let Some(w) = inner.watch.as_mut() {
                    w.on_packet(now, Direction::Out, &tx[..n]);
                }
                out.extend_from_slice(&tx[..n]);
                out_lens.push(n);
            }
            if let Some(e) = &failure {
                tracing::error!(error = %e, "device failed; synack stack stops");
                inner.failure = Some(e.to_string());
                inner.stop();
                any = true;
            }
            inner.rt.packets_out += out_lens.len() as u64;
            stop = inner.stopped;
            timeout = if more {
                Some(Duration::ZERO)
            } else {
                inner.ep.poll_timeout().map(|t| t - now)
            };
            // Idle for `idle_release`: give back what was kept for the next burst, once.
            if n_rx > 0 || !out_lens.is_empty() {
                last_busy = now;
                released = false;
            }
            if let (false, Some(after)) = (released, idle_release) {
                let idle = now.saturating_duration_since(last_busy);
                if idle >= after {
                    let freed = inner.ep.release_memory();
                    tracing::debug!(freed, "idle: memory given back");
                    released = true;
                    trim = true;
                } else {
                    let left = after - idle;
                    timeout = Some(timeout.map_or(left, |t| t.min(left)));
                }
            }
            if any {
                shared.cond.notify_all();
            }
        }

        // 3. Hooks and the device, outside the lock.
        if let Some(f) = on_event.as_mut() {
            for ev in events.drain(..) {
                f(now, &ev);
            }
        }
        if let Some(f) = on_packet.as_mut() {
            let mut off = 0;
            for &len in &out_lens {
                f(now, Direction::Out, &out[off..off + len]);
                off += len;
            }
        }
        if trim {
            trim_allocator();
        }
        // All at once: a device with transmit offloads merges consecutive segments.
        let send_errors = dev.send_batch(&out, &out_lens) as u64;
        if send_errors > 0 {
            shared.lock().rt.send_errors += send_errors;
        }
        out.clear();
        out_lens.clear();
        if stop {
            break;
        }
    }
}
