//! Spurious retransmission detection and undo: a retransmission that proves unnecessary gives
//! back the window its congestion response took.
//!
//! An *episode* begins where the sender reduces its window for a loss: a fast retransmit
//! (entering recovery, loss.rs) or the first expiry of the retransmission timer. It remembers
//! what the congestion state was before, and three detectors may find the episode spurious:
//!
//! * Eifel (RFC 3522): with timestamps, an acceptable ACK after the episode's first
//!   retransmission echoes a TSval older than that retransmission's: the ACK was sent for the
//!   original transmission, which therefore was not lost. (RFC 3522 looks at the first such
//!   ACK; we undo only once the ACK covers every retransmission of the episode, so a real
//!   loss further on in the same window keeps its reduction.)
//! * D-SACK (RFC 3708, as Linux counts it): every octet retransmitted in the episode comes
//!   back in a D-SACK block (RFC 2883): the receiver got each twice.
//! * F-RTO (RFC 5682 §2, the basic algorithm), after a timeout when Eifel cannot decide (no
//!   timestamps): if the first ACK after the timeout's retransmission advances SND.UNA, send
//!   new data instead of going back; if the next ACK also acknowledges data that was not
//!   retransmitted, the timeout was spurious.
//!
//! The response: after a fast retransmit, cwnd and ssthresh go back to at least what they were
//! before (RFC 3708 §5 leaves it open; Linux's undo takes the larger of the current and the
//! earlier values); after a timeout, RFC 4015 §3.1: resume with new data (SND.NXT = SND.MAX)
//! when detected on the first ACKs, cwnd = FlightSize + min(bytes_acked, IW) (no burst),
//! ssthresh = pipe_prev = max(FlightSize, ssthresh) before the timeout, and the RTO estimator
//! reset from the spurious sample (step 5). The controller restores its own state too
//! ([`crate::congestion::Controller::on_spurious_congestion`], RFC 9438 §4.9).
//!
//! Everything here is bounded: one episode per connection, a few words each.

use crate::config::Config;
use crate::congestion::{initial_window, Saved};
use crate::connection::{Connection, Ctx};
use crate::loss::AckInfo;
use crate::seq::SeqNum;
use crate::time::Duration;

/// The spurious-retransmission state of a connection (a part of [`crate::recovery::Recovery`]).
///
/// One pointer in the TCB (conn_table.rs's size test): the state is made with the first loss
/// episode and kept from then on.
#[derive(Debug, Default)]
pub(crate) struct Undo(Option<Box<State>>);

#[derive(Debug, Default)]
struct State {
    episode: Option<Episode>,
    /// Episodes found spurious and undone.
    undos: u32,
    /// Of those, episodes that began with a retransmission timeout.
    spurious_timeouts: u32,
}

/// One loss episode (a fast retransmit or a timeout) and what it replaced.
#[derive(Clone, Debug)]
struct Episode {
    /// The built-in controller's state before the reduction (RFC 9438 §4.9: W_max, K, the
    /// epoch), to put back as it was.
    cc: Saved,
    /// It began with (or came to include) a retransmission timeout.
    timeout: bool,
    prior_cwnd: u32,
    prior_ssthresh: u32,
    /// FlightSize when it began (RFC 4015's pipe_prev is max(this, prior_ssthresh)).
    prior_flight: u32,
    /// SRTT + 2G and RTTVAR when it began (RFC 4015 §3.1 step (1)).
    prior_srtt: Option<Duration>,
    prior_rttvar: Duration,
    /// SND.UNA when it began: D-SACKs below it are about older data.
    marker: SeqNum,
    /// RFC 3522's RetransmitTS: the TSval of the first retransmission, while Eifel has not
    /// decided.
    eifel_ts: Option<u32>,
    /// The first retransmission has gone out.
    retransmitted: bool,
    /// Sequence space retransmitted in the episode and not yet reported by a D-SACK. Saturates:
    /// an episode with more than 4 GiB retransmitted is simply never undone.
    undo_retrans: u32,
    /// End of the highest retransmission, and SND.MAX when the last one went out: a D-SACK
    /// for them comes with an ACK no higher than that, so past it the episode is over.
    rexmit_high: SeqNum,
    rexmit_max: SeqNum,
    /// The first retransmission's end (F-RTO step 2 wants it acknowledged).
    first_rexmit_end: SeqNum,
    frto: Frto,
}

