//! RACK-TLP (RFC 8985): loss detection by time instead of by counting duplicate ACKs.
//!
//! RACK ("recent acknowledgment", §6) remembers when each segment in flight was last sent. When
//! the receiver reports (by SACK or cumulatively) a segment delivered, every segment sent
//! sufficiently earlier — more than the delivered one's round trip plus a reordering window —
//! and still not delivered is lost. That finds a lost retransmission, a loss in an
//! application-limited flight, and the loss behind one SACK block, where three duplicate ACKs
//! never come. TLP ("tail loss probe", §7) covers the case where no ACK comes at all: when the
//! tail of a flight is lost, a probe sent about two round trips after the last segment draws an
//! ACK with SACK information, and RACK then repairs the tail in a round trip or two instead of
//! a retransmission timeout (RFC 6298's one second floor).
//!
//! The connection keeps a [`Rack`] (boxed, made with the first data segment of a connection
//! that agreed on SACK) in its recovery part; RFC 6675's machinery keeps doing what RACK does
//! not: the pipe is counted here from the segments (in flight = sent, not SACKed, not marked
//! lost, or retransmitted since), the next segment in recovery is the first one marked lost
//! (NextSeg's rule 1 with RACK's IsLost), and PRR paces the recovery as before.
//!
//! Bounded: at most [`MAX_SEGMENTS`] records; past that a new segment is merged into the
//! record before it (that record is then as old as its newest byte, which can only delay a
//! loss verdict, never hasten one).

use std::collections::VecDeque;

use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// Records kept per connection; a larger flight is recorded in coarser pieces.
pub(crate) const MAX_SEGMENTS: usize = 8192;

/// RFC 8985 §7.2 WCDelAckT: the longest a receiver may delay the ACK of a lone segment.
pub(crate) const WORST_CASE_DELAYED_ACK: Duration = Duration::from_millis(200);

/// The shortest probe timeout, as Linux's `TCP_TIMEOUT_MIN` (2 ms): on a path of a few
/// microseconds (a TUN device on the same host) twice the round trip is shorter than the time
/// a busy receiver takes to answer, and every tail would draw a needless probe.
pub(crate) const MIN_PTO: Duration = Duration::from_millis(2);

/// Tail loss probes per episode before the retransmission timer decides. RFC 8985 §7 sends
/// one; when that one (or its ACK) is lost too, a second, a doubled probe timeout later,
/// resends the first unacknowledged segment — a lost probe then costs one more probe
/// timeout, not the retransmission timer's full second and the collapse of cwnd (QUIC's
/// probe timeouts back off the same way, RFC 9002 §6.2).
pub(crate) const MAX_PROBES: u8 = 2;

/// RFC 8985 §6.2 step 4: recoveries a D-SACK-widened reordering window persists for.
const REO_WND_PERSIST: u32 = 16;

/// RFC 6675's DupThresh, which RACK keeps as the count of SACKed segments after which it stops
/// waiting for reordering (§6.2 step 4).
const DUP_THRESH: u32 = crate::sack::DUP_THRESH;

const SACKED: u8 = 1;
/// Marked lost and not sent again since.
const LOST: u8 = 2;
/// Sent more than once.
const RETRANSMITTED: u8 = 4;

/// One segment (or, past [`MAX_SEGMENTS`], several adjacent ones) in flight.
#[derive(Clone, Copy, Debug)]
struct Sent {
    start: SeqNum,
    end: SeqNum,
    /// When it was last sent.
    xmit: Instant,
    flags: u8,
}

impl Sent {
    fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// What the connection's one loss timer ([`crate::timers::Timer::Loss`]) currently means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LossTimer {
    Off,
    /// RACK's reordering timer (§6.2 step 5): a segment's verdict waits for its window.
    Reorder,
    /// TLP's probe timeout (§7.2).
    Probe,
}

