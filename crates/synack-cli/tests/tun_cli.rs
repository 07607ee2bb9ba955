//! `synack serve`, `synack connect` and `synack ping` against the kernel, each in its own
//! network namespace. Needs root and `ip` (and `curl`, `nc`, `ping` where used); skipped (with
//! the reason printed) otherwise.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../synack/tests/support/mod.rs"]
mod support;
use support::{skip_reason, spawn_until, wait_bounded, Netns, Reaper};

const BIN: &str = env!("CARGO_BIN_EXE_synack");
const GUARD: Duration = Duration::from_secs(60);

#[test]
fn curl_fetches_a_file_from_synack_serve_http() {
    curl_fetches(false, 500);
}

/// `--offload`: synack writes merged 64 KiB datagrams (TSO) that the kernel takes whole.
#[test]
fn curl_fetches_two_megabytes_from_synack_serve_offload() {
    curl_fetches(true, 80_000);
}

fn curl_fetches(offload: bool, lines: usize) {
    if let Some(why) = skip_reason(&["ip", "curl"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let dir = std::env::temp_dir().join(&ns.name);
    std::fs::create_dir_all(&dir).unwrap();
    let page = "<h1>served by synack</h1>\n".repeat(lines);
    std::fs::write(dir.join("index.html"), &page).unwrap();
    let mut args = vec!["serve", "--netns", &ns.name, "--port", "80", "--count", "1"];
    if offload {
        args.push("--offload");
    }
    args.push("--http");
    // Wait for "listening" on stderr (the device and its addresses exist by then).
    let (mut serve, _, _) = spawn_until(
        Command::new(BIN).args(&args).arg(&dir),
        "listening on",
        GUARD,
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "curl", "-sS", "--max-time", "30"])
        .arg("http://10.200.0.2/")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout) == page,
        "the page differs"
    );
    let st = wait_bounded(&mut serve.0, GUARD).expect("serve --count 1 exits");
    assert!(st.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ping_reports_a_closed_kernel_port() {
    if let Some(why) = skip_reason(&["ip"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let mut ping = Reaper(
        Command::new(BIN)
            .args([
                "ping",
                "10.200.0.1:9",
                "-c",
                "2",
                "-i",
                "0.05",
                "--netns",
                &ns.name,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let st = wait_bounded(&mut ping.0, GUARD).expect("ping finished in time");
    let mut out = String::new();
    std::io::Read::read_to_string(ping.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(st.success(), "{out}");
    assert_eq!(out.matches("closed (RST)").count(), 2, "{out}");
    assert!(
        out.contains("2 answered (0 open, 2 closed), 0% loss"),
        "{out}"
    );
}

/// `ip netns exec NS PROGRAM ARGS…` with stdin closed, killed when dropped.
fn spawn_in(ns: &Netns, program: &str, args: &[&str]) -> Reaper {
    Reaper(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Run `synack ping TARGET -c 2` in the namespace; its stdout.
fn synack_ping(ns: &Netns, target: &str) -> String {
    let mut ping = Reaper(
        Command::new(BIN)
            .args(["ping", target, "-c", "2", "-i", "0.05", "--netns", &ns.name])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let st = wait_bounded(&mut ping.0, GUARD).expect("ping finished in time");
    let mut out = String::new();
    std::io::Read::read_to_string(ping.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(st.success(), "{out}");
    out
}

#[test]
fn ping_reports_an_open_kernel_port() {
    if let Some(why) = skip_reason(&["ip", "nc", "ss"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    // Kernel listeners on the wildcard addresses, there before the TUN device is.
    let _v4 = spawn_in(&ns, "nc", &["-4", "-k", "-l", "5000"]);
    let _v6 = spawn_in(&ns, "nc", &["-6", "-k", "-l", "5001"]);
    wait_listening(&ns, &[":5000", ":5001"]);
    let out = synack_ping(&ns, "10.200.0.1:5000");
    assert_eq!(out.matches("open (SYN-ACK)").count(), 2, "{out}");
    assert!(
        out.contains("2 answered (2 open, 0 closed), 0% loss"),
        "{out}"
    );
    let out = synack_ping(&ns, "[fd00:5a::1]:5001");
    assert_eq!(out.matches("open (SYN-ACK)").count(), 2, "{out}");
    assert!(
        out.contains("2 answered (2 open, 0 closed), 0% loss"),
        "{out}"
    );
}

/// Wait until the kernel listens on every port in `ports` (`ss -tln` in the namespace).
fn wait_listening(ns: &Netns, ports: &[&str]) {
    let end = Instant::now() + GUARD;
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.name, "ss", "-tln"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if ports.iter().all(|p| {
            text.lines()
                .any(|l| l.split_whitespace().nth(3).is_some_and(|a| a.ends_with(p)))
        }) {
            return;
        }
        assert!(
            Instant::now() < end,
            "listeners {ports:?} never came up:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connect_sends_a_file_to_a_kernel_listener_over_ipv6() {
    if let Some(why) = skip_reason(&["ip", "nc", "ss"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let dir = std::env::temp_dir().join(&ns.name);
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("send"), &data).unwrap();
    let mut nc = Reaper(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "nc", "-6", "-l", "5002"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("got")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_listening(&ns, &[":5002"]);
    let mut connect = Reaper(
        Command::new(BIN)
            .args([
                "connect",
                "[fd00:5a::1]:5002",
                "--netns",
                &ns.name,
                "--send-file",
            ])
            .arg(dir.join("send"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A pipe, not a terminal: no progress bar may be drawn (only a few lines come).
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let st = wait_bounded(&mut connect.0, GUARD).expect("connect finished in time");
    assert!(st.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut connect.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("1048576 bytes sent") && !stderr.contains('\r') && !stderr.contains('\x1b'),
        "connect --send-file stderr (no progress bar off a terminal): {stderr:?}"
    );
    let st = wait_bounded(&mut nc.0, GUARD).expect("nc finished in time");
    assert!(st.success());
    assert!(
        std::fs::read(dir.join("got")).unwrap() == data,
        "bytes differ"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_answers_kernel_ping_and_ipv6_echo() {
    if let Some(why) = skip_reason(&["ip", "nc", "ping"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let (_serve, _, _) = spawn_until(
        Command::new(BIN).args(["serve", "--netns", &ns.name, "--port", "7", "--echo"]),
        "listening on",
        GUARD,
    );
    for (flag, ip) in [("-4", "10.200.0.2"), ("-6", "fd00:5a::2")] {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "ping", flag, "-c", "2", "-i", "0.2", "-W", "5", ip,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("2 received"),
            "ping {ip}:\n{text}"
        );
    }
    let mut nc = Command::new("ip")
        .args(["netns", "exec", &ns.name, "nc", "-N", "fd00:5a::2", "7"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut nc.stdin.take().unwrap(), b"hello over IPv6\n").unwrap();
    let st = wait_bounded(&mut nc, GUARD).expect("nc finished in time");
    let mut echoed = String::new();
    std::io::Read::read_to_string(nc.stdout.as_mut().unwrap(), &mut echoed).unwrap();
    assert!(st.success());
    assert_eq!(echoed, "hello over IPv6\n");
}

/// `--trace` ends with the ladder diagram of every connection, drawn by the same renderer as
/// `synack demo` and `synack trace`.
#[test]
fn trace_ends_with_the_ladder_of_each_connection() {
    if let Some(why) = skip_reason(&["ip"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let out = Command::new(BIN)
        .args([
            "ping",
            "10.200.0.1:9",
            "-c",
            "1",
            "--netns",
            &ns.name,
            "--trace",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let ladder = err
        .split("server 10.200.0.1:9")
        .nth(1)
        .unwrap_or_else(|| panic!("no ladder in:\n{err}"));
    let syn = ladder.find("── SYN seq=0").expect("the SYN row");
    let rst = ladder.find("RST-ACK seq=1 ack=1").expect("the RST row");
    assert!(syn < rst, "{ladder}");
    assert!(
        ladder.contains("SYN-SENT") && ladder.contains("connection refused"),
        "{ladder}"
    );
}

/// `synack serve 2>&1 | head`: standard error closes while serve runs. Its messages then have
/// nowhere to go and are dropped; a SIGTERM still ends it promptly. (An `eprintln!` panic used
/// to kill the signal thread, leaving the shutdown waiting forever.)
#[test]
fn serve_with_stderr_closed_still_stops_on_sigterm() {
    if let Some(why) = skip_reason(&["ip", "kill"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let mut serve = Reaper(
        Command::new(BIN)
            .args(["serve", "--netns", &ns.name, "--no-control", "--port", "7"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = serve.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("listening on"));
    assert!(started, "synack serve did not start");
    drop(lines); // the reading end of stderr closes, as `| head` would
    let term = Command::new("kill")
        .args(["-TERM", &serve.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let st = wait_bounded(&mut serve.0, Duration::from_secs(20))
        .expect("serve exits on SIGTERM with its stderr closed");
    assert_ne!(st.code(), Some(101), "serve panicked: {st}");
}

/// `synack ping … | head`: once standard output closes, ping ends as SIGPIPE ends `cat`
/// (status 141 in a shell) — no "failed printing to stdout" panic (status 101).
#[test]
fn ping_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    if let Some(why) = skip_reason(&["ip"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    // Closed ports of the kernel's side answer RST at once: a line each, fast.
    let (st, err) = into_closed_pipe(
        Command::new(BIN)
            .args(["ping", "10.200.0.1:1-3000", "-c", "1", "--no-control"])
            .args(["--netns", &ns.name]),
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        st.success() || st.signal() == Some(13),
        "ping into a closed pipe: {st}\n{err}"
    );
}

/// `synack connect … | head`: standard output closes while the peer is still sending; connect
/// closes the connection and ends as SIGPIPE ends `nc` — no "receive: Broken pipe" error.
#[test]
fn connect_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    if let Some(why) = skip_reason(&["ip", "python3", "ss"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    // A kernel listener that sends until the connection fails.
    let _server = spawn_in(
        &ns,
        "python3",
        &[
            "-c",
            "import socket\n\
             s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('0.0.0.0', 5003)); s.listen(1); c, _ = s.accept()\n\
             try:\n    while True: c.sendall(b'x' * 65536)\nexcept OSError: pass\n",
        ],
    );
    wait_listening(&ns, &[":5003"]);
    let (st, err) = into_closed_pipe(
        Command::new(BIN)
            .args(["connect", "10.200.0.1:5003", "--no-control"])
            .args(["--netns", &ns.name]),
    );
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert!(
        st.success() || st.signal() == Some(13),
        "connect into a closed pipe: {st}\n{err}"
    );
}

/// Run `cmd` with standard output into a pipe that closes after the first 64 bytes: its exit
/// status and what it wrote to standard error.
fn into_closed_pipe(cmd: &mut Command) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = Reaper(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = child.0.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).expect("it printed");
    drop(stdout);
    let st = wait_bounded(&mut child.0, GUARD).expect("it ends");
    let mut err = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (st, err)
}
