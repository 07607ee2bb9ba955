//! The transmission control block (RFC 9293 §3.3.1) and what a connection sends.
//!
//! Incoming segments are handled in segment_arrives.rs, user calls in user_calls.rs; this file
//! holds the state, the one place the state changes ([`Connection::transition`]), the output
//! path (which segment goes next) and the timers.

use std::collections::VecDeque;
use std::net::SocketAddr;

use synack_wire::{TcpFlags, TcpOptions};

use crate::config::Config;
use crate::error::CloseReason;
use crate::event::{ConnHandle, Event, FourTuple};
use crate::negotiated::Negotiated;
use crate::recovery::Recovery;
use crate::recv_side::RecvSide;
use crate::send_side::SendSide;
use crate::seq::SeqNum;
use crate::state::State;
use crate::stats::Stats;
use crate::time::{Duration, Instant};
use crate::timers::{Timer, TimerTable};

/// What a connection handler needs from its endpoint: the time, the configuration and the
/// event queue.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub cfg: &'a Config,
    pub events: &'a mut VecDeque<Event>,
    /// The endpoint is over its memory budget (`Config::memory_budget`): hold no
    /// out-of-order data, do not move the window's right edge, grow no buffer, and take new
    /// data only below [`SEND_FLOOR_UNDER_PRESSURE`].
    pub pressure: bool,
}

/// A segment a connection wants sent; the endpoint wraps it in TCP and IP headers. The payload
/// is `payload_len` bytes of the send buffer from `seq`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outgoing {
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload_len: usize,
    /// Urgent pointer (offset from `seq`), meaningful when `flags` has URG.
    pub urgent: u16,
}

/// A connection's pending timers (absolute deadlines), for tools like `synack ss`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnTimers {
    /// Retransmission timer — or, with `persist`, the zero-window persist timer.
    pub rto_at: Option<Instant>,
    /// The retransmission timer is acting as the persist timer (the peer's window is zero).
    pub persist: bool,
    pub delayed_ack_at: Option<Instant>,
    pub keepalive_at: Option<Instant>,
    pub time_wait_at: Option<Instant>,
    pub fin_wait2_at: Option<Instant>,
    /// When R2 gives up on the connection (the user timeout for data, MUST-20/21; the SYN
    /// limits while opening, MUST-23), while the retransmission or persist timer runs.
    pub r2_at: Option<Instant>,
}

/// A snapshot of a connection, like Linux's `tcp_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    pub state: State,
    pub tuple: FourTuple,
    pub iss: SeqNum,
    pub irs: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    pub snd_wnd: u32,
    pub rcv_nxt: SeqNum,
    pub rcv_wnd: u32,
    /// Effective send MSS (MUST-16).
    pub mss: u16,
    pub srtt: Option<Duration>,
    pub rttvar: Duration,
    pub rto: Duration,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub bytes_in_flight: u32,
    /// Consecutive timeouts of the current retransmission episode.
    pub backoff: u32,
    /// Segments retransmitted over the connection's life.
    pub retransmits: u64,
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub send_buffered: usize,
    pub recv_buffered: usize,
    /// Bytes held out of order, waiting for a gap to fill.
    pub recv_out_of_order: usize,
    /// The receive buffer's size: `Config::recv_buffer`, grown by autotuning (at most to
    /// `Config::recv_buffer_max`) while the application keeps up with the peer.
    pub recv_buffer: usize,
    /// The send buffer's size: `Config::send_buffer`, grown by autotuning (at most to
    /// `Config::send_buffer_max`) while it, not the congestion window, limits the sender.
    pub send_buffer: usize,
    /// The built-in congestion controller in use; `None` for one plugged in through
    /// `Config::controller`.
    pub congestion: Option<crate::congestion::Algorithm>,
    /// The congestion controller's name (`"cubic"`, `"newreno"`, or a plug-in's own).
    pub controller: &'static str,
    /// In loss recovery (fast recovery / SACK recovery) now.
    pub in_recovery: bool,
    /// Times loss recovery was entered.
    pub fast_retransmits: u64,
    /// Zero-window probes sent.
    pub zero_window_probes: u64,
    /// Retransmission timer expiries (RFC 6298 §5.4; zero-window probes not counted).
    pub timeouts: u64,
    /// Retransmissions found lost during SACK recovery and sent again.
    pub lost_retransmits: u64,
    /// Challenge ACKs sent (RFC 5961) and suppressed by the per-connection budget.
    pub challenge_acks: u64,
    pub challenge_acks_suppressed: u64,
    /// Bytes above SND.UNA the peer has SACKed.
    pub sacked: u32,
    /// Bytes above SND.UNA the scoreboard considers lost (RFC 6675 IsLost).
    pub lost: u32,
    /// Window scale shifts (ours, the peer's), if window scaling was agreed.
    pub wscale: Option<(u8, u8)>,
    pub timestamps: bool,
    pub sack: bool,
    pub nodelay: bool,
    pub keepalive: Option<Duration>,
    /// Urgent octets not yet read (MUST-33), if the peer sent urgent data.
    pub urgent_pending: usize,
}

