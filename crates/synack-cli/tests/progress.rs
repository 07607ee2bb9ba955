//! Progress bars are drawn on standard error only when it is a terminal. Here both streams are
//! pipes (as in a script or CI), so long work must print no progress at all: no carriage
//! returns, no cursor escapes, no bar.

use std::process::{Command, Output};

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run synack")
}

/// Nothing a progress bar draws: `\r` redraws, ANSI cursor/erase escapes, bar cells, the bar's
/// prefix.
fn assert_no_progress(what: &str, stream: &str, text: &str, prefix: &str) {
    assert!(
        !text.contains('\r'),
        "{what}: carriage return on {stream}:\n{text}"
    );
    assert!(
        !text.contains('\x1b'),
        "{what}: escape sequence on {stream}:\n{text}"
    );
    assert!(
        !text.contains("[="),
        "{what}: bar cells on {stream}:\n{text}"
    );
    assert!(
        !text.contains("[>"),
        "{what}: bar cells on {stream}:\n{text}"
    );
    assert!(
        !text.contains(&format!("{prefix} [")),
        "{what}: bar on {stream}:\n{text}"
    );
    assert!(
        !text.contains("eta "),
        "{what}: bar's eta on {stream}:\n{text}"
    );
}

#[test]
fn soak_draws_no_progress_when_stderr_is_not_a_terminal() {
    let out = synack(&["soak", "--seeds", "40", "--jobs", "2"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "soak failed:\n{stdout}\n{stderr}");
    // The command did its work (and its plain stdout report is intact)...
    assert!(stdout.contains("40 run of 40: 40 passed"), "{stdout}");
    // ...and standard error, where the bar would go, stayed empty.
    assert_eq!(stderr, "", "soak wrote to stderr");
    assert_no_progress("soak", "stdout", &stdout, "soak");
}

#[test]
fn demo_of_4_mb_draws_no_progress_when_stderr_is_not_a_terminal() {
    // 4 MB each way: the size from which a terminal gets a bar.
    let out = synack(&["demo", "--no-color", "--bytes", "4000000"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("4000000 bytes sent, 4000000 received and verified"),
        "{stdout}"
    );
    assert_eq!(stderr, "", "demo wrote to stderr");
    assert_no_progress("demo --bytes", "stdout", &stdout, "demo");
}

#[test]
fn demo_json_of_4_mb_prints_only_json() {
    let out = synack(&["demo", "--json", "--bytes", "4000000"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(v["summary"]["bytes_each_way"], 4_000_000);
}

#[test]
fn trace_of_a_large_capture_draws_no_progress_when_stderr_is_not_a_terminal() {
    // 5 MB each way makes a capture of about 11 MB, over the size that gets a spinner.
    let pcap = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("progress-large.pcap");
    let pcap_arg = pcap.to_str().expect("utf-8 path");
    let made = synack(&["demo", "--bytes", "5000000", "--pcap", pcap_arg]);
    assert!(made.status.success());
    let size = std::fs::metadata(&pcap).expect("pcap written").len();
    assert!(size >= 8_000_000, "capture of {size} bytes is not large");
    let out = synack(&["trace", "--no-color", pcap_arg]);
    let _ = std::fs::remove_file(&pcap);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "trace failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ESTABLISHED"), "{stdout}");
    assert_eq!(stderr, "", "trace wrote to stderr");
    assert_no_progress("trace", "stdout", &stdout, "trace");
}
