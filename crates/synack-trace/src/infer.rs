//! Each endpoint's state, inferred by running RFC 9293's state machine (§3.3.2, Figure 5; the
//! segment processing of §3.10.7) on what that endpoint sent and what it received.
//!
//! This is not a TCP implementation: it keeps only what the state machine needs (the ISNs, the
//! end of each side's FIN, how far each side has received in order) and believes the capture.
//! Rules:
//! - A side moves on what it *sends* (SYN: CLOSED → SYN-SENT; FIN: ESTABLISHED → FIN-WAIT-1 or
//!   CLOSE-WAIT → LAST-ACK, the user's CLOSE; RST: → CLOSED, an abort) and on what it
//!   *receives*: segments that were not lost after the capture point. A FIN counts once
//!   everything before it has arrived.
//! - What a side acknowledges proves what it received: an ACK of the peer's SYN or FIN whose
//!   arrival the capture did not show (lost before the capture point, or the capture started
//!   late) moves the side as if it had arrived then.
//! - A capture that starts mid-connection starts both sides in ESTABLISHED; one that starts
//!   with a SYN-ACK starts its sender in LISTEN and the other side in SYN-SENT. A side that
//!   answers a SYN with SYN-ACK started in LISTEN; one that answers with RST, in CLOSED.
//! - Every transition is checked against `State::can_transition` (RFC 9293's diagram).

use synack_proto::State;

use crate::analysis::{dir_of, Analysis};
use crate::segments::{Connection, ACK, FIN, RST, SYN};

/// One inferred state change.
#[derive(Clone, Debug)]
pub struct Tr {
    /// 0 = `conn.a`, 1 = `conn.b`.
    pub side: usize,
    pub from: State,
    pub to: State,
    pub cause: String,
}

/// The inference for a whole connection.
#[derive(Clone, Debug)]
pub struct Inferred {
    pub initial: [State; 2],
    /// Per segment: the sender's transitions just before it left (user calls, catch-ups).
    pub before: Vec<Vec<Tr>>,
    /// Per segment: the receiver's transitions when it arrived, then any of the sender's own
    /// that the capture shows only after it (a SYN that crossed ours in a simultaneous open).
    pub after: Vec<Vec<Tr>>,
    /// Per RST segment: why it was probably sent.
    pub rst_reason: Vec<Option<String>>,
    /// Per side: index of the segment at which it entered TIME-WAIT.
    pub time_wait_at: [Option<usize>; 2],
    /// Who closed first: (side, "FIN" or "RST", segment index).
    pub closed_first: Option<(usize, &'static str, usize)>,
    pub final_states: [State; 2],
    /// The capture starts after the connection was established.
    pub mid_connection: bool,
}

#[derive(Clone, Copy)]
struct Side {
    state: State,
    passive: bool,
    iss: Option<u32>,
    /// Sequence number just past this side's FIN.
    fin_end: Option<u32>,
    /// In-order receive point (the peer's sequence space).
    rcv_nxt: Option<u32>,
    /// The peer's FIN end, once seen delivered (possibly out of order).
    peer_fin: Option<u32>,
    peer_fin_done: bool,
    peer_syn_seen: bool,
    /// A SYN arrived while CLOSED, just before this side sent its own (simultaneous open).
    crossed_syn: bool,
}

fn le(a: u32, b: u32) -> bool {
    a == b || (a.wrapping_sub(b) as i32) < 0
}

struct Machine {
    s: [Side; 2],
    log: Vec<Tr>,
}

impl Machine {
    fn go(&mut self, side: usize, to: State, cause: &str) {
        let from = self.s[side].state;
        if from == to || !from.can_transition(to) {
            return;
        }
        self.s[side].state = to;
        self.log.push(Tr {
            side,
            from,
            to,
            cause: cause.to_string(),
        });
    }

