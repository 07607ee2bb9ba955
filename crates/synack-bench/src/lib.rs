//! synack and smoltcp side by side, on the same in-memory link and the same work: bulk
//! transfer (row 1), full connection lifecycles (row 2), per-packet cost with many idle
//! connections (row 3), memory per connection and per TIME-WAIT entry (row 4), bulk transfer
//! over a TUN device against the kernel's TCP (row 5, root only: [`tun`]) and goodput over a
//! simulated lossy link (row 6). `synack bench` prints the table (synack-cli built with its
//! `bench` feature, which pulls this crate in); `benches/` has criterion versions of rows 1 and
//! 2. `synack bench --fct` prints the flow-completion-time table of [`fct`] (short responses
//! over the simulated link of row 6, with 0%, 1% and 5% loss).
//!
//! Wall-clock figures are measured here only, never asserted in tests.

pub mod alloc;
pub mod fct;
pub mod net;
pub mod rows;
pub mod sim;
pub mod tun;

use std::time::Instant as Wall;

use synack_proto::congestion::Algorithm;

use rows::{SmolBulk, SmolLifecycles, SmolMany, SynBulk, SynLifecycles, SynMany};

/// One measured row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub bench: String,
    pub unit: &'static str,
    pub synack: Option<f64>,
    pub smoltcp: Option<f64>,
    /// Bigger figures are better (throughput) or smaller are (cost, memory).
    pub higher_is_better: bool,
}

impl Row {
    /// synack relative to smoltcp, oriented so that > 1 means synack is better.
    pub fn ratio(&self) -> Option<f64> {
        let (s, m) = (self.synack?, self.smoltcp?);
        if self.higher_is_better {
            Some(s / m)
        } else {
            Some(m / s)
        }
    }

    /// `{"bench": …, "unit": …, "synack": N, "smoltcp": N, "ratio": N}` (null where a figure is
    /// missing).
    pub fn json(&self) -> String {
        let num = |v: Option<f64>| match v {
            Some(v) if v.is_finite() => format!("{}", (v * 1000.0).round() / 1000.0),
            _ => "null".to_string(),
        };
        format!(
            "{{\"bench\": \"{}\", \"unit\": \"{}\", \"synack\": {}, \"smoltcp\": {}, \"ratio\": {}}}",
            self.bench,
            self.unit,
            num(self.synack),
            num(self.smoltcp),
            num(self.ratio())
        )
    }
}

/// How long each row runs.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Bytes per bulk transfer run.
    pub bulk_bytes: u64,
    /// Bulk runs per stack and MTU; the best is reported.
    pub bulk_runs: usize,
    /// Lifecycles per stack.
    pub lifecycles: usize,
    /// Idle-connection counts of row 3 for synack (row 4 reads memory at the largest).
    pub idle_synack: Vec<usize>,
    /// The same for smoltcp, whose socket lookup is a scan: establishing N costs O(N²).
    pub idle_smoltcp: Vec<usize>,
    /// Ping-pong rounds at each count (smoltcp's scale down with N).
    pub rounds: usize,
    /// Bytes per simulated transfer and the seeds averaged.
    pub sim_bytes: u64,
    pub sim_seeds: Vec<u64>,
    /// Bytes each way per run of row 5 (TUN against the kernel; best of `bulk_runs`).
    pub tun_bytes: u64,
}

impl Opts {
    /// Everything in well under a minute.
    pub fn quick() -> Opts {
        Opts {
            bulk_bytes: 256 << 20,
            bulk_runs: 2,
            lifecycles: 100_000,
            idle_synack: vec![10, 10_000, 100_000],
            idle_smoltcp: vec![10, 1_000],
            rounds: 20_000,
            sim_bytes: 4_000_000,
            sim_seeds: vec![1, 2],
            tun_bytes: 64 << 20,
        }
    }

    /// The full table (a few minutes).
    pub fn full() -> Opts {
        Opts {
            bulk_bytes: 2 << 30,
            bulk_runs: 3,
            lifecycles: 1_000_000,
            idle_synack: vec![10, 10_000, 100_000, 1_000_000],
            idle_smoltcp: vec![10, 10_000],
            rounds: 100_000,
            sim_bytes: 10_000_000,
            sim_seeds: vec![1, 2, 3, 4],
            tun_bytes: 1 << 30,
        }
    }

