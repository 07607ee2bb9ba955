//! A congestion controller written outside synack-proto, plugged in through
//! `Config::controller` and run in the simulator.
//!
//! `Aimd` is the textbook rule — grow by one segment per round trip, halve on loss, one
//! segment after a timeout — in a few dozen lines. The simulator runs the same 2 MB transfer
//! over a lossy 20 ms path with it and with synack's CUBIC, and prints what each achieved.
//!
//! ```sh
//! cargo run --release -p synack-sim --example custom_controller
//! ```

use std::net::SocketAddr;

use synack_proto::congestion::{Controller, ControllerFactory};
use synack_proto::{Config, Duration, Instant};
use synack_sim::scenario::{CLIENT_ADDR, SERVER_ADDR};
use synack_sim::{Client, CloseMode, LinkConfig, Server, Sim};

/// Additive increase, multiplicative decrease (RFC 5681's congestion avoidance without its
/// slow start: the initial window the connection sets is where it starts).
#[derive(Debug)]
struct Aimd {
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged since the window last grew.
    acked: u32,
}

impl Controller for Aimd {
    fn name(&self) -> &'static str {
        "aimd"
    }
    fn window(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn set_window(&mut self, cwnd: u32) {
        self.cwnd = cwnd;
    }
    fn set_ssthresh(&mut self, ssthresh: u32) {
        self.ssthresh = ssthresh;
    }
    fn on_ack(&mut self, _: Instant, acked: u32, mss: u32, _: Option<Duration>, limited: bool) {
        if limited {
            return; // the sender did not use the window it had: no evidence it can grow
        }
        // One segment per window's worth of ACKs: one segment per round trip.
        self.acked = self.acked.saturating_add(acked);
        if self.acked >= self.cwnd {
            self.acked -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(mss);
        }
    }
    fn on_congestion_event(&mut self, _: Instant, in_flight: u32, mss: u32) {
        self.ssthresh = (in_flight / 2).max(2 * mss);
    }
    fn on_rto(&mut self, _: Instant, in_flight: u32, mss: u32) {
        self.ssthresh = (in_flight / 2).max(2 * mss);
    }
}

/// Seconds of virtual time to move `bytes` from client to server with `client` config.
fn transfer(client: Config, bytes: u64, seed: u64) -> (f64, synack_proto::ConnInfo) {
    let mut sim = Sim::new(seed);
    let link = LinkConfig {
        loss: 0.005,
        ..LinkConfig::default()
    }
    .with_delay(Duration::from_millis(10))
    .with_bandwidth(100_000_000);
    let c = sim.add_host("client", CLIENT_ADDR, client);
    let s = sim.add_host("server", SERVER_ADDR, Config::default());
    sim.connect_hosts(c, s, link);
    sim.set_app(s, Box::new(Server::new(80).seed(seed)));
    let server = SocketAddr::from((SERVER_ADDR, 80));
    let app = Client::new(server, bytes)
        .seed(seed)
        .mode(CloseMode::HalfClose);
    sim.set_app(c, Box::new(app));
    sim.set_capture(false);
    let report = sim.run(Instant::from_secs(3600));
    report.assert_ok();
    let sender = report.outcome(c).unwrap().conns[0].clone();
    let receiver = report.outcome(s).unwrap().conns[0].clone();
    assert_eq!(receiver.bytes_received, bytes);
    let seconds = (receiver.last_recv_at.unwrap() - sender.opened_at.unwrap()).as_secs_f64();
    (seconds, sender.info.expect("a snapshot of the sender"))
}

fn main() {
    let bytes = 2_000_000;
    let aimd = Config::default().with_controller(Some(ControllerFactory::new(|| {
        Box::new(Aimd {
            cwnd: 0,
            ssthresh: u32::MAX,
            acked: 0,
        })
    })));
    for (config, label) in [(aimd, "plugged in"), (Config::default(), "built in")] {
        let (seconds, info) = transfer(config, bytes, 1);
        println!(
            "{:>6} ({label}): {bytes} B in {seconds:.3} s of virtual time = {:.2} Mbit/s; \
             {} fast recoveries, {} timeouts, final cwnd {} B",
            info.controller,
            bytes as f64 * 8.0 / seconds / 1e6,
            info.fast_retransmits,
            info.timeouts,
            info.cwnd,
        );
    }
}
