//! IPv6 extension headers (RFC 8200 §4): the walk from the fixed header to the upper-layer
//! header ([`ipv6_chain`]) and the Fragment header ([`Ipv6FragHeader`], §4.5).
//!
//! A destination host processes, in the order they appear:
//! - Hop-by-Hop Options (0), only directly after the fixed header (§4.3), and Destination
//!   Options (60, §4.6): their options are walked; Pad1 and PadN are understood, any other
//!   option is skipped if the two high bits of its type are `00` and discards the packet
//!   otherwise (§4.2, [`Error::UnknownOption`]) — a Jumbo Payload option (0xC2) included.
//! - Routing (43, §4.4): ignored when Segments Left is 0; otherwise the packet is not for this
//!   host to consume, and as a host we forward nothing ([`Error::RoutingHeader`]).
//! - Fragment (44, §4.5): an atomic fragment (offset 0, M clear; RFC 6946) is walked past and
//!   the datagram processed on its own; any other stops the walk, as the rest of the datagram
//!   must be reassembled first. One Fragment header per datagram: a second one (nested
//!   fragmentation) is malformed.
//!
//! Any other next header value ends the walk: it is the upper-layer protocol (TCP, ICMPv6, UDP,
//! No Next Header, ESP, AH, ... — what the caller does not know it counts and drops). §4.1
//! lets extension headers come in any order and number except Hop-by-Hop; the walk is linear
//! in the packet's length, as every header takes at least 8 bytes, and never recurses.

use crate::error::{Error, Result};
use crate::ipv6::Ipv6Packet;

/// Next header value of the Hop-by-Hop Options header.
pub const IPPROTO_HOPOPTS: u8 = 0;
/// Next header value of the Routing header.
pub const IPPROTO_ROUTING: u8 = 43;
/// Next header value of the Fragment header.
pub const IPPROTO_FRAGMENT: u8 = 44;
/// Next header value "No Next Header".
pub const IPPROTO_NONE: u8 = 59;
/// Next header value of the Destination Options header.
pub const IPPROTO_DSTOPTS: u8 = 60;

/// The IPv6 Fragment header (RFC 8200 §4.5): 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6FragHeader {
    /// The first header of the fragmentable part (as the offset-zero fragment says it).
    pub next_header: u8,
    /// Offset of this fragment's data in the fragmentable part, bytes (a multiple of 8).
    pub offset: u16,
    /// M flag: more fragments follow.
    pub more: bool,
    /// Identification (the same in every fragment of one datagram).
    pub ident: u32,
}

impl Ipv6FragHeader {
    /// Length of the header.
    pub const LEN: usize = 8;

    /// Read a Fragment header from the first 8 bytes of `buf` ([`Error::Truncated`] if
    /// shorter). The reserved fields are ignored (§4.5).
    pub fn parse(buf: &[u8]) -> Result<Ipv6FragHeader> {
        match buf {
            [next, _, o0, o1, i0, i1, i2, i3, ..] => {
                let off = u16::from_be_bytes([*o0, *o1]);
                Ok(Ipv6FragHeader {
                    next_header: *next,
                    offset: off & 0xfff8,
                    more: off & 1 != 0,
                    ident: u32::from_be_bytes([*i0, *i1, *i2, *i3]),
                })
            }
            _ => Err(Error::Truncated),
        }
    }

    /// Write the header into the first 8 bytes of `buf` (as much as fits); the offset is
    /// rounded down to a multiple of 8.
    pub fn emit(&self, buf: &mut [u8]) {
        let off = (self.offset & 0xfff8) | u16::from(self.more);
        let [o0, o1] = off.to_be_bytes();
        let [i0, i1, i2, i3] = self.ident.to_be_bytes();
        let bytes = [self.next_header, 0, o0, o1, i0, i1, i2, i3];
        let n = buf.len().min(Self::LEN);
        if let (Some(d), Some(s)) = (buf.get_mut(..n), bytes.get(..n)) {
            d.copy_from_slice(s);
        }
    }

