//! Sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 §3.4).
//!
//! Never compare raw `u32` sequence numbers: `SeqNum` implements `PartialOrd` with the
//! wrapping rule (a < b iff (b - a) mod 2^32 is in 1..2^31), the one RFC 9293 §3.4 uses for
//! "=<" and "<" in every acceptability test.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Range, Sub};

/// A TCP sequence number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The raw wire value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self` is in the half-open range `[lo, hi)` modulo 2^32.
    pub fn in_range(self, lo: SeqNum, hi: SeqNum) -> bool {
        self.0.wrapping_sub(lo.0) < hi.0.wrapping_sub(lo.0)
    }

    /// The later of two sequence numbers.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self >= other {
            self
        } else {
            other
        }
    }

    /// The earlier of two sequence numbers.
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        let diff = self.0.wrapping_sub(other.0) as i32;
        Some(diff.cmp(&0))
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: usize) -> SeqNum {
        // Truncation is the point: sequence space is modulo 2^32.
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, rhs: usize) {
        self.0 = self.0.wrapping_add(rhs as u32);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

/// Distance from `rhs` forward to `self` (mod 2^32). Callers make sure `rhs <= self`.
impl Sub<SeqNum> for SeqNum {
    type Output = u32;
    fn sub(self, rhs: SeqNum) -> u32 {
        self.0.wrapping_sub(rhs.0)
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Of sorted `[start, end)` ranges that neither overlap nor touch, the ones `[lo, hi)`
/// overlaps or touches: `i..j`, empty (at the place it would go) if none. The receive
/// buffer's held text and the sender's SACK scoreboard keep such lists.
pub(crate) fn ranges_touching(ranges: &[(SeqNum, SeqNum)], lo: SeqNum, hi: SeqNum) -> Range<usize> {
    let i = ranges.partition_point(|&(_, end)| end < lo);
    let j = ranges.partition_point(|&(start, _)| start <= hi).max(i);
    i..j
}

/// Replace `ranges[span]` (from [`ranges_touching`] for `[lo, hi)`) by their union with
/// `[lo, hi)`.
pub(crate) fn merge_range(
    ranges: &mut Vec<(SeqNum, SeqNum)>,
    span: Range<usize>,
    lo: SeqNum,
    hi: SeqNum,
) {
    let touched = ranges.get(span.clone()).unwrap_or(&[]);
    let lo = touched.first().map_or(lo, |r| lo.min(r.0));
    let hi = touched.last().map_or(hi, |r| hi.max(r.1));
    ranges.splice(span, [(lo, hi)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wraps_around() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 4u32;
        assert_eq!(b.0, 2);
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b - a, 4);
        assert!(SeqNum(1).in_range(SeqNum(u32::MAX), SeqNum(5)));
        assert!(!SeqNum(5).in_range(SeqNum(u32::MAX), SeqNum(5)));
        assert!(!SeqNum(7).in_range(SeqNum(7), SeqNum(7)));
    }

    proptest! {
        #[test]
        fn order_is_consistent_with_offsets(base: u32, d in 1u32..0x7fff_ffff) {
            let a = SeqNum(base);
            let b = a + d;
            prop_assert!(a < b);
            prop_assert!(b > a);
            prop_assert_eq!(b - a, d);
            prop_assert!(a.in_range(a, b));
            prop_assert!(!b.in_range(a, b));
        }
    }
}
