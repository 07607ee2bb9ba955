//! The same seed gives a bit-identical run; a different seed a different one.

use synack_proto::Instant;
use synack_sim::link::LinkConfig;
use synack_sim::{CloseMode, Reply, Scenario, Sim};

fn lossy_scenario(seed: u64) -> Scenario {
    let mut sc = Scenario::new(seed, 60_000, Reply::Echo, CloseMode::HalfClose);
    sc.link = LinkConfig {
        jitter: synack_proto::Duration::from_millis(5),
        bandwidth_bps: Some(20_000_000),
        loss: 0.1,
        duplicate: 0.03,
        reorder: 0.05,
        corrupt: 0.03,
        ..LinkConfig::default()
    };
    sc.limit = Instant::from_secs(900);
    sc
}

fn trace(seed: u64) -> Sim {
    let (mut sim, _, _) = lossy_scenario(seed).build();
    let _ = sim.run(Instant::from_secs(900));
    sim
}

#[test]
fn same_seed_same_packets() {
    let a = trace(42);
    let b = trace(42);
    assert!(!a.packets().is_empty());
    assert_eq!(a.packets(), b.packets());
    assert_eq!(a.transitions(), b.transitions());
    assert_eq!(a.stats(), b.stats());
    assert_eq!(a.now(), b.now());
    assert_eq!(a.pcap_bytes(), b.pcap_bytes());
    // The impairments really happened (otherwise this test proves little).
    let s = a.stats();
    assert!(s.lost > 0 && s.duplicated > 0 && s.corrupted > 0, "{s:?}");
}

#[test]
fn different_seed_different_packets() {
    let a = trace(1);
    let b = trace(2);
    assert_ne!(a.packets(), b.packets());
}

/// Several connections on one endpoint: the endpoint's own bookkeeping (maps of connections)
/// must not make the order of packets or events depend on hashing.
fn many_clients(seed: u64) -> Sim {
    use std::net::SocketAddr;
    use synack_proto::Config;
    use synack_sim::{Client, Server};
    let mut sim = Sim::new(seed);
    let s = sim.add_host("server", [10, 0, 0, 2].into(), Config::default());
    sim.set_app(
        s,
        Box::new(Server::new(80).reply(Reply::Echo).connections(4)),
    );
    for i in 0..4u8 {
        let c = sim.add_host(
            &format!("c{i}"),
            [10, 0, 0, 10 + i].into(),
            Config::default(),
        );
        sim.connect_hosts(c, s, LinkConfig::lossy(0.05));
        let client = Client::new(SocketAddr::from(([10, 0, 0, 2], 80)), 20_000).expect_echo();
        sim.set_app(c, Box::new(client));
    }
    sim.run(Instant::from_secs(3600)).assert_ok();
    sim
}

#[test]
fn many_connections_are_deterministic() {
    let a = many_clients(9);
    let b = many_clients(9);
    assert_eq!(a.packets(), b.packets());
    assert_eq!(a.transitions(), b.transitions());
}
