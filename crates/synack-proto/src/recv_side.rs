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
use crate::recv_autotune::Autotune;
use crate::recv_buffer::RecvBuffer;
use crate::seq::SeqNum;
use crate::time::Instant;

pub(crate) struct RecvSide {
    /// Initial receive sequence number: the peer's SYN.
    pub irs: SeqNum,
    /// RCV.NXT: the next sequence number expected.
    pub nxt: SeqNum,
    /// Right edge of the window we last advertised; never moves left (SHLD-14).
    pub adv: SeqNum,
    /// What arrived: in order (readable), out of order (held), kept packets.
    pub buf: RecvBuffer,
    /// Receive buffer autotuning (recv_autotune.rs).
    pub autotune: Autotune,
    /// The peer's FIN has been processed (RCV.NXT is past it).
    pub fin_received: bool,
    /// The sequence number of the peer's FIN if it arrived out of order.
    pub pending_fin: Option<SeqNum>,
    /// The sequence number just past the last urgent octet announced (MUST-30..33).
    pub up: Option<SeqNum>,
    /// When a segment last arrived from the peer (keep-alive, MUST-26).
    pub last_recv_at: Instant,
    // The ACK policy.
    /// An ACK is owed to the peer now.
    pub ack_now: bool,
    /// In-order data bytes received since our last ACK (SHLD-19: ACK every 2·RMSS).
    pub unacked_bytes: u32,
    /// Duplicate ACKs owed for out-of-order arrivals, each with the RCV.NXT of its moment.
    pub owed_dupacks: VecDeque<SeqNum>,
    /// The most recent out-of-order segment received: the first SACK block reports it.
    pub last_ooo: Option<SeqNum>,
    /// A duplicate segment to report as D-SACK in the next ACK (RFC 2883).
    pub dsack: Option<(SeqNum, SeqNum)>,
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
        }
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
