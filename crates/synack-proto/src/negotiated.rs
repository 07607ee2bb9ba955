//! What the two SYNs agreed (RFC 9293 §3.7.1, RFC 7323, RFC 2018): the send MSS, window
//! scaling, timestamps with the PAWS state they carry, and SACK. Set when the handshake
//! negotiates (`Connection::negotiate`); read by everything that builds or checks a segment.

use synack_wire::{TcpFlags, TcpOptions};

use crate::config::Config;
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};

/// What PAWS (RFC 7323 §5.3 R1) says of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paws {
    Pass,
    /// Timestamps are agreed and the segment has none (§3.2): drop it.
    Drop,
    /// Its TSval is older than TS.Recent: an old duplicate; ACK and drop it.
    AckAndDrop,
}

pub(crate) struct Negotiated {
    /// Effective MSS for sending (MUST-15, MUST-16): the peer's MSS bounded by ours, less the
    /// timestamp option every segment carries once negotiated. This is SMSS for congestion
    /// control.
    snd_mss: u16,
    /// The peer's MSS bounded by ours, before option overhead.
    path_mss: u16,
    /// Shift applied to the peer's window field (its WS option), 0 without window scaling.
    snd_shift: u8,
    /// Shift applied to our window field (our WS option), 0 without window scaling.
    rcv_shift: u8,
    /// Both SYNs carried the window scale option (RFC 7323 §2.2).
    ws_agreed: bool,
    /// Timestamps agreed: every non-RST segment carries TSopt (RFC 7323 §3.2).
    ts_ok: bool,
    /// SACK agreed (both SYNs carried SACK-permitted).
    sack_ok: bool,
    /// TS.Recent and when it was last updated (PAWS, RFC 7323 §5).
    ts_recent: u32,
    ts_recent_at: Instant,
    /// Last.ACK.sent: the ACK field of our latest segment (RFC 7323 §4.3).
    last_ack_sent: SeqNum,
    /// Per-connection random offset of our timestamp clock (RFC 7323 §5.4).
    ts_offset: u32,
}

