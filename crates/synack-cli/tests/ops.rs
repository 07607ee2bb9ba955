//! Operating synack against the kernel, each test in a network namespace of its own: `synack
//! ss` on a running `synack serve` (ESTABLISHED, CLOSE-WAIT, TIME-WAIT with their queues; SYN
//! cookies under an hping3 flood), SIGINT closing kernel connections with FIN, and `synack
//! ping` over a port range. Needs root, `ip`, `python3` (and `hping3`, `nc`, `ss` where used);
//! skipped with the reason printed otherwise. All traffic stays inside the namespaces.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../../synack/tests/support/mod.rs"]
mod support;
use support::{skip_reason, spawn_until, wait_bounded, Netns, Reaper};

const BIN: &str = env!("CARGO_BIN_EXE_synack");
const GUARD: Duration = Duration::from_secs(60);

fn has(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| d.join(tool).is_file())
}

impl Netns {
    fn control(&self) -> PathBuf {
        self.dir.join("control.sock")
    }
}

/// `synack serve` in the namespace with its control socket in the scratch directory; returns
/// once it listens, with its stderr lines arriving on the channel.
fn serve(ns: &Netns, mode: &[&str]) -> (Reaper, mpsc::Receiver<String>) {
    let (child, _, rx) = spawn_until(
        Command::new(BIN)
            .args(["serve", "--netns", &ns.name, "--port", "80", "--no-ipv6"])
            .args(mode)
            .arg("--control")
            .arg(ns.control())
            .stdout(Stdio::null()),
        "listening on",
        GUARD,
    );
    (child, rx)
}

/// A python3 client inside the namespace; its stdout lines come one by one.
fn python(ns: &Netns, script: &str, args: &[&str]) -> (Reaper, BufReader<ChildStdout>) {
    let path = ns.dir.join("client.py");
    std::fs::write(&path, script).unwrap();
    let mut child = Reaper(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "python3"])
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = BufReader::new(child.0.stdout.take().unwrap());
    (child, out)
}

fn read_line(r: &mut BufReader<ChildStdout>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l.trim_end().to_string()
}

fn ss(ns: &Netns, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("ss")
        .arg("--socket")
        .arg(ns.control())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "synack ss {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ss_json(ns: &Netns, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&ss(ns, &a)).unwrap()
}

const FOUR_STATES: &str = r#"
import socket, sys, time
def conn(rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("10.200.0.2", 80))
    return s
# ESTABLISHED, nothing sent: Recv-Q 0, Send-Q 0.
idle = conn()
print(idle.getsockname()[1], flush=True)
# ESTABLISHED, stuck: we do not read the 2 MB answer, so synack's send buffer fills and
# its writer blocks; the 1000 bytes we send then stay unread in its receive buffer.
stuck = conn(4096)
stuck.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
time.sleep(0.5)
stuck.sendall(b"x" * 1000)
print(stuck.getsockname()[1], flush=True)
# CLOSE-WAIT: the same, but we close our side after the request.
cw = conn(4096)
cw.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
cw.shutdown(socket.SHUT_WR)
print(cw.getsockname()[1], flush=True)
# TIME-WAIT on synack's side: it closes first (HTTP/1.0), then we do.
tw = conn()
port = tw.getsockname()[1]
tw.sendall(b"GET / HTTP/1.0\r\n\r\n")
while tw.recv(65536):
    pass
tw.close()
print(port, flush=True)
time.sleep(60)
"#;

const SYN_FLOOD: &str = r#"
# A raw-socket SYN flood from random sources in 10.250.0.0/16 (what hping3 -S --flood
# --rand-source does), for when hping3 is not installed.
import random, socket, struct, sys, time
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
dst = socket.inet_aton("10.200.0.2")
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    src = socket.inet_aton("10.250.%d.%d" % (random.randrange(256), random.randrange(1, 255)))
    sport = random.randrange(1024, 65535)
    tcp = struct.pack("!HHIIBBHHH", sport, 80, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, src, dst)
    s.sendto(ip + tcp, ("10.200.0.2", 0))
"#;

fn conn_by_port<'a>(doc: &'a Value, port: &str) -> &'a Value {
    doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["remote"].as_str().unwrap().ends_with(&format!(":{port}")))
        .unwrap_or_else(|| panic!("no connection from port {port} in {doc:#}"))
}

