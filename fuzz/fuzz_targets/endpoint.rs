//! Fuzz target: an Endpoint with a listener and established connections, fed arbitrary
//! packets, time steps and calls. The harness (and its checks) is
//! `synack_sim::fuzz_harness::endpoint`, which `cargo test -p synack-sim --test fuzz_corpus`
//! also runs over the committed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| synack_sim::fuzz_harness::endpoint(data));
