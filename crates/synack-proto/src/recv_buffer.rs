//! The receive side: in-order bytes waiting for the application, and out-of-order segments
//! held for later (RFC 9293 §3.10.7.4 step 1, SHLD-31) and merged when the gap fills.
//!
//! Out-of-order text is written straight into the ring at its place (the offset from RCV.NXT
//! past the in-order bytes); only its `[start, end)` ranges are listed. When the gap fills,
//! the in-order length jumps over them: nothing is copied twice, and holding a range costs 8
//! bytes of list, not an allocation.
//!
//! Bounds: everything accepted lies inside the window we offered, and the window never exceeds
//! the buffer capacity, so the bytes held are at most `capacity`. The number of separate
//! out-of-order ranges is capped at [`MAX_HOLES`]; a segment that would add one more is
//! dropped (the peer retransmits it).
//!
//! The in-order ring is allocated by the first byte that arrives, grows (doubling) up to the
//! capacity and is kept until the connection ends, also when the application empties it: a
//! bulk receiver empties it once per window, and freeing it each time cost a regrowth by
//! `realloc` and the kernel's page faults per window. A connection that only ever receives
//! small messages keeps a small ring.

use crate::seq::{merge_range, ranges_touching, SeqNum};

/// Most separate out-of-order ranges held at once (8 bytes each). A window of losses after a
/// slow start overflowed a queue leaves hundreds of holes: with 64, a receiver dropped most of
/// what arrived above the 64th, and the sender sent it all again (1,595 retransmissions for
/// 407 drops in the simulator's 100 Mbit/s, 100 ms, half-BDP-queue transfer).
pub(crate) const MAX_HOLES: usize = 1024;

/// Largest capacity (the ring's indices are `u32`); the connection clamps to 2^30 anyway.
const MAX_CAPACITY: usize = 1 << 31;

/// `size` zero bytes. Small rings are allocated by `malloc` (its thread cache) and zeroed;
/// `calloc`, which `vec![0; n]` calls, skips that cache and cost a lifecycle (two 100-byte
/// rings) about 300 instructions more. Large ones come zeroed from `calloc`'s fresh pages.
#[allow(clippy::slow_vector_initialization)] // deliberately not calloc, see above
fn zeroed(size: usize) -> Box<[u8]> {
    if size <= 64 * 1024 {
        let mut v = Vec::with_capacity(size);
        v.resize(size, 0);
        v.into_boxed_slice()
    } else {
        vec![0u8; size].into_boxed_slice()
    }
}

