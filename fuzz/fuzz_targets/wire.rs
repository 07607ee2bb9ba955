//! Fuzz target for synack-wire: parsers must never panic, and any datagram
//! that parses must survive a re-emit round trip:
//! parse(emit(parse(x))) == parse(x), up to the fields emission normalises
//! (IP length/flags, and SACK blocks beyond the 40-byte option budget).
//! The same goes for `parse_ip` over IPv4/IPv6 with TCP or ICMP(v6), and
//! `quoted_tcp` must never panic. `parse_ip_deferred`, finished by summing the
//! payload, must agree with `parse_ip` on every input, and `parse_ip_tcp_deferred` (the
//! receive path's parser) with `parse_ip_deferred`; the one-pass option parser with the
//! option iterator. The checksum kernels (the SIMD ones
//! that this CPU runs) must agree with a byte-by-byte RFC 1071 sum, copying to a destination
//! at any alignment.
#![no_main]

use core::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use synack_wire::checksum;
use synack_wire::{
    emit_icmpv4, emit_icmpv6, emit_ip_tcp, emit_ipv4_tcp, parse_ip, parse_ip_deferred,
    parse_ip_tcp_deferred, parse_ipv4_tcp, quoted_tcp, Deferred, Ipv4Packet, Ipv6Packet, Packet,
    TcpOption, TcpOptionIter, TcpOptions, TcpPacket, IPPROTO_ICMP, IPPROTO_ICMPV6,
};

fuzz_target!(|data: &[u8]| {
    options_agree(data);

    round_trip(data);
    round_trip_ip(data);
    deferred_agrees(data);
    sums_agree(data);
    let _ = quoted_tcp(data);

    // Random bytes rarely carry valid checksums; fix both up so the fuzzer
    // also explores the TCP header and option parsing behind them.
    let mut fixed = data.to_vec();
    if let Ok(mut ip) = Ipv4Packet::new_checked(&mut fixed[..]) {
        ip.fill_checksum();
        let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
        if ip.protocol() == IPPROTO_ICMP {
            fill_icmp_checksum(ip.payload_mut(), None);
        } else {
            TcpPacket::new_unchecked(ip.payload_mut()).fill_checksum(&src, &dst);
        }
        round_trip(&fixed);
        round_trip_ip(&fixed);
        deferred_agrees(&fixed);
    }
    let mut fixed = data.to_vec();
    if let Ok(mut ip) = Ipv6Packet::new_checked(&mut fixed[..]) {
        let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
        if ip.next_header() == IPPROTO_ICMPV6 {
            fill_icmp_checksum(ip.payload_mut(), Some((&src, &dst)));
        } else {
            TcpPacket::new_unchecked(ip.payload_mut()).fill_checksum(&src, &dst);
        }
        round_trip_ip(&fixed);
        deferred_agrees(&fixed);
    }
});

/// `checksum::sum` and `checksum::copy_and_sum` (to a destination offset by the first byte,
/// 0–63) give the byte-by-byte sum, and the copy is exact with its surroundings untouched.
fn sums_agree(data: &[u8]) {
    let naive = {
        let mut acc = data.chunks(2).fold(0u64, |acc, w| {
            let word = (u64::from(w[0]) << 8) | w.get(1).map_or(0, |&b| u64::from(b));
            acc + word
        });
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    };
    let fold = |s: u32| !checksum::combine(&[s]);
    assert_eq!(fold(checksum::sum(data)), naive);
    let at = usize::from(data.first().copied().unwrap_or(0) % 64);
    let mut buf = vec![0xa5u8; data.len() + 128];
    let got = checksum::copy_and_sum(&mut buf[at..at + data.len()], [data]);
    assert_eq!(fold(got), naive);
    assert_eq!(&buf[at..at + data.len()], data);
    assert!(buf[..at]
        .iter()
        .chain(&buf[at + data.len()..])
        .all(|&b| b == 0xa5));
}

/// `TcpOptions::parse` (one pass, fast paths for the usual layouts) reads what folding the
/// option iterator's items gives, errors included.
fn options_agree(data: &[u8]) {
    let mut reference = Ok(TcpOptions::default());
    for item in TcpOptionIter::new(data) {
        match (item, &mut reference) {
            (Err(e), r) => *r = Err(e),
            (Ok(opt), Ok(out)) => match opt {
                TcpOption::MaxSegmentSize(v) => out.mss = Some(v),
                TcpOption::WindowScale(v) => out.window_scale = Some(v),
                TcpOption::SackPermitted => out.sack_permitted = true,
                TcpOption::SackRange(b) => out.sack_blocks = b,
                TcpOption::Timestamps { tsval, tsecr } => out.timestamps = Some((tsval, tsecr)),
                _ => {}
            },
            (Ok(_), Err(_)) => {}
        }
    }
    assert_eq!(TcpOptions::parse(data), reference);
}

