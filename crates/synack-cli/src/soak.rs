//! `synack soak`: run many random simulation scenarios and check every invariant.
//!
//! Each seed is `synack_sim::Scenario::from_seed(seed)`: loss 0–30%, duplication, reordering,
//! corruption, delay, jitter and bandwidth; sink/echo/reply servers; close, half-close and
//! abort; simultaneous open and simultaneous close; transfers from a few bytes to 4 MB. A
//! failing seed prints its violations and the line that replays it; a panic inside the stack
//! is caught, reported the same way, and the soak goes on.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use synack_sim::{CloseMode, Scenario};

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Number of seeds to run.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Worker threads (default: available parallelism).
    #[arg(long)]
    jobs: Option<usize>,
    /// Print nothing but failures and the summary (and draw no progress bar; the bar is drawn
    /// on standard error, only when it is a terminal).
    #[arg(long)]
    quiet: bool,
}

#[derive(Default)]
struct Tally {
    done: u64,
    failed: Vec<u64>,
    half_close: u64,
    abort: u64,
    simultaneous_open: u64,
    simultaneous_close: u64,
    large: u64,
    bytes: u64,
}

pub fn run(args: &SoakArgs) -> Result<(), String> {
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let end = args
        .start
        .checked_add(args.seeds)
        .ok_or("--start + --seeds overflows")?;
    println!(
        "synack soak: seeds {}..{end} ({} scenarios), {jobs} jobs",
        args.start, args.seeds
    );
    let next = Arc::new(AtomicU64::new(args.start));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let bar = crate::progress::bar(
        "soak",
        args.seeds,
        crate::progress::Unit::Count("seeds"),
        args.quiet,
    );
    // Panics are caught and reported per seed; keep the default hook's backtrace noise out.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let workers: Vec<_> = (0..jobs)
        .map(|_| {
            let (next, tally, bar) = (next.clone(), tally.clone(), bar.clone());
            let (quiet, total) = (args.quiet, args.seeds);
            std::thread::spawn(move || loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    return;
                }
                let sc = Scenario::from_seed(seed);
                let failure = match catch_unwind(AssertUnwindSafe(|| sc.run())) {
                    Ok(report) if report.is_ok() => None,
                    Ok(report) => Some(report.failure_message()),
                    Err(panic) => {
                        let msg = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "(non-string panic)".into());
                        Some(format!(
                            "seed {seed}: PANIC: {msg} (replay: SYNACK_SCENARIO='{}' cargo test \
                             -p synack-sim --test properties replay)",
                            sc.replay_string()
                        ))
                    }
                };
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                t.done += 1;
                t.bytes += sc.client_bytes + sc.expected_reply();
                t.half_close += u64::from(sc.effective_mode() == CloseMode::HalfClose);
                t.abort += u64::from(sc.effective_mode() == CloseMode::Abort);
                t.simultaneous_open += u64::from(sc.simultaneous_open);
                t.simultaneous_close += u64::from(sc.simultaneous_close);
                t.large += u64::from(sc.client_bytes >= 1_000_000);
                if let Some(msg) = failure {
                    t.failed.push(seed);
                    bar.suspend(|| {
                        println!("FAIL {msg}\n     or: synack soak --seeds 1 --start {seed}")
                    });
                }
                bar.inc(1);
                let step = (total / 20).max(1);
                if !quiet && t.done % step == 0 {
                    bar.suspend(|| {
                        println!(
                            "  {:>6}/{total} seeds, {} failed, {:.1} s",
                            t.done,
                            t.failed.len(),
                            started.elapsed().as_secs_f64()
                        );
                        let _ = std::io::stdout().flush();
                    });
                }
            })
        })
        .collect();
    let mut crashed = 0;
    for w in workers {
        if w.join().is_err() {
            crashed += 1;
        }
    }
    std::panic::set_hook(hook);
    bar.finish_and_clear();
    let wall = started.elapsed();
    let t = tally.lock().unwrap_or_else(|e| e.into_inner());
    summary(&t, args.seeds, wall);
    if crashed > 0 {
        return Err(format!("{crashed} worker threads died"));
    }
    if t.failed.is_empty() {
        Ok(())
    } else {
        let mut failed = t.failed.clone();
        failed.sort_unstable();
        Err(format!(
            "{} of {} seeds failed: {failed:?}",
            failed.len(),
            t.done
        ))
    }
}

fn summary(t: &Tally, seeds: u64, wall: Duration) {
    let secs = wall.as_secs_f64();
    println!("Summary");
    println!(
        "  seeds       {} run of {seeds}: {} passed, {} failed",
        t.done,
        t.done - t.failed.len() as u64,
        t.failed.len()
    );
    println!(
        "  scenarios   {} half-close, {} abort, {} simultaneous open, {} simultaneous close, \
         {} large (≥ 1 MB) transfers; {:.1} MB moved in all",
        t.half_close,
        t.abort,
        t.simultaneous_open,
        t.simultaneous_close,
        t.large,
        t.bytes as f64 / 1e6
    );
    println!(
        "  wall time   {secs:.1} s ({:.1} seeds/s)",
        t.done as f64 / secs.max(1e-9)
    );
}