    /// Side `r` has the peer's FIN in order: the FIN's transitions (§3.10.7.4 eighth step).
    fn fin_arrives(&mut self, r: usize, late: bool) {
        if self.s[r].peer_fin_done {
            return;
        }
        self.s[r].peer_fin_done = true;
        let cause = if late {
            "FIN (arrival not captured)"
        } else {
            "FIN"
        };
        match self.s[r].state {
            State::Established | State::SynReceived => self.go(r, State::CloseWait, cause),
            State::FinWait1 => self.go(r, State::Closing, cause),
            State::FinWait2 => self.go(r, State::TimeWait, cause),
            _ => {}
        }
    }

    /// Side `r` learns that everything up to `ack` of its own sequence space arrived.
    fn ack_arrives(&mut self, r: usize, ack: u32, has_fin: bool, late: bool) {
        let sd = self.s[r];
        let syn_acked = sd.iss.is_some_and(|i| le(i.wrapping_add(1), ack));
        let fin_acked = sd.fin_end.is_some_and(|e| le(e, ack));
        let c = |s: &str| {
            if late {
                format!("{s} (arrival not captured)")
            } else {
                s.to_string()
            }
        };
        match sd.state {
            State::SynReceived if syn_acked => self.go(r, State::Established, &c("ACK")),
            State::FinWait1 if fin_acked => {
                // A FIN that also ACKs ours goes straight to TIME-WAIT (§3.10.7.4).
                let in_order_fin = has_fin && self.fin_ready(r);
                if in_order_fin {
                    self.s[r].peer_fin_done = true;
                    self.go(r, State::TimeWait, &c("FIN, ACK of our FIN"));
                } else {
                    self.go(r, State::FinWait2, &c("ACK of our FIN"));
                }
            }
            State::Closing if fin_acked => self.go(r, State::TimeWait, &c("ACK of our FIN")),
            State::LastAck if fin_acked => self.go(r, State::Closed, &c("ACK of our FIN")),
            _ => {}
        }
    }

