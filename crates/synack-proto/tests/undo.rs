//! Spurious retransmission detection and undo, in virtual time against a peer the test plays
//! by hand: Eifel (RFC 3522) with the RFC 4015 response after a timeout, D-SACK (RFC 3708)
//! after a fast retransmit, F-RTO (RFC 5682 §2) without timestamps, and real losses that must
//! not be undone.

mod util;

use synack_proto::{Config, ConnHandle, Duration, State};
use synack_wire::{SackBlocks, TcpFlags, TcpOptions};
use util::*;

/// The MSS the hand peer announces. With timestamps a segment carries 12 octets less, and the
/// sender's SMSS, the unit of cwnd, is that too (RFC 9293 §3.7.1).
const MSS: u32 = 1000;
/// The hand peer's TSval (it never changes: the peer's clock is not under test).
const PEER_TS: u32 = 7_000;
/// The round trip of the handshake: SRTT 100 ms, so RTO is the 1 s floor (RFC 6298 (2.4)).
const RTT: Duration = Duration::from_millis(100);

struct Peer {
    p: Pair,
    c: ConnHandle,
    /// A's ISS + 1: the first data octet.
    base: u32,
    /// Payload of a full segment: the MSS less the 12 octets of timestamps if agreed.
    len: u32,
    ts: bool,
    sack: bool,
}

impl Peer {
    /// A (synack, `cfg`) connected to the hand peer with MSS 1000, window 65535 and the
    /// options `ts` / `sack` agreed.
    fn new(ts: bool, sack: bool, undo: bool) -> Peer {
        Peer::with_config(
            config(A_IP)
                .with_timestamps(ts)
                .with_sack(sack)
                .with_undo(undo),
        )
    }

    /// The same without tail loss probes (RFC 8985 §7): the retransmission timer, not a probe
    /// two round trips in, answers the silence (the timeout tests).
    fn no_tlp(ts: bool, sack: bool, undo: bool) -> Peer {
        Peer::with_config(
            config(A_IP)
                .with_timestamps(ts)
                .with_sack(sack)
                .with_undo(undo)
                .with_tlp(false),
        )
    }

    fn with_config(cfg: Config) -> Peer {
        let (ts, sack) = (cfg.timestamps, cfg.sack);
        let mut p = Pair::with_configs(cfg, config(B_IP));
        let (me, peer) = (addr(A_IP, 40000), addr(B_IP, 80));
        let c = p.a.connect(p.now, me, peer).unwrap();
        let syn = p.one(Side::A);
        p.advance(RTT);
        let options = TcpOptions {
            mss: Some(MSS as u16),
            sack_permitted: sack,
            timestamps: syn.options.timestamps.map(|(tsval, _)| (PEER_TS, tsval)),
            ..TcpOptions::default()
        };
        let syn_ack = packet(
            peer,
            me,
            TcpFlags::SYN | TcpFlags::ACK,
            HAND_PEER_ISN,
            syn.seq.wrapping_add(1),
            65535,
            options,
            b"",
        );
        p.deliver(Side::A, &syn_ack);
        let ack = p.one(Side::A);
        assert_eq!(ack.flags(), ".");
        assert_eq!(p.a.state(c), Some(State::Established));
        Peer {
            p,
            c,
            base: syn.seq.wrapping_add(1),
            len: if ts { MSS - 12 } else { MSS },
            ts,
            sack,
        }
    }

    /// Sequence number of the first octet of segment `i` (0-based).
    fn seg(&self, i: u32) -> u32 {
        self.base.wrapping_add(i * self.len)
    }

    /// The peer's ACK of `ack`, echoing `tsecr`, with SACK blocks `blocks` (first one may be
    /// a D-SACK).
    fn ack(&mut self, ack: u32, tsecr: u32, blocks: &[(u32, u32)]) {
        let mut sack_blocks = SackBlocks::new();
        for &(l, r) in blocks {
            assert!(self.sack);
            sack_blocks.push(l, r);
        }
        let options = TcpOptions {
            timestamps: self.ts.then_some((PEER_TS, tsecr)),
            sack_blocks,
            ..TcpOptions::default()
        };
        let raw = packet(
            addr(B_IP, 80),
            addr(A_IP, 40000),
            TcpFlags::ACK,
            HAND_PEER_ISN.wrapping_add(1),
            ack,
            65535,
            options,
            b"",
        );
        self.p.deliver(Side::A, &raw);
    }

