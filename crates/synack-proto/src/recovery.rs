//! Loss recovery and the congestion window: what an ACK means for the sender.
//!
//! Loss detection lives here: three duplicate ACKs (RFC 5681 §3.2) or, with SACK, the
//! scoreboard's IsLost (RFC 6675 §5). Recovery without SACK is NewReno (RFC 6582: window
//! inflation, partial ACKs retransmit the next hole); with SACK it is RFC 6675's pipe and
//! NextSeg (output.rs). The window arithmetic itself — slow start, congestion avoidance, the
//! reduction on loss — belongs to the connection's [`crate::congestion::Controller`].

use crate::congestion::Controller;
use crate::connection::{Connection, Ctx};
use crate::prr::Prr;
use crate::sack::DUP_THRESH;
use crate::seq::SeqNum;

/// What the ACK field of a segment says, as step 5 has worked it out.
pub(crate) struct AckInfo<'a> {
    pub ack: SeqNum,
    /// A duplicate ACK in RFC 5681's sense (no data, same window, data outstanding).
    pub duplicate: bool,
    pub sack_blocks: &'a [(u32, u32)],
    pub tsecr: Option<u32>,
}

impl Connection {
    /// Step 5 for a synchronized connection whose ACK is acceptable.
    pub(crate) fn process_ack(&mut self, ctx: &mut Ctx<'_>, info: AckInfo<'_>) {
        let mss = u32::from(self.snd_mss);
        let mut newly_sacked = 0;
        // For PRR's DeliveredData (RFC 6937 §3): SND.UNA's advance plus the change in the
        // bytes SACKed.
        let (una_before, sacked_before) = (self.snd_una, self.scoreboard.sacked_bytes());
        let lost_retransmits_before = self.lost_retransmits;
        if self.sack_ok && !info.sack_blocks.is_empty() {
            (newly_sacked, _) =
                self.scoreboard
                    .on_ack(self.snd_una, self.snd_max, info.sack_blocks);
            self.detect_lost_retransmissions(info.ack);
        }
        if self.snd_una < info.ack {
            let acked = info.ack - self.snd_una;
            let rtt_ms = self.ack_arrived(ctx, info.ack, info.tsecr);
            self.scoreboard.advance(self.snd_una);
            self.dupacks = 0;
            match self.recover {
                Some(point) if self.snd_una >= point => {
                    // Full ACK: recovery is over (RFC 6582 §3.2 step 3, RFC 6675 §5).
                    self.recover = None;
                    self.rexmit_log.clear();
                    self.cwnd = if self.sack_ok {
                        // RFC 6675 set cwnd = ssthresh on entry and the pipe, not cwnd,
                        // paced recovery: cwnd stays.
                        self.ssthresh.max(mss)
                    } else {
                        // RFC 6582 §3.2 step 3 option 1: deflate the inflated window without
                        // allowing a burst.
                        self.ssthresh.min(self.in_flight().max(mss) + mss).max(mss)
                    };
                }
                Some(_) => {
                    if !self.sack_ok {
                        // NewReno partial ACK: retransmit the next hole at once and deflate
                        // by what was acknowledged, adding back one SMSS (RFC 6582 §3.2 step 3).
                        self.rexmit_head = true;
                        self.cwnd = self.cwnd.saturating_sub(acked).saturating_add(mss).max(mss);
                    }
                }
                None => {
                    // Not cwnd-limited if the most in flight over the last window stayed
                    // under half of cwnd (RFC 7661's spirit; Linux's tcp_is_cwnd_limited).
                    let app_limited = self.flight_peak.saturating_mul(2) < self.cwnd;
                    // A round ends when the ACK passes what was sent when it began.
                    let new_round = self.snd_una >= self.flight_peak_until;
                    if new_round {
                        self.flight_peak = self.in_flight();
                        self.flight_peak_until = self.snd_max;
                    }
                    // The initial slow start (no loss yet) goes through HyStart++ (RFC 9406),
                    // which may slow its growth or end it.
                    let mut credit = acked;
                    if self.ssthresh == u32::MAX {
                        let step = self.hystart.on_ack(new_round, acked, mss, rtt_ms);
                        credit = step.credit;
                        if step.end_slow_start {
                            self.ssthresh = self.cwnd;
                        }
                    }
                    let srtt = self.rtt.srtt();
                    self.cwnd = self.cc.on_ack(
                        ctx.now,
                        self.cwnd,
                        self.ssthresh,
                        credit,
                        mss,
                        srtt,
                        app_limited,
                    );
                }
            }
        } else if info.duplicate && (!self.sack_ok || newly_sacked > 0) {
            // RFC 6675 §2: with SACK in use, a duplicate ACK must also SACK octets not SACKed
            // before. One that only repeats what is known (a D-SACK for data the peer already
            // had, as after a timeout's go-back-N resend) says nothing about loss.
            self.dupacks = self.dupacks.saturating_add(1);
            if self.recover.is_some() && !self.sack_ok {
                self.cwnd = self.cwnd.saturating_add(mss); // NewReno inflation
            }
        }
        // Enter recovery on the third duplicate ACK, or when the scoreboard declares the
        // first unacknowledged segment lost (RFC 6675 §5 (a), (b)); after a timeout only
        // once the cumulative ACK passes what was outstanding then (RFC 6582 §3.2 step 1).
        if self.recover.is_none()
            && self.snd_una != self.snd_max
            && self.snd_una >= self.recover_floor
        {
            let by_dupacks = info.duplicate && self.dupacks >= DUP_THRESH;
            let by_sack = self.sack_ok && self.scoreboard.loss_detected(self.snd_una, mss);
            if by_dupacks || by_sack {
                self.enter_recovery(ctx);
                // RecoverFS: what was in flight before this ACK, less what was SACKed then.
                self.prr = Prr::start(self.snd_max - una_before, sacked_before);
            }
        }
        if self.sack_ok && self.recover.is_some() && ctx.cfg.prr {
            // Every ACK of a SACK recovery but the one that ends it (RFC 6937 §3).
            let acked = self.snd_una - una_before;
            let delivered = (acked + self.scoreboard.sacked_bytes()).saturating_sub(sacked_before);
            // RFC 9937's safe ACK: progress, and nothing newly SACKed (only new SACK
            // information can show a new loss) nor a retransmission found lost.
            let safe =
                acked > 0 && newly_sacked == 0 && self.lost_retransmits == lost_retransmits_before;
            let pipe = self.scoreboard.pipe(self.snd_una, self.snd_max, mss);
            if let Some(cwnd) = self.prr.on_ack(delivered, pipe, self.ssthresh, mss, safe) {
                // At least a segment: with nothing in the pipe no ACK would come to clock
                // the next one.
                self.cwnd = cwnd.max(mss);
            }
        }
    }

