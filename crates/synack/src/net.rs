//! Blocking sockets that mirror `std::net`: [`TcpListener`] and [`TcpStream`].
//!
//! Calls block the calling thread on the stack's condition variable until the stack thread
//! reports an event that lets them go on. Errors are `std::io::Error` with the kinds people
//! already match on (RFC 9293 MUST-12: a FIN is `Ok(0)` from `read`, a RST is an error):
//! `ConnectionRefused` (RST to our SYN), `ConnectionReset` (RST), `TimedOut` (R2 or the
//! connect timeout), `BrokenPipe` (write after shutdown or after the peer's close),
//! `NotConnected`, `AddrInUse`. In nonblocking mode ([`TcpStream::set_nonblocking`],
//! [`TcpListener::set_nonblocking`]) a call that would wait fails with `WouldBlock` instead.
//!
//! `bind` and `connect` take `impl ToSocketAddrs` as std's do. An address literal (`SocketAddr`,
//! `"10.0.0.1:80"`, `("10.0.0.1", 80)`) resolves without a lookup; a host name goes through
//! the *host's* resolver (`getaddrinfo`), not through the stack.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use synack_proto::{CloseReason, ConnHandle, ConnInfo, Error, FourTuple, State, ACCEPT_ANY};

use crate::stack::{DeadlinePassed, Inner, Shared, Slot, Stack};

