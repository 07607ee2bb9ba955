//! One client, one server, one impaired link: the scenario the property tests, the soak
//! command and failure replays share.
//!
//! A [`Scenario`] is either derived entirely from a seed ([`Scenario::from_seed`], so
//! `SYNACK_SEED=N` replays it) or given field by field (property tests shrink the fields); its
//! [`Scenario::replay_string`] / [`Scenario::parse`] round-trip every field, so any failure
//! replays exactly with `SYNACK_SCENARIO='...'`.

use std::net::{Ipv4Addr, SocketAddr};

use synack_proto::{CloseReason, Config, Duration, Instant};

use crate::apps::{reply_seed, Client, CloseMode, Open, Peer, PeerClose, Reply, Server};
use crate::check::RunReport;
use crate::link::LinkConfig;
use crate::rng::{derive_seed, Rng};
use crate::sim::{HostId, Sim};

/// Client address in a scenario.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Server address in a scenario.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Server port in a scenario.
pub const SERVER_PORT: u16 = 80;

/// Ports of a simultaneous open (nobody listens; both sides connect to each other).
pub const OPEN_PORTS: (u16, u16) = (4000, 5000);

/// A client–server transfer over one impaired link.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub seed: u64,
    /// Bytes the client sends.
    pub client_bytes: u64,
    pub reply: Reply,
    pub mode: CloseMode,
    pub close_first: bool,
    pub link: LinkConfig,
    /// Virtual-time limit of the run.
    pub limit: Instant,
    /// Simultaneous open: nobody listens, both hosts connect to each other at the same
    /// instant (ports [`OPEN_PORTS`]); both run a [`Peer`].
    pub simultaneous_open: bool,
    /// Simultaneous close: both sides CLOSE at the same virtual instant once each has sent and
    /// received everything (their FINs cross); both run a [`Peer`]. An `Abort` mode with
    /// either `simultaneous_*` flag runs as `Close`.
    pub simultaneous_close: bool,
}

impl Scenario {
    /// A clean-link scenario with default everything.
    pub fn new(seed: u64, client_bytes: u64, reply: Reply, mode: CloseMode) -> Self {
        Scenario {
            seed,
            client_bytes,
            reply,
            mode,
            close_first: false,
            link: LinkConfig::default(),
            limit: Instant::from_secs(2 * 3600),
            simultaneous_open: false,
            simultaneous_close: false,
        }
    }

    /// Every parameter drawn from `seed`: sizes up to 200 000 bytes (a quarter of them under
    /// 2 000), loss up to 0.3, duplication up to 0.05, reordering up to 0.1, corruption up to
    /// 0.05, delay 1–50 ms, jitter up to 20 ms, bandwidth unlimited or 1–100 Mbit/s, any
    /// reply and close mode. From a second stream (so the fields above stay what they were
    /// for every seed): 2% of client transfers are large (1–4 MB), and 10% of scenarios are a
    /// simultaneous open, 10% a simultaneous close (independently). Large transfers get a
    /// 24-hour virtual limit instead of 2 hours.
    pub fn from_seed(seed: u64) -> Self {
        let mut r = Rng::new(derive_seed(seed, &[0x5CE7_A210]));
        let size = |r: &mut Rng| {
            if r.chance(0.25) {
                r.below(2000)
            } else {
                r.below(200_001)
            }
        };
        let client_bytes = size(&mut r);
        let reply = match r.below(3) {
            0 => Reply::Sink,
            1 => Reply::Echo,
            _ => Reply::Send(size(&mut r)),
        };
        let mode = [CloseMode::Close, CloseMode::HalfClose, CloseMode::Abort][r.below(3) as usize];
        let close_first = r.chance(0.5);
        let link = LinkConfig {
            delay: Duration::from_micros(1000 + r.below(49_001)),
            jitter: Duration::from_micros(if r.chance(0.5) { r.below(20_001) } else { 0 }),
            bandwidth_bps: r.chance(0.3).then(|| 1_000_000 + r.below(99_000_001)),
            loss: r.next_f64() * 0.3,
            duplicate: r.next_f64() * 0.05,
            reorder: r.next_f64() * 0.1,
            corrupt: r.next_f64() * 0.05,
            mtu: 1500,
            queue_limit: None,
        };
        let mut r2 = Rng::new(derive_seed(seed, &[0x5CE7_A211]));
        let large = r2.chance(0.02);
        let client_bytes = if large {
            1_000_000 + r2.below(3_000_001)
        } else {
            client_bytes
        };
        let simultaneous_open = r2.chance(0.1);
        let simultaneous_close = r2.chance(0.1);
        let mode = if (simultaneous_open || simultaneous_close) && mode == CloseMode::Abort {
            CloseMode::Close
        } else {
            mode
        };
        Scenario {
            seed,
            client_bytes,
            reply,
            mode,
            close_first,
            link,
            // Megabytes through 30% loss crawl (RTO backoff): give them a virtual week. A day
            // was not always enough: seeds 913647 and 928633 (about 3.8 MB at 29.4% and
            // 29.8% loss each way) had 97–98% across when it ran out, and finish normally
            // within the week. Virtual time is free; only events cost.
            limit: Instant::from_secs(if large { 7 * 24 * 3600 } else { 2 * 3600 }),
            simultaneous_open,
            simultaneous_close,
        }
    }

