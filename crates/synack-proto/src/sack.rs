//! SACK sender scoreboard: RFC 2018 (SACK), RFC 2883 (D-SACK) and RFC 6675 (SACK-based loss
//! recovery: `IsLost`, `SetPipe`, `NextSeg`).
//!
//! The scoreboard remembers which octets above SND.UNA the receiver has selectively
//! acknowledged, as sorted, disjoint, non-adjacent half-open ranges `[left, right)`, plus the
//! two recovery markers of RFC 6675 §2: HighRxt and RescueRxt. SACKed data is only *marked*;
//! the send buffer keeps it until it is cumulatively acknowledged, because the receiver may
//! renege (RFC 2018 §8).
//!
//! Conventions: HighRxt and RescueRxt are stored as one past the octet the RFC names (an
//! exclusive end), so "octet `s` has been retransmitted" is `s < high_rxt`. All comparisons go
//! through [`SeqNum`] (modulo 2^32, RFC 9293 §3.4); edges that come off the wire are turned
//! into signed offsets from SND.UNA before they are trusted.
#![allow(dead_code)]

use crate::seq::{merge_range, ranges_touching, SeqNum};

/// Maximum number of SACKed ranges kept (8 bytes each); beyond it the range nearest the right
/// edge is dropped (bounded memory and work against a hostile peer). A window of losses can
/// leave hundreds of holes: at 32, ranges the receiver reported once were forgotten and their
/// data sent again (see `a_recovery_from_hundreds_of_holes_resends_only_what_was_dropped`).
pub(crate) const MAX_RANGES: usize = 1024;
/// RFC 6675 §2 DupThresh.
pub(crate) const DUP_THRESH: u32 = 3;

/// RFC 6675 sender scoreboard: which octets above SND.UNA the receiver has SACKed, and what
/// has been retransmitted in this recovery.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scoreboard {
    /// Sorted, non-overlapping, non-adjacent `[left, right)`, all `>= una`, at most
    /// [`MAX_RANGES`].
    ranges: Vec<(SeqNum, SeqNum)>,
    /// RFC 6675 HighRxt + 1: every octet below it was retransmitted in this recovery.
    high_rxt: Option<SeqNum>,
    /// RFC 6675 RescueRxt + 1: end of the rescue retransmission of this recovery (rule 4).
    rescue_rxt: Option<SeqNum>,
    /// The last SND.UNA we were told about (used to tell a rescue from a regular retransmission).
    una: Option<SeqNum>,
}

/// Signed distance from `base` to `x`, in `[-2^31, 2^31)`.
fn offset(x: SeqNum, base: SeqNum) -> i64 {
    i64::from((x - base) as i32)
}

impl Scoreboard {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Apply the SACK blocks of an incoming ACK (RFC 2018 §4, §5).
    ///
    /// Blocks are `(left, right)` edges from the wire. Empty or inverted blocks and blocks
    /// at or below `snd_una` or at or beyond `snd_max` are ignored; blocks that straddle either
    /// edge are clipped to `[snd_una, snd_max)`. Returns the number of octets newly SACKed and
    /// whether the first block is a D-SACK (RFC 2883 §4): it starts below SND.UNA or ends at
    /// or below this segment's own cumulative ACK `ack` (the duplicate and the ACK that moves
    /// SND.UNA past it come in one segment), lies inside the second block, or lies strictly
    /// inside a range already SACKed.
    pub(crate) fn on_ack(
        &mut self,
        snd_una: SeqNum,
        ack: SeqNum,
        snd_max: SeqNum,
        blocks: &[(u32, u32)],
    ) -> (u32, bool) {
        self.advance(snd_una);
        let before = self.sacked_bytes();
        let dsack = blocks
            .first()
            .is_some_and(|&first| self.is_dsack(snd_una, ack, first, blocks.get(1).copied()));
        let window = offset(snd_max, snd_una).max(0);
        for &(left, right) in blocks {
            let lo = offset(SeqNum(left), snd_una);
            let hi = offset(SeqNum(right), snd_una);
            if hi <= lo {
                continue; // empty or inverted (RFC 2018 §3: right edge is one past the block)
            }
            let (lo, hi) = (lo.max(0), hi.min(window));
            if lo < hi {
                // Both offsets are in [0, window], window < 2^31: the casts are exact.
                self.insert(snd_una + lo as u32, snd_una + hi as u32);
            }
        }
        (self.sacked_bytes().saturating_sub(before), dsack)
    }

