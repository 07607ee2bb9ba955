//! What a connection does when its timers expire (RFC 9293 §3.8): retransmission and the
//! persist and SWS override timers that share it (RFC 6298, MUST-35..38), R2 (MUST-20..23),
//! keep-alive (§3.8.4, MUST-24..29), the delayed ACK, FIN-WAIT-2 and TIME-WAIT. The deadlines
//! themselves are the timer table (timers.rs).

use crate::config::Config;
use crate::connection::{Connection, Ctx};
use crate::error::CloseReason;
use crate::event::Event;
use crate::state::State;
use crate::time::Instant;
use crate::timers::Timer;

impl Connection {
    /// The earliest deadline of this connection: its timers and the moment R2 runs out.
    pub(crate) fn next_deadline(&self, cfg: &Config) -> Option<Instant> {
        let timers = self.timers.earliest();
        // R2 runs only beside the retransmission or persist timer.
        if !self.timers.is_set(Timer::Rto) {
            return timers;
        }
        match (timers, self.r2_deadline(cfg)) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if self.timers.expire(Timer::TimeWait, now) {
            // 2MSL passed: delete the TCB (RFC 9293 §3.10.8).
            self.close_with(ctx, CloseReason::Normal, "2MSL timeout");
            return;
        }
        if self.timers.expire(Timer::FinWait2, now) {
            self.close_with(ctx, CloseReason::TimedOut, "FIN-WAIT-2 timeout");
            return;
        }
        if self.r2_deadline(ctx.cfg).is_some_and(|t| t <= now) {
            // R2 ran out (MUST-20; MUST-23 while opening): give up, at exactly that moment
            // even between two retransmissions. §3.10.8: no RST, tell the user, CLOSED.
            self.timers.stop(Timer::Rto);
            self.close_with(ctx, CloseReason::TimedOut, "retransmission timeout (R2)");
            return;
        }
        if self.timers.expire(Timer::DelayedAck, now) {
            self.rcv.owe_ack();
        }
        if self.timers.expire(Timer::KeepAlive, now) {
            self.on_keepalive_timer(ctx);
            if self.state() == State::Closed {
                return;
            }
        }
        if self.timers.expire(Timer::Loss, now) {
            self.on_loss_timer(ctx);
        }
        if self.timers.expire(Timer::Rto, now) {
            self.on_rto(ctx);
        }
    }

    /// (Re)arm the keep-alive timer from the last segment received (MUST-26: only after the
    /// interval passes with nothing received).
    pub(crate) fn arm_keepalive(&mut self) {
        let at = match self.keepalive {
            Some(idle) if matches!(self.state(), State::Established | State::CloseWait) => {
                Some(self.rcv.last_recv_at() + idle)
            }
            _ => None,
        };
        self.timers.set(Timer::KeepAlive, at);
    }

    /// Keep-alive (RFC 9293 §3.8.4, MUST-24..29, SHLD-12).
    fn on_keepalive_timer(&mut self, ctx: &mut Ctx<'_>) {
        let Some(idle) = self.keepalive else { return };
        if !matches!(self.state(), State::Established | State::CloseWait) {
            return;
        }
        let now = ctx.now;
        if self.snd.una() != self.snd.max() {
            // Outstanding data: retransmission covers liveness; look again later (MUST-26).
            self.timers.start(Timer::KeepAlive, now + idle);
            return;
        }
        if now < self.rcv.last_recv_at() + idle {
            self.timers
                .start(Timer::KeepAlive, self.rcv.last_recv_at() + idle);
            return;
        }
        if self.keepalive_unanswered >= ctx.cfg.keepalive_probes {
            // Many probes unanswered, never just one (MUST-29).
            self.close_with(ctx, CloseReason::TimedOut, "keep-alive timeout");
            return;
        }
        self.keepalive_unanswered += 1;
        self.keepalive_probe_now = true;
        self.timers
            .start(Timer::KeepAlive, now + ctx.cfg.keepalive_interval);
    }

