//! When segments go out: delayed ACK (SHLD-18/19, MUST-40), Nagle (SHLD-7, MUST-17),
//! keep-alive (MUST-24..29, SHLD-12), and the congestion window (RFC 5681/6928/9438).

mod util;

use synack_proto::congestion::Algorithm;
use synack_proto::{CloseReason, Duration, Event, Instant, State};
use util::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The defaults without quick ACKs: every in-order segment from the first is under the
/// delayed-ACK policy (SHLD-18/19).
fn pair_without_quick_acks() -> Pair {
    Pair::with_configs(
        modern_config(A_IP).with_quick_acks(0),
        modern_config(B_IP).with_quick_acks(0),
    )
}

#[test]
fn one_segment_is_acked_after_the_delay_two_at_once_shld_18_19_must_40() {
    let mut p = pair_without_quick_acks();
    let (c, _s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    p.a.send(c, &[1u8; 100]).unwrap();
    let seg = p.one(Side::A);
    p.deliver(Side::B, &seg.raw);
    assert!(p.out(Side::B).is_empty(), "delayed");
    let t = p.now;
    assert_eq!(p.b.poll_timeout(), Some(t + ms(40)));
    p.advance(ms(40));
    let ack = p.one(Side::B);
    assert_eq!(ack.ack, seg.seq.wrapping_add(100));

    // Two full-sized segments: the second is ACKed at once.
    p.a.send(c, &vec![2u8; 1448 * 2]).unwrap();
    let segs = p.out(Side::A);
    assert_eq!(segs.len(), 2);
    p.deliver(Side::B, &segs[0].raw);
    assert!(p.out(Side::B).is_empty());
    p.deliver(Side::B, &segs[1].raw);
    let ack = p.one(Side::B);
    assert_eq!(ack.ack, segs[1].seq.wrapping_add(1448));
}

#[test]
fn data_ready_to_send_carries_the_delayed_ack() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    p.a.send(c, b"question").unwrap();
    let q = p.one(Side::A);
    p.deliver(Side::B, &q.raw);
    p.b.send(s, b"answer").unwrap();
    let a = p.one(Side::B);
    assert_eq!(
        (a.flags().as_str(), a.ack),
        ("P.", q.seq.wrapping_add(8)),
        "ACK piggybacked"
    );
    assert_eq!(
        p.b.poll_timeout().map(|t| t > p.now + ms(40)),
        Some(true),
        "no delayed ACK left to send"
    );
}

#[test]
fn nagle_holds_a_small_segment_while_data_is_unacknowledged_shld_7() {
    // Without quick ACKs, so B's ACK for 'a' waits the delayed-ACK time.
    let mut p = pair_without_quick_acks();
    let (c, _s) = p.establish();
    p.a.send(c, b"a").unwrap();
    let a = p.one(Side::A);
    assert_eq!(a.payload, b"a", "nothing in flight: sent");
    p.a.send(c, b"b").unwrap();
    assert!(
        p.out(Side::A).is_empty(),
        "held while 'a' is unacknowledged"
    );
    p.a.send(c, b"c").unwrap();
    assert!(p.out(Side::A).is_empty(), "still held");
    p.deliver(Side::B, &a.raw);
    p.exchange();
    p.advance(ms(40)); // B's delayed ACK for 'a' releases "bc" as one segment
    let segs = p.exchange();
    let bc: Vec<_> = segs
        .iter()
        .filter(|(side, s)| *side == Side::A && !s.payload.is_empty())
        .collect();
    assert_eq!(bc.len(), 1);
    assert_eq!(bc[0].1.payload, b"bc");
}

