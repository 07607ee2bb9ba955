//! IP reassembly at the endpoint: IPv4 fragments (RFC 791, RFC 1122 §3.3.2) and IPv6
//! Fragment headers (RFC 8200 §4.5) reach TCP as if the datagram had arrived whole; overlaps
//! discard the datagram (RFC 5722); a bounded table with a timeout.

mod util;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use synack_proto::ip_reassembly::{Limits, Reassembler};
use synack_proto::{Config, Duration, Endpoint, FragmentStats, Instant};
use synack_wire::{
    Icmpv4Message, Icmpv6Message, Ipv4Packet, Ipv6FragHeader, Packet, TcpFlags, TcpOptions,
};
use util::*;

const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x5a, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x5a, 0, 0, 0, 0, 0, 2);
/// Hop-by-Hop (PadN) then Destination Options (PadN) then a Fragment header.
const HBH_DSTOPTS: [u8; 16] = [60, 0, 1, 4, 0, 0, 0, 0, 44, 0, 1, 4, 0, 0, 0, 0];

fn cfg4() -> Config {
    config(B_IP)
}

fn cfg6() -> Config {
    config(B_IP).with_local_addrs(vec![IpAddr::V6(B6)])
}

fn ends(v6: bool) -> (SocketAddr, SocketAddr) {
    if v6 {
        (
            SocketAddr::new(A6.into(), 5000),
            SocketAddr::new(B6.into(), 80),
        )
    } else {
        (addr(A_IP, 5000), addr(B_IP, 80))
    }
}

/// The data of an IPv4 datagram in fragments of `chunk` bytes (a multiple of 8).
fn frag4(pkt: &[u8], ident: u16, chunk: usize) -> Vec<Vec<u8>> {
    let data = &pkt[20..];
    let n = data.len().div_ceil(chunk);
    (0..n)
        .map(|i| {
            let d = &data[i * chunk..((i + 1) * chunk).min(data.len())];
            let mut f = pkt[..20].to_vec();
            f.extend_from_slice(d);
            let mut p = Ipv4Packet::new_unchecked(&mut f[..]);
            p.set_total_len((20 + d.len()) as u16);
            p.set_ident(ident);
            p.set_dont_frag(false);
            p.set_more_frags(i + 1 < n);
            p.set_frag_offset((i * chunk) as u16);
            p.fill_checksum();
            f
        })
        .collect()
}

/// The payload of an IPv6 datagram (no extension headers) in fragments of `chunk` bytes,
/// each with the unfragmentable headers `ext` (the first's type `first`, the last's next
/// header 44) before its Fragment header.
fn frag6(pkt: &[u8], ident: u32, chunk: usize, first: u8, ext: &[u8]) -> Vec<Vec<u8>> {
    let data = &pkt[40..];
    let n = data.len().div_ceil(chunk);
    (0..n)
        .map(|i| {
            let d = &data[i * chunk..((i + 1) * chunk).min(data.len())];
            let mut f = pkt[..40].to_vec();
            f[6] = if ext.is_empty() { 44 } else { first };
            f[4..6].copy_from_slice(&((ext.len() + 8 + d.len()) as u16).to_be_bytes());
            f.extend_from_slice(ext);
            let mut h = [0u8; 8];
            Ipv6FragHeader {
                next_header: pkt[6],
                offset: (i * chunk) as u16,
                more: i + 1 < n,
                ident,
            }
            .emit(&mut h);
            f.extend_from_slice(&h);
            f.extend_from_slice(d);
            f
        })
        .collect()
}

/// The orders the tests deliver fragments in.
fn orders(frags: &[Vec<u8>]) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let mut reversed = frags.to_vec();
    reversed.reverse();
    // Every fragment twice (exact duplicates are not overlaps), but the one that completes.
    let mut dup = Vec::new();
    for (i, f) in frags.iter().enumerate() {
        dup.push(f.clone());
        if i + 1 < frags.len() {
            dup.push(f.clone());
        }
    }
    let mut shuffled = frags.to_vec();
    shuffled.rotate_left(frags.len() / 2);
    vec![
        ("in order", frags.to_vec()),
        ("reversed", reversed),
        ("duplicated", dup),
        ("shuffled", shuffled),
    ]
}

fn syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1400),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((1, 0)),
        ..TcpOptions::default()
    }
}