/// parse_ip_deferred + a copy-and-sum of the payload gives what parse_ip gives; the receive
/// path's parser gives the same segment, the same error, or NotTcp for a datagram that
/// carries something else (which parse_ip_deferred takes apart, or rejects by that
/// protocol's rules).
fn deferred_agrees(data: &[u8]) {
    match (parse_ip_deferred(data), parse_ip_tcp_deferred(data)) {
        (Ok(Deferred::Tcp(ip, tcp, pending)), Ok((src, dst, t, p))) => {
            assert_eq!((ip.src_addr(), ip.dst_addr()), (src, dst));
            assert_eq!((tcp, pending), (t, p));
        }
        // Another protocol: parse_ip_deferred's to take apart, with its own errors.
        (Ok(Deferred::Done(_)) | Err(_), Err(synack_wire::Error::NotTcp)) => {}
        (Err(e), Err(f)) => assert_eq!(e, f),
        (general, lean) => panic!("parse_ip_deferred {general:?}, parse_ip_tcp_deferred {lean:?}"),
    }
    let finished = parse_ip_deferred(data).and_then(|d| match d {
        Deferred::Tcp(ip, tcp, pending) => {
            let mut copy = vec![0u8; tcp.payload.len()];
            let (a, b) = copy.split_at_mut(tcp.payload.len() / 2);
            let sum = checksum::copy_and_sum_split(a, b, tcp.payload);
            if pending.verify(sum) {
                Ok(Packet::Tcp(ip, tcp))
            } else {
                Err(synack_wire::Error::BadChecksum)
            }
        }
        Deferred::Done(p) => Ok(p),
    });
    assert_eq!(finished, parse_ip(data));
}

/// Store a valid ICMP (no pseudo header) or ICMPv6 (with `addrs`) checksum.
fn fill_icmp_checksum(msg: &mut [u8], addrs: Option<(&IpAddr, &IpAddr)>) {
    if msg.len() < 4 {
        return;
    }
    msg[2..4].fill(0);
    let mut sums = vec![checksum::sum(msg)];
    if let Some((src, dst)) = addrs {
        sums.push(checksum::pseudo_header(
            src,
            dst,
            IPPROTO_ICMPV6,
            msg.len() as u32,
        ));
    }
    let c = checksum::combine(&sums);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
}

/// parse_ip → emit → parse_ip gives the same TCP segment / ICMP message.
fn round_trip_ip(data: &[u8]) {
    let Ok(packet) = parse_ip(data) else {
        return;
    };
    let mut buf = vec![0u8; data.len() + 64];
    match packet {
        Packet::Tcp(ip, tcp) => {
            let n = match emit_ip_tcp(&ip, &tcp, &mut buf) {
                Ok(n) => n,
                Err(synack_wire::Error::BadTotalLen) => return,
                Err(e) => panic!("emit of a parsed repr failed: {e}"),
            };
            let Ok(Packet::Tcp(ip2, tcp2)) = parse_ip(&buf[..n]) else {
                panic!("re-parse of emitted TCP datagram");
            };
            assert_eq!(ip2.src_addr(), ip.src_addr());
            assert_eq!(ip2.dst_addr(), ip.dst_addr());
            assert_eq!(tcp2.payload, tcp.payload);
            assert_eq!(tcp2.seq_number, tcp.seq_number);
            // The emitted datagram quotes back to its own 5-tuple.
            assert_eq!(
                quoted_tcp(&buf[..n]),
                Some((
                    ip.src_addr(),
                    ip.dst_addr(),
                    tcp.src_port,
                    tcp.dst_port,
                    tcp.seq_number
                ))
            );
        }
        Packet::Icmpv4(ip, msg) => {
            let n = emit_icmpv4(&ip, &msg, &mut buf).expect("emit icmpv4");
            let Ok(Packet::Icmpv4(_, msg2)) = parse_ip(&buf[..n]) else {
                panic!("re-parse of emitted ICMPv4");
            };
            assert_eq!(msg2, msg);
            if let Some(original) = msg.original() {
                let _ = quoted_tcp(original);
            }
        }
        Packet::Icmpv6(ip, msg) => {
            let n = emit_icmpv6(&ip, &msg, &mut buf).expect("emit icmpv6");
            let Ok(Packet::Icmpv6(_, msg2)) = parse_ip(&buf[..n]) else {
                panic!("re-parse of emitted ICMPv6");
            };
            assert_eq!(msg2, msg);
            if let Some(original) = msg.original() {
                let _ = quoted_tcp(original);
            }
        }
        Packet::Other(_) => {}
    }
}

fn round_trip(data: &[u8]) {
    let Ok((ip, tcp)) = parse_ipv4_tcp(data) else {
        return;
    };
    let mut buf = vec![0u8; 20 + tcp.buffer_len()];
    let n = match emit_ipv4_tcp(&ip, &tcp, &mut buf) {
        Ok(n) => n,
        // The canonical option layout can be a few bytes longer than the
        // received one, which may push a near-64 KiB datagram over the limit.
        Err(synack_wire::Error::BadTotalLen) => return,
        Err(e) => panic!("emit of a parsed repr failed: {e}"),
    };
    let (ip2, tcp2) = parse_ipv4_tcp(&buf[..n]).expect("re-parse of emitted datagram");

    // The IP payload length is recomputed from the canonical option layout.
    let mut ip_expect = ip;
    ip_expect.payload_len = tcp.buffer_len();
    assert_eq!(ip2, ip_expect);

    let mut tcp_expect = tcp;
    let mut sack = synack_wire::SackBlocks::new();
    for (l, r) in tcp
        .options
        .sack_blocks
        .iter()
        .take(tcp2.options.sack_blocks.len())
    {
        sack.push(l, r);
    }
    tcp_expect.options.sack_blocks = sack;
    assert_eq!(tcp2, tcp_expect);

    // A second round trip is exact.
    let mut buf2 = vec![0u8; n];
    let n2 = emit_ipv4_tcp(&ip2, &tcp2, &mut buf2).expect("second emit");
    assert_eq!(&buf[..n], &buf2[..n2]);
}
