//! System calls, mapped onto synack's endpoint API. File descriptors are the script's own
//! numbers (the lowest free one from 3, as a fresh process would hand out).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack_proto::{congestion::Algorithm, ConnHandle, Error, State};

use crate::ast::{Expr, Syscall};
use crate::runner::{Blocking, Runner, DEFAULT_PORT};
use crate::{Failure, NoteKind};

pub(crate) enum CallResult {
    Done(Result<i64, &'static str>),
    Block,
}
use CallResult::{Block, Done};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Fresh,
    Listener(SocketAddr),
    Conn(ConnHandle),
}

/// A socket as the script sees it, with the options it set.
#[derive(Clone, Debug)]
pub(crate) struct Socket {
    pub kind: Kind,
    pub bound: Option<SocketAddr>,
    pub nonblocking: bool,
    pub nodelay: bool,
    pub keepalive: bool,
    pub keepidle: Option<u64>,
    pub user_timeout_ms: Option<u64>,
    pub linger0: bool,
    pub accept_q: VecDeque<ConnHandle>,
    pub so_error: Option<&'static str>,
    pub connecting: bool,
}

impl Socket {
    fn new() -> Socket {
        Socket {
            kind: Kind::Fresh,
            bound: None,
            nonblocking: false,
            nodelay: false,
            keepalive: false,
            keepidle: None,
            user_timeout_ms: None,
            linger0: false,
            accept_q: VecDeque::new(),
            so_error: None,
            connecting: false,
        }
    }
}

/// Linux errno names and numbers the scripts use.
const ERRNOS: &[(&str, i64)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("EINTR", 4),
    ("EBADF", 9),
    ("EAGAIN", 11),
    ("EWOULDBLOCK", 11),
    ("ENOMEM", 12),
    ("EINVAL", 22),
    ("EPIPE", 32),
    ("EMSGSIZE", 90),
    ("ENOPROTOOPT", 92),
    ("EOPNOTSUPP", 95),
    ("EADDRINUSE", 98),
    ("EADDRNOTAVAIL", 99),
    ("ENETUNREACH", 101),
    ("ECONNABORTED", 103),
    ("ECONNRESET", 104),
    ("EISCONN", 106),
    ("ENOTCONN", 107),
    ("ETIMEDOUT", 110),
    ("ECONNREFUSED", 111),
    ("EHOSTUNREACH", 113),
    ("EALREADY", 114),
    ("EINPROGRESS", 115),
];

/// Symbolic constants (Linux values) that scripts pass or compare.
const CONSTS: &[(&str, i64)] = &[
    ("O_RDONLY", 0),
    ("O_WRONLY", 1),
    ("O_RDWR", 2),
    ("O_NONBLOCK", 0x800),
    ("SOCK_NONBLOCK", 0x800),
    ("SOCK_STREAM", 1),
    ("AF_INET", 2),
    ("AF_INET6", 10),
    ("PF_INET", 2),
    ("PF_INET6", 10),
    ("IPPROTO_TCP", 6),
    ("SHUT_RD", 0),
    ("SHUT_WR", 1),
    ("SHUT_RDWR", 2),
    ("POLLIN", 0x1),
    ("POLLPRI", 0x2),
    ("POLLOUT", 0x4),
    ("POLLERR", 0x8),
    ("POLLHUP", 0x10),
    ("POLLNVAL", 0x20),
    ("POLLRDNORM", 0x40),
    ("POLLRDBAND", 0x80),
    ("POLLWRNORM", 0x100),
    ("POLLWRBAND", 0x200),
    ("POLLRDHUP", 0x2000),
    ("MSG_OOB", 1),
    ("MSG_PEEK", 2),
    ("MSG_DONTWAIT", 0x40),
    ("MSG_NOSIGNAL", 0x4000),
    ("F_GETFD", 1),
    ("F_SETFD", 2),
    ("F_GETFL", 3),
    ("F_SETFL", 4),
    ("FD_CLOEXEC", 1),
    ("INADDR_ANY", 0),
];

