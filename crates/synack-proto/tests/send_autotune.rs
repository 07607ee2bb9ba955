//! Send buffer autotuning (send_autotune.rs): a writer held back by its send buffer while the
//! windows have room grows the buffer to twice the congestion window, up to
//! `send_buffer_max`; a writer held back by the network, one that never fills its buffer,
//! and an endpoint over its memory budget keep theirs.

mod util;

use synack_proto::{ConnHandle, Error};
use util::*;

const KIB: usize = 1024;

/// A sends with a buffer of `a_buffer` that may grow to `a_max`, and no Nagle (so a round
/// sends all it holds); B's window is `b_window` (fixed).
fn pair(a_buffer: usize, a_max: usize, b_window: usize, a_budget: usize) -> Pair {
    let a = modern_config(A_IP)
        .with_send_buffer(a_buffer)
        .with_send_buffer_max(a_max)
        .with_memory_budget(a_budget)
        .with_nodelay(true);
    let b = modern_config(B_IP)
        .with_recv_buffer(b_window)
        .with_recv_buffer_max(b_window);
    Pair::with_configs(a, b)
}

/// What one round of a transfer did.
#[derive(Debug)]
struct Round {
    /// A's send buffer size and congestion window after the round.
    buffer: usize,
    cwnd: u32,
    /// Payload bytes A put on the wire during the round.
    sent: usize,
}

/// One round: A writes `write` bytes or as many as its buffer takes, segments cross until
/// both sides are quiet (B reading everything as it comes), then 10 ms pass.
fn round(p: &mut Pair, c: ConnHandle, s: ConnHandle, write: usize) -> Round {
    match p.a.send(c, &vec![7u8; write]) {
        Ok(_) | Err(Error::WouldBlock) => {}
        Err(e) => panic!("send: {e:?}"),
    }
    let mut sent = 0;
    loop {
        let crossed = p.exchange();
        sent += crossed
            .iter()
            .filter(|(side, _)| *side == Side::A)
            .map(|(_, seg)| seg.payload.len())
            .sum::<usize>();
        let (_, _) = read_all(&mut p.b, s);
        if crossed.is_empty() {
            break;
        }
    }
    p.advance(synack_proto::Duration::from_millis(10));
    let i = p.a.info(c).unwrap();
    Round {
        buffer: i.send_buffer,
        cwnd: i.cwnd,
        sent,
    }
}

#[test]
fn a_writer_held_back_by_its_buffer_grows_it_to_twice_the_congestion_window_up_to_the_max() {
    // 8 KiB is less than the initial window (10 segments): from the first ACK the buffer,
    // not the congestion window, is the limit.
    let mut p = pair(8 * KIB, 96 * KIB, 16 << 20, usize::MAX);
    let (c, s) = p.establish();
    // (This harness delivers a whole flight before the receiver answers, so ACKs are few and
    // the congestion window grows by about two segments a round.)
    let rounds: Vec<Round> = (0..40).map(|_| round(&mut p, c, s, 16 << 20)).collect();
    let sizes: Vec<usize> = rounds.iter().map(|r| r.buffer).collect();
    assert!(sizes[0] > 8 * KIB, "grown at the first ACK: {rounds:?}");
    assert!(
        sizes.windows(2).all(|w| w[0] <= w[1]),
        "never shrinks: {sizes:?}"
    );
    assert_eq!(sizes[39], 96 * KIB, "grows to the max: {rounds:?}");
    let steps = std::iter::once(8 * KIB).chain(sizes.iter().copied());
    let steps: Vec<usize> = steps.collect();
    assert!(
        steps.windows(2).filter(|w| w[0] < w[1]).count() >= 3,
        "step by step, as the congestion window grows: {sizes:?}"
    );
    for r in &rounds {
        // Twice the congestion window at most (the window only grows, so the one after the
        // round bounds the one the buffer was sized from).
        assert!(r.buffer <= 2 * r.cwnd as usize, "{r:?}");
        // A round sends what the buffer held when the writer filled it.
        assert!(r.sent <= r.buffer, "{r:?}");
    }
    // On the wire: the first round carried the 8 KiB buffer, the last the whole 96 KiB.
    assert_eq!((rounds[0].sent, rounds[39].sent), (8 * KIB, 96 * KIB));
}

#[test]
fn a_writer_held_back_by_the_peers_window_keeps_its_buffer() {
    // B offers 16 KiB: A's 64 KiB always holds more than the window lets out, and a bigger
    // buffer would only hold more waiting data.
    let mut p = pair(64 * KIB, 1 << 20, 16 * KIB, usize::MAX);
    let (c, s) = p.establish();
    for _ in 0..12 {
        let r = round(&mut p, c, s, 16 << 20);
        assert_eq!(r.buffer, 64 * KIB, "{r:?}");
    }
}

#[test]
fn a_writer_that_never_fills_its_buffer_keeps_it() {
    let mut p = pair(64 * KIB, 1 << 20, 16 << 20, usize::MAX);
    let (c, s) = p.establish();
    for _ in 0..12 {
        let r = round(&mut p, c, s, 32 * KIB);
        assert_eq!((r.buffer, r.sent), (64 * KIB, 32 * KIB), "{r:?}");
    }
}

#[test]
fn a_max_at_the_buffer_size_turns_send_autotuning_off() {
    let mut p = pair(8 * KIB, 8 * KIB, 16 << 20, usize::MAX);
    let (c, s) = p.establish();
    for _ in 0..12 {
        let r = round(&mut p, c, s, 16 << 20);
        assert_eq!((r.buffer, r.sent), (8 * KIB, 8 * KIB), "{r:?}");
    }
}

#[test]
fn no_send_buffer_growth_over_the_memory_budget() {
    // A budget of 0: A's endpoint is always at it.
    let mut p = pair(8 * KIB, 96 * KIB, 16 << 20, 0);
    let (c, s) = p.establish();
    for _ in 0..16 {
        let r = round(&mut p, c, s, 16 << 20);
        assert_eq!((r.buffer, r.sent), (8 * KIB, 8 * KIB), "{r:?}");
    }
}
