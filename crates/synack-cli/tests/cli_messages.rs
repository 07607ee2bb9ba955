//! The first hour (issue 23): the built `synack` never panics on a closed pipe, refuses bad
//! values with a sentence naming the flag — before any device is opened — and says what
//! really happened when a connection times out.
//!
//! None of these needs root: every TUN command here also names a network namespace that does
//! not exist (`--netns`), so even a check that failed to run could not create a device in the
//! machine's own namespace; the assertions then fail on the message.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

mod common;
use common::synack;

/// Run a command that must fail; its standard error.
fn fails(args: &[&str]) -> String {
    let out = synack(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "synack {args:?} succeeded:\n{stderr}"
    );
    assert_ne!(
        out.status.code(),
        Some(101),
        "synack {args:?} panicked:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "synack {args:?}:\n{stderr}");
    stderr
}

/// The TUN options every device command below gets: a device and a namespace nobody uses.
const NO_DEVICE: [&str; 5] = [
    "--tun",
    "synackmsg0",
    "--netns",
    "synack-cli-messages-none",
    "--no-control",
];

/// A device command (serve, connect, ping) that must be refused before any device exists.
fn refused(cmd: &[&str], needle: &str) {
    let mut args = cmd.to_vec();
    args.extend(NO_DEVICE);
    let stderr = fails(&args);
    assert!(
        stderr.contains(needle),
        "synack {args:?}: expected {needle:?} in:\n{stderr}"
    );
    // The message is the value's, not the device's or the namespace's.
    assert!(
        !stderr.contains("synackmsg0") && !stderr.contains("synack-cli-messages-none"),
        "synack {args:?} got as far as the device:\n{stderr}"
    );
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-cli-messages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// Spawn `synack args` with stdout a pipe, read a little, close the pipe, and require a quiet
/// end: no panic message, no "Broken pipe", not status 101 — SIGPIPE (141 in a shell) or 0.
fn closed_pipe_is_quiet(args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn synack");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "synack {args:?} into a closed pipe:\n{stderr}"
    );
    assert_ne!(
        out.status.code(),
        Some(101),
        "synack {args:?}: {}",
        out.status
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success() || out.status.signal() == Some(libc_sigpipe()),
            "synack {args:?}: {} (expected SIGPIPE or 0)",
            out.status
        );
    }
}

#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13 // SIGPIPE on every Unix synack runs on
}

#[test]
fn demo_into_a_closed_pipe_ends_quietly() {
    // Hundreds of kilobytes of ladder: far more than a pipe buffer holds.
    closed_pipe_is_quiet(&["demo", "--no-color", "--full", "--bytes", "300000"]);
}

