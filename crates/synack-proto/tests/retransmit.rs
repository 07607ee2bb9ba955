//! Retransmission: RFC 6298 timers in virtual time, R1/R2 (RFC 9293 §3.8.3), and recovery of
//! every lost handshake and close segment.

mod util;

use synack_proto::{CloseReason, Duration, Error, Event, Instant, State};
use util::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn lost_syn_is_retransmitted_after_1s_and_rto_is_3s_after_the_handshake_rfc6298_5_7() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A); // lost
    assert_eq!(
        p.next_timeout(),
        Some(Instant::from_secs(1)),
        "initial RTO 1 s (RFC 6298 2.1)"
    );
    p.fire_next_timeout();
    let again = p.one(Side::A);
    assert_eq!(
        (again.flags().as_str(), again.seq),
        ("S", syn.seq),
        "same SYN, same ISN (MUST-22)"
    );
    p.deliver(Side::B, &again.raw);
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::Established));
    // Karn: the SYN-ACK of a retransmitted SYN gives no sample, so RTO is 3 s (§5.7) and the
    // initial window is one segment (RFC 5681 §3.1).
    let info = p.a.info(c).unwrap();
    assert_eq!(info.srtt, None);
    assert_eq!(info.rto, secs(3));
    assert_eq!(info.cwnd, u32::from(info.mss));
}

#[test]
fn lost_syn_ack_is_retransmitted_by_the_listener() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A);
    p.deliver(Side::B, &syn.raw);
    let synack = p.one(Side::B); // lost
                                 // Both time out after 1 s: A resends its SYN, B its SYN-ACK.
    assert_eq!(p.fire_next_timeout(), Instant::from_secs(1));
    let syn2 = p.one(Side::A);
    let synack2 = p.one(Side::B);
    assert_eq!((syn2.flags().as_str(), syn2.seq), ("S", syn.seq));
    assert_eq!(
        (synack2.flags().as_str(), synack2.seq, synack2.ack),
        ("S.", synack.seq, synack.ack)
    );
    // The duplicate SYN at B (SYN-RECEIVED) draws the SYN-ACK once more.
    p.deliver(Side::B, &syn2.raw);
    let synack3 = p.one(Side::B);
    assert_eq!((synack3.flags().as_str(), synack3.seq), ("S.", synack.seq));
    p.deliver(Side::A, &synack2.raw);
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::Established));
    assert!(p.b.accept(addr(B_IP, 80)).is_some());
}

#[test]
fn lost_third_ack_is_recovered_by_the_syn_ack_retransmission() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A);
    p.deliver(Side::B, &syn.raw);
    let synack = p.one(Side::B);
    p.deliver(Side::A, &synack.raw);
    let ack = p.one(Side::A); // lost
    assert_eq!(p.a.state(c), Some(State::Established));
    p.fire_next_timeout();
    let synack2 = p.one(Side::B);
    assert_eq!(synack2.flags(), "S.");
    p.deliver(Side::A, &synack2.raw);
    // ESTABLISHED A sees an old SYN-ACK: not acceptable, so it ACKs again (step 1).
    let ack2 = p.one(Side::A);
    assert_eq!(
        (ack2.flags().as_str(), ack2.seq, ack2.ack),
        (".", ack.seq, ack.ack)
    );
    p.deliver(Side::B, &ack2.raw);
    assert!(p.b.accept(addr(B_IP, 80)).is_some());
}

#[test]
fn lost_fin_is_retransmitted() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.now = Instant::from_secs(10);
    p.a.close(c).unwrap();
    let fin = p.one(Side::A); // lost
    let rto = p.a.info(c).unwrap().rto;
    assert_eq!(p.next_timeout(), Some(p.now + rto));
    p.fire_next_timeout();
    let fin2 = p.one(Side::A);
    assert_eq!((fin2.flags().as_str(), fin2.seq), ("F.", fin.seq));
    p.deliver(Side::B, &fin2.raw);
    assert_eq!(p.b.state(s), Some(State::CloseWait));
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::FinWait2));
}

#[test]
fn lost_last_fin_is_retransmitted_from_last_ack() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    p.exchange();
    p.b.close(s).unwrap();
    let _lost = p.one(Side::B);
    p.fire_next_timeout();
    p.exchange();
    assert_eq!(p.b.state(s), None);
    assert_eq!(p.a.state(c), Some(State::TimeWait));
}

