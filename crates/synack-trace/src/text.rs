//! The terminal picture.

use synack_proto::{Instant, State};

use crate::label::{seg_parts, truncate, wrap_words, SegParts};
use crate::model::{Model, Row, RowKind, ACK, CWR, ECE, FIN, PSH, RST, SYN, URG};
use crate::{Ladder, RenderOptions};

/// Flags as the textbooks say them: `SYN`, `SYN-ACK`, `ACK`, `PSH-ACK`, `FIN-ACK`, `RST`,
/// `RST-ACK`, `FIN-PSH-ACK`; no flags at all is `NULL`.
pub fn flags_words(flags: u8) -> String {
    let order = [
        (SYN, "SYN"),
        (FIN, "FIN"),
        (RST, "RST"),
        (PSH, "PSH"),
        (URG, "URG"),
        (ECE, "ECE"),
        (CWR, "CWR"),
        (ACK, "ACK"),
    ];
    let v: Vec<&str> = order
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|&(_, n)| n)
        .collect();
    if v.is_empty() {
        "NULL".to_string()
    } else {
        v.join("-")
    }
}

/// Widest state name (`SYN-RECEIVED`).
const STATE_W: usize = 12;

/// Narrowest arrow column. With an 8-column time, the ladder then needs 64 columns; a width
/// asked for below that is exceeded rather than drawing arrows too short to read.
const MIN_ARROW: usize = 24;

pub(crate) struct Glyphs {
    line: char,
    dash: char,
    lost: char,
    right: char,
    left: char,
    to: &'static str,
    pub(crate) ellipsis: &'static str,
    vdots: &'static str,
}

pub(crate) const UNICODE: Glyphs = Glyphs {
    line: '─',
    dash: '┄',
    lost: '✗',
    right: '>',
    left: '<',
    to: "→",
    ellipsis: "…",
    vdots: "⋮",
};

const ASCII: Glyphs = Glyphs {
    line: '-',
    dash: '.',
    lost: 'x',
    right: '>',
    left: '<',
    to: "->",
    ellipsis: "...",
    vdots: ":",
};

pub(crate) fn width(s: &str) -> usize {
    s.chars().count()
}

