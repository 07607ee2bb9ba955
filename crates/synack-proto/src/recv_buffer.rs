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
//!
//! Packets kept whole: when the caller hands the endpoint an owned packet
//! ([`crate::Endpoint::handle_owned`]) whose in-order text is large, the packet itself is
//! kept, behind the ring's in-order bytes, instead of its text being copied into the ring; the
//! application's read copies it out once, and the emptied packet buffer goes back to the caller
//! ([`crate::Endpoint::reclaim`]). The text was verified by a read-only sum on arrival. While
//! packets are kept there is no out-of-order text and nothing staged; anything that would need
//! the ring's free space (out-of-order text, text from a borrowed packet) first copies the kept
//! text into the ring (a "spill") and goes on as before, so no byte is ever copied more than
//! once into the ring.

use std::collections::VecDeque;

use crate::seq::{merge_range, ranges_touching, SeqNum};

/// Most separate out-of-order ranges held at once (8 bytes each). A window of losses after a
/// slow start overflowed a queue leaves hundreds of holes: with 64, a receiver dropped most of
/// what arrived above the 64th, and the sender sent it all again (1,595 retransmissions for
/// 407 drops in the simulator's 100 Mbit/s, 100 ms, half-BDP-queue transfer).
pub(crate) const MAX_HOLES: usize = 1024;

/// Most packets kept at once per connection (each a buffer of the caller's).
pub(crate) const MAX_KEPT: usize = 4096;

/// Emptied packet buffers a connection holds for the caller to reclaim; more are freed.
const MAX_SPENT: usize = 64;

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

/// A packet buffer offered with its segment ([`crate::Endpoint::handle_owned`]): where the
/// datagram lies in memory and the buffer's capacity. Text that lies inside it may be kept
/// by reference until the endpoint hands the buffer over ([`RecvBuffer::adopt`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offer {
    base: usize,
    len: u32,
    capacity: u32,
    /// Shortest text to keep (`Config::keep_packets_min`).
    min: u32,
}

impl Offer {
    /// The offer of `datagram`, which lies in a buffer of `capacity` bytes (none past 4 GiB),
    /// for text of at least `min` bytes.
    pub(crate) fn new(datagram: &[u8], capacity: usize, min: usize) -> Option<Offer> {
        Some(Offer {
            base: datagram.as_ptr() as usize,
            len: u32::try_from(datagram.len()).ok()?,
            capacity: u32::try_from(capacity).ok()?,
            min: u32::try_from(min).unwrap_or(u32::MAX),
        })
    }

    /// Whether text of `len` bytes is long enough to keep (`Config::keep_packets_min`, and
    /// never empty text).
    pub(crate) fn wants(&self, len: usize) -> bool {
        len >= (self.min as usize).max(1)
    }
}

/// One kept packet: its buffer and its unread text `[start, end)`.
#[derive(Debug)]
struct Piece {
    buf: Vec<u8>,
    start: u32,
    end: u32,
    /// The buffer is the caller's (given back once read); else a copy of short text.
    theirs: bool,
}

impl Piece {
    fn text(&self) -> &[u8] {
        self.buf
            .get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }
}

/// Packets kept whole, after the ring's in-order bytes (see the module docs).
/// What most connections never need, allocated the first time one does (8 bytes in the TCB
/// instead of 32): out-of-order ranges and kept packets.
#[derive(Debug, Default)]
struct Extra {
    /// Out-of-order ranges `[start, end)` whose text lies in the ring at its place: sorted,
    /// neither overlapping nor touching each other or RCV.NXT.
    ooo: Vec<(SeqNum, SeqNum)>,
    /// Kept packets, oldest first (their unread text: `RecvBuffer::kept_len`). The newest has
    /// an empty buffer while it `awaits` adoption.
    packets: VecDeque<Piece>,
    /// The memory `packets` hold: their buffers' capacities (memory accounting).
    kept_memory: usize,
    /// The newest entry's buffer is still the caller's (between `insert` and `adopt`).
    awaits: Option<Offer>,
    /// Emptied buffers, for the caller to reclaim.
    spent: Vec<Vec<u8>>,
}

impl Extra {
    /// A kept piece read or spilled: the caller's buffer is kept for reclaiming (up to
    /// [`MAX_SPENT`]), a copy freed.
    fn retire(&mut self, piece: Piece) {
        self.kept_memory = self.kept_memory.saturating_sub(piece.buf.capacity());
        if piece.theirs && self.spent.len() < MAX_SPENT {
            self.spent.push(piece.buf);
        }
    }
}

