//! SEGMENT ARRIVES (RFC 9293 §3.10.7) for a connection that exists: SYN-RECEIVED and every
//! synchronized state (§3.10.7.4), in the RFC's own step order. SYN-SENT (§3.10.7.3) is
//! handshake.rs, TIME-WAIT time_wait_rules.rs; CLOSED and LISTEN have no TCB and are the
//! endpoint's (endpoint.rs, listener.rs).

use synack_wire::{TcpFlags, TcpOptions};

use crate::connection::{Connection, Ctx};
use crate::error::CloseReason;
use crate::event::Event;
use crate::negotiated::Paws;
use crate::recv_buffer::Offer;
use crate::seq::SeqNum;
use crate::state::State;
use crate::timers::Timer;

/// An incoming segment, already parsed and checksum-verified.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment<'a> {
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub wnd: u32,
    pub options: TcpOptions,
    pub payload: &'a [u8],
    /// The urgent pointer field (meaningful with URG).
    pub urgent: u16,
    /// Where the payload lies in the packet buffer it came in, when the endpoint may keep
    /// that buffer (recv_buffer/kept.rs: packets kept whole).
    pub offer: Option<&'a Offer>,
}

impl Segment<'_> {
    pub(crate) fn has(&self, f: TcpFlags) -> bool {
        self.flags.contains(f)
    }

    /// RFC 9293 §3.10.7.4 first step (Table 6): whether the segment is acceptable against the
    /// receive window RCV.NXT .. RCV.NXT + RCV.WND.
    pub(crate) fn acceptable(&self, nxt: SeqNum, wnd: u32) -> bool {
        let in_window = |s: SeqNum| s.in_range(nxt, nxt + wnd);
        match (self.len(), wnd) {
            (0, 0) => self.seq == nxt,
            (0, _) => in_window(self.seq),
            (_, 0) => false,
            (len, _) => in_window(self.seq) || in_window(self.seq + (len - 1)),
        }
    }

    /// SEG.LEN: octets of data plus one for SYN and one for FIN.
    pub(crate) fn len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.has(TcpFlags::SYN))
            + u32::from(self.has(TcpFlags::FIN))
    }
}

/// A reset the connection asks the endpoint to send: `<SEQ=seq><CTL=RST>` with `options`
/// (made by [`Connection::reset_reply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResetReply {
    pub seq: SeqNum,
    pub options: TcpOptions,
}

/// What the endpoint must do after a connection handled a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Send `<SEQ=seq><CTL=RST>` to the peer.
    pub reset: Option<ResetReply>,
    /// A passively opened child went back to LISTEN: forget it silently (§3.10.7.4 steps 2, 4).
    pub back_to_listen: bool,
    /// Out-of-order text was not held: the endpoint is over its memory budget (counted).
    pub dropped_for_memory: bool,
}

impl Outcome {
    pub(crate) fn rst(reply: ResetReply) -> Self {
        Outcome {
            reset: Some(reply),
            ..Outcome::default()
        }
    }
}

impl Connection {
    /// A RST from this connection: `<SEQ=seq><CTL=RST>`. Once timestamps are agreed it carries
    /// TSopt too (RFC 7323 §3.2: SHOULD; TSval our clock, TSecr TS.Recent), so a peer doing
    /// PAWS on RSTs or matching them to the connection by timestamp accepts it. Every RST a
    /// TCB sends is made here: ABORT, CLOSE with unread data and data after CLOSE (SHLD-3),
    /// and a bad ACK in SYN-RECEIVED or SYN-SENT (no timestamps agreed there yet).
    pub(crate) fn reset_reply(&self, now: crate::time::Instant, seq: SeqNum) -> ResetReply {
        let mut options = TcpOptions::default();
        if self.opts.ts_ok() {
            options.timestamps = Some((self.ts_now(now), self.opts.ts_recent()));
        }
        ResetReply { seq, options }
    }
    /// Handle one segment. `accept_room`: for a passive child, whether its listener's accept
    /// queue can take it once it is ESTABLISHED.
    pub(crate) fn segment_arrives(
        &mut self,
        ctx: &mut Ctx<'_>,
        seg: Segment<'_>,
        accept_room: bool,
    ) -> Outcome {
        let out = match self.state() {
            // TIME-WAIT has rules of its own (time_wait_rules.rs), shared with the compact
            // entry; the endpoint applies them before a segment would reach this.
            State::Closed | State::Listen | State::TimeWait => Outcome::default(),
            State::SynSent => self.syn_sent_arrives(ctx, seg),
            _ => self.synchronizing_arrives(ctx, seg, accept_room),
        };
        // Text staged and not taken (the segment was not acceptable) is forgotten.
        self.rcv.buf_mut().unstage();
        out
    }