/// Minshall's modification of Nagle (RFC 9293 A.3, draft-minshall-nagle-01, as in Linux): a
/// short segment waits only while an earlier *short* one is unacknowledged. The short tail of
/// a write that also filled a segment goes with it at once — classic Nagle held it until the
/// full segment's ACK, a round trip or a delayed ACK later — and a further short write still
/// waits behind that tail.
#[test]
fn nagle_lets_a_short_tail_follow_full_segments_at_once_minshall() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    let una = p.a.info(c).unwrap().snd_una.get();
    p.a.send(c, &[5u8; 1448 + 100]).unwrap();
    let segs = p.out(Side::A);
    let sent: Vec<_> = segs.iter().map(|s| (s.seq, s.payload.len())).collect();
    assert_eq!(
        sent,
        [(una, 1448), (una + 1448, 100)],
        "the tail did not wait"
    );
    p.a.send(c, b"x").unwrap();
    assert!(
        p.out(Side::A).is_empty(),
        "held: the 100-byte tail is a short segment still unacknowledged"
    );
    for s in &segs {
        p.deliver(Side::B, &s.raw);
    }
    p.exchange();
    p.advance(ms(40)); // B's delayed ACK (a full and a short segment: no ACK at once)
    p.exchange();
    let info = p.a.info(c).unwrap();
    assert_eq!(
        info.snd_nxt.get(),
        una + 1448 + 100 + 1,
        "'x' went once the tail was acked"
    );
}

#[test]
fn nodelay_sends_small_segments_at_once_must_17() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    p.a.send(c, b"a").unwrap();
    assert_eq!(p.one(Side::A).payload, b"a");
    p.a.send(c, b"b").unwrap();
    assert_eq!(
        p.one(Side::A).payload,
        b"b",
        "not held although 'a' is unacknowledged"
    );
    assert!(p.a.info(c).unwrap().nodelay);
}

#[test]
fn keepalive_is_off_by_default_must_25() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    assert_eq!(p.a.info(c).unwrap().keepalive, None);
    assert_eq!(
        p.next_timeout(),
        None,
        "an idle connection has no timer at all"
    );
}

#[test]
fn keepalive_probes_snd_nxt_minus_one_and_survives_one_lost_probe_must_26_29_shld_12() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    let idle = Duration::from_secs(2 * 3600); // MUST-28: default >= 2 h; we set it explicitly
    p.a.set_keepalive(c, Some(idle)).unwrap();
    let start = p.now;
    assert_eq!(p.a.poll_timeout(), Some(start + idle));
    p.advance(idle);
    let probe = p.one(Side::A);
    let info = p.a.info(c).unwrap();
    assert_eq!(
        (probe.flags().as_str(), probe.seq, probe.payload.len()),
        (".", info.snd_nxt.get().wrapping_sub(1), 0)
    );
    // The probe is lost; the next one follows after the interval (75 s) and is answered.
    p.advance(Duration::from_secs(75));
    let probe2 = p.one(Side::A);
    p.deliver(Side::B, &probe2.raw);
    let answer = p.one(Side::B);
    assert_eq!(answer.ack, info.snd_nxt.get(), "B ACKs what it has");
    p.deliver(Side::A, &answer.raw);
    assert_eq!(p.a.state(c), Some(State::Established));
    assert_eq!(
        p.a.poll_timeout(),
        Some(p.now + idle),
        "quiet again for the idle time"
    );
    let _ = s;
}

#[test]
fn keepalive_gives_up_after_nine_unanswered_probes() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    p.a.set_keepalive(c, Some(Duration::from_secs(60))).unwrap();
    let mut probes = 0;
    while p.a.state(c) == Some(State::Established) {
        p.fire_next_timeout();
        probes += p.out(Side::A).len();
    }
    assert_eq!(probes, 9);
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::TimedOut
    }));
    assert_eq!(p.now, Instant::ZERO + Duration::from_secs(60 + 9 * 75));
}

#[test]
fn initial_window_is_ten_segments_rfc6928() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    let info = p.a.info(c).unwrap();
    assert_eq!(info.cwnd, 10 * 1448);
    assert_eq!(info.congestion, Some(Algorithm::Cubic), "the default");
    assert_eq!(info.controller, "cubic");
    p.a.send(c, &vec![0u8; 100_000]).unwrap();
    assert_eq!(p.out(Side::A).len(), 10, "exactly IW leaves before any ACK");
}

