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
    /// MF is set or the fragment offset is non-zero (no reassembly).
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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Truncated => "buffer truncated",
            Error::BadVersion => "unexpected IP version",
            Error::BadHeaderLen => "bad IPv4 header length",
            Error::BadTotalLen => "bad IP total/payload length",
            Error::Fragmented => "IPv4 fragment (reassembly not supported)",
            Error::BadChecksum => "checksum mismatch",
            Error::NotTcp => "IP protocol is not TCP",
            Error::BadDataOffset => "bad TCP data offset",
            Error::BadOptionLen => "bad TCP option length",
            Error::BadPort => "TCP port is zero",
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}

/// Result alias using this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
