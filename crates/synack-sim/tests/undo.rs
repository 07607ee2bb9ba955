//! Spurious retransmission undo (synack-proto's undo.rs) on a reordering path, in virtual time.
//!
//! 10 MB over 100 Mbit/s, 20 ms RTT, no loss, but 1% of the packets each way held back by one
//! to two one-way delays (10-20 ms), so later ones overtake them: three duplicate ACKs, a fast
//! retransmit, and a halved window for nothing. With `Config::undo` (the default) the late
//! original's ACK (Eifel, timestamps) or the D-SACK of the needless retransmission gives the
//! window back. Run with `--nocapture` for the figures.

use std::net::SocketAddr;

use synack_proto::{Config, ConnInfo, Duration, Instant};
use synack_sim::scenario::{CLIENT_ADDR, SERVER_ADDR};
use synack_sim::{Client, CloseMode, LinkConfig, Server, Sim};

const BULK: u64 = 10_000_000;
const MIB: usize = 1024 * 1024;

fn reordering_link() -> LinkConfig {
    let link = LinkConfig {
        reorder: 0.01,
        ..LinkConfig::default()
    }
    .with_delay(Duration::from_millis(10))
    .with_bandwidth(100_000_000);
    let queue = 2 * link.bdp_one_way().unwrap();
    link.with_queue_limit(queue)
}

/// One 10 MB transfer; returns (goodput B/s, the sender's info, queue drops).
fn transfer(seed: u64, cfg: Config) -> (f64, ConnInfo, u64) {
    let cfg = cfg.with_recv_buffer(4 * MIB).with_send_buffer(4 * MIB);
    let mut sim = Sim::new(seed);
    sim.set_replay_hint(format!(
        "cargo test -p synack-sim --test undo (seed {seed})"
    ));
    sim.set_capture(false);
    let c = sim.add_host("client", CLIENT_ADDR, cfg.clone());
    let s = sim.add_host("server", SERVER_ADDR, cfg);
    sim.connect_hosts(c, s, reordering_link());
    let server = SocketAddr::from((SERVER_ADDR, 80));
    sim.set_app(s, Box::new(Server::new(80).seed(seed)));
    sim.set_app(
        c,
        Box::new(
            Client::new(server, BULK)
                .seed(seed)
                .mode(CloseMode::HalfClose),
        ),
    );
    let report = sim.run(Instant::from_secs(3600));
    report.assert_ok();
    let sender = report.outcome(c).unwrap().conns[0].clone();
    let receiver = report.outcome(s).unwrap().conns[0].clone();
    assert_eq!(receiver.bytes_received, BULK, "seed {seed}");
    let seconds = (receiver.last_recv_at.unwrap() - sender.opened_at.unwrap()).as_secs_f64();
    let drops = report.stats.queue_full;
    (BULK as f64 / seconds, sender.info.unwrap(), drops)
}

/// With undo, every fast retransmit the reordering causes is found spurious and undone, and
/// the transfer is faster than without; without it nothing is undone.
#[test]
fn reordering_without_loss_is_undone_and_goes_faster() {
    for seed in 1..=2 {
        let (on, on_info, on_drops) = transfer(seed, Config::default());
        let (off, off_info, off_drops) = transfer(seed, Config::default().with_undo(false));
        for (name, g, i, drops) in [
            ("undo", on, &on_info, on_drops),
            ("no undo", off, &off_info, off_drops),
        ] {
            println!(
                "seed {seed} {name:>7}: {:.2} Mbit/s; fast recoveries {}, timeouts {}, \
                 retransmits {}, undos {} ({} timeouts); final cwnd {} B; queue drops {drops}",
                g * 8e-6,
                i.fast_retransmits,
                i.timeouts,
                i.retransmits,
                i.undos,
                i.spurious_timeouts,
                i.cwnd,
            );
        }
        assert_eq!(off_info.undos, 0);
        assert!(on_info.fast_retransmits > 0, "the link reorders enough");
        // The link loses nothing, but the router queue drops what overflows it once the
        // window is no longer held down: most recoveries, not all, are undone.
        assert!(on_info.undos > 0);
        assert!(on_info.undos <= on_info.fast_retransmits + on_info.timeouts);
        assert!(
            on > off,
            "seed {seed}: undo {on:.0} B/s, without {off:.0} B/s"
        );
    }
}
