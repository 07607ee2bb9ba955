//! Packets kept whole: when the caller hands the endpoint an owned packet
//! ([`crate::Endpoint::handle_owned`]) whose in-order text is large, the packet itself is
//! kept, behind the ring's in-order bytes, instead of its text being copied into the ring; the
//! application's read copies it out once, and the emptied packet buffer goes back to the
//! caller ([`crate::Endpoint::reclaim`]). The text was verified by a read-only sum on arrival.
//!
//! The handoff, without addresses: the endpoint describes the buffer by an [`Offer`] — where
//! the datagram ends by its IP header (the segment's text ends there), hence where the text
//! starts, and the buffer's capacity. Segment processing trims the text by sequence number,
//! and the receive buffer finds the trimmed text's place from its sequence number. When it
//! keeps the text it records a piece whose buffer is still the caller's (the segment borrows
//! it while it is processed); the endpoint then hands the buffer down ([`Kept::adopt`]) and
//! gets back `None` if it was kept, or the buffer itself if not.
//!
//! While packets are kept there is no out-of-order text and nothing staged; anything that
//! would need the ring's free space (out-of-order text, text from a borrowed packet) first
//! copies the kept text into the ring ([`Kept::spill`]) and goes on as before, so no byte is
//! ever copied more than once into the ring.

use std::collections::VecDeque;

use crate::seq::SeqNum;

/// Most packets kept at once per connection (each a buffer of the caller's).
pub(crate) const MAX_KEPT: usize = 4096;

/// Emptied packet buffers a connection holds for the caller to reclaim; more are freed.
const MAX_SPENT: usize = 64;

/// Where the IP datagram at the start of `buf` ends, by its header: IPv4's total length,
/// IPv6's 40 bytes plus payload length (extension headers included). A TCP segment's text
/// runs to there (the parser ignores anything past it); `None` unless the header is well
/// formed and the datagram lies in `buf`.
fn datagram_end(buf: &[u8]) -> Option<usize> {
    match buf.first()? >> 4 {
        4 => Some(usize::from(
            synack_wire::Ipv4Packet::new_checked(buf).ok()?.total_len(),
        )),
        6 => {
            let p = synack_wire::Ipv6Packet::new_checked(buf).ok()?;
            Some(synack_wire::Ipv6Packet::<&[u8]>::HEADER_LEN + usize::from(p.payload_len()))
        }
        _ => None,
    }
}

/// A packet buffer offered with its segment ([`crate::Endpoint::handle_owned`]), by offsets:
/// text of the segment that lies in it may be kept there until the endpoint hands the buffer
/// over ([`Kept::adopt`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offer {
    /// Where the datagram ends in the buffer: the segment's text ends there.
    end: u32,
    /// The segment's text: the sequence number of its first byte and where that byte lies
    /// (set by [`Offer::text`]).
    seq: SeqNum,
    at: u32,
    /// The buffer's capacity (the memory a kept packet holds).
    capacity: u32,
    /// Shortest text to keep (`Config::keep_packets_min`).
    min: u32,
}

impl Offer {
    /// The offer of the datagram at the start of a buffer of `capacity` bytes (none past
    /// 4 GiB), for text of at least `min` bytes.
    pub(crate) fn new(datagram: &[u8], capacity: usize, min: usize) -> Option<Offer> {
        Offer::ending_at(datagram_end(datagram)?, capacity, min)
    }

    /// The offer of a datagram that ends `end` bytes into the buffer.
    pub(crate) fn ending_at(end: usize, capacity: usize, min: usize) -> Option<Offer> {
        Some(Offer {
            end: u32::try_from(end).ok()?,
            seq: SeqNum(0),
            at: 0,
            capacity: u32::try_from(capacity).ok()?,
            min: u32::try_from(min).unwrap_or(u32::MAX),
        })
    }

    /// Whether text of `len` bytes is long enough to keep (`Config::keep_packets_min`, and
    /// never empty text).
    #[inline]
    fn wants(&self, len: usize) -> bool {
        len >= (self.min as usize).max(1)
    }

    /// The offer for the segment's text: `len` bytes from SEG.SEQ `seq`, ending where the
    /// datagram does. `None` if the text is too short to keep.
    #[inline]
    pub(crate) fn text(self, seq: SeqNum, len: usize) -> Option<Offer> {
        let at = (self.end as usize).checked_sub(len)?;
        self.wants(len).then_some(Offer {
            seq,
            at: at as u32,
            ..self
        })
    }

