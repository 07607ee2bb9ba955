//! R2 and the user timeout (RFC 9293 §3.8.3, MUST-20, MUST-21) as a deadline of its own: the
//! connection gives up exactly when R2 runs out, even between two retransmissions; a user
//! timeout the application changes takes effect at once, without moving a retransmission;
//! and a receiver that keeps answering zero-window probes keeps the connection however far
//! apart the backed-off probes are (MUST-37, SHLD-30).

mod util;

use synack_proto::{CloseReason, Duration, Error, Event, State};
use synack_wire::TcpOptions;
use util::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn timed_out(p: &Pair, c: synack_proto::ConnHandle) -> bool {
    p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::TimedOut,
    })
}

/// A connection to a peer the test plays, with `data` written and its first transmission
/// taken off the wire (the peer never answers). Returns the handle, A's ISS and the time.
fn silent_peer(p: &mut Pair, data: &[u8]) -> (synack_proto::ConnHandle, u32) {
    let mss = TcpOptions {
        mss: Some(1000),
        ..TcpOptions::default()
    };
    let (c, iss) = connect_to_hand_peer(p, 10_000, mss);
    p.a.send(c, data).unwrap();
    assert_eq!(p.out(Side::A).len(), 1);
    (c, iss)
}

#[test]
fn a_user_timeout_between_two_expiries_ends_the_connection_on_time_must_20_must_21() {
    let mut p = Pair::new();
    let (c, _) = silent_peer(&mut p, &[1u8; 100]);
    let t0 = p.now;
    p.a.set_user_timeout(c, Some(secs(4))).unwrap();
    assert_eq!(p.a.timers(c).unwrap().r2_at, Some(t0 + secs(4)));
    // Retransmissions at 1 s and 3 s (RTO 1 s, doubled); the next would be at 7 s.
    let mut sent = Vec::new();
    while p.a.state(c) == Some(State::Established) {
        p.fire_next_timeout();
        for s in p.out(Side::A) {
            sent.push(((p.now - t0).as_millis(), s.payload.len()));
        }
    }
    assert_eq!(sent, vec![(1000, 100), (3000, 100)]);
    assert_eq!(p.now - t0, secs(4), "at 4 s, not at the 7 s expiry");
    assert!(timed_out(&p, c));
    let mut buf = [0u8; 8];
    assert_eq!(p.a.recv(c, &mut buf), Err(Error::TimedOut));
}

#[test]
fn shortening_the_user_timeout_while_data_waits_takes_effect_at_once_must_21() {
    let mut p = Pair::new();
    let (c, _) = silent_peer(&mut p, &[1u8; 100]);
    let t0 = p.now;
    p.advance(ms(500));
    assert_eq!(p.a.timers(c).unwrap().rto_at, Some(t0 + secs(1)));
    // 0.8 s from the first transmission: R2 is now due before the first retransmission.
    p.a.set_user_timeout(c, Some(ms(800))).unwrap();
    assert_eq!(p.a.timers(c).unwrap().r2_at, Some(t0 + ms(800)));
    assert_eq!(p.next_timeout(), Some(t0 + ms(800)));
    p.fire_next_timeout();
    assert_eq!(p.now - t0, ms(800));
    assert_eq!(
        p.a.state(c),
        Some(State::Closed),
        "the application still holds it"
    );
    assert!(timed_out(&p, c));
    assert!(
        p.out(Side::A).is_empty(),
        "no RST, no retransmission (§3.10.8)"
    );
}

#[test]
fn lifting_the_user_timeout_does_not_bring_a_retransmission_forward_must_21() {
    let mut p = Pair::new();
    let (c, _) = silent_peer(&mut p, &[1u8; 100]);
    let t0 = p.now;
    p.a.set_user_timeout(c, Some(ms(2500))).unwrap();
    p.fire_next_timeout();
    assert_eq!((p.now - t0, p.out(Side::A).len()), (secs(1), 1));
    // At 2 s the application lifts the limit: the next retransmission stays at 3 s, not at
    // the 2.5 s R2 would have ended it.
    p.advance(secs(1));
    p.a.set_user_timeout(c, None).unwrap();
    assert_eq!(p.a.timers(c).unwrap().r2_at, None);
    assert_eq!(p.next_timeout(), Some(t0 + secs(3)));
    p.fire_next_timeout();
    assert_eq!(p.out(Side::A).len(), 1);
    p.fire_next_timeout();
    assert_eq!((p.now - t0, p.out(Side::A).len()), (secs(7), 1));
    assert_eq!(p.a.state(c), Some(State::Established));
}

#[test]
fn answered_zero_window_probes_back_off_and_never_hit_a_short_user_timeout_must_37() {
    let mut p = Pair::new();
    let mss = TcpOptions {
        mss: Some(1000),
        ..TcpOptions::default()
    };
    let (c, iss) = connect_to_hand_peer(&mut p, 1000, mss);
    p.a.set_user_timeout(c, Some(secs(3))).unwrap();
    p.a.send(c, &[1u8; 3000]).unwrap();
    assert_eq!(p.out(Side::A).len(), 1);
    let una = iss.wrapping_add(1001);
    p.deliver(Side::A, &hand_peer_ack(una, 0));
    let closed = p.now;
    // Each probe is answered 100 ms later, window still zero; probes back off 1, 2, 4, 8 s
    // (SHLD-30), far beyond the 3 s user timeout, and the connection stays (MUST-37).
    let mut probes = Vec::new();
    while probes.len() < 5 {
        p.fire_next_timeout();
        for s in p.out(Side::A) {
            assert_eq!(
                (s.seq, s.payload.len()),
                (una, 1),
                "one octet past the window"
            );
            probes.push((p.now - closed).as_secs());
        }
        p.advance(ms(100));
        p.deliver(Side::A, &hand_peer_ack(una, 0));
    }
    assert_eq!(probes, vec![1, 3, 7, 15, 31]);
    assert_eq!(p.a.state(c), Some(State::Established));
    // The peer falls silent: R2 ends it 3 s after the first probe it leaves unanswered.
    let next_probe = p.a.timers(c).unwrap().rto_at.unwrap();
    assert_eq!(next_probe, closed + secs(63));
    assert_eq!(p.a.timers(c).unwrap().r2_at, Some(closed + secs(66)));
    p.fire_next_timeout();
    assert_eq!(p.out(Side::A).len(), 1, "the probe at 63 s");
    p.fire_next_timeout();
    assert_eq!(p.now, closed + secs(66));
    assert!(timed_out(&p, c));
}
