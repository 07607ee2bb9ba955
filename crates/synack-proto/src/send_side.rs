//! The send side of a connection (RFC 9293 §3.3.1, send sequence variables): where the
//! sequence space stands, the send buffer the data waits in until it is acknowledged, and the
//! sender's segment policy (Nagle, zero-window probes, the urgent pointer).
//!
//! ```text
//!      1         2          3          4
//! ----------|----------|----------|----------
//!        SND.UNA    SND.NXT    SND.UNA
//!                             +SND.WND
//! 1 - acknowledged  2 - sent, not acknowledged  3 - may be sent  4 - not yet allowed
//! ```

use crate::config::Config;
use crate::send_buffer::SendBuffer;
use crate::seq::SeqNum;
use crate::time::Instant;

pub(crate) struct SendSide {
    /// Initial send sequence number (RFC 6528, isn.rs).
    iss: SeqNum,
    /// SND.UNA: oldest unacknowledged sequence number.
    una: SeqNum,
    /// SND.NXT: next sequence number to send (goes back to SND.UNA after a timeout).
    nxt: SeqNum,
    /// Highest sequence number sent (SND.NXT before a go-back after a timeout).
    max: SeqNum,
    /// SND.WND, the peer's window, scaled (MUST-1: unsigned).
    wnd: u32,
    /// SND.WL1 / SND.WL2: the segment sequence and acknowledgment numbers of the last window
    /// update (§3.10.7.4 step 5).
    wl1: SeqNum,
    wl2: SeqNum,
    /// The largest window the peer has offered (the sender's SWS rules, MUST-38).
    max_wnd: u32,
    /// The user asked to close the send side: a FIN follows the queued data.
    fin_queued: bool,
    /// Data from SND.UNA on: sent and unacknowledged, then queued.
    buf: SendBuffer,
    /// The sequence number just past the last urgent octet, while it is not yet acknowledged
    /// (RFC 9293 §3.8.5).
    up: Option<SeqNum>,
    /// Nagle off (MUST-17).
    nodelay: bool,
    /// The end of the last segment sent shorter than a full one: Nagle holds a short segment
    /// only while such a one is unacknowledged (Minshall's modification, RFC 9293 A.3).
    small_end: SeqNum,
    /// When a segment last went out (RFC 5681 §4.1 restart after idle).
    last_send_at: Instant,
    /// The next output may send beyond the window: a zero-window probe (MUST-36) or what the
    /// SWS override timer releases (MUST-38).
    probe_now: bool,
}

impl SendSide {
    #[inline]
    pub(crate) fn new(iss: SeqNum, cfg: &Config, now: Instant) -> SendSide {
        SendSide {
            iss,
            una: iss,
            nxt: iss,
            max: iss,
            wnd: 0,
            wl1: SeqNum(0),
            wl2: iss,
            max_wnd: 0,
            fin_queued: false,
            buf: SendBuffer::new(iss + 1u32, cfg.send_buffer),
            up: None,
            nodelay: cfg.nodelay,
            small_end: iss,
            last_send_at: now,
            probe_now: false,
        }
    }

    // Read by everything that sends or checks an ACK; written only by the methods below.

    #[inline]
    pub(crate) fn iss(&self) -> SeqNum {
        self.iss
    }

    #[inline]
    pub(crate) fn una(&self) -> SeqNum {
        self.una
    }

    #[inline]
    pub(crate) fn nxt(&self) -> SeqNum {
        self.nxt
    }

    #[inline]
    pub(crate) fn max(&self) -> SeqNum {
        self.max
    }

    #[inline]
    pub(crate) fn wnd(&self) -> u32 {
        self.wnd
    }

    #[inline]
    pub(crate) fn max_wnd(&self) -> u32 {
        self.max_wnd
    }

    #[inline]
    pub(crate) fn fin_queued(&self) -> bool {
        self.fin_queued
    }

    #[inline]
    pub(crate) fn up(&self) -> Option<SeqNum> {
        self.up
    }

    #[inline]
    pub(crate) fn nodelay(&self) -> bool {
        self.nodelay
    }

    /// A segment shorter than a full one went out, ending at `end`.
    #[inline]
    pub(crate) fn sent_small(&mut self, end: SeqNum) {
        self.small_end = end;
    }

    /// A short segment sent earlier is not yet acknowledged (Minshall: then Nagle holds the
    /// next short one).
    #[inline]
    pub(crate) fn small_unacked(&self) -> bool {
        self.small_end > self.una && self.small_end <= self.max
    }

