//! IPv6, ICMPv4/ICMPv6, `parse_ip` dispatch and `quoted_tcp`, with
//! checksums and layouts cross-checked against `etherparse`.

mod common;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    icmpv4::DestUnreachableHeader, Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket,
    TransportSlice,
};
use proptest::prelude::*;
use synack_wire::{
    emit_icmpv4, emit_icmpv6, emit_ip_tcp, emit_ipv4_tcp, parse_ip, parse_ipv4_tcp, parse_ipv6_tcp,
    quoted_tcp, Error, Icmpv4Message, Icmpv6Message, IpRepr, Ipv4Packet, Ipv4Repr, Ipv6Packet,
    Ipv6Repr, Packet, TcpFlags, TcpOptions, TcpRepr, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP,
};

const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf);

fn ip6() -> Ipv6Repr {
    Ipv6Repr {
        src_addr: SRC6,
        dst_addr: DST6,
        next_header: 0, // filled in by the emit functions
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
    }
}

fn ip4() -> Ipv4Repr {
    common::ip()
}

fn datagram(ip: &IpRepr, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
    let n = emit_ip_tcp(ip, tcp, &mut buf).unwrap();
    assert_eq!(n, buf.len());
    buf
}

fn syn_ack() -> TcpRepr<'static> {
    common::tcp(
        TcpFlags::SYN | TcpFlags::ACK,
        TcpOptions {
            mss: Some(1440),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((1, 2)),
            ..Default::default()
        },
        &[],
    )
}

// ---------------------------------------------------------------- TCP/IPv6

#[test]
fn tcp_over_ipv6_round_trip() {
    let tcp = common::tcp(
        TcpFlags::PSH | TcpFlags::ACK,
        TcpOptions::default(),
        b"GET /",
    );
    let ip = IpRepr::V6(ip6());
    let buf = datagram(&ip, &tcp);
    assert_eq!(buf.len(), 40 + 20 + 5);
    assert_eq!(buf[0] >> 4, 6);
    assert_eq!(&buf[4..8], &[0, 25, IPPROTO_TCP, 64]);

    let (ip_back, tcp_back) = parse_ipv6_tcp(&buf).unwrap();
    assert_eq!(
        ip_back,
        Ipv6Repr {
            next_header: IPPROTO_TCP,
            payload_len: 25,
            ..ip6()
        }
    );
    assert_eq!(tcp_back, tcp);
    assert_eq!(
        parse_ip(&buf).unwrap(),
        Packet::Tcp(IpRepr::V6(ip_back), tcp)
    );

    // With options too.
    let buf = datagram(&ip, &syn_ack());
    assert_eq!(parse_ipv6_tcp(&buf).unwrap().1, syn_ack());

    // Trailing link-layer padding is ignored.
    let mut padded = buf.clone();
    padded.extend_from_slice(&[0; 7]);
    assert_eq!(parse_ipv6_tcp(&padded).unwrap().1, syn_ack());
}

