//! [`Peer`]: one side of a symmetric exchange — it listens or connects (both sides connecting
//! to each other is a simultaneous open, RFC 9293 §3.5 Figure 8), sends a pattern, verifies
//! what arrives, and closes on its own or at the same virtual instant as the other side
//! ([`PeerClose::Together`]: the FINs cross, a simultaneous close, Figure 13).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use synack_proto::{Duration, Endpoint, Event, Instant};

use super::{App, AppCtx, AppOutcome, Stream};

/// How a [`Peer`] gets its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Passive OPEN on this port; the first connection is taken.
    Listen(u16),
    /// Active OPEN from `local_port` (0 = ephemeral) to `remote`.
    Connect { local_port: u16, remote: SocketAddr },
}

/// Shared by the two sides of a simultaneous close: who is ready, and the instant both close.
#[derive(Debug, Default)]
pub struct Agreement {
    ready: [bool; 2],
    close_at: Option<Instant>,
}

/// How a [`Peer`] ends its connection once everything is sent.
#[derive(Clone, Debug)]
pub enum PeerClose {
    /// CLOSE once the expected bytes (or EOF) arrived.
    WhenDone,
    /// SHUTDOWN at once, CLOSE at EOF.
    ShutdownFirst,
    /// CLOSE at EOF.
    AfterEof,
    /// CLOSE at the same virtual instant as the other side (index 0 or 1 of the agreement),
    /// once both got everything they expect.
    Together(Rc<RefCell<Agreement>>, usize),
}

impl PeerClose {
    /// A pair of `Together` closes sharing one agreement.
    pub fn together() -> (PeerClose, PeerClose) {
        let a = Rc::new(RefCell::new(Agreement::default()));
        (PeerClose::Together(a.clone(), 0), PeerClose::Together(a, 1))
    }
}

/// How often a side that is ready for a simultaneous close checks whether the other is.
const POLL: Duration = Duration::from_millis(10);
/// A side waits this long for the other to be ready, then closes alone.
const PATIENCE: Duration = Duration::from_secs(600);

/// One side of a symmetric exchange (see the module docs).
#[derive(Debug)]
pub struct Peer {
    name: String,
    open: Open,
    send_bytes: u64,
    send_seed: u64,
    recv_seed: u64,
    expect: u64,
    close: PeerClose,
    stream: Option<Stream>,
    errors: Vec<String>,
    ready_since: Option<Instant>,
    failed_open: bool,
}

impl Peer {
    /// `name` sends `send_bytes` of the `send_seed` pattern and expects `expect` bytes of the
    /// `recv_seed` pattern.
    pub fn new(
        name: &str,
        open: Open,
        (send_bytes, send_seed): (u64, u64),
        (expect, recv_seed): (u64, u64),
        close: PeerClose,
    ) -> Peer {
        Peer {
            name: name.to_string(),
            open,
            send_bytes,
            send_seed,
            recv_seed,
            expect,
            close,
            stream: None,
            errors: Vec::new(),
            ready_since: None,
            failed_open: false,
        }
    }

    fn start_stream(&mut self, s: &mut Stream) {
        s.send_seed = self.send_seed;
        s.recv_seed = self.recv_seed;
        s.to_send = Some(self.send_bytes);
        s.expect = Some(self.expect);
    }

    fn advance(&mut self, ctx: &mut AppCtx<'_>) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        if !s.connected || s.released || s.failed() || s.out.bytes_sent < self.send_bytes {
            return;
        }
        let ep: &mut Endpoint = ctx.endpoint;
        let got_all = s.out.bytes_received >= self.expect || s.out.eof;
        match &self.close {
            PeerClose::WhenDone if got_all => s.close(ep),
            PeerClose::AfterEof if s.out.eof => s.close(ep),
            PeerClose::ShutdownFirst => {
                if !s.shut {
                    s.shut = true;
                    if let Err(e) = ep.shutdown(s.out.conn) {
                        s.io_error(e);
                    }
                }
                if s.out.eof {
                    s.close(ep);
                }
            }
            PeerClose::Together(agreement, me) if got_all => {
                let mut a = agreement.borrow_mut();
                a.ready[*me] = true;
                let since = *self.ready_since.get_or_insert(ctx.now);
                if a.close_at.is_none() && (a.ready[1 - *me] || ctx.now >= since + PATIENCE) {
                    // Both ready: close together a little later, so the other side's polling
                    // timer (POLL) sees the agreement first.
                    a.close_at = Some(ctx.now + POLL + POLL);
                }
                match a.close_at {
                    Some(t) if ctx.now >= t => s.close(ep),
                    Some(t) => ctx.set_timer(Some(t)),
                    None => ctx.set_timer(Some(ctx.now + POLL)),
                }
            }
            _ => {}
        }
    }
}

impl App for Peer {
    fn on_start(&mut self, ctx: &mut AppCtx<'_>) {
        match self.open {
            Open::Listen(port) => {
                let local = SocketAddr::from((ctx.addr, port));
                if let Err(e) = ctx.endpoint.listen(local, None) {
                    self.errors.push(format!("listen on {local} failed: {e}"));
                    self.failed_open = true;
                }
            }
            Open::Connect { local_port, remote } => {
                let local = SocketAddr::from((ctx.addr, local_port));
                match ctx.endpoint.connect(ctx.now, local, remote) {
                    Ok(conn) => {
                        let mut s = Stream::new(conn, ctx.endpoint.tuple(conn), ctx.now);
                        self.start_stream(&mut s);
                        self.stream = Some(s);
                    }
                    Err(e) => {
                        self.errors.push(format!("connect to {remote} failed: {e}"));
                        self.failed_open = true;
                    }
                }
            }
        }
    }

    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event) {
        if let Event::Incoming { listener, .. } = *event {
            if self.stream.is_none() {
                if let Some(conn) = ctx.endpoint.accept(listener) {
                    let mut s = Stream::new(conn, ctx.endpoint.tuple(conn), ctx.now);
                    s.connected = true;
                    self.start_stream(&mut s);
                    s.pump_send(ctx.endpoint);
                    s.pump_recv(ctx.endpoint, ctx.now, &mut self.errors);
                    self.stream = Some(s);
                    ctx.endpoint.unlisten(listener);
                }
            }
        } else if let Some(s) = self.stream.as_mut().filter(|s| s.out.conn == event.conn()) {
            s.on_event(ctx.endpoint, ctx.now, event, &mut self.errors);
        } else {
            return;
        }
        self.advance(ctx);
    }

    fn on_timer(&mut self, ctx: &mut AppCtx<'_>) {
        self.advance(ctx);
    }

    fn done(&self) -> bool {
        self.failed_open || self.stream.as_ref().is_some_and(|s| s.out.closed.is_some())
    }

    fn outcome(&self) -> AppOutcome {
        AppOutcome {
            role: self.name.clone(),
            done: self.done(),
            conns: self.stream.iter().map(|s| s.out.clone()).collect(),
            errors: self.errors.clone(),
        }
    }
}
