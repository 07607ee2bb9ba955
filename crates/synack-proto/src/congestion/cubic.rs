//! CUBIC window arithmetic, RFC 9438.
//!
//! Windows are handled in segments as `f64` (§4.1 defines them in segments); the connection's
//! byte-valued cwnd is converted on the way in and out, with the fractional byte carried to
//! the next ACK so that slow per-ACK growth is not lost to rounding. `f64` arithmetic is
//! deterministic for identical inputs on one platform, which is all the simulator needs.

use super::{floor_cwnd, floor_ssthresh, slow_start, Algorithm, Arithmetic};
use crate::time::{Duration, Instant};

/// C, RFC 9438 §5.1: scaling constant of the cubic function, segments / s³.
pub const C: f64 = 0.4;
/// β_cubic, RFC 9438 §4.6: multiplicative decrease factor.
pub const BETA: f64 = 0.7;
/// α_cubic, RFC 9438 §4.3: 3·(1 − β)/(1 + β) ≈ 0.529, the Reno-friendly additive increase
/// (segments per RTT) that makes CUBIC as aggressive as Reno with β = 0.5 on average.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// W_cubic(t) = C·(t − K)³ + W_max, RFC 9438 §4.2 eq. 1 (segments; t and K in seconds).
pub fn w_cubic(t: f64, k: f64, w_max: f64) -> f64 {
    let d = t - k;
    C * d * d * d + w_max
}

/// K = ∛((W_max − cwnd_epoch)/C), RFC 9438 §4.2 eq. 2: the time (s) the curve takes to climb
/// from cwnd_epoch back to W_max.
pub fn cubic_k(w_max: f64, cwnd_epoch: f64) -> f64 {
    ((w_max - cwnd_epoch) / C).cbrt()
}

/// One congestion-avoidance stage ("epoch", RFC 9438 §4.2).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Epoch {
    /// When the stage began: the first ACK in congestion avoidance after a reduction.
    start: Instant,
    /// W_max for this stage (segments).
    w_max: f64,
    /// K for this stage (seconds).
    k: f64,
    /// W_est, the Reno-friendly estimate (segments), §4.3.
    w_est: f64,
}

/// CUBIC (RFC 9438), the default controller.
#[derive(Clone, Debug, Default)]
pub struct Cubic {
    /// W_max (segments): the window just before the last reduction, after fast convergence
    /// (§4.7). Zero before the first congestion event.
    w_max: f64,
    /// cwnd_prior (segments): cwnd when ssthresh was last set (§4.6); W_est's α becomes 1 once
    /// W_est reaches it (§4.3).
    cwnd_prior: f64,
    /// The current congestion-avoidance stage; `None` until the first ACK in congestion
    /// avoidance after a reduction, a timeout, slow start or an idle restart.
    epoch: Option<Epoch>,
    /// Set by a timeout: the next stage uses K = 0 and W_max = cwnd_epoch (§4.8).
    after_rto: bool,
    /// Fraction of a byte of growth not yet added to cwnd, in [0, 1).
    carry: f64,
    /// Time of the previous ACK, to exclude application-limited periods from t (§5.8).
    last_ack: Option<Instant>,
}

impl Cubic {
    /// A controller with no congestion history.
    pub fn new() -> Self {
        Self::default()
    }