    /// Offset 0 and M clear: a datagram in one piece (RFC 6946), processed on its own.
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// A Fragment header met by [`ipv6_chain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentAt {
    /// The header.
    pub header: Ipv6FragHeader,
    /// Where it starts in the packet; the fragment's data starts 8 bytes later.
    pub at: usize,
}

/// Where the extension header chain of an IPv6 packet leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Chain {
    /// The upper-layer protocol: the first next header value that is not an extension header
    /// the walk processes. For a fragment that is not the first, the Fragment header's next
    /// header (its data cannot be walked).
    pub upper: u8,
    /// Offset of the upper-layer header in the packet (counted from the fixed header).
    pub upper_at: usize,
    /// End of the packet: 40 + the payload length.
    pub end: usize,
    /// The non-atomic Fragment header, if the packet is a fragment. An atomic one is walked
    /// past and not reported.
    pub fragment: Option<FragmentAt>,
}

/// Walk the extension headers of the IPv6 packet in `buf` (RFC 8200 §4, see the module
/// documentation) to its upper-layer header.
///
/// A first fragment (offset 0, M set) is walked on past its Fragment header, so `upper`
/// names the upper-layer protocol; RFC 8200 §4.5 requires the whole chain to be in it, and a
/// chain that runs past its end is [`Error::BadExtHeader`]. A later fragment stops at the
/// Fragment header.
///
/// Errors: those of [`Ipv6Packet::new_checked`]; [`Error::BadExtHeader`] for a header that
/// runs past the payload, a malformed option, a Hop-by-Hop header anywhere but first, or a
/// second Fragment header; [`Error::UnknownOption`]; [`Error::RoutingHeader`].
pub fn ipv6_chain(buf: &[u8]) -> Result<Ipv6Chain> {
    let packet = Ipv6Packet::new_checked(buf)?;
    let end = Ipv6Packet::<&[u8]>::HEADER_LEN.saturating_add(usize::from(packet.payload_len()));
    let buf = buf.get(..end).ok_or(Error::BadTotalLen)?;
    let mut next = packet.next_header();
    let mut at = Ipv6Packet::<&[u8]>::HEADER_LEN;
    let mut fragment: Option<FragmentAt> = None;
    loop {
        let rest = buf.get(at..).unwrap_or(&[]);
        let len = match next {
            IPPROTO_HOPOPTS | IPPROTO_DSTOPTS => {
                if next == IPPROTO_HOPOPTS && at != Ipv6Packet::<&[u8]>::HEADER_LEN {
                    return Err(Error::BadExtHeader); // §4.3: only directly after the fixed header
                }
                let h = ext_header(rest)?;
                options(h.get(2..).unwrap_or(&[]))?;
                h.len()
            }
            IPPROTO_ROUTING => {
                let h = ext_header(rest)?;
                // §4.4: Segments Left 0 — ignore the header; otherwise the packet is on its
                // way to another node, and a host does not forward.
                if h.get(3).copied().unwrap_or(0) != 0 {
                    return Err(Error::RoutingHeader);
                }
                h.len()
            }
            IPPROTO_FRAGMENT => {
                if fragment.is_some() {
                    return Err(Error::BadExtHeader); // nested fragmentation
                }
                let header = Ipv6FragHeader::parse(rest).map_err(|_| Error::BadExtHeader)?;
                if !header.is_atomic() {
                    fragment = Some(FragmentAt { header, at });
                    if header.offset != 0 {
                        let upper_at = at.saturating_add(Ipv6FragHeader::LEN);
                        return Ok(Ipv6Chain {
                            upper: header.next_header,
                            upper_at,
                            end,
                            fragment,
                        });
                    }
                }
                Ipv6FragHeader::LEN
            }
            upper => {
                return Ok(Ipv6Chain {
                    upper,
                    upper_at: at,
                    end,
                    fragment,
                })
            }
        };
        next = rest.first().copied().unwrap_or(IPPROTO_NONE);
        at = at.saturating_add(len);
    }
}

/// An options or routing header at the start of `rest`: (Hdr Ext Len + 1) · 8 bytes, all
/// of them present.
fn ext_header(rest: &[u8]) -> Result<&[u8]> {
    let units = usize::from(*rest.get(1).ok_or(Error::BadExtHeader)?);
    let len = units.saturating_add(1).saturating_mul(8);
    rest.get(..len).ok_or(Error::BadExtHeader)
}

