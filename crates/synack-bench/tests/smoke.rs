//! The harness runs end to end at tiny sizes. No timing is asserted: figures are only checked
//! to exist and be positive.

use synack_bench::{run_all, Opts};

#[test]
fn every_row_runs() {
    let rows = run_all(&Opts::smoke(), |_| {});
    assert!(rows.len() >= 8, "{rows:#?}");
    for row in &rows {
        let json = row.json();
        assert!(json.starts_with("{\"bench\": \""), "{json}");
        if row.unit != "bytes" {
            // Memory rows need the counting allocator, which this test binary does not install.
            assert!(row.synack.is_some_and(|v| v > 0.0), "{row:?}");
        }
    }
}
