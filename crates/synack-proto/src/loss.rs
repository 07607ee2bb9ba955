//! Loss recovery and the congestion window: what an ACK means for the sender.
//!
//! Loss detection lives here: with SACK, RACK's verdicts by time (RFC 8985, rack.rs) and
//! tail loss probes; without RACK, three duplicate ACKs (RFC 5681 §3.2) or the scoreboard's
//! IsLost (RFC 6675 §5). Recovery without SACK is NewReno (RFC 6582: window
//! inflation, partial ACKs retransmit the next hole); with SACK it is RFC 6675's pipe and
//! NextSeg (output.rs). The window arithmetic itself — slow start, congestion avoidance, the
//! reduction on loss — belongs to the connection's [`crate::congestion::Controller`].

use crate::congestion::Controller;
use crate::connection::{Connection, Ctx};
use crate::prr::Prr;
use crate::rack::{AckNews, LossTimer};
use crate::sack::DUP_THRESH;
use crate::seq::SeqNum;
use crate::timers::Timer;

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
        let mss = u32::from(self.opts.snd_mss());
        let mut newly_sacked = 0;
        let mut dsack = false;
        let was_recovering = self.rec.recover.is_some();
        // For PRR's DeliveredData (RFC 6937 §3): SND.UNA's advance plus the change in the
        // bytes SACKed.
        let (una_before, sacked_before) = (self.snd.una(), self.rec.scoreboard.sacked_bytes());
        let lost_retransmits_before = self.stats.lost_retransmits;
        if self.opts.sack_ok() && !info.sack_blocks.is_empty() {
            (newly_sacked, dsack) = self.rec.scoreboard.on_ack(
                self.snd.una(),
                info.ack,
                self.snd.max(),
                info.sack_blocks,
            );
            if self.rec.rack.is_none() {
                self.detect_lost_retransmissions(info.ack); // RACK finds these by time
            }
        }
        if self.snd.una() < info.ack {
            let acked = info.ack - self.snd.una();
            let rtt_ms = self.ack_arrived(ctx, info.ack, info.tsecr);
            self.rec.scoreboard.advance(self.snd.una());
            self.rec.dupacks = 0;
            match self.rec.recover {
                Some(point) if self.snd.una() >= point => {
                    // Full ACK: recovery is over (RFC 6582 §3.2 step 3, RFC 6675 §5).
                    self.rec.recover = None;
                    self.rec.rexmit_log.clear();
                    self.rec.set_cwnd(if self.opts.sack_ok() {
                        // RFC 6675 set cwnd = ssthresh on entry and the pipe, not cwnd,
                        // paced recovery: cwnd stays.
                        self.rec.ssthresh().max(mss)
                    } else {
                        // RFC 6582 §3.2 step 3 option 1: deflate the inflated window without
                        // allowing a burst.
                        self.rec
                            .ssthresh()
                            .min(self.snd.in_flight().max(mss) + mss)
                            .max(mss)
                    });
                }
                Some(_) => {
                    if !self.opts.sack_ok() {
                        // NewReno partial ACK: retransmit the next hole at once and deflate
                        // by what was acknowledged, adding back one SMSS (RFC 6582 §3.2 step 3).
                        self.rec.rexmit_head = true;
                        let cwnd = self.rec.cwnd();
                        self.rec
                            .set_cwnd(cwnd.saturating_sub(acked).saturating_add(mss).max(mss));
                    }
                }
                None => {
                    // Not cwnd-limited if the most in flight over the last window stayed
                    // under half of cwnd (RFC 7661's spirit; Linux's tcp_is_cwnd_limited).
                    let app_limited = self.rec.flight_peak.saturating_mul(2) < self.rec.cwnd();
                    // A round ends when the ACK passes what was sent when it began.
                    let new_round = self.snd.una() >= self.rec.flight_peak_until;
                    if new_round {
                        self.rec.flight_peak = self.snd.in_flight();
                        self.rec.flight_peak_until = self.snd.max();
                    }
                    // The initial slow start (no loss yet) goes through HyStart++ (RFC 9406),
                    // which may slow its growth or end it.
                    let mut credit = acked;
                    if self.rec.ssthresh() == u32::MAX {
                        let step = self.rec.hystart.on_ack(new_round, acked, mss, rtt_ms);
                        credit = step.credit;
                        if step.end_slow_start {
                            let cwnd = self.rec.cwnd();
                            self.rec.cc.set_ssthresh(cwnd);
                        }
                    }
                    let srtt = self.rec.rtt.srtt();
                    self.rec.cc.on_ack(ctx.now, credit, mss, srtt, app_limited);
                }
            }
        } else if info.duplicate && (!self.opts.sack_ok() || newly_sacked > 0) {
            // RFC 6675 §2: with SACK in use, a duplicate ACK must also SACK octets not SACKed
            // before. One that only repeats what is known (a D-SACK for data the peer already
            // had, as after a timeout's go-back-N resend) says nothing about loss.
            self.rec.dupacks = self.rec.dupacks.saturating_add(1);
            if self.rec.recover.is_some() && !self.opts.sack_ok() {
                // NewReno inflation.
                self.rec.set_cwnd(self.rec.cwnd().saturating_add(mss));
            }
        }
        if self.rec.rack.is_some() {
            // RFC 8985 §6.2 steps 1–4 on every ACK, then the verdicts of step 5; and §7.4:
            // the answer to a tail loss probe.
            self.rack_on_ack(ctx, &info, dsack, was_recovering);
            let repaired = self
                .rec
                .rack
                .as_mut()
                .is_some_and(|r| r.probe_answered(info.ack, dsack));
            if repaired && self.rec.recover.is_none() {
                // The probe repaired a loss nothing else saw: the congestion response of a
                // recovery, once (enter it and leave it at once, §7.4.2).
                self.stats.tlp_repairs = self.stats.tlp_repairs.saturating_add(1);
                let in_flight = self.snd.in_flight();
                self.rec.cc.on_congestion_event(ctx.now, in_flight, mss);
                self.rec.set_cwnd(self.rec.ssthresh().max(mss));
            }
            self.rack_verdict(ctx, una_before, sacked_before);
            if self.snd.una() > una_before || self.rec.recover.is_some() {
                self.schedule_probe(ctx);
            }
        } else if self.rec.recover.is_none()
            && self.snd.una() != self.snd.max()
            && self.snd.una() >= self.rec.recover_floor
        {
            // Enter recovery on the third duplicate ACK, or when the scoreboard declares the
            // first unacknowledged segment lost (RFC 6675 §5 (a), (b)); after a timeout only
            // once the cumulative ACK passes what was outstanding then (RFC 6582 §3.2 step 1).
            let by_dupacks = info.duplicate && self.rec.dupacks >= DUP_THRESH;
            let by_sack =
                self.opts.sack_ok() && self.rec.scoreboard.loss_detected(self.snd.una(), mss);
            if by_dupacks || by_sack {
                self.enter_recovery(ctx);
                // RecoverFS: what was in flight before this ACK, less what was SACKed then.
                self.rec.prr = Prr::start(self.snd.max() - una_before, sacked_before);
            }
        }
        if self.opts.sack_ok() && self.rec.recover.is_some() && ctx.cfg.prr {
            // Every ACK of a SACK recovery but the one that ends it (RFC 6937 §3).
            let acked = self.snd.una() - una_before;
            let delivered =
                (acked + self.rec.scoreboard.sacked_bytes()).saturating_sub(sacked_before);
            // RFC 9937's safe ACK: progress, and nothing newly SACKed (only new SACK
            // information can show a new loss) nor a retransmission found lost.
            let safe = acked > 0
                && newly_sacked == 0
                && self.stats.lost_retransmits == lost_retransmits_before;
            let pipe = self.pipe(mss);
            if let Some(cwnd) = self
                .rec
                .prr
                .on_ack(delivered, pipe, self.rec.ssthresh(), mss, safe)
            {
                // At least a segment: with nothing in the pipe no ACK would come to clock
                // the next one.
                self.rec.set_cwnd(cwnd.max(mss));
            }
        }
        // Spurious retransmission detection and undo (undo.rs).
        self.undo_on_ack(ctx, &info, una_before, dsack);
    }

    /// Bytes in flight during SACK recovery (RFC 6675 SetPipe): from RACK's records where it
    /// runs, else from the scoreboard.
    pub(crate) fn pipe(&self, mss: u32) -> u32 {
        match &self.rec.rack {
            Some(rack) => rack.pipe(),
            None => self
                .rec
                .scoreboard
                .pipe(self.snd.una(), self.snd.max(), mss),
        }
    }

    /// Give RACK what this ACK delivered (RFC 8985 §6.2 steps 1–4).
    fn rack_on_ack(
        &mut self,
        ctx: &Ctx<'_>,
        info: &AckInfo<'_>,
        dsack: bool,
        was_recovering: bool,
    ) {
        let (una, max) = (self.snd.una(), self.snd.max());
        let mut sacked = [(SeqNum(0), SeqNum(0)); 4];
        let mut n = 0;
        if self.opts.sack_ok() {
            for &(l, r) in info.sack_blocks.iter().take(4) {
                let (l, r) = (SeqNum(l), SeqNum(r));
                // Inside what is in flight, as the scoreboard clips them (D-SACKs fall out).
                if l < r && r > una && l < max {
                    sacked[n] = (l.max(una), r.min(max));
                    n += 1;
                }
            }
        }
        let news = AckNews {
            una,
            sacked: &sacked[..n],
            dsack,
            tsecr: info
                .tsecr
                .filter(|_| self.opts.ts_ok())
                .map(|ecr| (ecr, self.opts.ts_offset())),
            now: ctx.now,
            snd_nxt: max,
            recovery_ended: was_recovering && self.rec.recover.is_none(),
        };
        if let Some(rack) = self.rec.rack.as_mut() {
            rack.on_ack(&news);
        }
    }

    /// RACK's verdicts (RFC 8985 §6.2 step 5): mark what is lost, arm the reordering timer for
    /// what may still be, and start recovery when something is lost — not within the window
    /// a timeout's go-back-N is still resending (RFC 6582 §3.2 step 1, as without RACK).
    /// `una_before`/`sacked_before` are PRR's RecoverFS inputs (what was in flight before
    /// the ACK at hand).
    pub(crate) fn rack_verdict(
        &mut self,
        ctx: &mut Ctx<'_>,
        una_before: SeqNum,
        sacked_before: u32,
    ) {
        let in_recovery = self.rec.recover.is_some();
        let srtt = self.rec.rtt.srtt_us();
        let Some(rack) = self.rec.rack.as_mut() else {
            return;
        };
        let (lost, recheck) = rack.detect_loss(ctx.now, in_recovery, srtt);
        self.stats.rack_lost = self.stats.rack_lost.saturating_add(lost);
        match recheck {
            Some(at) => {
                rack.timer = LossTimer::Reorder;
                self.timers.start(Timer::Loss, at);
            }
            None if rack.timer == LossTimer::Reorder => {
                rack.timer = LossTimer::Off;
                self.timers.stop(Timer::Loss);
            }
            None => {}
        }
        if !in_recovery
            && self.snd.una() != self.snd.max()
            && self.snd.una() >= self.rec.recover_floor
            && (lost > 0 || rack.any_lost())
        {
            self.enter_recovery(ctx);
            self.rec.prr = Prr::start(self.snd.max() - una_before, sacked_before);
        }
    }

    /// Arm the tail loss probe (RFC 8985 §7.2) after new data goes out or an ACK moves
    /// SND.UNA: only outside recovery, with nothing SACKed, no probe unanswered, and the
    /// peer's window open (a closed one has the persist timer); stop it when nothing is left
    /// in flight.
    pub(crate) fn schedule_probe(&mut self, ctx: &Ctx<'_>) {
        if !ctx.cfg.tlp {
            return;
        }
        let recovering = self.rec.recover.is_some();
        let open = self.snd.una() != self.snd.max() && self.snd.wnd() > 0;
        let Some(rack) = self.rec.rack.as_mut() else {
            return;
        };
        if rack.timer == LossTimer::Reorder {
            return; // RACK's own timer runs: SACKed segments wait for a verdict
        }
        let eligible = open
            && if recovering {
                rack.may_probe_in_recovery()
            } else {
                rack.may_schedule_probe()
            };
        if eligible {
            self.arm_probe(ctx, 1);
        } else if rack.timer == LossTimer::Probe {
            rack.timer = LossTimer::Off;
            self.timers.stop(Timer::Loss);
        }
    }

    /// After a probe outside recovery: if it goes unanswered, another after twice the probe
    /// timeout (rack.rs `MAX_PROBES`), before the retransmission timer.
    pub(crate) fn schedule_repeat_probe(&mut self, ctx: &Ctx<'_>) {
        if ctx.cfg.tlp && self.rec.rack.as_ref().is_some_and(|r| r.may_probe_again()) {
            self.arm_probe(ctx, 2);
        }
    }

    /// Start the loss timer as the probe timeout (RFC 8985 §7.2), SRTT times `backoff`.
    /// Outside recovery a lone segment's ACK may be delayed (hence WCDelAckT); inside it the
    /// peer holds out-of-order data and ACKs every segment at once (RFC 5681 §4.2).
    fn arm_probe(&mut self, ctx: &Ctx<'_>, backoff: u64) {
        let mss = u32::from(self.opts.snd_mss());
        let one_segment = self.snd.in_flight() <= mss && self.rec.recover.is_none();
        let srtt = self.rec.rtt.srtt_us().map(|s| s * backoff);
        let rto_at = self.timers.get(Timer::Rto);
        if let Some(rack) = self.rec.rack.as_mut() {
            rack.timer = LossTimer::Probe;
            let at = rack.probe_timeout(ctx.now, srtt, one_segment, rto_at);
            self.timers.start(Timer::Loss, at);
        }
    }

    /// The loss timer expired: RACK's reordering timer (look at the undecided segments again)
    /// or the probe timeout (the next segment is a probe; it stands in for the
    /// retransmission timer, which restarts from now, RFC 8985 §7.3).
    pub(crate) fn on_loss_timer(&mut self, ctx: &mut Ctx<'_>) {
        let Some(rack) = self.rec.rack.as_mut() else {
            return;
        };
        match std::mem::replace(&mut rack.timer, LossTimer::Off) {
            LossTimer::Reorder => {
                let (una, sacked) = (self.snd.una(), self.rec.scoreboard.sacked_bytes());
                self.rack_verdict(ctx, una, sacked);
                // Nothing left to wait for: what is in flight may need a probe.
                self.schedule_probe(ctx);
            }
            LossTimer::Probe => {
                if self.snd.una() != self.snd.max() {
                    rack.probe_now();
                    let at = self.rto_deadline(ctx);
                    self.timers.start(Timer::Rto, at);
                }
            }
            LossTimer::Off => {}
        }
    }

    /// Remember a retransmission sent during SACK recovery (bounded; the oldest go first).
    pub(crate) fn log_retransmission(&mut self, seq: SeqNum) {
        if self.rec.rexmit_log.len() >= 64 {
            self.rec.rexmit_log.pop_front();
        }
        self.rec.rexmit_log.push_back((seq, self.snd.max()));
    }

    /// A retransmission is lost when the receiver SACKs data first sent after it while the
    /// retransmitted octets are neither SACKed nor acknowledged (the lost-retransmission check
    /// of Linux's SACK recovery; RFC 6675 alone would wait for the RTO). NextSeg may then
    /// offer it again.
    fn detect_lost_retransmissions(&mut self, ack: SeqNum) {
        if self.rec.recover.is_none() {
            return;
        }
        let Some(high_sacked) = self.rec.scoreboard.high_sacked() else {
            return;
        };
        let una = ack.max(self.snd.una());
        let mut i = 0;
        while i < self.rec.rexmit_log.len() {
            let (seq, sent_max) = self.rec.rexmit_log[i];
            if seq < una {
                self.rec.rexmit_log.remove(i);
                continue;
            }
            if high_sacked > sent_max && !self.rec.scoreboard.is_sacked(seq) {
                self.rec.scoreboard.rewind_high_rxt(seq);
                self.stats.lost_retransmits = self.stats.lost_retransmits.saturating_add(1);
                self.rec.rexmit_log.remove(i);
                continue;
            }
            i += 1;
        }
    }

    fn enter_recovery(&mut self, ctx: &mut Ctx<'_>) {
        self.undo_begin(ctx.cfg, false); // undo.rs: remember the state before the reduction
        let mss = u32::from(self.opts.snd_mss());
        let in_flight = self.snd.in_flight();
        self.rec.cc.on_congestion_event(ctx.now, in_flight, mss);
        self.rec.recover = Some(self.snd.max());
        self.stats.fast_retransmits = self.stats.fast_retransmits.saturating_add(1);
        if self.opts.sack_ok() {
            // RFC 6675 §5 step 4 (pipe does the rest).
            self.rec.set_cwnd(self.rec.ssthresh());
            self.rec.scoreboard.reset_recovery(self.snd.una());
        } else {
            // RFC 5681 §3.2 step 3.
            self.rec
                .set_cwnd(self.rec.ssthresh().saturating_add(3 * mss));
        }
        // Retransmit the first unacknowledged segment now, whatever the window says — or,
        // with RACK, the segments it marked lost, first of all.
        self.rec.rexmit_head = self.rec.rack.is_none();
        if let Some(rack) = self.rec.rack.as_mut() {
            rack.end_probe_episode();
        }
        self.rec.rtt_probe = None;
    }

    /// The retransmission timer expired: the controller's response (RFC 5681 §3.1), forget
    /// SACK information (the receiver may have reneged, RFC 2018 §8), and no fast retransmit
    /// until what is outstanding now is acknowledged (RFC 6582 §3.2).
    pub(crate) fn congestion_on_rto(&mut self, ctx: &mut Ctx<'_>) {
        self.undo_begin(ctx.cfg, true); // undo.rs: remember the state before the reduction
        let mss = u32::from(self.opts.snd_mss());
        if self.snd.una() != self.snd.max() && self.rec.retries <= 1 {
            // Only the first expiry for a segment reduces ssthresh (RFC 5681 §3.1 eq. 4).
            let in_flight = self.snd.in_flight();
            self.rec.cc.on_rto(ctx.now, in_flight, mss);
        }
        self.rec.set_cwnd(mss);
        self.rec.dupacks = 0;
        self.rec.recover = None;
        self.rec.recover_floor = self.snd.max();
        self.rec.rexmit_head = false;
        self.rec.rexmit_log.clear();
        self.rec.scoreboard.clear();
        if let Some(rack) = self.rec.rack.as_mut() {
            rack.on_rto();
            rack.timer = LossTimer::Off;
            self.timers.stop(Timer::Loss);
        }
    }
}
