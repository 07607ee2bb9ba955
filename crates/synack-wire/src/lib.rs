//! synack-wire: zero-copy IPv4/IPv6/TCP/ICMP packet views and high-level
//! representations for the synack userspace TCP/IP stack.
//!
//! Two layers, in the usual style:
//! - *packet views* ([`Ipv4Packet`], [`Ipv6Packet`], [`TcpPacket`]) wrap a
//!   byte buffer and give typed access to each header field, and
//! - *reprs* ([`Ipv4Repr`], [`Ipv6Repr`], [`TcpRepr`], [`Icmpv4Message`],
//!   [`Icmpv6Message`]) are validated summaries that can be parsed from and
//!   emitted into a buffer.
//!
//! [`parse_ip`] dispatches any datagram on its version nibble and protocol;
//! [`parse_ip_tcp_deferred`] is a receive path's per-packet parser (TCP only, its
//! checksum finished by the caller); [`quoted_tcp`] finds the connection an ICMP error is
//! about.
//!
//! Nothing in this crate panics on any input: all field access is bounds
//! checked and all arithmetic is checked or saturating. The lints below
//! enforce that for non-test code.
//!
//! ```
//! use synack_wire::{emit_ipv4_tcp, parse_ipv4_tcp, Ipv4Repr, TcpFlags, TcpOptions, TcpRepr};
//! use core::net::Ipv4Addr;
//!
//! let ip = Ipv4Repr {
//!     src_addr: Ipv4Addr::new(10, 0, 0, 1),
//!     dst_addr: Ipv4Addr::new(10, 0, 0, 2),
//!     protocol: synack_wire::IPPROTO_TCP,
//!     payload_len: 0, // filled in by emit_ipv4_tcp
//!     ttl: 64,
//!     dscp: 0,
//!     ecn: 0,
//!     ident: 1,
//! };
//! let syn = TcpRepr {
//!     src_port: 1234,
//!     dst_port: 80,
//!     seq_number: 1,
//!     ack_number: 0,
//!     flags: TcpFlags::SYN,
//!     window_len: 65535,
//!     urgent_pointer: 0,
//!     options: TcpOptions { mss: Some(1460), ..Default::default() },
//!     payload: &[],
//! };
//! let mut buf = [0u8; 64];
//! let n = emit_ipv4_tcp(&ip, &syn, &mut buf)?;
//! let (_ip, parsed) = parse_ipv4_tcp(&buf[..n])?;
//! assert_eq!(parsed, syn);
//! assert_eq!(parsed.flags.letters(), "S");
//! # Ok::<(), synack_wire::Error>(())
//! ```

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]
#![warn(missing_docs)]

pub mod checksum;
mod error;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6_ext;
pub mod tcp;
mod tcp_options;

pub use error::{Error, Result};
pub use icmp::{Icmpv4Message, Icmpv6Message};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use ipv6_ext::{ipv6_chain, FragmentAt, Ipv6Chain, Ipv6FragHeader, IPPROTO_FRAGMENT};
pub use tcp::{
    PendingChecksum, SackBlocks, TcpFlags, TcpOption, TcpOptionIter, TcpOptions, TcpPacket, TcpRepr,
};

use core::net::IpAddr;

/// IP protocol number of ICMP (IPv4).
pub const IPPROTO_ICMP: u8 = 1;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;

/// IPv6 next header number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// An IPv4 or IPv6 header summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpRepr {
    /// IPv4.
    V4(Ipv4Repr),
    /// IPv6.
    V6(Ipv6Repr),
}

impl IpRepr {
    /// IP version: 4 or 6.
    pub fn version(&self) -> u8 {
        match self {
            IpRepr::V4(_) => 4,
            IpRepr::V6(_) => 6,
        }
    }

    /// Source address.
    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.src_addr),
            IpRepr::V6(r) => IpAddr::V6(r.src_addr),
        }
    }

    /// Destination address.
    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.dst_addr),
            IpRepr::V6(r) => IpAddr::V6(r.dst_addr),
        }
    }

    /// Upper-layer protocol: the IPv4 protocol or the IPv6 next header.
    pub fn protocol(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.protocol,
            IpRepr::V6(r) => r.next_header,
        }
    }

    /// Payload length (bytes after the IP header).
    pub fn payload_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.payload_len,
            IpRepr::V6(r) => r.payload_len,
        }
    }

    /// TTL (IPv4) or hop limit (IPv6).
    pub fn hop_limit(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.ttl,
            IpRepr::V6(r) => r.hop_limit,
        }
    }

    /// Emitted header length: 20 (IPv4) or 40 (IPv6).
    pub fn buffer_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.buffer_len(),
            IpRepr::V6(r) => r.buffer_len(),
        }
    }
}