    #[inline]
    pub(crate) fn last_send_at(&self) -> Instant {
        self.last_send_at
    }

    #[inline]
    pub(crate) fn probe_now(&self) -> bool {
        self.probe_now
    }

    #[inline]
    pub(crate) fn buf(&self) -> &SendBuffer {
        &self.buf
    }

    #[inline]
    pub(crate) fn buf_mut(&mut self) -> &mut SendBuffer {
        &mut self.buf
    }

    /// SEG.ACK acknowledged new data: SND.UNA moves up to it (and SND.NXT with it, should a
    /// timeout's go-back have left it behind).
    #[inline]
    pub(crate) fn acknowledge(&mut self, ack: SeqNum) {
        self.una = ack;
        self.nxt = self.nxt.max(ack);
    }

    /// A segment ending at `end` went out at `now`.
    #[inline]
    pub(crate) fn sent_through(&mut self, end: SeqNum, now: Instant) {
        self.nxt = self.nxt.max(end);
        self.max = self.max.max(end);
        self.last_send_at = now;
    }

    /// Send again from SND.UNA (a timeout, RFC 6298 §5.4; a window that reopened; a path MTU
    /// that shrank).
    #[inline]
    pub(crate) fn go_back_to_una(&mut self) {
        self.nxt = self.una;
    }

    /// Go on with new data after a go-back that proved unnecessary (RFC 4015 §3.1 step (3),
    /// RFC 5682 §2.1 step 2b): SND.NXT = SND.MAX.
    #[inline]
    pub(crate) fn resume_at_max(&mut self) {
        self.nxt = self.max;
    }

    /// Send our SYN again (SND.NXT back to ISS): a lost SYN-ACK, or a simultaneous open.
    #[inline]
    pub(crate) fn resend_syn(&mut self) {
        self.nxt = self.iss;
    }

    /// The next output may (or may no longer) go beyond the window: a zero-window probe, or
    /// what the SWS override timer releases.
    #[inline]
    pub(crate) fn set_probe(&mut self, on: bool) {
        self.probe_now = on;
    }

    /// CLOSE of the send side: a FIN follows the queued data.
    #[inline]
    pub(crate) fn queue_fin(&mut self) {
        self.fin_queued = true;
    }

    /// SEND with URGENT: the urgent pointer is the end of what is queued now (MUST-30/31).
    pub(crate) fn mark_urgent(&mut self) {
        self.up = Some(self.buf.end());
    }

    /// The urgent data has been acknowledged: segments stop carrying URG.
    pub(crate) fn urgent_acked(&mut self) {
        self.up = None;
    }

    /// Nagle's algorithm off (`true`) or on (MUST-17).
    pub(crate) fn set_nodelay(&mut self, nodelay: bool) {
        self.nodelay = nodelay;
    }

    /// Take the peer's window from a segment (§3.10.7.4 step 5): SND.WND ← SEG.WND,
    /// SND.WL1 ← SEG.SEQ, SND.WL2 ← SEG.ACK, and remember the largest window offered.
    #[inline]
    pub(crate) fn update_window(&mut self, wnd: u32, seq: SeqNum, ack: SeqNum) {
        self.wnd = wnd;
        self.max_wnd = self.max_wnd.max(wnd);
        self.wl1 = seq;
        self.wl2 = ack;
    }

    /// The WL1/WL2 rule: a segment may update the window if it is newer than the one that
    /// last did (SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK).
    #[inline]
    pub(crate) fn window_update_allowed(&self, seq: SeqNum, ack: SeqNum) -> bool {
        self.wl1 < seq || (self.wl1 == seq && self.wl2 <= ack)
    }

    /// Our SYN went out (a SYN cookie's SYN-ACK, sent before this TCB existed): SND.NXT and
    /// the highest sequence number sent are past it.
    pub(crate) fn syn_sent(&mut self) {
        self.nxt = self.iss + 1u32;
        self.max = self.max.max(self.nxt);
    }

    /// Bytes (and SYN/FIN) sent but not yet acknowledged.
    #[inline]
    pub(crate) fn in_flight(&self) -> u32 {
        self.max - self.una
    }

    /// Sequence number of our FIN, if one is queued (it follows the last byte of data).
    #[inline]
    pub(crate) fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_queued.then(|| self.buf.end())
    }

    /// Our FIN has been acknowledged.
    #[inline]
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.una > f)
    }
}
