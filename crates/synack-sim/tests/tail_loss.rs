//! The lost tail (issue 21): a 20 KB reply whose last data segment is dropped once, over the
//! transfer experiments' link (100 Mbit/s, 20 ms RTT, one-BDP queue), default `Config`.
//! Run with `--nocapture` to see the repair time.

use synack_proto::{Config, Duration};
use synack_sim::tail::lost_tail;

const REPLY: u64 = 20_000;

/// Before RACK-TLP (session 12's measurement): the tail (1,176 bytes after 13 full
/// segments) leaves the server 110.6 ms after the connect — Nagle holds the sub-MSS tail
/// until everything before it is acknowledged — and with nothing after it to draw duplicate
/// ACKs only the retransmission timer repaired it: the repair arrived 1,010.1 ms after the
/// drop, FCT 1,120.7 ms. With the tail loss probe (RFC 8985 §7): 260.3 ms, FCT 370.9 ms.
const BEFORE_RACK_TLP_REPAIR_US: u64 = 1_010_000;

/// RFC 8985 §7.2's probe timeout with one segment in flight: 2·SRTT + WCDelAckT.
const WORST_CASE_DELAYED_ACK: Duration = Duration::from_millis(200);
/// One way across the link, plus the serialization of a full segment at 100 Mbit/s.
const ONE_WAY: Duration = Duration::from_micros(10_000 + 125);

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
    // RFC 8985 §7: a tail loss probe repairs it, not the retransmission timer: the probe
    // goes 2·SRTT + WCDelAckT after the tail (the only segment in flight) and arrives one
    // way later; the loss it repaired costs one window reduction.
    // The SRTT the probe was timed with: the probe's own ACK added a sample since, and one
    // sample moves SRTT by an eighth (RFC 6298 (2.3)): it was at most 8/7 of the final one.
    let srtt = run.server.srtt.expect("an RTT sample") * 8 / 7;
    assert_eq!(run.server.timeouts, 0);
    assert_eq!((run.server.tlp_probes, run.server.tlp_repairs), (1, 1));
    assert!(
        repair <= srtt * 2 + WORST_CASE_DELAYED_ACK + ONE_WAY,
        "repair {repair:?}, srtt {srtt:?}"
    );
    assert!(repair < Duration::from_micros(BEFORE_RACK_TLP_REPAIR_US) / 3);
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
