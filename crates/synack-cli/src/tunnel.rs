//! What `serve`, `connect` and `ping` share: the TUN device, the kernel side's address, and a
//! stack on it (optionally captured to pcap and traced to stderr).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use synack::pcap::PcapWriter;
use synack::tun::{netns, Tun};
use synack::{Config, Device, Direction, Event, Stack};
use synack_wire::Packet;

/// Options of every command that runs synack on a TUN device.
#[derive(Args, Debug, Clone)]
pub struct TunArgs {
    /// Name of the TUN device to create (needs root or CAP_NET_ADMIN). Default: the first
    /// free synackN (synack0, synack1, …), numbered by the kernel as it does `tun%d`.
    #[arg(long, value_name = "NAME")]
    pub tun: Option<String>,
    /// synack's own IPv4 address, behind the device.
    #[arg(long, value_name = "IP", default_value = "10.200.0.2")]
    pub addr: IpAddr,
    /// synack's own IPv6 address, behind the device.
    #[arg(long, value_name = "IP", default_value = "fd00:5a::2")]
    pub addr6: IpAddr,
    /// Address and prefix for the kernel's side of the device (routes the prefix through it).
    #[arg(long, value_name = "CIDR", default_value = "10.200.0.1/24")]
    pub host_addr: String,
    /// IPv6 address and prefix for the kernel's side (added with `nodad`; routes the prefix
    /// through the device).
    #[arg(long, value_name = "CIDR", default_value = "fd00:5a::1/64")]
    pub host_addr6: String,
    /// Leave the kernel's side unconfigured (only bring the device up).
    #[arg(long)]
    pub no_host_addr: bool,
    /// Give the kernel's side no IPv6 address (synack still answers on --addr6).
    #[arg(long)]
    pub no_ipv6: bool,
    /// MTU of the device (default 1500).
    #[arg(long, value_name = "BYTES")]
    pub mtu: Option<usize>,
    /// Length of the kernel's queue of datagrams for synack to read (the device's
    /// txqueuelen; the kernel's default for TUN is 500, which drops SYNs and ACKs of busy
    /// servers in bursts).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub txqueuelen: u32,
    /// Create the device inside this network namespace (`ip netns add NAME` first).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Require the kernel's TUN offloads (virtio-net header, TSO out, unsplit 64 KiB
    /// datagrams in): fail where the kernel lacks them. Without this flag they are used when
    /// the kernel has them (several times the throughput at MTU 1500).
    #[arg(long, conflicts_with = "no_offload")]
    pub offload: bool,
    /// Never use the kernel's TUN offloads: one datagram per segment each way.
    #[arg(long)]
    pub no_offload: bool,
    /// Write every packet in and out to this pcap file (Wireshark, tshark, tcpdump read it).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print every segment and every state change to stderr.
    #[arg(long)]
    pub trace: bool,
    /// Serve the connection table for `synack ss` on this Unix socket (default:
    /// /run/synack/PID.sock as root, else $XDG_RUNTIME_DIR/synack/PID.sock).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// No control socket.
    #[arg(long, conflicts_with = "control")]
    pub no_control: bool,
    /// On SIGINT/SIGTERM, give connections this long to finish their closes (FIN) before
    /// resetting what remains; a second Ctrl-C resets at once.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 5.0,
        allow_negative_numbers = true
    )]
    pub grace: f64,
}

impl TunArgs {
    /// The grace period of a signalled shutdown.
    pub fn grace(&self) -> Result<std::time::Duration, String> {
        crate::validate::seconds("--grace", self.grace)
    }

    /// Check what can be checked before the device exists (every command calls this before
    /// [`start_stack`]): the grace period, the MTU against the IP versions in use, and that
    /// the pcap file can be written.
    pub fn validate(&self) -> Result<(), String> {
        self.grace()?;
        crate::validate::mtu(self.mtu, !self.no_ipv6)?;
        if let Some(p) = &self.pcap {
            crate::validate::pcap_path(p)?;
        }
        Ok(())
    }
}

/// The kernel's name pattern for the device when no `--tun` is given: `%d` is the lowest
/// number free in the namespace.
const DEFAULT_TUN: &str = "synack%d";

/// The address part of a `--host-addr` CIDR.
fn cidr_ip(flag: &str, cidr: &str) -> Result<IpAddr, String> {
    let ip = cidr.split_once('/').map_or(cidr, |(ip, _)| ip);
    ip.parse().map_err(|_| {
        format!("{flag}: {cidr:?} is not an address with a prefix (like 10.200.0.1/24)")
    })
}