    /// Before the checksum is known: if this segment's text would be stored at RCV.NXT (the
    /// common case of in-order data in a state that takes text, step 7), copy it into the
    /// receive ring's free space, not yet readable, and return its checksum sum. Step 7 then
    /// commits it instead of copying it again; if the checksum is bad or the segment is not
    /// accepted, it is forgotten. `None`: nothing staged, the caller sums the text itself.
    pub(crate) fn stage_text(&mut self, seq: SeqNum, flags: TcpFlags, text: &[u8]) -> Option<u32> {
        let takes_text = matches!(
            self.state(),
            State::Established | State::FinWait1 | State::FinWait2
        );
        if !takes_text
            || text.is_empty()
            || seq != self.rcv.nxt()
            || flags.contains(TcpFlags::SYN)
            || flags.contains(TcpFlags::RST)
        {
            return None;
        }
        self.rcv.buf_mut().stage(seq, text)
    }
    /// §3.10.7.4: SYN-RECEIVED and the synchronized states.
    fn synchronizing_arrives(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut seg: Segment<'_>,
        accept_room: bool,
    ) -> Outcome {
        if self.state() == State::SynReceived && seg.has(TcpFlags::SYN) && seg.seq == self.rcv.irs()
        {
            if !seg.has(TcpFlags::ACK) {
                // The peer retransmitted its SYN: our SYN-ACK was lost. Send it again.
                self.snd.resend_syn();
                self.rec.rtt_probe = None;
                return Outcome::default();
            }
            // Simultaneous open: the peer's SYN-ACK repeats the SYN we already have. Strip it
            // so the ACK is processed (RFC 9293 Appendix A.2 on strict sequence checks).
            seg.flags.remove(TcpFlags::SYN);
            seg.seq += 1u32;
        }

        // The window of a non-SYN segment is scaled (RFC 7323 §2.2); MUST-1: unsigned.
        if !seg.has(TcpFlags::SYN) {
            seg.wnd <<= self.opts.snd_shift();
        }
        // RFC 7323 §5.3 R1: PAWS.
        match self.opts.paws(seg.flags, seg.options.timestamps, ctx.now) {
            Paws::Pass => {}
            Paws::Drop => return Outcome::default(),
            Paws::AckAndDrop => {
                self.rcv.owe_ack();
                return Outcome::default();
            }
        }
        // RFC 5961 §4.2: in a synchronized state a SYN gets a challenge ACK whatever its
        // sequence number — so an out-of-window SYN is answered from the same rate-limited
        // budget rather than with a step-1 ACK per spoofed segment.
        if self.state().is_synchronized() && seg.has(TcpFlags::SYN) && !seg.has(TcpFlags::RST) {
            self.challenge_ack(ctx);
            return Outcome::default();
        }

        // The segment's own sequence number, before trimming: the urgent pointer counts from
        // it, and TS.Recent's rule compares it with Last.ACK.sent.
        let urgent_seq = seg.seq;

        // First: check the sequence number (Table 6).
        let wnd = self.rcv_wnd(ctx.pressure);
        let nxt = self.rcv.nxt();
        if !seg.acceptable(nxt, wnd) {
            // MUST-66: with a zero window still process a valid ACK (and RST, URG) carried
            // by a segment at RCV.NXT; its text is dropped.
            let zero_window_ack = wnd == 0 && seg.seq == nxt && !seg.has(TcpFlags::SYN);
            if !zero_window_ack {
                if !seg.has(TcpFlags::RST) {
                    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
                    self.rcv.owe_ack();
                    if self.opts.sack_ok() && !seg.payload.is_empty() && seg.seq < nxt {
                        // A duplicate: report it as D-SACK (RFC 2883).
                        let end = seg.seq + seg.payload.len();
                        self.rcv.report_dsack(seg.seq, end.min(nxt));
                    }
                }
                return Outcome::default();
            }
            // The text is not acceptable, so it is answered with an ACK (a zero-window
            // probe gets its reply here), but the ACK field is still processed.
            self.rcv.set_ack_owed(!seg.has(TcpFlags::RST));
            seg.payload = &[];
            seg.flags.remove(TcpFlags::FIN);
        }
        // An acceptable segment: the peer is alive (keep-alive). TS.Recent waits for the ACK
        // check (step 5).
        self.rcv.heard_from_peer(ctx.now);
        self.keepalive_unanswered = 0;
        if self.keepalive.is_some() {
            self.arm_keepalive();
        }
        // Trim to the window: drop octets before RCV.NXT and beyond the right edge.
        if seg.seq < nxt {
            if self.opts.sack_ok() && !seg.payload.is_empty() {
                self.rcv.report_dsack(seg.seq, nxt); // partly a duplicate (RFC 2883 §4.1.2)
            }
            let skip = (nxt - seg.seq) as usize;
            if skip <= seg.payload.len() {
                seg.payload = &seg.payload[skip..];
                seg.seq = nxt;
            } else {
                seg.payload = &[];
                seg.seq = nxt;
            }
        }
        let room = ((nxt + wnd) - seg.seq) as usize;
        if seg.payload.len() > room {
            seg.payload = &seg.payload[..room];
            seg.flags.remove(TcpFlags::FIN); // the FIN lies beyond the window
        }

        // Second: the RST bit (RFC 5961 §3.2: only an exact match resets).
        if seg.has(TcpFlags::RST) {
            if seg.seq != nxt {
                self.challenge_ack(ctx);
                return Outcome::default();
            }
            return self.reset_arrives(ctx);
        }

        // Third: security and compartment — not used.

        // Fourth: the SYN bit.
        if seg.has(TcpFlags::SYN) {
            if self.state() == State::SynReceived && self.listener.is_some() {
                // A new SYN on a passively opened half-open connection: back to LISTEN.
                self.transition(ctx, State::Listen, "rcv SYN (back to LISTEN)");
                return Outcome {
                    back_to_listen: true,
                    ..Outcome::default()
                };
            }
            // RFC 5961 §4: any SYN in a synchronized state gets a challenge ACK.
            self.challenge_ack(ctx);
            return Outcome::default();
        }

        // Fifth: the ACK field.
        if !seg.has(TcpFlags::ACK) {
            return Outcome::default();
        }
        if self.state() == State::SynReceived {
            if self.snd.una() < seg.ack && seg.ack <= self.snd.max() {
                if self.listener.is_some() && !accept_room {
                    // The accept queue is full: ignore the ACK; our SYN-ACK retransmission
                    // will draw another one once the application has accepted.
                    return Outcome::default();
                }
                self.snd.update_window(seg.wnd, seg.seq, seg.ack);
                self.transition(ctx, State::Established, "rcv ACK of SYN");
                let _ = self.ack_arrived(ctx, seg.ack, seg.options.timestamps.map(|t| t.1));
                self.on_established(ctx);
            } else {
                // <SEQ=SEG.ACK><CTL=RST>
                return Outcome::rst(self.reset_reply(ctx.now, seg.ack));
            }
        } else {
            // MAY-12 (RFC 5961 §5): accept only SND.UNA − MAX.SND.WND =< SEG.ACK =< SND.NXT.
            if seg.ack > self.snd.max() || seg.ack < self.snd.una() - self.snd.max_wnd() {
                self.challenge_ack(ctx);
                return Outcome::default();
            }
            let dup_candidate = seg.ack == self.snd.una()
                && seg.payload.is_empty()
                && !seg.has(TcpFlags::FIN)
                && seg.wnd == self.snd.wnd()
                && seg.wnd != 0 // replies to zero-window probes are not loss signals
                && self.snd.una() != self.snd.max();
            self.process_ack(
                ctx,
                crate::loss::AckInfo {
                    ack: seg.ack,
                    duplicate: dup_candidate,
                    sack_blocks: seg.options.sack_blocks.as_slice(),
                    tsecr: seg.options.timestamps.map(|t| t.1),
                },
            );
            // Window update (WL1/WL2 rule).
            if self.snd.window_update_allowed(seg.seq, seg.ack) {
                let was_zero = self.snd.wnd() == 0;
                self.snd.update_window(seg.wnd, seg.seq, seg.ack);
                if was_zero && seg.wnd > 0 {
                    // The window opened: stop probing and send at once. The probe octet past
                    // the old window was most likely dropped, so go back to SND.UNA.
                    self.snd.set_probe(false);
                    self.snd.go_back_to_una();
                    self.rec.rtt.reset_backoff();
                    self.rec.retries = 0;
                    self.timers.set(
                        Timer::Rto,
                        (self.snd.una() != self.snd.max()).then(|| self.rto_deadline(ctx)),
                    );
                }
            }
            if self.snd.wnd() == 0 {
                // A probe was answered (MUST-37): the peer is alive, its window just shut.
                // Probing continues as long as it answers.
                if !self.timers.is_set(Timer::Rto) && self.zero_window_blocked() {
                    // The persist timer: first probe one RTO after the window closed (SHLD-29).
                    self.timers.start(Timer::Rto, self.rto_deadline(ctx));
                }
                // R2 counts from our next transmission (probe or retransmission), not from
                // this answer: a receiver that answers every probe keeps the connection
                // however far apart the backed-off probes are (MUST-37), and one that stops
                // answering is given up R2 after the first probe it left unanswered (where
                // Linux measures TCP_USER_TIMEOUT for probes from too).
                self.rec.progress_at = self
                    .timers
                    .get(Timer::Rto)
                    .map_or(ctx.now, |t| t.max(ctx.now));
            }
        }
        // The segment passed the ACK check: now, and only now, TS.Recent may advance.
        self.opts
            .update_ts_recent(urgent_seq, &seg.options, ctx.now);
        match self.state() {
            State::FinWait1 if self.snd.fin_acked() => {
                self.transition(ctx, State::FinWait2, "rcv ACK of FIN");
            }
            State::Closing if self.snd.fin_acked() => {
                self.transition(ctx, State::TimeWait, "rcv ACK of FIN");
            }
            State::LastAck if self.snd.fin_acked() => {
                self.close_with(ctx, CloseReason::Normal, "rcv ACK of FIN");
                return Outcome::default();
            }
            _ => {}
        }

        // Sixth: the URG bit (MUST-30..33). In ESTABLISHED and FIN-WAIT-1/2, RCV.UP =
        // max(RCV.UP, SEG.UP) and the user is told when urgent data starts or the pointer
        // moves on. Processed even with a zero window (MUST-66).
        if seg.has(TcpFlags::URG)
            && matches!(
                self.state(),
                State::Established | State::FinWait1 | State::FinWait2
            )
        {
            let up = urgent_seq + u32::from(seg.urgent);
            if self.rcv.up().is_none_or(|cur| up > cur) {
                self.rcv.urgent_to(up);
                if self.owned {
                    ctx.events.push_back(Event::Urgent { conn: self.handle });
                }
            }
        }
        // Seventh and eighth: text and FIN.
        if self.released
            && !seg.payload.is_empty()
            && matches!(self.state(), State::FinWait1 | State::FinWait2)
        {
            // SHLD-3: data arriving after a full CLOSE — nobody will read it. Reset.
            let reply = Outcome::rst(self.reset_reply(ctx.now, self.snd.max()));
            self.close_with(ctx, CloseReason::Aborted, "data after CLOSE (RST)");
            return reply;
        }
        Outcome {
            dropped_for_memory: self.text_and_fin(ctx, seg),
            ..Outcome::default()
        }
    }

