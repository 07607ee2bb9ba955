//! Segments: building inbound packets from a script line, decoding what the stack sent, the
//! sequence-number mapping between script and live values, and the outbound check.
//!
//! Sequence numbers follow packetdrill: a SYN's sequence number is absolute (it *is* the
//! ISN), every other sequence, ACK and SACK number is relative to the ISN of its direction.
//! The remote ISN is whatever the script's SYN says, so the ACK number of a segment carrying
//! SYN is absolute too (`< S 100:100(0)` is answered `> S. 0:0(0) ack 101`); the local ISN is
//! learned from the first SYN the stack sends. An inbound ACK without an `ack` clause carries
//! ACK number 0, relative (the local ISN), as packetdrill builds it. TS ecr values on inbound
//! segments are mapped onto the stack's own TS clock through the first outbound TS val the
//! script names.

use std::net::{IpAddr, SocketAddr};

use synack_wire::{
    IpRepr, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, TcpFlags, TcpOption, TcpOptionIter,
    TcpPacket,
};

use crate::ast::{Ecn, Opt, Options, PacketSpec};

/// Script ↔ live mapping of sequence numbers and timestamps for one connection.
#[derive(Clone, Debug, Default)]
pub struct SeqMap {
    pub local_isn: Option<u32>,
    /// The sequence number the script gave our first SYN.
    pub script_local_isn: u32,
    pub remote_isn: Option<u32>,
    /// (script val, live val) of the first outbound TS option the script spelled out.
    pub ts_anchor: Option<(u32, u32)>,
    /// The latest TS val the stack sent (fallback for ecr mapping).
    pub last_live_tsval: Option<u32>,
}

impl SeqMap {
    fn local_off(&self, syn: bool) -> u32 {
        let isn = self.local_isn.unwrap_or(0);
        if syn {
            isn.wrapping_sub(self.script_local_isn)
        } else {
            isn
        }
    }
    fn remote_off(&self, syn: bool) -> u32 {
        if syn {
            0
        } else {
            self.remote_isn.unwrap_or(0)
        }
    }
    fn ecr_to_live(&self, ecr: u32) -> u32 {
        match (self.ts_anchor, self.last_live_tsval) {
            _ if ecr == 0 => 0,
            (Some((s, l)), _) => ecr.wrapping_sub(s).wrapping_add(l),
            (None, Some(l)) => l,
            (None, None) => ecr,
        }
    }
}

pub fn flags_from_letters(s: &str) -> TcpFlags {
    let mut f = TcpFlags::empty();
    for c in s.chars() {
        f |= match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            '.' => TcpFlags::ACK,
            'U' => TcpFlags::URG,
            'E' => TcpFlags::ECE,
            'W' => TcpFlags::CWR,
            _ => TcpFlags::empty(),
        };
    }
    f
}

fn ecn_bits(e: Option<Ecn>) -> u8 {
    match e {
        None | Some(Ecn::NotEct) => 0,
        Some(Ecn::Ect1) => 1,
        Some(Ecn::Ect0) | Some(Ecn::Ect01) => 2,
        Some(Ecn::Ce) => 3,
    }
}

/// Encode a script's option list as raw bytes, mapping SACK blocks and TS ecr to live values.
pub fn encode_options(opts: &[Opt], map: &SeqMap) -> Result<Vec<u8>, String> {
    let mut b = Vec::new();
    for o in opts {
        match o {
            Opt::Nop => b.push(1),
            Opt::Eol => b.push(0),
            Opt::Mss(m) => b.extend_from_slice(&[2, 4, (m >> 8) as u8, *m as u8]),
            Opt::Wscale(w) => b.extend_from_slice(&[3, 3, *w]),
            Opt::SackOk => b.extend_from_slice(&[4, 2]),
            Opt::Sack(blocks) => {
                b.extend_from_slice(&[5, (2 + 8 * blocks.len()) as u8]);
                let off = map.local_off(false);
                for (l, r) in blocks {
                    b.extend_from_slice(&l.wrapping_add(off).to_be_bytes());
                    b.extend_from_slice(&r.wrapping_add(off).to_be_bytes());
                }
            }
            Opt::Ts { val, ecr } => {
                b.extend_from_slice(&[8, 10]);
                b.extend_from_slice(&val.to_be_bytes());
                b.extend_from_slice(&map.ecr_to_live(*ecr).to_be_bytes());
            }
            Opt::FastOpen(cookie) => {
                b.extend_from_slice(&[34, (2 + cookie.len()) as u8]);
                b.extend_from_slice(cookie);
            }
            Opt::FastOpenExp(cookie) => {
                // RFC 7413 §4.1.1's experimental form: kind 254 with magic 0xF989.
                b.extend_from_slice(&[254, (4 + cookie.len()) as u8, 0xf9, 0x89]);
                b.extend_from_slice(cookie);
            }
        }
    }
    while b.len() % 4 != 0 {
        b.push(0);
    }
    if b.len() > 40 {
        return Err(format!("{} bytes of TCP options (at most 40 fit)", b.len()));
    }
    Ok(b)
}

