//! `synack demo`: a TCP connection between two simulated hosts, drawn as a ladder diagram.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;

use clap::Args;
use serde_json::{json, Value};
use synack_proto::congestion::Algorithm;
use synack_proto::{Config, ConnInfo, Duration, Instant, State};
use synack_sim::{reply_seed, Client, Fate, HostId, LinkConfig, Reply, RunReport, Server, Sim};
use synack_trace::{ladder_stats, render_json, render_text, Ladder, LadderStats, RenderOptions};

use crate::peer::{Agreement, CloseWhen, Open, Payload, Peer, SendWhen, PATIENCE};
use crate::progress;

const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SERVER_PORT: u16 = 80;
/// Ports of the two sides of a simultaneous open (nobody listens; both connect).
const OPEN_PORTS: (u16, u16) = (5001, 5002);
const LINK_DELAY: Duration = Duration::from_millis(10);
/// Transfers of at least this many bytes run over a 100 Mbit/s link (with a drop-tail queue of
/// one round trip's bandwidth-delay product) and large buffers, so they finish in seconds of
/// virtual time and flow control is not what limits them.
const BIG_TRANSFER: u64 = 1_000_000;
const BIG_LINK_BPS: u64 = 100_000_000;
const BIG_BUFFER: usize = 4 * 1024 * 1024;
/// Data rows kept before and after a collapsed run of ordinary data segments.
const COLLAPSE_KEEP: usize = 6;
/// How long the demo's applications take to act on what woke them (see `Peer::think`).
const THINK: Duration = Duration::from_millis(1);

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Probability that the link loses a packet, in each direction (0 ≤ P < 1).
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    loss: f64,
    /// Seed of every random choice (ISNs, ports, losses); the same seed replays exactly.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Transfer N bytes each way (a verified pattern) instead of "hello".
    #[arg(long, value_name = "N")]
    bytes: Option<u64>,
    /// Also write every packet (as sent, lost ones included) to a pcap file.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Both sides call CLOSE at the same instant after the exchange: FIN-WAIT-1 → CLOSING.
    #[arg(long, conflicts_with = "half_close")]
    simultaneous_close: bool,
    /// Nobody listens: both hosts connect to each other at the same instant
    /// (SYN-SENT → SYN-RECEIVED → ESTABLISHED on both sides).
    #[arg(long)]
    simultaneous_open: bool,
    /// The client shuts down its sending side first; the server sends its data after the
    /// client's FIN, then closes.
    #[arg(long)]
    half_close: bool,
    /// Print the ladder and the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the ladder as a self-contained web page (SVG) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Maximum segment lifetime in seconds (TIME-WAIT lasts 2×MSL).
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    msl: u64,
    /// No ANSI colours (also off when stdout is not a terminal or NO_COLOR is set).
    #[arg(long)]
    no_color: bool,
    /// Plain ASCII arrows.
    #[arg(long)]
    ascii: bool,
    /// Draw every segment (long transfers are otherwise shortened in the middle).
    #[arg(long)]
    full: bool,
    /// Raw sequence numbers instead of numbers relative to each side's ISN.
    #[arg(long)]
    absolute: bool,
    /// Line width of the diagram [default: the terminal's width, or 100 when not a terminal].
    #[arg(long, value_name = "COLUMNS")]
    width: Option<usize>,
    /// Congestion control on both hosts: newreno (RFC 5681/6582) or cubic (RFC 9438).
    #[arg(long, value_name = "ALGO", default_value = "cubic", value_parser = parse_cc)]
    cc: Algorithm,
}

fn parse_cc(s: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(s)
        .ok_or_else(|| format!("unknown congestion control {s:?} (newreno, cubic)"))
}