/// The addresses the kernel's side gets and synack's own, each with the flag that sets it;
/// refused when synack's address is the kernel's own (the kernel would keep every datagram
/// to it and none would reach the device).
fn planned_addrs(args: &TunArgs) -> Result<Vec<(&'static str, IpAddr)>, String> {
    let mut mine = vec![("--addr", args.addr)];
    if !args.no_ipv6 {
        mine.push(("--addr6", args.addr6));
    }
    let mut host = Vec::new();
    if !args.no_host_addr {
        host.push(("--host-addr", cidr_ip("--host-addr", &args.host_addr)?));
        if !args.no_ipv6 {
            host.push(("--host-addr6", cidr_ip("--host-addr6", &args.host_addr6)?));
        }
    }
    for (hf, h) in &host {
        if let Some((mf, _)) = mine.iter().find(|(_, m)| m == h) {
            return Err(format!(
                "{mf} {h} is the kernel's own address ({hf}): synack needs an address of its \
                 own behind the device (e.g. --addr 10.200.0.2 with --host-addr 10.200.0.1/24)"
            ));
        }
    }
    Ok(host.into_iter().chain(mine).collect())
}

/// Refuse addresses that an interface of this thread's namespace already has: the kernel's
/// side would collide with it (`ip addr add` fails, or both devices route the prefix), and
/// the kernel keeps datagrams to one of its own addresses instead of sending them to
/// synack. Another synack in the namespace is the usual holder.
fn check_addrs_free(addrs: &[(&str, IpAddr)]) -> io::Result<()> {
    for (flag, ip) in addrs {
        if let Some(dev) = netns::interface_with_addr(*ip)? {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "{flag} {ip} is already configured on {dev} in this network namespace \
                     (another synack?): choose other --addr/--addr6 and \
                     --host-addr/--host-addr6, or another --netns"
                ),
            ));
        }
    }
    Ok(())
}

/// Create the device, configure the kernel's side, and start a stack on it.
pub fn start_stack(args: &TunArgs) -> Result<Stack, String> {
    // Before anything is created or configured.
    let addrs = planned_addrs(args)?;
    let a = args.clone();
    // The name the kernel gave the device, sent back from the stack thread.
    let (name_tx, name_rx) = std::sync::mpsc::channel::<String>();
    let mut local_addrs = vec![args.addr];
    if !args.no_ipv6 {
        local_addrs.push(args.addr6);
    }
    let config = Config::default().with_local_addrs(local_addrs);
    let mut builder = Stack::builder(config);
    if !args.no_control {
        builder = builder.control_socket(
            args.control
                .clone()
                .unwrap_or_else(synack::control::default_path),
        );
    }
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
                    crate::errln!("{now:>12}  {conn} {tuple}  {from} → {to} ({cause})");
                }
            })
            .on_packet(|now, dir, p| {
                crate::errln!("{now:>12}  {}", describe(dir, p));
                keep_for_ladder(now.as_micros(), p);
            });
    }
    let stack = builder
        .spawn(move || -> io::Result<Box<dyn Device>> {
            if let Some(ns) = &a.netns {
                netns::enter(ns)?;
            }
            check_addrs_free(&addrs)?;
            let name = a.tun.as_deref().unwrap_or(DEFAULT_TUN);
            let mut tun = if a.no_offload {
                Tun::open(name)?
            } else if a.offload {
                Tun::open_offload(name)?
            } else {
                let t = Tun::open_best(name)?;
                if !t.offload() {
                    crate::errln!(
                        "synack: {}: the kernel offers no TUN offloads; running without them \
                         (segments of one MSS each way, slower bulk transfer)",
                        t.name()
                    );
                }
                t
            };
            let _ = name_tx.send(tun.name().to_string());
            if let Some(mtu) = a.mtu {
                tun.set_mtu(mtu)?;
            }
            tun.set_txqueuelen(a.txqueuelen)?;
            let mut host = Vec::new();
            if !a.no_host_addr {
                host.push(a.host_addr.as_str());
                if !a.no_ipv6 {
                    host.push(a.host_addr6.as_str());
                }
            }
            tun.configure_host_addrs(&host)?;
            Ok(match &a.pcap {
                Some(p) => Box::new(PcapWriter::create(tun, p).map_err(|e| {
                    io::Error::new(e.kind(), format!("--pcap {}: {e}", p.display()))
                })?),
                None => Box::new(tun),
            })
        })
        .map_err(|e| {
            let hint = match e.kind() {
                io::ErrorKind::PermissionDenied => {
                    " (creating a TUN device needs root or CAP_NET_ADMIN)"
                }
                io::ErrorKind::ResourceBusy => {
                    "; name another --tun, or leave --tun out to take the first free synackN"
                }
                _ => "",
            };
            format!("{e}{hint}")
        })?;
    let tun = name_rx
        .try_recv()
        .unwrap_or_else(|_| args.tun.clone().unwrap_or_else(|| DEFAULT_TUN.into()));
    if let (true, Some(p)) = (args.trace, stack.control_path()) {
        crate::errln!("synack: control socket {} (synack ss)", p.display());
    }
    if args.no_host_addr {
        crate::errln!("synack: {tun} is up; kernel side unconfigured");
    } else if args.no_ipv6 {
        crate::errln!(
            "synack: {tun} is up; kernel side {}, synack at {}",
            args.host_addr,
            args.addr
        );
    } else {
        crate::errln!(
            "synack: {tun} is up; kernel side {} and {}, synack at {} and {}",
            args.host_addr,
            args.host_addr6,
            args.addr,
            args.addr6
        );
    }
    Ok(stack)
}

