//! What a connection sends next: SYN and SYN-ACK, data within the send window (Nagle and
//! sender silly-window avoidance), FIN, retransmissions, zero-window and keep-alive probes, and
//! ACKs (delayed, duplicate, with SACK blocks and timestamps).

use synack_wire::{SackBlocks, TcpFlags, TcpOptions};

use crate::congestion::Controller;
use crate::connection::{Connection, Ctx, Outgoing};
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;
use crate::timers::Timer;

impl Connection {
    /// The next segment this connection wants to send, if any. Its payload is
    /// `payload_len` bytes of the send buffer from `seq` (`SendBuffer::slices`), which the
    /// endpoint copies straight into the packet.
    pub(crate) fn poll_transmit(&mut self, ctx: &mut Ctx<'_>) -> Option<Outgoing> {
        if let Some(ack) = self.rcv.next_owed_dupack() {
            if self.state().is_synchronized() {
                // Unless it says everything a pending ACK would, the pending ACK still goes.
                let still_owed =
                    self.rcv.ack_now() && (ack != self.rcv.nxt() || self.rcv.dupacks_owed());
                let options = self.segment_options(ctx.now);
                let mut out = self.sent(ctx, self.snd.max(), TcpFlags::ACK, options, 0);
                out.ack = ack;
                self.rcv.set_ack_owed(still_owed);
                return Some(out);
            }
            self.rcv.forget_owed_dupacks();
        }
        match self.state() {
            State::Closed | State::Listen => None,
            State::SynSent => {
                if self.snd.nxt() != self.snd.iss() {
                    return None;
                }
                // <SEQ=ISS><CTL=SYN> with our MSS (MUST-14, SHLD-5, MAY-3: always sent).
                let options = self.syn_options(ctx);
                self.rcv.set_ack_owed(false);
                Some(self.sent(ctx, self.snd.iss(), TcpFlags::SYN, options, 0))
            }
            State::SynReceived if self.snd.nxt() == self.snd.iss() => {
                // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>
                let options = self.syn_options(ctx);
                Some(self.sent(
                    ctx,
                    self.snd.iss(),
                    TcpFlags::SYN | TcpFlags::ACK,
                    options,
                    0,
                ))
            }
            State::SynReceived => self.pure_ack(ctx),
            State::TimeWait | State::FinWait2 => self.pure_ack(ctx),
            _ => {
                if self.keepalive_probe_now {
                    // SEG.SEQ = SND.NXT − 1 and no data (SHLD-12): the peer must answer with
                    // an ACK because the octet is outside its window.
                    self.keepalive_probe_now = false;
                    let options = self.segment_options(ctx.now);
                    return Some(self.sent(ctx, self.snd.max() - 1, TcpFlags::ACK, options, 0));
                }
                self.data_or_fin(ctx).or_else(|| self.pure_ack(ctx))
            }
        }
    }

    pub(crate) fn can_send_data(&self) -> bool {
        matches!(
            self.state(),
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        )
    }

    fn pure_ack(&mut self, ctx: &mut Ctx<'_>) -> Option<Outgoing> {
        if !self.rcv.ack_now() {
            return None;
        }
        // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, where the RFC's SND.NXT is the highest
        // sequence sent (our snd_max): after a go-back retransmission a pure ACK with the
        // rewound snd_nxt would fall left of the peer's window and be dropped unread.
        let options = self.segment_options(ctx.now);
        Some(self.sent(ctx, self.snd.max(), TcpFlags::ACK, options, 0))
    }

    /// Largest payload that fits one segment with these options (MUST-16: the sender
    /// subtracts the option bytes it actually sends).
    fn max_payload(&self, options: &TcpOptions) -> usize {
        usize::from(self.opts.path_mss())
            .saturating_sub(options.buffer_len())
            .max(1)
    }

