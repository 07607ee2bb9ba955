//! ICMP and ICMPv6 messages in words, the way tcpdump names them (`--trace` lines): echo
//! requests with their id and sequence, unreachables with their reason and the datagram they
//! are about, NDP by name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use synack_wire::{Icmpv4Message, Icmpv6Message};

/// An ICMPv4 message (RFC 792; codes of RFC 1122 3.2.2.1 and RFC 1812 5.2.7.1).
pub fn icmpv4(msg: &Icmpv4Message) -> String {
    match msg {
        Icmpv4Message::EchoRequest {
            ident,
            seq_no,
            data,
        } => format!("echo request id {ident} seq {seq_no} length {}", data.len()),
        Icmpv4Message::EchoReply {
            ident,
            seq_no,
            data,
        } => format!("echo reply id {ident} seq {seq_no} length {}", data.len()),
        Icmpv4Message::DestUnreachable {
            code,
            next_hop_mtu,
            original,
        } => {
            let why = match code {
                0 => "net unreachable".to_string(),
                1 => "host unreachable".into(),
                2 => "protocol unreachable".into(),
                3 => "port unreachable".into(),
                // RFC 1191: the next hop's MTU, when the router says it.
                4 if *next_hop_mtu > 0 => format!("need to frag, mtu {next_hop_mtu}"),
                4 => "need to frag".into(),
                5 => "source route failed".into(),
                6 => "destination network unknown".into(),
                7 => "destination host unknown".into(),
                8 => "source host isolated".into(),
                9 => "network administratively prohibited".into(),
                10 => "host administratively prohibited".into(),
                11 => "net unreachable for TOS".into(),
                12 => "host unreachable for TOS".into(),
                13 => "communication administratively prohibited".into(),
                14 => "host precedence violation".into(),
                15 => "precedence cutoff".into(),
                c => format!("code {c}"),
            };
            format!("destination unreachable ({why}){}", about(original))
        }
        Icmpv4Message::SourceQuench { original } => format!("source quench{}", about(original)),
        Icmpv4Message::TimeExceeded { code, original } => {
            let why = match code {
                0 => "time to live exceeded in transit".to_string(),
                1 => "fragment reassembly time exceeded".into(),
                c => format!("time exceeded code {c}"),
            };
            format!("{why}{}", about(original))
        }
        Icmpv4Message::ParamProblem { pointer, original } => {
            format!("parameter problem pointer {pointer}{}", about(original))
        }
        Icmpv4Message::Other { icmp_type, code } => {
            let name = match icmp_type {
                5 => match code {
                    0 => "redirect for network",
                    1 => "redirect for host",
                    2 => "redirect for TOS and network",
                    3 => "redirect for TOS and host",
                    _ => "redirect",
                },
                9 => "router advertisement",
                10 => "router solicitation",
                13 => "time stamp request",
                14 => "time stamp reply",
                15 => "information request",
                16 => "information reply",
                17 => "address mask request",
                18 => "address mask reply",
                t => return format!("type {t} code {code}"),
            };
            name.to_string()
        }
    }
}

