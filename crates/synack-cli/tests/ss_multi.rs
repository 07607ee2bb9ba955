//! `synack ss` with several synack processes: every one shown, each under a heading with its
//! pid and command line; `--socket` narrows to one; a socket file left by a process that is
//! gone is skipped quietly (named with `--verbose`). Two `synack serve` in network namespaces
//! of their own, their control sockets in a scratch directory that `--dir` points at (so
//! other synack processes on the machine do not count). Needs root and `ip`.

#![cfg(target_os = "linux")]

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

#[path = "../../synack/tests/support/mod.rs"]
mod support;
use support::{skip_reason, spawn_until, Netns, Reaper};

const BIN: &str = env!("CARGO_BIN_EXE_synack");
const GUARD: Duration = Duration::from_secs(60);

/// `synack serve` in `ns` on `port` with its control socket at `control`; returns once it
/// listens.
fn serve(ns: &Netns, port: u16, control: &Path) -> Reaper {
    spawn_until(
        Command::new(BIN)
            .args(["serve", "--netns", &ns.name, "--no-ipv6", "--port"])
            .arg(port.to_string())
            .arg("--control")
            .arg(control)
            .stdout(Stdio::null()),
        "listening on",
        GUARD,
    )
    .0
}

fn ss(args: &[&str]) -> Output {
    Command::new(BIN).arg("ss").args(args).output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ss_shows_every_process_and_skips_stale_sockets() {
    if let Some(why) = skip_reason(&["ip"]) {
        support::skip(&why);
        return;
    }
    let (ns1, ns2) = (Netns::new(), Netns::new());
    let dir = ns1.dir.join("control");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.sock"), dir.join("b.sock"));
    // Left behind by a process that is gone: the file is there, nobody answers.
    let stale = dir.join("1.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let sa = serve(&ns1, 7001, &a);
    let sb = serve(&ns2, 7002, &b);
    let dir_s = dir.to_str().unwrap();

    // Both, each under its heading, in pid order; listeners with -l.
    let out = ss(&["--dir", dir_s, "-l"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.is_empty(),
        "stale sockets are skipped quietly: {stderr}"
    );
    let mut pids = [(sa.0.id(), &a, 7001), (sb.0.id(), &b, 7002)];
    pids.sort();
    let headings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("synack pid "))
        .collect();
    assert_eq!(headings.len(), 2, "{stdout}");
    for (h, (pid, path, port)) in headings.iter().zip(&pids) {
        assert!(h.starts_with(&format!("synack pid {pid} (")), "{h}");
        assert!(h.contains(&format!("--port {port}")), "command line in {h}");
        assert!(
            h.ends_with(&format!("control socket {}", path.display())),
            "{h}"
        );
    }
    for (pid, _, port) in &pids {
        let row = stdout
            .lines()
            .find(|l| l.starts_with("LISTEN") && l.contains(&format!(":{port} ")))
            .unwrap_or_else(|| panic!("no listener on {port} in\n{stdout}"));
        assert!(row.ends_with(&format!("synack,pid={pid}")), "{row}");
    }
    assert!(!stdout.contains("1.sock"), "{stdout}");

    // --verbose names the skipped file.
    let (_, stderr) = text(&ss(&["--dir", dir_s, "--verbose"]));
    assert!(
        stderr.contains(&format!("skipped {}", stale.display())),
        "{stderr}"
    );

    // --json: an array, one document per process.
    let (stdout, _) = text(&ss(&["--dir", dir_s, "--json"]));
    let docs: Value = serde_json::from_str(&stdout).unwrap();
    let got: Vec<u64> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(got, pids.iter().map(|p| u64::from(p.0)).collect::<Vec<_>>());

    // --summary: each section opens with its process.
    let (stdout, _) = text(&ss(&["--dir", dir_s, "--summary"]));
    assert_eq!(stdout.matches("synack pid ").count(), 2, "{stdout}");

    // --socket narrows to one: its table, no heading.
    let out = ss(&["--socket", b.to_str().unwrap(), "-l"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("synack pid "), "{stdout}");
    assert!(stdout.contains(":7002 "), "{stdout}");
    assert!(!stdout.contains(":7001 "), "{stdout}");
    // On the stale file it says why.
    let out = ss(&["--socket", stale.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("no process answers"),
        "{:?}",
        text(&out)
    );

    // With both gone, only the stale files remain: an error that says so.
    drop(sa);
    drop(sb);
    let out = ss(&["--dir", dir_s]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no running synack process") && stderr.contains("exited process"),
        "{stderr}"
    );
}
