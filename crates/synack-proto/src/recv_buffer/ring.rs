//! The receive ring: the in-order bytes waiting for the application, in storage of their own.
//!
//! Text that arrives in order is copied into the free space right after the in-order bytes
//! and summed on the way, before the segment's checksum is known ("staging",
//! [`Ring::stage`]): one pass both copies and verifies it, and the segment's acceptance then
//! commits it in place ([`Ring::take_staged`]) or forgets it ([`Ring::unstage`]).
//!
//! Out-of-order text (reassembly.rs) is written into the same free space, at its place past
//! the in-order bytes ([`Ring::write_at`]); the ring itself only knows the in-order length,
//! and moves such text along when it grows ([`Ring::reserve`]'s `keep`).
//!
//! Storage: allocated by the first byte that arrives, grown (doubling) up to the buffer's
//! capacity and kept until the connection ends, also when the application empties it: a bulk
//! receiver empties it once per window, and freeing it each time cost a regrowth by `realloc`
//! and the kernel's page faults per window. A connection that only ever receives small
//! messages keeps a small ring. Within the endpoint's `Config::retained_ring_storage`, an
//! emptied ring gives its storage back ([`Ring::release`], release.rs).

use crate::seq::SeqNum;

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

/// The in-order bytes not yet read by the application, from `head` on, wrapping at the end of
/// the storage. Initialized storage, so that a segment's text can be copied into the free
/// space (and summed on the way) before it is accepted. (A boxed slice and `u32` indices, the
/// capacity being at most 2^31: as small as a `VecDeque`.)
#[derive(Debug, Default)]
pub(crate) struct Ring {
    storage: Box<[u8]>,
    head: u32,
    len: u32,
    /// Text staged in the free space right after the in-order bytes: its first sequence
    /// number and length (0: none). Only [`Ring::take_staged`] at that sequence number
    /// commits it; anything else forgets it.
    staged_seq: SeqNum,
    staged_len: u32,
}

impl Ring {
    /// In-order bytes in the ring.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Heap bytes the ring holds (its storage, used or not).
    #[inline]
    pub(crate) fn storage(&self) -> usize {
        self.storage.len()
    }

    /// Make room for `more` bytes after the in-order ones: grow the storage (doubling, up to
    /// `capacity`, but always enough), straightening the ring into it. `keep`: bytes after
    /// the in-order ones that hold text (out-of-order ranges) and move with them.
    pub(crate) fn reserve(&mut self, more: usize, keep: usize, capacity: usize) {
        let need = self.len() + more;
        if need <= self.storage.len() {
            return;
        }
        let size = need.max((self.storage.len() * 2).min(capacity));
        let mut grown = zeroed(size);
        let used = (self.len() + keep).min(self.storage.len());
        let head = self.head as usize;
        let first = used.min(self.storage.len() - head);
        grown[..first].copy_from_slice(&self.storage[head..head + first]);
        grown[first..used].copy_from_slice(&self.storage[..used - first]);
        self.storage = grown;
        self.head = 0;
    }

    /// The in-order bytes, as the ring's two pieces.
    fn slices(&self) -> (&[u8], &[u8]) {
        let (head, len) = (self.head as usize, self.len());
        let first = len.min(self.storage.len() - head);
        (
            &self.storage[head..head + first],
            &self.storage[..len - first],
        )
    }

