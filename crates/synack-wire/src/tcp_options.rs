//! TCP options: raw iteration ([`TcpOptionIter`]), the parsed meaning of a
//! segment's options ([`TcpOptions`]) and SACK blocks ([`SackBlocks`]).
//!
//! RFC 9293 requirements implemented here:
//! - MUST-4: receive options in any segment.
//! - MUST-5: support EOL, NOP and MSS.
//! - MUST-6: ignore (skip) options we do not implement, using their length.
//! - MUST-7: handle an illegal option length without crashing; we reject
//!   the segment with [`Error::BadOptionLen`].
//! - MUST-64: options may start at any byte; nothing here assumes alignment.
//! - MUST-68/69: the option area is padded with zeros (EOL) to a 32-bit
//!   boundary, and anything after EOL is ignored.

use crate::error::{Error, Result};

/// Maximum size of the TCP option area (data offset 15 * 4 - 20).
pub const MAX_OPTIONS_LEN: usize = 40;

mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Up to four SACK blocks, each a `(left, right)` pair of sequence numbers
/// (RFC 2018). Fixed capacity, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SackBlocks {
    len: u8,
    blocks: [(u32, u32); 4],
}

impl SackBlocks {
    /// Most blocks a SACK option can carry in 40 bytes of option space.
    pub const CAPACITY: usize = 4;

    /// An empty set.
    #[inline]
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a block; returns false (and changes nothing) if full.
    pub fn push(&mut self, left: u32, right: u32) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = (left, right);
                self.len = self.len.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// Number of blocks.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len).min(Self::CAPACITY)
    }

    /// True if there are no blocks.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The blocks as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[(u32, u32)] {
        self.blocks.get(..self.len()).unwrap_or(&[])
    }

    /// Iterate over the blocks.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.as_slice().iter().copied()
    }
}

/// One option as found on the wire, for tools that show raw options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: end of option list.
    EndOfList,
    /// Kind 1: no-operation (padding).
    NoOperation,
    /// Kind 2: maximum segment size.
    MaxSegmentSize(u16),
    /// Kind 3: window scale shift count (as received, not clamped).
    WindowScale(u8),
    /// Kind 4: SACK permitted.
    SackPermitted,
    /// Kind 5: SACK blocks.
    SackRange(SackBlocks),
    /// Kind 8: timestamps.
    Timestamps {
        /// Timestamp value.
        tsval: u32,
        /// Timestamp echo reply.
        tsecr: u32,
    },
    /// Any other kind, or a known kind with the wrong length (ignored, MUST-6).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data (after the kind and length bytes).
        data: &'a [u8],
    },
}

/// Iterator over the raw options in a TCP option area.
///
/// Yields `Ok(option)` for each option, stops after [`TcpOption::EndOfList`],
/// and yields `Err(Error::BadOptionLen)` once (then `None`) when an option
/// length is below 2 or runs past the end (MUST-7).
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    /// Iterate over `options` (the bytes between the fixed header and the
    /// data). No alignment is assumed (MUST-64).
    pub fn new(options: &'a [u8]) -> Self {
        TcpOptionIter { rest: options }
    }
}

fn be16(data: &[u8]) -> Option<u16> {
    match data {
        &[a, b] => Some(u16::from_be_bytes([a, b])),
        _ => None,
    }
}

fn be32(data: &[u8]) -> Option<u32> {
    match data {
        &[a, b, c, d] => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    }
}

/// Interpret a TLV option; a known kind with an unexpected length becomes
/// `Unknown` so it is ignored rather than trusted.
fn decode(kind: u8, data: &[u8]) -> TcpOption<'_> {
    let known = match kind {
        kind::MSS => be16(data).map(TcpOption::MaxSegmentSize),
        kind::WINDOW_SCALE => match data {
            &[shift] => Some(TcpOption::WindowScale(shift)),
            _ => None,
        },
        kind::SACK_PERMITTED if data.is_empty() => Some(TcpOption::SackPermitted),
        kind::SACK => decode_sack(data).map(TcpOption::SackRange),
        kind::TIMESTAMPS if data.len() == 8 => {
            let (a, b) = data.split_at(4);
            match (be32(a), be32(b)) {
                (Some(tsval), Some(tsecr)) => Some(TcpOption::Timestamps { tsval, tsecr }),
                _ => None,
            }
        }
        _ => None,
    };
    known.unwrap_or(TcpOption::Unknown { kind, data })
}