    fn fin_ready(&self, r: usize) -> bool {
        let sd = &self.s[r];
        match (sd.peer_fin, sd.rcv_nxt) {
            (Some(f), Some(n)) => le(f, n),
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// Run the machine over the connection.
pub fn infer(conn: &Connection, an: &Analysis) -> Inferred {
    let segs = &conn.segments;
    let first = segs.first();
    let opens = first.is_some_and(|s| s.flags & (SYN | ACK) == SYN);
    let starts_synack = first.is_some_and(|s| s.flags & (SYN | ACK) == SYN | ACK);
    let b_answers_synack = segs
        .iter()
        .any(|s| dir_of(conn, s) == 1 && s.flags & (SYN | ACK) == SYN | ACK);
    let initial = if opens {
        [
            State::Closed,
            if b_answers_synack
                && !segs
                    .iter()
                    .any(|s| dir_of(conn, s) == 1 && s.flags & (SYN | ACK) == SYN)
            {
                State::Listen
            } else {
                State::Closed
            },
        ]
    } else if starts_synack {
        [State::SynSent, State::Listen]
    } else {
        [State::Established, State::Established]
    };
    let mid_connection = !opens && !starts_synack;
    let side = |st: State| Side {
        state: st,
        passive: st == State::Listen,
        iss: None,
        fin_end: None,
        rcv_nxt: None,
        peer_fin: None,
        peer_fin_done: false,
        peer_syn_seen: false,
        crossed_syn: false,
    };
    let mut m = Machine {
        s: [side(initial[0]), side(initial[1])],
        log: Vec::new(),
    };
    if starts_synack {
        m.s[0].iss = first.map(|s| s.ack.wrapping_sub(1));
    }
    if mid_connection {
        // Numbers start where the capture does.
        for d in 0..2 {
            let mine = segs.iter().find(|s| dir_of(conn, s) == d);
            let my_ack = segs.iter().find(|s| dir_of(conn, s) == d && s.has(ACK));
            m.s[d].iss = mine.map(|s| s.seq.wrapping_sub(1));
            m.s[d].rcv_nxt = my_ack.map(|s| s.ack);
            m.s[d].peer_syn_seen = true;
        }
    }

    let mut out = Inferred {
        initial,
        before: vec![Vec::new(); segs.len()],
        after: vec![Vec::new(); segs.len()],
        rst_reason: vec![None; segs.len()],
        time_wait_at: [None, None],
        closed_first: None,
        final_states: initial,
        mid_connection,
    };

    for (i, s) in segs.iter().enumerate() {
        let f = dir_of(conn, s);
        let r = 1 - f;
        let lost = an.flags[i].lost_after_capture;

        // --- What the sender's ACK proves it received (catch-up). ---
        if s.has(ACK) && !s.has(RST) {
            let peer = m.s[r];
            if !m.s[f].peer_syn_seen && peer.iss.is_some_and(|p| le(p.wrapping_add(1), s.ack)) {
                m.s[f].peer_syn_seen = true;
                m.s[f].rcv_nxt = Some(s.ack);
                if m.s[f].state == State::SynSent && !s.has(SYN) {
                    m.go(f, State::Established, "SYN-ACK (arrival not captured)");
                }
            }
            if peer.fin_end.is_some_and(|e| le(e, s.ack)) && !m.s[f].peer_fin_done {
                m.s[f].peer_fin = peer.fin_end;
                m.s[f].rcv_nxt = peer.fin_end;
                m.fin_arrives(f, true);
            }
        }

        // --- The sender's own moves. ---
        let st = m.s[f].state;
        if s.has(RST) {
            out.rst_reason[i] = Some(rst_reason(conn, i, st, &m.s[f]));
            if out.closed_first.is_none() {
                out.closed_first = Some((f, "RST", i));
            }
            m.go(f, State::Closed, "abort (sends RST)");
        } else if s.has(SYN) {
            if m.s[f].iss.is_none() || !s.has(ACK) {
                m.s[f].iss.get_or_insert(s.seq);
            }
            if s.has(ACK) {
                m.s[f].iss = Some(s.seq);
                if st == State::Listen {
                    m.go(f, State::SynReceived, "SYN (arrival not captured)");
                }
            } else {
                m.go(f, State::SynSent, "connect");
            }
        }
        let sent_log = std::mem::take(&mut m.log);
        let mut crossed = Vec::new();
        if s.flags & (SYN | ACK) == SYN && m.s[f].crossed_syn {
            m.s[f].crossed_syn = false;
            m.s[f].peer_syn_seen = true;
            m.go(f, State::SynReceived, "SYN (crossed ours in flight)");
            crossed = std::mem::take(&mut m.log);
        }
        {}
        if s.has(FIN) && !s.has(RST) {
            let end = s.seq.wrapping_add(s.seg_len());
            m.s[f].fin_end.get_or_insert(end);
            match m.s[f].state {
                State::Established | State::SynReceived => {
                    if out.closed_first.is_none() {
                        out.closed_first = Some((f, "FIN", i));
                    }
                    m.go(f, State::FinWait1, "close");
                }
                State::CloseWait => m.go(f, State::LastAck, "close"),
                _ => {}
            }
        }
        let mut sent_log = sent_log;
        sent_log.append(&mut m.log);

        // --- What the receiver does with it. ---
        if !lost {
            let rs = m.s[r].state;
            let end = s.seq.wrapping_add(s.seg_len());
            if s.has(RST) {
                // An RST is believed when it is for this connection (§3.10.7.4 first step,
                // simplified: in SYN-SENT it must ACK our SYN).
                let ok = match rs {
                    State::SynSent => {
                        s.has(ACK) && m.s[r].iss.is_some_and(|x| x.wrapping_add(1) == s.ack)
                    }
                    State::Closed | State::Listen => false,
                    _ => true,
                };
                if ok {
                    let to = if rs == State::SynReceived && m.s[r].passive {
                        State::Listen
                    } else {
                        State::Closed
                    };
                    let why = if rs == State::SynSent {
                        "RST (connection refused)"
                    } else {
                        "RST (connection reset)"
                    };
                    m.go(r, to, why);
                }
            } else {
                if s.has(SYN) {
                    m.s[r].peer_syn_seen = true;
                    m.s[r].rcv_nxt = Some(end);
                    match rs {
                        State::Listen if !s.has(ACK) => m.go(r, State::SynReceived, "SYN"),
                        State::Closed if !s.has(ACK) && later_syn(conn, i, r) => {
                            m.s[r].crossed_syn = true;
                        }
                        State::SynSent if !s.has(ACK) => m.go(r, State::SynReceived, "SYN"),
                        State::SynSent
                            if m.s[r].iss.is_some_and(|x| x.wrapping_add(1) == s.ack) =>
                        {
                            m.go(r, State::Established, "SYN-ACK")
                        }
                        _ => {}
                    }
                } else if let Some(n) = m.s[r].rcv_nxt {
                    if le(s.seq, n) && !le(end, n) {
                        m.s[r].rcv_nxt = Some(end);
                    }
                }
                if s.has(FIN) {
                    m.s[r].peer_fin.get_or_insert(end);
                }
                if s.has(ACK) && !(s.has(SYN) && m.s[r].state == State::Established) {
                    m.ack_arrives(r, s.ack, s.has(FIN), false);
                }
                if m.s[r].peer_fin.is_some() && m.fin_ready(r) {
                    m.fin_arrives(r, false);
                }
            }
        }
        let mut recv_log = std::mem::take(&mut m.log);
        recv_log.append(&mut crossed);
        for tr in sent_log.iter().chain(&recv_log) {
            if tr.to == State::TimeWait {
                out.time_wait_at[tr.side] = Some(i);
            }
        }
        out.before[i] = sent_log;
        out.after[i] = recv_log;
    }
    out.final_states = [m.s[0].state, m.s[1].state];
    out
}

/// Why side `f` (in state `st`) probably sent the RST at index `i`.
fn rst_reason(conn: &Connection, i: usize, st: State, sd: &Side) -> String {
    let segs = &conn.segments;
    let f = dir_of(conn, &segs[i]);
    let prev_peer = segs[..i].iter().rev().find(|s| dir_of(conn, s) != f);
    let replies_syn = prev_peer.is_some_and(|p| p.flags & (SYN | ACK) == SYN);
    // How many times the side sent its last sequence number before giving up.
    let last_own = segs[..i]
        .iter()
        .rev()
        .find(|s| dir_of(conn, s) == f && s.seg_len() > 0);
    let resends = last_own.map_or(0, |l| {
        segs[..i]
            .iter()
            .filter(|s| dir_of(conn, s) == f && s.seq == l.seq && s.seg_len() > 0)
            .count()
    });
    match st {
        State::Closed | State::Listen if replies_syn => {
            let port = segs[i].src.port();
            format!("nothing listens on port {port}: connection refused")
        }
        State::Listen => "a segment other than SYN arrived at a listener".into(),
        State::Closed => "a segment arrived for a connection this side no longer has".into(),
        State::TimeWait => "a segment arrived in TIME-WAIT".into(),
        State::SynSent => "the connect was aborted".into(),
        _ if resends >= 4 => format!("gave up after {} retransmissions", resends - 1),
        State::FinWait1 | State::FinWait2 | State::Closing | State::LastAck
            if prev_peer.is_some_and(|p| p.len > 0) =>
        {
            "data arrived after its application closed the socket".into()
        }
        _ if sd.peer_fin_done || prev_peer.is_some_and(|p| p.len > 0) => {
            "its application closed the socket with unread data, or aborted".into()
        }
        _ => "its application aborted the connection (or a timeout)".into(),
    }
}

/// Does `side` send a SYN without ACK after segment `i`, before anything else?
fn later_syn(conn: &Connection, i: usize, side: usize) -> bool {
    conn.segments[i + 1..]
        .iter()
        .find(|s| dir_of(conn, s) == side)
        .is_some_and(|s| s.flags & (SYN | ACK) == SYN)
}