#[test]
fn tcp_over_ipv6_checksum_is_not_the_ipv4_one() {
    // Same segment, v4-mapped addresses: the pseudo headers differ, so the
    // checksums differ and a v6 parse of a v4 checksum fails.
    let tcp = common::tcp(TcpFlags::ACK, TcpOptions::default(), b"x");
    let mut v6 = datagram(&IpRepr::V6(ip6()), &tcp);
    let v4 = datagram(&IpRepr::V4(ip4()), &tcp);
    v6[40..].copy_from_slice(&v4[20..]);
    assert_eq!(parse_ipv6_tcp(&v6).unwrap_err(), Error::BadChecksum);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Ours and etherparse's build of the same TCP/IPv6 packet are byte
    /// identical, each checks out under the other's parser.
    #[test]
    fn tcp_ipv6_matches_etherparse(
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
        hop in any::<u8>(),
        ports in (1u16.., 1u16..),
        seq in any::<u32>(),
        ack in any::<u32>(),
        window in any::<u16>(),
        syn in any::<bool>(),
        fin in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut b = PacketBuilder::ipv6(src, dst, hop).tcp(ports.0, ports.1, seq, window);
        let mut flags = TcpFlags::ACK;
        if syn { b = b.syn(); flags |= TcpFlags::SYN; }
        if fin { b = b.fin(); flags |= TcpFlags::FIN; }
        b = b.ack(ack);
        let mut theirs = Vec::new();
        b.write(&mut theirs, &payload).unwrap();

        let ip = IpRepr::V6(Ipv6Repr {
            src_addr: src.into(),
            dst_addr: dst.into(),
            next_header: 0,
            payload_len: 0,
            hop_limit: hop,
            traffic_class: 0,
        });
        let tcp = TcpRepr {
            src_port: ports.0,
            dst_port: ports.1,
            seq_number: seq,
            ack_number: ack,
            flags,
            window_len: window,
            urgent_pointer: 0,
            options: TcpOptions::default(),
            payload: &payload,
        };
        let ours = datagram(&ip, &tcp);
        prop_assert_eq!(&ours, &theirs);

        let sliced = SlicedPacket::from_ip(&ours).expect("etherparse parse");
        let Some(NetSlice::Ipv6(v6)) = sliced.net else { panic!("not ipv6") };
        prop_assert_eq!(v6.header().source(), src);
        prop_assert_eq!(v6.header().hop_limit(), hop);
        prop_assert_eq!(usize::from(v6.header().payload_length()), tcp.buffer_len());
        let Some(TransportSlice::Tcp(t)) = sliced.transport else { panic!("not tcp") };
        prop_assert_eq!(t.checksum(), t.calc_checksum_ipv6(src, dst).unwrap());

        let (_, back) = parse_ipv6_tcp(&theirs).unwrap();
        prop_assert_eq!(back, tcp);
    }

    /// With options, where layouts may differ: the checksum still verifies
    /// under etherparse's calculation.
    #[test]
    fn tcp_ipv6_with_options_checksum(
        payload in prop::collection::vec(any::<u8>(), 0..100),
        ts in any::<(u32, u32)>(),
    ) {
        let mut tcp = syn_ack();
        tcp.options.timestamps = Some(ts);
        tcp.payload = &payload;
        let ours = datagram(&IpRepr::V6(ip6()), &tcp);
        let sliced = SlicedPacket::from_ip(&ours).unwrap();
        let Some(TransportSlice::Tcp(t)) = sliced.transport else { panic!("not tcp") };
        prop_assert_eq!(t.checksum(), t.calc_checksum_ipv6(SRC6.octets(), DST6.octets()).unwrap());
        prop_assert_eq!(t.payload(), &payload[..]);
    }
}

// ---------------------------------------------------------------- ICMPv4

#[test]
fn icmpv4_echo_round_trip_and_etherparse() {
    let msg = Icmpv4Message::EchoRequest {
        ident: 0x4242,
        seq_no: 7,
        data: b"abcdefgh",
    };
    let mut buf = vec![0u8; 20 + msg.buffer_len()];
    let n = emit_icmpv4(&ip4(), &msg, &mut buf).unwrap();
    assert_eq!(n, 36);
    let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(p.protocol(), IPPROTO_ICMP);
    assert_eq!(p.total_len(), 36);
    let Packet::Icmpv4(ip, back) = parse_ip(&buf).unwrap() else {
        panic!("not icmpv4")
    };
    assert_eq!(back, msg);
    assert_eq!(ip.payload_len, 16);

    // etherparse builds the same ICMP message (its IPv4 header differs:
    // no DF, ident 0), so compare the ICMP part.
    let ip = ip4();
    let mut theirs = Vec::new();
    PacketBuilder::ipv4(ip.src_addr.octets(), ip.dst_addr.octets(), 64)
        .icmpv4_echo_request(0x4242, 7)
        .write(&mut theirs, b"abcdefgh")
        .unwrap();
    assert_eq!(&theirs[20..], &buf[20..]);
    assert_eq!(
        parse_ip(&theirs).unwrap(),
        Packet::Icmpv4(
            Ipv4Repr::parse(&Ipv4Packet::new_checked(&theirs[..]).unwrap()).unwrap(),
            msg,
        )
    );

    // Reply.
    let reply = Icmpv4Message::EchoReply {
        ident: 0x4242,
        seq_no: 7,
        data: b"abcdefgh",
    };
    let n = emit_icmpv4(&ip4(), &reply, &mut buf).unwrap();
    let sliced = SlicedPacket::from_ip(&buf[..n]).unwrap();
    let Some(TransportSlice::Icmpv4(s)) = sliced.transport else {
        panic!("not icmpv4")
    };
    assert!(matches!(s.icmp_type(), Icmpv4Type::EchoReply(h) if h.id == 0x4242 && h.seq == 7));
    assert_eq!(s.checksum(), s.icmp_type().calc_checksum(s.payload()));
}

