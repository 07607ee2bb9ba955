//! `synack ping`: handshake round-trip times. Each probe sends a SYN; a SYN-ACK means the port
//! is open (the connection is then reset at once), a RST means closed, silence until the
//! timeout means filtered.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Args;
use synack::net::TcpStream;

use crate::tunnel::{start_stack, TunArgs};

#[derive(Args, Debug)]
pub struct PingArgs {
    /// Whom to probe, IP:PORT.
    #[arg(value_name = "HOST:PORT")]
    pub target: SocketAddr,
    /// Number of probes.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 4)]
    pub count: u32,
    /// Seconds between probes.
    #[arg(short = 'i', long, value_name = "SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// Seconds to wait for an answer to each probe.
    #[arg(short = 'W', long, value_name = "SECS", default_value_t = 2.0)]
    pub timeout: f64,
    #[command(flatten)]
    pub tun: TunArgs,
}

pub fn run(args: &PingArgs) -> Result<(), String> {
    let stack = start_stack(&args.tun)?;
    let timeout = Duration::try_from_secs_f64(args.timeout).map_err(|e| e.to_string())?;
    let interval = Duration::try_from_secs_f64(args.interval).map_err(|e| e.to_string())?;
    println!("SYNACK PING {}: {} probes", args.target, args.count);
    let mut rtts = Vec::new();
    let (mut open, mut closed) = (0u32, 0u32);
    for seq in 1..=args.count {
        let start = Instant::now();
        let result = TcpStream::connect_timeout(&stack, &args.target, timeout);
        let rtt = start.elapsed();
        let ms = rtt.as_secs_f64() * 1000.0;
        match result {
            Ok(conn) => {
                open += 1;
                rtts.push(rtt);
                println!("{}: seq={seq} open (SYN-ACK) time={ms:.3} ms", args.target);
                conn.abort();
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                closed += 1;
                rtts.push(rtt);
                println!("{}: seq={seq} closed (RST) time={ms:.3} ms", args.target);
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                println!(
                    "{}: seq={seq} no answer in {:.1} s (filtered)",
                    args.target, args.timeout
                );
            }
            Err(e) => println!("{}: seq={seq} error: {e}", args.target),
        }
        if seq < args.count {
            std::thread::sleep(interval);
        }
    }
    let answered = open + closed;
    let loss = if args.count == 0 {
        0.0
    } else {
        100.0 * f64::from(args.count - answered) / f64::from(args.count)
    };
    println!("--- {} synack ping statistics ---", args.target);
    println!(
        "{} probes, {answered} answered ({open} open, {closed} closed), {loss:.0}% loss",
        args.count
    );
    if !rtts.is_empty() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let min = rtts.iter().copied().min().unwrap_or_default();
        let max = rtts.iter().copied().max().unwrap_or_default();
        let avg = rtts.iter().sum::<Duration>() / rtts.len() as u32;
        println!(
            "rtt min/avg/max = {:.3}/{:.3}/{:.3} ms",
            ms(min),
            ms(avg),
            ms(max)
        );
    }
    stack.shutdown(Duration::from_millis(200));
    if answered == 0 {
        return Err("no answer".into());
    }
    Ok(())
}
