//! The pcap writer's output parses back to exactly the packets the simulation sent.

use std::net::SocketAddr;

use synack_proto::{Config, Instant};
use synack_sim::pcap::{read_pcap, LINKTYPE_RAW};
use synack_sim::scenario::{CLIENT_ADDR, SERVER_ADDR};
use synack_sim::{Client, Fate, LinkConfig, Reply, Server, Sim};

fn sim_with_traffic() -> (
    Sim,
    synack_sim::HostId,
    synack_sim::HostId,
    synack_sim::HostId,
) {
    let mut sim = Sim::new(77);
    let c = sim.add_host("client", CLIENT_ADDR, Config::default());
    let s = sim.add_host("server", SERVER_ADDR, Config::default());
    let c2 = sim.add_host("client2", [10, 0, 0, 3].into(), Config::default());
    let link = LinkConfig {
        loss: 0.05,
        duplicate: 0.05,
        ..LinkConfig::default()
    };
    sim.connect_hosts(c, s, link.clone());
    sim.connect_hosts(c2, s, link);
    sim.set_app(
        s,
        Box::new(Server::new(80).reply(Reply::Send(20_000)).connections(2)),
    );
    let server = SocketAddr::from((SERVER_ADDR, 80));
    sim.set_app(c, Box::new(Client::new(server, 10_000).expect(20_000)));
    sim.set_app(c2, Box::new(Client::new(server, 5_000).expect(20_000)));
    let _ = sim.run(Instant::from_secs(3600));
    (sim, c, s, c2)
}

#[test]
fn pcap_round_trip() {
    let (sim, c, s, c2) = sim_with_traffic();
    let originals: Vec<_> = sim
        .packets()
        .iter()
        .filter(|p| p.duplicate_of.is_none())
        .collect();
    assert!(originals.len() > 20);
    assert!(originals.iter().any(|p| p.fate == Fate::Lost));

    let file = read_pcap(&sim.pcap_bytes()).expect("our own pcap parses");
    assert_eq!(file.version, (2, 4));
    assert_eq!(file.snaplen, 65535);
    assert_eq!(file.linktype, LINKTYPE_RAW);
    assert_eq!(file.records.len(), originals.len());
    for (r, p) in file.records.iter().zip(&originals) {
        assert_eq!(r.at, p.sent);
        assert_eq!(r.data, p.data);
        assert_eq!(r.orig_len as usize, p.data.len());
        // Every record is a well-formed IPv4/TCP packet (as sent, before any corruption).
        synack_wire::parse_ipv4_tcp(&r.data).expect("valid packet");
    }
    // Timestamps never go backwards.
    assert!(file.records.windows(2).all(|w| w[0].at <= w[1].at));

    // Filtering by link keeps exactly that link's packets.
    let one = read_pcap(&sim.pcap_bytes_for(Some((s, c)))).unwrap();
    let two = read_pcap(&sim.pcap_bytes_for(Some((c2, s)))).unwrap();
    assert!(!one.records.is_empty() && !two.records.is_empty());
    assert_eq!(one.records.len() + two.records.len(), file.records.len());

    // And the file on disk is the same bytes.
    let dir = std::env::temp_dir().join(format!("synack-sim-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("all.pcap");
    sim.write_pcap(&path, None).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), sim.pcap_bytes());
    std::fs::remove_dir_all(&dir).unwrap();
}