    /// Tiny sizes, for the smoke test.
    pub fn smoke() -> Opts {
        Opts {
            bulk_bytes: 1 << 20,
            bulk_runs: 1,
            lifecycles: 20,
            idle_synack: vec![10, 100],
            idle_smoltcp: vec![10],
            rounds: 20,
            sim_bytes: 200_000,
            sim_seeds: vec![1],
            tun_bytes: 2 << 20,
        }
    }
}

fn best_of(runs: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..runs.max(1)).map(|_| f()).fold(0.0, f64::max)
}

/// Row 1: bytes per second of wall time, best of `runs`.
pub fn bulk(mtu: usize, bytes: u64, runs: usize) -> Row {
    let synack = best_of(runs, || {
        let mut b = SynBulk::new(mtu);
        let t = Wall::now();
        let got = b.transfer(bytes);
        got as f64 / t.elapsed().as_secs_f64()
    });
    let smoltcp = best_of(runs, || {
        let mut b = SmolBulk::new(mtu);
        let t = Wall::now();
        let got = b.transfer(bytes);
        got as f64 / t.elapsed().as_secs_f64()
    });
    Row {
        bench: format!("bulk transfer, MTU {mtu}"),
        unit: "bytes/s",
        synack: Some(synack),
        smoltcp: Some(smoltcp),
        higher_is_better: true,
    }
}

/// Row 2 and synack's half of the TIME-WAIT memory row.
pub struct LifecycleResult {
    pub row: Row,
    /// synack: heap bytes per TIME-WAIT entry left by the run (when the counting allocator is
    /// installed), and how many entries there were.
    pub time_wait_bytes: Option<f64>,
    pub time_wait_entries: usize,
}

pub fn lifecycles(n: usize) -> LifecycleResult {
    let mut syn = SynLifecycles::new();
    let before = alloc::live_bytes();
    let t = Wall::now();
    for _ in 0..n {
        syn.run_one();
    }
    let synack = n as f64 / t.elapsed().as_secs_f64();
    let entries = syn.time_wait_count();
    let grown = alloc::live_bytes().saturating_sub(before) as f64;
    let time_wait_bytes = (alloc::installed() && entries > 0).then(|| grown / entries as f64);
    drop(syn);

    let mut smol = SmolLifecycles::new();
    let t = Wall::now();
    for _ in 0..n {
        smol.run_one();
    }
    let smoltcp = n as f64 / t.elapsed().as_secs_f64();
    LifecycleResult {
        row: Row {
            bench: "lifecycles (connect, 100 B each way, close; synack keeps TIME-WAIT)"
                .to_string(),
            unit: "lifecycles/s",
            synack: Some(synack),
            smoltcp: Some(smoltcp),
            higher_is_better: true,
        },
        time_wait_bytes,
        time_wait_entries: entries,
    }
}

