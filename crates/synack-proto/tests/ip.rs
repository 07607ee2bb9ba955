//! IPv6 alongside IPv4, and ICMP (MUST-54..56, RFC 1191/8201 path MTU, RFC 5927).

mod util;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use synack_proto::{CloseReason, Config, Endpoint, Event, IcmpError, Instant, State};
use synack_wire::{Icmpv4Message, Icmpv6Message, Ipv4Repr, Ipv6Repr, Packet, TcpFlags, TcpOptions};
use util::*;

const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x5a, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x5a, 0, 0, 0, 0, 0, 2);

fn v6(ip: Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(ip), port)
}

fn dual(v4: Ipv4Addr, v6: Ipv6Addr) -> Config {
    Config::default().with_local_addrs(vec![IpAddr::V4(v4), IpAddr::V6(v6)])
}

#[test]
fn ipv6_handshake_transfer_and_close_with_mss_1440_and_1220_default_must_15() {
    let mut p = Pair::with_configs(dual(A_IP, A6), dual(B_IP, B6));
    p.b.listen(v6(Ipv6Addr::UNSPECIFIED, 80), None).unwrap();
    let c =
        p.a.connect(p.now, v6(Ipv6Addr::UNSPECIFIED, 0), v6(B6, 80))
            .unwrap();
    let syn = p.one(Side::A);
    assert_eq!(syn.dst, v6(B6, 80));
    assert_eq!(syn.options.mss, Some(1440), "MTU 1500 − 40 − 20");
    p.deliver(Side::B, &syn.raw);
    p.exchange();
    let s = p.b.accept(v6(Ipv6Addr::UNSPECIFIED, 80)).unwrap();
    assert_eq!(p.a.info(c).unwrap().mss, 1428, "1440 less timestamps");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    p.a.send(c, &data).unwrap();
    let mut got = Vec::new();
    while got.len() < data.len() {
        p.exchange();
        got.extend(read_all(&mut p.b, s).0);
        if let Some(t) = p.next_timeout() {
            p.advance_to(t);
        }
    }
    assert_eq!(got, data);
    p.a.close(c).unwrap();
    p.b.close(s).unwrap();
    p.run_until_quiet(Instant::from_secs(1000));
    assert_eq!(p.a.connection_count() + p.b.connection_count(), 0);

    // Without an MSS option an IPv6 peer is assumed to take 1220 (MUST-15).
    let mut p = Pair::with_configs(dual(A_IP, A6), dual(B_IP, B6));
    p.b.listen(v6(B6, 81), None).unwrap();
    p.deliver(
        Side::B,
        &packet(
            v6(A6, 5000),
            v6(B6, 81),
            TcpFlags::SYN,
            1,
            0,
            65535,
            TcpOptions::default(),
            b"",
        ),
    );
    let sa = p.one(Side::B);
    p.deliver(
        Side::B,
        &packet(
            v6(A6, 5000),
            v6(B6, 81),
            TcpFlags::ACK,
            2,
            sa.seq.wrapping_add(1),
            65535,
            TcpOptions::default(),
            b"",
        ),
    );
    let s = p.b.accept(v6(B6, 81)).unwrap();
    assert_eq!(p.b.info(s).unwrap().mss, 1220);
}

fn icmp_out(ep: &mut Endpoint) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    let mut v = Vec::new();
    while let Some(n) = ep.poll_transmit(Instant::ZERO, &mut buf) {
        v.push(buf[..n].to_vec());
    }
    v
}

#[test]
fn echo_requests_are_answered_v4_and_v6() {
    let mut ep = Endpoint::new(dual(B_IP, B6), [3; 16]);
    let req = Ipv4Repr {
        src_addr: A_IP,
        dst_addr: B_IP,
        protocol: 1,
        payload_len: 0,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 9,
    };
    let msg = Icmpv4Message::EchoRequest {
        ident: 0x1234,
        seq_no: 7,
        data: b"abcdefgh",
    };
    let mut buf = vec![0u8; 100];
    let n = synack_wire::emit_icmpv4(&req, &msg, &mut buf).unwrap();
    ep.handle(Instant::ZERO, &buf[..n]);
    let out = icmp_out(&mut ep);
    assert_eq!(out.len(), 1);
    match synack_wire::parse_ip(&out[0]).unwrap() {
        Packet::Icmpv4(
            ip,
            Icmpv4Message::EchoReply {
                ident,
                seq_no,
                data,
            },
        ) => {
            assert_eq!((ip.src_addr, ip.dst_addr), (B_IP, A_IP));
            assert_eq!((ident, seq_no, data), (0x1234, 7, &b"abcdefgh"[..]));
        }
        other => panic!("{other:?}"),
    }
    let req6 = Ipv6Repr {
        src_addr: A6,
        dst_addr: B6,
        next_header: 58,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
    };
    let msg6 = Icmpv6Message::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"xyz",
    };
    let n = synack_wire::emit_icmpv6(&req6, &msg6, &mut buf).unwrap();
    ep.handle(Instant::ZERO, &buf[..n]);
    let out = icmp_out(&mut ep);
    match synack_wire::parse_ip(&out[0]).unwrap() {
        Packet::Icmpv6(
            ip,
            Icmpv6Message::EchoReply {
                ident,
                seq_no,
                data,
            },
        ) => {
            assert_eq!((ip.src_addr, ip.dst_addr), (B6, A6));
            assert_eq!((ident, seq_no, data), (1, 2, &b"xyz"[..]));
        }
        other => panic!("{other:?}"),
    }
    // An echo request to someone else's address is not ours to answer.
    let other = Ipv4Repr {
        dst_addr: Ipv4Addr::new(10, 9, 9, 9),
        ..req
    };
    let n = synack_wire::emit_icmpv4(&other, &msg, &mut buf).unwrap();
    ep.handle(Instant::ZERO, &buf[..n]);
    assert!(icmp_out(&mut ep).is_empty());
    assert_eq!(ep.stats().icmp_echo_replies, 2);
}

