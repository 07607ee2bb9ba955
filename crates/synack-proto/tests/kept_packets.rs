//! Packets kept whole (`Endpoint::handle_owned`, recv_buffer/kept.rs): large in-order text
//! stays in the packet it arrived in until the application reads it. It is an internal copy
//! saved, so nothing on the wire may change because of it: not a window, not an ACK.

mod util;

use synack_proto::Duration;
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

/// What one transfer put on the wire, what B's application read, and B's counters.
struct Run {
    wire: Vec<(Side, Vec<u8>, bool)>,
    got: Vec<u8>,
    kept: u64,
    saw_holes: bool,
}

/// 400 kB from A to B, whose application reads 2,500 bytes a round (so text piles up and the
/// window closes and opens), with every 23rd data segment A sends lost (so text arrives out
/// of order while packets are kept).
fn transfer(keep: usize) -> Run {
    let cfg = |ip| {
        modern_config(ip)
            .with_mss(8000)
            .with_recv_buffer(40_000)
            .with_keep_packets_min(keep)
            // Holes must outlive a round to be seen between rounds: RACK, with no time passing
            // inside a round, repairs each within the round that made it.
            .with_rack(false)
    };
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, s) = p.establish();
    let data: Vec<u8> = (0..400_000u32)
        .map(|i| ((i * 17) ^ (i >> 9)) as u8)
        .collect();
    let (mut sent, mut got, mut buf) = (0, Vec::new(), [0u8; 2500]);
    let (mut k, mut saw_holes) = (0u32, false);
    for _round in 0..20_000 {
        if got.len() == data.len() {
            break;
        }
        if sent < data.len() {
            sent += p.a.send(c, &data[sent..]).unwrap_or(0);
        }
        p.exchange_with(|side, seg| {
            if side == Side::A && !seg.payload.is_empty() {
                k += 1;
                k % 23 == 0
            } else {
                false
            }
        });
        saw_holes |= p.b.info(s).unwrap().recv_out_of_order > 0;
        if let Ok(n) = p.b.recv(s, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        p.advance(Duration::from_millis(5));
    }
    assert!(got == data, "byte-exact, in order (keep {keep})");
    Run {
        wire: p
            .wire
            .iter()
            .map(|(side, seg, lost)| (*side, seg.raw.clone(), *lost))
            .collect(),
        got,
        kept: p.b.stats().packets_kept,
        saw_holes,
    }
}

#[test]
fn keeping_packets_changes_nothing_on_the_wire() {
    let copied = transfer(usize::MAX);
    let kept = transfer(1);
    assert_eq!(copied.kept, 0);
    assert!(kept.kept > 40, "{} packets kept", kept.kept);
    assert!(
        kept.saw_holes,
        "out-of-order text arrived while packets were kept"
    );
    assert_eq!(copied.got, kept.got);
    assert_eq!(copied.wire.len(), kept.wire.len());
    for (i, (x, y)) in copied.wire.iter().zip(&kept.wire).enumerate() {
        assert!(
            x == y,
            "segment {i} differs: {:?} vs {:?}",
            Seg::parse(&x.1),
            Seg::parse(&y.1)
        );
    }
}

#[test]
fn kept_buffers_come_back_through_reclaim_once_read() {
    let cfg = |ip| {
        modern_config(ip)
            .with_mss(16_000)
            .with_keep_packets_min(4096)
    };
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    p.a.send(c, &[7u8; 40_000]).unwrap();
    let segs: Vec<Seg> = p.out(Side::A);
    let lens: Vec<usize> = segs.iter().map(|s| s.payload.len()).collect();
    assert_eq!(
        lens,
        [15_988, 15_988],
        "the initial window: two MSS less the timestamps"
    );
    let now = p.now;
    let mut ptrs = Vec::new();
    for seg in &segs {
        let packet = seg.raw.clone();
        ptrs.push(packet.as_ptr() as usize);
        assert!(
            p.b.handle_owned(now, packet, seg.raw.len()).is_none(),
            "kept"
        );
    }
    assert_eq!(p.b.stats().packets_kept, 2);
    assert!(p.b.reclaim().is_none(), "nothing read yet");
    // Half of the first packet: it stays.
    let mut buf = vec![0u8; 8000];
    assert_eq!(p.b.recv(s, &mut buf), Ok(8000));
    assert!(p.b.reclaim().is_none());
    // The rest of it and all of the second: both come back, the very buffers given.
    let mut buf = vec![0u8; 15_988 - 8000 + 15_988];
    assert_eq!(p.b.recv(s, &mut buf), Ok(buf.len()));
    let mut back: Vec<usize> = std::iter::from_fn(|| p.b.reclaim())
        .map(|b| b.as_ptr() as usize)
        .collect();
    back.sort();
    let mut want = ptrs[..2].to_vec();
    want.sort();
    assert_eq!(back, want);
    assert!(buf.iter().all(|&x| x == 7));
}

