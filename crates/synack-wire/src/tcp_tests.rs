//! Unit tests for `tcp.rs`.

use super::*;
use core::net::Ipv4Addr;

fn addrs() -> (IpAddr, IpAddr) {
    (
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    )
}

fn base(flags: TcpFlags, payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: 0x1122_3344,
        ack_number: 0x5566_7788,
        flags,
        window_len: 64240,
        urgent_pointer: 0,
        options: TcpOptions::default(),
        payload,
    }
}

fn emit(repr: &TcpRepr<'_>) -> Vec<u8> {
    let (s, d) = addrs();
    let mut buf = vec![0xcc; repr.buffer_len()];
    repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &s, &d);
    buf
}

fn parse(bytes: &[u8]) -> Result<TcpRepr<'_>> {
    let (s, d) = addrs();
    TcpRepr::parse(&TcpPacket::new_checked(bytes)?, &s, &d)
}

/// Independent TCP checksum: naive 16-bit loop over pseudo header + segment
/// with the checksum field treated as zero.
fn naive_tcp_checksum(seg: &[u8]) -> u16 {
    let mut bytes = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 6];
    bytes.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    bytes.extend_from_slice(seg);
    bytes[12 + 16] = 0;
    bytes[12 + 17] = 0;
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let mut acc: u32 = 0;
    for i in (0..bytes.len()).step_by(2) {
        acc += u32::from(bytes[i]) * 256 + u32::from(bytes[i + 1]);
    }
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    !(acc as u16)
}

#[test]
fn flags_letters_and_display() {
    let sa = TcpFlags::SYN | TcpFlags::ACK;
    assert_eq!(sa.letters(), "S.");
    assert_eq!((TcpFlags::PSH | TcpFlags::ACK).letters(), "P.");
    assert_eq!((TcpFlags::FIN | TcpFlags::ACK).letters(), "F.");
    assert_eq!(TcpFlags::RST.letters(), "R");
    assert_eq!((TcpFlags::RST | TcpFlags::ACK).letters(), "R.");
    assert_eq!(TcpFlags::empty().letters(), "-");
    assert_eq!(TcpFlags(0xff).letters(), "SFRP.UEW");
    assert_eq!(sa.to_string(), "SYN|ACK");
    assert_eq!(
        TcpFlags(0xff).to_string(),
        "SYN|FIN|RST|PSH|ACK|URG|ECE|CWR"
    );
    assert_eq!(TcpFlags::empty().to_string(), "none");
    assert_eq!(format!("{sa:?}"), "TcpFlags(SYN|ACK)");
    let mut f = TcpFlags::empty();
    f |= TcpFlags::SYN;
    f.insert(TcpFlags::ECE);
    assert!(f.contains(TcpFlags::SYN) && f.intersects(TcpFlags::ECE | TcpFlags::FIN));
    f.remove(TcpFlags::SYN);
    assert_eq!(f, TcpFlags::ECE);
    assert_eq!((f & TcpFlags::SYN).bits(), 0);
    assert!(!f.is_empty() && TcpFlags::default().is_empty());
}

#[test]
fn syn_with_all_options_exact_bytes() {
    let mut r = base(TcpFlags::SYN, b"");
    r.ack_number = 0;
    r.options = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((0xdead_beef, 0)),
        ..Default::default()
    };
    assert_eq!(r.header_len(), 40);
    let bytes = emit(&r);
    assert_eq!(bytes.len(), 40);
    assert_eq!(bytes[12], 10 << 4);
    assert_eq!(bytes[13], 0x02);
    assert_eq!(
        &bytes[20..],
        &[
            0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0,
            0x01, 0x03, 0x03, 0x07
        ]
    );
    assert_eq!(parse(&bytes).unwrap(), r);
    assert_eq!(r.segment_len(), 1);
}

#[test]
fn data_segment_with_timestamps() {
    let mut r = base(TcpFlags::PSH | TcpFlags::ACK, b"hello, world");
    r.options.timestamps = Some((1000, 2000));
    let bytes = emit(&r);
    assert_eq!(&bytes[20..24], &[1, 1, 8, 10]);
    assert_eq!(&bytes[32..], b"hello, world");
    let p = TcpPacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.payload(), b"hello, world");
    assert_eq!(p.options().len(), 12);
    assert_eq!(parse(&bytes).unwrap(), r);
    assert_eq!(r.segment_len(), 12);
}

#[test]
fn sack_round_trip() {
    let mut r = base(TcpFlags::ACK, b"");
    r.options.timestamps = Some((5, 6));
    r.options.sack_blocks.push(100, 200);
    r.options.sack_blocks.push(300, 400);
    let parsed_bytes = emit(&r);
    assert_eq!(parse(&parsed_bytes).unwrap(), r);
}

#[test]
fn many_round_trips() {
    let payloads: [&[u8]; 4] = [b"", b"x", b"odd-length", &[0xff; 1000]];
    for (i, payload) in payloads.iter().enumerate() {
        for flags in 0..=255u8 {
            let mut r = base(TcpFlags(flags), payload);
            r.seq_number = u32::from(flags).wrapping_mul(0x0101_0101);
            r.urgent_pointer = u16::from(flags) << i;
            if flags % 3 == 0 {
                r.options.mss = Some(u16::from(flags) * 7);
            }
            if flags % 5 == 0 {
                r.options.window_scale = Some(flags % 15);
            }
            let bytes = emit(&r);
            assert_eq!(parse(&bytes).unwrap(), r, "flags {flags:#x}");
        }
    }
}

