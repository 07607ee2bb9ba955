//! Out-of-order text: segments that start beyond RCV.NXT are held for later (RFC 9293
//! §3.10.7.4 step 1, SHLD-31) and merged when the gap fills.
//!
//! The text is written straight into the ring at its place (its offset from RCV.NXT past the
//! in-order bytes, ring.rs); only its `[start, end)` ranges are listed here. When the gap
//! fills, the in-order length jumps over them ([`Holes::join`]): nothing is copied twice, and
//! holding a range costs 8 bytes of list, not an allocation.
//!
//! Bounds: everything accepted lies inside the window we offered, and the window never
//! exceeds the buffer's capacity, so the bytes held are at most the capacity. The number of
//! separate ranges is capped at [`MAX_HOLES`]; a segment that would add one more is dropped
//! (the peer retransmits it).

use std::ops::Range;

use crate::seq::{merge_range, ranges_touching, SeqNum};

/// Most separate out-of-order ranges held at once (8 bytes each). A window of losses after a
/// slow start overflowed a queue leaves hundreds of holes: with 64, a receiver dropped most of
/// what arrived above the 64th, and the sender sent it all again (1,595 retransmissions for
/// 407 drops in the simulator's 100 Mbit/s, 100 ms, half-BDP-queue transfer).
pub(crate) const MAX_HOLES: usize = 1024;

/// The held out-of-order ranges `[start, end)` (their text lies in the ring at its place):
/// sorted, neither overlapping nor touching each other or RCV.NXT.
#[derive(Debug, Default)]
pub(crate) struct Holes {
    ranges: Vec<(SeqNum, SeqNum)>,
}

