//! `emit_ip_tcp_gather` / `TcpRepr::emit_gather`: a payload given in pieces is emitted
//! byte for byte as the same payload in one slice (which `etherparse_diff` checks against an
//! independent parser), for IPv4 and IPv6, whatever the split points (odd ones included).

mod common;

use common::*;
use core::net::{IpAddr, Ipv6Addr};
use proptest::prelude::*;
use synack_wire::{
    emit_ip_tcp, emit_ip_tcp_gather, parse_ip, Error, IpRepr, Ipv6Repr, Packet, TcpFlags,
    TcpOptions, TcpPacket,
};

fn ip6() -> Ipv6Repr {
    Ipv6Repr {
        src_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        dst_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
        next_header: 6,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
    }
}

/// Emit `payload` whole, then as `head` in the repr plus `parts` cut at `cuts`, and compare.
fn check(ip: &IpRepr, payload: &[u8], head: usize, cuts: &[usize]) {
    let options = TcpOptions {
        timestamps: Some((1, 2)),
        ..Default::default()
    };
    let whole = tcp(TcpFlags::ACK | TcpFlags::PSH, options, payload);
    let mut expect = vec![0u8; 40 + whole.buffer_len()];
    let n = emit_ip_tcp(ip, &whole, &mut expect).unwrap();
    expect.truncate(n);

    let head = head.min(payload.len());
    let (first, rest) = payload.split_at(head);
    let mut parts = Vec::new();
    let mut at = 0;
    for &c in cuts {
        let c = c.clamp(at, rest.len());
        parts.push(&rest[at..c]);
        at = c;
    }
    parts.push(&rest[at..]);
    let split = tcp(TcpFlags::ACK | TcpFlags::PSH, options, first);
    assert_eq!(split.gather_len(&parts), whole.buffer_len());
    let mut got = vec![0xa5u8; expect.len()];
    assert_eq!(emit_ip_tcp_gather(ip, &split, &parts, &mut got), Ok(n));
    assert_eq!(got, expect);
    let Ok(Packet::Tcp(_, back)) = parse_ip(&got) else {
        panic!("does not parse back")
    };
    assert_eq!(back.payload, payload);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pieces_emit_like_one_slice(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        head in 0usize..3000,
        mut cuts in proptest::collection::vec(0usize..3000, 0..4),
    ) {
        cuts.sort_unstable();
        check(&IpRepr::V4(ip()), &payload, head, &cuts);
        check(&IpRepr::V6(ip6()), &payload, head, &cuts);
    }
}

#[test]
fn a_ring_buffer_seam_at_an_odd_offset() {
    let payload: Vec<u8> = (0..1448u32).map(|i| (i * 7 + 3) as u8).collect();
    for seam in [0, 1, 2, 3, 723, 1447, 1448] {
        check(&IpRepr::V4(ip()), &payload, 0, &[seam]);
        check(&IpRepr::V6(ip6()), &payload, 0, &[seam]);
    }
}

#[test]
fn too_small_a_buffer_is_an_error_and_too_long_a_datagram_too() {
    let t = tcp(TcpFlags::ACK, TcpOptions::default(), b"");
    let (a, b) = ([1u8; 10], [2u8; 11]);
    let mut buf = [0u8; 60];
    assert_eq!(
        emit_ip_tcp_gather(&IpRepr::V4(ip()), &t, &[&a, &b], &mut buf),
        Err(Error::Truncated)
    );
    let mut buf = [0u8; 61];
    assert_eq!(
        emit_ip_tcp_gather(&IpRepr::V4(ip()), &t, &[&a, &b], &mut buf),
        Ok(61)
    );
    let big = vec![0u8; 40_000];
    let mut buf = vec![0u8; 100_000];
    assert_eq!(
        emit_ip_tcp_gather(&IpRepr::V4(ip()), &t, &[&big, &big], &mut buf),
        Err(Error::BadTotalLen)
    );
}

#[test]
fn emit_gather_into_a_short_packet_does_not_panic() {
    let t = tcp(TcpFlags::ACK, TcpOptions::default(), b"abc");
    let (s, d) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
    for len in 0..30 {
        let mut buf = vec![0u8; len];
        t.emit_gather(
            &mut TcpPacket::new_unchecked(&mut buf[..]),
            &[b"de", b"f"],
            &s,
            &d,
        );
    }
}
