//! The lost tail: a short response whose last data segment the network drops once, the case
//! RACK-TLP (RFC 8985 §7) exists for. Without a probe, nothing after the tail elicits a
//! duplicate ACK, so only the retransmission timer (RFC 6298, at least `Config::min_rto`)
//! repairs it.
//!
//! [`lost_tail`] runs it deterministically on the transfer experiments' link (100 Mbit/s,
//! 10 ms one way, a drop-tail queue of one bandwidth-delay product, no random loss): the
//! client connects and expects `bytes` of the server's reply pattern, the server sends them,
//! and the drop filter drops the first transmission of the data segment that carries the
//! reply's last byte. It reports when that segment was sent, when its repair arrived, the
//! flow's completion time and the server's loss-recovery counters.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use synack_proto::{Config, ConnInfo, Duration, Instant};

use crate::apps::{Client, CloseMode, Reply, Server};
use crate::check::RunReport;
use crate::link::LinkConfig;
use crate::scenario::{CLIENT_ADDR, SERVER_ADDR, SERVER_PORT};
use crate::sim::Sim;

/// What happened to a lost tail.
#[derive(Clone, Debug)]
pub struct TailRepair {
    /// The run (its invariant checks: [`RunReport::assert_ok`]).
    pub report: RunReport,
    /// Sequence number of the dropped segment.
    pub dropped_seq: u32,
    /// When the server first sent the dropped segment.
    pub dropped_at: Instant,
    /// When the first copy of that segment's data to reach the client arrived.
    pub repaired_at: Instant,
    /// Bytes the client read (each verified against the server's pattern by the client app).
    pub bytes_read: u64,
    /// From the client's connect to its read of the last byte.
    pub fct: Duration,
    /// The server connection's last `info()` snapshot: `retransmits`, `timeouts`, `cwnd`…
    pub server: ConnInfo,
    /// Segments carrying data the server sent more than once (every retransmission, whatever
    /// triggered it), counted on the wire.
    pub retransmitted_segments: usize,
    /// The run as a capture at the senders would show it ([`Sim::pcap_bytes`]: the dropped
    /// segment included), for `synack trace`.
    pub pcap: Vec<u8>,
}

impl TailRepair {
    /// From the dropped segment's original send to its repair's arrival.
    pub fn repair_time(&self) -> Duration {
        self.repaired_at - self.dropped_at
    }
}

/// The transfer experiments' link without random loss: 100 Mbit/s, 10 ms one way (20 ms
/// RTT), a drop-tail queue of one round trip's bandwidth-delay product.
pub fn tail_link() -> LinkConfig {
    let link = LinkConfig::default()
        .with_delay(Duration::from_millis(10))
        .with_bandwidth(100_000_000);
    let queue = 2 * link.bdp_one_way().expect("a bandwidth and a delay");
    link.with_queue_limit(queue)
}

/// A `bytes`-byte reply whose last data segment is dropped once, `config` at both ends.
/// Panics if the run breaks an invariant, the tail was never dropped or never repaired.
pub fn lost_tail(config: Config, bytes: u64, seed: u64) -> TailRepair {
    assert!(bytes > 0, "a reply to lose the tail of");
    let mut sim = Sim::new(seed);
    sim.set_replay_hint(format!("synack_sim::tail::lost_tail (seed {seed})"));
    let c = sim.add_host("client", CLIENT_ADDR, config.clone());
    let s = sim.add_host("server", SERVER_ADDR, config);
    sim.connect_hosts(c, s, tail_link());
    sim.set_app(
        s,
        Box::new(
            Server::new(SERVER_PORT)
                .seed(seed)
                .reply(Reply::Send(bytes)),
        ),
    );
    let remote = SocketAddr::from((SERVER_ADDR, SERVER_PORT));
    sim.set_app(
        c,
        Box::new(
            Client::new(remote, 0)
                .seed(seed)
                .expect(bytes)
                .mode(CloseMode::Close),
        ),
    );

    // The server's first data segment starts the reply (seq ISS+1); the one whose end is
    // `bytes` further carries the last byte. Drop its first transmission only.
    let dropped: Rc<RefCell<Option<u32>>> = Rc::new(RefCell::new(None));
    let record = dropped.clone();
    let mut start: Option<u32> = None;
    sim.set_drop_filter(Some(Box::new(move |p| {
        if p.from != s || record.borrow().is_some() {
            return false;
        }
        let Ok((_, tcp)) = synack_wire::parse_ipv4_tcp(p.data) else {
            return false;
        };
        if tcp.payload.is_empty() {
            return false;
        }
        let first = *start.get_or_insert(tcp.seq_number);
        let end = tcp.seq_number.wrapping_add(tcp.payload.len() as u32);
        if end == first.wrapping_add(bytes as u32) {
            *record.borrow_mut() = Some(tcp.seq_number);
            return true;
        }
        false
    })));

    let report = sim.run(Instant::from_secs(600));
    report.assert_ok();
    let dropped_seq = dropped
        .borrow()
        .expect("the tail segment was sent and dropped");

    let mut dropped_at = None;
    let mut repaired_at: Option<Instant> = None;
    let mut seen = std::collections::HashSet::new();
    let mut retransmitted_segments = 0;
    for p in sim.packets().iter().filter(|p| p.from == s) {
        let (_, tcp) = synack_wire::parse_ipv4_tcp(&p.data).expect("our packets parse");
        if tcp.payload.is_empty() {
            continue;
        }
        if !seen.insert(tcp.seq_number) {
            retransmitted_segments += 1;
        }
        let last = tcp
            .seq_number
            .wrapping_add(tcp.payload.len() as u32)
            .wrapping_sub(1);
        // Any segment carrying the dropped segment's first byte repairs it (a probe may be
        // cut differently from the original).
        let covers = dropped_seq.wrapping_sub(tcp.seq_number) <= last.wrapping_sub(tcp.seq_number);
        if !covers {
            continue;
        }
        match p.fate.arrival() {
            None if dropped_at.is_none() => dropped_at = Some(p.sent),
            Some(at) if dropped_at.is_some() => {
                repaired_at = Some(repaired_at.map_or(at, |r| r.min(at)));
            }
            _ => {}
        }
    }
    let conn = report
        .outcome(c)
        .and_then(|o| o.conns.first())
        .expect("the client connected")
        .clone();
    let server = report
        .outcome(s)
        .and_then(|o| o.conns.first())
        .and_then(|c| c.info.clone())
        .expect("a server connection snapshot");
    let fct = conn.last_recv_at.expect("the client read the reply") - conn.opened_at.unwrap();
    TailRepair {
        report,
        dropped_seq,
        dropped_at: dropped_at.expect("the dropped segment is on record"),
        repaired_at: repaired_at.expect("the tail was repaired"),
        bytes_read: conn.bytes_received,
        fct,
        server,
        retransmitted_segments,
        pcap: sim.pcap_bytes(),
    }
}
