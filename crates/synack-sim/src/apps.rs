//! Applications that run on simulated hosts, and the built-in client and server.
//!
//! An [`App`] is driven by the simulator: [`App::on_start`] once, then [`App::on_event`] for
//! every endpoint event of its host (in order), and [`App::on_timer`] when a timer it set with
//! [`AppCtx::set_timer`] fires. The built-in [`Client`] and [`Server`] move a deterministic byte
//! pattern ([`pattern`]) so the receiver verifies every byte, in order, and they record what
//! happened in an [`AppOutcome`] that the simulator's invariant checks read.

use std::net::{Ipv4Addr, SocketAddr};

use synack_proto::{
    CloseReason, ConnHandle, ConnInfo, Duration, Endpoint, Error, Event, FourTuple, Instant,
};

use crate::rng::mix64;
use crate::sim::HostId;

mod fleet;
mod peer;
pub use fleet::Fleet;
pub use peer::{Agreement, Open, Peer, PeerClose};

/// Byte `offset` of the data stream identified by `seed`: a non-periodic pattern, so a byte
/// delivered at the wrong offset (or from the wrong stream) is caught.
pub fn pattern(seed: u64, offset: u64) -> u8 {
    let word = mix64(seed ^ mix64(offset / 8));
    (word >> ((offset % 8) * 8)) as u8
}

/// Fill `buf` with the pattern of `seed` starting at `offset`.
pub fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(seed, offset + i as u64);
    }
}

/// The seed of the data a [`Server`] sends back (`Reply::Send`) for clients using `seed`, so
/// request and reply streams differ.
pub fn reply_seed(seed: u64) -> u64 {
    mix64(seed ^ 0x5245_504C_5900)
}

/// What an application gets to work with while it handles a callback.
pub struct AppCtx<'a> {
    /// The host's endpoint.
    pub endpoint: &'a mut Endpoint,
    /// Virtual time now.
    pub now: Instant,
    /// The host the app runs on.
    pub host: HostId,
    /// The host's address.
    pub addr: Ipv4Addr,
    pub(crate) timer: &'a mut Option<Instant>,
}

impl AppCtx<'_> {
    /// Ask for [`App::on_timer`] at `at` (replacing any earlier request); `None` cancels.
    pub fn set_timer(&mut self, at: Option<Instant>) {
        *self.timer = at;
    }

    /// The pending timer, if any.
    pub fn timer(&self) -> Option<Instant> {
        *self.timer
    }
}

/// An application on a simulated host.
pub trait App {
    /// Called once, at the first simulation step after the app was installed.
    fn on_start(&mut self, ctx: &mut AppCtx<'_>) {
        let _ = ctx;
    }
    /// Called for every event of the host's endpoint, in order (including `StateChanged`).
    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event);
    /// Called when the timer set with [`AppCtx::set_timer`] fires.
    fn on_timer(&mut self, ctx: &mut AppCtx<'_>) {
        let _ = ctx;
    }
    /// Whether the app has finished everything it set out to do.
    fn done(&self) -> bool;
    /// What happened, for the invariant checks and the test's own assertions.
    fn outcome(&self) -> AppOutcome;
}

/// What happened on one connection an app used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnOutcome {
    pub conn: ConnHandle,
    /// The connection's 4-tuple as this side sees it (None if the endpoint did not know it).
    pub tuple: Option<FourTuple>,
    /// Bytes the endpoint accepted from `send`.
    pub bytes_sent: u64,
    /// Bytes read with `recv` (all verified against the pattern, or an error was recorded).
    pub bytes_received: u64,
    /// `recv` returned 0: the peer's FIN arrived after all its data.
    pub eof: bool,
    /// The reason from the connection's `Closed` event (or `Aborted` after our own abort).
    pub closed: Option<CloseReason>,
    /// Errors user calls returned (connection failures such as reset or timeout).
    pub io_errors: Vec<Error>,
    /// `DeliveryProblem` events seen.
    pub delivery_problems: u32,
    /// When the app got the connection (its CONNECT call, or the accept).
    pub opened_at: Option<Instant>,
    /// When `recv` last returned data (the last byte delivered to the app).
    pub last_recv_at: Option<Instant>,
    /// The connection's last [`Endpoint::info`] snapshot, taken at every event of the
    /// connection while the endpoint still knew it (so after a `close` too): its final
    /// congestion window, RTT estimate and retransmission counters.
    pub info: Option<ConnInfo>,
}

