//! The web page: one self-contained HTML file (inline CSS, SVG and a few lines of script; no
//! network fetches) with a ladder diagram per connection — the two timelines with each side's
//! state along them, one arrow per segment with its label, hover details, and the summary.
//!
//! It draws the same rows as the terminal picture ([`crate::render_text`]): the same labels,
//! the same states, the same departure/arrival split for segments that cross.

use std::fmt::Write as _;

use synack_proto::{Instant, State};

use crate::label::seg_label;
use crate::model::{Model, Row, RowKind, ACK, FIN, RST, SYN};
use crate::text::{plain, time_str, trans_label, UNICODE};
use crate::{Ladder, RenderOptions};

/// How [`render_html`] draws.
#[derive(Clone, Debug)]
pub struct HtmlOptions {
    /// Page title.
    pub title: String,
    /// Raw sequence numbers.
    pub absolute: bool,
    /// As [`RenderOptions::collapse`]: long runs of plain data rows keep `k` rows at each end.
    pub collapse: Option<usize>,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            title: "synack ladder".into(),
            absolute: false,
            collapse: None,
        }
    }
}

/// One diagram on the page.
pub struct HtmlPart<'a> {
    pub heading: String,
    pub ladder: &'a Ladder,
    /// Preformatted summary lines shown under the diagram.
    pub summary: String,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn state_class(s: State) -> &'static str {
    match s {
        State::Established => "st-est",
        State::Listen | State::SynSent | State::SynReceived => "st-open",
        State::TimeWait => "st-tw",
        State::Closed => "st-closed",
        _ => "st-close",
    }
}

const ROW_H: f64 = 22.0;
const TOP: f64 = 64.0;
const TIME_W: f64 = 96.0;
const STATE_W: f64 = 118.0;
const CHAR_W: f64 = 7.3;

enum Line<'a> {
    Row(&'a Row),
    Gap(usize, Instant, Instant),
}

