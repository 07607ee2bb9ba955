//! IPv6 extension headers (RFC 8200 §4): `parse_ip` walks Hop-by-Hop, Destination Options,
//! Routing (Segments Left 0) and atomic Fragment headers to TCP; fragments are `Fragmented`;
//! the walk agrees with etherparse's on random chains and never panics on random bytes.

use core::net::{IpAddr, Ipv6Addr};

use etherparse::Ipv6Slice;
use proptest::prelude::*;
use synack_wire::ipv6_ext::{IPPROTO_DSTOPTS, IPPROTO_HOPOPTS, IPPROTO_ROUTING};
use synack_wire::{
    emit_ipv6_tcp, ipv6_chain, parse_ip, parse_ipv6_tcp, Error, IpRepr, Ipv6FragHeader, Ipv6Repr,
    Packet, TcpFlags, TcpOptions, TcpRepr, IPPROTO_FRAGMENT, IPPROTO_TCP,
};

const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

fn syn() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: 1000,
        ack_number: 0,
        flags: TcpFlags::SYN,
        window_len: 65535,
        urgent_pointer: 0,
        options: TcpOptions {
            mss: Some(1440),
            ..TcpOptions::default()
        },
        payload: b"hello",
    }
}

/// An IPv6 TCP datagram with `ext` (a chain whose first next header is `first` and whose
/// last header's next header is TCP) between the fixed header and the segment.
fn with_ext(first: u8, ext: &[u8]) -> Vec<u8> {
    let ip = Ipv6Repr {
        src_addr: SRC,
        dst_addr: DST,
        next_header: IPPROTO_TCP,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
    };
    let mut plain = vec![0u8; 2000];
    let n = emit_ipv6_tcp(&ip, &syn(), &mut plain).unwrap();
    let mut out = plain[..40].to_vec();
    out[6] = first;
    out[4..6].copy_from_slice(&((n - 40 + ext.len()) as u16).to_be_bytes());
    out.extend_from_slice(ext);
    out.extend_from_slice(&plain[40..n]);
    out
}

fn fragment_header(next_header: u8, offset: u16, more: bool) -> [u8; 8] {
    let mut b = [0u8; 8];
    Ipv6FragHeader {
        next_header,
        offset,
        more,
        ident: 77,
    }
    .emit(&mut b);
    b
}

#[test]
fn tcp_behind_hop_by_hop_and_destination_options() {
    let mut ext = vec![IPPROTO_DSTOPTS, 0, 5, 2, 0, 0, 1, 0]; // HbH: router alert, PadN
    ext.extend_from_slice(&[IPPROTO_ROUTING, 0, 1, 4, 0, 0, 0, 0]); // DstOpts: PadN
    ext.extend_from_slice(&[IPPROTO_TCP, 0, 4, 0, 0, 0, 0, 0]); // Routing, Segments Left 0
    let pkt = with_ext(IPPROTO_HOPOPTS, &ext);
    let Packet::Tcp(IpRepr::V6(ip), tcp) = parse_ip(&pkt).unwrap() else {
        panic!("not TCP")
    };
    assert_eq!(tcp, syn());
    assert_eq!(ip.next_header, IPPROTO_TCP);
    assert_eq!(ip.payload_len, syn().buffer_len());
    assert_eq!((ip.src_addr, ip.dst_addr), (SRC, DST));
    assert_eq!(parse_ipv6_tcp(&pkt).unwrap().1, syn());
}

#[test]
fn atomic_fragment_is_processed_at_once_rfc6946() {
    let pkt = with_ext(IPPROTO_FRAGMENT, &fragment_header(IPPROTO_TCP, 0, false));
    let Packet::Tcp(_, tcp) = parse_ip(&pkt).unwrap() else {
        panic!("not TCP")
    };
    assert_eq!(tcp, syn());
}

#[test]
fn fragments_must_be_reassembled_first() {
    for (offset, more) in [(0, true), (8, true), (8, false)] {
        let pkt = with_ext(
            IPPROTO_FRAGMENT,
            &fragment_header(IPPROTO_TCP, offset, more),
        );
        assert_eq!(parse_ip(&pkt).unwrap_err(), Error::Fragmented);
        assert_eq!(parse_ipv6_tcp(&pkt).unwrap_err(), Error::Fragmented);
    }
}

#[test]
fn discarding_options_and_routing_headers_are_typed_errors() {
    let pkt = with_ext(IPPROTO_DSTOPTS, &[IPPROTO_TCP, 0, 0xc2, 4, 0, 1, 0, 0]); // Jumbo
    assert_eq!(parse_ip(&pkt).unwrap_err(), Error::UnknownOption);
    let pkt = with_ext(IPPROTO_ROUTING, &[IPPROTO_TCP, 0, 4, 2, 0, 0, 0, 0]);
    assert_eq!(parse_ip(&pkt).unwrap_err(), Error::RoutingHeader);
    // Hop-by-Hop second in the chain.
    let ext = [
        IPPROTO_HOPOPTS,
        0,
        1,
        4,
        0,
        0,
        0,
        0,
        IPPROTO_TCP,
        0,
        1,
        4,
        0,
        0,
        0,
        0,
    ];
    let pkt = with_ext(IPPROTO_DSTOPTS, &ext);
    assert_eq!(parse_ip(&pkt).unwrap_err(), Error::BadExtHeader);
}