/// Build the IP packet for an inbound (`<`) script line.
pub fn build_inbound(
    spec: &PacketSpec,
    map: &SeqMap,
    src: SocketAddr,
    dst: SocketAddr,
) -> Result<Vec<u8>, String> {
    let flags = flags_from_letters(&spec.flags);
    let syn = flags.contains(TcpFlags::SYN);
    let opts = match &spec.options {
        Options::List(l) => encode_options(l, map)?,
        _ => Vec::new(),
    };
    let seq = spec.start.wrapping_add(map.remote_off(syn));
    // As packetdrill: with the ACK flag the number is mapped (0 when the line has no `ack`
    // clause); without it, whatever the line says goes on the wire as written.
    let ack = match (flags.contains(TcpFlags::ACK), spec.ack) {
        (true, a) => a.unwrap_or(0).wrapping_add(map.local_off(syn)),
        (false, a) => a.unwrap_or(0),
    };
    let hlen = 20 + opts.len();
    let mut tcp = vec![0u8; hlen + spec.len as usize];
    {
        let mut p = TcpPacket::new_unchecked(&mut tcp[..]);
        p.set_src_port(src.port());
        p.set_dst_port(dst.port());
        p.set_seq_number(seq);
        p.set_ack_number(ack);
        p.set_header_len(hlen);
        p.set_flags(flags);
        p.set_window_len(spec.win.unwrap_or(65535).min(65535) as u16);
        p.set_urgent_at(spec.urg.unwrap_or(0) as u16);
        p.options_mut().copy_from_slice(&opts);
        p.fill_checksum(&src.ip(), &dst.ip());
    }
    let tos = tos_byte(spec.tos, spec.ecn);
    ip_packet(
        src.ip(),
        dst.ip(),
        synack_wire::IPPROTO_TCP,
        tos,
        spec.ttl,
        &tcp,
    )
}

/// The TOS / traffic-class byte of an inbound packet: `(tos 0x..)`, with `[ect0]`-style ECN
/// in its low two bits.
pub fn tos_byte(tos: Option<u8>, ecn: Option<Ecn>) -> u8 {
    let t = tos.unwrap_or(0);
    match ecn {
        Some(_) => (t & !3) | ecn_bits(ecn),
        None => t,
    }
}

/// An IP packet around `payload` (TTL 64 unless the script names one).
pub fn ip_packet(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    tos: u8,
    ttl: Option<u8>,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    let ip = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => IpRepr::V4(Ipv4Repr {
            src_addr: s,
            dst_addr: d,
            protocol,
            payload_len: payload.len(),
            ttl: ttl.unwrap_or(64),
            dscp: tos >> 2,
            ecn: tos & 3,
            ident: 0,
        }),
        (IpAddr::V6(s), IpAddr::V6(d)) => IpRepr::V6(Ipv6Repr {
            src_addr: s,
            dst_addr: d,
            next_header: protocol,
            payload_len: payload.len(),
            hop_limit: ttl.unwrap_or(64),
            traffic_class: tos,
        }),
        _ => return Err("mixed IPv4/IPv6 addresses".into()),
    };
    let mut buf = vec![0u8; ip.buffer_len() + payload.len()];
    let h = ip.buffer_len();
    match ip {
        IpRepr::V4(r) => r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..])),
        IpRepr::V6(r) => r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..])),
    }
    buf[h..].copy_from_slice(payload);
    Ok(buf)
}

