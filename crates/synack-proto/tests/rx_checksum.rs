//! In-order text is checksummed while it is copied into the receive ring, not in a separate
//! pass first — or, when it is kept in its packet (`Endpoint::handle_owned`), by a read-only
//! sum. A segment whose checksum is bad must still have no effect at all (RFC 9293 MUST-3): no
//! ACK processing, no TS.Recent, no text, no ACK sent. Each test runs both ways.

mod util;

use synack_proto::{Endpoint, State};
use util::*;

fn bad_checksums(ep: &Endpoint) -> u64 {
    ep.stats()
        .malformed
        .iter()
        .filter(|(e, _)| *e == synack_wire::Error::BadChecksum)
        .map(|(_, n)| *n)
        .sum()
}

/// Segments long enough that their checksum is finished while they are copied; kept in
/// their packets from `keep` bytes of text up.
fn long_segments(ip: std::net::Ipv4Addr, keep: usize) -> synack_proto::Config {
    modern_config(ip)
        .with_mss(16_000)
        .with_keep_packets_min(keep)
}

/// Copied into the ring (summed on the way), or kept in the packet (summed in place).
const COPIED: usize = usize::MAX;
const KEPT: usize = 1;

#[test]
fn corrupted_in_order_text_copied_into_the_ring_is_dropped_without_a_trace_must_3() {
    corrupted_in_order_text_is_dropped_without_a_trace(COPIED);
}

#[test]
fn corrupted_in_order_text_kept_in_its_packet_is_dropped_without_a_trace_must_3() {
    corrupted_in_order_text_is_dropped_without_a_trace(KEPT);
}

fn corrupted_in_order_text_is_dropped_without_a_trace(keep: usize) {
    let mut p = Pair::with_configs(long_segments(A_IP, keep), long_segments(B_IP, keep));
    let (c, s) = p.establish();
    // B has data in flight, so the ACK riding on A's data would move B's SND.UNA.
    p.b.send(s, b"hello").unwrap();
    for seg in p.out(Side::B) {
        p.deliver(Side::A, &seg.raw);
    }
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 31 + 7) as u8).collect();
    p.a.send(c, &data).unwrap();
    let segs: Vec<Seg> = p
        .out(Side::A)
        .into_iter()
        .filter(|s| !s.payload.is_empty())
        .collect();
    assert!(segs.len() >= 2);
    assert!(
        segs[0].payload.len() >= synack_wire::tcp::DEFER_MIN,
        "checksummed in the copy"
    );
    assert_eq!(segs[0].ack, p.b.info(s).unwrap().snd_nxt.0, "acks B's data");

    let before = p.b.info(s).unwrap();
    for at in [
        segs[0].raw.len() - 1,
        segs[0].raw.len() - segs[0].payload.len(),
    ] {
        let mut bad = segs[0].raw.clone();
        bad[at] ^= 0x5a;
        p.deliver(Side::B, &bad);
        assert_eq!(p.b.info(s).unwrap(), before, "no state change at all");
        assert_eq!(p.b.state(s), Some(State::Established));
        assert!(p.out(Side::B).is_empty(), "no ACK for a corrupted segment");
        assert_eq!(read_all(&mut p.b, s).0, b"", "nothing readable");
    }
    assert_eq!(bad_checksums(&p.b), 2);
    assert_eq!(
        p.b.stats().packets_kept,
        0,
        "a corrupted packet is never kept"
    );

    // The intact segments are taken, byte-exact, and their ACK now counts.
    for seg in &segs {
        p.deliver(Side::B, &seg.raw);
    }
    p.exchange();
    assert_eq!(p.b.info(s).unwrap().bytes_acked, 5);
    let kept = p.b.stats().packets_kept;
    // (The rest of the data follows in the exchange, kept as well.)
    assert_eq!(
        kept >= segs.len() as u64,
        keep == KEPT,
        "{kept} packets kept"
    );
    assert_eq!(read_all(&mut p.b, s).0, data);
    assert_eq!(bad_checksums(&p.b), 2);
}

#[test]
fn in_order_bulk_through_a_wrapping_ring_is_byte_exact() {
    in_order_bulk_is_byte_exact(COPIED);
}

#[test]
fn in_order_bulk_kept_in_packets_and_read_in_odd_pieces_is_byte_exact() {
    in_order_bulk_is_byte_exact(KEPT);
}

fn in_order_bulk_is_byte_exact(keep: usize) {
    // A small receive buffer that the application drains in odd amounts, so that text is
    // staged across the end of the ring again and again (or packets are read in pieces).
    let cfg = |ip| {
        modern_config(ip)
            .with_recv_buffer(10_000)
            .with_mss(4000)
            .with_keep_packets_min(keep)
    };
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, s) = p.establish();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i ^ (i >> 7)) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = [0u8; 3333];
    while got.len() < data.len() {
        if sent < data.len() {
            sent += p.a.send(c, &data[sent..]).unwrap_or(0);
        }
        p.exchange();
        if let Ok(n) = p.b.recv(s, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        p.advance(synack_proto::Duration::from_millis(50));
    }
    assert!(got == data, "byte-exact");
    assert!(p.b.info(s).unwrap().bytes_received == data.len() as u64);
    assert_eq!(bad_checksums(&p.b), 0);
    assert_eq!(p.b.stats().packets_kept > 70, keep == KEPT);
}