/// What the server sends when a client SYNs and then sends 3000 bytes, each delivered by
/// `feed`, and the bytes the server reads.
fn server_run(v6: bool, feed: &dyn Fn(&mut Pair, &[u8])) -> (Vec<Vec<u8>>, Vec<u8>, Endpoint) {
    let (a, b) = ends(v6);
    let mut p = if v6 {
        Pair::with_configs(cfg6(), cfg6())
    } else {
        Pair::with_configs(cfg4(), cfg4())
    };
    p.b.listen(b, None).unwrap();
    let syn = packet(a, b, TcpFlags::SYN, 1000, 0, 65535, syn_options(), b"");
    feed(&mut p, &syn);
    let sa = p.one(Side::B);
    // SYN-ACK seq=y ack=x+1.
    assert_eq!((sa.flags(), sa.ack), ("S.".to_string(), 1001));
    let mut wire = vec![sa.raw.clone()];
    let ack = packet(
        a,
        b,
        TcpFlags::ACK,
        1001,
        sa.seq + 1,
        65535,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::B, &ack);
    let text: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let opts = TcpOptions::default();
    let data = packet(
        a,
        b,
        TcpFlags::PSH | TcpFlags::ACK,
        1001,
        sa.seq + 1,
        65535,
        opts,
        &text,
    );
    feed(&mut p, &data);
    let acks = p.out(Side::B);
    // ACK of all 3000 bytes.
    assert_eq!(acks.len(), 1);
    assert_eq!((acks[0].flags(), acks[0].ack), (".".to_string(), 4001));
    wire.extend(acks.iter().map(|s| s.raw.clone()));
    let h = p.b.accept(b).expect("connection established");
    let (got, _) = read_all(&mut p.b, h);
    assert_eq!(got, text);
    (wire, got, p.b)
}

fn whole(p: &mut Pair, pkt: &[u8]) {
    p.deliver(Side::B, pkt);
}

#[test]
fn ipv4_fragments_in_any_order_are_answered_as_the_whole_datagram_rfc791() {
    let (expected, _, _) = server_run(false, &whole);
    for order in 0..4 {
        // SYN in 8-byte fragments (nmap -f: the first holds 8 bytes of the TCP header, which
        // RFC 791 allows), the data in 1480-byte ones (what an MTU of 1500 makes).
        let feed = move |p: &mut Pair, pkt: &[u8]| {
            let chunk = if pkt.len() > 100 { 1480 } else { 8 };
            let (name, frags) = orders(&frag4(pkt, 0x4242, chunk)).swap_remove(order);
            for f in &frags {
                p.deliver(Side::B, f);
            }
            assert_eq!(p.b.reassembly_datagrams(), 0, "{name}: completed");
        };
        let (wire, _, ep) = server_run(false, &feed);
        assert_eq!(
            wire, expected,
            "order {order}: same segments, byte for byte"
        );
        let s = &ep.stats().fragments;
        let dups = if order == 2 { 4 + 2 } else { 0 };
        assert_eq!(
            (s.received, s.reassembled, s.duplicates),
            (8 + dups, 2, dups),
            "order {order}: the SYN in 5 fragments, the data in 3: {s:?}"
        );
        assert_eq!(ep.reassembly_memory(), 0);
    }
}

#[test]
fn ipv6_fragment_header_behind_hop_by_hop_and_destination_options_rfc8200() {
    let (expected, _, _) = server_run(true, &whole);
    for ext in [&[][..], &HBH_DSTOPTS[..]] {
        for order in 0..4 {
            let feed = move |p: &mut Pair, pkt: &[u8]| {
                // The first fragment must hold the TCP header (RFC 8200 §4.5): 24 bytes.
                let chunk = if pkt.len() > 100 { 1232 } else { 24 };
                let frags = frag6(pkt, 0xabcd_0001, chunk, 0, ext);
                for f in &orders(&frags)[order].1 {
                    p.deliver(Side::B, f);
                }
            };
            let (wire, _, ep) = server_run(true, &feed);
            assert_eq!(wire, expected, "ext {} order {order}", ext.len());
            assert_eq!(ep.stats().fragments.reassembled, 2);
            assert!(ep.stats().malformed.is_empty());
        }
    }
}

