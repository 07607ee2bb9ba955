//! Replays the fuzz seed corpus (fuzz/corpus/wire/) through the parser, and
//! (ignored test) regenerates the seed files from `common::samples()`.

mod common;

use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/wire")
}

#[test]
fn replay_corpus() {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no corpus at {}", dir.display());
        return;
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read corpus file");
        let _ = synack_wire::parse_ipv4_tcp(&bytes);
        let _ = synack_wire::TcpOptions::parse(&bytes);
        for item in synack_wire::TcpOptionIter::new(&bytes) {
            let _ = item;
        }
        n += 1;
    }
    eprintln!("replayed {n} corpus files");
}

/// Run with `cargo test -p synack-wire --test corpus -- --ignored` to
/// rewrite the seed files.
#[test]
#[ignore]
fn regenerate_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in common::samples() {
        std::fs::write(dir.join(format!("seed_{name}")), bytes).unwrap();
    }
}
