//! Error type shared by all parsers in this crate.

use core::fmt;

/// Why a buffer could not be parsed as an IPv4/IPv6, TCP or ICMP packet.
///
/// Every parser in this crate reports malformed input through this type and
/// never panics, whatever the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than a header says, or than the minimum header.
    Truncated,
    /// The IP version field is not the expected one (4 for IPv4 views, 6
    /// for IPv6 views, either for [`crate::parse_ip`]).
    BadVersion,
    /// The IPv4 IHL is below 5 or the header runs past the buffer.
    BadHeaderLen,
    /// The IPv4 total length is below the header length or past the buffer,
    /// the IPv6 payload length runs past the buffer, or a datagram to emit
    /// would be longer than the length field allows.
    BadTotalLen,
    /// A fragment: IPv4 with MF set or a non-zero offset, or IPv6 with a Fragment header that
    /// is not atomic. Only the whole datagram can be parsed: reassemble it first (synack-proto
    /// does, `ip_reassembly`).
    Fragmented,
    /// The IPv4 header, TCP or ICMP(v6) checksum is wrong (RFC 9293
    /// MUST-2/3).
    BadChecksum,
    /// The IPv4 protocol or IPv6 next header field is not TCP (6).
    NotTcp,
    /// The TCP data offset is below 5 or runs past the end of the segment.
    BadDataOffset,
    /// A TCP option length is below 2 or runs past the header (RFC 9293 MUST-7).
    BadOptionLen,
    /// The TCP source or destination port is zero.
    BadPort,
    /// An IPv6 extension header runs past the payload or is malformed, a Hop-by-Hop header
    /// is not directly after the fixed header, or a datagram has two Fragment headers
    /// (RFC 8200 §4).
    BadExtHeader,
    /// An IPv6 Hop-by-Hop or Destination option we do not know, whose type says to discard
    /// the packet (RFC 8200 §4.2: high bits other than `00`).
    UnknownOption,
    /// An IPv6 Routing header with Segments Left: the packet is for another node, and a host
    /// does not forward (RFC 8200 §4.4).
    RoutingHeader,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Truncated => "buffer truncated",
            Error::BadVersion => "unexpected IP version",
            Error::BadHeaderLen => "bad IPv4 header length",
            Error::BadTotalLen => "bad IP total/payload length",
            Error::Fragmented => "IP fragment (to be reassembled first)",
            Error::BadChecksum => "checksum mismatch",
            Error::NotTcp => "IP protocol is not TCP",
            Error::BadDataOffset => "bad TCP data offset",
            Error::BadOptionLen => "bad TCP option length",
            Error::BadPort => "TCP port is zero",
            Error::BadExtHeader => "malformed IPv6 extension header",
            Error::UnknownOption => "unrecognised IPv6 option that discards the packet",
            Error::RoutingHeader => "IPv6 routing header with segments left",
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}

/// Result alias using this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
