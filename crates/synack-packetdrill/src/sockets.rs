//! System calls, mapped onto synack's endpoint API. Sockets are known by the script's own
//! file descriptor numbers: as packetdrill maps script fds to live ones, the fd a `socket`
//! or `accept` line expects (`= 4`) is the one it gets, whatever a real process would have
//! been handed (`= ...` takes the lowest free number from 3).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack_proto::{ConnHandle, Error, State};

use crate::ast::{Expr, Syscall};
use crate::runner::{Blocking, Runner, DEFAULT_PORT};
use crate::Failure;

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
    /// `shutdown(SHUT_RD)` was called: reads return 0.
    pub rd_shut: bool,
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
            rd_shut: false,
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
    ("MSG_WAITALL", 0x100),
    ("SOL_SOCKET", 1),
    ("SOL_TCP", 6),
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

pub(crate) fn errno_name(v: i64) -> Option<&'static str> {
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

/// The symbolic words of a flags argument (`MSG_PEEK|MSG_DONTWAIT`); numbers are skipped.
fn flag_words(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Word(w) => out.push(w.clone()),
        Expr::Or(v) => v.iter().for_each(|x| flag_words(x, out)),
        _ => {}
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

    /// The fd a new socket gets: the one the script's return value names (an open socket
    /// there is forgotten, as packetdrill re-maps the script fd), else the lowest free.
    fn new_fd(&self, sc: &Syscall) -> i64 {
        match sc.ret {
            Expr::Int(v) if v >= 0 => v,
            _ => (3..).find(|f| !self.sockets.contains_key(f)).unwrap_or(3),
        }
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
                return Err(self.unsupported(format!("a socket of type {ty:?}")));
            }
            let fd = self.new_fd(sc);
            let mut s = Socket::new();
            s.nonblocking = flag_set(&ty, "SOCK_NONBLOCK");
            self.sockets.insert(fd, s);
            return Ok(Done(Ok(fd)));
        }
        if name == "poll" {
            return self.poll(sc, start);
        }
        const KNOWN: &[&str] = &[
            "bind",
            "listen",
            "accept",
            "accept4",
            "connect",
            "write",
            "send",
            "sendto",
            "sendmsg",
            "read",
            "recv",
            "recvfrom",
            "recvmsg",
            "close",
            "shutdown",
            "setsockopt",
            "getsockopt",
            "fcntl",
            "getsockname",
            "getpeername",
            "ioctl",
        ];
        if !KNOWN.contains(&name) {
            return Err(self.unsupported(format!("the system call {name}")));
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
                        // The listener is the socket under test: the next SYN makes a child.
                        self.new_child = Some(local);
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
                        let nfd = self.new_fd(sc);
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
                let (n, flags) = self.io_len_and_flags(sc)?;
                let oob = flags.is_some_and(|f| flag_set(f, "MSG_OOB"));
                let dontwait = flags.is_some_and(|f| flag_set(f, "MSG_DONTWAIT"));
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
                let (n, flags) = self.io_len_and_flags(sc)?;
                let dontwait = flags.is_some_and(|f| flag_set(f, "MSG_DONTWAIT"));
                if flags.is_some_and(|f| flag_set(f, "MSG_OOB")) {
                    return Err(self.unsupported(format!("{name} with MSG_OOB")));
                }

                let r = if flags.is_some_and(|f| flag_set(f, "MSG_PEEK")) {
                    self.peek(h, n)
                } else {
                    let mut buf = vec![0u8; n];
                    self.ep().recv(h, &mut buf)
                };
                self.pump()?;
                match r {
                    Ok(k) => Done(Ok(k as i64)),
                    Err(Error::WouldBlock) if self.sockets[&fd].rd_shut => Done(Ok(0)),
                    Err(Error::WouldBlock) if nonblocking || dontwait => Done(Err("EAGAIN")),
                    Err(Error::WouldBlock) => Block,
                    Err(e) => Done(Err(self.conn_errno(h, e, false))),
                }
            }
            (
                "write" | "send" | "sendto" | "sendmsg" | "read" | "recv" | "recvfrom" | "recvmsg",
                _,
            ) => {
                // Flags such as MSG_FASTOPEN (a TFO connect) are unsupported, not ENOTCONN.
                self.io_len_and_flags(sc)?;
                Done(Err("ENOTCONN"))
            }
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
                if how != 1 {
                    // SHUT_RD: synack has no receive half-close; as in Linux, a read
                    // with nothing to read returns 0 from now on instead of waiting.
                    self.sock(fd).unwrap().rd_shut = true;
                }
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
            ("ioctl", _) => Done(self.ioctl(fd, sc)?),
            _ => return Err(self.unsupported(format!("the system call {name}"))),
        };
        Ok(r)
    }

    /// The byte count and flags of a read or write call: `write(fd, ..., n)`,
    /// `send(fd, ..., n, flags)`, `sendmsg(fd, {msg_iov(k)=[{..., n1}, …], …}, flags)`.
    /// Flags synack has no meaning for (MSG_FASTOPEN, MSG_MORE, MSG_ZEROCOPY, MSG_ERRQUEUE,
    /// …) and control messages are unsupported.
    fn io_len_and_flags<'s>(
        &self,
        sc: &'s Syscall,
    ) -> Result<(usize, Option<&'s Expr>), Box<Failure>> {
        let name = sc.name.as_str();
        // A bad buffer pointer (`write(4, NULL, 1000) = -1 EFAULT`): no memory to fault here.
        if matches!(sc.args.get(1), Some(Expr::Word(w)) if w == "NULL")
            || matches!(sc.args.get(1), Some(Expr::Int(_)))
        {
            return Err(self.unsupported(format!("{name} with a buffer pointer")));
        }
        let (n, flags) = match name {
            "read" | "write" => (self.int_arg(sc, 2)?, None),
            "sendmsg" | "recvmsg" => {
                let msg = self.arg(sc, 1)?;
                if msg
                    .field("msg_control")
                    .is_some_and(|c| !matches!(c, Expr::Ellipsis))
                {
                    return Err(self.unsupported(format!("{name} with control messages")));
                }
                let mut n = 0;
                if let Some(Expr::Array(iovs)) = msg.field("msg_iov") {
                    for iov in iovs {
                        let len = match iov {
                            Expr::Struct(f) => f.get(1).map(|(_, e)| e),
                            _ => None,
                        };
                        n += len.and_then(|e| eval_int(e).ok()).unwrap_or(0);
                    }
                }
                if let Some(f) = msg.field("msg_flags") {
                    if eval_int(f).ok().is_none_or(|v| v != 0) {
                        return Err(self.unsupported(format!("{name} with msg_flags {f:?}")));
                    }
                }
                (n, sc.args.get(2))
            }
            _ => (self.int_arg(sc, 2)?, sc.args.get(3)),
        };
        if let Some(f) = flags {
            let known = [
                "MSG_OOB",
                "MSG_PEEK",
                "MSG_DONTWAIT",
                "MSG_NOSIGNAL",
                "MSG_WAITALL",
            ];
            let mut words = Vec::new();
            flag_words(f, &mut words);
            if let Some(w) = words.iter().find(|w| !known.contains(&w.as_str())) {
                return Err(self.unsupported(format!("{name} with {w}")));
            }
            if flag_set(f, "MSG_WAITALL") && name.starts_with("recv") {
                return Err(self.unsupported(format!("{name} with MSG_WAITALL")));
            }
        }
        Ok((n.max(0) as usize, flags))
    }

    /// `MSG_PEEK`: what a read would return, leaving the data in place.
    fn peek(&mut self, h: ConnHandle, n: usize) -> Result<usize, Error> {
        let info = self.ep().info(h);
        match info {
            Some(i) if i.recv_buffered > 0 => Ok(i.recv_buffered.min(n)),
            // Nothing buffered: end of stream, an error, or nothing yet, as a read says.
            _ => self.ep().recv(h, &mut []),
        }
    }

    pub(crate) fn conn_state(&mut self, h: ConnHandle) -> Option<State> {
        self.ep().state(h)
    }

    pub(crate) fn closed_errno(&self, h: ConnHandle) -> Option<&'static str> {
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
        let default_idle = self.default_keepidle;
        let ep = self.ep();
        if s.nodelay {
            let _ = ep.set_nodelay(h, true);
        }
        if s.keepalive {
            let idle = Duration::from_secs(s.keepidle.unwrap_or(default_idle));
            let _ = ep.set_keepalive(h, Some(idle));
        }
        if let Some(ms) = s.user_timeout_ms {
            let _ = ep.set_user_timeout(h, Some(Duration::from_millis(ms)));
        }
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
