//! Row 5 alone: bulk transfer over TUN against the kernel, synack and smoltcp, both ways.
//!
//! `cargo run --release -p synack-bench --example tun_bulk -- [MEGABYTES] [RUNS]` (as root;
//! defaults 64 MB, best of 2). Prints one JSON row per line, like `synack bench --json`.

fn main() {
    let mut args = std::env::args().skip(1);
    let mb: u64 = args.next().map_or(64, |a| a.parse().expect("MEGABYTES"));
    let runs: usize = args.next().map_or(2, |a| a.parse().expect("RUNS"));
    if let Some(why) = synack_bench::tun::skip_reason() {
        eprintln!("row 5 skipped: {why}");
    }
    for row in synack_bench::tun::tun_bulk(mb << 20, runs) {
        println!("{}", row.json());
    }
}
