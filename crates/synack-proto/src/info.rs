//! What a connection tells about itself: [`ConnInfo`] (like Linux's `tcp_info`) and
//! [`ConnTimers`] (its pending deadlines), for `info()`, `synack ss` and the control socket.

use crate::config::Config;
use crate::connection::Connection;
use crate::event::FourTuple;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::{Duration, Instant};
use crate::timers::Timer;

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
    /// RACK's reordering timer or the tail loss probe's timeout (RFC 8985), with
    /// `loss_probe` saying which.
    pub loss_at: Option<Instant>,
    pub loss_probe: bool,
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
    /// Loss episodes (fast retransmits and timeouts) found spurious and undone: Eifel,
    /// D-SACK or F-RTO showed the retransmission unnecessary (`Config::undo`).
    pub undos: u64,
    /// Of `undos`, those that began with a retransmission timeout.
    pub spurious_timeouts: u64,
    /// Segments RACK marked lost (RFC 8985 §6.2), tail loss probes sent (§7.3) and the
    /// losses those probes repaired (§7.4).
    pub rack_lost: u64,
    pub tlp_probes: u64,
    pub tlp_repairs: u64,
    /// RACK's reordering window as last computed, while RACK runs on the connection.
    pub reordering_window: Option<Duration>,
    /// Challenge ACKs sent (RFC 5961) and suppressed by the per-connection budget.
    pub challenge_acks: u64,
    pub challenge_acks_suppressed: u64,
    /// Quick ACKs (`Config::quick_acks`): data segments still to be ACKed at once in the
    /// current quick mode, and data segments ACKed at once by it over the connection's life.
    pub quick_acks_left: u32,
    pub quick_acks: u64,
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

impl Connection {
    pub(crate) fn timers(&self, cfg: &Config) -> ConnTimers {
        ConnTimers {
            r2_at: self.r2_deadline(cfg),
            rto_at: self.timers.get(Timer::Rto),
            persist: self.timers.is_set(Timer::Rto)
                && self.snd.wnd() == 0
                && self.state().is_synchronized(),
            delayed_ack_at: self.timers.get(Timer::DelayedAck),
            keepalive_at: self.timers.get(Timer::KeepAlive),
            time_wait_at: self.timers.get(Timer::TimeWait),
            fin_wait2_at: self.timers.get(Timer::FinWait2),
            loss_at: self.timers.get(Timer::Loss),
            loss_probe: self
                .rec
                .rack
                .as_ref()
                .is_some_and(|r| r.timer == crate::rack::LossTimer::Probe),
        }
    }

    /// Unacknowledged, unSACKed bytes the scoreboard (or RACK) declares lost.
    fn lost_bytes(&self) -> u32 {
        if let Some(rack) = &self.rec.rack {
            return rack.lost_bytes();
        }
        if !self.opts.sack_ok() || self.rec.scoreboard.is_empty() {
            return 0;
        }
        let smss = u32::from(self.opts.snd_mss());
        let mut lost = 0u32;
        let mut seq = self.snd.una();
        // Walk in SMSS steps (the scoreboard's answer is the same inside one hole), at most
        // 65536 of them so a huge window cannot make this call slow.
        let mut steps = 0u32;
        while seq < self.snd.max() && steps < 65536 {
            steps += 1;
            let step = (self.snd.max() - seq).min(smss.max(1));
            if !self.rec.scoreboard.is_sacked(seq) && self.rec.scoreboard.is_lost(seq, smss) {
                lost += step;
            }
            seq += step;
        }
        lost
    }

    /// `pressure`: the endpoint is over its memory budget (it shapes the window reported).
    pub(crate) fn info(&self, pressure: bool) -> ConnInfo {
        ConnInfo {
            state: self.state(),
            tuple: self.tuple,
            iss: self.snd.iss(),
            irs: self.rcv.irs(),
            snd_una: self.snd.una(),
            snd_nxt: self.snd.nxt(),
            snd_wnd: self.snd.wnd(),
            rcv_nxt: self.rcv.nxt(),
            rcv_wnd: self.rcv_wnd(pressure),
            mss: self.opts.snd_mss(),
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
            send_buffered: self.snd.buf().len(),
            recv_buffered: self.rcv.buf().readable(),
            recv_out_of_order: self.rcv.buf().ooo_bytes(),
            recv_buffer: self.rcv.buf().capacity(),
            send_buffer: self.snd.buf().capacity(),
            congestion: self.rec.cc.algorithm(),
            controller: crate::congestion::Controller::name(&self.rec.cc),
            in_recovery: self.rec.recover.is_some(),
            fast_retransmits: u64::from(self.stats.fast_retransmits),
            zero_window_probes: u64::from(self.stats.zero_window_probes),
            timeouts: u64::from(self.stats.timeouts),
            lost_retransmits: u64::from(self.stats.lost_retransmits),
            undos: u64::from(self.rec.undo.undos()),
            spurious_timeouts: u64::from(self.rec.undo.spurious_timeouts()),
            rack_lost: u64::from(self.stats.rack_lost),
            tlp_probes: u64::from(self.stats.tlp_probes),
            tlp_repairs: u64::from(self.stats.tlp_repairs),
            reordering_window: self.rec.rack.as_ref().map(|r| r.reo_wnd()),
            challenge_acks: u64::from(self.stats.challenge_acks),
            challenge_acks_suppressed: u64::from(self.stats.challenge_acks_suppressed),
            quick_acks_left: self.rcv.quick().left(),
            quick_acks: self.rcv.quick().sent(),
            sacked: self.rec.scoreboard.sacked_bytes(),
            lost: self.lost_bytes(),
            wscale: self
                .opts
                .ws_agreed()
                .then_some((self.opts.rcv_shift(), self.opts.snd_shift())),
            timestamps: self.opts.ts_ok(),
            sack: self.opts.sack_ok(),
            nodelay: self.snd.nodelay(),
            keepalive: self.keepalive,
            urgent_pending: self.urgent_pending(),
        }
    }

    // ----- timers ---------------------------------------------------------------------------
}