    /// Remember a retransmission sent during SACK recovery (bounded; the oldest go first).
    pub(crate) fn log_retransmission(&mut self, seq: SeqNum) {
        if self.rexmit_log.len() >= 64 {
            self.rexmit_log.pop_front();
        }
        self.rexmit_log.push_back((seq, self.snd_max));
    }

    /// A retransmission is lost when the receiver SACKs data first sent after it while the
    /// retransmitted octets are neither SACKed nor acknowledged (the lost-retransmission check
    /// of Linux's SACK recovery; RFC 6675 alone would wait for the RTO). NextSeg may then
    /// offer it again.
    fn detect_lost_retransmissions(&mut self, ack: SeqNum) {
        if self.recover.is_none() {
            return;
        }
        let Some(high_sacked) = self.scoreboard.high_sacked() else {
            return;
        };
        let una = ack.max(self.snd_una);
        let mut i = 0;
        while i < self.rexmit_log.len() {
            let (seq, sent_max) = self.rexmit_log[i];
            if seq < una {
                self.rexmit_log.remove(i);
                continue;
            }
            if high_sacked > sent_max && !self.scoreboard.is_sacked(seq) {
                self.scoreboard.rewind_high_rxt(seq);
                self.lost_retransmits = self.lost_retransmits.saturating_add(1);
                self.rexmit_log.remove(i);
                continue;
            }
            i += 1;
        }
    }

    fn enter_recovery(&mut self, ctx: &mut Ctx<'_>) {
        let mss = u32::from(self.snd_mss);
        self.ssthresh = self
            .cc
            .on_congestion_event(ctx.now, self.cwnd, self.in_flight(), mss);
        self.recover = Some(self.snd_max);
        self.fast_retransmits = self.fast_retransmits.saturating_add(1);
        if self.sack_ok {
            self.cwnd = self.ssthresh; // RFC 6675 §5 step 4 (pipe does the rest)
            self.scoreboard.reset_recovery(self.snd_una);
        } else {
            self.cwnd = self.ssthresh.saturating_add(3 * mss); // RFC 5681 §3.2 step 3
        }
        // Retransmit the first unacknowledged segment now, whatever the window says.
        self.rexmit_head = true;
        self.rtt_probe = None;
    }

    /// The retransmission timer expired: the controller's response (RFC 5681 §3.1), forget
    /// SACK information (the receiver may have reneged, RFC 2018 §8), and no fast retransmit
    /// until what is outstanding now is acknowledged (RFC 6582 §3.2).
    pub(crate) fn congestion_on_rto(&mut self, ctx: &mut Ctx<'_>) {
        let mss = u32::from(self.snd_mss);
        if self.snd_una != self.snd_max && self.retries <= 1 {
            // Only the first expiry for a segment reduces ssthresh (RFC 5681 §3.1 eq. 4).
            self.ssthresh = self.cc.on_rto(ctx.now, self.cwnd, self.in_flight(), mss);
        }
        self.cwnd = mss;
        self.dupacks = 0;
        self.recover = None;
        self.recover_floor = self.snd_max;
        self.rexmit_head = false;
        self.rexmit_log.clear();
        self.scoreboard.clear();
    }
}
