//! TCP header view ([`TcpPacket`]), flags ([`TcpFlags`]) and high-level
//! representation ([`TcpRepr`]). Options live in `tcp_options.rs` and are
//! re-exported here.

use core::fmt;
use core::net::IpAddr;
use core::ops::{BitAnd, BitOr, BitOrAssign, Range};

use crate::checksum;
use crate::error::{Error, Result};
use crate::IPPROTO_TCP;

pub use crate::tcp_options::{SackBlocks, TcpOption, TcpOptionIter, TcpOptions};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// The eight TCP control bits, in wire bit order (byte 13 of the header).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Display order with names and packetdrill/tcpdump letters.
    const TABLE: [(TcpFlags, &'static str, char); 8] = [
        (Self::SYN, "SYN", 'S'),
        (Self::FIN, "FIN", 'F'),
        (Self::RST, "RST", 'R'),
        (Self::PSH, "PSH", 'P'),
        (Self::ACK, "ACK", '.'),
        (Self::URG, "URG", 'U'),
        (Self::ECE, "ECE", 'E'),
        (Self::CWR, "CWR", 'W'),
    ];

    /// No flags.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// Raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True if every flag in `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any flag in `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Set the flags in `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clear the flags in `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    /// True if no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// packetdrill/tcpdump style letters in order `S F R P . U E W`
    /// (`.` is ACK), e.g. `"S."`, `"P."`, `"R"`; no flags gives `"-"`.
    pub fn letters(self) -> String {
        if self.is_empty() {
            return "-".to_string();
        }
        Self::TABLE
            .iter()
            .filter(|(f, _, _)| self.contains(*f))
            .map(|&(_, _, c)| c)
            .collect()
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    /// Names joined with `|` in order SYN FIN RST PSH ACK URG ECE CWR;
    /// no flags gives `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for &(flag, name, _) in Self::TABLE.iter() {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// A read/write view of a TCP segment (header, options, payload) over a
/// byte buffer whose length is the segment length.
///
/// Getters never panic, even on a view made with
/// [`TcpPacket::new_unchecked`]: out-of-range fields read as zero and
/// out-of-range slices are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Length of a header without options.
    pub const HEADER_LEN: usize = 20;

    /// Wrap a buffer without any validation.
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wrap a buffer, checking the header fits: [`Error::Truncated`] if
    /// shorter than 20 bytes, [`Error::BadDataOffset`] if the data offset
    /// is below 5 or past the end of the buffer.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        let len = packet.buffer.as_ref().len();
        if len < Self::HEADER_LEN {
            return Err(Error::Truncated);
        }
        let hlen = packet.header_len();
        if hlen < Self::HEADER_LEN || hlen > len {
            return Err(Error::BadDataOffset);
        }
        Ok(packet)
    }

    /// Unwrap the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn u16_at(&self, range: Range<usize>) -> u16 {
        match self.buffer.as_ref().get(range) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    fn u32_at(&self, range: Range<usize>) -> u32 {
        match self.buffer.as_ref().get(range) {
            Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        }
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ_NUM)
    }

    /// Acknowledgment number.
    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK_NUM)
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.byte(field::DATA_OFF) >> 4) * 4
    }

    /// Control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.byte(field::FLAGS))
    }

    /// Window size (unscaled).
    pub fn window_len(&self) -> u16 {
        self.u16_at(field::WIN_SIZE)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        self.u16_at(field::URGENT)
    }

    /// Option bytes: 20..header_len (empty if out of range).
    pub fn options(&self) -> &[u8] {
        let end = self.header_len();
        self.buffer
            .as_ref()
            .get(Self::HEADER_LEN..end)
            .unwrap_or(&[])
    }

    /// Payload: header_len..end of buffer (empty if out of range).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }

    /// True if the checksum over the whole buffer plus the pseudo header is
    /// valid (RFC 9293 MUST-3: check the checksum on every segment).
    pub fn verify_checksum(&self, src: &IpAddr, dst: &IpAddr) -> bool {
        segment_checksum(self.buffer.as_ref(), src, dst) == 0
    }
}

/// The part of a TCP checksum verification that [`TcpRepr::parse_deferred`] leaves to the
/// caller: the sum of the pseudo header and the TCP header, waiting for the payload's sum;
/// or nothing, if the segment's payload was short and the whole segment was verified at
/// once ([`PendingChecksum::is_deferred`] is false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingChecksum(Option<u32>);

