//! The flow-completion-time harness (synack_bench::fct), on a few flows per cell: figures the
//! link's physics bound, and determinism. `cargo test -p synack-bench --test fct --
//! --nocapture` prints the cells.
//!
//! The link: 100 Mbit/s, 10 ms one way (20 ms RTT). A flow's lower bound: SYN, SYN-ACK, the
//! handshake's ACK (the server's application gets the connection when it arrives) and the
//! response each cross the link once (4 × 10 ms), and the response's bytes take
//! `size · 8 / 100 Mbit/s` to serialize (10 KB: 800 µs; 100 KB: 8 ms).

use synack_bench::fct::{flow, Cell, Stack};

const ONE_WAY_US: u64 = 10_000;
const RTT_US: u64 = 2 * ONE_WAY_US;

/// µs to serialize `bytes` at 100 Mbit/s.
fn serialize_us(bytes: u64) -> u64 {
    bytes * 8 / 100
}

fn cell(size: u64, loss: f64) -> Cell {
    let c = Cell::measure(size, loss, 50);
    println!("{}", c.json());
    assert_eq!(c.synack.completed, 50, "every synack flow completes");
    assert_eq!(c.smoltcp.completed, 50, "every smoltcp flow completes");
    c
}

/// Lossless, every flow takes the same time (the seeds only drive the loss draws). 10 KB with
/// IW10 (RFC 6928) fits the first flight: the floor is 2 RTT + serialization. Today synack
/// takes 60.85 ms: Nagle (RFC 9293 §3.7.4) holds the 1,312-byte last segment until the six
/// full ones are acknowledged, one more RTT; smoltcp takes 120.85 ms. The ceiling allows that
/// one extra RTT, no more.
#[test]
fn lossless_10kb_completes_within_two_to_three_round_trips() {
    let c = cell(10_000, 0.0);
    let floor = 4 * ONE_WAY_US + serialize_us(10_000);
    let ceiling = 3 * RTT_US + serialize_us(10_000) + 1_000;
    let s = &c.synack;
    assert_eq!(s.p50_us, s.max_us, "lossless flows are identical");
    assert!(
        (floor..=ceiling).contains(&s.p50_us),
        "10 KB lossless FCT {} µs outside [{floor}, {ceiling}]",
        s.p50_us
    );
    assert!(c.smoltcp.p50_us >= floor);
    let counters = c.synack.server.expect("synack exposes its counters");
    assert_eq!((counters.retransmits, counters.timeouts), (0, 0));
}

/// 100 KB lossless (69 full segments and an 88-byte tail). Floor: slow start from IW10 at
/// most doubles per RTT, so 14.6 kB + 29.2 kB + 58.4 kB (three flights) is the fewest that
/// carry 100 KB: 4 one-way delays + 2 RTT more + serialization (88 ms). Today synack takes
/// 163.4 ms: with an ACK per two segments slow start grows ×1.5 per RTT (10, 15, 21, 23
/// segments: four flights, the full segments all arrive at 103.4 ms); the 69th full segment
/// is odd, so the client delays its ACK 40 ms, and Nagle holds the 88-byte tail until that
/// ACK arrives: +40 ms +1 RTT (with `nodelay` it is 103.4 ms). The ceiling is exactly that
/// chain: four flights, the delayed ACK, one RTT for the tail.
#[test]
fn lossless_100kb_completes_within_slow_start_bounds() {
    let c = cell(100_000, 0.0);
    let floor = 4 * ONE_WAY_US + 2 * RTT_US + serialize_us(100_000);
    let delayed_ack_us = 40_000;
    let ceiling =
        4 * ONE_WAY_US + 3 * RTT_US + serialize_us(100_000) + delayed_ack_us + RTT_US + 1_000;
    assert_eq!(
        c.synack.p50_us, c.synack.max_us,
        "lossless flows are identical"
    );
    assert!(
        (floor..=ceiling).contains(&c.synack.p50_us),
        "100 KB lossless FCT {} µs outside [{floor}, {ceiling}]",
        c.synack.p50_us
    );
    assert!(c.smoltcp.p50_us >= floor);
}

/// 1% loss each way: most 10 KB and 100 KB flows lose nothing (a 10 KB flow is ~20
/// packets: 0.99^20 ≈ 82% are clean), so the median stays the lossless time, and every flow
/// completes. The tail (p99) is where loss recovery shows: today about one RTO (1 s).
#[test]
fn one_percent_loss_keeps_the_median_and_completes_every_flow() {
    for size in [10_000, 100_000] {
        let clean = flow(Stack::Synack, size, 0.0, 0).unwrap().fct_us;
        let c = cell(size, 0.01);
        assert_eq!(
            c.synack.p50_us, clean,
            "{size} B: the median flow saw no loss"
        );
        assert!(c.synack.p99_us >= c.synack.p50_us && c.synack.max_us >= c.synack.p99_us);
        let counters = c.synack.server.unwrap();
        assert!(
            counters.retransmits > 0,
            "{size} B: 1% loss over 50 flows loses something"
        );
    }
}

/// Same seeds, same numbers, both stacks (virtual time only).
#[test]
fn the_table_is_deterministic() {
    for (size, loss) in [(10_000, 0.05), (100_000, 0.01)] {
        assert_eq!(Cell::measure(size, loss, 20), Cell::measure(size, loss, 20));
    }
}