#[test]
fn connect_to_a_silent_host_times_out_after_at_least_3_minutes_must_23() {
    let mut p = Pair::new();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let mut sent_at = Vec::new();
    loop {
        let segs = p.out(Side::A);
        for s in &segs {
            assert_eq!(s.flags(), "S");
            sent_at.push(p.now.as_micros() / 1_000_000);
        }
        if p.a.state(c) != Some(State::SynSent) {
            break;
        }
        p.fire_next_timeout();
    }
    // RTO doubles from 1 s (RFC 6298 5.5) and is capped at 60 s; R2 for a SYN is 180 s.
    assert_eq!(sent_at, vec![0, 1, 3, 7, 15, 31, 63, 123]);
    // The last expiry (123 + 60) is capped at R2: the attempt fails at exactly 3 minutes.
    assert_eq!(p.now, Instant::from_secs(180));
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::TimedOut
    }));
    assert!(
        p.a_events.contains(&Event::DeliveryProblem {
            conn: c,
            retransmits: 3
        }),
        "R1 (SHLD-9)"
    );
    let mut buf = [0u8; 1];
    assert_eq!(p.a.recv(c, &mut buf), Err(Error::TimedOut));
}

#[test]
fn data_to_a_vanished_peer_times_out_at_the_user_timeout_must_20_must_21() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    p.a.set_user_timeout(c, Some(secs(30))).unwrap();
    let start = p.now;
    p.a.send(c, b"anyone there?").unwrap();
    p.out(Side::A); // everything is lost from now on
    while p.a.state(c) == Some(State::Established) {
        p.fire_next_timeout();
        p.out(Side::A);
    }
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::TimedOut
    }));
    let took = p.now - start;
    assert!(
        took >= secs(30) && took < secs(30 + 60),
        "gave up after {took:?}"
    );
}

#[test]
fn infinite_user_timeout_never_gives_up_must_21() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    p.a.set_user_timeout(c, None).unwrap();
    p.a.send(c, b"x").unwrap();
    p.out(Side::A);
    for _ in 0..100 {
        p.fire_next_timeout();
        assert_eq!(p.one(Side::A).payload, b"x");
    }
    assert_eq!(p.a.state(c), Some(State::Established));
    assert_eq!(p.a.info(c).unwrap().rto, secs(60), "backoff capped at 60 s");
}

#[test]
fn rtt_sample_sets_rto_rfc6298() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A);
    p.now = Instant::from_millis(50);
    p.deliver(Side::B, &syn.raw);
    let synack = p.one(Side::B);
    p.now = Instant::from_millis(100);
    p.deliver(Side::A, &synack.raw);
    let info = p.a.info(c).unwrap();
    assert_eq!(info.srtt, Some(Duration::from_millis(100)));
    assert_eq!(info.rttvar, Duration::from_millis(50));
    assert_eq!(
        info.rto,
        secs(1),
        "300 ms rounds up to the 1 s minimum (2.4)"
    );
}

#[test]
fn out_of_order_segments_are_held_and_reassembled_shld_31() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    p.a.set_nodelay(c, true).unwrap(); // the short tail goes out at once (MUST-17)
    p.a.send(c, &data).unwrap();
    let segs = p.out(Side::A);
    assert_eq!(segs.len(), 4, "1460+1460+1460+620");
    // Deliver in reverse order: each early arrival draws an immediate duplicate ACK.
    for seg in segs.iter().rev() {
        p.deliver(Side::B, &seg.raw);
    }
    let acks = p.out(Side::B);
    assert_eq!(acks.last().unwrap().ack, segs[0].seq.wrapping_add(5000));
    assert!(
        acks.iter().take(3).all(|a| a.ack == segs[0].seq),
        "dup ACKs for RCV.NXT: {acks:?}"
    );
    assert_eq!(read_all(&mut p.b, s).0, data);
}

#[test]
fn overlapping_and_duplicate_segments_are_trimmed() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.send(c, b"0123456789").unwrap();
    let seg = p.one(Side::A);
    p.deliver(Side::B, &seg.raw);
    p.deliver(Side::B, &seg.raw); // duplicate: ACKed again, not delivered twice
    let acks = p.out(Side::B);
    assert!(acks.iter().all(|a| a.ack == seg.seq.wrapping_add(10)));
    assert_eq!(read_all(&mut p.b, s).0, b"0123456789");
}