    /// Whether both hosts run a [`Peer`] (simultaneous open or close) rather than the
    /// [`Client`]/[`Server`] pair.
    pub fn peers(&self) -> bool {
        self.simultaneous_open || self.simultaneous_close
    }

    /// The close mode in effect (`Abort` runs as `Close` with [`Scenario::peers`]).
    pub fn effective_mode(&self) -> CloseMode {
        if self.peers() && self.mode == CloseMode::Abort {
            CloseMode::Close
        } else {
            self.mode
        }
    }

    /// The endpoint configuration used on both hosts: defaults, except that opening (both
    /// sides: six SYN-ACKs lost in a row end SYN-RECEIVED after the default 60 s),
    /// retransmission and FIN-WAIT-2 give up only after an hour, so that on a link losing 30%
    /// of packets the transfer and the close complete rather than time out (virtual time is
    /// free). With the default 60 s FIN-WAIT-2 timeout, a peer FIN lost five times in a row
    /// legitimately ends the closer's connection with `TimedOut`.
    pub fn config() -> Config {
        Config::default()
            .with_syn_timeout(Duration::from_secs(3600))
            .with_syn_received_timeout(Duration::from_secs(3600))
            .with_user_timeout(Some(Duration::from_secs(3600)))
            .with_fin_wait2_timeout(Some(Duration::from_secs(3600)))
    }

    /// Bytes the client expects back.
    pub fn expected_reply(&self) -> u64 {
        match self.reply {
            Reply::Sink => 0,
            Reply::Echo => self.client_bytes,
            Reply::Send(n) => n,
        }
    }

    /// The simulation, ready to run: hosts "client" (10.0.0.1) and "server" (10.0.0.2).
    pub fn build(&self) -> (Sim, HostId, HostId) {
        let mut sim = Sim::new(self.seed);
        sim.set_replay_hint(format!(
            "SYNACK_SCENARIO='{}' cargo test -p synack-sim --test properties replay",
            self.replay_string()
        ));
        // Half the seeds keep every in-order segment in its packet (Endpoint::handle_owned):
        // what goes on the wire is the same either way, only the receive path differs.
        let mut config = Self::config();
        if derive_seed(self.seed, &[0x4EE9]).is_multiple_of(2) {
            config.keep_packets_min = 1;
        }
        let c = sim.add_host("client", CLIENT_ADDR, config.clone());
        let s = sim.add_host("server", SERVER_ADDR, config);
        sim.connect_hosts(c, s, self.link.clone());
        let pseed = derive_seed(self.seed, &[0xDA7A]);
        if self.peers() {
            self.build_peers(&mut sim, c, s, pseed);
            return (sim, c, s);
        }
        let mut client = Client::new(
            SocketAddr::from((SERVER_ADDR, SERVER_PORT)),
            self.client_bytes,
        )
        .seed(pseed)
        .mode(self.mode)
        .expect(self.expected_reply());
        if self.reply == Reply::Echo {
            client = client.expect_echo();
        }
        let mut server = Server::new(SERVER_PORT)
            .seed(pseed)
            .reply(self.reply)
            .close_first(self.close_first);
        if self.mode == CloseMode::Abort {
            // The client's RST may be lost; without data to retransmit, nothing else would
            // end the server's half-open connection.
            // Megabytes through heavy loss can stall for more than 600 s (RTO backoff), so
            // scenarios with a longer limit (large transfers) wait two hours.
            let idle = if self.limit > Instant::from_secs(2 * 3600) {
                7200
            } else {
                600
            };
            server = server.idle_timeout(Some(Duration::from_secs(idle)));
            // The RST may also overtake the client's ACK of the SYN-ACK (the abort discards
            // it), so the server may never get a connection to accept.
            server = server.connections(0);
        }
        sim.set_app(c, Box::new(client));
        sim.set_app(s, Box::new(server));
        (sim, c, s)
    }

