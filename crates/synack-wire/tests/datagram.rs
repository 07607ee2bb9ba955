//! Whole-datagram tests: parse_ipv4_tcp / emit_ipv4_tcp and every error.

mod common;

use common::*;
use synack_wire::{
    emit_ipv4_tcp, parse_ipv4_tcp, Error, Ipv4Packet, TcpFlags, TcpOptions, TcpPacket,
};

/// Recompute the IP header checksum after tampering.
fn fix_ip(buf: &mut [u8]) {
    Ipv4Packet::new_unchecked(&mut buf[..20]).fill_checksum();
}

/// Recompute the TCP checksum (IPv4 addresses from the header).
fn fix_tcp(buf: &mut [u8]) {
    let p = Ipv4Packet::new_unchecked(&buf[..]);
    let (s, d) = (p.src_addr().into(), p.dst_addr().into());
    let hl = p.header_len();
    TcpPacket::new_unchecked(&mut buf[hl..]).fill_checksum(&s, &d);
}

#[test]
fn round_trip_syn() {
    let t = tcp(TcpFlags::SYN, syn_options(), b"");
    let buf = datagram(&ip(), &t);
    assert_eq!(buf.len(), 60);
    let (ipr, tr) = parse_ipv4_tcp(&buf).unwrap();
    assert_eq!(tr, t);
    let mut expect_ip = ip();
    expect_ip.payload_len = 40;
    assert_eq!(ipr, expect_ip);
}

#[test]
fn call_patterns_compile() {
    let buf = datagram(&ip(), &tcp(TcpFlags::ACK, TcpOptions::default(), b"abc"));
    let bytes: &[u8] = &buf;
    let ipp = Ipv4Packet::new_checked(bytes).unwrap();
    let ipr = synack_wire::Ipv4Repr::parse(&ipp).unwrap();
    let seg: &[u8] = &bytes[20..];
    let (s, d) = (ipr.src_addr.into(), ipr.dst_addr.into());
    let payload = {
        let r = synack_wire::TcpRepr::parse(&TcpPacket::new_checked(seg).unwrap(), &s, &d).unwrap();
        r.payload // outlives the temporary packet view
    };
    assert_eq!(payload, b"abc");
    // Vec-backed views work too.
    let v = buf.clone();
    assert!(Ipv4Packet::new_checked(v).is_ok());
}

#[test]
fn emit_errors_and_sizes() {
    let t = tcp(TcpFlags::ACK, TcpOptions::default(), b"hello");
    let mut small = vec![0u8; 44];
    assert_eq!(emit_ipv4_tcp(&ip(), &t, &mut small), Err(Error::Truncated));
    let mut big = vec![0xffu8; 100];
    assert_eq!(emit_ipv4_tcp(&ip(), &t, &mut big), Ok(45));
    assert!(
        parse_ipv4_tcp(&big).is_ok(),
        "trailing bytes past total_len ignored"
    );
    let huge = vec![0u8; 70_000];
    let t = tcp(TcpFlags::ACK, TcpOptions::default(), &huge);
    let mut out = vec![0u8; 70_100];
    assert_eq!(emit_ipv4_tcp(&ip(), &t, &mut out), Err(Error::BadTotalLen));
}

#[test]
fn every_error_variant() {
    let good = datagram(&ip(), &tcp(TcpFlags::ACK, TcpOptions::default(), b"data"));
    assert!(parse_ipv4_tcp(&good).is_ok());
    let check = |buf: &[u8], e: Error| assert_eq!(parse_ipv4_tcp(buf).map(|_| ()), Err(e));

    check(&good[..10], Error::Truncated);
    check(&[], Error::Truncated);

    let mut b = good.clone();
    b[0] = 0x65;
    check(&b, Error::BadVersion);

    let mut b = good.clone();
    b[0] = 0x44;
    check(&b, Error::BadHeaderLen);
    let mut b = good[..22].to_vec();
    b[0] = 0x46; // 24-byte header in a 22-byte buffer
    check(&b, Error::BadHeaderLen);

    let mut b = good.clone();
    b[2..4].copy_from_slice(&((good.len() + 1) as u16).to_be_bytes());
    fix_ip(&mut b);
    check(&b, Error::BadTotalLen);
    b[2..4].copy_from_slice(&19u16.to_be_bytes());
    fix_ip(&mut b);
    check(&b, Error::BadTotalLen);

    let mut b = good.clone();
    b[10] ^= 0x55;
    check(&b, Error::BadChecksum);

    let mut b = good.clone();
    b[6] |= 0x20; // MF
    fix_ip(&mut b);
    check(&b, Error::Fragmented);
    let mut b = good.clone();
    b[7] = 0x01; // offset 8 bytes
    fix_ip(&mut b);
    check(&b, Error::Fragmented);

    let mut b = good.clone();
    b[9] = 17;
    fix_ip(&mut b);
    check(&b, Error::NotTcp);

    // TCP header truncated: total length covers only 10 TCP bytes.
    let mut b = good[..30].to_vec();
    b[2..4].copy_from_slice(&30u16.to_be_bytes());
    fix_ip(&mut b);
    check(&b, Error::Truncated);

    let mut b = good.clone();
    b[32] = 0x40;
    fix_tcp(&mut b);
    check(&b, Error::BadDataOffset);
    b[32] = 0x70; // 28 > 24-byte segment
    fix_tcp(&mut b);
    check(&b, Error::BadDataOffset);

    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    check(&b, Error::BadChecksum);

    let mut b = good.clone();
    b[20] = 0;
    b[21] = 0;
    fix_tcp(&mut b);
    check(&b, Error::BadPort);
    let mut b = good.clone();
    b[22] = 0;
    b[23] = 0;
    fix_tcp(&mut b);
    check(&b, Error::BadPort);

    // Option length 0, 1 and running past the header.
    for opt in [[2u8, 0, 0, 0], [2, 1, 0, 0], [1, 8, 10, 0]] {
        let mut b = good[..40].to_vec();
        b.extend_from_slice(&opt);
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        b[32] = 6 << 4;
        fix_ip(&mut b);
        fix_tcp(&mut b);
        check(&b, Error::BadOptionLen);
    }
}

#[test]
fn ip_options_are_ignored() {
    // MUST-50: a datagram with IP options (NOP NOP NOP EOL) parses.
    let good = datagram(&ip(), &tcp(TcpFlags::ACK, TcpOptions::default(), b"data"));
    let mut b = good[..20].to_vec();
    b.extend_from_slice(&[1, 1, 1, 0]);
    b.extend_from_slice(&good[20..]);
    b[0] = 0x46;
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut b[..24]).fill_checksum();
    let (ipr, t) = parse_ipv4_tcp(&b).unwrap();
    assert_eq!(ipr.payload_len, 24);
    assert_eq!(t.payload, b"data");
}

#[test]
fn error_display() {
    assert_eq!(Error::BadChecksum.to_string(), "checksum mismatch");
    let e: Box<dyn std::error::Error> = Box::new(Error::NotTcp);
    assert!(!e.to_string().is_empty());
}

#[test]
fn samples_behave() {
    for (name, bytes) in samples() {
        let res = parse_ipv4_tcp(&bytes);
        let valid = !name.contains("trunc")
            && !name.starts_with("bad")
            && !matches!(name, "empty" | "fragment" | "version6");
        assert_eq!(res.is_ok(), valid, "{name}: {res:?}");
    }
}
