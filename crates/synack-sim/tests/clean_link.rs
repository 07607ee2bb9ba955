//! A clean link: a 100 KB request, a 50 KB reply, both sides close; every invariant holds and
//! both endpoints end with no connections.

use std::net::SocketAddr;

use synack_proto::{CloseReason, Config, Instant, State};
use synack_sim::scenario::{CLIENT_ADDR, SERVER_ADDR};
use synack_sim::{Client, CloseMode, Fate, LinkConfig, Reply, Server, Sim};

fn run(mode: CloseMode, close_first: bool) {
    let mut sim = Sim::new(1234);
    let c = sim.add_host("client", CLIENT_ADDR, Config::default());
    let s = sim.add_host("server", SERVER_ADDR, Config::default());
    sim.connect_hosts(c, s, LinkConfig::default());
    sim.set_app(
        s,
        Box::new(
            Server::new(80)
                .seed(7)
                .reply(Reply::Send(50_000))
                .close_first(close_first),
        ),
    );
    let client = Client::new(SocketAddr::from((SERVER_ADDR, 80)), 100_000)
        .seed(7)
        .expect(50_000)
        .mode(mode);
    sim.set_app(c, Box::new(client));
    let report = sim.run(Instant::from_secs(3600));
    report.assert_ok();
    assert!(!report.hit_limit);
    let co = report.outcome(c).unwrap();
    let so = report.outcome(s).unwrap();
    assert_eq!(co.bytes_sent(), 100_000);
    assert_eq!(so.bytes_received(), 100_000);
    assert_eq!(so.bytes_sent(), 50_000);
    assert_eq!(co.bytes_received(), 50_000);
    assert_eq!(co.close_reason(), Some(CloseReason::Normal));
    assert_eq!(so.close_reason(), Some(CloseReason::Normal));
    assert_eq!(sim.endpoint(c).connection_count(), 0);
    assert_eq!(sim.endpoint(s).connection_count(), 0);
    // Clean link: nothing lost, corrupted or duplicated.
    assert!(sim
        .packets()
        .iter()
        .all(|p| matches!(p.fate, Fate::Delivered { .. }) && p.duplicate_of.is_none()));
    // Someone went through TIME-WAIT, and the run lasted at least 2·MSL.
    assert!(sim.transitions().iter().any(|t| t.to == State::TimeWait));
    assert!(report.end >= Instant::from_secs(240));
    // The handshake is the first thing on the wire: SYN, SYN-ACK, ACK.
    let flags: Vec<u8> = sim.packets().iter().take(3).map(|p| p.data[33]).collect();
    assert_eq!(flags[0] & 0x12, 0x02, "SYN");
    assert_eq!(flags[1] & 0x12, 0x12, "SYN-ACK");
    assert_eq!(flags[2] & 0x12, 0x10, "ACK");
}

#[test]
fn request_reply_close() {
    run(CloseMode::Close, false);
}

#[test]
fn request_reply_half_close() {
    run(CloseMode::HalfClose, false);
}

#[test]
fn request_reply_server_closes_first() {
    run(CloseMode::Close, true);
    run(CloseMode::HalfClose, true);
}

#[test]
fn echo_on_clean_link() {
    let mut sim = Sim::new(99);
    let c = sim.add_host("client", CLIENT_ADDR, Config::default());
    let s = sim.add_host("server", SERVER_ADDR, Config::default());
    sim.connect_hosts(c, s, LinkConfig::default().with_bandwidth(10_000_000));
    sim.set_app(s, Box::new(Server::new(80).reply(Reply::Echo)));
    sim.set_app(
        c,
        Box::new(Client::new(SocketAddr::from((SERVER_ADDR, 80)), 100_000).expect_echo()),
    );
    let report = sim.run(Instant::from_secs(3600));
    report.assert_ok();
    assert_eq!(report.outcome(c).unwrap().bytes_received(), 100_000);
}

#[test]
fn refused_connection_is_reported() {
    let mut sim = Sim::new(5);
    let c = sim.add_host("client", CLIENT_ADDR, Config::default());
    let s = sim.add_host("server", SERVER_ADDR, Config::default());
    sim.connect_hosts(c, s, LinkConfig::default());
    sim.set_app(
        c,
        Box::new(Client::new(SocketAddr::from((SERVER_ADDR, 81)), 10)),
    );
    let report = sim.run(Instant::from_secs(3600));
    report.assert_ok();
    let co = report.outcome(c).unwrap();
    assert_eq!(co.close_reason(), Some(CloseReason::Refused));
    assert_eq!(sim.endpoint(c).connection_count(), 0);
}

#[test]
fn unroutable_packets_are_counted() {
    let mut sim = Sim::new(5);
    let c = sim.add_host("client", CLIENT_ADDR, Config::default());
    let s = sim.add_host("server", SERVER_ADDR, Config::default());
    sim.connect_hosts(c, s, LinkConfig::default());
    // Nobody owns 10.0.0.9: the SYNs vanish and the connect times out.
    let mut cfg_client = Client::new(SocketAddr::from(([10, 0, 0, 9], 80)), 10);
    cfg_client.bytes_to_send = 0;
    sim.set_app(c, Box::new(cfg_client));
    let report = sim.run(Instant::from_secs(3600));
    report.assert_ok();
    assert!(
        report.stats.unroutable > 0,
        "{report:?}\n{}",
        synack_sim::trace::dump(&sim)
    );
    assert_eq!(report.stats.sent, 0);
    assert_eq!(
        report.outcome(c).unwrap().close_reason(),
        Some(CloseReason::TimedOut)
    );
}