impl ConnOutcome {
    /// A fresh outcome for `conn`, opened at `now`.
    pub fn new(conn: ConnHandle, tuple: Option<FourTuple>, now: Instant) -> Self {
        ConnOutcome {
            conn,
            tuple,
            bytes_sent: 0,
            bytes_received: 0,
            eof: false,
            closed: None,
            io_errors: Vec::new(),
            delivery_problems: 0,
            opened_at: Some(now),
            last_recv_at: None,
            info: None,
        }
    }

    /// Take an [`Endpoint::info`] snapshot if the endpoint still knows the connection.
    pub fn snapshot(&mut self, ep: &Endpoint) {
        if let Some(i) = ep.info(self.conn) {
            self.info = Some(i);
        }
    }
}

/// What an app did and saw.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AppOutcome {
    /// "client", "server" or the custom app's name.
    pub role: String,
    /// [`App::done`] at the time of the report.
    pub done: bool,
    /// Every connection the app used, in the order it got them.
    pub conns: Vec<ConnOutcome>,
    /// Integrity problems: pattern mismatches, more data than expected, calls that failed in
    /// ways a correct endpoint never fails. Any entry is an invariant violation.
    pub errors: Vec<String>,
}

impl AppOutcome {
    /// Total bytes sent over all connections.
    pub fn bytes_sent(&self) -> u64 {
        self.conns.iter().map(|c| c.bytes_sent).sum()
    }
    /// Total bytes received over all connections.
    pub fn bytes_received(&self) -> u64 {
        self.conns.iter().map(|c| c.bytes_received).sum()
    }
    /// The close reason of the first connection.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.conns.first().and_then(|c| c.closed)
    }
}

/// One connection's data streams, as the built-in apps drive them.
#[derive(Debug)]
struct Stream {
    out: ConnOutcome,
    send_seed: u64,
    recv_seed: u64,
    /// Bytes to send; `None` = echo (send back what was received).
    to_send: Option<u64>,
    /// Bytes we expect to receive, if known.
    expect: Option<u64>,
    mismatch: bool,
    /// ESTABLISHED was reached (Connected, or accepted).
    connected: bool,
    shut: bool,
    /// close() or abort() was called: the handle is no longer ours.
    released: bool,
    last_activity: Instant,
}

/// Bytes moved per send/recv call.
const CHUNK: usize = 16 * 1024;

impl Stream {
    fn new(conn: ConnHandle, tuple: Option<FourTuple>, now: Instant) -> Self {
        Stream {
            out: ConnOutcome::new(conn, tuple, now),
            send_seed: 0,
            recv_seed: 0,
            to_send: Some(0),
            expect: None,
            mismatch: false,
            connected: false,
            shut: false,
            released: false,
            last_activity: now,
        }
    }

    fn send_target(&self) -> u64 {
        self.to_send.unwrap_or(self.out.bytes_received)
    }

    fn all_sent(&self) -> bool {
        self.out.bytes_sent >= self.send_target() && (self.to_send.is_some() || self.out.eof)
    }

    fn failed(&self) -> bool {
        self.out.closed.is_some_and(|r| r != CloseReason::Normal) || !self.out.io_errors.is_empty()
    }

    fn io_error(&mut self, e: Error) {
        if !self.out.io_errors.contains(&e) {
            self.out.io_errors.push(e);
        }
    }

    /// Hand the endpoint as much as it takes; stop at WouldBlock.
    fn pump_send(&mut self, ep: &mut Endpoint) {
        let mut buf = [0u8; CHUNK];
        while !self.released && !self.shut && !self.failed() {
            let target = self.send_target();
            let left = target.saturating_sub(self.out.bytes_sent);
            if left == 0 {
                return;
            }
            let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
            fill_pattern(self.send_seed, self.out.bytes_sent, &mut buf[..n]);
            match ep.send(self.out.conn, &buf[..n]) {
                Ok(0) | Err(Error::WouldBlock) => return,
                Ok(k) => self.out.bytes_sent += k.min(n) as u64,
                Err(e) => return self.io_error(e),
            }
        }
    }

