//! Retransmission timeout per RFC 6298 (MUST-18): SRTT, RTTVAR, RTO, Karn's rule and backoff.

use crate::time::Duration;

/// Clock granularity G of RFC 6298 §2: our clock ticks in microseconds, but we count 1 ms so
/// the variance term never collapses to nothing on a perfectly regular simulated link.
const GRANULARITY: Duration = Duration::from_millis(1);

/// RFC 6298 estimator. Times are kept as nanoseconds in `u64`s (the arithmetic is exactly
/// `Duration`'s; the struct is half the size, which counts at a million connections).
#[derive(Clone, Debug)]
pub(crate) struct Rtt {
    /// SRTT, or [`NO_SAMPLE`] before the first measurement.
    srtt: u64,
    rttvar: u64,
    /// RTO before backoff, bounded by min/max.
    base_rto: u64,
    min_rto: u64,
    max_rto: u64,
    /// Number of doublings applied (RFC 6298 §5.5).
    backoff: u32,
}

const NO_SAMPLE: u64 = u64::MAX;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
}

impl Rtt {
    pub(crate) fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let (min, max) = (nanos(min_rto), nanos(max_rto.max(min_rto)));
        Rtt {
            srtt: NO_SAMPLE,
            rttvar: 0,
            base_rto: nanos(initial).clamp(min, max),
            min_rto: min,
            max_rto: max,
            backoff: 0,
        }
    }

    /// Feed one RTT measurement R (§2.2, §2.3). Callers apply Karn's rule: never a sample
    /// from a retransmitted segment.
    pub(crate) fn sample(&mut self, r: Duration) {
        let r = nanos(r);
        if self.srtt == NO_SAMPLE {
            // (2.2) SRTT <- R, RTTVAR <- R/2
            self.srtt = r;
            self.rttvar = r / 2;
        } else {
            // (2.3) RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT <- 7/8 SRTT + 1/8 R'
            let delta = self.srtt.abs_diff(r);
            self.rttvar = self.rttvar.saturating_mul(3) / 4 + delta / 4;
            self.srtt = self.srtt.saturating_mul(7) / 8 + r / 8;
        }
        // RTO <- SRTT + max(G, K*RTTVAR), K = 4; (2.4) at least min_rto; (2.5) at most max_rto.
        let rto = self
            .srtt
            .saturating_add(self.rttvar.saturating_mul(4).max(nanos(GRANULARITY)));
        self.base_rto = rto.clamp(self.min_rto, self.max_rto);
        // A new sample after backoff collapses the backoff (§5.7 note, as Linux does).
        self.backoff = 0;
    }

    /// The current RTO including exponential backoff (§5.5), capped at max_rto.
    pub(crate) fn rto(&self) -> Duration {
        let factor = 1u64.checked_shl(self.backoff.min(16)).unwrap_or(u64::MAX);
        Duration::from_nanos(self.base_rto.saturating_mul(factor).min(self.max_rto))
    }

    /// The timer expired: double the RTO (§5.5).
    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Forget backoff after forward progress.
    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// §5.7: the SYN (or SYN-ACK) timed out and no sample was taken: RTO is 3 s once data
    /// transfer starts.
    pub(crate) fn syn_timed_out_reset(&mut self) {
        if self.srtt == NO_SAMPLE {
            self.base_rto = nanos(Duration::from_secs(3)).clamp(self.min_rto, self.max_rto);
            self.backoff = 0;
        }
    }

    /// RFC 4015 §3.1 step (5): a timeout proved spurious; with the sample `r` its ACK gave,
    /// SRTT = max(SRTT_prev, R) and RTTVAR = max(RTTVAR_prev, R/2), so the next RTO allows
    /// for the delay that fooled this one. `srtt_prev` already includes the 2G of step (1).
    pub(crate) fn after_spurious_timeout(
        &mut self,
        r: Duration,
        srtt_prev: Duration,
        rttvar_prev: Duration,
    ) {
        let r = nanos(r);
        self.srtt = nanos(srtt_prev).max(r);
        self.rttvar = nanos(rttvar_prev).max(r / 2);
        let rto = self
            .srtt
            .saturating_add(self.rttvar.saturating_mul(4).max(nanos(GRANULARITY)));
        self.base_rto = rto.clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// SRTT in microseconds (RACK-TLP's arithmetic), if there was a sample.
    pub(crate) fn srtt_us(&self) -> Option<u64> {
        (self.srtt != NO_SAMPLE).then_some(self.srtt / 1000)
    }

    pub(crate) fn srtt(&self) -> Option<Duration> {
        (self.srtt != NO_SAMPLE).then(|| Duration::from_nanos(self.srtt))
    }

    pub(crate) fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtt() -> Rtt {
        Rtt::new(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn initial_rto_is_one_second_rfc6298_2_1() {
        assert_eq!(rtt().rto(), Duration::from_secs(1));
    }

    #[test]
    fn first_and_later_samples_rfc6298_2_2_2_3() {
        let mut r = Rtt::new(
            Duration::from_secs(1),
            Duration::from_millis(1),
            Duration::from_secs(60),
        );
        r.sample(Duration::from_millis(100));
        assert_eq!(r.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(r.rttvar(), Duration::from_millis(50));
        assert_eq!(r.rto(), Duration::from_millis(300));
        r.sample(Duration::from_millis(200));
        // RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(r.rttvar(), Duration::from_micros(62_500));
        assert_eq!(r.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(r.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn rto_rounds_up_to_min_and_backs_off_to_max_rfc6298_2_4_5_5() {
        let mut r = rtt();
        r.sample(Duration::from_millis(10));
        assert_eq!(r.rto(), Duration::from_secs(1));
        r.back_off();
        assert_eq!(r.rto(), Duration::from_secs(2));
        for _ in 0..10 {
            r.back_off();
        }
        assert_eq!(r.rto(), Duration::from_secs(60));
        r.reset_backoff();
        assert_eq!(r.rto(), Duration::from_secs(1));
    }

    #[test]
    fn syn_timeout_sets_three_seconds_rfc6298_5_7() {
        let mut r = rtt();
        r.back_off();
        r.syn_timed_out_reset();
        assert_eq!(r.rto(), Duration::from_secs(3));
    }
}
