//! The Recovery part of a connection: what the sender knows of the path — round-trip timing
//! and the retransmission timer's backoff (RFC 6298), the congestion controller that owns
//! cwnd and ssthresh (congestion/), HyStart++, PRR's accounting, the SACK scoreboard and the
//! recovery point. What an ACK does to it is loss.rs.

use std::collections::VecDeque;

use crate::config::Config;
use crate::congestion::hystart::HyStart;
use crate::congestion::{Cc, Controller};
use crate::prr::Prr;
use crate::rtt::Rtt;
use crate::sack::Scoreboard;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::undo::Undo;

/// The sender's view of the path: round-trip timing and retransmission (RFC 6298), the
/// congestion window and its controller (RFC 5681, RFC 9438, HyStart++), and loss recovery
/// (RFC 6582 NewReno, RFC 6675 SACK with its scoreboard, RFC 6937 PRR). RACK-TLP will live
/// here too.
pub(crate) struct Recovery {
    pub rtt: Rtt,
    /// One segment being timed (sequence number that must be ACKed, and when it was sent).
    pub rtt_probe: Option<(SeqNum, Instant)>,
    /// Consecutive RTO expiries without progress.
    pub retries: u32,
    /// When the current unacknowledged data was last making progress (R2 is measured from here).
    pub progress_at: Instant,
    pub syn_timed_out: bool,
    pub dupacks: u32,
    /// Fast recovery (RFC 5681 §3.2, RFC 6582): the highest sequence sent when it began.
    pub recover: Option<SeqNum>,
    /// Retransmit the segment at SND.UNA now (fast retransmit, partial ACK).
    pub rexmit_head: bool,
    /// No fast recovery until SND.UNA passes this (the highest sequence sent at the last
    /// timeout, RFC 6582 §3.2 step 1).
    pub recover_floor: SeqNum,
    /// The congestion controller (RFC 5681 NewReno or RFC 9438 CUBIC, MAY-18, or one plugged
    /// in through `Config::controller`): it owns cwnd and ssthresh.
    pub cc: Cc,
    /// HyStart++ in the initial slow start (congestion/hystart.rs).
    pub hystart: HyStart,
    /// Proportional Rate Reduction's accounting for the current SACK recovery (prr.rs).
    pub prr: Prr,
    /// The SACK scoreboard (RFC 6675).
    pub scoreboard: Scoreboard,
    /// The most bytes in flight during the current window of data, and the sequence number
    /// that ends that window: the controller grows cwnd only if the sender used it (RFC 7661).
    pub flight_peak: u32,
    pub flight_peak_until: SeqNum,
    /// Retransmissions sent in this SACK recovery: (first octet, SND.MAX when sent). If data
    /// sent after one is SACKed while it is not, it was lost too.
    pub rexmit_log: VecDeque<(SeqNum, SeqNum)>,
    /// Spurious retransmission detection and undo (undo.rs).
    pub undo: Undo,
    /// RACK-TLP (rack.rs), made with the first data segment of a connection that agreed on
    /// SACK, when `Config::rack` is on: boxed, so a connection that never sends data (and
    /// every idle one's TCB) stays small.
    pub rack: Option<Box<crate::rack::Rack>>,
}

impl Recovery {
    /// The congestion window, bytes (the controller's).
    #[inline]
    pub(crate) fn cwnd(&self) -> u32 {
        self.cc.window()
    }

    /// The slow-start threshold, bytes (the controller's).
    #[inline]
    pub(crate) fn ssthresh(&self) -> u32 {
        self.cc.ssthresh()
    }

    #[inline]
    pub(crate) fn set_cwnd(&mut self, cwnd: u32) {
        self.cc.set_window(cwnd);
    }

    #[inline]
    /// Change to the built-in controller `algorithm` (MAY-18); the window and threshold carry
    /// over.
    pub(crate) fn switch_controller(&mut self, algorithm: crate::congestion::Algorithm) {
        if self.cc.algorithm() != Some(algorithm) {
            let (cwnd, ssthresh) = (self.cwnd(), self.ssthresh());
            self.cc = Cc::new(algorithm);
            self.cc.set_window(cwnd);
            self.cc.set_ssthresh(ssthresh);
        }
    }

    pub(crate) fn new(iss: SeqNum, cfg: &Config, now: Instant) -> Recovery {
        Recovery {
            rtt: Rtt::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            rtt_probe: None,
            retries: 0,
            progress_at: now,
            syn_timed_out: false,
            dupacks: 0,
            recover: None,
            rexmit_head: false,
            recover_floor: iss,
            cc: Cc::from_config(cfg),
            hystart: HyStart::new(cfg.hystart),
            prr: Prr::default(),
            scoreboard: Scoreboard::new(),
            flight_peak: 0,
            flight_peak_until: iss,
            rexmit_log: VecDeque::new(),
            undo: Undo::default(),
            rack: None,
        }
    }
}
