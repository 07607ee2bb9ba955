//! `synack connect`: like `nc`, over synack and a TUN device. Standard input (or a file) goes
//! to the connection, the connection goes to standard output; at the end of the input synack
//! half-closes (FIN) and keeps reading until the peer closes too.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::Args;
use indicatif::ProgressBar;
use synack::net::TcpStream;

use crate::progress;
use crate::tunnel::{start_stack, TunArgs};

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Where to connect, IP:PORT (e.g. 10.200.0.1:80).
    #[arg(value_name = "HOST:PORT")]
    pub target: SocketAddr,
    #[command(flatten)]
    pub tun: TunArgs,
    /// Send this file instead of standard input (a progress bar of the bytes sent is drawn on
    /// standard error when it is a terminal).
    #[arg(long, value_name = "FILE")]
    pub send_file: Option<PathBuf>,
    /// Give up the handshake after this many seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        allow_negative_numbers = true
    )]
    pub timeout: f64,
}

pub fn run(args: &ConnectArgs) -> Result<(), String> {
    // The file's size, for the progress bar (`None`: standard input, no bar).
    let mut size = None;
    let input: Box<dyn Read + Send> = match &args.send_file {
        Some(p) => {
            let f = File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
            size = f.metadata().ok().map(|m| m.len());
            Box::new(f)
        }
        None => Box::new(io::stdin()),
    };
    if args.target.port() == 0 {
        return Err(format!(
            "HOST:PORT {}: port 0 cannot be connected to (1-65535)",
            args.target
        ));
    }
    let timeout = crate::validate::positive_seconds("--timeout", args.timeout)?;
    args.tun.validate()?;
    let grace = args.tun.grace()?;
    let stack = Arc::new(start_stack(&args.tun)?);
    let stopper = crate::stop::Stopper::install(stack.clone(), grace, "connect")?;
    let conn = TcpStream::connect_timeout(&stack, &args.target, timeout)
        .map_err(|e| format!("connect {}: {e}", args.target))?;
    crate::errln!(
        "synack connect: connected {} -> {}",
        conn.local_addr().map_err(|e| e.to_string())?,
        args.target
    );
    let mut tx = conn.try_clone().map_err(|e| e.to_string())?;
    let bar = match size {
        Some(len) => progress::bar("sent", len, progress::Unit::Bytes, false),
        None => ProgressBar::hidden(),
    };
    let sender_bar = bar.clone();
    let sender = thread::spawn(move || -> io::Result<u64> {
        let mut input = input;
        let mut counted = progress::Counting {
            inner: &mut tx,
            bar: &sender_bar,
        };
        let n = io::copy(&mut input, &mut counted)?;
        sender_bar.finish_and_clear();
        tx.shutdown(Shutdown::Write)?; // half-close: the peer sees our FIN, we keep reading
        Ok(n)
    });
    let mut rx = conn.try_clone().map_err(|e| e.to_string())?;
    // Received data goes around the bar (cleared while it is written).
    let received = io::copy(
        &mut rx,
        &mut progress::Suspending {
            inner: io::stdout().lock(),
            bar: &bar,
        },
    );
    bar.finish_and_clear();
    let _ = io::stdout().flush();
    if stopper.requested() {
        // A signal closed the connection (FIN, then the peer's) and stopped the stack.
        stopper.wait();
        return Ok(());
    }
    let received = match received {
        // Standard output closed (`synack connect … | head`): close the connection, then end
        // as SIGPIPE ends `nc` (see pipe.rs), without an error message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            drop((rx, conn));
            stack.shutdown(Duration::from_secs(2));
            crate::pipe::stdout_failed(&e);
        }
        r => r.map_err(|e| format!("receive: {e}"))?,
    };
    // If the input is a terminal still open, do not wait for it: the peer is done.
    if sender.is_finished() {
        match sender.join() {
            Ok(Ok(sent)) => crate::errln!("synack connect: {sent} bytes sent, {received} received"),
            Ok(Err(e)) => return Err(format!("send: {e}")),
            Err(_) => return Err("sender thread panicked".into()),
        }
    }
    drop((rx, conn));
    stack.shutdown(Duration::from_secs(2));
    Ok(())
}