/// Payloads shorter than this are verified by [`TcpRepr::parse_deferred`] itself: summing a
/// small segment in one pass costs less than summing its header alone and the payload
/// later. (At 1448 bytes, a copy-and-sum takes about 15% more instructions than a `memcpy`
/// and an AVX2 sum; at 64 KiB it saves the sum's whole pass. With the AVX-512 kernels a
/// 1024-byte threshold measured the same as this one on 1448-byte segments, in 12
/// alternating runs.)
pub const DEFER_MIN: usize = 2048;

impl PendingChecksum {
    /// Whether the payload's sum is still needed (else the checksum is already verified and
    /// [`PendingChecksum::verify`] ignores its argument).
    #[inline]
    pub fn is_deferred(self) -> bool {
        self.0.is_some()
    }

    /// True if the segment's checksum is valid, given `payload_sum`, the
    /// [`checksum::sum`] (or [`checksum::copy_and_sum`]) of exactly the segment's payload.
    #[inline]
    pub fn verify(self, payload_sum: u32) -> bool {
        match self.0 {
            Some(partial) => checksum::combine(&[partial, payload_sum]) == 0,
            None => true,
        }
    }

    /// True if the segment's checksum is valid, summing `payload` (the segment's payload)
    /// if that is still needed.
    #[inline]
    pub fn verify_payload(self, payload: &[u8]) -> bool {
        !self.is_deferred() || self.verify(checksum::sum(payload))
    }
}

/// One's complement checksum of `segment` with its pseudo header.
fn segment_checksum(segment: &[u8], src: &IpAddr, dst: &IpAddr) -> u16 {
    // A segment longer than u32::MAX cannot exist on any IP; saturate.
    let len = u32::try_from(segment.len()).unwrap_or(u32::MAX);
    checksum::combine(&[
        checksum::pseudo_header(src, dst, IPPROTO_TCP, len),
        checksum::sum(segment),
    ])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn set_byte(&mut self, at: usize, value: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(at) {
            *b = value;
        }
    }

    fn set_bytes(&mut self, range: Range<usize>, value: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            if dst.len() == value.len() {
                dst.copy_from_slice(value);
            }
        }
    }

    /// Set the source port.
    pub fn set_src_port(&mut self, value: u16) {
        self.set_bytes(field::SRC_PORT, &value.to_be_bytes());
    }

    /// Set the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        self.set_bytes(field::DST_PORT, &value.to_be_bytes());
    }

    /// Set the sequence number.
    pub fn set_seq_number(&mut self, value: u32) {
        self.set_bytes(field::SEQ_NUM, &value.to_be_bytes());
    }

    /// Set the acknowledgment number.
    pub fn set_ack_number(&mut self, value: u32) {
        self.set_bytes(field::ACK_NUM, &value.to_be_bytes());
    }

    /// Set the header length in bytes (stored as data offset = bytes / 4),
    /// keeping the reserved bits.
    pub fn set_header_len(&mut self, bytes: usize) {
        let doff = ((bytes / 4) & 0x0f) as u8;
        let b = self.byte(field::DATA_OFF);
        self.set_byte(field::DATA_OFF, (b & 0x0f) | (doff << 4));
    }

    /// Set the control bits.
    pub fn set_flags(&mut self, value: TcpFlags) {
        self.set_byte(field::FLAGS, value.bits());
    }

    /// Set the window size.
    pub fn set_window_len(&mut self, value: u16) {
        self.set_bytes(field::WIN_SIZE, &value.to_be_bytes());
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.set_bytes(field::CHECKSUM, &value.to_be_bytes());
    }

    /// Set the urgent pointer.
    pub fn set_urgent_at(&mut self, value: u16) {
        self.set_bytes(field::URGENT, &value.to_be_bytes());
    }

    /// Mutable option bytes: 20..header_len (empty if out of range).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        self.buffer
            .as_mut()
            .get_mut(Self::HEADER_LEN..end)
            .unwrap_or(&mut [])
    }

    /// Mutable payload: header_len..end of buffer (empty if out of range).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buffer.as_mut().get_mut(start..).unwrap_or(&mut [])
    }

    /// Compute and store the checksum over the whole buffer plus the pseudo
    /// header (RFC 9293 MUST-2).
    pub fn fill_checksum(&mut self, src: &IpAddr, dst: &IpAddr) {
        self.set_checksum(0);
        let c = segment_checksum(self.buffer.as_ref(), src, dst);
        self.set_checksum(c);
    }
}

