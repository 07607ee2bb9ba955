//! IPv4 header view ([`Ipv4Packet`]) and high-level representation
//! ([`Ipv4Repr`]).
//!
//! Only what a TCP endpoint needs: options are skipped on receive
//! (RFC 9293 MUST-50: TCP ignores IP options it does not understand) and
//! never emitted; fragments are rejected rather than reassembled.

use core::net::Ipv4Addr;

use crate::checksum;
use crate::error::{Error, Result};

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 header over a byte buffer.
///
/// Getters on a view made with [`Ipv4Packet::new_unchecked`] never panic:
/// fields that lie outside the buffer read as zero. Use
/// [`Ipv4Packet::new_checked`] to validate lengths first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Length of a header without options.
    pub const HEADER_LEN: usize = 20;

    /// Wrap a buffer without any validation.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wrap a buffer, checking that the header and total length fit.
    ///
    /// Errors: [`Error::Truncated`] (shorter than 20 bytes),
    /// [`Error::BadVersion`], [`Error::BadHeaderLen`] (IHL < 5 or header past
    /// the buffer), [`Error::BadTotalLen`] (total length below the header
    /// length or past the buffer).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        let len = packet.buffer.as_ref().len();
        if len < Self::HEADER_LEN {
            return Err(Error::Truncated);
        }
        if packet.version() != 4 {
            return Err(Error::BadVersion);
        }
        let hlen = packet.header_len();
        if hlen < Self::HEADER_LEN || hlen > len {
            return Err(Error::BadHeaderLen);
        }
        let total = usize::from(packet.total_len());
        if total < hlen || total > len {
            return Err(Error::BadTotalLen);
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

    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        match self.buffer.as_ref().get(range) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    fn addr_at(&self, range: core::ops::Range<usize>) -> Ipv4Addr {
        match self.buffer.as_ref().get(range) {
            Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
            _ => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// IP version (4 for a valid packet).
    pub fn version(&self) -> u8 {
        self.byte(field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.byte(field::VER_IHL) & 0x0f) * 4
    }

    /// Differentiated services code point.
    pub fn dscp(&self) -> u8 {
        self.byte(field::DSCP_ECN) >> 2
    }

    /// Explicit congestion notification bits.
    pub fn ecn(&self) -> u8 {
        self.byte(field::DSCP_ECN) & 0x03
    }

    /// Total length of the datagram (header + payload) in bytes.
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_DF != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the wire field is in 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        // 13 bits * 8 fits in 16 bits.
        (self.u16_at(field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.byte(field::TTL)
    }

    /// Upper-layer protocol number.
    pub fn protocol(&self) -> u8 {
        self.byte(field::PROTOCOL)
    }

    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        self.addr_at(field::SRC_ADDR)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        self.addr_at(field::DST_ADDR)
    }

    /// The header bytes covered by the checksum (clamped to the buffer).
    fn header_bytes(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = self.header_len().min(buf.len());
        buf.get(..end).unwrap_or(&[])
    }

    /// True if the header checksum (over `header_len` bytes) is valid.
    pub fn verify_checksum(&self) -> bool {
        let hdr = self.header_bytes();
        let sum = match <&[u8; 20]>::try_from(hdr) {
            Ok(plain) => checksum::sum20(plain), // no options: nearly every header
            Err(_) if hdr.len() >= Self::HEADER_LEN => checksum::sum(hdr),
            Err(_) => return false,
        };
        checksum::combine(&[sum]) == 0
    }

    /// IP options: header bytes 20..header_len (empty if out of range).
    pub fn options(&self) -> &[u8] {
        let end = self.header_len();
        self.buffer
            .as_ref()
            .get(Self::HEADER_LEN..end)
            .unwrap_or(&[])
    }

    /// Payload: bytes header_len..total_len (clamped to the buffer).
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(buf.len());
        buf.get(self.header_len()..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn set_byte(&mut self, at: usize, value: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(at) {
            *b = value;
        }
    }

    fn set_u16_at(&mut self, range: core::ops::Range<usize>, value: u16) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            dst.copy_from_slice(&value.to_be_bytes());
        }
    }

    fn set_addr_at(&mut self, range: core::ops::Range<usize>, value: Ipv4Addr) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            dst.copy_from_slice(&value.octets());
        }
    }

    /// Set the version nibble.
    pub fn set_version(&mut self, value: u8) {
        let b = self.byte(field::VER_IHL);
        self.set_byte(field::VER_IHL, (b & 0x0f) | (value << 4));
    }

    /// Set the header length in bytes (stored as IHL = bytes / 4).
    pub fn set_header_len(&mut self, bytes: usize) {
        let ihl = ((bytes / 4) & 0x0f) as u8;
        let b = self.byte(field::VER_IHL);
        self.set_byte(field::VER_IHL, (b & 0xf0) | ihl);
    }

    /// Set the DSCP (6 bits).
    pub fn set_dscp(&mut self, value: u8) {
        let b = self.byte(field::DSCP_ECN);
        self.set_byte(field::DSCP_ECN, (b & 0x03) | (value << 2));
    }

    /// Set the ECN bits (2 bits).
    pub fn set_ecn(&mut self, value: u8) {
        let b = self.byte(field::DSCP_ECN);
        self.set_byte(field::DSCP_ECN, (b & 0xfc) | (value & 0x03));
    }

    /// Set the total length.
    pub fn set_total_len(&mut self, value: u16) {
        self.set_u16_at(field::LENGTH, value);
    }

    /// Set the identification field.
    pub fn set_ident(&mut self, value: u16) {
        self.set_u16_at(field::IDENT, value);
    }

    fn set_flag(&mut self, mask: u16, on: bool) {
        let raw = self.u16_at(field::FLG_OFF);
        let raw = if on { raw | mask } else { raw & !mask };
        self.set_u16_at(field::FLG_OFF, raw);
    }

    /// Set or clear Don't Fragment.
    pub fn set_dont_frag(&mut self, value: bool) {
        self.set_flag(FLAG_DF, value);
    }

    /// Set or clear More Fragments.
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_flag(FLAG_MF, value);
    }

    /// Set the fragment offset in bytes (rounded down to 8-byte units).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let raw = self.u16_at(field::FLG_OFF);
        self.set_u16_at(field::FLG_OFF, (raw & !OFFSET_MASK) | (bytes >> 3));
    }

    /// Set the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.set_byte(field::TTL, value);
    }

    /// Set the protocol number.
    pub fn set_protocol(&mut self, value: u8) {
        self.set_byte(field::PROTOCOL, value);
    }

    /// Set the header checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.set_u16_at(field::CHECKSUM, value);
    }

    /// Set the source address.
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.set_addr_at(field::SRC_ADDR, value);
    }

    /// Set the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.set_addr_at(field::DST_ADDR, value);
    }

    /// Compute and store the header checksum over `header_len` bytes.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::combine(&[checksum::sum(self.header_bytes())]);
        self.set_checksum(c);
    }

    /// Mutable payload: bytes header_len..total_len (clamped to the buffer).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = usize::from(self.total_len());
        let buf = self.buffer.as_mut();
        let end = end.min(buf.len());
        buf.get_mut(start..end).unwrap_or(&mut [])
    }
}

