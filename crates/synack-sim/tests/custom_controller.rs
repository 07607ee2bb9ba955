//! A congestion controller plugged in from outside the crate (`Config::controller`) is the one
//! a connection uses: its name is reported, it is asked on every ACK and loss, and the window
//! it keeps is the window the sender honours — a fixed two-segment window makes a transfer
//! take as long as two segments per round trip allow, in the simulator's virtual time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use synack_proto::congestion::{Controller, ControllerFactory};
use synack_proto::{Config, Duration, Instant};
use synack_sim::scenario::{CLIENT_ADDR, SERVER_ADDR};
use synack_sim::{Client, CloseMode, LinkConfig, Server, Sim};

#[derive(Debug, Default)]
struct Calls {
    acks: u64,
    congestion_events: u64,
    rtos: u64,
    windows_set: Vec<u32>,
}

/// Holds the window at two segments whatever the connection asks, and records every call.
#[derive(Debug)]
struct TwoSegments {
    mss: u32,
    cwnd: u32,
    calls: Arc<Mutex<Calls>>,
}

impl Controller for TwoSegments {
    fn name(&self) -> &'static str {
        "two-segments"
    }
    fn window(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        2 * self.mss
    }
    fn set_window(&mut self, cwnd: u32) {
        self.calls.lock().unwrap().windows_set.push(cwnd);
        // Recovery may set less (one segment after a timeout), never more.
        self.cwnd = cwnd.min(2 * self.mss);
    }
    fn set_ssthresh(&mut self, _: u32) {}
    fn on_ack(&mut self, _: Instant, _: u32, _: u32, _: Option<Duration>, _: bool) {
        self.calls.lock().unwrap().acks += 1;
        self.cwnd = 2 * self.mss;
    }
    fn on_congestion_event(&mut self, _: Instant, _: u32, _: u32) {
        self.calls.lock().unwrap().congestion_events += 1;
    }
    fn on_rto(&mut self, _: Instant, _: u32, _: u32) {
        self.calls.lock().unwrap().rtos += 1;
    }
}

#[test]
fn a_plugged_in_controller_owns_the_window_the_sender_uses() {
    const BYTES: u64 = 1_000_000;
    const MSS: u32 = 1448; // 1460 less the timestamp option
    let calls = Arc::new(Mutex::new(Calls::default()));
    let log = calls.clone();
    let client = Config::default().with_controller(Some(ControllerFactory::new(move || {
        Box::new(TwoSegments {
            mss: MSS,
            cwnd: 0,
            calls: log.clone(),
        })
    })));
    let mut sim = Sim::new(7);
    sim.set_replay_hint("cargo test -p synack-sim --test custom_controller (seed 7)".to_string());
    // 10 ms each way, no loss, fast enough that only the window limits the sender.
    let link = LinkConfig::default()
        .with_delay(Duration::from_millis(10))
        .with_bandwidth(1_000_000_000);
    let c = sim.add_host("client", CLIENT_ADDR, client);
    let s = sim.add_host("server", SERVER_ADDR, Config::default());
    sim.connect_hosts(c, s, link);
    sim.set_app(s, Box::new(Server::new(80).seed(7)));
    let server = SocketAddr::from((SERVER_ADDR, 80));
    let app = Client::new(server, BYTES)
        .seed(7)
        .mode(CloseMode::HalfClose);
    sim.set_app(c, Box::new(app));
    sim.set_capture(false);
    let report = sim.run(Instant::from_secs(3600));
    report.assert_ok();
    let sender = report.outcome(c).unwrap().conns[0].clone();
    let receiver = report.outcome(s).unwrap().conns[0].clone();
    assert_eq!(receiver.bytes_received, BYTES);
    let info = sender.info.expect("a snapshot of the sender");
    assert_eq!((info.controller, info.congestion), ("two-segments", None));
    assert_eq!((info.mss, info.cwnd), (MSS as u16, 2 * MSS));
    let calls = calls.lock().unwrap();
    assert!(calls.acks > 300, "asked on the ACKs: {}", calls.acks);
    assert_eq!((calls.congestion_events, calls.rtos), (0, 0), "no loss");
    // The connection set the initial window (RFC 6928: 10 segments, capped at 14600 B).
    assert_eq!(calls.windows_set.first(), Some(&14_480));
    // Two segments per 20 ms round trip: 1 MB is 691 segments, about 345 round trips — 6.9 s
    // of virtual time. CUBIC on this link takes under a second.
    let seconds = (receiver.last_recv_at.unwrap() - sender.opened_at.unwrap()).as_secs_f64();
    assert!(
        (6.8..7.3).contains(&seconds),
        "{seconds:.3} s: the sender did not keep to two segments a round trip"
    );
}
