//! NewReno window arithmetic: RFC 5681 §3.1 slow start and congestion avoidance, with
//! RFC 3465 appropriate byte counting. The recovery half of NewReno (RFC 6582: `recover`,
//! partial ACKs, window deflation) lives in the connection, which calls
//! [`Arithmetic::on_congestion_event`] once when it enters fast recovery.

use super::{floor_cwnd, floor_ssthresh, slow_start, Algorithm, Arithmetic};
use crate::time::{Duration, Instant};

/// NewReno (RFC 5681 / RFC 6582).
#[derive(Clone, Debug, Default)]
pub struct NewReno {
    /// RFC 3465 `bytes_acked`: bytes acknowledged during congestion avoidance that have not yet
    /// been turned into a cwnd increase.
    bytes_acked: u32,
}

impl NewReno {
    /// A controller with an empty byte counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2·SMSS).
    fn halve(&mut self, in_flight: u32, mss: u32) -> u32 {
        self.bytes_acked = 0;
        floor_ssthresh(in_flight / 2, mss)
    }
}

impl Arithmetic for NewReno {
    fn algorithm(&self) -> Algorithm {
        Algorithm::NewReno
    }

    /// RFC 5681 §3.1. Slow start (cwnd < ssthresh): cwnd += min(N, SMSS) per ACK (RFC 3465 with
    /// L = 1 SMSS). Congestion avoidance, byte counting (RFC 5681 eq. 3 alternative, RFC 3465
    /// §2.1): accumulate acknowledged bytes; when the count reaches cwnd, subtract cwnd and add
    /// one SMSS — about one SMSS per RTT.
    fn on_ack(
        &mut self,
        _now: Instant,
        cwnd: u32,
        ssthresh: u32,
        acked: u32,
        mss: u32,
        _srtt: Option<Duration>,
        app_limited: bool,
    ) -> u32 {
        let cwnd = floor_cwnd(cwnd, mss);
        if app_limited || acked == 0 {
            return cwnd;
        }
        if cwnd < ssthresh {
            self.bytes_acked = 0;
            return slow_start(cwnd, acked, mss);
        }
        self.bytes_acked = self.bytes_acked.saturating_add(acked);
        if self.bytes_acked >= cwnd {
            // At most one SMSS per ACK (RFC 3465 §2.1); any surplus carries to the next ACK.
            self.bytes_acked -= cwnd;
            cwnd.saturating_add(mss)
        } else {
            cwnd
        }
    }

    /// RFC 5681 §3.2 step 2 / RFC 6582 §3.2 step 2: ssthresh = max(FlightSize/2, 2·SMSS).
    fn on_congestion_event(&mut self, _now: Instant, _cwnd: u32, in_flight: u32, mss: u32) -> u32 {
        self.halve(in_flight, mss)
    }

    /// RFC 5681 §3.1 eq. 4 on a retransmission timeout; the connection sets cwnd = LW = 1 SMSS.
    fn on_rto(&mut self, _now: Instant, _cwnd: u32, in_flight: u32, mss: u32) -> u32 {
        self.halve(in_flight, mss)
    }

