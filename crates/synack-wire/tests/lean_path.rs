//! The per-segment fast paths agree with the general code they short-cut: the one-pass
//! option parser with the option iterator, the receive path's TCP parser
//! (`parse_ip_tcp_deferred`) with `parse_ip_deferred`, and the emitter's checksum (summed
//! from the values it stores) with a naive sum over the bytes, on every option combination,
//! payload piece and IP version.

mod common;

use common::*;
use core::net::Ipv6Addr;
use proptest::prelude::*;
use synack_wire::{
    emit_ip_tcp_gather, parse_ip_deferred, parse_ip_tcp_deferred, Deferred, Error, IpRepr,
    Ipv6Repr, SackBlocks, TcpFlags, TcpOption, TcpOptionIter, TcpOptions,
};

/// What `TcpOptions::parse` gave when it folded the iterator (the reference): MUST-6 unknown
/// and wrong-length options ignored, MUST-7 a bad length rejects the area, later duplicates
/// win, nothing after EOL is read (MUST-69).
fn reference(bytes: &[u8]) -> Result<TcpOptions, Error> {
    let mut out = TcpOptions::default();
    for opt in TcpOptionIter::new(bytes) {
        match opt? {
            TcpOption::MaxSegmentSize(v) => out.mss = Some(v),
            TcpOption::WindowScale(v) => out.window_scale = Some(v),
            TcpOption::SackPermitted => out.sack_permitted = true,
            TcpOption::SackRange(b) => out.sack_blocks = b,
            TcpOption::Timestamps { tsval, tsecr } => out.timestamps = Some((tsval, tsecr)),
            TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
        }
    }
    Ok(out)
}

/// One option as bytes: mostly well-formed known kinds, some with wrong or broken lengths,
/// unknown kinds, NOP and EOL.
fn option_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![1]),
        Just(vec![0]),
        any::<u16>().prop_map(|m| vec![2, 4, (m >> 8) as u8, m as u8]),
        any::<u8>().prop_map(|s| vec![3, 3, s]),
        Just(vec![4, 2]),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| {
            let mut v = vec![8, 10];
            v.extend(a.to_be_bytes());
            v.extend(b.to_be_bytes());
            v
        }),
        prop::collection::vec(any::<u8>(), 0..=5 * 8).prop_map(|blocks| {
            let mut v = vec![5, (blocks.len() + 2) as u8];
            v.extend(blocks);
            v
        }),
        (0u8..=255, prop::collection::vec(any::<u8>(), 0..6)).prop_map(|(kind, data)| {
            let mut v = vec![kind, (data.len() + 2) as u8];
            v.extend(data);
            v
        }),
        // A length byte that is whatever it is (0, 1, past the end...).
        (2u8..=255, any::<u8>()).prop_map(|(kind, len)| vec![kind, len]),
    ]
}

fn option_area() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(option_bytes(), 0..8).prop_map(|opts| {
        let mut v: Vec<u8> = opts.concat();
        v.truncate(40);
        v
    })
}

fn options_strategy() -> impl Strategy<Value = TcpOptions> {
    (
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<bool>(),
        prop::collection::vec((any::<u32>(), any::<u32>()), 0..=4),
        any::<Option<(u32, u32)>>(),
    )
        .prop_map(|(mss, window_scale, sack_permitted, blocks, timestamps)| {
            let mut sack_blocks = SackBlocks::new();
            for (l, r) in blocks {
                sack_blocks.push(l, r);
            }
            TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                sack_blocks,
                timestamps,
            }
        })
}

fn ip_repr(v6: bool) -> IpRepr {
    if v6 {
        IpRepr::V6(Ipv6Repr {
            src_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            dst_addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0xffff, 2),
            next_header: 6,
            payload_len: 0,
            hop_limit: 64,
            traffic_class: 0,
        })
    } else {
        IpRepr::V4(ip())
    }
}