    fn data_or_fin(&mut self, ctx: &mut Ctx<'_>) -> Option<Outgoing> {
        let data_end = self.snd.buf().end();
        // Most calls find nothing to send (the endpoint asks each connection it touched until
        // it says so): answer those before building any options.
        let fin_due = self.snd.fin_seq() == Some(self.snd.nxt())
            && self.state() != State::Established
            && self.state() != State::CloseWait;
        let something = self.snd.nxt() < data_end
            || fin_due
            || (self.rec.rexmit_head && self.snd.una() < self.snd.max())
            || (self.opts.sack_ok() && self.rec.recover.is_some())
            || self.rec.rack.as_ref().is_some_and(|r| r.probe_due())
            || self.lost_behind_nxt().is_some();
        if !something {
            self.rec.rexmit_head = false;
            return None;
        }
        let options = self.segment_options(ctx.now);
        let max_payload = self.max_payload(&options);
        let mut flags = TcpFlags::ACK;
        let mut len = 0usize;
        if self.rec.rexmit_head && self.snd.una() < self.snd.max() {
            // Fast retransmit / NewReno partial ACK: resend the first unacknowledged segment.
            self.rec.rexmit_head = false;
            let seq = self.snd.una();
            let n = ((data_end - seq) as usize).min(max_payload);
            let len = if seq < data_end {
                self.snd.buf().len_from(seq, n)
            } else {
                0
            };
            if self.snd.fin_seq() == Some(seq + len) {
                flags |= TcpFlags::FIN;
            }
            if len > 0 || flags.contains(TcpFlags::FIN) {
                if self.opts.sack_ok() && self.rec.recover.is_some() {
                    self.rec.scoreboard.mark_retransmitted(seq, len as u32);
                    self.log_retransmission(seq);
                }
                return Some(self.sent(ctx, seq, flags, options, len));
            }
        }
        self.rec.rexmit_head = false;
        if self.rec.rack.as_ref().is_some_and(|r| r.probe_due()) {
            return self.loss_probe(ctx, options, max_payload);
        }
        if let Some(out) = self.resend_lost_after_timeout(ctx, &options, max_payload) {
            return Some(out);
        }
        if self.opts.sack_ok() && self.rec.recover.is_some() {
            if let Some(out) = self.sack_recovery_segment(ctx, options, max_payload) {
                return out;
            }
        }
        if self.snd.nxt() < data_end {
            let idle = self.snd.una() == self.snd.max();
            if idle
                && ctx.now.saturating_duration_since(self.snd.last_send_at()) > self.rec.rtt.rto()
            {
                // RFC 5681 §4.1: restart after idle with at most the initial window.
                let iw = crate::congestion::initial_window(u32::from(self.opts.snd_mss()));
                self.rec
                    .set_cwnd(self.rec.cwnd().min(iw).max(u32::from(self.opts.snd_mss())));
                self.rec.cc.on_idle_restart(ctx.now);
            }
            // Usable window: SND.UNA + min(SND.WND, cwnd) − SND.NXT, which may be "negative"
            // when the peer shrank its window (MUST-34): then nothing new goes out. Limited
            // Transmit (RFC 3042): the first two duplicate ACKs each let one new segment out
            // beyond cwnd, so a small window still draws the third.
            let limited = if self.rec.recover.is_none() && self.snd.nxt() == self.snd.max() {
                self.rec.dupacks.min(2) * u32::from(self.opts.snd_mss())
            } else {
                0
            };
            let limit =
                self.snd.una() + self.snd.wnd().min(self.rec.cwnd().saturating_add(limited));
            let usable = if limit > self.snd.nxt() {
                limit - self.snd.nxt()
            } else {
                0
            };
            let avail = data_end - self.snd.nxt();
            let mut n = avail.min(usable).min(max_payload as u32);
            if n == 0 && self.snd.probe_now() {
                // Zero-window probe: one byte beyond the window (MUST-35, MUST-36).
                n = 1;
            }
            if n == 0 {
                if self.snd.wnd() == 0 && !self.timers.is_set(Timer::Rto) {
                    // Data waits for a closed window and nothing is in flight to draw an ACK:
                    // start the persist timer (MUST-35, SHLD-29). R2 counts from the probe.
                    let probe_at = self.rto_deadline(ctx);
                    self.timers.start(Timer::Rto, probe_at);
                    self.rec.progress_at = probe_at;
                }
                return None;
            }
            if !self.may_send_now(n, avail, max_payload, idle) {
                if idle && !self.timers.is_set(Timer::Rto) {
                    // Nothing in flight will bring an ACK to release the data: start the
                    // override timer (MUST-38 rule 4), on the retransmission timer as the
                    // persist timer is (on_rto: `sws_override_due`).
                    self.timers
                        .start(Timer::Rto, ctx.now + self.sws_override_timeout());
                }
                return None;
            }
            self.snd.set_probe(false);
            len = self.snd.buf().len_from(self.snd.nxt(), n as usize);
            if len < max_payload {
                self.snd.sent_small(self.snd.nxt() + len);
            }
            // PSH on the last segment of what the application wrote (MUST-61), and, as Linux
            // does, on the last new segment of a burst the send window or cwnd ends (less
            // than a full segment of room left after it): a receiver that delivers on PSH
            // sees the burst now, not a round trip later.
            let burst_ends = self.snd.nxt() >= self.snd.max()
                && len as u32 <= usable
                && usable - (len as u32) < max_payload as u32;
            if self.snd.nxt() + len == data_end || burst_ends {
                flags |= TcpFlags::PSH;
            }
        }
        if let Some(fin) = self.snd.fin_seq() {
            if self.snd.nxt() + len == fin
                && self.state() != State::Established
                && self.state() != State::CloseWait
            {
                flags |= TcpFlags::FIN;
            }
        }
        if len == 0 && !flags.contains(TcpFlags::FIN) {
            return None;
        }
        Some(self.sent(ctx, self.snd.nxt(), flags, options, len))
    }

