//! A blind (off-path) attacker against 100 established connections (RFC 5961).
//!
//! One echo server, four client hosts with 25 connections each. Once all 100 are ESTABLISHED
//! and while they transfer 200 kB each way over 2 Mbit/s links, an attacker that knows every
//! 4-tuple but not the sequence numbers injects ([`Sim::inject`]) spoofed segments toward both
//! ends of random connections: RSTs, RST-ACKs, SYNs and ACK data segments, all with random
//! sequence and acknowledgment numbers — 20,000 per virtual second. One in ten is "lucky": its
//! sequence number falls inside the receiver's window (not on RCV.NXT), as a guess that
//! happened to land, so the challenge-ACK machinery and its budget are really exercised.
//! Checked:
//!
//! - no connection is reset or corrupted: every byte arrives in order (the apps verify the
//!   pattern), both sides of all 100 connections end `Normal`, every invariant of `Sim::run`;
//! - challenge ACKs (RFC 5961 §3.2, §4.2, §5.2) stay within the per-connection budget,
//!   `Config::challenge_ack_limit` per `Config::challenge_ack_window` (10 per 5 s): for every
//!   connection the total over the attack is at most `limit · (⌈attack / window⌉ + 1)`, and no
//!   sliding window of that length holds more than `2 · limit` (the budget is a fixed window).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack_proto::{CloseReason, Config, ConnHandle, Duration, Instant, State};
use synack_sim::fuzz_harness::tcp_packet;
use synack_sim::rng::Rng;
use synack_sim::{Fleet, HostId, LinkConfig, Reply, Server, Sim};
use synack_wire::{TcpFlags, TcpOptions};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;
const HOSTS: usize = 4;
const PER_HOST: usize = 25;
const BYTES: u64 = 200_000;
/// Spoofed segments per virtual second (all connections, both directions).
const RATE: u64 = 20_000;
/// Attack time slice: inject a slice's segments, then run the simulation through it.
const SLICE: Duration = Duration::from_millis(10);

fn v4(a: SocketAddr) -> (Ipv4Addr, u16) {
    match a.ip() {
        IpAddr::V4(ip) => (ip, a.port()),
        IpAddr::V6(_) => unreachable!("IPv4 only"),
    }
}

/// When, challenge ACKs sent so far, challenge ACKs suppressed so far (one connection).
type Sample = (Instant, u64, u64);

/// One random spoofed segment from `src` to `dst`. With `lucky = Some((rcv_nxt, rcv_wnd,
/// snd_nxt))` of the receiver, the attacker has guessed the window: the sequence number lies
/// inside it (never exactly RCV.NXT, which would be a valid reset) and the acknowledgment
/// number half the sequence space away from SND.NXT (never acceptable).
fn spoofed(
    r: &mut Rng,
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    lucky: Option<(u32, u32, u32)>,
) -> (Vec<u8>, &'static str) {
    let (seq, ack) = match lucky {
        Some((nxt, wnd, snd_nxt)) => (
            nxt.wrapping_add(1 + r.below(u64::from(wnd.max(2) - 1)) as u32),
            snd_nxt.wrapping_add(1 << 31),
        ),
        None => (r.next_u64() as u32, r.next_u64() as u32),
    };
    let window = r.below(65536) as u16;
    let (flags, payload, kind) = match r.below(4) {
        0 => (TcpFlags::RST, Vec::new(), "RST"),
        1 => (
            TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0),
            Vec::new(),
            "RST-ACK",
        ),
        2 => (TcpFlags::SYN, Vec::new(), "SYN"),
        _ => {
            let len = 1 + r.below(1000) as usize;
            let payload = (0..len).map(|_| r.next_u64() as u8).collect();
            (TcpFlags(TcpFlags::ACK.0 | TcpFlags::PSH.0), payload, "data")
        }
    };
    let pkt = tcp_packet(
        src,
        dst,
        seq,
        ack,
        flags,
        window,
        TcpOptions::default(),
        &payload,
    );
    (pkt, kind)
}

