//! The transmission control block (RFC 9293 §3.3.1) and what a connection sends.
//!
//! Incoming segments are handled in segment_arrives.rs, user calls in user_calls.rs; this file
//! holds the state, the one place the state changes ([`Connection::transition`]), the output
//! path (which segment goes next) and the timers.

use std::collections::VecDeque;
use std::net::SocketAddr;

use synack_wire::{TcpFlags, TcpOptions};

use crate::config::Config;
use crate::congestion::Controller;
use crate::error::CloseReason;
use crate::event::{ConnHandle, Event, FourTuple};
use crate::recv_buffer::RecvBuffer;
use crate::rtt::Rtt;
use crate::send_buffer::SendBuffer;
use crate::seq::SeqNum;
use crate::state::State;
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
    /// The congestion controller in use.
    pub congestion: crate::congestion::Algorithm,
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

pub(crate) struct Connection {
    pub handle: ConnHandle,
    pub tuple: FourTuple,
    pub state: State,
    /// Set for a connection created by a listener's passive OPEN (MUST-11): the listener's
    /// address. SYN-RECEIVED returns to LISTEN on RST only for these.
    pub listener: Option<SocketAddr>,
    /// The application holds the handle (active open, or accepted).
    pub owned: bool,
    /// The application called close or abort: nobody will read any more (MAY-1).
    pub released: bool,
    /// Why the connection ended, once it has.
    pub close_reason: Option<CloseReason>,
    /// The peer's FIN has been processed (RCV.NXT is past it).
    pub fin_received: bool,
    /// The sequence number of the peer's FIN if it arrived out of order.
    pub(crate) pending_fin: Option<SeqNum>,

    // Send sequence variables (RFC 9293 §3.3.1).
    pub iss: SeqNum,
    pub snd_una: SeqNum,
    pub snd_nxt: SeqNum,
    /// Highest sequence number sent (SND.NXT before a go-back after a timeout).
    pub snd_max: SeqNum,
    pub snd_wnd: u32,
    pub snd_wl1: SeqNum,
    pub snd_wl2: SeqNum,
    pub max_snd_wnd: u32,
    /// The user asked to close the send side: a FIN follows the queued data.
    pub fin_queued: bool,

    // Receive sequence variables.
    pub irs: SeqNum,
    pub rcv_nxt: SeqNum,
    /// Right edge of the window we last advertised; never moves left (SHLD-14).
    pub rcv_adv: SeqNum,

    pub send: SendBuffer,
    pub recv: RecvBuffer,
    /// Receive buffer autotuning (recv_autotune.rs).
    pub(crate) autotune: crate::recv_autotune::Autotune,

    /// Effective MSS for sending (MUST-15, MUST-16): the peer's MSS bounded by ours, less the
    /// timestamp option every segment carries once negotiated. This is SMSS for congestion
    /// control.
    pub snd_mss: u16,
    /// The peer's MSS bounded by ours, before option overhead.
    pub path_mss: u16,

    // RFC 7323 and RFC 2018, as negotiated on the SYNs.
    /// Shift applied to the peer's window field (its WS option), 0 without window scaling.
    pub snd_shift: u8,
    /// Shift applied to our window field (our WS option), 0 without window scaling.
    pub rcv_shift: u8,
    /// Both SYNs carried the window scale option (RFC 7323 §2.2).
    pub ws_agreed: bool,
    /// Timestamps agreed: every non-RST segment carries TSopt (RFC 7323 §3.2).
    pub ts_ok: bool,
    /// TS.Recent and when it was last updated (PAWS, RFC 7323 §5).
    pub ts_recent: u32,
    pub ts_recent_at: Instant,
    /// Last.ACK.sent: the ACK field of our latest segment.
    pub last_ack_sent: SeqNum,
    /// Per-connection random offset of our timestamp clock (RFC 7323 §5.4).
    pub ts_offset: u32,
    /// SACK agreed (both SYNs carried SACK-permitted).
    pub sack_ok: bool,
    /// The most recent out-of-order segment received: the first SACK block reports it.
    pub last_ooo: Option<SeqNum>,
    /// A duplicate segment to report as D-SACK in the next ACK (RFC 2883).
    pub dsack: Option<(SeqNum, SeqNum)>,

