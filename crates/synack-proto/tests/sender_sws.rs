//! Sender silly-window avoidance (MUST-38, RFC 9293 §3.8.6.2.1): with U the usable window and
//! D the data queued unsent, send (1) a full segment, min(D, U) >= Eff.snd.MSS; (2) all of D
//! when D <= U and Nagle allows it; (3) at least Fs = 1/2 of the largest window the peer ever
//! offered; (4) whatever the window allows when the override timer (0.1–1 s; here the RTO,
//! 1 s) expires. Anything else waits. The test plays the peer by hand; no window scaling,
//! timestamps or SACK, so every segment is exactly the RFC's.

mod util;

use synack_proto::{Duration, State};
use synack_wire::TcpOptions;
use util::*;

fn mss(m: u16) -> TcpOptions {
    TcpOptions {
        mss: Some(m),
        ..TcpOptions::default()
    }
}

/// (flags, relative seq, length) of each segment A sends now.
fn sent(p: &mut Pair, iss: u32) -> Vec<(String, u32, usize)> {
    p.out(Side::A)
        .iter()
        .map(|s| (s.flags(), s.seq.wrapping_sub(iss), s.payload.len()))
        .collect()
}

fn seg(flags: &str, seq: u32, len: usize) -> (String, u32, usize) {
    (flags.to_string(), seq, len)
}

#[test]
fn a_shrunk_window_does_not_draw_a_tiny_segment_until_the_override_timer_must_38() {
    let mut p = Pair::new();
    // Peer MSS 1000, window 2000.
    let (c, iss) = connect_to_hand_peer(&mut p, 2000, mss(1000));
    p.a.send(c, &[1u8; 3000]).unwrap();
    assert_eq!(
        sent(&mut p, iss),
        vec![seg(".", 1, 1000), seg("P.", 1001, 1000)],
        "the window takes two segments; PSH on the last the window allows"
    );
    // The peer ACKs everything but shrinks its window to 10 bytes. 1000 bytes wait; the
    // largest window it offered is 2000: neither a full segment (1), nor all the data (2),
    // nor half the largest window (3). Nothing goes.
    let t0 = p.now;
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(2001), 10));
    assert!(sent(&mut p, iss).is_empty(), "no 10-byte segment");
    let info = p.a.info(c).unwrap();
    assert_eq!((info.snd_wnd, info.bytes_in_flight), (10, 0));
    // The override timer: the RTO (1 s: no RTT measured on this instant link), within the
    // RFC's 0.1–1.0 s.
    assert_eq!(
        p.a.timers(c).unwrap().rto_at,
        Some(t0 + Duration::from_secs(1))
    );
    p.advance_to(t0 + Duration::from_millis(999));
    assert!(sent(&mut p, iss).is_empty());
    p.advance_to(t0 + Duration::from_secs(1));
    assert_eq!(
        sent(&mut p, iss),
        vec![seg("P.", 2001, 10)],
        "rule 4: the override (PSH: the window ends it)"
    );
    // Not a retransmission timeout: no backoff, no loss response.
    let info = p.a.info(c).unwrap();
    assert_eq!((info.timeouts, info.retransmits, info.backoff), (0, 0, 0));
    assert_eq!(info.state, State::Established);
    // The peer reopens its window: the rest goes at once, PSH on the end of the write.
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(2011), 2000));
    assert_eq!(sent(&mut p, iss), vec![seg("P.", 2011, 990)]);
}

#[test]
fn a_window_update_releases_held_data_before_the_override_timer_must_38() {
    let mut p = Pair::new();
    let (c, iss) = connect_to_hand_peer(&mut p, 2000, mss(1000));
    p.a.send(c, &[1u8; 3000]).unwrap();
    assert_eq!(sent(&mut p, iss).len(), 2);
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(2001), 10));
    assert!(sent(&mut p, iss).is_empty());
    p.advance(Duration::from_millis(300));
    // A window update (same ACK) of a full segment: rule 1, at once.
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(2001), 1000));
    assert_eq!(sent(&mut p, iss), vec![seg("P.", 2001, 1000)]);
    // The timer is the retransmission timer of that segment now, not the override.
    assert_eq!(
        p.a.timers(c).unwrap().rto_at,
        Some(p.now + Duration::from_secs(1))
    );
}

#[test]
fn half_the_largest_window_may_go_but_less_waits_fs_one_half_must_38() {
    let mut p = Pair::new();
    // Peer MSS 1460 but a window of 1200 bytes: never a full segment.
    let (c, iss) = connect_to_hand_peer(&mut p, 1200, mss(1460));
    p.a.send(c, &[1u8; 5000]).unwrap();
    assert_eq!(
        sent(&mut p, iss),
        vec![seg("P.", 1, 1200)],
        "rule 3: the whole window, 1200 >= 1200/2 (PSH: the window ends the burst)"
    );
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(1201), 600));
    assert_eq!(
        sent(&mut p, iss),
        vec![seg("P.", 1201, 600)],
        "rule 3: exactly Fs x Max(SND.WND)"
    );
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(1801), 599));
    assert!(sent(&mut p, iss).is_empty(), "599 < 600: waits");
    p.fire_next_timeout();
    assert_eq!(
        sent(&mut p, iss),
        vec![seg("P.", 1801, 599)],
        "the override"
    );
}

#[test]
fn all_queued_data_that_fits_goes_when_nagle_allows_must_38_rule_2() {
    let mut p = Pair::new();
    let (c, iss) = connect_to_hand_peer(&mut p, 2000, mss(1000));
    p.a.send(c, &[1u8; 2000]).unwrap();
    assert_eq!(sent(&mut p, iss).len(), 2);
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(2001), 10));
    // 10 bytes queued, window 10, nothing in flight: all of D fits (rule 2).
    p.a.send(c, &[2u8; 10]).unwrap();
    assert_eq!(sent(&mut p, iss), vec![seg("P.", 2001, 10)]);
    // With those 10 in flight, 5 more wait for the ACK (Nagle's bracket), and no override
    // timer is set for them: the RTO of the 10 bytes is the only timer.
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(2001), 1000));
    p.a.send(c, &[3u8; 5]).unwrap();
    assert!(sent(&mut p, iss).is_empty());
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(2011), 1000));
    assert_eq!(sent(&mut p, iss), vec![seg("P.", 2011, 5)]);
}

#[test]
fn a_zero_window_still_gets_one_byte_probes_not_the_override_must_36() {
    let mut p = Pair::new();
    let (c, iss) = connect_to_hand_peer(&mut p, 2000, mss(1000));
    p.a.send(c, &[1u8; 3000]).unwrap();
    assert_eq!(sent(&mut p, iss).len(), 2);
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(2001), 0));
    assert!(sent(&mut p, iss).is_empty());
    assert!(p.a.timers(c).unwrap().persist);
    p.fire_next_timeout();
    assert_eq!(sent(&mut p, iss), vec![seg(".", 2001, 1)], "a probe");
    assert_eq!(p.a.info(c).unwrap().zero_window_probes, 1);
}