#[test]
fn blind_attack_resets_and_corrupts_nothing_and_challenge_acks_stay_in_budget() {
    let config = Config::default();
    let (limit, window) = (config.challenge_ack_limit, config.challenge_ack_window);

    let mut sim = Sim::new(5961);
    sim.set_capture(false);
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        bandwidth_bps: Some(2_000_000),
        ..LinkConfig::default()
    };
    let s = sim.add_host("server", SERVER, config.clone());
    sim.set_app(
        s,
        Box::new(
            Server::new(PORT)
                .reply(Reply::Echo)
                .seed(7)
                .connections(HOSTS * PER_HOST),
        ),
    );
    let remote = SocketAddr::from((SERVER, PORT));
    let clients: Vec<HostId> = (0..HOSTS)
        .map(|i| {
            let c = sim.add_host(
                &format!("client{i}"),
                Ipv4Addr::new(10, 0, 1, 1 + i as u8),
                config.clone(),
            );
            sim.connect_hosts(c, s, link.clone());
            sim.set_app(c, Box::new(Fleet::new(remote, PER_HOST, BYTES, 7)));
            c
        })
        .collect();

    // Run until all 100 connections are ESTABLISHED on the client side; learn their tuples.
    let all_established = |sim: &mut Sim| {
        clients.iter().all(|&c| {
            let ep = sim.endpoint_ref(c);
            ep.connection_count() == PER_HOST
                && ep
                    .connections()
                    .all(|h| ep.state(h) == Some(State::Established))
        })
    };
    assert!(
        sim.run_until(Instant::from_secs(10), all_established),
        "the 100 connections did not all open"
    );
    let mut tuples = Vec::new();
    for &c in &clients {
        let ep = sim.endpoint_ref(c);
        for h in ep.connections() {
            tuples.push(ep.tuple(h).expect("tuple"));
        }
    }
    assert_eq!(tuples.len(), HOSTS * PER_HOST);
    // Every connection's handle on each side, by (receiving address, tuple as it sees it).
    let mut handles = HashMap::new();
    for host in std::iter::once(s).chain(clients.iter().copied()) {
        let ep = sim.endpoint_ref(host);
        for h in ep.connections() {
            handles.insert(ep.tuple(h).expect("tuple"), (host, h));
        }
    }

    // Attack while the transfers run, until every client is done.
    let mut r = Rng::new(0xB11D);
    let attack_start = sim.now();
    let mut injected: HashMap<&str, u64> = HashMap::new();
    // Per (host, connection): challenge-ACK counts sampled after every slice.
    let mut samples: HashMap<(HostId, ConnHandle), Vec<Sample>> = HashMap::new();
    let per_slice = RATE * SLICE.as_micros() as u64 / 1_000_000;
    let mut now = attack_start;
    loop {
        let done = clients
            .iter()
            .all(|&c| sim.app(c).is_some_and(|a| a.done()));
        if done || now > attack_start + Duration::from_secs(600) {
            break;
        }
        for k in 0..per_slice {
            let t = tuples[r.below(tuples.len() as u64) as usize];
            // Toward the server (spoofing the client) or toward the client.
            let (src, dst) = if r.chance(0.5) {
                (v4(t.local), v4(t.remote))
            } else {
                (v4(t.remote), v4(t.local))
            };
            let lucky = if r.chance(0.1) {
                let seen = synack_proto::FourTuple {
                    local: SocketAddr::from(dst),
                    remote: SocketAddr::from(src),
                };
                handles
                    .get(&seen)
                    .and_then(|&(host, h)| sim.endpoint_ref(host).info(h))
                    .map(|i| (i.rcv_nxt.0, i.rcv_wnd, i.snd_nxt.0))
            } else {
                None
            };
            let (pkt, kind) = spoofed(&mut r, src, dst, lucky);
            let at = now + Duration::from_micros(k * SLICE.as_micros() as u64 / per_slice);
            assert!(sim.inject(at, pkt));
            *injected.entry(kind).or_default() += 1;
        }
        now += SLICE;
        sim.run_until(now, |_| false);
        for host in std::iter::once(s).chain(clients.iter().copied()) {
            let ep = sim.endpoint_ref(host);
            for h in ep.connections() {
                // A connection in TIME-WAIT becomes a compact entry that keeps no counters
                // (its own challenge-ACK budget is tested in synack-proto's time_wait.rs).
                if let Some(i) = ep.info(h).filter(|i| i.state != State::TimeWait) {
                    samples.entry((host, h)).or_default().push((
                        now,
                        i.challenge_acks,
                        i.challenge_acks_suppressed,
                    ));
                }
            }
        }
    }
    let attack = now.saturating_duration_since(attack_start);
    let report = sim.run(Instant::from_secs(4 * 3600));
    report.assert_ok();

    // Nothing reset, nothing corrupted: every connection, both sides, ended Normal with all
    // 200 kB echoed (the apps verified every byte).
    for (host, outcome) in &report.outcomes {
        let expect = if *host == s {
            HOSTS * PER_HOST
        } else {
            PER_HOST
        };
        assert_eq!(outcome.conns.len(), expect, "{host}: connections");
        for c in &outcome.conns {
            assert_eq!(
                c.closed,
                Some(CloseReason::Normal),
                "{host} conn {} ended {:?}",
                c.conn,
                c.closed
            );
            assert_eq!(c.bytes_received, BYTES, "{host} conn {}", c.conn);
            assert_eq!(c.bytes_sent, BYTES, "{host} conn {}", c.conn);
        }
    }

    // Challenge ACKs within the per-connection budget.
    let windows = attack.as_micros().div_ceil(window.as_micros()) as u64 + 1;
    let total_bound = u64::from(limit) * windows;
    let mut total_challenges = 0;
    let mut busiest = 0;
    let mut suppressed = 0;
    for (&(host, h), v) in &samples {
        suppressed += v.last().map_or(0, |x| x.2);
        let last = v.last().map_or(0, |x| x.1);
        total_challenges += last;
        busiest = busiest.max(last);
        assert!(
            last <= total_bound,
            "{host} conn {h}: {last} challenge ACKs in {attack:?} (bound {total_bound})"
        );
        for (i, &(t0, n0, _)) in v.iter().enumerate() {
            let within = v[i..]
                .iter()
                .take_while(|(t, _, _)| t.saturating_duration_since(t0) <= window)
                .last()
                .map_or(n0, |x| x.1);
            assert!(
                within - n0 <= 2 * u64::from(limit),
                "{host} conn {h}: {} challenge ACKs within {window:?} of {t0}",
                within - n0
            );
        }
    }
    let n_injected: u64 = injected.values().sum();
    println!(
        "blind attack: {n_injected} spoofed segments ({injected:?}) over {attack:?} against \
         {} connections; all {} closed Normal with every byte; challenge ACKs: {total_challenges} \
         sent in all ({suppressed} more suppressed by the budget), at most {busiest} on one \
         connection (bound {total_bound}: {limit} per {window:?}); sim stats {:?}",
        tuples.len(),
        tuples.len(),
        report.stats
    );
    assert!(
        total_challenges > 0,
        "the attack provoked no challenge ACK at all"
    );
    assert!(suppressed > 0, "the challenge-ACK budget was never reached");
}
