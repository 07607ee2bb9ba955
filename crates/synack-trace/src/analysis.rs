//! Per-segment analysis of one captured connection: the flags Wireshark's TCP analysis sets
//! (`tcp.analysis.*`), computed by the same rules so the two agree frame by frame, plus what a
//! ladder needs that Wireshark does not say: which segments were probably lost after the
//! capture point, and acknowledgment round-trip samples.
//!
//! Sequence numbers here are relative to each direction's base (its ISN, or one before the
//! first sequence number seen when the capture starts mid-connection) and, as in Wireshark,
//! 0 means "not seen yet".

use crate::segments::{CapturedSegment, Connection, ACK, FIN, RST, SYN};

/// What the analysis says about one segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegFlags {
    /// Carries sequence space sent before (includes fast and spurious ones' original marking,
    /// as `tcp.analysis.retransmission` does for fast retransmissions).
    pub retransmission: bool,
    pub fast_retransmission: bool,
    pub spurious_retransmission: bool,
    pub out_of_order: bool,
    /// `tcp.analysis.lost_segment`: sequence space before this segment was never captured.
    pub previous_not_captured: bool,
    /// `tcp.analysis.ack_lost_segment`: acknowledges data never captured.
    pub acked_unseen: bool,
    /// Duplicate ACK number n (1-based) of the same ACK.
    pub dup_ack: Option<u32>,
    pub zero_window: bool,
    pub zero_window_probe: bool,
    pub zero_window_probe_ack: bool,
    pub window_update: bool,
    pub window_full: bool,
    pub keep_alive: bool,
    pub keep_alive_ack: bool,
    /// Not Wireshark's: the segment was probably lost between the capture point and its
    /// receiver (it was sent again before anything acknowledged it, and no D-SACK later said
    /// it had arrived).
    pub lost_after_capture: bool,
    /// Not Wireshark's: a RACK-TLP tail loss probe (RFC 8985 §7) — see [`crate::recovery`].
    pub tail_loss_probe: bool,
    /// Not Wireshark's: a RACK retransmission (RFC 8985 §6), a hole below SACKed data resent
    /// on fewer than three duplicate ACKs — see [`crate::recovery`].
    pub rack_retransmission: bool,
}

#[derive(Clone, Copy, Default)]
struct Dir {
    base: Option<u32>,
    nextseq: u32,
    nextseq_ns: u64,
    maxseqtobeacked: u32,
    lastack: u32,
    lastack_ns: u64,
    window: u32,
    dupacknum: u32,
    last_keepalive: bool,
    last_zwp: bool,
    wscale: Option<u8>,
}

fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
fn le(a: u32, b: u32) -> bool {
    a == b || lt(a, b)
}
fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}

/// The whole analysis of a connection.
pub struct Analysis {
    pub flags: Vec<SegFlags>,
    /// Each direction's base sequence number (index 0 = from `conn.a`).
    pub base: [Option<u32>; 2],
    /// Round-trip samples (ns): time from a data segment (first transmission) to the first ACK
    /// covering it, per direction of the data.
    pub rtt_samples: [Vec<u64>; 2],
}

pub fn dir_of(conn: &Connection, s: &CapturedSegment) -> usize {
    usize::from(s.src != conn.a)
}

