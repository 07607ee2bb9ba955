//! `synack trace` on real captures: the Linux kernel talking to itself (nc, curl) inside a
//! network namespace each test creates, captured by tcpdump; and synack's own simulator with
//! loss. The states must follow RFC 9293, and the annotations must agree with tshark's
//! `tcp.analysis.*` flags frame by frame.
//!
//! Tests that need root, `ip`, `tcpdump`, `nc`, `curl` or `tshark` print why and pass when
//! something is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../../synack/tests/support/mod.rs"]
mod support;
use support::Netns;

fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("run synack")
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// Why a kernel test cannot run here, if it cannot.
fn kernel_skip() -> Option<String> {
    if !is_root() {
        return Some("not root (network namespaces need it)".into());
    }
    for t in ["ip", "tcpdump", "nc"] {
        if !have(t) {
            return Some(format!("{t} is not installed"));
        }
    }
    None
}

impl Netns {
    /// Run `script` with sh inside the namespace while tcpdump captures lo into `file`.
    fn capture(&self, file: &Path, snaplen: u32, script: &str) {
        self.capture_on("lo", file, snaplen, script);
    }

    /// [`Netns::capture`] on interface `iface`.
    fn capture_on(&self, iface: &str, file: &Path, snaplen: u32, script: &str) {
        let err = file.with_extension("tcpdump.err");
        let mut td: Child = self
            .exec("tcpdump")
            // Immediate mode makes libpcap use TPACKET_V2, whose ring holds fixed frames of
            // snaplen bytes: at 256 KiB snaplen the default 2 MiB ring holds 7 packets, and
            // a burst on lo (64 KiB segments) overflowed it, dropping the last segments of a
            // test now and then. 64 MiB holds ~250.
            .args(["-i", iface, "-U", "--immediate-mode", "-n", "-B", "65536"])
            .args(["-s", &snaplen.to_string(), "-w"])
            .arg(file)
            .arg("tcp")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("tcpdump");
        let start = Instant::now();
        while !std::fs::read_to_string(&err).is_ok_and(|s| s.contains("listening on")) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tcpdump did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let st = self
            .exec("sh")
            .args(["-c", script])
            .status()
            .expect("run script");
        assert!(st.success(), "script failed: {script}");
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .args(["-INT", &td.id().to_string()])
            .status();
        let _ = td.wait();
        let stats = std::fs::read_to_string(&err).unwrap_or_default();
        assert!(
            stats
                .lines()
                .any(|l| l.trim() == "0 packets dropped by kernel"),
            "tcpdump lost packets, the capture is incomplete:\n{stats}"
        );
    }
}