    /// Sender silly-window avoidance (MUST-38, RFC 9293 §3.8.6.2.1) with Nagle (SHLD-7): may
    /// `n` = min(D, U, MSS) octets go now? `avail` is D (queued, unsent), `idle` says SND.NXT
    /// = SND.UNA. Send
    /// 1. a full segment: min(D, U) >= Eff.snd.MSS;
    /// 2. all queued data, D <= U, if Nagle allows it: nothing unacknowledged, or Nagle off,
    ///    or the application closed (its FIN follows; MUST-60: never hold data indefinitely),
    ///    or — Minshall's modification (RFC 9293 A.3, as Linux does it) — no earlier short
    ///    segment is unacknowledged: the short tail of a response goes at once instead of a
    ///    round trip (or a delayed ACK) later, and a stream of small writes still coalesces;
    /// 3. at least Fs = 1/2 of the largest window the peer offered — without Nagle's bracket
    ///    [SND.NXT = SND.UNA]: a peer whose window is under two segments would otherwise get
    ///    one segment per round trip (Linux likewise counts half the largest window as a full
    ///    segment, tcp_bound_to_half_wnd);
    /// 4. when the override timer expired (or a zero-window probe is due): `probe_now`.
    ///
    /// Retransmissions (SND.NXT < SND.MAX after a timeout) are never held. Otherwise the data
    /// waits: for the next ACK while something is in flight, else for the override timer.
    fn may_send_now(&self, n: u32, avail: u32, max_payload: usize, idle: bool) -> bool {
        let full = n as usize >= max_payload;
        let all = n == avail;
        let nagle_ok =
            idle || self.snd.nodelay() || self.snd.fin_queued() || !self.snd.small_unacked();
        let big = self.snd.max_wnd() > 0 && n >= self.snd.max_wnd() / 2;
        let retransmission = self.snd.nxt() < self.snd.max();
        full || (all && nagle_ok) || big || self.snd.probe_now() || retransmission
    }

    /// The override timeout of sender SWS avoidance (MUST-38 rule 4): the RFC's range is
    /// 0.1–1.0 s and suggests sharing the zero-window probe timer. We take the RTO (which the
    /// persist timer also uses) clamped to that range: about a round trip gives the peer time
    /// to read and announce a larger window, and 1 s bounds the wait (the default minimum
    /// RTO is 1 s, so that is the usual value).
    pub(crate) fn sws_override_timeout(&self) -> crate::time::Duration {
        self.rec.rtt.rto().clamp(
            crate::time::Duration::from_millis(100),
            crate::time::Duration::from_secs(1),
        )
    }

