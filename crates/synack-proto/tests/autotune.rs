//! Receive buffer autotuning (recv_autotune.rs): a reader that keeps up with its peer grows its
//! receive buffer, a round trip at a time, up to `recv_buffer_max` and what the window scale
//! can announce; a slow reader never does; the window scale offered on the SYN leaves room
//! for the largest buffer.

mod util;

use synack_proto::{ConnHandle, Error};
use util::*;

const KIB: usize = 1024;

fn pair(b_buffer: usize, b_max: usize, scaling: bool) -> Pair {
    let a = modern_config(A_IP)
        .with_send_buffer(8 << 20)
        .with_window_scaling(scaling);
    let b = modern_config(B_IP)
        .with_recv_buffer(b_buffer)
        .with_recv_buffer_max(b_max)
        .with_window_scaling(scaling);
    Pair::with_configs(a, b)
}

/// One round: A sends all it may, B takes it and reads `read` bytes of it (all with
/// `usize::MAX`), then 10 ms pass. Returns B's buffer size.
fn round(p: &mut Pair, c: ConnHandle, s: ConnHandle, read: usize) -> usize {
    match p.a.send(c, &vec![7u8; 4 << 20]) {
        Ok(_) | Err(Error::WouldBlock) => {} // A's send buffer may still be full
        Err(e) => panic!("send: {e:?}"),
    }
    p.exchange();
    let mut buf = vec![0u8; 64 * KIB];
    let mut left = read;
    while left > 0 {
        match p.b.recv(s, &mut buf[..left.min(64 * KIB)]) {
            Ok(0) | Err(_) => break,
            Ok(n) => left -= n,
        }
    }
    p.exchange();
    p.advance(synack_proto::Duration::from_millis(10));
    p.b.info(s).unwrap().recv_buffer
}

#[test]
fn a_reader_that_keeps_up_doubles_its_buffer_each_round_trip_up_to_the_max() {
    let mut p = pair(64 * KIB, 1 << 20, true);
    let (c, s) = p.establish();
    // Room for 1 MiB: shift 5 (65535 << 4 is just short of it).
    assert_eq!(p.b.info(s).unwrap().wscale.map(|w| w.0), Some(5));
    // A period ends once a receiver round trip has passed (the first needs a sample), and
    // grows the buffer to twice what it read if that was more than the period before.
    // (The sender leaves the last sub-segment of each window unsent — sender silly-window
    // avoidance — so B reads a little less than its buffer and the buffer reaches the max one
    // period later than a doubling would.)
    let sizes: Vec<usize> = (0..9).map(|_| round(&mut p, c, s, usize::MAX)).collect();
    assert_eq!(
        sizes[0],
        64 * KIB,
        "no receiver round trip measured yet: {sizes:?}"
    );
    assert!(sizes[1] > 2 * sizes[0], "{sizes:?}");
    assert!(
        sizes.windows(2).all(|w| w[0] <= w[1]),
        "never shrinks: {sizes:?}"
    );
    assert_eq!(
        sizes[7..],
        [1 << 20, 1 << 20],
        "up to the max, no further: {sizes:?}"
    );
    // On the wire: A fills the grown window; B, reading it all, announces the whole buffer
    // at once (the peer was held back: MUST-39's update is due).
    p.exchange();
    let left = p.b.info(s).unwrap().rcv_wnd;
    assert!(
        left < 1448,
        "A filled the window, to within a segment (sender SWS avoidance holds the rest): {left}"
    );
    let mut buf = vec![0u8; 64 * KIB];
    let mut got = 0;
    while let Ok(n) = p.b.recv(s, &mut buf) {
        got += n;
    }
    assert!(got > (1 << 20) - 1448, "{got}");
    let update = p.one(Side::B);
    assert_eq!(
        (update.flags().as_str(), u32::from(update.wnd) << 5),
        (".", 1 << 20)
    );
}

#[test]
fn a_slow_reader_keeps_its_buffer() {
    let mut p = pair(64 * KIB, 1 << 20, true);
    let (c, s) = p.establish();
    for _ in 0..20 {
        let size = round(&mut p, c, s, 4 * KIB);
        assert_eq!(
            size,
            64 * KIB,
            "a reader behind its peer needs no bigger buffer"
        );
    }
}

#[test]
fn without_window_scaling_the_buffer_stops_at_what_the_window_field_can_say() {
    let mut p = pair(16 * KIB, 1 << 20, false);
    let (c, s) = p.establish();
    assert_eq!(p.b.info(s).unwrap().wscale, None);
    let sizes: Vec<usize> = (0..4).map(|_| round(&mut p, c, s, usize::MAX)).collect();
    assert!(sizes[1] > 16 * KIB, "{sizes:?}");
    assert_eq!(sizes[2..], [65535, 65535], "{sizes:?}");
}

#[test]
fn a_max_at_the_buffer_size_turns_autotuning_off_and_keeps_the_old_scale() {
    let mut p = pair(256 * KIB, 256 * KIB, true);
    let (c, s) = p.establish();
    assert_eq!(p.b.info(s).unwrap().wscale.map(|w| w.0), Some(3));
    for _ in 0..5 {
        assert_eq!(round(&mut p, c, s, usize::MAX), 256 * KIB);
    }
}

#[test]
fn no_growth_over_the_memory_budget() {
    // The endpoint's receive memory budget (50 KB) is below what one window holds, so each
    // read starts under memory pressure: the buffer must not grow, however fast the reader.
    let a = modern_config(A_IP).with_send_buffer(8 << 20);
    let b = modern_config(B_IP)
        .with_recv_buffer(64 * KIB)
        .with_recv_buffer_max(1 << 20)
        .with_memory_budget(50_000);
    let mut p = Pair::with_configs(a, b);
    let (c, s) = p.establish();
    for _ in 0..8 {
        assert_eq!(round(&mut p, c, s, usize::MAX), 64 * KIB);
    }
    // The same reader with room in the budget grows it (the control).
    let mut p = pair(64 * KIB, 1 << 20, true);
    let (c, s) = p.establish();
    let grown = (0..9).map(|_| round(&mut p, c, s, usize::MAX)).max();
    assert!(grown > Some(64 * KIB), "{grown:?}");
}
