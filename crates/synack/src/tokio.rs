//! Async sockets for tokio: [`TcpListener`] and [`TcpStream`], the latter implementing
//! tokio's `AsyncRead` and `AsyncWrite` so tokio-util, hyper and friends work over synack.
//!
//! No tokio task drives the stack: its own thread does, and wakes the waker a task registered
//! on a connection (or listener) when an event for it arrives — Readable, Writable,
//! Connected, PeerClosed, Closed, Incoming. Registration happens under the stack's lock, so no
//! event is missed between "would block" and "wake me".
//!
//! A connection keeps one read waker and one write waker, as tokio's own sockets do: one task
//! may wait to read (`read`, `peek`, `readable`) while another waits to write (`write`,
//! `writable`) — [`TcpStream::into_split`] and [`TcpStream::split`] are made for that — but two
//! tasks waiting in the same direction at once wake only the later one.

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use synack_proto::ConnInfo;

use crate::net::{self, try_once, StreamInner};
use crate::stack::{Shared, Stack};

/// An async TCP listener on a [`Stack`].
pub struct TcpListener {
    shared: Arc<Shared>,
    local: SocketAddr,
}

impl TcpListener {
    /// Listen on `addr` (see [`crate::net::TcpListener::bind`]; the first address `addr`
    /// resolves to that can be bound is). Not async: it only registers the listener (and an
    /// address literal needs no lookup; a host name blocks on the host's resolver).
    pub fn bind(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_inner(stack, addr, None)
    }

    /// Listen with a backlog bounding the SYN and accept queues.
    pub fn bind_with_backlog(
        stack: &Stack,
        addr: impl ToSocketAddrs,
        backlog: usize,
    ) -> io::Result<TcpListener> {
        Self::bind_inner(stack, addr, Some(backlog))
    }

    fn bind_inner(
        stack: &Stack,
        addr: impl ToSocketAddrs,
        backlog: Option<usize>,
    ) -> io::Result<TcpListener> {
        let local = net::each_addr(addr, |a| net::listen(&stack.shared, a, backlog))?;
        Ok(TcpListener {
            shared: stack.shared.clone(),
            local,
        })
    }

    /// Accept-any mode: connections to every destination address and port that no other
    /// listener takes; each stream's [`TcpStream::local_addr`] is the original destination
    /// (see [`crate::net::TcpListener::bind_any`]).
    pub fn bind_any(stack: &Stack) -> io::Result<TcpListener> {
        Self::bind_any_inner(stack, None)
    }

    /// [`TcpListener::bind_any`] with a backlog bounding the SYN and accept queues.
    pub fn bind_any_with_backlog(stack: &Stack, backlog: usize) -> io::Result<TcpListener> {
        Self::bind_any_inner(stack, Some(backlog))
    }

    fn bind_any_inner(stack: &Stack, backlog: Option<usize>) -> io::Result<TcpListener> {
        let local = net::listen_any(&stack.shared, backlog)?;
        Ok(TcpListener {
            shared: stack.shared.clone(),
            local,
        })
    }

    /// The next ESTABLISHED connection and its peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Poll for the next connection; registers `cx`'s waker when none is waiting.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut g = self.shared.lock();
        if g.stopped {
            return Poll::Ready(Err(g.stopped_error()));
        }
        if let Some((inner, peer)) = net::accept_step(&self.shared, &mut g, self.local) {
            drop(g);
            self.shared.kick();
            return Poll::Ready(Ok((TcpStream { inner }, peer)));
        }
        g.listeners.insert(self.local, Some(cx.waker().clone()));
        Poll::Pending
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        net::unlisten(&self.shared, self.local);
    }
}

/// An async TCP connection on a [`Stack`]. Dropping it closes the connection.
pub struct TcpStream {
    inner: Arc<StreamInner>,
}

