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
    /// A connection in CLOSED with our ISS and timestamp offset (both from isn.rs's keyed
    /// hash, RFC 6528 and RFC 7323 §5.4).
    pub(crate) fn new(
        handle: ConnHandle,
        tuple: FourTuple,
        iss: SeqNum,
        ts_offset: u32,
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
            opts: Negotiated::new(default_mss(&tuple), rcv_shift, ts_offset, now),
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
    #[inline]
    pub(crate) fn new_child(
        handle: ConnHandle,
        tuple: FourTuple,
        iss: SeqNum,
        ts_offset: u32,
        cfg: &Config,
        now: Instant,
        listener: SocketAddr,
    ) -> Self {
        let mut c = Connection::new(handle, tuple, iss, ts_offset, cfg, now);
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
                self.snd.buf_mut().clear();
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
                self.snd.buf_mut().clear();
                if self.released || !self.owned {
                    self.rcv.buf_mut().clear();
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
            self.snd.buf_mut().clear();
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
        65535u32 << self.opts.rcv_shift()
    }

    /// The window we offer: free buffer space, never moving the right edge left (SHLD-14),
    /// at most what the 16-bit field can say with our window shift.
    /// `pressure`: the endpoint is over its memory budget (the edge stays where it is).
    pub(crate) fn rcv_wnd(&self, pressure: bool) -> u32 {
        let max = self.largest_window();
        let free = (self.rcv.buf().window() as u64).min(u64::from(max)) as u32;
        let edge = self.rcv.nxt() + free;
        let promised = self.rcv.promised_window();
        // Receiver silly-window avoidance (MUST-39): move the right edge only by at least
        // min(half the buffer, one MSS); never move it left (SHLD-14).
        let step = (self.rcv.buf().capacity() as u32 / 2)
            .min(u32::from(self.opts.path_mss()))
            .max(1);
        if edge <= self.rcv.adv() || edge - self.rcv.adv() < step || pressure {
            promised
        } else {
            free
        }
    }

    /// Ring storage this connection holds (send and receive).
    pub(crate) fn ring_storage(&self) -> usize {
        self.snd.buf().storage() + self.rcv.buf().storage()
    }

    /// Give back the storage of rings that are empty.
    pub(crate) fn release_empty_rings(&mut self) {
        self.snd.buf_mut().release_if_empty();
        self.rcv.buf_mut().release_if_empty();
    }

    /// How many bytes SEND may queue now: the free space of the send buffer, and under memory
    /// pressure (`pressure`) no more than brings it to [`SEND_FLOOR_UNDER_PRESSURE`].
    pub(crate) fn send_room(&self, pressure: bool) -> usize {
        if pressure {
            self.snd
                .buf()
                .free()
                .min(SEND_FLOOR_UNDER_PRESSURE.saturating_sub(self.snd.buf().len()))
        } else {
            self.snd.buf().free()
        }
    }

    /// Bytes this connection holds for the application (in order and out of order).
    pub(crate) fn recv_memory(&self) -> usize {
        self.rcv.buf().readable() + self.rcv.buf().ooo_bytes() + self.rcv.buf().kept_overhead()
    }

    /// Urgent octets the application has not read yet (MUST-33): from the next octet to read
    /// up to the urgent pointer.
    pub(crate) fn urgent_pending(&self) -> usize {
        let Some(up) = self.rcv.up() else { return 0 };
        let read_seq = self.rcv.nxt()
            - (self.rcv.buf().readable() as u32 + u32::from(self.rcv.fin_received()));
        if up > read_seq {
            (up - read_seq) as usize
        } else {
            0
        }
    }

    /// Whether the endpoint can forget this connection: it is CLOSED and nobody holds it.
    pub(crate) fn is_reapable(&self) -> bool {
        self.state == State::Closed && (self.released || !self.owned)
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