    /// What A sends now, as (seq, payload length, TSval).
    fn sent(&mut self) -> Vec<(u32, u32, u32)> {
        self.p
            .out(Side::A)
            .iter()
            .map(|s| {
                (
                    s.seq,
                    s.payload.len() as u32,
                    s.options.timestamps.map_or(0, |t| t.0),
                )
            })
            .collect()
    }

    /// What A sends once RACK (RFC 8985 §6.3) has decided: at once, or when its reordering
    /// timer expires.
    fn sent_once_rack_decides(&mut self) -> Vec<(u32, u32, u32)> {
        let out = self.sent();
        if !out.is_empty() {
            return out;
        }
        self.p.fire_next_timeout();
        self.sent()
    }

    fn windows(&self) -> (u32, u32) {
        let i = self.p.a.info(self.c).unwrap();
        (i.cwnd, i.ssthresh)
    }

    fn undos(&self) -> (u64, u64) {
        let i = self.p.a.info(self.c).unwrap();
        (i.undos, i.spurious_timeouts)
    }
}

/// A sends `n` segments of new data (the initial window is 10); returns their TSval.
fn send_window(h: &mut Peer, queued: usize, n: u32) -> u32 {
    h.p.a.send(h.c, &vec![b'x'; queued]).unwrap();
    let out = h.sent();
    assert_eq!(out.len() as u32, n, "{out:?}");
    for (i, &(seq, len, _)) in out.iter().enumerate() {
        assert_eq!((seq, len), (h.seg(i as u32), h.len));
    }
    out[0].2
}

/// (a) RFC 3522 + RFC 4015: the timer fires while the window was only delayed. The peer's
/// ACK of the first segment echoes the original's TSval: the timeout was spurious. cwnd and
/// ssthresh go back to what they were before the timeout, A goes on with new data (SND.NXT =
/// SND.MAX, no go-back-N), and the RTO grows to cover the delay.
#[test]
fn delayed_acks_after_a_timeout_undo_it_by_eifel_rfc3522_rfc4015() {
    let mut h = Peer::no_tlp(true, true, true);
    let t0 = send_window(&mut h, 20_000, 10);
    let before = h.windows();
    assert_eq!(before, (10 * h.len, u32::MAX));
    // No ACK comes for 1 s: the retransmission timer fires and resends segment 0.
    let rto = h.p.a.info(h.c).unwrap().rto;
    assert_eq!(rto, Duration::from_secs(1));
    h.p.advance(rto);
    let rexmit = h.sent();
    assert_eq!(rexmit.len(), 1);
    assert_eq!((rexmit[0].0, rexmit[0].1), (h.seg(0), h.len));
    let t1 = rexmit[0].2;
    assert_eq!(t1, t0 + 1_000, "TSval 1 s later");
    assert_eq!(h.windows(), (h.len, 7 * h.len), "RFC 5681 §3.1, RFC 9438 β");
    // The delayed ACK of the original segment 0 arrives: TSecr t0 < t1.
    h.p.advance(Duration::from_millis(10));
    h.ack(h.seg(1), t0, &[]);
    // RFC 4015 (4): cwnd = FlightSize + min(acked, IW) = 9 + 1 segments, the window before;
    // ssthresh = pipe_prev, infinite as before.
    assert_eq!(h.windows(), before);
    assert_eq!(h.undos(), (1, 1));
    // (3): no go-back: the next segment is new data (segment 10), not segment 1 again.
    let next = h.sent();
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0].0, h.seg(10));
    // (5): SRTT from this ACK's sample (1010 ms), RTTVAR half of it: RTO = 3 · 1010 ms.
    let info = h.p.a.info(h.c).unwrap();
    assert_eq!(info.srtt, Some(Duration::from_millis(1_010)));
    assert_eq!(info.rto, Duration::from_millis(3_030));
    // The rest of the delayed ACKs and the D-SACK of the needless retransmission: no second
    // undo, and the window grows from where it was.
    h.ack(h.seg(2), t0, &[(h.seg(0), h.seg(1))]);
    for i in 3..=10 {
        h.ack(h.seg(i), t0, &[]);
    }
    assert_eq!(h.undos(), (1, 1));
    assert!(h.windows().0 > before.0);
    assert!(h.p.a.info(h.c).unwrap().retransmits == 1);
}

