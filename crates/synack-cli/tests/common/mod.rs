//! What several CLI test files share.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

/// Run the `synack` binary with `args`, stdin closed, and collect its output.
pub fn synack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run synack")
}