/// A packet the endpoint does not keep comes straight back: too short, not TCP, or for no
/// connection.
#[test]
fn a_packet_not_kept_is_handed_back() {
    let mut p = Pair::modern();
    let (c, _) = p.establish();
    p.a.send(c, b"short").unwrap();
    let seg = p.one(Side::A);
    let now = p.now;
    let mut roomy = Vec::with_capacity(65_536);
    roomy.extend_from_slice(&seg.raw);
    // keep_packets_min is 1 here, but the buffer is mostly empty: copied, handed back.
    let back =
        p.b.handle_owned(now, roomy, seg.raw.len())
            .expect("handed back");
    assert_eq!(back.capacity(), 65_536);
    assert_eq!(p.b.stats().packets_kept, 0);
    // Garbage: handed back, counted as malformed.
    assert!(p.b.handle_owned(now, vec![0x45; 30], 30).is_some());
    // A length past the buffer is clamped, not a panic.
    assert!(p.b.handle_owned(now, vec![0; 10], 1000).is_some());
}

// ----- the handoff: the buffer given, found by offsets, kept or handed back ------------------

/// A's side of a connection to the hand peer, where A keeps text of 100 bytes up.
fn keeping_pair() -> (Pair, synack_proto::ConnHandle, u32) {
    let mut p = Pair::with_configs(config(A_IP).with_keep_packets_min(100), config(B_IP));
    let (c, iss) = connect_to_hand_peer(&mut p, 65535, TcpOptions::default());
    (p, c, iss)
}

/// The hand peer's data segment carrying `text` from stream offset `at`, in a buffer of
/// its own size (so that keeping it is worth it).
fn peer_data(iss: u32, at: usize, text: &[u8]) -> Vec<u8> {
    let mut raw = packet(
        addr(B_IP, 80),
        addr(A_IP, 40000),
        TcpFlags::ACK | TcpFlags::PSH,
        HAND_PEER_ISN.wrapping_add(1 + at as u32),
        iss.wrapping_add(1),
        65535,
        TcpOptions::default(),
        text,
    );
    raw.shrink_to_fit();
    raw
}

/// The allocation a buffer lives in (to tell one buffer from another).
fn id(buf: &[u8]) -> *const u8 {
    buf.as_ptr()
}

/// A's segments since the last look, as (flags, ack).
fn acks(p: &mut Pair) -> Vec<(String, u32)> {
    p.out(Side::A).iter().map(|s| (s.flags(), s.ack)).collect()
}

/// The caller's buffer comes back from `handle_owned` exactly as given when it is not kept;
/// a kept one comes back through `reclaim` once its text is read, the same allocation,
/// exactly once — also when out-of-order text made the kept text move into the ring.
#[test]
fn the_handoff_gives_back_the_very_buffer_given() {
    let (mut p, c, iss) = keeping_pair();
    let text: Vec<u8> = (0..3000u32).map(|i| (i * 31 + i / 7) as u8).collect();
    let now = p.now;
    let nxt = |at: u32| HAND_PEER_ISN.wrapping_add(1 + at);
    // [0, 1000) in order: kept.
    let first = peer_data(iss, 0, &text[..1000]);
    let (first_id, first_cap, len) = (id(&first), first.capacity(), first.len());
    assert!(p.a.handle_owned(now, first, len).is_none(), "kept");
    assert_eq!(acks(&mut p), [(".".to_string(), nxt(1000))]);
    // [2000, 3000): out of order, never kept: the very buffer back, untouched.
    let third = peer_data(iss, 2000, &text[2000..]);
    let (third_id, third_copy, len) = (id(&third), third.clone(), third.len());
    let back = p.a.handle_owned(now, third, len).expect("handed back");
    assert_eq!((id(&back), &back), (third_id, &third_copy));
    assert_eq!(
        acks(&mut p),
        [(".".to_string(), nxt(1000))],
        "a duplicate ACK"
    );
    // [1000, 2000) fills the gap. Text is held behind it, so it goes into the ring: back.
    let second = peer_data(iss, 1000, &text[1000..2000]);
    let (second_id, len) = (id(&second), second.len());
    let back = p.a.handle_owned(now, second, len).expect("handed back");
    assert_eq!(id(&back), second_id);
    assert_eq!(acks(&mut p), [(".".to_string(), nxt(3000))]);
    assert!(p.a.reclaim().is_none(), "nothing read yet");
    let (got, _) = read_all(&mut p.a, c);
    assert!(got == text, "the stream, exactly");
    let back: Vec<Vec<u8>> = std::iter::from_fn(|| p.a.reclaim()).collect();
    assert_eq!(back.len(), 1, "the kept buffer, once");
    assert_eq!((id(&back[0]), back[0].capacity()), (first_id, first_cap));
    assert_eq!(p.a.stats().packets_kept, 1);
}