    // ACK policy and the sender's segment policy.
    /// In-order data bytes received since our last ACK (SHLD-19: ACK every 2·RMSS).
    pub unacked_bytes: u32,
    /// Nagle off (MUST-17).
    pub nodelay: bool,
    /// When a segment last went out (RFC 5681 §4.1 restart after idle).
    pub last_send_at: Instant,

    // Keep-alive (RFC 9293 §3.8.4).
    pub keepalive: Option<Duration>,
    pub keepalive_unanswered: u32,
    pub keepalive_probe_now: bool,
    /// When a segment last arrived from the peer.
    pub last_recv_at: Instant,
    /// An ACK is owed to the peer.
    pub ack_now: bool,
    /// Send side of the urgent mechanism (RFC 9293 §3.8.5): the sequence number just past the
    /// last urgent octet, while it is not yet acknowledged.
    pub snd_up: Option<SeqNum>,
    /// Receive side: the sequence number just past the last urgent octet announced.
    pub rcv_up: Option<SeqNum>,
    /// Duplicate ACKs owed for out-of-order arrivals, each with the RCV.NXT of its moment.
    pub owed_dupacks: VecDeque<SeqNum>,

    // Retransmission (RFC 6298) and a minimal congestion window (RFC 5681).
    pub rtt: Rtt,
    /// One segment being timed (sequence number that must be ACKed, and when it was sent).
    pub rtt_probe: Option<(SeqNum, Instant)>,
    /// Consecutive RTO expiries without progress.
    pub retries: u32,
    /// When the current unacknowledged data was last making progress (R2 is measured from here).
    pub progress_at: Instant,
    pub syn_timed_out: bool,
    /// Zero-window probing: the next output may send one byte beyond the window (MUST-36).
    pub probe_now: bool,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub dupacks: u32,
    /// Fast recovery (RFC 5681 §3.2, RFC 6582): the highest sequence sent when it began.
    pub recover: Option<SeqNum>,
    /// Retransmit the segment at SND.UNA now (fast retransmit, partial ACK).
    pub rexmit_head: bool,
    /// No fast recovery until SND.UNA passes this (the highest sequence sent at the last
    /// timeout, RFC 6582 §3.2 step 1).
    pub recover_floor: SeqNum,
    /// The congestion controller (RFC 5681 NewReno or RFC 9438 CUBIC, MAY-18).
    pub cc: crate::congestion::Cc,
    /// HyStart++ in the initial slow start (congestion/hystart.rs).
    pub hystart: crate::congestion::hystart::HyStart,
    /// Proportional Rate Reduction's accounting for the current SACK recovery (prr.rs).
    pub prr: crate::prr::Prr,
    /// The SACK scoreboard (RFC 6675).
    pub scoreboard: crate::sack::Scoreboard,
    /// The most bytes in flight during the current window of data, and the sequence number
    /// that ends that window: the controller grows cwnd only if the sender used it (RFC 7661).
    pub flight_peak: u32,
    pub flight_peak_until: SeqNum,
    /// Times loss recovery was entered.
    pub fast_retransmits: u32,
    /// Zero-window probes sent (MUST-36).
    pub zero_window_probes: u32,
    /// Retransmissions sent in this SACK recovery: (first octet, SND.MAX when sent). If data
    /// sent after one is SACKed while it is not, it was lost too.
    pub rexmit_log: VecDeque<(SeqNum, SeqNum)>,
    /// RFC 5961 §7 challenge-ACK budget: the current window's start and count.
    pub challenge_window_start: Instant,
    pub challenge_count: u32,
    /// Challenge ACKs sent, and those the budget suppressed.
    pub challenge_acks: u32,
    pub challenge_acks_suppressed: u32,
    /// Retransmission timer expiries (not counting zero-window probes).
    pub timeouts: u32,
    /// Retransmissions found lost that way.
    pub lost_retransmits: u32,

