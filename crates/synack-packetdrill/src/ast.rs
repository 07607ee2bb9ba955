//! The parsed form of a packetdrill script.

/// When an event happens. Times are microseconds; relative times are relative to the
/// previous event (for a blocking call, to its start).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Time {
    Abs(i64),
    Rel(i64),
    /// `*`: any time.
    Any,
    AbsRange(i64, i64),
    RelRange(i64, i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `<`: the remote side sends it to the stack under test.
    In,
    /// `>`: the stack under test must send it.
    Out,
}

/// A TCP option as written in a script.
#[derive(Clone, Debug, PartialEq)]
pub enum Opt {
    Nop,
    Eol,
    Mss(u16),
    Wscale(u8),
    SackOk,
    Sack(Vec<(u32, u32)>),
    Ts {
        val: u32,
        ecr: u32,
    },
    /// `FO` (TCP Fast Open cookie, RFC 7413, kind 34), kept as raw bytes; synack does not do
    /// TFO.
    FastOpen(Vec<u8>),
    /// `FOEXP`: the experimental Fast Open option (kind 254, magic 0xF989) with its cookie.
    FastOpenExp(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Options {
    /// No `<...>` list: outbound options are not checked; inbound carries none.
    Unspecified,
    /// `<...>`: any options.
    Any,
    List(Vec<Opt>),
}

/// `[ect0]` and friends: the IP ECN field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ecn {
    NotEct,
    Ect0,
    Ect1,
    /// `ect01`: either ECT codepoint.
    Ect01,
    Ce,
}

/// `(tos 0x..)`, `[ect0]`, `(ttl 3)`, `(flowlabel 0x..)`: what the script says of the IP
/// header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpInfo {
    /// The ECN codepoint alone (`[ect0]`, `[ce]`, …): checked on outbound packets.
    pub ecn: Option<Ecn>,
    /// The whole TOS / traffic-class byte (`tos 0x..`): checked on outbound packets.
    pub tos: Option<u8>,
    pub ttl: Option<u8>,
    pub flow_label: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PacketSpec {
    pub dir: Dir,
    pub ecn: Option<Ecn>,
    /// The TOS byte and TTL, where the script gives them (`(tos 0x20)`, `(ttl 4)`).
    pub tos: Option<u8>,
    pub ttl: Option<u8>,
    /// Flag letters as written, e.g. "S.", "P.", "-".
    pub flags: String,
    pub start: u32,
    pub end: u32,
    pub len: u32,
    pub ack: Option<u32>,
    pub win: Option<u32>,
    pub urg: Option<u32>,
    pub options: Options,
}

/// An argument or return value of a system call.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Ellipsis,
    Int(i64),
    Word(String),
    Str(String),
    /// `a|b|c`.
    Or(Vec<Expr>),
    /// `[1]`, `[{fd=3, ...}]`.
    Array(Vec<Expr>),
    /// `{name=value, ...}` (sockaddr, pollfd, linger, tcp_info …); positional fields have no
    /// name.
    Struct(Vec<(Option<String>, Expr)>),
    /// `htons(8080)`, `inet_addr("192.0.2.1")`.
    Call(String, Vec<Expr>),
}

impl Expr {
    pub fn int(&self) -> Option<i64> {
        match self {
            Expr::Int(v) => Some(*v),
            Expr::Array(v) if v.len() == 1 => v[0].int(),
            _ => None,
        }
    }

    pub fn field(&self, name: &str) -> Option<&Expr> {
        match self {
            Expr::Struct(fields) => fields
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name))
                .map(|(_, e)| e),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Syscall {
    pub name: String,
    pub args: Vec<Expr>,
    /// End time of a blocking call (`start...end`), already resolved against the start's
    /// time kind: absolute, or relative to the same base as the start.
    pub end: Option<i64>,
    pub ret: Expr,
    pub errno: Option<String>,
    pub note: Option<String>,
}

/// The TCP segment an ICMP error quotes (`[1:1001(1000)]`): local sequence numbers, relative
/// like every non-SYN sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    pub start: u32,
    pub len: u32,
}

/// An ICMP or ICMPv6 packet: `< icmp unreachable port_unreachable [1:1(0)]`,
/// `< icmp unreachable frag_needed mtu 1200 [...]`, `< icmp packet_too_big mtu 1280`,
/// `> icmp echo_reply`. Type and code are kept as written and resolved for the script's IP
/// version when the packet is built or checked.
#[derive(Clone, Debug, PartialEq)]
pub struct IcmpSpec {
    pub dir: Dir,
    pub ip: IpInfo,
    pub icmp_type: String,
    pub code: Option<String>,
    pub mtu: Option<u32>,
    pub id: Option<u16>,
    /// The quoted TCP segment; without one, sequence number 0 (the local ISN) is quoted.
    pub quoted: Option<Quoted>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Packet(PacketSpec),
    Icmp(IcmpSpec),
    Syscall(Syscall),
    /// A backquoted shell command: reported and skipped.
    Command(String),
    /// A `%{ }%` code block: reported and skipped.
    Code(String),
    /// A construct the runner cannot run (a UDP or SCTP packet, an MD5 option, UDP
    /// encapsulation, …): the script stops there with `unsupported: …`, it never passes.
    Unsupported(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub line: usize,
    pub time: Time,
    pub action: Action,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    /// Leading `--name=value` lines, with their line numbers.
    pub options: Vec<(String, Option<String>, usize)>,
    /// A leading backquoted init command, if any.
    pub init_command: Option<(String, usize)>,
    pub events: Vec<Event>,
}