#[test]
fn fast_retransmit_on_the_third_duplicate_ack() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    let data = vec![0xabu8; 1460 * 6];
    p.a.send(c, &data).unwrap();
    let segs = p.out(Side::A);
    assert_eq!(segs.len(), 6);
    for seg in &segs[1..] {
        p.deliver(Side::B, &seg.raw); // the first one is lost
    }
    let dupacks = p.out(Side::B);
    assert_eq!(dupacks.len(), 5);
    for a in &dupacks {
        p.deliver(Side::A, &a.raw);
    }
    // No timer involved: the third duplicate ACK triggers the retransmission.
    let re = p.out(Side::A);
    assert_eq!(re[0].seq, segs[0].seq);
    assert_eq!(re[0].payload.len(), 1460);
    p.deliver(Side::B, &re[0].raw);
    p.exchange();
    assert_eq!(read_all(&mut p.b, s).0, data);
    assert_eq!(p.a.info(c).unwrap().bytes_in_flight, 0);
}

#[test]
fn zero_window_is_probed_and_the_connection_stays_open_must_35_must_37() {
    let mut cfg_b = config(B_IP);
    // Three full segments: the window closes on a segment boundary (with a sub-segment tail
    // left, sender SWS avoidance would hold it for the override timer first).
    cfg_b.recv_buffer = 3 * 1460;
    let mut p = Pair::with_configs(config(A_IP), cfg_b);
    let (c, s) = p.establish();
    p.a.send(c, &vec![1u8; 10_000]).unwrap();
    p.exchange();
    // B's application reads nothing: the window closes at 4380 bytes.
    let info = p.a.info(c).unwrap();
    assert_eq!(info.snd_wnd, 0);
    assert_eq!(info.bytes_acked, 4380);
    // For ten virtual minutes probes go out and are answered; the connection stays up.
    let start = p.now;
    let mut probes = 0;
    while p.now < start + secs(600) {
        p.fire_next_timeout();
        for seg in p.out(Side::A) {
            assert!(seg.payload.len() <= 1, "a probe carries at most one byte");
            probes += 1;
            p.deliver(Side::B, &seg.raw);
        }
        p.exchange();
    }
    assert!(probes >= 5, "{probes} probes");
    assert_eq!(p.a.state(c), Some(State::Established));
    // The reader wakes up; the rest arrives intact.
    let mut got = read_all(&mut p.b, s).0;
    while got.len() < 10_000 {
        p.exchange();
        if let Some(t) = p.next_timeout() {
            p.advance_to(t);
        }
        got.extend(read_all(&mut p.b, s).0);
    }
    assert_eq!(got, vec![1u8; 10_000]);
}

/// The timer heap is exact whenever it is read, even for a connection whose deadlines moved
/// since it last left the transmit queue (the endpoint refreshes a queued connection's timer
/// when `poll_transmit` finds it idle, and `poll_timeout`/`handle_timeout` first bring the
/// queued ones up to date): a deadline that appears, and one that goes, without any
/// `poll_transmit` in between.
#[test]
fn poll_timeout_is_exact_without_a_poll_transmit_in_between() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    assert_eq!(
        p.a.poll_timeout(),
        None,
        "nothing timed on an idle connection"
    );
    // A deadline appears: keep-alive armed by a user call alone.
    let idle = Duration::from_secs(30);
    p.a.set_keepalive(c, Some(idle)).unwrap();
    assert_eq!(p.a.poll_timeout(), Some(p.now + idle));
    p.a.set_keepalive(c, None).unwrap();
    assert_eq!(p.a.poll_timeout(), None, "and disarmed the same way");
    // A deadline goes: the RTO of data the peer then ACKs.
    p.a.send(c, b"hello").unwrap();
    let data = p.one(Side::A);
    let rto = p.a.poll_timeout().expect("RTO armed");
    p.deliver(Side::B, &data.raw);
    let ack = p.one(Side::B);
    assert_eq!(ack.ack, data.seq.wrapping_add(5));
    p.deliver(Side::A, &ack.raw);
    assert_eq!(p.a.poll_timeout(), None, "the RTO went with the ACK");
    // handle_timeout at the old deadline does nothing: no retransmission.
    p.advance_to(rto);
    assert!(p.out(Side::A).is_empty());
    assert_eq!(p.a.info(c).unwrap().retransmits, 0);
    let _ = s;
}
