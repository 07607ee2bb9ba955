//! `synack bench` in a build without the `bench` feature: the comparison with smoltcp links
//! smoltcp and installs a counting global allocator, so it stays out of the default binary. The
//! subcommand remains (in `--help` too) and says how to get the real one.

use clap::Args;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The real subcommand's options (--quick, --json, --fct, ...), accepted and not used.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _args: Vec<String>,
}

/// How to build the benchmark; also the error `synack bench` ends with in this build.
pub const HOW: &str = "bench is not in this build of synack (it links smoltcp): run it with \
    `cargo run --release -p synack-cli --features bench -- bench --quick`, or install it with \
    `cargo install --path crates/synack-cli --features bench`";

pub fn run(_args: &BenchArgs) -> Result<(), String> {
    Err(HOW.to_string())
}