    /// §4.6 + §4.7: remember W_max (with fast convergence) and cwnd_prior, end the epoch, and
    /// return ssthresh = max(cwnd·β_cubic, 2·SMSS).
    ///
    /// RFC 9438 §4.6 writes `flight_size · β_cubic` and allows cwnd instead provided cwnd
    /// cannot grow while application-limited; [`Arithmetic::on_ack`]'s `app_limited` rule
    /// provides that, and cwnd is what Linux and Windows use.
    fn reduce(&mut self, cwnd: u32, mss: u32) -> u32 {
        let cwnd = floor_cwnd(cwnd, mss);
        let seg = f64::from(cwnd) / f64::from(mss.max(1));
        // §4.7 fast convergence: a loss below the previous W_max means a new flow is taking
        // bandwidth; release some by lowering the plateau.
        self.w_max = if seg < self.w_max {
            seg * (1.0 + BETA) / 2.0
        } else {
            seg
        };
        self.cwnd_prior = seg;
        self.epoch = None;
        self.carry = 0.0;
        // Integer form of cwnd · 0.7, so 100 segments give exactly 70.
        let ssthresh = u64::from(cwnd) * 7 / 10;
        floor_ssthresh(u32::try_from(ssthresh).unwrap_or(u32::MAX), mss)
    }

    /// Starts a congestion-avoidance stage at `now` with cwnd_epoch = `seg` (§4.2, §4.8).
    fn start_epoch(&mut self, now: Instant, seg: f64) -> Epoch {
        // After a timeout (§4.8), with no congestion history, or when cwnd already exceeds
        // W_max (e.g. the connection restored a larger window), the curve starts at cwnd with
        // K = 0: no concave plateau, convex probing from here. The last case is our choice;
        // eq. 2 would give a negative K and a steeper start.
        let (w_max, k) = if self.after_rto || self.w_max <= seg {
            (seg, 0.0)
        } else {
            (self.w_max, cubic_k(self.w_max, seg))
        };
        self.after_rto = false;
        self.carry = 0.0;
        let epoch = Epoch {
            start: now,
            w_max,
            k,
            w_est: seg,
        };
        self.epoch = Some(epoch);
        epoch
    }
}

