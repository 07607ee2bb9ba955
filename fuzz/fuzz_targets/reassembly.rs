//! Fuzz target: the IP reassembler fed fragments of eight datagrams (cut by a plan or
//! anywhere, duplicated, with conflicting bytes), raw bytes and time steps, under small
//! bounds. The harness and its checks (no panic, bounded memory, every reassembled datagram
//! the concatenation of its fragments) are `synack_sim::fuzz_reassembly::reassembly`, which
//! `cargo test -p synack-sim --test fuzz_corpus` also runs over the committed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| synack_sim::fuzz_reassembly::reassembly(data));