    /// Read until WouldBlock or end of stream, verifying every byte.
    fn pump_recv(&mut self, ep: &mut Endpoint, now: Instant, errors: &mut Vec<String>) {
        let mut buf = [0u8; CHUNK];
        while !self.released && !self.out.eof {
            match ep.recv(self.out.conn, &mut buf) {
                Ok(0) => self.out.eof = true,
                Ok(n) => {
                    let n = n.min(CHUNK);
                    let base = self.out.bytes_received;
                    if !self.mismatch {
                        for (i, &b) in buf[..n].iter().enumerate() {
                            let want = pattern(self.recv_seed, base + i as u64);
                            if b != want {
                                self.mismatch = true;
                                errors.push(format!(
                                    "conn {}: byte {} is {b:#04x}, expected {want:#04x}",
                                    self.out.conn,
                                    base + i as u64
                                ));
                                break;
                            }
                        }
                    }
                    self.out.bytes_received += n as u64;
                    self.out.last_recv_at = Some(now);
                    if let Some(e) = self.expect {
                        if base <= e && self.out.bytes_received > e {
                            errors.push(format!(
                                "conn {}: received {} bytes, expected only {e}",
                                self.out.conn, self.out.bytes_received
                            ));
                        }
                    }
                }
                Err(Error::WouldBlock) => return,
                Err(e) => return self.io_error(e),
            }
        }
    }

    fn close(&mut self, ep: &mut Endpoint) {
        self.out.snapshot(ep);
        if !self.released {
            self.released = true;
            if let Err(e) = ep.close(self.out.conn) {
                self.io_error(e);
            }
        }
    }

    fn abort(&mut self, ep: &mut Endpoint) {
        self.out.snapshot(ep);
        if !self.released {
            self.released = true;
            match ep.abort(self.out.conn) {
                Ok(()) => {
                    self.out.closed.get_or_insert(CloseReason::Aborted);
                }
                Err(e) => self.io_error(e),
            }
        }
    }

    /// Handle an event about this stream's connection; true if the app should re-evaluate.
    fn on_event(&mut self, ep: &mut Endpoint, now: Instant, ev: &Event, errors: &mut Vec<String>) {
        self.last_activity = now;
        self.out.snapshot(ep);
        match *ev {
            Event::Connected { .. } => {
                self.connected = true;
                self.pump_send(ep);
            }
            Event::Writable { .. } => self.pump_send(ep),
            Event::Readable { .. } | Event::PeerClosed { .. } => {
                self.pump_recv(ep, now, errors);
                // Echo: what we just read can go back out.
                self.pump_send(ep);
            }
            Event::DeliveryProblem { .. } => self.out.delivery_problems += 1,
            Event::Closed { reason, .. } => {
                if self.out.closed != Some(CloseReason::Aborted) || reason != CloseReason::Normal {
                    self.out.closed = Some(reason);
                }
                // Drain what is still readable (a FIN may have come with the last data),
                // then release the handle.
                self.pump_recv(ep, now, errors);
                if !self.released {
                    self.released = true;
                    let _ = ep.close(self.out.conn);
                }
            }
            // Urgent data is read inline like any other; other events need nothing here.
            _ => {}
        }
    }
}

/// How a [`Client`] ends its connection once it has sent everything and got what it expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseMode {
    /// CLOSE once everything is sent and the expected bytes (or EOF) arrived.
    Close,
    /// SHUTDOWN (send FIN) once everything is sent, read until EOF, then CLOSE.
    HalfClose,
    /// ABORT (RST) once everything is sent and the expected bytes (or EOF) arrived.
    Abort,
}

/// Connects to `remote`, sends `bytes_to_send` pattern bytes, reads and verifies what comes
/// back, and ends the connection according to `mode`.
#[derive(Debug)]
pub struct Client {
    pub remote: SocketAddr,
    /// Local port; 0 = ephemeral.
    pub local_port: u16,
    pub bytes_to_send: u64,
    /// Seed of the pattern this client sends.
    pub pattern_seed: u64,
    /// Seed of the pattern it expects back (default: [`reply_seed`] of `pattern_seed`).
    pub expect_seed: u64,
    /// Bytes it expects back before it closes (it also closes at EOF).
    pub expect_bytes: u64,
    pub mode: CloseMode,
    /// Connect this long after start.
    pub start_delay: Duration,
    stream: Option<Stream>,
    errors: Vec<String>,
    gave_up: bool,
}

