//! Which loss-recovery mechanism sent a retransmission, named from the capture alone: RACK-TLP's
//! tail loss probes (RFC 8985 §7) and RACK's early retransmissions (RFC 8985 §6). These are
//! notes on top of Wireshark's flags ([`crate::analysis`]), never instead of them: a probe is
//! still a `retransmission`, so the comparison with tshark is untouched.
//!
//! A capture does not say why a segment was sent, so each rule names a mechanism only where
//! the capture rules the others out, and leaves the segment a plain retransmission otherwise:
//!
//! - **Tail loss probe**: a retransmission whose end is the highest sequence number the sender
//!   has sent (it repeats the *last* segment), while the peer has sent no duplicate ACK and no
//!   SACK block since its cumulative ACK last advanced, the first retransmission since then
//!   (RFC 8985 §7.3: one probe per flight), and not in loss recovery (§7.2: no probe is
//!   scheduled then) — i.e. not before the peer has acknowledged everything sent up to the
//!   sender's last other retransmission. A Linux capture showed why: a lost retransmission of a
//!   lone tail in recovery, resent by the timer 208 ms later, looks like a probe otherwise. The retransmission timer resends from SND.UNA (RFC
//!   6298 (5.4)), so a resend that starts above the peer's cumulative ACK is a probe. When it
//!   starts at SND.UNA (one segment outstanding, probe and timeout resend the same bytes) it is
//!   called a probe only if it left less than [`RTO_FLOOR_RFC`] (RFC 6298 (2.4)'s 1 s minimum
//!   RTO) after the timer could have started; a stack with a lower floor and no TLP (Linux with
//!   `tcp_early_retrans` off) would have its first timeout of a lone segment misnamed.
//! - **RACK retransmission**: a retransmission of a hole below data the peer SACKed, sent after
//!   fewer than three ACKs reporting SACKed data since the peer's ACKs last had no SACK block
//!   above the cumulative ACK (the classic rule, RFC 5681 §3.2 / RFC 6675, needs three; Wireshark
//!   calls only the fast ones "fast retransmission"), and less than [`RTO_FLOOR_LOW`] after the
//!   timer could have started, so it cannot be a timeout.
//!
//! "The timer could have started" is the later of the peer's last cumulative-ACK advance and
//! the first send after everything was acknowledged (RFC 6298 (5.1), (5.3)); a timeout
//! retransmission leaves at least the minimum RTO after it. After a segment that looks like a
//! timeout (a resend from SND.UNA that is neither a probe nor a fast retransmission, at least
//! [`RTO_FLOOR_LOW`] after that), nothing is named until the peer acknowledges everything sent
//! up to it: the go-back-N resends that follow a timeout are neither probes nor RACK's.

use crate::analysis::{dir_of, Analysis};
use crate::segments::{Connection, ACK, RST, SYN};

/// RFC 6298 (2.4): the minimum RTO (synack's default `min_rto`).
const RTO_FLOOR_RFC: u64 = 1_000_000_000;
/// The lowest minimum RTO of common stacks (Linux's `TCP_RTO_MIN`, 200 ms).
const RTO_FLOOR_LOW: u64 = 200_000_000;

fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
fn le(a: u32, b: u32) -> bool {
    a == b || lt(a, b)
}

/// One side of the connection, both as a data sender and as an ACK sender.
#[derive(Clone, Copy, Default)]
struct Side {
    // What it sent (absolute sequence numbers).
    /// End of the highest sequence space sent so far.
    high: Option<u32>,
    /// The earliest its retransmission timer could have been started.
    timer_from: u64,
    /// A retransmission since the peer's cumulative ACK last advanced.
    resent: bool,
    /// A timeout-like resend happened; nothing is named until the peer acknowledges this.
    rto_until: Option<u32>,
    /// In loss recovery (a retransmission other than a probe) until the peer acknowledges this.
    recovery_until: Option<u32>,
    // What it acknowledged (the peer's sequence space).
    /// Highest cumulative ACK sent.
    una: Option<u32>,
    /// A duplicate ACK or a SACK block above `una` since `una` last advanced.
    loss_signal: bool,
    /// Highest left edge of a SACK block above `una` since `una` last advanced.
    sacked_left: Option<u32>,
    /// ACKs with a SACK block above their cumulative ACK since the last one without.
    sack_acks: u32,
}