/// The unspecified address of `addr`'s family (the endpoint picks its own address).
pub(crate) fn unspecified_for(addr: &SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// Try `f` with each address `addr` resolves to, in order, until one succeeds (std's rule:
/// the last error otherwise).
pub(crate) fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

pub(crate) fn would_block() -> io::Error {
    io::Error::new(io::ErrorKind::WouldBlock, "operation would block")
}

/// Run `f` once under the lock (the nonblocking twin of [`Shared::wait_for`]): `None` is
/// `WouldBlock`.
pub(crate) fn try_once<T>(
    shared: &Shared,
    after_stop: bool,
    f: impl FnOnce(&mut Inner) -> Option<io::Result<T>>,
) -> io::Result<T> {
    let mut g = shared.lock();
    if g.stopped && !after_stop {
        return Err(g.stopped_error());
    }
    let r = f(&mut g);
    if r.is_none() && g.stopped {
        return Err(g.stopped_error());
    }
    if g.ep.wants_poll() {
        shared.kick();
    }
    r.unwrap_or_else(|| Err(would_block()))
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection not established")
}

fn close_error(reason: Option<CloseReason>) -> io::Error {
    match reason.and_then(CloseReason::error) {
        Some(e) => e.into(),
        None => not_connected(),
    }
}

/// Start listening on `addr`; port 0 picks a free port from the ephemeral range.
pub(crate) fn listen(
    shared: &Shared,
    addr: SocketAddr,
    backlog: Option<usize>,
) -> io::Result<SocketAddr> {
    let mut g = shared.lock();
    if g.stopped {
        return Err(g.stopped_error());
    }
    let local = if addr.port() != 0 {
        g.ep.listen(addr, backlog)?;
        addr
    } else {
        let (lo, hi) = g.ep.config().ephemeral_ports;
        let (lo, hi) = (lo.min(hi).max(1), hi.max(lo).max(1));
        let n = u32::from(hi - lo) + 1;
        let start = (shared.now().as_micros() % u64::from(n)) as u32;
        let mut found = None;
        for i in 0..n {
            let port = lo + ((start + i) % n) as u16;
            let a = SocketAddr::new(addr.ip(), port);
            if g.ep.listen(a, backlog).is_ok() {
                found = Some(a);
                break;
            }
        }
        found.ok_or_else(|| io::Error::from(Error::NoPorts))?
    };
    g.listeners.insert(local, None);
    Ok(local)
}

/// Start accept-any mode (see [`TcpListener::bind_any`]); the listener's key is
/// [`ACCEPT_ANY`].
pub(crate) fn listen_any(shared: &Shared, backlog: Option<usize>) -> io::Result<SocketAddr> {
    let mut g = shared.lock();
    if g.stopped {
        return Err(g.stopped_error());
    }
    g.ep.listen_any(backlog)?;
    g.listeners.insert(ACCEPT_ANY, None);
    Ok(ACCEPT_ANY)
}

pub(crate) fn unlisten(shared: &Shared, local: SocketAddr) {
    let mut g = shared.lock();
    g.ep.unlisten(local);
    g.listeners.remove(&local);
    drop(g);
    shared.kick();
}

/// Take an ESTABLISHED connection from the accept queue, if one waits.
pub(crate) fn accept_step(
    shared: &Arc<Shared>,
    inner: &mut Inner,
    local: SocketAddr,
) -> Option<(Arc<StreamInner>, SocketAddr)> {
    let h = inner.ep.accept(local)?;
    let tuple = inner.ep.tuple(h)?;
    inner.conns.insert(h, Slot::default());
    Some((StreamInner::new(shared.clone(), h, tuple), tuple.remote))
}

/// Send our SYN; the connection completes in [`connect_step`].
pub(crate) fn connect_start(shared: &Shared, addr: SocketAddr) -> io::Result<ConnHandle> {
    let mut g = shared.lock();
    if g.stopped {
        return Err(g.stopped_error());
    }
    let now = shared.now();
    let h = g.ep.connect(now, unspecified_for(&addr), addr)?;
    g.conns.insert(h, Slot::default());
    drop(g);
    shared.kick();
    Ok(h)
}

/// Whether an active open finished: `Some(Ok)` when synchronized, `Some(Err)` when it ended
/// (RST: ConnectionRefused; no answer: TimedOut), `None` while the handshake runs.
pub(crate) fn connect_step(inner: &mut Inner, h: ConnHandle) -> Option<io::Result<FourTuple>> {
    match inner.ep.state(h) {
        None => Some(Err(not_connected())),
        Some(State::SynSent | State::SynReceived) => None,
        Some(State::Closed) => Some(Err(close_error(inner.conns.get(&h).and_then(|s| s.closed)))),
        Some(_) => inner.ep.tuple(h).map(Ok),
    }
}

/// Give up an active open that failed or timed out.
pub(crate) fn connect_abandon(shared: &Shared, h: ConnHandle) {
    let mut g = shared.lock();
    g.conns.remove(&h);
    let _ = g.ep.abort(h);
    drop(g);
    shared.kick();
}

/// Socket options as last set (the endpoint holds the ones it acts on).
#[derive(Clone, Debug, Default)]
pub(crate) struct Opts {
    pub read_timeout: Option<Duration>,
    pub write_timeout: Option<Duration>,
    pub nodelay: bool,
    pub keepalive: Option<Duration>,
    pub read_shut: bool,
    /// `set_nonblocking(true)`: reads and writes fail with `WouldBlock` instead of waiting.
    pub nonblocking: bool,
}

/// One connection, shared by the clones of a stream; dropping the last one closes it.
pub(crate) struct StreamInner {
    pub shared: Arc<Shared>,
    pub h: ConnHandle,
    pub tuple: FourTuple,
    pub opts: Mutex<Opts>,
}

impl StreamInner {
    pub fn new(shared: Arc<Shared>, h: ConnHandle, tuple: FourTuple) -> Arc<StreamInner> {
        Arc::new(StreamInner {
            shared,
            h,
            tuple,
            opts: Mutex::new(Opts::default()),
        })
    }

    pub fn opts(&self) -> MutexGuard<'_, Opts> {
        self.opts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One RECEIVE: `None` when nothing is there yet.
    pub fn recv_step(&self, inner: &mut Inner, buf: &mut [u8]) -> Option<io::Result<usize>> {
        if self.opts().read_shut {
            return Some(Ok(0));
        }
        match inner.ep.recv(self.h, buf) {
            Ok(n) => Some(Ok(n)),
            Err(Error::WouldBlock) => None,
            Err(Error::InvalidHandle) => Some(Err(not_connected())),
            Err(e) => Some(Err(e.into())),
        }
    }

    /// One RECEIVE that leaves the data in place (`MSG_PEEK`): `None` when nothing is there.
    pub fn peek_step(&self, inner: &mut Inner, buf: &mut [u8]) -> Option<io::Result<usize>> {
        if self.opts().read_shut {
            return Some(Ok(0));
        }
        match inner.ep.peek(self.h, buf) {
            Ok(n) => Some(Ok(n)),
            Err(Error::WouldBlock) => None,
            Err(Error::InvalidHandle) => Some(Err(not_connected())),
            Err(e) => Some(Err(e.into())),
        }
    }

    /// Whether a read would not wait: data, the end of the stream, or an error.
    pub fn read_ready(&self, inner: &mut Inner) -> bool {
        self.peek_step(inner, &mut []).is_some()
    }

    /// Whether a write would not wait: room in the send buffer, or an error.
    pub fn write_ready(&self, inner: &mut Inner) -> bool {
        inner.ep.writable(self.h)
    }

    /// The pending error (`SO_ERROR`), taken: it is reported once.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let mut g = self.shared.lock();
        Ok(g.conns
            .get_mut(&self.h)
            .and_then(|s| s.error.take())
            .and_then(|e| e.to_io()))
    }

    /// One SEND: `None` when the send buffer is full.
    pub fn send_step(&self, inner: &mut Inner, buf: &[u8]) -> Option<io::Result<usize>> {
        match inner.ep.send(self.h, buf) {
            Ok(n) => Some(Ok(n)),
            Err(Error::WouldBlock) => None,
            Err(Error::InvalidHandle) => Some(Err(not_connected())),
            // After a normal close of both sides, writing is writing to a closed pipe.
            Err(Error::NotConnected)
                if inner.conns.get(&self.h).and_then(|s| s.closed) == Some(CloseReason::Normal) =>
            {
                Some(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "connection closed",
                )))
            }
            Err(e) => Some(Err(e.into())),
        }
    }

    /// Half-close (FIN after queued data); repeating it is not an error.
    pub fn shutdown_write(&self) -> io::Result<()> {
        let mut g = self.shared.lock();
        let r = g.ep.shutdown(self.h);
        drop(g);
        self.shared.kick();
        match r {
            Ok(()) | Err(Error::Closing) => Ok(()),
            Err(Error::InvalidHandle) => Err(not_connected()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn info(&self) -> io::Result<ConnInfo> {
        self.shared.lock().ep.info(self.h).ok_or_else(not_connected)
    }

    /// Nagle off (`true`) or on (MUST-17), in the endpoint and remembered here.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let r = self.shared.lock().ep.set_nodelay(self.h, nodelay);
        self.shared.kick();
        map_option_error(r)?;
        self.opts().nodelay = nodelay;
        Ok(())
    }

    /// Keep-alive after `idle` without traffic (MUST-24); `None` turns it off.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        let r = self.shared.lock().ep.set_keepalive(self.h, idle);
        self.shared.kick();
        map_option_error(r)?;
        self.opts().keepalive = idle;
        Ok(())
    }

    pub fn abort(&self) {
        let mut g = self.shared.lock();
        let _ = g.ep.abort(self.h);
        drop(g);
        self.shared.kick();
    }

    pub fn read_blocking(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.opts().nonblocking {
            return try_once(&self.shared, true, |inner| self.recv_step(inner, buf));
        }
        let deadline = self.opts().read_timeout.map(|t| Instant::now() + t);
        self.shared
            .wait_for(deadline, true, |inner| self.recv_step(inner, buf))
            .map_err(would_block_on_timeout)
    }

    /// Like [`StreamInner::read_blocking`], leaving the bytes for the next read.
    pub fn peek_blocking(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.opts().nonblocking {
            return try_once(&self.shared, true, |inner| self.peek_step(inner, buf));
        }
        let deadline = self.opts().read_timeout.map(|t| Instant::now() + t);
        self.shared
            .wait_for(deadline, true, |inner| self.peek_step(inner, buf))
            .map_err(would_block_on_timeout)
    }

    pub fn write_blocking(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.opts().nonblocking {
            return try_once(&self.shared, false, |inner| self.send_step(inner, buf));
        }
        let deadline = self.opts().write_timeout.map(|t| Instant::now() + t);
        self.shared
            .wait_for(deadline, false, |inner| self.send_step(inner, buf))
            .map_err(would_block_on_timeout)
    }
}

