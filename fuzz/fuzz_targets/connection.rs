//! Fuzz target: one established connection fed structured segment sequences (numbers relative
//! to its real ISN/IRS) and user calls. The harness (and its checks) is
//! `synack_sim::fuzz_harness::connection`, which `cargo test -p synack-sim --test fuzz_corpus`
//! also runs over the committed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| synack_sim::fuzz_harness::connection(data));