impl Holes {
    /// The held ranges as `[left, right)`, in sequence order.
    #[inline]
    pub(crate) fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.ranges.iter().map(|&(s, e)| (e - s) as usize).sum()
    }

    /// Bytes from RCV.NXT to the end of the last held range (0 if none): the part of the
    /// ring's free space that holds text.
    #[inline]
    pub(crate) fn extent(&self, rcv_nxt: SeqNum) -> usize {
        self.ranges
            .last()
            .map_or(0, |&(_, e)| (e - rcv_nxt) as usize)
    }

    /// Where the first held range starts.
    #[inline]
    pub(crate) fn first_start(&self) -> Option<SeqNum> {
        self.ranges.first().map(|&(s, _)| s)
    }

    /// The ranges `[start, end)` would merge with, for [`Holes::merge`]; `None` if it would be
    /// one more separate range and [`MAX_HOLES`] are held (then it is dropped).
    pub(crate) fn room_for(&self, start: SeqNum, end: SeqNum) -> Option<Range<usize>> {
        let span = ranges_touching(&self.ranges, start, end);
        (!span.is_empty() || self.ranges.len() < MAX_HOLES).then_some(span)
    }

    /// Add `[start, end)`, merged with the ranges `span` ([`Holes::room_for`]).
    pub(crate) fn merge(&mut self, span: Range<usize>, start: SeqNum, end: SeqNum) {
        merge_range(&mut self.ranges, span, start, end);
    }

    /// RCV.NXT moved to `nxt`: the ranges that now follow on (or that the text overlapped)
    /// are in order, in place behind it. Removes them; returns the RCV.NXT past them.
    #[inline]
    pub(crate) fn join(&mut self, mut nxt: SeqNum) -> SeqNum {
        let joined = self.ranges.partition_point(|&(start, _)| start <= nxt);
        if joined > 0 {
            for &(_, end) in &self.ranges[..joined] {
                if end > nxt {
                    nxt = end;
                }
            }
            self.ranges.drain(..joined);
        }
        nxt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recv_buffer::RecvBuffer;

    #[test]
    fn in_order_then_gap_fill_shld_31() {
        let mut b = RecvBuffer::new(100);
        let mut nxt = SeqNum(u32::MAX - 1);
        nxt = b.insert(nxt, nxt, b"ab");
        assert_eq!(nxt, SeqNum(0));
        // Hold two later ranges, one overlapping the other.
        assert_eq!(b.insert(nxt, SeqNum(4), b"ef"), nxt);
        assert_eq!(b.insert(nxt, SeqNum(5), b"fgh"), nxt);
        assert_eq!(b.ooo_bytes(), 4);
        // Fill the gap: RCV.NXT jumps past the held data.
        nxt = b.insert(nxt, SeqNum(0), b"abcd"[..].get(0..4).unwrap());
        assert_eq!(nxt, SeqNum(8));
        let mut out = [0u8; 16];
        let n = b.read(&mut out);
        assert_eq!(&out[..n], b"ababcdefgh");
        assert_eq!(b.ooo_bytes(), 0);
    }

    /// Held text lives in the ring at its place: it survives the ring growing and wrapping,
    /// and filling the gap makes it readable without a copy.
    #[test]
    fn held_text_survives_growth_and_wrap() {
        let mut b = RecvBuffer::new(64);
        let mut nxt = b.insert(SeqNum(0), SeqNum(0), &[b'a'; 10]);
        let mut out = [0u8; 64];
        assert_eq!(b.read(&mut out[..6]), 6); // head moves to 6 in a 10-byte ring
                                              // Held: [14, 20) and [30, 40): the ring grows (doubling) and the text wraps.
        nxt = b.insert(nxt, SeqNum(14), b"ghijkl");
        nxt = b.insert(nxt, SeqNum(30), b"0123456789");
        assert_eq!(nxt, SeqNum(10));
        assert_eq!(
            b.ooo_ranges(),
            [(SeqNum(14), SeqNum(20)), (SeqNum(30), SeqNum(40))]
        );
        // The gap [10, 14) joins the first range; the ring grows again on the way.
        nxt = b.insert(nxt, SeqNum(10), b"cdef");
        assert_eq!(nxt, SeqNum(20));
        assert_eq!(b.ooo_ranges(), [(SeqNum(30), SeqNum(40))]);
        // An overlapping segment fills [20, 32) and runs into the second range.
        nxt = b.insert(nxt, SeqNum(20), b"mnopqrstuv01");
        assert_eq!(nxt, SeqNum(40));
        assert!(b.ooo_ranges().is_empty());
        let n = b.read(&mut out);
        assert_eq!(&out[..n], b"aaaacdefghijklmnopqrstuv0123456789");
    }

    /// Staging (copy-and-sum before the checksum is known) never writes over held text: a
    /// corrupt segment at RCV.NXT could otherwise replace it.
    #[test]
    fn staging_stays_clear_of_held_text() {
        let mut b = RecvBuffer::new(64);
        let nxt = SeqNum(100);
        assert_eq!(b.insert(nxt, SeqNum(104), b"held"), nxt);
        assert_eq!(b.stage(nxt, b"abcde"), None, "would cover the held range");
        assert!(b.stage(nxt, b"abcd").is_some(), "ends where it starts");
        b.unstage();
        assert_eq!(b.insert(nxt, nxt, b"WXYZ"), SeqNum(108));
        let mut out = [0u8; 16];
        let n = b.read(&mut out);
        assert_eq!(&out[..n], b"WXYZheld");
    }

    #[test]
    fn holes_are_bounded() {
        let mut b = RecvBuffer::new(1 << 20);
        for i in 0..(MAX_HOLES as u32 + 10) {
            b.insert(SeqNum(0), SeqNum(10 + i * 10), b"x");
        }
        assert_eq!(b.ooo_ranges().len(), MAX_HOLES);
        // At the limit a range that touches a held one is still taken (it adds none).
        b.insert(SeqNum(0), SeqNum(11), b"y");
        assert_eq!(b.ooo_ranges().len(), MAX_HOLES);
        assert_eq!(b.ooo_ranges()[0], (SeqNum(10), SeqNum(12)));
    }

    /// The list alone: merging across several ranges and joining at RCV.NXT.
    #[test]
    fn ranges_merge_and_join() {
        let mut h = Holes::default();
        for (s, e) in [(10, 12), (20, 25), (30, 31)] {
            let span = h.room_for(SeqNum(s), SeqNum(e)).unwrap();
            h.merge(span, SeqNum(s), SeqNum(e));
        }
        assert_eq!(h.bytes(), 8);
        assert_eq!(h.extent(SeqNum(5)), 26);
        // [12, 30) touches all three.
        let span = h.room_for(SeqNum(12), SeqNum(30)).unwrap();
        assert_eq!(span, 0..3);
        h.merge(span, SeqNum(12), SeqNum(30));
        assert_eq!(h.ranges(), [(SeqNum(10), SeqNum(31))]);
        assert_eq!(h.join(SeqNum(9)), SeqNum(9), "a gap remains");
        assert_eq!(h.join(SeqNum(10)), SeqNum(31));
        assert!(h.is_empty());
    }
}
