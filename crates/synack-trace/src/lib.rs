//! synack-trace: ladder diagrams of TCP connections with both sides' states.
//!
//! A [`Ladder`] is what happened to one connection, seen from both ends: every IP packet either
//! side sent (with its send time and its arrival time, or none when it was lost) and every state
//! transition either side made (with its cause). [`render_text`] draws it the way TCP textbooks
//! and RFC 9293 §3.5 draw a connection — two timelines, one row per segment, an arrow in the
//! direction it travelled, and each side's state *after* the segment was processed:
//!
//! ```text
//!         time  client 10.0.0.1:49152                                      server 10.0.0.2:80
//!               CLOSED                                                     LISTEN
//!     0.000000  SYN-SENT      (CLOSED → SYN-SENT: connect)
//!     0.000000  SYN-SENT      ── SYN seq=0 (isn 1234) win=65535 mss=1460 ─>  SYN-RECEIVED
//!     0.010000  ESTABLISHED   <── SYN-ACK seq=0 (isn 5678) ack=1 … ────────  SYN-RECEIVED
//! ```
//!
//! Rules the picture follows:
//! - A row's time is the time the segment was *sent*. The receiver's column shows its state after
//!   the segment *arrived* and was processed (the transitions are matched to the arrival by time
//!   and by what the segment carries).
//! - When something happens at the receiver while a segment is in flight that would make that
//!   column read out of order (segments crossing in a simultaneous open or close), the segment is
//!   drawn as two rows: the departure (`── FIN-ACK … ┄┄┄`) and, later, the arrival
//!   (`┄┄ FIN-ACK … arrives ┄┄>`), as RFC 9293 Figure 13 does.
//! - A lost segment is an arrow ending in `✗`.
//! - A state change that no arriving segment caused (a user call such as CLOSE, a timer such as
//!   2MSL) is a row of its own with its cause.
//! - `seq=`/`ack=` are relative to each side's initial sequence number, as Wireshark shows them;
//!   the absolute ISN is printed on the SYN rows. [`RenderOptions::absolute`] prints raw numbers.
//!
//! [`render_json`] gives the same rows as data.

mod analysis;
mod html;
mod infer;
mod label;
mod model;
pub mod pcap;
mod recovery;
pub mod segments;
mod text;
mod trace;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Map, Value};
use synack_proto::{Instant, State};

pub use html::{render_html, HtmlOptions, HtmlPart};
pub use text::flags_words;
pub use trace::{trace_capture, Summary, TraceError, TraceOptions, TraceResult, Traced};

/// Everything that happened to one connection, from both ends.
#[derive(Clone, Debug)]
pub struct Ladder {
    /// Name of the left host (usually the client), e.g. `client`.
    pub left: String,
    /// Name of the right host, e.g. `server`.
    pub right: String,
    /// Address of the left host: segments from it are drawn left to right.
    pub left_addr: IpAddr,
    /// Address of the right host.
    pub right_addr: IpAddr,
    /// Segments and transitions, in the order they happened (ties keep this order).
    pub events: Vec<LadderEvent>,
    /// Each side's state before anything on the ladder (`None`: the state its first
    /// transition starts from, or unknown). A trace that starts mid-connection sets it.
    pub initial: [Option<State>; 2],
    /// What an analysis says about segments, by index into `events` (`synack trace` fills it;
    /// a segment with an annotation shows its notes instead of the built-in
    /// `[retransmission]`).
    pub annotations: BTreeMap<usize, Annotation>,
}

/// Analysis of one segment (see [`Ladder::annotations`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotation {
    /// Frame number in the capture it came from.
    pub frame: Option<u64>,
    /// Notes in display order.
    pub notes: Vec<Note>,
}

/// One remark about a segment: `kind` is a stable tag (`retransmission`, `duplicate_ack`,
/// `rst`, ...), `text` what the diagram prints (`dup ACK #2`, `RST: port closed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub kind: String,
    pub text: String,
}

/// One thing that happened.
#[derive(Clone, Debug)]
pub enum LadderEvent {
    /// An IP packet carrying a TCP segment.
    Segment {
        /// When the sender put it on the wire.
        sent: Instant,
        /// When it was handed to the receiver; `None` = lost (or corrupted, so dropped).
        arrived: Option<Instant>,
        /// Sent by the left host.
        from_left: bool,
        /// The whole IPv4 packet as sent.
        packet: Vec<u8>,
    },
    /// A state transition of the connection on one side.
    Transition {
        /// When it happened.
        at: Instant,
        /// On the left host.
        left: bool,
        /// State before.
        from: State,
        /// State after.
        to: State,
        /// Why, e.g. `close`, `2MSL timeout`.
        cause: String,
    },
}

