//! Quick ACKs: the receiver acknowledges every in-order data segment at once, instead of
//! delaying (SHLD-18), for the first segments of the peer's slow start — at the start of a
//! connection and again after the peer has been silent for longer than the RTO — as Linux's
//! quickack mode does.
//!
//! Why: a sender in slow start grows its window by what each ACK acknowledges (RFC 5681 §3.1,
//! at most one SMSS per ACK), so a receiver that ACKs every second segment halves its growth,
//! and a flight of an odd number of segments leaves the last one waiting the whole delayed-ACK
//! time. RFC 5681 §4.2 only asks for an ACK at least every second full-sized segment and
//! within 500 ms; acknowledging sooner is always allowed, and RFC 9293 SHLD-18 (delayed ACK)
//! is a "should", which this relaxes for a bounded number of segments.
//!
//! The budget, as Linux's `tcp_incr_quickack`: the window we offer over two segments (the
//! peer cannot have more than that many ACK-every-other pairs in flight), at least 2, at most
//! `Config::quick_acks` (Linux: 16). Each in-order data segment taken while the budget lasts
//! consumes one and is ACKed at once; then the usual delayed-ACK policy resumes.
//!
//! Re-entry after idle: when no data has arrived for longer than the RTO, the peer's sender,
//! by RFC 5681 §4.1 ("restart after idle": more than an RTO without sending), starts again
//! from its initial window — its slow start begins again, and with it the budget. Linux's
//! condition is the same (`tcp_event_data_recv`: the gap since the last data > `icsk_rto`).

use crate::time::{Duration, Instant};

/// Compact (16 bytes: it lives in every TCB, whose size is budgeted, conn_table.rs).
pub(crate) struct QuickAck {
    /// When in-order data last arrived, µs; `NEVER` before the first.
    last_data_us: u64,
    /// Segments ACKed at once by quick mode over the connection's life.
    sent: u32,
    /// The most segments one entry allows (`Config::quick_acks`, at most 255); 0: off.
    max: u8,
    /// Segments still to be ACKed at once in this entry.
    left: u8,
}

const NEVER: u64 = u64::MAX;

impl QuickAck {
    pub(crate) fn new(max: u32) -> QuickAck {
        QuickAck {
            last_data_us: NEVER,
            sent: 0,
            max: max.min(255) as u8,
            left: 0,
        }
    }

    /// In-order data arrived at `now`: should it be ACKed at once? `idle`: the silence after
    /// which quick mode starts again; `window`: what we offered before it; `full`: a
    /// full-sized segment.
    pub(crate) fn data_arrived(
        &mut self,
        now: Instant,
        idle: Duration,
        window: u32,
        full: u32,
    ) -> bool {
        let enter = self.last_data_us == NEVER
            || now.saturating_duration_since(Instant::from_micros(self.last_data_us)) > idle;
        self.last_data_us = now.as_micros();
        if self.max == 0 {
            return false;
        }
        if enter {
            let budget = (window / full.max(1).saturating_mul(2))
                .max(2)
                .min(u32::from(self.max)) as u8;
            self.left = self.left.max(budget);
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.sent = self.sent.saturating_add(1);
        true
    }

    pub(crate) fn left(&self) -> u32 {
        u32::from(self.left)
    }

    /// Segments ACKed at once by quick mode so far.
    pub(crate) fn sent(&self) -> u64 {
        u64::from(self.sent)
    }
}