impl TcpStream {
    /// Open a connection to `addr` and wait for the handshake; each address `addr` resolves
    /// to is tried in turn until one connects (an address literal needs no lookup; a host name
    /// blocks on the host's resolver). Cancelling the future (e.g. with
    /// `tokio::time::timeout`) abandons the attempt.
    pub async fn connect(stack: &Stack, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match Self::connect_one(stack, a).await {
                Ok(s) => return Ok(s),
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

    async fn connect_one(stack: &Stack, addr: SocketAddr) -> io::Result<TcpStream> {
        let shared = stack.shared.clone();
        let h = net::connect_start(&shared, addr)?;
        // Abandons the half-open connection if this future is dropped before it finishes.
        struct Pending {
            shared: Arc<Shared>,
            h: Option<synack_proto::ConnHandle>,
        }
        impl Drop for Pending {
            fn drop(&mut self) {
                if let Some(h) = self.h {
                    net::connect_abandon(&self.shared, h);
                }
            }
        }
        let mut pending = Pending {
            shared: shared.clone(),
            h: Some(h),
        };
        let tuple = poll_fn(|cx| {
            let mut g = shared.lock();
            if g.stopped {
                return Poll::Ready(Err(g.stopped_error()));
            }
            match net::connect_step(&mut g, h) {
                Some(r) => Poll::Ready(r),
                None => {
                    if let Some(s) = g.conns.get_mut(&h) {
                        s.write = Some(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await?;
        pending.h = None;
        Ok(TcpStream {
            inner: StreamInner::new(shared, h, tuple),
        })
    }

    /// A tokio stream over a connection made with the blocking API.
    pub fn from_std(stream: net::TcpStream) -> TcpStream {
        TcpStream {
            inner: stream.inner,
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.tuple.remote)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.tuple.local)
    }

    /// Disable (`true`) or enable Nagle's algorithm, like `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Send keep-alive probes after `idle` without traffic (`None`: off, the default).
    pub fn set_keepalive(&self, idle: Option<std::time::Duration>) -> io::Result<()> {
        self.inner.set_keepalive(idle)
    }

    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.inner.opts().nodelay)
    }

    /// The connection's TCB at a glance (state, RTT, RTO, cwnd…).
    pub fn info(&self) -> io::Result<ConnInfo> {
        self.inner.info()
    }

    /// Reset the connection now (RST).
    pub fn abort(self) {
        self.inner.abort();
    }

    /// Wait until a read would not wait: data, the end of the stream, or an error has come.
    /// A later read can still find nothing (another reader took it): retry on `WouldBlock`.
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| poll_read_ready(&self.inner, cx)).await
    }

    /// Wait until a write would not wait: room in the send buffer (or an error to report).
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| poll_write_ready(&self.inner, cx)).await
    }

    /// Poll for read readiness; registers `cx`'s waker (the read one) when not ready.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_read_ready(&self.inner, cx)
    }

    /// Poll for write readiness; registers `cx`'s waker (the write one) when not ready.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_write_ready(&self.inner, cx)
    }

    /// Read what is there now without waiting: `WouldBlock` when nothing is (`Ok(0)` is the
    /// end of the stream, or an empty `buf`).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        try_read(&self.inner, buf)
    }

    /// Queue what fits now without waiting: `WouldBlock` when the send buffer is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        try_write(&self.inner, buf)
    }

    /// Receive into `buf` without taking the bytes: the next read returns them again (like
    /// `MSG_PEEK`). Waits until something is there; `Ok(0)` is the end of the stream.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_peek(&self.inner, cx, buf)).await
    }

    /// The pending error, cleared by this call (see [`crate::net::TcpStream::take_error`]).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Borrowed read and write halves, usable at the same time (e.g. in `tokio::join!`);
    /// cheaper than `tokio::io::split`, which locks.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(&self.inner), WriteHalf(&self.inner))
    }

    /// Owned read and write halves, to move into different tasks. Dropping the write half
    /// shuts down the write side (FIN), as tokio's does; the connection closes when both
    /// halves are gone. [`OwnedReadHalf::reunite`] puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let inner = self.inner;
        (
            OwnedReadHalf {
                inner: inner.clone(),
            },
            OwnedWriteHalf {
                inner,
                shutdown_on_drop: true,
            },
        )
    }

    /// Shut down one or both directions at once (`AsyncWriteExt::shutdown` does `Write`).
    pub fn shutdown_std(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.inner.opts().read_shut = true;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.inner.shutdown_write()?;
        }
        Ok(())
    }
}

fn poll_read_ready(inner: &StreamInner, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let mut g = inner.shared.lock();
    if g.stopped || inner.read_ready(&mut g) {
        return Poll::Ready(Ok(()));
    }
    if let Some(s) = g.conns.get_mut(&inner.h) {
        s.read = Some(cx.waker().clone());
    }
    Poll::Pending
}

fn poll_write_ready(inner: &StreamInner, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let mut g = inner.shared.lock();
    if g.stopped || inner.write_ready(&mut g) {
        return Poll::Ready(Ok(()));
    }
    if let Some(s) = g.conns.get_mut(&inner.h) {
        s.write = Some(cx.waker().clone());
    }
    Poll::Pending
}

fn try_read(inner: &StreamInner, buf: &mut [u8]) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    try_once(&inner.shared, true, |g| inner.recv_step(g, buf))
}

fn try_write(inner: &StreamInner, buf: &[u8]) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    try_once(&inner.shared, false, |g| inner.send_step(g, buf))
}

