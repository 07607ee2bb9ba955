//! `synack ping`: handshake round-trip times, and a connect scan over port lists. Each probe
//! sends a SYN (the endpoint retransmits it on its RTO until the timeout); a SYN-ACK means the
//! port is open (the connection is then reset at once, so nothing stays half-open on the
//! target), a RST means closed, silence until the timeout means filtered (a SYN-ACK that comes
//! later finds no connection and is answered with a RST too).

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use clap::Args;
use synack::net::TcpStream;
use synack::Stack;

use crate::tunnel::{start_stack, TunArgs};

#[derive(Args, Debug)]
pub struct PingArgs {
    /// Whom to probe: IP:PORTS, where PORTS is a port, a list and ranges (`80,443,8000-8010`);
    /// IPv6 in brackets (`[fd00:5a::1]:22,80`).
    #[arg(value_name = "HOST:PORTS")]
    pub target: String,
    /// Probes per port (default 4 for one port, 1 for several).
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u32>,
    /// Seconds between probes of one port.
    #[arg(
        short = 'i',
        long,
        value_name = "SECS",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub interval: f64,
    /// Seconds to wait for an answer to each probe (the SYN is retransmitted meanwhile: at
    /// 1 s, 3 s, … by the RTO's backoff).
    #[arg(
        short = 'W',
        long,
        value_name = "SECS",
        default_value_t = 2.0,
        allow_negative_numbers = true
    )]
    pub timeout: f64,
    /// Ports probed at the same time.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub parallel: usize,
    #[command(flatten)]
    pub tun: TunArgs,
}

/// `IP:PORTS` → the address and the ports in the order given (duplicates dropped).
pub fn parse_target(s: &str) -> Result<(IpAddr, Vec<u16>), String> {
    let (host, ports) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| format!("{s}: expected [IPv6]:PORTS"))?;
        (h, p)
    } else {
        s.rsplit_once(':')
            .ok_or_else(|| format!("{s}: expected IP:PORTS"))?
    };
    let ip: IpAddr = host
        .parse()
        .map_err(|_| format!("{host}: not an IP address"))?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for part in ports.split(',') {
        let part = part.trim();
        let port = |p: &str| -> Result<u16, String> {
            match p.trim().parse::<u16>() {
                Ok(0) | Err(_) => Err(format!("{p}: not a port (1-65535)")),
                Ok(n) => Ok(n),
            }
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(part)?, port(part)?),
        };
        if lo > hi {
            return Err(format!("{part}: empty range"));
        }
        for p in lo..=hi {
            if seen.insert(p) {
                out.push(p);
            }
        }
    }
    Ok((ip, out))
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Open(Duration),
    Closed(Duration),
    Filtered,
    Error,
}

fn probe(stack: &Stack, target: SocketAddr, timeout: Duration) -> (Outcome, String) {
    let start = Instant::now();
    let result = TcpStream::connect_timeout(stack, &target, timeout);
    let rtt = start.elapsed();
    let ms = rtt.as_secs_f64() * 1000.0;
    match result {
        Ok(conn) => {
            // End the probe with a RST: nothing stays half-open on the target.
            conn.abort();
            (
                Outcome::Open(rtt),
                format!("open (SYN-ACK) time={ms:.3} ms"),
            )
        }
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => (
            Outcome::Closed(rtt),
            format!("closed (RST) time={ms:.3} ms"),
        ),
        Err(e) if e.kind() == ErrorKind::TimedOut => (
            Outcome::Filtered,
            format!("filtered (no answer in {:.1} s)", timeout.as_secs_f64()),
        ),
        Err(e) => (Outcome::Error, format!("error: {e}")),
    }
}

