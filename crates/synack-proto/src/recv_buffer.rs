//! The receive side's buffer: in-order bytes waiting for the application, out-of-order text
//! held for later, and packets kept whole — three mechanisms, one module each, composed here
//! behind the one interface the connection uses:
//!
//! - ring.rs: the byte ring (storage, staging of in-order text copied and checksummed in one
//!   pass, reads, storage kept or released);
//! - reassembly.rs: out-of-order ranges, their text in the ring at its place (SHLD-31),
//!   bounded;
//! - kept.rs: large in-order segments left in the packet buffer the caller gave up
//!   ([`crate::Endpoint::handle_owned`]), read straight from it, the buffers returned
//!   ([`crate::Endpoint::reclaim`]).
//!
//! The readable bytes are the ring's in-order bytes, then the kept packets' text. While
//! packets are kept nothing is held out of order and nothing is staged: text that needs the
//! ring's free space first spills the kept text into the ring.
//!
//! Bounds: everything accepted lies inside the window we offered, and the window never
//! exceeds the capacity ([`RecvBuffer::window`]), so the bytes held, in whatever form, are at
//! most the capacity; the ranges and kept packets are counted too ([`reassembly::MAX_HOLES`],
//! [`kept::MAX_KEPT`]).

mod kept;
mod reassembly;
mod ring;

use crate::seq::SeqNum;
use kept::Kept;
pub(crate) use kept::Offer;
use reassembly::Holes;
use ring::Ring;

/// Largest capacity (the ring's indices are `u32`); the connection clamps to 2^30 anyway.
const MAX_CAPACITY: usize = 1 << 31;

/// What most connections never need, allocated the first time one does (a pointer in the
/// TCB): out-of-order ranges and kept packets.
#[derive(Debug, Default)]
struct Extra {
    holes: Holes,
    kept: Kept,
}

