//! `setsockopt`, `getsockopt` and `ioctl`.
//!
//! A `getsockopt` or `ioctl` is a check: its value is compared with the script's. Options
//! synack cannot answer stop the script as unsupported rather than pass unchecked. Socket
//! buffer sizes (`SO_RCVBUF`, `SO_SNDBUF`) are the stack's policy (FreeBSD rounds them to
//! the MSS, Linux doubles them): they are compared in strict mode only.

use std::time::Duration;

use synack_proto::congestion::Algorithm;
use synack_proto::State;

use crate::ast::{Expr, Syscall};
use crate::runner::Runner;
use crate::sockets::{errno_name, errno_value, eval_int, Kind};
use crate::tcp_info::{self, Source};
use crate::{Failure, NoteKind};

type CallRet = Result<Result<i64, &'static str>, Box<Failure>>;

/// A `tcp_info` field's value in a script: a number, a `TCP_*`/`TCPI_*` constant, or `a|b`.
fn info_value(e: &Expr) -> Option<i64> {
    match e {
        Expr::Word(c) => tcp_info::constant(c).or_else(|| eval_int(e).ok()),
        Expr::Or(v) => v.iter().try_fold(0, |acc, x| Some(acc | info_value(x)?)),
        e => eval_int(e).ok(),
    }
}

/// The option name argument: a word such as `TCP_NODELAY`.
fn opt_name(r: &Runner<'_>, sc: &Syscall) -> Result<String, Box<Failure>> {
    match sc.args.get(2) {
        Some(Expr::Word(w)) => Ok(w.clone()),
        other => Err(r.fail(format!("{}: option name expected, got {other:?}", sc.name))),
    }
}