pub fn run(args: &PingArgs) -> Result<(), String> {
    let (ip, ports) = parse_target(&args.target)?;
    let timeout = crate::validate::positive_seconds("--timeout", args.timeout)?;
    let interval = crate::validate::seconds("--interval", args.interval)?;
    args.tun.validate()?;
    let count = args.count.unwrap_or(if ports.len() == 1 { 4 } else { 1 });
    let stack = Arc::new(start_stack(&args.tun)?);
    // Interrupted, the probes in flight are reset at once (nothing to wait for).
    let stopper = crate::stop::Stopper::install(stack.clone(), Duration::ZERO, "ping")?;
    let width = SocketAddr::new(ip, 65535).to_string().len();
    if ports.len() == 1 {
        crate::outln!(
            "SYNACK PING {}: {count} probes",
            SocketAddr::new(ip, ports[0])
        );
    } else {
        crate::outln!(
            "SYNACK PING {ip}: {} ports, {count} probe{} each",
            ports.len(),
            if count == 1 { "" } else { "s" }
        );
    }
    // Ports are probed `parallel` at a time; lines come out in the order the ports were
    // given.
    // One list of probes per port; a worker takes a port and probes it `count` times.
    let per_port: Vec<Vec<(usize, u16, u32)>> = ports
        .iter()
        .enumerate()
        .map(|(i, &p)| (1..=count).map(|seq| (i, p, seq)).collect())
        .collect();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Outcome, String)>();
    let mut outcomes: Vec<Vec<Outcome>> = vec![Vec::new(); ports.len()];
    let (per_port, ports) = (&per_port, &ports);
    std::thread::scope(|s| {
        for _ in 0..args.parallel.clamp(1, ports.len()) {
            let tx = tx.clone();
            let (stack, next, stopper) = (&stack, &next, &stopper);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(jobs) = per_port.get(i) else { return };
                for &(idx, port, seq) in jobs {
                    if stopper.requested() {
                        return;
                    }
                    let (o, text) = probe(stack, SocketAddr::new(ip, port), timeout);
                    let line = if count == 1 && ports.len() > 1 {
                        format!("{:<width$}  {text}", SocketAddr::new(ip, port).to_string())
                    } else {
                        format!("{}: seq={seq} {text}", SocketAddr::new(ip, port))
                    };
                    if tx.send((idx, o, line)).is_err() {
                        return;
                    }
                    if seq < count {
                        std::thread::sleep(interval);
                    }
                }
            });
        }
        drop(tx);
        // Print in port order: hold lines until every earlier port is done.
        let mut pending: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let mut done = vec![0u32; ports.len()];
        let mut printed = 0usize;
        for (idx, o, line) in rx {
            outcomes[idx].push(o);
            done[idx] += 1;
            pending.entry(idx).or_default().push(line);
            while printed < ports.len() && done[printed] == count {
                for l in pending.remove(&printed).unwrap_or_default() {
                    crate::outln!("{l}");
                }
                printed += 1;
            }
        }
        for (_, lines) in pending {
            for l in lines {
                crate::outln!("{l}");
            }
        }
    });
    let all: Vec<Outcome> = outcomes.iter().flatten().copied().collect();
    let open = all.iter().filter(|o| matches!(o, Outcome::Open(_))).count();
    let closed = all
        .iter()
        .filter(|o| matches!(o, Outcome::Closed(_)))
        .count();
    let filtered = all
        .iter()
        .filter(|o| matches!(o, Outcome::Filtered))
        .count();
    let answered = open + closed;
    let rtts: Vec<Duration> = all
        .iter()
        .filter_map(|o| match o {
            Outcome::Open(d) | Outcome::Closed(d) => Some(*d),
            _ => None,
        })
        .collect();
    if ports.len() == 1 {
        let sent = all.len();
        let loss = if sent == 0 {
            0.0
        } else {
            100.0 * (sent - answered) as f64 / sent as f64
        };
        crate::outln!(
            "--- {} synack ping statistics ---",
            SocketAddr::new(ip, ports[0])
        );
        crate::outln!(
            "{sent} probes, {answered} answered ({open} open, {closed} closed), {loss:.0}% loss"
        );
    } else {
        let ports_with =
            |f: fn(&Outcome) -> bool| outcomes.iter().filter(|v| v.iter().any(f)).count();
        crate::outln!("--- {ip} synack ping statistics ---");
        crate::outln!(
            "{} ports: {} open, {} closed, {} filtered ({} probes, {answered} answered, {filtered} unanswered)",
            ports.len(),
            ports_with(|o| matches!(o, Outcome::Open(_))),
            ports_with(|o| matches!(o, Outcome::Closed(_))),
            outcomes
                .iter()
                .filter(|v| !v.is_empty() && v.iter().all(|o| matches!(o, Outcome::Filtered)))
                .count(),
            all.len(),
        );
    }
    if !rtts.is_empty() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let min = rtts.iter().copied().min().unwrap_or_default();
        let max = rtts.iter().copied().max().unwrap_or_default();
        let avg = rtts.iter().sum::<Duration>() / rtts.len() as u32;
        crate::outln!(
            "rtt min/avg/max = {:.3}/{:.3}/{:.3} ms",
            ms(min),
            ms(avg),
            ms(max)
        );
    }
    if stopper.requested() {
        stopper.wait();
        return Err("interrupted".into());
    }
    stack.shutdown(Duration::from_millis(200));
    if answered == 0 {
        return Err("no answer".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists_and_ranges() {
        let (ip, p) = parse_target("10.0.0.1:80,443,8000-8003,80").unwrap();
        assert_eq!(ip.to_string(), "10.0.0.1");
        assert_eq!(p, vec![80, 443, 8000, 8001, 8002, 8003]);
        let (ip, p) = parse_target("[fd00::1]:22").unwrap();
        assert_eq!(ip.to_string(), "fd00::1");
        assert_eq!(p, vec![22]);
        assert!(parse_target("10.0.0.1:0").is_err());
        assert!(parse_target("10.0.0.1:90-80").is_err());
        assert!(parse_target("10.0.0.1").is_err());
        assert!(parse_target("host:80").is_err());
    }
}