/// An ICMPv6 message (RFC 4443; NDP of RFC 4861; MLD of RFC 2710 and RFC 3810).
pub fn icmpv6(msg: &Icmpv6Message) -> String {
    match msg {
        Icmpv6Message::EchoRequest {
            ident,
            seq_no,
            data,
        } => format!("echo request id {ident} seq {seq_no} length {}", data.len()),
        Icmpv6Message::EchoReply {
            ident,
            seq_no,
            data,
        } => format!("echo reply id {ident} seq {seq_no} length {}", data.len()),
        Icmpv6Message::DestUnreachable { code, original } => {
            let why = match code {
                0 => "no route to destination".to_string(),
                1 => "communication administratively prohibited".into(),
                2 => "beyond scope of source address".into(),
                3 => "address unreachable".into(),
                4 => "port unreachable".into(),
                5 => "source address failed ingress/egress policy".into(),
                6 => "reject route to destination".into(),
                c => format!("code {c}"),
            };
            format!("destination unreachable ({why}){}", about(original))
        }
        Icmpv6Message::PacketTooBig { mtu, original } => {
            format!("packet too big, mtu {mtu}{}", about(original))
        }
        Icmpv6Message::TimeExceeded { code, original } => {
            let why = match code {
                0 => "hop limit exceeded in transit".to_string(),
                1 => "fragment reassembly time exceeded".into(),
                c => format!("time exceeded code {c}"),
            };
            format!("{why}{}", about(original))
        }
        Icmpv6Message::ParamProblem {
            code,
            pointer,
            original,
        } => {
            let why = match code {
                0 => "erroneous header field".to_string(),
                1 => "unrecognized next header".into(),
                2 => "unrecognized IPv6 option".into(),
                c => format!("code {c}"),
            };
            format!(
                "parameter problem ({why}) pointer {pointer}{}",
                about(original)
            )
        }
        Icmpv6Message::Other { icmp_type, code } => {
            let name = match icmp_type {
                130 => "multicast listener query",
                131 => "multicast listener report",
                132 => "multicast listener done",
                133 => "router solicitation",
                134 => "router advertisement",
                135 => "neighbor solicitation",
                136 => "neighbor advertisement",
                137 => "redirect",
                143 => "multicast listener report v2",
                t => return format!("type {t} code {code}"),
            };
            name.to_string()
        }
    }
}