/// Where F-RTO (RFC 5682 §2.1) stands in a timeout episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frto {
    Off,
    /// Step 2: waiting for the first ACK after the timeout's retransmission; `recover` is
    /// SND.MAX at the timeout.
    FirstAck {
        recover: SeqNum,
    },
    /// Step 3: new data went out; the next ACK decides.
    SecondAck,
}

impl Undo {
    /// Episodes found spurious and undone (`info().undos`).
    pub(crate) fn undos(&self) -> u32 {
        self.0.as_ref().map_or(0, |s| s.undos)
    }

    /// Undone episodes that began with a timeout (`info().spurious_timeouts`).
    pub(crate) fn spurious_timeouts(&self) -> u32 {
        self.0.as_ref().map_or(0, |s| s.spurious_timeouts)
    }

    fn state(&mut self) -> &mut State {
        self.0.get_or_insert_with(Box::default)
    }

    fn episode_mut(&mut self) -> Option<&mut Episode> {
        self.0.as_mut()?.episode.as_mut()
    }

    fn take_episode(&mut self) -> Option<Episode> {
        self.0.as_mut()?.episode.take()
    }

    fn set_episode(&mut self, ep: Option<Episode>) {
        if ep.is_some() || self.0.is_some() {
            self.state().episode = ep;
        }
    }

    /// A segment `[seq, end)` was retransmitted carrying TSval `tsval`, with SND.MAX at
    /// `snd_max` (output.rs, `sent`).
    pub(crate) fn retransmitted(
        &mut self,
        seq: SeqNum,
        end: SeqNum,
        tsval: Option<u32>,
        snd_max: SeqNum,
    ) {
        let Some(ep) = self.episode_mut() else {
            return;
        };
        if !ep.retransmitted {
            ep.retransmitted = true;
            ep.eifel_ts = tsval; // RFC 3522 §3.2 step (1): RetransmitTS
            ep.first_rexmit_end = end;
        }
        ep.undo_retrans = ep.undo_retrans.saturating_add(end - seq);
        ep.rexmit_high = ep.rexmit_high.max(end);
        ep.rexmit_max = snd_max;
    }
}

/// `a` is older than `b` in timestamp space (RFC 7323 §5.2's modular comparison).
fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// How the episode was found spurious.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// On the first ACKs after the retransmission (Eifel, F-RTO): RFC 4015's SPUR_TO, the
    /// go-back may stop.
    Early,
    /// By D-SACKs, once the retransmissions reached the receiver (LATE_SPUR_TO).
    Late,
}

impl Connection {
    /// A loss episode begins: a fast retransmit (`timeout` false) or an expiry of the
    /// retransmission timer. Called before the controller reduces the window (loss.rs).
    pub(crate) fn undo_begin(&mut self, cfg: &Config, timeout: bool) {
        if !cfg.undo || self.snd.una() == self.snd.iss() {
            // Off, or the SYN is what is outstanding: nothing of the window to give back.
            self.rec.undo.set_episode(None);
            return;
        }
        if timeout && self.rec.retries > 1 {
            // A later expiry in the same episode: the state from before the first one stays
            // what an undo restores; F-RTO gives up (RFC 5682 §2.1 step 1).
            if let Some(ep) = self.rec.undo.episode_mut() {
                ep.frto = Frto::Off;
            }
            return;
        }
        let frto = if timeout {
            Frto::FirstAck {
                recover: self.snd.max(),
            }
        } else {
            Frto::Off
        };
        if let Some(ep) = self.rec.undo.episode_mut() {
            if timeout && self.rec.recover.is_some() {
                // The timer expired during fast recovery: one episode, restored to what it was
                // before the fast retransmit.
                ep.timeout = true;
                ep.frto = frto;
                return;
            }
        }
        let srtt = self.rec.rtt.srtt();
        let cc = self.rec.cc.save();
        self.rec.undo.set_episode(Some(Episode {
            cc,
            timeout,
            prior_cwnd: self.rec.cwnd(),
            prior_ssthresh: self.rec.ssthresh(),
            prior_flight: self.snd.in_flight(),
            // RFC 4015 step (1): SRTT_prev = SRTT + 2G (G = 1 ms, rtt.rs).
            prior_srtt: srtt.map(|s| s + Duration::from_millis(2)),
            prior_rttvar: self.rec.rtt.rttvar(),
            marker: self.snd.una(),
            eifel_ts: None,
            retransmitted: false,
            undo_retrans: 0,
            rexmit_high: self.snd.una(),
            rexmit_max: self.snd.max(),
            first_rexmit_end: self.snd.una(),
            frto,
        }));
    }