    /// RFC 2883 §4: how the sender recognises a D-SACK block (only ever the first block).
    fn is_dsack(
        &self,
        snd_una: SeqNum,
        ack: SeqNum,
        first: (u32, u32),
        second: Option<(u32, u32)>,
    ) -> bool {
        let lo = offset(SeqNum(first.0), snd_una);
        let hi = offset(SeqNum(first.1), snd_una);
        if hi <= lo {
            return false;
        }
        // §4 (a): a normal SACK block never starts below the cumulative ACK — neither
        // SND.UNA, nor the ACK field of the segment that carries it.
        if lo < 0 || offset(SeqNum(first.1), ack) <= 0 {
            return true;
        }
        let (left, right) = (SeqNum(first.0), SeqNum(first.1));
        // Part of a range we already knew was received. Not an exact repeat of a whole range:
        // that is what every ACK repeating its SACK blocks (a window update, say) looks like.
        let inside = |&(l, r): &(SeqNum, SeqNum)| l <= left && right <= r;
        if self
            .ranges
            .iter()
            .any(|&range| inside(&range) && range != (left, right))
        {
            return true;
        }
        // §4 (b): the first block is covered by the second one.
        second.is_some_and(|(l2, r2)| {
            let (lo2, hi2) = (offset(SeqNum(l2), snd_una), offset(SeqNum(r2), snd_una));
            lo2 < hi2 && lo2 <= lo && hi <= hi2
        })
    }

    /// Merge `[lo, hi)` (already clipped, non-empty) into the ranges, then enforce
    /// [`MAX_RANGES`] by dropping the highest ranges.
    fn insert(&mut self, lo: SeqNum, hi: SeqNum) {
        let span = ranges_touching(&self.ranges, lo, hi);
        merge_range(&mut self.ranges, span, lo, hi);
        self.ranges.truncate(MAX_RANGES);
    }

