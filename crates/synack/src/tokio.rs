//! Async sockets for tokio: [`TcpListener`] and [`TcpStream`], the latter implementing
//! tokio's `AsyncRead` and `AsyncWrite` so tokio-util, hyper and friends work over synack.
//!
//! No tokio task drives the stack: its own thread does, and wakes the waker a task registered
//! on a connection (or listener) when an event for it arrives — Readable, Writable,
//! Connected, PeerClosed, Closed, Incoming. Registration happens under the stack's lock, so no
//! event is missed between "would block" and "wake me".

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use synack_proto::ConnInfo;

use crate::net::{self, StreamInner};
use crate::stack::{Shared, Stack};

/// An async TCP listener on a [`Stack`].
pub struct TcpListener {
    shared: Arc<Shared>,
    local: SocketAddr,
}

impl TcpListener {
    /// Listen on `addr` (see [`crate::net::TcpListener::bind`]). Not async: it only
    /// registers the listener.
    pub fn bind(stack: &Stack, addr: SocketAddr) -> io::Result<TcpListener> {
        let local = net::listen(&stack.shared, addr, None)?;
        Ok(TcpListener {
            shared: stack.shared.clone(),
            local,
        })
    }

    /// Listen with a backlog bounding the SYN and accept queues.
    pub fn bind_with_backlog(
        stack: &Stack,
        addr: SocketAddr,
        backlog: usize,
    ) -> io::Result<TcpListener> {
        let local = net::listen(&stack.shared, addr, Some(backlog))?;
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
    /// Open a connection to `addr` and wait for the handshake. Cancelling the future (e.g.
    /// with `tokio::time::timeout`) abandons the attempt.
    pub async fn connect(stack: &Stack, addr: SocketAddr) -> io::Result<TcpStream> {
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

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let inner = &self.inner;
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
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let inner = &self.inner;
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

    /// Data handed to `poll_write` is already queued in the stack; nothing to flush.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Half-close: FIN after the queued data.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.shutdown_write())
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("conn", &self.inner.h)
            .field("local", &self.inner.tuple.local)
            .field("peer", &self.inner.tuple.remote)
            .finish()
    }
}
