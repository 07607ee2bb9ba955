//! The interpreter: one synack [`Endpoint`] in virtual time, the script's remote side as
//! injected packets, the script's system calls as endpoint calls.
//!
//! Time only moves forward: to the next event's time, or to the endpoint's next deadline
//! when that comes first (timers fire, segments go out and queue up with their send time).
//! An outbound (`>`) line takes the oldest queued segment — waiting for timers up to the
//! line's time plus the tolerance — and compares it with the script (outbound.rs).
//!
//! The script's packets belong to the socket under test, as in packetdrill: the connection
//! the last `connect` made, or the child a listener makes of the next inbound SYN after
//! `listen`. Each such child gets a remote port of its own (the script never names ports),
//! so a script that listens again while an earlier connection is still open talks to a new
//! connection, not to the old one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use synack_proto::{CloseReason, Config, ConnHandle, Endpoint, Event, Instant, State};
use synack_wire::TcpFlags;

use crate::ast::{Action, Dir, Event as ScriptEvent, IcmpSpec, PacketSpec, Script, Syscall, Time};
use crate::icmp::IcmpActual;
use crate::packets::{self, Actual, Check, SeqMap};
use crate::remote::Remote;
use crate::sockets::{CallResult, Socket};
use crate::{Failure, Note, NoteKind, Outcome, RunOptions};

/// The default port of `bind(..., ...)` and `connect(..., ...)`, as in packetdrill.
pub const DEFAULT_PORT: u16 = 8080;
/// The scripted remote's port for passive opens.
pub const REMOTE_PORT: u16 = 40000;

/// A packet the stack sent, decoded, waiting to be matched by a `>` line.
#[derive(Clone, Debug)]
pub(crate) enum Sent {
    Tcp(Actual),
    Icmp(IcmpActual),
    /// Neither a valid TCP segment (checksum included) nor ICMP.
    Bad(u64, Vec<u8>),
}

impl Sent {
    fn parse(t: u64, raw: Vec<u8>) -> Sent {
        match Actual::parse(t, &raw) {
            Some(a) => Sent::Tcp(a),
            None => match IcmpActual::parse(t, &raw) {
                Some(i) => Sent::Icmp(i),
                None => Sent::Bad(t, raw),
            },
        }
    }

    pub fn time(&self) -> u64 {
        match self {
            Sent::Tcp(a) => a.time,
            Sent::Icmp(i) => i.time,
            Sent::Bad(t, _) => *t,
        }
    }

    pub fn render(&self, map: &SeqMap) -> String {
        match self {
            Sent::Tcp(a) => a.render(map),
            Sent::Icmp(i) => i.render(),
            Sent::Bad(_, raw) => format!("invalid packet {:02x?}", &raw[..raw.len().min(60)]),
        }
    }
}

pub(crate) struct Blocking {
    pub line: usize,
    pub call: Syscall,
    pub start: u64,
    /// Script end time (absolute µs).
    pub end: u64,
    /// Bytes a blocking write already queued.
    pub progress: usize,
}

pub(crate) struct Runner<'a> {
    src: Vec<&'a str>,
    pub opts: RunOptions,
    pub cfg: Config,
    ep: Option<Endpoint>,
    pub now: u64,
    pub(crate) out_q: VecDeque<Sent>,
    pub map: SeqMap,
    pub sockets: BTreeMap<i64, Socket>,
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    /// The connection the script's packets belong to: (local, remote).
    pub cur: Option<(SocketAddr, SocketAddr)>,
    pub(crate) trace: Vec<String>,
    pub blocking: Option<Blocking>,
    pub closed: HashMap<ConnHandle, CloseReason>,
    pub notes: Vec<Note>,
    pub check: Check,
    pub(crate) remote: Remote,
    pub line: usize,
    last_event_time: u64,
    /// `listen` was called on the socket under test: the next inbound SYN makes a new child
    /// connection of this listener.
    pub new_child: Option<SocketAddr>,
    /// Child connections made so far (each gets its own remote port).
    children: u16,
    /// Python variables of `%{ }%` code blocks; they live until the script ends.
    code_vars: HashMap<String, i64>,
    /// Keep-alive idle time (seconds) of a socket that sets none: 2 hours (MUST-28), or
    /// the `tcp_keepalive_time` / `net.inet.tcp.keepidle` sysctl.
    pub default_keepidle: u64,
}