#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// The in-order bytes (ahead of any kept text), staged text, and held text at its place.
    ring: Ring,
    /// Unread text in kept packets, behind the ring's in-order bytes.
    kept_len: u32,
    capacity: u32,
    /// Out-of-order ranges and kept packets.
    extra: Option<Box<Extra>>,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        RecvBuffer {
            ring: Ring::default(),
            kept_len: 0,
            capacity: capacity.min(MAX_CAPACITY) as u32,
            extra: None,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Raise the capacity (recv_autotune.rs); it never shrinks. The storage grows lazily.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity.min(MAX_CAPACITY) as u32);
    }

    /// Bytes readable by the application (in the ring and in kept packets).
    #[inline]
    pub(crate) fn readable(&self) -> usize {
        self.ring.len() + self.kept_len as usize
    }

    /// Whether packets are kept (then there is no out-of-order text and nothing staged).
    #[inline]
    fn keeps(&self) -> bool {
        self.kept_len > 0
    }

    /// Memory kept packets take beyond their unread text (buffer capacity).
    pub(crate) fn kept_overhead(&self) -> usize {
        let kept = self.kept_len as usize;
        self.extra
            .as_ref()
            .map_or(0, |e| e.kept.memory().saturating_sub(kept))
    }

    /// Whether text is held out of order.
    #[inline]
    fn holds(&self) -> bool {
        self.extra.as_deref().is_some_and(|e| !e.holes.is_empty())
    }

    /// Bytes from RCV.NXT to the end of the last held range (reassembly.rs).
    #[inline]
    fn held_extent(&self, rcv_nxt: SeqNum) -> usize {
        self.extra.as_deref().map_or(0, |e| e.holes.extent(rcv_nxt))
    }

    /// Bytes held out of order.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.extra.as_deref().map_or(0, |e| e.holes.bytes())
    }

    /// The held out-of-order ranges as `[left, right)`, in sequence order.
    pub(crate) fn ooo_ranges(&self) -> &[(SeqNum, SeqNum)] {
        self.extra.as_deref().map_or(&[], |e| e.holes.ranges())
    }

    /// Space for new in-sequence data (the window we can offer).
    #[inline]
    pub(crate) fn window(&self) -> usize {
        self.capacity().saturating_sub(self.readable())
    }

    /// Copy a segment's text that starts at RCV.NXT (`seq`) into the free space after the
    /// in-order bytes without making it readable, and return its checksum sum
    /// ([`synack_wire::checksum::copy_and_sum`]): one pass both copies and verifies it.
    /// `None` (nothing staged) if it does not fit in the window.
    pub(crate) fn stage(&mut self, seq: SeqNum, data: &[u8]) -> Option<u32> {
        self.ring.unstage();
        if data.is_empty() || data.len() > self.window() || self.keeps() {
            return None;
        }
        // Never over held text: a segment whose checksum then fails would have replaced it.
        if self
            .extra
            .as_deref()
            .and_then(|e| e.holes.first_start())
            .is_some_and(|start| data.len() > (start - seq) as usize)
        {
            return None;
        }
        let keep = self.held_extent(seq);
        let capacity = self.capacity();
        Some(self.ring.stage(seq, data, keep, capacity))
    }

    /// Forget staged text (its segment was not accepted).
    pub(crate) fn unstage(&mut self) {
        self.ring.unstage();
    }

    /// Store a segment's text that lies in `[rcv_nxt, rcv_nxt + window)` (already trimmed to
    /// it by the caller). Returns the new RCV.NXT: past `data` if it was in order, and past any
    /// held ranges that now follow on. Text staged by [`RecvBuffer::stage`] at `rcv_nxt` is
    /// committed without a second copy. (The stack itself calls `insert_offered`.)
    #[cfg(test)]
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) -> SeqNum {
        self.insert_offered(rcv_nxt, seq, data, None)
    }

    /// [`RecvBuffer::insert`] of a segment's text that may be kept in the packet buffer on
    /// `offer` (kept.rs): large in-order text is then kept there, awaiting
    /// [`RecvBuffer::adopt`], instead of being copied into the ring.
    pub(crate) fn insert_offered(
        &mut self,
        rcv_nxt: SeqNum,
        seq: SeqNum,
        data: &[u8],
        offer: Option<Offer>,
    ) -> SeqNum {
        let staged = self.ring.take_staged(seq);
        if data.is_empty() {
            return rcv_nxt;
        }
        // (Most text is neither offered nor behind kept or held text: straight to the ring.)
        if seq == rcv_nxt
            && (offer.is_some() || self.extra.is_some())
            && self.keep(seq, data, offer)
        {
            return rcv_nxt + data.len();
        }
        if self.keeps() {
            self.spill();
        }
        if seq != rcv_nxt {
            self.hold(rcv_nxt, seq, data);
            return rcv_nxt;
        }
        if data.len() > staged {
            let keep = self.held_extent(rcv_nxt);
            self.ring.reserve(data.len(), keep, self.capacity());
            self.ring.write_at(0, data);
        } else {
            // The same text (a prefix of it, if trimmed to the window) is already in place.
            debug_assert!(self.ring.holds_next(data));
        }
        self.ring.extend(data.len());
        let nxt = rcv_nxt + data.len();
        // Held ranges that now follow on (or overlap what arrived) are already in place
        // behind it: the in-order bytes extend over them.
        match self.extra.as_deref_mut() {
            Some(e) if !e.holes.is_empty() => {
                let joined = e.holes.join(nxt);
                self.ring.extend((joined - nxt) as usize);
                joined
            }
            _ => nxt,
        }
    }

    /// In-order text at RCV.NXT (`seq`), kept instead of copied into the ring if it may be:
    /// in its packet, if offered and worth it, else behind kept packets in a copy of its own.
    /// Returns whether it was.
    fn keep(&mut self, seq: SeqNum, data: &[u8], offer: Option<Offer>) -> bool {
        if let Some(o) = offer {
            let kept = self.extra.as_deref().map_or(0, |e| e.kept.count());
            // Never with text held out of order: it lies in the ring's free space.
            if let Some(place) = o.place(seq, data.len(), kept).filter(|_| !self.holds()) {
                let e = self.extra.get_or_insert_with(Box::default);
                e.kept.keep_offered(&o, place, data);
                self.kept_len += data.len() as u32;
                return true;
            }
        }
        if self.keeps() {
            if let Some(e) = self.extra.as_deref_mut() {
                if e.kept.keep_copy(data) {
                    self.kept_len += data.len() as u32;
                    return true;
                }
            }
        }
        false
    }

    /// The packet buffer offered with the last inserted text: kept if that text was
    /// (`None`), else handed back.
    pub(crate) fn adopt(&mut self, packet: Vec<u8>) -> Option<Vec<u8>> {
        match self.extra.as_deref_mut() {
            Some(e) => e.kept.adopt(packet),
            None => Some(packet),
        }
    }

    /// Copy the text of kept packets into the ring, behind its in-order bytes, and let the
    /// packets go: the ring's free space is needed (out-of-order text, a borrowed packet's
    /// text).
    #[cold]
    #[inline(never)]
    fn spill(&mut self) {
        let kept = std::mem::take(&mut self.kept_len) as usize;
        let Some(e) = self.extra.as_deref_mut() else {
            return;
        };
        // No held text while packets are kept: nothing lies past the in-order bytes.
        self.ring.reserve(kept, 0, self.capacity as usize);
        let (ring, mut offset) = (&mut self.ring, 0);
        e.kept.spill(|text| {
            ring.write_at(offset, text);
            offset += text.len();
        });
        ring.extend(offset);
    }

    /// Emptied packet buffers, for the caller to use again, into `out` (at most `limit` in
    /// all; the rest are freed).
    #[inline]
    pub(crate) fn take_spent(&mut self, out: &mut Vec<Vec<u8>>, limit: usize) {
        if let Some(e) = self.extra.as_deref_mut() {
            e.kept.take_spent(out, limit);
        }
    }

    /// Keep an out-of-order range (`seq` > RCV.NXT, inside the window): its text goes to its
    /// place in the ring, its range is merged into the list (unless that would be one more
    /// than [`reassembly::MAX_HOLES`]: dropped, the peer sends it again).
    fn hold(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) {
        let (start, end) = (seq, seq + data.len());
        let e = self.extra.get_or_insert_with(Box::default);
        let Some(span) = e.holes.room_for(start, end) else {
            return;
        };
        let offset = (seq - rcv_nxt) as usize;
        let keep = e.holes.extent(rcv_nxt);
        self.ring
            .reserve(offset + data.len(), keep, self.capacity as usize);
        self.ring.write_at(offset, data);
        e.holes.merge(span, start, end);
    }

    /// Read in-order bytes into `buf`: the ring's, then kept packets' (emptied buffers are
    /// spent).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.ring.read(buf, !self.holds());
        match (buf.get_mut(n..), self.extra.as_deref_mut()) {
            (Some(rest), Some(e)) if !rest.is_empty() && self.kept_len > 0 => {
                let (m, gone) = e.kept.read(rest);
                self.kept_len -= gone as u32;
                n + m
            }
            _ => n,
        }
    }

    /// Copy in-order bytes into `buf` as [`RecvBuffer::read`] would, consuming nothing.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> usize {
        let n = self.ring.peek(buf);
        match (buf.get_mut(n..), self.extra.as_deref()) {
            (Some(rest), Some(e)) if !rest.is_empty() && self.kept_len > 0 => n + e.kept.peek(rest),
            _ => n,
        }
    }

    /// Heap bytes the in-order ring holds (its storage, used or not).
    pub(crate) fn storage(&self) -> usize {
        self.ring.storage()
    }

    /// Give the ring's storage back if it holds nothing (in order or not). (Out of line: it
    /// runs only past the endpoint's `retained_ring_storage`.)
    #[inline(never)]
    pub(crate) fn release_if_empty(&mut self) {
        let holes = self.holds();
        if self.ring.len() == 0 && !holes {
            self.ring.release();
        }
        if self
            .extra
            .as_ref()
            .is_some_and(|e| e.kept.count() == 0 && !holes)
        {
            self.extra = None;
        }
    }

    /// Forget everything (RST, abort).
    pub(crate) fn clear(&mut self) {
        self.ring = Ring::default();
        self.kept_len = 0;
        self.extra = None;
    }
}