    /// Both hosts run a [`Peer`]: the "client" sends `client_bytes` and the "server" the
    /// reply (an echo reply is the client's own pattern back).
    fn build_peers(&self, sim: &mut Sim, c: HostId, s: HostId, pseed: u64) {
        let (c_open, s_open) = if self.simultaneous_open {
            (
                Open::Connect {
                    local_port: OPEN_PORTS.0,
                    remote: SocketAddr::from((SERVER_ADDR, OPEN_PORTS.1)),
                },
                Open::Connect {
                    local_port: OPEN_PORTS.1,
                    remote: SocketAddr::from((CLIENT_ADDR, OPEN_PORTS.0)),
                },
            )
        } else {
            (
                Open::Connect {
                    local_port: 0,
                    remote: SocketAddr::from((SERVER_ADDR, SERVER_PORT)),
                },
                Open::Listen(SERVER_PORT),
            )
        };
        let (c_close, s_close) = if self.simultaneous_close {
            PeerClose::together()
        } else {
            let c_close = match self.effective_mode() {
                CloseMode::HalfClose => PeerClose::ShutdownFirst,
                _ => PeerClose::WhenDone,
            };
            let s_close = if self.close_first {
                PeerClose::ShutdownFirst
            } else {
                PeerClose::AfterEof
            };
            (c_close, s_close)
        };
        let reply_pattern = if self.reply == Reply::Echo {
            pseed
        } else {
            reply_seed(pseed)
        };
        let reply = (self.expected_reply(), reply_pattern);
        let request = (self.client_bytes, pseed);
        sim.set_app(
            c,
            Box::new(Peer::new("client", c_open, request, reply, c_close)),
        );
        sim.set_app(
            s,
            Box::new(Peer::new("server", s_open, reply, request, s_close)),
        );
    }

    /// Build and run, check the invariants, and check that the transfer did what the scenario
    /// says: in Close/HalfClose mode both sides end normally with every byte delivered; in
    /// Abort mode the client ends aborted and the server reset (or idle-aborted).
    pub fn run(&self) -> RunReport {
        let (mut sim, c, s) = self.build();
        let mut report = sim.run(self.limit);
        let client = report.outcome(c).cloned().unwrap_or_default();
        let server = report.outcome(s).cloned().unwrap_or_default();
        let mut v = Vec::new();
        match self.effective_mode() {
            CloseMode::Close | CloseMode::HalfClose => {
                for (who, o) in [("client", &client), ("server", &server)] {
                    // Normal, or Reset once everything was delivered (checked below): when
                    // every copy of a final FIN or ACK is lost for 2·MSL, the peer has left
                    // TIME-WAIT and answers the next retransmission with a RST (or a RST
                    // ends TIME-WAIT early, RFC 9293 §3.10.7.4; RFC 1337 "assassination").
                    if !matches!(
                        o.close_reason(),
                        Some(CloseReason::Normal | CloseReason::Reset)
                    ) {
                        v.push(format!(
                            "{who} ended {:?}, expected Normal",
                            o.close_reason()
                        ));
                    }
                }
                if client.bytes_received() != self.expected_reply() {
                    v.push(format!(
                        "client received {} bytes, expected {}",
                        client.bytes_received(),
                        self.expected_reply()
                    ));
                }
                if server.bytes_received() != self.client_bytes {
                    v.push(format!(
                        "server received {} bytes, expected {}",
                        server.bytes_received(),
                        self.client_bytes
                    ));
                }
            }
            CloseMode::Abort => {
                if client.close_reason() != Some(CloseReason::Aborted) {
                    v.push(format!(
                        "client ended {:?}, expected Aborted",
                        client.close_reason()
                    ));
                }
                let ok = [
                    CloseReason::Reset,
                    CloseReason::Aborted,
                    CloseReason::TimedOut,
                ];
                if server.conns.len() > 1
                    || server
                        .conns
                        .iter()
                        .any(|c| !c.closed.is_some_and(|r| ok.contains(&r)))
                {
                    v.push(format!(
                        "server ended {:?}, expected Reset (or idle Aborted)",
                        server.close_reason()
                    ));
                }
            }
        }
        if client.bytes_sent() != self.client_bytes {
            v.push(format!(
                "client sent {} bytes, expected {}",
                client.bytes_sent(),
                self.client_bytes
            ));
        }
        report
            .violations
            .extend(v.into_iter().map(|m| format!("expectation: {m}")));
        report
    }