/// The same with `Config::undo` off: the timeout's reduction stays and A goes back to
/// SND.UNA (RFC 6298 §5.4), resending what the peer already has.
#[test]
fn without_undo_a_spurious_timeout_keeps_its_reduction() {
    let mut h = Peer::no_tlp(true, true, false);
    let t0 = send_window(&mut h, 20_000, 10);
    h.p.advance(Duration::from_secs(1));
    assert_eq!(h.sent().len(), 1);
    h.p.advance(Duration::from_millis(10));
    h.ack(h.seg(1), t0, &[]);
    assert_eq!(h.windows(), (2 * h.len, 7 * h.len));
    assert_eq!(h.undos(), (0, 0));
    let next = h.sent();
    assert_eq!(
        next.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        vec![(h.seg(1), h.len), (h.seg(2), h.len)],
        "go-back-N"
    );
}

/// (b) RFC 3708: reordering, not loss. Segment 0 is overtaken by 1..4; three duplicate ACKs
/// (with SACK) trigger a fast retransmit; then the original arrives, and the receiver reports
/// the retransmission as a duplicate (D-SACK, RFC 2883). Every retransmission of the episode
/// was D-SACKed: cwnd and ssthresh are restored and recovery ends. No timestamps here, so only
/// D-SACK can tell.
#[test]
fn reordering_fast_retransmit_is_undone_by_dsack_rfc3708() {
    let mut h = Peer::new(false, true, true);
    send_window(&mut h, 10_000, 10);
    let before = h.windows();
    h.p.advance(RTT);
    let una = h.seg(0);
    for i in 1..=3 {
        let sacked = (h.seg(1), h.seg(1 + i));
        h.ack(una, 0, &[sacked]);
    }
    // Fast retransmit of segment 0; ssthresh = cwnd = 0.7 · 10 segments (RFC 6675 §5).
    let rexmit = h.sent();
    assert_eq!(
        rexmit.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        vec![(h.seg(0), h.len)]
    );
    assert_eq!(h.windows(), (7 * h.len, 7 * h.len));
    assert!(h.p.a.info(h.c).unwrap().in_recovery);
    // The late original fills the hole (ACK of 0..4): a partial ACK. RACK (RFC 8985 §9.3)
    // sends no rescue retransmission: nothing goes out.
    h.ack(h.seg(4), 0, &[]);
    assert_eq!(h.sent(), vec![]);
    assert_eq!(h.undos(), (0, 0));
    // The retransmission of segment 0 arrives and is D-SACKed: the episode's only one.
    h.ack(h.seg(4), 0, &[(h.seg(0), h.seg(1))]);
    assert_eq!(h.windows(), before);
    assert_eq!(h.undos(), (1, 0));
    let info = h.p.a.info(h.c).unwrap();
    assert!(!info.in_recovery);
    assert_eq!((info.fast_retransmits, info.retransmits), (1, 1));
}

/// Reordering with a retransmission that really was needed beside a needless one: segment 0
/// is late, segment 5 lost; both are retransmitted. Only segment 0's retransmission is
/// D-SACKed, so nothing is undone.
#[test]
fn dsack_of_only_some_retransmissions_does_not_undo_rfc3708() {
    let mut h = Peer::new(false, true, true);
    send_window(&mut h, 10_000, 10);
    h.p.advance(RTT);
    h.ack(h.seg(0), 0, &[(h.seg(6), h.seg(10)), (h.seg(1), h.seg(5))]);
    let seqs: Vec<u32> = h.sent_once_rack_decides().iter().map(|s| s.0).collect();
    assert_eq!(seqs, vec![h.seg(0), h.seg(5)]);
    h.ack(h.seg(5), 0, &[(h.seg(6), h.seg(10))]);
    h.ack(h.seg(5), 0, &[(h.seg(0), h.seg(1)), (h.seg(6), h.seg(10))]);
    assert_eq!(h.undos(), (0, 0));
    h.ack(h.seg(10), 0, &[]);
    assert_eq!(h.windows(), (7 * h.len, 7 * h.len));
    assert_eq!(h.undos(), (0, 0));
}