/// What an ACK tells RACK, as loss.rs has parsed it.
pub(crate) struct AckNews<'a> {
    /// The new SND.UNA (after this ACK).
    pub una: SeqNum,
    /// SACK blocks, clipped to what is in flight, as `(left, right)`.
    pub sacked: &'a [(SeqNum, SeqNum)],
    /// The first SACK block is a D-SACK (RFC 2883).
    pub dsack: bool,
    /// TSecr, with our timestamp offset, when timestamps are in use: tells a retransmission's
    /// ACK from the original's.
    pub tsecr: Option<(u32, u32)>,
    pub now: Instant,
    pub snd_nxt: SeqNum,
    pub recovery_ended: bool,
}

/// RACK-TLP's state for one connection (RFC 8985 §6.1 and §7.1 name these variables).
#[derive(Debug)]
pub(crate) struct Rack {
    /// Segments sent and not cumulatively acknowledged, in sequence order, back to back from
    /// SND.UNA to SND.MAX.
    segs: VecDeque<Sent>,
    /// RACK.xmit_ts and RACK.end_seq: the most recently sent segment of those delivered.
    xmit_ts: Option<Instant>,
    end_seq: SeqNum,
    /// RACK.rtt: that segment's round trip, µs (all of RACK's arithmetic is in µs).
    rtt: u64,
    /// RACK.min_RTT: the least round trip seen (a connection-long minimum), µs.
    min_rtt: Option<u64>,
    /// RACK.fack: the highest sequence delivered.
    fack: SeqNum,
    /// RACK.reordering_seen.
    reordering_seen: bool,
    /// RACK.dsack_round, RACK.reo_wnd_mult, RACK.reo_wnd_persist.
    dsack_round: Option<SeqNum>,
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    /// RACK.reo_wnd as last computed (for `info()`), µs.
    reo_wnd: u64,
    /// Segments SACKed (RACK.segs_sacked).
    segs_sacked: u32,
    /// The end of the highest retransmitted record: above it every record is an original
    /// transmission, sent in sequence order, so a loss scan may stop early there.
    retransmitted_to: SeqNum,
    /// TLP.end_seq and TLP.is_retrans: a probe episode in progress.
    tlp_end: Option<SeqNum>,
    tlp_is_retrans: bool,
    /// Probes sent in the unanswered episode (at most [`MAX_PROBES`]).
    episode_probes: u8,
    /// A probe is due (the probe timer fired): the next transmission is the probe.
    probe_due: bool,
    /// A recovery probe went out and no ACK has come since (at most one per silence).
    recovery_probe_out: bool,
    /// Recovery probes sent since SND.UNA last moved: after two, the retransmission timer
    /// (with its backoff) takes over.
    probes_since_progress: u8,
    last_una: SeqNum,
    pub(crate) timer: LossTimer,
}

/// RFC 8985 §6.2 RACK_sent_after(t1, seq1, t2, seq2).
fn sent_after(t1: Instant, seq1: SeqNum, t2: Instant, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1 > seq2)
}

impl Rack {
    pub(crate) fn new(una: SeqNum) -> Rack {
        Rack {
            segs: VecDeque::new(),
            xmit_ts: None,
            end_seq: una,
            rtt: 0,
            min_rtt: None,
            fack: una,
            reordering_seen: false,
            dsack_round: None,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            reo_wnd: 0,
            segs_sacked: 0,
            retransmitted_to: una,
            tlp_end: None,
            tlp_is_retrans: false,
            episode_probes: 0,
            probe_due: false,
            recovery_probe_out: false,
            probes_since_progress: 0,
            last_una: una,
            timer: LossTimer::Off,
        }
    }

    /// `[seq, end)` went out at `now` (data, or a FIN's sequence number): a new record, or
    /// for a retransmission the records it covers restamped.
    pub(crate) fn on_sent(&mut self, seq: SeqNum, end: SeqNum, now: Instant) {
        let top = self.segs.back().map_or(seq, |s| s.end);
        if seq < top {
            self.resent(seq, end.min(top), now);
        }
        let from = seq.max(top);
        if from < end {
            let full = self.segs.len() >= MAX_SEGMENTS;
            match self.segs.back_mut() {
                Some(last) if full && last.end == from => {
                    last.end = end;
                    last.xmit = now;
                }
                _ => self.segs.push_back(Sent {
                    start: from,
                    end,
                    xmit: now,
                    flags: 0,
                }),
            }
        }
    }