pub(crate) fn errno_value(name: &str) -> Option<i64> {
    ERRNOS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn errno_name(v: i64) -> Option<&'static str> {
    ERRNOS.iter().find(|(_, n)| *n == v).map(|(s, _)| *s)
}

/// The integer value of an expression: a number, a constant, an errno name, `a|b`, `[v]`.
pub(crate) fn eval_int(e: &Expr) -> Result<i64, String> {
    match e {
        Expr::Int(v) => Ok(*v),
        Expr::Word(w) => CONSTS
            .iter()
            .find(|(n, _)| n == w)
            .map(|(_, v)| *v)
            .or_else(|| errno_value(w))
            .ok_or_else(|| format!("unknown constant `{w}`")),
        Expr::Or(v) => v.iter().try_fold(0, |acc, x| Ok(acc | eval_int(x)?)),
        Expr::Array(v) if v.len() == 1 => eval_int(&v[0]),
        Expr::Call(f, a) if f == "htons" || f == "htonl" || f == "ntohs" => {
            a.first().map_or(Err("htons()".into()), eval_int)
        }
        other => Err(format!("expected a number, found {other:?}")),
    }
}

fn flag_set(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Word(w) => w == name,
        Expr::Or(v) => v.iter().any(|x| flag_set(x, name)),
        _ => false,
    }
}

fn errno_of(e: Error) -> &'static str {
    match e {
        Error::WouldBlock => "EAGAIN",
        Error::NotConnected => "ENOTCONN",
        Error::ConnectionRefused => "ECONNREFUSED",
        Error::ConnectionReset => "ECONNRESET",
        Error::TimedOut => "ETIMEDOUT",
        Error::ConnectionAborted => "ECONNABORTED",
        Error::Closing => "EPIPE",
        Error::AddrInUse => "EADDRINUSE",
        Error::InvalidAddress => "EADDRNOTAVAIL",
        Error::InvalidHandle => "EBADF",
        Error::NoPorts => "EADDRNOTAVAIL",
        _ => "EIO",
    }
}

