//! Segment labels for the terminal ladder, and how they shrink to fit a narrow arrow column
//! (issue 23): options are dropped in a fixed order, notes and overflowing numbers move onto
//! continuation lines, and only a first word wider than the arrow is cut.

use crate::model::{Model, Seg, ACK, SYN};
use crate::text::{flags_words, time_str, width, Glyphs};
use crate::RenderOptions;

/// A segment's label in pieces, so a narrow ladder can drop the least telling ones first.
pub(crate) struct SegParts {
    /// In display order; `None` is always shown (flags, seq, ack, len), `Some(rank)` may be
    /// dropped, lower ranks first.
    pieces: Vec<(Option<u8>, String)>,
    /// `[note]`s: moved onto continuation lines when they do not fit.
    notes: Vec<String>,
}

impl SegParts {
    pub(crate) fn line(&self, keep: u8, notes: bool) -> String {
        let mut words: Vec<&str> = self
            .pieces
            .iter()
            .filter(|(rank, _)| rank.is_none_or(|r| r >= keep))
            .map(|(_, t)| t.as_str())
            .collect();
        if notes {
            words.extend(self.notes.iter().map(String::as_str));
        }
        words.join(" ")
    }

    /// The label for an arrow with room for `room` columns of text, and the notes that go on
    /// continuation lines. Order of shrinking: notes move below, then timestamps, the window,
    /// the window scale, the ISN / send time, SACK-permitted, MSS and SACK blocks go, then the
    /// last numbers move below too, and last the first piece is cut short.
    pub(crate) fn fit(&self, room: usize, g: &Glyphs) -> (String, Vec<String>) {
        let full = self.line(0, true);
        if width(&full) <= room {
            return (full, Vec::new());
        }
        let notes = self.notes.clone();
        for keep in 0..=RANK_MAX + 1 {
            let l = self.line(keep, false);
            if width(&l) <= room {
                return (l, notes);
            }
        }
        // Even the core does not fit: the whole pieces that do stay on the arrow, the rest
        // leads the continuation line; only a first piece wider than the arrow is cut.
        let core: Vec<&str> = self
            .pieces
            .iter()
            .filter(|(rank, _)| rank.is_none())
            .map(|(_, t)| t.as_str())
            .collect();
        let mut label = truncate(core[0], room, g);
        let mut k = 1;
        while k < core.len() && width(&label) + 1 + width(core[k]) <= room {
            label.push(' ');
            label.push_str(core[k]);
            k += 1;
        }
        let mut below: Vec<String> = core[k..].iter().map(|t| t.to_string()).collect();
        below.extend(notes);
        (label, below)
    }
}

// Drop order. The ISN stays longer than the window and scale: it is what the relative
// numbers count from.
const RANK_TS: u8 = 0;
const RANK_WIN: u8 = 1;
const RANK_WSCALE: u8 = 2;
const RANK_ANNOT: u8 = 3;
const RANK_SACKOK: u8 = 4;
const RANK_MSS: u8 = 5;
const RANK_SACK: u8 = 6;
const RANK_MAX: u8 = RANK_SACK;

/// `s` cut to `w` columns, ending in an ellipsis when cut.
pub(crate) fn truncate(s: &str, w: usize, g: &Glyphs) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    let keep = w.saturating_sub(width(g.ellipsis));
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(g.ellipsis);
    out
}

/// Words of `text` in lines of at most `w` columns (a word longer than `w` is cut).
pub(crate) fn wrap_words(text: &str, w: usize, g: &Glyphs) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let word = truncate(word, w, g);
        if !cur.is_empty() && width(&cur) + 1 + width(&word) > w {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

pub(crate) fn seg_label(model: &Model, s: &Seg, opts: &RenderOptions, arriving: bool) -> String {
    seg_parts(model, s, opts, arriving).line(0, true)
}

pub(crate) fn seg_parts(model: &Model, s: &Seg, opts: &RenderOptions, arriving: bool) -> SegParts {
    let Some(i) = &s.info else {
        return SegParts {
            pieces: vec![(None, format!("unparseable packet ({} bytes)", s.raw_len))],
            notes: Vec::new(),
        };
    };
    let mut pieces = vec![(None, flags_words(i.flags))];
    let mut notes = Vec::new();
    let seq = if opts.absolute {
        Some(i.seq)
    } else {
        model.rel_seq(s)
    };
    if let Some(seq) = seq {
        pieces.push((None, format!("seq={seq}")));
    }
    if i.flags & SYN != 0 && !opts.absolute && !arriving {
        pieces.push((Some(RANK_ANNOT), format!("(isn {})", i.seq)));
    }
    if i.flags & ACK != 0 {
        let ack = if opts.absolute {
            Some(i.ack)
        } else {
            model.rel_ack(s)
        };
        if let Some(ack) = ack {
            pieces.push((None, format!("ack={ack}")));
        }
    }
    if i.len > 0 {
        pieces.push((None, format!("len={}", i.len)));
    }
    if arriving {
        pieces.push((Some(RANK_ANNOT), format!("(sent {})", time_str(s.sent))));
        return SegParts { pieces, notes };
    }
    pieces.push((Some(RANK_WIN), format!("win={}", i.win)));
    if let Some(m) = i.mss {
        pieces.push((Some(RANK_MSS), format!("mss={m}")));
    }
    if let Some(w) = i.wscale {
        pieces.push((Some(RANK_WSCALE), format!("wscale={w}")));
    }
    if i.sack_permitted {
        pieces.push((Some(RANK_SACKOK), "sackOK".to_string()));
    }
    if !i.sack.is_empty() {
        let base = if opts.absolute {
            0
        } else {
            // SACK blocks name the receiver's sequence space, i.e. the other side's ISN.
            let other = usize::from(s.from_left);
            model.isn[other].unwrap_or(0)
        };
        let blocks: Vec<String> = i
            .sack
            .iter()
            .map(|(l, r)| format!("{}-{}", l.wrapping_sub(base), r.wrapping_sub(base)))
            .collect();
        pieces.push((Some(RANK_SACK), format!("sack={}", blocks.join(","))));
    }
    if let Some((v, e)) = i.ts {
        pieces.push((Some(RANK_TS), format!("ts={v}/{e}")));
    }
    match model.notes.get(&s.idx) {
        Some(a) => {
            for n in &a.notes {
                notes.push(format!("[{}]", n.text));
            }
        }
        None if s.retransmission => notes.push("[retransmission]".to_string()),
        None => {}
    }
    if s.arrived.is_none() {
        notes.push("[lost]".to_string());
    }
    SegParts { pieces, notes }
}
