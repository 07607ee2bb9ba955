//! ICMP and ICMPv6 lines: `< icmp unreachable port_unreachable [1:1(0)]` builds an error
//! that quotes one of the stack's own segments (so the stack can match it to the
//! connection, RFC 9293 §3.9.2.2 / RFC 5927); `> icmp echo_reply` checks an ICMP message
//! the stack sent.
//!
//! Names are packetdrill's (its ICMP type and code tables, plus the FreeBSD suite's names
//! for time-exceeded codes), or `type_N` / `code_N`. As in packetdrill, the quoted segment
//! is an IP header from the local to the remote address and the first 8 bytes of a TCP
//! header: the connection's ports and the quoted sequence number, relative to the local ISN
//! (without a `[start:end(len)]`, sequence number 0: the ISN itself).

use std::net::{IpAddr, SocketAddr};

use synack_wire::checksum;

use crate::ast::IcmpSpec;
use crate::packets::{ip_packet, tos_byte, SeqMap};

const V4_UNREACHABLE: &[(&str, u8)] = &[
    ("net_unreachable", 0),
    ("host_unreachable", 1),
    ("protocol_unreachable", 2),
    ("port_unreachable", 3),
    ("frag_needed", 4),
    ("source_route_failed", 5),
    ("net_unknown", 6),
    ("host_unknown", 7),
    ("source_host_isolated", 8),
    ("net_prohibited", 9),
    ("host_prohibited", 10),
    ("net_unreachable_for_tos", 11),
    ("host_unreachable_for_tos", 12),
    ("packet_filtered", 13),
    ("precedence_violation", 14),
    ("precedence_cutoff", 15),
];
const V4_TIME_EXCEEDED: &[(&str, u8)] =
    &[("ttl_exceeded_in_transit", 0), ("frag_reass_exceeded", 1)];
/// (name, number) of the codes of one type.
type Codes = &'static [(&'static str, u8)];

const V4_TYPES: &[(&str, u8, Codes)] = &[
    ("echo_reply", 0, &[]),
    ("unreachable", 3, V4_UNREACHABLE),
    ("source_quench", 4, &[]),
    ("redirect", 5, &[]),
    ("echo_request", 8, &[]),
    ("time_exceeded", 11, V4_TIME_EXCEEDED),
    ("parameter_problem", 12, &[]),
    ("timestamp_request", 13, &[]),
    ("timestamp_reply", 14, &[]),
    ("information_request", 15, &[]),
    ("information_reply", 16, &[]),
    ("address_mask_request", 17, &[]),
    ("address_mask_reply", 18, &[]),
];
const V6_UNREACHABLE: &[(&str, u8)] = &[
    ("net_unreachable", 0),
    ("no_route", 0),
    ("admin_prohibited", 1),
    ("not_neighbour", 2),
    ("address_unreachable", 3),
    ("port_unreachable", 4),
];
const V6_TIME_EXCEEDED: &[(&str, u8)] = &[("exceeded_hop_limit", 0), ("exceeded_frag_time", 1)];
const V6_PARAM: &[(&str, u8)] = &[
    ("header_field", 0),
    ("unknown_next_header", 1),
    ("unknown_option", 2),
];
const V6_TYPES: &[(&str, u8, Codes)] = &[
    ("unreachable", 1, V6_UNREACHABLE),
    ("packet_too_big", 2, &[]),
    ("time_exceeded", 3, V6_TIME_EXCEEDED),
    ("parameter_problem", 4, V6_PARAM),
    ("echo_request", 128, &[]),
    ("echo_reply", 129, &[]),
];

/// Resolve a line's type and code names for the IP version.
pub fn type_and_code(spec: &IcmpSpec, v6: bool) -> Result<(u8, u8), String> {
    let table = if v6 { V6_TYPES } else { V4_TYPES };
    let ver = if v6 { "ICMPv6" } else { "ICMPv4" };
    let numbered =
        |s: &str, prefix: &str| s.strip_prefix(prefix).and_then(|n| n.parse::<u8>().ok());
    let (ty, codes) = match numbered(&spec.icmp_type, "type_") {
        Some(t) => (t, &[][..]),
        None => table
            .iter()
            .find(|(n, _, _)| *n == spec.icmp_type)
            .map(|(_, t, c)| (*t, *c))
            .ok_or_else(|| format!("unknown {ver} type `{}`", spec.icmp_type))?,
    };
    let code = match &spec.code {
        None => 0,
        Some(c) => match numbered(c, "code_") {
            Some(n) => n,
            None => codes
                .iter()
                .find(|(n, _)| n == c)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("unknown {ver} code `{c}` for type `{}`", spec.icmp_type))?,
        },
    };
    if spec.mtu.is_some() {
        let ok = if v6 { ty == 2 } else { ty == 3 && code == 4 };
        if !ok {
            return Err(format!(
                "an MTU belongs to {}",
                if v6 {
                    "`packet_too_big`"
                } else {
                    "`unreachable frag_needed`"
                }
            ));
        }
    }
    Ok((ty, code))
}