#[test]
fn icmpv4_frag_needed_matches_etherparse() {
    let quote = [0x45u8; 28];
    let msg = Icmpv4Message::DestUnreachable {
        code: 4,
        next_hop_mtu: 1280,
        original: &quote,
    };
    let mut buf = vec![0u8; 20 + msg.buffer_len()];
    emit_icmpv4(&ip4(), &msg, &mut buf).unwrap();
    let ip = ip4();
    let mut theirs = Vec::new();
    PacketBuilder::ipv4(ip.src_addr.octets(), ip.dst_addr.octets(), 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1280 },
        ))
        .write(&mut theirs, &quote)
        .unwrap();
    assert_eq!(&theirs[20..], &buf[20..]);
    let Packet::Icmpv4(_, back) = parse_ip(&theirs).unwrap() else {
        panic!("not icmpv4")
    };
    assert_eq!(back, msg);
}

// ---------------------------------------------------------------- ICMPv6

fn their_icmpv6(ty: Icmpv6Type, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(SRC6.octets(), DST6.octets(), 64)
        .icmpv6(ty)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn our_icmpv6(msg: &Icmpv6Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 40 + msg.buffer_len()];
    let n = emit_icmpv6(&ip6(), msg, &mut buf).unwrap();
    assert_eq!(n, buf.len());
    buf
}