    /// A challenge ACK (RFC 5961 §3.2, §4, §5), at most `challenge_ack_limit` per
    /// `challenge_ack_window` for this connection (§7). The budget is per connection, not
    /// host-wide: a global counter is the side channel of CVE-2016-5696.
    pub(crate) fn challenge_ack(&mut self, ctx: &mut Ctx<'_>) {
        if ctx.now >= self.challenge_window_start + ctx.cfg.challenge_ack_window {
            self.challenge_window_start = ctx.now;
            self.challenge_count = 0;
        }
        if self.challenge_count < ctx.cfg.challenge_ack_limit {
            self.challenge_count += 1;
            self.stats.challenge_acks = self.stats.challenge_acks.saturating_add(1);
            self.rcv.owe_ack();
        } else {
            self.stats.challenge_acks_suppressed =
                self.stats.challenge_acks_suppressed.saturating_add(1);
        }
    }

    /// Step 2 for an exact-match RST, by state.
    fn reset_arrives(&mut self, ctx: &mut Ctx<'_>) -> Outcome {
        match self.state() {
            State::SynReceived if self.listener.is_some() => {
                // Passive OPEN: return to LISTEN, the user is not told.
                self.snd.buf_mut().clear();
                self.transition(ctx, State::Listen, "rcv RST (back to LISTEN)");
                Outcome {
                    back_to_listen: true,
                    ..Outcome::default()
                }
            }
            State::SynReceived => {
                self.close_with(ctx, CloseReason::Refused, "rcv RST (connection refused)");
                Outcome::default()
            }
            _ => {
                self.close_with(ctx, CloseReason::Reset, "rcv RST");
                Outcome::default()
            }
        }
    }

