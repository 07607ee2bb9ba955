//! IPv6 fixed header view ([`Ipv6Packet`]) and high-level representation
//! ([`Ipv6Repr`]), RFC 8200 §3.
//!
//! Only the 40-byte fixed header is understood here: whatever follows it
//! shows up as `next_header` and the bytes after it as the payload.
//! Extension headers are walked by [`crate::ipv6_chain`] (and so by
//! [`crate::parse_ip`]). There is no header checksum in IPv6;
//! upper layers cover the addresses through their pseudo header
//! (RFC 8200 §8.1).

use core::net::Ipv6Addr;
use core::ops::Range;

use crate::error::{Error, Result};

mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

const FLOW_MASK: u32 = 0x000f_ffff;

/// A read/write view of an IPv6 fixed header (and what follows it) over a
/// byte buffer.
///
/// Getters on a view made with [`Ipv6Packet::new_unchecked`] never panic:
/// fields that lie outside the buffer read as zero (addresses as `::`).
/// Use [`Ipv6Packet::new_checked`] to validate lengths first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = 40;

    /// Wrap a buffer without any validation.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wrap a buffer, checking that the header and payload fit.
    ///
    /// Errors: [`Error::Truncated`] (shorter than 40 bytes),
    /// [`Error::BadVersion`] (version is not 6), [`Error::BadTotalLen`]
    /// (40 + payload length is past the buffer). Bytes past the payload
    /// length are allowed (link-layer padding) and ignored.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        let len = packet.buffer.as_ref().len();
        if len < Self::HEADER_LEN {
            return Err(Error::Truncated);
        }
        if packet.version() != 6 {
            return Err(Error::BadVersion);
        }
        let end = Self::HEADER_LEN.saturating_add(usize::from(packet.payload_len()));
        if end > len {
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

    fn addr_at(&self, range: Range<usize>) -> Ipv6Addr {
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|s| <[u8; 16]>::try_from(s).ok())
            .map_or(Ipv6Addr::UNSPECIFIED, Ipv6Addr::from)
    }

    /// IP version (6 for a valid packet).
    pub fn version(&self) -> u8 {
        self.byte(0) >> 4
    }

    /// Traffic class (DSCP in the upper 6 bits, ECN in the lower 2).
    pub fn traffic_class(&self) -> u8 {
        ((self.u32_at(field::VER_TC_FLOW) >> 20) & 0xff) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.u32_at(field::VER_TC_FLOW) & FLOW_MASK
    }

    /// Payload length: bytes after the 40-byte fixed header, including any
    /// extension headers.
    pub fn payload_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// Next header (upper-layer protocol or first extension header).
    pub fn next_header(&self) -> u8 {
        self.byte(field::NXT_HDR)
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.byte(field::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        self.addr_at(field::SRC_ADDR)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        self.addr_at(field::DST_ADDR)
    }

    /// Payload: bytes 40..40+payload_len (clamped to the buffer).
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = Self::HEADER_LEN
            .saturating_add(usize::from(self.payload_len()))
            .min(buf.len());
        buf.get(Self::HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
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

    fn set_u32_at(&mut self, range: Range<usize>, value: u32) {
        self.set_bytes(range, &value.to_be_bytes());
    }

    /// Set the version nibble.
    pub fn set_version(&mut self, value: u8) {
        let b = self.byte(0);
        self.set_byte(0, (b & 0x0f) | (value << 4));
    }

    /// Set the traffic class.
    pub fn set_traffic_class(&mut self, value: u8) {
        let raw = self.u32_at(field::VER_TC_FLOW);
        let raw = (raw & 0xf00f_ffff) | (u32::from(value) << 20);
        self.set_u32_at(field::VER_TC_FLOW, raw);
    }

    /// Set the flow label (the low 20 bits of `value`).
    pub fn set_flow_label(&mut self, value: u32) {
        let raw = self.u32_at(field::VER_TC_FLOW);
        let raw = (raw & !FLOW_MASK) | (value & FLOW_MASK);
        self.set_u32_at(field::VER_TC_FLOW, raw);
    }

    /// Set the payload length.
    pub fn set_payload_len(&mut self, value: u16) {
        self.set_bytes(field::LENGTH, &value.to_be_bytes());
    }

    /// Set the next header.
    pub fn set_next_header(&mut self, value: u8) {
        self.set_byte(field::NXT_HDR, value);
    }

    /// Set the hop limit.
    pub fn set_hop_limit(&mut self, value: u8) {
        self.set_byte(field::HOP_LIMIT, value);
    }

    /// Set the source address.
    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.set_bytes(field::SRC_ADDR, &value.octets());
    }

    /// Set the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.set_bytes(field::DST_ADDR, &value.octets());
    }

    /// Mutable payload: bytes 40..40+payload_len (clamped to the buffer).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = Self::HEADER_LEN.saturating_add(usize::from(self.payload_len()));
        let buf = self.buffer.as_mut();
        let end = end.min(buf.len());
        buf.get_mut(Self::HEADER_LEN..end).unwrap_or(&mut [])
    }
}