    /// Forget everything below the new cumulative ACK (RFC 6675 §5: HighACK moved).
    pub(crate) fn advance(&mut self, snd_una: SeqNum) {
        self.una = Some(snd_una);
        self.ranges.retain(|&(_, r)| r > snd_una);
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(snd_una);
        }
        // Markers at or below SND.UNA carry no information any more.
        if self.high_rxt.is_some_and(|h| h <= snd_una) {
            self.high_rxt = None;
        }
        if self.rescue_rxt.is_some_and(|h| h <= snd_una) {
            self.rescue_rxt = None;
        }
    }

    /// Clear all SACK state (after an RTO: the receiver may have reneged, RFC 2018 §8,
    /// RFC 6675 §5.1).
    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
        self.high_rxt = None;
        self.rescue_rxt = None;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub(crate) fn is_sacked(&self, seq: SeqNum) -> bool {
        self.ranges.iter().any(|&(l, r)| seq.in_range(l, r))
    }

    /// Total SACKed bytes above snd_una.
    pub(crate) fn sacked_bytes(&self) -> u32 {
        self.ranges.iter().map(|&(l, r)| r - l).sum()
    }

    /// The highest SACKed sequence number + 1 (RFC 6675 HighSACK + 1), if any.
    pub(crate) fn high_sacked(&self) -> Option<SeqNum> {
        self.ranges.last().map(|&(_, r)| r)
    }

    /// RFC 6675 §4 IsLost(seq): true if DupThresh discontiguous SACKed ranges lie above `seq`,
    /// or more than (DupThresh - 1) * SMSS octets above `seq` have been SACKed.
    pub(crate) fn is_lost(&self, seq: SeqNum, mss: u32) -> bool {
        let above = seq + 1u32;
        let (mut count, mut bytes) = (0u32, 0u64);
        for &(l, r) in &self.ranges {
            let start = l.max(above);
            if start < r {
                count += 1;
                bytes += u64::from(r - start);
            }
        }
        Self::lost(count, bytes, mss)
    }

    /// The two IsLost conditions, given what is SACKed above an octet.
    fn lost(count: u32, bytes: u64, mss: u32) -> bool {
        count >= DUP_THRESH || bytes > u64::from(DUP_THRESH - 1) * u64::from(mss)
    }

    /// RFC 6675 §4 SetPipe: octets in flight according to the scoreboard between `snd_una`
    /// and `snd_max`. Each octet not SACKed counts once if not IsLost, and once more if it
    /// was retransmitted (at or below HighRxt). IsLost is the same for every octet of a hole
    /// (the SACKed octets above them are the same), so the sum is taken hole by hole, from
    /// the right edge down.
    pub(crate) fn pipe(&self, snd_una: SeqNum, snd_max: SeqNum, mss: u32) -> u32 {
        let (mut pipe, mut count, mut bytes) = (0u64, 0u32, 0u64);
        let mut hole_end = snd_max;
        for &(l, r) in self.ranges.iter().rev() {
            let (l, r) = (l.max(snd_una), r.min(hole_end));
            if l >= r {
                continue;
            }
            pipe += self.hole_pipe(r, hole_end, Self::lost(count, bytes, mss));
            count += 1;
            bytes += u64::from(r - l);
            hole_end = l;
        }
        pipe += self.hole_pipe(snd_una, hole_end, Self::lost(count, bytes, mss));
        u32::try_from(pipe).unwrap_or(u32::MAX)
    }

    /// SetPipe's contribution of the unSACKed octets `[a, b)`.
    fn hole_pipe(&self, a: SeqNum, b: SeqNum, lost: bool) -> u64 {
        if a >= b {
            return 0;
        }
        let mut n = if lost { 0 } else { u64::from(b - a) };
        if let Some(h) = self.high_rxt.filter(|&h| h > a) {
            n += u64::from(h.min(b) - a);
        }
        n
    }

    /// Whether loss recovery should start: RFC 6675 §5 (b): IsLost(snd_una) — the caller also
    /// counts DupThresh duplicate ACKs itself.
    pub(crate) fn loss_detected(&self, snd_una: SeqNum, mss: u32) -> bool {
        self.is_lost(snd_una, mss)
    }

    /// The first unSACKed hole at or above `from` that lies below HighSACK, clipped to start
    /// at `from`: the candidates of NextSeg rules 1 and 3 (criteria 1.a and 1.b).
    fn first_hole_from(&self, from: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut cursor = from;
        for &(l, r) in &self.ranges {
            if r <= cursor {
                continue;
            }
            if l > cursor {
                return Some((cursor, l));
            }
            cursor = r;
        }
        None
    }

    /// Where rules 1 and 3 may start looking: above HighRxt and SND.UNA (criterion 1.a).
    fn frontier(&self, snd_una: SeqNum) -> SeqNum {
        self.high_rxt.map_or(snd_una, |h| h.max(snd_una))
    }

    /// RFC 6675 §4 NextSeg(): the next range to send during recovery, as
    /// `(seq, len, is_retransmission)` with `len <= mss`.
    ///
    /// 1. The first unSACKed octet above HighRxt and below HighSACK, if IsLost: one segment
    ///    of it (up to the next SACKed range).
    /// 2. Otherwise new data at `snd_nxt`, if `data_end` says there is some and `send_limit`
    ///    (the highest sequence the receive window allows) permits.
    /// 3. Otherwise the unSACKed octet of rule 1 even though it is not IsLost.
    /// 4. Otherwise, once per recovery (RescueRxt), a rescue retransmission of the last
    ///    segment below `snd_nxt`, if that data lies above HighSACK and HighRxt (tail loss,
    ///    which no SACK can ever reveal).
    ///
    /// For every `is_retransmission` result the caller calls [`Self::mark_retransmitted`].
    pub(crate) fn next_seg(
        &self,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        data_end: SeqNum,
        send_limit: SeqNum,
        mss: u32,
    ) -> Option<(SeqNum, u32, bool)> {
        if mss == 0 {
            return None;
        }
        let frontier = self.frontier(snd_una);
        let hole = self
            .first_hole_from(frontier)
            .map(|(s, e)| (s, (e - s).min(mss)));
        // Rule 1: lost data first.
        if let Some((s, len)) = hole.filter(|&(s, _)| self.is_lost(s, mss)) {
            return Some((s, len, true));
        }
        // Rule 2: new data, as far as the buffer and the receiver's window allow.
        if snd_nxt < data_end && snd_nxt < send_limit {
            let len = (data_end - snd_nxt).min(send_limit - snd_nxt).min(mss);
            return Some((snd_nxt, len, false));
        }
        // Rule 3: an unSACKed, not yet retransmitted octet below HighSACK.
        if let Some((s, len)) = hole {
            return Some((s, len, true));
        }
        // Rule 4: the rescue retransmission (at most one per recovery).
        // RFC 6675: allowed if RescueRxt is undefined or HighACK has passed it.
        if self.rescue_rxt.filter(|&r| snd_una < r).is_none() {
            let floor = self.high_sacked().unwrap_or(snd_una).max(frontier);
            if floor < snd_nxt {
                let start = (snd_nxt - mss).max(floor);
                return Some((start, snd_nxt - start, true));
            }
        }
        None
    }

    /// Record a retransmission of `[seq, seq+len)` during recovery. A regular retransmission
    /// (NextSeg rules 1 and 3, or the first retransmission at SND.UNA of RFC 6675 §5 step 4)
    /// advances HighRxt. A rescue (rule 4: it starts at or above both HighSACK and HighRxt,
    /// and is not that first retransmission) sets RescueRxt and leaves HighRxt alone, as
    /// RFC 6675 §4 requires.
    pub(crate) fn mark_retransmitted(&mut self, seq: SeqNum, len: u32) {
        if len == 0 {
            return;
        }
        let end = seq + len;
        let una = self.una.unwrap_or(seq);
        let frontier = self.frontier(una);
        let top = self.high_sacked().unwrap_or(una).max(frontier);
        let first_at_una = self.high_rxt.is_none() && seq == una;
        if !first_at_una && seq >= top {
            self.rescue_rxt = Some(self.rescue_rxt.map_or(end, |r| r.max(end)));
        } else {
            self.high_rxt = Some(self.high_rxt.map_or(end, |h| h.max(end)));
        }
    }

    /// A retransmission starting at `seq` was lost too: let NextSeg offer it again by moving
    /// HighRxt back to it.
    pub(crate) fn rewind_high_rxt(&mut self, seq: SeqNum) {
        if let Some(h) = self.high_rxt {
            if seq < h {
                self.high_rxt = Some(seq);
            }
        }
    }

    /// Recovery ended (or was entered anew): reset HighRxt / RescueRxt (RFC 6675 §5).
    pub(crate) fn reset_recovery(&mut self, snd_una: SeqNum) {
        self.high_rxt = None;
        self.rescue_rxt = None;
        self.advance(snd_una);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MSS: u32 = 1000;
    const UNA: SeqNum = SeqNum(0);
    const MAX: SeqNum = SeqNum(10_000);

    fn s(x: u32) -> SeqNum {
        SeqNum(x)
    }

    fn ranges(sb: &Scoreboard) -> Vec<(u32, u32)> {
        sb.ranges.iter().map(|&(l, r)| (l.0, r.0)).collect()
    }

    /// A scoreboard for `[UNA, MAX)` in recovery, with `blocks` applied.
    fn board(blocks: &[(u32, u32)]) -> Scoreboard {
        let mut sb = Scoreboard::new();
        sb.reset_recovery(UNA);
        sb.on_ack(UNA, UNA, MAX, blocks);
        sb
    }

    /// NextSeg over `[UNA, MAX)` with snd_nxt = MAX, as plain numbers.
    fn next(sb: &Scoreboard, data_end: u32, limit: u32) -> Option<(u32, u32, bool)> {
        let seg = sb.next_seg(UNA, MAX, s(data_end), s(limit), MSS);
        seg.map(|(seq, len, rtx)| (seq.0, len, rtx))
    }

    /// Sorted, disjoint, non-adjacent, non-empty, within [una, max), bounded.
    fn check_invariants(sb: &Scoreboard, una: SeqNum, max: SeqNum) -> Result<(), String> {
        let ok_range = |&(l, r): &(SeqNum, SeqNum)| l < r && l >= una && r <= max;
        let merged = sb.ranges.windows(2).all(|w| w[0].1 < w[1].0);
        if sb.ranges.len() > MAX_RANGES || !sb.ranges.iter().all(ok_range) || !merged {
            return Err(format!("bad ranges {:?} for [{una}, {max})", sb.ranges));
        }
        Ok(())
    }

    #[test]
    fn rfc2018_s4_merges_overlapping_and_adjacent_blocks() {
        let mut sb = board(&[(3000, 4000)]);
        assert_eq!(
            sb.on_ack(UNA, UNA, MAX, &[(5000, 6000), (3000, 4000)]),
            (1000, false)
        );
        assert_eq!(ranges(&sb), [(3000, 4000), (5000, 6000)]);
        // Adjacent on the left of the first range, overlapping the second.
        assert_eq!(
            sb.on_ack(UNA, UNA, MAX, &[(2000, 3000), (5500, 7000)]).0,
            2000
        );
        assert_eq!(ranges(&sb), [(2000, 4000), (5000, 7000)]);
        // Filling the gap joins them into one.
        assert_eq!(sb.on_ack(UNA, UNA, MAX, &[(4000, 5000)]).0, 1000);
        assert_eq!(ranges(&sb), [(2000, 7000)]);
        assert_eq!((sb.sacked_bytes(), sb.high_sacked()), (5000, Some(s(7000))));
        assert!(sb.is_sacked(s(2000)) && sb.is_sacked(s(6999)));
        assert!(!sb.is_sacked(s(1999)) && !sb.is_sacked(s(7000)));
        // One block covering several ranges.
        sb.on_ack(UNA, UNA, MAX, &[(8000, 8500), (9000, 9500)]);
        assert_eq!(
            sb.on_ack(UNA, UNA, MAX, &[(1500, 9800)]).0,
            8300 - 5000 - 1000
        );
        assert_eq!(ranges(&sb), [(1500, 9800)]);
    }

    #[test]
    fn rfc2883_s4_a_block_below_the_segments_own_ack_is_dsack() {
        // The last segment arrived twice; the ACK that moves SND.UNA past it (5000 → 6000)
        // reports the duplicate in the same segment: a D-SACK although it starts at SND.UNA.
        let mut sb = Scoreboard::new();
        let (una, max) = (s(5000), s(6000));
        assert_eq!(sb.on_ack(una, s(6000), max, &[(5000, 6000)]), (1000, true));
        // The same block with the ACK still at 5000 is an ordinary SACK.
        let mut sb = Scoreboard::new();
        assert_eq!(sb.on_ack(una, una, max, &[(5000, 6000)]), (1000, false));
    }

    #[test]
    fn rfc2883_s4_blocks_below_snd_una_are_dsack_and_not_stored() {
        let mut sb = Scoreboard::new();
        let (una, max) = (s(5000), s(20_000));
        assert_eq!(sb.on_ack(una, una, max, &[(3000, 4000)]), (0, true));
        assert!(sb.is_empty());
        // Right edge == SND.UNA: D-SACK, not stored; the second block is stored.
        assert_eq!(
            sb.on_ack(una, una, max, &[(4000, 5000), (8000, 9000)]),
            (1000, true)
        );
        assert_eq!(ranges(&sb), [(8000, 9000)]);
        // First block inside a range already SACKed: a duplicate.
        assert_eq!(
            sb.on_ack(una, una, max, &[(8000, 8500), (8000, 9000)]),
            (0, true)
        );
        assert_eq!(sb.on_ack(una, una, max, &[(8200, 8500)]), (0, true));
        // The same blocks repeated (a window update): not a D-SACK.
        assert_eq!(sb.on_ack(una, una, max, &[(8000, 9000)]), (0, false));
        // First block covered by the second block.
        assert_eq!(
            sb.on_ack(una, una, max, &[(11_000, 11_500), (10_000, 12_000)]),
            (2000, true)
        );
        // Only the first block can be a D-SACK; a later block below SND.UNA is just ignored.
        assert_eq!(
            sb.on_ack(una, una, max, &[(13_000, 14_000), (1000, 2000)]),
            (1000, false)
        );
        // A straddling first block is a D-SACK; its part above SND.UNA is clipped and kept.
        assert_eq!(sb.on_ack(una, una, max, &[(4500, 5500)]), (500, true));
        let want = [
            (5000, 5500),
            (8000, 9000),
            (10_000, 12_000),
            (13_000, 14_000),
        ];
        assert_eq!(ranges(&sb), want);
    }

    #[test]
    fn rfc2018_s3_bad_blocks_ignored_and_partial_clipped() {
        let mut sb = board(&[]);
        // At/beyond snd_max, empty, inverted: all ignored and not D-SACK.
        for block in [
            (10_000, 11_000),
            (12_000, 13_000),
            (3000, 3000),
            (4000, 3000),
        ] {
            assert_eq!(sb.on_ack(UNA, UNA, MAX, &[block]), (0, false));
        }
        assert!(sb.is_empty());
        // Straddling snd_max: clipped.
        assert_eq!(sb.on_ack(UNA, UNA, MAX, &[(9000, 11_000)]), (1000, false));
        assert_eq!(ranges(&sb), [(9000, 10_000)]);
    }

    #[test]
    fn rfc6675_s5_advance_drops_covered_and_clips_partial() {
        let mut sb = board(&[(1000, 2000), (3000, 4000), (5000, 6000)]);
        sb.advance(s(2000));
        assert_eq!(ranges(&sb), [(3000, 4000), (5000, 6000)]);
        sb.advance(s(3500));
        assert_eq!(ranges(&sb), [(3500, 4000), (5000, 6000)]);
        assert_eq!(sb.sacked_bytes(), 1500);
        sb.advance(s(6000));
        assert!(sb.is_empty() && sb.high_sacked().is_none());
    }

    #[test]
    fn rfc9293_s3_4_sequence_wrap_around_2_32() {
        let una = s(u32::MAX - 1000);
        let max = una + 20_000u32;
        let mut sb = Scoreboard::new();
        // A block that straddles 2^32, and one wholly past it.
        let (b1, b2, b3, b4) = (una + 500u32, una + 2500u32, una + 4000u32, una + 5000u32);
        assert_eq!(
            sb.on_ack(una, una, max, &[(b1.0, b2.0), (b3.0, b4.0)]),
            (3000, false)
        );
        assert_eq!(sb.ranges, [(b1, b2), (b3, b4)]);
        assert!(sb.is_sacked(s(0)) && sb.is_sacked(s(u32::MAX)) && !sb.is_sacked(una));
        // Merge across the wrap.
        sb.on_ack(una, una, max, &[(b2.0, b3.0)]);
        assert_eq!(
            (sb.ranges.as_slice(), sb.high_sacked()),
            (&[(b1, b4)][..], Some(b4))
        );
        // A D-SACK just below the wrapped SND.UNA.
        assert_eq!(
            sb.on_ack(una, una, max, &[((una - 100u32).0, una.0)]),
            (0, true)
        );
        // pipe: 500 unSACKed below b1 (lost: 4500 > 2*MSS), 15_000 above b4 (not lost).
        assert_eq!(sb.pipe(una, max, MSS), 15_000);
        assert_eq!(sb.next_seg(una, max, max, max, MSS), Some((una, 500, true)));
        sb.advance(una + 3000u32);
        assert_eq!(sb.ranges, [(una + 3000u32, b4)]);
        check_invariants(&sb, una + 3000u32, max).unwrap();
    }

    #[test]
    fn rfc6675_s4_is_lost_discontiguous_range_threshold() {
        // Two small ranges above 0: neither condition holds.
        let mut sb = board(&[(1000, 1100), (2000, 2100)]);
        assert!(!sb.is_lost(s(0), MSS) && !sb.loss_detected(UNA, MSS));
        // A third discontiguous range: DupThresh ranges above 0.
        sb.on_ack(UNA, UNA, MAX, &[(3000, 3100)]);
        assert!(sb.is_lost(s(0), MSS) && sb.loss_detected(UNA, MSS));
        // Octets 1001..1100 are above 1000, so three ranges still; above 1099 only two.
        assert!(sb.is_lost(s(1000), MSS));
        assert!(!sb.is_lost(s(1099), MSS) && !sb.is_lost(s(1500), MSS));
    }

    #[test]
    fn rfc6675_s4_is_lost_byte_threshold() {
        // Exactly (DupThresh - 1) * SMSS = 2000 bytes above: not lost.
        let mut sb = board(&[(1000, 3000)]);
        assert!(!sb.is_lost(s(0), MSS));
        // One more byte (in a second range, so still only 2 ranges): lost.
        sb.on_ack(UNA, UNA, MAX, &[(4000, 4001)]);
        assert!(sb.is_lost(s(0), MSS));
        // Octets strictly greater than seq only: above 1000 are 1999 + 1 bytes.
        assert!(!sb.is_lost(s(1000), MSS) && sb.is_lost(s(999), MSS));
    }

    #[test]
    fn rfc6675_s4_set_pipe_without_retransmissions() {
        assert_eq!(board(&[]).pipe(UNA, MAX, MSS), 10_000);
        // [0,3000) lost (3000 > 2000 bytes above), [6000,10000) not.
        assert_eq!(board(&[(3000, 6000)]).pipe(UNA, MAX, MSS), 4000);
        // [0,1000) and [2000,3000) lost, [6000,10000) not.
        assert_eq!(
            board(&[(1000, 2000), (3000, 6000)]).pipe(UNA, MAX, MSS),
            4000
        );
        // Only 1000 SACKed above [0,1000): nothing lost.
        assert_eq!(board(&[(1000, 2000)]).pipe(UNA, MAX, MSS), 9000);
    }

    #[test]
    fn rfc6675_s4_set_pipe_with_retransmissions() {
        // Lost: [0,1000), [2000,3000). Not lost: [6000,8000) (one range above), [9000,10000).
        let mut sb = board(&[(1000, 2000), (3000, 6000), (8000, 9000)]);
        assert_eq!(sb.pipe(UNA, MAX, MSS), 3000);
        // Retransmitted lost octets count once.
        sb.mark_retransmitted(s(0), 1000);
        assert_eq!(sb.pipe(UNA, MAX, MSS), 4000);
        sb.mark_retransmitted(s(2000), 1000);
        assert_eq!(sb.pipe(UNA, MAX, MSS), 5000);
        // Retransmitted not-lost octets (rule 3) count twice: HighRxt = 6500.
        sb.mark_retransmitted(s(6000), 500);
        assert_eq!(sb.pipe(UNA, MAX, MSS), 5500);
        // A rescue above HighSACK does not move HighRxt, so SetPipe does not count it again.
        sb.mark_retransmitted(s(9000), 1000);
        assert_eq!(sb.pipe(UNA, MAX, MSS), 5500);
        assert_eq!(
            (sb.high_rxt, sb.rescue_rxt),
            (Some(s(6500)), Some(s(10_000)))
        );
    }

    #[test]
    fn rfc6675_s4_next_seg_rule_order() {
        // Hole [0,1000) is lost (3 ranges above), hole [4000,5000) is not (1 range above).
        let mut sb = board(&[(1000, 2000), (2500, 4000), (5000, 6000)]);
        // Rule 1 first, even though new data is available; limited to the hole.
        assert_eq!(next(&sb, 20_000, 20_000), Some((0, 1000, true)));
        sb.mark_retransmitted(s(0), 1000);
        // [2000,2500) is lost too (2 ranges but 2500 bytes above).
        assert_eq!(next(&sb, 20_000, 20_000), Some((2000, 500, true)));
        sb.mark_retransmitted(s(2000), 500);
        // Rule 2: new data, bounded by mss, the buffer and the window.
        assert_eq!(next(&sb, 20_000, 20_000), Some((10_000, 1000, false)));
        assert_eq!(next(&sb, 10_300, 20_000), Some((10_000, 300, false)));
        assert_eq!(next(&sb, 20_000, 10_200), Some((10_000, 200, false)));
        // Rule 3: no new data (or window shut): the unSACKed, not-lost hole [4000,5000).
        assert!(!sb.is_lost(s(4000), MSS));
        assert_eq!(next(&sb, 10_000, 20_000), Some((4000, 1000, true)));
        assert_eq!(next(&sb, 20_000, 10_000), Some((4000, 1000, true)));
        assert_eq!(sb.next_seg(UNA, MAX, MAX, MAX, 0), None);
    }

    #[test]
    fn rfc6675_s4_mark_retransmitted_stops_repeats() {
        let mut sb = board(&[(2500, 6000)]);
        let mut sent = Vec::new();
        while let Some((seq, len, true)) = next(&sb, 10_000, 10_000) {
            sb.mark_retransmitted(s(seq), len);
            sent.push((seq, len));
            assert!(sent.len() < 10);
        }
        // Rule 1 over the lost hole [0,2500), then the rescue (rule 4) of the tail, then nothing.
        assert_eq!(sent, [(0, 1000), (1000, 1000), (2000, 500), (9000, 1000)]);
        // HighRxt was not moved by the rescue: once a SACK of the rescued tail arrives, rule 3
        // can still offer the hole [6000,9000) below the new HighSACK.
        sb.on_ack(UNA, UNA, MAX, &[(9000, 10_000)]);
        assert_eq!(next(&sb, 10_000, 10_000), Some((6000, 1000, true)));
    }

    #[test]
    fn rfc6675_s4_rescue_once_per_recovery() {
        let max = s(3000);
        let mut sb = board(&[]);
        // RFC 6675 §5 step 4: the first retransmission at SND.UNA, with no SACK info yet.
        sb.mark_retransmitted(UNA, MSS);
        assert_eq!(sb.pipe(UNA, max, MSS), 4000);
        assert_eq!(
            sb.next_seg(UNA, max, max, max, MSS),
            Some((s(2000), 1000, true))
        );
        sb.mark_retransmitted(s(2000), 1000);
        assert_eq!(sb.next_seg(UNA, max, max, max, MSS), None);
        // A new recovery allows a new rescue.
        sb.reset_recovery(UNA);
        assert_eq!(
            sb.next_seg(UNA, max, max, max, MSS),
            Some((s(2000), 1000, true))
        );
    }

    #[test]
    fn rfc2018_s8_clear_after_rto() {
        let mut sb = board(&[(1000, 2000)]);
        sb.mark_retransmitted(s(0), 1000);
        sb.clear();
        assert!(sb.is_empty() && sb.high_rxt.is_none());
        assert_eq!(sb.pipe(UNA, MAX, MSS), 10_000);
    }

    #[test]
    fn max_ranges_bound_under_3000_random_disjoint_blocks() {
        let (una, max) = (s(4_000_000_000), s(4_000_000_000) + 2_000_000u32);
        let mut sb = Scoreboard::new();
        let mut x = 0x2545_f491_u32;
        for _ in 0..3000 {
            // xorshift32; blocks on a 100-octet grid, 50 long: never adjacent.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let left = una + ((x % 19_000) * 100 + 10);
            sb.on_ack(una, una, max, &[(left.0, (left + 50u32).0)]);
            check_invariants(&sb, una, max).unwrap();
        }
        assert_eq!(sb.ranges.len(), MAX_RANGES);
        assert_eq!(sb.sacked_bytes(), MAX_RANGES as u32 * 50);
    }

    proptest! {
        #[test]
        fn random_blocks_keep_invariants(
            base: u32,
            window in 1u32..1_000_000,
            more_data: bool,
            steps in prop::collection::vec(
                (prop::collection::vec((any::<u32>(), 0u32..1_200_000, 0u32..5000), 0..5),
                 0u32..3000),
                1..40),
        ) {
            let mut sb = Scoreboard::new();
            let mut una = SeqNum(base);
            let max = una + window;
            let data_end = if more_data { max + 5000u32 } else { max };
            for (blocks, ack) in steps {
                // Mix arbitrary wire edges with edges near the window.
                let blocks: Vec<(u32, u32)> = blocks
                    .iter()
                    .map(|&(raw, off, len)| {
                        let l = if raw % 4 == 0 { SeqNum(raw) } else { una + off };
                        (l.0, (l + len).0)
                    })
                    .collect();
                let (new, _) = sb.on_ack(una, una, max, &blocks);
                prop_assert!(new <= window);
                check_invariants(&sb, una, max).map_err(TestCaseError::fail)?;
                prop_assert!(sb.pipe(una, max, 1460) <= 2 * (max - una));
                if let Some((seq, len, rtx)) = sb.next_seg(una, max, data_end, max + 5000u32, 1460) {
                    prop_assert!(len > 0 && len <= 1460);
                    if rtx {
                        prop_assert!(seq >= una && seq + len <= max && !sb.is_sacked(seq));
                        sb.mark_retransmitted(seq, len);
                    }
                }
                una = (una + ack).min(max);
                sb.advance(una);
                check_invariants(&sb, una, max).map_err(TestCaseError::fail)?;
            }
        }
    }
}
