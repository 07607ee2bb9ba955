//! `synack demo`, run as a user would: the built binary, its output and exit status.

use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "../../synack/tests/support/mod.rs"]
mod support;

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .arg("demo")
        .arg("--no-color")
        .args(args)
        .output()
        .expect("run synack")
}

/// Run the demo, require success, return stdout.
fn demo(args: &[&str]) -> String {
    let out = synack(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "synack demo {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The diagram's rows (after the header paragraph, before the summary).
fn rows(out: &str) -> Vec<&str> {
    out.lines()
        .skip_while(|l| !l.trim_start().starts_with("time"))
        .take_while(|l| !l.starts_with("Summary"))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// The state shown in the left column of a row (the first word after the time).
fn left_state(row: &str) -> &str {
    row.split_whitespace().nth(1).unwrap_or("")
}

fn right_state(row: &str) -> &str {
    row.split_whitespace().last().unwrap_or("")
}

/// The index of the first row at or after `from` that contains `needle`.
fn find(rows: &[&str], from: usize, needle: &str) -> usize {
    rows.iter()
        .skip(from)
        .position(|r| r.contains(needle))
        .map(|i| i + from)
        .unwrap_or_else(|| {
            panic!(
                "no row with {needle:?} after row {from}:\n{}",
                rows.join("\n")
            )
        })
}

#[test]
fn default_demo_draws_the_textbook_connection() {
    let out = demo(&[]);
    let r = rows(&out);
    let all = r.join("\n");

    let syn = find(&r, 0, "── SYN seq=0 (isn ");
    assert!(r[syn].contains("mss=1460"), "{all}");
    assert_eq!(left_state(r[syn]), "SYN-SENT", "{all}");
    assert_eq!(right_state(r[syn]), "SYN-RECEIVED", "{all}");

    let synack = find(&r, syn, "<── SYN-ACK seq=0 (isn ");
    assert!(r[synack].contains("ack=1 "), "{all}");
    assert_eq!(left_state(r[synack]), "ESTABLISHED", "{all}");
    assert_eq!(right_state(r[synack]), "SYN-RECEIVED", "{all}");

    let ack = find(&r, synack, "── ACK seq=1 ack=1 win=");
    assert_eq!(right_state(r[ack]), "ESTABLISHED", "{all}");

    let hello = find(&r, ack, "── PSH-ACK seq=1 ack=1 len=5");
    let reply = find(&r, hello, "<── PSH-ACK seq=1 ack=6 len=5");

    let close = find(&r, reply, "(ESTABLISHED → FIN-WAIT-1: ");
    let fin = find(&r, close, "── FIN-ACK seq=6 ack=6");
    assert_eq!(left_state(r[fin]), "FIN-WAIT-1", "{all}");
    assert_eq!(right_state(r[fin]), "CLOSE-WAIT", "{all}");

    let ack_of_fin = find(&r, fin, "<── ACK seq=6 ack=7");
    assert_eq!(left_state(r[ack_of_fin]), "FIN-WAIT-2", "{all}");
    assert_eq!(right_state(r[ack_of_fin]), "CLOSE-WAIT", "{all}");

    let last_ack = find(&r, ack_of_fin, "(CLOSE-WAIT → LAST-ACK: ");
    assert_eq!(right_state(r[last_ack]), "LAST-ACK", "{all}");

    let fin2 = find(&r, last_ack, "<── FIN-ACK seq=6 ack=7");
    assert_eq!(left_state(r[fin2]), "TIME-WAIT", "{all}");
    assert_eq!(right_state(r[fin2]), "LAST-ACK", "{all}");

    let last = find(&r, fin2, "── ACK seq=7 ack=7");
    assert_eq!(left_state(r[last]), "TIME-WAIT", "{all}");
    assert_eq!(right_state(r[last]), "CLOSED", "{all}");

    let tw = find(&r, last, "(TIME-WAIT → CLOSED: ");
    assert_eq!(left_state(r[tw]), "CLOSED", "{all}");
    // TIME-WAIT lasts 2×MSL = 240 s of virtual time.
    assert!(r[tw].trim_start().starts_with("240.0"), "{all}");
    assert_eq!(tw, r.len() - 1, "{all}");

    assert!(
        out.contains("5 bytes sent, 5 received and verified"),
        "{out}"
    );
    assert!(
        out.contains("final states      client CLOSED, server CLOSED"),
        "{out}"
    );
}

#[test]
fn simultaneous_close_goes_through_closing_on_both_sides() {
    let out = demo(&["--simultaneous-close"]);
    let r = rows(&out);
    let all = r.join("\n");
    assert!(r.iter().any(|l| left_state(l) == "CLOSING"), "{all}");
    assert!(r.iter().any(|l| right_state(l) == "CLOSING"), "{all}");
    assert!(
        !all.contains("FIN-WAIT-2") && !all.contains("LAST-ACK"),
        "{all}"
    );
    // Both sides end in TIME-WAIT, then CLOSED.
    let to_closed = r
        .iter()
        .filter(|l| l.contains("(TIME-WAIT → CLOSED"))
        .count();
    assert_eq!(to_closed, 2, "{all}");
}

#[test]
fn simultaneous_open_goes_through_syn_received_on_both_sides() {
    let out = demo(&["--simultaneous-open"]);
    let r = rows(&out);
    let all = r.join("\n");
    assert!(!all.contains("LISTEN"), "nobody listens:\n{all}");
    assert!(r.iter().any(|l| left_state(l) == "SYN-RECEIVED"), "{all}");
    assert!(r.iter().any(|l| right_state(l) == "SYN-RECEIVED"), "{all}");
    // Each side: SYN-SENT, then SYN-RECEIVED, then ESTABLISHED.
    for side in [left_state as fn(&str) -> &str, right_state] {
        let states: Vec<&str> = r.iter().map(|l| side(l)).collect();
        let pos = |s: &str| states.iter().position(|x| *x == s);
        let (a, b, c) = (pos("SYN-SENT"), pos("SYN-RECEIVED"), pos("ESTABLISHED"));
        assert!(a.is_some() && a < b && b < c, "{all}");
    }
    assert!(out.contains("verified byte for byte"), "{out}");
}

#[test]
fn half_close_server_sends_after_the_clients_fin() {
    let out = demo(&["--half-close"]);
    let r = rows(&out);
    let all = r.join("\n");
    let fin = find(&r, 0, "── FIN-PSH-ACK");
    assert_eq!(right_state(r[fin]), "CLOSE-WAIT", "{all}");
    let data = find(&r, fin, "<── PSH-ACK");
    assert_eq!(left_state(r[data]), "FIN-WAIT-2", "{all}");
    assert!(r[data].contains("len=5"), "{all}");
    assert!(
        out.contains("5 bytes sent, 5 received and verified"),
        "{out}"
    );
}

#[test]
fn json_output_parses() {
    let out = demo(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["left"]["name"], "client");
    assert_eq!(v["right"]["port"], 80);
    assert_eq!(v["summary"]["ok"], true);
    assert_eq!(v["summary"]["verified"], true);
    assert_eq!(v["summary"]["final_states"]["client"], "CLOSED");
    let events = v["events"].as_array().expect("events");
    let flags: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "segment")
        .filter_map(|e| e["flags"].as_str())
        .collect();
    assert_eq!(&flags[..3], ["SYN", "SYN|ACK", "ACK"], "{flags:?}");
    let syn = events.iter().find(|e| e["flags"] == "SYN").expect("SYN");
    assert_eq!(syn["rel_seq"], 0);
    assert_eq!(syn["options"]["mss"], 1460);
    assert_eq!(syn["left_state"], "SYN-SENT");
    assert_eq!(syn["right_state"], "SYN-RECEIVED");
    assert!(events
        .iter()
        .any(|e| e["type"] == "transition" && e["to"] == "TIME-WAIT"));
}

#[test]
fn lossy_bulk_transfer_is_verified_and_collapsed() {
    let out = demo(&["--bytes", "200000", "--loss", "0.05"]);
    assert!(
        out.contains("200000 bytes sent, 200000 received and verified byte for byte"),
        "{out}"
    );
    assert!(out.contains("data segments and ACKs"), "{out}");
    assert!(
        out.contains("[retransmission]") || out.contains("retransmissions"),
        "{out}"
    );
    assert!(rows(&out).len() < 120, "the picture stays short:\n{out}");
}

#[test]
fn bad_arguments_fail_clearly() {
    let out = synack(&["--loss", "1.5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--loss"));
}

fn tshark() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tshark"))
            .find(|p| p.is_file())
    })
}

