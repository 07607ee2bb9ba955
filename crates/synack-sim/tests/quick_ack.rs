//! Quick ACKs (`Config::quick_acks`) in the simulator's virtual time: transfers of 100 KB,
//! 200 KB and 1 MB over 20 ms RTT at 100 Mbit/s, no loss, finish sooner when the receiver ACKs
//! each of the first segments of the sender's slow start at once than when it ACKs every
//! second one (delayed ACK 40 ms): the sender's cwnd grows by one SMSS per ACK.
//! Deterministic: the times are asserted exactly. See them with
//! `cargo test -p synack-sim --test quick_ack -- --nocapture`.

use std::net::SocketAddr;

use synack_proto::{CloseReason, Config, Duration, Instant};
use synack_sim::scenario::{CLIENT_ADDR, SERVER_ADDR};
use synack_sim::{Client, CloseMode, LinkConfig, Server, Sim};

const PORT: u16 = 80;

/// 100 Mbit/s, 10 ms one way, no loss.
fn link() -> LinkConfig {
    LinkConfig::default()
        .with_delay(Duration::from_millis(10))
        .with_bandwidth(100_000_000)
}

/// Virtual time from the sender's CONNECT to the last byte read by the receiver, and the
/// receiver's quick ACKs, for a receiver configured with `quick_acks`.
fn transfer(quick_acks: u32, bytes: u64) -> (Duration, u64) {
    let mut sim = Sim::new(1);
    sim.set_replay_hint("cargo test -p synack-sim --test quick_ack".to_string());
    let sender = sim.add_host("sender", CLIENT_ADDR, Config::default());
    let receiver = sim.add_host(
        "receiver",
        SERVER_ADDR,
        Config::default().with_quick_acks(quick_acks),
    );
    sim.connect_hosts(sender, receiver, link());
    sim.set_app(receiver, Box::new(Server::new(PORT).seed(1)));
    sim.set_app(
        sender,
        Box::new(
            Client::new(SocketAddr::from((SERVER_ADDR, PORT)), bytes)
                .seed(1)
                .mode(CloseMode::HalfClose),
        ),
    );
    let report = sim.run(Instant::from_secs(3600));
    report.assert_ok();
    let s = report.outcome(sender).unwrap().conns[0].clone();
    let r = report.outcome(receiver).unwrap().conns[0].clone();
    assert_eq!(r.bytes_received, bytes);
    assert!(r.eof);
    assert_eq!(r.closed, Some(CloseReason::Normal));
    let fct = r.last_recv_at.unwrap() - s.opened_at.unwrap();
    let quick = r.info.as_ref().map_or(0, |i| i.quick_acks);
    (fct, quick)
}

/// FCT in microseconds, with and without quick ACKs, and the quick ACKs sent.
fn compare(bytes: u64) -> (u128, u128, u64) {
    let (with, quick) = transfer(16, bytes);
    let (without, none) = transfer(0, bytes);
    assert_eq!(none, 0);
    println!(
        "{bytes} B, 20 ms RTT, 100 Mbit/s: {:.3} ms with quick ACKs ({quick} sent), {:.3} ms \
         without: {:.3} ms ({:.1}%) sooner",
        with.as_secs_f64() * 1e3,
        without.as_secs_f64() * 1e3,
        (without - with).as_secs_f64() * 1e3,
        (without - with).as_secs_f64() / without.as_secs_f64() * 100.0,
    );
    (with.as_micros(), without.as_micros(), quick)
}

/// 100 KB is 70 segments. The sender's cwnd (IW10) grows one SMSS per ACK (RFC 5681 §3.1):
/// by about half a segment per segment delivered with delayed ACKs, by a whole one for the 16
/// quick-ACKed segments. At this size both need the same number of round trips, so quick
/// ACKs save only what the finer ACK clock gains (2 ms).
#[test]
fn a_100_kb_transfer_finishes_sooner_with_quick_acks() {
    let (with, without, quick) = compare(100_000);
    assert_eq!(quick, 16, "the whole budget: Config::quick_acks");
    assert_eq!((with, without), (91_237, 93_277));
}

/// 200 KB (139 segments): the quick ACKs' larger second and third flights save a whole round
/// trip.
#[test]
fn a_200_kb_transfer_finishes_a_round_trip_sooner_with_quick_acks() {
    let (with, without, quick) = compare(200_000);
    assert_eq!(quick, 16);
    assert_eq!((with, without), (113_889, 132_214));
    assert!(without - with >= 18_000, "about one 20 ms round trip");
}

#[test]
fn a_1_mb_transfer_finishes_sooner_with_quick_acks() {
    let (with, without, _) = compare(1_000_000);
    assert_eq!((with, without), (199_520, 217_845));
}