#[test]
fn other_upper_layers_are_other_with_their_protocol() {
    // UDP behind a Destination Options header: Other, naming UDP and its length.
    let mut pkt = with_ext(IPPROTO_DSTOPTS, &[17, 0, 1, 4, 0, 0, 0, 0]);
    let Packet::Other(ip) = parse_ip(&pkt).unwrap() else {
        panic!("not Other")
    };
    assert_eq!((ip.protocol(), ip.payload_len()), (17, syn().buffer_len()));
    assert_eq!(ip.dst_addr(), IpAddr::V6(DST));
    // No Next Header.
    pkt[40] = 59;
    let Packet::Other(ip) = parse_ip(&pkt).unwrap() else {
        panic!("not Other")
    };
    assert_eq!(ip.protocol(), 59);
}

#[derive(Debug, Clone)]
enum Ext {
    Opts(u8 /* pad bytes */, bool /* PadN or Pad1s */),
    Routing(u8 /* routing type */, u8 /* units */),
    Frag(bool /* M */),
}

fn ext_strategy() -> impl Strategy<Value = Ext> {
    prop_oneof![
        (0u8..40, any::<bool>()).prop_map(|(n, p)| Ext::Opts(n, p)),
        (any::<u8>(), 0u8..4).prop_map(|(t, u)| Ext::Routing(t, u)),
        any::<bool>().prop_map(Ext::Frag),
    ]
}

/// The bytes of one header whose next header is `next`.
fn ext_bytes(e: &Ext, next: u8) -> Vec<u8> {
    match *e {
        Ext::Opts(pad, padn) => {
            // Options area: 2 + pad rounded up to a multiple of 8, minus the first 2 bytes.
            let total = (2 + usize::from(pad)).div_ceil(8) * 8;
            let units = total / 8 - 1;
            let mut h = vec![next, units as u8];
            let mut left = total - 2;
            while left > 0 {
                if padn && left >= 2 {
                    let n = (left - 2).min(255);
                    h.extend_from_slice(&[1, n as u8]);
                    h.extend(std::iter::repeat_n(0, n));
                    left -= 2 + n;
                } else {
                    h.push(0);
                    left -= 1;
                }
            }
            h
        }
        Ext::Routing(ty, units) => {
            let mut h = vec![next, units, ty, 0];
            h.resize((usize::from(units) + 1) * 8, 0x5a);
            h
        }
        Ext::Frag(more) => fragment_header(next, 0, more).to_vec(),
    }
}

fn ext_number(e: &Ext, first: bool) -> u8 {
    match e {
        Ext::Opts(..) if first => IPPROTO_HOPOPTS,
        Ext::Opts(..) => IPPROTO_DSTOPTS,
        Ext::Routing(..) => IPPROTO_ROUTING,
        Ext::Frag(_) => IPPROTO_FRAGMENT,
    }
}

proptest! {
    /// Differential: random chains (Hop-by-Hop first, options, routing with Segments Left 0,
    /// at most one first or atomic Fragment header) end where etherparse says they do.
    #[test]
    fn chain_walk_agrees_with_etherparse(
        exts in prop::collection::vec(ext_strategy(), 0..6),
        upper in prop::sample::select(vec![6u8, 17, 58, 59]),
    ) {
        // At most one Fragment header.
        let mut seen = false;
        let exts: Vec<Ext> = exts.into_iter().filter(|e| {
            let f = matches!(e, Ext::Frag(_));
            let keep = !(f && seen);
            seen |= f;
            keep
        }).collect();
        let numbers: Vec<u8> = exts.iter().enumerate().map(|(i, e)| ext_number(e, i == 0)).collect();
        let mut chain = Vec::new();
        for (i, e) in exts.iter().enumerate() {
            let next = numbers.get(i + 1).copied().unwrap_or(upper);
            chain.extend(ext_bytes(e, next));
        }
        let first = numbers.first().copied().unwrap_or(upper);
        let pkt = with_ext(first, &chain);
        let ours = ipv6_chain(&pkt).unwrap();
        let theirs = Ipv6Slice::from_slice(&pkt).unwrap();
        prop_assert_eq!(ours.upper, theirs.payload().ip_number.0);
        prop_assert_eq!(ours.upper_at, 40 + theirs.extensions().slice().len());
        prop_assert_eq!(ours.fragment.is_some(), theirs.is_payload_fragmented());
        let fragmented = exts.iter().any(|e| matches!(e, Ext::Frag(true)));
        match parse_ip(&pkt) {
            Err(Error::Fragmented) => prop_assert!(fragmented),
            Ok(Packet::Tcp(_, tcp)) => prop_assert_eq!(tcp, syn()),
            Ok(Packet::Other(ip)) => prop_assert_eq!(ip.protocol(), upper),
            // ICMPv6 over a TCP segment's bytes: its checksum fails.
            other => prop_assert!(upper == 58 && other.is_err(), "{other:?}"),
        }
    }

    /// Random bytes after a fixed header that starts an extension chain: no panic, and any
    /// walk that succeeds stays inside the packet.
    #[test]
    fn random_chains_never_panic(
        first in prop::sample::select(vec![0u8, 43, 44, 60]),
        ext in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let pkt = with_ext(first, &ext);
        let _ = parse_ip(&pkt);
        if let Ok(c) = ipv6_chain(&pkt) {
            prop_assert!(c.upper_at <= c.end && c.end <= pkt.len());
        }
    }
}