impl From<Ipv4Repr> for IpRepr {
    fn from(r: Ipv4Repr) -> Self {
        IpRepr::V4(r)
    }
}

impl From<Ipv6Repr> for IpRepr {
    fn from(r: Ipv6Repr) -> Self {
        IpRepr::V6(r)
    }
}

/// A parsed IP datagram, by what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// TCP over IPv4 or IPv6.
    Tcp(IpRepr, TcpRepr<'a>),
    /// ICMP over IPv4.
    Icmpv4(Ipv4Repr, Icmpv4Message<'a>),
    /// ICMPv6 over IPv6.
    Icmpv6(Ipv6Repr, Icmpv6Message<'a>),
    /// Any other protocol (UDP, IPv6 extension headers, ...): the IP header
    /// only.
    Other(IpRepr),
}

/// Parse any IP datagram by its version nibble: TCP, ICMP(v6) or other.
///
/// Errors: [`Error::Truncated`] for an empty buffer, [`Error::BadVersion`]
/// if the version is neither 4 nor 6, then whatever the IP header, TCP or
/// ICMP parser reports. Fragments are [`Error::Fragmented`] (IPv4 with MF or
/// an offset, IPv6 with a Fragment header that is not atomic): they must be
/// reassembled first. IPv6 extension headers are walked to the upper-layer
/// header ([`ipv6_chain`]): the returned [`Ipv6Repr`] then names the
/// upper-layer protocol in `next_header` and its length in `payload_len`.
/// Bytes past the IP length are ignored.
pub fn parse_ip(buf: &[u8]) -> Result<Packet<'_>> {
    match parse_ip_deferred(buf)? {
        Deferred::Tcp(ip, tcp, pending) => {
            if pending.verify_payload(tcp.payload) {
                Ok(Packet::Tcp(ip, tcp))
            } else {
                Err(Error::BadChecksum)
            }
        }
        Deferred::Done(packet) => Ok(packet),
    }
}

/// [`parse_ip_deferred`] for a receiver that wants TCP: the source and destination address,
/// the segment and what is left of its checksum, or [`Error::NotTcp`] for a datagram whose IP
/// header (and IPv6 extension headers) pass but that carries another protocol, whose own
/// checks are left to [`parse_ip_deferred`]. Otherwise the same errors. Its result, unlike [`Deferred`], is no union of variants:
/// inlined into the caller, the fields stay in registers instead of being shuffled through
/// an enum's layout. (Always inlined: the per-packet parser of a receive path.)
#[inline(always)]
pub fn parse_ip_tcp_deferred(buf: &[u8]) -> Result<(IpAddr, IpAddr, TcpRepr<'_>, PendingChecksum)> {
    let first = buf.first().ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => {
            let (ip, payload) = parse_ipv4(buf)?;
            if ip.protocol != IPPROTO_TCP {
                return Err(Error::NotTcp);
            }
            let (tcp, pending) = parse_tcp_over_ipv4(&ip, payload)?;
            Ok((
                IpAddr::V4(ip.src_addr),
                IpAddr::V4(ip.dst_addr),
                tcp,
                pending,
            ))
        }
        6 => {
            let (ip, payload) = parse_ipv6(buf)?;
            if ip.next_header != IPPROTO_TCP {
                return Err(Error::NotTcp);
            }
            let src = IpAddr::V6(ip.src_addr);
            let dst = IpAddr::V6(ip.dst_addr);
            let (tcp, pending) = parse_tcp_deferred(payload, &src, &dst)?;
            Ok((src, dst, tcp, pending))
        }
        _ => Err(Error::BadVersion),
    }
}

