//! `synack`: the command-line face of the synack TCP/IP stack.

mod demo;
mod peer;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "synack",
    version,
    about = "A userspace TCP/IP stack: watch TCP connections, segment by segment"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Two simulated hosts open, use and close a TCP connection; print the ladder diagram.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("synack: {msg}");
            ExitCode::FAILURE
        }
    }
}
