//! Every state transition and every segment is a `tracing` event (DESIGN: observable), also
//! now that the hot paths emit them from out-of-line functions behind a level check (log.rs):
//! a subscriber that takes everything sees the handshake's segments both ways and each
//! side's transitions, with their fields.

mod util;

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use util::*;

/// Each event as "message key=value …" (fields in the order they were recorded).
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={}", field.name(), value));
    }
}

impl Subscriber for Collect {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn segments_and_transitions_are_tracing_events() {
    let collect = Collect::default();
    tracing::subscriber::with_default(collect.clone(), || {
        let mut p = Pair::new();
        p.establish();
    });
    let lines = collect.0.lock().unwrap().clone();
    let has = |parts: &[&str]| lines.iter().any(|l| parts.iter().all(|p| l.contains(p)));
    // The SYN leaves A and arrives at B; the SYN-ACK the other way.
    for (dir, flags) in [("out", "SYN"), ("in", "SYN")] {
        assert!(
            has(&["TRACE", "message=segment", &format!("dir={dir}"), flags]),
            "no {dir} {flags} segment in {lines:#?}"
        );
    }
    assert!(has(&[
        "TRACE",
        "message=segment",
        "dir=in",
        "seq=",
        "ack=",
        "len=0"
    ]));
    // Each side's transitions, with the cause.
    for (from, to) in [
        ("CLOSED", "SYN-SENT"),
        ("SYN-SENT", "ESTABLISHED"),
        ("LISTEN", "SYN-RECEIVED"),
        ("SYN-RECEIVED", "ESTABLISHED"),
    ] {
        assert!(
            has(&[
                "DEBUG",
                "message=state",
                &format!("from={from}"),
                &format!("to={to}"),
                "cause="
            ]),
            "no {from} -> {to} in {lines:#?}"
        );
    }
}