impl Runner<'_> {
    pub(crate) fn setsockopt(&mut self, fd: i64, sc: &Syscall) -> CallRet {
        let opt = opt_name(self, sc)?;
        let val_expr = sc.args.get(3).cloned().unwrap_or(Expr::Ellipsis);
        let v = eval_int(&val_expr).unwrap_or(0);
        let conn = match self.sockets[&fd].kind {
            Kind::Conn(h) => Some(h),
            _ => None,
        };
        let exists = self.endpoint_exists();
        match opt.as_str() {
            // Nothing to do in a simulation with one endpoint: no port reuse rules, no
            // routing marks. (TCP_QUICKACK only shortens delayed ACKs for a while; a script
            // relying on it fails on the ACK's timing, it cannot pass unchecked.)
            "SO_REUSEADDR" | "SO_REUSEPORT" | "TCP_QUICKACK" | "SO_MARK" | "IP_FREEBIND" => {}
            "TCP_NODELAY" => {
                self.sockets.get_mut(&fd).unwrap().nodelay = v != 0;
                if let Some(h) = conn {
                    let _ = self.ep().set_nodelay(h, v != 0);
                }
            }
            "SO_KEEPALIVE" | "TCP_KEEPIDLE" => {
                let default_idle = self.default_keepidle;
                let s = self.sockets.get_mut(&fd).unwrap();
                if opt == "SO_KEEPALIVE" {
                    s.keepalive = v != 0;
                } else {
                    s.keepidle = Some(v.max(1) as u64);
                }
                let (on, idle) = (s.keepalive, s.keepidle.unwrap_or(default_idle));
                if let Some(h) = conn {
                    let _ = self
                        .ep()
                        .set_keepalive(h, on.then(|| Duration::from_secs(idle)));
                }
            }
            "TCP_USER_TIMEOUT" => {
                self.sockets.get_mut(&fd).unwrap().user_timeout_ms = Some(v.max(0) as u64);
                if let Some(h) = conn {
                    let t = (v > 0).then(|| Duration::from_millis(v as u64));
                    let t = t.or(self.cfg.user_timeout);
                    let _ = self.ep().set_user_timeout(h, t);
                }
            }
            "SO_LINGER" => {
                let field = |n: &str| val_expr.field(n).and_then(|e| eval_int(e).ok());
                let (on, secs) = (field("onoff").unwrap_or(0), field("linger").unwrap_or(0));
                self.sockets.get_mut(&fd).unwrap().linger0 = on != 0 && secs == 0;
                if on != 0 && secs != 0 {
                    self.note(
                        NoteKind::Warning,
                        "SO_LINGER with a timeout: close does not block".into(),
                    );
                }
            }
            "TCP_CONGESTION" => {
                let alg = match &val_expr {
                    Expr::Str(s) if s == "reno" || s == "newreno" => Some(Algorithm::NewReno),
                    Expr::Str(s) if s == "cubic" => Some(Algorithm::Cubic),
                    _ => None,
                };
                match (alg, conn) {
                    (None, _) => return Ok(Err("ENOENT")),
                    (Some(a), Some(h)) => {
                        let _ = self.ep().set_congestion(h, a);
                    }
                    (Some(a), None) if !exists => self.cfg.congestion = a,
                    (Some(_), None) => self.not_honoured(&opt),
                }
            }
            "SO_RCVBUF" | "SO_SNDBUF" | "TCP_MAXSEG" | "TCP_KEEPINTVL" | "TCP_KEEPCNT"
            | "TCP_KEEPINIT" | "IP_TTL"
                if !exists =>
            {
                let v = v.max(1) as u64;
                match opt.as_str() {
                    // FreeBSD: how long a connection may take to open, seconds.
                    "TCP_KEEPINIT" => self.cfg.syn_timeout = Duration::from_secs(v),
                    "IP_TTL" => self.cfg.ttl = v.min(255) as u8,
                    "SO_RCVBUF" => self.cfg.recv_buffer = v as usize,
                    "SO_SNDBUF" => {
                        // An explicit size is not autotuned (Linux: SOCK_SNDBUF_LOCK).
                        self.cfg.send_buffer = v as usize;
                        self.cfg.send_buffer_max = v as usize;
                    }
                    "TCP_MAXSEG" => self.cfg.mss = v.min(65535) as u16,
                    "TCP_KEEPINTVL" => self.cfg.keepalive_interval = Duration::from_secs(v),
                    _ => self.cfg.keepalive_probes = v as u32,
                }
            }
            "SO_RCVBUF" | "SO_SNDBUF" | "TCP_MAXSEG" | "TCP_KEEPINTVL" | "TCP_KEEPCNT"
            | "TCP_KEEPINIT" | "IP_TTL" => self.not_honoured(&opt),
            // Anything else asks for behaviour synack does not have (Fast Open, zero copy,
            // corking, TOS, MD5, another stack, …): ignoring it would test something else.
            other => return Err(self.unsupported(format!("setsockopt {other}"))),
        }
        Ok(Ok(0))
    }

    fn not_honoured(&mut self, opt: &str) {
        self.note(
            NoteKind::Warning,
            format!(
                "setsockopt {opt} after the endpoint exists is not honoured: synack-proto sets it \
                 per endpoint (Config), not per connection"
            ),
        );
    }

    /// The `tcpi_*` source of a socket.
    fn info_source(&mut self, kind: Kind) -> (Option<synack_proto::ConnInfo>, State) {
        match kind {
            Kind::Conn(h) => {
                let ep = self.ep();
                let info = ep.info(h);
                let st = ep.state(h).unwrap_or(State::Closed);
                (info.filter(|i| i.state != State::Closed), st)
            }
            Kind::Listener(_) => (None, State::Listen),
            Kind::Fresh => (None, State::Closed),
        }
    }

    /// `getsockopt(fd, SOL_TCP, TCP_INFO, {tcpi_state=TCP_ESTABLISHED, tcpi_snd_cwnd=10, …},
    /// …)`: every named field is compared; `...` or an absent field is not.
    fn tcp_info(&mut self, kind: Kind, want: &Expr) -> Result<(), Box<Failure>> {
        let Expr::Struct(fields) = want else {
            return match want {
                Expr::Ellipsis => Ok(()),
                other => Err(self.unsupported(format!("TCP_INFO compared with {other:?}"))),
            };
        };
        let (info, st) = self.info_source(kind);
        let src = match &info {
            Some(i) => Source::Conn(i),
            None => Source::StateOnly(st),
        };
        let mut bad = Vec::new();
        for (name, e) in fields {
            let Some(name) = name else {
                return Err(self.unsupported("a TCP_INFO field without a name".into()));
            };
            if matches!(e, Expr::Ellipsis) {
                continue;
            }
            let w = info_value(e);
            let Some(w) = w else {
                return Err(self.unsupported(format!("TCP_INFO {name}={e:?}")));
            };
            let g = tcp_info::field(&src, name).map_err(|m| self.unsupported(m))?;
            if g != w {
                bad.push(format!("{name}: expected {w} got {g}"));
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(self.fail(format!("getsockopt TCP_INFO: {}", bad.join(", "))))
        }
    }

    pub(crate) fn getsockopt(&mut self, fd: i64, sc: &Syscall) -> CallRet {
        let opt = opt_name(self, sc)?;
        let want = sc.args.get(3).cloned().unwrap_or(Expr::Ellipsis);
        let s = self.sockets[&fd].clone();
        if opt == "TCP_INFO" {
            self.tcp_info(s.kind, &want)?;
            return Ok(Ok(0));
        }
        let conn_info = |r: &mut Self| match s.kind {
            Kind::Conn(h) => r.ep().info(h),
            _ => None,
        };
        // (value, compared in relaxed mode too)
        let got: (i64, bool) = match opt.as_str() {
            "SO_ERROR" => {
                let e = match s.kind {
                    Kind::Conn(h) if s.connecting => {
                        let st = self.ep().state(h);
                        if matches!(st, Some(State::Closed) | None) {
                            self.sockets.get_mut(&fd).unwrap().connecting = false;
                            self.closed_errno(h).or(Some("ECONNREFUSED"))
                        } else {
                            None
                        }
                    }
                    _ => s.so_error,
                };
                self.sockets.get_mut(&fd).unwrap().so_error = None;
                (e.and_then(errno_value).unwrap_or(0), true)
            }
            "TCP_NODELAY" => (i64::from(s.nodelay), true),
            "SO_KEEPALIVE" => (i64::from(s.keepalive), true),
            "TCP_KEEPIDLE" => (s.keepidle.unwrap_or(self.default_keepidle) as i64, true),
            "TCP_KEEPINTVL" => (self.cfg.keepalive_interval.as_secs() as i64, true),
            "TCP_KEEPCNT" => (i64::from(self.cfg.keepalive_probes), true),
            "TCP_KEEPINIT" => (self.cfg.syn_timeout.as_secs() as i64, true),
            "TCP_USER_TIMEOUT" => (s.user_timeout_ms.unwrap_or(0) as i64, true),
            "TCP_MAXSEG" => match conn_info(self) {
                Some(i) => (i64::from(i.mss), true),
                None => (i64::from(self.cfg.mss), true),
            },
            "SO_RCVBUF" => match conn_info(self) {
                Some(i) => (i.recv_buffer as i64, false),
                None => (self.cfg.recv_buffer as i64, false),
            },
            "SO_SNDBUF" => match conn_info(self) {
                Some(i) => (i.send_buffer as i64, false),
                None => (self.cfg.send_buffer as i64, false),
            },
            other => return Err(self.unsupported(format!("getsockopt {other}"))),
        };
        let w = match &want {
            Expr::Ellipsis => return Ok(Ok(0)),
            e => eval_int(e).map_err(|m| self.fail(format!("getsockopt {opt}: {m}")))?,
        };
        if got.0 != w {
            if !got.1 && self.check.relaxed {
                self.note(
                    NoteKind::Skipped,
                    format!(
                        "getsockopt {opt}: [{w}] not compared in relaxed mode (synack: {})",
                        got.0
                    ),
                );
                return Ok(Ok(0));
            }
            let gname = errno_name(got.0)
                .filter(|_| opt == "SO_ERROR")
                .map_or(got.0.to_string(), |n| format!("{} ({n})", got.0));
            return Err(self.fail(format!("getsockopt {opt}: expected [{w}] got [{gname}]")));
        }
        Ok(Ok(0))
    }

    /// `ioctl(fd, SIOCINQ, [n])`: readable bytes (`FIONREAD` too); `SIOCOUTQ`: bytes in the
    /// send queue, acknowledged or not; `SIOCOUTQNSD`: bytes not yet sent.
    pub(crate) fn ioctl(&mut self, fd: i64, sc: &Syscall) -> CallRet {
        let req = match sc.args.get(1) {
            Some(Expr::Word(w)) => w.clone(),
            other => return Err(self.unsupported(format!("ioctl request {other:?}"))),
        };
        let Kind::Conn(h) = self.sockets[&fd].kind else {
            return Ok(Err("EINVAL"));
        };
        let info = self.ep().info(h);
        let got = match (req.as_str(), &info) {
            ("SIOCINQ" | "FIONREAD", i) => i.as_ref().map_or(0, |i| i.recv_buffered as i64),
            ("SIOCOUTQ", i) => i.as_ref().map_or(0, |i| i.send_buffered as i64),
            ("SIOCOUTQNSD", i) => i.as_ref().map_or(0, |i| {
                let sent = i.snd_nxt.0.wrapping_sub(i.snd_una.0) as usize;
                i.send_buffered.saturating_sub(sent) as i64
            }),
            (other, _) => return Err(self.unsupported(format!("ioctl {other}"))),
        };
        match sc.args.get(2) {
            None | Some(Expr::Ellipsis) => {}
            Some(e) => {
                let w = eval_int(e).map_err(|m| self.fail(format!("ioctl {req}: {m}")))?;
                if w != got {
                    return Err(self.fail(format!("ioctl {req}: expected [{w}] got [{got}]")));
                }
            }
        }
        Ok(Ok(0))
    }
}
