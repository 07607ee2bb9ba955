//! The demo's application: one connection, a request/response exchange, and the ending the
//! user asked for (normal close, half-close, simultaneous close), over a passive or a
//! simultaneous open. The simulator's built-in `Client`/`Server` cover the plain cases; this
//! one exists for the textbook cases they do not (both sides calling CONNECT at once, both
//! calling CLOSE at the same instant, a server that keeps sending after the client's FIN) and
//! for the literal "hello" exchange.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use synack_proto::{CloseReason, ConnHandle, Duration, Endpoint, Error, Event, Instant};
use synack_sim::{pattern, App, AppCtx, AppOutcome, ConnOutcome};

/// What one side sends.
#[derive(Clone, Debug)]
pub enum Payload {
    /// These exact bytes ("hello").
    Bytes(Vec<u8>),
    /// `len` bytes of the simulator's pattern for `seed`.
    Pattern { seed: u64, len: u64 },
}

impl Payload {
    pub fn len(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::Pattern { len, .. } => *len,
        }
    }

    fn byte(&self, offset: u64) -> Option<u8> {
        match self {
            Payload::Bytes(b) => usize::try_from(offset).ok().and_then(|i| b.get(i)).copied(),
            Payload::Pattern { seed, len } => (offset < *len).then(|| pattern(*seed, offset)),
        }
    }
}

/// How the connection is opened on this side.
#[derive(Clone, Copy, Debug)]
pub enum Open {
    /// Passive OPEN on this port (LISTEN), accept one connection.
    Listen(u16),
    /// Active OPEN from `local_port` (0 = ephemeral) to `remote`.
    Connect { local_port: u16, remote: SocketAddr },
}

/// When this side sends its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendWhen {
    /// As soon as the connection is ESTABLISHED.
    Established,
    /// Once it has received the peer's whole payload (a reply).
    AfterRequest,
    /// Once the peer has closed its sending side (end of stream).
    AfterEof,
}

/// Both sides of a simultaneous close agree on the instant here.
#[derive(Debug, Default)]
pub struct Agreement {
    ready: u8,
    close_at: Option<Instant>,
}

/// The next whole 100 ms at least 50 ms from `now`: a round instant both sides can meet at.
fn round_instant(now: Instant) -> Instant {
    let step = 100_000;
    let t = now.as_micros() + 50_000;
    Instant::from_micros(t.div_ceil(step) * step)
}

/// When this side ends the connection.
#[derive(Clone, Debug)]
pub enum CloseWhen {
    /// CLOSE once everything is sent and the peer's payload arrived.
    Done,
    /// CLOSE once everything is sent and the peer's FIN arrived.
    AfterEof,
    /// SHUTDOWN (FIN) once everything is sent; CLOSE once the peer's FIN arrived.
    ShutdownFirst,
    /// CLOSE at an instant agreed with the peer once both are done.
    Together(Rc<RefCell<Agreement>>),
}

pub struct Peer {
    role: &'static str,
    open: Open,
    send: Payload,
    expect: Payload,
    send_when: SendWhen,
    close_when: CloseWhen,
    conn: Option<ConnHandle>,
    out: Option<ConnOutcome>,
    errors: Vec<String>,
    mismatch: bool,
    shut: bool,
    released: bool,
    agreed: bool,
    gave_up: bool,
    /// How long the application "thinks" before acting on what it just learned (sending
    /// after the connection opened or after end of stream, closing after end of stream). Real
    /// applications run after the kernel has acknowledged what woke them, so the textbook
    /// picture has the handshake's ACK and the ACK of a FIN as segments of their own.
    think: Duration,
    /// Sending is allowed from this instant (set when the condition first holds).
    send_gate: Option<Instant>,
    /// Closing is allowed from this instant.
    close_gate: Option<Instant>,
}

impl Peer {
    pub fn new(
        role: &'static str,
        open: Open,
        send: Payload,
        expect: Payload,
        send_when: SendWhen,
        close_when: CloseWhen,
    ) -> Peer {
        Peer {
            role,
            open,
            send,
            expect,
            send_when,
            close_when,
            conn: None,
            out: None,
            errors: Vec::new(),
            mismatch: false,
            shut: false,
            released: false,
            agreed: false,
            gave_up: false,
            think: Duration::ZERO,
            send_gate: None,
            close_gate: None,
        }
    }

    /// Think for `think` before sending after the open or after end of stream, and before
    /// closing after end of stream.
    pub fn think(mut self, think: Duration) -> Peer {
        self.think = think;
        self
    }

