//! Quick ACKs (`Config::quick_acks`, as Linux's quickack mode): at the start of a connection
//! and after more than an RTO without data, the receiver ACKs each in-order data segment at
//! once for the first segments of the peer's slow start (RFC 5681 §4.2 allows ACKing sooner
//! than every second segment; SHLD-18 is relaxed, SHLD-19 and MUST-40 still hold after).

mod util;

use synack_proto::{Duration, Instant};
use util::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A full segment with timestamps: MSS 1460 less 12 option bytes.
const FULL: u32 = 1448;

/// Deliver `segs` to B one at a time, as a link spaces them, and return B's answer to each.
fn each_answer(p: &mut Pair, segs: &[Seg]) -> Vec<Vec<Seg>> {
    segs.iter()
        .map(|s| {
            p.deliver(Side::B, &s.raw);
            p.out(Side::B)
        })
        .collect()
}

/// The ACK numbers B sent in answer to each segment (`None`: no ACK at once).
fn acks(answers: &[Vec<Seg>]) -> Vec<Option<u32>> {
    answers
        .iter()
        .map(|a| {
            assert!(a.len() <= 1, "at most one ACK per segment: {a:?}");
            a.first().map(|s| {
                assert_eq!((s.flags().as_str(), s.payload.len()), (".", 0));
                s.ack
            })
        })
        .collect()
}

fn ends(segs: &[Seg]) -> Vec<Option<u32>> {
    segs.iter()
        .map(|s| Some(s.seq.wrapping_add(s.payload.len() as u32)))
        .collect()
}

#[test]
fn the_first_sixteen_segments_are_each_acked_at_once_then_delayed_ack_resumes_rfc5681_4_2() {
    let mut p = Pair::modern(); // delayed ACK 40 ms, quick ACKs 16 (the defaults)
    let (c, s) = p.establish();
    let info = p.b.info(s).unwrap();
    // B offers far more than 16 pairs of segments: the budget is Config::quick_acks.
    assert!(info.rcv_wnd / (2 * FULL) > 16, "{}", info.rcv_wnd);
    assert_eq!(
        (info.quick_acks_left, info.quick_acks),
        (0, 0),
        "before data"
    );

    p.a.send(c, &vec![7u8; FULL as usize * 40]).unwrap();
    let t0 = p.now;
    let first = p.out(Side::A);
    assert_eq!(first.len(), 10, "IW10");
    // Each of the ten is ACKed at once, exactly up to its end; no timer waits.
    let answers = each_answer(&mut p, &first);
    assert_eq!(acks(&answers), ends(&first));
    assert_eq!(p.now, t0, "no 40 ms wait");
    let info = p.b.info(s).unwrap();
    assert_eq!((info.quick_acks_left, info.quick_acks), (6, 10));
    assert_eq!(
        p.b.timers(s).unwrap().delayed_ack_at,
        None,
        "nothing delayed"
    );

    // A's slow start: ten ACKs release the next flight.
    for a in answers.iter().flatten() {
        p.deliver(Side::A, &a.raw);
    }
    let second = p.out(Side::A);
    assert!(second.len() >= 8, "{}", second.len());
    let got = acks(&each_answer(&mut p, &second[..7]));
    // Six more quick ACKs use the budget up (16)...
    assert_eq!(got[..6], ends(&second[..6])[..]);
    // ...then the delayed-ACK policy again: the 17th segment waits, the 18th is ACKed at
    // once with it (SHLD-19: at least every second full-sized segment).
    assert_eq!(got[6], None, "delayed");
    assert_eq!(
        p.b.timers(s).unwrap().delayed_ack_at,
        Some(t0 + ms(40)),
        "SHLD-18"
    );
    let got = acks(&each_answer(&mut p, &second[7..8]));
    assert_eq!(got, ends(&second[7..8]));
    assert_eq!(p.b.timers(s).unwrap().delayed_ack_at, None);
    let info = p.b.info(s).unwrap();
    assert_eq!((info.quick_acks_left, info.quick_acks), (0, 16));
    assert_eq!(p.now, t0);
}