/// A segment the stack sent, decoded.
#[derive(Clone, Debug)]
pub struct Actual {
    pub time: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    pub urg: u16,
    pub len: u32,
    pub ecn: u8,
    /// The whole TOS / traffic-class byte, ECN bits included.
    pub tos: u8,
    pub ttl: u8,
    /// Options in wire order, trailing EOL padding removed.
    pub options: Vec<TcpOption<'static>>,
}

fn own(o: TcpOption<'_>) -> TcpOption<'static> {
    match o {
        TcpOption::EndOfList => TcpOption::EndOfList,
        TcpOption::NoOperation => TcpOption::NoOperation,
        TcpOption::MaxSegmentSize(m) => TcpOption::MaxSegmentSize(m),
        TcpOption::WindowScale(w) => TcpOption::WindowScale(w),
        TcpOption::SackPermitted => TcpOption::SackPermitted,
        TcpOption::SackRange(b) => TcpOption::SackRange(b),
        TcpOption::Timestamps { tsval, tsecr } => TcpOption::Timestamps { tsval, tsecr },
        TcpOption::Unknown { kind, .. } => TcpOption::Unknown { kind, data: &[] },
    }
}

impl Actual {
    pub fn parse(time: u64, raw: &[u8]) -> Option<Actual> {
        let synack_wire::Packet::Tcp(ip, tcp) = synack_wire::parse_ip(raw).ok()? else {
            return None;
        };
        let hlen = ip.buffer_len();
        let p = TcpPacket::new_checked(raw.get(hlen..)?).ok()?;
        let mut options: Vec<_> = TcpOptionIter::new(p.options())
            .filter_map(Result::ok)
            .map(own)
            .collect();
        while options.last() == Some(&TcpOption::EndOfList) {
            options.pop();
        }
        let (tos, ttl) = match ip {
            IpRepr::V4(r) => ((r.dscp << 2) | (r.ecn & 3), r.ttl),
            IpRepr::V6(r) => (r.traffic_class, r.hop_limit),
        };
        let ecn = tos & 3;
        Some(Actual {
            time,
            src: SocketAddr::new(ip.src_addr(), tcp.src_port),
            dst: SocketAddr::new(ip.dst_addr(), tcp.dst_port),
            flags: tcp.flags,
            seq: tcp.seq_number,
            ack: tcp.ack_number,
            win: tcp.window_len,
            urg: tcp.urgent_pointer,
            len: tcp.payload.len() as u32,
            ecn,
            tos,
            ttl,
            options,
        })
    }

    pub fn seq_len(&self) -> u32 {
        self.len
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }

    /// Script-space sequence number.
    pub fn script_seq(&self, map: &SeqMap) -> u32 {
        let syn = self.flags.contains(TcpFlags::SYN);
        self.seq.wrapping_sub(map.local_off(syn))
    }

    /// Script-space ACK number: absolute on a segment carrying SYN (the remote ISN is the
    /// script's own), relative otherwise.
    pub fn script_ack(&self, map: &SeqMap) -> u32 {
        let syn = self.flags.contains(TcpFlags::SYN);
        self.ack.wrapping_sub(map.remote_off(syn))
    }

    /// The segment in script notation, e.g. `S. 0:0(0) ack 1 win 65535 <mss 1460,...>`.
    pub fn render(&self, map: &SeqMap) -> String {
        let s = self.script_seq(map);
        let mut out = format!(
            "{} {}:{}({})",
            self.flags.letters(),
            s,
            s.wrapping_add(self.len),
            self.len
        );
        if self.flags.contains(TcpFlags::ACK) {
            out += &format!(" ack {}", self.script_ack(map));
        }
        out += &format!(" win {}", self.win);
        if self.flags.contains(TcpFlags::URG) {
            out += &format!(" urg {}", self.urg);
        }
        if !self.options.is_empty() {
            let v: Vec<String> = self.options.iter().map(|o| render_opt(o, map)).collect();
            out += &format!(" <{}>", v.join(","));
        }
        out
    }
}

fn render_opt(o: &TcpOption<'_>, map: &SeqMap) -> String {
    match o {
        TcpOption::EndOfList => "eol".into(),
        TcpOption::NoOperation => "nop".into(),
        TcpOption::MaxSegmentSize(m) => format!("mss {m}"),
        TcpOption::WindowScale(w) => format!("wscale {w}"),
        TcpOption::SackPermitted => "sackOK".into(),
        TcpOption::SackRange(b) => {
            let off = map.remote_off(false);
            let v: Vec<String> = b
                .iter()
                .map(|(l, r)| format!("{}:{}", l.wrapping_sub(off), r.wrapping_sub(off)))
                .collect();
            format!("sack {}", v.join(" "))
        }
        TcpOption::Timestamps { tsval, tsecr } => {
            let val = match map.ts_anchor {
                Some((s, l)) => tsval.wrapping_sub(l).wrapping_add(s),
                None => *tsval,
            };
            format!("TS val {val} ecr {tsecr}")
        }
        TcpOption::Unknown { kind, .. } => format!("kind-{kind}"),
    }
}

/// Render a script packet line (for failure output), e.g. `S. 0:0(0) ack 1 <...>`.
pub fn render_spec(spec: &PacketSpec) -> String {
    let mut out = format!("{} {}:{}({})", spec.flags, spec.start, spec.end, spec.len);
    if let Some(a) = spec.ack {
        out += &format!(" ack {a}");
    }
    if let Some(w) = spec.win {
        out += &format!(" win {w}");
    }
    if let Some(u) = spec.urg {
        out += &format!(" urg {u}");
    }
    match &spec.options {
        Options::Unspecified => {}
        Options::Any => out += " <...>",
        Options::List(l) => {
            let v: Vec<String> = l
                .iter()
                .map(|o| match o {
                    Opt::Nop => "nop".into(),
                    Opt::Eol => "eol".into(),
                    Opt::Mss(m) => format!("mss {m}"),
                    Opt::Wscale(w) => format!("wscale {w}"),
                    Opt::SackOk => "sackOK".into(),
                    Opt::Sack(b) => {
                        let v: Vec<String> = b.iter().map(|(l, r)| format!("{l}:{r}")).collect();
                        format!("sack {}", v.join(" "))
                    }
                    Opt::Ts { val, ecr } => format!("TS val {val} ecr {ecr}"),
                    Opt::FastOpen(_) => "FO".into(),
                    Opt::FastOpenExp(_) => "FOEXP".into(),
                })
                .collect();
            out += &format!(" <{}>", v.join(","));
        }
    }
    out
}

/// How strictly outbound segments are compared.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    pub relaxed: bool,
    /// `--tcp_ts_tick_usecs`: check outbound TS val against the script (else ignore it).
    pub ts_tick_usecs: Option<u64>,
    pub tolerance_usecs: u64,
}