#[test]
fn icmpv6_echo_matches_etherparse() {
    for (request, data) in [
        (true, &b"hello, world"[..]),
        (false, &b"odd"[..]),
        (true, &[][..]),
    ] {
        let (ours, theirs) = if request {
            let mut t = Vec::new();
            PacketBuilder::ipv6(SRC6.octets(), DST6.octets(), 64)
                .icmpv6_echo_request(0xbeef, 3)
                .write(&mut t, data)
                .unwrap();
            let msg = Icmpv6Message::EchoRequest {
                ident: 0xbeef,
                seq_no: 3,
                data,
            };
            (our_icmpv6(&msg), t)
        } else {
            let mut t = Vec::new();
            PacketBuilder::ipv6(SRC6.octets(), DST6.octets(), 64)
                .icmpv6_echo_reply(0xbeef, 3)
                .write(&mut t, data)
                .unwrap();
            let msg = Icmpv6Message::EchoReply {
                ident: 0xbeef,
                seq_no: 3,
                data,
            };
            (our_icmpv6(&msg), t)
        };
        // Identical bytes, header and checksum included.
        assert_eq!(ours, theirs);
        assert_eq!(ours[6], IPPROTO_ICMPV6);

        // etherparse validates our checksum ...
        let sliced = SlicedPacket::from_ip(&ours).unwrap();
        let Some(TransportSlice::Icmpv6(s)) = sliced.transport else {
            panic!("not icmpv6")
        };
        assert!(s.is_checksum_valid(SRC6.octets(), DST6.octets()));
        assert!(!s.is_checksum_valid(DST6.octets(), [0; 16]));

        // ... and we parse theirs.
        let Packet::Icmpv6(ip, msg) = parse_ip(&theirs).unwrap() else {
            panic!("not icmpv6")
        };
        assert_eq!(ip.payload_len, 8 + data.len());
        match msg {
            Icmpv6Message::EchoRequest {
                ident,
                seq_no,
                data: d,
            } if request => {
                assert_eq!((ident, seq_no, d), (0xbeef, 3, data));
            }
            Icmpv6Message::EchoReply {
                ident,
                seq_no,
                data: d,
            } if !request => {
                assert_eq!((ident, seq_no, d), (0xbeef, 3, data));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn icmpv6_errors_match_etherparse() {
    let quote = [0x60u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    let cases = [
        (
            Icmpv6Message::PacketTooBig {
                mtu: 1280,
                original: &quote[..],
            },
            Icmpv6Type::PacketTooBig { mtu: 1280 },
        ),
        (
            Icmpv6Message::DestUnreachable {
                code: 4,
                original: &quote[..],
            },
            Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port),
        ),
        (
            Icmpv6Message::TimeExceeded {
                code: 0,
                original: &quote[..],
            },
            Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded),
        ),
    ];
    for (msg, ty) in cases {
        let theirs = their_icmpv6(ty, &quote);
        assert_eq!(our_icmpv6(&msg), theirs, "{msg:?}");
        let Packet::Icmpv6(_, back) = parse_ip(&theirs).unwrap() else {
            panic!("not icmpv6")
        };
        assert_eq!(back, msg);
    }
}

#[test]
fn icmpv6_ndp_is_other() {
    // A router solicitation (133) with 4 reserved bytes.
    let msg = Icmpv6Message::Other {
        icmp_type: 133,
        code: 0,
    };
    let buf = our_icmpv6(&msg);
    assert_eq!(buf.len(), 48);
    assert_eq!(
        parse_ip(&buf).unwrap(),
        Packet::Icmpv6(
            Ipv6Repr {
                next_header: IPPROTO_ICMPV6,
                payload_len: 8,
                ..ip6()
            },
            msg,
        )
    );
    let sliced = SlicedPacket::from_ip(&buf).unwrap();
    let Some(TransportSlice::Icmpv6(s)) = sliced.transport else {
        panic!("not icmpv6")
    };
    assert!(s.is_checksum_valid(SRC6.octets(), DST6.octets()));
}

// ---------------------------------------------------------------- quoted_tcp

#[test]
fn quoted_tcp_from_icmpv4_dest_unreachable() {
    let tcp = syn_ack();
    let sent = datagram(&IpRepr::V4(ip4()), &tcp);
    let expect = (
        IpAddr::V4(ip4().src_addr),
        IpAddr::V4(ip4().dst_addr),
        tcp.src_port,
        tcp.dst_port,
        tcp.seq_number,
    );
    // A router quotes the IP header + 8 bytes (RFC 792) or more (RFC 1812).
    for quote_len in [28, 40, sent.len()] {
        let msg = Icmpv4Message::DestUnreachable {
            code: 4,
            next_hop_mtu: 1400,
            original: &sent[..quote_len],
        };
        let router = Ipv4Repr {
            src_addr: Ipv4Addr::new(203, 0, 113, 1),
            dst_addr: ip4().src_addr,
            ..ip4()
        };
        let mut buf = vec![0u8; 20 + msg.buffer_len()];
        emit_icmpv4(&router, &msg, &mut buf).unwrap();
        let Packet::Icmpv4(
            ip,
            Icmpv4Message::DestUnreachable {
                code: 4,
                next_hop_mtu: 1400,
                original,
            },
        ) = parse_ip(&buf).unwrap()
        else {
            panic!("not a frag-needed")
        };
        assert_eq!(ip.src_addr, router.src_addr);
        assert_eq!(quoted_tcp(original), Some(expect));
    }
    assert_eq!(quoted_tcp(&sent[..27]), None);
}

#[test]
fn quoted_tcp_from_icmpv6_packet_too_big() {
    let tcp = syn_ack();
    let sent = datagram(&IpRepr::V6(ip6()), &tcp);
    let expect = (
        IpAddr::V6(SRC6),
        IpAddr::V6(DST6),
        tcp.src_port,
        tcp.dst_port,
        tcp.seq_number,
    );
    for quote_len in [48, 60, sent.len()] {
        let msg = Icmpv6Message::PacketTooBig {
            mtu: 1280,
            original: &sent[..quote_len],
        };
        let router = Ipv6Repr {
            src_addr: "2001:db8:ffff::1".parse().unwrap(),
            dst_addr: SRC6,
            ..ip6()
        };
        let mut buf = vec![0u8; 40 + msg.buffer_len()];
        emit_icmpv6(&router, &msg, &mut buf).unwrap();
        let Packet::Icmpv6(
            _,
            Icmpv6Message::PacketTooBig {
                mtu: 1280,
                original,
            },
        ) = parse_ip(&buf).unwrap()
        else {
            panic!("not a packet-too-big")
        };
        assert_eq!(quoted_tcp(original), Some(expect));
    }
    assert_eq!(quoted_tcp(&sent[..47]), None);

    // DestUnreachable quoting the same datagram.
    let msg = Icmpv6Message::DestUnreachable {
        code: 1,
        original: &sent,
    };
    let buf = our_icmpv6(&msg);
    let Packet::Icmpv6(_, m) = parse_ip(&buf).unwrap() else {
        panic!("not icmpv6")
    };
    assert_eq!(quoted_tcp(m.original().unwrap()), Some(expect));
}

#[test]
fn quoted_tcp_rejects() {
    assert_eq!(quoted_tcp(&[]), None);
    // UDP.
    let mut udp = Vec::new();
    PacketBuilder::ipv4([1, 2, 3, 4], [5, 6, 7, 8], 9)
        .udp(53, 53)
        .write(&mut udp, b"query")
        .unwrap();
    assert_eq!(quoted_tcp(&udp), None);
    let mut udp6 = Vec::new();
    PacketBuilder::ipv6(SRC6.octets(), DST6.octets(), 9)
        .udp(53, 53)
        .write(&mut udp6, b"query")
        .unwrap();
    assert_eq!(quoted_tcp(&udp6), None);

    let sent = datagram(&IpRepr::V4(ip4()), &syn_ack());
    // Version 5.
    let mut v5 = sent.clone();
    v5[0] = 0x55;
    assert_eq!(quoted_tcp(&v5), None);
    // IHL below 5.
    let mut ihl = sent.clone();
    ihl[0] = 0x44;
    assert_eq!(quoted_tcp(&ihl), None);
    // A non-first fragment has no TCP header.
    let mut frag = sent.clone();
    Ipv4Packet::new_unchecked(&mut frag[..]).set_frag_offset(8);
    assert_eq!(quoted_tcp(&frag), None);
    // A first fragment (MF, offset 0) does; so does a bad checksum or a
    // total length past the quote.
    let mut first = sent.clone();
    {
        let mut p = Ipv4Packet::new_unchecked(&mut first[..]);
        p.set_more_frags(true);
        p.set_checksum(0x1234);
        p.set_total_len(1500);
    }
    assert!(quoted_tcp(&first[..28]).is_some());

    // IPv4 options are skipped.
    let mut opts = sent[..20].to_vec();
    opts[0] = 0x46;
    opts.extend_from_slice(&[1, 1, 1, 0]);
    opts.extend_from_slice(&sent[20..28]);
    assert_eq!(quoted_tcp(&opts), quoted_tcp(&sent));
    assert_eq!(quoted_tcp(&opts[..31]), None);

    // IPv6 with an extension header first is not recognised.
    let mut ext = datagram(&IpRepr::V6(ip6()), &syn_ack());
    ext[6] = 0;
    assert_eq!(quoted_tcp(&ext), None);
}

// ---------------------------------------------------------------- parse_ip

#[test]
fn parse_ip_dispatch() {
    let tcp = syn_ack();
    let v4 = datagram(&IpRepr::V4(ip4()), &tcp);
    let (ip, t) = parse_ipv4_tcp(&v4).unwrap();
    assert_eq!(parse_ip(&v4).unwrap(), Packet::Tcp(IpRepr::V4(ip), t));

    let v6 = datagram(&IpRepr::V6(ip6()), &tcp);
    let (ip, t) = parse_ipv6_tcp(&v6).unwrap();
    assert_eq!(parse_ip(&v6).unwrap(), Packet::Tcp(IpRepr::V6(ip), t));

    let echo = Icmpv4Message::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"x",
    };
    let mut buf = vec![0u8; 29];
    emit_icmpv4(&ip4(), &echo, &mut buf).unwrap();
    assert!(matches!(parse_ip(&buf), Ok(Packet::Icmpv4(_, m)) if m == echo));
    assert_eq!(parse_ipv4_tcp(&buf).unwrap_err(), Error::NotTcp);

    let echo6 = Icmpv6Message::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"x",
    };
    let buf = our_icmpv6(&echo6);
    assert!(matches!(parse_ip(&buf), Ok(Packet::Icmpv6(_, m)) if m == echo6));
    assert_eq!(parse_ipv6_tcp(&buf).unwrap_err(), Error::NotTcp);

    // UDP is Other, for both versions.
    let mut udp = Vec::new();
    PacketBuilder::ipv4([1, 2, 3, 4], [5, 6, 7, 8], 9)
        .udp(53, 53)
        .write(&mut udp, b"query")
        .unwrap();
    let Packet::Other(ip) = parse_ip(&udp).unwrap() else {
        panic!("udp not Other")
    };
    assert_eq!((ip.version(), ip.protocol(), ip.payload_len()), (4, 17, 13));
    assert_eq!(ip.src_addr(), IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4)));
    assert_eq!(ip.hop_limit(), 9);
    let mut udp6 = Vec::new();
    PacketBuilder::ipv6(SRC6.octets(), DST6.octets(), 9)
        .udp(53, 53)
        .write(&mut udp6, b"query")
        .unwrap();
    let Packet::Other(ip) = parse_ip(&udp6).unwrap() else {
        panic!("udp6 not Other")
    };
    assert_eq!((ip.version(), ip.protocol(), ip.payload_len()), (6, 17, 13));
    assert_eq!(ip.dst_addr(), IpAddr::V6(DST6));
    assert_eq!(ip.buffer_len(), 40);

    // Errors.
    assert_eq!(parse_ip(&[]).unwrap_err(), Error::Truncated);
    let mut v5 = v4.clone();
    v5[0] = 0x55;
    assert_eq!(parse_ip(&v5).unwrap_err(), Error::BadVersion);
    for v in [0u8, 1, 7, 15] {
        assert_eq!(parse_ip(&[v << 4]).unwrap_err(), Error::BadVersion);
    }
    assert_eq!(parse_ip(&[0x45]).unwrap_err(), Error::Truncated);
    assert_eq!(parse_ip(&[0x60; 39]).unwrap_err(), Error::Truncated);
    assert_eq!(parse_ip(&v6[..50]).unwrap_err(), Error::BadTotalLen);
    let mut frag = v4.clone();
    {
        let mut p = Ipv4Packet::new_unchecked(&mut frag[..]);
        p.set_more_frags(true);
        p.fill_checksum();
    }
    assert_eq!(parse_ip(&frag).unwrap_err(), Error::Fragmented);
    // Inner errors propagate.
    let mut bad = v6.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(parse_ip(&bad).unwrap_err(), Error::BadChecksum);
    let mut bad = our_icmpv6(&echo6);
    bad[44] ^= 1;
    assert_eq!(parse_ip(&bad).unwrap_err(), Error::BadChecksum);
    let mut short = our_icmpv6(&echo6);
    short[5] = 4;
    short.truncate(44);
    assert_eq!(parse_ip(&short).unwrap_err(), Error::Truncated);
    // Version mismatches in the specific parsers.
    assert_eq!(parse_ipv6_tcp(&v4).unwrap_err(), Error::BadVersion);
    assert_eq!(parse_ipv4_tcp(&v6).unwrap_err(), Error::BadVersion);
}