/// The options of a Hop-by-Hop or Destination Options header (RFC 8200 §4.2).
fn options(mut opts: &[u8]) -> Result<()> {
    while let Some((&ty, rest)) = opts.split_first() {
        if ty == 0 {
            opts = rest; // Pad1
            continue;
        }
        let (&len, rest) = rest.split_first().ok_or(Error::BadExtHeader)?;
        let len = usize::from(len);
        if rest.len() < len {
            return Err(Error::BadExtHeader);
        }
        // PadN (1) is known; the two high bits of any other type say what to do with it.
        if ty != 1 && ty >> 6 != 0 {
            return Err(Error::UnknownOption);
        }
        opts = rest.get(len..).unwrap_or(&[]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed header (payload length filled in) followed by `ext`.
    fn packet(first: u8, ext: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(ext.len() as u16).to_be_bytes());
        p[6] = first;
        p[7] = 64;
        p.extend_from_slice(ext);
        p
    }

    #[test]
    fn plain_tcp_and_unknown_upper() {
        let c = ipv6_chain(&packet(6, &[0; 20])).unwrap();
        assert_eq!((c.upper, c.upper_at, c.end, c.fragment), (6, 40, 60, None));
        let c = ipv6_chain(&packet(IPPROTO_NONE, &[])).unwrap();
        assert_eq!((c.upper, c.upper_at), (59, 40));
        let c = ipv6_chain(&packet(51, &[0; 16])).unwrap(); // AH: not walked
        assert_eq!((c.upper, c.upper_at), (51, 40));
    }

    #[test]
    fn hop_by_hop_dest_opts_routing_then_tcp() {
        let mut ext = vec![IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0]; // HbH: PadN(4)
        ext.extend_from_slice(&[IPPROTO_ROUTING, 1, 0, 1, 0, 0, 0, 0]); // DstOpts 16 bytes
        ext.extend_from_slice(&[0x05, 2, 0, 0, 1, 2, 0, 0]); // router alert (skip), PadN
        ext.extend_from_slice(&[6, 0, 4, 0, 0, 0, 0, 0]); // Routing type 4, Segments Left 0
        ext.extend_from_slice(&[0; 20]);
        let c = ipv6_chain(&packet(IPPROTO_HOPOPTS, &ext)).unwrap();
        assert_eq!((c.upper, c.upper_at, c.fragment), (6, 40 + 32, None));
    }

    #[test]
    fn options_by_their_high_bits() {
        for (ty, ok) in [
            (0x1e, true),
            (0x3f, true),
            (0x40, false),
            (0x80, false),
            (0xc2, false),
        ] {
            let ext = [6, 0, ty, 2, 0, 0, 1, 0];
            let r = ipv6_chain(&packet(IPPROTO_DSTOPTS, &ext));
            assert_eq!(r.is_ok(), ok, "option type {ty:#x}");
            if !ok {
                assert_eq!(r.unwrap_err(), Error::UnknownOption);
            }
        }
        // Pad1 everywhere.
        assert!(ipv6_chain(&packet(IPPROTO_DSTOPTS, &[6, 0, 0, 0, 0, 0, 0, 0])).is_ok());
        // An option running past its header.
        let r = ipv6_chain(&packet(IPPROTO_DSTOPTS, &[6, 0, 1, 5, 0, 0, 0, 0]));
        assert_eq!(r.unwrap_err(), Error::BadExtHeader);
        let r = ipv6_chain(&packet(IPPROTO_DSTOPTS, &[6, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(r.unwrap_err(), Error::BadExtHeader);
    }

    #[test]
    fn malformed_chains() {
        // Hop-by-Hop after another header (§4.3).
        let ext = [IPPROTO_HOPOPTS, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
        let r = ipv6_chain(&packet(IPPROTO_DSTOPTS, &ext));
        assert_eq!(r.unwrap_err(), Error::BadExtHeader);
        // Header longer than the payload, or cut inside its first two bytes.
        let r = ipv6_chain(&packet(IPPROTO_DSTOPTS, &[6, 1, 1, 4, 0, 0, 0, 0]));
        assert_eq!(r.unwrap_err(), Error::BadExtHeader);
        let r = ipv6_chain(&packet(IPPROTO_DSTOPTS, &[6]));
        assert_eq!(r.unwrap_err(), Error::BadExtHeader);
        let r = ipv6_chain(&packet(IPPROTO_FRAGMENT, &[6, 0, 0, 0]));
        assert_eq!(r.unwrap_err(), Error::BadExtHeader);
        // Routing with segments left.
        let r = ipv6_chain(&packet(IPPROTO_ROUTING, &[6, 0, 4, 1, 0, 0, 0, 0]));
        assert_eq!(r.unwrap_err(), Error::RoutingHeader);
        // Two Fragment headers.
        let mut ext = vec![IPPROTO_FRAGMENT, 0, 0, 1, 0, 0, 0, 7];
        ext.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 7]);
        let r = ipv6_chain(&packet(IPPROTO_FRAGMENT, &ext));
        assert_eq!(r.unwrap_err(), Error::BadExtHeader);
        // The fixed header's own errors.
        assert_eq!(ipv6_chain(&[0x60; 39]).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn fragments() {
        let h = Ipv6FragHeader {
            next_header: 6,
            offset: 1448,
            more: true,
            ident: 0xdead_beef,
        };
        let mut b = [0xffu8; 8];
        h.emit(&mut b);
        assert_eq!(b, [6, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(Ipv6FragHeader::parse(&b).unwrap(), h);
        assert_eq!(Ipv6FragHeader::parse(&b[..7]), Err(Error::Truncated));
        // Reserved bits are ignored.
        let mut r = b;
        r[1] = 0xff;
        r[3] |= 0x06;
        assert_eq!(Ipv6FragHeader::parse(&r).unwrap(), h);

        // A later fragment stops at its header.
        let mut ext = b.to_vec();
        ext.extend_from_slice(&[0xaa; 16]);
        let c = ipv6_chain(&packet(IPPROTO_FRAGMENT, &ext)).unwrap();
        let at = FragmentAt { header: h, at: 40 };
        assert_eq!((c.upper, c.upper_at, c.fragment), (6, 48, Some(at)));

        // A first fragment is walked on to its upper-layer header.
        let first = Ipv6FragHeader {
            offset: 0,
            next_header: IPPROTO_DSTOPTS,
            ..h
        };
        let mut ext = vec![IPPROTO_FRAGMENT, 0, 1, 4, 0, 0, 0, 0]; // HbH
        let mut fh = [0u8; 8];
        first.emit(&mut fh);
        ext.extend_from_slice(&fh);
        ext.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]); // DstOpts
        ext.extend_from_slice(&[0; 8]);
        let c = ipv6_chain(&packet(IPPROTO_HOPOPTS, &ext)).unwrap();
        let at = FragmentAt {
            header: first,
            at: 48,
        };
        assert_eq!((c.upper, c.upper_at, c.fragment), (58, 64, Some(at)));
        // ... and must hold the whole chain (§4.5).
        let r = ipv6_chain(&packet(IPPROTO_HOPOPTS, &ext[..20]));
        assert_eq!(r.unwrap_err(), Error::BadExtHeader);

        // An atomic fragment is walked past and not reported (RFC 6946).
        let atomic = Ipv6FragHeader {
            offset: 0,
            more: false,
            ..h
        };
        atomic.emit(&mut fh);
        let mut ext = fh.to_vec();
        ext.extend_from_slice(&[0; 20]);
        let c = ipv6_chain(&packet(IPPROTO_FRAGMENT, &ext)).unwrap();
        assert_eq!((c.upper, c.upper_at, c.fragment), (6, 48, None));
    }

    #[test]
    fn never_panics_on_short_or_odd_input() {
        for first in [0u8, 43, 44, 60, 6] {
            for len in 0..40 {
                let ext: Vec<u8> = (0..len).map(|i| (i * 37 + 3) as u8).collect();
                let _ = ipv6_chain(&packet(first, &ext));
            }
        }
    }
}