impl Runner<'_> {
    fn arg<'e>(&self, sc: &'e Syscall, i: usize) -> Result<&'e Expr, Box<Failure>> {
        sc.args
            .get(i)
            .ok_or_else(|| self.fail(format!("{}: missing argument {}", sc.name, i + 1)))
    }

    fn int_arg(&self, sc: &Syscall, i: usize) -> Result<i64, Box<Failure>> {
        eval_int(self.arg(sc, i)?).map_err(|m| self.fail(format!("{}: {m}", sc.name)))
    }

    fn sock(&mut self, fd: i64) -> Option<&mut Socket> {
        self.sockets.get_mut(&fd)
    }

    /// A sockaddr argument: `...` is the default address of that side.
    fn sockaddr(&self, e: &Expr, local: bool) -> Result<SocketAddr, Box<Failure>> {
        let (ip, port) = if local {
            (self.local_ip, DEFAULT_PORT)
        } else {
            (self.remote_ip, DEFAULT_PORT)
        };
        match e {
            Expr::Struct(_) => {
                let port = match e.field("sin_port").or(e.field("sin6_port")) {
                    Some(p) => eval_int(p).map_err(|m| self.fail(m))? as u16,
                    None => port,
                };
                let addr = e.field("sin_addr").or(e.field("sin6_addr"));
                let ip = match addr {
                    Some(Expr::Call(_, a)) => match a.first() {
                        Some(Expr::Str(s)) => s.parse::<IpAddr>().unwrap_or(ip),
                        _ => ip,
                    },
                    _ => ip,
                };
                let ip = if ip.is_unspecified() {
                    self.local_ip
                } else {
                    ip
                };
                Ok(SocketAddr::new(ip, port))
            }
            _ => Ok(SocketAddr::new(ip, port)),
        }
    }

    /// Run one system call. `resume` is set when a blocked call is retried; `progress`
    /// counts what a blocking write already queued.
    pub(crate) fn call(
        &mut self,
        sc: &Syscall,
        resume: bool,
        start: u64,
        progress: &mut usize,
    ) -> Result<CallResult, Box<Failure>> {
        let name = sc.name.as_str();
        if name == "socket" {
            let ty = self.arg(sc, 1)?.clone();
            if !flag_set(&ty, "SOCK_STREAM") {
                return Err(self.fail("only SOCK_STREAM sockets are supported".into()));
            }
            let fd = (3..).find(|f| !self.sockets.contains_key(f)).unwrap();
            let mut s = Socket::new();
            s.nonblocking = flag_set(&ty, "SOCK_NONBLOCK");
            self.sockets.insert(fd, s);
            return Ok(Done(Ok(fd)));
        }
        if name == "poll" {
            return self.poll(sc, start);
        }
        let fd = self.int_arg(sc, 0)?;
        if !self.sockets.contains_key(&fd) {
            return Ok(Done(Err("EBADF")));
        }
        let kind = self.sockets[&fd].kind;
        let nonblocking = self.sockets[&fd].nonblocking;
        let r = match (name, kind) {
            ("bind", _) => {
                let a = self.sockaddr(self.arg(sc, 1)?, true)?;
                self.sock(fd).unwrap().bound = Some(a);
                Done(Ok(0))
            }
            ("listen", Kind::Fresh) => {
                let local = self.sockets[&fd]
                    .bound
                    .unwrap_or(SocketAddr::new(self.local_ip, DEFAULT_PORT));
                let backlog = self.int_arg(sc, 1)?.max(1) as usize;
                match self.ep().listen(local, Some(backlog)) {
                    Ok(()) => {
                        self.sock(fd).unwrap().kind = Kind::Listener(local);
                        // The script's packets go to the listener unless a connection is live.
                        if self.cur_conn().is_none() {
                            self.cur = Some((
                                local,
                                SocketAddr::new(self.remote_ip, crate::runner::REMOTE_PORT),
                            ));
                        }
                        Done(Ok(0))
                    }
                    Err(e) => Done(Err(errno_of(e))),
                }
            }
            ("listen", Kind::Listener(_)) => Done(Ok(0)),
            ("listen", _) => Done(Err("EINVAL")),
            ("accept" | "accept4", Kind::Listener(addr)) => {
                while let Some(h) = self.ep().accept(addr) {
                    self.sock(fd).unwrap().accept_q.push_back(h);
                }
                match self.sock(fd).unwrap().accept_q.pop_front() {
                    Some(h) => {
                        let mut child = self.sockets[&fd].clone();
                        child.kind = Kind::Conn(h);
                        child.accept_q.clear();
                        child.bound = None;
                        child.nonblocking = false;
                        let nfd = (3..).find(|f| !self.sockets.contains_key(f)).unwrap();
                        self.sockets.insert(nfd, child);
                        self.apply_conn_options(nfd);
                        Done(Ok(nfd))
                    }
                    None if nonblocking => Done(Err("EAGAIN")),
                    None => Block,
                }
            }
            ("accept" | "accept4", _) => Done(Err("EINVAL")),
            ("connect", Kind::Fresh) => {
                let remote = self.sockaddr(self.arg(sc, 1)?, false)?;
                let local = self.sockets[&fd]
                    .bound
                    .unwrap_or(SocketAddr::new(self.local_ip, 0));
                let now = synack_proto::Instant::from_micros(self.now);
                match self.ep().connect(now, local, remote) {
                    Ok(h) => {
                        let t = self.ep().tuple(h).unwrap();
                        self.cur = Some((t.local, t.remote));
                        self.map = Default::default();
                        let s = self.sock(fd).unwrap();
                        s.kind = Kind::Conn(h);
                        s.connecting = true;
                        self.apply_conn_options(fd);
                        self.pump()?;
                        if nonblocking {
                            Done(Err("EINPROGRESS"))
                        } else {
                            self.connect_done(fd, h)
                        }
                    }
                    Err(e) => Done(Err(errno_of(e))),
                }
            }
            ("connect", Kind::Conn(h)) if resume => self.connect_done(fd, h),
            ("connect", Kind::Conn(h)) => match self.conn_state(h) {
                Some(State::SynSent | State::SynReceived) => Done(Err("EALREADY")),
                Some(State::Closed) | None if self.sockets[&fd].connecting => {
                    self.sock(fd).unwrap().connecting = false;
                    Done(Err(self.closed_errno(h).unwrap_or("ECONNREFUSED")))
                }
                _ if self.sockets[&fd].connecting => {
                    self.sock(fd).unwrap().connecting = false;
                    Done(Ok(0))
                }
                _ => Done(Err("EISCONN")),
            },
            ("connect", _) => Done(Err("EINVAL")),
            ("write" | "send" | "sendto" | "sendmsg", Kind::Conn(h)) => {
                let n = match name {
                    "sendmsg" => 0,
                    _ => self.int_arg(sc, 2)?.max(0) as usize,
                };
                let oob = name == "send" && sc.args.get(3).is_some_and(|f| flag_set(f, "MSG_OOB"));
                let dontwait =
                    name == "send" && sc.args.get(3).is_some_and(|f| flag_set(f, "MSG_DONTWAIT"));
                let data = vec![0u8; n - *progress];
                let r = if oob {
                    self.ep().send_urgent(h, &data)
                } else {
                    self.ep().send(h, &data)
                };
                self.pump()?;
                match r {
                    Ok(k) => {
                        *progress += k;
                        if *progress == n || nonblocking || dontwait {
                            Done(Ok(*progress as i64))
                        } else {
                            Block
                        }
                    }
                    Err(Error::WouldBlock) if nonblocking || dontwait => Done(if *progress > 0 {
                        Ok(*progress as i64)
                    } else {
                        Err("EAGAIN")
                    }),
                    Err(Error::WouldBlock) => Block,
                    Err(e) => Done(Err(self.conn_errno(h, e, true))),
                }
            }
            ("read" | "recv" | "recvfrom" | "recvmsg", Kind::Conn(h)) => {
                let n = match name {
                    "recvmsg" => 65536,
                    _ => self.int_arg(sc, 2)?.max(0) as usize,
                };
                let dontwait =
                    name != "read" && sc.args.get(3).is_some_and(|f| flag_set(f, "MSG_DONTWAIT"));
                let mut buf = vec![0u8; n];
                let r = self.ep().recv(h, &mut buf);
                self.pump()?;
                match r {
                    Ok(k) => Done(Ok(k as i64)),
                    Err(Error::WouldBlock) if nonblocking || dontwait => Done(Err("EAGAIN")),
                    Err(Error::WouldBlock) => Block,
                    Err(e) => Done(Err(self.conn_errno(h, e, false))),
                }
            }
            (
                "write" | "send" | "sendto" | "sendmsg" | "read" | "recv" | "recvfrom" | "recvmsg",
                _,
            ) => Done(Err("ENOTCONN")),
            ("close", _) => {
                let s = self.sockets.remove(&fd).unwrap();
                match s.kind {
                    Kind::Conn(h) => {
                        let _ = if s.linger0 {
                            self.ep().abort(h)
                        } else {
                            self.ep().close(h)
                        };
                    }
                    Kind::Listener(a) => {
                        for h in s.accept_q {
                            let _ = self.ep().abort(h);
                        }
                        self.ep().unlisten(a);
                    }
                    Kind::Fresh => {}
                }
                self.pump()?;
                Done(Ok(0))
            }
            ("shutdown", Kind::Conn(h)) => {
                let how = self.int_arg(sc, 1)?;
                if how == 0 {
                    Done(Ok(0))
                } else {
                    let r = self.ep().shutdown(h);
                    self.pump()?;
                    match r {
                        Ok(()) => Done(Ok(0)),
                        Err(e) => Done(Err(self.conn_errno(h, e, false))),
                    }
                }
            }
            ("shutdown", _) => Done(Err("ENOTCONN")),
            ("setsockopt", _) => Done(self.setsockopt(fd, sc)?),
            ("getsockopt", _) => Done(self.getsockopt(fd, sc)?),
            ("fcntl", _) => {
                let cmd = self.int_arg(sc, 1)?;
                match cmd {
                    3 => Done(Ok(2 | if nonblocking { 0x800 } else { 0 })),
                    4 => {
                        let flags = self.int_arg(sc, 2)?;
                        self.sock(fd).unwrap().nonblocking = flags & 0x800 != 0;
                        Done(Ok(0))
                    }
                    _ => Done(Ok(0)),
                }
            }
            ("getsockname" | "getpeername", _) => Done(Ok(0)),
            ("ioctl", Kind::Conn(h)) => {
                let info = self.ep().info(h);
                let v = info.map_or(0, |i| i.recv_buffered as i64);
                self.note(
                    NoteKind::Warning,
                    format!("ioctl reports {v} readable bytes; value not compared"),
                );
                Done(Ok(0))
            }
            _ => {
                self.note(
                    NoteKind::Skipped,
                    format!("system call {name} is not supported; skipped"),
                );
                Done(Ok(eval_int(&sc.ret).unwrap_or(0)))
            }
        };
        Ok(r)
    }

    fn conn_state(&mut self, h: ConnHandle) -> Option<State> {
        self.ep().state(h)
    }

    fn closed_errno(&self, h: ConnHandle) -> Option<&'static str> {
        self.closed.get(&h).and_then(|r| r.error()).map(errno_of)
    }

    fn conn_errno(&self, h: ConnHandle, e: Error, write: bool) -> &'static str {
        match e {
            Error::InvalidHandle | Error::NotConnected => self
                .closed_errno(h)
                .unwrap_or(if write { "EPIPE" } else { "ENOTCONN" }),
            e => errno_of(e),
        }
    }

    fn connect_done(&mut self, fd: i64, h: ConnHandle) -> CallResult {
        match self.conn_state(h) {
            Some(State::SynSent | State::SynReceived) => Block,
            Some(State::Closed) | None => {
                self.sock(fd).unwrap().connecting = false;
                Done(Err(self.closed_errno(h).unwrap_or("ECONNREFUSED")))
            }
            _ => {
                self.sock(fd).unwrap().connecting = false;
                Done(Ok(0))
            }
        }
    }

    /// Push a socket's options onto its connection.
    fn apply_conn_options(&mut self, fd: i64) {
        let s = self.sockets[&fd].clone();
        let Kind::Conn(h) = s.kind else { return };
        let ep = self.ep();
        if s.nodelay {
            let _ = ep.set_nodelay(h, true);
        }
        if s.keepalive {
            let idle = Duration::from_secs(s.keepidle.unwrap_or(7200));
            let _ = ep.set_keepalive(h, Some(idle));
        }
        if let Some(ms) = s.user_timeout_ms {
            let _ = ep.set_user_timeout(h, Some(Duration::from_millis(ms)));
        }
    }

    fn setsockopt(
        &mut self,
        fd: i64,
        sc: &Syscall,
    ) -> Result<Result<i64, &'static str>, Box<Failure>> {
        let opt = match self.arg(sc, 2)? {
            Expr::Word(w) => w.clone(),
            e => return Err(self.fail(format!("setsockopt: option name expected, got {e:?}"))),
        };
        let val_expr = self.arg(sc, 3)?.clone();
        let val = eval_int(&val_expr).ok();
        let v = val.unwrap_or(0);
        let conn = match self.sockets[&fd].kind {
            Kind::Conn(h) => Some(h),
            _ => None,
        };
        let exists = self.endpoint_exists();
        match opt.as_str() {
            "SO_REUSEADDR" | "SO_REUSEPORT" | "SO_OOBINLINE" | "TCP_QUICKACK" => {}
            "TCP_NODELAY" => {
                self.sock(fd).unwrap().nodelay = v != 0;
                if let Some(h) = conn {
                    let _ = self.ep().set_nodelay(h, v != 0);
                }
            }
            "SO_KEEPALIVE" | "TCP_KEEPIDLE" => {
                let s = self.sock(fd).unwrap();
                if opt == "SO_KEEPALIVE" {
                    s.keepalive = v != 0;
                } else {
                    s.keepidle = Some(v.max(1) as u64);
                }
                let (on, idle) = (s.keepalive, s.keepidle.unwrap_or(7200));
                if let Some(h) = conn {
                    let _ = self
                        .ep()
                        .set_keepalive(h, on.then(|| Duration::from_secs(idle)));
                }
            }
            "TCP_USER_TIMEOUT" => {
                self.sock(fd).unwrap().user_timeout_ms = Some(v.max(0) as u64);
                if let Some(h) = conn {
                    let t = (v > 0).then(|| Duration::from_millis(v as u64));
                    let t = t.or(self.cfg.user_timeout);
                    let _ = self.ep().set_user_timeout(h, t);
                }
            }
            "SO_LINGER" => {
                let on = val_expr
                    .field("onoff")
                    .and_then(|e| eval_int(e).ok())
                    .unwrap_or(0);
                let secs = val_expr
                    .field("linger")
                    .and_then(|e| eval_int(e).ok())
                    .unwrap_or(0);
                self.sock(fd).unwrap().linger0 = on != 0 && secs == 0;
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
                if !exists =>
            {
                let v = v.max(1) as u64;
                match opt.as_str() {
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
            "SO_RCVBUF" | "SO_SNDBUF" | "TCP_MAXSEG" | "TCP_KEEPINTVL" | "TCP_KEEPCNT" => {
                self.not_honoured(&opt)
            }
            other => self.note(
                NoteKind::Skipped,
                format!("setsockopt {other} ignored (not supported)"),
            ),
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

    fn getsockopt(
        &mut self,
        fd: i64,
        sc: &Syscall,
    ) -> Result<Result<i64, &'static str>, Box<Failure>> {
        let opt = match self.arg(sc, 2)? {
            Expr::Word(w) => w.clone(),
            e => return Err(self.fail(format!("getsockopt: option name expected, got {e:?}"))),
        };
        let want = self.arg(sc, 3)?.clone();
        let s = self.sockets[&fd].clone();
        let got = match opt.as_str() {
            "SO_ERROR" => {
                let e = match s.kind {
                    Kind::Conn(h) if s.connecting => {
                        let st = self.conn_state(h);
                        if matches!(st, Some(State::Closed) | None) {
                            self.sock(fd).unwrap().connecting = false;
                            self.closed_errno(h).or(Some("ECONNREFUSED"))
                        } else {
                            None
                        }
                    }
                    _ => s.so_error,
                };
                self.sock(fd).unwrap().so_error = None;
                Some(e.and_then(errno_value).unwrap_or(0))
            }
            "TCP_NODELAY" => Some(i64::from(s.nodelay)),
            "SO_KEEPALIVE" => Some(i64::from(s.keepalive)),
            "SO_RCVBUF" => Some(self.cfg.recv_buffer as i64),
            "SO_SNDBUF" => Some(self.cfg.send_buffer as i64),
            _ => None,
        };
        match (got, eval_int(&want)) {
            (Some(g), Ok(w))
                if g != w
                    && matches!(opt.as_str(), "SO_ERROR" | "TCP_NODELAY" | "SO_KEEPALIVE") =>
            {
                let gname = errno_name(g).map_or(g.to_string(), |n| format!("{g} ({n})"));
                return Err(self.fail(format!("getsockopt {opt}: expected [{w}] got [{gname}]")));
            }
            (None, _) => self.note(
                NoteKind::Skipped,
                format!("getsockopt {opt}: value not compared"),
            ),
            _ => {}
        }
        Ok(Ok(0))
    }

    /// The time a blocked poll gives up.
    pub(crate) fn poll_deadline(&self, b: &Blocking) -> Option<u64> {
        if b.call.name != "poll" {
            return None;
        }
        let t = b.call.args.get(2).and_then(|e| eval_int(e).ok())?;
        (t >= 0).then(|| b.start + t as u64 * 1000)
    }

    fn revents(&mut self, fd: i64, events: i64) -> i64 {
        let Some(s) = self.sockets.get(&fd).cloned() else {
            return 0x20; // POLLNVAL
        };
        let mut r = 0;
        match s.kind {
            Kind::Fresh => r = 0x4 | 0x10,
            Kind::Listener(addr) => {
                while let Some(h) = self.ep().accept(addr) {
                    self.sock(fd).unwrap().accept_q.push_back(h);
                }
                if !self.sockets[&fd].accept_q.is_empty() {
                    r |= 0x1 | 0x40;
                }
            }
            Kind::Conn(h) => {
                let state = self.conn_state(h);
                let probe = self.ep().recv(h, &mut []);
                let info = self.ep().info(h);
                let send_room = info
                    .as_ref()
                    .is_some_and(|i| i.send_buffered < self.cfg.send_buffer);
                let eof = probe.is_ok() && info.as_ref().is_some_and(|i| i.recv_buffered == 0);
                match probe {
                    Ok(_) => r |= 0x1 | 0x40,
                    Err(Error::WouldBlock) => {}
                    Err(_) => r |= 0x1 | 0x40 | 0x8 | 0x10,
                }
                if eof {
                    r |= 0x2000;
                }
                if matches!(state, Some(State::Established | State::CloseWait)) && send_room {
                    r |= 0x4 | 0x100;
                }
                let write_closed = matches!(
                    state,
                    Some(State::Closing | State::LastAck | State::TimeWait | State::Closed) | None
                );
                if eof && write_closed {
                    r |= 0x10;
                }
                if self.closed_errno(h).is_some() {
                    r |= 0x8 | 0x10;
                }
            }
        }
        r & (events | 0x8 | 0x10 | 0x20)
    }

    fn poll(&mut self, sc: &Syscall, start: u64) -> Result<CallResult, Box<Failure>> {
        let Some(Expr::Array(fds)) = sc.args.first() else {
            return Err(self.fail("poll: expected an array of {fd=, events=} structs".into()));
        };
        let mut ready = 0;
        let mut mismatch = None;
        for p in fds {
            let fd = p
                .field("fd")
                .map(eval_int)
                .transpose()
                .map_err(|m| self.fail(m))?;
            let ev = p
                .field("events")
                .map(eval_int)
                .transpose()
                .map_err(|m| self.fail(m))?;
            let got = self.revents(fd.unwrap_or(-1), ev.unwrap_or(0));
            if got != 0 {
                ready += 1;
            }
            if let Some(want) = p.field("revents") {
                let want = eval_int(want).map_err(|m| self.fail(m))?;
                if want != got && mismatch.is_none() {
                    mismatch = Some((fd.unwrap_or(-1), want, got));
                }
            }
        }
        let timeout = sc
            .args
            .get(2)
            .map(eval_int)
            .transpose()
            .map_err(|m| self.fail(m))?;
        let timed_out =
            timeout.is_some_and(|t| t >= 0 && self.now >= start + t.max(0) as u64 * 1000);
        if ready == 0 && !timed_out {
            return Ok(Block);
        }
        if let Some((fd, want, got)) = mismatch {
            return Err(self.fail(format!(
                "poll: fd {fd} revents expected {want:#x} got {got:#x}"
            )));
        }
        Ok(Done(Ok(ready)))
    }
}
