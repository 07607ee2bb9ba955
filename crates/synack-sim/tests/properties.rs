//! Property tests: random scenarios (seeds, sizes, impairments, close modes) keep every
//! invariant.
//!
//! Replay a failure exactly:
//! - `SYNACK_SCENARIO='seed=… bytes=… …' cargo test -p synack-sim --test properties replay`
//!   (the failure message prints the whole line), or
//! - `SYNACK_SEED=N cargo test -p synack-sim --test properties replay` for the scenario
//!   `Scenario::from_seed(N)` derives from one seed.
//!
//! `PROPTEST_CASES` sets the number of cases (default 150 per property, so `cargo test` runs
//! 300 random scenarios; `synack soak --seeds N` runs many more).

use proptest::prelude::*;
use synack_proto::Duration;
use synack_sim::link::LinkConfig;
use synack_sim::{CloseMode, Reply, Scenario};

/// Run, print the packet/transition trace if `SYNACK_DUMP` is set, assert the invariants.
fn run_and_check(sc: &Scenario) {
    println!("scenario: {}", sc.replay_string());
    if std::env::var_os("SYNACK_DUMP").is_some() {
        let (mut sim, _, _) = sc.build();
        let report = sim.run(sc.limit);
        println!("{}", synack_sim::trace::dump(&sim));
        println!("{report:#?}");
    }
    let report = sc.run();
    report.assert_ok();
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let reply = prop_oneof![
        Just(Reply::Sink),
        Just(Reply::Echo),
        (0u64..200_000).prop_map(Reply::Send),
    ];
    let mode = prop_oneof![
        Just(CloseMode::Close),
        Just(CloseMode::HalfClose),
        Just(CloseMode::Abort),
    ];
    let link = (
        1_000u64..50_000,
        0u64..20_000,
        prop_oneof![Just(None), (1_000_000u64..100_000_000).prop_map(Some)],
        0.0f64..0.3,
        0.0f64..0.05,
        0.0f64..0.1,
        0.0f64..0.05,
    )
        .prop_map(
            |(delay, jitter, bw, loss, dup, reorder, corrupt)| LinkConfig {
                delay: Duration::from_micros(delay),
                jitter: Duration::from_micros(jitter),
                bandwidth_bps: bw,
                loss,
                duplicate: dup,
                reorder,
                corrupt,
                mtu: 1500,
                queue_limit: None,
            },
        );
    (
        any::<u64>(),
        0u64..200_000,
        reply,
        mode,
        any::<bool>(),
        link,
    )
        .prop_map(|(seed, bytes, reply, mode, close_first, link)| {
            let mut sc = Scenario::new(seed, bytes, reply, mode);
            sc.close_first = close_first;
            sc.link = link;
            sc
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Explicit parameters (they shrink on failure).
    #[test]
    fn invariants_hold(sc in scenario()) {
        let report = sc.run();
        prop_assert!(report.is_ok(), "{}", report.failure_message());
    }

    /// Everything derived from one seed (the seed alone replays it).
    #[test]
    fn invariants_hold_from_seed(seed in any::<u64>()) {
        let report = Scenario::from_seed(seed).run();
        prop_assert!(report.is_ok(), "{}", report.failure_message());
    }
}

/// Replays `SYNACK_SCENARIO` or `SYNACK_SEED` if set; otherwise runs a fixed lossy scenario.
#[test]
fn replay() {
    let sc = if let Ok(s) = std::env::var("SYNACK_SCENARIO") {
        Scenario::parse(&s).expect("SYNACK_SCENARIO: bad scenario string")
    } else if let Ok(s) = std::env::var("SYNACK_SEED") {
        Scenario::from_seed(s.trim().parse().expect("SYNACK_SEED: not a u64"))
    } else {
        let mut sc = Scenario::new(1, 50_000, Reply::Send(30_000), CloseMode::Close);
        sc.link = LinkConfig::lossy(0.2);
        sc
    };
    run_and_check(&sc);
}

/// A sweep over `Scenario::from_seed(0..SYNACK_SWEEP)` (default 200) that reports every
/// failing seed instead of stopping at the first: `cargo test -p synack-sim --test properties
/// sweep -- --ignored --nocapture`.
#[test]
#[ignore]
fn sweep() {
    let n: u64 = std::env::var("SYNACK_SWEEP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut failed = Vec::new();
    for seed in 0..n {
        let report = Scenario::from_seed(seed).run();
        if !report.is_ok() {
            println!("{}", report.failure_message());
            failed.push(seed);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {n} seeds failed: {failed:?}",
        failed.len()
    );
}
