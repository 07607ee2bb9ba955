//! "Never panics" property tests for the IPv6/ICMP additions: arbitrary
//! bytes through `parse_ip`, both ICMP parsers and `quoted_tcp`, plus bytes
//! behind valid IPv4/IPv6 headers with fixed-up checksums so the ICMP and
//! TCP parsers behind them are reached. Whatever parses also re-emits to
//! the same message.

use core::net::{IpAddr, Ipv6Addr};

use proptest::prelude::*;
use synack_wire::checksum;
use synack_wire::{
    emit_icmpv4, emit_icmpv6, emit_ip_tcp, parse_ip, parse_ipv6_tcp, quoted_tcp, Icmpv4Message,
    Icmpv6Message, IpRepr, Ipv4Packet, Ipv6Packet, Ipv6Repr, Packet, TcpPacket, IPPROTO_ICMPV6,
};

fn poke(bytes: &[u8]) {
    let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let d: Ipv6Addr = "::".parse().unwrap();
    let _ = parse_ip(bytes);
    let _ = parse_ipv6_tcp(bytes);
    let _ = quoted_tcp(bytes);
    let _ = Icmpv4Message::parse(bytes);
    let _ = Icmpv6Message::parse(bytes, &s, &d);
    let p = Ipv6Packet::new_unchecked(bytes);
    let _ = (
        p.version(),
        p.traffic_class(),
        p.flow_label(),
        p.payload_len(),
    );
    let _ = (p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr());
    let _ = p.payload();
    let _ = Ipv6Repr::parse(&p);
    // Setters on a copy never panic either.
    let mut copy = bytes.to_vec();
    let mut p = Ipv6Packet::new_unchecked(&mut copy[..]);
    p.set_payload_len(u16::MAX);
    p.set_flow_label(u32::MAX);
    let _ = p.payload_mut().len();
}

/// Re-emit whatever parsed and check it parses back to the same thing.
fn round_trip(bytes: &[u8]) {
    let Ok(packet) = parse_ip(bytes) else { return };
    let mut buf = vec![0u8; bytes.len() + 64];
    match packet {
        Packet::Icmpv4(ip, msg) => {
            let n = emit_icmpv4(&ip, &msg, &mut buf).unwrap();
            let Ok(Packet::Icmpv4(_, back)) = parse_ip(&buf[..n]) else {
                panic!("re-parse of {msg:?}")
            };
            assert_eq!(back, msg);
        }
        Packet::Icmpv6(ip, msg) => {
            let n = emit_icmpv6(&ip, &msg, &mut buf).unwrap();
            let Ok(Packet::Icmpv6(_, back)) = parse_ip(&buf[..n]) else {
                panic!("re-parse of {msg:?}")
            };
            assert_eq!(back, msg);
        }
        Packet::Tcp(ip @ IpRepr::V6(_), tcp) => {
            if let Ok(n) = emit_ip_tcp(&ip, &tcp, &mut buf) {
                let Ok(Packet::Tcp(_, back)) = parse_ip(&buf[..n]) else {
                    panic!("re-parse of {tcp:?}")
                };
                assert_eq!(back.payload, tcp.payload);
                assert_eq!(back.seq_number, tcp.seq_number);
            }
        }
        Packet::Tcp(..) | Packet::Other(_) => {}
    }
}

/// A valid IPv6 header with `next_header` followed by `rest`, with the
/// ICMPv6 or TCP checksum fixed up when `fix`.
fn with_ipv6_header(next_header: u8, rest: &[u8], fix: bool) -> Vec<u8> {
    let src: Ipv6Addr = "fe80::1".parse().unwrap();
    let dst: Ipv6Addr = "fe80::2".parse().unwrap();
    let mut buf = vec![0u8; 40];
    buf.extend_from_slice(rest);
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header,
        payload_len: rest.len(),
        hop_limit: 255,
        traffic_class: 0,
    };
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
    if fix {
        let payload = &mut buf[40..];
        if next_header == IPPROTO_ICMPV6 && payload.len() >= 4 {
            payload[2..4].fill(0);
            let c = checksum::combine(&[
                checksum::pseudo_header(
                    &IpAddr::V6(src),
                    &IpAddr::V6(dst),
                    IPPROTO_ICMPV6,
                    payload.len() as u32,
                ),
                checksum::sum(payload),
            ]);
            payload[2..4].copy_from_slice(&c.to_be_bytes());
        } else if next_header == 6 {
            TcpPacket::new_unchecked(payload).fill_checksum(&src.into(), &dst.into());
        }
    }
    buf
}

