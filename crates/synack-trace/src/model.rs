//! From a [`Ladder`] to rows: parse the packets, match each transition to the segment arrival
//! that caused it (or make it a row of its own), order everything in time and decide which
//! segments need separate departure and arrival rows.

use std::collections::HashMap;

use synack_proto::{Instant, State};

use crate::{Ladder, LadderEvent};

pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const RST: u8 = 0x04;
pub(crate) const PSH: u8 = 0x08;
pub(crate) const ACK: u8 = 0x10;
pub(crate) const URG: u8 = 0x20;
pub(crate) const ECE: u8 = 0x40;
pub(crate) const CWR: u8 = 0x80;

/// `SYN|ACK`-style names, in the order SYN FIN RST PSH ACK URG ECE CWR.
pub(crate) fn flags_pipe(flags: u8) -> String {
    let names = [
        (SYN, "SYN"),
        (FIN, "FIN"),
        (RST, "RST"),
        (PSH, "PSH"),
        (ACK, "ACK"),
        (URG, "URG"),
        (ECE, "ECE"),
        (CWR, "CWR"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|&(_, n)| n)
        .collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join("|")
    }
}

/// What the renderer needs from a TCP header.
#[derive(Clone, Debug)]
pub(crate) struct SegInfo {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub win: u16,
    pub len: usize,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub sack: Vec<(u32, u32)>,
    pub ts: Option<(u32, u32)>,
}

impl SegInfo {
    fn parse(packet: &[u8]) -> Option<SegInfo> {
        let synack_wire::Packet::Tcp(_, tcp) = synack_wire::parse_ip(packet).ok()? else {
            return None;
        };
        Some(SegInfo {
            src_port: tcp.src_port,
            dst_port: tcp.dst_port,
            seq: tcp.seq_number,
            ack: tcp.ack_number,
            flags: tcp.flags.0,
            win: tcp.window_len,
            len: tcp.payload.len(),
            mss: tcp.options.mss,
            wscale: tcp.options.window_scale,
            sack_permitted: tcp.options.sack_permitted,
            sack: tcp.options.sack_blocks.iter().collect(),
            ts: tcp.options.timestamps,
        })
    }