/// `, about TCP 10.0.0.1:5000 > 10.0.0.2:80`: the datagram an error message quotes (its IP
/// header and first bytes), as far as the quote goes; empty when it says too little.
fn about(original: &[u8]) -> String {
    let b = |i: usize| original.get(i).copied();
    let (proto, src, dst, rest): (u8, IpAddr, IpAddr, &[u8]) = match b(0).map(|v| v >> 4) {
        Some(4) => {
            let ihl = usize::from(b(0).unwrap_or(0) & 0x0f) * 4;
            let (Some(proto), Some(s), Some(d)) =
                (b(9), original.get(12..16), original.get(16..20))
            else {
                return String::new();
            };
            let (Ok(s), Ok(d)) = (<[u8; 4]>::try_from(s), <[u8; 4]>::try_from(d)) else {
                return String::new();
            };
            (
                proto,
                Ipv4Addr::from(s).into(),
                Ipv4Addr::from(d).into(),
                original.get(ihl.max(20)..).unwrap_or(&[]),
            )
        }
        Some(6) => {
            let (Some(proto), Some(s), Some(d)) = (b(6), original.get(8..24), original.get(24..40))
            else {
                return String::new();
            };
            let (Ok(s), Ok(d)) = (<[u8; 16]>::try_from(s), <[u8; 16]>::try_from(d)) else {
                return String::new();
            };
            (
                proto,
                Ipv6Addr::from(s).into(),
                Ipv6Addr::from(d).into(),
                original.get(40..).unwrap_or(&[]),
            )
        }
        _ => return String::new(),
    };
    let name = match proto {
        6 => "TCP",
        17 => "UDP",
        1 => "ICMP",
        58 => "ICMPv6",
        _ => "",
    };
    // Ports lead both TCP and UDP headers (an IPv6 extension header would hide them).
    let ports = match (name, rest.get(0..4)) {
        ("TCP" | "UDP", Some(p)) => Some((
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        )),
        _ => None,
    };
    let label = if name.is_empty() {
        format!("protocol {proto}")
    } else {
        name.to_string()
    };
    match ports {
        Some((sp, dp)) => format!(
            ", about {label} {} > {}",
            SocketAddr::new(src, sp),
            SocketAddr::new(dst, dp)
        ),
        None => format!(", about {label} {src} > {dst}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The IPv4 header and first 8 bytes of a TCP segment 10.200.0.2:80 > 10.200.0.1:5000.
    fn quoted_v4_tcp() -> Vec<u8> {
        let mut q = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        q.extend_from_slice(&[10, 200, 0, 2, 10, 200, 0, 1]);
        q.extend_from_slice(&[0, 80, 0x13, 0x88, 0, 0, 0, 1]);
        q
    }

    #[test]
    fn icmpv4_echo_and_errors_read_like_tcpdump() {
        let data = [0u8; 56];
        assert_eq!(
            icmpv4(&Icmpv4Message::EchoRequest {
                ident: 1,
                seq_no: 2,
                data: &data
            }),
            "echo request id 1 seq 2 length 56"
        );
        assert_eq!(
            icmpv4(&Icmpv4Message::EchoReply {
                ident: 7,
                seq_no: 9,
                data: &[]
            }),
            "echo reply id 7 seq 9 length 0"
        );
        let q = quoted_v4_tcp();
        assert_eq!(
            icmpv4(&Icmpv4Message::DestUnreachable {
                code: 3,
                next_hop_mtu: 0,
                original: &q
            }),
            "destination unreachable (port unreachable), about TCP 10.200.0.2:80 > 10.200.0.1:5000"
        );
        assert_eq!(
            icmpv4(&Icmpv4Message::DestUnreachable {
                code: 4,
                next_hop_mtu: 1400,
                original: &q[..20]
            }),
            "destination unreachable (need to frag, mtu 1400), about TCP 10.200.0.2 > 10.200.0.1"
        );
        assert_eq!(
            icmpv4(&Icmpv4Message::DestUnreachable {
                code: 99,
                next_hop_mtu: 0,
                original: &[]
            }),
            "destination unreachable (code 99)"
        );
        assert_eq!(
            icmpv4(&Icmpv4Message::TimeExceeded {
                code: 1,
                original: &q[..3]
            }),
            "fragment reassembly time exceeded"
        );
        assert_eq!(
            icmpv4(&Icmpv4Message::Other {
                icmp_type: 13,
                code: 0
            }),
            "time stamp request"
        );
        assert_eq!(
            icmpv4(&Icmpv4Message::Other {
                icmp_type: 42,
                code: 3
            }),
            "type 42 code 3"
        );
    }

    #[test]
    fn icmpv6_ndp_and_errors_read_like_tcpdump() {
        for (t, name) in [
            (133, "router solicitation"),
            (134, "router advertisement"),
            (135, "neighbor solicitation"),
            (136, "neighbor advertisement"),
            (143, "multicast listener report v2"),
        ] {
            assert_eq!(
                icmpv6(&Icmpv6Message::Other {
                    icmp_type: t,
                    code: 0
                }),
                name
            );
        }
        assert_eq!(
            icmpv6(&Icmpv6Message::Other {
                icmp_type: 200,
                code: 1
            }),
            "type 200 code 1"
        );
        assert_eq!(
            icmpv6(&Icmpv6Message::EchoRequest {
                ident: 1,
                seq_no: 2,
                data: &[0; 8]
            }),
            "echo request id 1 seq 2 length 8"
        );
        // An IPv6 header quoting a UDP datagram fd00:5a::1:5353 > fd00:5a::2:53.
        let mut q = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        q.extend_from_slice(&"fd00:5a::1".parse::<Ipv6Addr>().unwrap().octets());
        q.extend_from_slice(&"fd00:5a::2".parse::<Ipv6Addr>().unwrap().octets());
        q.extend_from_slice(&[0x14, 0xe9, 0, 53, 0, 8, 0, 0]);
        assert_eq!(
            icmpv6(&Icmpv6Message::DestUnreachable {
                code: 4,
                original: &q
            }),
            "destination unreachable (port unreachable), about UDP [fd00:5a::1]:5353 > [fd00:5a::2]:53"
        );
        assert_eq!(
            icmpv6(&Icmpv6Message::PacketTooBig {
                mtu: 1280,
                original: &q[..40]
            }),
            "packet too big, mtu 1280, about UDP fd00:5a::1 > fd00:5a::2"
        );
        assert_eq!(
            icmpv6(&Icmpv6Message::ParamProblem {
                code: 1,
                pointer: 6,
                original: &[0x60]
            }),
            "parameter problem (unrecognized next header) pointer 6"
        );
        assert_eq!(
            icmpv6(&Icmpv6Message::TimeExceeded {
                code: 0,
                original: &[]
            }),
            "hop limit exceeded in transit"
        );
    }
}