impl Arithmetic for Cubic {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Cubic
    }

    /// Slow start below ssthresh (Reno's, allowed by §4.10); otherwise §4.2–§4.5:
    ///
    /// * W_est += α · segments_acked / cwnd, α = α_cubic until W_est ≥ cwnd_prior, then 1 (§4.3);
    /// * if W_cubic(t) < W_est the flow is Reno-friendly: cwnd = W_est (§4.3);
    /// * else target = W_cubic(t + RTT) clamped to [cwnd, 1.5·cwnd], and
    ///   cwnd += (target − cwnd)/cwnd per segment acknowledged (§4.4, §4.5).
    ///
    /// With no RTT sample yet, RTT = 0 (the most conservative target).
    fn on_ack(
        &mut self,
        now: Instant,
        cwnd: u32,
        ssthresh: u32,
        acked: u32,
        mss: u32,
        srtt: Option<Duration>,
        app_limited: bool,
    ) -> u32 {
        let cwnd = floor_cwnd(cwnd, mss);
        let prev_ack = self.last_ack.replace(now);
        if app_limited || acked == 0 {
            // §5.8: t must not include periods in which cwnd was not allowed to grow; slide
            // the epoch forward by the time since the previous ACK.
            if let (Some(epoch), Some(prev)) = (self.epoch.as_mut(), prev_ack) {
                epoch.start = (epoch.start + now.saturating_duration_since(prev)).min(now);
            }
            return cwnd;
        }
        if cwnd < ssthresh {
            self.epoch = None;
            return slow_start(cwnd, acked, mss);
        }

        let mss_f = f64::from(mss.max(1));
        let seg = f64::from(cwnd) / mss_f;
        let segs_acked = f64::from(acked) / mss_f;
        let mut epoch = match self.epoch {
            Some(epoch) => epoch,
            None => self.start_epoch(now, seg),
        };
        let t = now.saturating_duration_since(epoch.start).as_secs_f64();
        let rtt = srtt.unwrap_or(Duration::ZERO).as_secs_f64();

        // §4.3 Reno-friendly estimate.
        let alpha = if epoch.w_est >= self.cwnd_prior {
            1.0
        } else {
            ALPHA
        };
        epoch.w_est += alpha * segs_acked / seg;
        self.epoch = Some(epoch);

        let new_seg = if w_cubic(t, epoch.k, epoch.w_max) < epoch.w_est {
            epoch.w_est.max(seg)
        } else {
            // §4.4/§4.5 target, at most 1.5·cwnd so cwnd at most grows by half per RTT.
            let target = w_cubic(t + rtt, epoch.k, epoch.w_max)
                .max(seg)
                .min(1.5 * seg);
            seg + (target - seg) / seg * segs_acked
        };

        let grow = (new_seg - seg) * mss_f + self.carry;
        if !grow.is_finite() || grow <= 0.0 {
            self.carry = 0.0;
            return cwnd;
        }
        let whole = grow.floor();
        self.carry = grow - whole;
        // `as` saturates for out-of-range floats.
        cwnd.saturating_add(whole as u32)
    }

    /// §4.6 multiplicative decrease with §4.7 fast convergence.
    fn on_congestion_event(&mut self, _now: Instant, cwnd: u32, _in_flight: u32, mss: u32) -> u32 {
        self.reduce(cwnd, mss)
    }

    /// §4.8: ssthresh via β_cubic as for any congestion event (the connection sets cwnd to
    /// 1 SMSS as Reno does); the first congestion-avoidance stage afterwards uses K = 0 and
    /// W_max = cwnd at its beginning.
    fn on_rto(&mut self, _now: Instant, cwnd: u32, _in_flight: u32, mss: u32) -> u32 {
        let ssthresh = self.reduce(cwnd, mss);
        self.after_rto = true;
        ssthresh
    }

    /// §5.8 / RFC 5681 §4.1: after idle the curve restarts; W_max and cwnd_prior are kept,
    /// so the next stage recomputes K from the (possibly reduced) cwnd.
    fn on_idle_restart(&mut self, now: Instant) {
        self.epoch = None;
        self.carry = 0.0;
        self.last_ack = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1460;
    const T0: Instant = Instant::from_secs(1);

    fn seg(n: u32) -> u32 {
        n * MSS
    }

    /// A controller that just took a loss at `w_max` segments, with cwnd = ssthresh.
    fn after_loss(w_max: u32) -> (Cubic, u32) {
        let mut cc = Cubic::new();
        let ssthresh = cc.on_congestion_event(T0, seg(w_max), seg(w_max), MSS);
        (cc, ssthresh)
    }

    /// Acks `n` full segments one ACK each at `now`, feeding cwnd back.
    fn ack_segments(cc: &mut Cubic, now: Instant, mut cwnd: u32, n: u32, srtt: Duration) -> u32 {
        for _ in 0..n {
            cwnd = cc.on_ack(now, cwnd, 0, MSS, MSS, Some(srtt), false);
        }
        cwnd
    }

    #[test]
    fn constants() {
        assert!((ALPHA - 0.529_411_764_7).abs() < 1e-9);
        assert_eq!(w_cubic(2.0, 2.0, 100.0), 100.0);
        assert!((w_cubic(3.0, 2.0, 100.0) - 100.4).abs() < 1e-12);
    }

    #[test]
    fn ssthresh_is_seventy_percent_of_cwnd() {
        let (_, ssthresh) = after_loss(100);
        assert_eq!(ssthresh, seg(70));
        assert_eq!(Cubic::new().on_congestion_event(T0, 10_000, 0, MSS), 7_000);
        // Floor of 2·SMSS.
        assert_eq!(Cubic::new().on_congestion_event(T0, seg(2), 0, MSS), seg(2));
        assert_eq!(Cubic::new().on_rto(T0, seg(2), 0, MSS), seg(2));
    }

    #[test]
    fn k_matches_hand_calculation() {
        // W_max = 100, cwnd_epoch = 70: K = ∛(30 / 0.4) = ∛75 = 4.2172 s.
        assert!((cubic_k(100.0, 70.0) - 4.217_163).abs() < 1e-6);
        let (mut cc, cwnd) = after_loss(100);
        cc.on_ack(T0, cwnd, cwnd, MSS, MSS, None, false);
        let epoch = cc.epoch.expect("epoch started by the first CA ack");
        assert_eq!(epoch.start, T0);
        assert_eq!(epoch.w_max, 100.0);
        assert!((epoch.k - 4.217_163).abs() < 1e-6);
    }

    #[test]
    fn approaches_w_max_at_k_then_convex() {
        // A large window, so the cubic curve (not the Reno-friendly estimate) governs.
        let rtt = Duration::from_millis(100);
        let (mut cc, mut cwnd) = after_loss(1000);
        assert_eq!(cwnd, seg(700));
        let k = cubic_k(1000.0, 700.0); // ∛750 = 9.0856 s
        let mut now = T0;
        let mut w_at_k = 0;
        // One window of ACKs per RTT, until 3 s past K.
        for _ in 0..122 {
            cwnd = ack_segments(&mut cc, now, cwnd, cwnd / MSS, rtt);
            now += rtt;
            let t = (now - T0).as_secs_f64();
            if (k - 0.05..k + 0.05).contains(&t) {
                w_at_k = cwnd;
            }
        }
        let epoch = cc.epoch.unwrap();
        assert!((epoch.k - 9.085_603).abs() < 1e-6);
        // Concave region: at t ≈ K cwnd has climbed back to just below W_max.
        assert!(
            w_at_k > seg(995) && w_at_k <= seg(1001),
            "cwnd at K = {} seg",
            w_at_k / MSS
        );
        // Convex region: 12.2 s after the loss, above W_max and on W_cubic(t + RTT).
        let expect = w_cubic((now - T0).as_secs_f64() + 0.1, k, 1000.0);
        let got = f64::from(cwnd) / f64::from(MSS);
        assert!(
            got > 1005.0 && (got - expect).abs() < 2.0,
            "got {got}, W_cubic {expect}"
        );
        assert!(
            epoch.w_est < got,
            "Reno-friendly estimate {} below cwnd",
            epoch.w_est
        );
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let (mut cc, _) = after_loss(100);
        assert_eq!(cc.w_max, 100.0);
        // Second loss below the previous W_max: W_max = 80·(1 + 0.7)/2 = 68.
        assert_eq!(cc.on_congestion_event(T0, seg(80), seg(80), MSS), seg(56));
        assert!((cc.w_max - 68.0).abs() < 1e-9);
        assert_eq!(cc.cwnd_prior, 80.0);
        // A loss above W_max takes cwnd as is.
        cc.on_congestion_event(T0, seg(90), seg(90), MSS);
        assert_eq!(cc.w_max, 90.0);
    }

    #[test]
    fn reno_friendly_region_dominates_at_small_rtt() {
        let rtt = Duration::from_millis(1);
        let (mut cc, mut cwnd) = after_loss(10);
        assert_eq!(cwnd, seg(7));
        let mut now = T0;
        for _ in 0..20 {
            cwnd = ack_segments(&mut cc, now, cwnd, cwnd / MSS, rtt);
            now += rtt;
        }
        let epoch = cc.epoch.unwrap();
        let t = (now - T0).as_secs_f64();
        let cubic_w = w_cubic(t, epoch.k, epoch.w_max);
        let got = f64::from(cwnd) / f64::from(MSS);
        // 20 RTTs after the loss the cubic curve has barely moved from 7 segments, while the
        // Reno-friendly estimate grew by α_cubic, then 1 segment, per RTT; cwnd follows W_est.
        assert!(cubic_w < 7.1, "W_cubic = {cubic_w}");
        assert!(
            epoch.w_est > 20.0 && got > 20.0,
            "W_est = {}, cwnd = {got}",
            epoch.w_est
        );
        assert!((got - epoch.w_est).abs() < 1.0);
    }

    #[test]
    fn growth_clamped_to_one_and_a_half_per_rtt() {
        let (mut cc, cwnd) = after_loss(100);
        cc.on_ack(T0, cwnd, cwnd, MSS, MSS, None, false); // epoch starts at T0
                                                          // 100 s later W_cubic is enormous; one window of ACKs may only add half a window.
        let later = T0 + Duration::from_secs(100);
        let grown = ack_segments(&mut cc, later, seg(70), 70, Duration::from_millis(50));
        assert!(
            grown <= seg(105) && grown >= seg(105) - 2,
            "grown = {grown}"
        );
    }

    #[test]
    fn slow_start_below_ssthresh() {
        let mut cc = Cubic::new();
        assert_eq!(
            cc.on_ack(T0, seg(10), seg(64), 3 * MSS, MSS, None, false),
            seg(11)
        );
        assert_eq!(
            cc.on_ack(T0, seg(10), seg(64), 100, MSS, None, false),
            seg(10) + 100
        );
        assert!(cc.epoch.is_none());
    }

    #[test]
    fn rto_restarts_with_k_zero() {
        let (mut cc, _) = after_loss(100);
        assert_eq!(cc.on_rto(T0, seg(50), seg(50), MSS), seg(35));
        // Slow start from 1 SMSS back to ssthresh does not start an epoch.
        cc.on_ack(T0, MSS, seg(35), MSS, MSS, None, false);
        assert!(cc.epoch.is_none());
        let later = T0 + Duration::from_secs(3);
        cc.on_ack(later, seg(35), seg(35), MSS, MSS, None, false);
        let epoch = cc.epoch.unwrap();
        assert_eq!((epoch.start, epoch.k, epoch.w_max), (later, 0.0, 35.0));
    }

    #[test]
    fn idle_restart_resets_epoch() {
        let (mut cc, cwnd) = after_loss(100);
        cc.on_ack(T0, cwnd, cwnd, MSS, MSS, None, false);
        let idle_end = T0 + Duration::from_secs(30);
        cc.on_idle_restart(idle_end);
        assert!(cc.epoch.is_none());
        let next = idle_end + Duration::from_millis(1);
        let after = cc.on_ack(next, cwnd, cwnd, MSS, MSS, None, false);
        assert_eq!(cc.epoch.unwrap().start, next);
        // Without the reset t would be 30 s, far past K: a 50% jump. With it, tiny growth.
        assert!(after < cwnd + MSS);
    }

    #[test]
    fn app_limited_freezes_cwnd_and_t() {
        let (mut cc, cwnd) = after_loss(100);
        cc.on_ack(T0, cwnd, cwnd, MSS, MSS, None, false);
        let later = T0 + Duration::from_secs(10);
        assert_eq!(cc.on_ack(later, cwnd, cwnd, MSS, MSS, None, true), cwnd);
        // The 10 application-limited seconds are excluded from t.
        assert_eq!(cc.epoch.unwrap().start, later);
    }

    #[test]
    fn degenerate_inputs() {
        let mut cc = Cubic::new();
        let far = Instant::from_micros(u64::MAX);
        // cwnd 0 is read as 1 SMSS; with no loss history α = 1: one SMSS per SMSS-window.
        assert_eq!(cc.on_ack(T0, 0, 0, MSS, MSS, None, false), 2 * MSS);
        assert_eq!(cc.on_ack(T0, 0, 0, 0, 0, None, false), 1);
        assert_eq!(cc.on_congestion_event(T0, 0, 0, 0), 1);
        assert_eq!(
            cc.on_ack(far, 0, 0, u32::MAX, 0, Some(Duration::MAX), false),
            u32::MAX
        );
        assert_eq!(cc.on_rto(far, u32::MAX, u32::MAX, u32::MAX), u32::MAX);
        let c = cc.on_ack(far, u32::MAX, 0, u32::MAX, 1, Some(Duration::MAX), false);
        assert_eq!(c, u32::MAX);
    }
}