    /// Sequence space the segment occupies (payload + SYN + FIN).
    pub fn seg_len(&self) -> u32 {
        let mut n = u32::try_from(self.len).unwrap_or(u32::MAX);
        if self.flags & SYN != 0 {
            n = n.saturating_add(1);
        }
        if self.flags & FIN != 0 {
            n = n.saturating_add(1);
        }
        n
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Seg {
    pub idx: usize,
    pub sent: Instant,
    pub arrived: Option<Instant>,
    pub from_left: bool,
    pub info: Option<SegInfo>,
    pub raw_len: usize,
    pub retransmission: bool,
    /// Drawn as one row (always true for lost segments).
    pub merged: bool,
    /// Transitions (indices into `trans`) its arrival caused.
    pub caused: Vec<usize>,
}

impl Seg {
    fn sender(&self) -> usize {
        if self.from_left {
            0
        } else {
            1
        }
    }
    fn receiver(&self) -> usize {
        1 - self.sender()
    }
    fn has(&self, flag: u8) -> bool {
        self.info.as_ref().is_some_and(|i| i.flags & flag != 0)
    }
    fn send_key(&self) -> Key {
        (
            self.sent.as_micros(),
            self.sender() as u8,
            PHASE_SEND,
            self.idx,
            0,
        )
    }
    /// Key of the arrival; the transitions it caused sort just after it.
    fn arrival_key(&self, sub: usize) -> Option<Key> {
        self.arrived.map(|a| {
            (
                a.as_micros(),
                self.receiver() as u8,
                PHASE_ARRIVE,
                self.idx,
                sub,
            )
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Trans {
    pub at: Instant,
    pub left: bool,
    pub from: State,
    pub to: State,
    pub cause: String,
    /// The segment whose arrival caused it, if any.
    pub by_segment: Option<usize>,
    pub key: Key,
}

/// Total order of everything on the picture: (time µs, side, phase, input index, sub-order).
/// At one instant on one side: arrivals (and what they caused) first, then state changes of
/// their own (user calls, timers), then the segments the side sends — the order the simulator
/// and a real event loop process them in.
pub(crate) type Key = (u64, u8, u8, usize, usize);
const PHASE_ARRIVE: u8 = 0;
const PHASE_STANDALONE: u8 = 1;
const PHASE_SEND: u8 = 2;

#[derive(Clone, Copy, Debug)]
pub(crate) enum RowKind {
    Send { seg: usize },
    Arrive { seg: usize },
    Trans { tr: usize },
}

#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub key: Key,
    pub kind: RowKind,
    /// Left's state shown on this row (None = blank).
    pub left_state: Option<State>,
    pub right_state: Option<State>,
}

pub(crate) struct Model {
    pub segs: Vec<Seg>,
    pub trans: Vec<Trans>,
    pub rows: Vec<Row>,
    /// Each side's state before its first transition.
    pub initial: [Option<State>; 2],
    /// Each side's ISN (from its SYN; else guessed from the first numbers seen).
    pub isn: [Option<u32>; 2],
    /// Each side's port (from the first segment).
    pub port: [Option<u16>; 2],
    /// The ladder's annotations (by event index).
    pub notes: std::collections::BTreeMap<usize, crate::Annotation>,
    timeline: [Vec<(Key, State)>; 2],
}

/// What kind of arrival can cause a transition.
enum Cause {
    /// A user call or a timer: never a segment.
    Own,
    /// An arriving segment carrying this flag.
    Flag(u8),
    /// An arriving RST if there is one, else a timer or user call.
    RstOrOwn,
}

fn cause_of(from: State, to: State) -> Cause {
    use State::*;
    match (from, to) {
        (Closed, SynSent) | (Closed, Listen) | (Listen, SynSent) => Cause::Own,
        (Established, FinWait1) | (SynReceived, FinWait1) | (CloseWait, LastAck) => Cause::Own,
        (Listen, SynReceived) | (SynSent, SynReceived) | (SynSent, Established) => Cause::Flag(SYN),
        (Established, CloseWait)
        | (SynReceived, CloseWait)
        | (FinWait1, Closing)
        | (FinWait1, TimeWait)
        | (FinWait2, TimeWait) => Cause::Flag(FIN),
        (SynReceived, Established) | (FinWait1, FinWait2) | (Closing, TimeWait) => Cause::Flag(ACK),
        (LastAck, Closed) => Cause::Flag(ACK),
        (SynReceived, Listen) => Cause::Flag(RST),
        _ => Cause::RstOrOwn,
    }
}

/// Will [`Model::build`] draw the transition `from → to` as caused by the arrival of a segment
/// with these flags at the same instant (rather than as a row of its own)?
pub(crate) fn drawn_with_arrival(from: State, to: State, flags: u8) -> bool {
    match cause_of(from, to) {
        Cause::Own => false,
        Cause::Flag(f) => flags & f != 0,
        Cause::RstOrOwn => flags & RST != 0,
    }
}

fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Model {
    pub fn build(ladder: &Ladder) -> Model {
        let mut segs = Vec::new();
        let mut trans = Vec::new();
        for (idx, ev) in ladder.events.iter().enumerate() {
            match ev {
                LadderEvent::Segment {
                    sent,
                    arrived,
                    from_left,
                    packet,
                } => segs.push(Seg {
                    idx,
                    sent: *sent,
                    arrived: *arrived,
                    from_left: *from_left,
                    info: SegInfo::parse(packet),
                    raw_len: packet.len(),
                    retransmission: false,
                    merged: true,
                    caused: Vec::new(),
                }),
                LadderEvent::Transition {
                    at,
                    left,
                    from,
                    to,
                    cause,
                } => trans.push(Trans {
                    at: *at,
                    left: *left,
                    from: *from,
                    to: *to,
                    cause: cause.clone(),
                    by_segment: None,
                    key: (at.as_micros(), u8::from(!*left), PHASE_STANDALONE, idx, 0),
                }),
            }
        }

        // Send order (stable on input order for ties).
        let mut by_send: Vec<usize> = (0..segs.len()).collect();
        by_send.sort_by_key(|&i| segs[i].send_key());

        // Ports, ISNs, retransmissions.
        let mut port = [None, None];
        let mut isn = [None, None];
        let mut first_seq: [Option<u32>; 2] = [None, None];
        let mut first_ack_of: [Option<u32>; 2] = [None, None];
        let mut high: [Option<u32>; 2] = [None, None];
        let mut sent_synack = [false, false];
        for &i in &by_send {
            let s = segs[i].sender();
            let Some(info) = segs[i].info.clone() else {
                continue;
            };
            port[s].get_or_insert(info.src_port);
            port[1 - s].get_or_insert(info.dst_port);
            if info.flags & SYN != 0 {
                isn[s].get_or_insert(info.seq);
            }
            first_seq[s].get_or_insert(info.seq);
            if info.flags & ACK != 0 {
                first_ack_of[1 - s].get_or_insert(info.ack);
            }
            let end = info.seq.wrapping_add(info.seg_len());
            // In a simultaneous open a side's SYN-ACK repeats the SYN it sent before; that is
            // the handshake, not a retransmission (a second SYN-ACK is one).
            let first_synack = info.flags & (SYN | ACK) == (SYN | ACK) && !sent_synack[s];
            if info.flags & (SYN | ACK) == (SYN | ACK) {
                sent_synack[s] = true;
            }
            if info.seg_len() > 0 {
                if let Some(h) = high[s] {
                    if seq_lt(info.seq, h) && !first_synack {
                        segs[i].retransmission = true;
                    }
                    if seq_lt(h, end) {
                        high[s] = Some(end);
                    }
                } else {
                    high[s] = Some(end);
                }
            }
        }
        for s in 0..2 {
            if isn[s].is_none() {
                // No SYN in the trace: number from the first byte seen, as Wireshark does.
                isn[s] = first_seq[s]
                    .map(|q| q.wrapping_sub(1))
                    .or(first_ack_of[s].map(|a| a.wrapping_sub(1)));
            }
        }

        // Arrivals per (time, receiver), in arrival order.
        let mut arrivals: HashMap<(u64, usize), Vec<usize>> = HashMap::new();
        let mut by_arrival: Vec<usize> = (0..segs.len())
            .filter(|&i| segs[i].arrived.is_some())
            .collect();
        by_arrival.sort_by_key(|&i| segs[i].arrival_key(0));
        for &i in &by_arrival {
            let t = segs[i].arrived.map_or(0, |a| a.as_micros());
            arrivals.entry((t, segs[i].receiver())).or_default().push(i);
        }

        // Match transitions to the arrivals that caused them. Within one instant on one side
        // the transitions keep their order, so the matched arrivals never go backwards.
        let mut cursor: HashMap<(u64, usize), usize> = HashMap::new();
        for (ti, t) in trans.iter_mut().enumerate() {
            let side = usize::from(!t.left);
            let at = t.at.as_micros();
            let Some(cands) = arrivals.get(&(at, side)) else {
                continue;
            };
            let start = cursor.get(&(at, side)).copied().unwrap_or(0);
            let want = match cause_of(t.from, t.to) {
                Cause::Own => None,
                Cause::Flag(f) => Some(f),
                Cause::RstOrOwn => Some(RST),
            };
            let Some(want) = want else { continue };
            let found = cands
                .iter()
                .enumerate()
                .skip(start)
                .find(|(_, &si)| segs[si].has(want));
            if let Some((pos, &si)) = found {
                cursor.insert((at, side), pos);
                t.by_segment = Some(si);
                t.key = segs[si].arrival_key(1 + ti).unwrap_or(t.key);
                segs[si].caused.push(ti);
            }
        }

        // Each side's state over time.
        let mut timeline: [Vec<(Key, State)>; 2] = [Vec::new(), Vec::new()];
        let mut initial = [None, None];
        for t in &trans {
            timeline[usize::from(!t.left)].push((t.key, t.to));
        }
        for (side, tl) in timeline.iter_mut().enumerate() {
            tl.sort_by_key(|e| e.0);
            initial[side] = ladder.initial[side].or_else(|| {
                trans
                    .iter()
                    .filter(|t| usize::from(!t.left) == side)
                    .min_by_key(|t| t.key)
                    .map(|t| t.from)
            });
        }

        let mut model = Model {
            segs,
            trans,
            rows: Vec::new(),
            initial,
            isn,
            port,
            notes: ladder.annotations.clone(),
            timeline,
        };
        model.decide_merges(&by_send);
        model.build_rows();
        model
    }

    /// The state of `side` just after everything up to and including `key`.
    pub fn state_at(&self, side: usize, key: Key) -> Option<State> {
        let tl = &self.timeline[side];
        let n = tl.partition_point(|e| e.0 <= key);
        if n == 0 {
            self.initial[side]
        } else {
            Some(tl[n - 1].1)
        }
    }

    fn after_arrival(&self, seg: usize) -> Option<State> {
        let s = &self.segs[seg];
        s.arrival_key(usize::MAX)
            .and_then(|k| self.state_at(s.receiver(), k))
    }

    /// Split a segment into departure and arrival rows when the receiver's column would
    /// otherwise show a state from the future above a row showing its past.
    fn decide_merges(&mut self, by_send: &[usize]) {
        let send_keys: Vec<Key> = by_send.iter().map(|&i| self.segs[i].send_key()).collect();
        let mut by_arr: Vec<(Key, usize)> = self
            .segs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.arrival_key(0).map(|k| (k, i)))
            .collect();
        by_arr.sort();
        let mut own: Vec<(Key, usize)> = self
            .trans
            .iter()
            .enumerate()
            .filter(|(_, t)| t.by_segment.is_none())
            .map(|(i, t)| (t.key, i))
            .collect();
        own.sort();

        for &si in by_send {
            let s = &self.segs[si];
            let Some(akey) = s.arrival_key(0) else {
                continue;
            };
            let skey = s.send_key();
            let b = s.receiver();
            let x = self.after_arrival(si);
            let mut samples: Vec<Option<State>> = Vec::new();
            // The receiver's own departures while this one is in flight.
            if akey <= skey {
                // Arrived the instant it left (a capture taken at one point): one row.
                continue;
            }
            let lo = send_keys.partition_point(|k| *k <= skey);
            let hi = send_keys.partition_point(|k| *k < akey);
            for &k in &send_keys[lo..hi] {
                if usize::from(k.1) == b {
                    samples.push(self.state_at(b, k));
                }
            }
            // The receiver's own state changes.
            let lo = own.partition_point(|e| e.0 <= skey);
            let hi = own.partition_point(|e| e.0 < akey);
            for &(k, ti) in &own[lo..hi] {
                if usize::from(!self.trans[ti].left) == b {
                    samples.push(self.state_at(b, k));
                }
            }
            // Other arrivals at the receiver drawn between departure and arrival: split ones
            // sent earlier, and later ones that overtook this one.
            let lo = by_arr.partition_point(|e| e.0 <= skey);
            let hi = by_arr.partition_point(|e| e.0 < akey);
            for &(_, oi) in &by_arr[lo..hi] {
                let o = &self.segs[oi];
                if o.receiver() != b || oi == si {
                    continue;
                }
                let oskey = o.send_key();
                if (oskey < skey && !o.merged) || oskey > skey {
                    samples.push(self.after_arrival(oi));
                }
            }
            if samples.iter().any(|&st| st != x) {
                self.segs[si].merged = false;
            }
        }
    }

    fn build_rows(&mut self) {
        let mut rows = Vec::new();
        for (i, s) in self.segs.iter().enumerate() {
            let skey = s.send_key();
            let sender_state = self.state_at(s.sender(), skey);
            let recv_state = if s.merged {
                self.after_arrival(i)
            } else {
                None
            };
            let (l, r) = if s.from_left {
                (sender_state, recv_state)
            } else {
                (recv_state, sender_state)
            };
            rows.push(Row {
                key: skey,
                kind: RowKind::Send { seg: i },
                left_state: l,
                right_state: r,
            });
            if !s.merged {
                if let Some(akey) = s.arrival_key(0) {
                    let st = self.after_arrival(i);
                    let (l, r) = if s.from_left { (None, st) } else { (st, None) };
                    rows.push(Row {
                        key: akey,
                        kind: RowKind::Arrive { seg: i },
                        left_state: l,
                        right_state: r,
                    });
                }
            }
        }
        for (i, t) in self.trans.iter().enumerate() {
            if t.by_segment.is_some() {
                continue;
            }
            rows.push(Row {
                key: t.key,
                kind: RowKind::Trans { tr: i },
                left_state: self.state_at(0, t.key),
                right_state: self.state_at(1, t.key),
            });
        }
        rows.sort_by_key(|r| r.key);
        self.rows = rows;
    }

    /// Both sides' states after a segment, as the JSON reports them: the sender's when it
    /// left, the receiver's after it arrived (None when lost).
    pub fn segment_states(&self, seg: usize) -> (Option<State>, Option<State>) {
        let s = &self.segs[seg];
        let snd = self.state_at(s.sender(), s.send_key());
        let rcv = self.after_arrival(seg);
        if s.from_left {
            (snd, rcv)
        } else {
            (rcv, snd)
        }
    }

    pub fn rel_seq(&self, s: &Seg) -> Option<u32> {
        let info = s.info.as_ref()?;
        Some(info.seq.wrapping_sub(self.isn[s.sender()]?))
    }

    pub fn rel_ack(&self, s: &Seg) -> Option<u32> {
        let info = s.info.as_ref()?;
        if info.flags & ACK == 0 {
            return None;
        }
        Some(info.ack.wrapping_sub(self.isn[s.receiver()]?))
    }
}