    /// RFC 6675 §5 step (C): during SACK recovery, send while cwnd − pipe ≥ 1 SMSS, choosing
    /// with NextSeg (lost holes first, then new data, then other holes). `Some(None)`: the
    /// pipe is full, send nothing; `None`: nothing chosen, the ordinary path may go on.
    fn sack_recovery_segment(
        &mut self,
        ctx: &mut Ctx<'_>,
        options: TcpOptions,
        max_payload: usize,
    ) -> Option<Option<Outgoing>> {
        let smss = u32::from(self.opts.snd_mss());
        let pipe = self.pipe(smss);
        if self.rec.cwnd().saturating_sub(pipe) < smss {
            return Some(None);
        }
        let data_end = self.snd.buf().end();
        let send_limit = self.snd.una() + self.snd.wnd();
        let (seq, len, rexmit) = match &self.rec.rack {
            // With RACK, NextSeg's rule 1 takes RACK's IsLost, and rules 3 and 4 (holes not
            // known lost, the rescue retransmission) give way to RACK's timer and the tail
            // loss probe (RFC 8985 §9.3).
            Some(rack) => match rack.next_lost() {
                Some((s, e)) => (s, (e - s).min(max_payload as u32), true),
                None if self.snd.max() < data_end && self.snd.max() < send_limit => {
                    let n = (data_end - self.snd.max()).min(send_limit - self.snd.max());
                    (self.snd.max(), n.min(max_payload as u32), false)
                }
                None => return Some(None),
            },
            None => self.rec.scoreboard.next_seg(
                self.snd.una(),
                self.snd.max(),
                data_end,
                send_limit,
                max_payload as u32,
            )?,
        };
        if seq >= data_end {
            return None; // only the FIN is left: the ordinary path sends it
        }
        let n = self
            .snd
            .buf()
            .len_from(seq, (len as usize).min(max_payload));
        if n == 0 {
            return None;
        }
        let flags = self.data_flags(seq, n, self.can_send_fin());
        if rexmit {
            self.rec.scoreboard.mark_retransmitted(seq, n as u32);
            self.log_retransmission(seq);
        }
        Some(Some(self.sent(ctx, seq, flags, options, n)))
    }

    /// RFC 8985 §7.3 TLP_send_probe: one segment of new data if there is some and the peer's
    /// window takes it, else the last segment sent again (with the FIN, if that was sent).
    /// Whatever cwnd says: the probe is what brings the ACK.
    fn loss_probe(
        &mut self,
        ctx: &mut Ctx<'_>,
        options: TcpOptions,
        max_payload: usize,
    ) -> Option<Outgoing> {
        let data_end = self.snd.buf().end();
        let (una, max) = (self.snd.una(), self.snd.max());
        let window_end = una + self.snd.wnd();
        let recovering = self.rec.recover.is_some();
        let new_data = self.snd.nxt() == max && max < data_end && max < window_end;
        // In recovery: what RACK marked lost and cwnd held back; else new data; else the
        // first hole (what a timeout would resend; the last segment is SACKed already).
        let repeat = self.rec.rack.as_ref().is_some_and(|r| r.repeat_probe());
        let hole = self.rec.rack.as_ref().and_then(|r| {
            if recovering {
                r.next_lost()
                    .or_else(|| r.first_unsacked().filter(|_| !new_data))
            } else if repeat {
                // A second probe: the first went unanswered, the oldest hole goes now.
                r.first_unsacked()
            } else {
                None
            }
        });
        let (seq, len, retransmission) = if let Some((s, e)) = hole {
            (s, self.range_len(s, e, max_payload), true)
        } else if new_data {
            let n = (data_end - max)
                .min(window_end - max)
                .min(max_payload as u32);
            (max, self.snd.buf().len_from(max, n as usize), false)
        } else if una < max {
            let top = data_end.min(max);
            let start = if top - una > max_payload as u32 {
                top - max_payload as u32
            } else {
                una
            };
            (
                start,
                self.snd.buf().len_from(start, (top - start) as usize),
                true,
            )
        } else {
            if let Some(rack) = self.rec.rack.as_mut() {
                rack.probe_dropped();
            }
            return None;
        };
        let fin_goes = if retransmission {
            self.fin_sent()
        } else {
            self.can_send_fin()
        };
        let flags = self.data_flags(seq, len, fin_goes);
        let ctl = usize::from(flags.contains(TcpFlags::FIN));
        if len + ctl == 0 {
            if let Some(rack) = self.rec.rack.as_mut() {
                rack.probe_dropped();
            }
            return None;
        }
        let end = (seq + len + ctl).max(max);
        if let Some(rack) = self.rec.rack.as_mut() {
            rack.probe_sent(end, retransmission, recovering);
        }
        self.stats.tlp_probes = self.stats.tlp_probes.saturating_add(1);
        let out = self.sent(ctx, seq, flags, options, len);
        if !recovering {
            self.schedule_repeat_probe(ctx);
        }
        Some(out)
    }