impl<'a> Runner<'a> {
    pub fn new(src: &'a str, opts: RunOptions) -> Runner<'a> {
        let local_ip: IpAddr = "192.168.0.1".parse().unwrap();
        Runner {
            src: src.lines().collect(),
            check: Check {
                relaxed: opts.relaxed,
                ts_tick_usecs: None,
                tolerance_usecs: opts.tolerance_usecs.unwrap_or(4000),
            },
            opts,
            cfg: Config::default().with_local_addrs(vec![local_ip]),
            ep: None,
            now: 0,
            out_q: VecDeque::new(),
            map: SeqMap::default(),
            sockets: BTreeMap::new(),
            local_ip,
            remote_ip: "192.0.2.1".parse().unwrap(),
            cur: None,
            trace: Vec::new(),
            blocking: None,
            closed: HashMap::new(),
            notes: Vec::new(),
            remote: Remote::default(),
            line: 0,
            last_event_time: 0,
            new_child: None,
            children: 0,
            code_vars: HashMap::new(),
            default_keepidle: 7200,
        }
    }

    pub fn endpoint_exists(&self) -> bool {
        self.ep.is_some()
    }

    /// The endpoint, created on first use so that options and setsockopt calls made before
    /// it exists can still shape its configuration.
    pub fn ep(&mut self) -> &mut Endpoint {
        if self.ep.is_none() {
            let mut ep = Endpoint::new(self.cfg.clone(), [7; 16]);
            ep.handle_timeout(Instant::from_micros(self.now));
            self.ep = Some(ep);
        }
        self.ep.as_mut().unwrap()
    }

    pub fn note(&mut self, kind: NoteKind, text: String) {
        self.notes.push(Note {
            line: self.line,
            kind,
            text,
        });
    }

    pub fn fail(&self, message: String) -> Box<Failure> {
        self.failure(self.line, message, None, None)
    }

    /// Stop at a construct the runner cannot run: the script does not pass.
    pub fn unsupported(&self, what: String) -> Box<Failure> {
        let mut f = self.failure(self.line, what, None, None);
        f.unsupported = true;
        f
    }

    pub(crate) fn failure(
        &self,
        line: usize,
        message: String,
        expected: Option<String>,
        actual: Option<String>,
    ) -> Box<Failure> {
        Box::new(Failure {
            line,
            source_line: self
                .src
                .get(line.wrapping_sub(1))
                .map_or(String::new(), |s| s.trim().to_string()),
            message,
            expected,
            actual,
            trace: {
                let mut t = self.trace.clone();
                for sent in &self.out_q {
                    t.push(format!(
                        "{:>11} > {}   (sent, not yet matched)",
                        Self::secs(sent.time()),
                        sent.render(&self.map)
                    ));
                }
                t
            },
            unsupported: false,
        })
    }

    pub(crate) fn secs(t: u64) -> String {
        format!("{}.{:06}", t / 1_000_000, t % 1_000_000)
    }

    pub(crate) fn trace_line(&mut self, what: String) {
        let local = self
            .local_state()
            .map_or("-".to_string(), |s| s.name().to_string());
        self.trace.push(format!(
            "{:>11} {:<58} local {:<12} remote {}",
            Self::secs(self.now),
            what,
            local,
            self.remote.state.name()
        ));
    }

    /// The handle of the connection the script's packets belong to.
    pub fn cur_conn(&self) -> Option<ConnHandle> {
        let (l, r) = self.cur?;
        let ep = self.ep.as_ref()?;
        ep.connections()
            .filter(|&h| ep.tuple(h).is_some_and(|t| t.local == l && t.remote == r))
            // At most one connection owns a tuple; an older one the application still holds
            // is CLOSED.
            .max_by_key(|&h| (ep.state(h) != Some(State::Closed), h))
    }

    pub(crate) fn local_state(&self) -> Option<State> {
        match self.cur_conn() {
            Some(h) => self.ep.as_ref()?.state(h),
            None => {
                let listening = self
                    .sockets
                    .values()
                    .any(|s| matches!(s.kind, crate::sockets::Kind::Listener(_)));
                Some(if listening {
                    State::Listen
                } else {
                    State::Closed
                })
            }
        }
    }

    /// Drain segments and events the endpoint has at `now`; see whether a blocked call can
    /// finish.
    pub fn pump(&mut self) -> Result<(), Box<Failure>> {
        let Some(ep) = self.ep.as_mut() else {
            return Ok(());
        };
        let now = Instant::from_micros(self.now);
        let mut buf = vec![0u8; 65536];
        while let Some(n) = ep.poll_transmit(now, &mut buf) {
            self.out_q
                .push_back(Sent::parse(self.now, buf[..n].to_vec()));
        }
        let mut events = Vec::new();
        while let Some(e) = ep.poll_event() {
            events.push(e);
        }
        for e in events {
            match e {
                Event::StateChanged {
                    conn,
                    from,
                    to,
                    cause,
                    ..
                } => {
                    let line = format!("  {conn} {from} -> {to} ({cause})");
                    self.trace
                        .push(format!("{:>11} {line}", Self::secs(self.now)));
                }
                Event::Closed { conn, reason } => {
                    self.closed.insert(conn, reason);
                }
                _ => {}
            }
        }
        self.try_unblock()
    }

    fn try_unblock(&mut self) -> Result<(), Box<Failure>> {
        let Some(b) = self.blocking.take() else {
            return Ok(());
        };
        let saved_line = self.line;
        self.line = b.line;
        let mut progress = b.progress;
        let r = self.call(&b.call, true, b.start, &mut progress);
        let r = match r {
            Ok(CallResult::Block) => {
                self.blocking = Some(Blocking { progress, ..b });
                Ok(())
            }
            Ok(CallResult::Done(res)) => {
                let tol = self.check.tolerance_usecs;
                let res = self.finish_call(&b.call, res);
                if res.is_ok() && (self.now + tol < b.end || self.now > b.end + tol) {
                    Err(self.fail(format!(
                        "blocking {} returned at {} but the script expects it at {}",
                        b.call.name,
                        Self::secs(self.now),
                        Self::secs(b.end)
                    )))
                } else {
                    res
                }
            }
            Err(f) => Err(f),
        };
        self.line = saved_line;
        r
    }

    /// The next time something happens on its own: an endpoint timer or a poll timeout.
    pub(crate) fn next_deadline(&mut self) -> Option<u64> {
        let ep = self
            .ep
            .as_mut()
            .and_then(|e| e.poll_timeout())
            .map(|t| t.as_micros());
        let poll = self.blocking.as_ref().and_then(|b| self.poll_deadline(b));
        match (ep, poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn set_now(&mut self, t: u64) -> Result<(), Box<Failure>> {
        self.now = self.now.max(t);
        let now = Instant::from_micros(self.now);
        if let Some(ep) = self.ep.as_mut() {
            ep.handle_timeout(now);
        }
        self.pump()
    }

    /// Move virtual time to `t`, firing every timer on the way.
    pub fn advance_to(&mut self, t: u64) -> Result<(), Box<Failure>> {
        loop {
            if let Some(b) = &self.blocking {
                let limit = b.end + self.check.tolerance_usecs;
                if t > limit && self.next_deadline().is_none_or(|d| d > limit) {
                    self.set_now(limit)?;
                    if let Some(b) = &self.blocking {
                        let (line, name) = (b.line, b.call.name.clone());
                        let msg = format!(
                            "blocking {name} (line {line}) has not returned by {}",
                            Self::secs(limit)
                        );
                        return Err(self.failure(line, msg, None, None));
                    }
                    continue;
                }
            }
            match self.next_deadline() {
                Some(d) if d <= t => self.set_now(d)?,
                _ => break,
            }
        }
        self.set_now(t)
    }

    pub fn run(&mut self, script: &Script) -> Result<(), Box<Failure>> {
        crate::options::apply(self, script)?;
        for ev in &script.events {
            self.line = ev.line;
            self.event(ev)?;
        }
        self.finish()
    }

    fn resolve(&self, t: Time) -> (u64, u64, bool) {
        let base = self.last_event_time as i64;
        let clamp = |v: i64| v.max(0) as u64;
        match t {
            Time::Abs(a) => (clamp(a), clamp(a), false),
            Time::Rel(r) => (clamp(base + r), clamp(base + r), false),
            Time::Any => (self.now, u64::MAX / 4, true),
            Time::AbsRange(a, b) => (clamp(a), clamp(b), false),
            Time::RelRange(a, b) => (clamp(base + a), clamp(base + b), false),
        }
    }

    fn event(&mut self, ev: &ScriptEvent) -> Result<(), Box<Failure>> {
        let (t0, t1, any) = self.resolve(ev.time);
        match &ev.action {
            Action::Packet(p) if p.dir == Dir::Out => self.outbound(p, t0, t1, any)?,
            Action::Packet(p) => {
                self.advance_to(t0)?;
                self.inbound(p)?;
            }
            Action::Syscall(sc) => {
                self.advance_to(t0)?;
                if let Some(b) = &self.blocking {
                    // Like packetdrill, the next call waits for the blocked one to return.
                    let limit = b.end + self.check.tolerance_usecs;
                    self.advance_to(limit.max(t0))?;
                }
                if let Some(b) = &self.blocking {
                    let msg = format!(
                        "blocking {} (line {}) has not returned by {} when {} is called",
                        b.call.name,
                        b.line,
                        Self::secs(self.now),
                        sc.name
                    );
                    return Err(self.fail(msg));
                }
                let end = sc.end.map(|e| match ev.time {
                    Time::Rel(_) | Time::RelRange(..) => {
                        (self.last_event_time as i64 + e).max(0) as u64
                    }
                    _ => e.max(0) as u64,
                });
                self.syscall(sc, t0, end)?;
            }
            Action::Icmp(i) if i.dir == Dir::Out => self.outbound_icmp(i, t0, t1, any)?,
            Action::Icmp(i) => {
                self.advance_to(t0)?;
                self.inbound_icmp(i)?;
            }
            Action::Command(c) => {
                self.advance_to(t0)?;
                self.command(c)?;
            }
            Action::Code(c) => {
                self.advance_to(t0)?;
                self.code(c)?;
            }
            Action::Unsupported(what) => {
                self.advance_to(t0)?;
                return Err(self.unsupported(what.clone()));
            }
        }
        self.last_event_time = if any { self.now } else { t0 };
        Ok(())
    }

    /// Addresses of the script's connection; before any, the default ports.
    pub fn tuple(&self) -> (SocketAddr, SocketAddr) {
        self.cur.unwrap_or((
            SocketAddr::new(self.local_ip, DEFAULT_PORT),
            SocketAddr::new(self.remote_ip, REMOTE_PORT),
        ))
    }

    /// A remote port for a new child connection of `local`: the default one, unless a
    /// connection (of any state) still holds that tuple.
    fn child_port(&mut self, local: SocketAddr) -> u16 {
        let remote_ip = self.remote_ip;
        let ep = self.ep();
        let taken: Vec<u16> = ep
            .connections()
            .filter_map(|h| ep.tuple(h))
            .filter(|t| t.local == local && t.remote.ip() == remote_ip)
            .map(|t| t.remote.port())
            .collect();
        let mut port = REMOTE_PORT.wrapping_add(self.children);
        while taken.contains(&port) {
            port = port.wrapping_add(1);
        }
        port
    }

    fn inbound(&mut self, p: &PacketSpec) -> Result<(), Box<Failure>> {
        let flags = packets::flags_from_letters(&p.flags);
        let syn = flags.contains(TcpFlags::SYN);
        let ack = flags.contains(TcpFlags::ACK);
        if syn && !ack {
            if let Some(listener) = self.new_child.take() {
                // A new child of the listener under test, as packetdrill makes one.
                let port = self.child_port(listener);
                self.children = self.children.wrapping_add(1);
                self.cur = Some((listener, SocketAddr::new(self.remote_ip, port)));
                self.map = SeqMap::default();
                self.remote = Remote::default();
            } else if self
                .cur_conn()
                .and_then(|h| self.ep.as_ref()?.state(h))
                .is_none_or(|s| s == State::Closed)
            {
                // A new incarnation of a tuple whose connection is gone.
                self.map = SeqMap::default();
                self.remote = Remote::default();
            }
            if self.map.remote_isn.is_none() {
                self.map.remote_isn = Some(p.start);
            }
        } else if syn {
            let st = self.cur_conn().and_then(|h| self.ep.as_ref()?.state(h));
            if self.map.remote_isn.is_none() || st == Some(State::SynSent) {
                self.map.remote_isn = Some(p.start);
            }
        }
        let (local, remote) = self.tuple();
        let raw = packets::build_inbound(p, &self.map, remote, local).map_err(|e| self.fail(e))?;
        self.remote.sent(flags, p.end);
        self.trace_line(format!("< {}", packets::render_spec(p)));
        let now = Instant::from_micros(self.now);
        self.ep().handle(now, &raw);
        self.pump()?;
        Ok(())
    }

    fn inbound_icmp(&mut self, spec: &IcmpSpec) -> Result<(), Box<Failure>> {
        let (local, remote) = self.tuple();
        let raw =
            crate::icmp::build_inbound(spec, &self.map, local, remote).map_err(|e| self.fail(e))?;
        let text = self
            .src_line(self.line)
            .trim_start_matches(|c: char| c != '<')
            .to_string();
        self.trace_line(text);
        let now = Instant::from_micros(self.now);
        self.ep().handle(now, &raw);
        self.pump()
    }

    /// The script's text of a line.
    pub(crate) fn src_line(&self, line: usize) -> String {
        self.src
            .get(line.wrapping_sub(1))
            .map_or(String::new(), |s| s.trim().to_string())
    }

    /// A `%{ }%` block, with the `tcpi_*` fields of the socket under test.
    fn code(&mut self, src: &str) -> Result<(), Box<Failure>> {
        let info = self.cur_conn().and_then(|h| self.ep.as_ref()?.info(h));
        let state = self.local_state().unwrap_or(State::Closed);
        let source = match &info {
            Some(i) if i.state != State::Closed => crate::tcp_info::Source::Conn(i),
            _ => crate::tcp_info::Source::StateOnly(state),
        };
        let mut vars = std::mem::take(&mut self.code_vars);
        let r = crate::code::run(src, &mut vars, &|n| crate::tcp_info::field(&source, n));
        self.code_vars = vars;
        match r {
            Ok(()) => {
                let first = src.trim().lines().next().unwrap_or("").to_string();
                self.trace_line(format!("%{{ {first} }}% holds"));
                Ok(())
            }
            Err(crate::code::CodeError::Failed(m)) => Err(self.fail(m)),
            Err(crate::code::CodeError::Unsupported(m)) => Err(self.unsupported(m)),
        }
    }

    fn syscall(&mut self, sc: &Syscall, t0: u64, end: Option<u64>) -> Result<(), Box<Failure>> {
        let mut progress = 0;
        match self.call(sc, false, t0, &mut progress)? {
            CallResult::Done(res) => {
                if let Some(e) = end {
                    let tol = self.check.tolerance_usecs;
                    if self.now + tol < e {
                        let msg = format!(
                            "{} returned at once; the script expects it to block until {}",
                            sc.name,
                            Self::secs(e)
                        );
                        return Err(self.fail(msg));
                    }
                }
                self.finish_call(sc, res)
            }
            CallResult::Block => {
                self.blocking = Some(Blocking {
                    line: self.line,
                    call: sc.clone(),
                    start: t0,
                    end: end.unwrap_or(t0),
                    progress,
                });
                let call = self.call_text(sc);
                self.trace_line(format!("{call} blocks"));
                Ok(())
            }
        }
    }

    /// The call as the script wrote it, e.g. `accept(3, ..., ...)`.
    fn call_text(&self, sc: &Syscall) -> String {
        let src = self
            .src
            .get(self.line.wrapping_sub(1))
            .copied()
            .unwrap_or("");
        match src.find(&format!("{}(", sc.name)) {
            Some(i) => {
                let rest = &src[i..];
                rest[..rest.rfind(" = ").unwrap_or(rest.len())]
                    .trim()
                    .to_string()
            }
            None => format!("{}(...)", sc.name),
        }
    }

    /// Compare a call's result with the script's `= value [ERRNO]`.
    fn finish_call(
        &mut self,
        sc: &Syscall,
        res: Result<i64, &'static str>,
    ) -> Result<(), Box<Failure>> {
        let got = match res {
            Ok(v) => v.to_string(),
            Err(e) => format!("-1 {e}"),
        };
        let call = self.call_text(sc);
        self.trace_line(format!("{call} = {got}"));
        let want_v = match &sc.ret {
            crate::ast::Expr::Ellipsis => None,
            e => Some(crate::sockets::eval_int(e).map_err(|m| self.fail(m))?),
        };
        let ok = match (&res, want_v) {
            (_, None) => true,
            (Ok(v), Some(w)) => *v == w && sc.errno.is_none(),
            (Err(e), Some(w)) => w == -1 && sc.errno.as_deref().is_none_or(|x| x == *e),
        };
        if ok {
            return Ok(());
        }
        let mut want = want_v.map_or("...".to_string(), |v| v.to_string());
        if let Some(e) = &sc.errno {
            want += &format!(" {e}");
        }
        Err(self.failure(
            self.line,
            format!("{} returned {got}, expected {want}", sc.name),
            Some(want),
            Some(got),
        ))
    }
}

/// Run a parsed script.
pub(crate) fn execute(src: &str, script: &Script, opts: RunOptions) -> Outcome {
    let mut r = Runner::new(src, opts);
    let result = r.run(script);
    Outcome {
        failure: result.err().map(|b| *b),
        notes: r.notes,
        events: script.events.len(),
    }
}
