//! Receive buffer autotuning: the receive buffer grows while it is what limits a transfer.
//!
//! A window smaller than the path's bandwidth-delay product caps a transfer at one window per
//! round trip, however fast the sender and the reading application are. RFC 9293 leaves the
//! buffer size to the implementation (and RFC 7323 §2 gives the room, up to 2^30 bytes);
//! Linux's "dynamic right-sizing" sizes it from what the application actually reads, and so
//! does this, in the same two steps:
//!
//! 1. **The receiver's round trip.** A receiver that sends no data has no RTT samples of its
//!    own (RFC 6298 measures from ACKs of data). It measures instead how long the peer takes
//!    to send up to the edge of a window it was offered: the right edge we advertise is noted
//!    with the time; when RCV.NXT reaches it, the elapsed time is a sample. The smallest
//!    recent sample wins (a window that waited on the application, not the path, is slower).
//! 2. **What the application reads per round trip.** Each `recv` counts its bytes; once a
//!    round trip has passed, a period that read more than the one before it means the reader
//!    keeps up and the window may be the limit: the buffer grows to twice what was read (the
//!    sender can then have a full round trip in flight while the reader drains the last), up
//!    to `Config::recv_buffer_max` and what our window scale can announce.
//!
//! The buffer only grows (the right edge never moves left, SHLD-14). A slow reader reads less
//! per round trip than its buffer and never grows it; memory is still bounded per connection
//! by `recv_buffer_max` and over all connections by `memory_budget` (no growth under memory
//! pressure). The ring's storage follows lazily (recv_buffer/ring.rs), as it always does.

use crate::seq::SeqNum;
use crate::time::Instant;

/// Measurement state of one connection (28 bytes: times are kept as the low 32 bits of
/// their microseconds, which is exact for spans under an hour; a longer one merely restarts
/// a measurement).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Autotune {
    /// The window edge being timed and when it was advertised, if `timing`.
    edge: SeqNum,
    edge_at: u32,
    timing: bool,
    /// The receiver's round trip, microseconds (0: no sample yet).
    rtt_us: u32,
    /// Start of the current read period and the bytes read in it.
    since: u32,
    read: u32,
    /// The most bytes read in one period so far (at first, half the buffer): a period has
    /// to read more to grow the buffer.
    space: u32,
}

/// `now` in the 32-bit form the measurements keep.
fn stamp(now: Instant) -> u32 {
    now.as_micros() as u32
}

impl Autotune {
    pub(crate) fn new(now: Instant, buffer: usize) -> Autotune {
        Autotune {
            edge: SeqNum(0),
            edge_at: 0,
            timing: false,
            rtt_us: 0,
            since: stamp(now),
            read: 0,
            space: (buffer / 2).min(u32::MAX as usize) as u32,
        }
    }
}

impl Autotune {
    /// In-order text arrived and RCV.NXT is now `rcv_nxt`; `rcv_adv` is the right edge we
    /// last advertised: time the window edge (step 1).
    pub(crate) fn text_arrived(&mut self, rcv_nxt: SeqNum, rcv_adv: SeqNum, now: Instant) {
        if self.timing && rcv_nxt >= self.edge {
            let sample = stamp(now).wrapping_sub(self.edge_at).max(1);
            // The smallest sample wins, and an old estimate fades (an eighth per sample).
            self.rtt_us = if self.rtt_us == 0 || sample < self.rtt_us {
                sample
            } else {
                self.rtt_us - self.rtt_us / 8 + sample / 8
            };
            self.timing = false;
        }
        if !self.timing && rcv_adv > rcv_nxt {
            (self.edge, self.edge_at, self.timing) = (rcv_adv, stamp(now), true);
        }
    }

    /// The application read `n` bytes: count them, and once a round trip's worth of reading
    /// shows the buffer (`capacity`) may be the limit, return the size it should grow to
    /// (step 2): twice what was read, at most `max` (and what our window field can say).
    pub(crate) fn read(
        &mut self,
        now: Instant,
        n: usize,
        capacity: usize,
        max: usize,
    ) -> Option<usize> {
        self.read = self.read.saturating_add(n.min(u32::MAX as usize) as u32);
        if self.rtt_us == 0 || stamp(now).wrapping_sub(self.since) < self.rtt_us {
            return None;
        }
        let read = self.read;
        self.read = 0;
        self.since = stamp(now);
        if read <= self.space {
            return None;
        }
        self.space = read;
        let want = (2 * read as usize).min(max);
        (want > capacity).then_some(want)
    }
}