    /// After a timeout, until SND.UNA passes what was outstanding then (no fast recovery in
    /// that span, RFC 6582 §3.2 step 1): the first segment the go-back-N resend already
    /// passed and RACK has since marked lost again (RFC 8985 §6.3: RACK keeps detecting
    /// losses during the timeout's recovery). Without this such a segment waits for the next,
    /// backed-off, timeout.
    fn lost_behind_nxt(&self) -> Option<(SeqNum, SeqNum)> {
        if self.rec.recover.is_some() || self.snd.una() >= self.rec.recover_floor {
            return None;
        }
        self.rec
            .rack
            .as_ref()?
            .next_lost()
            .filter(|&(s, _)| s < self.snd.nxt())
    }

    /// Resend [`Self::lost_behind_nxt`]'s segment if cwnd has room beside what RACK counts
    /// in flight.
    fn resend_lost_after_timeout(
        &mut self,
        ctx: &mut Ctx<'_>,
        options: &TcpOptions,
        max_payload: usize,
    ) -> Option<Outgoing> {
        let (s, e) = self.lost_behind_nxt()?;
        let mss = u32::from(self.opts.snd_mss());
        if self.rec.cwnd().saturating_sub(self.pipe(mss)) < mss {
            return None;
        }
        let len = self.range_len(s, e, max_payload);
        let flags = self.data_flags(s, len, self.fin_sent());
        if len == 0 && !flags.contains(TcpFlags::FIN) {
            return None;
        }
        Some(self.sent(ctx, s, flags, *options, len))
    }

    /// Octets of `[s, e)` one segment takes: at most `max_payload`, none past the queued data.
    fn range_len(&self, s: SeqNum, e: SeqNum, max_payload: usize) -> usize {
        let data_end = self.snd.buf().end();
        let n = (e - s).min(max_payload as u32).min(data_end - s);
        self.snd.buf().len_from(s, n as usize)
    }

    /// The flags of a data segment `[seq, seq + len)`: ACK; PSH when it ends what the
    /// application wrote (MUST-61); FIN when the FIN comes right after it and `fin` allows it.
    fn data_flags(&self, seq: SeqNum, len: usize, fin: bool) -> TcpFlags {
        let data_end = self.snd.buf().end();
        let mut flags = TcpFlags::ACK;
        if seq + len == data_end {
            flags |= TcpFlags::PSH;
            if fin && self.snd.fin_seq() == Some(data_end) {
                flags |= TcpFlags::FIN;
            }
        }
        flags
    }

    /// Our FIN has been sent (a resend of the last data may carry it again).
    fn fin_sent(&self) -> bool {
        self.snd.fin_seq().is_some_and(|f| f < self.snd.max())
    }

    fn can_send_fin(&self) -> bool {
        self.state() != State::Established && self.state() != State::CloseWait
    }

