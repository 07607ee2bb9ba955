//! `synack bench`: synack and smoltcp side by side on the same in-memory link (and the same
//! simulated lossy link, and, as root, the same kind of TUN device against the kernel's TCP;
//! without root that row says why it was skipped), one table of absolute figures and
//! synack/smoltcp ratios (> 1 means synack is better). `--json` prints one object per row
//! instead.

use clap::Args;
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
}

pub fn run(args: &BenchArgs) -> Result<(), String> {
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
    run_all(&opts, |row| {
        if json {
            println!("{}", row.json());
        } else {
            println!("{}", table_line(row));
        }
    });
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
