//! RFC 7323 §4.3 and §5.3 (R3): TS.Recent moves only for a segment that passed every check
//! that could discard it — the window (step 1), RST (2), SYN (4) and the ACK field (5). A
//! dropped segment that moved it would make PAWS drop the peer's genuine segments from then
//! on: one forged or corrupt segment would wedge the connection.
//!
//! The test plays B by hand against synack on A: each bogus segment carries TSval far ahead
//! (+200000); the reply must echo the old TS.Recent, and the peer's next genuine segment
//! (TSval +201) must be accepted and echoed.

mod util;

use synack_proto::{ConnHandle, State};
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

fn ts(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some((tsval, tsecr)),
        ..TcpOptions::default()
    }
}

/// Timestamps, window scaling and SACK agreed; every segment ACKed at once.
fn pair() -> Pair {
    let cfg = |ip| modern_config(ip).with_delayed_ack(None);
    Pair::with_configs(cfg(A_IP), cfg(B_IP))
}

/// A connection A→B, and B's latest TSval (what A holds as TS.Recent) and A's latest TSval.
fn established(p: &mut Pair) -> (ConnHandle, u32, u32) {
    let (c, _s) = p.establish();
    let from_b = p.wire.iter().rev().find(|(side, _, _)| *side == Side::B);
    let from_a = p.wire.iter().rev().find(|(side, _, _)| *side == Side::A);
    let peer_ts = from_b.unwrap().1.options.timestamps.unwrap().0;
    let our_ts = from_a.unwrap().1.options.timestamps.unwrap().0;
    (c, peer_ts, our_ts)
}

/// The peer's next genuine segment: 100 bytes at RCV.NXT with TSval `peer_ts + 201`. It must
/// be taken and acknowledged, echoing that TSval.
fn genuine_data_is_taken(p: &mut Pair, c: ConnHandle, peer_ts: u32, our_ts: u32) {
    let info = p.a.info(c).unwrap();
    let (nxt, una) = (info.rcv_nxt.get(), info.snd_nxt.get());
    let data = from_peer(
        &p.a,
        c,
        TcpFlags::ACK | TcpFlags::PSH,
        nxt,
        una,
        1000,
        ts(peer_ts.wrapping_add(201), our_ts),
        &[7u8; 100],
    );
    p.deliver(Side::A, &data);
    let ack = p.one(Side::A);
    assert_eq!(
        (ack.flags().as_str(), ack.seq, ack.ack),
        (".", una, nxt.wrapping_add(100)),
        "the genuine segment was taken, not dropped by PAWS"
    );
    assert_eq!(ack.options.timestamps.unwrap().1, peer_ts.wrapping_add(201));
    assert_eq!(read_all(&mut p.a, c).0, vec![7u8; 100]);
    assert_eq!(p.a.state(c), Some(State::Established));
}

/// `bogus` is answered with exactly one ACK `<SEQ=SND.NXT><ACK=RCV.NXT>` echoing the old
/// TS.Recent (a challenge ACK or a step-1 ACK), and leaves the state alone.
fn answered_with_the_old_ts_recent(p: &mut Pair, c: ConnHandle, bogus: &[u8], peer_ts: u32) {
    let info = p.a.info(c).unwrap();
    p.deliver(Side::A, bogus);
    let reply = p.one(Side::A);
    assert_eq!(
        (reply.flags().as_str(), reply.seq, reply.ack),
        (".", info.snd_nxt.get(), info.rcv_nxt.get())
    );
    assert_eq!(
        reply.options.timestamps.unwrap().1,
        peer_ts,
        "TS.Recent did not take the dropped segment's TSval"
    );
    assert_eq!(p.a.state(c), Some(State::Established));
    assert_eq!(p.a.info(c).unwrap().rcv_nxt, info.rcv_nxt);
}

#[test]
fn a_fin_acking_unsent_data_does_not_move_ts_recent_rfc7323_4_3() {
    let mut p = pair();
    let (c, peer_ts, our_ts) = established(&mut p);
    let info = p.a.info(c).unwrap();
    // FIN, ACK beyond SND.NXT: MAY-12 (RFC 5961 §5.2) challenges it; it is dropped.
    let fin = from_peer(
        &p.a,
        c,
        TcpFlags::FIN | TcpFlags::ACK,
        info.rcv_nxt.get(),
        info.snd_nxt.get().wrapping_add(1000),
        1000,
        ts(peer_ts.wrapping_add(200_000), our_ts),
        b"",
    );
    answered_with_the_old_ts_recent(&mut p, c, &fin, peer_ts);
    genuine_data_is_taken(&mut p, c, peer_ts, our_ts);
}

#[test]
fn an_inexact_rst_does_not_move_ts_recent_rfc7323_4_3() {
    let mut p = pair();
    let (c, peer_ts, our_ts) = established(&mut p);
    let nxt = p.a.info(c).unwrap().rcv_nxt.get();
    // In the window but not at RCV.NXT: a challenge ACK (RFC 5961 §3.2), then dropped.
    let rst = from_peer(
        &p.a,
        c,
        TcpFlags::RST,
        nxt.wrapping_add(100),
        0,
        0,
        ts(peer_ts.wrapping_add(200_000), our_ts),
        b"",
    );
    answered_with_the_old_ts_recent(&mut p, c, &rst, peer_ts);
    genuine_data_is_taken(&mut p, c, peer_ts, our_ts);
}

