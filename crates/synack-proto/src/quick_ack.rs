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

pub(crate) struct QuickAck {
    /// The most segments one entry allows (`Config::quick_acks`); 0: quick ACKs are off.
    max: u32,
    /// Segments still to be ACKed at once in this entry.
    left: u32,
    /// When in-order data last arrived; `None` before the first.
    last_data_at: Option<Instant>,
    /// Segments ACKed at once by quick mode over the connection's life.
    sent: u64,
}

impl QuickAck {
    pub(crate) fn new(max: u32) -> QuickAck {
        QuickAck {
            max,
            left: 0,
            last_data_at: None,
            sent: 0,
        }
    }

    /// In-order data arrived at `now`, with `window` bytes offered to the peer before it and
    /// `full` the size of a full segment from the peer. Enters quick mode at the first data
    /// or after more than `idle` without data, then answers whether this segment is to be
    /// ACKed at once (consuming one of the budget).
    pub(crate) fn data_arrived(
        &mut self,
        now: Instant,
        idle: Duration,
        window: u32,
        full: u32,
    ) -> bool {
        let enter = match self.last_data_at {
            None => true,
            Some(t) => now.saturating_duration_since(t) > idle,
        };
        self.last_data_at = Some(now);
        if self.max == 0 {
            return false;
        }
        if enter {
            let budget = (window / full.max(1).saturating_mul(2))
                .max(2)
                .min(self.max);
            self.left = self.left.max(budget);
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.sent = self.sent.saturating_add(1);
        true
    }

    /// Segments this entry still ACKs at once.
    pub(crate) fn left(&self) -> u32 {
        self.left
    }

    /// Segments ACKed at once by quick mode so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }
}