    /// Bookkeeping for a segment about to go out: advance SND.NXT, start the RTO timer
    /// (RFC 6298 §5.1), pick a segment to time (Karn: never a retransmission), and note the
    /// ACK we send (delayed ACK done, Last.ACK.sent, the window edge we promised).
    pub(crate) fn sent(
        &mut self,
        ctx: &mut Ctx<'_>,
        seq: SeqNum,
        flags: TcpFlags,
        options: TcpOptions,
        len: usize,
    ) -> Outgoing {
        let syn = flags.contains(TcpFlags::SYN);
        let ctl = usize::from(syn) + usize::from(flags.contains(TcpFlags::FIN));
        let seg_len = len + ctl;
        let ack_flag = flags.contains(TcpFlags::ACK);
        if len > 0 && self.opts.sack_ok() && self.rec.recover.is_some() {
            self.rec.prr.sent(len as u32); // prr_out (RFC 6937 §3)
        }
        if seg_len > 0 {
            let end = seq + seg_len;
            if seq < self.snd.max() {
                if !(len == 1 && self.snd.wnd() == 0) {
                    self.stats.retransmits = self.stats.retransmits.saturating_add(1);
                    let tsval = options.timestamps.map(|(tsval, _)| tsval);
                    let max = self.snd.max();
                    self.rec.undo.retransmitted(seq, end, tsval, max); // undo.rs
                                                                       // a repeated zero-window probe is not one
                }
                self.rec.rtt_probe = None; // Karn: anything in flight may now be ambiguous
            } else {
                self.stats.bytes_sent += len as u64;
                if self.rec.rtt_probe.is_none() {
                    self.rec.rtt_probe = Some((end, ctx.now));
                }
            }
            if self.snd.una() == self.snd.max() || !self.timers.is_set(Timer::Rto) {
                if !self.timers.is_set(Timer::Rto) || self.sws_override_due() {
                    // R2's clock starts: nothing was outstanding (the override timer of
                    // sender SWS avoidance is no retransmission timer).
                    self.rec.progress_at = ctx.now;
                }
                self.timers.start(Timer::Rto, self.rto_deadline(ctx));
            }
            let new_data = end > self.snd.max();
            if !syn {
                self.rack_sent(ctx, seq, end);
            }
            self.snd.sent_through(end, ctx.now);
            self.rec.flight_peak = self.rec.flight_peak.max(self.snd.in_flight());
            if (new_data || self.rec.recover.is_some()) && !syn {
                // RFC 8985 §7.2: after new data goes out; and in recovery after a
                // retransmission, in case it is all that is left in flight.
                self.schedule_probe(ctx);
            }
        }
        // The window field: never scaled on a SYN (RFC 7323 §2.2); otherwise shifted, so the
        // edge we already promised does not move left where the buffer allows (SHLD-14).
        let field = if syn {
            self.rcv_wnd(ctx.pressure).min(65535)
        } else {
            u32::from(self.window_field(ctx.pressure))
        };
        if ack_flag {
            self.timers.stop(Timer::DelayedAck);
            self.opts.ack_sent(self.rcv.nxt());
            let shift = if syn { 0 } else { self.opts.rcv_shift() };
            self.rcv
                .acked(field << shift, !options.sack_blocks.is_empty());
        }
        // Urgent data (MUST-62): every segment before the urgent pointer carries URG and the
        // offset to the octet after the urgent data.
        let mut flags = flags;
        let mut urgent = 0u16;
        if let Some(up) = self.snd.up() {
            if self.snd.una() >= up {
                self.snd.urgent_acked();
            } else if seq < up && !syn {
                flags |= TcpFlags::URG;
                urgent = (up - seq).min(65535) as u16;
            }
        }
        Outgoing {
            seq,
            ack: if ack_flag { self.rcv.nxt() } else { SeqNum(0) },
            flags,
            window: field as u16,
            options,
            payload_len: len,
            urgent,
        }
    }

    /// Record `[seq, end)` with RACK (RFC 8985 §6.2: every transmission's time), making
    /// RACK's part with the first data of a connection that agreed on SACK.
    fn rack_sent(&mut self, ctx: &Ctx<'_>, seq: SeqNum, end: SeqNum) {
        if self.rec.rack.is_none() {
            if !(ctx.cfg.rack && self.opts.sack_ok() && self.snd.una() == self.snd.max()) {
                return;
            }
            self.rec.rack = Some(Box::new(crate::rack::Rack::new(self.snd.una())));
        }
        if let Some(rack) = self.rec.rack.as_mut() {
            rack.on_sent(seq, end, ctx.now);
        }
    }

    /// The ACK owed to the peer, if one is, as a bare segment the endpoint can send on the
    /// connection's behalf: `(SEQ, ACK, window field, options)`.
    pub(crate) fn owed_ack(
        &self,
        now: Instant,
        pressure: bool,
    ) -> Option<(SeqNum, SeqNum, u16, TcpOptions)> {
        self.rcv.ack_now().then(|| {
            (
                self.snd.nxt(),
                self.rcv.nxt(),
                self.window_field(pressure),
                self.segment_options(now),
            )
        })
    }