/// A valid IPv4 header (protocol ICMP) followed by `rest`, with the ICMP
/// checksum fixed up when `fix`.
fn with_ipv4_icmp_header(rest: &[u8], fix: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 20];
    buf.extend_from_slice(rest);
    let total = buf.len() as u16;
    {
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_total_len(total);
        p.set_ttl(64);
        p.set_protocol(1);
        p.fill_checksum();
    }
    if fix && rest.len() >= 4 {
        buf[22..24].fill(0);
        let c = checksum::combine(&[checksum::sum(&buf[20..])]);
        buf[22..24].copy_from_slice(&c.to_be_bytes());
    }
    buf
}

fn icmp_body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(0u8),
            Just(3),
            Just(4),
            Just(8),
            Just(11),
            Just(12),
            Just(1),
            Just(2),
            Just(128),
            Just(129),
            Just(135),
            any::<u8>()
        ],
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(ty, code, rest)| {
            let mut v = vec![ty, code];
            v.extend_from_slice(&rest);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        poke(&bytes);
        round_trip(&bytes);
    }

    #[test]
    fn random_bytes_with_ip_version(
        version in prop_oneof![Just(4u8), Just(6)],
        mut bytes in prop::collection::vec(any::<u8>(), 1..200),
    ) {
        bytes[0] = (version << 4) | (bytes[0] & 0x0f);
        poke(&bytes);
        round_trip(&bytes);
    }

    #[test]
    fn behind_ipv6_header(
        next_header in prop_oneof![Just(6u8), Just(58), any::<u8>()],
        fix in any::<bool>(),
        rest in icmp_body(),
    ) {
        let buf = with_ipv6_header(next_header, &rest, fix);
        poke(&buf);
        poke(&buf[40..]);
        round_trip(&buf);
        if fix && next_header == IPPROTO_ICMPV6 {
            // A fixed checksum leaves nothing to reject.
            let parsed = parse_ip(&buf);
            prop_assert!(
                matches!(parsed, Ok(Packet::Icmpv6(..))) || rest.len() < 8,
                "{:?}", parsed
            );
        }
    }

    #[test]
    fn behind_ipv4_header(fix in any::<bool>(), rest in icmp_body()) {
        let buf = with_ipv4_icmp_header(&rest, fix);
        poke(&buf);
        poke(&buf[20..]);
        round_trip(&buf);
        if fix {
            let parsed = parse_ip(&buf);
            prop_assert!(
                matches!(parsed, Ok(Packet::Icmpv4(..))) || rest.len() < 8,
                "{:?}", parsed
            );
        }
    }

    /// ICMP errors quoting random bytes behind a plausible IP header.
    #[test]
    fn quoted_datagrams(
        v6 in any::<bool>(),
        ihl in 0u8..16,
        proto in prop_oneof![Just(6u8), any::<u8>()],
        rest in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut q = rest;
        if v6 {
            q.resize(q.len().max(7), 0);
            q[0] = 0x60;
            q[6] = proto;
        } else {
            q.resize(q.len().max(10), 0);
            q[0] = 0x40 | ihl;
            q[9] = proto;
        }
        if let Some((s, d, sp, dp, seq)) = quoted_tcp(&q) {
            let hl = if v6 { 40 } else { usize::from(ihl) * 4 };
            prop_assert_eq!(proto, 6);
            prop_assert!(q.len() >= hl + 8);
            prop_assert_eq!(s.is_ipv6(), v6);
            prop_assert_eq!(d.is_ipv6(), v6);
            prop_assert_eq!(sp, u16::from_be_bytes([q[hl], q[hl + 1]]));
            prop_assert_eq!(dp, u16::from_be_bytes([q[hl + 2], q[hl + 3]]));
            prop_assert_eq!(seq, u32::from_be_bytes([q[hl + 4], q[hl + 5], q[hl + 6], q[hl + 7]]));
        }
    }
}