/// Wireshark reads our capture, finds every checksum good and sees the handshake and the
/// close in order.
#[test]
fn pcap_reads_back_in_tshark() {
    let Some(tshark) = tshark() else {
        support::skip("tshark not found");
        return;
    };
    let dir = std::env::temp_dir().join(format!("synack-demo-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("demo.pcap");
    let path = file.to_str().expect("utf-8 path");
    demo(&["--pcap", path]);
    let out = Command::new(tshark)
        .args([
            "-r",
            path,
            "-T",
            "fields",
            "-e",
            "tcp.flags.str",
            "-e",
            "tcp.checksum.status",
        ])
        .args(["-o", "tcp.check_checksum:TRUE"])
        .output()
        .expect("run tshark");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut kinds = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (flags, status) = line.split_once('\t').expect("two fields");
        // 1 = good; 0 = bad; 2 = unverified.
        assert_eq!(status.trim(), "1", "checksum not good: {line}\n{text}");
        // tcp.flags.str is like "·······A··S·": letters for set flags.
        let has = |c: char| flags.contains(c);
        kinds.push(match (has('S'), has('A'), has('F'), has('R')) {
            (true, false, _, _) => "SYN",
            (true, true, _, _) => "SYN-ACK",
            (false, _, true, _) => "FIN",
            (false, _, false, true) => "RST",
            _ => "ACK",
        });
    }
    let pos = |k: &str, from: usize| {
        kinds
            .iter()
            .skip(from)
            .position(|x| *x == k)
            .map(|i| i + from)
    };
    let syn = pos("SYN", 0).expect("SYN");
    let synack = pos("SYN-ACK", syn).expect("SYN-ACK after SYN");
    let ack = pos("ACK", synack).expect("ACK after SYN-ACK");
    let fin = pos("FIN", ack).expect("FIN after ACK");
    pos("FIN", fin + 1).expect("a FIN from each side");
    assert!(!kinds.contains(&"RST"), "{kinds:?}");
}

#[test]
fn big_transfer_summary_reports_each_sender() {
    for cc in ["newreno", "cubic"] {
        let out = demo(&["--bytes", "2000000", "--loss", "0.01", "--cc", cc]);
        assert!(out.contains("100 Mbit/s"), "{out}");
        let name = if cc == "cubic" { "CUBIC" } else { "NewReno" };
        assert!(out.contains(&format!("both hosts use {name}")), "{out}");
        for side in ["client as sender  goodput ", "server as sender  goodput "] {
            // The field, with the lines it wraps onto (indented under its text).
            let line: String = out
                .lines()
                .skip_while(|l| !l.trim_start().starts_with(side.trim_start()))
                .enumerate()
                .take_while(|(k, l)| *k == 0 || l.starts_with(&" ".repeat(20)))
                .map(|(_, l)| l.trim())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(!line.is_empty(), "no {side:?} line:\n{out}");
            for want in [
                "Mbit/s",
                "retransmissions ",
                "fast recoveries ",
                "final cwnd ",
                "srtt ",
            ] {
                assert!(line.contains(want), "{line}\n{out}");
            }
        }
        assert!(out.contains("received and verified byte for byte"), "{out}");
    }
    let json = demo(&["--bytes", "1000000", "--cc", "newreno", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let flow = &v["summary"]["flows"]["client_to_server"];
    assert_eq!(flow["congestion"], "newreno", "{flow}");
    assert!(
        flow["goodput_bytes_per_s"].as_f64().unwrap() > 0.0,
        "{flow}"
    );
    assert!(flow["final_cwnd"].as_u64().unwrap() > 0, "{flow}");
}

/// Issue 23: every line of the demo (prose, ladder, summary) fits the width asked for, counted
/// in characters (the arrows are box-drawing characters), with and without loss (notes,
/// retransmissions, collapsed runs) and at the default of 100 when stdout is not a terminal.
#[test]
fn every_line_fits_the_width_asked_for() {
    let runs: [(&[&str], usize); 4] = [
        (&["--width", "80"], 80),
        (&["--width", "80", "--loss", "0.2", "--bytes", "20000"], 80),
        (&["--width", "72", "--simultaneous-open"], 72),
        (&["--loss", "0.1", "--bytes", "50000", "--seed", "3"], 100),
    ];
    for (args, width) in runs {
        let out = demo(args);
        for line in out.lines() {
            assert!(
                line.chars().count() <= width,
                "synack demo {args:?}: {} columns > {width}: {line:?}\n{out}",
                line.chars().count()
            );
        }
        // The ladder uses the room: its widest row is the width asked for.
        let widest = rows(&out).iter().map(|l| l.chars().count()).max();
        assert_eq!(widest, Some(width), "synack demo {args:?}\n{out}");
    }
}
