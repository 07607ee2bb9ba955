//! From captured frames to TCP segments, and from segments to connections.
//!
//! Captures are not what a stack sends: a segment captured on the host that sends it often has
//! a checksum the NIC (or, on loopback, nobody) fills in later, and a snapshot length may cut
//! the payload short. Both are repaired so the segment parses with `synack_wire::parse_ip`: the
//! checksums are recomputed (and the segment marked `bad_checksum`), and a cut payload is
//! padded with zeros to its length on the wire (marked `truncated`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use synack_wire::{parse_ip, Error, Ipv4Packet, Packet, TcpPacket, IPPROTO_TCP};

use crate::pcap::{ip_payload, Frame};

/// A TCP segment from a capture.
#[derive(Clone, Debug)]
pub struct CapturedSegment {
    /// Frame number in the file (1-based).
    pub frame: u64,
    /// Capture time in nanoseconds since the epoch.
    pub ts_ns: u64,
    /// Source and destination.
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Window as on the wire (unscaled).
    pub win: u16,
    /// Payload length on the wire.
    pub len: u32,
    /// Window scale option (SYNs).
    pub wscale: Option<u8>,
    /// SACK blocks.
    pub sack: Vec<(u32, u32)>,
    /// The IP packet, repaired so it parses (see the module docs).
    pub packet: Vec<u8>,
    /// The checksums as captured were wrong (usual for outgoing packets with offload).
    pub bad_checksum: bool,
    /// The capture cut the payload short.
    pub truncated: bool,
}

pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const RST: u8 = 0x04;
pub(crate) const ACK: u8 = 0x10;

impl CapturedSegment {
    /// Sequence space used: payload plus one for SYN and one for FIN.
    pub fn seg_len(&self) -> u32 {
        self.len + u32::from(self.flags & SYN != 0) + u32::from(self.flags & FIN != 0)
    }
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// Lengths the IP header claims: (header length, whole datagram length); `None` when the
/// bytes are not IPv4/IPv6 carrying TCP directly.
fn ip_lengths(ip: &[u8]) -> Option<(usize, usize)> {
    match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes(ip.get(2..4)?.try_into().ok()?));
            (*ip.get(9)? == IPPROTO_TCP && ihl >= 20 && total >= ihl).then_some((ihl, total))
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes(ip.get(4..6)?.try_into().ok()?));
            (*ip.get(6)? == IPPROTO_TCP).then_some((40, 40 + plen))
        }
        _ => None,
    }
}

/// Recompute the IPv4 header checksum and the TCP checksum in place.
fn fix_checksums(buf: &mut [u8], ihl: usize) {
    let (src, dst) = match buf.first().map(|b| b >> 4) {
        Some(4) => {
            let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
            p.fill_checksum();
            (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()))
        }
        _ => {
            let a: [u8; 16] = buf[8..24].try_into().unwrap_or([0; 16]);
            let b: [u8; 16] = buf[24..40].try_into().unwrap_or([0; 16]);
            (IpAddr::from(a), IpAddr::from(b))
        }
    };
    if let Some(seg) = buf.get_mut(ihl..) {
        if seg.len() >= 20 {
            TcpPacket::new_unchecked(seg).fill_checksum(&src, &dst);
        }
    }
}

/// The TCP segment in a frame, or `None` (not IP, not TCP, or malformed beyond repair).
pub fn decode(frame: &Frame) -> Option<CapturedSegment> {
    let ip = ip_payload(frame.linktype, &frame.data)?;
    let (ihl, total) = ip_lengths(ip)?;
    // Padding after the datagram (Ethernet minimum frame) is dropped; a short capture is padded.
    let mut buf = ip.get(..total.min(ip.len()))?.to_vec();
    let truncated = buf.len() < total;
    if truncated {
        if buf.len() < ihl + 20 {
            return None; // not even the TCP header
        }
        buf.resize(total, 0);
    }
    let mut bad_checksum = false;
    match parse_ip(&buf) {
        Ok(_) if !truncated => {}
        Err(Error::BadChecksum) | Ok(_) => {
            bad_checksum = !truncated;
            fix_checksums(&mut buf, ihl);
        }
        Err(_) => return None,
    }
    let Ok(Packet::Tcp(iprepr, tcp)) = parse_ip(&buf) else {
        return None;
    };
    let src = SocketAddr::new(iprepr.src_addr(), tcp.src_port);
    let dst = SocketAddr::new(iprepr.dst_addr(), tcp.dst_port);
    let seg = CapturedSegment {
        frame: frame.number,
        ts_ns: frame.ts_ns,
        src,
        dst,
        seq: tcp.seq_number,
        ack: tcp.ack_number,
        flags: tcp.flags.0,
        win: tcp.window_len,
        len: tcp.payload.len() as u32,
        wscale: tcp.options.window_scale,
        sack: tcp.options.sack_blocks.iter().collect(),
        packet: Vec::new(),
        bad_checksum,
        truncated,
    };
    Some(CapturedSegment { packet: buf, ..seg })
}

