//! SYN floods (RFC 4987) in the simulator: 1,000,000 spoofed SYNs from random addresses and
//! ports, 100,000 per virtual second for 10 s, injected ([`Sim::inject`]) at an echo server
//! listening with the default backlog (128).
//!
//! - `with_syn_cookies_legitimate_clients_get_through`: 1,000 legitimate clients (10 hosts ×
//!   100) connect during the flood, spread over its 10 s, and each echoes 2,000 bytes. The
//!   spoofed SYNs fill the SYN queue at once; from then on every SYN is answered with a cookie
//!   and costs no state. At least 99% of the legitimate handshakes must complete with their
//!   data echoed byte for byte, and the server's state stays under the stated bound: at most
//!   `MEMORY_BOUND_CONNS` connections (1,000 legitimate + SYN queue + accept queue = 1,000 +
//!   2 × 128) and receive memory under `MEMORY_BOUND_BYTES` (every legitimate connection's
//!   whole request buffered at once: 1,000 × 2,000 bytes).
//! - `without_syn_cookies_the_bounded_queue_protects_established_connections`: cookies off
//!   (`Config::syn_cookies = false`), 100 connections established before the flood keep
//!   transferring 300 kB each way through it and close Normal with every byte; the flood can
//!   only ever hold the SYN queue (128 half-open children), so the server stays under 100 +
//!   2 × 128 connections, and SYNs beyond the queue are dropped and counted.

use std::net::{Ipv4Addr, SocketAddr};

use synack_proto::{CloseReason, Config, Duration, Instant, State};
use synack_sim::fuzz_harness::tcp_packet;
use synack_sim::rng::Rng;
use synack_sim::{Fleet, HostId, LinkConfig, Reply, Server, Sim};
use synack_wire::{TcpFlags, TcpOptions};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;
const SPOOFED: u64 = 1_000_000;
const FLOOD_RATE: u64 = 100_000; // SYNs per virtual second
const SLICE: Duration = Duration::from_millis(10);
const BACKLOG: usize = 128;

/// A SYN from a random address in 172.16.0.0/12 (nobody in the simulation) and random port.
fn spoofed_syn(r: &mut Rng) -> Vec<u8> {
    let a = r.next_u64();
    let src = Ipv4Addr::new(
        172,
        16 | (a as u8 & 0x0F),
        (a >> 8) as u8,
        (a >> 16) as u8 | 1,
    );
    let port = 1024 + r.below(64_000) as u16;
    let options = TcpOptions {
        mss: Some(1460),
        window_scale: r.chance(0.5).then_some(7),
        sack_permitted: r.chance(0.5),
        timestamps: r.chance(0.5).then(|| (r.next_u64() as u32, 0)),
        ..TcpOptions::default()
    };
    tcp_packet(
        (src, port),
        (SERVER, PORT),
        r.next_u64() as u32,
        0,
        TcpFlags::SYN,
        64_240,
        options,
        &[],
    )
}

/// Inject the flood slice by slice from now, running the simulation through each slice and
/// calling `sample` after it. Returns when all `SPOOFED` SYNs were injected.
fn flood(sim: &mut Sim, server: HostId, r: &mut Rng, mut sample: impl FnMut(&mut Sim)) {
    let per_slice = FLOOD_RATE * SLICE.as_micros() as u64 / 1_000_000;
    let mut now = sim.now();
    let mut sent = 0;
    while sent < SPOOFED {
        for k in 0..per_slice.min(SPOOFED - sent) {
            let at = now + Duration::from_micros(k * SLICE.as_micros() as u64 / per_slice);
            assert!(sim.inject(at, spoofed_syn(r)));
            sent += 1;
        }
        now += SLICE;
        sim.run_until(now, |_| false);
        sample(sim);
    }
    let _ = server;
}

