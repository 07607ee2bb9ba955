//! One workload of rows 1–2, for profilers (callgrind counts instructions; run it at two sizes
//! and divide the difference to get the cost per byte or per lifecycle without the setup):
//!
//! ```text
//! workload bulk synack|smoltcp MTU BYTES
//! workload lifecycle synack|smoltcp COUNT
//! ```

use synack_bench::rows::{SmolBulk, SmolLifecycles, SynBulk, SynLifecycles};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> u64 { args[i].parse().expect("a number") };
    match (args[0].as_str(), args[1].as_str()) {
        ("bulk", "synack") => {
            let mut b = SynBulk::new(arg(2) as usize);
            b.transfer(arg(3));
            packets(b.net.packets);
        }
        ("bulk", "smoltcp") => {
            let mut b = SmolBulk::new(arg(2) as usize);
            b.transfer(arg(3));
            packets(b.net.packets);
        }
        ("lifecycle", "synack") => {
            let mut l = SynLifecycles::new();
            (0..arg(2)).for_each(|_| l.run_one());
            packets(l.net.packets);
        }
        ("lifecycle", "synack-lean") => {
            // What smoltcp's lifecycle does without: timestamps, SACK, window scaling and
            // TIME-WAIT entries (LEAN picks which, as letters t, s, w, 2).
            let lean = std::env::var("LEAN").unwrap_or_else(|_| "tsw2".into());
            let mut l = SynLifecycles::with(|c| {
                c.timestamps &= !lean.contains('t');
                c.sack &= !lean.contains('s');
                c.window_scaling &= !lean.contains('w');
                if lean.contains('2') {
                    c.max_time_wait = 0;
                }
            });
            (0..arg(2)).for_each(|_| l.run_one());
            packets(l.net.packets);
        }
        ("lifecycle", "smoltcp") => {
            let mut l = SmolLifecycles::new();
            (0..arg(2)).for_each(|_| l.run_one());
            packets(l.net.packets);
        }
        _ => panic!("usage: workload bulk|lifecycle synack|smoltcp [MTU] N"),
    }
}

/// The packets the link carried, on stderr (the segments per byte or per lifecycle are
/// half of what explains a difference in cost).
fn packets(n: u64) {
    eprintln!("packets: {n}");
}
