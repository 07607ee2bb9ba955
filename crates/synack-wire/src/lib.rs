//! synack-wire: zero-copy IPv4/TCP packet views and high-level
//! representations for the synack userspace TCP/IP stack.
//!
//! Two layers, in the usual style:
//! - *packet views* ([`Ipv4Packet`], [`TcpPacket`]) wrap a byte buffer and
//!   give typed access to each header field, and
//! - *reprs* ([`Ipv4Repr`], [`TcpRepr`]) are validated, owned summaries
//!   that can be parsed from and emitted into a view.
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
pub mod ipv4;
pub mod tcp;
mod tcp_options;

pub use error::{Error, Result};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use tcp::{SackBlocks, TcpFlags, TcpOption, TcpOptionIter, TcpOptions, TcpPacket, TcpRepr};

use core::net::IpAddr;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;

/// Parse a whole IPv4 datagram carrying TCP: IP header checks + TCP header
/// and checksum checks.
///
/// IP options are skipped (RFC 9293 MUST-50). Returns [`Error::NotTcp`] if
/// the protocol is not 6; any bytes past the IP total length are ignored.
pub fn parse_ipv4_tcp(buf: &[u8]) -> Result<(Ipv4Repr, TcpRepr<'_>)> {
    let ip_packet = Ipv4Packet::new_checked(buf)?;
    let ip = Ipv4Repr::parse(&ip_packet)?;
    if ip.protocol != IPPROTO_TCP {
        return Err(Error::NotTcp);
    }
    let segment = payload_of(buf, &ip_packet);
    let src = IpAddr::V4(ip.src_addr);
    let dst = IpAddr::V4(ip.dst_addr);
    let tcp = TcpRepr::parse(&TcpPacket::new_checked(segment)?, &src, &dst)?;
    Ok((ip, tcp))
}

/// The IP payload with the lifetime of `buf` (the view borrows `buf`).
fn payload_of<'a>(buf: &'a [u8], packet: &Ipv4Packet<&[u8]>) -> &'a [u8] {
    let end = usize::from(packet.total_len()).min(buf.len());
    buf.get(packet.header_len()..end).unwrap_or(&[])
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
    let ip = Ipv4Repr {
        protocol: IPPROTO_TCP,
        payload_len: tcp.buffer_len(),
        ..*ip
    };
    let total = ip
        .buffer_len()
        .checked_add(ip.payload_len)
        .ok_or(Error::BadTotalLen)?;
    if total > usize::from(u16::MAX) {
        return Err(Error::BadTotalLen);
    }
    let out = buf.get_mut(..total).ok_or(Error::Truncated)?;
    let (ip_buf, tcp_buf) = out.split_at_mut(ip.buffer_len());
    ip.emit(&mut Ipv4Packet::new_unchecked(ip_buf));
    let src = IpAddr::V4(ip.src_addr);
    let dst = IpAddr::V4(ip.dst_addr);
    tcp.emit(&mut TcpPacket::new_unchecked(tcp_buf), &src, &dst);
    Ok(total)
}
