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

use std::collections::VecDeque;

use crate::seq::SeqNum;

/// Most separate out-of-order ranges held at once.
pub(crate) const MAX_HOLES: usize = 64;

#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// In-order bytes not yet read by the application.
    ready: VecDeque<u8>,
    /// Out-of-order ranges, sorted by sequence, non-overlapping, none touching `rcv_nxt`.
    ooo: Vec<(SeqNum, Vec<u8>)>,
    capacity: usize,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        RecvBuffer {
            ready: VecDeque::new(),
            ooo: Vec::new(),
            capacity,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes readable by the application.
    pub(crate) fn readable(&self) -> usize {
        self.ready.len()
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
        self.capacity.saturating_sub(self.ready.len())
    }

    /// Store a segment's text that lies in `[rcv_nxt, rcv_nxt + window)` (already trimmed to
    /// it by the caller). Returns the new RCV.NXT: past `data` if it was in order, and past any
    /// held ranges that now follow on.
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) -> SeqNum {
        if data.is_empty() {
            return rcv_nxt;
        }
        if seq == rcv_nxt {
            self.ready.extend(data);
            let mut nxt = rcv_nxt + data.len();
            // Pull held ranges that are now contiguous (or overlap what we have).
            while let Some((s, _)) = self.ooo.first() {
                if *s > nxt {
                    break;
                }
                let (s, d) = self.ooo.remove(0);
                let skip = (nxt - s) as usize;
                if skip < d.len() {
                    self.ready.extend(&d[skip..]);
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
        let n = buf.len().min(self.ready.len());
        let (a, b) = self.ready.as_slices();
        let first = a.len().min(n);
        buf[..first].copy_from_slice(&a[..first]);
        buf[first..n].copy_from_slice(&b[..n - first]);
        self.ready.drain(..n);
        n
    }

    /// Forget everything (RST, abort).
    /// Heap bytes the in-order ring holds (its storage, used or not).
    pub(crate) fn storage(&self) -> usize {
        self.ready.capacity()
    }

    /// Give the in-order ring's storage back if it is empty.
    pub(crate) fn release_if_empty(&mut self) {
        if self.ready.is_empty() {
            self.ready = VecDeque::new();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.ready = VecDeque::new();
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
        let grown = b.ready.capacity();
        assert!(grown >= 144_800);
        let mut out = vec![0u8; 1 << 20];
        assert_eq!(b.read(&mut out), 144_800);
        assert_eq!(b.readable(), 0);
        assert_eq!(b.ready.capacity(), grown, "no free and regrow per window");
        b.clear();
        assert_eq!(b.ready.capacity(), 0, "released when the connection ends");
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