#[test]
fn checksum_matches_naive() {
    let mut r = base(TcpFlags::ACK | TcpFlags::PSH, b"abc");
    r.options.timestamps = Some((42, 43));
    let bytes = emit(&r);
    let stored = u16::from_be_bytes([bytes[16], bytes[17]]);
    assert_eq!(stored, naive_tcp_checksum(&bytes));
    let (s, d) = addrs();
    assert!(TcpPacket::new_unchecked(&bytes[..]).verify_checksum(&s, &d));
    // fill_checksum gives the same value.
    let mut copy = bytes.clone();
    copy[16] = 0;
    copy[17] = 0;
    let mut p = TcpPacket::new_unchecked(&mut copy[..]);
    p.fill_checksum(&s, &d);
    assert_eq!(p.checksum(), stored);
}

#[test]
fn setters_getters() {
    let mut buf = [0u8; 24];
    let mut p = TcpPacket::new_unchecked(&mut buf[..]);
    p.set_src_port(1);
    p.set_dst_port(2);
    p.set_seq_number(3);
    p.set_ack_number(4);
    p.set_header_len(24);
    p.set_flags(TcpFlags::URG);
    p.set_window_len(5);
    p.set_urgent_at(6);
    p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
    assert!(p.payload_mut().is_empty());
    assert_eq!(
        (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number()),
        (1, 2, 3, 4)
    );
    assert_eq!((p.header_len(), p.window_len(), p.urgent_at()), (24, 5, 6));
    assert_eq!(p.flags(), TcpFlags::URG);
    assert_eq!(p.options(), &[1, 1, 1, 0]);
    let inner = p.into_inner();
    assert_eq!(inner.len(), 24);
}

#[test]
fn errors() {
    let good = emit(&base(TcpFlags::ACK, b"data"));
    assert!(parse(&good).is_ok());
    assert_eq!(parse(&good[..19]).unwrap_err(), Error::Truncated);

    let mut doff = good.clone();
    doff[12] = 4 << 4;
    assert_eq!(parse(&doff).unwrap_err(), Error::BadDataOffset);
    doff[12] = 7 << 4; // 28 > 24
    assert_eq!(parse(&doff).unwrap_err(), Error::BadDataOffset);

    let mut cs = good.clone();
    cs[20] ^= 0x01;
    assert_eq!(parse(&cs).unwrap_err(), Error::BadChecksum);

    let (s, d) = addrs();
    for port_off in [0usize, 2] {
        let mut z = good.clone();
        z[port_off] = 0;
        z[port_off + 1] = 0;
        TcpPacket::new_unchecked(&mut z[..]).fill_checksum(&s, &d);
        assert_eq!(parse(&z).unwrap_err(), Error::BadPort);
    }

    // Option problems: len 0, len 1, running past the header.
    for opts in [[2u8, 0, 0, 0], [3, 1, 0, 0], [1, 1, 8, 10]] {
        let mut seg = good[..20].to_vec();
        seg[12] = 6 << 4;
        seg.extend_from_slice(&opts);
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(&s, &d);
        assert_eq!(parse(&seg).unwrap_err(), Error::BadOptionLen, "{opts:?}");
    }
}

#[test]
fn option_subtleties_in_segment() {
    let (s, d) = addrs();
    let build = |opts: &[u8]| {
        let mut seg = emit(&base(TcpFlags::SYN, b""));
        seg[12] = ((20 + opts.len() as u8) / 4) << 4;
        seg.extend_from_slice(opts);
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(&s, &d);
        seg
    };
    // MUST-64: MSS after a single NOP.
    let seg = build(&[1, 2, 4, 5, 0xb4, 0, 0, 0]);
    assert_eq!(parse(&seg).unwrap().options.mss, Some(1460));
    // MUST-6: unknown option skipped by length.
    let seg = build(&[30, 6, 1, 2, 3, 4, 3, 3, 2, 0, 0, 0]);
    assert_eq!(parse(&seg).unwrap().options.window_scale, Some(2));
    // MUST-69: after EOL, trailing garbage ignored.
    let seg = build(&[4, 2, 0, 0xff, 0xff, 0, 0, 0]);
    let r = parse(&seg).unwrap();
    assert!(r.options.sack_permitted);
    assert_eq!(r.options.mss, None);
}

#[test]
fn emit_into_short_buffer_does_not_panic() {
    let (s, d) = addrs();
    let mut r = base(TcpFlags::SYN, b"payload");
    r.options.mss = Some(1);
    for len in 0..r.buffer_len() {
        let mut buf = vec![0u8; len];
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &s, &d);
    }
}

#[test]
fn unchecked_getters_on_short_buffers() {
    let (s, d) = addrs();
    for len in 0..30 {
        let buf = vec![0xf0u8; len];
        let p = TcpPacket::new_unchecked(&buf[..]);
        let _ = (p.src_port(), p.seq_number(), p.header_len(), p.flags());
        let _ = (p.options(), p.payload(), p.verify_checksum(&s, &d));
        assert!(TcpRepr::parse(&p, &s, &d).is_err());
    }
}