#[test]
fn with_syn_cookies_legitimate_clients_get_through() {
    const HOSTS: usize = 10;
    const PER_HOST: usize = 100;
    const BYTES: u64 = 2_000;
    const LEGIT: usize = HOSTS * PER_HOST;
    const MEMORY_BOUND_CONNS: usize = LEGIT + 2 * BACKLOG;
    const MEMORY_BOUND_BYTES: usize = LEGIT * BYTES as usize;

    let config = Config::default();
    assert!(config.syn_cookies && config.backlog == BACKLOG);
    let mut sim = Sim::new(4987);
    sim.set_capture(false);
    let s = sim.add_host("server", SERVER, config.clone());
    sim.set_app(
        s,
        Box::new(
            Server::new(PORT)
                .reply(Reply::Echo)
                .seed(3)
                .connections(LEGIT),
        ),
    );
    let link = LinkConfig {
        delay: Duration::from_millis(10),
        ..LinkConfig::default()
    };
    let remote = SocketAddr::from((SERVER, PORT));
    let clients: Vec<HostId> = (0..HOSTS)
        .map(|i| {
            let c = sim.add_host(
                &format!("client{i}"),
                Ipv4Addr::new(10, 0, 1, 1 + i as u8),
                config.clone(),
            );
            sim.connect_hosts(c, s, link.clone());
            // 100 connections 100 ms apart: spread over the flood's 10 s.
            let fleet = Fleet::new(remote, PER_HOST, BYTES, 3).schedule(
                Duration::from_millis(50 + 10 * i as u64),
                Duration::from_millis(100),
            );
            sim.set_app(c, Box::new(fleet));
            c
        })
        .collect();

    let started = std::time::Instant::now();
    let mut r = Rng::new(0x5F100D);
    let (mut max_conns, mut max_mem) = (0, 0);
    flood(&mut sim, s, &mut r, |sim| {
        let ep = sim.endpoint_ref(s);
        max_conns = max_conns.max(ep.connection_count());
        max_mem = max_mem.max(ep.receive_memory());
    });
    let flood_wall = started.elapsed();
    let flood_end = sim.now();
    let report = sim.run(Instant::from_secs(3600));
    let stats = sim.endpoint_ref(s).stats().clone();

    let conns: Vec<_> = report
        .outcomes
        .iter()
        .filter(|(h, _)| clients.contains(h))
        .flat_map(|(_, o)| o.conns.iter())
        .collect();
    assert_eq!(conns.len(), LEGIT);
    let complete = conns
        .iter()
        .filter(|c| c.closed == Some(CloseReason::Normal) && c.bytes_received == BYTES)
        .count();
    println!(
        "SYN flood with cookies: {SPOOFED} spoofed SYNs at {FLOOD_RATE}/s (virtual, ended at \
         {flood_end}; {flood_wall:?} wall); {complete}/{LEGIT} legitimate handshakes completed \
         and echoed {BYTES} bytes; server max {max_conns} connections (bound \
         {MEMORY_BOUND_CONNS}), max receive memory {max_mem} bytes (bound {MEMORY_BOUND_BYTES}); \
         cookies sent {}, validated {}, invalid {}, SYN queue full {}",
        stats.syn_cookies_sent,
        stats.syn_cookies_validated,
        stats.syn_cookies_invalid,
        stats.syn_queue_full
    );
    assert!(
        complete * 100 >= LEGIT * 99,
        "only {complete} of {LEGIT} legitimate clients completed: {}",
        report.failure_message()
    );
    assert!(max_conns <= MEMORY_BOUND_CONNS, "{max_conns} connections");
    assert!(max_mem <= MEMORY_BOUND_BYTES, "{max_mem} bytes");
    assert!(stats.syn_cookies_sent >= SPOOFED - 10 * BACKLOG as u64);
    assert!(stats.syn_cookies_validated as usize >= complete * 9 / 10);
    if complete == LEGIT {
        report.assert_ok();
    }
}

#[test]
fn without_syn_cookies_the_bounded_queue_protects_established_connections() {
    const CONNS: usize = 100;
    const BYTES: u64 = 300_000;
    const BOUND_CONNS: usize = CONNS + 2 * BACKLOG;

    let config = Config::default().with_syn_cookies(false);
    let mut sim = Sim::new(4988);
    sim.set_capture(false);
    let s = sim.add_host("server", SERVER, config.clone());
    sim.set_app(
        s,
        Box::new(
            Server::new(PORT)
                .reply(Reply::Echo)
                .seed(3)
                .connections(CONNS),
        ),
    );
    let c = sim.add_host("client", Ipv4Addr::new(10, 0, 1, 1), config);
    sim.connect_hosts(
        c,
        s,
        LinkConfig {
            delay: Duration::from_millis(10),
            bandwidth_bps: Some(20_000_000),
            ..LinkConfig::default()
        },
    );
    let remote = SocketAddr::from((SERVER, PORT));
    sim.set_app(c, Box::new(Fleet::new(remote, CONNS, BYTES, 3)));
    let established = |sim: &mut Sim| {
        let ep = sim.endpoint_ref(c);
        ep.connection_count() == CONNS
            && ep
                .connections()
                .all(|h| ep.state(h) == Some(State::Established))
    };
    assert!(sim.run_until(Instant::from_secs(10), established));

    let started = std::time::Instant::now();
    let mut r = Rng::new(0x5F100E);
    let mut max_conns = 0;
    let mut received_during = 0u64;
    let before: u64 = {
        let ep = sim.endpoint_ref(s);
        ep.connections()
            .filter_map(|h| ep.info(h))
            .map(|i| i.bytes_received)
            .sum()
    };
    flood(&mut sim, s, &mut r, |sim| {
        let ep = sim.endpoint_ref(s);
        max_conns = max_conns.max(ep.connection_count());
        let now: u64 = ep
            .connections()
            .filter_map(|h| ep.info(h))
            .map(|i| i.bytes_received)
            .sum();
        received_during = received_during.max(now.saturating_sub(before));
    });
    let flood_wall = started.elapsed();
    let report = sim.run(Instant::from_secs(3600));
    let stats = sim.endpoint_ref(s).stats().clone();
    println!(
        "SYN flood without cookies: {SPOOFED} spoofed SYNs in {flood_wall:?} wall; {CONNS} \
         established connections received {received_during} bytes during the flood and all \
         finished; server max {max_conns} connections (bound {BOUND_CONNS}); SYN queue full \
         {}, cookies sent {}",
        stats.syn_queue_full, stats.syn_cookies_sent
    );
    report.assert_ok();
    let out = report.outcome(c).expect("client outcome");
    assert_eq!(out.conns.len(), CONNS);
    for conn in &out.conns {
        assert_eq!(conn.closed, Some(CloseReason::Normal));
        assert_eq!(conn.bytes_received, BYTES);
    }
    assert!(received_during > 0, "no data moved during the flood");
    assert!(max_conns <= BOUND_CONNS, "{max_conns} connections");
    assert_eq!(stats.syn_cookies_sent, 0);
    assert!(stats.syn_queue_full >= SPOOFED - 10 * BACKLOG as u64);
}