    /// Where text of `len` bytes from `seq` may be kept in the buffer, `[start, end)`: it is
    /// part of the segment's text, at least [`Offer::wants`] and most of the buffer (so a
    /// kept packet costs at most about twice its text), and fewer than [`MAX_KEPT`] packets
    /// (`kept`) are kept.
    pub(crate) fn place(&self, seq: SeqNum, len: usize, kept: usize) -> Option<(u32, u32)> {
        // Text before the segment's own wraps to a skip past its end.
        let start = self.at as usize + (seq - self.seq) as usize;
        let end = start + len;
        (end <= self.end as usize
            && self.wants(len)
            && self.capacity as usize <= 2 * len + 256
            && kept < MAX_KEPT)
            .then_some((start as u32, end as u32))
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

/// The newest piece's buffer is still the caller's: what the buffer handed over must be.
#[derive(Debug, Clone, Copy)]
struct Claim {
    capacity: u32,
    /// The text's checksum, to catch a wrong buffer or a wrong place in it.
    #[cfg(debug_assertions)]
    sum: u16,
}

#[cfg(debug_assertions)]
fn fingerprint(text: &[u8]) -> u16 {
    synack_wire::checksum::combine(&[synack_wire::checksum::sum(text)])
}

/// The kept packets of one receive buffer, oldest first, and the emptied buffers waiting to
/// go back to the caller.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    packets: VecDeque<Piece>,
    /// The memory `packets` hold: their buffers' capacities (memory accounting).
    memory: usize,
    /// The newest piece's buffer is still the caller's (between keeping and [`Kept::adopt`]).
    awaits: Option<Claim>,
    /// Emptied buffers, for the caller to reclaim.
    spent: Vec<Vec<u8>>,
}

impl Kept {
    /// Packets kept (with their unread text).
    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.packets.len()
    }

    /// The memory kept packets hold (their buffers' capacities).
    pub(crate) fn memory(&self) -> usize {
        self.memory
    }

    /// Keep `data`, the offered text at `place` ([`Offer::place`]), in its packet: the piece
    /// waits for the buffer ([`Kept::adopt`]).
    pub(crate) fn keep_offered(&mut self, offer: &Offer, (start, end): (u32, u32), data: &[u8]) {
        debug_assert_eq!((end - start) as usize, data.len());
        self.awaits = Some(Claim {
            capacity: offer.capacity,
            #[cfg(debug_assertions)]
            sum: fingerprint(data),
        });
        self.packets.push_back(Piece {
            buf: Vec::new(), // the packet, once adopted
            start,
            end,
            theirs: true,
        });
        self.memory += offer.capacity as usize;
    }

    /// Keep short text behind kept packets in a copy of its own (it costs less than copying
    /// all of theirs into the ring), unless [`MAX_KEPT`] are kept. Returns whether it was.
    pub(crate) fn keep_copy(&mut self, data: &[u8]) -> bool {
        if self.packets.len() >= MAX_KEPT {
            return false;
        }
        self.packets.push_back(Piece {
            buf: data.to_vec(),
            start: 0,
            end: data.len() as u32,
            theirs: false,
        });
        self.memory += data.len();
        true
    }

    /// The packet buffer offered with the last text kept or not: kept if that text was
    /// (`None`), else handed back. A buffer that cannot be the one offered (another
    /// capacity, too short) is handed back too, and the piece that waited for it is dropped
    /// when read.
    pub(crate) fn adopt(&mut self, packet: Vec<u8>) -> Option<Vec<u8>> {
        let Some(claim) = self.awaits.take() else {
            return Some(packet);
        };
        let Some(last) = self.packets.back_mut() else {
            return Some(packet);
        };
        let text = packet.get(last.start as usize..last.end as usize);
        let same = packet.capacity() == claim.capacity as usize && text.is_some();
        #[cfg(debug_assertions)]
        let same = same && text.map(fingerprint) == Some(claim.sum);
        debug_assert!(same, "adopted the wrong buffer");
        if !same {
            return Some(packet);
        }
        last.buf = packet;
        None
    }