/// How [`render_text`] draws.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// ANSI colours (states, flags, lost segments).
    pub color: bool,
    /// Line width in columns: the arrow column takes what the time and state columns leave,
    /// and a label too long for it sheds options (timestamps first, see `text.rs`), moves its
    /// notes (and, if need be, its last numbers) onto continuation lines, and only then is cut.
    /// Below 64 columns (the arrows' minimum) lines are wider than asked. 0: no limit, the
    /// arrows are as wide as the longest label needs.
    pub width: usize,
    /// Raw sequence and acknowledgment numbers instead of numbers relative to each ISN.
    pub absolute: bool,
    /// Plain ASCII (`---->`, `x`, `->`) instead of box-drawing characters.
    pub ascii: bool,
    /// `Some(k)`: a run of more than `2k + 1` ordinary data/ACK rows (no SYN/FIN/RST, no state
    /// change) keeps its first and last `k` rows and replaces the middle with one summary line.
    /// `None` draws every row.
    pub collapse: Option<usize>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            width: 100,
            absolute: false,
            ascii: false,
            collapse: None,
        }
    }
}

impl Ladder {
    /// An empty ladder between two named hosts.
    pub fn new(left: &str, left_addr: IpAddr, right: &str, right_addr: IpAddr) -> Ladder {
        Ladder {
            left: left.to_string(),
            right: right.to_string(),
            left_addr,
            right_addr,
            events: Vec::new(),
            initial: [None, None],
            annotations: BTreeMap::new(),
        }
    }

    /// Append a segment.
    pub fn push_segment(
        &mut self,
        sent: Instant,
        arrived: Option<Instant>,
        from_left: bool,
        packet: Vec<u8>,
    ) {
        self.events.push(LadderEvent::Segment {
            sent,
            arrived,
            from_left,
            packet,
        });
    }

    /// Append a transition.
    pub fn push_transition(
        &mut self,
        at: Instant,
        left: bool,
        from: State,
        to: State,
        cause: &str,
    ) {
        self.events.push(LadderEvent::Transition {
            at,
            left,
            from,
            to,
            cause: cause.to_string(),
        });
    }
}

/// The ladder as a terminal picture (one `\n`-terminated line per row).
pub fn render_text(ladder: &Ladder, opts: &RenderOptions) -> String {
    let model = model::Model::build(ladder);
    text::render(ladder, &model, opts)
}

fn secs(t: Instant) -> f64 {
    t.as_micros() as f64 / 1e6
}

fn state_value(s: Option<State>) -> Value {
    match s {
        Some(s) => Value::String(s.name().to_string()),
        None => Value::Null,
    }
}

fn transition_value(model: &model::Model, tr: usize) -> Value {
    let t = &model.trans[tr];
    json!({
        "t": secs(t.at),
        "t_us": t.at.as_micros(),
        "type": "transition",
        "side": if t.left { "left" } else { "right" },
        "from": t.from.name(),
        "to": t.to.name(),
        "cause": t.cause,
        "by_segment": t.by_segment.is_some(),
        "left_state": state_value(model.state_at(0, t.key)),
        "right_state": state_value(model.state_at(1, t.key)),
    })
}