/// The transmission control block: a few parts, each with its own module and methods, and
/// the state that only [`Connection::transition`] changes.
pub(crate) struct Connection {
    pub handle: ConnHandle,
    pub tuple: FourTuple,
    /// Private: read with `state()`, changed only by `transition()`.
    state: State,
    /// Set for a connection created by a listener's passive OPEN (MUST-11): the listener's
    /// address. SYN-RECEIVED returns to LISTEN on RST only for these.
    pub listener: Option<SocketAddr>,
    /// The application holds the handle (active open, or accepted).
    pub owned: bool,
    /// The application called close or abort: nobody will read any more (MAY-1).
    pub released: bool,
    /// Why the connection ended, once it has.
    pub close_reason: Option<CloseReason>,

    /// Send sequence space, send buffer, the sender's segment policy (send_side.rs).
    pub snd: SendSide,
    /// Receive sequence space, receive buffer, the ACK policy (recv_side.rs).
    pub rcv: RecvSide,
    /// What the SYNs agreed: MSS, window scales, timestamps, SACK (negotiated.rs).
    pub opts: Negotiated,
    /// RTT and retransmission, congestion window, loss recovery (recovery.rs).
    pub rec: Recovery,
    /// Every timer of the connection (timers.rs).
    pub timers: TimerTable,
    /// Counters for `info()` (stats.rs).
    pub stats: Stats,

    // Keep-alive (RFC 9293 §3.8.4).
    pub keepalive: Option<Duration>,
    pub keepalive_unanswered: u32,
    pub keepalive_probe_now: bool,
    /// RFC 5961 §7 challenge-ACK budget: the current window's start and count.
    pub challenge_window_start: Instant,
    pub challenge_count: u32,
    /// R2 for data (MUST-21: per connection; `None` = never give up).
    pub user_timeout: Option<Duration>,
}

/// Over the memory budget a connection still takes data from the application while its send
/// buffer holds less than this (`Config::memory_budget`): every connection keeps moving, and
/// what all of them hold past the budget is bounded by this much each.
pub(crate) const SEND_FLOOR_UNDER_PRESSURE: usize = 64 * 1024;

impl Connection {
    pub(crate) fn new(
        handle: ConnHandle,
        tuple: FourTuple,
        iss: SeqNum,
        cfg: &Config,
        now: Instant,
    ) -> Self {
        let rcv_shift = if cfg.window_scaling {
            offered_shift(cfg)
        } else {
            0
        };
        Connection {
            handle,
            tuple,
            state: State::Closed,
            listener: None,
            owned: false,
            released: false,
            close_reason: None,
            snd: SendSide::new(iss, cfg, now),
            rcv: RecvSide::new(cfg, now),
            opts: Negotiated::new(default_mss(&tuple), rcv_shift, now),
            rec: Recovery::new(iss, cfg, now),
            timers: TimerTable::default(),
            stats: Stats::default(),
            keepalive: cfg.keepalive,
            keepalive_unanswered: 0,
            keepalive_probe_now: false,
            challenge_window_start: now,
            challenge_count: 0,
            user_timeout: cfg.user_timeout,
        }
    }

    /// A child of a listener (passive OPEN, MUST-11): it starts as a copy of the listener, in
    /// LISTEN, and leaves it by taking the peer's SYN (`accept_syn`).
    pub(crate) fn new_child(
        handle: ConnHandle,
        tuple: FourTuple,
        iss: SeqNum,
        cfg: &Config,
        now: Instant,
        listener: SocketAddr,
    ) -> Self {
        let mut c = Connection::new(handle, tuple, iss, cfg, now);
        c.state = State::Listen;
        c.listener = Some(listener);
        c
    }