/// Run the analysis over the connection's segments in capture order.
pub fn analyse(conn: &Connection) -> Analysis {
    let segs = &conn.segments;
    let mut d = [Dir::default(), Dir::default()];
    let mut out = Vec::with_capacity(segs.len());
    let mut mru_syn_ns: Option<u64> = None;
    let mut first_rtt: Option<u64> = None;
    // Window scaling applies once both SYNs carried the option.
    for s in segs.iter().filter(|s| s.has(SYN)) {
        let i = dir_of(conn, s);
        if d[i].wscale.is_none() {
            d[i].wscale = Some(s.wscale.map_or(255, |w| w.min(14)));
        }
    }
    let scaling = d.iter().all(|x| x.wscale.is_some_and(|w| w != 255));

    for s in segs {
        let f = dir_of(conn, s);
        let r = 1 - f;
        let now = s.ts_ns;
        // Handshake RTT as Wireshark measures it.
        if s.flags & (SYN | ACK) == SYN {
            mru_syn_ns = Some(now);
        }
        if s.flags & (SYN | ACK) == ACK && first_rtt.is_none() {
            if let Some(t) = mru_syn_ns {
                first_rtt = Some(now.saturating_sub(t));
            }
        }
        if d[f].base.is_none() {
            d[f].base = Some(if s.has(SYN) {
                s.seq
            } else {
                s.seq.wrapping_sub(1)
            });
        }
        if s.has(ACK) && d[r].base.is_none() {
            d[r].base = Some(s.ack.wrapping_sub(1));
        }
        let seq = s.seq.wrapping_sub(d[f].base.unwrap_or(0));
        let ack = if s.has(ACK) {
            s.ack.wrapping_sub(d[r].base.unwrap_or(0))
        } else {
            0
        };
        let seglen = s.len;
        let flags = s.flags;
        let shift = if scaling && !s.has(SYN) {
            d[f].wscale.unwrap_or(0)
        } else {
            0
        };
        let window = u32::from(s.win) << shift;
        let mut a = SegFlags::default();
        let no_sfr = flags & (SYN | FIN | RST) == 0;

        'fwd: {
            // Zero window probe: one byte at the next sequence number into a zero window.
            if seglen == 1 && seq == d[f].nextseq && d[r].window == 0 && d[r].nextseq != 0 {
                a.zero_window_probe = true;
                break 'fwd;
            }
            if window == 0 && flags & (RST | FIN | SYN) == 0 {
                a.zero_window = true;
            }
            if d[f].nextseq != 0 && gt(seq, d[f].nextseq) && flags & RST == 0 {
                a.previous_not_captured = true;
            }
            if seglen <= 1 && seq == d[f].nextseq.wrapping_sub(1) && no_sfr && d[f].nextseq != 0 {
                a.keep_alive = true;
            }
            if seglen == 0
                && window != 0
                && window != d[f].window
                && seq == d[f].nextseq
                && ack == d[f].lastack
                && no_sfr
            {
                a.window_update = true;
            }
            if seglen > 0
                && d[r].lastack != 0
                && seq.wrapping_add(seglen) == d[r].lastack.wrapping_add(d[r].window)
            {
                a.window_full = true;
            }
            let same = seglen == 0 && seq == d[f].nextseq && ack == d[f].lastack && no_sfr;
            if same && window != 0 && window == d[f].window && d[r].last_keepalive {
                a.keep_alive_ack = true;
                break 'fwd;
            }
            if same && window == 0 && window == d[f].window && d[r].last_zwp {
                a.zero_window_probe_ack = true;
                break 'fwd;
            }
            if same && window != 0 && window == d[f].window {
                d[f].dupacknum += 1;
                a.dup_ack = Some(d[f].dupacknum);
            }
        }
        // Wireshark 4 keeps counting across segments that carry data but the same ACK (an
        // ACK piggybacked on data in the other direction is still the same ACK).
        if a.dup_ack.is_none() && ack != d[f].lastack {
            d[f].dupacknum = 0;
        }
        if d[r].maxseqtobeacked != 0 && gt(ack, d[r].maxseqtobeacked) && flags & ACK != 0 {
            a.acked_unseen = true;
        }

        // Retransmission, fast retransmission, out of order, spurious retransmission.
        if (seglen > 0 || flags & (SYN | FIN) != 0) && !a.keep_alive {
            let not_advanced = d[f].nextseq != 0 && lt(seq, d[f].nextseq);
            let since_ack = now.saturating_sub(d[r].lastack_ns);
            let since_next = now.saturating_sub(d[f].nextseq_ns);
            let ooo_thres = first_rtt.filter(|&t| t > 0).unwrap_or(3_000_000);
            if not_advanced && d[r].dupacknum >= 2 && d[r].lastack == seq && since_ack < 20_000_000
            {
                a.fast_retransmission = true;
                a.retransmission = true;
            } else if seglen > 0 && d[r].lastack != 0 && le(seq.wrapping_add(seglen), d[r].lastack)
            {
                // Wireshark reports these as retransmissions too.
                a.spurious_retransmission = true;
                a.retransmission = true;
            } else if not_advanced
                && since_next < ooo_thres
                && d[f].nextseq != seq.wrapping_add(seglen)
            {
                a.out_of_order = true;
            } else if not_advanced {
                a.retransmission = true;
            }
        }

        // Update what this direction has sent and acknowledged.
        let mut nextseq = seq.wrapping_add(seglen);
        if flags & (SYN | FIN) != 0 {
            nextseq = nextseq.wrapping_add(1);
        }
        if (gt(nextseq, d[f].nextseq) || d[f].nextseq == 0) && !a.zero_window_probe {
            d[f].nextseq = nextseq;
            d[f].nextseq_ns = now;
        }
        if (seq == d[f].maxseqtobeacked || d[f].maxseqtobeacked == 0) && !a.zero_window_probe {
            d[f].maxseqtobeacked = d[f].nextseq;
        }
        d[f].window = window;
        d[f].lastack = ack;
        d[f].lastack_ns = now;
        d[f].last_keepalive = a.keep_alive;
        d[f].last_zwp = a.zero_window_probe;
        out.push(a);
    }

    let mut an = Analysis {
        flags: out,
        base: [d[0].base, d[1].base],
        rtt_samples: [Vec::new(), Vec::new()],
    };
    losses_and_rtt(conn, &mut an);
    crate::recovery::name_recovery(conn, &mut an);
    an
}