fn rep(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

pub(crate) fn time_str(t: Instant) -> String {
    let us = t.as_micros();
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn pad_right(s: &str, w: usize) -> String {
    format!("{s}{}", rep(' ', w.saturating_sub(width(s))))
}

fn pad_left(s: &str, w: usize) -> String {
    format!("{}{s}", rep(' ', w.saturating_sub(width(s))))
}

struct Painter {
    on: bool,
}

impl Painter {
    fn paint(&self, s: &str, code: &str) -> String {
        if self.on && !code.is_empty() && !s.trim().is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn state(&self, s: Option<State>, w: usize) -> String {
        let Some(s) = s else {
            return rep(' ', w);
        };
        let code = match s {
            State::Established => "1;32",
            State::Listen | State::SynSent | State::SynReceived => "36",
            State::TimeWait => "35",
            State::Closed => "1",
            _ => "33",
        };
        let text = pad_right(s.name(), w);
        // Colour only the name, not the padding.
        let name = s.name();
        format!("{}{}", self.paint(name, code), &text[name.len()..])
    }
}

fn flags_code(flags: u8) -> &'static str {
    if flags & RST != 0 {
        "31"
    } else if flags & SYN != 0 {
        "36"
    } else if flags & FIN != 0 {
        "33"
    } else {
        ""
    }
}

/// Direction and look of one arrow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arrow {
    /// Departs and arrives on the same row.
    Full,
    /// Never arrived.
    Lost,
    /// Departure row of a segment whose arrival is drawn later.
    Departs,
    /// The later arrival row.
    Arrives,
}

fn arrow(label: &str, w: usize, left_to_right: bool, kind: Arrow, g: &Glyphs) -> String {
    let body = width(label) + 4; // two-char lead, spaces round the label
    let fill = w.saturating_sub(body + 1).max(1);
    let (lead, tail) = match kind {
        Arrow::Full | Arrow::Lost => (rep(g.line, 2), rep(g.line, fill)),
        Arrow::Departs => {
            let solid = fill / 2;
            if left_to_right {
                (
                    rep(g.line, 2),
                    format!("{}{}", rep(g.line, solid), rep(g.dash, fill - solid)),
                )
            } else {
                (rep(g.dash, 2), rep(g.line, fill))
            }
        }
        Arrow::Arrives => (rep(g.dash, 2), rep(g.dash, fill)),
    };
    let head_r = match kind {
        Arrow::Full | Arrow::Arrives => g.right,
        Arrow::Lost => g.lost,
        Arrow::Departs => g.dash,
    };
    let head_l = match kind {
        Arrow::Full | Arrow::Arrives => g.left,
        Arrow::Lost => g.lost,
        Arrow::Departs => g.dash,
    };
    if left_to_right {
        format!("{lead} {label} {tail}{head_r}")
    } else {
        // Keep the label near the left, like the left-to-right arrows, so the columns of
        // numbers line up; the head is on the left.
        format!("{head_l}{lead} {label} {tail}")
    }
}

pub(crate) fn trans_label(model: &Model, tr: usize, g: &Glyphs) -> String {
    let t = &model.trans[tr];
    format!("({} {} {}: {})", t.from.name(), g.to, t.to.name(), t.cause)
}

/// A row is ordinary data transfer (collapsible) if it is a segment without SYN/FIN/RST whose
/// arrival changed no state.
pub(crate) fn plain(model: &Model, row: &Row) -> bool {
    let seg = match row.kind {
        RowKind::Send { seg } | RowKind::Arrive { seg } => seg,
        RowKind::Trans { .. } => return false,
    };
    let s = &model.segs[seg];
    let noted = model.notes.get(&s.idx).is_some_and(|a| !a.notes.is_empty());
    match &s.info {
        Some(i) => i.flags & (SYN | FIN | RST) == 0 && s.caused.is_empty() && !noted,
        None => false,
    }
}

/// A line's label before it is fitted to the arrow column.
enum Raw {
    Seg(SegParts),
    Text(String),
}

enum Line<'a> {
    Row(&'a Row),
    Collapsed {
        segments: usize,
        lost: usize,
        retrans: usize,
        from: Instant,
        to: Instant,
    },
}

pub(crate) fn render(ladder: &Ladder, model: &Model, opts: &RenderOptions) -> String {
    let g = if opts.ascii { &ASCII } else { &UNICODE };
    let p = Painter { on: opts.color };

    // Which rows to draw.
    let mut lines: Vec<Line<'_>> = Vec::new();
    let rows = &model.rows;
    let mut i = 0;
    while i < rows.len() {
        if let Some(k) = opts.collapse {
            let mut j = i;
            while j < rows.len() && plain(model, &rows[j]) {
                j += 1;
            }
            if j - i > 2 * k + 1 {
                lines.extend(rows[i..i + k].iter().map(Line::Row));
                let middle = &rows[i + k..j - k];
                let mut segments = 0;
                let mut lost = 0;
                let mut retrans = 0;
                for r in middle {
                    if let RowKind::Send { seg } = r.kind {
                        segments += 1;
                        let s = &model.segs[seg];
                        lost += usize::from(s.arrived.is_none());
                        retrans += usize::from(s.retransmission);
                    }
                }
                lines.push(Line::Collapsed {
                    segments,
                    lost,
                    retrans,
                    from: Instant::from_micros(middle[0].key.0),
                    to: Instant::from_micros(middle[middle.len() - 1].key.0),
                });
                lines.extend(rows[j - k..j].iter().map(Line::Row));
                i = j;
                continue;
            }
            if j > i {
                lines.extend(rows[i..j].iter().map(Line::Row));
                i = j;
                continue;
            }
        }
        lines.push(Line::Row(&rows[i]));
        i += 1;
    }

    // Column widths: time, state, arrow, state. The arrow column takes what the requested
    // width leaves (never under MIN_ARROW), and labels are fitted to it, not the other way round.
    let tw = lines
        .iter()
        .filter_map(|l| match l {
            Line::Row(r) => Some(width(&time_str(Instant::from_micros(r.key.0)))),
            Line::Collapsed { .. } => None,
        })
        .max()
        .unwrap_or(8)
        .max(8);
    // Labels in full first: with no width asked for (0), the arrows are as wide as the
    // longest of them needs.
    let raws: Vec<Raw> = lines
        .iter()
        .map(|line| match line {
            Line::Row(r) => match r.kind {
                RowKind::Send { seg } => Raw::Seg(seg_parts(model, &model.segs[seg], opts, false)),
                RowKind::Arrive { seg } => Raw::Seg(seg_parts(model, &model.segs[seg], opts, true)),
                RowKind::Trans { tr } => Raw::Text(trans_label(model, tr, g)),
            },
            Line::Collapsed {
                segments,
                lost,
                retrans,
                from,
                to,
            } => {
                let mut extra = Vec::new();
                if *lost > 0 {
                    extra.push(format!("{lost} lost"));
                }
                if *retrans > 0 {
                    extra.push(format!(
                        "{retrans} retransmission{}",
                        if *retrans == 1 { "" } else { "s" }
                    ));
                }
                let extra = if extra.is_empty() {
                    String::new()
                } else {
                    format!(", {}", extra.join(", "))
                };
                Raw::Text(format!(
                    "{e} {segments} data segments and ACKs, {} to {}{extra} {e}",
                    time_str(*from),
                    time_str(*to),
                    e = g.ellipsis
                ))
            }
        })
        .collect();
    let fixed = 2 + tw + 2 + STATE_W + 2 + 2 + STATE_W;
    let aw = if opts.width == 0 {
        let need = raws
            .iter()
            .map(|r| match r {
                Raw::Seg(p) => width(&p.line(0, true)) + 10,
                Raw::Text(t) => width(t) + 10,
            })
            .max()
            .unwrap_or(0);
        need.max(MIN_ARROW)
    } else {
        opts.width.saturating_sub(fixed).max(MIN_ARROW)
    };
    // An arrow is its label plus six columns (lead, spaces, at least one of shaft, head).
    let room = aw - 6;
    // Continuation lines (notes) start under the label and may run into the right state column.
    let cont_indent = 2 + tw + 2 + STATE_W + 2 + 3;
    let cont_room = (fixed + aw).saturating_sub(cont_indent).max(room);

    // Labels fitted to the arrow column, each with the lines that continue it.
    let labels: Vec<(String, Vec<String>)> = lines
        .iter()
        .zip(raws)
        .map(|(line, raw)| match (line, raw) {
            (_, Raw::Seg(p)) => {
                let (l, below) = p.fit(room, g);
                (l, wrap_words(&below.join(" "), cont_room, g))
            }
            (Line::Collapsed { .. }, Raw::Text(t)) => {
                // Too long for the arrow column: centred lines of their own.
                let mut parts = wrap_words(&t, aw, g).into_iter();
                let first = parts.next().unwrap_or_default();
                (first, parts.collect())
            }
            (Line::Row(_), Raw::Text(t)) => (truncate(&t, aw + 2 + STATE_W, g), Vec::new()),
        })
        .collect();

    let mut out = String::new();
    // Header: who is who, then where each side starts.
    let title = |name: &str, addr: std::net::IpAddr, port: Option<u16>| match port {
        Some(port) => match addr {
            std::net::IpAddr::V6(a) => format!("{name} [{a}]:{port}"),
            std::net::IpAddr::V4(a) => format!("{name} {a}:{port}"),
        },
        None => format!("{name} {addr}"),
    };
    let lt = title(&ladder.left, ladder.left_addr, model.port[0]);
    let rt = title(&ladder.right, ladder.right_addr, model.port[1]);
    // The right title starts over the right state column, or further left so that it ends
    // within the width; if the two titles cannot share a line, the right one gets its own.
    let rt_col = 2 + tw + 2 + STATE_W + 2 + aw + 2;
    let rt_col = if opts.width == 0 {
        rt_col
    } else {
        rt_col.min((fixed + aw).saturating_sub(width(&rt)))
    };
    let lead = format!("  {}  {lt}", pad_left("time", tw));
    if width(&lead) + 2 <= rt_col {
        out.push_str(&format!("{}{rt}", pad_right(&lead, rt_col)));
    } else {
        out.push_str(&lead);
        out.push('\n');
        out.push_str(&format!("{}{rt}", rep(' ', rt_col.max(2))));
    }
    out.push('\n');
    let init = format!(
        "  {}  {}  {}  {}",
        rep(' ', tw),
        p.state(model.initial[0], STATE_W),
        rep(' ', aw),
        p.state(model.initial[1], STATE_W)
    );
    out.push_str(init.trim_end());
    out.push('\n');

    for (line, (label, more)) in lines.iter().zip(&labels) {
        let text = match line {
            Line::Collapsed { .. } => {
                let mut text = String::new();
                for (k, part) in std::iter::once(label).chain(more).enumerate() {
                    let lpad = aw.saturating_sub(width(part)) / 2;
                    let row = format!(
                        "  {}  {}  {}  {}",
                        rep(' ', tw),
                        pad_right(g.vdots, STATE_W),
                        pad_right(&format!("{}{part}", rep(' ', lpad)), aw),
                        g.vdots
                    );
                    if k > 0 {
                        text.push('\n');
                    }
                    text.push_str(row.trim_end());
                }
                out.push_str(&text);
                out.push('\n');
                continue;
            }
            Line::Row(r) => {
                let time = pad_left(&time_str(Instant::from_micros(r.key.0)), tw);
                let time = p.paint(&time, "2");
                let (mid, ls, rs) = match r.kind {
                    RowKind::Send { seg } | RowKind::Arrive { seg } => {
                        let s = &model.segs[seg];
                        let kind = match r.kind {
                            RowKind::Arrive { .. } => Arrow::Arrives,
                            _ if s.arrived.is_none() => Arrow::Lost,
                            _ if !s.merged => Arrow::Departs,
                            _ => Arrow::Full,
                        };
                        let a = arrow(label, aw, s.from_left, kind, g);
                        let code = if kind == Arrow::Lost {
                            "31"
                        } else {
                            s.info.as_ref().map_or("", |i| flags_code(i.flags))
                        };
                        (p.paint(&a, code), r.left_state, r.right_state)
                    }
                    RowKind::Trans { tr } => {
                        // A transition has one side's state; its label may run over the other
                        // side's empty state column.
                        let left = model.trans[tr].left;
                        let t = if left {
                            pad_right(label, aw)
                        } else {
                            pad_left(label, STATE_W + 2 + aw)
                        };
                        let t = p.paint(&t, "2");
                        if !left {
                            let text =
                                format!("  {time}  {t}  {}", p.state(r.right_state, STATE_W));
                            out.push_str(text.trim_end());
                            out.push('\n');
                            continue;
                        }
                        (t, r.left_state, None)
                    }
                };
                format!(
                    "  {time}  {}  {mid}  {}",
                    p.state(ls, STATE_W),
                    p.state(rs, STATE_W)
                )
            }
        };
        out.push_str(text.trim_end());
        out.push('\n');
        if let Line::Row(_) = line {
            for c in more {
                out.push_str(&format!("{}{c}", rep(' ', cont_indent)));
                out.push('\n');
            }
        }
    }
    out
}