    fn on_idle_restart(&mut self, _now: Instant) {
        self.bytes_acked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1460;
    const T0: Instant = Instant::ZERO;

    /// Feeds one "round trip" of ACKs, one per full-sized segment of the current window, and
    /// returns the window after them.
    fn one_rtt(cc: &mut NewReno, mut cwnd: u32, ssthresh: u32) -> u32 {
        for _ in 0..cwnd / MSS {
            cwnd = cc.on_ack(T0, cwnd, ssthresh, MSS, MSS, None, false);
        }
        cwnd
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = NewReno::new();
        let mut cwnd = 10 * MSS;
        for expect in [20, 40, 80, 160] {
            cwnd = one_rtt(&mut cc, cwnd, u32::MAX);
            assert_eq!(cwnd, expect * MSS);
        }
    }

    #[test]
    fn slow_start_counts_at_most_one_smss_per_ack() {
        let mut cc = NewReno::new();
        // A stretch ACK of 4 segments still adds one SMSS (RFC 3465, L = 1 SMSS).
        assert_eq!(
            cc.on_ack(T0, 10 * MSS, u32::MAX, 4 * MSS, MSS, None, false),
            11 * MSS
        );
        // A small ACK adds only what it acknowledged.
        assert_eq!(
            cc.on_ack(T0, 10 * MSS, u32::MAX, 100, MSS, None, false),
            10 * MSS + 100
        );
    }

    #[test]
    fn congestion_avoidance_one_mss_per_window() {
        let mut cc = NewReno::new();
        let ssthresh = 5 * MSS;
        let mut cwnd = 10 * MSS;
        // Nine ACKs: 9·MSS < cwnd, no growth yet.
        for _ in 0..9 {
            cwnd = cc.on_ack(T0, cwnd, ssthresh, MSS, MSS, None, false);
            assert_eq!(cwnd, 10 * MSS);
        }
        // The tenth completes a window: +1 SMSS.
        cwnd = cc.on_ack(T0, cwnd, ssthresh, MSS, MSS, None, false);
        assert_eq!(cwnd, 11 * MSS);
        // Each following window of ACKs adds exactly one SMSS.
        for expect in 12..20 {
            cwnd = one_rtt(&mut cc, cwnd, ssthresh);
            assert_eq!(cwnd, expect * MSS);
        }
    }

    #[test]
    fn ssthresh_after_loss_is_half_the_flight() {
        let mut cc = NewReno::new();
        assert_eq!(
            cc.on_congestion_event(T0, 30 * MSS, 20 * MSS, MSS),
            10 * MSS
        );
        assert_eq!(cc.on_rto(T0, 30 * MSS, 20 * MSS, MSS), 10 * MSS);
        // Never below 2·SMSS.
        assert_eq!(cc.on_congestion_event(T0, 3 * MSS, 3 * MSS, MSS), 2 * MSS);
        assert_eq!(cc.on_rto(T0, MSS, 0, MSS), 2 * MSS);
        // FlightSize, not cwnd, decides (RFC 5681 eq. 4).
        assert_eq!(cc.on_congestion_event(T0, 100 * MSS, 8 * MSS, MSS), 4 * MSS);
    }

    #[test]
    fn loss_clears_the_byte_counter() {
        let mut cc = NewReno::new();
        let cwnd = cc.on_ack(T0, 10 * MSS, 5 * MSS, 9 * MSS, MSS, None, false);
        assert_eq!(cwnd, 10 * MSS);
        cc.on_congestion_event(T0, cwnd, cwnd, MSS);
        assert_eq!(
            cc.on_ack(T0, 5 * MSS, 5 * MSS, MSS, MSS, None, false),
            5 * MSS
        );
    }

    #[test]
    fn app_limited_does_not_grow() {
        let mut cc = NewReno::new();
        assert_eq!(
            cc.on_ack(T0, 10 * MSS, u32::MAX, MSS, MSS, None, true),
            10 * MSS
        );
        assert_eq!(
            cc.on_ack(T0, 10 * MSS, 0, 20 * MSS, MSS, None, true),
            10 * MSS
        );
    }

    #[test]
    fn degenerate_inputs() {
        let mut cc = NewReno::new();
        assert_eq!(cc.on_ack(T0, 0, u32::MAX, MSS, MSS, None, false), 2 * MSS);
        assert_eq!(cc.on_ack(T0, 0, 0, 0, MSS, None, false), MSS);
        assert_eq!(
            cc.on_ack(T0, u32::MAX, u32::MAX, MSS, MSS, None, false),
            u32::MAX
        );
        assert_eq!(
            cc.on_ack(T0, u32::MAX, 0, u32::MAX, MSS, None, false),
            u32::MAX
        );
        assert_eq!(cc.on_ack(T0, 0, 0, u32::MAX, 0, None, false), 1);
        assert_eq!(cc.on_congestion_event(T0, 0, 0, 0), 1);
        assert_eq!(cc.on_rto(T0, u32::MAX, u32::MAX, u32::MAX), u32::MAX);
    }
}
