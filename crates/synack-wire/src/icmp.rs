//! ICMPv4 (RFC 792, RFC 1191) and ICMPv6 (RFC 4443) messages as
//! zero-copy representations: [`Icmpv4Message`] and [`Icmpv6Message`].
//!
//! Every message starts with the same 8 bytes: type, code, checksum and a
//! 4-byte type-specific field; the rest is echo data or, for error
//! messages, as much of the offending ("original") datagram as fits. Only
//! the messages a TCP endpoint reacts to are decoded; everything else
//! (timestamps, redirects, router/neighbour discovery, ...) is reported as
//! `Other` with its type and code after the checksum has been verified.

use core::net::{IpAddr, Ipv6Addr};
use core::ops::Range;

use crate::checksum;
use crate::error::{Error, Result};
use crate::IPPROTO_ICMPV6;

/// Length of the common ICMP header (type, code, checksum, 4 bytes).
pub const ICMP_HEADER_LEN: usize = 8;

const CHECKSUM: Range<usize> = 2..4;

mod v4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    /// Destination unreachable code "fragmentation needed and DF set".
    pub const FRAG_NEEDED: u8 = 4;
}

mod v6 {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
}

/// The common header fields of a message that is at least 8 bytes long:
/// (type, code, bytes 4..8, body from byte 8).
fn split(buf: &[u8]) -> Result<(u8, u8, [u8; 4], &[u8])> {
    match buf {
        [ty, code, _, _, a, b, c, d, body @ ..] => Ok((*ty, *code, [*a, *b, *c, *d], body)),
        _ => Err(Error::Truncated),
    }
}