#[inline(never)]
fn move_spent(spent: &mut Vec<Vec<u8>>, out: &mut Vec<Vec<u8>>, limit: usize) {
    let room = limit.saturating_sub(out.len()).min(spent.len());
    out.extend(spent.drain(..room));
    spent.clear();
}

#[derive(Debug)]
pub(crate) struct RecvBuffer {
    /// The in-order ring: the bytes not yet read by the application, from `head` on,
    /// wrapping at the end (`len` less those in kept packets). Initialized storage, so that a segment's text can be copied into
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
    /// Unread text in kept packets (`len` counts it too; the ring holds `len - kept_len`).
    kept_len: u32,
    capacity: u32,
    /// Out-of-order ranges and kept packets.
    extra: Option<Box<Extra>>,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        RecvBuffer {
            ring: Box::default(),
            head: 0,
            len: 0,
            staged_seq: SeqNum(0),
            staged_len: 0,
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
    pub(crate) fn readable(&self) -> usize {
        self.len as usize
    }

    /// In-order bytes in the ring.
    fn ring_len(&self) -> usize {
        (self.len - self.kept_len) as usize
    }

    /// Whether packets are kept (then there is no out-of-order text and nothing staged).
    fn keeps(&self) -> bool {
        self.kept_len > 0
    }

    /// Memory kept packets take beyond their unread text (buffer capacity).
    pub(crate) fn kept_overhead(&self) -> usize {
        let kept = self.kept_len as usize;
        self.extra
            .as_ref()
            .map_or(0, |k| k.kept_memory.saturating_sub(kept))
    }

    /// Bytes held out of order.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.ooo().iter().map(|&(s, e)| (e - s) as usize).sum()
    }

    /// The held out-of-order ranges as `[left, right)`, in sequence order.
    pub(crate) fn ooo_ranges(&self) -> &[(SeqNum, SeqNum)] {
        self.ooo()
    }

    /// The held out-of-order ranges.
    #[inline]
    fn ooo(&self) -> &[(SeqNum, SeqNum)] {
        self.extra.as_ref().map_or(&[], |e| &e.ooo)
    }

    /// Bytes from RCV.NXT to the end of the last held range (0 if none): the part of the
    /// free space that holds text.
    fn ooo_extent(&self, rcv_nxt: SeqNum) -> usize {
        self.ooo()
            .last()
            .map_or(0, |&(_, e)| (e - rcv_nxt) as usize)
    }

    /// Space for new in-sequence data (the window we can offer).
    pub(crate) fn window(&self) -> usize {
        self.capacity().saturating_sub(self.readable())
    }

    /// Make room for `more` bytes after the in-order ones: grow the storage (doubling, up to
    /// the capacity, but always enough), straightening the ring into it. `keep`: bytes after
    /// the in-order ones that hold text (out-of-order ranges) and move with them.
    fn reserve(&mut self, more: usize, keep: usize) {
        let need = self.ring_len() + more;
        if need <= self.ring.len() {
            return;
        }
        let size = need.max((self.ring.len() * 2).min(self.capacity()));
        let mut grown = zeroed(size);
        let used = (self.ring_len() + keep).min(self.ring.len());
        let head = self.head as usize;
        let first = used.min(self.ring.len() - head);
        grown[..first].copy_from_slice(&self.ring[head..head + first]);
        grown[first..used].copy_from_slice(&self.ring[..used - first]);
        self.ring = grown;
        self.head = 0;
    }

    /// The in-order bytes, as the ring's two pieces.
    fn slices(&self) -> (&[u8], &[u8]) {
        let (head, len) = (self.head as usize, self.ring_len());
        let first = len.min(self.ring.len() - head);
        (&self.ring[head..head + first], &self.ring[..len - first])
    }

    /// The free space right after the in-order bytes, as the ring's two pieces.
    fn free_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let (head, len, size) = (self.head as usize, self.ring_len(), self.ring.len());
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
        let mut at = self.head as usize + self.ring_len() + offset;
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
        if data.is_empty() || data.len() > self.window() || self.keeps() {
            return None;
        }
        // Never over held text: a segment whose checksum then fails would have replaced it.
        if self
            .ooo()
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
    /// committed without a second copy. (The stack itself calls `insert_offered`.)
    #[cfg(test)]
    pub(crate) fn insert(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) -> SeqNum {
        self.insert_offered(rcv_nxt, seq, data, None)
    }