impl DemoArgs {
    /// The command line that reproduces this run.
    fn replay(&self) -> String {
        let mut s = format!("synack demo --seed {}", self.seed);
        if self.loss > 0.0 {
            s.push_str(&format!(" --loss {}", self.loss));
        }
        if let Some(n) = self.bytes {
            s.push_str(&format!(" --bytes {n}"));
        }
        if self.msl != 120 {
            s.push_str(&format!(" --msl {}", self.msl));
        }
        if self.cc != Algorithm::default() {
            s.push_str(&format!(" --cc {}", self.cc));
        }
        for (on, flag) in [
            (self.simultaneous_open, " --simultaneous-open"),
            (self.simultaneous_close, " --simultaneous-close"),
            (self.half_close, " --half-close"),
        ] {
            if on {
                s.push_str(flag);
            }
        }
        s
    }
}

/// The simulation as built: who is who.
struct Setup {
    sim: Sim,
    client: HostId,
    server: HostId,
    /// Payload bytes each way.
    bytes: u64,
}

fn big(args: &DemoArgs) -> bool {
    args.bytes.is_some_and(|n| n >= BIG_TRANSFER)
}

fn link(args: &DemoArgs) -> LinkConfig {
    let link = LinkConfig {
        delay: LINK_DELAY,
        loss: args.loss,
        ..LinkConfig::default()
    };
    if big(args) {
        let link = link.with_bandwidth(BIG_LINK_BPS);
        let queue = 2 * link.bdp_one_way().unwrap_or(0);
        link.with_queue_limit(queue)
    } else {
        link
    }
}

fn config(args: &DemoArgs) -> Config {
    let (send_buffer, recv_buffer) = if big(args) {
        (BIG_BUFFER, BIG_BUFFER)
    } else {
        let d = Config::default();
        (d.send_buffer, d.recv_buffer)
    };
    Config::default()
        .with_msl(Duration::from_secs(args.msl))
        .with_congestion(args.cc)
        .with_send_buffer(send_buffer)
        .with_recv_buffer(recv_buffer)
        // Virtual time is free: on a very lossy link, keep trying rather than give up.
        .with_syn_timeout(PATIENCE)
        .with_user_timeout(Some(PATIENCE))
}

fn build(args: &DemoArgs) -> Setup {
    let mut sim = Sim::new(args.seed);
    sim.set_replay_hint(args.replay());
    let client = sim.add_host("client", CLIENT_ADDR, config(args));
    let server = sim.add_host("server", SERVER_ADDR, config(args));
    sim.connect_hosts(client, server, link(args));
    let pattern_seed = reply_seed(args.seed ^ 0xDE30);
    let (to_server, to_client) = match args.bytes {
        None => (
            Payload::Bytes(b"hello".to_vec()),
            Payload::Bytes(b"hello".to_vec()),
        ),
        Some(n) => (
            Payload::Pattern {
                seed: pattern_seed,
                len: n,
            },
            Payload::Pattern {
                seed: reply_seed(pattern_seed),
                len: n,
            },
        ),
    };
    let bytes = to_server.len();

    let plain = !args.simultaneous_open && !args.simultaneous_close && !args.half_close;
    if plain && args.bytes.is_some() {
        // The simulator's own client and server do exactly this: both send n pattern bytes,
        // verify what they receive, the client closes first.
        let remote = SocketAddr::from((SERVER_ADDR, SERVER_PORT));
        sim.set_app(
            server,
            Box::new(
                Server::new(SERVER_PORT)
                    .seed(pattern_seed)
                    .reply(Reply::Send(bytes)),
            ),
        );
        sim.set_app(
            client,
            Box::new(Client::new(remote, bytes).seed(pattern_seed).expect(bytes)),
        );
        return Setup {
            sim,
            client,
            server,
            bytes,
        };
    }

    let (client_open, server_open) = if args.simultaneous_open {
        (
            Open::Connect {
                local_port: OPEN_PORTS.0,
                remote: SocketAddr::from((SERVER_ADDR, OPEN_PORTS.1)),
            },
            Open::Connect {
                local_port: OPEN_PORTS.1,
                remote: SocketAddr::from((CLIENT_ADDR, OPEN_PORTS.0)),
            },
        )
    } else {
        (
            Open::Connect {
                local_port: 0,
                remote: SocketAddr::from((SERVER_ADDR, SERVER_PORT)),
            },
            Open::Listen(SERVER_PORT),
        )
    };
    let (server_send, client_close, server_close) = if args.simultaneous_close {
        let agreement = Rc::new(RefCell::new(Agreement::default()));
        (
            SendWhen::AfterRequest,
            CloseWhen::Together(agreement.clone()),
            CloseWhen::Together(agreement),
        )
    } else if args.half_close {
        (
            SendWhen::AfterEof,
            CloseWhen::ShutdownFirst,
            CloseWhen::AfterEof,
        )
    } else {
        (SendWhen::AfterRequest, CloseWhen::Done, CloseWhen::AfterEof)
    };
    sim.set_app(
        client,
        Box::new(
            Peer::new(
                "client",
                client_open,
                to_server.clone(),
                to_client.clone(),
                SendWhen::Established,
                client_close,
            )
            .think(THINK),
        ),
    );
    sim.set_app(
        server,
        Box::new(
            Peer::new(
                "server",
                server_open,
                to_client,
                to_server,
                server_send,
                server_close,
            )
            .think(THINK),
        ),
    );
    Setup {
        sim,
        client,
        server,
        bytes,
    }
}