fn poll_peek(inner: &StreamInner, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let mut g = inner.shared.lock();
    match inner.peek_step(&mut g, buf) {
        Some(r) => Poll::Ready(r),
        None if g.stopped => Poll::Ready(Err(g.stopped_error())),
        None => {
            if let Some(s) = g.conns.get_mut(&inner.h) {
                s.read = Some(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}

fn poll_read(
    inner: &StreamInner,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    if buf.remaining() == 0 {
        return Poll::Ready(Ok(()));
    }
    let mut g = inner.shared.lock();
    // A stopped stack still gives what arrived, and the end of the stream, before it says
    // it stopped.
    let dst = buf.initialize_unfilled();
    match inner.recv_step(&mut g, dst) {
        Some(Ok(n)) => {
            let kick = g.ep.wants_poll(); // a window update may be due
            drop(g);
            buf.advance(n);
            if kick {
                inner.shared.kick();
            }
            Poll::Ready(Ok(()))
        }
        Some(Err(e)) => Poll::Ready(Err(e)),
        None if g.stopped => Poll::Ready(Err(g.stopped_error())),
        None => {
            if let Some(s) = g.conns.get_mut(&inner.h) {
                s.read = Some(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}

fn poll_write(inner: &StreamInner, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    if buf.is_empty() {
        return Poll::Ready(Ok(0));
    }
    let mut g = inner.shared.lock();
    if g.stopped {
        return Poll::Ready(Err(g.stopped_error()));
    }
    match inner.send_step(&mut g, buf) {
        Some(r) => {
            drop(g);
            inner.shared.kick();
            Poll::Ready(r)
        }
        None => {
            if let Some(s) = g.conns.get_mut(&inner.h) {
                s.write = Some(cx.waker().clone());
            }
            Poll::Pending
        }
    }
}

/// `AsyncRead` and `AsyncWrite` for a type holding the connection in `$field`
/// (`poll_shutdown` is the half-close: FIN after the queued data; there is nothing to flush,
/// since data handed to `poll_write` is already queued in the stack).
macro_rules! async_io {
    ($t:ty, read) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read(&self.inner(), cx, buf)
            }
        }
    };
    ($t:ty, write) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                poll_write(&self.inner(), cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.inner().shutdown_write())
            }
        }
    };
}

impl TcpStream {
    fn inner(&self) -> &StreamInner {
        &self.inner
    }
}

async_io!(TcpStream, read);
async_io!(TcpStream, write);

/// The read half of [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a StreamInner);

/// The write half of [`TcpStream::split`].
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a StreamInner);

impl ReadHalf<'_> {
    fn inner(&self) -> &StreamInner {
        self.0
    }

    /// See [`TcpStream::peek`].
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_peek(self.0, cx, buf)).await
    }

    /// See [`TcpStream::readable`].
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| poll_read_ready(self.0, cx)).await
    }

    /// See [`TcpStream::try_read`].
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        try_read(self.0, buf)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.tuple.remote)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.tuple.local)
    }
}

impl WriteHalf<'_> {
    fn inner(&self) -> &StreamInner {
        self.0
    }

    /// See [`TcpStream::writable`].
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| poll_write_ready(self.0, cx)).await
    }

    /// See [`TcpStream::try_write`].
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        try_write(self.0, buf)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.tuple.remote)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.tuple.local)
    }
}

async_io!(ReadHalf<'_>, read);
async_io!(WriteHalf<'_>, write);

/// The read half of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: Arc<StreamInner>,
}

/// The write half of [`TcpStream::into_split`]; dropping it shuts down the write side (FIN)
/// unless [`OwnedWriteHalf::forget`] was called.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: Arc<StreamInner>,
    shutdown_on_drop: bool,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams; here they are
/// back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl std::fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tried to reunite halves that are not from the same socket")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    fn inner(&self) -> &StreamInner {
        &self.inner
    }

    /// The stream again, if `other` is this half's partner (else both are given back).
    pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Arc::ptr_eq(&self.inner, &other.inner) {
            return Err(ReuniteError(self, other));
        }
        other.shutdown_on_drop = false;
        drop(other);
        Ok(TcpStream { inner: self.inner })
    }

    /// See [`TcpStream::peek`].
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_peek(&self.inner, cx, buf)).await
    }

    /// See [`TcpStream::readable`].
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| poll_read_ready(&self.inner, cx)).await
    }

    /// See [`TcpStream::try_read`].
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        try_read(&self.inner, buf)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.tuple.remote)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.tuple.local)
    }
}

impl OwnedWriteHalf {
    fn inner(&self) -> &StreamInner {
        &self.inner
    }

    /// See [`OwnedReadHalf::reunite`].
    pub fn reunite(self, other: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        other.reunite(self)
    }

    /// Drop this half without shutting down the write side.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// See [`TcpStream::writable`].
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| poll_write_ready(&self.inner, cx)).await
    }

    /// See [`TcpStream::try_write`].
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        try_write(&self.inner, buf)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.tuple.remote)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.tuple.local)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.inner.shutdown_write();
        }
    }
}

async_io!(OwnedReadHalf, read);
async_io!(OwnedWriteHalf, write);

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}