/// The fields of an IPv6 fixed header that matter to TCP and ICMPv6.
///
/// The flow label is not kept: it reads back as whatever the sender set and
/// is emitted as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header: from [`Ipv6Repr::parse`], the fixed header's (the
    /// upper-layer protocol or the first extension header); from
    /// [`crate::parse_ip`], the upper-layer protocol after any extension
    /// headers.
    pub next_header: u8,
    /// Length of everything after the fixed header ([`Ipv6Repr::parse`]), or
    /// of the upper-layer header and data ([`crate::parse_ip`]).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class (DSCP << 2 | ECN).
    pub traffic_class: u8,
}

impl Ipv6Repr {
    /// Parse a header from a packet view. Lengths are re-validated as in
    /// [`Ipv6Packet::new_checked`], so an unchecked view is also safe to
    /// pass.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Ipv6Packet<&T>) -> Result<Ipv6Repr> {
        let checked = Ipv6Packet::new_checked(packet.buffer.as_ref())?;
        Ok(Ipv6Repr {
            src_addr: checked.src_addr(),
            dst_addr: checked.dst_addr(),
            next_header: checked.next_header(),
            payload_len: usize::from(checked.payload_len()),
            hop_limit: checked.hop_limit(),
            traffic_class: checked.traffic_class(),
        })
    }

    /// Header length this repr emits: always 40 (no extension headers).
    pub fn buffer_len(&self) -> usize {
        Ipv6Packet::<&[u8]>::HEADER_LEN
    }

    /// Write the fixed header: version 6, flow label 0, payload length
    /// `payload_len` (saturating at 65535; no jumbograms).
    ///
    /// Writes only what fits if the buffer is shorter than 40 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        let len = u16::try_from(self.payload_len).unwrap_or(u16::MAX);
        packet.set_u32_at(field::VER_TC_FLOW, 6 << 28);
        packet.set_traffic_class(self.traffic_class);
        packet.set_payload_len(len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> Ipv6Repr {
        Ipv6Repr {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8:ffff::2".parse().unwrap(),
            next_header: 6,
            payload_len: 4,
            hop_limit: 64,
            traffic_class: 0xb9,
        }
    }

    fn emitted() -> Vec<u8> {
        let mut buf = vec![0xccu8; 44];
        repr().emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        buf[40..].copy_from_slice(b"abcd");
        buf
    }

    #[test]
    fn emit_exact_bytes() {
        let buf = emitted();
        // Version 6, traffic class 0xb9 split across the nibbles, flow 0.
        assert_eq!(&buf[..8], &[0x6b, 0x90, 0, 0, 0, 4, 6, 64]);
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        src[15] = 1;
        assert_eq!(&buf[8..24], &src);
        assert_eq!(&buf[24..30], &[0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff]);
        assert_eq!(buf[39], 2);
    }

    #[test]
    fn round_trip() {
        let buf = emitted();
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb9);
        assert_eq!(p.flow_label(), 0);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.payload(), b"abcd");
        assert_eq!(Ipv6Repr::parse(&p).unwrap(), repr());
        assert_eq!(repr().buffer_len(), 40);
        // Trailing padding is ignored.
        let mut padded = buf.clone();
        padded.extend_from_slice(&[0; 6]);
        let p = Ipv6Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), b"abcd");
        assert_eq!(Ipv6Repr::parse(&p).unwrap(), repr());
        assert_eq!(p.into_inner().len(), 50);
    }

    #[test]
    fn setters_and_getters() {
        let mut buf = [0u8; 48];
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_flow_label(0xf_ffff);
        p.set_traffic_class(0xff);
        p.set_flow_label(0x1_2345);
        p.set_traffic_class(0x5a);
        p.set_payload_len(8);
        p.set_next_header(58);
        p.set_hop_limit(255);
        let a: Ipv6Addr = "fe80::1".parse().unwrap();
        let b: Ipv6Addr = "ff02::1".parse().unwrap();
        p.set_src_addr(a);
        p.set_dst_addr(b);
        p.payload_mut().copy_from_slice(&[1; 8]);
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0x5a);
        assert_eq!(p.flow_label(), 0x1_2345);
        assert_eq!(
            (p.payload_len(), p.next_header(), p.hop_limit()),
            (8, 58, 255)
        );
        assert_eq!((p.src_addr(), p.dst_addr()), (a, b));
        assert_eq!(&buf[..4], &[0x65, 0xa1, 0x23, 0x45]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        let r = Ipv6Repr::parse(&p).unwrap();
        assert_eq!(
            (r.next_header, r.payload_len, r.traffic_class),
            (58, 8, 0x5a)
        );
    }

    #[test]
    fn unknown_next_header_passes_through() {
        let mut buf = emitted();
        buf[6] = 0; // hop-by-hop options: not parsed
        let r = Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&buf[..])).unwrap();
        assert_eq!(r.next_header, 0);
        assert_eq!(r.payload_len, 4);
    }

    #[test]
    fn errors() {
        let good = emitted();
        for len in 0..40 {
            assert_eq!(
                Ipv6Packet::new_checked(&good[..len]).unwrap_err(),
                Error::Truncated
            );
        }
        for v in [0u8, 4, 5, 7, 15] {
            let mut bad = good.clone();
            bad[0] = (v << 4) | (bad[0] & 0x0f);
            assert_eq!(
                Ipv6Packet::new_checked(&bad[..]).unwrap_err(),
                Error::BadVersion
            );
            assert_eq!(
                Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&bad[..])).unwrap_err(),
                Error::BadVersion
            );
        }
        let mut long = good.clone();
        long[5] = 5; // 40 + 5 > 44
        assert_eq!(
            Ipv6Packet::new_checked(&long[..]).unwrap_err(),
            Error::BadTotalLen
        );
        long[4] = 0xff;
        assert_eq!(
            Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&long[..])).unwrap_err(),
            Error::BadTotalLen
        );
        // Header only, payload cut off.
        assert_eq!(
            Ipv6Packet::new_checked(&good[..42]).unwrap_err(),
            Error::BadTotalLen
        );
    }

    #[test]
    fn payload_len_saturates_on_emit() {
        let r = Ipv6Repr {
            payload_len: 70_000,
            ..repr()
        };
        let mut buf = [0u8; 40];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[4..6], &[0xff, 0xff]);
    }

    #[test]
    fn unchecked_getters_on_short_buffers() {
        for len in 0..48 {
            let buf = vec![0x6fu8; len];
            let p = Ipv6Packet::new_unchecked(&buf[..]);
            let _ = (p.version(), p.traffic_class(), p.flow_label());
            let _ = (p.payload_len(), p.next_header(), p.hop_limit());
            let _ = (p.src_addr(), p.dst_addr(), p.payload());
            assert!(Ipv6Repr::parse(&p).is_err());
            let mut copy = buf.clone();
            let mut p = Ipv6Packet::new_unchecked(&mut copy[..]);
            repr().emit(&mut p);
            p.set_flow_label(1);
            let _ = p.payload_mut().len();
        }
    }
}
