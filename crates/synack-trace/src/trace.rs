//! `synack trace`: any capture file, as ladders with both sides' inferred states.
//!
//! [`trace_capture`] reads the file ([`crate::pcap`]), finds the TCP connections
//! ([`crate::segments`]), analyses each one as Wireshark does (retransmissions, duplicate ACKs,
//! windows, ...) plus which segments were probably lost after the capture point, infers both
//! sides' states by running RFC 9293's state machine on what each sent and received, and builds
//! a [`Ladder`] the renderers draw like any other — the one renderer `synack demo` uses.
//!
//! A capture is taken at one point, so each segment is drawn at the time it was captured, with
//! departure and arrival on one row; a segment that was probably lost after the capture point
//! ends in `✗`, and its receiver's state does not move. Rows whose capture times tie are spaced
//! one microsecond apart to keep the file's order.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde_json::{json, Value};
use synack_proto::{Instant, State};

use crate::analysis::{analyse, dir_of, Analysis, SegFlags};
use crate::infer::{infer, Inferred};
use crate::model::drawn_with_arrival;
use crate::pcap::{self, NotACapture};
use crate::segments::{connections, decode, Connection, Filter, ACK, RST, SYN};
use crate::{Annotation, Ladder, Note};

/// Which connections to trace.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// Only the connection with this number (1-based, in order of first appearance).
    pub conn: Option<usize>,
    /// Only connections matching this filter.
    pub filter: Option<Filter>,
}

/// Why a capture could not be traced.
#[derive(Clone, Debug)]
pub enum TraceError {
    NotACapture(NotACapture),
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::NotACapture(e) => e.fmt(f),
        }
    }
}

/// A capture, traced.
#[derive(Clone, Debug)]
pub struct TraceResult {
    /// `pcap` or `pcapng`.
    pub format: &'static str,
    pub frames: usize,
    pub tcp_segments: usize,
    /// Connections in the whole file (before `--conn` / `--filter`).
    pub total_connections: usize,
    /// Problems reading the file (what came before them was read).
    pub warnings: Vec<String>,
    /// Link types this reader cannot look inside, with how many frames had each (those
    /// frames are skipped; a warning names each).
    pub unreadable_linktypes: Vec<(u32, usize)>,
    /// The chosen connections.
    pub connections: Vec<Traced>,
}

/// One connection, traced.
#[derive(Clone, Debug)]
pub struct Traced {
    pub ladder: Ladder,
    pub summary: Summary,
}