#[test]
fn atomic_fragment_is_processed_at_once_rfc6946() {
    let (expected, _, _) = server_run(true, &whole);
    let feed = |p: &mut Pair, pkt: &[u8]| {
        let frags = frag6(pkt, 9, 65535, 0, &[]);
        assert_eq!(frags.len(), 1, "offset 0, M clear");
        p.deliver(Side::B, &frags[0]);
    };
    let (wire, _, ep) = server_run(true, &feed);
    assert_eq!(wire, expected);
    assert_eq!(
        ep.stats().fragments,
        FragmentStats::default(),
        "never in the table"
    );
}

/// A 3-fragment SYN (IPv4, 8-byte pieces) from A to B.
fn syn_frags4(ident: u16) -> Vec<Vec<u8>> {
    let (a, b) = ends(false);
    let opts = TcpOptions::default();
    frag4(
        &packet(a, b, TcpFlags::SYN, 1000, 0, 65535, opts, b""),
        ident,
        8,
    )
}

fn drain(ep: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    while let Some(n) = ep.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn overlapping_fragments_discard_the_whole_datagram_rfc5722() {
    for v6 in [false, true] {
        let (a, b) = ends(v6);
        let mut ep = Endpoint::new(if v6 { cfg6() } else { cfg4() }, [3; 16]);
        ep.listen(b, None).unwrap();
        let payload = [0x55u8; 40];
        let syn = packet(
            a,
            b,
            TcpFlags::SYN,
            1000,
            0,
            65535,
            TcpOptions::default(),
            &payload,
        );
        let frags = if v6 {
            frag6(&syn, 1, 24, 0, &[])
        } else {
            frag4(&syn, 1, 24)
        };
        assert_eq!(frags.len(), 3);
        let now = Instant::from_secs(1);
        ep.handle(now, &frags[0]);
        // The same offset and length with other bytes is an overlap, not a duplicate.
        let mut evil = frags[1].clone();
        *evil.last_mut().unwrap() ^= 0xff;
        if !v6 {
            evil = frag4_fix(evil);
        }
        ep.handle(now, &frags[1]);
        ep.handle(now, &evil);
        assert_eq!(ep.stats().fragments.overlaps, 1, "v6={v6}");
        // Everything of that datagram is dropped until its timeout, the rest included.
        ep.handle(now, &frags[2]);
        ep.handle(now, &frags[0]);
        assert!(drain(&mut ep, now).is_empty(), "v6={v6}: no SYN-ACK");
        assert_eq!(ep.stats().fragments.reassembled, 0);
        assert_eq!(ep.reassembly_datagrams(), 1);
        // Its tombstone goes at the timeout, without a Time Exceeded or a timeout count.
        assert_eq!(ep.poll_timeout(), Some(now + Duration::from_secs(60)));
        ep.handle_timeout(now + Duration::from_secs(60));
        assert!(drain(&mut ep, now).is_empty());
        assert_eq!(ep.stats().fragments.timeouts, 0);
        assert_eq!(ep.reassembly_datagrams(), 0);
        // A partial overlap (16 bytes at offset 16 over the 24 at 0) too, and the later
        // datagram with another identification is unaffected.
        let mut other = if v6 {
            frag6(&syn, 2, 16, 0, &[])
        } else {
            frag4(&syn, 2, 16)
        };
        let shifted = other.remove(1);
        let mut fresh = if v6 {
            frag6(&syn, 2, 24, 0, &[])
        } else {
            frag4(&syn, 2, 24)
        };
        ep.handle(now, &fresh[0]);
        ep.handle(now, &shifted);
        assert_eq!(ep.stats().fragments.overlaps, 2);
        fresh = if v6 {
            frag6(&syn, 3, 24, 0, &[])
        } else {
            frag4(&syn, 3, 24)
        };
        for f in &fresh {
            ep.handle(now, f);
        }
        let out = drain(&mut ep, now);
        assert_eq!(out.len(), 1, "v6={v6}: the clean datagram is answered");
    }
}

/// Refill an IPv4 fragment's header checksum.
fn frag4_fix(mut f: Vec<u8>) -> Vec<u8> {
    Ipv4Packet::new_unchecked(&mut f[..]).fill_checksum();
    f
}

#[test]
fn reassembly_timeout_frees_the_entry_and_sends_time_exceeded_rfc1122_3_3_2() {
    let mut ep = Endpoint::new(cfg4(), [3; 16]);
    ep.listen(addr(B_IP, 80), None).unwrap();
    let frags = syn_frags4(7);
    let t0 = Instant::from_secs(5);
    ep.handle(t0, &frags[0]);
    ep.handle(t0 + Duration::from_secs(30), &frags[1]); // later fragments do not extend it
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let held = ep.reassembly_memory();
    assert!(held > 16 && held < 1024, "{held}");
    ep.handle_timeout(t0 + Duration::from_micros(59_999_999));
    assert_eq!(ep.reassembly_datagrams(), 1);
    ep.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!((ep.reassembly_datagrams(), ep.reassembly_memory()), (0, 0));
    assert_eq!(ep.stats().fragments.timeouts, 1);
    assert_eq!(ep.poll_timeout(), None);
    // The first fragment arrived: ICMP Time Exceeded, code 1, quoting its IP header and the
    // first 8 bytes of its data (RFC 792).
    let out = drain(&mut ep, t0);
    assert_eq!(out.len(), 1);
    let Ok(Packet::Icmpv4(ip, Icmpv4Message::TimeExceeded { code, original })) =
        synack_wire::parse_ip(&out[0])
    else {
        panic!("not a Time Exceeded: {:?}", synack_wire::parse_ip(&out[0]))
    };
    assert_eq!((ip.src_addr, ip.dst_addr, code), (B_IP, A_IP, 1));
    assert_eq!(original, &frags[0][..28]);
    assert_eq!(ep.stats().icmp_time_exceeded, 1);

    // Without the first fragment, no ICMP (RFC 792: only if fragment zero is available).
    ep.handle(t0, &frags[2]);
    ep.handle_timeout(t0 + Duration::from_secs(120));
    assert!(drain(&mut ep, t0).is_empty());
    assert_eq!(ep.stats().fragments.timeouts, 2);
}

#[test]
fn ipv6_reassembly_timeout_sends_icmpv6_time_exceeded_rfc8200() {
    let (a, b) = ends(true);
    let mut ep = Endpoint::new(cfg6(), [3; 16]);
    let syn = packet(a, b, TcpFlags::SYN, 1000, 0, 65535, syn_options(), b"");
    let frags = frag6(&syn, 5, 24, 0, &HBH_DSTOPTS);
    ep.handle(Instant::ZERO, &frags[0]);
    assert_eq!(ep.poll_timeout(), Some(Instant::from_secs(60)));
    ep.handle_timeout(Instant::from_secs(60));
    let out = drain(&mut ep, Instant::from_secs(60));
    let Ok(Packet::Icmpv6(ip, Icmpv6Message::TimeExceeded { code, original })) =
        synack_wire::parse_ip(&out[0])
    else {
        panic!("not a Time Exceeded")
    };
    assert_eq!((ip.src_addr, ip.dst_addr, code), (B6, A6, 1));
    assert_eq!(
        original,
        &frags[0][..],
        "the whole first fragment fits in 1280 bytes"
    );
}

#[test]
fn table_bound_evicts_the_oldest_datagram_and_memory_stays_bounded() {
    let mut ep = Endpoint::new(
        cfg4()
            .with_max_reassembly_datagrams(4)
            .with_max_reassembly_bytes(8 * 1024),
        [3; 16],
    );
    ep.listen(addr(B_IP, 80), None).unwrap();
    let now = Instant::from_secs(1);
    // First fragments of ten datagrams: the oldest six make room for the newer.
    for id in 0..10 {
        ep.handle(now + Duration::from_millis(id), &syn_frags4(id as u16)[0]);
    }
    assert_eq!(ep.reassembly_datagrams(), 4);
    assert_eq!(ep.stats().fragments.evicted, 6);
    // The earliest deadline is the oldest survivor's (datagram 6).
    assert_eq!(
        ep.poll_timeout(),
        Some(now + Duration::from_millis(6) + Duration::from_secs(60))
    );
    // Datagram 0 was evicted: its other fragments start afresh and do not complete it;
    // datagram 9 still completes.
    for f in &syn_frags4(0)[1..] {
        ep.handle(now, f);
    }
    for f in &syn_frags4(9)[1..] {
        ep.handle(now, f);
    }
    assert_eq!(ep.stats().fragments.reassembled, 1);
    assert_eq!(drain(&mut ep, now).len(), 1, "one SYN-ACK");

    let (a, b) = ends(false);
    // Bytes: 2 KiB first fragments of many datagrams never hold more than 8 KiB (three of
    // them, with their bookkeeping; the datagram bound, 4, is not what stops them).
    let big = packet(
        a,
        b,
        TcpFlags::ACK,
        1,
        1,
        65535,
        TcpOptions::default(),
        &[7; 6000],
    );
    let before = ep.stats().fragments.evicted;
    for id in 100..200u16 {
        ep.handle(now, &frag4(&big, id, 2048)[0]);
        assert!(
            ep.reassembly_memory() <= 8 * 1024,
            "{}",
            ep.reassembly_memory()
        );
    }
    assert_eq!(ep.reassembly_datagrams(), 3);
    assert!(ep.stats().fragments.evicted - before >= 97);
    // A datagram larger than the whole bound is dropped as it grows, never completed.
    let huge = packet(
        a,
        b,
        TcpFlags::ACK,
        1,
        1,
        65535,
        TcpOptions::default(),
        &[7; 20_000],
    );
    for f in frag4(&huge, 500, 1480) {
        ep.handle(now, &f);
        assert!(ep.reassembly_memory() <= 8 * 1024);
    }
    assert_eq!(ep.stats().fragments.reassembled, 1);
}

#[test]
fn malformed_fragments_are_dropped_and_counted() {
    let (a, b) = ends(false);
    let mut ep = Endpoint::new(cfg4(), [3; 16]);
    let now = Instant::from_secs(1);
    let seg = packet(
        a,
        b,
        TcpFlags::ACK,
        1,
        1,
        65535,
        TcpOptions::default(),
        &[1; 60],
    );
    let frags = frag4(&seg, 1, 16);
    // offset + length past 65535 (the "ping of death").
    let mut f = frags[1].clone();
    Ipv4Packet::new_unchecked(&mut f[..]).set_frag_offset(65528);
    ep.handle(now, &frag4_fix(f));
    // A middle fragment whose length is not a multiple of 8.
    let mut f = frags[1].clone();
    f.truncate(20 + 12);
    Ipv4Packet::new_unchecked(&mut f[..]).set_total_len(32);
    ep.handle(now, &frag4_fix(f));
    // An empty fragment.
    let mut f = frags[1].clone();
    f.truncate(20);
    Ipv4Packet::new_unchecked(&mut f[..]).set_total_len(20);
    ep.handle(now, &frag4_fix(f));
    assert_eq!(ep.stats().fragments.invalid, 3);
    assert_eq!(ep.reassembly_datagrams(), 0);

    // IPv6: a first fragment without the whole TCP header (RFC 8200 §4.5), and one whose
    // payload would pass 65535 bytes.
    let (a, b) = ends(true);
    let mut ep = Endpoint::new(cfg6(), [3; 16]);
    let seg = packet(
        a,
        b,
        TcpFlags::ACK,
        1,
        1,
        65535,
        TcpOptions::default(),
        &[1; 60],
    );
    let frags = frag6(&seg, 1, 16, 0, &[]);
    ep.handle(now, &frags[0]);
    let mut f = frag6(&seg, 1, 16, 0, &[])[1].clone();
    f[42..44].copy_from_slice(&65528u16.to_be_bytes()); // offset 65528, M clear
    ep.handle(now, &f);
    assert_eq!(ep.stats().fragments.invalid, 2);
    assert_eq!(ep.reassembly_datagrams(), 0);
    // A first fragment whose extension headers are cut: malformed before reassembly.
    // (Its Fragment header says a Destination Options header follows, of 48 bytes in 16.)
    let mut f = frags[0].clone();
    f[40] = 60;
    f[48..50].copy_from_slice(&[6, 5]);
    ep.handle(now, &f);
    assert_eq!(
        ep.stats().malformed,
        vec![(synack_wire::Error::BadExtHeader, 1)]
    );
    assert_eq!(ep.stats().fragments.received, 2);
}

#[test]
fn fragments_for_others_or_from_bad_addresses_are_not_held() {
    let mut ep = Endpoint::new(cfg4(), [3; 16]);
    let now = Instant::from_secs(1);
    let opts = TcpOptions::default();
    let other = packet(
        addr(A_IP, 1),
        addr(A_IP, 2),
        TcpFlags::SYN,
        1,
        0,
        1,
        opts,
        b"",
    );
    ep.handle(now, &frag4(&other, 1, 8)[0]);
    let bcast = std::net::Ipv4Addr::BROADCAST;
    let spoofed = packet(
        addr(bcast, 1),
        addr(B_IP, 80),
        TcpFlags::SYN,
        1,
        0,
        1,
        opts,
        b"",
    );
    ep.handle(now, &frag4(&spoofed, 1, 8)[0]);
    assert_eq!((ep.stats().not_ours, ep.stats().bad_address), (1, 1));
    assert_eq!(ep.stats().fragments.received, 0);
}

proptest! {
    /// Any datagram, split anywhere on 8-byte boundaries, delivered in any order with any
    /// exact duplicates (before it completes), reassembles to exactly itself.
    #[test]
    fn random_fragment_sets_reassemble_exactly(
        len in 8usize..6000,
        cuts in prop::collection::vec(1usize..800, 0..20),
        order_seed in any::<u64>(),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        v6 in any::<bool>(),
    ) {
        let (a, b) = ends(v6);
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
        let pkt = packet(a, b, TcpFlags::ACK, 9, 9, 1, TcpOptions::default(), &payload);
        let hl = if v6 { 40 } else { 20 };
        let data = &pkt[hl..];
        // Cut points, multiples of 8; the first piece holds the TCP header (20 bytes).
        let mut points: Vec<usize> = cuts.iter().map(|c| c * 8).filter(|&c| c >= 24 && c < data.len()).collect();
        points.extend([0, 24]); // at least two fragments
        points.sort();
        points.dedup();
        let mut frags: Vec<Vec<u8>> = Vec::new();
        for (i, &start) in points.iter().enumerate() {
            let end = points.get(i + 1).copied().unwrap_or(data.len());
            let mut f = pkt[..hl].to_vec();
            if v6 {
                f[6] = 44;
                f[4..6].copy_from_slice(&((8 + end - start) as u16).to_be_bytes());
                let mut h = [0u8; 8];
                Ipv6FragHeader { next_header: 6, offset: start as u16, more: end < data.len(), ident: 77 }.emit(&mut h);
                f.extend_from_slice(&h);
                f.extend_from_slice(&data[start..end]);
            } else {
                f.extend_from_slice(&data[start..end]);
                let mut p = Ipv4Packet::new_unchecked(&mut f[..]);
                p.set_total_len((20 + end - start) as u16);
                p.set_ident(77);
                p.set_more_frags(end < data.len());
                p.set_frag_offset(start as u16);
                p.fill_checksum();
            }
            frags.push(f);
        }
        // A deterministic shuffle, then duplicates of some fragments (not the last delivered).
        let mut s = order_seed | 1;
        for i in (1..frags.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            frags.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let last = frags.pop().unwrap();
        for d in &dups {
            if !frags.is_empty() {
                let f = frags[d.index(frags.len())].clone();
                frags.push(f);
            }
        }
        frags.push(last);
        let limits = Limits { max_datagrams: 4, max_bytes: 1 << 20, timeout: Duration::from_secs(60) };
        let mut r = Reassembler::new(limits, [1; 16]);
        let mut out = None;
        for (i, f) in frags.iter().enumerate() {
            let got = r.insert(Instant::ZERO, f);
            prop_assert_eq!(got.is_some(), i + 1 == frags.len(), "completes with the last");
            out = out.or(got);
        }
        let whole = out.unwrap();
        prop_assert_eq!(&whole[hl..], data);
        if v6 {
            prop_assert_eq!(&whole[..], &pkt[..]);
        } else {
            // The reassembled header: the first fragment's, MF and offset clear, checksum
            // refilled; the segment inside parses with its TCP checksum.
            let p = Ipv4Packet::new_checked(&whole[..]).unwrap();
            prop_assert!(p.verify_checksum());
            prop_assert_eq!(usize::from(p.total_len()), pkt.len());
            prop_assert!(matches!(synack_wire::parse_ip(&whole), Ok(Packet::Tcp(..))));
        }
        prop_assert_eq!((r.datagrams(), r.memory()), (0, 0));
    }
}
