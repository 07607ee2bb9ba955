//! The harness runs end to end at tiny sizes. No timing is asserted: figures are only checked
//! to exist and be positive. Row 5 (TUN against the kernel) runs as root and is skipped, with
//! its reason in the row, otherwise.

use synack_bench::{run_all, Opts};

#[test]
fn every_row_runs() {
    let rows = run_all(&Opts::smoke(), |_| {});
    assert!(rows.len() >= 8, "{rows:#?}");
    for row in &rows {
        let json = row.json();
        assert!(json.starts_with("{\"bench\": \""), "{json}");
        if row.bench.contains("(skipped: ") {
            // Row 5 needs root and /dev/net/tun; without them it has no figures, only a reason.
            eprintln!("{}", row.bench);
            // Under CI (`.ci/run`, as root) the row must run.
            assert!(std::env::var_os("CI").is_none(), "{row:?}");
            assert!(synack_bench::tun::skip_reason().is_some(), "{row:?}");
            assert!(row.synack.is_none() && row.smoltcp.is_none(), "{row:?}");
            continue;
        }
        if row.bench.starts_with("bulk over TUN") {
            assert!(row.smoltcp.is_some_and(|v| v > 0.0), "{row:?}");
        }
        if row.unit != "bytes" {
            // Memory rows need the counting allocator, which this test binary does not install.
            assert!(row.synack.is_some_and(|v| v > 0.0), "{row:?}");
        }
    }
}
