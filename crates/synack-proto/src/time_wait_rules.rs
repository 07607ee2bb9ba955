//! The rules of TIME-WAIT, once (RFC 9293 §3.10.7.4 for TIME-WAIT; PAWS, RFC 7323 §5.3;
//! RFC 1337; RFC 5961 §§3–5; a new incarnation, MAY-2 and RFC 6191).
//!
//! A connection in TIME-WAIT is held in one of two ways: as its full TCB, while the
//! application still holds the handle (a half-closed connection it has not closed), or as a
//! 48-byte entry (time_wait.rs) once it has. Both ask [`rules`] what a segment means and then
//! carry out the verdict on what they hold: the TCB through its output path and its own
//! challenge budget, the entry with a control segment and a budget of one byte.

use synack_wire::TcpFlags;

use crate::config::Config;
use crate::connection::Ctx;
use crate::endpoint::Endpoint;
use crate::error::CloseReason;
use crate::event::{ConnHandle, Event};
use crate::segment_arrives::Segment;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;
use crate::timers::Timer;

/// What TIME-WAIT knows of the connection, whichever way it is held.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View {
    /// The highest sequence number we sent (our FIN is below it and acknowledged).
    pub snd_nxt: SeqNum,
    pub rcv_nxt: SeqNum,
    /// Last.ACK.sent (RFC 7323 §4.3): TS.Recent moves only for a segment at or before it.
    pub last_ack_sent: SeqNum,
    /// The window our ACKs offer.
    pub wnd: u32,
    pub ts_ok: bool,
    pub ts_recent: u32,
    /// TS.Recent is older than 24 days and not used for PAWS (RFC 7323 §5.5).
    pub ts_recent_stale: bool,
    pub sack_ok: bool,
    /// MAY-12's lower bound for the ACK field (SND.UNA − MAX.SND.WND), where it is known.
    pub ack_floor: Option<SeqNum>,
    /// A listener would take a SYN for this tuple (a new incarnation can open).
    pub listener: bool,
}

/// What to do with the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing to send.
    Drop,
    /// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`.
    Ack,
    /// A challenge ACK, from the connection's budget (RFC 5961 §7).
    Challenge,
    /// The peer reset the connection: CLOSED.
    Reset,
    /// A SYN of a new incarnation: end TIME-WAIT and hand the SYN to the listener, with our
    /// ISS at least `iss_floor` (above the old connection's sequence space, RFC 6191).
    Reincarnate { iss_floor: SeqNum },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub action: Action,
    /// A duplicate to report in the ACK as D-SACK (RFC 2883).
    pub dsack: Option<(SeqNum, SeqNum)>,
    /// Restart the 2·MSL wait (a retransmitted FIN).
    pub restart: bool,
    /// The new TS.Recent.
    pub ts_recent: Option<u32>,
    /// A FIN at RCV.NXT: advance RCV.NXT over it and tell the application (step 8).
    pub fin: bool,
}

impl Verdict {
    fn just(action: Action) -> Verdict {
        Verdict {
            action,
            dsack: None,
            restart: false,
            ts_recent: None,
            fin: false,
        }
    }
}

/// SEGMENT ARRIVES in TIME-WAIT, in the RFC's step order.
pub(crate) fn rules(v: &View, seg: &Segment<'_>, cfg: &Config) -> Verdict {
    let has = |f: TcpFlags| seg.flags.contains(f);
    let newer_ts = |tsval: u32| (tsval.wrapping_sub(v.ts_recent) as i32) > 0;
    // MAY-2 / RFC 6191: a SYN from a new incarnation (a newer timestamp, or a sequence
    // number beyond RCV.NXT) ends TIME-WAIT and goes to the listener.
    if v.listener && syn_only(seg) {
        let newer = match (v.ts_ok, seg.options.timestamps) {
            (true, Some((tsval, _))) => newer_ts(tsval),
            _ => seg.seq > v.rcv_nxt,
        };
        if newer {
            return Verdict::just(Action::Reincarnate {
                iss_floor: v.snd_nxt + 65535u32 + 2u32,
            });
        }
    }
    // RFC 7323 §5.3 R1 (PAWS): once timestamps are agreed a non-RST segment without one is
    // dropped, and one older than TS.Recent is an old duplicate: ACK and drop.
    if v.ts_ok && !has(TcpFlags::RST) {
        match seg.options.timestamps {
            None => return Verdict::just(Action::Drop),
            Some((tsval, _))
                if (tsval.wrapping_sub(v.ts_recent) as i32) < 0 && !v.ts_recent_stale =>
            {
                return Verdict::just(Action::Ack);
            }
            Some(_) => {}
        }
    }
    // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK, whatever its
    // sequence number.
    if has(TcpFlags::SYN) && !has(TcpFlags::RST) {
        return Verdict::just(Action::Challenge);
    }
    // First: the sequence number (Table 6), against the window our ACKs offer.
    let (nxt, wnd) = (v.rcv_nxt, v.wnd);
    let acceptable = seg.acceptable(nxt, wnd);
    let mut verdict = Verdict::just(Action::Drop);
    let mut fin = has(TcpFlags::FIN);
    if !acceptable {
        // MUST-66: with a zero window, the ACK field of a segment at RCV.NXT is still
        // processed (its text and FIN are not).
        let zero_window_ack = wnd == 0 && seg.seq == nxt;
        if !zero_window_ack {
            if has(TcpFlags::RST) {
                return verdict;
            }
            if v.sack_ok && !seg.payload.is_empty() && seg.seq < nxt {
                verdict.dsack = Some((seg.seq, (seg.seq + seg.payload.len()).min(nxt)));
            }
            // A retransmitted FIN: ACK it and restart the 2MSL wait (step 8).
            verdict.restart = fin;
            verdict.action = Action::Ack;
            return verdict;
        }
        if !has(TcpFlags::RST) {
            verdict.action = Action::Ack;
        }
        fin = false;
    }
    if acceptable && v.sack_ok && seg.seq < nxt && !seg.payload.is_empty() {
        verdict.dsack = Some((seg.seq, nxt)); // partly a duplicate (RFC 2883 §4.1.2)
    }
    // Second: the RST bit. RFC 1337: a RST must not assassinate TIME-WAIT (the wait protects
    // the next incarnation from this one's old duplicates); without it, only an exact match
    // resets (RFC 5961 §3.2).
    if has(TcpFlags::RST) {
        return Verdict::just(if cfg.rfc1337 {
            Action::Drop
        } else if seg.seq != nxt {
            Action::Challenge
        } else {
            Action::Reset
        });
    }
    // Fifth: the ACK field. MAY-12 (RFC 5961 §5): an ACK of data never sent, or below
    // SND.UNA − MAX.SND.WND where that is known, is challenged.
    if !has(TcpFlags::ACK) {
        return verdict;
    }
    if seg.ack > v.snd_nxt || v.ack_floor.is_some_and(|floor| seg.ack < floor) {
        return Verdict::just(Action::Challenge);
    }
    // RFC 7323 §4.3: TS.Recent from a segment at or before Last.ACK.sent — only now that it
    // passed the window, RST, SYN and ACK checks: a segment that is dropped must not move it.
    if let (true, Some((tsval, _))) = (v.ts_ok, seg.options.timestamps) {
        if (tsval.wrapping_sub(v.ts_recent) as i32) >= 0 && seg.seq <= v.last_ack_sent {
            verdict.ts_recent = Some(tsval);
        }
    }
    // Seventh: text is ignored in TIME-WAIT. Eighth: a FIN at RCV.NXT (the peer's FIN is
    // behind RCV.NXT already, so only a bogus one lands here) is taken, acknowledged, and
    // restarts the wait.
    if fin && seg.seq + seg.payload.len() == nxt {
        verdict.fin = true;
        verdict.restart = true;
        verdict.action = Action::Ack;
    }
    verdict
}