/// One TCP connection found in a capture: its segments in capture order.
#[derive(Clone, Debug)]
pub struct Connection {
    /// 1-based, in order of first appearance.
    pub id: usize,
    /// The side that opened it (sent the first SYN), else the sender of the first segment seen.
    pub a: SocketAddr,
    /// The other side.
    pub b: SocketAddr,
    pub segments: Vec<CapturedSegment>,
}

fn key(s: &CapturedSegment) -> (SocketAddr, SocketAddr) {
    if s.src <= s.dst {
        (s.src, s.dst)
    } else {
        (s.dst, s.src)
    }
}

/// Group segments by 4-tuple. A SYN (without ACK) from a side that had already sent something
/// else on the 4-tuple starts a new connection (a port reused after the close); a retransmitted
/// SYN (same sequence number) does not, nor does the other side's SYN in a simultaneous open.
pub fn connections(segs: Vec<CapturedSegment>) -> Vec<Connection> {
    let mut conns: Vec<Connection> = Vec::new();
    let mut current: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for s in segs {
        let k = key(&s);
        let fresh_syn = s.flags & (SYN | ACK) == SYN;
        let idx = match current.get(&k) {
            Some(&i) => {
                let c = &conns[i];
                // Anything this side sent before, other than this very SYN, means the SYN
                // opens a new connection (a SYN from the other side is a simultaneous open).
                let new = fresh_syn
                    && c.segments.iter().any(|o| {
                        o.src == s.src && !(o.flags & (SYN | ACK) == SYN && o.seq == s.seq)
                    });
                (!new).then_some(i)
            }
            None => None,
        };
        let idx = match idx {
            Some(i) => i,
            None => {
                conns.push(Connection {
                    id: conns.len() + 1,
                    a: s.src,
                    b: s.dst,
                    segments: Vec::new(),
                });
                current.insert(k, conns.len() - 1);
                conns.len() - 1
            }
        };
        let c = &mut conns[idx];
        // A connection first seen mid-handshake from the SYN-ACK: its opener is the other side.
        if c.segments.is_empty() && s.flags & (SYN | ACK) == SYN | ACK {
            c.a = s.dst;
            c.b = s.src;
        }
        c.segments.push(s);
    }
    conns
}

/// A `--filter` expression: whitespace-separated terms that must all hold; each is an address
/// (`10.0.0.1`, `::1`), `port N`, `host ADDR`, or an endpoint `ADDR:PORT` / `[V6]:PORT`.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

#[derive(Clone, Debug)]
enum Term {
    Addr(IpAddr),
    Port(u16),
    Endpoint(SocketAddr),
}

impl Filter {
    /// Parse; an error names the term that did not parse.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut terms = Vec::new();
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            let t = match w {
                "port" => {
                    let p = words.next().ok_or("`port` needs a number")?;
                    Term::Port(p.parse().map_err(|_| format!("bad port {p:?}"))?)
                }
                "host" => {
                    let a = words.next().ok_or("`host` needs an address")?;
                    Term::Addr(a.parse().map_err(|_| format!("bad address {a:?}"))?)
                }
                "and" | "&&" => continue,
                _ => {
                    if let Ok(a) = w.parse::<IpAddr>() {
                        Term::Addr(a)
                    } else if let Ok(e) = w.parse::<SocketAddr>() {
                        Term::Endpoint(e)
                    } else if let Some(p) = w.strip_prefix(':').and_then(|p| p.parse().ok()) {
                        Term::Port(p)
                    } else {
                        return Err(format!(
                            "cannot read filter term {w:?} (try `10.0.0.1`, `port 80`, `10.0.0.1:80`)"
                        ));
                    }
                }
            };
            terms.push(t);
        }
        Ok(Filter { terms })
    }

    /// Does the connection between `a` and `b` match every term?
    pub fn matches(&self, a: SocketAddr, b: SocketAddr) -> bool {
        self.terms.iter().all(|t| match t {
            Term::Addr(x) => a.ip() == *x || b.ip() == *x,
            Term::Port(p) => a.port() == *p || b.port() == *p,
            Term::Endpoint(e) => a == *e || b == *e,
        })
    }
}