fn map_option_error(r: Result<(), Error>) -> io::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(Error::InvalidHandle) => Err(not_connected()),
        Err(e) => Err(e.into()),
    }
}

/// std's sockets report an expired read/write timeout as `WouldBlock` on Unix.
fn would_block_on_timeout(e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|r| r.is::<DeadlinePassed>()) {
        io::Error::new(io::ErrorKind::WouldBlock, "timed out")
    } else {
        e
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        // CLOSE: the endpoint finishes the FIN exchange and TIME-WAIT on its own (unread data
        // turns it into a RST, SHLD-3).
        let mut g = self.shared.lock();
        g.conns.remove(&self.h);
        let _ = g.ep.close(self.h);
        drop(g);
        self.shared.kick();
    }
}

/// The listening registration, shared by a listener's clones; the last one stops listening.
struct ListenerInner {
    shared: Arc<Shared>,
    local: SocketAddr,
    /// Shared by the clones, as the file status flags of a dup'ed socket are.
    nonblocking: AtomicBool,
}

impl Drop for ListenerInner {
    fn drop(&mut self) {
        unlisten(&self.shared, self.local);
    }
}

/// A TCP listener on a [`Stack`], like `std::net::TcpListener`.
pub struct TcpListener {
    inner: Arc<ListenerInner>,
}