/// An ICMP error from B's side quoting `quoted` (the packet A sent).
fn unreachable_v4(code: u8, mtu: u16, quoted: &[u8]) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: B_IP,
        dst_addr: A_IP,
        protocol: 1,
        payload_len: 0,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
    };
    let msg = Icmpv4Message::DestUnreachable {
        code,
        next_hop_mtu: mtu,
        original: &quoted[..quoted.len().min(28)],
    };
    let mut buf = vec![0u8; 100];
    let n = synack_wire::emit_icmpv4(&ip, &msg, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn port_unreachable_aborts_a_connection_attempt_shld_26() {
    let mut p = Pair::modern();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A);
    p.deliver(Side::A, &unreachable_v4(3, 0, &syn.raw));
    assert!(p.a_events.contains(&Event::IcmpError {
        conn: c,
        error: IcmpError::PortUnreachable
    }));
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Refused
    }));
}

#[test]
fn soft_errors_are_reported_and_never_abort_must_47_must_56_shld_25() {
    let mut p = Pair::modern();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A);
    for code in [0u8, 1, 5] {
        p.deliver(Side::A, &unreachable_v4(code, 0, &syn.raw));
    }
    assert_eq!(p.a.state(c), Some(State::SynSent));
    let reports = p
        .a_events
        .iter()
        .filter(|e| matches!(e, Event::IcmpError { .. }))
        .count();
    assert_eq!(reports, 3);
}

#[test]
fn an_error_quoting_a_sequence_number_outside_the_window_is_ignored_rfc5927() {
    let mut p = Pair::modern();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let mut syn = p.one(Side::A).raw;
    // Forge the quoted sequence number (bytes 24..28 of the quoted datagram).
    syn[24] ^= 0x80;
    p.deliver(Side::A, &unreachable_v4(3, 0, &syn));
    assert_eq!(p.a.state(c), Some(State::SynSent));
    assert_eq!(p.a.stats().icmp_ignored, 1);
}

#[test]
fn fragmentation_needed_lowers_the_mss_and_resends_rfc1191() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.send(c, &vec![1u8; 3000]).unwrap();
    let segs = p.out(Side::A);
    assert_eq!(segs[0].payload.len(), 1460);
    p.deliver(Side::A, &unreachable_v4(4, 1280, &segs[0].raw));
    assert_eq!(p.a.info(c).unwrap().mss, 1240, "1280 − 20 − 20");
    assert_eq!(p.a.state(c), Some(State::Established));
    let again = p.out(Side::A);
    assert_eq!(again[0].seq, segs[0].seq);
    assert!(again.iter().all(|s| s.payload.len() <= 1240));
    for seg in &again {
        p.deliver(Side::B, &seg.raw);
    }
    p.exchange();
    assert_eq!(read_all(&mut p.b, s).0, vec![1u8; 3000]);
}

#[test]
fn other_protocols_are_counted_not_malformed() {
    let mut ep = Endpoint::new(config(B_IP), [3; 16]);
    // A UDP datagram (protocol 17) with a valid IPv4 header.
    let ip = Ipv4Repr {
        src_addr: A_IP,
        dst_addr: B_IP,
        protocol: 17,
        payload_len: 8,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
    };
    let mut buf = vec![0u8; 28];
    ip.emit(&mut synack_wire::Ipv4Packet::new_unchecked(&mut buf[..]));
    ep.handle(Instant::ZERO, &buf);
    assert_eq!(ep.stats().other_protocol, 1);
    assert!(ep.stats().malformed.is_empty());
}