#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// The in-order ring: `len` bytes not yet read by the application, from `head` on,
    /// wrapping at the end. Initialized storage, so that a segment's text can be copied into
    /// the free space (and summed on the way, [`RecvBuffer::stage`]) before it is accepted.
    /// (A boxed slice and `u32` indices, the capacity being at most 2^30: the TCB stays as
    /// small as with a `VecDeque`.)
    ring: Box<[u8]>,
    head: u32,
    len: u32,
    /// Text staged in the free space right after the in-order bytes: its first sequence
    /// number and length (0: none). Only [`RecvBuffer::insert`] of the same text at that
    /// sequence number commits it; anything else forgets it.
    staged_seq: SeqNum,
    staged_len: u32,
    /// Out-of-order ranges `[start, end)` whose text lies in the ring at its place: sorted,
    /// neither overlapping nor touching each other or RCV.NXT.
    ooo: Vec<(SeqNum, SeqNum)>,
    capacity: usize,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        RecvBuffer {
            ring: Box::default(),
            head: 0,
            len: 0,
            staged_seq: SeqNum(0),
            staged_len: 0,
            ooo: Vec::new(),
            capacity: capacity.min(MAX_CAPACITY),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Raise the capacity (recv_autotune.rs); it never shrinks. The storage grows lazily.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity.min(MAX_CAPACITY));
    }

    /// Bytes readable by the application.
    pub(crate) fn readable(&self) -> usize {
        self.len as usize
    }

    /// Bytes held out of order.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.ooo.iter().map(|&(s, e)| (e - s) as usize).sum()
    }

    /// The held out-of-order ranges as `[left, right)`, in sequence order.
    pub(crate) fn ooo_ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ooo
    }

    /// Bytes from RCV.NXT to the end of the last held range (0 if none): the part of the
    /// free space that holds text.
    fn ooo_extent(&self, rcv_nxt: SeqNum) -> usize {
        self.ooo.last().map_or(0, |&(_, e)| (e - rcv_nxt) as usize)
    }

    /// Space for new in-sequence data (the window we can offer).
    pub(crate) fn window(&self) -> usize {
        self.capacity.saturating_sub(self.readable())
    }

    /// Make room for `more` bytes after the in-order ones: grow the storage (doubling, up to
    /// the capacity, but always enough), straightening the ring into it. `keep`: bytes after
    /// the in-order ones that hold text (out-of-order ranges) and move with them.
    fn reserve(&mut self, more: usize, keep: usize) {
        let need = self.readable() + more;
        if need <= self.ring.len() {
            return;
        }
        let size = need.max((self.ring.len() * 2).min(self.capacity));
        let mut grown = zeroed(size);
        let used = (self.readable() + keep).min(self.ring.len());
        let head = self.head as usize;
        let first = used.min(self.ring.len() - head);
        grown[..first].copy_from_slice(&self.ring[head..head + first]);
        grown[first..used].copy_from_slice(&self.ring[..used - first]);
        self.ring = grown;
        self.head = 0;
    }

    /// The in-order bytes, as the ring's two pieces.
    fn slices(&self) -> (&[u8], &[u8]) {
        let (head, len) = (self.head as usize, self.readable());
        let first = len.min(self.ring.len() - head);
        (&self.ring[head..head + first], &self.ring[..len - first])
    }

    /// The free space right after the in-order bytes, as the ring's two pieces.
    fn free_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let (head, len, size) = (self.head as usize, self.readable(), self.ring.len());
        // head < size and len <= size: one subtraction wraps it (no division per segment).
        let tail = match head + len {
            t if t >= size => t - size,
            t => t,
        };
        if tail >= head && len < size {
            // Free: [tail, size) then [0, head).
            let (front, back) = self.ring.split_at_mut(tail);
            (back, &mut front[..head])
        } else {
            // Free: [tail, head).
            let free = size - len;
            (&mut self.ring[tail..tail + free], &mut [])
        }
    }

    /// Write `data` into the free space `offset` bytes past the in-order bytes (the caller
    /// has reserved room), wrapping at the end of the ring.
    fn write_at(&mut self, offset: usize, data: &[u8]) {
        let size = self.ring.len();
        // head < size and readable + offset < size (reserved): one subtraction wraps it.
        let mut at = self.head as usize + self.readable() + offset;
        if at >= size {
            at -= size;
        }
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(size - at);
            self.ring[at..at + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            at = 0;
        }
    }

    /// Copy a segment's text that starts at RCV.NXT (`seq`) into the free space after the
    /// in-order bytes without making it readable, and return its checksum sum
    /// ([`synack_wire::checksum::copy_and_sum`]): one pass both copies and verifies it.
    /// `None` (nothing staged) if it does not fit in the window.
    pub(crate) fn stage(&mut self, seq: SeqNum, data: &[u8]) -> Option<u32> {
        self.staged_len = 0;
        if data.is_empty() || data.len() > self.window() {
            return None;
        }
        // Never over held text: a segment whose checksum then fails would have replaced it.
        if self
            .ooo
            .first()
            .is_some_and(|&(start, _)| data.len() > (start - seq) as usize)
        {
            return None;
        }
        self.reserve(data.len(), self.ooo_extent(seq));
        let (a, b) = self.free_mut();
        let sum = synack_wire::checksum::copy_and_sum_split(a, b, data);
        self.staged_seq = seq;
        self.staged_len = data.len() as u32;
        Some(sum)
    }

    /// Forget staged text (its segment was not accepted).
    pub(crate) fn unstage(&mut self) {
        self.staged_len = 0;
    }

    /// Store a segment's text that lies in `[rcv_nxt, rcv_nxt + window)` (already trimmed to
    /// it by the caller). Returns the new RCV.NXT: past `data` if it was in order, and past any
    /// held ranges that now follow on. Text staged by [`RecvBuffer::stage`] at `rcv_nxt` is
    /// committed without a second copy.
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) -> SeqNum {
        let staged = std::mem::take(&mut self.staged_len) as usize;
        if data.is_empty() {
            return rcv_nxt;
        }
        if seq != rcv_nxt {
            self.hold(rcv_nxt, seq, data);
            return rcv_nxt;
        }
        if !(self.staged_seq == seq && data.len() <= staged) {
            self.reserve(data.len(), self.ooo_extent(rcv_nxt));
            self.write_at(0, data);
        } else {
            // The same text (a prefix of it, if trimmed to the window) is already in place.
            debug_assert!({
                let (a, b) = self.free_mut();
                let k = a.len().min(data.len());
                a[..k] == data[..k] && b[..data.len() - k] == data[k..]
            });
        }
        self.len += data.len() as u32;
        let mut nxt = rcv_nxt + data.len();
        // Held ranges that now follow on (or overlap what arrived) are already in place
        // behind it: the in-order bytes extend over them.
        let joined = self.ooo.partition_point(|&(start, _)| start <= nxt);
        for &(_, end) in &self.ooo[..joined] {
            if end > nxt {
                self.len += end - nxt;
                nxt = end;
            }
        }
        self.ooo.drain(..joined);
        nxt
    }

    /// Keep an out-of-order range (`seq` > RCV.NXT, inside the window): its text goes to its
    /// place in the ring, its range is merged into the list.
    fn hold(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) {
        let (start, end) = (seq, seq + data.len());
        let span = ranges_touching(&self.ooo, start, end);
        if span.is_empty() && self.ooo.len() >= MAX_HOLES {
            return; // one more separate range: dropped, the peer sends it again
        }
        let offset = (seq - rcv_nxt) as usize;
        self.reserve(offset + data.len(), self.ooo_extent(rcv_nxt));
        self.write_at(offset, data);
        merge_range(&mut self.ooo, span, start, end);
    }

    /// Read in-order bytes into `buf`.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        self.staged_len = 0;
        let n = buf.len().min(self.readable());
        let (a, b) = self.slices();
        let first = a.len().min(n);
        buf[..first].copy_from_slice(&a[..first]);
        buf[first..n].copy_from_slice(&b[..n - first]);
        self.len -= n as u32;
        // An emptied ring starts again at the front, so the next text lands in one piece
        // (unless held text lies behind it, in place).
        self.head = if self.len == 0 && self.ooo.is_empty() {
            0
        } else {
            match self.head as usize + n {
                h if h >= self.ring.len() => (h - self.ring.len()) as u32,
                h => h as u32,
            }
        };
        n
    }

    /// Heap bytes the in-order ring holds (its storage, used or not).
    pub(crate) fn storage(&self) -> usize {
        self.ring.len()
    }

    /// Give the ring's storage back if it holds nothing (in order or not).
    pub(crate) fn release_if_empty(&mut self) {
        if self.len == 0 && self.ooo.is_empty() {
            self.ring = Box::default();
            self.head = 0;
            self.staged_len = 0;
        }
    }

    /// Forget everything (RST, abort).
    pub(crate) fn clear(&mut self) {
        self.ring = Box::default();
        self.head = 0;
        self.len = 0;
        self.staged_len = 0;
        self.ooo = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn storage_is_kept_when_the_application_empties_the_ring() {
        let mut b = RecvBuffer::new(1 << 20);
        let seg = [7u8; 1448];
        let mut nxt = SeqNum(0);
        for _ in 0..100 {
            nxt = b.insert(nxt, nxt, &seg);
        }
        let grown = b.storage();
        assert!(grown >= 144_800);
        let mut out = vec![0u8; 1 << 20];
        assert_eq!(b.read(&mut out), 144_800);
        assert_eq!(b.readable(), 0);
        assert_eq!(b.storage(), grown, "no free and regrow per window");
        b.clear();
        assert_eq!(b.storage(), 0, "released when the connection ends");
    }

    #[test]
    fn staged_text_is_committed_in_place_or_forgotten() {
        use synack_wire::checksum::{combine, sum};
        let mut b = RecvBuffer::new(8);
        let mut nxt = b.insert(SeqNum(0), SeqNum(0), b"abcd");
        nxt = b.insert(nxt, nxt, b"ef");
        assert_eq!(b.storage(), 8);
        let mut out = [0u8; 8];
        assert_eq!(b.read(&mut out[..4]), 4);
        // Free space: two bytes at the end of the ring, then four at its front.
        let s = b.stage(nxt, b"ghijk").unwrap();
        assert_eq!(combine(&[s]), combine(&[sum(b"ghijk")]));
        assert_eq!(b.readable(), 2, "staged text is not readable");
        // Not taken (a bad checksum, or a segment found unacceptable): forgotten.
        b.unstage();
        assert_eq!(
            b.insert(nxt, nxt, b"GH"),
            nxt + 2u32,
            "copied, not the staged bytes"
        );
        assert_eq!(b.read(&mut out), 4);
        assert_eq!(&out[..4], b"efGH");
        nxt += 2u32;
        // Taken, trimmed to the window: the staged prefix is committed as it lies.
        let s = b.stage(nxt, b"wxyzv").unwrap();
        assert_eq!(combine(&[s]), combine(&[sum(b"wxyzv")]));
        assert_eq!(b.insert(nxt, nxt, b"wxyz"), nxt + 4u32);
        assert_eq!(b.read(&mut out), 4);
        assert_eq!(&out[..4], b"wxyz");
        // Text that does not fit the window is not staged.
        assert_eq!(b.stage(nxt, &[0u8; 9]), None);
        // Staged text never stands in for text at another sequence number.
        nxt += 4u32;
        b.stage(nxt + 1u32, b"zz").unwrap();
        assert_eq!(b.insert(nxt, nxt, b"pq"), nxt + 2u32);
        assert_eq!(b.read(&mut out), 2);
        assert_eq!(&out[..2], b"pq");
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

    proptest::proptest! {
        /// Any order of arrival, overlaps, duplicates and reads in between: the reader sees
        /// the stream exactly once, in order.
        #[test]
        fn any_arrival_order_reads_the_stream(
            cuts in proptest::collection::vec((0usize..600, 1usize..120), 1..60),
            reads in proptest::collection::vec(0usize..200, 1..60),
            start in proptest::prelude::any::<u32>(),
        ) {
            let stream: Vec<u8> = (0..700u32).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut b = RecvBuffer::new(512);
            let base = SeqNum(start);
            let mut nxt = base;
            let mut got = Vec::new();
            let mut out = [0u8; 256];
            for (k, &(at, len)) in cuts.iter().enumerate() {
                // Trim to [RCV.NXT, RCV.NXT + window), as segment processing does.
                let lo = at.max((nxt - base) as usize);
                let hi = (at + len).min(stream.len()).min((nxt - base) as usize + b.window());
                if lo < hi {
                    nxt = b.insert(nxt, base + lo as u32, &stream[lo..hi]);
                }
                let r = reads[k % reads.len()].min(out.len());
                let n = b.read(&mut out[..r]);
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

    #[test]
    fn holes_are_bounded() {
        let mut b = RecvBuffer::new(1 << 20);
        for i in 0..(MAX_HOLES as u32 + 10) {
            b.insert(SeqNum(0), SeqNum(10 + i * 10), b"x");
        }
        assert_eq!(b.ooo.len(), MAX_HOLES);
    }
}