impl Client {
    /// A client that sends `bytes_to_send` bytes to `remote`, expects nothing back and closes.
    pub fn new(remote: SocketAddr, bytes_to_send: u64) -> Self {
        Client {
            remote,
            local_port: 0,
            bytes_to_send,
            pattern_seed: 1,
            expect_seed: reply_seed(1),
            expect_bytes: 0,
            mode: CloseMode::Close,
            start_delay: Duration::ZERO,
            stream: None,
            errors: Vec::new(),
            gave_up: false,
        }
    }
    /// Use `seed` for the data sent (and `reply_seed(seed)` for what is expected back).
    pub fn seed(mut self, seed: u64) -> Self {
        self.pattern_seed = seed;
        self.expect_seed = reply_seed(seed);
        self
    }
    /// Expect `bytes` back from a server sending a reply (`Reply::Send`).
    pub fn expect(mut self, bytes: u64) -> Self {
        self.expect_bytes = bytes;
        self
    }
    /// Expect our own bytes back from an echo server.
    pub fn expect_echo(mut self) -> Self {
        self.expect_bytes = self.bytes_to_send;
        self.expect_seed = self.pattern_seed;
        self
    }
    /// How to end the connection.
    pub fn mode(mut self, mode: CloseMode) -> Self {
        self.mode = mode;
        self
    }
    /// Connect `delay` after the app starts.
    pub fn start_after(mut self, delay: Duration) -> Self {
        self.start_delay = delay;
        self
    }

    fn connect(&mut self, ctx: &mut AppCtx<'_>) {
        let local = SocketAddr::from((ctx.addr, self.local_port));
        match ctx.endpoint.connect(ctx.now, local, self.remote) {
            Ok(conn) => {
                let mut s = Stream::new(conn, ctx.endpoint.tuple(conn), ctx.now);
                s.send_seed = self.pattern_seed;
                s.recv_seed = self.expect_seed;
                s.to_send = Some(self.bytes_to_send);
                s.expect = Some(self.expect_bytes);
                self.stream = Some(s);
            }
            Err(e) => {
                self.errors
                    .push(format!("connect to {} failed: {e}", self.remote));
                self.gave_up = true;
            }
        }
    }

    fn advance(&mut self, ep: &mut Endpoint) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        if !s.connected || s.released || s.failed() || s.out.bytes_sent < self.bytes_to_send {
            return;
        }
        let got_all = s.out.bytes_received >= self.expect_bytes || s.out.eof;
        match self.mode {
            CloseMode::Close if got_all => s.close(ep),
            CloseMode::Abort if got_all => s.abort(ep),
            CloseMode::HalfClose => {
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
            _ => {}
        }
    }
}

impl App for Client {
    fn on_start(&mut self, ctx: &mut AppCtx<'_>) {
        if self.start_delay.is_zero() {
            self.connect(ctx);
        } else {
            ctx.set_timer(Some(ctx.now + self.start_delay));
        }
    }

    fn on_timer(&mut self, ctx: &mut AppCtx<'_>) {
        if self.stream.is_none() && !self.gave_up {
            self.connect(ctx);
        }
    }

    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        if event.conn() != s.out.conn {
            return;
        }
        s.on_event(ctx.endpoint, ctx.now, event, &mut self.errors);
        self.advance(ctx.endpoint);
    }

    fn done(&self) -> bool {
        self.gave_up || self.stream.as_ref().is_some_and(|s| s.out.closed.is_some())
    }

    fn outcome(&self) -> AppOutcome {
        AppOutcome {
            role: "client".into(),
            done: self.done(),
            conns: self.stream.iter().map(|s| s.out.clone()).collect(),
            errors: self.errors.clone(),
        }
    }
}

/// What a [`Server`] sends on each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// Nothing: read and verify only.
    Sink,
    /// Everything it receives, as it receives it.
    Echo,
    /// `n` bytes of the [`reply_seed`] pattern, starting at once.
    Send(u64),
}

/// Listens on `port`, accepts connections, verifies everything they send, replies according to
/// `reply` and closes after EOF once its reply is queued. With `close_first` it half-closes
/// (FIN) as soon as its reply is queued, then reads until EOF and closes: the server becomes the
/// active closer.
#[derive(Debug)]
pub struct Server {
    pub port: u16,
    pub reply: Reply,
    pub close_first: bool,
    /// Seed of the pattern clients send (what it sends back uses [`reply_seed`] of it).
    pub pattern_seed: u64,
    /// The app is done once this many connections were accepted and all of them closed.
    pub connections: usize,
    /// Abort a connection on which nothing happened for this long and nothing is left to
    /// deliver (a peer whose RST was lost leaves a half-open connection that nothing else
    /// ends). `None` = wait forever.
    pub idle_timeout: Option<Duration>,
    streams: Vec<Stream>,
    errors: Vec<String>,
    listening: bool,
}