    /// Every field as `key=value` words; [`Scenario::parse`] reads it back.
    pub fn replay_string(&self) -> String {
        let reply = match self.reply {
            Reply::Sink => "sink".to_string(),
            Reply::Echo => "echo".to_string(),
            Reply::Send(n) => format!("send:{n}"),
        };
        let mode = match self.mode {
            CloseMode::Close => "close",
            CloseMode::HalfClose => "halfclose",
            CloseMode::Abort => "abort",
        };
        let l = &self.link;
        format!(
            "seed={} bytes={} reply={reply} mode={mode} close_first={} delay_us={} jitter_us={} \
             bw={} loss={} dup={} reorder={} corrupt={} mtu={} limit_us={} sim_open={} \
             sim_close={}",
            self.seed,
            self.client_bytes,
            self.close_first,
            l.delay.as_micros(),
            l.jitter.as_micros(),
            l.bandwidth_bps.unwrap_or(0),
            l.loss,
            l.duplicate,
            l.reorder,
            l.corrupt,
            l.mtu,
            self.limit.as_micros(),
            self.simultaneous_open,
            self.simultaneous_close
        )
    }

    /// Parse [`Scenario::replay_string`] output; a bare number is a seed for
    /// [`Scenario::from_seed`]. Missing keys keep `from_seed(seed)`'s values.
    pub fn parse(s: &str) -> Option<Scenario> {
        let s = s.trim();
        if let Ok(seed) = s.parse::<u64>() {
            return Some(Scenario::from_seed(seed));
        }
        let kv: Vec<(&str, &str)> = s
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let mut sc = Scenario::from_seed(get("seed")?.parse().ok()?);
        for &(k, v) in &kv {
            match k {
                "seed" => {}
                "bytes" => sc.client_bytes = v.parse().ok()?,
                "reply" => {
                    sc.reply = match v {
                        "sink" => Reply::Sink,
                        "echo" => Reply::Echo,
                        _ => Reply::Send(v.strip_prefix("send:")?.parse().ok()?),
                    }
                }
                "mode" => {
                    sc.mode = match v {
                        "close" => CloseMode::Close,
                        "halfclose" => CloseMode::HalfClose,
                        "abort" => CloseMode::Abort,
                        _ => return None,
                    }
                }
                "close_first" => sc.close_first = v.parse().ok()?,
                "delay_us" => sc.link.delay = Duration::from_micros(v.parse().ok()?),
                "jitter_us" => sc.link.jitter = Duration::from_micros(v.parse().ok()?),
                "bw" => sc.link.bandwidth_bps = Some(v.parse().ok()?).filter(|&b| b > 0),
                "loss" => sc.link.loss = v.parse().ok()?,
                "dup" => sc.link.duplicate = v.parse().ok()?,
                "reorder" => sc.link.reorder = v.parse().ok()?,
                "corrupt" => sc.link.corrupt = v.parse().ok()?,
                "mtu" => sc.link.mtu = v.parse().ok()?,
                "limit_us" => sc.limit = Instant::from_micros(v.parse().ok()?),
                "sim_open" => sc.simultaneous_open = v.parse().ok()?,
                "sim_close" => sc.simultaneous_close = v.parse().ok()?,
                _ => return None,
            }
        }
        Some(sc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_string_round_trips() {
        for seed in 0..200 {
            let sc = Scenario::from_seed(seed);
            assert_eq!(Scenario::parse(&sc.replay_string()), Some(sc.clone()));
            assert_eq!(Scenario::parse(&seed.to_string()), Some(sc));
        }
        assert_eq!(Scenario::parse("bytes=3"), None);
        assert_eq!(Scenario::parse("seed=1 mode=sideways"), None);
    }
}