    /// New data acknowledged: SND.UNA advances (step 5, ESTABLISHED). Returns the RTT sample
    /// the ACK gave, in milliseconds, if any (HyStart++ watches them).
    pub(crate) fn ack_arrived(
        &mut self,
        ctx: &mut Ctx<'_>,
        ack: SeqNum,
        tsecr: Option<u32>,
    ) -> Option<u32> {
        let acked = ack - self.snd.una();
        let had_room = self.send_room(ctx.pressure) > 0;
        // Data octets only: the SYN and FIN occupy sequence space but carry no data.
        let ctl = u32::from(self.snd.una() == self.snd.iss())
            + u32::from(self.snd.fin_seq().is_some_and(|f| ack > f));
        self.stats.bytes_acked += u64::from(acked.saturating_sub(ctl));
        self.snd.buf_mut().ack_to(ack);
        self.autotune_send(ctx.cfg, ctx.pressure);
        self.snd.acknowledge(ack);
        // RTT sample: from the echoed timestamp when agreed (RFC 7323 §4, valid even for
        // retransmissions), else from the one timed segment (Karn: the probe is cleared
        // whenever anything is retransmitted).
        let mut sample_ms = None;
        match tsecr {
            Some(ecr) if self.opts.ts_ok() && ecr != 0 => {
                let ms = self.ts_now(ctx.now).wrapping_sub(ecr);
                if ms < 3_600_000 {
                    self.rec
                        .rtt
                        .sample(crate::time::Duration::from_millis(u64::from(ms)));
                    sample_ms = Some(ms);
                }
                self.rec.rtt_probe = None;
            }
            _ => {
                if let Some((seq, sent)) = self.rec.rtt_probe {
                    if seq <= ack {
                        let rtt = ctx.now.saturating_duration_since(sent);
                        self.rec.rtt.sample(rtt);
                        sample_ms = Some(rtt.as_millis().min(u128::from(u32::MAX)) as u32);
                        self.rec.rtt_probe = None;
                    }
                }
            }
        }
        self.rec.retries = 0;
        self.rec.rtt.reset_backoff();
        self.rec.progress_at = ctx.now;
        // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
        let rto = (self.snd.una() != self.snd.max()).then(|| self.rto_deadline(ctx));
        self.timers.set(Timer::Rto, rto);
        if !had_room && self.send_room(ctx.pressure) > 0 && self.owned && !self.released {
            ctx.events.push_back(Event::Writable { conn: self.handle });
        }
        sample_ms
    }
    /// Steps 7 (segment text) and 8 (FIN). Returns true if the text was not held because the
    /// endpoint is over its memory budget.
    pub(crate) fn text_and_fin(&mut self, ctx: &mut Ctx<'_>, seg: Segment<'_>) -> bool {
        let takes_text = matches!(
            self.state(),
            State::Established | State::FinWait1 | State::FinWait2
        );
        if takes_text && !seg.payload.is_empty() {
            let before = self.rcv.nxt();
            let had_holes = self.rcv.buf().ooo_bytes() > 0;
            if ctx.pressure && seg.seq != self.rcv.nxt() {
                // Over the endpoint's memory budget: out-of-order text is not held (the
                // peer will retransmit it); still tell the sender where the hole is.
                self.rcv.owe_dupack();
                return true;
            }
            self.rcv.insert(seg.seq, seg.payload, seg.offer.copied());
            self.stats.bytes_received += u64::from(self.rcv.nxt() - before);
            // ACK every segment (delayed ACK comes with the transfer work). Out-of-order text
            // gets an immediate duplicate ACK each time (RFC 5681 §4.2): these are not
            // aggregated, the sender counts them to detect loss.
            if self.rcv.nxt() == before {
                self.rcv.out_of_order_at(seg.seq);
                self.rcv.owe_dupack();
            } else {
                // Delayed ACK (SHLD-18) unless a gap just filled (RFC 5681 §4.2: ACK at once),
                // two full segments' worth is unacknowledged (SHLD-19), or a quick ACK is due.
                self.rcv.text_arrived(before, ctx.now);
                // A full-sized segment from the peer carries our MSS less its options.
                let full = u32::from(self.our_mss(ctx.cfg)) - self.opts.option_overhead();
                let two_segments = 2 * full;
                // Quick ACKs (quick_ack.rs): the first segments of the peer's slow start, at
                // the start and after more than an RTO without data, are ACKed at once.
                let quick = ctx.cfg.delayed_ack.is_some()
                    && self
                        .rcv
                        .quick_ack_due(before, ctx.now, self.rec.rtt.rto(), full);
                match ctx.cfg.delayed_ack {
                    Some(delay)
                        if !had_holes && !quick && self.rcv.unacked_bytes() < two_segments =>
                    {
                        if !self.timers.is_set(Timer::DelayedAck) {
                            self.timers.start(Timer::DelayedAck, ctx.now + delay);
                        }
                    }
                    _ => self.rcv.owe_ack(),
                }
                if self.owned {
                    ctx.events.push_back(Event::Readable { conn: self.handle });
                }
                if self.rcv.take_pending_fin() {
                    self.fin_arrives(ctx);
                    return false;
                }
            }
        }
        if seg.has(TcpFlags::FIN) {
            if matches!(self.state(), State::Closed | State::Listen | State::SynSent) {
                return false; // never process a FIN in these states
            }
            let fin_seq = seg.seq + seg.payload.len();
            if fin_seq == self.rcv.nxt() {
                self.fin_arrives(ctx);
            } else if fin_seq > self.rcv.nxt() {
                // The FIN came before the data preceding it: handle it in sequence order.
                self.rcv.fin_ahead(fin_seq);
            }
        }
        false
    }

    /// Step 8: the FIN is next in sequence.
    fn fin_arrives(&mut self, ctx: &mut Ctx<'_>) {
        self.rcv.take_fin();
        if self.owned {
            ctx.events
                .push_back(Event::PeerClosed { conn: self.handle });
        }
        match self.state() {
            State::SynReceived | State::Established => {
                self.transition(ctx, State::CloseWait, "rcv FIN");
            }
            State::FinWait1 => {
                if self.snd.fin_acked() {
                    self.transition(ctx, State::TimeWait, "rcv FIN");
                } else {
                    self.transition(ctx, State::Closing, "rcv FIN (simultaneous close)");
                }
            }
            State::FinWait2 => self.transition(ctx, State::TimeWait, "rcv FIN"),
            // TIME-WAIT never gets here: its rules are time_wait_rules.rs.
            _ => {}
        }
    }
}