/// Write type, code, a zero checksum, `rest` and `body` into `buf`, as much
/// as fits; returns the number of bytes written.
fn write_message(buf: &mut [u8], ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> usize {
    let header = [ty, code, 0, 0, rest[0], rest[1], rest[2], rest[3]];
    let hn = buf.len().min(ICMP_HEADER_LEN);
    if let (Some(d), Some(s)) = (buf.get_mut(..hn), header.get(..hn)) {
        d.copy_from_slice(s);
    }
    let room = buf.get_mut(ICMP_HEADER_LEN..).unwrap_or(&mut []);
    let bn = room.len().min(body.len());
    if let (Some(d), Some(s)) = (room.get_mut(..bn), body.get(..bn)) {
        d.copy_from_slice(s);
    }
    hn.saturating_add(bn)
}

fn store_checksum(buf: &mut [u8], value: u16) {
    if let Some(d) = buf.get_mut(CHECKSUM) {
        d.copy_from_slice(&value.to_be_bytes());
    }
}

fn echo_rest(ident: u16, seq_no: u16) -> [u8; 4] {
    let [a, b] = ident.to_be_bytes();
    let [c, d] = seq_no.to_be_bytes();
    [a, b, c, d]
}

/// An ICMPv4 message (RFC 792).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Message<'a> {
    /// Echo request (type 8).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 3).
    DestUnreachable {
        /// Reason: 0 net, 1 host, 2 protocol, 3 port, 4 fragmentation
        /// needed and DF set, ...
        code: u8,
        /// Next-hop MTU (RFC 1191, bytes 6..8): read only for code 4 (0
        /// otherwise); always emitted.
        next_hop_mtu: u16,
        /// The IP header and leading bytes of the offending datagram.
        original: &'a [u8],
    },
    /// Source quench (type 4, deprecated by RFC 6633 and to be ignored).
    SourceQuench {
        /// The IP header and leading bytes of the offending datagram.
        original: &'a [u8],
    },
    /// Time exceeded (type 11): code 0 TTL, 1 fragment reassembly.
    TimeExceeded {
        /// 0 TTL exceeded in transit, 1 reassembly time exceeded.
        code: u8,
        /// The IP header and leading bytes of the offending datagram.
        original: &'a [u8],
    },
    /// Parameter problem (type 12).
    ParamProblem {
        /// Offset of the offending byte in the original datagram.
        pointer: u8,
        /// The IP header and leading bytes of the offending datagram.
        original: &'a [u8],
    },
    /// Any other type (timestamp, redirect, ...): only type and code.
    Other {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
}

impl<'a> Icmpv4Message<'a> {
    /// Parse a whole ICMPv4 message (the IPv4 payload).
    ///
    /// Errors: [`Error::Truncated`] if shorter than 8 bytes,
    /// [`Error::BadChecksum`] if the checksum over the whole message is
    /// wrong.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let (ty, code, rest, body) = split(buf)?;
        if checksum::combine(&[checksum::sum(buf)]) != 0 {
            return Err(Error::BadChecksum);
        }
        let [a, b, c, d] = rest;
        let ident = u16::from_be_bytes([a, b]);
        let seq_no = u16::from_be_bytes([c, d]);
        Ok(match ty {
            v4::ECHO_REQUEST => Icmpv4Message::EchoRequest {
                ident,
                seq_no,
                data: body,
            },
            v4::ECHO_REPLY => Icmpv4Message::EchoReply {
                ident,
                seq_no,
                data: body,
            },
            v4::DEST_UNREACHABLE => Icmpv4Message::DestUnreachable {
                code,
                next_hop_mtu: if code == v4::FRAG_NEEDED { seq_no } else { 0 },
                original: body,
            },
            v4::SOURCE_QUENCH => Icmpv4Message::SourceQuench { original: body },
            v4::TIME_EXCEEDED => Icmpv4Message::TimeExceeded {
                code,
                original: body,
            },
            v4::PARAM_PROBLEM => Icmpv4Message::ParamProblem {
                pointer: a,
                original: body,
            },
            icmp_type => Icmpv4Message::Other { icmp_type, code },
        })
    }

    /// (type, code, bytes 4..8, body) as emitted.
    fn parts(&self) -> (u8, u8, [u8; 4], &'a [u8]) {
        match *self {
            Icmpv4Message::EchoRequest {
                ident,
                seq_no,
                data,
            } => (v4::ECHO_REQUEST, 0, echo_rest(ident, seq_no), data),
            Icmpv4Message::EchoReply {
                ident,
                seq_no,
                data,
            } => (v4::ECHO_REPLY, 0, echo_rest(ident, seq_no), data),
            Icmpv4Message::DestUnreachable {
                code,
                next_hop_mtu,
                original,
            } => (
                v4::DEST_UNREACHABLE,
                code,
                echo_rest(0, next_hop_mtu),
                original,
            ),
            Icmpv4Message::SourceQuench { original } => (v4::SOURCE_QUENCH, 0, [0; 4], original),
            Icmpv4Message::TimeExceeded { code, original } => {
                (v4::TIME_EXCEEDED, code, [0; 4], original)
            }
            Icmpv4Message::ParamProblem { pointer, original } => {
                (v4::PARAM_PROBLEM, 0, [pointer, 0, 0, 0], original)
            }
            Icmpv4Message::Other { icmp_type, code } => (icmp_type, code, [0; 4], &[]),
        }
    }

    /// The ICMP type number.
    pub fn icmp_type(&self) -> u8 {
        self.parts().0
    }

    /// The quoted original datagram of an error message (destination
    /// unreachable, source quench, time exceeded, parameter problem).
    pub fn original(&self) -> Option<&'a [u8]> {
        match *self {
            Icmpv4Message::DestUnreachable { original, .. }
            | Icmpv4Message::SourceQuench { original }
            | Icmpv4Message::TimeExceeded { original, .. }
            | Icmpv4Message::ParamProblem { original, .. } => Some(original),
            _ => None,
        }
    }

    /// Emitted length: 8 + data/original length (8 for `Other`).
    pub fn buffer_len(&self) -> usize {
        ICMP_HEADER_LEN.saturating_add(self.parts().3.len())
    }

    /// Write the message and its checksum into `buf`, which should be
    /// [`Icmpv4Message::buffer_len`] bytes. `Other` is written as type,
    /// code and zeros. If `buf` is shorter only what fits is written (no
    /// panic), and the result is not a valid message.
    pub fn emit(&self, buf: &mut [u8]) {
        let (ty, code, rest, body) = self.parts();
        let n = write_message(buf, ty, code, rest, body);
        let c = checksum::combine(&[checksum::sum(buf.get(..n).unwrap_or(&[]))]);
        store_checksum(buf, c);
    }
}

/// An ICMPv6 message (RFC 4443). Neighbour discovery (RFC 4861, types
/// 133..=137) and other informational messages come out as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Message<'a> {
    /// Echo request (type 128).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply (type 129).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 1).
    DestUnreachable {
        /// Reason: 0 no route, 1 administratively prohibited, 3 address
        /// unreachable, 4 port unreachable, ...
        code: u8,
        /// As much of the offending datagram as fits.
        original: &'a [u8],
    },
    /// Packet too big (type 2).
    PacketTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
        /// As much of the offending datagram as fits.
        original: &'a [u8],
    },
    /// Time exceeded (type 3).
    TimeExceeded {
        /// 0 hop limit exceeded in transit, 1 reassembly time exceeded.
        code: u8,
        /// As much of the offending datagram as fits.
        original: &'a [u8],
    },
    /// Parameter problem (type 4).
    ParamProblem {
        /// 0 erroneous header field, 1 unrecognised next header, 2
        /// unrecognised IPv6 option, ...
        code: u8,
        /// Offset of the offending byte in the original datagram.
        pointer: u32,
        /// As much of the offending datagram as fits.
        original: &'a [u8],
    },
    /// Any other type (e.g. NDP 133..=137): only type and code.
    Other {
        /// ICMPv6 type.
        icmp_type: u8,
        /// ICMPv6 code.
        code: u8,
    },
}