/// Rows 3 and 4 (idle connections): ns per packet of a ping-pong at each idle count, and heap
/// bytes per idle established connection (per endpoint-side TCB/socket) at the largest count.
pub fn many(opts: &Opts) -> Vec<Row> {
    let counted = alloc::installed();
    let mut rows = Vec::new();
    let mut syn_cost = Vec::new();
    let base = alloc::live_bytes();
    let mut syn = SynMany::new();
    let mut syn_mem = None;
    for &n in &opts.idle_synack {
        let start = alloc::live_bytes();
        syn.grow_to(n);
        if counted && n == *opts.idle_synack.last().unwrap() {
            let _ = start;
            syn_mem = Some((alloc::live_bytes() - base) as f64 / (2 * n) as f64);
        }
        // Warm up, then the least of three runs: the machine's noise only ever adds time.
        syn.ping_pong(opts.rounds / 10);
        let cost = (0..3)
            .map(|_| {
                let t = Wall::now();
                let packets = syn.ping_pong(opts.rounds);
                t.elapsed().as_nanos() as f64 / packets as f64
            })
            .fold(f64::INFINITY, f64::min);
        syn_cost.push((n, cost));
    }
    drop(syn);

    let mut smol_cost = Vec::new();
    let base = alloc::live_bytes();
    let mut smol = SmolMany::new();
    let mut smol_mem = None;
    for &n in &opts.idle_smoltcp {
        smol.grow_to(n);
        if counted && n == *opts.idle_smoltcp.last().unwrap() {
            smol_mem = Some((alloc::live_bytes() - base) as f64 / (2 * n) as f64);
        }
        // smoltcp polls every socket per round: scale the rounds down so a row stays short.
        let rounds = (opts.rounds / (1 + n / 100)).max(50);
        smol.ping_pong(rounds / 10);
        let cost = (0..3)
            .map(|_| {
                let t = Wall::now();
                let packets = smol.ping_pong(rounds);
                t.elapsed().as_nanos() as f64 / packets as f64
            })
            .fold(f64::INFINITY, f64::min);
        smol_cost.push((n, cost));
    }
    drop(smol);

    let mut counts: Vec<usize> = opts
        .idle_synack
        .iter()
        .chain(&opts.idle_smoltcp)
        .copied()
        .collect();
    counts.sort_unstable();
    counts.dedup();
    for n in counts {
        let find = |v: &[(usize, f64)]| v.iter().find(|(k, _)| *k == n).map(|(_, c)| *c);
        rows.push(Row {
            bench: format!("ping-pong, {n} idle connections"),
            unit: "ns/packet",
            synack: find(&syn_cost),
            smoltcp: find(&smol_cost),
            higher_is_better: false,
        });
    }
    rows.push(Row {
        bench: format!(
            "memory per idle connection (synack at {}, smoltcp at {}; {} KiB buffers)",
            opts.idle_synack.last().unwrap(),
            opts.idle_smoltcp.last().unwrap(),
            rows::IDLE_BUFFER / 1024
        ),
        unit: "bytes",
        synack: syn_mem,
        smoltcp: smol_mem,
        higher_is_better: false,
    });
    rows
}

/// Row 6: goodput in bytes/s of virtual time, synack with `cc` vs smoltcp with CUBIC.
pub fn sim_goodput(cc: Algorithm, bytes: u64, seeds: &[u64]) -> Row {
    Row {
        bench: format!(
            "simulated 100 Mbit/s, 20 ms RTT, 1% loss: synack {} vs smoltcp CUBIC",
            match cc {
                Algorithm::NewReno => "NewReno",
                Algorithm::Cubic => "CUBIC",
                other => other.name(),
            }
        ),
        unit: "bytes/s",
        synack: sim::synack_goodput(cc, bytes, seeds),
        smoltcp: sim::smoltcp_goodput(bytes, seeds),
        higher_is_better: true,
    }
}

/// Every row, in table order; `progress` is told each row as it completes.
pub fn run_all(opts: &Opts, mut progress: impl FnMut(&Row)) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |row: Row, rows: &mut Vec<Row>| {
        progress(&row);
        rows.push(row);
    };
    for mtu in [1500, 65535] {
        push(bulk(mtu, opts.bulk_bytes, opts.bulk_runs), &mut rows);
    }
    let lc = lifecycles(opts.lifecycles);
    push(lc.row, &mut rows);
    for row in many(opts) {
        push(row, &mut rows);
    }
    push(
        Row {
            bench: format!(
                "memory per TIME-WAIT entry (synack at {}; smoltcp: a whole socket, see idle row)",
                lc.time_wait_entries
            ),
            unit: "bytes",
            synack: lc.time_wait_bytes,
            smoltcp: rows
                .iter()
                .find(|r| r.bench.starts_with("memory per idle"))
                .and_then(|r| r.smoltcp),
            higher_is_better: false,
        },
        &mut rows,
    );
    for row in tun::tun_bulk(opts.tun_bytes, opts.bulk_runs) {
        push(row, &mut rows);
    }
    for cc in [Algorithm::NewReno, Algorithm::Cubic] {
        push(sim_goodput(cc, opts.sim_bytes, &opts.sim_seeds), &mut rows);
    }
    rows
}