    /// Copy kept text into `buf`, oldest first; emptied buffers are spent. Returns the bytes
    /// copied and the bytes gone from the kept text (more only if a piece was dropped).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> (usize, usize) {
        let (mut n, mut lost) = (0, 0);
        while n < buf.len() {
            let Some(piece) = self.packets.front_mut() else {
                break;
            };
            let text = piece.text();
            let (m, empty) = (text.len().min(buf.len() - n), text.is_empty());
            buf[n..n + m].copy_from_slice(&text[..m]);
            n += m;
            piece.start += m as u32;
            if piece.start >= piece.end || empty {
                // Read to its end — or a piece never adopted (no text; the endpoint always
                // adopts), dropped rather than read forever.
                debug_assert!(piece.start >= piece.end, "a kept piece was never adopted");
                lost += piece.end.saturating_sub(piece.start) as usize;
                if let Some(piece) = self.packets.pop_front() {
                    self.retire(piece);
                }
            }
        }
        (n, n + lost)
    }

    /// Copy unread text into `buf`, oldest piece first, without consuming it (MSG_PEEK).
    pub(crate) fn peek(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for piece in &self.packets {
            if n == buf.len() {
                break;
            }
            let text = piece.text();
            let m = text.len().min(buf.len() - n);
            buf[n..n + m].copy_from_slice(&text[..m]);
            n += m;
        }
        n
    }

    /// Let every piece go, oldest first, after `write` has copied its unread text (into the
    /// ring: its free space is needed).
    pub(crate) fn spill(&mut self, mut write: impl FnMut(&[u8])) {
        debug_assert!(self.awaits.is_none(), "spill before adoption");
        for piece in std::mem::take(&mut self.packets) {
            write(piece.text());
            self.retire(piece);
        }
        self.memory = 0;
    }

    /// A piece read or spilled: the caller's buffer is kept for reclaiming (up to
    /// [`MAX_SPENT`]), a copy freed.
    fn retire(&mut self, piece: Piece) {
        self.memory = self.memory.saturating_sub(piece.buf.capacity());
        if piece.theirs && self.spent.len() < MAX_SPENT {
            self.spent.push(piece.buf);
        }
    }

    /// Emptied packet buffers into `out` (at most `limit` in all; the rest are freed).
    #[inline(never)]
    pub(crate) fn take_spent(&mut self, out: &mut Vec<Vec<u8>>, limit: usize) {
        let room = limit.saturating_sub(out.len()).min(self.spent.len());
        out.extend(self.spent.drain(..room));
        self.spent.clear();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::recv_buffer::RecvBuffer;

    /// A packet of 52 header bytes then `text`, and its offer for text at `seq` (keep text of
    /// `min` bytes up; `None` if shorter).
    pub(crate) fn packet(seq: SeqNum, text: &[u8], min: usize) -> (Vec<u8>, Option<Offer>) {
        let mut p = vec![0xEE; 52];
        p.extend_from_slice(text);
        p.shrink_to_fit();
        let offer = Offer::ending_at(p.len(), p.capacity(), min).unwrap();
        (p, offer.text(seq, text.len()))
    }

    /// Insert `text` at `seq` from an offered packet and hand the packet over; returns the new
    /// RCV.NXT and whether the packet was kept (else it came back: the very buffer).
    pub(crate) fn offer(
        b: &mut RecvBuffer,
        nxt: SeqNum,
        seq: SeqNum,
        text: &[u8],
        min: usize,
    ) -> (SeqNum, bool) {
        let (p, o) = packet(seq, text, min);
        let given = (p.as_ptr(), p.capacity());
        let nxt = b.insert_offered(nxt, seq, text, o);
        match b.adopt(p) {
            Some(back) => {
                assert_eq!((back.as_ptr(), back.capacity()), given, "the very buffer");
                (nxt, false)
            }
            None => (nxt, true),
        }
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
        let o = Offer::ending_at(p.len(), p.capacity(), 100).unwrap();
        let nxt2 = b.insert_offered(nxt, nxt, &p[52..], o.text(nxt, 1000));
        assert!(b.adopt(p).is_some());
        // Text that does not lie in the offered packet (its sequence numbers are not the
        // packet's): copied.
        let (p, o) = packet(nxt2 + 500u32, &[3; 500], 100);
        let elsewhere = [4u8; 500];
        let nxt3 = b.insert_offered(nxt2, nxt2, &elsewhere, o);
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

    /// Text trimmed by segment processing (its front already received, its end beyond the
    /// window) is found in the packet by its sequence number: the kept piece reads exactly
    /// the trimmed text.
    #[test]
    fn trimmed_text_is_kept_from_its_place_in_the_packet() {
        let stream: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut b = RecvBuffer::new(1 << 16);
        let nxt = b.insert(SeqNum(1000), SeqNum(1000), &stream[..50]);
        // The segment carries [20, 300); [50, 250) is what is taken.
        let (p, o) = packet(SeqNum(1020), &stream[20..], 100);
        let nxt = b.insert_offered(nxt, nxt, &stream[50..250], o);
        assert_eq!(nxt, SeqNum(1250));
        assert!(b.adopt(p).is_none(), "kept");
        let mut out = vec![0u8; 400];
        assert_eq!(b.read(&mut out), 250);
        assert_eq!(&out[..250], &stream[..250]);
    }

    /// A kept piece whose packet never came (the endpoint always adopts; this is the guard):
    /// debug builds stop on it, release builds drop it instead of reading forever.
    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "never adopted"))]
    fn a_piece_never_adopted_is_not_read_forever() {
        let mut b = RecvBuffer::new(1 << 16);
        let (p, o) = packet(SeqNum(0), &[5; 300], 100);
        let nxt = b.insert_offered(SeqNum(0), SeqNum(0), &p[52..], o);
        assert_eq!(nxt, SeqNum(300));
        drop(p); // not adopted
        let mut out = [0u8; 1000];
        assert_eq!(b.read(&mut out), 0);
        assert_eq!(b.readable(), 0);
    }

    /// The buffer handed over must be the one whose text was kept: another one (here of
    /// another size) is refused — debug builds stop on it, release builds hand it back and
    /// drop the piece rather than read the wrong bytes.
    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "wrong buffer"))]
    fn a_wrong_buffer_is_not_adopted() {
        let mut b = RecvBuffer::new(1 << 16);
        let (p, o) = packet(SeqNum(0), &[5; 300], 100);
        b.insert_offered(SeqNum(0), SeqNum(0), &p[52..], o);
        let (other, _) = packet(SeqNum(0), &[6; 299], 100);
        assert_ne!(other.capacity(), p.capacity());
        let other_ptr = other.as_ptr();
        let back = b.adopt(other).expect("handed back");
        assert_eq!(back.as_ptr(), other_ptr);
        let mut out = [0u8; 1000];
        assert_eq!(b.read(&mut out), 0, "no wrong bytes");
    }

    /// Debug builds also know the kept text: a buffer of the same size with other text in
    /// that place is caught.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "wrong buffer")]
    fn a_wrong_buffer_of_the_same_size_is_caught_in_debug_builds() {
        let mut b = RecvBuffer::new(1 << 16);
        let (p, o) = packet(SeqNum(0), &[5; 300], 100);
        b.insert_offered(SeqNum(0), SeqNum(0), &p[52..], o);
        let mut other = p.clone();
        other[100] = 6;
        other.shrink_to(p.capacity());
        assert_eq!(other.capacity(), p.capacity());
        let _ = b.adopt(other);
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

    /// The offset of a segment's text comes from the IP header's length field, not from the
    /// buffer's length: bytes past the datagram (link-layer padding) do not shift it.
    #[test]
    fn the_text_ends_where_the_ip_header_says() {
        let mut d = vec![0u8; 20];
        d[0] = 0x45;
        d[2..4].copy_from_slice(&60u16.to_be_bytes());
        d.resize(60 + 6, 0xAB); // 6 bytes past the datagram
        let o = Offer::new(&d, d.len(), 1).unwrap();
        let o = o.text(SeqNum(9), 20).unwrap();
        assert_eq!(o.place(SeqNum(9), 20, 0), Some((40, 60)));
        assert_eq!(o.place(SeqNum(14), 10, 0), Some((45, 55)), "trimmed");
        assert_eq!(o.place(SeqNum(8), 10, 0), None, "before the text");
        assert_eq!(o.place(SeqNum(20), 10, 0), None, "past its end");
        // IPv6: 40 bytes and the payload length (extension headers included).
        let mut d6 = vec![0u8; 40];
        d6[0] = 0x60;
        d6[4..6].copy_from_slice(&28u16.to_be_bytes());
        d6.resize(68 + 2, 0);
        let o = Offer::new(&d6, d6.len(), 1)
            .unwrap()
            .text(SeqNum(0), 8)
            .unwrap();
        assert_eq!(o.place(SeqNum(0), 8, 0), Some((60, 68)));
        // A header whose length runs past the buffer, or no IP header: no offer.
        d6.truncate(60);
        assert!(Offer::new(&d6, 100, 1).is_none());
        assert!(Offer::new(&[0x12; 60], 100, 1).is_none());
    }
}
