//! "Never panics" property tests: arbitrary bytes through every parser and
//! getter, plus bytes behind a valid IPv4 header with fixed-up checksums so
//! parsing reaches the TCP and option code.

use core::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use synack_wire::{
    parse_ipv4_tcp, Ipv4Packet, Ipv4Repr, TcpOptionIter, TcpOptions, TcpPacket, TcpRepr,
};

fn poke_ipv4(bytes: &[u8]) {
    let _ = parse_ipv4_tcp(bytes);
    let p = Ipv4Packet::new_unchecked(bytes);
    let _ = (
        p.version(),
        p.header_len(),
        p.dscp(),
        p.ecn(),
        p.total_len(),
        p.ident(),
    );
    let _ = (
        p.dont_frag(),
        p.more_frags(),
        p.frag_offset(),
        p.ttl(),
        p.protocol(),
    );
    let _ = (
        p.checksum(),
        p.src_addr(),
        p.dst_addr(),
        p.verify_checksum(),
    );
    let _ = (p.options(), p.payload());
    let _ = Ipv4Repr::parse(&p);
    if let Ok(p) = Ipv4Packet::new_checked(bytes) {
        let _ = (p.options(), p.payload(), p.verify_checksum());
        let _ = Ipv4Repr::parse(&p);
    }
}

fn poke_tcp(bytes: &[u8]) {
    let s = IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4));
    let d: IpAddr = "::1".parse().unwrap();
    let p = TcpPacket::new_unchecked(bytes);
    let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number());
    let _ = (
        p.header_len(),
        p.flags(),
        p.window_len(),
        p.checksum(),
        p.urgent_at(),
    );
    let _ = (p.options(), p.payload(), p.verify_checksum(&s, &d));
    let _ = TcpRepr::parse(&p, &s, &s);
    let _ = p.flags().letters();
    if let Ok(p) = TcpPacket::new_checked(bytes) {
        let _ = TcpRepr::parse(&p, &s, &d);
        let _ = TcpOptions::parse(p.options());
    }
    let _ = TcpOptions::parse(bytes);
    for item in TcpOptionIter::new(bytes) {
        let _ = item;
    }
    // Setters on a copy never panic either.
    let mut copy = bytes.to_vec();
    let mut p = TcpPacket::new_unchecked(&mut copy[..]);
    p.set_header_len(60);
    p.set_seq_number(1);
    let _ = p.options_mut().len() + p.payload_mut().len();
    p.fill_checksum(&s, &d);
    let mut ip = Ipv4Packet::new_unchecked(&mut copy[..]);
    ip.set_header_len(60);
    ip.set_total_len(u16::MAX);
    let _ = ip.payload_mut().len();
    ip.fill_checksum();
}

/// A valid 20-byte IPv4 header (protocol TCP, optional IP options via IHL)
/// followed by `rest`, with total length and header checksum fixed up, and
/// the TCP checksum fixed up too when `fix_tcp`.
fn with_ip_header(ihl: u8, rest: &[u8], fix_tcp: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 20];
    buf.extend_from_slice(rest);
    let hl = usize::from(ihl) * 4;
    let total = buf.len().max(hl).min(usize::from(u16::MAX));
    buf.resize(total, 0);
    {
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(hl);
        p.set_total_len(total as u16);
        p.set_ttl(64);
        p.set_protocol(6);
        p.set_src_addr(Ipv4Addr::new(10, 1, 1, 1));
        p.set_dst_addr(Ipv4Addr::new(10, 2, 2, 2));
        p.fill_checksum();
    }
    if fix_tcp && total >= hl {
        let s = IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1));
        let d = IpAddr::V4(Ipv4Addr::new(10, 2, 2, 2));
        TcpPacket::new_unchecked(&mut buf[hl..]).fill_checksum(&s, &d);
    }
    buf
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn small_inputs(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        poke_ipv4(&bytes);
        poke_tcp(&bytes);
    }

    #[test]
    fn large_inputs(bytes in prop::collection::vec(any::<u8>(), 0..1600)) {
        poke_ipv4(&bytes);
        poke_tcp(&bytes);
    }

    #[test]
    fn deep_inputs(
        ihl in 5u8..=15,
        fix in any::<bool>(),
        rest in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let buf = with_ip_header(ihl, &rest, fix);
        poke_ipv4(&buf);
        // With fixed checksums, only TCP-level errors can remain.
        let res = parse_ipv4_tcp(&buf);
        if fix {
            if let Err(e) = res {
                prop_assert!(matches!(
                    e,
                    synack_wire::Error::Truncated
                        | synack_wire::Error::BadDataOffset
                        | synack_wire::Error::BadOptionLen
                        | synack_wire::Error::BadPort
                        | synack_wire::Error::BadTotalLen
                        | synack_wire::Error::BadHeaderLen
                ), "{:?}", e);
            }
        }
    }

    /// Plausible TCP headers: data offset 5..=15 with random options, so the
    /// option parser sees lots of inputs that pass the checksum.
    #[test]
    fn deep_tcp_options(
        doff in 5u8..=15,
        ports in (1u16.., 1u16..),
        opts in prop::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4), Just(5), Just(8), any::<u8>()],
            0..40,
        ),
        payload in prop::collection::vec(any::<u8>(), 0..50),
    ) {
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&ports.0.to_be_bytes());
        tcp[2..4].copy_from_slice(&ports.1.to_be_bytes());
        tcp[12] = doff << 4;
        tcp.extend_from_slice(&opts);
        tcp.extend_from_slice(&payload);
        let buf = with_ip_header(5, &tcp, true);
        if let Ok((ip, t)) = parse_ipv4_tcp(&buf) {
            // Re-emit and re-parse: canonical form is stable.
            let mut out = vec![0u8; 20 + t.buffer_len()];
            let n = synack_wire::emit_ipv4_tcp(&ip, &t, &mut out).unwrap();
            let (ip2, t2) = parse_ipv4_tcp(&out[..n]).unwrap();
            prop_assert_eq!(t2.payload, t.payload);
            prop_assert_eq!(ip2.src_addr, ip.src_addr);
            let mut expect = t.options;
            // Only as many SACK blocks as fit are re-emitted.
            let fit = t2.options.sack_blocks.len();
            expect.sack_blocks = synack_wire::SackBlocks::new();
            for (l, r) in t.options.sack_blocks.iter().take(fit) {
                expect.sack_blocks.push(l, r);
            }
            prop_assert_eq!(t2.options, expect);
        }
    }
}