/// A connection's numbers.
#[derive(Clone, Debug)]
pub struct Summary {
    pub id: usize,
    /// Left (the opener, when the capture shows who opened) and right endpoint.
    pub endpoints: [SocketAddr; 2],
    pub names: [String; 2],
    pub first_frame: u64,
    pub last_frame: u64,
    /// Start, relative to the capture's first frame, and duration (ns).
    pub start_ns: u64,
    pub duration_ns: u64,
    pub segments: [usize; 2],
    /// Payload bytes, retransmissions included.
    pub payload_bytes: [u64; 2],
    /// Distinct payload bytes (highest sequence number reached).
    pub unique_bytes: [u64; 2],
    pub retransmissions: [usize; 2],
    pub lost: [usize; 2],
    pub dup_acks: [usize; 2],
    /// (min, avg, max, samples) of data→ACK times seen at the capture point, both directions.
    pub rtt_ns: Option<(u64, u64, u64, usize)>,
    /// SYN → SYN-ACK, SYN-ACK → ACK, and SYN → ACK (Wireshark's initial RTT).
    pub handshake_ns: Option<(u64, u64, u64)>,
    /// Who closed first and how.
    pub closed_first: Option<(usize, &'static str)>,
    /// Per side: (entered TIME-WAIT at, relative ns; time seen in it until the capture ended).
    pub time_wait: [Option<(u64, u64)>; 2],
    pub initial_states: [State; 2],
    pub final_states: [State; 2],
    pub mid_connection: bool,
}

/// Read a capture and trace the connections `opts` chooses.
pub fn trace_capture(bytes: &[u8], opts: &TraceOptions) -> Result<TraceResult, TraceError> {
    let cap = pcap::read(bytes).map_err(TraceError::NotACapture)?;
    let t0 = cap.frames.iter().map(|f| f.ts_ns).min().unwrap_or(0);
    let t_end = cap.frames.iter().map(|f| f.ts_ns).max().unwrap_or(0);
    let mut unreadable: std::collections::BTreeMap<u32, usize> = Default::default();
    for f in cap
        .frames
        .iter()
        .filter(|f| !pcap::readable_linktype(f.linktype))
    {
        *unreadable.entry(f.linktype).or_default() += 1;
    }
    let mut warnings = cap.warnings;
    for (lt, n) in &unreadable {
        warnings.push(format!(
            "link type {lt} is not one this reader understands: its {n} frame{} skipped",
            if *n == 1 { " was" } else { "s were" }
        ));
    }
    let segs: Vec<_> = cap.frames.iter().filter_map(decode).collect();
    let tcp_segments = segs.len();
    let conns = connections(segs);
    let total = conns.len();
    let chosen = conns
        .into_iter()
        .filter(|c| opts.conn.is_none_or(|n| n == c.id))
        .filter(|c| opts.filter.as_ref().is_none_or(|f| f.matches(c.a, c.b)))
        .map(|c| trace_one(&c, t0, t_end))
        .collect();
    Ok(TraceResult {
        format: cap.format,
        frames: cap.frames.len(),
        tcp_segments,
        total_connections: total,
        warnings,
        unreadable_linktypes: unreadable.into_iter().collect(),
        connections: chosen,
    })
}

fn notes_for(a: &SegFlags) -> Vec<Note> {
    let mut v = Vec::new();
    let mut add = |kind: &str, text: String| {
        v.push(Note {
            kind: kind.into(),
            text,
        })
    };
    if a.fast_retransmission {
        add("fast_retransmission", "fast retransmission".into());
    }
    if a.tail_loss_probe {
        add("tail_loss_probe", "tail loss probe".into());
    }
    if a.rack_retransmission {
        add("rack_retransmission", "RACK retransmission".into());
    }
    if a.retransmission {
        add("retransmission", "retransmission".into());
    }
    if a.spurious_retransmission {
        add("spurious_retransmission", "spurious retransmission".into());
    }
    if a.out_of_order {
        add("out_of_order", "out-of-order".into());
    }
    if a.previous_not_captured {
        add("lost_segment", "previous segment not captured".into());
    }
    if a.acked_unseen {
        add("ack_lost_segment", "ACKs a segment not captured".into());
    }
    if let Some(n) = a.dup_ack {
        add("duplicate_ack", format!("dup ACK #{n}"));
    }
    if a.zero_window {
        add("zero_window", "zero window".into());
    }
    if a.zero_window_probe {
        add("zero_window_probe", "zero-window probe".into());
    }
    if a.zero_window_probe_ack {
        add("zero_window_probe_ack", "zero-window probe ACK".into());
    }
    if a.window_update {
        add("window_update", "window update".into());
    }
    if a.window_full {
        add("window_full", "window full".into());
    }
    if a.keep_alive {
        add("keep_alive", "keep-alive".into());
    }
    if a.keep_alive_ack {
        add("keep_alive_ack", "keep-alive ACK".into());
    }
    v
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn trace_one(conn: &Connection, t0: u64, t_end: u64) -> Traced {
    let an: Analysis = analyse(conn);
    let inf: Inferred = infer(conn, &an);
    let segs = &conn.segments;
    let opened = !inf.mid_connection;
    let names = if opened {
        ["client".to_string(), "server".to_string()]
    } else {
        ["A".to_string(), "B".to_string()]
    };
    let mut l = Ladder::new(&names[0], conn.a.ip(), &names[1], conn.b.ip());
    l.initial = [Some(inf.initial[0]), Some(inf.initial[1])];

    // Handshake timings.
    let syn = segs.iter().rposition(|s| s.flags & (SYN | ACK) == SYN);
    let synack = syn.and_then(|i| {
        segs.iter()
            .skip(i)
            .position(|s| s.flags & (SYN | ACK) == SYN | ACK)
            .map(|p| p + i)
    });
    let hs_ack = synack.and_then(|i| {
        let opener = dir_of(conn, &segs[i]) ^ 1;
        segs.iter()
            .skip(i + 1)
            .position(|s| dir_of(conn, s) == opener && s.flags & (SYN | ACK | RST) == ACK)
            .map(|p| p + i + 1)
    });
    let handshake_ns = match (syn, synack, hs_ack) {
        (Some(a), Some(b), Some(c)) => {
            let (ta, tb, tc) = (segs[a].ts_ns, segs[b].ts_ns, segs[c].ts_ns);
            Some((
                tb.saturating_sub(ta),
                tc.saturating_sub(tb),
                tc.saturating_sub(ta),
            ))
        }
        _ => None,
    };

    let mut last_us: Option<u64> = None;
    let mut summary_lost = [0usize; 2];
    let mut retrans = [0usize; 2];
    let mut dups = [0usize; 2];
    let mut counts = [0usize; 2];
    let mut payload = [0u64; 2];
    let mut high = [0u32; 2];
    for (i, s) in segs.iter().enumerate() {
        let f = dir_of(conn, s);
        let a = &an.flags[i];
        let mut t = s.ts_ns.saturating_sub(t0) / 1000;
        if let Some(p) = last_us {
            t = t.max(p + 1);
        }
        let at = Instant::from_micros(t);
        for tr in &inf.before[i] {
            l.push_transition(at, tr.side == 0, tr.from, tr.to, &tr.cause);
        }
        let lost = a.lost_after_capture;
        let idx = l.events.len();
        l.push_segment(at, (!lost).then_some(at), f == 0, s.packet.clone());
        let mut notes = notes_for(a);
        if let Some(why) = &inf.rst_reason[i] {
            notes.push(Note {
                kind: "rst".into(),
                text: format!("RST: {why}"),
            });
        }
        if Some(i) == hs_ack {
            if let Some((_, _, rtt)) = handshake_ns {
                notes.push(Note {
                    kind: "handshake_rtt".into(),
                    text: format!("handshake RTT {}", ms(rtt)),
                });
            }
        }
        if s.truncated {
            notes.push(Note {
                kind: "truncated".into(),
                text: "payload cut by the capture".into(),
            });
        }
        l.annotations.insert(
            idx,
            Annotation {
                frame: Some(s.frame),
                notes,
            },
        );
        // Transitions the model will not draw on the arrival's row come just after it.
        let mut after_t = t;
        for tr in &inf.after[i] {
            let on_row = tr.side != f && drawn_with_arrival(tr.from, tr.to, s.flags);
            let when = if on_row { t } else { t + 1 };
            after_t = after_t.max(when);
            l.push_transition(
                Instant::from_micros(when),
                tr.side == 0,
                tr.from,
                tr.to,
                &tr.cause,
            );
        }
        last_us = Some(after_t);

        counts[f] += 1;
        payload[f] += u64::from(s.len);
        summary_lost[f] += usize::from(lost);
        retrans[f] += usize::from(a.retransmission || a.spurious_retransmission);
        dups[f] += usize::from(a.dup_ack.is_some());
        if s.len > 0 {
            let base = an.base[f].unwrap_or(s.seq.wrapping_sub(1));
            let end = s.seq.wrapping_add(s.len).wrapping_sub(base);
            if (end.wrapping_sub(high[f]) as i32) > 0 {
                high[f] = end;
            }
        }
    }

    let samples: Vec<u64> = an.rtt_samples.iter().flatten().copied().collect();
    let rtt_ns = (!samples.is_empty()).then(|| {
        let min = samples.iter().copied().min().unwrap_or(0);
        let max = samples.iter().copied().max().unwrap_or(0);
        let avg = samples.iter().sum::<u64>() / samples.len() as u64;
        (min, avg, max, samples.len())
    });
    let first = segs.first().map_or(0, |s| s.ts_ns);
    let last = segs.last().map_or(0, |s| s.ts_ns);
    let mut time_wait = [None, None];
    for (side, tw) in time_wait.iter_mut().enumerate() {
        if let Some(i) = inf.time_wait_at[side] {
            if inf.final_states[side] == State::TimeWait {
                let entered = segs[i].ts_ns;
                *tw = Some((entered - t0.min(entered), t_end.saturating_sub(entered)));
            }
        }
    }
    let summary = Summary {
        id: conn.id,
        endpoints: [conn.a, conn.b],
        names,
        first_frame: segs.first().map_or(0, |s| s.frame),
        last_frame: segs.last().map_or(0, |s| s.frame),
        start_ns: first.saturating_sub(t0),
        duration_ns: last.saturating_sub(first),
        segments: counts,
        payload_bytes: payload,
        unique_bytes: [
            u64::from(high[0].saturating_sub(1)),
            u64::from(high[1].saturating_sub(1)),
        ],
        retransmissions: retrans,
        lost: summary_lost,
        dup_acks: dups,
        rtt_ns,
        handshake_ns,
        closed_first: inf.closed_first.map(|(s, how, _)| (s, how)),
        time_wait,
        initial_states: inf.initial,
        final_states: inf.final_states,
        mid_connection: inf.mid_connection,
    };
    Traced { ladder: l, summary }
}

impl Summary {
    /// Title line: `connection 1: client 127.0.0.1:40000 ⇄ server 127.0.0.1:8080`.
    pub fn title(&self) -> String {
        format!(
            "connection {}: {} {} <-> {} {} (frames {}-{})",
            self.id,
            self.names[0],
            self.endpoints[0],
            self.names[1],
            self.endpoints[1],
            self.first_frame,
            self.last_frame
        )
    }

    /// The summary as indented lines.
    pub fn text(&self) -> String {
        let n = &self.names;
        let mut o = String::new();
        let _ = writeln!(o, "Summary of connection {}", self.id);
        let _ = writeln!(
            o,
            "  duration          {:.6} s (from {:.6} s into the capture)",
            self.duration_ns as f64 / 1e9,
            self.start_ns as f64 / 1e9
        );
        for (i, dir) in [
            (0, format!("{} → {}", n[0], n[1])),
            (1, format!("{} → {}", n[1], n[0])),
        ] {
            let _ = writeln!(
                o,
                "  {dir:<17} {} segments, {} payload bytes ({} distinct), {} retransmitted, {} lost, {} dup ACKs",
                self.segments[i],
                self.payload_bytes[i],
                self.unique_bytes[i],
                self.retransmissions[i],
                self.lost[i],
                self.dup_acks[i]
            );
        }
        if let Some((a, b, c)) = self.handshake_ns {
            let _ = writeln!(
                o,
                "  handshake         SYN→SYN-ACK {}, SYN-ACK→ACK {}, RTT {}",
                ms(a),
                ms(b),
                ms(c)
            );
        }
        if let Some((min, avg, max, k)) = self.rtt_ns {
            let _ = writeln!(
                o,
                "  RTT (data→ACK)    min {} / avg {} / max {} ({k} sample{}, at the capture point)",
                ms(min),
                ms(avg),
                ms(max),
                if k == 1 { "" } else { "s" }
            );
        }
        match self.closed_first {
            Some((side, how)) => {
                let _ = writeln!(o, "  closed first by   {} ({how})", n[side]);
            }
            None => {
                let _ = writeln!(
                    o,
                    "  closed first by   nobody (still open at the end of the capture)"
                );
            }
        }
        for (side, tw) in self.time_wait.iter().enumerate() {
            if let Some((_, dur)) = *tw {
                let _ = writeln!(
                    o,
                    "  TIME-WAIT         {} for at least {:.6} s (still in it when the capture ends)",
                    n[side],
                    dur as f64 / 1e9
                );
            }
        }
        let _ = writeln!(
            o,
            "  final states      {} {}, {} {}{}",
            n[0],
            self.final_states[0].name(),
            n[1],
            self.final_states[1].name(),
            if self.mid_connection {
                " (the capture starts mid-connection: states inferred from there)"
            } else {
                ""
            }
        );
        o
    }

    /// The summary as data.
    pub fn json(&self) -> Value {
        let side = |i: usize| {
            json!({
                "name": self.names[i],
                "endpoint": self.endpoints[i].to_string(),
                "segments": self.segments[i],
                "payload_bytes": self.payload_bytes[i],
                "unique_bytes": self.unique_bytes[i],
                "retransmissions": self.retransmissions[i],
                "lost": self.lost[i],
                "dup_acks": self.dup_acks[i],
                "initial_state": self.initial_states[i].name(),
                "final_state": self.final_states[i].name(),
                "time_wait": self.time_wait[i].map(|(at, d)| json!({"entered_s": at as f64 / 1e9, "at_least_s": d as f64 / 1e9})),
            })
        };
        json!({
            "id": self.id,
            "left": side(0),
            "right": side(1),
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "start_s": self.start_ns as f64 / 1e9,
            "duration_s": self.duration_ns as f64 / 1e9,
            "handshake": self.handshake_ns.map(|(a, b, c)| json!({"syn_to_synack_s": a as f64 / 1e9, "synack_to_ack_s": b as f64 / 1e9, "rtt_s": c as f64 / 1e9})),
            "rtt": self.rtt_ns.map(|(a, b, c, k)| json!({"min_s": a as f64 / 1e9, "avg_s": b as f64 / 1e9, "max_s": c as f64 / 1e9, "samples": k})),
            "closed_first": self.closed_first.map(|(s, how)| json!({"by": self.names[s], "how": how})),
            "mid_connection": self.mid_connection,
        })
    }
}
