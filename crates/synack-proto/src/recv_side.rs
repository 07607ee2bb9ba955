//! The receive side of a connection (RFC 9293 §3.3.1, receive sequence variables): where the
//! sequence space stands, the buffer that holds what arrived until the application reads it,
//! and the ACK policy (delayed ACKs, duplicate ACKs owed, SACK and D-SACK to report).
//!
//! ```text
//!     1          2          3
//! ----------|----------|----------
//!        RCV.NXT    RCV.NXT
//!                  +RCV.WND
//! 1 - old sequence numbers  2 - may be received  3 - not yet allowed
//! ```

use std::collections::VecDeque;

use crate::config::Config;
use crate::quick_ack::QuickAck;
use crate::recv_autotune::Autotune;
use crate::recv_buffer::{Offer, RecvBuffer};
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

pub(crate) struct RecvSide {
    /// Initial receive sequence number: the peer's SYN.
    irs: SeqNum,
    /// RCV.NXT: the next sequence number expected.
    nxt: SeqNum,
    /// Right edge of the window we last advertised; never moves left (SHLD-14).
    adv: SeqNum,
    /// What arrived: in order (readable), out of order (held), kept packets.
    buf: RecvBuffer,
    /// Receive buffer autotuning (recv_autotune.rs).
    autotune: Autotune,
    /// The peer's FIN has been processed (RCV.NXT is past it).
    fin_received: bool,
    /// The sequence number of the peer's FIN if it arrived out of order.
    pending_fin: Option<SeqNum>,
    /// The sequence number just past the last urgent octet announced (MUST-30..33).
    up: Option<SeqNum>,
    /// When a segment last arrived from the peer (keep-alive, MUST-26).
    last_recv_at: Instant,
    // The ACK policy.
    /// An ACK is owed to the peer now.
    ack_now: bool,
    /// In-order data bytes received since our last ACK (SHLD-19: ACK every 2·RMSS).
    unacked_bytes: u32,
    /// Duplicate ACKs owed for out-of-order arrivals, each with the RCV.NXT of its moment.
    owed_dupacks: VecDeque<SeqNum>,
    /// The most recent out-of-order segment received: the first SACK block reports it.
    last_ooo: Option<SeqNum>,
    /// A duplicate segment to report as D-SACK in the next ACK (RFC 2883).
    dsack: Option<(SeqNum, SeqNum)>,
    /// Quick ACKs at the start and after idle (quick_ack.rs).
    quick: QuickAck,
}

impl RecvSide {
    #[inline]
    pub(crate) fn new(cfg: &Config, now: Instant) -> RecvSide {
        RecvSide {
            irs: SeqNum(0),
            nxt: SeqNum(0),
            adv: SeqNum(0),
            buf: RecvBuffer::new(cfg.recv_buffer.clamp(1, 1 << 30)),
            autotune: Autotune::new(now, cfg.recv_buffer),
            fin_received: false,
            pending_fin: None,
            up: None,
            last_recv_at: now,
            ack_now: false,
            unacked_bytes: 0,
            owed_dupacks: VecDeque::new(),
            last_ooo: None,
            dsack: None,
            quick: QuickAck::new(cfg.quick_acks),
        }
    }

    // Read by everything that receives or ACKs; written only by the methods below.

    #[inline]
    pub(crate) fn irs(&self) -> SeqNum {
        self.irs
    }

    #[inline]
    pub(crate) fn nxt(&self) -> SeqNum {
        self.nxt
    }

    #[inline]
    pub(crate) fn adv(&self) -> SeqNum {
        self.adv
    }

    #[inline]
    pub(crate) fn fin_received(&self) -> bool {
        self.fin_received
    }

    #[inline]
    pub(crate) fn up(&self) -> Option<SeqNum> {
        self.up
    }

    #[inline]
    pub(crate) fn last_recv_at(&self) -> Instant {
        self.last_recv_at
    }

    #[inline]
    pub(crate) fn ack_now(&self) -> bool {
        self.ack_now
    }

    #[inline]
    pub(crate) fn unacked_bytes(&self) -> u32 {
        self.unacked_bytes
    }

    #[inline]
    pub(crate) fn last_ooo(&self) -> Option<SeqNum> {
        self.last_ooo
    }

    #[inline]
    pub(crate) fn dsack(&self) -> Option<(SeqNum, SeqNum)> {
        self.dsack
    }

    #[inline]
    pub(crate) fn buf(&self) -> &RecvBuffer {
        &self.buf
    }

    #[inline]
    pub(crate) fn buf_mut(&mut self) -> &mut RecvBuffer {
        &mut self.buf
    }

    pub(crate) fn autotune_mut(&mut self) -> &mut Autotune {
        &mut self.autotune
    }

    /// The peer's SYN: IRS, RCV.NXT just past it, the window edge there.
    pub(crate) fn take_syn(&mut self, irs: SeqNum) {
        self.irs = irs;
        self.nxt = irs + 1u32;
        self.adv = self.nxt;
    }

    /// An acceptable segment arrived (keep-alive counts from here, MUST-26).
    #[inline]
    pub(crate) fn heard_from_peer(&mut self, now: Instant) {
        self.last_recv_at = now;
    }