    /// The connection's state (RFC 9293 §3.3.2). Only [`Connection::transition`] changes it.
    #[inline]
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The single place a connection changes state: checks the edge against RFC 9293's
    /// diagram, logs it and queues the event.
    pub(crate) fn transition(&mut self, ctx: &mut Ctx<'_>, to: State, cause: &'static str) {
        let from = self.state;
        if from == to {
            return;
        }
        debug_assert!(
            from.can_transition(to),
            "{} -> {} is not an RFC 9293 edge ({cause})",
            from,
            to
        );
        if crate::log::enabled(tracing::Level::DEBUG) {
            crate::log::state(self.handle, &self.tuple, from, to, cause);
        }
        self.state = to;
        ctx.events.push_back(Event::StateChanged {
            conn: self.handle,
            tuple: self.tuple,
            from,
            to,
            cause,
        });
        match to {
            State::TimeWait => {
                // MUST-13: linger 2·MSL; nothing else runs in TIME-WAIT.
                self.timers
                    .start(Timer::TimeWait, ctx.now + ctx.cfg.msl * 2);
                self.timers.stop(Timer::Rto);
                self.timers.stop(Timer::FinWait2);
                self.snd.buf.clear();
            }
            State::FinWait2 => {
                if self.released {
                    self.timers.set(
                        Timer::FinWait2,
                        ctx.cfg.fin_wait2_timeout.map(|t| ctx.now + t),
                    );
                }
                self.timers.stop(Timer::Rto);
            }
            State::Closed => {
                self.timers.stop(Timer::Rto);
                self.timers.stop(Timer::TimeWait);
                self.timers.stop(Timer::FinWait2);
                self.snd.buf.clear();
                if self.released || !self.owned {
                    self.rcv.buf.clear();
                }
            }
            _ => {}
        }
    }

    /// Enter CLOSED for `reason`, telling the application (MUST-12).
    pub(crate) fn close_with(
        &mut self,
        ctx: &mut Ctx<'_>,
        reason: CloseReason,
        cause: &'static str,
    ) {
        if self.state == State::Closed {
            return;
        }
        self.close_reason.get_or_insert(reason);
        if reason != CloseReason::Normal {
            self.snd.buf.clear();
        }
        self.transition(ctx, State::Closed, cause);
        ctx.events.push_back(Event::Closed {
            conn: self.handle,
            reason: self.close_reason.unwrap_or(reason),
        });
    }

    /// The largest window our window field can say: 65535 shifted by our scale (at most
    /// 65535 << 14, under 2^30, RFC 7323 §2.3).
    pub(crate) fn largest_window(&self) -> u32 {
        65535u32 << self.opts.rcv_shift
    }

    /// The window we offer: free buffer space, never moving the right edge left (SHLD-14),
    /// at most what the 16-bit field can say with our window shift.
    /// `pressure`: the endpoint is over its memory budget (the edge stays where it is).
    pub(crate) fn rcv_wnd(&self, pressure: bool) -> u32 {
        let max = self.largest_window();
        let free = (self.rcv.buf.window() as u64).min(u64::from(max)) as u32;
        let edge = self.rcv.nxt + free;
        let promised = self.rcv.promised_window();
        // Receiver silly-window avoidance (MUST-39): move the right edge only by at least
        // min(half the buffer, one MSS); never move it left (SHLD-14).
        let step = (self.rcv.buf.capacity() as u32 / 2)
            .min(u32::from(self.opts.path_mss))
            .max(1);
        if edge <= self.rcv.adv || edge - self.rcv.adv < step || pressure {
            promised
        } else {
            free
        }
    }

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

    /// Ring storage this connection holds (send and receive).
    pub(crate) fn ring_storage(&self) -> usize {
        self.snd.buf.storage() + self.rcv.buf.storage()
    }

    /// Give back the storage of rings that are empty.
    pub(crate) fn release_empty_rings(&mut self) {
        self.snd.buf.release_if_empty();
        self.rcv.buf.release_if_empty();
    }

    /// How many bytes SEND may queue now: the free space of the send buffer, and under memory
    /// pressure (`pressure`) no more than brings it to [`SEND_FLOOR_UNDER_PRESSURE`].
    pub(crate) fn send_room(&self, pressure: bool) -> usize {
        if pressure {
            self.snd
                .buf
                .free()
                .min(SEND_FLOOR_UNDER_PRESSURE.saturating_sub(self.snd.buf.len()))
        } else {
            self.snd.buf.free()
        }
    }

    /// Bytes this connection holds for the application (in order and out of order).
    pub(crate) fn recv_memory(&self) -> usize {
        self.rcv.buf.readable() + self.rcv.buf.ooo_bytes() + self.rcv.buf.kept_overhead()
    }

