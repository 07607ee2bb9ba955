//! Opening a connection: taking the peer's SYN (for a listener's child, SYN-SENT and a
//! returned SYN cookie alike), SEGMENT ARRIVES in SYN-SENT (RFC 9293 §3.10.7.3), and entering
//! ESTABLISHED. The SYN-RECEIVED and synchronized states are segment_arrives.rs.

use synack_wire::{TcpFlags, TcpOptions};

use crate::connection::{Connection, Ctx};
use crate::error::CloseReason;
use crate::event::Event;
use crate::segment_arrives::{Outcome, Segment};
use crate::seq::SeqNum;
use crate::state::State;

impl Connection {
    /// Take the peer's SYN — the one routine for a listener's child (§3.10.7.2), SYN-SENT
    /// (§3.10.7.3, a SYN-ACK or a simultaneous open) and a returned SYN cookie: IRS = the
    /// SYN's sequence number, RCV.NXT just past it, the window edge there, the options both
    /// SYNs agreed, and Last.ACK.sent = RCV.NXT (the ACK our next segment carries).
    pub(crate) fn accept_syn(&mut self, ctx: &Ctx<'_>, irs: SeqNum, options: &TcpOptions) {
        self.rcv.take_syn(irs);
        let (ours, default) = (
            self.our_mss(ctx.cfg),
            crate::connection::default_mss(&self.tuple),
        );
        self.opts
            .negotiate(ctx.cfg, options, ours, default, ctx.now);
        self.opts.ack_sent(self.rcv.nxt());
    }

    /// §3.10.7.3: SYN-SENT.
    pub(crate) fn syn_sent_arrives(&mut self, ctx: &mut Ctx<'_>, seg: Segment<'_>) -> Outcome {
        // First: check the ACK bit.
        let mut ack_ok = false;
        if seg.has(TcpFlags::ACK) {
            if seg.ack <= self.snd.iss() || seg.ack > self.snd.max() {
                // <SEQ=SEG.ACK><CTL=RST>, unless the segment is itself a RST.
                if seg.has(TcpFlags::RST) {
                    return Outcome::default();
                }
                return Outcome::rst(self.reset_reply(ctx.now, seg.ack));
            }
            // Acceptable iff SND.UNA < SEG.ACK =< SND.NXT (not "= SND.NXT": the peer may ACK
            // only part of what rode on our SYN).
            ack_ok = self.snd.una() < seg.ack && seg.ack <= self.snd.max();
        }
        // Second: the RST bit.
        if seg.has(TcpFlags::RST) {
            if ack_ok {
                // "error: connection reset" — to the user of an active open: refused.
                self.close_with(ctx, CloseReason::Refused, "rcv RST (connection refused)");
            }
            return Outcome::default();
        }
        // Third: security — no compartments (RFC 9293 §3.10.7.3 leaves it to IP options we
        // do not use).
        // Fourth: the SYN bit.
        if !seg.has(TcpFlags::SYN) {
            return Outcome::default(); // fifth: neither SYN nor RST — drop
        }
        self.accept_syn(ctx, seg.seq, &seg.options);
        self.rcv.heard_from_peer(ctx.now);
        if ack_ok {
            let tsecr = seg.options.timestamps.map(|t| t.1);
            let _ = self.ack_arrived(ctx, seg.ack, tsecr);
        }
        if self.snd.una() > self.snd.iss() {
            // Our SYN is acknowledged: ESTABLISHED, send <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
            self.snd.update_window(seg.wnd, seg.seq, seg.ack);
            self.rcv.owe_ack();
            self.transition(ctx, State::Established, "rcv SYN-ACK");
            self.on_established(ctx);
            // Data or FIN on the SYN-ACK: continue at step 6 (URG) with the SYN stripped.
            let rest = Segment {
                seq: seg.seq + 1u32,
                flags: TcpFlags(seg.flags.bits() & !(TcpFlags::SYN.bits() | TcpFlags::ACK.bits())),
                ..seg
            };
            let dropped_for_memory = self.text_and_fin(ctx, rest);
            return Outcome {
                dropped_for_memory,
                ..Outcome::default()
            };
        } else {
            // Simultaneous open (MUST-10): SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
            self.snd.update_window(seg.wnd, seg.seq, self.snd.una());
            self.snd.resend_syn(); // the output path re-sends our SYN, now with ACK
            self.rec.rtt_probe = None;
            self.transition(ctx, State::SynReceived, "rcv SYN (simultaneous open)");
            self.text_on_syn(seg.payload);
        }
        Outcome::default()
    }

    /// Entering ESTABLISHED: initial window, the RFC 6298 §5.7 rule, notify the user, and
    /// run a CLOSE that was queued in SYN-RECEIVED.
    pub(crate) fn on_established(&mut self, ctx: &mut Ctx<'_>) {
        let smss = u32::from(self.opts.snd_mss());
        let iw = if self.rec.syn_timed_out {
            self.rec.rtt.syn_timed_out_reset();
            smss // RFC 5681 §3.1: IW is one segment after a lost SYN or SYN-ACK
        } else {
            crate::congestion::initial_window(smss)
        };
        self.rec.set_cwnd(iw);
        if self.listener.is_none() {
            ctx.events.push_back(Event::Connected { conn: self.handle });
        }
        if self.rcv.buf().readable() > 0 {
            ctx.events.push_back(Event::Readable { conn: self.handle });
        }
        self.arm_keepalive();
        if self.snd.fin_queued() {
            self.transition(ctx, State::FinWait1, "CLOSE (queued in SYN-RECEIVED)");
        }
    }

    /// Text (and a FIN) on a SYN that opens a connection: in LISTEN (listener.rs) and in
    /// SYN-SENT on a simultaneous open. RFC 9293 §3.10.7.2/§3.10.7.3 set RCV.NXT = SEG.SEQ + 1
    /// and let the text wait for ESTABLISHED; the SYN-ACK acknowledges the SYN only.
    ///
    /// Without Fast Open synack drops the text, as Linux does: RCV.NXT stays at SEG.SEQ + 1,
    /// so the peer sends it again once the handshake is done. Keeping it would hold buffer
    /// space for a peer that has not yet shown it can complete a handshake (the SYN-flood
    /// case), and a SYN cookie (listener.rs) can keep nothing anyway.
    ///
    /// TCP Fast Open (RFC 7413, issue 22) belongs here: with a valid cookie, take the text
    /// into the receive buffer, advance RCV.NXT past it and acknowledge it in the SYN-ACK.
    pub(crate) fn text_on_syn(&mut self, payload: &[u8]) {
        let _dropped = payload;
    }
}