/// The TCP segment `payload` of the IPv4 datagram `ip`, its checksum left unfinished as
/// [`TcpRepr::parse_deferred`] leaves it.
#[inline(always)]
fn parse_tcp_over_ipv4<'a>(
    ip: &Ipv4Repr,
    payload: &'a [u8],
) -> Result<(TcpRepr<'a>, PendingChecksum)> {
    // The pseudo header (RFC 9293 §3.1) from the values: the length is below 2^16.
    let pseudo = checksum::sum_words(&[
        ip.src_addr.to_bits(),
        ip.dst_addr.to_bits(),
        u32::from(IPPROTO_TCP),
        payload.len() as u32,
    ]);
    TcpRepr::parse_summed(payload, pseudo)
}

/// A datagram parsed by [`parse_ip_deferred`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferred<'a> {
    /// A TCP segment whose checksum has been summed over all but its payload: not to be
    /// acted on before [`PendingChecksum::verify`] says it is valid (RFC 9293 MUST-3).
    Tcp(IpRepr, TcpRepr<'a>, PendingChecksum),
    /// Anything else, parsed and verified as [`parse_ip`] does it.
    Done(Packet<'a>),
}

/// [`parse_ip`], except that a TCP segment's checksum is left unfinished over its payload
/// (see [`TcpRepr::parse_deferred`]): a receiver can sum the payload while it copies it
/// into its buffer, instead of reading it once more here. Same errors as [`parse_ip`] but
/// for a bad TCP payload checksum, which the caller detects. (Always inlined: it is the
/// per-packet parser of a receive path, whose callers keep its large result in registers and
/// on their own stack instead of copying it out.)
#[inline(always)]
pub fn parse_ip_deferred(buf: &[u8]) -> Result<Deferred<'_>> {
    let first = buf.first().ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => {
            let (ip, payload) = parse_ipv4(buf)?;
            Ok(match ip.protocol {
                IPPROTO_TCP => {
                    let (tcp, pending) = parse_tcp_over_ipv4(&ip, payload)?;
                    Deferred::Tcp(IpRepr::V4(ip), tcp, pending)
                }
                IPPROTO_ICMP => Deferred::Done(Packet::Icmpv4(ip, Icmpv4Message::parse(payload)?)),
                _ => Deferred::Done(Packet::Other(IpRepr::V4(ip))),
            })
        }
        6 => {
            let (ip, payload) = parse_ipv6(buf)?;
            let src = IpAddr::V6(ip.src_addr);
            let dst = IpAddr::V6(ip.dst_addr);
            Ok(match ip.next_header {
                IPPROTO_TCP => {
                    let (tcp, pending) = parse_tcp_deferred(payload, &src, &dst)?;
                    Deferred::Tcp(IpRepr::V6(ip), tcp, pending)
                }
                IPPROTO_ICMPV6 => Deferred::Done(Packet::Icmpv6(
                    ip,
                    Icmpv6Message::parse(payload, &ip.src_addr, &ip.dst_addr)?,
                )),
                _ => Deferred::Done(Packet::Other(IpRepr::V6(ip))),
            })
        }
        _ => Err(Error::BadVersion),
    }
}

#[inline(always)]
fn parse_ipv4(buf: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
    Ipv4Repr::parse_datagram(buf)
}

/// The IPv6 header and the upper-layer payload: extension headers, if any, are walked
/// (RFC 8200 §4) and the repr's `next_header`/`payload_len` describe what follows them.
fn parse_ipv6(buf: &[u8]) -> Result<(Ipv6Repr, &[u8])> {
    let packet = Ipv6Packet::new_checked(buf)?;
    let ip = Ipv6Repr::parse(&packet)?;
    if let IPPROTO_TCP | IPPROTO_ICMPV6 = ip.next_header {
        let start = Ipv6Packet::<&[u8]>::HEADER_LEN;
        let end = start.saturating_add(ip.payload_len).min(buf.len());
        return Ok((ip, buf.get(start..end).unwrap_or(&[])));
    }
    parse_ipv6_ext(buf, ip)
}

/// [`parse_ipv6`] past extension headers: out of line, so that the per-packet parser (inlined
/// into its callers) stays as small as it was without them.
#[cold]
#[inline(never)]
fn parse_ipv6_ext(buf: &[u8], mut ip: Ipv6Repr) -> Result<(Ipv6Repr, &[u8])> {
    let chain = ipv6_chain(buf)?;
    if chain.fragment.is_some() {
        return Err(Error::Fragmented);
    }
    ip.next_header = chain.upper;
    ip.payload_len = chain.end.saturating_sub(chain.upper_at);
    Ok((ip, buf.get(chain.upper_at..chain.end).unwrap_or(&[])))
}

