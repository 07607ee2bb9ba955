//! A recursive-descent parser for the packetdrill language (the grammar of packetdrill's
//! Syntax.md, written from its description): leading options, an optional init command,
//! then events `time action`.

use crate::ast::*;
use crate::lexer::{lex, Tok, Token};
use crate::preprocess::{conditionals, substitute, Defines};

/// Parse a whole script. Errors carry the line number.
pub fn parse(src: &str) -> Result<Script, String> {
    parse_with(src, &Defines::new())
}

/// Parse a script with `--define` symbols: `#ifdef` blocks are resolved and defined words
/// replaced before parsing.
pub fn parse_with(src: &str, defines: &Defines) -> Result<Script, String> {
    let src = conditionals(src, defines)?;
    let mut toks = lex(&src)?;
    substitute(&mut toks, defines);
    let mut p = Parser {
        t: toks,
        i: 0,
        unsupported: None,
    };
    p.script()
}

struct Parser {
    t: Vec<Token>,
    i: usize,
    /// Set by a parse step that met a construct we parse past but cannot run.
    unsupported: Option<String>,
}

fn secs_to_usecs(v: f64) -> i64 {
    (v * 1_000_000.0).round() as i64
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|t| &t.tok)
    }
    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.t.get(self.i + k).map(|t| &t.tok)
    }
    fn line(&self) -> usize {
        self.t
            .get(self.i)
            .or_else(|| self.t.last())
            .map_or(0, |t| t.line)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).map(|t| t.tok.clone());
        self.i += 1;
        t
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        let got = self
            .peek()
            .map_or("end of script".to_string(), |t| format!("`{t}`"));
        Err(format!(
            "line {}: expected {what}, found {got}",
            self.line()
        ))
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            self.err(&format!("`{c}`"))
        }
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(x)) if x == w) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn int(&mut self) -> Result<i64, String> {
        match self.peek() {
            Some(Tok::Int(v)) => {
                let v = *v;
                self.i += 1;
                Ok(v)
            }
            _ => self.err("an integer"),
        }
    }
    /// A sequence range `start:end(len)`, whose length must match its ends.
    fn seq_range(&mut self, line: usize) -> Result<(u32, u32, u32), String> {
        let start = self.u32()?;
        self.expect(':')?;
        let end = self.u32()?;
        self.expect('(')?;
        let len = self.u32()?;
        self.expect(')')?;
        if end.wrapping_sub(start) != len {
            return Err(format!(
                "line {line}: {start}:{end}({len}): the length does not match the range"
            ));
        }
        Ok((start, end, len))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let line = self.line();
        let v = self.int()?;
        u32::try_from(v).map_err(|_| format!("line {line}: {v} is not a 32-bit unsigned value"))
    }
    fn time_value(&mut self) -> Result<i64, String> {
        match self.next() {
            Some(Tok::Int(v)) => Ok(v * 1_000_000),
            Some(Tok::Float(v)) => Ok(secs_to_usecs(v)),
            _ => {
                self.i -= 1;
                self.err("a time")
            }
        }
    }

    fn script(&mut self) -> Result<Script, String> {
        let mut s = Script::default();
        while let Some(tok) = self.peek().cloned() {
            let line = self.line();
            match tok {
                Tok::Opt(name, value) => {
                    self.i += 1;
                    s.options.push((name, value, line));
                }
                Tok::BackQuoted(cmd) if s.events.is_empty() && s.init_command.is_none() => {
                    self.i += 1;
                    s.init_command = Some((cmd, line));
                }
                Tok::BackQuoted(cmd) => {
                    self.i += 1;
                    s.events.push(Event {
                        line,
                        time: Time::Rel(0),
                        action: Action::Command(cmd),
                    });
                }
                Tok::Code(code) => {
                    self.i += 1;
                    s.events.push(Event {
                        line,
                        time: Time::Rel(0),
                        action: Action::Code(code),
                    });
                }
                _ => s.events.push(self.event()?),
            }
        }
        Ok(s)
    }

    fn event(&mut self) -> Result<Event, String> {
        let line = self.line();
        let time = self.time()?;
        let action = match self.peek().cloned() {
            Some(Tok::Punct('<')) | Some(Tok::Punct('>')) => self.packet(line)?,
            Some(Tok::BackQuoted(c)) => {
                self.i += 1;
                Action::Command(c)
            }
            Some(Tok::Code(c)) => {
                self.i += 1;
                Action::Code(c)
            }
            Some(Tok::Ellipsis) | Some(Tok::Word(_)) => Action::Syscall(self.syscall()?),
            _ => return self.err("a packet, system call, `command` or %{ code }%"),
        };
        Ok(Event { line, time, action })
    }

    fn time(&mut self) -> Result<Time, String> {
        if self.eat('*') {
            return Ok(Time::Any);
        }
        let rel = self.eat('+');
        let a = self.time_value()?;
        if self.eat('~') {
            let rel_b = self.eat('+');
            let b = self.time_value()?;
            return Ok(match (rel, rel_b) {
                (true, _) => Time::RelRange(a, b),
                (false, _) => Time::AbsRange(a, b),
            });
        }
        Ok(if rel { Time::Rel(a) } else { Time::Abs(a) })
    }

    /// The rest of the current line is on `line`.
    fn on_line(&self, line: usize) -> bool {
        self.t.get(self.i).is_some_and(|t| t.line == line)
    }

    /// `(tos 0x20)`, `[ect0]`, `(ttl 3)`, `[noecn]`, `(tos 0x2, flowlabel 0x1)`. `Ok(None)`
    /// when the form is one we do not know (the caller stops the script as unsupported).
    fn ip_info(&mut self) -> Result<Option<IpInfo>, String> {
        let close = match self.peek() {
            Some(Tok::Punct('(')) => ')',
            Some(Tok::Punct('[')) => ']',
            _ => return Ok(Some(IpInfo::default())),
        };
        self.i += 1;
        let mut info = IpInfo::default();
        loop {
            let Some(Tok::Word(w)) = self.next() else {
                return Ok(None);
            };
            match w.as_str() {
                "noecn" => info.ecn = Some(Ecn::NotEct),
                "ect0" => info.ecn = Some(Ecn::Ect0),
                "ect1" => info.ecn = Some(Ecn::Ect1),
                "ect01" => info.ecn = Some(Ecn::Ect01),
                "ce" => info.ecn = Some(Ecn::Ce),
                "tos" => info.tos = Some(self.int()?.clamp(0, 255) as u8),
                "ttl" => info.ttl = Some(self.int()?.clamp(0, 255) as u8),
                "flowlabel" => info.flow_label = Some(self.int()?.clamp(0, 0xfffff) as u32),
                _ => return Ok(None),
            }
            if self.eat(close) {
                return Ok(Some(info));
            }
            if !self.eat(',') {
                return Ok(None);
            }
        }
    }

    fn packet(&mut self, line: usize) -> Result<Action, String> {
        let dir = match self.next() {
            Some(Tok::Punct('<')) => Dir::In,
            _ => Dir::Out,
        };
        let Some(ip) = self.ip_info()? else {
            return Ok(self.skip_line(line, "this IP header description".into()));
        };
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            match w.as_str() {
                "icmp" => {
                    self.i += 1;
                    return self.icmp(line, dir, ip);
                }
                "udp" | "sctp" | "udplite" | "gre" | "mpls" | "ipv4" | "ipv6" | "encap" => {
                    return Ok(self.skip_line(line, format!("{w} packets")));
                }
                _ => {}
            }
        }
        if matches!(self.peek(), Some(Tok::Int(_))) && self.peek_at(1) == Some(&Tok::Punct('>')) {
            return Ok(self.skip_line(line, "explicit port numbers on a packet".into()));
        }
        let flags = match self.next() {
            Some(Tok::Punct('.')) => ".".to_string(),
            Some(Tok::Punct('-')) => "-".to_string(),
            Some(Tok::Word(w)) => {
                if let Some(bad) = w.chars().find(|c| !"SFRPUEWA".contains(*c)) {
                    return Err(format!("line {line}: unknown TCP flag `{bad}` in `{w}`"));
                }
                let mut f = w;
                if self.eat('.') {
                    f.push('.');
                }
                f
            }
            Some(Tok::Float(_)) => {
                return Ok(self.skip_line(line, "AccECN flags (ACE field)".into()));
            }
            _ => {
                self.i -= 1;
                return self.err("TCP flags");
            }
        };
        let (start, end, len) = self.seq_range(line)?;
        let mut spec = PacketSpec {
            dir,
            ecn: ip.ecn,
            tos: ip.tos,
            ttl: ip.ttl,
            flags,
            start,
            end,
            len,
            ack: None,
            win: None,
            urg: None,
            options: Options::Unspecified,
        };
        loop {
            if self.eat_word("ack") {
                spec.ack = Some(self.u32()?);
            } else if self.eat_word("win") {
                spec.win = Some(self.u32()?);
            } else if self.eat_word("urg") {
                spec.urg = Some(self.u32()?);
            } else if self.peek() == Some(&Tok::Punct('<')) && self.on_line(line) {
                self.i += 1;
                spec.options = self.options()?;
                if let Some(what) = self.unsupported.take() {
                    return Ok(self.skip_line(line, what));
                }
            } else {
                break;
            }
        }
        if self.on_line(line) && !matches!(self.peek(), Some(Tok::Code(_) | Tok::BackQuoted(_))) {
            let what = match self.peek() {
                Some(Tok::Punct('/')) => "UDP encapsulation (`/udp(...)`)".to_string(),
                Some(t) => format!("`{t}` after a TCP packet"),
                None => String::new(),
            };
            return Ok(self.skip_line(line, what));
        }
        Ok(Action::Packet(spec))
    }

    /// `icmp TYPE [CODE] [mtu N] [id N] [[start:end(len)]]`, after the word `icmp`.
    fn icmp(&mut self, line: usize, dir: Dir, ip: IpInfo) -> Result<Action, String> {
        let icmp_type = match self.next() {
            Some(Tok::Word(w)) => w,
            _ => {
                self.i -= 1;
                return self.err("an ICMP type");
            }
        };
        let mut spec = IcmpSpec {
            dir,
            ip,
            icmp_type,
            code: None,
            mtu: None,
            id: None,
            quoted: None,
        };
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            if w != "mtu" && w != "id" && self.on_line(line) {
                self.i += 1;
                spec.code = Some(w);
            }
        }
        if self.eat_word("mtu") {
            spec.mtu = Some(self.u32()?);
        }
        if self.eat_word("id") {
            spec.id = Some(self.int()?.clamp(0, 65535) as u16);
        }
        if self.on_line(line) && self.eat('[') {
            if let Some(Tok::Word(w)) = self.peek().cloned() {
                return Ok(self.skip_line(line, format!("an ICMP message quoting a {w} packet")));
            }
            let (start, _, len) = self.seq_range(line)?;
            if !self.eat(']') {
                return Ok(self.skip_line(line, "an ICMP message quoting a UDP packet".into()));
            }
            spec.quoted = Some(Quoted { start, len });
        }
        if self.on_line(line) && !matches!(self.peek(), Some(Tok::Code(_) | Tok::BackQuoted(_))) {
            let what = match self.peek() {
                Some(t) => format!("`{t}` in an ICMP packet"),
                None => String::new(),
            };
            return Ok(self.skip_line(line, what));
        }
        Ok(Action::Icmp(spec))
    }

    /// Skip the rest of the line: a construct we parse past but do not run.
    fn skip_line(&mut self, line: usize, what: String) -> Action {
        while self.i < self.t.len() && self.t[self.i].line == line {
            self.i += 1;
        }
        Action::Unsupported(what)
    }

    fn options(&mut self) -> Result<Options, String> {
        if self.peek() == Some(&Tok::Ellipsis) {
            self.i += 1;
            self.expect('>')?;
            return Ok(Options::Any);
        }
        let mut v = Vec::new();
        if self.eat('>') {
            return Ok(Options::List(v));
        }
        loop {
            let word = match self.next() {
                Some(Tok::Word(w)) => w,
                _ => {
                    self.i -= 1;
                    return self.err("a TCP option");
                }
            };
            let opt = match word.as_str() {
                "nop" => Opt::Nop,
                "eol" => Opt::Eol,
                "mss" => Opt::Mss(self.int()? as u16),
                "wscale" => Opt::Wscale(self.int()? as u8),
                "sackOK" => Opt::SackOk,
                "sack" => {
                    let mut blocks = Vec::new();
                    while matches!(self.peek(), Some(Tok::Int(_))) {
                        let a = self.u32()?;
                        self.expect(':')?;
                        blocks.push((a, self.u32()?));
                    }
                    Opt::Sack(blocks)
                }
                "TS" => {
                    if !self.eat_word("val") {
                        return self.err("`val`");
                    }
                    let val = self.u32()?;
                    if !self.eat_word("ecr") {
                        return self.err("`ecr`");
                    }
                    Opt::Ts {
                        val,
                        ecr: self.u32()?,
                    }
                }
                "FO" | "FOEXP" => {
                    let mut cookie = Vec::new();
                    if let Some(Tok::Word(w)) = self.peek().cloned() {
                        if !matches!(w.as_str(), "nop" | "eol" | "mss" | "sackOK" | "TS") {
                            self.i += 1;
                            cookie = hex_bytes(&w);
                        }
                    } else if let Some(Tok::Int(n)) = self.peek().cloned() {
                        self.i += 1;
                        cookie = hex_bytes(&n.to_string());
                    }
                    if word == "FO" {
                        Opt::FastOpen(cookie)
                    } else {
                        Opt::FastOpenExp(cookie)
                    }
                }
                "md5" | "ECN" => {
                    let what = if word == "md5" {
                        "the TCP MD5 signature option (RFC 2385)"
                    } else {
                        "the AccECN option"
                    };
                    self.unsupported = Some(what.into());
                    return Ok(Options::Any);
                }
                other => {
                    self.unsupported = Some(format!("TCP option `{other}`"));
                    return Ok(Options::Any);
                }
            };
            v.push(opt);
            if self.eat('>') {
                return Ok(Options::List(v));
            }
            self.expect(',')?;
        }
    }

    fn syscall(&mut self) -> Result<Syscall, String> {
        let mut end = None;
        if self.peek() == Some(&Tok::Ellipsis) {
            self.i += 1;
            end = Some(self.time_value()?);
        }
        let name = match self.next() {
            Some(Tok::Word(w)) => w,
            _ => {
                self.i -= 1;
                return self.err("a system call name");
            }
        };
        self.expect('(')?;
        let args = self.expr_list(')')?;
        self.expect('=')?;
        let ret = self.expr()?;
        let mut errno = None;
        if let Some(Tok::Word(w)) = self.peek() {
            if w.starts_with('E')
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                errno = Some(w.clone());
                self.i += 1;
            }
        }
        let mut note = None;
        if self.eat('(') {
            let mut depth = 1;
            let mut words = Vec::new();
            while let Some(t) = self.next() {
                match t {
                    Tok::Punct('(') => depth += 1,
                    Tok::Punct(')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                words.push(t.to_string());
            }
            note = Some(words.join(" "));
        }
        Ok(Syscall {
            name,
            args,
            end,
            ret,
            errno,
            note,
        })
    }

    fn expr_list(&mut self, close: char) -> Result<Vec<Expr>, String> {
        let mut v = Vec::new();
        if self.eat(close) {
            return Ok(v);
        }
        loop {
            v.push(self.expr()?);
            if self.eat(close) {
                return Ok(v);
            }
            self.expect(',')?;
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let first = self.primary()?;
        if self.peek() != Some(&Tok::Punct('|')) {
            return Ok(first);
        }
        let mut v = vec![first];
        while self.eat('|') {
            v.push(self.primary()?);
        }
        Ok(Expr::Or(v))
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Ellipsis) => Ok(Expr::Ellipsis),
            Some(Tok::Int(v)) => Ok(Expr::Int(v)),
            Some(Tok::Float(v)) => Ok(Expr::Int(v as i64)),
            Some(Tok::Str(s)) => {
                if self.peek() == Some(&Tok::Ellipsis) {
                    self.i += 1;
                }
                Ok(Expr::Str(s))
            }
            Some(Tok::Word(w)) => {
                if self.eat('(') {
                    let args = self.expr_list(')')?;
                    Ok(Expr::Call(w, args))
                } else {
                    Ok(Expr::Word(w))
                }
            }
            Some(Tok::Punct('[')) => Ok(Expr::Array(self.expr_list(']')?)),
            Some(Tok::Punct('{')) => {
                let mut fields = Vec::new();
                if self.eat('}') {
                    return Ok(Expr::Struct(fields));
                }
                loop {
                    let named = matches!(self.peek(), Some(Tok::Word(_)))
                        && self.peek_at(1) == Some(&Tok::Punct('='));
                    if named {
                        let Some(Tok::Word(n)) = self.next() else {
                            unreachable!()
                        };
                        self.i += 1;
                        fields.push((Some(n), self.expr()?));
                    } else {
                        let e = self.expr()?;
                        // `msg_iov(1)=[...]`, `msg_name(...)=...`: a field named with its
                        // length or size in parentheses.
                        match e {
                            Expr::Call(n, _) if self.eat('=') => {
                                fields.push((Some(n), self.expr()?));
                            }
                            e => fields.push((None, e)),
                        }
                    }
                    if self.eat('}') {
                        return Ok(Expr::Struct(fields));
                    }
                    self.expect(',')?;
                }
            }
            _ => {
                self.i -= 1;
                self.err("an expression")
            }
        }
    }
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|k| u8::from_str_radix(&s[2 * k..2 * k + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passive_open() {
        let s = parse(
            "--tolerance_usecs=10000\n\
             0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
             +0 bind(3, ..., ...) = 0\n\
             +0 listen(3, 1) = 0\n\
             +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n\
             +0 > S. 0:0(0) ack 1 <...>\n\
             +.1 < . 1:1(0) ack 1 win 257\n\
             +0...0.2 accept(3, ..., ...) = 4\n\
             +0 connect(4, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
             * > F. 1:1(0) ack 1 <nop,nop,TS val 100 ecr 200,sack 1:2 3:4>\n",
        )
        .unwrap();
        assert_eq!(s.options[0].0, "tolerance_usecs");
        assert_eq!(s.events.len(), 10);
        let Action::Packet(p) = &s.events[4].action else {
            panic!()
        };
        assert_eq!(p.flags, "S");
        assert_eq!(p.win, Some(32792));
        assert_eq!(
            p.options,
            Options::List(vec![
                Opt::Mss(1000),
                Opt::SackOk,
                Opt::Nop,
                Opt::Nop,
                Opt::Nop,
                Opt::Wscale(7)
            ])
        );
        assert_eq!(s.events[6].time, Time::Rel(100_000));
        let Action::Syscall(c) = &s.events[7].action else {
            panic!()
        };
        assert_eq!(c.end, Some(200_000));
        let Action::Syscall(c) = &s.events[8].action else {
            panic!()
        };
        assert_eq!(c.errno.as_deref(), Some("EINPROGRESS"));
        assert_eq!(c.ret, Expr::Int(-1));
        assert_eq!(s.events[9].time, Time::Any);
    }

    #[test]
    fn structs_and_skips() {
        let s = parse(
            "0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1\n\
             0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = 0\n\
             0 > udp (10)\n\
             0 `sysctl -q net.ipv4.tcp_sack=0`\n\
             +0 fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)\n",
        )
        .unwrap();
        assert_eq!(s.events.len(), 5);
        assert!(matches!(s.events[2].action, Action::Unsupported(_)));
        let Action::Syscall(c) = &s.events[1].action else {
            panic!()
        };
        assert!(c.args[1].field("sin_port").is_some());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n0 < Q 0:0(0)\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
