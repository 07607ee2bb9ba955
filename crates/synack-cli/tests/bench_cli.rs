//! `synack bench` (issue 23, packaging): the comparison with smoltcp is a cargo feature of
//! synack-cli, off by default, so the user's `synack` links neither smoltcp nor the bench's
//! counting allocator. Without the feature the subcommand still exists and says how to get it;
//! with it (`cargo test -p synack-cli --features bench`, and `.ci/run`, which tests with
//! `--all-features`) it runs.

mod common;
use common::synack;

/// The default build: `synack bench` (with or without the real one's options) fails with the
/// command that builds it, and `synack --help` still lists it, saying it is not in this build.
#[cfg(not(feature = "bench"))]
#[test]
fn bench_absent_says_how_to_build_it() {
    for args in [&["bench"][..], &["bench", "--quick", "--json"][..]] {
        let out = synack(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "synack {args:?}:\n{stderr}");
        assert!(out.stdout.is_empty(), "synack {args:?} printed to stdout");
        assert!(
            stderr.starts_with("synack: bench is not in this build of synack")
                && stderr.contains("cargo run --release -p synack-cli --features bench -- bench"),
            "synack {args:?}:\n{stderr}"
        );
    }
    let help = synack(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("bench")
            && l.contains("not in this build: needs the `bench` feature")),
        "{help}"
    );
}

/// The `bench` build: the flow-completion-time table (virtual time, one flow per cell, so a
/// few seconds) prints one JSON object per cell — 3 sizes × 3 loss rates — and both stacks
/// finish every flow.
#[cfg(feature = "bench")]
#[test]
fn bench_fct_json_one_object_per_cell() {
    let out = synack(&["bench", "--fct", "--flows", "1", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cells: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(cells.len(), 9, "{stdout}");
    for cell in &cells {
        assert_eq!(cell["bench"], "fct", "{cell}");
        assert_eq!(cell["flows"], 1, "{cell}");
        for stack in ["synack", "smoltcp"] {
            assert_eq!(cell[stack]["completed"], 1, "{stack}: {cell}");
            assert!(cell[stack]["p50_us"].as_u64().unwrap() > 0, "{cell}");
        }
    }
    let help = String::from_utf8_lossy(&synack(&["--help"]).stdout).into_owned();
    assert!(!help.contains("not in this build"), "{help}");
}