fn parse_tcp<'a>(segment: &'a [u8], src: &IpAddr, dst: &IpAddr) -> Result<TcpRepr<'a>> {
    TcpRepr::parse(&TcpPacket::new_checked(segment)?, src, dst)
}

#[inline(always)]
fn parse_tcp_deferred<'a>(
    segment: &'a [u8],
    src: &IpAddr,
    dst: &IpAddr,
) -> Result<(TcpRepr<'a>, PendingChecksum)> {
    TcpRepr::parse_deferred(&TcpPacket::new_checked(segment)?, src, dst)
}

/// Parse a whole IPv6 datagram carrying TCP.
///
/// Errors: as [`Ipv6Packet::new_checked`] and [`ipv6_chain`] (extension
/// headers are walked; a fragment is [`Error::Fragmented`]), [`Error::NotTcp`]
/// if the upper-layer protocol is not 6, then the TCP checks of
/// [`TcpRepr::parse`]. Bytes past the payload length are ignored.
pub fn parse_ipv6_tcp(buf: &[u8]) -> Result<(Ipv6Repr, TcpRepr<'_>)> {
    let (ip, segment) = parse_ipv6(buf)?;
    if ip.next_header != IPPROTO_TCP {
        return Err(Error::NotTcp);
    }
    let tcp = parse_tcp(segment, &IpAddr::V6(ip.src_addr), &IpAddr::V6(ip.dst_addr))?;
    Ok((ip, tcp))
}

/// Split the first `header_len + payload_len` bytes of `buf` into header
/// and payload. [`Error::BadTotalLen`] if `payload_len` exceeds
/// `max_payload`, [`Error::Truncated`] if `buf` is too small.
fn frame(
    buf: &mut [u8],
    header_len: usize,
    payload_len: usize,
    max_payload: usize,
) -> Result<(usize, &mut [u8], &mut [u8])> {
    if payload_len > max_payload {
        return Err(Error::BadTotalLen);
    }
    let total = header_len
        .checked_add(payload_len)
        .ok_or(Error::BadTotalLen)?;
    let out = buf.get_mut(..total).ok_or(Error::Truncated)?;
    let (head, payload) = out.split_at_mut(header_len.min(total));
    Ok((total, head, payload))
}

/// Largest IPv4 payload: total length is 16 bits and includes the header.
const MAX_V4_PAYLOAD: usize = 65535 - 20;
/// Largest IPv6 payload without jumbograms.
const MAX_V6_PAYLOAD: usize = 65535;

/// Emit an IPv6 header + TCP segment into `buf` (at least
/// `40 + tcp.buffer_len()` bytes); returns the bytes written. Fills the TCP
/// checksum.
///
/// The next header is forced to TCP and the payload length to
/// `tcp.buffer_len()`. Errors: [`Error::Truncated`] if `buf` is too small,
/// [`Error::BadTotalLen`] if the payload would exceed 65535 bytes.
pub fn emit_ipv6_tcp(ip: &Ipv6Repr, tcp: &TcpRepr<'_>, buf: &mut [u8]) -> Result<usize> {
    emit_ipv6_tcp_gather(ip, tcp, &[], buf)
}

#[inline(always)]
fn emit_ipv6_tcp_gather(
    ip: &Ipv6Repr,
    tcp: &TcpRepr<'_>,
    more: &[&[u8]],
    buf: &mut [u8],
) -> Result<usize> {
    let layout = tcp.header_layout();
    let tcp_len = layout.0.saturating_add(tcp.gathered_payload_len(more));
    if tcp_len > MAX_V6_PAYLOAD {
        return Err(Error::BadTotalLen);
    }
    let total = tcp_len.saturating_add(Ipv6Packet::<&[u8]>::HEADER_LEN);
    let (head, segment) = buf
        .get_mut(..total)
        .and_then(|out| out.split_first_chunk_mut::<40>())
        .ok_or(Error::Truncated)?;
    let ip = Ipv6Repr {
        next_header: IPPROTO_TCP,
        payload_len: tcp_len,
        ..*ip
    };
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut head[..]));
    // The pseudo header (RFC 8200 §8.1) from the values: tcp_len < 2^16.
    let (src, dst) = (ip.src_addr.to_bits(), ip.dst_addr.to_bits());
    let pseudo = checksum::add_words(
        0,
        &[
            (src >> 96) as u32,
            (src >> 64) as u32,
            (src >> 32) as u32,
            src as u32,
            (dst >> 96) as u32,
            (dst >> 64) as u32,
            (dst >> 32) as u32,
            dst as u32,
            u32::from(IPPROTO_TCP),
            tcp_len as u32,
        ],
    );
    tcp.write(segment, layout, more, pseudo);
    Ok(total)
}