// ---------------------------------------------------------------- emit errors

#[test]
fn emit_errors_and_ip_repr() {
    let tcp = syn_ack();
    for ip in [IpRepr::V4(ip4()), IpRepr::V6(ip6())] {
        let need = ip.buffer_len() + tcp.buffer_len();
        let mut buf = vec![0u8; need - 1];
        assert_eq!(
            emit_ip_tcp(&ip, &tcp, &mut buf).unwrap_err(),
            Error::Truncated
        );
        let mut buf = vec![0u8; need + 10];
        assert_eq!(emit_ip_tcp(&ip, &tcp, &mut buf).unwrap(), need);
        assert_eq!(ip.protocol(), 6 * u8::from(ip.version() == 4));
    }
    assert_eq!(IpRepr::from(ip4()).buffer_len(), 20);
    assert_eq!(IpRepr::from(ip6()).src_addr(), IpAddr::V6(SRC6));

    // Length limits: IPv4 total length <= 65535, IPv6 payload <= 65535.
    let big = vec![0u8; 65535 - 20 - 20 + 1];
    let t = common::tcp(TcpFlags::ACK, TcpOptions::default(), &big);
    let mut buf = vec![0u8; 70_000];
    assert_eq!(
        emit_ipv4_tcp(&ip4(), &t, &mut buf).unwrap_err(),
        Error::BadTotalLen
    );
    let n = emit_ip_tcp(&IpRepr::V6(ip6()), &t, &mut buf).unwrap();
    assert_eq!(n, 40 + 65535 - 20 + 1);
    assert_eq!(parse_ipv6_tcp(&buf[..n]).unwrap().1, t);
    let bigger = vec![0u8; 65535 - 20 + 1];
    let t = common::tcp(TcpFlags::ACK, TcpOptions::default(), &bigger);
    assert_eq!(
        emit_ip_tcp(&IpRepr::V6(ip6()), &t, &mut buf).unwrap_err(),
        Error::BadTotalLen
    );
    let huge = vec![0u8; 65535];
    let m = Icmpv6Message::EchoReply {
        ident: 0,
        seq_no: 0,
        data: &huge[..65535 - 8 + 1],
    };
    assert_eq!(
        emit_icmpv6(&ip6(), &m, &mut buf).unwrap_err(),
        Error::BadTotalLen
    );
    let m = Icmpv4Message::EchoReply {
        ident: 0,
        seq_no: 0,
        data: &huge[..65535 - 28 + 1],
    };
    assert_eq!(
        emit_icmpv4(&ip4(), &m, &mut buf).unwrap_err(),
        Error::BadTotalLen
    );
    let m = Icmpv4Message::EchoReply {
        ident: 0,
        seq_no: 0,
        data: b"abc",
    };
    assert_eq!(
        emit_icmpv4(&ip4(), &m, &mut buf[..30]).unwrap_err(),
        Error::Truncated
    );
    assert_eq!(
        emit_icmpv6(
            &ip6(),
            &Icmpv6Message::Other {
                icmp_type: 135,
                code: 0
            },
            &mut buf[..47]
        )
        .unwrap_err(),
        Error::Truncated
    );

    // The emit functions force protocol and length whatever the repr says.
    let lying = Ipv6Repr {
        next_header: 17,
        payload_len: 9999,
        ..ip6()
    };
    let n = emit_icmpv6(
        &lying,
        &Icmpv6Message::Other {
            icmp_type: 135,
            code: 0,
        },
        &mut buf,
    )
    .unwrap();
    let p = Ipv6Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!((p.next_header(), p.payload_len()), (58, 8));
}