    /// The retransmission timer expired (RFC 6298 §5.4–5.6, RFC 9293 §3.8.3).
    fn on_rto(&mut self, ctx: &mut Ctx<'_>) {
        if self.sws_override_due() {
            // The SWS override timer (MUST-38 rule 4): send what the window allows now. Not a
            // retransmission: no backoff, no R2, cwnd stays.
            self.snd.set_probe(true);
            return;
        }
        let opening = matches!(self.state(), State::SynSent | State::SynReceived);
        let persist = self.persisting();
        if self.snd.una() == self.snd.max() && !persist {
            return; // nothing outstanding
        }
        // R2 has its own deadline (`r2_deadline`), checked before this in handle_timeout.
        self.rec.rtt.back_off(); // §5.5; the persist timer backs off the same way (SHLD-30)
        self.rec.rtt_probe = None; // Karn
                                   // §5.4: retransmit the earliest unacknowledged segment: go back to SND.UNA.
        self.snd.go_back_to_una();
        self.timers.start(Timer::Rto, self.rto_deadline(ctx));
        if persist {
            // The persist timer: a zero-window probe (MUST-35, MUST-36), one octet past the
            // window. A closed window is flow control, not congestion: cwnd stays.
            self.snd.set_probe(true);
            self.stats.zero_window_probes = self.stats.zero_window_probes.saturating_add(1);
            return;
        }
        self.rec.retries += 1;
        self.stats.timeouts = self.stats.timeouts.saturating_add(1);
        if self.rec.retries == ctx.cfg.r1 {
            // SHLD-9: tell the application once R1 is reached.
            ctx.events.push_back(Event::DeliveryProblem {
                conn: self.handle,
                retransmits: self.rec.retries,
            });
        }
        if opening {
            self.rec.syn_timed_out = true;
        }
        self.congestion_on_rto(ctx);
    }

    /// When the retransmission (or persist) timer set now should fire: one RTO from now. R2
    /// is a deadline of its own (`r2_deadline`), so the timer is never shortened for it: a
    /// retransmission or probe goes exactly when the backed-off RTO says.
    pub(crate) fn rto_deadline(&self, ctx: &Ctx<'_>) -> Instant {
        ctx.now + self.rec.rtt.rto()
    }

    /// The moment R2 runs out (RFC 9293 §3.8.3, MUST-20): `progress_at` plus the limit of the
    /// state — the SYN limits while opening (MUST-23; shorter for a passive child, RFC 4987
    /// §3.2), else the user timeout (MUST-21; `None` never gives up). It runs while the
    /// retransmission timer does for something outstanding, or the persist timer for a
    /// closed window; not for the SWS override timer (nothing is unacknowledged then).
    ///
    /// Computed from the connection each time, never stored: a user timeout changed by the
    /// application, or progress (an ACK, an answered probe), moves it at once, and the
    /// endpoint's timer heap takes the earliest of it and the timers (`next_deadline`).
    pub(crate) fn r2_deadline(&self, cfg: &Config) -> Option<Instant> {
        self.timers.get(Timer::Rto)?;
        if self.snd.una() == self.snd.max() && !self.persisting() {
            return None;
        }
        let opening = matches!(self.state(), State::SynSent | State::SynReceived);
        let limit = if opening && self.listener.is_some() {
            Some(cfg.syn_received_timeout)
        } else if opening {
            Some(cfg.syn_timeout)
        } else {
            self.user_timeout
        };
        limit.map(|limit| self.rec.progress_at + limit)
    }

    /// The retransmission timer runs as the persist timer: the peer's window is closed and
    /// data waits (or its first octet is out as a probe).
    fn persisting(&self) -> bool {
        self.snd.wnd() == 0 && self.can_send_data() && self.snd.buf().end() > self.snd.una()
    }

    /// The retransmission timer runs as the SWS override timer: nothing is in flight and data
    /// waits for a window that is open but too small to send it (output.rs, `may_send_now`).
    pub(crate) fn sws_override_due(&self) -> bool {
        self.snd.una() == self.snd.max()
            && self.snd.wnd() > 0
            && self.snd.buf().end() > self.snd.nxt()
            && self.can_send_data()
    }

    /// Data waits but the peer's window is closed and nothing is in flight.
    pub(crate) fn zero_window_blocked(&self) -> bool {
        self.snd.wnd() == 0 && self.snd.buf().end() > self.snd.max() && self.can_send_data()
    }
}