    /// Urgent octets the application has not read yet (MUST-33): from the next octet to read
    /// up to the urgent pointer.
    pub(crate) fn urgent_pending(&self) -> usize {
        let Some(up) = self.rcv.up else { return 0 };
        let read_seq =
            self.rcv.nxt - (self.rcv.buf.readable() as u32 + u32::from(self.rcv.fin_received));
        if up > read_seq {
            (up - read_seq) as usize
        } else {
            0
        }
    }

    pub(crate) fn timers(&self, cfg: &Config) -> ConnTimers {
        ConnTimers {
            r2_at: self.r2_deadline(cfg),
            rto_at: self.timers.get(Timer::Rto),
            persist: self.timers.is_set(Timer::Rto)
                && self.snd.wnd == 0
                && self.state.is_synchronized(),
            delayed_ack_at: self.timers.get(Timer::DelayedAck),
            keepalive_at: self.timers.get(Timer::KeepAlive),
            time_wait_at: self.timers.get(Timer::TimeWait),
            fin_wait2_at: self.timers.get(Timer::FinWait2),
        }
    }

    /// Unacknowledged, unSACKed bytes the scoreboard declares lost.
    fn lost_bytes(&self) -> u32 {
        if !self.opts.sack_ok || self.rec.scoreboard.is_empty() {
            return 0;
        }
        let smss = u32::from(self.opts.snd_mss);
        let mut lost = 0u32;
        let mut seq = self.snd.una;
        // Walk in SMSS steps (the scoreboard's answer is the same inside one hole), at most
        // 65536 of them so a huge window cannot make this call slow.
        let mut steps = 0u32;
        while seq < self.snd.max && steps < 65536 {
            steps += 1;
            let step = (self.snd.max - seq).min(smss.max(1));
            if !self.rec.scoreboard.is_sacked(seq) && self.rec.scoreboard.is_lost(seq, smss) {
                lost += step;
            }
            seq += step;
        }
        lost
    }

    /// Whether the endpoint can forget this connection: it is CLOSED and nobody holds it.
    pub(crate) fn is_reapable(&self) -> bool {
        self.state == State::Closed && (self.released || !self.owned)
    }

    /// `pressure`: the endpoint is over its memory budget (it shapes the window reported).
    pub(crate) fn info(&self, pressure: bool) -> ConnInfo {
        ConnInfo {
            state: self.state,
            tuple: self.tuple,
            iss: self.snd.iss,
            irs: self.rcv.irs,
            snd_una: self.snd.una,
            snd_nxt: self.snd.nxt,
            snd_wnd: self.snd.wnd,
            rcv_nxt: self.rcv.nxt,
            rcv_wnd: self.rcv_wnd(pressure),
            mss: self.opts.snd_mss,
            srtt: self.rec.rtt.srtt(),
            rttvar: self.rec.rtt.rttvar(),
            rto: self.rec.rtt.rto(),
            cwnd: self.rec.cwnd(),
            ssthresh: self.rec.ssthresh(),
            bytes_in_flight: self.snd.in_flight(),
            backoff: self.rec.retries,
            retransmits: u64::from(self.stats.retransmits),
            bytes_sent: self.stats.bytes_sent,
            bytes_acked: self.stats.bytes_acked,
            bytes_received: self.stats.bytes_received,
            send_buffered: self.snd.buf.len(),
            recv_buffered: self.rcv.buf.readable(),
            recv_out_of_order: self.rcv.buf.ooo_bytes(),
            recv_buffer: self.rcv.buf.capacity(),
            send_buffer: self.snd.buf.capacity(),
            congestion: self.rec.cc.algorithm(),
            controller: crate::congestion::Controller::name(&self.rec.cc),
            in_recovery: self.rec.recover.is_some(),
            fast_retransmits: u64::from(self.stats.fast_retransmits),
            zero_window_probes: u64::from(self.stats.zero_window_probes),
            timeouts: u64::from(self.stats.timeouts),
            lost_retransmits: u64::from(self.stats.lost_retransmits),
            challenge_acks: u64::from(self.stats.challenge_acks),
            challenge_acks_suppressed: u64::from(self.stats.challenge_acks_suppressed),
            sacked: self.rec.scoreboard.sacked_bytes(),
            lost: self.lost_bytes(),
            wscale: self
                .opts
                .ws_agreed
                .then_some((self.opts.rcv_shift, self.opts.snd_shift)),
            timestamps: self.opts.ts_ok,
            sack: self.opts.sack_ok,
            nodelay: self.snd.nodelay,
            keepalive: self.keepalive,
            urgent_pending: self.urgent_pending(),
        }
    }

