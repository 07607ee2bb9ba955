//! What the two SYNs agreed (RFC 9293 §3.7.1, RFC 7323, RFC 2018): the send MSS, window
//! scaling, timestamps with the PAWS state they carry, and SACK. Set when the handshake
//! negotiates (`Connection::negotiate`); read by everything that builds or checks a segment.

use crate::seq::SeqNum;
use crate::time::Instant;

pub(crate) struct Negotiated {
    /// Effective MSS for sending (MUST-15, MUST-16): the peer's MSS bounded by ours, less the
    /// timestamp option every segment carries once negotiated. This is SMSS for congestion
    /// control.
    pub snd_mss: u16,
    /// The peer's MSS bounded by ours, before option overhead.
    pub path_mss: u16,
    /// Shift applied to the peer's window field (its WS option), 0 without window scaling.
    pub snd_shift: u8,
    /// Shift applied to our window field (our WS option), 0 without window scaling.
    pub rcv_shift: u8,
    /// Both SYNs carried the window scale option (RFC 7323 §2.2).
    pub ws_agreed: bool,
    /// Timestamps agreed: every non-RST segment carries TSopt (RFC 7323 §3.2).
    pub ts_ok: bool,
    /// SACK agreed (both SYNs carried SACK-permitted).
    pub sack_ok: bool,
    /// TS.Recent and when it was last updated (PAWS, RFC 7323 §5).
    pub ts_recent: u32,
    pub ts_recent_at: Instant,
    /// Last.ACK.sent: the ACK field of our latest segment (RFC 7323 §4.3).
    pub last_ack_sent: SeqNum,
    /// Per-connection random offset of our timestamp clock (RFC 7323 §5.4).
    pub ts_offset: u32,
}

impl Negotiated {
    /// Before the handshake: the default send MSS of the address family (MUST-15) and the
    /// window shift we will offer (`rcv_shift`, 0 without window scaling).
    pub(crate) fn new(default_mss: u16, rcv_shift: u8, now: Instant) -> Negotiated {
        Negotiated {
            snd_mss: default_mss,
            path_mss: default_mss,
            snd_shift: 0,
            rcv_shift,
            ws_agreed: false,
            ts_ok: false,
            sack_ok: false,
            ts_recent: 0,
            ts_recent_at: now,
            last_ack_sent: SeqNum(0),
            ts_offset: 0,
        }
    }

    /// Bytes of options every non-SYN segment carries (the timestamp option, 12 with padding).
    #[inline]
    pub(crate) fn option_overhead(&self) -> u32 {
        if self.ts_ok {
            12
        } else {
            0
        }
    }
}
