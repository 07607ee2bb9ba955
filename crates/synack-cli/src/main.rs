//! `synack`: the command-line face of the synack TCP/IP stack.

#[cfg(feature = "bench")]
mod bench;
#[cfg(not(feature = "bench"))]
#[path = "bench_absent.rs"]
mod bench;
mod connect;
mod demo;
mod icmp_text;
mod packetdrill;
mod peer;
mod ping;
mod pipe;
mod progress;
mod serve;
mod serve_files;
mod soak;
mod ss;
mod ss_find;
mod ss_summary;
mod stop;
mod term;
mod trace_cmd;
mod tunnel;
mod validate;

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
    /// Serve TCP (echo, discard or HTTP files) from synack on a TUN device.
    Serve(serve::ServeArgs),
    /// Connect to HOST:PORT from synack on a TUN device, like nc: stdin to it, it to stdout.
    Connect(connect::ConnectArgs),
    /// Measure handshake round trips to HOST:PORT (open, closed or filtered).
    Ping(ping::PingArgs),
    /// Show the connections of running synack processes (their control sockets), like
    /// `ss -tin`.
    Ss(ss::SsArgs),
    /// Run N random simulation scenarios (loss, duplication, reordering, corruption, every
    /// close style) and check every invariant.
    Soak(soak::SoakArgs),
    /// Run packetdrill scripts against synack in virtual time (or regenerate CONFORMANCE.md).
    Packetdrill(packetdrill::PacketdrillArgs),
    /// Draw every TCP connection in a pcap/pcapng file as a ladder with both sides' states.
    Trace(trace_cmd::TraceArgs),
    /// Benchmark synack against smoltcp on the same links; print the table (or --json).
    #[cfg_attr(
        not(feature = "bench"),
        command(
            about = "Benchmark synack against smoltcp (not in this build: needs the `bench` feature)",
            after_help = bench::HOW
        )
    )]
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A closed pipe ends the commands that only print as it ends `cat` (SIGPIPE, status 141),
    // not with a panic; serve/connect/ping keep SIGPIPE ignored for their control socket
    // (see pipe.rs).
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::Connect(_) | Command::Ping(_)
    ) {
        pipe::default_sigpipe();
    }
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Connect(args) => connect::run(&args),
        Command::Ping(args) => ping::run(&args),
        Command::Ss(args) => ss::run(&args),
        Command::Soak(args) => soak::run(&args),
        Command::Packetdrill(args) => packetdrill::run(&args),
        Command::Trace(args) => trace_cmd::run(&args),
        Command::Bench(args) => bench::run(&args),
    };
    // serve/connect/ping --trace: the ladder of every connection seen, once it is over.
    tunnel::print_trace_ladders();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            crate::errln!("synack: {msg}");
            ExitCode::FAILURE
        }
    }
}