/// RFC 1071 the slow way: 16-bit big-endian words, carries folded at the end.
fn naive_sum(bytes: &[u8]) -> u32 {
    let mut acc = 0u64;
    for pair in bytes.chunks(2) {
        acc += u64::from(pair[0]) << 8 | u64::from(*pair.get(1).unwrap_or(&0));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// The TCP checksum of an emitted datagram verifies by the naive sum (MUST-2/MUST-3), and the
/// IPv4 header's too.
fn naive_verifies(datagram: &[u8], v6: bool) -> bool {
    let (ip_len, src, dst) = if v6 {
        (40, &datagram[8..24], &datagram[24..40])
    } else {
        if naive_sum(&datagram[..20]) != 0xffff {
            return false;
        }
        (20, &datagram[12..16], &datagram[16..20])
    };
    let segment = &datagram[ip_len..];
    let len = segment.len() as u32;
    let mut pseudo = src.to_vec();
    pseudo.extend(dst);
    pseudo.extend([0, 0, 0, 6]);
    pseudo.extend(len.to_be_bytes());
    let total = naive_sum(&pseudo) + naive_sum(segment);
    naive_sum(&total.to_be_bytes()) == 0xffff
}

#[test]
fn the_usual_layouts_parse_as_the_iterator_reads_them() {
    let layouts: [&[u8]; 6] = [
        &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        // Linux's SYN: MSS, SACK-permitted, TS, NOP, WS.
        &[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7,
        ],
        // NOP NOP SACK with two blocks after NOP NOP TS.
        &[
            1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 18, 0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 1, 0,
            0, 0, 2, 0,
        ],
        // TS at an odd offset (MUST-64), then EOL and garbage (MUST-69).
        &[1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0xff, 0xff, 0xff, 0xff],
        &[],
        // A 12-byte area that is not NOP NOP TS.
        &[2, 4, 2, 0x18, 1, 3, 3, 14, 4, 2, 0, 0],
    ];
    for bytes in layouts {
        assert_eq!(TcpOptions::parse(bytes), reference(bytes), "{bytes:?}");
    }
}

#[test]
fn a_non_tcp_datagram_is_not_tcp_to_the_receive_parser() {
    let echo = [
        0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 1, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7, 8, 0, 0xf7,
        0xff, 0, 0, 0, 0,
    ];
    let mut echo = echo.to_vec();
    let c = !naive_sum(&echo[..20]) as u16;
    echo[10..12].copy_from_slice(&c.to_be_bytes());
    assert!(matches!(parse_ip_deferred(&echo), Ok(Deferred::Done(_))));
    assert_eq!(parse_ip_tcp_deferred(&echo), Err(Error::NotTcp));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// MUST-4..7, MUST-64, MUST-69: the one-pass parser reads any option area as the
    /// iterator does, errors included.
    #[test]
    fn options_parse_as_the_iterator_reads_them(bytes in option_area()) {
        prop_assert_eq!(TcpOptions::parse(&bytes), reference(&bytes));
    }

    #[test]
    fn options_parse_of_any_bytes_as_the_iterator(
        bytes in prop::collection::vec(any::<u8>(), 0..=40)
    ) {
        prop_assert_eq!(TcpOptions::parse(&bytes), reference(&bytes));
    }

    /// What the emitter writes verifies by a naive checksum and parses back, for every set of
    /// options and a payload in up to three pieces, over IPv4 and IPv6.
    #[test]
    fn emitted_segments_verify_by_a_naive_checksum(
        options in options_strategy(),
        payload in prop::collection::vec(any::<u8>(), 0..600),
        cuts in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        v6 in any::<bool>(),
        flags in any::<u8>(),
        urgent in any::<u16>(),
    ) {
        let (a, b) = (cuts.0.index(payload.len() + 1), cuts.1.index(payload.len() + 1));
        let (a, b) = (a.min(b), a.max(b));
        let mut seg = tcp(TcpFlags(flags), options, &payload[..a]);
        seg.urgent_pointer = urgent;
        let more = [&payload[a..b], &payload[b..]];
        let ip = ip_repr(v6);
        let mut buf = vec![0xa5u8; 40 + seg.gather_len(&more) + 7];
        let n = emit_ip_tcp_gather(&ip, &seg, &more, &mut buf).unwrap();
        prop_assert_eq!(n, ip.buffer_len() + seg.gather_len(&more));
        prop_assert!(buf[n..].iter().all(|&x| x == 0xa5), "nothing written past the datagram");
        prop_assert!(naive_verifies(&buf[..n], v6));
        let Ok((src, dst, back, pending)) = parse_ip_tcp_deferred(&buf[..n]) else {
            panic!("does not parse back");
        };
        prop_assert_eq!((src, dst), (ip.src_addr(), ip.dst_addr()));
        prop_assert!(pending.verify_payload(back.payload));
        prop_assert_eq!(back.payload, &payload[..]);
        prop_assert_eq!(back.seq_number, seg.seq_number);
        prop_assert_eq!(back.flags, seg.flags);
        prop_assert_eq!(back.urgent_pointer, urgent);
        prop_assert_eq!(TcpOptions::parse(&buf[ip.buffer_len() + 20..ip.buffer_len() + seg.header_len()]),
            reference(&buf[ip.buffer_len() + 20..ip.buffer_len() + seg.header_len()]));
    }

    /// The receive path's parser gives what `parse_ip_deferred` gives, on valid, corrupted
    /// and truncated datagrams of both versions: the same segment, the same error, and
    /// `NotTcp` where the datagram carries another protocol.
    #[test]
    fn the_receive_parser_agrees_with_parse_ip_deferred(
        options in options_strategy(),
        payload in prop::collection::vec(any::<u8>(), 0..3000),
        v6 in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..3),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let seg = tcp(TcpFlags::ACK, options, &payload);
        let ip = ip_repr(v6);
        let mut buf = vec![0u8; 40 + seg.buffer_len()];
        let n = emit_ip_tcp_gather(&ip, &seg, &[], &mut buf).unwrap();
        buf.truncate(n);
        for (at, x) in flips {
            let at = at.index(buf.len());
            buf[at] ^= x;
        }
        if let Some(cut) = cut {
            let n = cut.index(buf.len());
            buf.truncate(n);
        }
        let general = parse_ip_deferred(&buf);
        let lean = parse_ip_tcp_deferred(&buf);
        match (general, lean) {
            (Ok(Deferred::Tcp(ip, tcp, pending)), Ok((src, dst, t, p))) => {
                prop_assert_eq!((ip.src_addr(), ip.dst_addr()), (src, dst));
                prop_assert_eq!(tcp, t);
                prop_assert_eq!(pending, p);
            }
            // Another protocol: parse_ip_deferred's to take apart, with its own errors.
            (Ok(Deferred::Done(_)) | Err(_), Err(Error::NotTcp)) => {}
            (Err(e), Err(f)) => prop_assert_eq!(e, f),
            (g, l) => prop_assert!(false, "parse_ip_deferred {:?}, lean {:?}", g, l),
        }
    }

    #[test]
    fn the_receive_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_ip_tcp_deferred(&bytes);
        let _ = TcpOptions::parse(&bytes);
    }
}