/// Emit an IPv4 or IPv6 header + TCP segment; fills all checksums and sets
/// the protocol/next header (6) and payload length itself. See
/// [`emit_ipv4_tcp`] and [`emit_ipv6_tcp`].
pub fn emit_ip_tcp(ip: &IpRepr, tcp: &TcpRepr<'_>, buf: &mut [u8]) -> Result<usize> {
    emit_ip_tcp_gather(ip, tcp, &[], buf)
}

/// [`emit_ip_tcp`] with the payload in pieces: the segment carries
/// `tcp.payload` followed by each slice of `more` (see
/// [`TcpRepr::emit_gather`]), copied straight into `buf` — a sender's ring
/// buffer needs no staging copy. Same errors as [`emit_ip_tcp`]. (Inlined: a dispatch on
/// the IP version, which its caller often knows already.)
#[inline]
pub fn emit_ip_tcp_gather(
    ip: &IpRepr,
    tcp: &TcpRepr<'_>,
    more: &[&[u8]],
    buf: &mut [u8],
) -> Result<usize> {
    match ip {
        IpRepr::V4(r) => emit_ipv4_tcp_gather(r, tcp, more, buf),
        IpRepr::V6(r) => emit_ipv6_tcp_gather(r, tcp, more, buf),
    }
}

/// Emit an IPv4 header + ICMP message into `buf` (at least
/// `20 + msg.buffer_len()` bytes); returns the bytes written. Fills both
/// checksums; the protocol is forced to 1 and the payload length to
/// `msg.buffer_len()`.
///
/// Errors: [`Error::Truncated`] if `buf` is too small,
/// [`Error::BadTotalLen`] if the datagram would exceed 65535 bytes.
pub fn emit_icmpv4(ip: &Ipv4Repr, msg: &Icmpv4Message<'_>, buf: &mut [u8]) -> Result<usize> {
    let ip = Ipv4Repr {
        protocol: IPPROTO_ICMP,
        payload_len: msg.buffer_len(),
        ..*ip
    };
    let (total, head, payload) = frame(buf, ip.buffer_len(), ip.payload_len, MAX_V4_PAYLOAD)?;
    ip.emit(&mut Ipv4Packet::new_unchecked(head));
    msg.emit(payload);
    Ok(total)
}

/// Emit an IPv6 header + ICMPv6 message into `buf` (at least
/// `40 + msg.buffer_len()` bytes); returns the bytes written. Fills the
/// checksum; the next header is forced to 58 and the payload length to
/// `msg.buffer_len()`.
///
/// Errors: [`Error::Truncated`] if `buf` is too small,
/// [`Error::BadTotalLen`] if the payload would exceed 65535 bytes.
pub fn emit_icmpv6(ip: &Ipv6Repr, msg: &Icmpv6Message<'_>, buf: &mut [u8]) -> Result<usize> {
    let ip = Ipv6Repr {
        next_header: IPPROTO_ICMPV6,
        payload_len: msg.buffer_len(),
        ..*ip
    };
    let (total, head, payload) = frame(buf, ip.buffer_len(), ip.payload_len, MAX_V6_PAYLOAD)?;
    ip.emit(&mut Ipv6Packet::new_unchecked(head));
    msg.emit(payload, &ip.src_addr, &ip.dst_addr);
    Ok(total)
}