/// RFC 3522 after a fast retransmit: with timestamps the ACK of the late original already
/// shows the retransmission was needless (TSecr echoes the original's TSval).
#[test]
fn reordering_fast_retransmit_is_undone_by_eifel_rfc3522() {
    let mut h = Peer::new(true, true, true);
    let t0 = send_window(&mut h, 10_000, 10);
    let before = h.windows();
    h.p.advance(RTT);
    for i in 1..=3 {
        let sacked = (h.seg(1), h.seg(1 + i));
        h.ack(h.seg(0), PEER_TS, &[sacked]);
    }
    let rexmit = h.sent();
    assert_eq!(rexmit.len(), 1);
    assert_eq!(rexmit[0].2, t0 + 100);
    assert_eq!(h.windows(), (7 * h.len, 7 * h.len));
    h.ack(h.seg(4), t0, &[]);
    assert_eq!(h.windows(), before);
    assert_eq!(h.undos(), (1, 0));
    assert!(!h.p.a.info(h.c).unwrap().in_recovery);
}

/// (c) A real loss is not undone: segment 0 is lost, the fast retransmit repairs it, and the
/// ACK that covers it echoes the retransmission's TSval (RFC 3522 §3.2: TSecr not older).
#[test]
fn real_loss_after_fast_retransmit_is_not_undone() {
    let mut h = Peer::new(true, true, true);
    let t0 = send_window(&mut h, 10_000, 10);
    h.p.advance(RTT);
    for i in 1..=3 {
        let sacked = (h.seg(1), h.seg(1 + i));
        h.ack(h.seg(0), PEER_TS, &[sacked]);
    }
    let t1 = h.sent()[0].2;
    assert!(t1 > t0);
    // The rest arrives (more duplicate ACKs), then the retransmission fills the hole.
    for i in 4..=9 {
        let sacked = (h.seg(1), h.seg(1 + i));
        h.ack(h.seg(0), PEER_TS, &[sacked]);
    }
    h.sent();
    h.p.advance(RTT);
    h.ack(h.seg(10), t1, &[]);
    assert_eq!(
        h.windows(),
        (7 * h.len, 7 * h.len),
        "recovery's reduction stays"
    );
    assert_eq!(h.undos(), (0, 0));
}

/// A timeout that was needed (the window was lost): the ACK of the retransmission echoes its
/// own TSval, and nothing is undone; the go-back-N goes on in slow start.
#[test]
fn real_loss_after_a_timeout_is_not_undone() {
    let mut h = Peer::no_tlp(true, true, true);
    send_window(&mut h, 10_000, 10);
    h.p.advance(Duration::from_secs(1));
    let t1 = h.sent()[0].2;
    h.p.advance(RTT);
    h.ack(h.seg(1), t1, &[]);
    assert_eq!(h.windows(), (2 * h.len, 7 * h.len));
    assert_eq!(h.undos(), (0, 0));
    let next = h.sent();
    assert_eq!(
        next.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![h.seg(1), h.seg(2)]
    );
}

/// F-RTO (RFC 5682 §2.1), no timestamps: after the timeout's retransmission the first ACK
/// advances SND.UNA: A sends two new segments instead of going back (step 2b); the next ACK
/// acknowledges data never retransmitted: the timeout was spurious (step 3b), undone per
/// RFC 4015.
#[test]
fn frto_detects_a_spurious_timeout_without_timestamps_rfc5682() {
    let mut h = Peer::new(false, false, true);
    send_window(&mut h, 20_000, 10);
    h.p.advance(Duration::from_secs(1));
    let rexmit = h.sent();
    assert_eq!((rexmit.len(), rexmit[0].0), (1, h.seg(0)));
    h.p.advance(Duration::from_millis(10));
    h.ack(h.seg(1), 0, &[]);
    let new = h.sent();
    assert_eq!(
        new.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        vec![(h.seg(10), h.len), (h.seg(11), h.len)],
        "step 2b: new data, not segment 1 again"
    );
    assert_eq!(h.undos(), (0, 0));
    h.ack(h.seg(2), 0, &[]);
    assert_eq!(h.undos(), (1, 1));
    // RFC 4015 (4): FlightSize (10 segments: 2..11) + 1 acknowledged; ssthresh back.
    assert_eq!(h.windows(), (11 * h.len, u32::MAX));
    let next = h.sent();
    assert_eq!(
        next.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![h.seg(12)]
    );
}

