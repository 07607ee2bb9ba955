//! Flow completion times over the simulated link of row 6 ([`crate::sim`]): 100 Mbit/s, 10 ms
//! one way (20 ms RTT), a drop-tail queue of one bandwidth-delay product, random loss `p` in
//! each direction. A flow: the client connects (SYN at virtual time 0), the server accepts and
//! sends a response of `size` bytes, the client reads it; the flow's completion time (FCT) is
//! the virtual time of the client's read of the last byte, in µs.
//!
//! Each cell (response size × loss) runs `flows` flows with seeds derived from the cell, for
//! synack (default `Config`: CUBIC, SACK, timestamps, delayed ACKs, 256 KiB buffers growing
//! to 4 MiB) and smoltcp (CUBIC, 4 MiB buffers), over the same link code and the same loss
//! seeds; it reports p50, p99 and max. Everything is in virtual time, so the same arguments
//! give the same numbers on any machine.

use synack_proto::Config;
use synack_sim::rng::derive_seed;

use crate::net::{A_IP, B_IP};
use crate::sim::{run, Counters, Host, SmolSimHost, SynHost};

/// The response sizes of the table, bytes.
pub const SIZES: [u64; 3] = [10_000, 100_000, 1_000_000];
/// The loss probabilities of the table, each direction.
pub const LOSSES: [f64; 3] = [0.0, 0.01, 0.05];
/// Flows per cell of `synack bench --fct`: the full table (9 cells × 1000 flows × 2 stacks)
/// takes about 10 s of wall time in a release build (one core, Dec 2026).
pub const DEFAULT_FLOWS: usize = 1000;

/// Which stack runs both ends of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Synack,
    Smoltcp,
}

/// One flow's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    /// µs from the client's connect to the client's read of the last response byte.
    pub fct_us: u64,
    /// The server's (the response's sender's) counters, where the stack exposes them.
    pub server: Option<Counters>,
    /// The client's: it sends no data, so these are its SYN's retransmissions and timeouts.
    pub client: Option<Counters>,
}

/// One flow of `size` response bytes with loss `loss` each way, link seeded by `seed`; `None`
/// if it did not complete within 10 minutes of virtual time. synack runs its default `Config`.
pub fn flow(stack: Stack, size: u64, loss: f64, seed: u64) -> Option<Flow> {
    match stack {
        Stack::Synack => synack_flow(&Config::default(), size, loss, seed),
        Stack::Smoltcp => drive(
            [
                Box::new(SmolSimHost::new(A_IP, true, 0)),
                Box::new(SmolSimHost::new(B_IP, false, size)),
            ],
            size,
            loss,
            seed,
        ),
    }
}

/// [`flow`] for synack with `cfg` at both ends (the local address is set per host): for
/// comparing configurations (minimum RTO, Nagle, loss-recovery options) on the same seeds.
pub fn synack_flow(cfg: &Config, size: u64, loss: f64, seed: u64) -> Option<Flow> {
    drive(
        [
            Box::new(SynHost::new(cfg.clone(), true, 0)),
            Box::new(SynHost::new(cfg.clone(), false, size)),
        ],
        size,
        loss,
        seed,
    )
}

fn drive(mut hosts: [Box<dyn Host>; 2], size: u64, loss: f64, seed: u64) -> Option<Flow> {
    let fct_us = run(&mut hosts, 0, size, seed, loss)?;
    Some(Flow {
        fct_us,
        server: hosts[1].counters(),
        client: hosts[0].counters(),
    })
}

/// The seed of flow `k` of the cell (`size`, `loss`): the same for both stacks.
pub fn flow_seed(size: u64, loss: f64, k: usize) -> u64 {
    derive_seed(0xfc7, &[size, (loss * 1e6).round() as u64, k as u64])
}

/// One stack's figures for one cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Completed flows (the others did not finish within 10 minutes of virtual time).
    pub completed: usize,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Sums over the cell's flows of the server's counters (`None` for smoltcp).
    pub server: Option<Counters>,
    /// The same for the client's (a lost SYN costs the client a timeout).
    pub client: Option<Counters>,
}

/// Nearest-rank percentile (`q` in 0..=1) of sorted `v`.
fn percentile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// `flows` flows of one stack in one cell.
pub fn summarize(stack: Stack, size: u64, loss: f64, flows: usize) -> Summary {
    let mut times = Vec::with_capacity(flows);
    let (mut server, mut client): (Option<Counters>, Option<Counters>) = (None, None);
    let add = |sum: &mut Option<Counters>, c: Option<Counters>| {
        if let Some(c) = c {
            let sum = sum.get_or_insert_with(Counters::default);
            sum.retransmits += c.retransmits;
            sum.timeouts += c.timeouts;
        }
    };
    for k in 0..flows {
        let Some(f) = flow(stack, size, loss, flow_seed(size, loss, k)) else {
            continue;
        };
        times.push(f.fct_us);
        add(&mut server, f.server);
        add(&mut client, f.client);
    }
    times.sort_unstable();
    Summary {
        completed: times.len(),
        p50_us: percentile(&times, 0.50),
        p99_us: percentile(&times, 0.99),
        max_us: times.last().copied().unwrap_or(0),
        server,
        client,
    }
}

/// One cell of the table: both stacks.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub size: u64,
    pub loss: f64,
    pub flows: usize,
    pub synack: Summary,
    pub smoltcp: Summary,
}

impl Cell {
    pub fn measure(size: u64, loss: f64, flows: usize) -> Cell {
        Cell {
            size,
            loss,
            flows,
            synack: summarize(Stack::Synack, size, loss, flows),
            smoltcp: summarize(Stack::Smoltcp, size, loss, flows),
        }
    }

    /// One JSON object: sizes in bytes, times in µs of virtual time.
    pub fn json(&self) -> String {
        let side = |s: &Summary| {
            let counters = |name: &str, c: Option<Counters>| match c {
                Some(c) => format!(
                    ", \"{name}_retransmits\": {}, \"{name}_rto_expiries\": {}",
                    c.retransmits, c.timeouts
                ),
                None => String::new(),
            };
            let c = counters("server", s.server) + &counters("client", s.client);
            format!(
                "{{\"completed\": {}, \"p50_us\": {}, \"p99_us\": {}, \"max_us\": {}{c}}}",
                s.completed, s.p50_us, s.p99_us, s.max_us
            )
        };
        format!(
            "{{\"bench\": \"fct\", \"size\": {}, \"loss\": {}, \"flows\": {}, \"synack\": {}, \"smoltcp\": {}}}",
            self.size,
            self.loss,
            self.flows,
            side(&self.synack),
            side(&self.smoltcp)
        )
    }
}

/// Every cell, sizes outer and losses inner; `progress` is told each cell as it completes.
pub fn table(flows: usize, mut progress: impl FnMut(&Cell)) -> Vec<Cell> {
    let mut cells = Vec::new();
    for size in SIZES {
        for loss in LOSSES {
            let cell = Cell::measure(size, loss, flows);
            progress(&cell);
            cells.push(cell);
        }
    }
    cells
}