impl TcpListener {
    /// Listen on `addr` with the endpoint's default backlog (an unspecified IP listens on every
    /// address of the stack; port 0 picks a free port). Like std, `addr` may resolve to several
    /// addresses: the first that can be bound is.
    pub fn bind(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |a| Self::bind_inner(stack, a, None))
    }

    /// Listen with a backlog bounding the SYN queue and the accept queue.
    pub fn bind_with_backlog(
        stack: &Stack,
        addr: impl ToSocketAddrs,
        backlog: usize,
    ) -> io::Result<TcpListener> {
        each_addr(addr, |a| Self::bind_inner(stack, a, Some(backlog)))
    }

    /// Accept-any mode, for tun2socks-style applications: accept connections to *every*
    /// destination address and port that arrives on the device and that no other listener
    /// takes. Each accepted stream's [`TcpStream::local_addr`] is the original destination
    /// the peer connected to. Every destination address counts as the stack's own when its
    /// `Config::local_addrs` is empty (the default); otherwise only those addresses (on any
    /// port) are accepted. One accept-any listener per stack (`AddrInUse` otherwise); its
    /// [`TcpListener::local_addr`] is [`ACCEPT_ANY`] (`[::]:0`).
    pub fn bind_any(stack: &Stack) -> io::Result<TcpListener> {
        Self::bind_any_inner(stack, None)
    }

    /// [`TcpListener::bind_any`] with a backlog bounding the SYN queue and the accept queue.
    pub fn bind_any_with_backlog(stack: &Stack, backlog: usize) -> io::Result<TcpListener> {
        Self::bind_any_inner(stack, Some(backlog))
    }

    fn bind_any_inner(stack: &Stack, backlog: Option<usize>) -> io::Result<Self> {
        let local = listen_any(&stack.shared, backlog)?;
        Ok(Self::new(stack, local))
    }

    fn bind_inner(stack: &Stack, addr: SocketAddr, backlog: Option<usize>) -> io::Result<Self> {
        let local = listen(&stack.shared, addr, backlog)?;
        Ok(Self::new(stack, local))
    }

    fn new(stack: &Stack, local: SocketAddr) -> TcpListener {
        TcpListener {
            inner: Arc::new(ListenerInner {
                shared: stack.shared.clone(),
                local,
                nonblocking: AtomicBool::new(false),
            }),
        }
    }

    /// Wait for the next ESTABLISHED connection (in nonblocking mode: `WouldBlock` when none
    /// is waiting).
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_deadline(None)
    }

    /// Like [`TcpListener::accept`], giving up with `TimedOut` after `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_deadline(Some(Instant::now() + timeout))
    }

    fn accept_deadline(&self, deadline: Option<Instant>) -> io::Result<(TcpStream, SocketAddr)> {
        let (shared, local) = (&self.inner.shared, self.inner.local);
        let step = |inner: &mut Inner| accept_step(shared, inner, local).map(Ok);
        let r = if self.inner.nonblocking.load(Ordering::Relaxed) {
            try_once(shared, false, step)
        } else {
            shared.wait_for(deadline, false, step)
        };
        r.map(|(inner, peer)| (TcpStream { inner }, peer))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.local)
    }

    /// `true`: [`TcpListener::accept`] returns `WouldBlock` instead of waiting. Shared with
    /// the listener's clones (as with std, where they are one socket).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// Another handle to the same listener (e.g. accepting on several threads); it stops
    /// listening when the last handle is dropped.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.clone(),
        })
    }

    /// The listener's pending error: always `None`, since a listener here has no socket-level
    /// error to report (a failing handshake only ever concerns the connection, which the
    /// endpoint drops without queuing it).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        Ok(None)
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.inner.local)
            .finish()
    }
}

