//! The lost tail (issue 21): a 20 KB reply whose last data segment is dropped once, over the
//! transfer experiments' link (100 Mbit/s, 20 ms RTT, one-BDP queue), default `Config`.
//! Run with `--nocapture` to see the repair time.

use synack_proto::{Config, Duration};
use synack_sim::tail::lost_tail;

const REPLY: u64 = 20_000;

/// Today's figures (before RACK-TLP), so a change shows up here first. The tail (1,176 bytes
/// after 13 full segments) leaves the server 110.6 ms after the connect (Nagle holds the
/// sub-MSS tail until everything before it is acknowledged); with nothing after it to elicit
/// duplicate ACKs, only the retransmission timer repairs it: one RTO expiry at `min_rto`
/// (1 s, RFC 6298 (2.4)), the repair arriving 1,010.1 ms after the drop, FCT 1,120.7 ms,
/// 1 retransmission, 1 timeout. RFC 8985 §7's probe (PTO = 2·SRTT, plus the delayed-ACK
/// allowance with one segment in flight) would repair it in ≤ 2·SRTT + 40 ms + 10 ms.
const TODAY_REPAIR_US: u64 = 1_010_000;

#[test]
fn a_lost_tail_is_repaired_byte_exact_and_the_repair_time_is_reported() {
    let run = lost_tail(Config::default(), REPLY, 1);
    let repair = run.repair_time();
    println!(
        "lost tail of a {REPLY} B reply: seq {} dropped at {:?}, repaired at {:?} \
         (repair {:.1} ms), FCT {:.1} ms, server retransmits {}, timeouts {}, \
         retransmitted segments on the wire {}, srtt {:?}, cwnd {}",
        run.dropped_seq,
        run.dropped_at,
        run.repaired_at,
        repair.as_secs_f64() * 1e3,
        run.fct.as_secs_f64() * 1e3,
        run.server.retransmits,
        run.server.timeouts,
        run.retransmitted_segments,
        run.server.srtt,
        run.server.cwnd,
    );
    // Byte-exact: the client app verifies every byte against the server's pattern (a mismatch
    // is an invariant violation `lost_tail` asserts on) and read exactly the reply.
    assert_eq!(run.bytes_read, REPLY);
    // The repair is one retransmission of the one lost segment, nothing spurious.
    assert_eq!(run.retransmitted_segments, 1);
    assert_eq!(run.server.retransmits, 1);
    // Physics: the repair cannot arrive before one one-way delay after the drop, nor the
    // flow complete before 4 one-way delays (SYN, SYN-ACK, ACK, data).
    assert!(repair >= Duration::from_millis(10));
    assert!(run.fct >= Duration::from_millis(40));
    // Today: the retransmission timer repairs it (see TODAY_REPAIR_US). After RACK-TLP the
    // bound becomes repair ≤ 2·SRTT + delayed-ACK time and `timeouts` 0.
    assert!(
        repair <= Duration::from_micros(TODAY_REPAIR_US + 20_000),
        "repair {repair:?} is slower than today's {TODAY_REPAIR_US} µs"
    );
}

#[test]
fn the_lost_tail_scenario_is_deterministic() {
    let a = lost_tail(Config::default(), REPLY, 7);
    let b = lost_tail(Config::default(), REPLY, 7);
    assert_eq!(
        (a.dropped_seq, a.dropped_at, a.repaired_at, a.fct),
        (b.dropped_seq, b.dropped_at, b.repaired_at, b.fct)
    );
    assert_eq!(a.server, b.server);
}