    /// After an ACK was processed (the end of `process_ack`): run the detectors and, if the
    /// episode was spurious, undo it. `una_before`: SND.UNA before this ACK; `dsack`: its
    /// first SACK block is a D-SACK (RFC 2883, as the scoreboard judged it).
    pub(crate) fn undo_on_ack(
        &mut self,
        ctx: &mut Ctx<'_>,
        info: &AckInfo<'_>,
        una_before: SeqNum,
        dsack: bool,
    ) {
        let Some(mut ep) = self.rec.undo.take_episode() else {
            return;
        };
        let una = self.snd.una();
        let advanced = una > una_before;
        let mut found = None;
        // Eifel (RFC 3522 §3.2 steps (3)-(5)): an acceptable ACK after the first
        // retransmission whose TSecr is older than it was sent for an original. It speaks for
        // every retransmission of the episode only once it covers them all: while some lie
        // beyond it (other holes, maybe real losses) the decision waits for the next ACK, as
        // Linux's partial-ACK undo waits while retransmissions are out. An ACK that echoes a
        // retransmission's TSval decides the other way.
        let mut eifel_decided = false;
        if ep.retransmitted && advanced {
            if let (Some(rexmit_ts), Some(ecr)) = (ep.eifel_ts, info.tsecr) {
                if self.opts.ts_ok() && ecr != 0 {
                    let original = ts_before(ecr, rexmit_ts);
                    if !original || una >= ep.rexmit_high {
                        eifel_decided = true;
                        ep.eifel_ts = None;
                        if original {
                            found = Some(Found::Early);
                        }
                    }
                }
            }
        }
        // D-SACK (RFC 3708 §3): count the retransmitted octets the receiver reports twice.
        if found.is_none() && dsack && ep.retransmitted && ep.undo_retrans > 0 {
            if let Some(&(l, r)) = info.sack_blocks.first() {
                let (l, r) = (SeqNum(l).max(ep.marker), SeqNum(r).min(ep.rexmit_high));
                if l < r {
                    ep.undo_retrans = ep.undo_retrans.saturating_sub(r - l);
                    if ep.undo_retrans == 0 {
                        found = Some(Found::Late);
                    }
                }
            }
        }
        // F-RTO (RFC 5682 §2.1), only where Eifel could not decide.
        if found.is_none() && ep.retransmitted {
            match ep.frto {
                Frto::FirstAck { .. } if eifel_decided => ep.frto = Frto::Off,
                Frto::FirstAck { recover } if advanced || info.duplicate => {
                    // Step 2: (a) a duplicate ACK, an ACK of everything up to "recover", or
                    // one that does not cover the retransmission: conventional recovery.
                    // (b) otherwise send new data, up to two segments, instead of going back.
                    let mss = u32::from(self.opts.snd_mss());
                    let new_data = self.snd.buf().end() > self.snd.max()
                        && self.snd.una() + self.snd.wnd() > self.snd.max();
                    if info.duplicate || una >= recover || una < ep.first_rexmit_end || !new_data {
                        ep.frto = Frto::Off;
                    } else {
                        ep.frto = Frto::SecondAck;
                        self.snd.resume_at_max();
                        if let Some(rack) = self.rec.rack.as_mut() {
                            rack.forget_losses(); // the timeout's verdict is off
                        }
                        // Room for the two new segments beyond what is in flight.
                        let room = self.snd.in_flight().saturating_add(2 * mss);
                        self.rec.set_cwnd(room);
                    }
                }
                Frto::SecondAck if info.duplicate => {
                    // Step 3 (a): the timeout was genuine: slow start from SND.UNA, with cwnd
                    // no more than 3·SMSS.
                    let mss = u32::from(self.opts.snd_mss());
                    ep.frto = Frto::Off;
                    self.snd.go_back_to_una();
                    self.rec.set_cwnd(3 * mss);
                }
                Frto::SecondAck if advanced => {
                    // Step 3 (b): data never retransmitted was acknowledged: spurious.
                    found = Some(Found::Early);
                }
                _ => {}
            }
        }
        if found.is_some() && !ep.timeout && self.rec.recover.is_some() && self.opts.sack_ok() {
            // The retransmissions were needless, but a segment of the window is still lost —
            // by RACK's verdict (RFC 8985) where it runs, else the scoreboard's IsLost of the
            // next unacknowledged one (RFC 6675): a real loss, and recovery goes on with its
            // reduction.
            let mss = u32::from(self.opts.snd_mss());
            let lost = match &self.rec.rack {
                Some(rack) => rack.any_lost(),
                None => self.rec.scoreboard.loss_detected(una, mss),
            };
            if lost {
                found = None;
            }
        }
        if let Some(found) = found {
            self.undo_episode(ctx, &ep, found, una_before, info.tsecr);
            return;
        }
        // Over when neither detector can still speak: no longer in recovery, Eifel's ACK has
        // come, F-RTO done, and the ACK passed what was sent by the last retransmission.
        let over = ep.retransmitted
            && self.rec.recover.is_none()
            && ep.eifel_ts.is_none()
            && ep.frto == Frto::Off
            && una > ep.rexmit_max;
        self.rec.undo.set_episode((!over).then_some(ep));
    }