#[test]
fn a_syn_does_not_move_ts_recent_rfc7323_4_3() {
    let mut p = pair();
    let (c, peer_ts, our_ts) = established(&mut p);
    let info = p.a.info(c).unwrap();
    // A SYN in ESTABLISHED, at RCV.NXT: a challenge ACK (RFC 5961 §4.2), then dropped.
    let syn = from_peer(
        &p.a,
        c,
        TcpFlags::SYN,
        info.rcv_nxt.get(),
        0,
        1000,
        ts(peer_ts.wrapping_add(200_000), 0),
        b"",
    );
    answered_with_the_old_ts_recent(&mut p, c, &syn, peer_ts);
    genuine_data_is_taken(&mut p, c, peer_ts, our_ts);
}

#[test]
fn out_of_window_segments_do_not_move_ts_recent_rfc7323_4_3() {
    let mut p = pair();
    let (c, peer_ts, our_ts) = established(&mut p);
    let info = p.a.info(c).unwrap();
    let (nxt, una) = (info.rcv_nxt.get(), info.snd_nxt.get());
    // Beyond the right edge of the window.
    let beyond = from_peer(
        &p.a,
        c,
        TcpFlags::ACK,
        nxt.wrapping_add(info.rcv_wnd + 1000),
        una,
        1000,
        ts(peer_ts.wrapping_add(200_000), our_ts),
        &[1u8; 10],
    );
    answered_with_the_old_ts_recent(&mut p, c, &beyond, peer_ts);
    // Wholly before RCV.NXT (an old duplicate; SEG.SEQ <= Last.ACK.sent holds).
    let old = from_peer(
        &p.a,
        c,
        TcpFlags::ACK,
        nxt.wrapping_sub(500),
        una,
        1000,
        ts(peer_ts.wrapping_add(200_000), our_ts),
        &[1u8; 10],
    );
    answered_with_the_old_ts_recent(&mut p, c, &old, peer_ts);
    genuine_data_is_taken(&mut p, c, peer_ts, our_ts);
}

#[test]
fn a_segment_without_ack_does_not_move_ts_recent_rfc7323_4_3() {
    let mut p = pair();
    let (c, peer_ts, our_ts) = established(&mut p);
    let nxt = p.a.info(c).unwrap().rcv_nxt.get();
    // Step 5: "if the ACK bit is off, drop the segment and return" — silently.
    let no_ack = from_peer(
        &p.a,
        c,
        TcpFlags::PSH,
        nxt,
        0,
        1000,
        ts(peer_ts.wrapping_add(200_000), our_ts),
        &[1u8; 10],
    );
    p.deliver(Side::A, &no_ack);
    assert!(p.out(Side::A).is_empty());
    assert!(read_all(&mut p.a, c).0.is_empty(), "its text was dropped");
    genuine_data_is_taken(&mut p, c, peer_ts, our_ts);
}

#[test]
fn an_acceptable_segment_moves_ts_recent_and_later_older_ones_fail_paws_rfc7323_5_3() {
    // The rule still works the other way: a segment that passes every check moves TS.Recent,
    // and a later one with an older TSval is an old duplicate (R1).
    let mut p = pair();
    let (c, peer_ts, our_ts) = established(&mut p);
    genuine_data_is_taken(&mut p, c, peer_ts.wrapping_add(1000), our_ts);
    let info = p.a.info(c).unwrap();
    let stale = from_peer(
        &p.a,
        c,
        TcpFlags::ACK | TcpFlags::PSH,
        info.rcv_nxt.get(),
        info.snd_nxt.get(),
        1000,
        ts(peer_ts.wrapping_add(1200), our_ts),
        &[1u8; 10],
    );
    answered_with_the_old_ts_recent(&mut p, c, &stale, peer_ts.wrapping_add(1201));
    assert!(read_all(&mut p.a, c).0.is_empty(), "PAWS dropped it");
}

#[test]
fn the_compact_time_wait_entry_keeps_ts_recent_from_a_segment_it_drops_rfc7323_4_3() {
    let mut p = pair();
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    p.exchange();
    p.b.close(s).unwrap();
    let fin_b = p.one(Side::B);
    p.deliver(Side::A, &fin_b.raw);
    let last = p.one(Side::A);
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    assert_eq!(p.a.stats().time_wait_compacted, 1, "a compact entry now");
    let (peer_ts, _) = fin_b.options.timestamps.unwrap();
    let (our_ts, _) = last.options.timestamps.unwrap();
    // A FIN acknowledging what A never sent: challenged, dropped.
    let bogus = from_peer(
        &p.a,
        c,
        TcpFlags::FIN | TcpFlags::ACK,
        last.ack,
        last.seq.wrapping_add(1000),
        1000,
        ts(peer_ts.wrapping_add(200_000), our_ts),
        b"",
    );
    p.deliver(Side::A, &bogus);
    let challenge = p.one(Side::A);
    assert_eq!(
        (challenge.flags().as_str(), challenge.seq, challenge.ack),
        (".", last.seq, last.ack)
    );
    assert_eq!(challenge.options.timestamps.unwrap().1, peer_ts);
    // B's FIN, retransmitted with a later TSval, passes PAWS and is ACKed echoing TS.Recent,
    // still the TSval of the FIN that was taken.
    let again = from_peer(
        &p.a,
        c,
        TcpFlags::FIN | TcpFlags::ACK,
        fin_b.seq,
        fin_b.ack,
        1000,
        ts(peer_ts.wrapping_add(201), our_ts),
        b"",
    );
    p.deliver(Side::A, &again);
    let ack = p.one(Side::A);
    assert_eq!(
        (ack.flags().as_str(), ack.seq, ack.ack),
        (".", last.seq, last.ack)
    );
    assert_eq!(ack.options.timestamps.unwrap().1, peer_ts);
    assert_eq!(p.a.state(c), Some(State::TimeWait));
}