fn decode_sack(data: &[u8]) -> Option<SackBlocks> {
    let chunks = data.chunks_exact(8);
    if data.is_empty() || !chunks.remainder().is_empty() || chunks.len() > SackBlocks::CAPACITY {
        return None;
    }
    let mut blocks = SackBlocks::new();
    for block in chunks {
        let (l, r) = block.split_at(4);
        blocks.push(be32(l)?, be32(r)?);
    }
    Some(blocks)
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let (&kind, after_kind) = rest.split_first()?;
        match kind {
            kind::EOL => {
                // MUST-69: bytes after EOL are padding and are ignored.
                self.rest = &[];
                Some(Ok(TcpOption::EndOfList))
            }
            kind::NOP => {
                self.rest = after_kind;
                Some(Ok(TcpOption::NoOperation))
            }
            _ => {
                let len = after_kind.first().map(|&l| usize::from(l));
                match len {
                    Some(len) if len >= 2 && len <= rest.len() => {
                        let (opt, tail) = rest.split_at(len);
                        self.rest = tail;
                        let data = opt.get(2..).unwrap_or(&[]);
                        Some(Ok(decode(kind, data)))
                    }
                    _ => {
                        // MUST-7: bad length; report once, then stop.
                        self.rest = &[];
                        Some(Err(Error::BadOptionLen))
                    }
                }
            }
        }
    }
}

/// The parsed meaning of a segment's options (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpOptions {
    /// Maximum segment size (only meaningful on SYN, MUST-65; the emitter
    /// writes whatever it is given).
    pub mss: Option<u16>,
    /// Window scale shift as received (the caller clamps to 14).
    pub window_scale: Option<u8>,
    /// SACK permitted (SYN only).
    pub sack_permitted: bool,
    /// SACK blocks.
    pub sack_blocks: SackBlocks,
    /// Timestamps `(tsval, tsecr)`.
    pub timestamps: Option<(u32, u32)>,
}

/// A bounds-checked cursor over a fixed option buffer.
struct Writer {
    buf: [u8; MAX_OPTIONS_LEN],
    pos: usize,
}

impl Writer {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
            self.pos = end;
        }
    }
}

impl TcpOptions {
    /// Parse an option area. Unknown options are skipped (MUST-6); a bad
    /// length is an error (MUST-7). Later duplicates override earlier ones.
    #[inline(always)]
    pub fn parse(options: &[u8]) -> Result<TcpOptions> {
        // The layout nearly every segment of a timestamped connection carries (RFC 7323
        // Appendix A, and what Linux and synack send): NOP NOP TS, read in one step.
        if let Some(ts) = Self::nop_nop_timestamps(options) {
            return Ok(TcpOptions {
                timestamps: Some(ts),
                ..TcpOptions::default()
            });
        }
        if options.is_empty() {
            return Ok(TcpOptions::default());
        }
        Self::parse_any(options)
    }