#[test]
fn trace_into_a_closed_pipe_ends_quietly() {
    let pcap = tmp("pipe.pcap");
    let out = synack(&[
        "demo",
        "--bytes",
        "300000",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "demo --pcap: {}", out.status);
    closed_pipe_is_quiet(&["trace", "--no-color", "--full", pcap.to_str().unwrap()]);
}

#[test]
fn negative_loss_is_parsed_then_refused_by_name() {
    for v in ["-0.1", "1", "1.5", "NaN"] {
        let stderr = fails(&["demo", "--loss", v]);
        assert!(
            stderr.contains("--loss must be between 0 and 1"),
            "--loss {v}:\n{stderr}"
        );
        assert!(
            !stderr.contains("unexpected argument"),
            "--loss {v}:\n{stderr}"
        );
    }
}

#[test]
fn negative_seconds_are_parsed_then_refused_by_name() {
    refused(
        &["serve", "--grace", "-1"],
        "--grace must be a number of seconds, at least 0",
    );
    refused(
        &["connect", "10.200.0.1:7", "--timeout", "-1"],
        "--timeout must be a number of seconds above 0",
    );
    refused(
        &["connect", "10.200.0.1:7", "--timeout", "0"],
        "--timeout must be a number of seconds above 0",
    );
    refused(
        &["ping", "10.200.0.1:7", "--interval", "-0.5"],
        "--interval must be a number of seconds, at least 0",
    );
    refused(
        &["ping", "10.200.0.1:7", "-W", "-2"],
        "--timeout must be a number of seconds above 0",
    );
}

#[test]
fn port_zero_is_refused() {
    refused(
        &["connect", "10.200.0.1:0"],
        "port 0 cannot be connected to",
    );
    refused(&["serve", "--port", "0"], "--port");
    refused(&["ping", "10.200.0.1:0"], "not a port (1-65535)");
}

#[test]
fn mtu_below_the_ip_minimum_is_refused_before_the_device() {
    // RFC 8200 §5: a link that carries IPv6 has an MTU of at least 1280.
    refused(
        &["serve", "--mtu", "100"],
        "IPv6 needs an MTU of at least 1280",
    );
    refused(
        &["serve", "--mtu", "1279"],
        "IPv6 needs an MTU of at least 1280",
    );
    // IPv4 only: at least 576 (RFC 791's datagram every host accepts).
    refused(
        &["serve", "--mtu", "100", "--no-ipv6"],
        "--mtu 100: at least 576",
    );
    refused(&["serve", "--mtu", "70000"], "--mtu 70000: at most 65535");
}

#[test]
fn unwritable_pcap_names_the_file_and_the_os_error() {
    refused(
        &["serve", "--pcap", "/nonexistent/x.pcap"],
        "--pcap /nonexistent/x.pcap: No such file or directory",
    );
    let stderr = fails(&["demo", "--pcap", "/nonexistent/x.pcap"]);
    assert!(
        stderr.contains("/nonexistent/x.pcap: No such file or directory"),
        "{stderr}"
    );
}

#[test]
fn trace_conn_beyond_the_capture_says_how_many_it_has() {
    let pcap = tmp("one-conn.pcap");
    let out = synack(&["demo", "--pcap", pcap.to_str().unwrap()]);
    assert!(out.status.success(), "demo --pcap: {}", out.status);
    let stderr = fails(&["trace", "--conn", "99", pcap.to_str().unwrap()]);
    assert!(stderr.contains("has 1 connection"), "{stderr}");
    let stderr = fails(&["trace", "--conn", "0", pcap.to_str().unwrap()]);
    assert!(stderr.contains("has 1 connection"), "{stderr}");
    // The one it has is still there.
    let out = synack(&["trace", "--conn", "1", pcap.to_str().unwrap()]);
    assert!(out.status.success(), "trace --conn 1: {}", out.status);
}

/// A classic pcap (microseconds, little-endian) of one frame of `linktype`.
fn pcap_of(linktype: u32, frame: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&0i32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&linktype.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes()); // seconds
    v.extend_from_slice(&0u32.to_le_bytes()); // microseconds
    v.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    v.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    v.extend_from_slice(frame);
    v
}

#[test]
fn trace_of_an_unreadable_link_type_warns_and_fails() {
    // LINKTYPE_USER0 (147): private framing the reader cannot look into.
    let f = tmp("user0.pcap");
    std::fs::write(&f, pcap_of(147, &[0x45; 40])).expect("write pcap");
    let out = synack(&["trace", f.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "trace of link type 147 succeeded:\n{stderr}"
    );
    assert!(stderr.contains("link type 147"), "{stderr}");
    // A readable one (LINKTYPE_RAW) with the same non-TCP frame is no error.
    let f = tmp("raw.pcap");
    std::fs::write(&f, pcap_of(101, &[0x45; 40])).expect("write pcap");
    let out = synack(&["trace", f.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn demo_on_a_hopeless_link_says_r2_timed_out_not_invariants_broke() {
    // At 90% loss TCP gives up (RFC 9293 §3.8.3, R2): that is TCP working as specified.
    let stderr = fails(&["demo", "--loss", "0.9", "--no-color"]);
    assert!(stderr.contains("the connection timed out"), "{stderr}");
    assert!(stderr.contains("retransmission timeout (R2)"), "{stderr}");
    assert!(!stderr.contains("broke its invariants"), "{stderr}");
}
