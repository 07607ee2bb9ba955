//! The receive side: in-order bytes waiting for the application, and out-of-order segments
//! held for later (RFC 9293 §3.10.7.4 step 1, SHLD-31) and merged when the gap fills.
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

use crate::seq::SeqNum;

/// Most separate out-of-order ranges held at once.
pub(crate) const MAX_HOLES: usize = 64;

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
    /// Out-of-order ranges, sorted by sequence, non-overlapping, none touching `rcv_nxt`.
    ooo: Vec<(SeqNum, Vec<u8>)>,
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
        self.ooo.iter().map(|(_, d)| d.len()).sum()
    }

    /// The held out-of-order ranges as `[left, right)`, in sequence order.
    pub(crate) fn ooo_ranges(&self) -> Vec<(SeqNum, SeqNum)> {
        self.ooo.iter().map(|(s, d)| (*s, *s + d.len())).collect()
    }

    /// Space for new in-sequence data (the window we can offer).
    pub(crate) fn window(&self) -> usize {
        self.capacity.saturating_sub(self.readable())
    }

    /// Make room for `more` bytes after the in-order ones: grow the storage (doubling, up to
    /// the capacity, but always enough), straightening the ring into it.
    fn reserve(&mut self, more: usize) {
        let need = self.readable() + more;
        if need <= self.ring.len() {
            return;
        }
        let size = need.max((self.ring.len() * 2).min(self.capacity));
        let mut grown = zeroed(size);
        let (a, b) = self.slices();
        grown[..a.len()].copy_from_slice(a);
        grown[a.len()..a.len() + b.len()].copy_from_slice(b);
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

    /// Append in-order bytes.
    fn push(&mut self, data: &[u8]) {
        self.reserve(data.len());
        let (a, b) = self.free_mut();
        let n = a.len().min(data.len());
        a[..n].copy_from_slice(&data[..n]);
        b[..data.len() - n].copy_from_slice(&data[n..]);
        self.len += data.len() as u32;
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
        self.reserve(data.len());
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
        if seq == rcv_nxt {
            if self.staged_seq == seq && data.len() <= staged {
                // The same text (a prefix of it, if trimmed to the window) is already in place.
                debug_assert!({
                    let (a, b) = self.free_mut();
                    let k = a.len().min(data.len());
                    a[..k] == data[..k] && b[..data.len() - k] == data[k..]
                });
                self.len += data.len() as u32;
            } else {
                self.push(data);
            }
            let mut nxt = rcv_nxt + data.len();
            // Pull held ranges that are now contiguous (or overlap what we have).
            while let Some((s, _)) = self.ooo.first() {
                if *s > nxt {
                    break;
                }
                let (s, d) = self.ooo.remove(0);
                let skip = (nxt - s) as usize;
                if skip < d.len() {
                    self.push(&d[skip..]);
                    nxt = s + d.len();
                }
            }
            nxt
        } else {
            self.hold(seq, data);
            rcv_nxt
        }
    }

    /// Keep an out-of-order range, merging with neighbours.
    fn hold(&mut self, seq: SeqNum, data: &[u8]) {
        let mut start = seq;
        let mut end = seq + data.len();
        let mut merged: Vec<u8> = Vec::new();
        // Find ranges overlapping or touching [start, end).
        let mut first = None;
        let mut last = 0;
        for (i, (s, d)) in self.ooo.iter().enumerate() {
            let e = *s + d.len();
            if e >= start && *s <= end {
                first.get_or_insert(i);
                last = i;
            }
        }
        match first {
            None => {
                if self.ooo.len() >= MAX_HOLES {
                    return;
                }
                let pos = self
                    .ooo
                    .iter()
                    .position(|(s, _)| *s > start)
                    .unwrap_or(self.ooo.len());
                self.ooo.insert(pos, (start, data.to_vec()));
            }
            Some(first) => {
                let old: Vec<(SeqNum, Vec<u8>)> = self.ooo.drain(first..=last).collect();
                start = start.min(old[0].0);
                for (s, d) in &old {
                    end = end.max(*s + d.len());
                }
                merged.resize((end - start) as usize, 0);
                for (s, d) in &old {
                    let o = (*s - start) as usize;
                    merged[o..o + d.len()].copy_from_slice(d);
                }
                let o = (seq - start) as usize;
                merged[o..o + data.len()].copy_from_slice(data);
                self.ooo.insert(first, (start, merged));
            }
        }
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
        // An emptied ring starts again at the front, so the next text lands in one piece.
        self.head = if self.len == 0 {
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

    /// Give the in-order ring's storage back if it is empty.
    pub(crate) fn release_if_empty(&mut self) {
        if self.len == 0 {
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

    #[test]
    fn holes_are_bounded() {
        let mut b = RecvBuffer::new(1 << 20);
        for i in 0..(MAX_HOLES as u32 + 10) {
            b.insert(SeqNum(0), SeqNum(10 + i * 10), b"x");
        }
        assert_eq!(b.ooo.len(), MAX_HOLES);
    }
}