#[test]
fn slow_start_grows_by_one_smss_per_ack() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    p.a.send(c, &vec![0u8; 1448 * 10]).unwrap();
    let segs = p.out(Side::A);
    let mut acks = Vec::new();
    for seg in &segs {
        p.deliver(Side::B, &seg.raw); // one at a time, as a link spaces them
        acks.extend(p.out(Side::B));
    }
    // B is in quick-ACK mode at the start (16 quick ACKs at most): one ACK per segment.
    assert_eq!(acks.len(), 10, "one quick ACK per segment");
    for a in &acks {
        p.deliver(Side::A, &a.raw);
    }
    // Appropriate byte counting, L = 1 SMSS per ACK (RFC 3465, RFC 5681 §3.1): nine ACKs
    // grow cwnd to 19 segments. The tenth does not: the round began (first ACK) with 9
    // segments in flight, under half of 19 — A had no more to send, it is not cwnd-limited
    // (RFC 7661; loss.rs).
    assert_eq!(p.a.info(c).unwrap().cwnd, 19 * 1448);
}

#[test]
fn slow_start_grows_by_one_smss_per_ack_of_two_segments_without_quick_acks_shld_19() {
    let mut p = pair_without_quick_acks();
    let (c, _s) = p.establish();
    p.a.send(c, &vec![0u8; 1448 * 10]).unwrap();
    let segs = p.out(Side::A);
    let mut acks = Vec::new();
    for seg in &segs {
        p.deliver(Side::B, &seg.raw);
        acks.extend(p.out(Side::B));
    }
    assert_eq!(acks.len(), 5, "one ACK per two full segments (SHLD-19)");
    for a in &acks {
        p.deliver(Side::A, &a.raw);
    }
    assert_eq!(p.a.info(c).unwrap().cwnd, 15 * 1448);
}

fn fast_retransmit_ssthresh(alg: Algorithm, sack: bool, prr: bool) -> (u32, u32, u32) {
    let cfg = |ip| {
        modern_config(ip)
            .with_congestion(alg)
            .with_sack(sack)
            .with_prr(prr)
            .with_delayed_ack(None)
            // The duplicate-ACK threshold and RFC 6675's IsLost are the trigger under test;
            // with RACK (rack.rs, tests/rack_tlp.rs) the first SACK already decides here,
            // where no time passes between the segments.
            .with_rack(false)
    };
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, _s) = p.establish();
    // One byte first, so A knows B's scaled window before the test begins.
    p.a.send(c, b"!").unwrap();
    p.exchange();
    p.a.send(c, &vec![0u8; 1448 * 10]).unwrap();
    let segs = p.out(Side::A);
    assert_eq!(segs.len(), 10);
    let cwnd_before = p.a.info(c).unwrap().cwnd;
    // The first segment is lost; each later one draws a duplicate ACK that reaches A.
    let mut rexmits = Vec::new();
    for seg in &segs[1..] {
        p.deliver(Side::B, &seg.raw);
        for a in p.out(Side::B) {
            p.deliver(Side::A, &a.raw);
            rexmits.extend(p.out(Side::A));
        }
    }
    let info = p.a.info(c).unwrap();
    assert!(info.in_recovery, "{alg:?} sack={sack}");
    assert_eq!(
        rexmits[0].seq, segs[0].seq,
        "the lost segment is resent, without a timer"
    );
    (cwnd_before, info.ssthresh, info.cwnd)
}

#[test]
fn fast_retransmit_newreno_halves_the_flight_rfc5681_3_2() {
    let (_, ssthresh, cwnd) = fast_retransmit_ssthresh(Algorithm::NewReno, false, true);
    assert_eq!(ssthresh, 5 * 1448, "FlightSize/2");
    // 9 duplicate ACKs: the third enters recovery with ssthresh + 3 SMSS, the six after it
    // inflate by one SMSS each.
    assert_eq!(
        cwnd,
        5 * 1448 + 3 * 1448 + 6 * 1448,
        "ssthresh + 3 SMSS, +1 SMSS per further dup ACK"
    );
}

#[test]
fn fast_retransmit_cubic_keeps_seventy_percent_rfc9438_4_6() {
    let (before, ssthresh, cwnd) = fast_retransmit_ssthresh(Algorithm::Cubic, true, false);
    assert_eq!(ssthresh, before * 7 / 10);
    assert_eq!(
        cwnd, ssthresh,
        "SACK recovery without PRR: cwnd = ssthresh, the pipe decides (RFC 6675)"
    );
    // With PRR the reduction is the same, the window is what the ACK clock allows: after
    // the nine duplicate ACKs the pipe is the retransmitted hole alone (1 segment), and
    // below ssthresh PRR's conservative bound lets out what was delivered (7 segments
    // reported by the ACKs since recovery began) less what was sent in recovery (2: the
    // fast retransmit and one segment NextSeg chose): cwnd = pipe + 5 segments.
    let (_, prr_ssthresh, prr_cwnd) = fast_retransmit_ssthresh(Algorithm::Cubic, true, true);
    assert_eq!(prr_ssthresh, ssthresh);
    assert_eq!(prr_cwnd, 6 * 1448);
}