impl Negotiated {
    /// Before the handshake: the default send MSS of the address family (MUST-15) and the
    /// window shift we will offer (`rcv_shift`, 0 without window scaling).
    #[inline]
    pub(crate) fn new(default_mss: u16, rcv_shift: u8, ts_offset: u32, now: Instant) -> Negotiated {
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
            ts_offset,
        }
    }

    /// Agree on options from the peer's SYN or SYN-ACK (RFC 9293 §3.7.1, RFC 7323, RFC 2018).
    /// `ours`: the MSS we advertise on this tuple; `default`: the send MSS when the peer
    /// sends none (MUST-15).
    ///
    /// MSS (MUST-14, MUST-15, MUST-16): Eff.snd.MSS = min(SendMSS + 20, MMS_S) − 20, where
    /// MMS_S − 20 is our own MSS, less the timestamp option every segment then carries.
    /// Window scaling, timestamps and SACK apply only when both SYNs carry them.
    pub(crate) fn negotiate(
        &mut self,
        cfg: &Config,
        peer: &TcpOptions,
        ours: u16,
        default: u16,
        now: Instant,
    ) {
        self.path_mss = peer.mss.unwrap_or(default).min(ours).max(64);
        self.ws_agreed = cfg.window_scaling && peer.window_scale.is_some();
        if self.ws_agreed {
            // RFC 7323 §2.3: a shift above 14 is treated as 14.
            self.snd_shift = peer.window_scale.unwrap_or(0).min(14);
        } else {
            self.snd_shift = 0;
            self.rcv_shift = 0;
        }
        self.ts_ok = cfg.timestamps && peer.timestamps.is_some();
        if let Some((tsval, _)) = peer.timestamps {
            self.ts_recent = tsval;
            self.ts_recent_at = now;
        }
        self.sack_ok = cfg.sack && peer.sack_permitted;
        let overhead = self.option_overhead() as u16;
        self.snd_mss = self.path_mss.saturating_sub(overhead).max(32);
    }

    /// TS.Recent is older than 24 days: invalid, not used for PAWS (RFC 7323 §5.5).
    pub(crate) fn ts_recent_stale(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.ts_recent_at) > Duration::from_secs(24 * 24 * 3600)
    }

    /// RFC 7323 §5.3 R1: PAWS. A non-RST segment whose TSval is older than TS.Recent is an old
    /// duplicate; once timestamps are agreed, a non-RST segment without them is dropped (§3.2).
    /// `flags` and `timestamps`: the segment's.
    pub(crate) fn paws(
        &self,
        flags: TcpFlags,
        timestamps: Option<(u32, u32)>,
        now: Instant,
    ) -> Paws {
        if !self.ts_ok || flags.contains(TcpFlags::RST) {
            return Paws::Pass;
        }
        let Some((tsval, _)) = timestamps else {
            return Paws::Drop;
        };
        if (tsval.wrapping_sub(self.ts_recent) as i32) < 0 && !self.ts_recent_stale(now) {
            return Paws::AckAndDrop;
        }
        Paws::Pass
    }

    /// RFC 7323 §4.3 / §5.3 R3: take TS.Recent from a segment that starts at or before the
    /// last ACK we sent (`seq`: its sequence number as it arrived, before trimming). Called
    /// only once the segment has passed every check that could discard it — the window
    /// (step 1), RST (step 2), SYN (step 4) and the ACK field (step 5). RFC 7323 Appendix D
    /// updates it in step 5 once the ACK bit is seen on; we wait for the ACK's range checks
    /// too (SEG.ACK > SND.NXT, MAY-12's lower bound), as Linux does (tcp_ack): one forged or
    /// corrupt segment that is then dropped must not move TS.Recent, or PAWS would drop the
    /// peer's genuine segments from then on.
    pub(crate) fn update_ts_recent(&mut self, seq: SeqNum, options: &TcpOptions, now: Instant) {
        if let (true, Some((tsval, _))) = (self.ts_ok, options.timestamps) {
            if (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 && seq <= self.last_ack_sent {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }
    }

    // Read by everything that builds or checks a segment; written only here.

    #[inline]
    pub(crate) fn snd_mss(&self) -> u16 {
        self.snd_mss
    }

    #[inline]
    pub(crate) fn path_mss(&self) -> u16 {
        self.path_mss
    }

    #[inline]
    pub(crate) fn snd_shift(&self) -> u8 {
        self.snd_shift
    }

    #[inline]
    pub(crate) fn rcv_shift(&self) -> u8 {
        self.rcv_shift
    }

    #[inline]
    pub(crate) fn ws_agreed(&self) -> bool {
        self.ws_agreed
    }

    #[inline]
    pub(crate) fn ts_ok(&self) -> bool {
        self.ts_ok
    }

    #[inline]
    pub(crate) fn sack_ok(&self) -> bool {
        self.sack_ok
    }

    #[inline]
    pub(crate) fn ts_recent(&self) -> u32 {
        self.ts_recent
    }

    #[inline]
    pub(crate) fn last_ack_sent(&self) -> SeqNum {
        self.last_ack_sent
    }

    #[inline]
    pub(crate) fn ts_offset(&self) -> u32 {
        self.ts_offset
    }

    /// Last.ACK.sent (RFC 7323 §4.3): a segment acknowledging up to `ack` went out.
    #[inline]
    pub(crate) fn ack_sent(&mut self, ack: SeqNum) {
        self.last_ack_sent = ack;
    }

    /// TS.Recent from a segment the TIME-WAIT rules took (time_wait_rules.rs).
    pub(crate) fn set_ts_recent(&mut self, ts: u32, now: Instant) {
        self.ts_recent = ts;
        self.ts_recent_at = now;
    }

    /// Path MTU discovery lowered the path's MSS (RFC 1191, RFC 8201; icmp.rs): the send MSS
    /// follows, less the option overhead.
    pub(crate) fn lower_path_mss(&mut self, mss: u16) {
        self.path_mss = mss;
        self.snd_mss = mss.saturating_sub(self.option_overhead() as u16).max(32);
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
