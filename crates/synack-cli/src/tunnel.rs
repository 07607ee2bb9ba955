//! What `serve`, `connect` and `ping` share: the TUN device, the kernel side's address, and a
//! stack on it (optionally captured to pcap and traced to stderr).

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use synack::pcap::PcapWriter;
use synack::tun::{netns, Tun};
use synack::{Config, Device, Direction, Event, Stack};

/// Options of every command that runs synack on a TUN device.
#[derive(Args, Debug, Clone)]
pub struct TunArgs {
    /// Name of the TUN device to create (needs root or CAP_NET_ADMIN).
    #[arg(long, value_name = "NAME", default_value = "synack0")]
    pub tun: String,
    /// synack's own IPv4 address, behind the device.
    #[arg(long, value_name = "IP", default_value = "10.200.0.2")]
    pub addr: IpAddr,
    /// Address and prefix for the kernel's side of the device (routes the prefix through it).
    #[arg(long, value_name = "CIDR", default_value = "10.200.0.1/24")]
    pub host_addr: String,
    /// Leave the kernel's side unconfigured (only bring the device up).
    #[arg(long)]
    pub no_host_addr: bool,
    /// MTU of the device (default 1500).
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<usize>,
    /// Create the device inside this network namespace (`ip netns add NAME` first).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Write every packet in and out to this pcap file (Wireshark, tshark, tcpdump read it).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print every segment and every state change to stderr.
    #[arg(long)]
    pub trace: bool,
}

/// Create the device, configure the kernel's side, and start a stack on it.
pub fn start_stack(args: &TunArgs) -> Result<Stack, String> {
    let a = args.clone();
    let config = Config {
        local_addrs: vec![args.addr],
        ..Config::default()
    };
    let mut builder = Stack::builder(config);
    if args.trace {
        builder = builder
            .on_event(|now, ev| {
                if let Event::StateChanged {
                    conn,
                    tuple,
                    from,
                    to,
                    cause,
                } = ev
                {
                    eprintln!("{now:>12}  {conn} {tuple}  {from} → {to} ({cause})");
                }
            })
            .on_packet(|now, dir, p| eprintln!("{now:>12}  {}", describe(dir, p)));
    }
    let stack = builder
        .spawn(move || -> io::Result<Box<dyn Device>> {
            if let Some(ns) = &a.netns {
                netns::enter(ns)?;
            }
            let mut tun = Tun::open(&a.tun)?;
            if let Some(mtu) = a.mtu {
                tun.set_mtu(mtu)?;
            }
            tun.configure_host((!a.no_host_addr).then_some(a.host_addr.as_str()))?;
            Ok(match &a.pcap {
                Some(p) => Box::new(PcapWriter::create(tun, p)?),
                None => Box::new(tun),
            })
        })
        .map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                " (creating a TUN device needs root or CAP_NET_ADMIN)"
            } else {
                ""
            };
            format!("{}: {e}{hint}", args.tun)
        })?;
    if !args.no_host_addr {
        eprintln!(
            "synack: {} is up; kernel side {}, synack at {}",
            args.tun, args.host_addr, args.addr
        );
    }
    Ok(stack)
}

/// One line about a datagram: direction, flags, addresses, numbers.
pub fn describe(dir: Direction, p: &[u8]) -> String {
    let arrow = match dir {
        Direction::In => "in ",
        Direction::Out => "out",
    };
    match synack_wire::parse_ipv4_tcp(p) {
        Ok((ip, tcp)) => format!(
            "{arrow} {}:{} > {}:{} [{}] seq={} ack={} win={} len={}",
            ip.src_addr,
            tcp.src_port,
            ip.dst_addr,
            tcp.dst_port,
            tcp.flags.letters(),
            tcp.seq_number,
            tcp.ack_number,
            tcp.window_len,
            tcp.payload.len()
        ),
        Err(e) => {
            let version = p.first().map(|b| b >> 4).unwrap_or(0);
            format!(
                "{arrow} {} bytes, IPv{version}, not parsed as TCP ({e})",
                p.len()
            )
        }
    }
}