/// Mark segments probably lost after the capture point, and collect RTT samples.
fn losses_and_rtt(conn: &Connection, an: &mut Analysis) {
    let segs = &conn.segments;
    for (i, s) in segs.iter().enumerate() {
        let len = s.seg_len();
        if len == 0 || s.has(RST) {
            continue;
        }
        let f = dir_of(conn, s);
        let (start, end) = (s.seq, s.seq.wrapping_add(len));
        let covers = |o: &CapturedSegment| {
            le(o.seq, start) && lt(start, o.seq.wrapping_add(o.seg_len().max(1)))
        };
        // The first later segment from the other side acknowledging it, the first later copy.
        let mut acked_at: Option<usize> = None;
        let mut resent_at: Option<usize> = None;
        for (j, o) in segs.iter().enumerate().skip(i + 1) {
            if dir_of(conn, o) == f {
                // In a simultaneous open the SYN-ACK repeats the SYN: not a resend.
                let simultaneous = s.flags & (SYN | ACK) == SYN
                    && o.flags & (SYN | ACK) == SYN | ACK
                    && segs[..j]
                        .iter()
                        .any(|p| dir_of(conn, p) != f && p.flags & (SYN | ACK) == SYN);
                if resent_at.is_none()
                    && covers(o)
                    && o.seg_len() > 0
                    && !o.has(RST)
                    && !simultaneous
                {
                    resent_at = Some(j);
                }
            } else {
                let acks = o.has(ACK) && le(end, o.ack);
                let sacks = o
                    .sack
                    .iter()
                    .any(|&(l, r)| le(l, start) && le(end, r) && lt(o.ack, r));
                if acks || sacks {
                    acked_at = Some(j);
                    break;
                }
            }
        }
        match (resent_at, acked_at) {
            (Some(rj), ack) if ack.is_none_or(|a| a > rj) => {
                // Sent again before any acknowledgment: lost, unless D-SACKs (a first SACK
                // block below the cumulative ACK) later report every copy but one as received
                // twice. Copies are counted: a loss-recovery algorithm that resends a range
                // twice (RACK, when an ACK and a SACK block were lost) sends three, and one
                // D-SACK then leaves one copy unaccounted for.
                let dsacks = segs[rj..]
                    .iter()
                    .filter(|o| {
                        dir_of(conn, o) != f
                            && o.sack
                                .first()
                                .is_some_and(|&(l, r)| le(r, o.ack) && le(l, start) && le(end, r))
                    })
                    .count();
                let copies = 1 + segs[rj..]
                    .iter()
                    .filter(|o| dir_of(conn, o) == f && covers(o) && o.seg_len() > 0 && !o.has(RST))
                    .count();
                if dsacks + 1 < copies {
                    an.flags[i].lost_after_capture = true;
                }
            }
            (_, Some(aj)) => {
                // Karn: no sample from a segment that is itself a retransmission.
                let a = &an.flags[i];
                if !a.retransmission && !a.spurious_retransmission && s.len > 0 {
                    an.rtt_samples[f].push(segs[aj].ts_ns.saturating_sub(s.ts_ns));
                }
            }
            _ => {}
        }
    }
}