/// `raw`, an IPv4 datagram with a 20-byte header, with 4 bytes of IP options (NOP NOP NOP
/// EOL) added to its header (MUST-50: skipped).
fn with_ip_options(raw: &[u8]) -> Vec<u8> {
    let mut d = raw[..20].to_vec();
    d.extend_from_slice(&[1, 1, 1, 0]);
    d.extend_from_slice(&raw[20..]);
    let mut ip = synack_wire::Ipv4Packet::new_unchecked(&mut d[..]);
    ip.set_header_len(24);
    ip.set_total_len(raw.len() as u16 + 4);
    ip.fill_checksum();
    d
}

/// Kept text is found in its packet by the IP and TCP header lengths, not by the length of
/// what the caller handed over: IP options before it and link-layer padding after the
/// datagram shift nothing.
#[test]
fn kept_text_is_found_behind_ip_options_and_before_padding() {
    let (mut p, c, iss) = keeping_pair();
    let text: Vec<u8> = (0..1200u32).map(|i| (i * 7 + 1) as u8).collect();
    let mut d = with_ip_options(&peer_data(iss, 0, &text));
    let datagram = d.len();
    d.extend_from_slice(&[0xAB; 6]); // padding past the IP total length
    d.shrink_to_fit();
    let (d_id, len) = (id(&d), d.len());
    let now = p.now;
    assert!(p.a.handle_owned(now, d, len).is_none(), "kept");
    assert_eq!(datagram, 24 + 20 + 1200);
    assert_eq!(
        acks(&mut p),
        [(".".to_string(), HAND_PEER_ISN.wrapping_add(1201))]
    );
    let (got, _) = read_all(&mut p.a, c);
    assert!(got == text, "exactly the segment's text");
    assert_eq!(p.a.reclaim().map(|b| id(&b)), Some(d_id));
}

/// The same over IPv6 with an extension header (Destination Options, PadN) between the
/// fixed header and TCP.
#[test]
fn kept_text_is_found_behind_ipv6_extension_headers() {
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};
    let a6 = Ipv6Addr::new(0xfd00, 0x5a, 0, 0, 0, 0, 0, 1);
    let b6 = Ipv6Addr::new(0xfd00, 0x5a, 0, 0, 0, 0, 0, 2);
    let (me, peer) = (
        SocketAddr::new(a6.into(), 40000),
        SocketAddr::new(b6.into(), 80),
    );
    let mut p = Pair::with_configs(
        config(A_IP)
            .with_local_addrs(vec![IpAddr::V6(a6)])
            .with_keep_packets_min(100),
        config(B_IP),
    );
    let c = p.a.connect(p.now, me, peer).unwrap();
    let iss = p.one(Side::A).seq;
    let syn_ack = packet(
        peer,
        me,
        TcpFlags::SYN | TcpFlags::ACK,
        HAND_PEER_ISN,
        iss.wrapping_add(1),
        65535,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::A, &syn_ack);
    assert_eq!(acks(&mut p), [(".".to_string(), HAND_PEER_ISN + 1)]);
    let text: Vec<u8> = (0..1200u32).map(|i| (i * 13 + 5) as u8).collect();
    let raw = packet(
        peer,
        me,
        TcpFlags::ACK,
        HAND_PEER_ISN + 1,
        iss.wrapping_add(1),
        65535,
        TcpOptions::default(),
        &text,
    );
    // Next header 60 (Destination Options): 8 bytes, a PadN option of 4 zero bytes.
    let mut d = raw[..40].to_vec();
    d[6] = 60;
    let payload_len = u16::from_be_bytes([d[4], d[5]]) + 8;
    d[4..6].copy_from_slice(&payload_len.to_be_bytes());
    d.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    d.extend_from_slice(&raw[40..]);
    d.shrink_to_fit();
    let (d_id, len) = (id(&d), d.len());
    let now = p.now;
    assert!(p.a.handle_owned(now, d, len).is_none(), "kept");
    assert_eq!(acks(&mut p), [(".".to_string(), HAND_PEER_ISN + 1201)]);
    let (got, _) = read_all(&mut p.a, c);
    assert!(got == text, "exactly the segment's text");
    assert_eq!(p.a.reclaim().map(|b| id(&b)), Some(d_id));
}