#[cfg(test)]
mod tests {
    use super::kept::tests::offer;
    use super::*;

    /// The TCB holds the buffer: the split into mechanisms costs it nothing.
    #[test]
    fn the_buffer_is_as_small_as_before() {
        assert_eq!(std::mem::size_of::<RecvBuffer>(), 48);
    }

    proptest::proptest! {
        /// Any order of arrival, overlaps, duplicates and reads in between: the reader sees
        /// the stream exactly once, in order.
        #[test]
        fn any_arrival_order_reads_the_stream(
            cuts in proptest::collection::vec((0usize..600, 1usize..120, proptest::prelude::any::<bool>()), 1..60),
            reads in proptest::collection::vec(0usize..200, 1..60),
            start in proptest::prelude::any::<u32>(),
            keep_min in 0usize..80,
        ) {
            let stream: Vec<u8> = (0..700u32).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut b = RecvBuffer::new(512);
            let base = SeqNum(start);
            let mut nxt = base;
            let mut got = Vec::new();
            let mut out = [0u8; 256];
            for (k, &(at, len, offered)) in cuts.iter().enumerate() {
                // Trim to [RCV.NXT, RCV.NXT + window), as segment processing does.
                let lo = at.max((nxt - base) as usize);
                let hi = (at + len).min(stream.len()).min((nxt - base) as usize + b.window());
                if lo < hi && offered {
                    // From a packet the endpoint was given (kept if in order and long enough).
                    (nxt, _) = offer(&mut b, nxt, base + lo as u32, &stream[lo..hi], keep_min);
                } else if lo < hi {
                    nxt = b.insert(nxt, base + lo as u32, &stream[lo..hi]);
                }
                let r = reads[k % reads.len()].min(out.len());
                // A peek sees what the read then takes, and takes nothing itself.
                let mut peeked = [0u8; 256];
                let p = b.peek(&mut peeked[..r]);
                let n = b.read(&mut out[..r]);
                proptest::prop_assert_eq!(&peeked[..p], &out[..n]);
                got.extend_from_slice(&out[..n]);
            }
            // Everything missing, in order, then read it all.
            while ((nxt - base) as usize) < stream.len() {
                let lo = (nxt - base) as usize;
                let hi = stream.len().min(lo + b.window().max(1));
                if b.window() == 0 {
                    let n = b.read(&mut out);
                    got.extend_from_slice(&out[..n]);
                    continue;
                }
                nxt = b.insert(nxt, nxt, &stream[lo..hi]);
                let n = b.read(&mut out);
                got.extend_from_slice(&out[..n]);
            }
            loop {
                let n = b.read(&mut out);
                if n == 0 { break; }
                got.extend_from_slice(&out[..n]);
            }
            proptest::prop_assert_eq!(&got[..], &stream[..]);
            proptest::prop_assert!(b.ooo_ranges().is_empty());
        }
    }

