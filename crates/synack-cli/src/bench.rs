//! `synack bench`: synack and smoltcp side by side on the same in-memory link (and the same
//! simulated lossy link, and, as root, the same kind of TUN device against the kernel's TCP;
//! without root that row says why it was skipped), one table of absolute figures and
//! synack/smoltcp ratios (> 1 means synack is better). `--json` prints one object per row
//! instead. `--fct` prints the flow-completion-time table instead (synack_bench::fct: 10 KB,
//! 100 KB and 1 MB responses over the simulated 100 Mbit/s, 20 ms RTT link with 0%, 1% and 5%
//! loss each way; p50, p99 and max in virtual time).

use clap::Args;
use synack_bench::fct::{self, Cell, Summary};
use synack_bench::{run_all, Opts, Row};

// The memory rows count live heap bytes.
#[global_allocator]
static ALLOC: synack_bench::alloc::Counting = synack_bench::alloc::Counting;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Short runs (under a minute in all) instead of the full table (a few minutes).
    #[arg(long)]
    quick: bool,
    /// One JSON object per row: {"bench", "unit", "synack", "smoltcp", "ratio"}.
    #[arg(long)]
    json: bool,
    /// The flow-completion-time table (virtual time, deterministic) instead of the throughput
    /// table; with --json one object per cell.
    #[arg(long)]
    fct: bool,
    /// Flows per cell of the --fct table (default 1000, --quick 100).
    #[arg(long, value_name = "N")]
    flows: Option<usize>,
    /// --fct: synack's minimum retransmission timeout, ms (default: Config's, 1000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    min_rto: Option<u64>,
    /// --fct: synack without RACK-TLP (RFC 8985): loss detection by duplicate ACKs and RFC
    /// 6675's IsLost only, as before it existed.
    #[arg(long)]
    no_rack: bool,
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
    if args.fct {
        run_fct(args);
        return Ok(());
    }
    let opts = if args.quick {
        Opts::quick()
    } else {
        Opts::full()
    };
    if !args.json {
        println!(
            "synack vs smoltcp 0.14 ({} mode; ratio > 1 means synack is better)\n",
            if args.quick { "quick" } else { "full" }
        );
        println!(
            "{:<86} {:>14} {:>14} {:>7}  unit",
            "bench", "synack", "smoltcp", "ratio"
        );
    }
    let json = args.json;
    // Rows take seconds to minutes each: a spinner on a terminal (stderr; not with --json)
    // counts them and names the last one.
    let spinner = crate::progress::spinner("bench", json);
    spinner.set_message("first row…");
    run_all(&opts, |row| {
        spinner.suspend(|| {
            if json {
                println!("{}", row.json());
            } else {
                println!("{}", table_line(row));
            }
        });
        spinner.inc(1);
        spinner.set_message(format!(
            "{} rows done, last: {}",
            spinner.position(),
            row.bench
        ));
    });
    spinner.finish_and_clear();
    Ok(())
}

fn table_line(row: &Row) -> String {
    let fig = |v: Option<f64>| match v {
        None => "n/a".to_string(),
        Some(v) if v >= 1e9 => format!("{:.2} G", v / 1e9),
        Some(v) if v >= 1e6 => format!("{:.2} M", v / 1e6),
        Some(v) if v >= 1e4 => format!("{:.1} k", v / 1e3),
        Some(v) => format!("{v:.1}"),
    };
    let ratio = row
        .ratio()
        .map_or("n/a".to_string(), |r| format!("{r:.2}×"));
    format!(
        "{:<86} {:>14} {:>14} {:>7}  {}",
        row.bench,
        fig(row.synack),
        fig(row.smoltcp),
        ratio,
        row.unit
    )
}

fn run_fct(args: &BenchArgs) {
    let flows = args
        .flows
        .unwrap_or(if args.quick { 100 } else { fct::DEFAULT_FLOWS })
        .max(1);
    if !args.json {
        println!(
            "flow completion time, connect to last byte read, ms of virtual time: 100 Mbit/s, \
             20 ms RTT, drop-tail queue of one BDP, random loss each way; {flows} seeded flows \
             per cell; synack default Config (CUBIC) vs smoltcp 0.14 CUBIC; rto s+c = synack's \
             retransmission-timer expiries over the cell, server (response sender) + client \
             (its SYN)\n"
        );
        println!(
            "{:>9} {:>5}  {:>8} {:>8} {:>8} {:>9}  {:>8} {:>8} {:>8}",
            "size",
            "loss",
            "syn p50",
            "syn p99",
            "syn max",
            "rto s+c",
            "smol p50",
            "smol p99",
            "smol max"
        );
    }
    let mut cfg = synack_proto::Config::default();
    if let Some(ms) = args.min_rto {
        cfg.min_rto = std::time::Duration::from_millis(ms);
    }
    if args.no_rack {
        cfg = cfg.with_rack(false).with_tlp(false);
    }
    let json = args.json;
    // Cells done of the table (on a terminal's stderr; not with --json).
    let bar = crate::progress::bar(
        "fct",
        (fct::SIZES.len() * fct::LOSSES.len()) as u64,
        crate::progress::Unit::Count("cells"),
        json,
    );
    fct::table(&cfg, flows, |cell| {
        bar.suspend(|| {
            if json {
                println!("{}", cell.json());
            } else {
                println!("{}", fct_line(cell));
            }
        });
        bar.inc(1);
    });
    bar.finish_and_clear();
}

fn fct_line(cell: &Cell) -> String {
    let ms = |us: u64| format!("{:.1}", us as f64 / 1000.0);
    let side = |s: &Summary| {
        format!(
            "{:>8} {:>8} {:>8}",
            ms(s.p50_us),
            ms(s.p99_us),
            ms(s.max_us)
        )
    };
    let unfinished = |name: &str, s: &Summary| {
        let n = cell.flows - s.completed;
        if n > 0 {
            format!("  ({name}: {n} flows did not finish in 10 min)")
        } else {
            String::new()
        }
    };
    let rto = match (cell.synack.server, cell.synack.client) {
        (Some(s), Some(c)) => format!("{}+{}", s.timeouts, c.timeouts),
        _ => "n/a".to_string(),
    };
    let size = if cell.size >= 1_000_000 {
        format!("{} MB", cell.size / 1_000_000)
    } else {
        format!("{} KB", cell.size / 1_000)
    };
    format!(
        "{size:>9} {:>4}%  {} {rto:>9}  {}{}{}",
        cell.loss * 100.0,
        side(&cell.synack),
        side(&cell.smoltcp),
        unfinished("synack", &cell.synack),
        unfinished("smoltcp", &cell.smoltcp)
    )
}
