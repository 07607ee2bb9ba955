//! The send buffer: bytes the application wrote that the peer has not yet acknowledged.
//!
//! It holds the retransmission queue and the not-yet-sent data in one ring: the byte at the
//! front has sequence number `start` (SND.UNA once the SYN is acknowledged). Acknowledged
//! bytes are dropped from the front; retransmission reads them again from the same place.
//!
//! Storage is allocated when the first byte is written, grows (doubling) up to the capacity as
//! the application fills it, and is released when the connection ends. It is kept when the
//! peer acknowledges everything: a bulk sender empties the ring once per window, and giving
//! the memory back each time cost a `malloc`, a regrowth by `realloc` and the kernel's page
//! faults for every window (a fifth of the bulk benchmark's time at MTU 1500). A connection
//! that only ever sends small messages keeps a small ring.

use std::collections::VecDeque;

use crate::seq::SeqNum;

#[derive(Debug)]
pub(crate) struct SendBuffer {
    data: VecDeque<u8>,
    start: SeqNum,
    capacity: usize,
    /// A write found the buffer full since the last [`SendBuffer::take_blocked`]: the
    /// buffer may be what limits the sender (send_autotune.rs).
    blocked: bool,
}

impl SendBuffer {
    pub(crate) fn new(start: SeqNum, capacity: usize) -> Self {
        SendBuffer {
            data: VecDeque::new(),
            start,
            capacity,
            blocked: false,
        }
    }

    /// Sequence number of the first byte held.
    #[cfg(test)]
    pub(crate) fn start(&self) -> SeqNum {
        self.start
    }

    /// Sequence number just past the last byte held.
    pub(crate) fn end(&self) -> SeqNum {
        self.start + self.data.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// The most bytes it holds (storage follows lazily).
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Raise the capacity (send_autotune.rs); it never shrinks. The storage grows lazily.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity);
    }

    pub(crate) fn free(&self) -> usize {
        self.capacity.saturating_sub(self.data.len())
    }

    /// Append as much of `bytes` as fits; returns how much was taken.
    #[cfg(test)]
    pub(crate) fn push(&mut self, bytes: &[u8]) -> usize {
        self.push_at_most(bytes, usize::MAX)
    }

    /// Append as much of `bytes` as fits, and no more than `limit`; returns how much was
    /// taken. A write cut short either way counts as held back.
    pub(crate) fn push_at_most(&mut self, bytes: &[u8], limit: usize) -> usize {
        let n = bytes.len().min(self.free()).min(limit);
        self.data.extend(&bytes[..n]);
        self.blocked |= n < bytes.len();
        n
    }

    /// Whether a write found the buffer full since the last call.
    pub(crate) fn take_blocked(&mut self) -> bool {
        std::mem::take(&mut self.blocked)
    }

    /// Drop everything before `seq` (the peer acknowledged it). `seq` beyond the end drops all.
    pub(crate) fn ack_to(&mut self, seq: SeqNum) {
        if seq <= self.start {
            return;
        }
        let n = ((seq - self.start) as usize).min(self.data.len());
        // `start` stops at the end of the data: a FIN (which follows it) is acknowledged one
        // past it.
        self.data.drain(..n);
        self.start += n;
    }

    /// How many bytes a segment starting at `seq` can carry from here, at most `max`: 0 when
    /// `seq` is outside what is held.
    pub(crate) fn len_from(&self, seq: SeqNum, max: usize) -> usize {
        if seq < self.start {
            return 0;
        }
        let off = (seq - self.start) as usize;
        max.min(self.data.len().saturating_sub(off))
    }

    /// The `len_from(seq, max)` bytes starting at `seq`, as two slices of the ring (the
    /// second is empty unless they cross its seam). The endpoint copies them straight into
    /// the outgoing packet.
    pub(crate) fn slices(&self, seq: SeqNum, max: usize) -> (&[u8], &[u8]) {
        let n = self.len_from(seq, max);
        if n == 0 {
            return (&[], &[]);
        }
        let off = (seq - self.start) as usize;
        let (a, b) = self.data.as_slices();
        if off < a.len() {
            let first = (a.len() - off).min(n);
            (&a[off..off + first], &b[..n - first])
        } else {
            let o = off - a.len();
            (&b[o..o + n], &[])
        }
    }

    /// Forget everything (RST, abort).
    /// Heap bytes the ring holds (its storage, used or not).
    pub(crate) fn storage(&self) -> usize {
        self.data.capacity()
    }

    /// Give the storage back if the ring is empty.
    pub(crate) fn release_if_empty(&mut self) {
        if self.data.is_empty() {
            self.data = VecDeque::new();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.data = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a segment from `seq` of at most `max` bytes carries, in one piece.
    fn segment(b: &SendBuffer, seq: SeqNum, max: usize) -> Vec<u8> {
        let (x, y) = b.slices(seq, max);
        assert_eq!(x.len() + y.len(), b.len_from(seq, max));
        [x, y].concat()
    }

    #[test]
    fn push_ack_and_copy() {
        let mut b = SendBuffer::new(SeqNum(u32::MAX - 2), 8);
        assert_eq!(b.push(b"hello world"), 8);
        assert_eq!(b.free(), 0);
        assert_eq!(segment(&b, SeqNum(u32::MAX), 4), b"llo ");
        b.ack_to(SeqNum(1));
        assert_eq!(b.start(), SeqNum(1));
        assert_eq!(b.len(), 4);
        assert_eq!(segment(&b, SeqNum(1), 100), b"o wo");
        assert_eq!(segment(&b, SeqNum(0), 100), b"", "before the start");
        assert_eq!(segment(&b, SeqNum(5), 100), b"", "at the end");
        assert_eq!(segment(&b, SeqNum(9), 100), b"", "past the end");
        b.ack_to(SeqNum(10));
        assert_eq!(b.len(), 0);
        assert_eq!(
            b.end(),
            SeqNum(5),
            "an ACK past the data (of a FIN) leaves the end alone"
        );
    }

    #[test]
    fn storage_is_kept_when_everything_is_acknowledged() {
        let mut b = SendBuffer::new(SeqNum(0), 1 << 18);
        assert_eq!(
            b.data.capacity(),
            0,
            "nothing allocated before the first write"
        );
        assert_eq!(b.push(&[1u8; 100_000]), 100_000);
        let grown = b.data.capacity();
        b.ack_to(SeqNum(100_000));
        assert_eq!(b.len(), 0);
        assert_eq!(b.data.capacity(), grown, "no free and regrow per window");
        b.clear();
        assert_eq!(b.data.capacity(), 0, "released when the connection ends");
    }

    #[test]
    fn copy_across_the_ring_seam() {
        let mut b = SendBuffer::new(SeqNum(0), 8);
        b.push(b"abcdefgh");
        b.ack_to(SeqNum(6));
        b.push(b"ijklmn");
        let (x, y) = b.slices(SeqNum(6), 8);
        assert_eq!(
            (x, y),
            (&b"gh"[..], &b"ijklmn"[..]),
            "two slices across the seam"
        );
        assert_eq!(segment(&b, SeqNum(6), 8), b"ghijklmn");
        assert_eq!(segment(&b, SeqNum(7), 2), b"hi");
        assert_eq!(b.slices(SeqNum(9), 3), (&b"jkl"[..], &b""[..]));
        assert_eq!(segment(&b, SeqNum(13), 8), b"n");
    }
}