fn trace_json(file: &Path) -> Value {
    let out = synack(&["trace", "--json", file.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "synack trace {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Each side's states in order (initial first), from the JSON transitions.
fn state_walk(conn: &Value) -> [Vec<String>; 2] {
    let mut walk = [
        vec![conn["left"]["initial_state"]
            .as_str()
            .unwrap_or("?")
            .to_string()],
        vec![conn["right"]["initial_state"]
            .as_str()
            .unwrap_or("?")
            .to_string()],
    ];
    for e in conn["events"].as_array().expect("events") {
        if e["type"] == "transition" {
            let side = usize::from(e["side"] == "right");
            walk[side].push(e["to"].as_str().unwrap_or("?").to_string());
        }
    }
    walk
}

fn walk(states: &[&str]) -> Vec<String> {
    states.iter().map(|s| s.to_string()).collect()
}

/// The tshark flags this test compares, by tshark field name.
const FLAGS: [(&str, &str); 6] = [
    ("retransmission", "retransmission"),
    ("fast_retransmission", "fast_retransmission"),
    ("out_of_order", "out_of_order"),
    ("duplicate_ack_num", "duplicate_ack"),
    ("zero_window", "zero_window"),
    ("keep_alive", "keep_alive"),
];

/// Frame by frame, tshark's `tcp.analysis.*` flags against synack's notes. Returns how many
/// frames carried at least one flag (so tests can say they tested something).
fn agree_with_tshark(file: &Path, json: &Value) -> usize {
    if !have("tshark") {
        support::skip("the tshark comparison: tshark is not installed");
        return 0;
    }
    let mut cmd = Command::new("tshark");
    cmd.args([
        "-r",
        file.to_str().expect("path"),
        "-T",
        "fields",
        "-E",
        "separator=,",
    ]);
    cmd.args(["-e", "frame.number"]);
    for (f, _) in FLAGS {
        cmd.args(["-e", &format!("tcp.analysis.{f}")]);
    }
    let out = cmd.output().expect("tshark");
    let mut theirs: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = line.split(',');
        let frame: u64 = cols.next().and_then(|f| f.parse().ok()).expect("frame");
        let set = cols
            .zip(FLAGS)
            .filter(|(v, _)| !v.is_empty())
            .map(|(_, (_, ours))| ours.to_string())
            .collect();
        theirs.insert(frame, set);
    }
    let wanted: BTreeSet<&str> = FLAGS.iter().map(|(_, o)| *o).collect();
    let mut ours: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for c in json["connections"].as_array().expect("connections") {
        for e in c["events"].as_array().expect("events") {
            if e["type"] != "segment" {
                continue;
            }
            let frame = e["frame"].as_u64().expect("frame number");
            let set = e["notes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["kind"].as_str())
                .filter(|k| wanted.contains(k))
                .map(String::from)
                .collect();
            ours.insert(frame, set);
        }
    }
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "the same TCP frames"
    );
    let mut diffs = Vec::new();
    for (frame, t) in &theirs {
        if ours.get(frame) != Some(t) {
            diffs.push(format!(
                "frame {frame}: tshark {t:?}, synack {:?}",
                ours.get(frame)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{}: annotations differ from tshark's:\n{}",
        file.display(),
        diffs.join("\n")
    );
    theirs.values().filter(|s| !s.is_empty()).count()
}

macro_rules! skip_unless_kernel {
    () => {
        if let Some(why) = kernel_skip() {
            support::skip(&why);
            return;
        }
    };
}

#[test]
fn kernel_handshake_transfer_and_the_client_closes_first() {
    skip_unless_kernel!();
    let ns = Netns::new();
    let f = tmp("client-closes.pcap");
    ns.capture(
        &f,
        262144,
        "nc -l 127.0.0.1 8080 > /dev/null & sleep 0.2; \
         head -c 200000 /dev/zero | nc -N 127.0.0.1 8080; wait",
    );
    let j = trace_json(&f);
    assert_eq!(j["connections"].as_array().map(Vec::len), Some(1));
    let c = &j["connections"][0];
    let [client, server] = state_walk(c);
    // FIN-WAIT-2 is skipped when the server's FIN carries the ACK of ours (see below).
    let direct = walk(&[
        "CLOSED",
        "SYN-SENT",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "TIME-WAIT",
    ]);
    let via_fw2 = walk(&[
        "CLOSED",
        "SYN-SENT",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "TIME-WAIT",
    ]);
    assert!(client == direct || client == via_fw2, "{client:?}");
    assert_eq!(
        server,
        walk(&[
            "LISTEN",
            "SYN-RECEIVED",
            "ESTABLISHED",
            "CLOSE-WAIT",
            "LAST-ACK",
            "CLOSED"
        ])
    );
    let s = &c["summary"];
    assert_eq!(s["left"]["unique_bytes"], 200000);
    assert_eq!(s["closed_first"]["by"], "client");
    assert_eq!(s["closed_first"]["how"], "FIN");
    assert!(s["handshake"]["rtt_s"].as_f64().is_some());
    assert!(s["left"]["time_wait"]["at_least_s"].as_f64().is_some());
    agree_with_tshark(&f, &j);

    // The terminal form, as the README shows it.
    let out = synack(&["trace", "--no-color", f.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SYN-ACK"), "{text}");
    assert!(text.contains("TIME-WAIT"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn kernel_the_server_closes_first() {
    skip_unless_kernel!();
    let ns = Netns::new();
    let f = tmp("server-closes.pcap");
    ns.capture(
        &f,
        262144,
        "printf 'hello from the server' | nc -N -l 127.0.0.1 8081 & sleep 0.2; \
         nc 127.0.0.1 8081 < /dev/null > /dev/null; wait",
    );
    let j = trace_json(&f);
    let c = &j["connections"][0];
    let [client, server] = state_walk(c);
    // The client's FIN usually carries the ACK of the server's FIN: FIN-WAIT-1 goes straight
    // to TIME-WAIT (RFC 9293 §3.10.7.4, "our FIN has been ACKed (perhaps in this segment)");
    // when the ACK comes first, through FIN-WAIT-2.
    let direct = walk(&[
        "LISTEN",
        "SYN-RECEIVED",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "TIME-WAIT",
    ]);
    let via_fw2 = walk(&[
        "LISTEN",
        "SYN-RECEIVED",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "TIME-WAIT",
    ]);
    assert!(server == direct || server == via_fw2, "{server:?}");
    assert_eq!(
        client,
        walk(&[
            "CLOSED",
            "SYN-SENT",
            "ESTABLISHED",
            "CLOSE-WAIT",
            "LAST-ACK",
            "CLOSED"
        ])
    );
    assert_eq!(c["summary"]["closed_first"]["by"], "server");
    assert_eq!(c["summary"]["right"]["unique_bytes"], 21);
    agree_with_tshark(&f, &j);
}

#[test]
fn kernel_rst_on_a_closed_port() {
    skip_unless_kernel!();
    let ns = Netns::new();
    let f = tmp("refused.pcap");
    ns.capture(&f, 262144, "nc -z 127.0.0.1 9 || true");
    let j = trace_json(&f);
    let c = &j["connections"][0];
    let [client, server] = state_walk(c);
    assert_eq!(client, walk(&["CLOSED", "SYN-SENT", "CLOSED"]));
    assert_eq!(server, walk(&["CLOSED"]));
    let rst = c["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "segment" && e["flags"].as_str().is_some_and(|f| f.contains("RST")))
        .expect("an RST");
    let why = rst["notes"][0]["text"].as_str().unwrap_or("");
    assert!(why.contains("nothing listens on port 9"), "{why}");
    assert_eq!(c["summary"]["closed_first"]["how"], "RST");
    agree_with_tshark(&f, &j);
}

#[test]
fn kernel_zero_window_with_a_short_snaplen() {
    skip_unless_kernel!();
    // The reader sleeps while 8 MB arrive: the receive buffer fills, the window closes,
    // the sender probes, the window opens again. tcpdump keeps only 96 bytes of each frame.
    let ns = Netns::new();
    let f = tmp("zero-window.pcap");
    ns.capture(
        &f,
        96,
        "nc -l 127.0.0.1 8082 | (sleep 1.5; cat > /dev/null) & sleep 0.2; \
         head -c 8000000 /dev/zero | nc -N 127.0.0.1 8082; wait",
    );
    let j = trace_json(&f);
    let kinds: BTreeSet<String> = j["connections"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .flat_map(|e| e["notes"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n["kind"].as_str().map(String::from))
        .collect();
    assert!(kinds.contains("zero_window"), "{kinds:?}");
    assert!(kinds.contains("truncated"), "{kinds:?}");
    assert_eq!(
        j["connections"][0]["summary"]["left"]["unique_bytes"],
        8000000
    );
    assert!(agree_with_tshark(&f, &j) > 0 || !have("tshark"));
}

#[test]
fn kernel_keep_alives_from_curl() {
    skip_unless_kernel!();
    if !have("curl") {
        support::skip("curl is not installed");
        return;
    }
    // The server accepts and says nothing for 2.6 s; curl probes the idle connection every
    // second (TCP_KEEPIDLE = TCP_KEEPINTVL = 1) and gives up at 2.5 s.
    let ns = Netns::new();
    let f = tmp("keepalive.pcap");
    ns.capture(
        &f,
        262144,
        "(sleep 2.6 | nc -l 127.0.0.1 8083 > /dev/null) & sleep 0.2; \
         curl -s --max-time 2.5 --keepalive-time 1 http://127.0.0.1:8083/ > /dev/null; wait",
    );
    let j = trace_json(&f);
    let keepalives = j["connections"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            e["notes"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n["kind"] == "keep_alive"))
        })
        .count();
    assert!(keepalives >= 1, "no keep-alive seen");
    agree_with_tshark(&f, &j);
}

/// `synack demo --pcap` with loss: tshark agrees, and the inferred losses match the
/// simulator's (data segments; a lost pure ACK leaves no trace in a capture).
#[test]
fn simulator_captures_with_loss() {
    for seed in ["1", "2", "3"] {
        let f = tmp(&format!("demo-{seed}.pcap"));
        let p = f.to_str().expect("path");
        let demo = synack(&[
            "demo", "--json", "--seed", seed, "--loss", "0.05", "--bytes", "200000", "--pcap", p,
        ]);
        assert!(demo.status.success());
        let demo: Value = serde_json::from_slice(&demo.stdout).expect("demo json");
        let j = trace_json(&f);
        // Losses are annotated (when tshark is there to agree; without it the check is
        // skipped with a note).
        assert!(agree_with_tshark(&f, &j) > 0 || !have("tshark"));
        let c = &j["connections"][0];
        let [client, server] = state_walk(c);
        assert_eq!(client.last().map(String::as_str), Some("TIME-WAIT"));
        assert_eq!(server.last().map(String::as_str), Some("CLOSED"));

        let lost = |events: &Value| -> BTreeSet<(String, u64, u64)> {
            events
                .as_array()
                .expect("events")
                .iter()
                .filter(|e| e["type"] == "segment" && e["lost"] == true && e["len"] != 0)
                .map(|e| {
                    (
                        e["dir"].as_str().unwrap_or("").to_string(),
                        e["rel_seq"].as_u64().unwrap_or(0),
                        (e["t"].as_f64().unwrap_or(0.0) * 1000.0).floor() as u64,
                    )
                })
                .collect()
        };
        let truth = lost(&demo["events"]);
        let found = lost(&c["events"]);
        let hit = found.intersection(&truth).count();
        assert!(!truth.is_empty());
        assert!(
            hit * 10 >= truth.len() * 7 && hit * 10 >= found.len() * 7,
            "seed {seed}: {hit} of {} inferred losses are real, of {} real ones",
            found.len(),
            truth.len()
        );
    }
}

/// RFC 8985 §7 end to end: synack-sim's lost tail (a 20 KB reply whose last segment the
/// network drops once, repaired by synack's tail loss probe) as a pcap, traced: the repair is
/// named a probe — and nothing else is, nor a RACK retransmission — while tshark still agrees
/// on Wireshark's flags.
#[test]
fn simulator_lost_tail_probe_is_named() {
    let run = synack_sim::tail::lost_tail(synack_proto::Config::default(), 20_000, 1);
    let f = tmp("lost-tail.pcap");
    std::fs::write(&f, &run.pcap).expect("write pcap");
    let j = trace_json(&f);
    assert!(agree_with_tshark(&f, &j) > 0 || !have("tshark"));
    let segs: Vec<&Value> = j["connections"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "segment")
        .collect();
    let with = |kind: &str| -> Vec<&Value> {
        segs.iter()
            .copied()
            .filter(|e| {
                e["notes"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|n| n["kind"] == kind))
            })
            .collect()
    };
    let probes = with("tail_loss_probe");
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert!(with("rack_retransmission").is_empty());
    let p = probes[0];
    // The server (right) resends the dropped tail, once, and Wireshark calls it a
    // retransmission; the dropped original ends in a loss.
    assert_eq!(p["dir"], "<-");
    assert_eq!(p["seq"].as_u64(), Some(u64::from(run.dropped_seq)));
    assert_eq!(p["retransmission"], true);
    assert_eq!(p["lost"], false);
    let original: Vec<&&Value> = segs
        .iter()
        .filter(|e| e["seq"] == p["seq"] && e["dir"] == "<-" && e["len"] == p["len"])
        .collect();
    assert_eq!(original.len(), 2);
    assert_eq!(original[0]["lost"], true);
    assert_eq!(run.retransmitted_segments, 1);
}

/// RFC 8985 §7 against the Linux kernel: 30 replies of 15,000 bytes from a server namespace
/// through a router namespace whose queue towards the client holds six packets (HTB at
/// 20 Mbit/s, so every initial window overflows it), captured at the server. Linux repairs the
/// tails of these bursts with tail loss probes, and counts them (`TcpExtTCPLossProbes`): the
/// trace names exactly as many, and tshark agrees with the rest.
#[test]
fn kernel_tail_loss_probes_are_named_as_many_as_linux_sent() {
    if let Some(why) = kernel_skip() {
        support::skip(&why);
        return;
    }
    for t in ["tc", "nstat"] {
        if !have(t) {
            support::skip(&format!("{t} is not installed"));
            return;
        }
    }
    let (srv, rtr, cli) = (Netns::new(), Netns::new(), Netns::new());
    let ip = |args: &str| {
        Command::new("ip")
            .args(args.split_whitespace())
            .status()
            .is_ok_and(|s| s.success())
    };
    let (s, r, c) = (&srv.name, &rtr.name, &cli.name);
    for cmd in [
        format!("link add tlp-s0 netns {s} type veth peer name tlp-s1 netns {r}"),
        format!("link add tlp-c0 netns {c} type veth peer name tlp-c1 netns {r}"),
        format!("-n {s} addr add 10.9.1.1/24 dev tlp-s0"),
        format!("-n {r} addr add 10.9.1.2/24 dev tlp-s1"),
        format!("-n {r} addr add 10.9.2.2/24 dev tlp-c1"),
        format!("-n {c} addr add 10.9.2.1/24 dev tlp-c0"),
        // One segment per packet (no TSO/GSO super-packets), so the queue drops segments.
        format!("-n {s} link set tlp-s0 gso_max_segs 1 up"),
        format!("-n {r} link set tlp-s1 up"),
        format!("-n {r} link set tlp-c1 gso_max_segs 1 up"),
        format!("-n {c} link set tlp-c0 up"),
        format!("-n {s} route add default via 10.9.1.2"),
        format!("-n {c} route add default via 10.9.2.2"),
    ] {
        assert!(ip(&cmd), "ip {cmd}");
    }
    let run = |ns: &Netns, args: &str| {
        ns.exec(args.split_whitespace().next().expect("program"))
            .args(args.split_whitespace().skip(1))
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(run(&rtr, "sysctl -qw net.ipv4.ip_forward=1"));
    let queue = run(
        &rtr,
        "tc qdisc add dev tlp-c1 root handle 1: htb default 10",
    ) && run(
        &rtr,
        "tc class add dev tlp-c1 parent 1: classid 1:10 htb rate 20mbit burst 3000 quantum 1514",
    ) && run(
        &rtr,
        "tc qdisc add dev tlp-c1 parent 1:10 handle 10: pfifo limit 6",
    );
    if !queue {
        support::skip("the kernel has no HTB or pfifo qdisc");
        return;
    }
    let f = tmp("kernel-tlp.pcap");
    // The server answers each connection with 15,000 bytes and closes; the client retries
    // until the server listens again.
    srv.capture_on(
        "tlp-s0",
        &f,
        128,
        &format!(
            "(for i in $(seq 30); do head -c 15000 /dev/zero | nc -N -l 10.9.1.1 8080 \
             >/dev/null; done) & for i in $(seq 30); do until ip netns exec {c} nc -N \
             10.9.1.1 8080 </dev/null >/dev/null 2>&1; do sleep 0.02; done; done; wait"
        ),
    );
    // Absolute counters: the namespace is new, so they count this run only.
    let nstat = srv.exec("nstat").arg("-az").output().expect("nstat");
    let counter = |name: &str| -> u64 {
        String::from_utf8_lossy(&nstat.stdout)
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(name)).then(|| w.next().and_then(|v| v.parse().ok()))
            })
            .flatten()
            .unwrap_or(0)
    };
    let probes_sent = counter("TcpExtTCPLossProbes");
    let j = trace_json(&f);
    assert!(agree_with_tshark(&f, &j) > 0 || !have("tshark"));
    let named = j["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .flat_map(|c| c["events"].as_array().cloned().unwrap_or_default())
        .filter(|e| {
            e["notes"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n["kind"] == "tail_loss_probe"))
        })
        .count() as u64;
    println!(
        "Linux sent {probes_sent} loss probes ({} timeouts); the trace names {named}",
        counter("TcpExtTCPTimeouts")
    );
    assert!(probes_sent > 0, "the queue should make Linux probe");
    assert_eq!(named, probes_sent);
}

/// A minimal well-formedness check: tags nest, attributes are quoted, `&` starts an entity.
fn well_formed(xml: &str) -> Result<usize, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    let mut elements = 0;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        for (i, _) in text.match_indices('&') {
            let ent = &text[i..];
            if !(ent.starts_with("&amp;")
                || ent.starts_with("&lt;")
                || ent.starts_with("&gt;")
                || ent.starts_with("&quot;")
                || ent.starts_with("&#"))
            {
                return Err(format!("bare & in {text:?}"));
            }
        }
        let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
        let tag = &rest[lt + 1..gt];
        if !tag.matches('"').count().is_multiple_of(2) {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("stray </{name}>"))?;
            if open != name {
                return Err(format!("<{open}> closed by </{name}>"));
            }
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
            elements += 1;
        } else {
            elements += 1;
        }
        rest = &rest[gt + 1..];
    }
    if stack.is_empty() {
        Ok(elements)
    } else {
        Err(format!("unclosed {stack:?}"))
    }
}

fn svgs(page: &str) -> Vec<&str> {
    page.match_indices("<svg")
        .map(|(i, _)| {
            let end = page[i..].find("</svg>").expect("svg closed") + i + 6;
            &page[i..end]
        })
        .collect()
}

#[test]
fn html_pages_have_one_arrow_per_segment() {
    // The trace of a lossy simulator capture, every row drawn.
    let f = tmp("html.pcap");
    let p = f.to_str().expect("path");
    let out = synack(&["demo", "--loss", "0.05", "--bytes", "20000", "--pcap", p]);
    assert!(out.status.success());
    let page_file = tmp("trace.html");
    let out = synack(&[
        "trace",
        "--full",
        "--html",
        page_file.to_str().expect("p"),
        p,
    ]);
    assert!(out.status.success());
    let page = std::fs::read_to_string(&page_file).expect("page");
    let j = trace_json(&f);
    let segments = j["connections"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "segment")
        .count();
    let svg = svgs(&page);
    assert_eq!(svg.len(), 1);
    well_formed(svg[0]).unwrap_or_else(|e| panic!("SVG not well formed: {e}"));
    assert_eq!(svg[0].matches("<g class=\"arrow").count(), segments);
    assert!(page.contains("Summary of connection 1"));
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(fetch), "the page fetches something: {fetch}");
    }

    // The demo's page uses the same renderer.
    let demo_page = tmp("demo.html");
    let out = synack(&["demo", "--full", "--html", demo_page.to_str().expect("p")]);
    assert!(out.status.success());
    let page = std::fs::read_to_string(&demo_page).expect("page");
    let svg = svgs(&page);
    well_formed(svg[0]).unwrap_or_else(|e| panic!("demo SVG not well formed: {e}"));
    let json = synack(&["demo", "--json"]);
    let json: Value = serde_json::from_slice(&json.stdout).expect("json");
    let segments = json["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "segment")
        .count();
    assert_eq!(svg[0].matches("<g class=\"arrow").count(), segments);
}

/// Optional: the page in headless Chromium, when it is installed (`apt-get install chromium`):
/// it renders, and its DOM has one arrow per segment.
#[test]
fn html_page_in_headless_chromium() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| have(b))
    else {
        support::skip("no headless Chromium installed");
        return;
    };
    let f = tmp("chromium.pcap");
    let p = f.to_str().expect("path");
    assert!(synack(&["demo", "--pcap", p]).status.success());
    let page_file = tmp("chromium.html");
    let out = synack(&["trace", "--html", page_file.to_str().expect("p"), p]);
    assert!(out.status.success());
    let url = format!("file://{}", page_file.display());
    let shot = tmp("chromium.png");
    let dom = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(&url)
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let j = trace_json(&f);
    let segments = j["connections"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "segment")
        .count();
    assert_eq!(dom.matches("<g class=\"arrow").count(), segments, "{dom}");
    let st = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,800",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stderr(Stdio::null())
        .status()
        .expect("chromium");
    assert!(st.success());
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000));
}