/// Compare an outbound segment with the script. Learns the local ISN from the first SYN and
/// the TS anchor from the first spelled-out TS option. Returns the mismatches.
pub fn check_outbound(
    spec: &PacketSpec,
    act: &Actual,
    map: &mut SeqMap,
    chk: Check,
) -> Vec<String> {
    let mut bad = Vec::new();
    let want = flags_from_letters(&spec.flags);
    // An ECN-setup SYN's E/W letters and PSH placement are checked like any other flag.
    if want != act.flags {
        bad.push(format!(
            "flags: expected {} got {}",
            spec.flags,
            act.flags.letters()
        ));
    }
    // The first SYN of a connection names its ISN. As in packetdrill, a SYN-ACK that opens a
    // new incarnation from TIME-WAIT keeps the old mapping (a retransmitted SYN has the ISN
    // already known; a new connection or child starts from an empty map).
    if act.flags.contains(TcpFlags::SYN) && map.local_isn.is_none() {
        map.local_isn = Some(act.seq);
        map.script_local_isn = spec.start;
    }
    let seq = act.script_seq(map);
    if seq != spec.start {
        bad.push(format!("seq: expected {} got {}", spec.start, seq));
    }
    if act.len != spec.len {
        bad.push(format!("length: expected {} got {}", spec.len, act.len));
    }
    if let Some(a) = spec.ack {
        if !act.flags.contains(TcpFlags::ACK) {
            bad.push(format!("ack: expected {a}, the segment has no ACK"));
        } else if act.script_ack(map) != a {
            bad.push(format!("ack: expected {} got {}", a, act.script_ack(map)));
        }
    }
    if let Some(u) = spec.urg {
        if u32::from(act.urg) != u {
            bad.push(format!("urg: expected {u} got {}", act.urg));
        }
    }
    if let Some(e) = spec.ecn {
        let ok = match e {
            Ecn::Ect01 => act.ecn == 1 || act.ecn == 2,
            _ => act.ecn == ecn_bits(Some(e)),
        };
        if !ok {
            bad.push(format!("ip ecn: expected {e:?} got {}", act.ecn));
        }
    }
    if let Some(t) = spec.tos {
        if act.tos != t {
            bad.push(format!("ip tos: expected {t:#04x} got {:#04x}", act.tos));
        }
    }
    if let Some(t) = spec.ttl {
        if act.ttl != t {
            bad.push(format!("ip ttl: expected {t} got {}", act.ttl));
        }
    }
    // Learn the TS anchor whatever the mode, so inbound ecr values map correctly.
    let act_ts = act.options.iter().find_map(|o| match o {
        TcpOption::Timestamps { tsval, .. } => Some(*tsval),
        _ => None,
    });
    if let Options::List(l) = &spec.options {
        let script_ts = l.iter().find_map(|o| match o {
            Opt::Ts { val, .. } => Some(*val),
            _ => None,
        });
        if let (None, Some(s), Some(a)) = (map.ts_anchor, script_ts, act_ts) {
            map.ts_anchor = Some((s, a));
        }
    }
    if act_ts.is_some() {
        map.last_live_tsval = act_ts;
    }
    if chk.relaxed {
        return bad;
    }
    if let Some(w) = spec.win {
        if u32::from(act.win) != w {
            bad.push(format!("win: expected {w} got {}", act.win));
        }
    }
    if let Options::List(l) = &spec.options {
        let mut script: Vec<&Opt> = l.iter().collect();
        while script.last() == Some(&&Opt::Eol) {
            script.pop();
        }
        if script.len() != act.options.len() {
            bad.push(format!(
                "options: expected {} option(s) got {}",
                script.len(),
                act.options.len()
            ));
        } else {
            for (i, (s, a)) in script.iter().zip(&act.options).enumerate() {
                if let Some(m) = option_mismatch(s, a, map, chk) {
                    bad.push(format!("option {}: {m}", i + 1));
                }
            }
        }
    }
    bad
}