    /// Open `gate` at `now + delay` the first time it is asked for; whether it is open now.
    fn gate(gate: &mut Option<Instant>, now: Instant, delay: Duration) -> bool {
        now >= *gate.get_or_insert(now + delay)
    }

    /// Ask for a timer at the earliest gate still closed, or the agreed closing instant.
    fn arm(&self, ctx: &mut AppCtx<'_>) {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t.filter(|&t| t > ctx.now) {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        if !self.released {
            consider(self.send_gate);
            consider(self.close_gate);
            if let (CloseWhen::Together(a), true) = (&self.close_when, self.agreed) {
                consider(a.borrow().close_at);
            }
        }
        ctx.set_timer(next);
    }

    fn adopt(&mut self, ep: &Endpoint, conn: ConnHandle) {
        self.conn = Some(conn);
        self.out = Some(ConnOutcome {
            opened_at: None,
            ..ConnOutcome::new(conn, ep.tuple(conn), Instant::ZERO)
        });
    }

    fn io_error(&mut self, e: Error) {
        if let Some(o) = self.out.as_mut() {
            if !o.io_errors.contains(&e) {
                o.io_errors.push(e);
            }
        }
    }

    fn failed(&self) -> bool {
        self.out.as_ref().is_some_and(|o| {
            o.closed.is_some_and(|r| r != CloseReason::Normal) || !o.io_errors.is_empty()
        })
    }

    fn may_send(&mut self, now: Instant) -> bool {
        let Some(o) = &self.out else { return false };
        let (ready, delay) = match self.send_when {
            SendWhen::Established => (true, self.think),
            SendWhen::AfterRequest => (
                o.bytes_received >= self.expect.len() || o.eof,
                Duration::ZERO,
            ),
            SendWhen::AfterEof => (o.eof, self.think),
        };
        ready && Self::gate(&mut self.send_gate, now, delay)
    }

    fn pump_send(&mut self, ep: &mut Endpoint, now: Instant) {
        if !self.may_send(now) {
            return;
        }
        let Some(conn) = self.conn else { return };
        let mut buf = vec![0u8; 16 * 1024];
        while !self.released && !self.shut && !self.failed() {
            let sent = self.out.as_ref().map_or(0, |o| o.bytes_sent);
            let left = self.send.len().saturating_sub(sent);
            if left == 0 {
                return;
            }
            let n = usize::try_from(left).unwrap_or(buf.len()).min(buf.len());
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = self.send.byte(sent + i as u64).unwrap_or(0);
            }
            match ep.send(conn, &buf[..n]) {
                Ok(0) | Err(Error::WouldBlock) => return,
                Ok(k) => {
                    if let Some(o) = self.out.as_mut() {
                        o.bytes_sent += k.min(n) as u64;
                    }
                }
                Err(e) => return self.io_error(e),
            }
        }
    }

    fn pump_recv(&mut self, ep: &mut Endpoint) {
        let Some(conn) = self.conn else { return };
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let Some(o) = self.out.as_mut() else { return };
            if o.eof {
                return;
            }
            match ep.recv(conn, &mut buf) {
                Ok(0) => o.eof = true,
                Ok(n) => {
                    let base = o.bytes_received;
                    o.bytes_received += n as u64;
                    if !self.mismatch {
                        for (i, &b) in buf[..n].iter().enumerate() {
                            let off = base + i as u64;
                            match self.expect.byte(off) {
                                Some(want) if want == b => {}
                                Some(want) => {
                                    self.mismatch = true;
                                    self.errors.push(format!(
                                        "byte {off} is {b:#04x}, expected {want:#04x}"
                                    ));
                                    break;
                                }
                                None => {
                                    self.mismatch = true;
                                    self.errors.push(format!(
                                        "received more than the {} bytes expected",
                                        self.expect.len()
                                    ));
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(Error::WouldBlock) => return,
                Err(e) => return self.io_error(e),
            }
        }
    }

    fn close(&mut self, ep: &mut Endpoint) {
        if let (Some(conn), false) = (self.conn, self.released) {
            self.released = true;
            if let Err(e) = ep.close(conn) {
                self.io_error(e);
            }
        }
    }

    /// Take the next step of the ending, if its time has come.
    fn advance(&mut self, ctx: &mut AppCtx<'_>) {
        let Some(o) = self.out.clone() else { return };
        if self.released || self.failed() || o.bytes_sent < self.send.len() {
            return;
        }
        let got_all = o.bytes_received >= self.expect.len();
        let (now, think) = (ctx.now, self.think);
        match self.close_when.clone() {
            CloseWhen::Done if got_all || o.eof => self.close(ctx.endpoint),
            CloseWhen::AfterEof if o.eof && Self::gate(&mut self.close_gate, now, think) => {
                self.close(ctx.endpoint)
            }
            CloseWhen::ShutdownFirst => {
                if !self.shut {
                    self.shut = true;
                    if let Some(conn) = self.conn {
                        if let Err(e) = ctx.endpoint.shutdown(conn) {
                            self.io_error(e);
                        }
                    }
                }
                if o.eof && Self::gate(&mut self.close_gate, now, think) {
                    self.close(ctx.endpoint);
                }
            }
            CloseWhen::Together(agreement) if (got_all || o.eof) && !self.agreed => {
                self.agreed = true;
                let mut a = agreement.borrow_mut();
                a.ready += 1;
                let at = match a.close_at {
                    Some(t) if t >= ctx.now => t,
                    _ => {
                        let t = round_instant(ctx.now);
                        a.close_at = Some(t);
                        t
                    }
                };
                drop(a);
                if at == ctx.now {
                    self.close_together(ctx);
                }
            }
            _ => {}
        }
    }
}

impl Peer {
    /// A simultaneous close: CLOSE when the agreed instant has come and both sides are done;
    /// if the peer is not done yet, move the meeting a little later.
    fn close_together(&mut self, ctx: &mut AppCtx<'_>) {
        let CloseWhen::Together(agreement) = self.close_when.clone() else {
            return;
        };
        let mut a = agreement.borrow_mut();
        match a.close_at {
            Some(t) if t > ctx.now => {}
            Some(t) if t == ctx.now && a.ready >= 2 => {
                drop(a);
                self.close(ctx.endpoint);
            }
            _ => a.close_at = Some(round_instant(ctx.now)),
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
                    self.gave_up = true;
                }
            }
            Open::Connect { local_port, remote } => {
                let local = SocketAddr::from((ctx.addr, local_port));
                match ctx.endpoint.connect(ctx.now, local, remote) {
                    Ok(conn) => self.adopt(ctx.endpoint, conn),
                    Err(e) => {
                        self.errors.push(format!("connect to {remote} failed: {e}"));
                        self.gave_up = true;
                    }
                }
            }
        }
    }

    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event) {
        if let Event::Incoming { listener, .. } = *event {
            if self.conn.is_none() {
                if let Some(conn) = ctx.endpoint.accept(listener) {
                    self.adopt(ctx.endpoint, conn);
                    // One connection is all the demo wants.
                    ctx.endpoint.unlisten(listener);
                    self.pump_recv(ctx.endpoint);
                    self.pump_send(ctx.endpoint, ctx.now);
                }
            }
        } else if Some(event.conn()) == self.conn {
            match *event {
                Event::Connected { .. } | Event::Writable { .. } => {
                    self.pump_send(ctx.endpoint, ctx.now)
                }
                Event::Readable { .. } | Event::PeerClosed { .. } => {
                    self.pump_recv(ctx.endpoint);
                    self.pump_send(ctx.endpoint, ctx.now);
                }
                Event::DeliveryProblem { .. } => {
                    if let Some(o) = self.out.as_mut() {
                        o.delivery_problems += 1;
                    }
                }
                Event::Closed { reason, .. } => {
                    self.pump_recv(ctx.endpoint);
                    if let Some(o) = self.out.as_mut() {
                        o.closed = Some(reason);
                    }
                    if !self.released {
                        self.released = true;
                        if let Some(conn) = self.conn {
                            let _ = ctx.endpoint.close(conn);
                        }
                    }
                }
                _ => {}
            }
        } else {
            return;
        }
        self.advance(ctx);
        self.arm(ctx);
    }

    fn on_timer(&mut self, ctx: &mut AppCtx<'_>) {
        self.pump_send(ctx.endpoint, ctx.now);
        self.advance(ctx);
        if self.agreed {
            self.close_together(ctx);
        }
        self.arm(ctx);
    }

    fn done(&self) -> bool {
        self.gave_up || self.out.as_ref().is_some_and(|o| o.closed.is_some())
    }

    fn outcome(&self) -> AppOutcome {
        AppOutcome {
            role: self.role.to_string(),
            done: self.done(),
            conns: self.out.iter().cloned().collect(),
            errors: self.errors.clone(),
        }
    }
}

/// A generous default for how long the demo lets a lossy transfer take before giving up.
pub const PATIENCE: Duration = Duration::from_secs(3600);