/// RFC 6937 §3 (PRR) against RFC 6675 alone: 19 segments in flight, the first lost, and
/// more data waiting; the first two duplicate ACKs each send a new segment (Limited
/// Transmit, RFC 3042), so ssthresh = 21 / 2 segments (NewReno halves the flight). Each later
/// segment draws a duplicate ACK with SACK. RFC 6675 sets cwnd = ssthresh and sends
/// nothing new until the pipe has drained below it, then one segment per ACK; PRR sends
/// about one segment per two ACKs from the start (ssthresh / RecoverFS of what each ACK
/// delivers), so the sending rate falls gradually and never bursts.
fn recovery_sends_per_ack(prr: bool) -> Vec<usize> {
    let cfg = |ip| {
        modern_config(ip)
            .with_congestion(Algorithm::NewReno)
            .with_prr(prr)
            .with_hystart(false)
            .with_delayed_ack(None)
            .with_rack(false) // RFC 6675's trigger, as above
    };
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, _s) = p.establish();
    // One round of slow start: 10 segments ACKed one by one take cwnd from 10 to 20.
    p.a.send(c, &vec![0u8; 1448 * 10]).unwrap();
    for seg in p.out(Side::A) {
        p.deliver(Side::B, &seg.raw);
        for a in p.out(Side::B) {
            p.deliver(Side::A, &a.raw);
        }
    }
    // (The last ACK, with the flight drained, finds the window application-limited.)
    assert_eq!(p.a.info(c).unwrap().cwnd, 19 * 1448);
    p.a.send(c, &vec![0u8; 1448 * 40]).unwrap();
    let segs = p.out(Side::A);
    assert_eq!(segs.len(), 19);
    let mut per_ack = Vec::new();
    for seg in &segs[1..] {
        p.deliver(Side::B, &seg.raw);
        let mut sent = 0;
        for a in p.out(Side::B) {
            p.deliver(Side::A, &a.raw);
            sent += p.out(Side::A).len();
        }
        per_ack.push(sent);
    }
    let info = p.a.info(c).unwrap();
    assert!(info.in_recovery);
    // The flight at the third duplicate ACK: 19 plus the two Limited Transmit sent.
    assert_eq!(info.ssthresh, 21 * 1448 / 2);
    per_ack
}

#[test]
fn prr_spreads_the_reduction_over_the_acks_rfc6937() {
    let prr = recovery_sends_per_ack(true);
    let rfc6675 = recovery_sends_per_ack(false);
    // Both: Limited Transmit on the first two duplicate ACKs, the fast retransmit on the
    // third. Then RFC 6675 waits for eight ACKs, until the pipe has drained below ssthresh,
    // and sends one segment per ACK from there on.
    assert_eq!(
        rfc6675,
        [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    );
    // PRR: RecoverFS = 21 − 2 segments SACKed before recovery = 19; after the k-th ACK of
    // recovery, ceil(k · 10.5 / 19) segments may have been sent (the fast retransmit went
    // ahead of its share): one on the 4th, 6th, 8th, 10th, 11th and 13th ACK; then the pipe
    // is at ssthresh and what was delivered bounds the rest.
    assert_eq!(prr, [1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1]);
    // The same data goes out, spread over the recovery instead of held back, then burst.
    let sent = |v: &[usize]| v.iter().sum::<usize>();
    assert_eq!(sent(&prr[..11]), 6);
    assert_eq!(sent(&rfc6675[..11]), 3);
}

#[test]
fn rto_collapses_cwnd_to_one_segment_rfc5681_3_1() {
    // Without tail loss probes, the first timer to fire is the RTO (with them, a probe goes
    // first: tests/rack_tlp.rs).
    let cfg = |ip| modern_config(ip).with_tlp(false);
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, _s) = p.establish();
    p.a.send(c, &vec![0u8; 1448 * 4]).unwrap();
    p.out(Side::A); // all lost
    p.fire_next_timeout();
    let info = p.a.info(c).unwrap();
    assert_eq!(info.cwnd, 1448);
    assert_eq!(
        info.ssthresh,
        10 * 1448 * 7 / 10,
        "CUBIC: 0.7 x cwnd (RFC 9438 4.8)"
    );
    assert_eq!(p.out(Side::A).len(), 1, "one segment after the timeout");
}