/// F-RTO when the timeout was real: segments 0..2 were lost. The retransmission of 0 draws an
/// ACK of 1 (step 2b sends new data), then the new data draws a duplicate ACK: conventional
/// recovery (step 3a), cwnd 3 segments, going back to SND.UNA.
#[test]
fn frto_falls_back_to_go_back_n_on_a_real_loss_rfc5682() {
    let mut h = Peer::new(false, false, true);
    send_window(&mut h, 20_000, 10);
    h.p.advance(Duration::from_secs(1));
    assert_eq!(h.sent().len(), 1);
    h.p.advance(RTT);
    h.ack(h.seg(1), 0, &[]);
    assert_eq!(h.sent().len(), 2);
    h.ack(h.seg(1), 0, &[]);
    assert_eq!(h.undos(), (0, 0));
    assert_eq!(h.windows(), (3 * h.len, 7 * h.len));
    let next = h.sent();
    assert_eq!(
        next.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![h.seg(1), h.seg(2), h.seg(3)]
    );
}

/// Reordering and a real loss in the same window: segment 0 is late, segment 5 lost. The late
/// original's ACK echoes an old TSval, but it does not cover the lost segment, which the
/// scoreboard already counts lost (three segments SACKed above it): recovery and its reduction
/// stay, and the ACK of segment 5's retransmission echoes that retransmission.
#[test]
fn eifel_keeps_the_reduction_when_the_window_also_lost_a_segment() {
    let mut h = Peer::new(true, true, true);
    let queued = 10 * h.len as usize;
    let t0 = send_window(&mut h, queued, 10);
    h.p.advance(RTT);
    // One duplicate ACK SACKing all but 0 and 5: both are lost (RACK, once its reordering
    // window has passed).
    h.ack(
        h.seg(0),
        PEER_TS,
        &[(h.seg(6), h.seg(10)), (h.seg(1), h.seg(5))],
    );
    let out = h.sent_once_rack_decides();
    assert!(h.p.a.info(h.c).unwrap().in_recovery);
    let seqs: Vec<u32> = out.iter().map(|s| s.0).collect();
    assert_eq!(seqs, vec![h.seg(0), h.seg(5)], "both holes retransmitted");
    let t5 = out[1].2;
    // The late original of segment 0: everything up to the hole at 5, TSecr t0.
    h.ack(h.seg(5), t0, &[(h.seg(6), h.seg(10))]);
    assert_eq!(h.undos(), (0, 0));
    assert!(h.p.a.info(h.c).unwrap().in_recovery);
    h.ack(h.seg(10), t5, &[]);
    assert_eq!(h.undos(), (0, 0));
    assert_eq!(h.windows(), (7 * h.len, 7 * h.len));
}

/// Eifel without SACK (NewReno, RFC 6582): eight duplicate ACKs inflate the recovery window
/// to ssthresh + 8 segments; the late original's ACK (TSecr older than the retransmission)
/// is a partial ACK of two segments, which deflates it only to 14. Undone: recovery ends and
/// cwnd is the window from before, not the inflated one (the inflation is recovery's).
#[test]
fn newreno_fast_retransmit_undone_by_eifel_without_its_inflation() {
    let mut h = Peer::new(true, false, true);
    let t0 = send_window(&mut h, 10 * 988, 10);
    let before = h.windows();
    h.p.advance(RTT);
    for _ in 0..8 {
        h.ack(h.seg(0), PEER_TS, &[]);
    }
    let rexmit = h.sent();
    assert_eq!(
        rexmit.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![h.seg(0)]
    );
    // RFC 5681 §3.2: ssthresh + 3 segments, plus one per further duplicate ACK.
    assert_eq!(h.windows(), (15 * h.len, 7 * h.len));
    h.ack(h.seg(2), t0, &[]);
    assert_eq!(h.windows(), before);
    assert_eq!(h.undos(), (1, 0));
    assert!(!h.p.a.info(h.c).unwrap().in_recovery);
}