    /// [`TcpOptions::parse`] of any layout, in one pass straight into the result (what
    /// [`TcpOptionIter`] yields, without its items). Out of line: SYNs and SACKs take it.
    #[inline(never)]
    fn parse_any(options: &[u8]) -> Result<TcpOptions> {
        // What Linux and synack put on a SYN (and synack on a SYN-ACK): MSS, SACK-permitted,
        // timestamps, NOP, window scale, read in one step.
        if let &[kind::MSS, 4, m0, m1, kind::SACK_PERMITTED, 2, kind::TIMESTAMPS, 10, a, b, c, d, e, f, g, h, kind::NOP, kind::WINDOW_SCALE, 3, shift] =
            options
        {
            return Ok(TcpOptions {
                mss: Some(u16::from_be_bytes([m0, m1])),
                window_scale: Some(shift),
                sack_permitted: true,
                sack_blocks: SackBlocks::new(),
                timestamps: Some((
                    u32::from_be_bytes([a, b, c, d]),
                    u32::from_be_bytes([e, f, g, h]),
                )),
            });
        }
        let mut out = TcpOptions::default();
        let mut rest = options;
        while let Some((&kind, after_kind)) = rest.split_first() {
            match kind {
                // MUST-69: bytes after EOL are padding and are ignored.
                kind::EOL => break,
                kind::NOP => {
                    rest = after_kind;
                    continue;
                }
                _ => {}
            }
            // MUST-7: a length below 2 or past the end rejects the segment.
            let len = match after_kind.first() {
                Some(&len) if len >= 2 => usize::from(len),
                _ => return Err(Error::BadOptionLen),
            };
            let Some((opt, tail)) = rest.split_at_checked(len) else {
                return Err(Error::BadOptionLen);
            };
            rest = tail;
            // A known kind with an unexpected length is ignored, as an unknown one (MUST-6).
            match (kind, opt) {
                (kind::MSS, &[_, _, a, b]) => out.mss = Some(u16::from_be_bytes([a, b])),
                (kind::WINDOW_SCALE, &[_, _, shift]) => out.window_scale = Some(shift),
                (kind::SACK_PERMITTED, &[_, _]) => out.sack_permitted = true,
                (kind::TIMESTAMPS, &[_, _, a, b, c, d, e, f, g, h]) => {
                    out.timestamps = Some((
                        u32::from_be_bytes([a, b, c, d]),
                        u32::from_be_bytes([e, f, g, h]),
                    ));
                }
                (kind::SACK, _) => {
                    if let Some(blocks) = opt.get(2..).and_then(decode_sack) {
                        out.sack_blocks = blocks;
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    #[inline(always)]
    fn nop_nop_timestamps(options: &[u8]) -> Option<(u32, u32)> {
        match *options {
            [kind::NOP, kind::NOP, kind::TIMESTAMPS, 10, a, b, c, d, e, f, g, h] => Some((
                u32::from_be_bytes([a, b, c, d]),
                u32::from_be_bytes([e, f, g, h]),
            )),
            _ => None,
        }
    }

    /// True if no option is set.
    pub fn is_empty(&self) -> bool {
        self.buffer_len() == 0
    }

    /// Lay the options out Linux-style into a 40-byte scratch buffer.
    fn layout(&self) -> Writer {
        let mut w = Writer {
            buf: [0; MAX_OPTIONS_LEN],
            pos: 0,
        };
        if let Some(mss) = self.mss {
            let [a, b] = mss.to_be_bytes();
            w.put(&[kind::MSS, 4, a, b]);
        }
        match (self.sack_permitted, self.timestamps) {
            (true, Some(ts)) => {
                w.put(&[kind::SACK_PERMITTED, 2]);
                put_timestamps(&mut w, ts);
            }
            (false, Some(ts)) => {
                w.put(&[kind::NOP, kind::NOP]);
                put_timestamps(&mut w, ts);
            }
            (true, None) => w.put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (false, None) => {}
        }
        if let Some(shift) = self.window_scale {
            w.put(&[kind::NOP, kind::WINDOW_SCALE, 3, shift]);
        }
        if !self.sack_blocks.is_empty() {
            // NOP NOP kind len = 4 bytes, then 8 per block, within 40 bytes.
            let room = MAX_OPTIONS_LEN.saturating_sub(w.pos).saturating_sub(4) / 8;
            let n = self.sack_blocks.len().min(room);
            if n > 0 {
                // n <= 4, so 2 + 8n <= 34 fits in a byte.
                let len = u8::try_from(n.saturating_mul(8).saturating_add(2)).unwrap_or(u8::MAX);
                w.put(&[kind::NOP, kind::NOP, kind::SACK, len]);
                for (l, r) in self.sack_blocks.iter().take(n) {
                    w.put(&l.to_be_bytes());
                    w.put(&r.to_be_bytes());
                }
            }
        }
        // MUST-69: pad to a 32-bit boundary with zeros (EOL). The scratch
        // buffer is zeroed, so rounding up the length is enough.
        w.pos = w.pos.saturating_add(3) & !3;
        w.pos = w.pos.min(MAX_OPTIONS_LEN);
        w
    }

    /// Bytes [`TcpOptions::emit`] writes: a multiple of 4, at most 40. Computed from the
    /// sizes alone (it is asked several times per segment); it matches `layout` exactly.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        if self.timestamps_only().is_some() {
            return 12; // NOP NOP TS: most segments
        }
        let mss: usize = if self.mss.is_some() { 4 } else { 0 };
        let ts_sack = match (self.sack_permitted, self.timestamps.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        let ws = if self.window_scale.is_some() { 4 } else { 0 };
        // At most 20, a multiple of 4: the SACK blocks that fit follow.
        let pos: usize = mss.wrapping_add(ts_sack).wrapping_add(ws);
        let room = MAX_OPTIONS_LEN.wrapping_sub(4).wrapping_sub(pos) / 8;
        let n = self.sack_blocks.len().min(room); // at most 4
        let sack = if n > 0 {
            n.wrapping_mul(8).wrapping_add(4)
        } else {
            0
        };
        pos.wrapping_add(sack)
    }

    /// The timestamps, if they are the only option set: the block most segments carry.
    #[inline(always)]
    pub(crate) fn timestamps_only(&self) -> Option<(u32, u32)> {
        match *self {
            TcpOptions {
                mss: None,
                window_scale: None,
                sack_permitted: false,
                sack_blocks,
                timestamps: Some(ts),
            } if sack_blocks.is_empty() => Some(ts),
            _ => None,
        }
    }

    /// Write the options into `buf` and return the number of bytes written.
    ///
    /// Layout follows Linux: MSS; then SACK-permitted + timestamps
    /// (or NOP NOP TS, or NOP NOP SACK-permitted); then NOP + window scale;
    /// then NOP NOP SACK with as many blocks as fit in 40 bytes; padded with
    /// zeros to a multiple of 4 (MUST-68/69). `buf` should be at least
    /// [`TcpOptions::buffer_len`] bytes; if it is shorter, only what fits is
    /// written and that shorter count is returned.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        self.emit_and_sum(buf).0
    }

    /// [`TcpOptions::emit`], also returning the one's complement sum of the bytes written
    /// (what [`checksum::sum`](crate::checksum::sum) of them gives, unfolded). For the
    /// timestamps-only block most segments carry, the sum comes from the values: reading
    /// back bytes just stored at other widths stalls on store forwarding.
    #[inline(always)]
    pub fn emit_and_sum(&self, buf: &mut [u8]) -> (usize, u32) {
        // Timestamps alone (most segments): NOP NOP TS, written in place.
        if let (Some(ts), Some(dst)) = (self.timestamps_only(), buf.first_chunk_mut::<12>()) {
            let sum = crate::checksum::finish(Self::write_timestamps(dst, ts));
            return (12, u32::from(!sum));
        }
        self.emit_and_sum_laid_out(buf)
    }

    /// NOP NOP TS (RFC 7323 Appendix A) into `dst`; returns the running sum of the words
    /// (see `checksum::add_words`).
    #[inline(always)]
    pub(crate) fn write_timestamps(dst: &mut [u8; 12], (tsval, tsecr): (u32, u32)) -> u64 {
        let head = u32::from_be_bytes([kind::NOP, kind::NOP, kind::TIMESTAMPS, 10]);
        let [a, b, c, d] = head.to_be_bytes();
        let [e, f, g, h] = tsval.to_be_bytes();
        let [i, j, k, l] = tsecr.to_be_bytes();
        *dst = [a, b, c, d, e, f, g, h, i, j, k, l];
        crate::checksum::add_words(0, &[head, tsval, tsecr])
    }

    /// [`TcpOptions::emit_and_sum`] of any other set of options (SYNs, SACK blocks): laid
    /// out in a scratch buffer, copied and summed. Out of line: the per-segment path stays
    /// short.
    #[inline(never)]
    pub(crate) fn emit_and_sum_laid_out(&self, buf: &mut [u8]) -> (usize, u32) {
        // A SYN's full set (synack's SYN and SYN-ACK): MSS, SACK-permitted, timestamps, NOP,
        // window scale, as `layout` lays them out, stored and summed from the values.
        if let (Some(mss), Some(shift), true, Some((tsval, tsecr)), true, Some(dst)) = (
            self.mss,
            self.window_scale,
            self.sack_permitted,
            self.timestamps,
            self.sack_blocks.is_empty(),
            buf.first_chunk_mut::<20>(),
        ) {
            let [m0, m1] = mss.to_be_bytes();
            let words = [
                u32::from_be_bytes([kind::MSS, 4, m0, m1]),
                u32::from_be_bytes([kind::SACK_PERMITTED, 2, kind::TIMESTAMPS, 10]),
                tsval,
                tsecr,
                u32::from_be_bytes([kind::NOP, kind::WINDOW_SCALE, 3, shift]),
            ];
            *dst = crate::checksum::be_words(words);
            let sum = !crate::checksum::finish(crate::checksum::add_words(0, &words));
            return (20, u32::from(sum));
        }
        let w = self.layout();
        let n = w.pos.min(buf.len());
        match (buf.get_mut(..n), w.buf.get(..n)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                (n, crate::checksum::sum_short_words(src))
            }
            _ => (0, 0),
        }
    }
}

fn put_timestamps(w: &mut Writer, (tsval, tsecr): (u32, u32)) {
    w.put(&[kind::TIMESTAMPS, 10]);
    w.put(&tsval.to_be_bytes());
    w.put(&tsecr.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast paths (NOP NOP TS read and written in one step) agree with the general ones.
    #[test]
    fn the_timestamp_fast_paths_match_the_general_code() {
        let o = TcpOptions {
            timestamps: Some((0x0102_0304, 0xa0b0_c0d0)),
            ..TcpOptions::default()
        };
        let mut fast = [0u8; 12];
        assert_eq!(o.emit(&mut fast), 12);
        assert_eq!(fast[..], o.layout().buf[..12]);
        assert_eq!(TcpOptions::parse(&fast).unwrap(), o);
        let mut general = TcpOptions::default();
        for opt in TcpOptionIter::new(&fast) {
            if let TcpOption::Timestamps { tsval, tsecr } = opt.unwrap() {
                general.timestamps = Some((tsval, tsecr));
            }
        }
        assert_eq!(general, o);
        // A buffer too short for the fast path still gets what fits.
        let mut short = [0u8; 8];
        assert_eq!(o.emit(&mut short), 8);
        assert_eq!(short[..], fast[..8]);
    }

    /// The SYN fast paths (MSS, SACK-permitted, timestamps, NOP, window scale, written and
    /// read in one step) agree with the general layout and the option iterator.
    #[test]
    fn the_syn_fast_paths_match_the_general_code() {
        let o = TcpOptions {
            mss: Some(0x05b4),
            window_scale: Some(14),
            sack_permitted: true,
            timestamps: Some((0x0102_0304, 0xa0b0_c0d0)),
            ..TcpOptions::default()
        };
        let mut fast = [0u8; 20];
        let (n, sum) = o.emit_and_sum(&mut fast);
        assert_eq!(n, 20);
        assert_eq!(fast[..], o.layout().buf[..20]);
        assert_eq!(
            crate::checksum::combine(&[sum]),
            crate::checksum::combine(&[crate::checksum::sum(&fast)])
        );
        assert_eq!(TcpOptions::parse(&fast).unwrap(), o);
        let mut general = TcpOptions::default();
        for opt in TcpOptionIter::new(&fast) {
            match opt.unwrap() {
                TcpOption::MaxSegmentSize(v) => general.mss = Some(v),
                TcpOption::WindowScale(v) => general.window_scale = Some(v),
                TcpOption::SackPermitted => general.sack_permitted = true,
                TcpOption::Timestamps { tsval, tsecr } => general.timestamps = Some((tsval, tsecr)),
                _ => {}
            }
        }
        assert_eq!(general, o);
        // With a SACK block as well the general layout is taken, and too short a buffer
        // gets what fits.
        let mut with_sack = o;
        with_sack.sack_blocks.push(1, 2);
        let mut buf = [0u8; 40];
        assert_eq!(with_sack.emit(&mut buf), with_sack.buffer_len());
        assert_eq!(
            TcpOptions::parse(&buf[..with_sack.buffer_len()]).unwrap(),
            with_sack
        );
        let mut short = [0u8; 19];
        assert_eq!(o.emit(&mut short), 19);
        assert_eq!(short[..], fast[..19]);
    }

    /// `buffer_len` is arithmetic; `layout` writes. Every combination must agree.
    #[test]
    fn buffer_len_matches_the_layout_for_every_combination() {
        for bits in 0..16u8 {
            for blocks in 0..=4u32 {
                let mut o = TcpOptions {
                    mss: (bits & 1 != 0).then_some(1460),
                    window_scale: (bits & 2 != 0).then_some(7),
                    sack_permitted: bits & 4 != 0,
                    timestamps: (bits & 8 != 0).then_some((1, 2)),
                    ..TcpOptions::default()
                };
                for b in 0..blocks {
                    o.sack_blocks.push(b * 100, b * 100 + 50);
                }
                assert_eq!(o.buffer_len(), o.layout().pos, "{o:?}");
            }
        }
    }

    fn emit_vec(o: &TcpOptions) -> Vec<u8> {
        let mut buf = vec![0xaa; o.buffer_len()];
        assert_eq!(o.emit(&mut buf), buf.len());
        buf
    }

    #[test]
    fn syn_layout_linux() {
        let o = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((0x01020304, 0)),
            ..Default::default()
        };
        let bytes = emit_vec(&o);
        assert_eq!(
            bytes,
            [
                0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 1, 2, 3, 4, 0, 0, 0, 0, 0x01, 0x03,
                0x03, 0x07
            ]
        );
        assert_eq!(TcpOptions::parse(&bytes).unwrap(), o);
    }

    #[test]
    fn ts_only_and_sackp_only() {
        let o = TcpOptions {
            timestamps: Some((7, 9)),
            ..Default::default()
        };
        assert_eq!(emit_vec(&o), [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]);
        let o = TcpOptions {
            sack_permitted: true,
            ..Default::default()
        };
        assert_eq!(emit_vec(&o), [1, 1, 4, 2]);
        assert!(TcpOptions::default().is_empty());
        assert_eq!(TcpOptions::default().buffer_len(), 0);
    }

    #[test]
    fn sack_blocks_fit_budget() {
        let mut blocks = SackBlocks::new();
        for i in 0..4u32 {
            assert!(blocks.push(i * 100, i * 100 + 50));
        }
        assert!(!blocks.push(1, 2));
        assert_eq!(blocks.len(), 4);
        // No other options: all 4 blocks (4 + 32 = 36 bytes).
        let o = TcpOptions {
            sack_blocks: blocks,
            ..Default::default()
        };
        let bytes = emit_vec(&o);
        assert_eq!(bytes.len(), 36);
        assert_eq!(&bytes[..4], &[1, 1, 5, 34]);
        assert_eq!(TcpOptions::parse(&bytes).unwrap(), o);
        // With timestamps: 12 + 4 + 3*8 = 40.
        let o = TcpOptions {
            sack_blocks: blocks,
            timestamps: Some((1, 2)),
            ..Default::default()
        };
        let bytes = emit_vec(&o);
        assert_eq!(bytes.len(), 40);
        let parsed = TcpOptions::parse(&bytes).unwrap();
        assert_eq!(parsed.sack_blocks.as_slice(), &blocks.as_slice()[..3]);
        // With everything: 20 bytes used, 2 blocks fit.
        let o = TcpOptions {
            mss: Some(536),
            window_scale: Some(2),
            sack_permitted: true,
            sack_blocks: blocks,
            timestamps: Some((1, 2)),
        };
        let parsed = TcpOptions::parse(&emit_vec(&o)).unwrap();
        assert_eq!(parsed.sack_blocks.len(), 2);
        assert_eq!(o.buffer_len(), 40);
    }

    #[test]
    fn unaligned_mss_after_single_nop() {
        // MUST-64: NOP then MSS at offset 1.
        let opts = [1, 2, 4, 0x02, 0x18, 0, 0, 0];
        let o = TcpOptions::parse(&opts).unwrap();
        assert_eq!(o.mss, Some(536));
    }

    #[test]
    fn unknown_skipped() {
        // MUST-6: kind 99 len 5 then WS.
        let opts = [99, 5, 0xde, 0xad, 0xbe, 3, 3, 9];
        let items: Vec<_> = TcpOptionIter::new(&opts).collect();
        assert_eq!(
            items,
            vec![
                Ok(TcpOption::Unknown {
                    kind: 99,
                    data: &[0xde, 0xad, 0xbe]
                }),
                Ok(TcpOption::WindowScale(9)),
            ]
        );
        assert_eq!(TcpOptions::parse(&opts).unwrap().window_scale, Some(9));
    }

    #[test]
    fn known_kind_with_wrong_length_is_unknown() {
        let opts = [2, 3, 5, 8, 2, 1, 0];
        let mut it = TcpOptionIter::new(&opts);
        assert_eq!(
            it.next(),
            Some(Ok(TcpOption::Unknown {
                kind: 2,
                data: &[5]
            }))
        );
        assert_eq!(TcpOptions::parse(&opts).unwrap().mss, None);
        // Empty SACK option is also treated as unknown.
        assert_eq!(TcpOptions::parse(&[5, 2]).unwrap().sack_blocks.len(), 0);
    }

    #[test]
    fn eol_stops_parsing() {
        // MUST-69: bytes after EOL are ignored, even garbage.
        let opts = [2, 4, 1, 0, 0, 2, 0, 0xff];
        let items: Vec<_> = TcpOptionIter::new(&opts).collect();
        assert_eq!(
            items,
            vec![Ok(TcpOption::MaxSegmentSize(256)), Ok(TcpOption::EndOfList)]
        );
        assert_eq!(TcpOptions::parse(&opts).unwrap().mss, Some(256));
    }

    #[test]
    fn bad_lengths() {
        // MUST-7: len 0, len 1, missing len, len past end.
        for opts in [&[2u8, 0, 0, 0][..], &[3, 1, 0], &[1, 1, 8], &[8, 10, 0, 0]] {
            assert_eq!(
                TcpOptions::parse(opts),
                Err(Error::BadOptionLen),
                "{opts:?}"
            );
            let mut it = TcpOptionIter::new(opts);
            let mut errs = 0;
            for item in &mut it {
                if item.is_err() {
                    errs += 1;
                }
            }
            assert_eq!(errs, 1);
            assert_eq!(it.next(), None);
        }
    }

    #[test]
    fn emit_into_short_buffer_does_not_panic() {
        let o = TcpOptions {
            mss: Some(1),
            timestamps: Some((1, 1)),
            ..Default::default()
        };
        let mut small = [0u8; 5];
        assert_eq!(o.emit(&mut small), 5);
        assert_eq!(&small[..4], &[2, 4, 0, 1]);
    }
}