#[test]
fn sack_recovery_resends_exactly_the_three_holes_without_a_timer() {
    let mut p = Pair::with_configs(
        modern_config(A_IP).with_delayed_ack(None),
        modern_config(B_IP).with_delayed_ack(None),
    );
    let (c, s) = p.establish();
    let data: Vec<u8> = (0..1448 * 10).map(|i| (i % 253) as u8).collect();
    p.a.send(c, &data).unwrap();
    let segs = p.out(Side::A);
    let lost = [2usize, 3, 4];
    for (i, seg) in segs.iter().enumerate() {
        if !lost.contains(&i) {
            p.deliver(Side::B, &seg.raw);
        }
    }
    for a in p.out(Side::B) {
        p.deliver(Side::A, &a.raw);
    }
    let re = p.out(Side::A);
    let re_seqs: Vec<u32> = re
        .iter()
        .filter(|s| s.seq < segs[9].seq)
        .map(|s| s.seq)
        .collect();
    assert_eq!(
        re_seqs,
        lost.iter().map(|&i| segs[i].seq).collect::<Vec<_>>()
    );
    for seg in &re {
        p.deliver(Side::B, &seg.raw);
    }
    p.exchange();
    assert_eq!(read_all(&mut p.b, s).0, data);
    let info = p.a.info(c).unwrap();
    assert_eq!(info.retransmits, 3);
    assert!(!info.in_recovery);
    assert_eq!(info.fast_retransmits, 1);
}

#[test]
fn segments_processed_together_are_acked_once_must_58_59() {
    let mut p = Pair::new(); // no delayed ACK: the aggregation is MUST-59's, not a timer's
    let (c, _s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    for _ in 0..4 {
        p.a.send(c, &[7u8; 100]).unwrap();
    }
    let segs: Vec<_> = (0..4).flat_map(|_| p.out(Side::A)).collect();
    assert_eq!(
        segs.len(),
        1,
        "nodelay with nothing ACKed yet still sends what is queued at once"
    );
    // Queue several segments at the receiver before it may send: one ACK covers them all.
    p.a.send(c, &[8u8; 100]).unwrap();
    let more = p.out(Side::A);
    for seg in segs.iter().chain(more.iter()) {
        p.deliver(Side::B, &seg.raw);
    }
    let acks = p.out(Side::B);
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0].ack, more[0].seq.wrapping_add(100));
}

#[test]
fn zero_window_probes_start_one_rto_after_the_window_closes_and_back_off_shld_29_30() {
    let mut cfg_b = config(B_IP);
    cfg_b.recv_buffer = 2 * 1460; // closes on a segment boundary (no SWS override first)
    let mut p = Pair::with_configs(config(A_IP), cfg_b);
    let (c, _s) = p.establish();
    p.a.send(c, &vec![1u8; 10_000]).unwrap();
    p.exchange(); // B's window closes; nobody reads
    assert_eq!(p.a.info(c).unwrap().snd_wnd, 0);
    let closed_at = p.now;
    let mut probe_times = Vec::new();
    while probe_times.len() < 6 {
        p.fire_next_timeout();
        for seg in p.out(Side::A) {
            assert_eq!(seg.payload.len(), 1, "a probe is one octet past the window");
            probe_times.push((p.now - closed_at).as_secs());
            p.deliver(Side::B, &seg.raw);
        }
        p.exchange(); // B answers each probe with its zero window
    }
    // RTO 1 s (no RTT sample on this instant link), doubling: 1, 3, 7, 15, 31, 63.
    assert_eq!(probe_times, vec![1, 3, 7, 15, 31, 63]);
    let info = p.a.info(c).unwrap();
    assert_eq!(
        (info.zero_window_probes, info.retransmits, info.timeouts),
        (6, 0, 0)
    );
    assert_eq!(info.state, synack_proto::State::Established);
}