    /// The free space right after the in-order bytes, as the ring's two pieces.
    fn free_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let (head, len, size) = (self.head as usize, self.len(), self.storage.len());
        // head < size and len <= size: one subtraction wraps it (no division per segment).
        let tail = match head + len {
            t if t >= size => t - size,
            t => t,
        };
        if tail >= head && len < size {
            // Free: [tail, size) then [0, head).
            let (front, back) = self.storage.split_at_mut(tail);
            (back, &mut front[..head])
        } else {
            // Free: [tail, head).
            let free = size - len;
            (&mut self.storage[tail..tail + free], &mut [])
        }
    }

    /// Write `data` into the free space `offset` bytes past the in-order bytes (the caller
    /// has reserved room), wrapping at the end of the storage.
    pub(crate) fn write_at(&mut self, offset: usize, data: &[u8]) {
        let size = self.storage.len();
        // head < size and len + offset < size (reserved): one subtraction wraps it.
        let mut at = self.head as usize + self.len() + offset;
        if at >= size {
            at -= size;
        }
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(size - at);
            self.storage[at..at + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            at = 0;
        }
    }

    /// The next `n` bytes of the free space (written there by [`Ring::write_at`], or staged)
    /// become in-order bytes.
    #[inline]
    pub(crate) fn extend(&mut self, n: usize) {
        self.len += n as u32;
    }

    /// Copy `data`, text at `seq` (RCV.NXT), into the free space after the in-order bytes
    /// without making it readable, and return its checksum sum
    /// ([`synack_wire::checksum::copy_and_sum_split`]). The caller has checked that it fits
    /// the window and stays clear of held text; `keep` and `capacity` as for
    /// [`Ring::reserve`].
    pub(crate) fn stage(&mut self, seq: SeqNum, data: &[u8], keep: usize, capacity: usize) -> u32 {
        self.reserve(data.len(), keep, capacity);
        let (a, b) = self.free_mut();
        let sum = synack_wire::checksum::copy_and_sum_split(a, b, data);
        self.staged_seq = seq;
        self.staged_len = data.len() as u32;
        sum
    }

    /// Forget staged text (its segment was not accepted).
    #[inline]
    pub(crate) fn unstage(&mut self) {
        self.staged_len = 0;
    }

    /// How many bytes are staged for text at `seq` (0 if none, or staged for another
    /// sequence number); either way nothing stays staged. Text of at most that length at
    /// `seq` is then in place: [`Ring::extend`] commits it without a second copy.
    #[inline]
    pub(crate) fn take_staged(&mut self, seq: SeqNum) -> usize {
        let staged = std::mem::take(&mut self.staged_len) as usize;
        if self.staged_seq == seq {
            staged
        } else {
            0
        }
    }

    /// Whether the free space starts with `data` (a staged text's prefix, committed in place).
    pub(crate) fn holds_next(&mut self, data: &[u8]) -> bool {
        let (a, b) = self.free_mut();
        let k = a.len().min(data.len());
        a[..k] == data[..k] && b.get(..data.len() - k) == Some(&data[k..])
    }

    /// Copy in-order bytes into `buf` without consuming them (MSG_PEEK).
    pub(crate) fn peek(&self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len());
        let (a, b) = self.slices();
        let first = a.len().min(n);
        buf[..first].copy_from_slice(&a[..first]);
        buf[first..n].copy_from_slice(&b[..n - first]);
        n
    }

    /// Read in-order bytes into `buf`. `rewind`: if that empties the ring, start again at the
    /// front, so the next text lands in one piece (not when held text lies behind, in
    /// place).
    #[inline]
    pub(crate) fn read(&mut self, buf: &mut [u8], rewind: bool) -> usize {
        self.staged_len = 0;
        let n = buf.len().min(self.len());
        let (a, b) = self.slices();
        let first = a.len().min(n);
        buf[..first].copy_from_slice(&a[..first]);
        buf[first..n].copy_from_slice(&b[..n - first]);
        self.len -= n as u32;
        self.head = if self.len == 0 && rewind {
            0
        } else {
            match self.head as usize + n {
                h if h >= self.storage.len() => (h - self.storage.len()) as u32,
                h => h as u32,
            }
        };
        n
    }

    /// Give the storage back (the ring is empty, and no held text lies in it).
    pub(crate) fn release(&mut self) {
        debug_assert_eq!(self.len, 0);
        *self = Ring::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recv_buffer::RecvBuffer;

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
    fn an_emptied_ring_is_released_only_on_request_and_only_if_empty() {
        let mut b = RecvBuffer::new(1 << 16);
        let nxt = b.insert(SeqNum(0), SeqNum(0), b"hello");
        b.release_if_empty();
        assert_eq!(b.storage(), 5, "unread text keeps it");
        let mut out = [0u8; 8];
        assert_eq!(b.read(&mut out), 5);
        // Held text lies in the ring too: it keeps the storage.
        b.insert(nxt, nxt + 3u32, b"later");
        assert_eq!(b.read(&mut out), 0);
        b.release_if_empty();
        assert!(b.storage() >= 8, "held text keeps it");
        assert_eq!(b.insert(nxt, nxt, b"abc"), nxt + 8u32);
        assert_eq!(b.read(&mut out), 8);
        assert_eq!(&out, b"abclater");
        b.release_if_empty();
        assert_eq!(b.storage(), 0);
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

    /// The ring alone: text written past the in-order bytes moves with them when the storage
    /// grows (`keep`), and reads wrap at the end of the storage.
    #[test]
    fn growth_keeps_text_past_the_in_order_bytes_and_reads_wrap() {
        let mut r = Ring::default();
        r.reserve(6, 0, 64);
        r.write_at(0, b"abcdef");
        r.extend(6);
        let mut out = [0u8; 16];
        assert_eq!(r.read(&mut out[..4], true), 4);
        assert_eq!(r.storage(), 6);
        // Free: [0, 4) after "ef" at [4, 6); "XY" goes 2 bytes past the in-order bytes.
        r.write_at(2, b"XY");
        r.reserve(10, 4, 64);
        assert_eq!(r.storage(), 12, "doubled");
        r.write_at(0, b"cd");
        r.extend(4);
        assert_eq!(r.read(&mut out, true), 6);
        assert_eq!(&out[..6], b"efcdXY");
        assert_eq!(r.len(), 0);
    }
}