/// The fields of an IPv4 header that matter to TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Upper-layer protocol number.
    pub protocol: u8,
    /// Length of the payload (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Differentiated services code point (6 bits).
    pub dscp: u8,
    /// ECN bits (2 bits).
    pub ecn: u8,
    /// Identification field.
    pub ident: u16,
}

impl Ipv4Repr {
    /// Parse a header from a checked packet view.
    ///
    /// Verifies the header checksum ([`Error::BadChecksum`]) and rejects
    /// fragments ([`Error::Fragmented`]). IP options are skipped
    /// (RFC 9293 MUST-50). Lengths are re-validated, so an unchecked view is
    /// also safe to pass.
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&T>) -> Result<Ipv4Repr> {
        Self::parse_datagram(packet.buffer.as_ref()).map(|(repr, _)| repr)
    }

    /// [`Ipv4Packet::new_checked`] and [`Ipv4Repr::parse`] of the datagram `buf`, and its
    /// payload (bytes past the total length are not part of it). One pass over the fixed
    /// header, whose fields are read once for the checks and the repr.
    #[inline(always)]
    pub(crate) fn parse_datagram(buf: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
        let Some(header) = buf.first_chunk::<20>() else {
            return Err(Error::Truncated);
        };
        // The header as five words, loaded once: for the checks, the fields and the sum.
        let [a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3, e0, e1, e2, e3] =
            *header;
        let ne = u32::from_ne_bytes;
        let native = [
            ne([a0, a1, a2, a3]),
            ne([b0, b1, b2, b3]),
            ne([c0, c1, c2, c3]),
            ne([d0, d1, d2, d3]),
            ne([e0, e1, e2, e3]),
        ];
        let [ver_tos_len, ident_frag, ttl_proto_sum, src, dst] = native.map(u32::from_be);
        if ver_tos_len >> 28 != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = ((ver_tos_len >> 24) as usize & 0x0f) << 2;
        if header_len < Ipv4Packet::<&[u8]>::HEADER_LEN || header_len > buf.len() {
            return Err(Error::BadHeaderLen);
        }
        let total = (ver_tos_len & 0xffff) as usize;
        let Some((head, payload)) = buf
            .get(..total)
            .and_then(|datagram| datagram.split_at_checked(header_len))
        else {
            return Err(Error::BadTotalLen);
        };
        let sum = match head.len() {
            20 => checksum::sum_native(&native), // no options: nearly every header
            _ => checksum::sum(head),
        };
        if checksum::combine(&[sum]) != 0 {
            return Err(Error::BadChecksum);
        }
        if ident_frag as u16 & (FLAG_MF | OFFSET_MASK) != 0 {
            return Err(Error::Fragmented);
        }
        let tos = (ver_tos_len >> 16) as u8;
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::from_bits(src),
            dst_addr: Ipv4Addr::from_bits(dst),
            protocol: (ttl_proto_sum >> 16) as u8,
            payload_len: payload.len(),
            ttl: (ttl_proto_sum >> 24) as u8,
            dscp: tos >> 2,
            ecn: tos & 0x03,
            ident: (ident_frag >> 16) as u16,
        };
        Ok((repr, payload))
    }

    /// Header length this repr emits: always 20 (no IP options).
    pub fn buffer_len(&self) -> usize {
        Ipv4Packet::<&[u8]>::HEADER_LEN
    }

    /// Write the header: version 4, IHL 5, DF set, total length
    /// 20 + `payload_len` (saturating at 65535), checksum filled.
    ///
    /// Writes only what fits if the buffer is shorter than 20 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        let header = self.header();
        let buf = packet.buffer.as_mut();
        let n = buf.len().min(header.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), header.get(..n)) {
            to.copy_from_slice(from);
        }
    }

    /// The 20 header bytes [`Ipv4Repr::emit`] writes, checksum included.
    #[inline(always)]
    pub(crate) fn header(&self) -> [u8; 20] {
        let total = self
            .payload_len
            .saturating_add(self.buffer_len())
            .min(usize::from(u16::MAX)) as u16;
        let tos = (self.dscp << 2) | (self.ecn & 0x03);
        let (src, dst) = (self.src_addr.to_bits(), self.dst_addr.to_bits());
        let mut words = [
            ((0x4500 | u32::from(tos)) << 16) | u32::from(total),
            (u32::from(self.ident) << 16) | u32::from(FLAG_DF),
            ((u32::from(self.ttl) << 8) | u32::from(self.protocol)) << 16,
            src,
            dst,
        ];
        // The checksum is summed from the fields, not read back from the header just written
        // (a read of bytes stored a moment ago, with other widths, stalls on store
        // forwarding: it was 8% of a bulk transfer's time at MTU 1500).
        let c = checksum::finish(checksum::add_words(0, &words));
        if let Some(w) = words.get_mut(2) {
            *w |= u32::from(c);
        }
        checksum::be_words(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 2),
            protocol: 6,
            payload_len: 4,
            ttl: 64,
            dscp: 10,
            ecn: 2,
            ident: 0xbeef,
        }
    }

    fn emitted() -> Vec<u8> {
        let r = repr();
        let mut buf = vec![0u8; 24];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        buf[20..].copy_from_slice(b"abcd");
        buf
    }

    /// Independent header checksum: naive 16-bit loop.
    fn naive_csum(hdr: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for (i, pair) in hdr.chunks(2).enumerate() {
            if i == 5 {
                continue; // checksum field
            }
            acc += u32::from(pair[0]) << 8 | u32::from(pair[1]);
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    #[test]
    fn emit_exact_bytes() {
        let buf = emitted();
        assert_eq!(&buf[..4], &[0x45, (10 << 2) | 2, 0, 24]);
        assert_eq!(&buf[4..10], &[0xbe, 0xef, 0x40, 0x00, 64, 6]);
        assert_eq!(&buf[12..20], &[192, 168, 0, 1, 192, 168, 0, 2]);
        let c = u16::from_be_bytes([buf[10], buf[11]]);
        assert_eq!(c, naive_csum(&buf[..20]));
    }

    #[test]
    fn round_trip() {
        let buf = emitted();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.payload(), b"abcd");
        assert_eq!(p.options(), b"");
        assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr());
    }

    #[test]
    fn setters_and_getters() {
        let mut buf = [0u8; 28];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_total_len(28);
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        p.set_dont_frag(true);
        p.set_dont_frag(false);
        p.set_ecn(3);
        p.set_dscp(0x3f);
        p.fill_checksum();
        assert_eq!(p.header_len(), 24);
        assert!(p.more_frags());
        assert!(!p.dont_frag());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!((p.dscp(), p.ecn()), (0x3f, 3));
        assert!(p.verify_checksum());
        assert_eq!(p.options().len(), 4);
        assert_eq!(p.payload_mut().len(), 4);
    }

    #[test]
    fn options_skipped() {
        // IHL 6 with a 4-byte option (NOP NOP NOP EOL) is accepted (MUST-50).
        let mut buf = [0u8; 28];
        {
            let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
            repr().emit(&mut p);
            p.set_header_len(24);
            p.set_total_len(28);
        }
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        Ipv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 4);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
    }

    #[test]
    fn errors() {
        let good = emitted();
        assert_eq!(
            Ipv4Packet::new_checked(&good[..19]).unwrap_err(),
            Error::Truncated
        );
        let mut v6 = good.clone();
        v6[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v6[..]).unwrap_err(),
            Error::BadVersion
        );
        let mut ihl = good.clone();
        ihl[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&ihl[..]).unwrap_err(),
            Error::BadHeaderLen
        );
        ihl[0] = 0x47; // 28 bytes > 24
        assert_eq!(
            Ipv4Packet::new_checked(&ihl[..]).unwrap_err(),
            Error::BadHeaderLen
        );
        let mut tl = good.clone();
        tl[3] = 25;
        assert_eq!(
            Ipv4Packet::new_checked(&tl[..]).unwrap_err(),
            Error::BadTotalLen
        );
        tl[3] = 19;
        assert_eq!(
            Ipv4Packet::new_checked(&tl[..]).unwrap_err(),
            Error::BadTotalLen
        );
        let mut cs = good.clone();
        cs[10] ^= 1;
        let p = Ipv4Packet::new_checked(&cs[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&p).unwrap_err(), Error::BadChecksum);

        for (mf, off) in [(true, 0u16), (false, 8)] {
            let mut f = good.clone();
            let mut p = Ipv4Packet::new_unchecked(&mut f[..]);
            p.set_more_frags(mf);
            p.set_frag_offset(off);
            p.fill_checksum();
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            assert_eq!(Ipv4Repr::parse(&p).unwrap_err(), Error::Fragmented);
        }
    }

    #[test]
    fn unchecked_getters_on_short_buffers() {
        for len in 0..24 {
            let buf = vec![0xffu8; len];
            let p = Ipv4Packet::new_unchecked(&buf[..]);
            let _ = (p.version(), p.header_len(), p.total_len(), p.src_addr());
            let _ = (p.options(), p.payload(), p.verify_checksum());
            assert!(Ipv4Repr::parse(&p).is_err());
        }
    }
}