/// The ladder of everything between the two hosts.
fn ladder(setup: &Setup) -> Ladder {
    let sim = &setup.sim;
    let (c, s) = (setup.client, setup.server);
    let mut l = Ladder::new(
        sim.host_name(c),
        IpAddr::V4(sim.host_addr(c)),
        sim.host_name(s),
        IpAddr::V4(sim.host_addr(s)),
    );
    // One connection per host in the demo; keep to the first each host made.
    let first_conn = |h: HostId| {
        sim.transitions()
            .iter()
            .find(|t| t.host == h)
            .map(|t| t.conn)
    };
    let conns = [first_conn(c), first_conn(s)];
    let mut packets = sim
        .packets()
        .iter()
        .filter(|p| (p.from == c && p.to == s) || (p.from == s && p.to == c))
        .peekable();
    let mut transitions = sim
        .transitions()
        .iter()
        .filter(|t| {
            (t.host == c && Some(t.conn) == conns[0]) || (t.host == s && Some(t.conn) == conns[1])
        })
        .peekable();
    // Merge by time; at one instant a host's state change comes before what it then sends.
    loop {
        let take_packet = match (packets.peek(), transitions.peek()) {
            (Some(p), Some(t)) => p.sent < t.at,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_packet {
            let Some(p) = packets.next() else { break };
            let arrived = match p.fate {
                Fate::Delivered { at } => Some(at),
                // A corrupted packet fails the receiver's checksum: as good as lost.
                Fate::Lost
                | Fate::Corrupted { .. }
                | Fate::TooBig
                | Fate::QueueFull
                | Fate::Filtered => None,
            };
            l.push_segment(p.sent, arrived, p.from == c, p.data.clone());
        } else {
            let Some(t) = transitions.next() else { break };
            l.push_transition(t.at, t.host == c, t.from, t.to, t.cause);
        }
    }
    l
}

/// Run the simulation to `limit`; a `--bytes` transfer of at least [`progress::DEMO_BYTES`]
/// shows the bytes delivered (both directions) on a bar on standard error (not with `--json`,
/// and only when standard error is a terminal).
fn run_sim(args: &DemoArgs, setup: &mut Setup, limit: Instant) -> RunReport {
    let bytes = args.bytes.unwrap_or(0);
    if bytes < progress::DEMO_BYTES {
        return setup.sim.run(limit);
    }
    let bar = progress::bar(
        "demo",
        bytes.saturating_mul(2),
        progress::Unit::Bytes,
        args.json,
    );
    if !bar.is_hidden() {
        let hosts = [setup.client, setup.server];
        let mut steps = 0u64;
        setup.sim.run_until(limit, |sim| {
            steps += 1;
            if steps.is_multiple_of(512) {
                let delivered: u64 = hosts
                    .iter()
                    .filter_map(|&h| sim.app(h))
                    .map(|app| app.outcome().bytes_received())
                    .sum();
                bar.set_position(delivered);
            }
            false
        });
        bar.finish_and_clear();
    }
    // Runs on to `limit` (nothing left if the bar ran it) and checks the invariants.
    setup.sim.run(limit)
}

fn final_state(setup: &Setup, host: HostId) -> Option<State> {
    setup
        .sim
        .transitions()
        .iter()
        .rfind(|t| t.host == host)
        .map(|t| t.to)
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn header(args: &DemoArgs, setup: &Setup) -> String {
    let loss = if args.loss > 0.0 {
        format!("losing {}% of packets in each direction", args.loss * 100.0)
    } else {
        "no loss".to_string()
    };
    let what = match args.bytes {
        None => "\"hello\" (5 bytes)".to_string(),
        Some(n) => format!("{n} bytes"),
    };
    let back = match args.bytes {
        None => "\"hello\"".to_string(),
        Some(n) => format!("{n} bytes"),
    };
    let open = if args.simultaneous_open {
        format!(
            "Nobody listens: both hosts call CONNECT at the same instant, the client from port {} \
             to the server's port {} and the server from port {} to the client's port {} \
             (a simultaneous open, RFC 9293 §3.5 Figure 8).",
            OPEN_PORTS.0, OPEN_PORTS.1, OPEN_PORTS.1, OPEN_PORTS.0
        )
    } else {
        format!("The server listens on port {SERVER_PORT} and the client connects.")
    };
    let exchange = if args.half_close {
        format!(
            "The client sends {what} and shuts down its sending side at once (a half-close: FIN, \
             but it keeps reading); the server reads to end of stream, then sends {back} back \
             on its still-open side and closes."
        )
    } else if args.simultaneous_close {
        format!(
            "The client sends {what}, the server answers {back}, and then both call CLOSE at \
             the same virtual instant, so their FINs cross (a simultaneous close, RFC 9293 \
             §3.6 Figure 13)."
        )
    } else if args.bytes.is_some() && !args.simultaneous_open {
        format!(
            "Each side sends {what} of a seeded pattern that the other verifies byte for byte; \
             the client closes once it has everything and the server closes after end of \
             stream."
        )
    } else {
        format!(
            "The client sends {what}, the server answers {back}, the client closes, and the \
             server closes once it reads end of stream."
        )
    };
    let bw = if big(args) {
        format!(
            ", {} Mbit/s with a drop-tail queue of one round trip's worth",
            BIG_LINK_BPS / 1_000_000
        )
    } else {
        String::new()
    };
    let cc = match args.cc {
        Algorithm::NewReno => "NewReno (RFC 5681/6582)",
        Algorithm::Cubic => "CUBIC (RFC 9438)",
        other => other.name(),
    };
    let text = format!(
        "synack demo: two simulated hosts, client {CLIENT_ADDR} and server {SERVER_ADDR}, on a \
         link with {} ms one-way delay{bw} and {loss} (seed {}); both hosts use {cc} congestion \
         control. {open} {exchange} Every segment \
         below was built and parsed by synack's own TCP (synack-proto); the simulator carries \
         them in virtual time, so TIME-WAIT (2×MSL = {} s) costs nothing. Each row shows when a \
         segment was sent, the sender's state then and the receiver's state after processing \
         it; seq/ack count from each side's initial sequence number (ISN).",
        LINK_DELAY.as_millis(),
        setup.sim.seed(),
        2 * args.msl,
    );
    wrap(&text, crate::term::width(args.width).max(60))
}

fn direction_line(report: &RunReport, from: HostId, to: HostId) -> (u64, u64) {
    let sent = report.outcome(from).map_or(0, |o| o.bytes_sent());
    let received = report.outcome(to).map_or(0, |o| o.bytes_received());
    (sent, received)
}

/// One direction's sender, as its last `info()` snapshot saw it, and the goodput.
struct Flow {
    /// Bytes per virtual second from CONNECT to the last byte read by the receiving app.
    goodput: Option<f64>,
    info: Option<ConnInfo>,
}

fn flow(report: &RunReport, start: Option<Instant>, from: HostId, to: HostId) -> Flow {
    let sender = report.outcome(from).and_then(|o| o.conns.first().cloned());
    let receiver = report.outcome(to).and_then(|o| o.conns.first().cloned());
    let goodput = match (start, receiver.as_ref().and_then(|r| r.last_recv_at)) {
        (Some(a), Some(b)) if b > a => {
            let bytes = receiver.as_ref().map_or(0, |r| r.bytes_received);
            Some(bytes as f64 / (b - a).as_secs_f64())
        }
        _ => None,
    };
    Flow {
        goodput,
        info: sender.and_then(|s| s.info),
    }
}

/// Bytes per second as a bit rate.
fn rate(bytes_per_s: f64) -> String {
    let bits = bytes_per_s * 8.0;
    if bits >= 1e6 {
        format!("{:.2} Mbit/s", bits / 1e6)
    } else {
        format!("{:.1} kbit/s", bits / 1e3)
    }
}

impl Flow {
    fn text(&self) -> String {
        let goodput = self
            .goodput
            .map_or_else(|| "-".to_string(), |g| format!("{} ({g:.0} B/s)", rate(g)));
        match &self.info {
            Some(i) => format!(
                "goodput {goodput}; retransmissions {}, fast recoveries {}; final cwnd {} B \
                 ({:.1} SMSS), srtt {}",
                i.retransmits,
                i.fast_retransmits,
                i.cwnd,
                f64::from(i.cwnd) / f64::from(i.mss.max(1)),
                i.srtt.map_or_else(
                    || "-".to_string(),
                    |d| format!("{:.1} ms", d.as_secs_f64() * 1e3)
                ),
            ),
            None => format!("goodput {goodput}"),
        }
    }

    fn json(&self) -> Value {
        let i = self.info.as_ref();
        json!({
            "goodput_bytes_per_s": self.goodput,
            "retransmissions": i.map(|i| i.retransmits),
            "fast_recoveries": i.map(|i| i.fast_retransmits),
            "final_cwnd": i.map(|i| i.cwnd),
            "mss": i.map(|i| i.mss),
            "srtt_us": i.and_then(|i| i.srtt).map(|d| d.as_micros() as u64),
            "congestion": i.map(|i| i.controller),
        })
    }
}

struct Summary {
    c2s: (u64, u64),
    s2c: (u64, u64),
    /// Per direction (client → server, server → client), for `--bytes` runs of the built-in
    /// client and server.
    flows: Option<[Flow; 2]>,
    stats: LadderStats,
    duration: Instant,
    final_states: [Option<State>; 2],
}

fn summarize(args: &DemoArgs, setup: &Setup, report: &RunReport, ladder: &Ladder) -> Summary {
    let start = report
        .outcome(setup.client)
        .and_then(|o| o.conns.first())
        .and_then(|c| c.opened_at);
    let flows = start.map(|start| {
        [
            flow(report, Some(start), setup.client, setup.server),
            flow(report, Some(start), setup.server, setup.client),
        ]
    });
    Summary {
        c2s: direction_line(report, setup.client, setup.server),
        s2c: direction_line(report, setup.server, setup.client),
        flows: flows.filter(|_| args.bytes.is_some()),
        stats: ladder_stats(ladder),
        duration: report.end,
        final_states: [
            final_state(setup, setup.client),
            final_state(setup, setup.server),
        ],
    }
}

fn state_name(s: Option<State>) -> &'static str {
    s.map_or("-", |s| s.name())
}

/// One summary line, `  name              text`, wrapped to `width` with the text's column kept.
fn field(name: &str, text: &str, width: usize) -> String {
    const COL: usize = 20;
    let body = wrap(text, width.saturating_sub(COL).max(40));
    let mut out = String::new();
    for (k, line) in body.lines().enumerate() {
        if k == 0 {
            out.push_str(&format!("  {name:<18}{line}\n"));
        } else {
            out.push_str(&format!("{}{line}\n", " ".repeat(COL)));
        }
    }
    out
}

fn summary_text(args: &DemoArgs, setup: &Setup, sum: &Summary, ok: bool) -> String {
    let verdict = |(sent, received): (u64, u64)| {
        if ok && sent == received && sent == setup.bytes {
            format!("{sent} bytes sent, {received} received and verified byte for byte")
        } else {
            format!(
                "{sent} bytes sent, {received} received (expected {})",
                setup.bytes
            )
        }
    };
    let st = &sum.stats;
    let total: usize = st.segments.iter().sum();
    let lost: usize = st.lost.iter().sum();
    let retx: usize = st.retransmissions.iter().sum();
    let width = crate::term::width(args.width);
    let mut out = String::from("Summary\n");
    let arrow = if args.ascii { "->" } else { "→" };
    out.push_str(&field(
        &format!("client {arrow} server"),
        &verdict(sum.c2s),
        width,
    ));
    out.push_str(&field(
        &format!("server {arrow} client"),
        &verdict(sum.s2c),
        width,
    ));
    out.push_str(&field(
        "segments",
        &format!(
            "{total} (client {}, server {}); lost {lost}; retransmissions {retx} (client {}, \
             server {})",
            st.segments[0], st.segments[1], st.retransmissions[0], st.retransmissions[1]
        ),
        width,
    ));
    if let Some([c2s, s2c]) = &sum.flows {
        out.push_str(&field("client as sender", &c2s.text(), width));
        out.push_str(&field("server as sender", &s2c.text(), width));
    }
    out.push_str(&format!(
        "  virtual time      {} s (TIME-WAIT 2{}MSL = {} s included)\n",
        &sum.duration.to_string().trim_end_matches('s'),
        if args.ascii { "x" } else { "×" },
        2 * args.msl
    ));
    out.push_str(&format!(
        "  final states      client {}, server {}\n",
        state_name(sum.final_states[0]),
        state_name(sum.final_states[1])
    ));
    if ok {
        out.push_str(&field(
            "invariants",
            "ok: every transition is an RFC 9293 edge, every byte arrived in order, both \
             endpoints released all connection state",
            width,
        ));
    }
    out
}

fn summary_json(setup: &Setup, sum: &Summary, report: &RunReport) -> Value {
    let st = &sum.stats;
    json!({
        "ok": report.is_ok(),
        "seed": report.seed,
        "bytes_each_way": setup.bytes,
        "client_to_server": {"sent": sum.c2s.0, "received": sum.c2s.1},
        "server_to_client": {"sent": sum.s2c.0, "received": sum.s2c.1},
        "verified": report.is_ok() && sum.c2s.0 == sum.c2s.1 && sum.s2c.0 == sum.s2c.1,
        "segments": {"client": st.segments[0], "server": st.segments[1], "total": st.segments[0] + st.segments[1]},
        "lost": {"client": st.lost[0], "server": st.lost[1]},
        "retransmissions": {"client": st.retransmissions[0], "server": st.retransmissions[1]},
        "virtual_duration_s": sum.duration.as_micros() as f64 / 1e6,
        "virtual_duration_us": sum.duration.as_micros(),
        "final_states": {"client": state_name(sum.final_states[0]), "server": state_name(sum.final_states[1])},
        "flows": sum.flows.as_ref().map(|[a, b]| json!({"client_to_server": a.json(), "server_to_client": b.json()})),
        "violations": report.violations,
        "timed_out": timeouts(setup),
    })
}

pub fn run(args: &DemoArgs) -> Result<(), String> {
    crate::validate::probability("--loss", args.loss)?;
    if let Some(path) = &args.pcap {
        crate::validate::pcap_path(path)?;
    }
    let mut setup = build(args);
    // Generous: a transfer over a very lossy link backs off for a long time, and TIME-WAIT
    // alone is 2×MSL.
    let limit = Instant::from_secs(2 * args.msl + 2 * PATIENCE.as_secs() + 60);
    let report = run_sim(args, &mut setup, limit);
    let ladder = ladder(&setup);
    let sum = summarize(args, &setup, &report, &ladder);

    if let Some(path) = &args.pcap {
        setup
            .sim
            .write_pcap(path, None)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }

    if let Some(path) = &args.html {
        let part = synack_trace::HtmlPart {
            heading: header(args, &setup),
            ladder: &ladder,
            summary: summary_text(args, &setup, &sum, report.is_ok()),
        };
        let opts = synack_trace::HtmlOptions {
            title: args.replay(),
            absolute: args.absolute,
            collapse: (!args.full).then_some(COLLAPSE_KEEP),
        };
        std::fs::write(path, synack_trace::render_html(&[part], &opts))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }

    if args.json {
        let mut v = render_json(&ladder);
        if let Value::Object(map) = &mut v {
            map.insert("summary".into(), summary_json(&setup, &sum, &report));
            map.insert("replay".into(), json!(args.replay()));
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
    } else {
        let color = !args.no_color
            && std::env::var_os("NO_COLOR").is_none()
            && std::io::stdout().is_terminal();
        let opts = RenderOptions {
            color,
            width: crate::term::width(args.width),
            absolute: args.absolute,
            ascii: args.ascii,
            collapse: (!args.full).then_some(COLLAPSE_KEEP),
        };
        println!("{}", header(args, &setup));
        println!("{}", render_text(&ladder, &opts));
        print!("{}", summary_text(args, &setup, &sum, report.is_ok()));
        if let Some(path) = &args.pcap {
            println!(
                "  pcap              {} ({} packets, as sent, lost ones included)",
                path.display(),
                setup
                    .sim
                    .packets()
                    .iter()
                    .filter(|p| p.duplicate_of.is_none())
                    .count()
            );
        }
    }
    if report.is_ok() {
        Ok(())
    } else if let Some(msg) = timed_out(&setup, &report) {
        Err(msg)
    } else {
        Err(format!(
            "the simulation broke its invariants — {}",
            report.failure_message()
        ))
    }
}

/// Connections TCP closed because it gave up (R2, RFC 9293 §3.8.3, or another timeout other
/// than TIME-WAIT's normal end): "the client in ESTABLISHED (retransmission timeout (R2))".
fn timeouts(setup: &Setup) -> Vec<String> {
    let sim = &setup.sim;
    // (host, state, cause) in order of first occurrence, with how often.
    let mut seen: Vec<((HostId, State, &str), usize)> = Vec::new();
    for t in sim.transitions().iter().filter(|t| {
        t.to == State::Closed && t.cause.contains("timeout") && t.cause != "2MSL timeout"
    }) {
        let key = (t.host, t.from, t.cause);
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => seen.push((key, 1)),
        }
    }
    seen.into_iter()
        .map(|((host, from, cause), n)| {
            let times = if n > 1 {
                format!(", {n} times")
            } else {
                String::new()
            };
            format!("the {} in {from} ({cause}{times})", sim.host_name(host))
        })
        .collect()
}

/// When TCP gave up as it should on a link that loses too much (RFC 9293 §3.8.3: after R2
/// retransmissions the connection is closed and the user told), the run's only complaints are
/// that an application never finished; that is the timeout's consequence, not a broken
/// invariant. The message says what happened; `None` when something else went wrong too.
fn timed_out(setup: &Setup, report: &RunReport) -> Option<String> {
    let gave_up = timeouts(setup);
    let progress_only = report
        .violations
        .iter()
        .all(|v| v.ends_with(": not done when the network went quiet"));
    if gave_up.is_empty() || !progress_only {
        return None;
    }
    Some(format!(
        "the connection timed out: TCP gave up on this lossy link as RFC 9293 §3.8.3 intends \
         (R2), {}; the exchange did not complete, but no invariant broke (seed {}; replay: {})",
        gave_up.join(", then "),
        report.seed,
        report.replay
    ))
}
