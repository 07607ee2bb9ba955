//! HyStart++ (RFC 9406): leave slow start when the round-trip time starts to grow, before the
//! doubling window overflows the bottleneck's queue.
//!
//! Slow start doubles the window every round trip until a loss. On a long path the last
//! doubling can put up to a window's worth of segments beyond what the queue holds, and
//! recovering from so many losses at once is slow (and without RACK-TLP often ends in a
//! retransmission timeout). HyStart++ watches the smallest RTT of each round (a round ends
//! when the ACK passes what was sent when it began):
//!
//! - **Slow start → CSS.** Once a round has at least [`N_RTT_SAMPLE`] samples and its
//!   minimum has grown by RttThresh = clamp(last round's minimum / 8, 4 ms, 16 ms) over the
//!   last round's, a queue is forming: enter Conservative Slow Start (§4.2).
//! - **CSS.** The window grows a quarter as fast ([`CSS_GROWTH_DIVISOR`]). If a round's
//!   minimum falls back below the one that triggered CSS, the rise was jitter: back to slow
//!   start. After [`CSS_ROUNDS`] rounds, ssthresh = cwnd and congestion avoidance takes over.
//! - Loss or a timeout ends it as it ends slow start (the connection sets ssthresh).
//!
//! It runs in the initial slow start only (§4.3 recommends that), from the RTT samples the
//! connection already takes (timestamps give one per ACK; without them a round seldom has
//! eight samples and slow start behaves as RFC 5681's). RTTs are kept in milliseconds, the
//! timestamp clock's unit; the thresholds are 4 ms and more.

/// Fewest samples in a round before its minimum is trusted (RFC 9406 §4.3).
pub const N_RTT_SAMPLE: u8 = 8;
/// RttThresh bounds and divisor, milliseconds (§4.3).
pub const MIN_RTT_THRESH_MS: u32 = 4;
pub const MAX_RTT_THRESH_MS: u32 = 16;
pub const MIN_RTT_DIVISOR: u32 = 8;
/// CSS grows the window this many times slower than slow start (§4.3).
pub const CSS_GROWTH_DIVISOR: u32 = 4;
/// Rounds of CSS before congestion avoidance (§4.3).
pub const CSS_ROUNDS: u8 = 5;

/// An RTT not measured yet ("infinity" in the RFC).
const NONE: u16 = u16::MAX;

/// Where HyStart++ is: not (or no longer) in use, in slow start, or in Conservative Slow
/// Start ([`CSS_ROUNDS`] rounds counted from `CSS`). One byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Phase(u8);

impl Phase {
    /// Not (or no longer) in use: plain RFC 5681 slow start, or slow start is over.
    const OFF: Phase = Phase(0);
    const SLOW_START: Phase = Phase(1);
    /// CSS with no round completed; `CSS + n` after n rounds.
    const CSS: u8 = 2;

    fn css_rounds(self) -> Option<u8> {
        self.0.checked_sub(Self::CSS)
    }
}

/// Per-connection HyStart++ state (8 bytes). Rounds are the connection's: one ends when the
/// ACK passes what was sent when it began (RFC 9406's windowEnd), which recovery.rs already
/// tracks for the congestion window's validation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HyStart {
    phase: Phase,
    samples: u8,
    /// The minimum RTT of the last round and of this one, and the one that started CSS (ms).
    last_round_min: u16,
    round_min: u16,
    css_baseline: u16,
}

/// What HyStart++ decided for one ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// The acknowledged bytes to credit to slow start's growth.
    pub credit: u32,
    /// CSS is over: set ssthresh to cwnd (congestion avoidance from here).
    pub end_slow_start: bool,
}

impl HyStart {
    pub(crate) fn new(enabled: bool) -> HyStart {
        HyStart {
            phase: if enabled {
                Phase::SLOW_START
            } else {
                Phase::OFF
            },
            samples: 0,
            last_round_min: NONE,
            round_min: NONE,
            css_baseline: NONE,
        }
    }

    /// In Conservative Slow Start now.
    pub(crate) fn in_css(&self) -> bool {
        self.phase.css_rounds().is_some()
    }