    /// The window field of a non-SYN segment: the window shifted, rounded up when needed so
    /// the edge we already promised does not move left (SHLD-14) — while the buffer has room
    /// beyond the rounded-down window, so the rounded-up edge passes the buffer's end by less
    /// than one unit of the scale. A full buffer rounds down instead: the edge then seems to
    /// retract by less than a unit (RFC 7323 §2.4 allows for that with a scaled window), and
    /// data up to the edge already promised is still taken (`rcv_adv` keeps it). Rounding up
    /// regardless moved the promise right by up to a unit on every ACK of a full buffer: a
    /// peer feeding it a few bytes at a time could grow it without bound.
    pub(crate) fn window_field(&self, pressure: bool) -> u16 {
        let wnd = self.rcv_wnd(pressure);
        let mut f = wnd >> self.opts.rcv_shift();
        let room = self.rcv.buf().window().min(u32::MAX as usize) as u32;
        if (f << self.opts.rcv_shift()) < self.rcv.promised_window()
            && f << self.opts.rcv_shift() < room
        {
            f += 1;
        }
        f.min(65535) as u16
    }

    // ----- options --------------------------------------------------------------------------

    /// Our timestamp clock: milliseconds plus a per-connection offset (RFC 7323 §5.4).
    pub(crate) fn ts_now(&self, now: Instant) -> u32 {
        crate::isn::ts_clock(now, self.opts.ts_offset())
    }

    /// Options on our SYN or SYN-ACK: MSS always (MAY-3); window scale, SACK-permitted and
    /// timestamps as configured on a SYN, or as agreed on a SYN-ACK.
    fn syn_options(&self, ctx: &Ctx<'_>) -> TcpOptions {
        let answering = self.state() == State::SynReceived;
        let ws = if answering {
            self.opts.ws_agreed()
        } else {
            ctx.cfg.window_scaling
        };
        let ts = if answering {
            self.opts.ts_ok()
        } else {
            ctx.cfg.timestamps
        };
        let sack = if answering {
            self.opts.sack_ok()
        } else {
            ctx.cfg.sack
        };
        TcpOptions {
            mss: Some(self.our_mss(ctx.cfg)),
            window_scale: ws.then_some(self.opts.rcv_shift()),
            sack_permitted: sack,
            timestamps: ts.then(|| {
                (
                    self.ts_now(ctx.now),
                    if answering { self.opts.ts_recent() } else { 0 },
                )
            }),
            ..TcpOptions::default()
        }
    }

    /// Options on a non-SYN segment: timestamps once agreed (RFC 7323 §3.2: on every non-RST
    /// segment), and SACK blocks while we hold out-of-order data or owe a D-SACK.
    pub(crate) fn segment_options(&self, now: Instant) -> TcpOptions {
        let mut o = TcpOptions::default();
        if self.opts.ts_ok() {
            o.timestamps = Some((self.ts_now(now), self.opts.ts_recent()));
        }
        if self.opts.sack_ok() {
            o.sack_blocks = self.sack_blocks();
        }
        o
    }

    /// RFC 2018 §4: the first block covers the most recently received segment (or, RFC 2883,
    /// the duplicate being reported), then the other held ranges. At most 3 blocks beside
    /// timestamps, 4 without.
    fn sack_blocks(&self) -> SackBlocks {
        let max = if self.opts.ts_ok() { 3 } else { 4 };
        let mut blocks = SackBlocks::new();
        if let Some((l, r)) = self.rcv.dsack() {
            blocks.push(l.get(), r.get());
        }
        let ranges = self.rcv.buf().ooo_ranges();
        let recent = self
            .rcv
            .last_ooo()
            .and_then(|seq| ranges.iter().position(|(l, r)| seq.in_range(*l, *r)));
        if let Some(i) = recent {
            let (l, r) = ranges[i];
            blocks.push(l.get(), r.get());
        }
        for (i, (l, r)) in ranges.iter().enumerate() {
            if blocks.len() >= max {
                break;
            }
            if Some(i) != recent {
                blocks.push(l.get(), r.get());
            }
        }
        blocks
    }
}