    /// [`RecvBuffer::insert`], where `data` may lie in an offered packet buffer: large
    /// in-order text is then kept in the packet (awaiting [`RecvBuffer::adopt`]) instead of
    /// being copied into the ring.
    pub(crate) fn insert_offered(
        &mut self,
        rcv_nxt: SeqNum,
        seq: SeqNum,
        data: &[u8],
        offer: Option<Offer>,
    ) -> SeqNum {
        let staged = std::mem::take(&mut self.staged_len) as usize;
        if data.is_empty() {
            return rcv_nxt;
        }
        // (Most text is neither offered nor behind kept or held text: straight to the ring.)
        if seq == rcv_nxt && (offer.is_some() || self.extra.is_some()) {
            if let Some((o, at)) = offer.and_then(|o| Some((o, self.keepable(o, data)?))) {
                let start = at as u32;
                let piece = Piece {
                    buf: Vec::new(), // the packet, once adopted
                    start,
                    end: start + data.len() as u32,
                    theirs: true,
                };
                self.keep(piece, o.capacity as usize, Some(o));
                return rcv_nxt + data.len();
            }
            if self.keeps()
                && self
                    .extra
                    .as_ref()
                    .is_some_and(|k| k.packets.len() < MAX_KEPT)
            {
                // Short text behind kept packets: a copy of its own costs less than copying
                // all of theirs into the ring.
                let piece = Piece {
                    buf: data.to_vec(),
                    start: 0,
                    end: data.len() as u32,
                    theirs: false,
                };
                self.keep(piece, data.len(), None);
                return rcv_nxt + data.len();
            }
        }
        if self.keeps() {
            self.spill();
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
        let joined = self.ooo().partition_point(|&(start, _)| start <= nxt);
        if let Some(e) = self.extra.as_mut().filter(|_| joined > 0) {
            for &(_, end) in &e.ooo[..joined] {
                if end > nxt {
                    self.len += end - nxt;
                    nxt = end;
                }
            }
            e.ooo.drain(..joined);
        }
        nxt
    }

    /// Where `data` starts in the offered packet, if it may be kept there: it lies inside the
    /// packet, is at least `offer.min` bytes (and not empty) and most of the buffer (so a kept packet costs
    /// at most about twice its text), nothing is held out of order, and fewer than
    /// [`MAX_KEPT`] packets are kept.
    fn keepable(&self, offer: Offer, data: &[u8]) -> Option<usize> {
        let at = (data.as_ptr() as usize).checked_sub(offer.base)?;
        let fits = at
            .checked_add(data.len())
            .is_some_and(|end| end <= offer.len as usize);
        let kept = self.extra.as_ref().map_or(0, |k| k.packets.len());
        (fits
            && offer.wants(data.len())
            && offer.capacity as usize <= 2 * data.len() + 256
            && self.ooo().is_empty()
            && kept < MAX_KEPT)
            .then_some(at)
    }

    /// Append a kept piece of `capacity` bytes of memory; `awaits`: its packet is still the
    /// caller's, to be handed over by [`RecvBuffer::adopt`].
    fn keep(&mut self, piece: Piece, capacity: usize, awaits: Option<Offer>) {
        let n = (piece.end - piece.start) as usize;
        let k = self.extra.get_or_insert_with(Box::default);
        k.awaits = awaits;
        k.packets.push_back(piece);
        k.kept_memory += capacity;
        self.kept_len += n as u32;
        self.len += n as u32;
    }

    /// The packet buffer that was offered with the last inserted text: kept if that text was
    /// (`None`), else handed back.
    pub(crate) fn adopt(&mut self, packet: Vec<u8>) -> Option<Vec<u8>> {
        let Some(k) = self.extra.as_mut() else {
            return Some(packet);
        };
        let Some(offer) = k.awaits.take() else {
            return Some(packet);
        };
        debug_assert_eq!(packet.as_ptr() as usize, offer.base);
        let Some(last) = k.packets.back_mut() else {
            return Some(packet);
        };
        last.buf = packet;
        None
    }

    /// Copy the text of kept packets into the ring, behind its in-order bytes, and let the
    /// packets go: the ring's free space is needed (out-of-order text, a borrowed packet's
    /// text).
    #[cold]
    #[inline(never)]
    fn spill(&mut self) {
        let Some(mut k) = self.extra.take() else {
            return;
        };
        let kept = std::mem::take(&mut self.kept_len);
        if kept > 0 {
            debug_assert!(k.awaits.is_none(), "spill before adoption");
            // `len` counts the ring alone while the kept text goes in.
            self.len -= kept;
            self.reserve(kept as usize, 0);
            let mut offset = 0;
            for piece in std::mem::take(&mut k.packets) {
                let text = piece.text();
                self.write_at(offset, text);
                offset += text.len();
                k.retire(piece);
            }
            self.len += offset as u32;
            k.kept_memory = 0;
        }
        self.extra = Some(k);
    }

    /// Emptied packet buffers, for the caller to use again, into `out` (at most `limit` in
    /// all; the rest are freed).
    #[inline]
    pub(crate) fn take_spent(&mut self, out: &mut Vec<Vec<u8>>, limit: usize) {
        if let Some(k) = self.extra.as_mut() {
            move_spent(&mut k.spent, out, limit);
        }
    }

    /// Keep an out-of-order range (`seq` > RCV.NXT, inside the window): its text goes to its
    /// place in the ring, its range is merged into the list.
    fn hold(&mut self, rcv_nxt: SeqNum, seq: SeqNum, data: &[u8]) {
        let (start, end) = (seq, seq + data.len());
        let span = ranges_touching(self.ooo(), start, end);
        if span.is_empty() && self.ooo().len() >= MAX_HOLES {
            return; // one more separate range: dropped, the peer sends it again
        }
        let offset = (seq - rcv_nxt) as usize;
        self.reserve(offset + data.len(), self.ooo_extent(rcv_nxt));
        self.write_at(offset, data);
        let extra = self.extra.get_or_insert_with(Box::default);
        merge_range(&mut extra.ooo, span, start, end);
    }

    /// Read in-order bytes into `buf`.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.read_ring(buf);
        match buf.get_mut(n..) {
            Some(rest) if !rest.is_empty() && self.keeps() => n + self.read_kept(rest),
            _ => n,
        }
    }