    proptest::proptest! {
        /// A stream that arrives mostly in order (where packets are kept), with segments
        /// swapped or repeated now and then (which spills them), each from an offered packet
        /// or a borrowed one, read in pieces of any size: the reader sees it exactly once,
        /// in order, and every offered buffer that was kept comes back once.
        #[test]
        fn kept_packets_read_the_stream_in_order(
            sizes in proptest::collection::vec(1usize..300, 1..80),
            twists in proptest::collection::vec(0u8..10, 80),
            reads in proptest::collection::vec(0usize..400, 1..40),
            keep_min in 1usize..200,
        ) {
            let total: usize = sizes.iter().sum();
            let stream: Vec<u8> = (0..total as u32).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut segs = Vec::new();
            let mut at = 0;
            for &n in &sizes {
                segs.push((at, at + n));
                at += n;
            }
            // twist 0: swap with the next segment; 1: send twice.
            let mut order = Vec::new();
            let mut i = 0;
            while i < segs.len() {
                match twists[i % twists.len()] {
                    0 if i + 1 < segs.len() => {
                        order.extend([segs[i + 1], segs[i]]);
                        i += 2;
                    }
                    1 => {
                        order.extend([segs[i], segs[i]]);
                        i += 1;
                    }
                    _ => {
                        order.push(segs[i]);
                        i += 1;
                    }
                }
            }
            let mut b = RecvBuffer::new(1 << 16);
            let base = SeqNum(u32::MAX - 100);
            let mut nxt = base;
            let (mut got, mut out) = (Vec::new(), [0u8; 400]);
            let (mut kept, mut spent) = (0, Vec::new());
            for (k, &(lo, hi)) in order.iter().enumerate() {
                let lo = lo.max((nxt - base) as usize); // trimmed to RCV.NXT
                if lo < hi {
                    if twists[k % twists.len()] % 2 == 0 {
                        let took;
                        (nxt, took) = offer(&mut b, nxt, base + lo as u32, &stream[lo..hi], keep_min);
                        kept += usize::from(took);
                    } else {
                        nxt = b.insert(nxt, base + lo as u32, &stream[lo..hi]);
                    }
                }
                let n = b.read(&mut out[..reads[k % reads.len()]]);
                got.extend_from_slice(&out[..n]);
                b.take_spent(&mut spent, usize::MAX);
            }
            loop {
                let n = b.read(&mut out);
                if n == 0 { break; }
                got.extend_from_slice(&out[..n]);
            }
            b.take_spent(&mut spent, usize::MAX);
            proptest::prop_assert_eq!(&got[..], &stream[..]);
            proptest::prop_assert_eq!(spent.len(), kept);
            proptest::prop_assert_eq!(b.kept_overhead(), 0);
        }
    }
}