/// The ladder as data: `{"left": {...}, "right": {...}, "events": [...]}`, the events in the
/// order [`render_text`] draws them (a segment split into departure and arrival rows is one
/// event here).
///
/// A segment event: `t` (send time, seconds), `t_us`, `arrived`/`arrived_us` (null when lost),
/// `type: "segment"`, `dir` (`"->"` left to right, `"<-"`), `flags` (`"SYN|ACK"`), `words`
/// (`"SYN-ACK"`), `seq`, `ack` (null without ACK), `rel_seq`, `rel_ack`, `len` (payload bytes),
/// `win`, `options` (`mss`, `wscale`, `sack_permitted`, `sack`, `ts`), `lost`,
/// `retransmission`, `left_state`, `right_state` (each side's state after the segment: the
/// sender's when sent, the receiver's after it arrived; null when unknown or lost).
///
/// A transition event: `t`, `t_us`, `type: "transition"`, `side` (`"left"`/`"right"`), `from`,
/// `to`, `cause`, `by_segment` (true when an arriving segment caused it; such transitions follow
/// their segment's event), `left_state`, `right_state` (both sides just after it).
pub fn render_json(ladder: &Ladder) -> Value {
    let model = model::Model::build(ladder);
    let side = |name: &str, addr: IpAddr, port: Option<u16>, isn: Option<u32>, init| {
        json!({
            "name": name,
            "addr": addr.to_string(),
            "port": port,
            "isn": isn,
            "initial_state": state_value(init),
        })
    };
    let mut events = Vec::new();
    for row in &model.rows {
        match row.kind {
            model::RowKind::Send { seg, .. } => {
                let s = &model.segs[seg];
                let mut o = Map::new();
                o.insert("t".into(), json!(secs(s.sent)));
                o.insert("t_us".into(), json!(s.sent.as_micros()));
                o.insert("arrived".into(), json!(s.arrived.map(secs)));
                o.insert("arrived_us".into(), json!(s.arrived.map(|a| a.as_micros())));
                o.insert("type".into(), json!("segment"));
                o.insert("dir".into(), json!(if s.from_left { "->" } else { "<-" }));
                match &s.info {
                    Some(i) => {
                        let has_ack = i.flags & model::ACK != 0;
                        o.insert("flags".into(), json!(model::flags_pipe(i.flags)));
                        o.insert("words".into(), json!(flags_words(i.flags)));
                        o.insert("src_port".into(), json!(i.src_port));
                        o.insert("dst_port".into(), json!(i.dst_port));
                        o.insert("seq".into(), json!(i.seq));
                        o.insert("ack".into(), json!(has_ack.then_some(i.ack)));
                        o.insert("rel_seq".into(), json!(model.rel_seq(s)));
                        o.insert("rel_ack".into(), json!(model.rel_ack(s)));
                        o.insert("len".into(), json!(i.len));
                        o.insert("win".into(), json!(i.win));
                        let mut opts = Map::new();
                        if let Some(m) = i.mss {
                            opts.insert("mss".into(), json!(m));
                        }
                        if let Some(w) = i.wscale {
                            opts.insert("wscale".into(), json!(w));
                        }
                        if i.sack_permitted {
                            opts.insert("sack_permitted".into(), json!(true));
                        }
                        if !i.sack.is_empty() {
                            opts.insert("sack".into(), json!(i.sack));
                        }
                        if let Some((v, e)) = i.ts {
                            opts.insert("ts".into(), json!([v, e]));
                        }
                        o.insert("options".into(), Value::Object(opts));
                    }
                    None => {
                        o.insert("unparseable".into(), json!(true));
                        o.insert("bytes".into(), json!(s.raw_len));
                    }
                }
                o.insert("lost".into(), json!(s.arrived.is_none()));
                match ladder.annotations.get(&s.idx) {
                    Some(a) => {
                        let has = |k: &str| a.notes.iter().any(|n| n.kind == k);
                        o.insert("retransmission".into(), json!(has("retransmission")));
                        o.insert("frame".into(), json!(a.frame));
                        let notes: Vec<Value> = a
                            .notes
                            .iter()
                            .map(|n| json!({"kind": n.kind, "text": n.text}))
                            .collect();
                        o.insert("notes".into(), Value::Array(notes));
                    }
                    None => {
                        o.insert("retransmission".into(), json!(s.retransmission));
                    }
                }
                let (ls, rs) = model.segment_states(seg);
                o.insert("left_state".into(), state_value(ls));
                o.insert("right_state".into(), state_value(rs));
                events.push(Value::Object(o));
                // What its arrival did, right after it.
                for &tr in &model.segs[seg].caused {
                    events.push(transition_value(&model, tr));
                }
            }
            model::RowKind::Arrive { .. } => {}
            model::RowKind::Trans { tr } => events.push(transition_value(&model, tr)),
        }
    }
    json!({
        "left": side(&ladder.left, ladder.left_addr, model.port[0], model.isn[0], model.initial[0]),
        "right": side(&ladder.right, ladder.right_addr, model.port[1], model.isn[1], model.initial[1]),
        "events": events,
    })
}

/// Counts over a ladder's segments, for summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LadderStats {
    /// Segments sent by the left host, by the right host.
    pub segments: [usize; 2],
    /// Of those, lost (never arrived), per side.
    pub lost: [usize; 2],
    /// Of those, retransmissions (they carry sequence space the side had sent before), per side.
    pub retransmissions: [usize; 2],
    /// Payload bytes sent (retransmissions included), per side.
    pub payload_bytes: [u64; 2],
    /// Packets that did not parse as IPv4/TCP.
    pub unparseable: usize,
}

/// Count segments, losses and retransmissions in each direction.
pub fn ladder_stats(ladder: &Ladder) -> LadderStats {
    let model = model::Model::build(ladder);
    let mut st = LadderStats::default();
    for s in &model.segs {
        let side = usize::from(!s.from_left);
        st.segments[side] += 1;
        st.lost[side] += usize::from(s.arrived.is_none());
        st.retransmissions[side] += usize::from(s.retransmission);
        match &s.info {
            Some(i) => st.payload_bytes[side] += i.len as u64,
            None => st.unparseable += 1,
        }
    }
    st
}

#[cfg(test)]
mod test_frames;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod trace_tests;

#[cfg(test)]
mod recovery_tests;

#[cfg(test)]
mod width_tests;