    /// Read kept packets' text into `buf` (the ring is empty); emptied buffers are spent.
    fn read_kept(&mut self, buf: &mut [u8]) -> usize {
        let Some(k) = self.extra.as_mut() else {
            return 0;
        };
        let (mut n, mut lost) = (0, 0);
        while n < buf.len() {
            let Some(piece) = k.packets.front_mut() else {
                break;
            };
            let text = piece.text();
            let (m, empty) = (text.len().min(buf.len() - n), text.is_empty());
            buf[n..n + m].copy_from_slice(&text[..m]);
            n += m;
            piece.start += m as u32;
            if piece.start >= piece.end || empty {
                // Read to its end — or a piece never adopted (no text; it cannot happen),
                // dropped rather than read forever.
                debug_assert!(piece.start >= piece.end, "a kept piece was never adopted");
                lost += piece.end.saturating_sub(piece.start) as usize;
                if let Some(piece) = k.packets.pop_front() {
                    k.retire(piece);
                }
            }
        }
        self.kept_len -= (n + lost) as u32;
        self.len -= (n + lost) as u32;
        n
    }

    /// Read the ring's in-order bytes into `buf`.
    fn read_ring(&mut self, buf: &mut [u8]) -> usize {
        self.staged_len = 0;
        let n = buf.len().min(self.ring_len());
        let (a, b) = self.slices();
        let first = a.len().min(n);
        buf[..first].copy_from_slice(&a[..first]);
        buf[first..n].copy_from_slice(&b[..n - first]);
        self.len -= n as u32;
        // An emptied ring starts again at the front, so the next text lands in one piece
        // (unless held text lies behind it, in place).
        self.head = if self.ring_len() == 0 && self.ooo().is_empty() {
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
        if self.ring_len() == 0 && self.ooo().is_empty() {
            self.ring = Box::default();
            self.head = 0;
            self.staged_len = 0;
        }
        if self
            .extra
            .as_ref()
            .is_some_and(|e| e.packets.is_empty() && e.ooo.is_empty())
        {
            self.extra = None;
        }
    }

    /// Forget everything (RST, abort).
    pub(crate) fn clear(&mut self) {
        self.ring = Box::default();
        self.head = 0;
        self.len = 0;
        self.staged_len = 0;
        self.kept_len = 0;
        self.extra = None;
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

    /// A packet of 52 header bytes then `text`, and its offer (keep text of `min` bytes up).
    fn packet(text: &[u8], min: usize) -> (Vec<u8>, Offer) {
        let mut p = vec![0xEE; 52];
        p.extend_from_slice(text);
        p.shrink_to_fit();
        let offer = Offer::new(&p, p.capacity(), min).unwrap();
        (p, offer)
    }

    /// Insert `text` at `seq` from an offered packet and hand the packet over; returns the new
    /// RCV.NXT and whether the packet was kept.
    fn offer(
        b: &mut RecvBuffer,
        nxt: SeqNum,
        seq: SeqNum,
        text: &[u8],
        min: usize,
    ) -> (SeqNum, bool) {
        let (p, o) = packet(text, min);
        let nxt = b.insert_offered(nxt, seq, &p[52..], Some(o));
        (nxt, b.adopt(p).is_none())
    }

    #[test]
    fn large_in_order_text_stays_in_its_packet_and_the_buffer_comes_back() {
        let stream: Vec<u8> = (0..30_000u32).map(|i| (i * 13 + i / 256) as u8).collect();
        let mut b = RecvBuffer::new(64 * 1024);
        let mut nxt = SeqNum(7);
        for chunk in stream.chunks(7000) {
            let kept;
            (nxt, kept) = offer(&mut b, nxt, nxt, chunk, 4096);
            assert_eq!(kept, chunk.len() >= 4096, "{} bytes", chunk.len());
        }
        assert_eq!(nxt, SeqNum(7) + 30_000u32);
        assert_eq!(b.readable(), 30_000);
        assert_eq!(b.window(), 64 * 1024 - 30_000, "kept text fills the window");
        // The short last chunk is kept too, in a copy of its own: nothing went into the ring.
        assert_eq!(b.storage(), 0);
        let mut got = Vec::new();
        let mut out = [0u8; 3333];
        loop {
            let n = b.read(&mut out);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&out[..n]);
        }
        assert_eq!(got, stream);
        let mut spent = Vec::new();
        b.take_spent(&mut spent, 100);
        assert_eq!(
            spent.len(),
            4,
            "each kept packet back once read, not the copy"
        );
        assert!(spent.iter().all(|p| p.len() == 52 + 7000));
    }

    #[test]
    fn text_follows_the_ring_and_reads_across_the_seam() {
        let mut b = RecvBuffer::new(1 << 16);
        let mut nxt = b.insert(SeqNum(0), SeqNum(0), b"ring");
        let kept;
        (nxt, kept) = offer(&mut b, nxt, nxt, &[b'k'; 100], 10);
        assert!(kept);
        let mut out = [0u8; 6];
        assert_eq!(b.read(&mut out), 6);
        assert_eq!(&out, b"ringkk");
        assert_eq!(b.readable(), 98);
        assert_eq!(nxt, SeqNum(104));
    }

    /// Out-of-order text needs the ring's free space behind the in-order bytes: kept text is
    /// first copied in (once), then everything proceeds as without keeping.
    #[test]
    fn out_of_order_text_spills_kept_packets_into_the_ring() {
        let mut b = RecvBuffer::new(1 << 16);
        let (mut nxt, kept) = offer(&mut b, SeqNum(0), SeqNum(0), &[b'a'; 200], 100);
        assert!(kept);
        let kept;
        (nxt, kept) = offer(&mut b, nxt, nxt, &[b'b'; 150], 100);
        assert!(kept);
        assert_eq!(b.storage(), 0);
        // A hole [350, 400), then text at 400: held out of order.
        let (after, kept) = offer(&mut b, nxt, SeqNum(400), &[b'd'; 120], 100);
        assert!(!kept, "out-of-order text is never kept");
        assert_eq!(after, nxt);
        assert_eq!(b.ooo_ranges(), [(SeqNum(400), SeqNum(520))]);
        assert_eq!(b.readable(), 350);
        assert!(
            b.storage() >= 350 + 50 + 120,
            "the kept text moved into the ring"
        );
        // The gap fills from a borrowed packet: RCV.NXT jumps over the held range.
        nxt = b.insert(nxt, nxt, &[b'c'; 50]);
        assert_eq!(nxt, SeqNum(520));
        let mut out = vec![0u8; 1000];
        let n = b.read(&mut out);
        let want: Vec<u8> = [
            [b'a'; 200].as_slice(),
            &[b'b'; 150],
            &[b'c'; 50],
            &[b'd'; 120],
        ]
        .concat();
        assert_eq!(&out[..n], &want[..]);
        let mut spent = Vec::new();
        b.take_spent(&mut spent, 100);
        assert_eq!(spent.len(), 2, "spilled packets come back too");
    }

    #[test]
    fn a_borrowed_segment_after_kept_ones_is_kept_as_a_copy() {
        let mut b = RecvBuffer::new(1 << 16);
        let (nxt, kept) = offer(&mut b, SeqNum(0), SeqNum(0), b"0123456789", 4);
        assert!(kept);
        let nxt = b.insert(nxt, nxt, b"abc");
        assert_eq!(nxt, SeqNum(13));
        assert_eq!(b.storage(), 0, "not spilled into the ring");
        assert_eq!(b.kept_overhead(), 52, "the copy costs its text only");
        let mut out = [0u8; 32];
        let n = b.read(&mut out);
        assert_eq!(&out[..n], b"0123456789abc");
        let mut spent = Vec::new();
        b.take_spent(&mut spent, 10);
        assert_eq!(spent.len(), 1, "only the caller's buffer comes back");
    }

    #[test]
    fn packets_are_kept_only_when_it_pays() {
        let mut b = RecvBuffer::new(1 << 16);
        // Shorter than the minimum: copied.
        let (nxt, kept) = offer(&mut b, SeqNum(0), SeqNum(0), &[1; 99], 100);
        assert!(!kept);
        // A buffer mostly empty (capacity over twice the text): copied.
        let mut p = Vec::with_capacity(4096);
        p.extend_from_slice(&[0xEE; 52]);
        p.extend_from_slice(&[2; 1000]);
        let o = Offer::new(&p, p.capacity(), 100).unwrap();
        let nxt2 = b.insert_offered(nxt, nxt, &p[52..], Some(o));
        assert!(b.adopt(p).is_some());
        // Text that does not lie in the offered packet: copied.
        let (p, o) = packet(&[3; 500], 100);
        let elsewhere = [4u8; 500];
        let nxt3 = b.insert_offered(nxt2, nxt2, &elsewhere, Some(o));
        assert!(b.adopt(p).is_some());
        assert_eq!(b.readable(), 99 + 1000 + 500);
        assert_eq!(nxt3, SeqNum(1599));
        let mut out = vec![0u8; 2000];
        let n = b.read(&mut out);
        assert_eq!(n, 1599);
        assert!(out[..99].iter().all(|&x| x == 1));
        assert!(out[99..1099].iter().all(|&x| x == 2));
        assert!(out[1099..1599].iter().all(|&x| x == 4));
        // Nothing to adopt without an offer having been taken.
        assert!(b.adopt(vec![0; 10]).is_some());
    }

    /// A kept piece whose packet never came (the endpoint always adopts; this is the guard):
    /// debug builds stop on it, release builds drop it instead of reading forever.
    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "never adopted"))]
    fn a_piece_never_adopted_is_not_read_forever() {
        let mut b = RecvBuffer::new(1 << 16);
        let (p, o) = packet(&[5; 300], 100);
        let nxt = b.insert_offered(SeqNum(0), SeqNum(0), &p[52..], Some(o));
        assert_eq!(nxt, SeqNum(300));
        drop(p); // not adopted
        let mut out = [0u8; 1000];
        assert_eq!(b.read(&mut out), 0);
        assert_eq!(b.readable(), 0);
    }

    #[test]
    fn clearing_drops_kept_packets() {
        let mut b = RecvBuffer::new(1 << 16);
        let (_, kept) = offer(&mut b, SeqNum(0), SeqNum(0), &[1; 500], 100);
        assert!(kept);
        assert_eq!(b.kept_overhead(), 52);
        b.clear();
        assert_eq!(b.readable(), 0);
        assert_eq!(b.kept_overhead(), 0);
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

    #[test]
    fn holes_are_bounded() {
        let mut b = RecvBuffer::new(1 << 20);
        for i in 0..(MAX_HOLES as u32 + 10) {
            b.insert(SeqNum(0), SeqNum(10 + i * 10), b"x");
        }
        assert_eq!(b.ooo().len(), MAX_HOLES);
    }
}