/// A TCP segment's header fields, parsed options and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number: meaningful iff `flags` has ACK; emit writes it
    /// regardless.
    pub ack_number: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// Window size as on the wire (unscaled).
    pub window_len: u16,
    /// Urgent pointer.
    pub urgent_pointer: u16,
    /// Parsed options.
    pub options: TcpOptions,
    /// Segment data.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parse a segment. The buffer length is taken as the segment length.
    ///
    /// Errors: header checks as in [`TcpPacket::new_checked`] (re-done here,
    /// so an unchecked view is also safe), [`Error::BadChecksum`] (MUST-3),
    /// [`Error::BadPort`] for port 0, [`Error::BadOptionLen`] (MUST-7).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) -> Result<TcpRepr<'a>> {
        let (repr, pending) = Self::parse_deferred(packet, src, dst)?;
        if !pending.verify_payload(repr.payload) {
            return Err(Error::BadChecksum);
        }
        Ok(repr)
    }

    /// [`TcpRepr::parse`] with the checksum verified over the pseudo header and the TCP
    /// header only: the caller finishes it with [`PendingChecksum::verify`] and the sum of
    /// the payload (which it may compute while copying the payload somewhere), and must not
    /// act on the segment before that says it is valid (MUST-3).
    ///
    /// Same errors as [`TcpRepr::parse`] except that a bad payload checksum is not detected
    /// here; a segment that fails another check and also has a bad checksum is still
    /// reported as [`Error::BadChecksum`], as [`TcpRepr::parse`] does.
    #[inline(always)]
    pub fn parse_deferred<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) -> Result<(TcpRepr<'a>, PendingChecksum)> {
        let inner: &'a T = packet.buffer;
        let bytes: &'a [u8] = inner.as_ref();
        // A segment longer than u32::MAX cannot exist on any IP; saturate.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        Self::parse_summed(bytes, checksum::pseudo_header(src, dst, IPPROTO_TCP, len))
    }

    /// [`TcpRepr::parse_deferred`] of the segment `bytes`, given `pseudo`, the sum of its
    /// pseudo header (which an IP parser has the values for). One pass: the fixed header
    /// (and a 12-byte option block) is loaded as words once, for its fields and its sum.
    #[inline(always)]
    pub(crate) fn parse_summed(
        bytes: &'a [u8],
        pseudo: u32,
    ) -> Result<(TcpRepr<'a>, PendingChecksum)> {
        let Some((fixed, rest)) = bytes.split_first_chunk::<20>() else {
            return Err(Error::Truncated);
        };
        let [p0, p1, q0, q1, s0, s1, s2, s3, a0, a1, a2, a3, off, flags, w0, w1, c0, c1, u0, u1] =
            *fixed;
        let header_len = usize::from(off >> 4) << 2;
        let opts_len = header_len.wrapping_sub(TcpPacket::<&[u8]>::HEADER_LEN);
        let Some((opts, payload)) = rest
            .split_at_checked(opts_len)
            .filter(|_| header_len >= TcpPacket::<&[u8]>::HEADER_LEN)
        else {
            return Err(Error::BadDataOffset);
        };
        // RFC 1071 §2(B): words loaded in native order are summed as they are and the folded
        // sum is put in network order once.
        let ne = u32::from_ne_bytes;
        let words = [
            ne([p0, p1, q0, q1]),
            ne([s0, s1, s2, s3]),
            ne([a0, a1, a2, a3]),
            ne([off, flags, w0, w1]),
            ne([c0, c1, u0, u1]),
        ];
        let header_sum = match <&[u8; 12]>::try_from(opts) {
            // The usual NOP NOP TS block (or any 12 bytes of options): three words more.
            Ok(&[o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11]) => {
                let [x, y, z, v, w] = words;
                let more = [
                    ne([o0, o1, o2, o3]),
                    ne([o4, o5, o6, o7]),
                    ne([o8, o9, o10, o11]),
                ];
                let [i, j, k] = more;
                checksum::sum_native(&[x, y, z, v, w, i, j, k])
            }
            Err(_) if opts.is_empty() => checksum::sum_native(&words),
            Err(_) => checksum::sum_native(&words).wrapping_add(checksum::sum_short_words(opts)),
        };
        let pending = if payload.len() < DEFER_MIN {
            // One pass over a small segment's text is cheaper than a header pass now and a
            // copy-and-sum later: verified here, as TcpRepr::parse does it (MUST-3).
            let payload_sum = if payload.is_empty() {
                0
            } else {
                checksum::sum(payload)
            };
            if checksum::combine(&[pseudo, header_sum, payload_sum]) != 0 {
                return Err(Error::BadChecksum);
            }
            PendingChecksum(None)
        } else {
            PendingChecksum(Some(pseudo.wrapping_add(header_sum)))
        };
        // Report a bad checksum first, whatever else is wrong (as a whole-segment check
        // before the others would).
        let checked = |e: Error| {
            if pending.verify_payload(payload) {
                e
            } else {
                Error::BadChecksum
            }
        };
        // The fields, from the words already loaded.
        let [ports, seq, ack, off_flags_window, checksum_urgent] = words.map(u32::from_be);
        let (src_port, dst_port) = ((ports >> 16) as u16, ports as u16);
        if src_port == 0 || dst_port == 0 {
            return Err(checked(Error::BadPort));
        }
        let options = TcpOptions::parse(opts).map_err(checked)?;
        let repr = TcpRepr {
            src_port,
            dst_port,
            seq_number: seq,
            ack_number: ack,
            flags: TcpFlags(flags),
            window_len: off_flags_window as u16,
            urgent_pointer: checksum_urgent as u16,
            options,
            payload,
        };
        Ok((repr, pending))
    }

    /// Header length: 20 + the options' emitted length.
    #[inline]
    pub fn header_len(&self) -> usize {
        TcpPacket::<&[u8]>::HEADER_LEN.saturating_add(self.options.buffer_len())
    }

    /// Header plus payload length.
    pub fn buffer_len(&self) -> usize {
        self.header_len().saturating_add(self.payload.len())
    }

    /// Sequence space consumed: payload + 1 for SYN + 1 for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload
            .len()
            .saturating_add(usize::from(self.flags.contains(TcpFlags::SYN)))
            .saturating_add(usize::from(self.flags.contains(TcpFlags::FIN)))
    }

    /// Write header, options, payload and checksum (MUST-2).
    ///
    /// The packet buffer should be exactly [`TcpRepr::buffer_len`] bytes.
    /// The checksum covers the first `buffer_len()` bytes; if the buffer is
    /// shorter, only what fits is written (no panic), and the result is not
    /// a valid segment.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: &IpAddr,
        dst: &IpAddr,
    ) {
        self.emit_gather(packet, &[], src, dst);
    }

    /// Header plus payload length of a segment whose payload is `self.payload`
    /// followed by `more` (see [`TcpRepr::emit_gather`]).
    pub fn gather_len(&self, more: &[&[u8]]) -> usize {
        more.iter()
            .fold(self.buffer_len(), |n, part| n.saturating_add(part.len()))
    }

    /// [`TcpRepr::emit`] for a payload in pieces: the segment carries
    /// `self.payload` followed by each slice of `more` in turn. A sender
    /// whose data sits in a ring buffer (two slices) has it copied once,
    /// straight into the packet, and checksummed there.
    ///
    /// The packet buffer should be exactly [`TcpRepr::gather_len`] bytes;
    /// if it is shorter, only what fits is written (no panic), and the
    /// result is not a valid segment.
    pub fn emit_gather<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        more: &[&[u8]],
        src: &IpAddr,
        dst: &IpAddr,
    ) {
        let layout = self.header_layout();
        let len = layout.0.saturating_add(self.gathered_payload_len(more));
        // A segment longer than u32::MAX cannot exist on any IP; saturate.
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        let pseudo = checksum::pseudo_header(src, dst, IPPROTO_TCP, len32);
        let buf = packet.buffer.as_mut();
        match buf.get_mut(..len) {
            Some(segment) => self.write(segment, layout, more, u64::from(pseudo)),
            None => self.write_short(buf, more),
        }
    }

    /// The fixed header as five words, checksum zero.
    #[inline(always)]
    fn fixed_words(&self, header_len: usize) -> [u32; 5] {
        let off_flags = (((header_len / 4) as u32) << 12) | u32::from(self.flags.bits());
        [
            (u32::from(self.src_port) << 16) | u32::from(self.dst_port),
            self.seq_number,
            self.ack_number,
            (off_flags << 16) | u32::from(self.window_len),
            u32::from(self.urgent_pointer),
        ]
    }

    /// Bytes of payload in `self.payload` and `more` together.
    #[inline(always)]
    pub(crate) fn gathered_payload_len(&self, more: &[&[u8]]) -> usize {
        more.iter()
            .fold(self.payload.len(), |n, part| n.saturating_add(part.len()))
    }

    /// Write the segment into `segment`, exactly [`TcpRepr::gather_len`] bytes long (its
    /// header [`TcpRepr::header_len`], `header_len`, long), with the
    /// checksum (MUST-2) from `pseudo`, the pseudo header's sum. Header, options and payload
    /// are each stored once and summed from the values stored (the fixed header and the
    /// usual timestamps block from registers: reading back bytes just stored, at other
    /// widths, stalls on store forwarding); the checksum goes into the fixed header before
    /// it is stored.
    #[inline(always)]
    pub(crate) fn write(
        &self,
        segment: &mut [u8],
        (header_len, ts_only): (usize, Option<(u32, u32)>),
        more: &[&[u8]],
        pseudo: u64,
    ) {
        let Some((fixed, rest)) = segment.split_first_chunk_mut::<20>() else {
            return; // never: the segment holds its header
        };
        let opts_len = header_len.saturating_sub(TcpPacket::<&[u8]>::HEADER_LEN);
        let Some((opts, payload)) = rest.split_at_mut_checked(opts_len) else {
            return; // never: as above
        };
        let mut words = self.fixed_words(header_len);
        let mut acc = checksum::add_words(pseudo, &words);
        acc = acc.wrapping_add(match (ts_only, opts.first_chunk_mut::<12>()) {
            (Some(ts), Some(dst)) => TcpOptions::write_timestamps(dst, ts),
            _ => u64::from(self.options.emit_and_sum_laid_out(opts).1),
        });
        // The payload is summed while it is copied in (one pass).
        if !payload.is_empty() {
            let sum = checksum::copy_and_sum_gather(payload, self.payload, more);
            acc = acc.wrapping_add(u64::from(sum));
        }
        if let Some(w) = words.get_mut(4) {
            *w |= u32::from(checksum::finish(acc)) << 16;
        }
        *fixed = checksum::be_words(words);
    }

    /// The header length and, if the options are timestamps alone (most segments), the
    /// timestamps: what [`TcpRepr::write`] lays the header out by.
    #[inline(always)]
    pub(crate) fn header_layout(&self) -> (usize, Option<(u32, u32)>) {
        match self.options.timestamps_only() {
            Some(ts) => (TcpPacket::<&[u8]>::HEADER_LEN + 12, Some(ts)),
            None => (self.header_len(), None),
        }
    }

    /// [`TcpRepr::emit_gather`] into a buffer too short for the segment: what fits of the
    /// header and the payload, checksum not filled (the result is no valid segment).
    #[cold]
    #[inline(never)]
    fn write_short(&self, buf: &mut [u8], more: &[&[u8]]) {
        let header_len = self.header_len();
        let mut header = [0u8; 60];
        if let Some((fixed, opts)) = header.split_first_chunk_mut::<20>() {
            *fixed = checksum::be_words(self.fixed_words(header_len));
            self.options.emit(opts);
        }
        let n = buf.len().min(header_len);
        if let (Some(to), Some(from)) = (buf.get_mut(..n), header.get(..n)) {
            to.copy_from_slice(from);
        }
        if let Some(payload) = buf.get_mut(header_len..) {
            checksum::copy_and_sum(
                payload,
                core::iter::once(self.payload).chain(more.iter().copied()),
            );
        }
    }
}

#[cfg(test)]
#[path = "tcp_tests.rs"]
mod tests;