    /// The response to a spurious episode.
    fn undo_episode(
        &mut self,
        ctx: &mut Ctx<'_>,
        ep: &Episode,
        found: Found,
        una_before: SeqNum,
        tsecr: Option<u32>,
    ) {
        let mss = u32::from(self.opts.snd_mss());
        let (cwnd, ssthresh) = if ep.timeout {
            // RFC 4015 §3.1 step (3): SPUR_TO: no go-back-N of what is still in flight.
            if found == Found::Early {
                self.snd.resume_at_max();
                if let Some(rack) = self.rec.rack.as_mut() {
                    rack.forget_losses(); // the timeout's verdict is off
                }
            }
            // Step (4): cwnd = FlightSize + min(bytes_acked, IW), ssthresh = pipe_prev.
            let acked = self.snd.una() - una_before;
            let mut cwnd = self
                .snd
                .in_flight()
                .saturating_add(acked.min(initial_window(mss)))
                .max(mss);
            if found == Found::Late {
                // Found after the go-back-N (LATE_SPUR_TO): slow start may have grown cwnd
                // past that already; an undo never shrinks it.
                cwnd = cwnd.max(self.rec.cwnd());
            }
            // Step (5): the RTO from the sample of this ACK, at least the one before.
            if let (Some(srtt), Some(ecr)) = (ep.prior_srtt, tsecr) {
                if self.opts.ts_ok() && ecr != 0 {
                    let ms = self.ts_now(ctx.now).wrapping_sub(ecr);
                    if ms < 3_600_000 {
                        let sample = Duration::from_millis(u64::from(ms));
                        self.rec
                            .rtt
                            .after_spurious_timeout(sample, srtt, ep.prior_rttvar);
                    }
                }
            }
            let state = self.rec.undo.state();
            state.spurious_timeouts = state.spurious_timeouts.saturating_add(1);
            (cwnd, ep.prior_flight.max(ep.prior_ssthresh))
        } else {
            // Never below the window before the episode (Linux's undo); while recovery still
            // runs, exactly that: NewReno's inflation by duplicate ACKs (RFC 6582) is
            // recovery's bookkeeping and ends with it.
            let cwnd = if self.rec.recover.is_some() {
                ep.prior_cwnd
            } else {
                self.rec.cwnd().max(ep.prior_cwnd)
            };
            (cwnd, self.rec.ssthresh().max(ep.prior_ssthresh))
        };
        // Recovery, if it still runs, is over: nothing was lost.
        self.rec.recover = None;
        self.rec.rexmit_head = false;
        self.rec.rexmit_log.clear();
        self.rec.dupacks = 0;
        self.rec.cc.undo(&ep.cc, cwnd, ssthresh);
        let state = self.rec.undo.state();
        state.undos = state.undos.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_compare_modulo_2_32() {
        assert!(ts_before(1, 2));
        assert!(!ts_before(2, 2));
        assert!(!ts_before(3, 2));
        assert!(ts_before(u32::MAX, 1)); // wrapped
        assert!(!ts_before(1, u32::MAX));
    }

    #[test]
    fn retransmissions_outside_an_episode_are_not_counted() {
        let mut u = Undo::default();
        u.retransmitted(SeqNum(10), SeqNum(20), Some(5), SeqNum(100));
        assert!(u.0.is_none(), "nothing allocated");
        assert_eq!((u.undos(), u.spurious_timeouts()), (0, 0));
    }
}