    /// An ACK of `acked` new bytes arrived in the initial slow start, with an RTT sample of
    /// `rtt_ms` if it gave one; `new_round`: it passed the end of the last round.
    pub(crate) fn on_ack(
        &mut self,
        new_round: bool,
        acked: u32,
        mss: u32,
        rtt_ms: Option<u32>,
    ) -> Step {
        let mut step = Step {
            credit: acked,
            end_slow_start: false,
        };
        if self.phase == Phase::OFF {
            return step;
        }
        // A new round: the last one's minimum is the reference now.
        if new_round {
            self.last_round_min = self.round_min;
            self.round_min = NONE;
            self.samples = 0;
            if let Some(rounds) = self.phase.css_rounds() {
                if rounds + 1 >= CSS_ROUNDS {
                    self.phase = Phase::OFF;
                    step.end_slow_start = true;
                    return step;
                }
                self.phase = Phase(self.phase.0 + 1);
            }
        }
        // The window grows first (by this ACK's phase), then the sample is taken (§4.2).
        if self.in_css() {
            step.credit = acked.min(mss) / CSS_GROWTH_DIVISOR;
        }
        if let Some(rtt) = rtt_ms {
            let rtt = rtt.min(u32::from(NONE - 1)) as u16;
            self.round_min = self.round_min.min(rtt);
            self.samples = self.samples.saturating_add(1);
        }
        let measured = self.samples >= N_RTT_SAMPLE && self.round_min != NONE;
        match self.phase {
            Phase::SLOW_START if measured && self.last_round_min != NONE => {
                let last = u32::from(self.last_round_min);
                let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH_MS, MAX_RTT_THRESH_MS);
                if u32::from(self.round_min) >= last + thresh {
                    self.css_baseline = self.round_min;
                    self.phase = Phase(Phase::CSS);
                }
            }
            _ if self.in_css() && measured && self.round_min < self.css_baseline => {
                // The rise did not last: it was jitter. Slow start again.
                self.css_baseline = NONE;
                self.phase = Phase::SLOW_START;
            }
            _ => {}
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    /// One round: `n` ACKs of one MSS each with RTT `rtt` ms, the first one starting it.
    /// Returns the total credited and whether slow start ended.
    fn round(h: &mut HyStart, una: &mut u32, n: u32, rtt: u32) -> (u32, bool) {
        let (mut credit, mut ended) = (0, false);
        for i in 0..n {
            *una += MSS;
            let s = h.on_ack(i == 0, MSS, MSS, Some(rtt));
            credit += s.credit;
            ended |= s.end_slow_start;
        }
        (credit, ended)
    }

    fn started() -> (HyStart, u32) {
        let mut h = HyStart::new(true);
        let mut una = 0;
        round(&mut h, &mut una, 10, 100);
        (h, una)
    }

    #[test]
    fn a_round_trip_that_grows_by_the_threshold_enters_css_rfc9406_4_2() {
        let (mut h, mut una) = started();
        // 100 ms → threshold 12.5 → 12 ms: 111 ms is not enough, 112 is.
        assert_eq!(round(&mut h, &mut una, 10, 111), (10 * MSS, false));
        assert!(!h.in_css());
        assert_eq!(round(&mut h, &mut una, 10, 100), (10 * MSS, false));
        let (credit, _) = round(&mut h, &mut una, 10, 112);
        assert!(h.in_css());
        // The eighth sample decides; the ACKs after it grow the window a quarter as fast.
        assert_eq!(credit, 8 * MSS + 2 * MSS / 4);
        assert_eq!(round(&mut h, &mut una, 4, 130).0, 4 * MSS / 4);
    }

    #[test]
    fn fewer_than_eight_samples_decide_nothing() {
        let (mut h, mut una) = started();
        round(&mut h, &mut una, 7, 500);
        assert!(!h.in_css());
    }

    /// Whether `rtt` after a round at `base` (then a quiet round at `base` again, then the
    /// rise) enters CSS.
    fn enters_css(base: u32, rtt: u32) -> bool {
        let mut h = HyStart::new(true);
        let mut una = 0;
        round(&mut h, &mut una, 10, base);
        round(&mut h, &mut una, 10, base);
        round(&mut h, &mut una, 10, rtt);
        h.in_css()
    }

    #[test]
    fn the_threshold_is_between_4_and_16_ms() {
        // 20 ms → 20/8 = 2.5, clamped to 4: 23 stays, 24 enters.
        assert!(!enters_css(20, 23));
        assert!(enters_css(20, 24));
        // 400 ms → 50, clamped to 16: 415 stays, 416 enters.
        assert!(!enters_css(400, 415));
        assert!(enters_css(400, 416));
    }

    #[test]
    fn css_returns_to_slow_start_when_the_rtt_falls_back() {
        let (mut h, mut una) = started();
        round(&mut h, &mut una, 10, 130);
        assert!(h.in_css());
        // Below the 130 ms that started CSS: jitter, full growth again.
        let (credit, ended) = round(&mut h, &mut una, 10, 110);
        assert!(!h.in_css() && !ended);
        assert_eq!(
            credit,
            8 * MSS / 4 + 2 * MSS,
            "quarter growth up to the 8th sample"
        );
    }

    #[test]
    fn after_five_css_rounds_slow_start_ends() {
        let (mut h, mut una) = started();
        round(&mut h, &mut una, 10, 130);
        assert!(h.in_css());
        for i in 1..CSS_ROUNDS {
            let (credit, ended) = round(&mut h, &mut una, 10, 140);
            assert!(!ended && h.in_css(), "round {i}");
            assert_eq!(credit, 10 * MSS / 4);
        }
        // The first ACK of the sixth round ends it; HyStart++ is then done.
        let (credit, ended) = round(&mut h, &mut una, 10, 140);
        assert!(ended && !h.in_css());
        assert_eq!(
            credit,
            10 * MSS,
            "congestion avoidance's business from here"
        );
    }

    #[test]
    fn off_credits_everything_and_never_exits() {
        let mut h = HyStart::new(false);
        let mut una = 0;
        for rtt in [100, 200, 400, 800] {
            assert_eq!(round(&mut h, &mut una, 10, rtt), (10 * MSS, false));
        }
        assert!(!h.in_css());
    }
}
