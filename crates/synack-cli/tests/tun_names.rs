//! Several synack commands in one network namespace: default device names that do not collide,
//! clear refusals of a busy `--tun` and of addresses already taken, and no control socket file
//! left behind by a command that fails. Each test makes its own namespace; needs root and `ip`
//! (skipped with the reason printed otherwise, a failure under CI).

#![cfg(target_os = "linux")]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

#[path = "../../synack/tests/support/mod.rs"]
mod support;
use support::{skip_reason, spawn_until, wait_bounded, Netns, Reaper};

const BIN: &str = env!("CARGO_BIN_EXE_synack");
const GUARD: Duration = Duration::from_secs(60);

/// Addresses that do not collide with the defaults (10.200.0.0/24, fd00:5a::/64).
const OTHER_ADDRS: [&str; 8] = [
    "--host-addr",
    "10.201.0.1/24",
    "--addr",
    "10.201.0.2",
    "--host-addr6",
    "fd00:5b::1/64",
    "--addr6",
    "fd00:5b::2",
];

/// `synack serve --echo` with the default names in `ns`, once it listens; the stderr lines
/// it printed until then.
fn start_serve(ns: &Netns) -> (Reaper, Vec<String>) {
    let (serve, lines, _) = spawn_until(
        Command::new(BIN)
            .args(["serve", "--netns", &ns.name, "--port", "7", "--echo"])
            .stdin(Stdio::null()),
        "listening on",
        GUARD,
    );
    (serve, lines)
}

/// Run a synack command to its end (bounded); its output and pid.
fn run(args: &[&str]) -> (Output, u32) {
    let mut child = Reaper(
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let status = wait_bounded(&mut child.0, GUARD).expect("the command finished in time");
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    (
        Output {
            status,
            stdout,
            stderr,
        },
        pid,
    )
}

/// The interfaces of the namespace, by name.
fn links(ns: &Netns) -> Vec<String> {
    let out = Command::new("ip")
        .args(["-n", &ns.name, "-o", "link", "show"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The default control socket of process `pid` (the CLI's default as root).
fn default_control(pid: u32) -> PathBuf {
    PathBuf::from(format!("/run/synack/{pid}.sock"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// issue 23: `synack ping` while `synack serve` runs in the same namespace, neither naming a
/// device: the kernel numbers them (`synack%d`), each says which it got, and the second works.
#[test]
fn two_commands_in_one_namespace_take_different_default_devices() {
    if let Some(why) = skip_reason(&["ip", "nc"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let (_serve, lines) = start_serve(&ns);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("synack: synack0 is up;")),
        "{lines:?}"
    );
    let mut args = vec!["ping", "10.201.0.1:9", "-c", "1", "--netns", &ns.name];
    args.extend(OTHER_ADDRS);
    let (out, pid) = run(&args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("synack: synack1 is up; kernel side 10.201.0.1/24"),
        "{stderr}"
    );
    assert!(stdout.contains("seq=1 closed (RST)"), "{stdout}");
    assert!(
        !default_control(pid).exists(),
        "ping left its control socket"
    );
    // The first device is still the serve's, and still serves: the kernel's `nc` echoes.
    let mut nc = Command::new("ip")
        .args(["netns", "exec", &ns.name, "nc", "-N", "10.200.0.2", "7"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut nc.stdin.take().unwrap(), b"still here\n").unwrap();
    let st = wait_bounded(&mut nc, GUARD).expect("nc finished in time");
    let mut echoed = String::new();
    nc.stdout
        .as_mut()
        .unwrap()
        .read_to_string(&mut echoed)
        .unwrap();
    assert!(st.success());
    assert_eq!(echoed, "still here\n");
}

/// An explicit `--tun` another process holds is refused naming the device and the likely
/// holder; the default addresses already on the serve's device are refused before any device
/// is made.
#[test]
fn a_busy_tun_name_and_taken_host_addresses_are_refused() {
    if let Some(why) = skip_reason(&["ip"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let (_serve, _) = start_serve(&ns);
    let mut args = vec![
        "ping",
        "10.201.0.1:9",
        "-c",
        "1",
        "--netns",
        &ns.name,
        "--tun",
        "synack0",
    ];
    args.extend(OTHER_ADDRS);
    let (out, _) = run(&args);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("TUN device synack0 is in use: another program (maybe another synack)"),
        "{stderr}"
    );
    // Default addresses: 10.200.0.1 is on synack0 already.
    let (out, _) = run(&["ping", "10.200.0.1:9", "-c", "1", "--netns", &ns.name]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--host-addr 10.200.0.1 is already configured on synack0"),
        "{stderr}"
    );
    // IPv6 too (IPv4 moved aside): fd00:5a::1 is on synack0.
    let (out, _) = run(&[
        "ping",
        "10.201.0.1:9",
        "-c",
        "1",
        "--netns",
        &ns.name,
        "--host-addr",
        "10.201.0.1/24",
        "--addr",
        "10.201.0.2",
    ]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--host-addr6 fd00:5a::1 is already configured on synack0"),
        "{stderr}"
    );
    assert_eq!(links(&ns), ["lo", "synack0"], "a device was left behind");
}

/// `--addr` (or `--addr6`) equal to the kernel's own address is refused before anything is
/// created.
#[test]
fn synack_address_equal_to_the_kernels_is_refused() {
    if let Some(why) = skip_reason(&["ip"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    for (flag, value, want) in [
        (
            "--addr",
            "10.200.0.1",
            "--addr 10.200.0.1 is the kernel's own address (--host-addr)",
        ),
        (
            "--addr6",
            "fd00:5a::1",
            "--addr6 fd00:5a::1 is the kernel's own address (--host-addr6)",
        ),
    ] {
        let (out, pid) = run(&[
            "ping",
            "10.200.0.1:9",
            "-c",
            "1",
            "--netns",
            &ns.name,
            flag,
            value,
        ]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
        assert!(!default_control(pid).exists());
    }
    assert_eq!(links(&ns), ["lo"], "a device was made");
}

/// A `connect` the kernel refuses (RST: nothing listens on port 9) fails, and its control
/// socket file goes with it — at the default path and at an explicit `--control`.
#[test]
fn a_refused_connect_leaves_no_control_socket() {
    if let Some(why) = skip_reason(&["ip"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let (out, pid) = run(&["connect", "10.200.0.1:9", "--netns", &ns.name]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("connect 10.200.0.1:9: connection refused"),
        "{stderr}"
    );
    assert!(
        !default_control(pid).exists(),
        "{} left behind",
        default_control(pid).display()
    );
    let path = ns.dir.join("connect.sock");
    let (out, _) = run(&[
        "connect",
        "10.200.0.1:9",
        "--netns",
        &ns.name,
        "--control",
        path.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(!path.exists(), "{} left behind", path.display());
}
