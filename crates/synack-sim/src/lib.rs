//! synack-sim: a deterministic network simulator for synack.
//!
//! Hosts (each a [`synack_proto::Endpoint`] plus an [`App`]) are joined by links with delay,
//! jitter, bandwidth, loss, duplication, reordering and corruption ([`LinkConfig`]). A virtual
//! clock jumps from one scheduled thing to the next, so a four-minute TIME-WAIT costs
//! microseconds. Everything random derives from one `u64` seed: the same seed gives a
//! bit-identical packet trace, and a failing seed replays exactly.
//!
//! ```
//! use std::net::SocketAddr;
//! use synack_proto::{Config, Instant};
//! use synack_sim::scenario::{CLIENT_ADDR, SERVER_ADDR};
//! use synack_sim::{Client, LinkConfig, Reply, Server, Sim};
//!
//! let mut sim = Sim::new(7);
//! let c = sim.add_host("client", CLIENT_ADDR, Config::default());
//! let s = sim.add_host("server", SERVER_ADDR, Config::default());
//! sim.connect_hosts(c, s, LinkConfig::default());
//! sim.set_app(s, Box::new(Server::new(80).reply(Reply::Echo)));
//! let server = SocketAddr::from((SERVER_ADDR, 80));
//! sim.set_app(c, Box::new(Client::new(server, 10_000).expect_echo()));
//! let report = sim.run(Instant::from_secs(3600));
//! report.assert_ok(); // panics with "seed 7: <violations> (replay: ...)"
//! println!("{}", synack_sim::trace::dump(&sim)); // packets and state changes, one per line
//! let pcap: Vec<u8> = sim.pcap_bytes(); // or sim.write_pcap(path, None)
//! assert!(pcap.len() > 24);
//! ```
//!
//! [`Sim::run`] checks the invariants listed in [`check`]; [`Scenario`] packages the
//! client/server transfer the property tests run.

pub mod apps;
pub mod check;
pub mod fuzz_harness;
pub mod fuzz_reassembly;
pub mod link;
pub mod pcap;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod tail;
pub mod trace;

pub use apps::{
    fill_pattern, pattern, reply_seed, App, AppCtx, AppOutcome, Client, CloseMode, ConnOutcome,
    Fleet, Open, Peer, PeerClose, Reply, Server,
};
pub use check::RunReport;
pub use link::{Fate, LinkConfig};
pub use scenario::Scenario;
pub use sim::{DropFilter, HostId, PacketRecord, PacketView, Sim, SimStats, TransitionRecord};