    /// Every timer of the connection (timers.rs).
    pub timers: TimerTable,
    /// R2 for data (MUST-21: per connection; `None` = never give up).
    pub user_timeout: Option<Duration>,

    // Statistics.
    pub retransmits: u32,
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
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
        Connection {
            handle,
            tuple,
            state: State::Closed,
            listener: None,
            owned: false,
            released: false,
            close_reason: None,
            fin_received: false,
            pending_fin: None,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            fin_queued: false,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            send: SendBuffer::new(iss + 1u32, cfg.send_buffer),
            recv: RecvBuffer::new(cfg.recv_buffer.clamp(1, 1 << 30)),
            autotune: crate::recv_autotune::Autotune::new(now, cfg.recv_buffer),
            snd_mss: default_mss(&tuple),
            path_mss: default_mss(&tuple),
            snd_shift: 0,
            rcv_shift: if cfg.window_scaling {
                offered_shift(cfg)
            } else {
                0
            },
            ws_agreed: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: now,
            last_ack_sent: SeqNum(0),
            ts_offset: 0,
            sack_ok: false,
            last_ooo: None,
            dsack: None,
            unacked_bytes: 0,
            nodelay: cfg.nodelay,
            last_send_at: now,
            keepalive: cfg.keepalive,
            keepalive_unanswered: 0,
            keepalive_probe_now: false,
            last_recv_at: now,
            ack_now: false,
            owed_dupacks: VecDeque::new(),
            snd_up: None,
            rcv_up: None,
            rtt: Rtt::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            rtt_probe: None,
            retries: 0,
            progress_at: now,
            syn_timed_out: false,
            probe_now: false,
            cwnd: 0,
            ssthresh: u32::MAX,
            dupacks: 0,
            recover: None,
            rexmit_head: false,
            recover_floor: iss,
            cc: crate::congestion::Cc::new(cfg.congestion),
            hystart: crate::congestion::hystart::HyStart::new(cfg.hystart),
            prr: crate::prr::Prr::default(),
            scoreboard: crate::sack::Scoreboard::new(),
            fast_retransmits: 0,
            zero_window_probes: 0,
            rexmit_log: VecDeque::new(),
            lost_retransmits: 0,
            timeouts: 0,
            challenge_window_start: now,
            challenge_count: 0,
            challenge_acks: 0,
            challenge_acks_suppressed: 0,
            flight_peak: 0,
            flight_peak_until: iss,
            timers: TimerTable::default(),
            user_timeout: cfg.user_timeout,
            retransmits: 0,
            bytes_sent: 0,
            bytes_acked: 0,
            bytes_received: 0,
        }
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
                self.send.clear();
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
                self.send.clear();
                if self.released || !self.owned {
                    self.recv.clear();
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
            self.send.clear();
        }
        self.transition(ctx, State::Closed, cause);
        ctx.events.push_back(Event::Closed {
            conn: self.handle,
            reason: self.close_reason.unwrap_or(reason),
        });
    }

    /// The window the peer knows of: from RCV.NXT to the right edge we last advertised.
    pub(crate) fn promised_window(&self) -> u32 {
        if self.rcv_adv > self.rcv_nxt {
            self.rcv_adv - self.rcv_nxt
        } else {
            0
        }
    }

    /// The largest window our window field can say: 65535 shifted by our scale (at most
    /// 65535 << 14, under 2^30, RFC 7323 §2.3).
    pub(crate) fn largest_window(&self) -> u32 {
        65535u32 << self.rcv_shift
    }

    /// The window we offer: free buffer space, never moving the right edge left (SHLD-14),
    /// at most what the 16-bit field can say with our window shift.
    /// `pressure`: the endpoint is over its memory budget (the edge stays where it is).
    pub(crate) fn rcv_wnd(&self, pressure: bool) -> u32 {
        let max = self.largest_window();
        let free = (self.recv.window() as u64).min(u64::from(max)) as u32;
        let edge = self.rcv_nxt + free;
        let promised = self.promised_window();
        // Receiver silly-window avoidance (MUST-39): move the right edge only by at least
        // min(half the buffer, one MSS); never move it left (SHLD-14).
        let step = (self.recv.capacity() as u32 / 2)
            .min(u32::from(self.path_mss))
            .max(1);
        if edge <= self.rcv_adv || edge - self.rcv_adv < step || pressure {
            promised
        } else {
            free
        }
    }

    /// Sequence number of our FIN, if one is queued (it follows the last byte of data).
    pub(crate) fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_queued.then(|| self.send.end())
    }

    /// Our FIN has been acknowledged.
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_una > f)
    }

    /// Bytes (and SYN/FIN) sent but not yet acknowledged.
    pub(crate) fn in_flight(&self) -> u32 {
        self.snd_max - self.snd_una
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
        self.send.storage() + self.recv.storage()
    }

    /// Give back the storage of rings that are empty.
    pub(crate) fn release_empty_rings(&mut self) {
        self.send.release_if_empty();
        self.recv.release_if_empty();
    }

    /// How many bytes SEND may queue now: the free space of the send buffer, and under memory
    /// pressure (`pressure`) no more than brings it to [`SEND_FLOOR_UNDER_PRESSURE`].
    pub(crate) fn send_room(&self, pressure: bool) -> usize {
        if pressure {
            self.send
                .free()
                .min(SEND_FLOOR_UNDER_PRESSURE.saturating_sub(self.send.len()))
        } else {
            self.send.free()
        }
    }

    /// Bytes this connection holds for the application (in order and out of order).
    pub(crate) fn recv_memory(&self) -> usize {
        self.recv.readable() + self.recv.ooo_bytes() + self.recv.kept_overhead()
    }

    /// Urgent octets the application has not read yet (MUST-33): from the next octet to read
    /// up to the urgent pointer.
    pub(crate) fn urgent_pending(&self) -> usize {
        let Some(up) = self.rcv_up else { return 0 };
        let read_seq = self.rcv_nxt - (self.recv.readable() as u32 + u32::from(self.fin_received));
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
                && self.snd_wnd == 0
                && self.state.is_synchronized(),
            delayed_ack_at: self.timers.get(Timer::DelayedAck),
            keepalive_at: self.timers.get(Timer::KeepAlive),
            time_wait_at: self.timers.get(Timer::TimeWait),
            fin_wait2_at: self.timers.get(Timer::FinWait2),
        }
    }

    /// Unacknowledged, unSACKed bytes the scoreboard declares lost.
    fn lost_bytes(&self) -> u32 {
        if !self.sack_ok || self.scoreboard.is_empty() {
            return 0;
        }
        let smss = u32::from(self.snd_mss);
        let mut lost = 0u32;
        let mut seq = self.snd_una;
        // Walk in SMSS steps (the scoreboard's answer is the same inside one hole), at most
        // 65536 of them so a huge window cannot make this call slow.
        let mut steps = 0u32;
        while seq < self.snd_max && steps < 65536 {
            steps += 1;
            let step = (self.snd_max - seq).min(smss.max(1));
            if !self.scoreboard.is_sacked(seq) && self.scoreboard.is_lost(seq, smss) {
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
            iss: self.iss,
            irs: self.irs,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            snd_wnd: self.snd_wnd,
            rcv_nxt: self.rcv_nxt,
            rcv_wnd: self.rcv_wnd(pressure),
            mss: self.snd_mss,
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            bytes_in_flight: self.in_flight(),
            backoff: self.retries,
            retransmits: u64::from(self.retransmits),
            bytes_sent: self.bytes_sent,
            bytes_acked: self.bytes_acked,
            bytes_received: self.bytes_received,
            send_buffered: self.send.len(),
            recv_buffered: self.recv.readable(),
            recv_out_of_order: self.recv.ooo_bytes(),
            recv_buffer: self.recv.capacity(),
            send_buffer: self.send.capacity(),
            congestion: self.cc.algorithm(),
            in_recovery: self.recover.is_some(),
            fast_retransmits: u64::from(self.fast_retransmits),
            zero_window_probes: u64::from(self.zero_window_probes),
            timeouts: u64::from(self.timeouts),
            lost_retransmits: u64::from(self.lost_retransmits),
            challenge_acks: u64::from(self.challenge_acks),
            challenge_acks_suppressed: u64::from(self.challenge_acks_suppressed),
            sacked: self.scoreboard.sacked_bytes(),
            lost: self.lost_bytes(),
            wscale: self.ws_agreed.then_some((self.rcv_shift, self.snd_shift)),
            timestamps: self.ts_ok,
            sack: self.sack_ok,
            nodelay: self.nodelay,
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
            self.ack_now = true;
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
                Some(self.last_recv_at + idle)
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
        if self.snd_una != self.snd_max {
            // Outstanding data: retransmission covers liveness; look again later (MUST-26).
            self.timers.start(Timer::KeepAlive, now + idle);
            return;
        }
        if now < self.last_recv_at + idle {
            self.timers
                .start(Timer::KeepAlive, self.last_recv_at + idle);
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
            self.probe_now = true;
            return;
        }
        let opening = matches!(self.state, State::SynSent | State::SynReceived);
        let persist = self.persisting();
        if self.snd_una == self.snd_max && !persist {
            return; // nothing outstanding
        }
        // R2 has its own deadline (`r2_deadline`), checked before this in handle_timeout.
        self.rtt.back_off(); // §5.5; the persist timer backs off the same way (SHLD-30)
        self.rtt_probe = None; // Karn
                               // §5.4: retransmit the earliest unacknowledged segment: go back to SND.UNA.
        self.snd_nxt = self.snd_una;
        self.timers.start(Timer::Rto, self.rto_deadline(ctx));
        if persist {
            // The persist timer: a zero-window probe (MUST-35, MUST-36), one octet past the
            // window. A closed window is flow control, not congestion: cwnd stays.
            self.probe_now = true;
            self.zero_window_probes = self.zero_window_probes.saturating_add(1);
            return;
        }
        self.retries += 1;
        self.timeouts = self.timeouts.saturating_add(1);
        if self.retries == ctx.cfg.r1 {
            // SHLD-9: tell the application once R1 is reached.
            ctx.events.push_back(Event::DeliveryProblem {
                conn: self.handle,
                retransmits: self.retries,
            });
        }
        if opening {
            self.syn_timed_out = true;
        }
        self.congestion_on_rto(ctx);
    }

    /// When the retransmission (or persist) timer set now should fire: one RTO from now. R2
    /// is a deadline of its own (`r2_deadline`), so the timer is never shortened for it: a
    /// retransmission or probe goes exactly when the backed-off RTO says.
    pub(crate) fn rto_deadline(&self, ctx: &Ctx<'_>) -> Instant {
        ctx.now + self.rtt.rto()
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
        if self.snd_una == self.snd_max && !self.persisting() {
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
        limit.map(|limit| self.progress_at + limit)
    }

    /// The retransmission timer runs as the persist timer: the peer's window is closed and
    /// data waits (or its first octet is out as a probe).
    fn persisting(&self) -> bool {
        self.snd_wnd == 0 && self.can_send_data() && self.send.end() > self.snd_una
    }

    /// The retransmission timer runs as the SWS override timer: nothing is in flight and data
    /// waits for a window that is open but too small to send it (output.rs, `may_send_now`).
    pub(crate) fn sws_override_due(&self) -> bool {
        self.snd_una == self.snd_max
            && self.snd_wnd > 0
            && self.send.end() > self.snd_nxt
            && self.can_send_data()
    }

    /// Data waits but the peer's window is closed and nothing is in flight.
    pub(crate) fn zero_window_blocked(&self) -> bool {
        self.snd_wnd == 0 && self.send.end() > self.snd_max && self.can_send_data()
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