fn option_mismatch(s: &Opt, a: &TcpOption<'_>, map: &SeqMap, chk: Check) -> Option<String> {
    let ok = match (s, a) {
        (Opt::Nop, TcpOption::NoOperation) | (Opt::Eol, TcpOption::EndOfList) => true,
        (Opt::SackOk, TcpOption::SackPermitted) => true,
        (Opt::Mss(x), TcpOption::MaxSegmentSize(y)) => x == y,
        (Opt::Wscale(x), TcpOption::WindowScale(y)) => x == y,
        (Opt::Sack(x), TcpOption::SackRange(y)) => {
            let off = map.remote_off(false);
            x.len() == y.len()
                && x.iter().zip(y.iter()).all(|(&(l, r), (al, ar))| {
                    l == al.wrapping_sub(off) && r == ar.wrapping_sub(off)
                })
        }
        (Opt::Ts { val, ecr }, TcpOption::Timestamps { tsval, tsecr }) => {
            let val_ok = match (chk.ts_tick_usecs, map.ts_anchor) {
                (Some(tick), Some((s0, l0))) => {
                    let want = i64::from(val.wrapping_sub(s0) as i32);
                    let got = i64::from(tsval.wrapping_sub(l0) as i32);
                    let slack = (chk.tolerance_usecs / tick.max(1)) as i64 + 1;
                    (want - got).abs() <= slack
                }
                _ => true,
            };
            val_ok && ecr == tsecr
        }
        _ => false,
    };
    if ok {
        None
    } else {
        Some(format!(
            "expected {} got {}",
            render_spec_opt(s),
            render_opt(a, map)
        ))
    }
}

fn render_spec_opt(o: &Opt) -> String {
    let spec = PacketSpec {
        dir: crate::ast::Dir::Out,
        ecn: None,
        tos: None,
        ttl: None,
        flags: String::new(),
        start: 0,
        end: 0,
        len: 0,
        ack: None,
        win: None,
        urg: None,
        options: Options::List(vec![o.clone()]),
    };
    let r = render_spec(&spec);
    let a = r.find('<').map_or(0, |i| i + 1);
    r[a..r.len() - 1].to_string()
}