impl crate::connection::Connection {
    /// What TIME-WAIT knows of this TCB.
    fn time_wait_view(&self, now: Instant, pressure: bool, listener: bool) -> View {
        View {
            snd_nxt: self.snd.max(),
            rcv_nxt: self.rcv.nxt(),
            last_ack_sent: self.opts.last_ack_sent(),
            wnd: self.rcv_wnd(pressure),
            ts_ok: self.opts.ts_ok(),
            ts_recent: self.opts.ts_recent(),
            ts_recent_stale: self.opts.ts_recent_stale(now),
            sack_ok: self.opts.sack_ok(),
            ack_floor: Some(self.snd.una() - self.snd.max_wnd()),
            listener,
        }
    }

    /// Carry out a verdict on the TCB (all but a new incarnation, which the endpoint opens).
    fn time_wait_verdict(&mut self, ctx: &mut Ctx<'_>, v: &Verdict) {
        if let Some(ts) = v.ts_recent {
            self.opts.set_ts_recent(ts, ctx.now);
        }
        if v.fin {
            // The edge moves with RCV.NXT, so the window offered stays what it was, as the
            // compact entry's fixed window field has it.
            self.rcv.take_fin_keeping_window();
            if self.owned {
                ctx.events
                    .push_back(Event::PeerClosed { conn: self.handle });
            }
        }
        if v.restart {
            self.timers
                .start(Timer::TimeWait, ctx.now + ctx.cfg.msl * 2);
        }
        match v.action {
            Action::Drop | Action::Reincarnate { .. } => {}
            Action::Ack => {
                self.rcv.owe_ack();
                if let Some((l, r)) = v.dsack {
                    self.rcv.report_dsack(l, r);
                }
            }
            Action::Challenge => self.challenge_ack(ctx),
            Action::Reset => self.close_with(ctx, CloseReason::Reset, "rcv RST"),
        }
    }
}

impl Endpoint {
    /// SEGMENT ARRIVES for a full TCB in TIME-WAIT (the application still holds it).
    pub(crate) fn time_wait_tcb_arrives(&mut self, now: Instant, h: ConnHandle, seg: Segment<'_>) {
        let Some(c) = self.conns.get(&h) else { return };
        let tuple = c.tuple;
        let listener = if syn_only(&seg) {
            self.find_listener(tuple.local)
        } else {
            None
        };
        let pressure = self.over_budget();
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let view = c.time_wait_view(now, pressure, listener.is_some());
        let v = rules(&view, &seg, &self.cfg);
        let mut ctx = ctx!(self, now);
        c.time_wait_verdict(&mut ctx, &v);
        if let (Action::Reincarnate { iss_floor }, Some(laddr)) = (v.action, listener) {
            c.close_with(
                &mut ctx,
                CloseReason::Normal,
                "new SYN in TIME-WAIT (MAY-2)",
            );
            self.after(h, State::TimeWait, false);
            let seg = Segment { offer: None, ..seg };
            self.listen_arrives(now, laddr, tuple, seg, Some(iss_floor));
            return;
        }
        self.after(h, State::TimeWait, false);
    }
}

/// A SYN without ACK or RST: what may open a new incarnation.
pub(crate) fn syn_only(seg: &Segment<'_>) -> bool {
    seg.flags.contains(TcpFlags::SYN)
        && !seg.flags.contains(TcpFlags::ACK)
        && !seg.flags.contains(TcpFlags::RST)
}