    /// Restamp the records in `[seq, end)` as retransmitted now, splitting the ones that
    /// straddle its edges.
    fn resent(&mut self, seq: SeqNum, end: SeqNum, now: Instant) {
        let mut i = self.segs.partition_point(|s| s.end <= seq);
        while i < self.segs.len() && self.segs[i].start < end {
            let s = self.segs[i];
            if s.start < seq {
                self.split(i, seq);
                i += 1;
                continue;
            }
            if end < s.end {
                self.split(i, end);
            }
            let r = &mut self.segs[i];
            r.xmit = now;
            r.flags = (r.flags & !LOST) | RETRANSMITTED;
            self.retransmitted_to = self.retransmitted_to.max(r.end);
            i += 1;
        }
    }

    /// Cut record `i` in two at `at` (inside it). Past the record limit the cut is skipped:
    /// the whole record then counts as resent, which delays verdicts only.
    fn split(&mut self, i: usize, at: SeqNum) {
        if self.segs.len() >= MAX_SEGMENTS {
            return;
        }
        let mut right = self.segs[i];
        right.start = at;
        self.segs[i].end = at;
        self.segs.insert(i + 1, right);
    }

    /// Steps 1–4 of RFC 8985 §6.2 for one ACK: forget what it acknowledges cumulatively, mark
    /// what it SACKs, and update RACK.xmit_ts/end_seq/rtt, min_RTT, reordering and the
    /// reordering window's multiplier from every segment newly delivered.
    pub(crate) fn on_ack(&mut self, news: &AckNews<'_>) {
        self.recovery_probe_out = false;
        if news.una > self.last_una {
            self.last_una = news.una;
            self.probes_since_progress = 0;
        }
        while let Some(&s) = self.segs.front() {
            if s.end > news.una {
                if s.start < news.una {
                    self.segs[0].start = news.una; // partly acknowledged: not delivered yet
                }
                break;
            }
            self.segs.pop_front();
            if s.is(SACKED) {
                self.segs_sacked = self.segs_sacked.saturating_sub(1);
            } else {
                self.delivered(&s, news, false);
            }
        }
        for &(lo, hi) in news.sacked {
            let mut i = self.segs.partition_point(|s| s.start < lo);
            while let Some(s) = self.segs.get(i).copied() {
                if s.end > hi {
                    break;
                }
                if !s.is(SACKED) {
                    self.segs[i].flags = (s.flags | SACKED) & !LOST;
                    self.segs_sacked += 1;
                    self.delivered(&s, news, true);
                }
                i += 1;
            }
        }
        // Step 4: the reordering window's multiplier, widened once per round trip by D-SACK
        // (the peer received something twice: we retransmitted too soon) and reset after 16
        // recoveries without one.
        if self.dsack_round.is_some_and(|r| news.una >= r) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() && news.dsack {
            self.dsack_round = Some(news.snd_nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = REO_WND_PERSIST;
        } else if news.recovery_ended {
            self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// Steps 1–3 for one segment newly delivered (cumulatively or by SACK).
    fn delivered(&mut self, s: &Sent, news: &AckNews<'_>, by_sack: bool) {
        // Step 3: an original transmission delivered below the highest delivered sequence
        // arrived out of order.
        if s.end < self.fack && !s.is(RETRANSMITTED) {
            self.reordering_seen = true;
        }
        self.fack = self.fack.max(s.end);
        let rtt = news.now.as_micros().saturating_sub(s.xmit.as_micros());
        if s.is(RETRANSMITTED) {
            // Step 2: an ACK that may be for an earlier transmission says nothing about this
            // one's round trip: its TSecr predates the retransmission, or the round trip
            // would be shorter than any seen. TSecr speaks only for what the ACK
            // acknowledges cumulatively: for data above a hole the receiver echoes the last
            // in-order segment's TSval (RFC 7323 §4.3), older than any retransmission SACKed
            // with it — as Linux, the SACKed take the round-trip test alone.
            if let Some((ecr, offset)) = news.tsecr.filter(|_| !by_sack) {
                let sent_ts = crate::isn::ts_clock(s.xmit, offset);
                if (ecr.wrapping_sub(sent_ts) as i32) < 0 {
                    return;
                }
            }
            if self.min_rtt.is_some_and(|m| rtt < m) {
                return;
            }
        }
        // Step 1 (a connection-long minimum) and step 2.
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
        match self.xmit_ts {
            Some(t) if !sent_after(s.xmit, s.end, t, self.end_seq) => {}
            _ => {
                self.xmit_ts = Some(s.xmit);
                self.end_seq = s.end;
                self.rtt = rtt;
            }
        }
    }

    /// RFC 8985 §6.2 step 4, RACK_update_reo_wnd's result: no wait during recovery or once
    /// DupThresh segments are SACKed, unless reordering was seen; otherwise a quarter of the
    /// least round trip (times the D-SACK multiplier), at most SRTT.
    fn reordering_window(&self, in_recovery: bool, srtt_us: Option<u64>) -> u64 {
        if !self.reordering_seen && (in_recovery || self.segs_sacked >= DUP_THRESH) {
            return 0;
        }
        let w = (self.min_rtt.unwrap_or(0) / 4).saturating_mul(u64::from(self.reo_wnd_mult));
        srtt_us.map_or(w, |s| w.min(s))
    }

    /// RFC 8985 §6.2 step 5, RACK_detect_loss: mark lost every segment not delivered that
    /// was sent before RACK's segment by more than RACK.rtt + RACK.reo_wnd. Returns how many
    /// were marked, and when the earliest undecided one should be looked at again (the
    /// reordering timer).
    pub(crate) fn detect_loss(
        &mut self,
        now: Instant,
        in_recovery: bool,
        srtt_us: Option<u64>,
    ) -> (u32, Option<Instant>) {
        let Some(rack_xmit) = self.xmit_ts else {
            return (0, None);
        };
        // Nothing SACKed and nothing resent outstanding: every segment in flight was sent
        // after every one delivered (which left at the front), so none can be judged — the
        // common ACK of a loss-free flight costs no scan.
        self.reo_wnd = self.reordering_window(in_recovery, srtt_us);
        let front = self.segs.front().map(|s| s.start);
        if !in_recovery && self.segs_sacked == 0 && front.is_none_or(|f| self.retransmitted_to <= f)
        {
            return (0, None);
        }
        let wait = self.rtt.saturating_add(self.reo_wnd);
        let now_us = now.as_micros();
        let (mut lost, mut later) = (0u32, None::<u64>);
        for s in self.segs.iter_mut() {
            if !sent_after(rack_xmit, self.end_seq, s.xmit, s.end) {
                if s.start >= self.retransmitted_to {
                    break; // every record from here on was sent later still
                }
                continue;
            }
            if s.flags & (SACKED | LOST) != 0 {
                continue;
            }
            let due = s.xmit.as_micros().saturating_add(wait);
            if due <= now_us {
                s.flags |= LOST;
                lost += 1;
            } else {
                later = Some(later.map_or(due, |l: u64| l.max(due)));
            }
        }
        (lost, later.map(Instant::from_micros))
    }

    /// Bytes in flight by the segments (RFC 6675's SetPipe with RACK's IsLost): sent and
    /// neither delivered nor marked lost; a lost segment counts again once retransmitted.
    pub(crate) fn pipe(&self) -> u32 {
        let n: u64 = self
            .segs
            .iter()
            .filter(|s| s.flags & (SACKED | LOST) == 0)
            .map(|s| u64::from(s.end - s.start))
            .sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Bytes marked lost and not yet resent (for `info()`).
    pub(crate) fn lost_bytes(&self) -> u32 {
        let n: u64 = self
            .segs
            .iter()
            .filter(|s| s.is(LOST) && !s.is(SACKED))
            .map(|s| u64::from(s.end - s.start))
            .sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The first segment marked lost and not yet resent: what recovery sends first.
    pub(crate) fn next_lost(&self) -> Option<(SeqNum, SeqNum)> {
        self.segs
            .iter()
            .find(|s| s.is(LOST) && !s.is(SACKED))
            .map(|s| (s.start, s.end))
    }

    /// Is anything marked lost and waiting to be resent?
    pub(crate) fn any_lost(&self) -> bool {
        self.next_lost().is_some()
    }

    /// Segments SACKed and not yet cumulatively acknowledged.
    #[cfg(test)]
    fn sacked_segments(&self) -> u32 {
        self.segs_sacked
    }

    /// The retransmission timer expired (RFC 8985 §6.3): everything outstanding is taken for
    /// lost (the pipe is what the go-back-N resend puts out again; each resend clears its
    /// mark), SACK information is dropped (RFC 2018 §8), and a probe episode ends unresolved.
    pub(crate) fn on_rto(&mut self) {
        for s in self.segs.iter_mut() {
            s.flags = (s.flags & RETRANSMITTED) | LOST;
        }
        self.segs_sacked = 0;
        self.tlp_end = None;
        self.tlp_is_retrans = false;
        self.episode_probes = 0;
        self.probe_due = false;
    }

    /// A timeout proved spurious, or F-RTO holds its verdict back: what it marked lost is
    /// in flight after all.
    pub(crate) fn forget_losses(&mut self) {
        for s in self.segs.iter_mut() {
            s.flags &= !LOST;
        }
    }

    /// The current reordering window, for `info()`.
    pub(crate) fn reo_wnd(&self) -> Duration {
        Duration::from_micros(self.reo_wnd)
    }

    // ----- TLP (RFC 8985 §7) ----------------------------------------------------------------

    /// §7.2 TLP_calc_PTO: two round trips, plus the worst-case delayed ACK when a single
    /// segment is in flight (its ACK may be held back), one second before any round trip
    /// was measured; never past the retransmission timer's deadline (`rto_at`).
    pub(crate) fn probe_timeout(
        &self,
        now: Instant,
        srtt_us: Option<u64>,
        one_segment: bool,
        rto_at: Option<Instant>,
    ) -> Instant {
        const MIN_US: u64 = MIN_PTO.as_micros() as u64;
        const DELACK_US: u64 = WORST_CASE_DELAYED_ACK.as_micros() as u64;
        let pto = match srtt_us {
            Some(srtt) => {
                srtt.saturating_mul(2).max(MIN_US) + if one_segment { DELACK_US } else { 0 }
            }
            None => 1_000_000,
        };
        let at = now.as_micros().saturating_add(pto);
        Instant::from_micros(rto_at.map_or(at, |r| at.min(r.as_micros())))
    }

    /// May a probe be scheduled now (§7.2)? Not while a probe episode is unresolved, and not
    /// with SACKed segments outstanding (RACK's reordering timer covers those).
    pub(crate) fn may_schedule_probe(&self) -> bool {
        self.tlp_end.is_none() && self.segs_sacked == 0 && !self.segs.is_empty()
    }

    /// During recovery (our extension of §7.2, which arms no probe then): may a probe be
    /// scheduled? RACK judges a segment only by a later one delivered, and PRR sends only as
    /// ACKs report deliveries; when the ACKs stop — the last retransmissions, or everything
    /// sent after a lost segment that waits for room in cwnd, lost too — nothing would move
    /// before the retransmission timer (RFC 6298's 1 s floor; after a small flight's recovery,
    /// one retransmission and everything else SACKed, that is the usual case). So: while
    /// anything is in flight or marked lost, one probe per silence of a probe timeout (each
    /// ACK allows the next), at most two before SND.UNA moves.
    pub(crate) fn may_probe_in_recovery(&self) -> bool {
        !self.recovery_probe_out
            && self.probes_since_progress < 2
            && self.segs.iter().any(|s| !s.is(SACKED))
    }

    /// The first segment not SACKed (from SND.UNA): what a recovery probe resends when
    /// nothing is marked lost and there is no new data — the hole a timeout would resend.
    pub(crate) fn first_unsacked(&self) -> Option<(SeqNum, SeqNum)> {
        self.segs
            .iter()
            .find(|s| !s.is(SACKED))
            .map(|s| (s.start, s.end))
    }

    /// The probe timer fired: the next segment sent is the probe.
    pub(crate) fn probe_now(&mut self) {
        self.probe_due = true;
    }

    pub(crate) fn probe_due(&self) -> bool {
        self.probe_due
    }

    /// §7.3: the probe went out, new data or a retransmission of the last segment;
    /// `snd_max` is SND.NXT after it (TLP.end_seq). A probe during recovery infers nothing
    /// (§7.4's detection is for a loss outside recovery): it only allows no second one before
    /// an ACK.
    pub(crate) fn probe_sent(&mut self, snd_max: SeqNum, retransmission: bool, recovering: bool) {
        self.probe_due = false;
        if recovering {
            self.recovery_probe_out = true;
            self.probes_since_progress = self.probes_since_progress.saturating_add(1);
            return;
        }
        self.tlp_end = Some(self.tlp_end.map_or(snd_max, |e| e.max(snd_max)));
        self.tlp_is_retrans |= retransmission;
        self.episode_probes = self.episode_probes.saturating_add(1);
    }

    /// The probe could not be sent (nothing to send): drop it.
    pub(crate) fn probe_dropped(&mut self) {
        self.probe_due = false;
    }

    /// §7.4 TLP_process_ack: does this ACK end a probe episode, and show that the probe
    /// repaired a loss (so the congestion response of a recovery is owed once)? A probe of new
    /// data proves nothing; a retransmitted probe reported as a duplicate (D-SACK) means the
    /// original arrived too: no loss.
    pub(crate) fn probe_answered(&mut self, ack: SeqNum, dsack: bool) -> bool {
        match self.tlp_end {
            Some(end) if ack >= end => {
                self.tlp_end = None;
                self.episode_probes = 0;
                let repaired = self.tlp_is_retrans && !dsack;
                self.tlp_is_retrans = false;
                repaired
            }
            _ => false,
        }
    }

    /// Loss recovery started: it supersedes a probe episode.
    pub(crate) fn end_probe_episode(&mut self) {
        self.tlp_end = None;
        self.tlp_is_retrans = false;
        self.episode_probes = 0;
        self.probe_due = false;
    }

    /// A probe went unanswered and another may follow ([`MAX_PROBES`]).
    pub(crate) fn may_probe_again(&self) -> bool {
        self.tlp_end.is_some() && self.episode_probes > 0 && self.episode_probes < MAX_PROBES
    }

    /// The probe about to go is a repeat: it resends the first unacknowledged segment.
    pub(crate) fn repeat_probe(&self) -> bool {
        self.tlp_end.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn news<'a>(una: u32, sacked: &'a [(SeqNum, SeqNum)], now: u64) -> AckNews<'a> {
        AckNews {
            una: SeqNum(una),
            sacked,
            dsack: false,
            tsecr: None,
            now: t(now),
            snd_nxt: SeqNum(10_000),
            recovery_ended: false,
        }
    }

    /// Ten 1000-byte segments sent 1 ms apart from t=0, starting at sequence 0.
    fn ten() -> Rack {
        let mut r = Rack::new(SeqNum(0));
        for i in 0..10u32 {
            r.on_sent(SeqNum(i * 1000), SeqNum(i * 1000 + 1000), t(u64::from(i)));
        }
        r
    }

    #[test]
    fn rfc8985_s6_2_a_segment_sent_a_round_trip_before_a_delivered_one_is_lost() {
        let mut r = ten();
        // The ACK at t=100 SACKs segment 9 (sent at 9 ms): RACK.rtt = 91 ms, and one SACKed
        // segment leaves a reordering window of min_RTT/4 = 22.75 ms.
        let s = [(SeqNum(9000), SeqNum(10_000))];
        r.on_ack(&news(0, &s, 100));
        let (lost, later) = r.detect_loss(t(100), false, Some(91_000));
        assert_eq!(
            lost, 0,
            "each is only 91 ms + 1..9 ms old: within the window"
        );
        // Segment 0 is due at 0 + 91 + 22.75 ms; segment 8 at 8 + 113.75.
        assert_eq!(later, Some(Instant::from_micros(121_750)));
        let (lost, _) = r.detect_loss(Instant::from_micros(121_750), false, None);
        assert_eq!(lost, 9);
        assert_eq!(r.next_lost(), Some((SeqNum(0), SeqNum(1000))));
        assert_eq!(r.pipe(), 0, "nine lost, one SACKed: nothing in flight");
    }

    #[test]
    fn rfc8985_s6_2_step4_three_sacked_segments_leave_no_reordering_window() {
        let mut r = ten();
        let s = [(SeqNum(7000), SeqNum(10_000))];
        r.on_ack(&news(0, &s, 100));
        assert_eq!(r.sacked_segments(), 3);
        let (lost, later) = r.detect_loss(t(100), false, None);
        // RACK.rtt = 100 − 9 = 91 ms; segment k (sent at k ms) is due at k + 91 ms: 0..6 are
        // lost by t=100 (6 + 91 = 97), none waits.
        assert_eq!((lost, later), (7, None));
    }

    #[test]
    fn rfc8985_s6_2_step3_an_original_delivered_below_fack_is_reordering() {
        let mut r = ten();
        r.on_ack(&news(0, &[(SeqNum(5000), SeqNum(6000))], 50));
        assert!(!r.reordering_seen);
        r.on_ack(&news(0, &[(SeqNum(2000), SeqNum(3000))], 51));
        assert!(r.reordering_seen, "segment 2 arrived after segment 5");
        // With reordering seen the window stays min_RTT/4 even with SACKs piling up.
        assert_eq!(r.reordering_window(true, None), 45_000 / 4);
    }

    #[test]
    fn a_retransmission_is_restamped_and_counted_in_the_pipe_again() {
        let mut r = ten();
        r.on_ack(&news(0, &[(SeqNum(3000), SeqNum(10_000))], 100));
        let (lost, _) = r.detect_loss(t(100), false, None);
        assert_eq!(lost, 3);
        assert_eq!(r.pipe(), 0);
        r.on_sent(SeqNum(0), SeqNum(1000), t(101));
        assert_eq!(r.pipe(), 1000);
        assert_eq!(r.next_lost(), Some((SeqNum(1000), SeqNum(2000))));
        // A retransmission that covers half a record splits it.
        r.on_sent(SeqNum(1000), SeqNum(1500), t(102));
        assert_eq!(r.pipe(), 1500);
        assert_eq!(r.next_lost(), Some((SeqNum(1500), SeqNum(2000))));
        // The retransmission of segment 0 is acknowledged at t=150, 49 ms after it went:
        // shorter than any round trip seen (91 ms), so the ACK may be the original's (step 2):
        // RACK's segment stays segment 9.
        r.on_ack(&news(1000, &[(SeqNum(3000), SeqNum(10_000))], 150));
        assert_eq!((r.rtt, r.xmit_ts), (91_000, Some(t(9))));
        // At t=200 (99 ms after it went) the retransmission of 1000..1500 is acknowledged: a
        // plausible round trip, and sent later than segment 9: it becomes RACK's segment.
        r.on_ack(&news(1500, &[(SeqNum(3000), SeqNum(10_000))], 200));
        assert_eq!((r.rtt, r.xmit_ts), (98_000, Some(t(102))));
    }

    #[test]
    fn rfc8985_s6_2_step2_an_ack_echoing_the_original_does_not_time_the_retransmission() {
        let mut r = ten();
        r.on_sent(SeqNum(0), SeqNum(1000), t(500));
        let mut n = news(1000, &[], 510);
        // TSecr = 20 (ms, offset 0): the original's timestamp, not the retransmission's (500).
        n.tsecr = Some((20, 0));
        r.on_ack(&n);
        assert_eq!(r.xmit_ts, None, "ambiguous: no RACK update");
        let mut n = news(2000, &[], 511);
        n.tsecr = Some((1, 0));
        r.on_ack(&n);
        assert_eq!((r.xmit_ts, r.rtt), (Some(t(1)), 510_000));
        // A retransmission SACKed above a hole: the TSecr (the last in-order segment's) says
        // nothing of it; a plausible round trip (not shorter than any seen) counts.
        r.on_sent(SeqNum(3000), SeqNum(4000), t(1000));
        let sacked = [(SeqNum(3000), SeqNum(4000))];
        let mut n = news(2000, &sacked, 1600);
        n.tsecr = Some((1, 0));
        r.on_ack(&n);
        assert_eq!((r.xmit_ts, r.rtt), (Some(t(1000)), 600_000));
    }

    #[test]
    fn rfc8985_s6_2_step4_dsack_widens_the_window_once_per_round_and_16_recoveries_reset_it() {
        let mut r = ten();
        r.on_ack(&news(1000, &[], 40)); // min_RTT 40 ms
        let mut n = news(2000, &[], 41);
        n.dsack = true;
        r.on_ack(&n);
        assert_eq!(r.reo_wnd_mult, 2);
        n.una = SeqNum(3000);
        r.on_ack(&n);
        assert_eq!(
            r.reo_wnd_mult, 2,
            "one widening per round trip (until SND.NXT is acked)"
        );
        for _ in 0..REO_WND_PERSIST {
            let mut n = news(3000, &[], 42);
            n.recovery_ended = true;
            r.on_ack(&n);
        }
        assert_eq!(r.reo_wnd_mult, 1);
    }

    #[test]
    fn the_record_count_is_bounded() {
        let mut r = Rack::new(SeqNum(0));
        for i in 0..(MAX_SEGMENTS as u32 + 100) {
            r.on_sent(SeqNum(i), SeqNum(i + 1), t(u64::from(i)));
        }
        assert_eq!(r.segs.len(), MAX_SEGMENTS);
        assert_eq!(
            r.segs.back().map(|s| s.end),
            Some(SeqNum(MAX_SEGMENTS as u32 + 100))
        );
        // A retransmission inside a full table does not split.
        r.on_sent(SeqNum(5), SeqNum(6), t(1_000_000));
        assert_eq!(r.segs.len(), MAX_SEGMENTS);
    }

    #[test]
    fn rfc8985_s7_2_the_probe_timeout() {
        let r = ten();
        let srtt = Some(20_000);
        assert_eq!(r.probe_timeout(t(0), srtt, false, None), t(40));
        assert_eq!(r.probe_timeout(t(0), srtt, true, None), t(240));
        assert_eq!(r.probe_timeout(t(0), srtt, true, Some(t(200))), t(200));
        assert_eq!(r.probe_timeout(t(0), None, false, None), t(1000));
        let tiny = Some(50);
        assert_eq!(r.probe_timeout(t(0), tiny, false, None), t(2));
    }

    #[test]
    fn rfc8985_s7_4_a_retransmitted_probe_answered_without_dsack_repaired_a_loss() {
        let mut r = ten();
        r.probe_sent(SeqNum(10_000), true, false);
        assert!(
            !r.probe_answered(SeqNum(9000), false),
            "not yet past the probe"
        );
        assert!(r.probe_answered(SeqNum(10_000), false));
        r.probe_sent(SeqNum(10_000), true, false);
        assert!(
            !r.probe_answered(SeqNum(10_000), true),
            "D-SACK: both arrived"
        );
        r.probe_sent(SeqNum(11_000), false, false);
        assert!(
            !r.probe_answered(SeqNum(11_000), false),
            "new data proves nothing"
        );
    }
}