/// Set `tail_loss_probe` and `rack_retransmission` on the analysis's segments.
pub(crate) fn name_recovery(conn: &Connection, an: &mut Analysis) {
    let mut side = [Side::default(); 2];
    for (i, s) in conn.segments.iter().enumerate() {
        let f = dir_of(conn, s);
        let r = 1 - f;
        let now = s.ts_ns;
        if s.has(RST) {
            continue;
        }
        // As an acknowledgment of the peer's data.
        if s.has(ACK) {
            let me = &mut side[f];
            if me.una.is_none_or(|u| lt(u, s.ack)) {
                me.una = Some(s.ack);
                me.loss_signal = false;
                me.sacked_left = None;
                let peer = &mut side[r];
                peer.timer_from = now;
                peer.resent = false;
                if peer.rto_until.is_some_and(|p| le(p, s.ack)) {
                    peer.rto_until = None;
                }
                if peer.recovery_until.is_some_and(|p| le(p, s.ack)) {
                    peer.recovery_until = None;
                }
            }
            let una = side[f].una.unwrap_or(s.ack);
            let me = &mut side[f];
            let mut above = false;
            for &(l, rr) in &s.sack {
                if lt(una, rr) {
                    above = true;
                    me.sacked_left =
                        Some(me.sacked_left.map_or(l, |m| if lt(m, l) { l } else { m }));
                }
            }
            me.loss_signal |= above || an.flags[i].dup_ack.is_some();
            me.sack_acks = if above { me.sack_acks + 1 } else { 0 };
        }
        // As data.
        let len = s.seg_len();
        if len == 0 || s.has(SYN) {
            continue;
        }
        let end = s.seq.wrapping_add(len);
        let peer_una = side[r].una;
        let a = &an.flags[i];
        let plain_resend = a.retransmission
            && !a.fast_retransmission
            && !a.spurious_retransmission
            && !a.zero_window_probe
            && !a.keep_alive;
        if plain_resend {
            if let Some(una) = peer_una.filter(|&u| lt(u, end)) {
                let me = side[f];
                let since_timer = now.saturating_sub(me.timer_from);
                let from_una = le(s.seq, una);
                let quiet = !side[r].loss_signal
                    && !me.resent
                    && me.rto_until.is_none()
                    && me.recovery_until.is_none();
                let probe =
                    quiet && me.high == Some(end) && (!from_una || since_timer < RTO_FLOOR_RFC);
                let hole = side[r]
                    .sacked_left
                    .is_some_and(|l| le(end, l) && le(una, s.seq));
                let rack = !probe
                    && hole
                    && side[r].sack_acks < 3
                    && me.rto_until.is_none()
                    && since_timer < RTO_FLOOR_LOW;
                if !probe && !rack && from_una && since_timer >= RTO_FLOOR_LOW {
                    side[f].rto_until = me.high;
                }
                if !probe && me.recovery_until.is_none() {
                    side[f].recovery_until = me.high;
                }
                an.flags[i].tail_loss_probe = probe;
                an.flags[i].rack_retransmission = rack;
            }
            side[f].resent = true;
        } else if a.retransmission || a.spurious_retransmission {
            side[f].resent = true;
            if a.fast_retransmission && side[f].recovery_until.is_none() {
                side[f].recovery_until = side[f].high;
            }
        }
        // What it has sent; a first send with nothing outstanding starts the timer.
        let me = &mut side[f];
        let idle = match (me.high, peer_una) {
            (Some(h), Some(u)) => le(h, u),
            (None, _) => true,
            _ => false,
        };
        if me.high.is_none_or(|h| lt(h, end)) {
            if idle {
                me.timer_from = now;
            }
            me.high = Some(end);
        }
    }
}
