//! Replays every committed cargo-fuzz corpus file (`fuzz/corpus/<target>/`) through the same
//! harness the fuzz target runs (`synack_sim::fuzz_harness`), so `cargo test` on stable covers
//! the corpus without nightly or cargo-fuzz. A crash the fuzzer saved can be replayed the same
//! way: `SYNACK_FUZZ_INPUT=path cargo test -p synack-sim --test fuzz_corpus -- --nocapture`
//! (the target is taken from the path: `.../endpoint/...`, `.../connection/...` or
//! `.../reassembly/...`).

use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Run `harness` on every file of the target's corpus; returns how many ran.
fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        let r = std::panic::catch_unwind(|| harness(&data));
        assert!(r.is_ok(), "{target} harness failed on {}", f.display());
    }
    files.len()
}

#[test]
fn endpoint_corpus() {
    let n = replay("endpoint", synack_sim::fuzz_harness::endpoint);
    assert!(n > 0, "empty endpoint corpus");
}

#[test]
fn reassembly_corpus() {
    let n = replay("reassembly", synack_sim::fuzz_reassembly::reassembly);
    assert!(n > 0, "empty reassembly corpus");
}

#[test]
fn connection_corpus() {
    let n = replay("connection", synack_sim::fuzz_harness::connection);
    assert!(n > 0, "empty connection corpus");
}

/// The wire target's own round-trip checks live in fuzz/fuzz_targets/wire.rs; here its corpus
/// at least goes through `parse_ip` and an endpoint without a panic.
#[test]
fn wire_corpus_through_an_endpoint() {
    let n = replay("wire", |data| {
        let _ = synack_wire::parse_ip(data);
        let mut ep = synack_proto::Endpoint::new(
            synack_sim::fuzz_harness::config(synack_sim::fuzz_harness::SERVER),
            [7; 16],
        );
        ep.handle(synack_proto::Instant::from_secs(1), data);
        let mut buf = vec![0u8; 65536];
        while ep
            .poll_transmit(synack_proto::Instant::from_secs(1), &mut buf)
            .is_some()
        {}
    });
    assert!(n > 0, "empty wire corpus");
}

/// `SYNACK_FUZZ_INPUT=path`: replay one input (a crash artifact, say) through the harness its
/// path names.
#[test]
fn replay_one_input() {
    let Ok(path) = std::env::var("SYNACK_FUZZ_INPUT") else {
        return;
    };
    let data = std::fs::read(&path).expect("read SYNACK_FUZZ_INPUT");
    if path.contains("connection") {
        synack_sim::fuzz_harness::connection(&data);
    } else if path.contains("reassembly") {
        synack_sim::fuzz_reassembly::reassembly(&data);
    } else {
        synack_sim::fuzz_harness::endpoint(&data);
    }
}