/// The page with one diagram per part.
pub fn render_html(parts: &[HtmlPart<'_>], opts: &HtmlOptions) -> String {
    let mut body = String::new();
    for (n, p) in parts.iter().enumerate() {
        let _ = writeln!(body, "<section><h2>{}</h2>", esc(&p.heading));
        body.push_str(&diagram(p.ladder, opts, n));
        if !p.summary.is_empty() {
            let _ = writeln!(body, "<pre class=\"summary\">{}</pre>", esc(&p.summary));
        }
        body.push_str("</section>\n");
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }}
h1 {{ font-size: 1.3em; }} h2 {{ font-size: 1.05em; margin-top: 2em; }}
svg {{ font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }}
.tl {{ stroke: #999; stroke-width: 1; }}
.arrow line {{ stroke: #333; stroke-width: 1.3; }}
.arrow polygon {{ fill: #333; }}
.arrow text {{ fill: #222; }}
.arrow.syn line {{ stroke: #0a7ea4; }} .arrow.syn polygon {{ fill: #0a7ea4; }}
.arrow.fin line {{ stroke: #b26b00; }} .arrow.fin polygon {{ fill: #b26b00; }}
.arrow.rst line {{ stroke: #c0392b; }} .arrow.rst polygon {{ fill: #c0392b; }}
.arrow.lost line {{ stroke: #c0392b; stroke-dasharray: 4 3; }}
.arrow.noted text {{ fill: #8e44ad; }}
.arrow:hover line {{ stroke-width: 3; }} .arrow:hover text {{ font-weight: bold; }}
.arrow line.hit {{ stroke: transparent !important; stroke-width: 12 !important; stroke-dasharray: none; }}
.x {{ fill: #c0392b; font-size: 15px; font-weight: bold; }}
.time {{ fill: #777; }}
.state {{ font-weight: bold; }}
.trans {{ fill: #666; font-style: italic; }}
.gap {{ fill: #777; }}
.st-est {{ fill: #1e8449; }} .st-open {{ fill: #0a7ea4; }} .st-tw {{ fill: #8e44ad; }}
.st-closed {{ fill: #555; }} .st-close {{ fill: #b26b00; }}
rect.st-est, rect.st-open, rect.st-tw, rect.st-closed, rect.st-close {{ opacity: 0.35; }}
#detail {{ position: sticky; top: 0; background: #f6f6f0; border: 1px solid #ddd; padding: .5em;
  min-height: 2.6em; white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 12px; }}
.summary {{ background: #f6f6f6; padding: .8em; border-left: 3px solid #0a7ea4; }}
</style>
</head>
<body>
<h1>{title}</h1>
<div id="detail">Hover over a segment for its details.</div>
{body}<script>
(function () {{
  var d = document.getElementById('detail');
  document.querySelectorAll('.arrow').forEach(function (g) {{
    g.addEventListener('mouseenter', function () {{ d.textContent = g.getAttribute('data-detail'); }});
  }});
}})();
</script>
</body>
</html>
"#,
        title = esc(&opts.title),
        body = body
    )
}

fn lines<'a>(model: &'a Model, collapse: Option<usize>) -> Vec<Line<'a>> {
    let rows = &model.rows;
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        if let Some(k) = collapse {
            let mut j = i;
            while j < rows.len() && plain(model, &rows[j]) {
                j += 1;
            }
            if j - i > 2 * k + 1 {
                out.extend(rows[i..i + k].iter().map(Line::Row));
                let mid = &rows[i + k..j - k];
                let n = mid
                    .iter()
                    .filter(|r| matches!(r.kind, RowKind::Send { .. }))
                    .count();
                out.push(Line::Gap(
                    n,
                    Instant::from_micros(mid[0].key.0),
                    Instant::from_micros(mid[mid.len() - 1].key.0),
                ));
                out.extend(rows[j - k..j].iter().map(Line::Row));
                i = j;
                continue;
            }
            if j > i {
                out.extend(rows[i..j].iter().map(Line::Row));
                i = j;
                continue;
            }
        }
        out.push(Line::Row(&rows[i]));
        i += 1;
    }
    out
}

fn detail(model: &Model, ladder: &Ladder, seg: usize, label: &str) -> String {
    let s = &model.segs[seg];
    let (from, to) = if s.from_left {
        (&ladder.left, &ladder.right)
    } else {
        (&ladder.right, &ladder.left)
    };
    let mut d = format!("{from} → {to}: {label}\nsent {}", time_str(s.sent));
    match s.arrived {
        Some(a) if a != s.sent => {
            let _ = write!(d, ", arrived {}", time_str(a));
        }
        Some(_) => {}
        None => d.push_str(", never arrived (lost)"),
    }
    if let Some(a) = model.notes.get(&s.idx) {
        if let Some(f) = a.frame {
            let _ = write!(d, ", frame {f}");
        }
    }
    if let Some(i) = &s.info {
        let _ = write!(
            d,
            "\nseq {} ack {} (absolute), {} payload bytes, window {}",
            i.seq, i.ack, i.len, i.win
        );
    }
    let (ls, rs) = model.segment_states(seg);
    let st = |x: Option<State>| x.map_or("?", |s| s.name());
    let _ = write!(
        d,
        "\nafter it: {} {}, {} {}",
        ladder.left,
        st(ls),
        ladder.right,
        st(rs)
    );
    d
}

fn diagram(ladder: &Ladder, opts: &HtmlOptions, n: usize) -> String {
    let model = Model::build(ladder);
    let ropts = RenderOptions {
        absolute: opts.absolute,
        ..RenderOptions::default()
    };
    let lines = lines(&model, opts.collapse);
    // Which line each segment's arrival is on (for arrows that span rows).
    let mut arrive_line = std::collections::HashMap::new();
    for (k, l) in lines.iter().enumerate() {
        if let Line::Row(r) = l {
            if let RowKind::Arrive { seg } = r.kind {
                arrive_line.insert(seg, k);
            }
        }
    }
    let labels: Vec<String> = lines
        .iter()
        .map(|l| match l {
            Line::Row(r) => match r.kind {
                RowKind::Send { seg } => seg_label(&model, &model.segs[seg], &ropts, false),
                RowKind::Arrive { seg } => seg_label(&model, &model.segs[seg], &ropts, true),
                RowKind::Trans { tr } => trans_label(&model, tr, &UNICODE),
            },
            Line::Gap(k, a, b) => format!(
                "… {k} data segments and ACKs, {} to {} …",
                time_str(*a),
                time_str(*b)
            ),
        })
        .collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as f64;
    let mid = (longest * CHAR_W + 60.0).max(520.0);
    let xl = TIME_W + STATE_W;
    let xr = xl + mid;
    let width = xr + STATE_W + 10.0;
    let y_of = |k: usize| TOP + k as f64 * ROW_H;
    let height = y_of(lines.len()) + ROW_H;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="ladder-{n}" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">"#
    );
    let title = |name: &str, addr: std::net::IpAddr, port: Option<u16>| match port {
        Some(p) if addr.is_ipv6() => format!("{name} [{addr}]:{p}"),
        Some(p) => format!("{name} {addr}:{p}"),
        None => format!("{name} {addr}"),
    };
    let _ = writeln!(
        svg,
        r#"<text x="{xl:.1}" y="18" text-anchor="middle" class="state">{}</text><text x="{xr:.1}" y="18" text-anchor="middle" class="state">{}</text>"#,
        esc(&title(&ladder.left, ladder.left_addr, model.port[0])),
        esc(&title(&ladder.right, ladder.right_addr, model.port[1]))
    );
    // State bands along each timeline, and state names where they change.
    let mut current: [Option<State>; 2] = model.initial;
    let mut band_start = [TOP - ROW_H, TOP - ROW_H];
    let mut bands = String::new();
    let mut names = String::new();
    let xs = [xl, xr];
    for (side, cur) in current.iter().enumerate() {
        if let Some(s) = *cur {
            let (x, anchor) = if side == 0 {
                (xl - 8.0, "end")
            } else {
                (xr + 8.0, "start")
            };
            let _ = writeln!(
                names,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" class="state {}">{}</text>"#,
                TOP - ROW_H + 4.0,
                state_class(s),
                s.name()
            );
        }
    }
    let mut body = String::new();
    for (k, (line, label)) in lines.iter().zip(&labels).enumerate() {
        let y = y_of(k);
        let row = match line {
            Line::Gap(..) => {
                let _ = writeln!(
                    body,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" class="gap">{}</text>"#,
                    (xl + xr) / 2.0,
                    y + 4.0,
                    esc(label)
                );
                continue;
            }
            Line::Row(r) => *r,
        };
        let _ = writeln!(
            body,
            r#"<text x="6" y="{:.1}" class="time">{}</text>"#,
            y + 4.0,
            time_str(Instant::from_micros(row.key.0))
        );
        for (side, st) in [(0, row.left_state), (1, row.right_state)] {
            let Some(st) = st else { continue };
            if current[side] != Some(st) {
                if let Some(old) = current[side] {
                    let _ = writeln!(
                        bands,
                        r#"<rect x="{:.1}" y="{:.1}" width="5" height="{:.1}" class="{}"/>"#,
                        xs[side] - 2.5,
                        band_start[side],
                        (y - band_start[side]).max(0.0),
                        state_class(old)
                    );
                }
                band_start[side] = y;
                current[side] = Some(st);
                let (x, anchor) = if side == 0 {
                    (xl - 8.0, "end")
                } else {
                    (xr + 8.0, "start")
                };
                let _ = writeln!(
                    names,
                    r#"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" class="state {}">{}</text>"#,
                    y + 4.0,
                    state_class(st),
                    st.name()
                );
            }
        }
        match row.kind {
            RowKind::Send { seg } => {
                let s = &model.segs[seg];
                let flags = s.info.as_ref().map_or(0, |i| i.flags);
                let mut class = String::from("arrow");
                if flags & RST != 0 {
                    class.push_str(" rst");
                } else if flags & SYN != 0 {
                    class.push_str(" syn");
                } else if flags & FIN != 0 {
                    class.push_str(" fin");
                } else if flags & ACK != 0 {
                    class.push_str(" ack");
                }
                if s.arrived.is_none() {
                    class.push_str(" lost");
                }
                if model.notes.get(&s.idx).is_some_and(|a| !a.notes.is_empty()) {
                    class.push_str(" noted");
                }
                let (x1, x2) = if s.from_left { (xl, xr) } else { (xr, xl) };
                let y2 = match arrive_line.get(&seg) {
                    Some(&ak) => y_of(ak),
                    None => y + 8.0,
                };
                let (ex, ey) = if s.arrived.is_none() {
                    (x1 + (x2 - x1) * 0.62, y + (y2 - y) * 0.62)
                } else {
                    (x2, y2)
                };
                let dir = if x2 > x1 { 1.0 } else { -1.0 };
                let d = detail(&model, ladder, seg, label);
                let _ = write!(
                    body,
                    r#"<g class="{class}" data-seg="{seg}" data-detail="{}"><title>{}</title><line class="hit" x1="{x1:.1}" y1="{y:.1}" x2="{ex:.1}" y2="{ey:.1}"/><line x1="{x1:.1}" y1="{y:.1}" x2="{ex:.1}" y2="{ey:.1}"/>"#,
                    esc(&d),
                    esc(&d)
                );
                if s.arrived.is_some() {
                    let _ = write!(
                        body,
                        r#"<polygon points="{ex:.1},{ey:.1} {:.1},{:.1} {:.1},{:.1}"/>"#,
                        ex - dir * 9.0,
                        ey - 4.0,
                        ex - dir * 9.0,
                        ey + 4.0
                    );
                } else {
                    let _ = write!(
                        body,
                        r#"<text x="{ex:.1}" y="{:.1}" text-anchor="middle" class="x">✗</text>"#,
                        ey + 5.0
                    );
                }
                let (tx, anchor) = if s.from_left {
                    (x1 + 14.0, "start")
                } else {
                    (x1 - 14.0, "end")
                };
                let _ = writeln!(
                    body,
                    r#"<text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}">{}</text></g>"#,
                    y - 3.0,
                    esc(label)
                );
            }
            RowKind::Arrive { .. } => {}
            RowKind::Trans { tr } => {
                let left = model.trans[tr].left;
                let (x, anchor) = if left {
                    (xl + 10.0, "start")
                } else {
                    (xr - 10.0, "end")
                };
                let _ = writeln!(
                    body,
                    r#"<text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" class="trans">{}</text>"#,
                    y + 4.0,
                    esc(label)
                );
            }
        }
    }
    let end = y_of(lines.len());
    for (side, cur) in current.iter().enumerate() {
        if let Some(st) = *cur {
            let _ = writeln!(
                bands,
                r#"<rect x="{:.1}" y="{:.1}" width="5" height="{:.1}" class="{}"/>"#,
                xs[side] - 2.5,
                band_start[side],
                (end - band_start[side]).max(0.0),
                state_class(st)
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<line class="tl" x1="{xl:.1}" y1="26" x2="{xl:.1}" y2="{end:.1}"/><line class="tl" x1="{xr:.1}" y1="26" x2="{xr:.1}" y2="{end:.1}"/>"#
    );
    svg.push_str(&bands);
    svg.push_str(&names);
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    svg
}