/// Packets seen while `--trace` is on, kept (up to [`LADDER_KEEP`]) for the ladder diagram
/// drawn when the command ends.
static LADDER_PACKETS: std::sync::Mutex<Vec<(u64, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());
const LADDER_KEEP: usize = 50_000;

fn keep_for_ladder(micros: u64, packet: &[u8]) {
    if let Ok(mut v) = LADDER_PACKETS.lock() {
        if v.len() < LADDER_KEEP {
            v.push((micros, packet.to_vec()));
        }
    }
}

/// With `--trace`, once the command is done: every connection it saw as a ladder diagram on
/// stderr — the same renderer and state inference as `synack demo` and `synack trace`.
pub fn print_trace_ladders() {
    let packets = LADDER_PACKETS
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();
    if packets.is_empty() {
        return;
    }
    // A classic pcap in memory (LINKTYPE_RAW), read back by the capture tracer.
    let mut pcap =
        Vec::with_capacity(24 + packets.iter().map(|(_, p)| 16 + p.len()).sum::<usize>());
    // Global header: magic, version 2.4, zone, sigfigs, snaplen, link type.
    pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&2u16.to_le_bytes());
    pcap.extend_from_slice(&4u16.to_le_bytes());
    pcap.extend_from_slice(&0i32.to_le_bytes());
    pcap.extend_from_slice(&0u32.to_le_bytes());
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&101u32.to_le_bytes());
    for (micros, p) in &packets {
        let len = p.len() as u32;
        pcap.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        pcap.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        pcap.extend_from_slice(&len.to_le_bytes());
        pcap.extend_from_slice(&len.to_le_bytes());
        pcap.extend_from_slice(p);
    }
    match synack_trace::trace_capture(&pcap, &synack_trace::TraceOptions::default()) {
        Ok(res) => {
            for t in &res.connections {
                let opts = synack_trace::RenderOptions {
                    color: false,
                    ..Default::default()
                };
                crate::errln!("\n{}", synack_trace::render_text(&t.ladder, &opts));
            }
        }
        Err(e) => crate::errln!("synack: --trace ladder: {e}"),
    }
}

/// One line about a datagram: direction, flags, addresses, numbers.
pub fn describe(dir: Direction, p: &[u8]) -> String {
    let arrow = match dir {
        Direction::In => "in ",
        Direction::Out => "out",
    };
    match synack_wire::parse_ip(p) {
        Ok(Packet::Tcp(ip, tcp)) => format!(
            "{arrow} {} > {} [{}] seq={} ack={} win={} len={}",
            SocketAddr::new(ip.src_addr(), tcp.src_port),
            SocketAddr::new(ip.dst_addr(), tcp.dst_port),
            tcp.flags.letters(),
            tcp.seq_number,
            tcp.ack_number,
            tcp.window_len,
            tcp.payload.len()
        ),
        Ok(Packet::Icmpv4(ip, msg)) => format!(
            "{arrow} {} > {} ICMP {}",
            ip.src_addr,
            ip.dst_addr,
            crate::icmp_text::icmpv4(&msg)
        ),
        Ok(Packet::Icmpv6(ip, msg)) => format!(
            "{arrow} {} > {} ICMPv6 {}",
            ip.src_addr,
            ip.dst_addr,
            crate::icmp_text::icmpv6(&msg)
        ),
        Ok(Packet::Other(ip)) => format!(
            "{arrow} {} > {} IPv{} protocol {}, {} bytes",
            ip.src_addr(),
            ip.dst_addr(),
            ip.version(),
            ip.protocol(),
            p.len()
        ),
        Err(e) => {
            let version = p.first().map(|b| b >> 4).unwrap_or(0);
            format!("{arrow} {} bytes, IPv{version}, not parsed ({e})", p.len())
        }
    }
}