#[test]
fn ss_shows_states_and_queues_and_cookies_under_a_syn_flood() {
    if let Some(why) = skip_reason(&["ip", "python3"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let www = ns.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello\n").unwrap();
    std::fs::write(www.join("big.bin"), vec![b'z'; 2 << 20]).unwrap();
    let (_serve, _err) = serve(&ns, &["--http", www.to_str().unwrap()]);
    let (_client, mut out) = python(&ns, FOUR_STATES, &[]);
    let ports: Vec<String> = (0..4).map(|_| read_line(&mut out)).collect();
    // Let the stuck writers fill their send buffers.
    let end = Instant::now() + GUARD;
    let doc = loop {
        let doc = ss_json(&ns, &[]);
        let settled = doc["connections"].as_array().unwrap().len() == 4
            && conn_by_port(&doc, &ports[1])["recv_q"] == 1000
            && conn_by_port(&doc, &ports[1])["send_q"] == 256 * 1024
            && conn_by_port(&doc, &ports[2])["state"] == "CLOSE-WAIT"
            && conn_by_port(&doc, &ports[2])["recv_q"] == 0
            && conn_by_port(&doc, &ports[2])["send_q"].as_u64() > Some(0)
            && conn_by_port(&doc, &ports[3])["state"] == "TIME-WAIT";
        if settled {
            break doc;
        }
        assert!(Instant::now() < end, "never settled: {doc:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let idle = conn_by_port(&doc, &ports[0]);
    assert_eq!(idle["state"], "ESTABLISHED");
    assert_eq!(
        (idle["recv_q"].as_u64(), idle["send_q"].as_u64()),
        (Some(0), Some(0))
    );
    let stuck = conn_by_port(&doc, &ports[1]);
    assert_eq!(stuck["state"], "ESTABLISHED");
    assert_eq!(stuck["recv_q"], 1000, "{stuck:#}");
    assert_eq!(stuck["send_q"], 256 * 1024, "a full send buffer: {stuck:#}");
    let cw = conn_by_port(&doc, &ports[2]);
    assert_eq!(cw["recv_q"], 0);
    assert!(cw["send_q"].as_u64().unwrap() > 0, "{cw:#}");
    let tw = conn_by_port(&doc, &ports[3]);
    assert_eq!(
        (tw["recv_q"].as_u64(), tw["send_q"].as_u64()),
        (Some(0), Some(0))
    );
    let timer = &tw["timers"][0];
    assert_eq!(timer["name"], "time-wait");
    let left = timer["left_ms"].as_f64().unwrap();
    assert!(left > 200_000.0 && left <= 240_000.0, "{timer}");

    // The table, like ss -tin, and its filters.
    let table = ss(&ns, &[]);
    for want in [
        "ESTAB",
        "CLOSE-WAIT",
        "TIME-WAIT",
        "timer:(timewait,",
        "Recv-Q",
    ] {
        assert!(table.contains(want), "no {want:?} in\n{table}");
    }
    let line = table
        .lines()
        .find(|l| l.contains(&format!(":{}", ports[1])))
        .unwrap();
    assert!(line.contains(" 1000 262144 "), "{line}");
    // The TIME-WAIT row: the entry's sequence numbers and timer, not zeroed placeholders.
    let mut lines = table.lines();
    lines
        .find(|l| l.starts_with("TIME-WAIT"))
        .expect("a TIME-WAIT row");
    let tw_detail = lines.next().unwrap();
    assert!(
        tw_detail.contains(&format!(
            "snd_nxt:{} rcv_nxt:{}",
            tw["snd_nxt"], tw["rcv_nxt"]
        )),
        "{tw_detail}"
    );
    assert!(tw_detail.contains(" timer:(timewait,"), "{tw_detail}");
    for placeholder in ["rto:", "mss:", "cwnd:", "retrans:"] {
        assert!(!tw_detail.contains(placeholder), "{tw_detail}");
    }
    let only = ss(&ns, &["--state", "close-wait"]);
    assert_eq!(
        only.lines().filter(|l| !l.starts_with('\t')).count(),
        2,
        "{only}"
    );
    assert!(only.contains("CLOSE-WAIT"), "{only}");
    let by_port = ss_json(&ns, &[&format!(":{}", ports[3])]);
    assert_eq!(by_port["connections"].as_array().unwrap().len(), 1);

    // A SYN flood from spoofed sources: SYN-RECEIVED fills the SYN queue, then cookies.
    let summary = |ns: &Netns| ss_json(ns, &["--state", "syn-recv"])["summary"].clone();
    let before = summary(&ns);
    assert_eq!(before["syn_cookies"]["sent"], 0);
    let mut flood = if has("hping3") {
        Reaper(
            Command::new("ip")
                .args([
                    "netns", "exec", &ns.name, "timeout", "4", "hping3", "-S", "--flood",
                ])
                .args(["--rand-source", "-p", "80", "10.200.0.2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    } else {
        eprintln!("hping3 is not installed: flooding with a python3 raw socket");
        python(&ns, SYN_FLOOD, &["4"]).0
    };
    let mut samples = Vec::new();
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(500));
        samples.push(summary(&ns));
    }
    let st = wait_bounded(&mut flood.0, GUARD);
    assert!(st.is_some(), "the flood stopped");
    let sent: Vec<u64> = samples
        .iter()
        .map(|s| s["syn_cookies"]["sent"].as_u64().unwrap())
        .collect();
    assert!(
        sent.windows(2).any(|w| w[1] > w[0]) && sent.last() > Some(&0),
        "cookie counter never rose: {sent:?}"
    );
    let last = samples.last().unwrap();
    assert!(
        last["states"]["SYN-RECEIVED"].as_u64().unwrap_or(0) >= 64,
        "{last:#}"
    );
    let text = ss(&ns, &["--summary"]);
    assert!(text.contains("SYN-RECEIVED"), "{text}");
    assert!(text.contains("SYN cookies: "), "{text}");
    eprintln!("{text}");
}

const COOPERATIVE: &str = r#"
import socket, subprocess, sys, time
n = int(sys.argv[1])
conns = []
for i in range(n):
    s = socket.create_connection(("10.200.0.2", 80))
    s.sendall(b"ping %d\n" % i)
    assert s.recv(100) == b"ping %d\n" % i
    conns.append(s)
print("ready", flush=True)
# Wait for synack's shutdown: each read must end with a FIN (b""), not a reset.
for s in conns:
    s.settimeout(30)
    try:
        data = s.recv(100)
        print("eof" if data == b"" else "data %r" % data, flush=True)
    except ConnectionResetError:
        print("reset", flush=True)
    except socket.timeout:
        print("timeout", flush=True)
# The kernel's view: every socket in CLOSE-WAIT (peer closed, we have not).
out = subprocess.run(["ss", "-Htn", "state", "close-wait", "dst", "10.200.0.2"],
                     capture_output=True, text=True).stdout
print("close-wait %d" % len(out.strip().splitlines()), flush=True)
for s in conns:
    s.close()
time.sleep(60)
"#;

#[test]
fn sigint_closes_kernel_connections_with_fin() {
    if let Some(why) = skip_reason(&["ip", "python3", "ss", "kill"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let (mut serve, err) = serve(&ns, &["--echo", "--grace", "20"]);
    let (_client, mut out) = python(&ns, COOPERATIVE, &["3"]);
    assert_eq!(read_line(&mut out), "ready");
    let st = Command::new("kill")
        .args(["-INT", &serve.0.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let got: Vec<String> = (0..4).map(|_| read_line(&mut out)).collect();
    assert_eq!(got, ["eof", "eof", "eof", "close-wait 3"]);
    let st = wait_bounded(&mut serve.0, Duration::from_secs(25)).expect("serve exits");
    // The process is gone: its stderr ends, and the channel with it.
    let stderr: Vec<String> = err.iter().collect();
    let stderr = stderr.join("\n");
    assert!(st.success(), "{st:?}\n{stderr}");
    assert!(stderr.contains("SIGINT: no longer accepting"), "{stderr}");
    assert!(
        stderr.contains("3 of 3 connections finished closing, 0 reset"),
        "{stderr}"
    );
    assert!(!ns.control().exists(), "control socket removed");
}

#[test]
fn ping_scans_a_range_with_an_open_and_a_closed_kernel_port() {
    if let Some(why) = skip_reason(&["ip", "nc", "ss"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let _nc = Reaper(
        Command::new("ip")
            .args(["netns", "exec", &ns.name, "nc", "-4", "-k", "-l", "5010"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + GUARD;
    while !String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "exec", &ns.name, "ss", "-Htln", "sport", "5010"])
            .output()
            .unwrap()
            .stdout,
    )
    .contains("5010")
    {
        assert!(Instant::now() < end, "nc never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut ping = Reaper(
        Command::new(BIN)
            .args([
                "ping",
                "10.200.0.1:5009-5010",
                "--netns",
                &ns.name,
                "--no-ipv6",
            ])
            .arg("--control")
            .arg(ns.control())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let st = wait_bounded(&mut ping.0, GUARD).expect("ping finished in time");
    let mut text = String::new();
    ping.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(st.success(), "{text}");
    let line = |port: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("10.200.0.1:{port} ")))
            .unwrap_or_else(|| panic!("no line for {port}:\n{text}"))
            .to_string()
    };
    assert!(line("5009").contains("closed (RST) time="), "{text}");
    assert!(line("5010").contains("open (SYN-ACK) time="), "{text}");
    assert!(
        text.contains("2 ports: 1 open, 1 closed, 0 filtered"),
        "{text}"
    );
    // Nothing half-open on the target: the open probe ended with a RST.
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let kernel = Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "ss", "-Htan", "state", "syn-recv",
            ])
            .output()
            .unwrap();
        let kernel = String::from_utf8_lossy(&kernel.stdout).to_string();
        if kernel.trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "half-open on the kernel side:\n{kernel}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