/// ICMPv6 checksum of `msg` with the IPv6 pseudo header (RFC 4443 §2.3).
fn icmpv6_checksum(msg: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
    let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    checksum::combine(&[
        checksum::pseudo_header(&IpAddr::V6(*src), &IpAddr::V6(*dst), IPPROTO_ICMPV6, len),
        checksum::sum(msg),
    ])
}

impl<'a> Icmpv6Message<'a> {
    /// Parse a whole ICMPv6 message (the IPv6 payload) sent from `src` to
    /// `dst`.
    ///
    /// Errors: [`Error::Truncated`] if shorter than 8 bytes,
    /// [`Error::BadChecksum`] if the checksum over the pseudo header (next
    /// header 58) and the whole message is wrong.
    pub fn parse(buf: &'a [u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> Result<Self> {
        let (ty, code, rest, body) = split(buf)?;
        if icmpv6_checksum(buf, src, dst) != 0 {
            return Err(Error::BadChecksum);
        }
        let [a, b, c, d] = rest;
        let ident = u16::from_be_bytes([a, b]);
        let seq_no = u16::from_be_bytes([c, d]);
        let word = u32::from_be_bytes(rest);
        Ok(match ty {
            v6::ECHO_REQUEST => Icmpv6Message::EchoRequest {
                ident,
                seq_no,
                data: body,
            },
            v6::ECHO_REPLY => Icmpv6Message::EchoReply {
                ident,
                seq_no,
                data: body,
            },
            v6::DEST_UNREACHABLE => Icmpv6Message::DestUnreachable {
                code,
                original: body,
            },
            v6::PACKET_TOO_BIG => Icmpv6Message::PacketTooBig {
                mtu: word,
                original: body,
            },
            v6::TIME_EXCEEDED => Icmpv6Message::TimeExceeded {
                code,
                original: body,
            },
            v6::PARAM_PROBLEM => Icmpv6Message::ParamProblem {
                code,
                pointer: word,
                original: body,
            },
            icmp_type => Icmpv6Message::Other { icmp_type, code },
        })
    }

    /// (type, code, bytes 4..8, body) as emitted.
    fn parts(&self) -> (u8, u8, [u8; 4], &'a [u8]) {
        match *self {
            Icmpv6Message::EchoRequest {
                ident,
                seq_no,
                data,
            } => (v6::ECHO_REQUEST, 0, echo_rest(ident, seq_no), data),
            Icmpv6Message::EchoReply {
                ident,
                seq_no,
                data,
            } => (v6::ECHO_REPLY, 0, echo_rest(ident, seq_no), data),
            Icmpv6Message::DestUnreachable { code, original } => {
                (v6::DEST_UNREACHABLE, code, [0; 4], original)
            }
            Icmpv6Message::PacketTooBig { mtu, original } => {
                (v6::PACKET_TOO_BIG, 0, mtu.to_be_bytes(), original)
            }
            Icmpv6Message::TimeExceeded { code, original } => {
                (v6::TIME_EXCEEDED, code, [0; 4], original)
            }
            Icmpv6Message::ParamProblem {
                code,
                pointer,
                original,
            } => (v6::PARAM_PROBLEM, code, pointer.to_be_bytes(), original),
            Icmpv6Message::Other { icmp_type, code } => (icmp_type, code, [0; 4], &[]),
        }
    }

    /// The ICMPv6 type number.
    pub fn icmp_type(&self) -> u8 {
        self.parts().0
    }

    /// The quoted original datagram of an error message (destination
    /// unreachable, packet too big, time exceeded, parameter problem).
    pub fn original(&self) -> Option<&'a [u8]> {
        match *self {
            Icmpv6Message::DestUnreachable { original, .. }
            | Icmpv6Message::PacketTooBig { original, .. }
            | Icmpv6Message::TimeExceeded { original, .. }
            | Icmpv6Message::ParamProblem { original, .. } => Some(original),
            _ => None,
        }
    }

    /// Emitted length: 8 + data/original length (8 for `Other`).
    pub fn buffer_len(&self) -> usize {
        ICMP_HEADER_LEN.saturating_add(self.parts().3.len())
    }

    /// Write the message and its checksum (with the pseudo header for
    /// `src` → `dst`) into `buf`, which should be
    /// [`Icmpv6Message::buffer_len`] bytes. `Other` is written as type,
    /// code and zeros. If `buf` is shorter only what fits is written (no
    /// panic), and the result is not a valid message.
    pub fn emit(&self, buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
        let (ty, code, rest, body) = self.parts();
        let n = write_message(buf, ty, code, rest, body);
        let c = icmpv6_checksum(buf.get(..n).unwrap_or(&[]), src, dst);
        store_checksum(buf, c);
    }
}

#[cfg(test)]
#[path = "icmp_tests.rs"]
mod tests;