fn is_echo(v6: bool, ty: u8) -> bool {
    if v6 {
        ty == 128 || ty == 129
    } else {
        ty == 0 || ty == 8
    }
}

/// Build the inbound ICMP packet of a `<` line for the connection `local`–`remote`. It comes
/// from the remote address, as a router on the path would send it.
pub fn build_inbound(
    spec: &IcmpSpec,
    map: &SeqMap,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Vec<u8>, String> {
    let v6 = local.is_ipv6();
    let (ty, code) = type_and_code(spec, v6)?;
    let mut msg = vec![ty, code, 0, 0, 0, 0, 0, 0];
    if let Some(m) = spec.mtu {
        if v6 {
            msg[4..8].copy_from_slice(&m.to_be_bytes());
        } else {
            msg[6..8].copy_from_slice(&(m.min(65535) as u16).to_be_bytes());
        }
    }
    if let Some(id) = spec.id {
        msg[4..6].copy_from_slice(&id.to_be_bytes());
    }
    if !is_echo(v6, ty) {
        let (start, len) = spec.quoted.map_or((0, 0), |q| (q.start, q.len));
        // A non-SYN local sequence number: relative to the local ISN.
        let seq = start.wrapping_add(map.local_isn.unwrap_or(0));
        let tcp_len = 20 + len as usize;
        let mut tcp8 = [0u8; 8];
        tcp8[0..2].copy_from_slice(&local.port().to_be_bytes());
        tcp8[2..4].copy_from_slice(&remote.port().to_be_bytes());
        tcp8[4..8].copy_from_slice(&seq.to_be_bytes());
        // The quoted datagram claims the length of the whole segment, as the original did.
        let mut quoted = ip_packet(
            local.ip(),
            remote.ip(),
            synack_wire::IPPROTO_TCP,
            0,
            None,
            &[0; 20],
        )?;
        let hl = quoted.len() - 20;
        quoted.truncate(hl);
        if v6 {
            quoted[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        } else {
            quoted[2..4].copy_from_slice(&((hl + tcp_len) as u16).to_be_bytes());
            quoted[10..12].copy_from_slice(&[0, 0]);
            let sum = checksum::combine(&[checksum::sum(&quoted)]);
            quoted[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        msg.extend_from_slice(&quoted);
        msg.extend_from_slice(&tcp8);
    }
    let (proto, pseudo) = if v6 {
        let p = checksum::pseudo_header(
            &remote.ip(),
            &local.ip(),
            synack_wire::IPPROTO_ICMPV6,
            msg.len() as u32,
        );
        (synack_wire::IPPROTO_ICMPV6, Some(p))
    } else {
        (synack_wire::IPPROTO_ICMP, None)
    };
    let sum = match pseudo {
        Some(p) => checksum::combine(&[p, checksum::sum(&msg)]),
        None => checksum::combine(&[checksum::sum(&msg)]),
    };
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    let tos = tos_byte(spec.ip.tos, spec.ip.ecn);
    ip_packet(remote.ip(), local.ip(), proto, tos, spec.ip.ttl, &msg)
}

/// An ICMP message the stack sent.
#[derive(Clone, Debug)]
pub struct IcmpActual {
    pub time: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub v6: bool,
    pub icmp_type: u8,
    pub code: u8,
    /// Bytes 4..8 of the message (MTU, echo identifier and sequence number).
    pub rest: [u8; 4],
}

impl IcmpActual {
    /// Decode an ICMP or ICMPv6 packet; `None` for anything else.
    pub fn parse(time: u64, raw: &[u8]) -> Option<IcmpActual> {
        let (src, dst, v6, msg) = match raw.first()? >> 4 {
            4 => {
                let hl = usize::from(raw.first()? & 0xf) * 4;
                if raw.get(9)? != &synack_wire::IPPROTO_ICMP {
                    return None;
                }
                let s: [u8; 4] = raw.get(12..16)?.try_into().ok()?;
                let d: [u8; 4] = raw.get(16..20)?.try_into().ok()?;
                (IpAddr::from(s), IpAddr::from(d), false, raw.get(hl..)?)
            }
            6 => {
                if raw.get(6)? != &synack_wire::IPPROTO_ICMPV6 {
                    return None;
                }
                let s: [u8; 16] = raw.get(8..24)?.try_into().ok()?;
                let d: [u8; 16] = raw.get(24..40)?.try_into().ok()?;
                (IpAddr::from(s), IpAddr::from(d), true, raw.get(40..)?)
            }
            _ => return None,
        };
        Some(IcmpActual {
            time,
            src,
            dst,
            v6,
            icmp_type: *msg.first()?,
            code: *msg.get(1)?,
            rest: msg.get(4..8)?.try_into().ok()?,
        })
    }

    pub fn render(&self) -> String {
        let table = if self.v6 { V6_TYPES } else { V4_TYPES };
        let (ty, codes) = table.iter().find(|(_, t, _)| *t == self.icmp_type).map_or(
            (format!("type_{}", self.icmp_type), &[][..]),
            |(n, _, c)| (n.to_string(), *c),
        );
        let code = codes
            .iter()
            .find(|(_, c)| *c == self.code)
            .map_or(format!("code_{}", self.code), |(n, _)| n.to_string());
        format!("icmp {ty} {code}")
    }

    /// Compare with a `>` line; the mismatches.
    pub fn check(&self, spec: &IcmpSpec) -> Vec<String> {
        let mut bad = Vec::new();
        match type_and_code(spec, self.v6) {
            Err(e) => bad.push(e),
            Ok((ty, code)) => {
                if (ty, code) != (self.icmp_type, self.code) {
                    bad.push(format!(
                        "icmp type/code: expected {ty}/{code} got {}/{}",
                        self.icmp_type, self.code
                    ));
                }
            }
        }
        if let Some(m) = spec.mtu {
            let got = if self.v6 {
                u32::from_be_bytes(self.rest)
            } else {
                u32::from(u16::from_be_bytes([self.rest[2], self.rest[3]]))
            };
            if got != m {
                bad.push(format!("icmp mtu: expected {m} got {got}"));
            }
        }
        if let Some(id) = spec.id {
            let got = u16::from_be_bytes([self.rest[0], self.rest[1]]);
            if got != id {
                bad.push(format!("icmp id: expected {id} got {got}"));
            }
        }
        bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{Dir, IpInfo, Quoted};

    fn spec(ty: &str, code: Option<&str>) -> IcmpSpec {
        IcmpSpec {
            dir: Dir::In,
            ip: IpInfo::default(),
            icmp_type: ty.into(),
            code: code.map(Into::into),
            mtu: None,
            id: None,
            quoted: None,
        }
    }

    #[test]
    fn names_resolve_per_ip_version() {
        assert_eq!(
            type_and_code(&spec("unreachable", Some("port_unreachable")), false),
            Ok((3, 3))
        );
        assert_eq!(
            type_and_code(&spec("unreachable", Some("port_unreachable")), true),
            Ok((1, 4))
        );
        assert_eq!(
            type_and_code(&spec("type_3", Some("code_13")), false),
            Ok((3, 13))
        );
        assert!(type_and_code(&spec("packet_too_big", None), false).is_err());
        let mut s = spec("unreachable", Some("port_unreachable"));
        s.mtu = Some(1000);
        assert!(
            type_and_code(&s, false).is_err(),
            "an MTU only on frag_needed"
        );
    }

    #[test]
    fn an_error_quotes_the_connection_and_the_sequence_number() {
        let local: SocketAddr = "192.168.0.1:8080".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let map = SeqMap {
            local_isn: Some(1000),
            ..Default::default()
        };
        let mut s = spec("unreachable", Some("frag_needed"));
        s.mtu = Some(1200);
        s.quoted = Some(Quoted { start: 1, len: 100 });
        let raw = build_inbound(&s, &map, local, remote).unwrap();
        let synack_wire::Packet::Icmpv4(ip, msg) = synack_wire::parse_ip(&raw).unwrap() else {
            panic!("not ICMPv4");
        };
        assert_eq!(ip.src_addr.to_string(), "192.0.2.1");
        let synack_wire::Icmpv4Message::DestUnreachable {
            code,
            next_hop_mtu,
            original,
        } = msg
        else {
            panic!("{msg:?}");
        };
        assert_eq!((code, next_hop_mtu), (4, 1200));
        let q = synack_wire::quoted_tcp(original).unwrap();
        assert_eq!(q, (local.ip(), remote.ip(), 8080, 40000, 1001));
    }
}
