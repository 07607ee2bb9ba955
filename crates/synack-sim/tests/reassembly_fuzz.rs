//! The reassembly fuzz harness (`synack_sim::fuzz_reassembly`) on random inputs, on stable:
//! random fragment sets of eight datagrams, with duplicates, conflicting copies, raw bytes,
//! time steps and small table bounds, checked as the fuzz target checks them (no panic,
//! bounded memory, every reassembled datagram the concatenation of its fragments).

use proptest::prelude::*;
use synack_proto::FragmentStats;
use synack_sim::fuzz_reassembly::reassembly_stats;

/// Deterministic inputs (xorshift), so the coverage check below does not depend on luck.
fn input(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

#[test]
fn random_inputs_reach_every_outcome() {
    let mut total = FragmentStats::default();
    for seed in 0..400u64 {
        let s = reassembly_stats(&input(seed, 3000));
        total.received += s.received;
        total.reassembled += s.reassembled;
        total.timeouts += s.timeouts;
        total.overlaps += s.overlaps;
        total.evicted += s.evicted;
        total.invalid += s.invalid;
        total.duplicates += s.duplicates;
    }
    eprintln!("{total:?}");
    // Each path of the reassembler is taken, and checked, many times over.
    assert!(total.reassembled > 1000, "{total:?}");
    for n in [
        total.timeouts,
        total.overlaps,
        total.evicted,
        total.invalid,
        total.duplicates,
    ] {
        assert!(n > 50, "{total:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_fragment_sets_keep_the_harness_checks(data in prop::collection::vec(any::<u8>(), 0..4096)) {
        reassembly_stats(&data);
    }
}