/// The connection an ICMP error is about, from the quoted original
/// datagram: an IPv4 header (any IHL) or IPv6 fixed header followed by at
/// least the first 8 bytes of its TCP header.
///
/// Returns (source address, destination address, source port, destination
/// port, sequence number) as they appear in the quoted datagram, which is
/// one *we* sent: the source is the local end. Lenient, as quotes are
/// truncated and may have been altered in flight: the IPv4 checksum and
/// lengths are not checked. `None` if the datagram is not TCP (including
/// IPv6 extension headers and non-first IPv4 fragments), the version is not
/// 4 or 6, or it is too short.
pub fn quoted_tcp(original: &[u8]) -> Option<(IpAddr, IpAddr, u16, u16, u32)> {
    let first = original.first()?;
    let (src, dst, segment) = match first >> 4 {
        4 => {
            let ip = Ipv4Packet::new_unchecked(original);
            let hlen = ip.header_len();
            if hlen < Ipv4Packet::<&[u8]>::HEADER_LEN
                || ip.protocol() != IPPROTO_TCP
                || ip.frag_offset() != 0
            {
                return None;
            }
            let src = IpAddr::V4(ip.src_addr());
            let dst = IpAddr::V4(ip.dst_addr());
            (src, dst, original.get(hlen..)?)
        }
        6 => {
            let ip = Ipv6Packet::new_unchecked(original);
            if ip.next_header() != IPPROTO_TCP {
                return None;
            }
            let src = IpAddr::V6(ip.src_addr());
            let dst = IpAddr::V6(ip.dst_addr());
            (src, dst, original.get(Ipv6Packet::<&[u8]>::HEADER_LEN..)?)
        }
        _ => return None,
    };
    // Ports and sequence number: the 8 bytes RFC 792 guarantees.
    let tcp = TcpPacket::new_unchecked(segment.get(..8)?);
    Some((src, dst, tcp.src_port(), tcp.dst_port(), tcp.seq_number()))
}

/// Parse a whole IPv4 datagram carrying TCP: IP header checks + TCP header
/// and checksum checks.
///
/// IP options are skipped (RFC 9293 MUST-50). Returns [`Error::NotTcp`] if
/// the protocol is not 6; any bytes past the IP total length are ignored.
pub fn parse_ipv4_tcp(buf: &[u8]) -> Result<(Ipv4Repr, TcpRepr<'_>)> {
    let (ip, segment) = parse_ipv4(buf)?;
    if ip.protocol != IPPROTO_TCP {
        return Err(Error::NotTcp);
    }
    let tcp = parse_tcp(segment, &IpAddr::V4(ip.src_addr), &IpAddr::V4(ip.dst_addr))?;
    Ok((ip, tcp))
}

/// Emit IPv4 header + TCP segment into `buf` (must be at least
/// `20 + tcp.buffer_len()` bytes); returns the bytes written. Fills both
/// checksums.
///
/// The IP header's protocol is forced to TCP and its payload length to
/// `tcp.buffer_len()`, whatever `ip` says. Errors: [`Error::Truncated`] if
/// `buf` is too small, [`Error::BadTotalLen`] if the datagram would exceed
/// 65535 bytes.
pub fn emit_ipv4_tcp(ip: &Ipv4Repr, tcp: &TcpRepr<'_>, buf: &mut [u8]) -> Result<usize> {
    emit_ipv4_tcp_gather(ip, tcp, &[], buf)
}

#[inline(always)]
fn emit_ipv4_tcp_gather(
    ip: &Ipv4Repr,
    tcp: &TcpRepr<'_>,
    more: &[&[u8]],
    buf: &mut [u8],
) -> Result<usize> {
    let layout = tcp.header_layout();
    let tcp_len = layout.0.saturating_add(tcp.gathered_payload_len(more));
    if tcp_len > MAX_V4_PAYLOAD {
        return Err(Error::BadTotalLen);
    }
    let total = tcp_len.saturating_add(Ipv4Packet::<&[u8]>::HEADER_LEN);
    let (head, segment) = buf
        .get_mut(..total)
        .and_then(|out| out.split_first_chunk_mut::<20>())
        .ok_or(Error::Truncated)?;
    let ip = Ipv4Repr {
        protocol: IPPROTO_TCP,
        payload_len: tcp_len,
        ..*ip
    };
    *head = ip.header();
    // The pseudo header (RFC 9293 §3.1) from the values: tcp_len < 2^16.
    let pseudo = checksum::add_words(
        0,
        &[
            ip.src_addr.to_bits(),
            ip.dst_addr.to_bits(),
            u32::from(IPPROTO_TCP),
            tcp_len as u32,
        ],
    );
    tcp.write(segment, layout, more, pseudo);
    Ok(total)
}
