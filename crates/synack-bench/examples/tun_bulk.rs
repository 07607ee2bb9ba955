//! Row 5 alone: bulk transfer over TUN against the kernel, synack and smoltcp, both ways.
//!
//! `cargo run --release -p synack-bench --example tun_bulk -- [MEGABYTES] [RUNS]` (as root;
//! defaults 64 MB, best of 2). Prints one JSON row per line, like `synack bench --json`.
//!
//! `tun_bulk MEGABYTES RUNS synack|offload|smoltcp send|recv` runs that one case (at MTU
//! 1500) and prints each run's bytes per second: what to put under a profiler.

use synack_bench::tun::{measure, Dir, Which};

fn main() {
    let mut args = std::env::args().skip(1);
    let mb: u64 = args.next().map_or(64, |a| a.parse().expect("MEGABYTES"));
    let runs: usize = args.next().map_or(2, |a| a.parse().expect("RUNS"));
    if let (Some(stack), Some(dir)) = (args.next(), args.next()) {
        let which = match stack.as_str() {
            "synack" => Which::Synack,
            "offload" => Which::SynackOffload,
            "smoltcp" => Which::Smoltcp,
            _ => panic!("stack: synack, offload or smoltcp"),
        };
        let dir = match dir.as_str() {
            "send" => Dir::ToKernel,
            "recv" => Dir::FromKernel,
            _ => panic!("direction: send (stack -> kernel) or recv (kernel -> stack)"),
        };
        for _ in 0..runs {
            match measure(which, dir, 1500, mb << 20) {
                Ok(v) => println!("{:.3} GB/s", v / 1e9),
                Err(e) => eprintln!("failed: {e}"),
            }
        }
        return;
    }
    if let Some(why) = synack_bench::tun::skip_reason() {
        eprintln!("row 5 skipped: {why}");
    }
    for row in synack_bench::tun::tun_bulk(mb << 20, runs) {
        println!("{}", row.json());
    }
}