/// Iterator of [`TcpListener::incoming`].
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<Self::Item> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection on a [`Stack`], like `std::net::TcpStream`. Dropping the last clone closes
/// it (a full close; the stack finishes the FIN exchange and TIME-WAIT by itself).
pub struct TcpStream {
    pub(crate) inner: Arc<StreamInner>,
}

impl TcpStream {
    /// Open a connection to `addr` and wait for the handshake (the SYN timeout of the
    /// endpoint's config bounds it). Like std, each address `addr` resolves to is tried in
    /// turn until one connects.
    pub fn connect(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |a| Self::connect_deadline(stack, a, None))
    }

    /// Like [`TcpStream::connect`], giving up with `TimedOut` after `timeout`.
    pub fn connect_timeout(
        stack: &Stack,
        addr: &SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        Self::connect_deadline(stack, *addr, Some(Instant::now() + timeout))
    }

    fn connect_deadline(
        stack: &Stack,
        addr: SocketAddr,
        deadline: Option<Instant>,
    ) -> io::Result<TcpStream> {
        let shared = &stack.shared;
        let h = connect_start(shared, addr)?;
        match shared.wait_for(deadline, false, |inner| connect_step(inner, h)) {
            Ok(tuple) => Ok(TcpStream {
                inner: StreamInner::new(shared.clone(), h, tuple),
            }),
            Err(e) => {
                connect_abandon(shared, h);
                Err(e)
            }
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.tuple.remote)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.tuple.local)
    }

    /// `Write`: send FIN after the queued data (the read side stays open). `Read`: later reads
    /// return 0. `Both`: both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.inner.opts().read_shut = true;
            self.inner.shared.cond.notify_all();
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.inner.shutdown_write()?;
        }
        Ok(())
    }

    /// Reset the connection now (RST), like `SO_LINGER` 0 then close.
    pub fn abort(self) {
        self.inner.abort();
    }

    /// Bound how long `read` blocks; it then fails with `WouldBlock`. `Some(0)` is an error.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.inner.opts().read_timeout = t;
        Ok(())
    }

    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.opts().read_timeout)
    }

    /// Bound how long `write` blocks on a full send buffer.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        check_timeout(t)?;
        self.inner.opts().write_timeout = t;
        Ok(())
    }

    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.opts().write_timeout)
    }

    /// Disable (`true`) or enable Nagle's algorithm, like `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.inner.opts().nodelay)
    }

    /// Send keep-alive probes after `idle` without traffic (`None`: off, the default).
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        self.inner.set_keepalive(idle)
    }

    pub fn keepalive(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.opts().keepalive)
    }

    /// The connection's TCB at a glance, like Linux `tcp_info`: state, RTT, RTO, cwnd…
    pub fn info(&self) -> io::Result<ConnInfo> {
        self.inner.info()
    }

    /// Receive into `buf` without taking the bytes: the next read returns them again (like
    /// `MSG_PEEK`). Waits like [`Read::read`] (and honours the read timeout and nonblocking
    /// mode); `Ok(0)` is the end of the stream.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek_blocking(buf)
    }

    /// `true`: `read`, `peek` and `write` return `WouldBlock` instead of waiting (shared by the
    /// clones, as with std, where they are one socket).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.opts().nonblocking = nonblocking;
        Ok(())
    }

    /// The connection's pending error, cleared by this call (like `SO_ERROR`): how it ended if
    /// not normally (reset, timed out, refused, aborted), or the last ICMP error it got
    /// (unreachable and the like; path-MTU messages are not errors). `Ok(None)` when there is
    /// none. Reads and writes keep reporting a reset after it was taken here.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Another handle to the same connection (e.g. one thread reads, one writes).
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.clone(),
        })
    }
}

fn check_timeout(t: Option<Duration>) -> io::Result<()> {
    if t == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(())
}

impl fmt::Debug for StreamInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("conn", &self.h)
            .field("local", &self.tuple.local)
            .field("peer", &self.tuple.remote)
            .finish()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_blocking(buf)
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_blocking(buf)
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_blocking(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_blocking(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