    // ----- timers ---------------------------------------------------------------------------

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
            self.rcv.ack_now = true;
        }
        if self.timers.expire(Timer::KeepAlive, now) {
            self.on_keepalive_timer(ctx);
            if self.state == State::Closed {
                return;
            }
        }
        if self.timers.expire(Timer::Rto, now) {
            self.on_rto(ctx);
        }
    }

    /// (Re)arm the keep-alive timer from the last segment received (MUST-26: only after the
    /// interval passes with nothing received).
    pub(crate) fn arm_keepalive(&mut self) {
        let at = match self.keepalive {
            Some(idle) if matches!(self.state, State::Established | State::CloseWait) => {
                Some(self.rcv.last_recv_at + idle)
            }
            _ => None,
        };
        self.timers.set(Timer::KeepAlive, at);
    }

    /// Keep-alive (RFC 9293 §3.8.4, MUST-24..29, SHLD-12).
    fn on_keepalive_timer(&mut self, ctx: &mut Ctx<'_>) {
        let Some(idle) = self.keepalive else { return };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        let now = ctx.now;
        if self.snd.una != self.snd.max {
            // Outstanding data: retransmission covers liveness; look again later (MUST-26).
            self.timers.start(Timer::KeepAlive, now + idle);
            return;
        }
        if now < self.rcv.last_recv_at + idle {
            self.timers
                .start(Timer::KeepAlive, self.rcv.last_recv_at + idle);
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
            self.snd.probe_now = true;
            return;
        }
        let opening = matches!(self.state, State::SynSent | State::SynReceived);
        let persist = self.persisting();
        if self.snd.una == self.snd.max && !persist {
            return; // nothing outstanding
        }
        // R2 has its own deadline (`r2_deadline`), checked before this in handle_timeout.
        self.rec.rtt.back_off(); // §5.5; the persist timer backs off the same way (SHLD-30)
        self.rec.rtt_probe = None; // Karn
                                   // §5.4: retransmit the earliest unacknowledged segment: go back to SND.UNA.
        self.snd.nxt = self.snd.una;
        self.timers.start(Timer::Rto, self.rto_deadline(ctx));
        if persist {
            // The persist timer: a zero-window probe (MUST-35, MUST-36), one octet past the
            // window. A closed window is flow control, not congestion: cwnd stays.
            self.snd.probe_now = true;
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
        if self.snd.una == self.snd.max && !self.persisting() {
            return None;
        }
        let opening = matches!(self.state, State::SynSent | State::SynReceived);
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
        self.snd.wnd == 0 && self.can_send_data() && self.snd.buf.end() > self.snd.una
    }

    /// The retransmission timer runs as the SWS override timer: nothing is in flight and data
    /// waits for a window that is open but too small to send it (output.rs, `may_send_now`).
    pub(crate) fn sws_override_due(&self) -> bool {
        self.snd.una == self.snd.max
            && self.snd.wnd > 0
            && self.snd.buf.end() > self.snd.nxt
            && self.can_send_data()
    }

    /// Data waits but the peer's window is closed and nothing is in flight.
    pub(crate) fn zero_window_blocked(&self) -> bool {
        self.snd.wnd == 0 && self.snd.buf.end() > self.snd.max && self.can_send_data()
    }
}

/// The smallest window shift that lets the 16-bit window field cover `buffer` bytes, at most
/// 14 (RFC 7323 §2.3).
/// The window scale we offer: room for the largest buffer autotuning may reach.
pub(crate) fn offered_shift(cfg: &Config) -> u8 {
    window_shift(cfg.recv_buffer.max(cfg.recv_buffer_max))
}

pub(crate) fn window_shift(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (buffer >> shift) > 65535 {
        shift += 1;
    }
    shift
}

impl Connection {
    pub(crate) fn our_mss(&self, cfg: &Config) -> u16 {
        advertised_mss(cfg, &self.tuple)
    }
}

/// The MSS we advertise on a tuple: the configured one is for IPv4 (MTU − 40); IPv6 headers
/// are 20 bytes longer (MUST-67: at most MMS_R − 20).
pub(crate) fn advertised_mss(cfg: &Config, tuple: &FourTuple) -> u16 {
    if tuple.remote.is_ipv4() {
        cfg.mss
    } else {
        cfg.mss.saturating_sub(20)
    }
}

/// The send MSS when the peer sends no MSS option: 536 for IPv4, 1220 for IPv6 (MUST-15).
pub(crate) fn default_mss(tuple: &FourTuple) -> u16 {
    if tuple.remote.is_ipv4() {
        536
    } else {
        1220
    }
}
