//! RACK-TLP (RFC 8985, rack.rs) on the wire, in virtual time: a link with a one-way delay
//! carries every segment, and each test drops or delays exactly the ones it names, then
//! asserts what went out when — the probe, the retransmissions, their times — and the
//! sender's counters and window.

mod util;

use std::collections::BTreeMap;

use synack_proto::congestion::Algorithm;
use synack_proto::{Config, ConnHandle, Duration, Instant};
use synack_wire::TcpFlags;
use util::*;

const ONE_WAY: Duration = Duration::from_millis(10);
const MSS: u32 = 1448;

/// What the link did with one segment.
#[derive(Clone, Debug)]
struct Sent {
    at: Instant,
    side: Side,
    seg: Seg,
    dropped: bool,
}

/// A link with `ONE_WAY` delay both ways, plus a per-segment fate: `None` drops it, `Some(d)`
/// delays it `d` beyond the link's delay.
struct Link {
    p: Pair,
    in_flight: BTreeMap<(Instant, u64), (Side, Vec<u8>)>,
    n: u64,
    log: Vec<Sent>,
}

impl Link {
    fn new(a: Config, b: Config) -> Link {
        Link {
            p: Pair::with_configs(a, b),
            in_flight: BTreeMap::new(),
            n: 0,
            log: Vec::new(),
        }
    }

    /// Run until `until` (virtual time), every segment's fate decided by `fate`.
    fn run(&mut self, until: Instant, mut fate: impl FnMut(Side, &Seg) -> Option<Duration>) {
        loop {
            for side in [Side::A, Side::B] {
                for seg in self.p.out(side) {
                    let f = fate(side, &seg);
                    self.log.push(Sent {
                        at: self.p.now,
                        side,
                        seg: seg.clone(),
                        dropped: f.is_none(),
                    });
                    if let Some(extra) = f {
                        let to = if side == Side::A { Side::B } else { Side::A };
                        self.n += 1;
                        self.in_flight
                            .insert((self.p.now + ONE_WAY + extra, self.n), (to, seg.raw));
                    }
                }
            }
            let arrival = self.in_flight.keys().next().map(|k| k.0);
            let next = match (arrival, self.p.next_timeout()) {
                (Some(x), Some(y)) => x.min(y),
                (x, y) => match x.or(y) {
                    Some(t) => t,
                    None => return,
                },
            };
            if next > until {
                return;
            }
            self.p.advance_to(next);
            while let Some(entry) = self.in_flight.first_entry() {
                if entry.key().0 > next {
                    break;
                }
                let (to, raw) = entry.remove();
                self.p.deliver(to, &raw);
            }
        }
    }