#[test]
fn quick_acks_return_after_an_idle_rto_not_after_a_shorter_pause() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    // Use the budget up: 16 one-byte segments, each quick-ACKed.
    for _ in 0..16 {
        p.a.send(c, b"x").unwrap();
        let seg = p.one(Side::A);
        p.deliver(Side::B, &seg.raw);
        let ack = p.one(Side::B);
        assert_eq!(ack.ack, seg.seq.wrapping_add(1));
        p.deliver(Side::A, &ack.raw);
    }
    let info = p.b.info(s).unwrap();
    assert_eq!((info.quick_acks_left, info.quick_acks), (0, 16));
    // B's RTO: 1 s (the floor; the handshake's RTT sample is 0 on this instant link).
    assert_eq!(info.rto, Duration::from_secs(1));

    // A pause of one RTO exactly is not idle: the next segment waits for the delayed ACK.
    p.advance(Duration::from_secs(1));
    p.a.send(c, b"y").unwrap();
    let y = p.one(Side::A);
    p.deliver(Side::B, &y.raw);
    assert!(p.out(Side::B).is_empty(), "delayed (SHLD-18)");
    assert_eq!(p.b.timers(s).unwrap().delayed_ack_at, Some(p.now + ms(40)));
    p.advance(ms(40));
    let ack = p.one(Side::B);
    assert_eq!(ack.ack, y.seq.wrapping_add(1));
    p.deliver(Side::A, &ack.raw);

    // More than an RTO without data: the peer restarts from its initial window (RFC 5681
    // §4.1) and B is in quick mode again, with a fresh budget.
    p.advance(Duration::from_millis(1001));
    p.a.send(c, b"z").unwrap();
    let z = p.one(Side::A);
    p.deliver(Side::B, &z.raw);
    let ack = p.one(Side::B);
    assert_eq!(ack.ack, z.seq.wrapping_add(1), "at once");
    let info = p.b.info(s).unwrap();
    assert_eq!((info.quick_acks_left, info.quick_acks), (15, 17));
}

#[test]
fn the_budget_is_the_offered_window_over_two_segments() {
    // B offers 8 segments' worth: 4 quick ACKs (8 / 2), as Linux's tcp_incr_quickack.
    let b = modern_config(B_IP)
        .with_window_scaling(false)
        .with_recv_buffer(8 * FULL as usize)
        .with_recv_buffer_max(8 * FULL as usize);
    let mut p = Pair::with_configs(modern_config(A_IP), b);
    let (c, s) = p.establish();
    assert_eq!(p.b.info(s).unwrap().rcv_wnd, 8 * FULL);
    p.a.send(c, &vec![1u8; FULL as usize * 8]).unwrap();
    let segs = p.out(Side::A);
    assert_eq!(segs.len(), 8, "the window's worth");
    let got = acks(&each_answer(&mut p, &segs));
    let want = ends(&segs);
    // Four at once; then every second one (SHLD-19).
    assert_eq!(
        got,
        vec![want[0], want[1], want[2], want[3], None, want[5], None, want[7]]
    );
    let info = p.b.info(s).unwrap();
    assert_eq!((info.quick_acks_left, info.quick_acks), (0, 4));
}

#[test]
fn quick_acks_off_leaves_the_first_segment_to_the_delayed_ack_shld_18() {
    let cfg = |ip| modern_config(ip).with_quick_acks(0);
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, s) = p.establish();
    p.a.send(c, &vec![1u8; FULL as usize]).unwrap();
    let seg = p.one(Side::A);
    p.deliver(Side::B, &seg.raw);
    assert!(p.out(Side::B).is_empty());
    assert_eq!(
        p.b.timers(s).unwrap().delayed_ack_at,
        Some(Instant::ZERO + ms(40))
    );
    assert_eq!(p.b.info(s).unwrap().quick_acks, 0);
}