    /// Text from `seq` (with the packet on offer, if any): into the buffer, RCV.NXT past what
    /// is now in order.
    #[inline]
    pub(crate) fn insert(&mut self, seq: SeqNum, text: &[u8], offer: Option<Offer>) {
        self.nxt = self.buf.insert_offered(self.nxt, seq, text, offer);
    }

    /// In-order text moved RCV.NXT on from `before`: count it for the ACK policy (SHLD-19)
    /// and time the window edge for autotuning.
    #[inline]
    pub(crate) fn text_arrived(&mut self, before: SeqNum, now: Instant) {
        self.unacked_bytes = self.unacked_bytes.saturating_add(self.nxt - before);
        self.autotune.text_arrived(self.nxt, self.adv, now);
    }

    /// In-order text moved RCV.NXT on from `before` at `now`: is it one of the first segments
    /// of the peer's slow start, to be ACKed at once (quick_ack.rs)? `idle`: silence after
    /// which quick mode starts again; `full`: a full-sized segment from the peer.
    #[inline]
    pub(crate) fn quick_ack_due(
        &mut self,
        before: SeqNum,
        now: Instant,
        idle: Duration,
        full: u32,
    ) -> bool {
        // The window the peer was offered before this text: from `before` to our edge.
        let window = if self.adv > before {
            self.adv - before
        } else {
            0
        };
        self.quick.data_arrived(now, idle, window, full)
    }

    #[inline]
    pub(crate) fn quick(&self) -> &QuickAck {
        &self.quick
    }

    /// The most recent out-of-order segment started at `seq`: the first SACK block reports it.
    #[inline]
    pub(crate) fn out_of_order_at(&mut self, seq: SeqNum) {
        self.last_ooo = Some(seq);
    }

    /// A duplicate `[l, r)` to report as D-SACK in the next ACK (RFC 2883).
    #[inline]
    pub(crate) fn report_dsack(&mut self, l: SeqNum, r: SeqNum) {
        self.dsack = Some((l, r));
    }

    /// The peer's FIN arrived ahead of data still missing: it is taken once RCV.NXT gets there.
    pub(crate) fn fin_ahead(&mut self, fin_seq: SeqNum) {
        self.pending_fin = Some(fin_seq);
    }

    /// RCV.NXT reached a FIN that came early: forget it here and return true (the caller
    /// takes it).
    #[inline]
    pub(crate) fn take_pending_fin(&mut self) -> bool {
        let due = self.pending_fin == Some(self.nxt);
        if due {
            self.pending_fin = None;
        }
        due
    }

    /// The peer's FIN is next in sequence (step 8): RCV.NXT over it, and ACK it.
    pub(crate) fn take_fin(&mut self) {
        self.nxt += 1u32;
        self.fin_received = true;
        self.ack_now = true;
    }

    /// A FIN taken in TIME-WAIT (time_wait_rules.rs): the window edge moves with RCV.NXT, so
    /// the window offered stays what it was, as the compact entry's fixed field has it.
    pub(crate) fn take_fin_keeping_window(&mut self) {
        self.nxt += 1u32;
        self.adv = self.adv.max(self.nxt) + 1u32;
        self.fin_received = true;
    }

    /// The urgent pointer moved to `up` (MUST-30..33).
    pub(crate) fn urgent_to(&mut self, up: SeqNum) {
        self.up = Some(up);
    }

    /// An ACK is owed to the peer now.
    #[inline]
    pub(crate) fn owe_ack(&mut self) {
        self.ack_now = true;
    }

    #[inline]
    pub(crate) fn set_ack_owed(&mut self, owed: bool) {
        self.ack_now = owed;
    }

    /// A segment carrying our ACK went out, offering `window` bytes past RCV.NXT: nothing is
    /// owed any more, the edge we promised moves (never left, SHLD-14), and a D-SACK block
    /// that rode on it (`reported_sack`) is not reported again (RFC 2883).
    #[inline]
    pub(crate) fn acked(&mut self, window: u32, reported_sack: bool) {
        self.ack_now = false;
        self.unacked_bytes = 0;
        self.adv = self.adv.max(self.nxt + window);
        if reported_sack {
            self.dsack = None;
        }
    }

    /// Owe a duplicate ACK for RCV.NXT as it is now (bounded: beyond a few, the sender has
    /// all the signal it needs).
    #[inline]
    pub(crate) fn owe_dupack(&mut self) {
        if self.owed_dupacks.len() < 8 {
            self.owed_dupacks.push_back(self.nxt);
        }
    }

    #[inline]
    pub(crate) fn next_owed_dupack(&mut self) -> Option<SeqNum> {
        self.owed_dupacks.pop_front()
    }

    #[inline]
    pub(crate) fn dupacks_owed(&self) -> bool {
        !self.owed_dupacks.is_empty()
    }

    pub(crate) fn forget_owed_dupacks(&mut self) {
        self.owed_dupacks.clear();
    }

    /// The window the peer knows of: from RCV.NXT to the right edge we last advertised.
    #[inline]
    pub(crate) fn promised_window(&self) -> u32 {
        if self.adv > self.nxt {
            self.adv - self.nxt
        } else {
            0
        }
    }
}