    /// The handshake across the link (20 ms round trip), then one 1000-byte exchange each
    /// way so both sides have round-trip samples of 20 ms.
    fn establish(&mut self) -> (ConnHandle, ConnHandle) {
        self.p.b.listen(addr(B_IP, 80), None).unwrap();
        let c = self
            .p
            .a
            .connect(self.p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
        let t = self.p.now + Duration::from_millis(100);
        self.run(t, |_, _| Some(Duration::ZERO));
        let s = self.p.b.accept(addr(B_IP, 80)).expect("established");
        self.p.a.send(c, &[1; 1000]).unwrap();
        let t = self.p.now + Duration::from_millis(100);
        self.run(t, |_, _| Some(Duration::ZERO));
        let mut buf = [0u8; 2000];
        assert_eq!(self.p.b.recv(s, &mut buf).unwrap(), 1000);
        self.log.clear();
        (c, s)
    }

    /// A's data segments (payload or FIN) after the handshake, in the order they went.
    fn a_data(&self) -> Vec<&Sent> {
        self.log
            .iter()
            .filter(|s| s.side == Side::A && s.seg.len() > 0)
            .collect()
    }
}

fn cfg(ip: std::net::Ipv4Addr) -> Config {
    modern_config(ip)
        .with_delayed_ack(None)
        .with_congestion(Algorithm::Cubic)
        .with_hystart(false)
}

/// The ten-segment flight of each test: A's data after the first 1000 bytes.
fn ten_segments(l: &mut Link, c: ConnHandle) -> u32 {
    let base = l.p.a.info(c).unwrap().snd_nxt.get();
    l.p.a.send(c, &vec![7u8; 10 * MSS as usize]).unwrap();
    base
}

/// RFC 8985 §7: the last segment of a response is lost, and no ACK will ever say so. The
/// probe timeout — two round trips, plus the worst-case delayed ACK (200 ms) as one segment
/// is left in flight — runs out 240 ms after the ninth segment's ACK; the probe resends the
/// last segment, its ACK completes the transfer, and the loss it repaired costs one window
/// reduction (§7.4). No retransmission timeout (1 s here).
#[test]
fn rfc8985_7_a_lost_tail_is_repaired_by_a_probe_two_round_trips_after_the_last_ack() {
    let mut l = Link::new(cfg(A_IP), cfg(B_IP));
    let (c, _s) = l.establish();
    let base = ten_segments(&mut l, c);
    let last = base + 9 * MSS;
    let mut first = true;
    let mut fate = move |side: Side, seg: &Seg| {
        let tail = side == Side::A && seg.seq == last && first;
        first &= !tail;
        (!tail).then_some(Duration::ZERO)
    };
    // Up to just after the probe has gone (two round trips and 200 ms after the ninth ACK,
    // 20 ms after the flight left): the window the probe's ACK will reduce.
    l.run(l.p.now + Duration::from_millis(261), &mut fate);
    assert_eq!(l.a_data().len(), 11, "the probe has gone");
    let cwnd = l.p.a.info(c).unwrap().cwnd;
    l.run(l.p.now + Duration::from_secs(3), &mut fate);
    let data = l.a_data();
    assert_eq!(data.len(), 11, "ten segments and one probe: {data:#?}");
    let probe = data[10];
    assert_eq!(
        (probe.seg.seq, probe.seg.payload.len(), probe.seg.flags),
        (last, MSS as usize, TcpFlags::ACK | TcpFlags::PSH)
    );
    // The ninth segment's ACK reached A one round trip after the ninth went out.
    let ninth_acked = data[8].at + 2 * ONE_WAY;
    assert_eq!(
        probe.at - ninth_acked,
        Duration::from_millis(2 * 20 + 200),
        "PTO = 2·SRTT + WCDelAckT"
    );
    let info = l.p.a.info(c).unwrap();
    assert_eq!(info.snd_una.get(), base + 10 * MSS, "all acknowledged");
    assert_eq!(
        (info.tlp_probes, info.tlp_repairs, info.timeouts),
        (1, 1, 0)
    );
    assert_eq!(info.ssthresh, cwnd * 7 / 10, "one CUBIC reduction");
    assert_eq!(info.cwnd, info.ssthresh);
}

/// RFC 8985 §7.4: the same probe, but the tail arrived and only its ACK was lost: the
/// receiver reports the probe as a duplicate (D-SACK). Nothing was lost, cwnd stands.
#[test]
fn rfc8985_7_4_a_probe_reported_as_a_duplicate_infers_no_loss() {
    let mut l = Link::new(cfg(A_IP), cfg(B_IP));
    let (c, _s) = l.establish();
    let base = ten_segments(&mut l, c);
    let end = base + 10 * MSS;
    let mut first = true;
    l.run(l.p.now + Duration::from_secs(3), |side, seg| {
        let lost_ack = side == Side::B && seg.ack == end && first;
        first &= !lost_ack;
        (!lost_ack).then_some(Duration::ZERO)
    });
    let acks: Vec<_> = l
        .log
        .iter()
        .filter(|s| s.side == Side::B && s.seg.ack == end && !s.dropped)
        .collect();
    assert_eq!(acks.len(), 1);
    let dsack = acks[0].seg.options.sack_blocks.iter().next();
    assert_eq!(dsack, Some((end - MSS, end)), "D-SACK of the probe");
    let info = l.p.a.info(c).unwrap();
    assert_eq!(
        (info.tlp_probes, info.tlp_repairs, info.timeouts),
        (1, 0, 0)
    );
    assert_eq!(info.ssthresh, u32::MAX, "still in the initial slow start");
}

/// RFC 8985 §7.3: a whole flight lost. The probe sends new data (there is some, and the
/// peer's window takes it) whatever cwnd says; its SACK lets RACK mark the ten segments
/// before it lost, and recovery resends them: no retransmission timeout.
#[test]
fn rfc8985_7_3_a_lost_flight_is_probed_with_new_data_and_recovered_by_rack() {
    let mut l = Link::new(cfg(A_IP), cfg(B_IP));
    let (c, s) = l.establish();
    let base = l.p.a.info(c).unwrap().snd_nxt.get();
    l.p.a.send(c, &vec![7u8; 20 * MSS as usize]).unwrap();
    let flight_end = base + 10 * MSS;
    let mut seen = std::collections::HashSet::new();
    l.run(l.p.now + Duration::from_secs(3), |side, seg| {
        // The first transmission of each of the first ten segments is lost.
        let lost = side == Side::A && seg.seq < flight_end && seg.len() > 0 && seen.insert(seg.seq);
        (!lost).then_some(Duration::ZERO)
    });
    let data = l.a_data();
    let probe = data[10];
    assert_eq!(probe.seg.seq, flight_end, "new data, past cwnd");
    assert_eq!(probe.at - data[9].at, Duration::from_millis(40), "2·SRTT");
    let info = l.p.a.info(c).unwrap();
    assert_eq!(info.timeouts, 0);
    assert!(info.rack_lost >= 10, "{} marked lost", info.rack_lost);
    assert_eq!(info.snd_una.get(), base + 20 * MSS);
    let (got, _) = read_all(&mut l.p.b, s);
    assert_eq!(got.len(), 20 * MSS as usize);
}

/// RFC 8985 §6: a retransmission lost too. RFC 6675 alone waits for the retransmission
/// timer; RACK sees later segments delivered while the retransmission is not, a round trip
/// after it went, and sends it again.
#[test]
fn rfc8985_6_a_lost_retransmission_is_found_without_a_timeout() {
    let mut l = Link::new(cfg(A_IP), cfg(B_IP));
    let (c, s) = l.establish();
    let base = l.p.a.info(c).unwrap().snd_nxt.get();
    l.p.a.send(c, &vec![7u8; 40 * MSS as usize]).unwrap();
    let victim = base + 2 * MSS;
    let mut sends = 0;
    l.run(l.p.now + Duration::from_secs(3), |side, seg| {
        let hit = side == Side::A && seg.seq == victim && seg.len() > 0;
        sends += u32::from(hit);
        (!(hit && sends <= 2)).then_some(Duration::ZERO)
    });
    let victims: Vec<_> = l
        .a_data()
        .into_iter()
        .filter(|s| s.seg.seq == victim)
        .map(|s| s.at)
        .collect();
    assert_eq!(
        victims.len(),
        3,
        "original, lost retransmission, the one that arrives"
    );
    let gap = victims[2] - victims[1];
    assert!(
        gap >= Duration::from_millis(20) && gap < Duration::from_millis(40),
        "about a round trip (plus the reordering window): {gap:?}"
    );
    let info = l.p.a.info(c).unwrap();
    assert_eq!(info.timeouts, 0);
    let (got, _) = read_all(&mut l.p.b, s);
    assert_eq!(got.len(), 40 * MSS as usize);
}

/// RFC 8985 §6.2 step 4: a segment overtaken by the next one, later by less than the
/// reordering window (a quarter of the least round trip, 5 ms here), is not resent. (With
/// DupThresh segments SACKed and no reordering seen before, the window is zero, as the
/// duplicate-ACK rule would have it: the late one is the ninth of ten here.)
#[test]
fn rfc8985_6_2_reordering_inside_the_window_is_not_a_loss() {
    let mut l = Link::new(cfg(A_IP), cfg(B_IP));
    let (c, _s) = l.establish();
    let base = ten_segments(&mut l, c);
    let late = base + 8 * MSS;
    l.run(l.p.now + Duration::from_secs(3), |side, seg| {
        Some(if side == Side::A && seg.seq == late {
            Duration::from_millis(3)
        } else {
            Duration::ZERO
        })
    });
    let info = l.p.a.info(c).unwrap();
    assert_eq!((info.retransmits, info.rack_lost), (0, 0));
    assert_eq!(info.snd_una.get(), base + 10 * MSS);
}

/// RFC 8985 §6.2 step 4: reordering beyond the window costs one spurious retransmission;
/// the receiver's D-SACK widens the window (min_RTT/4 → 2·min_RTT/4) and the same reordering
/// a round later is waited out.
#[test]
fn rfc8985_6_2_dsack_widens_the_reordering_window() {
    let mut l = Link::new(cfg(A_IP), cfg(B_IP));
    let (c, _s) = l.establish();
    let base = ten_segments(&mut l, c);
    let late = [base + 8 * MSS, base + 18 * MSS];
    let mut delayed = std::collections::HashSet::new();
    let mut fate = move |side: Side, seg: &Seg| {
        Some(
            if side == Side::A && late.contains(&seg.seq) && delayed.insert(seg.seq) {
                Duration::from_millis(8)
            } else {
                Duration::ZERO
            },
        )
    };
    l.run(l.p.now + Duration::from_secs(1), &mut fate);
    let first = l.p.a.info(c).unwrap();
    assert_eq!(first.retransmits, 1, "8 ms late, 5 ms window: resent");
    assert_eq!(
        first.reordering_window,
        Some(Duration::from_millis(10)),
        "widened by the D-SACK of that retransmission"
    );
    l.p.a.send(c, &vec![7u8; 10 * MSS as usize]).unwrap();
    l.run(l.p.now + Duration::from_secs(1), &mut fate);
    let second = l.p.a.info(c).unwrap();
    assert_eq!(
        second.retransmits, 1,
        "the same reordering again, inside 10 ms: waited out"
    );
    assert_eq!(second.snd_una.get(), base + 20 * MSS);
}

/// RFC 8985 §6.3: RACK keeps finding losses while a timeout's go-back-N resend runs. A whole
/// flight and both its probes are lost: the retransmission timer fires (1 s) and the resend starts
/// again from SND.UNA. Its second segment is lost once more; the third arrives and is SACKed,
/// RACK marks the second lost a reordering window later, and it goes again at once — not at
/// the next, backed-off, timeout (2 s later): no fast recovery in that span (RFC 6582 §3.2
/// step 1), and no second timeout either.
#[test]
fn rfc8985_6_3_a_segment_lost_again_during_the_timeouts_resend_is_resent_by_rack() {
    let mut l = Link::new(cfg(A_IP), cfg(B_IP));
    let (c, s) = l.establish();
    let base = ten_segments(&mut l, c);
    let (second, last) = (base + MSS, base + 9 * MSS);
    let mut sent = std::collections::HashMap::<u32, u32>::new();
    l.run(l.p.now + Duration::from_secs(5), |side, seg| {
        if side != Side::A || seg.len() == 0 {
            return Some(Duration::ZERO);
        }
        let n = sent.entry(seg.seq).or_default();
        *n += 1;
        let lost = *n == 1 // the whole first flight
            || (seg.seq == last && *n == 2) // the tail loss probe
            || (seg.seq == base && *n == 2) // the second probe (the first segment again)
            || (seg.seq == second && *n == 2); // the second segment's first resend
        (!lost).then_some(Duration::ZERO)
    });
    let times: Vec<_> = l
        .a_data()
        .into_iter()
        .filter(|s| s.seg.seq == second)
        .map(|s| s.at)
        .collect();
    assert_eq!(times.len(), 3, "{times:?}");
    let gap = times[2] - times[1];
    assert!(
        gap < Duration::from_millis(40),
        "resent {gap:?} after it went again"
    );
    let info = l.p.a.info(c).unwrap();
    assert_eq!((info.timeouts, info.fast_retransmits), (1, 0));
    assert_eq!(info.snd_una.get(), base + 10 * MSS);
    let (got, _) = read_all(&mut l.p.b, s);
    assert_eq!(got.len(), 10 * MSS as usize);
}

/// A lost tail whose probe is lost too: a second probe, twice the probe timeout later,
/// resends the first unacknowledged segment (rack.rs `MAX_PROBES`; RFC 8985 sends one, QUIC's
/// probe timeouts back off the same way, RFC 9002 §6.2) — the tail is repaired before the
/// retransmission timer (1 s), with one window reduction and no collapse to one segment.
#[test]
fn a_lost_probe_is_followed_by_a_second_before_the_retransmission_timer() {
    let mut l = Link::new(cfg(A_IP), cfg(B_IP));
    let (c, _s) = l.establish();
    let base = ten_segments(&mut l, c);
    let last = base + 9 * MSS;
    let mut tail_sends = 0;
    l.run(l.p.now + Duration::from_secs(3), |side, seg| {
        let tail = side == Side::A && seg.seq == last && seg.len() > 0;
        tail_sends += u32::from(tail);
        // The tail's first transmission and the first probe (its resend) are lost.
        (!(tail && tail_sends <= 2)).then_some(Duration::ZERO)
    });
    let tail: Vec<_> = l
        .a_data()
        .into_iter()
        .filter(|s| s.seg.seq == last)
        .map(|s| s.at)
        .collect();
    assert_eq!(
        tail.len(),
        3,
        "original, first probe, second probe: {tail:?}"
    );
    let info = l.p.a.info(c).unwrap();
    assert_eq!(info.snd_una.get(), base + 10 * MSS);
    assert_eq!(
        (info.tlp_probes, info.tlp_repairs, info.timeouts),
        (2, 1, 0)
    );
    assert!(tail[2] - tail[0] < Duration::from_secs(1), "{tail:?}");
    assert!(info.cwnd > MSS, "no collapse to one segment: {}", info.cwnd);
}
