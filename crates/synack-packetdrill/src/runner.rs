//! The interpreter: one synack [`Endpoint`] in virtual time, the script's remote side as
//! injected packets, the script's system calls as endpoint calls.
//!
//! Time only moves forward: to the next event's time, or to the endpoint's next deadline
//! when that comes first (timers fire, segments go out and queue up with their send time).
//! An outbound (`>`) line takes the oldest queued segment — waiting for timers up to the
//! line's time plus the tolerance — and compares it with the script.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use synack_proto::{CloseReason, Config, ConnHandle, Endpoint, Event, Instant, State};
use synack_wire::TcpFlags;

use crate::ast::{Action, Dir, Event as ScriptEvent, PacketSpec, Script, Syscall, Time};
use crate::packets::{self, Actual, Check, SeqMap};
use crate::remote::Remote;
use crate::sockets::{CallResult, Socket};
use crate::{Failure, Note, NoteKind, Outcome, RunOptions};

/// The default port of `bind(..., ...)` and `connect(..., ...)`, as in packetdrill.
pub const DEFAULT_PORT: u16 = 8080;
/// The scripted remote's port for passive opens.
pub const REMOTE_PORT: u16 = 40000;

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
    out_q: VecDeque<(u64, Vec<u8>)>,
    pub map: SeqMap,
    pub sockets: BTreeMap<i64, Socket>,
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    /// The connection the script's packets belong to: (local, remote).
    pub cur: Option<(SocketAddr, SocketAddr)>,
    trace: Vec<String>,
    pub blocking: Option<Blocking>,
    pub closed: HashMap<ConnHandle, CloseReason>,
    pub notes: Vec<Note>,
    pub check: Check,
    remote: Remote,
    /// Relaxed mode: live sequence ranges the script expected in one merged segment that the
    /// stack sent later (a smaller initial window); matching segments are absorbed.
    debts: Vec<(u32, u32)>,
    pub line: usize,
    last_event_time: u64,
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
            cfg: Config {
                local_addrs: vec![local_ip],
                ..Config::default()
            },
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
            debts: Vec::new(),
            line: 0,
            last_event_time: 0,
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

    fn failure(
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
                for (at, raw) in &self.out_q {
                    if let Some(a) = Actual::parse(*at, raw) {
                        let r = a.render(&self.map);
                        t.push(format!(
                            "{:>11} > {r}   (sent, not yet matched)",
                            Self::secs(*at)
                        ));
                    }
                }
                t
            },
        })
    }

    fn secs(t: u64) -> String {
        format!("{}.{:06}", t / 1_000_000, t % 1_000_000)
    }

    pub fn trace_line(&mut self, what: String) {
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
            .max_by_key(|&h| (ep.state(h) != Some(State::Closed), h.0))
    }

    fn local_state(&self) -> Option<State> {
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
            self.out_q.push_back((self.now, buf[..n].to_vec()));
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
    fn next_deadline(&mut self) -> Option<u64> {
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

    fn set_now(&mut self, t: u64) -> Result<(), Box<Failure>> {
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
            Action::Command(c) => {
                self.advance_to(t0)?;
                crate::options::command(self, c);
            }
            Action::Code(c) => {
                self.advance_to(t0)?;
                let first = c.trim().lines().next().unwrap_or("").to_string();
                self.note(
                    NoteKind::Skipped,
                    format!("%{{ }}% code block skipped: {first}"),
                );
            }
            Action::Unsupported(what) => {
                self.advance_to(t0)?;
                self.note(NoteKind::Skipped, format!("{what} skipped (not supported)"));
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

    fn inbound(&mut self, p: &PacketSpec) -> Result<(), Box<Failure>> {
        let (local, remote) = self.tuple();
        let flags = packets::flags_from_letters(&p.flags);
        if flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK) {
            // A SYN that opens a new incarnation sets the remote ISN (absolute on SYN).
            if self.cur_conn().is_none() {
                self.map = SeqMap::default();
            }
            if self.map.remote_isn.is_none() {
                self.map.remote_isn = Some(p.start);
            }
        } else if flags.contains(TcpFlags::SYN) && self.map.remote_isn.is_none() {
            self.map.remote_isn = Some(p.start);
        }
        let raw = packets::build_inbound(p, &self.map, remote, local).map_err(|e| self.fail(e))?;
        self.remote.sent(flags, p.end);
        self.trace_line(format!("< {}", packets::render_spec(p)));
        let now = Instant::from_micros(self.now);
        self.ep().handle(now, &raw);
        self.pump()?;
        Ok(())
    }

    fn next_outbound(&mut self, deadline: u64) -> Result<Option<Actual>, Box<Failure>> {
        loop {
            while let Some((t, raw)) = self.out_q.pop_front() {
                let Some(a) = Actual::parse(t, &raw) else {
                    // Every outbound segment must parse, checksum included (MUST-2).
                    let msg = format!(
                        "the stack sent a packet that is not a valid TCP segment: {:02x?}",
                        &raw[..raw.len().min(60)]
                    );
                    return Err(self.fail(msg));
                };
                if self.absorb_debt(&a) {
                    continue;
                }
                return Ok(Some(a));
            }
            match self.next_deadline() {
                Some(d) if d <= deadline => self.set_now(d)?,
                _ => return Ok(None),
            }
        }
    }

    fn absorb_debt(&mut self, a: &Actual) -> bool {
        if !self.check.relaxed || a.len == 0 {
            return false;
        }
        let (s, e) = (a.seq, a.seq.wrapping_add(a.len));
        for d in &mut self.debts {
            if s == d.0 && (d.1.wrapping_sub(e) as i32) >= 0 {
                d.0 = e;
                self.trace.push(format!(
                    "{:>11}   (relaxed: {} bytes the script expected earlier)",
                    Self::secs(a.time),
                    a.len
                ));
                self.debts.retain(|d| d.0 != d.1);
                return true;
            }
        }
        false
    }

    fn outbound(
        &mut self,
        p: &PacketSpec,
        t0: u64,
        t1: u64,
        any: bool,
    ) -> Result<(), Box<Failure>> {
        let tol = self.check.tolerance_usecs;
        let deadline = if any { u64::MAX / 4 } else { t1 + tol };
        let expected = format!("> {}", packets::render_spec(p));
        let Some(mut a) = self.next_outbound(deadline)? else {
            let when = if any {
                "before the endpoint went idle".to_string()
            } else {
                format!("by {}", Self::secs(deadline))
            };
            self.advance_to(self.now.max(t0))?;
            return Err(self.failure(
                self.line,
                format!("expected outbound segment not sent {when}"),
                Some(expected),
                Some("(nothing)".into()),
            ));
        };
        // Merge back-to-back data segments into one, as a TSO/GSO super-segment would be.
        while a.len > 0 && a.len < p.len {
            let Some((t, raw)) = self.out_q.front() else {
                break;
            };
            let Some(b) = Actual::parse(*t, raw) else {
                break;
            };
            let contiguous = b.seq == a.seq.wrapping_add(a.len) && b.ack == a.ack && b.len > 0;
            if !contiguous || b.time > a.time + tol || b.flags.contains(TcpFlags::SYN) {
                break;
            }
            self.out_q.pop_front();
            a.len += b.len;
            a.flags |= b.flags;
            a.win = b.win;
        }
        if self.check.relaxed && a.len > 0 && a.len < p.len {
            let end = a.seq.wrapping_add(p.len);
            self.debts.push((a.seq.wrapping_add(a.len), end));
            a.len = p.len;
        }
        let (local, remote) = self.tuple();
        let mut bad = packets::check_outbound(p, &a, &mut self.map, self.check);
        let wrong_ips = a.dst.ip() != remote.ip() || a.src.ip() != self.local_ip;
        if wrong_ips || (self.cur.is_some() && (a.src != local || a.dst != remote)) {
            bad.push(format!(
                "addresses: expected {local} > {remote} got {} > {}",
                a.src, a.dst
            ));
        }
        if !any && (a.time + tol < t0 || a.time > t1 + tol) {
            bad.push(format!(
                "time: expected {} got {} (tolerance {} us)",
                Self::secs(t0),
                Self::secs(a.time),
                tol
            ));
        }
        let saved = self.now;
        self.now = self.now.max(a.time);
        self.remote.received(a.flags, a.script_ack(&self.map));
        let actual = format!("> {}", a.render(&self.map));
        self.trace_line(actual.clone());
        self.now = saved;
        if !bad.is_empty() {
            return Err(self.failure(self.line, bad.join("; "), Some(expected), Some(actual)));
        }
        Ok(())
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

    fn finish(&mut self) -> Result<(), Box<Failure>> {
        let last = self.now;
        if let Some(b) = &self.blocking {
            let limit = b.end + self.check.tolerance_usecs;
            self.advance_to(limit.max(self.now))?;
            if let Some(b) = &self.blocking {
                let msg = format!("blocking {} never returned", b.call.name);
                return Err(self.failure(b.line, msg, None, None));
            }
        }
        let mut unexpected = Vec::new();
        while let Some((t, raw)) = self.out_q.pop_front() {
            if let Some(a) = Actual::parse(t, &raw) {
                if self.absorb_debt(&a) {
                    continue;
                }
                let text = format!("> {} at {}", a.render(&self.map), Self::secs(t));
                if t + self.check.tolerance_usecs < last && !self.check.relaxed {
                    unexpected.push(text);
                } else {
                    self.note(NoteKind::Warning, format!("not in the script: {text}"));
                }
            }
        }
        if !unexpected.is_empty() {
            return Err(self.failure(
                self.line,
                "the stack sent segments the script does not expect".into(),
                Some("(nothing)".into()),
                Some(unexpected.join("\n")),
            ));
        }
        Ok(())
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