impl Server {
    /// A sink server on `port` for one connection.
    pub fn new(port: u16) -> Self {
        Server {
            port,
            reply: Reply::Sink,
            close_first: false,
            pattern_seed: 1,
            connections: 1,
            idle_timeout: None,
            streams: Vec::new(),
            errors: Vec::new(),
            listening: false,
        }
    }
    /// Use `reply`.
    pub fn reply(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }
    /// Send FIN first.
    pub fn close_first(mut self, yes: bool) -> Self {
        self.close_first = yes;
        self
    }
    /// The clients' pattern seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.pattern_seed = seed;
        self
    }
    /// Done after `n` connections.
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n;
        self
    }
    /// Abort idle connections.
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }

    fn accept_all(&mut self, ctx: &mut AppCtx<'_>, listener: SocketAddr) {
        while let Some(conn) = ctx.endpoint.accept(listener) {
            let mut s = Stream::new(conn, ctx.endpoint.tuple(conn), ctx.now);
            s.connected = true;
            s.recv_seed = self.pattern_seed;
            match self.reply {
                Reply::Sink => s.to_send = Some(0),
                Reply::Echo => {
                    s.to_send = None;
                    s.send_seed = self.pattern_seed;
                }
                Reply::Send(n) => {
                    s.to_send = Some(n);
                    s.send_seed = reply_seed(self.pattern_seed);
                }
            }
            s.pump_send(ctx.endpoint);
            s.pump_recv(ctx.endpoint, ctx.now, &mut self.errors);
            s.pump_send(ctx.endpoint);
            self.streams.push(s);
        }
    }

    fn advance(&mut self, ep: &mut Endpoint) {
        for s in &mut self.streams {
            if s.released || s.failed() || !s.all_sent() {
                continue;
            }
            if self.close_first && !s.shut {
                s.shut = true;
                if let Err(e) = ep.shutdown(s.out.conn) {
                    s.io_error(e);
                }
            }
            if s.out.eof {
                s.close(ep);
            }
        }
    }

    fn arm_idle_timer(&self, ctx: &mut AppCtx<'_>) {
        let Some(idle) = self.idle_timeout else {
            return;
        };
        let next = self
            .streams
            .iter()
            .filter(|s| !s.released)
            .map(|s| s.last_activity + idle)
            .min();
        ctx.set_timer(next);
    }
}

impl App for Server {
    fn on_start(&mut self, ctx: &mut AppCtx<'_>) {
        let local = SocketAddr::from((ctx.addr, self.port));
        match ctx.endpoint.listen(local, None) {
            Ok(()) => self.listening = true,
            Err(e) => self.errors.push(format!("listen on {local} failed: {e}")),
        }
    }

    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event) {
        if let Event::Incoming { listener, .. } = *event {
            self.accept_all(ctx, listener);
        } else if let Some(s) = self.streams.iter_mut().find(|s| s.out.conn == event.conn()) {
            s.on_event(ctx.endpoint, ctx.now, event, &mut self.errors);
        } else {
            return;
        }
        self.advance(ctx.endpoint);
        self.arm_idle_timer(ctx);
    }

    fn on_timer(&mut self, ctx: &mut AppCtx<'_>) {
        if let Some(idle) = self.idle_timeout {
            for s in &mut self.streams {
                if s.released || ctx.now < s.last_activity + idle {
                    continue;
                }
                // Idle means nothing to deliver either: while data or a FIN is unacknowledged,
                // the endpoint's own retransmission timeout (user timeout) is in charge.
                let quiet = match ctx.endpoint.info(s.out.conn) {
                    Some(i) => i.bytes_in_flight == 0 && i.send_buffered == 0,
                    None => true,
                };
                if quiet {
                    s.abort(ctx.endpoint);
                } else {
                    s.last_activity = ctx.now;
                }
            }
        }
        self.arm_idle_timer(ctx);
    }

    fn done(&self) -> bool {
        !self.listening
            || (self.streams.len() >= self.connections
                && self.streams.iter().all(|s| s.out.closed.is_some()))
    }

    fn outcome(&self) -> AppOutcome {
        AppOutcome {
            role: "server".into(),
            done: self.done(),
            conns: self.streams.iter().map(|s| s.out.clone()).collect(),
            errors: self.errors.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_deterministic_and_not_periodic() {
        let mut a = [0u8; 64];
        fill_pattern(5, 100, &mut a);
        for (i, &b) in a.iter().enumerate() {
            assert_eq!(b, pattern(5, 100 + i as u64));
        }
        let shifted: Vec<u8> = (0..64).map(|i| pattern(5, 101 + i)).collect();
        assert_ne!(&a[..], &shifted[..]);
        assert_ne!(reply_seed(5), 5);
    }
}
