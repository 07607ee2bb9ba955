//! Row 6: goodput over a simulated 100 Mbit/s link, 10 ms one way (20 ms RTT), 1% random loss
//! in both directions and a drop-tail queue of one round trip's bandwidth-delay product
//! (250 kB) — the link of synack-sim's transfer experiments. The link model is synack-sim's
//! (FIFO serializer, tail drop, loss drawn from its seeded `Rng`), written out here so that
//! both stacks run over literally the same code: synack-sim's own link type is internal to it.
//!
//! Time is virtual (µs), so goodput is exact and reproducible; wall-clock cost is small.
//!
//! The flow-completion-time table ([`crate::fct`]) runs over the same link and hosts, with the
//! loss probability as a parameter and the server sending instead of the client.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use synack_proto::congestion::Algorithm;
use synack_proto::{Config, ConnHandle, Endpoint, Error, Instant};
use synack_sim::rng::{derive_seed, Rng};

use crate::net::{sa, A_IP, B_IP};

/// Link rate, bits per second.
pub const BANDWIDTH: u64 = 100_000_000;
/// One-way delay, µs.
pub const DELAY_US: u64 = 10_000;
/// Loss probability per packet, each direction, of row 6.
pub const LOSS: f64 = 0.01;
/// Drop-tail queue in front of each serializer: one RTT's bandwidth-delay product.
pub const QUEUE: u64 = BANDWIDTH / 8 * 2 * DELAY_US / 1_000_000;
/// Socket buffers, both stacks, both directions (flow control never limits).
pub const BUFFER: usize = 4 * 1024 * 1024;

/// One direction of the link.
struct LinkDir {
    rng: Rng,
    busy_until: u64,
    /// Random loss probability per packet.
    loss: f64,
}

impl LinkDir {
    /// Arrival time of a `len`-byte packet sent at `now`, or `None` if it is dropped.
    fn transmit(&mut self, now: u64, len: usize) -> Option<u64> {
        let len = len as u64;
        let waiting = self.busy_until.saturating_sub(now) * BANDWIDTH / 8 / 1_000_000;
        if waiting > 0 && waiting + len > QUEUE {
            return None; // tail drop
        }
        let tx_us = (len * 8 * 1_000_000).div_ceil(BANDWIDTH);
        self.busy_until = now.max(self.busy_until) + tx_us;
        if self.rng.chance(self.loss) {
            return None;
        }
        Some(self.busy_until + DELAY_US)
    }
}

/// A host in the simulation: a stack plus its application. Once connected, the application
/// sends its `to_send` bytes and reads everything that arrives.
pub(crate) trait Host {
    fn deliver(&mut self, now: u64, pkt: &[u8]);
    /// Run timers and the application; every packet sent goes to `out`.
    fn run(&mut self, now: u64, out: &mut Vec<Vec<u8>>);
    fn next_wakeup(&mut self, now: u64) -> Option<u64>;
    /// Bytes the application has read so far.
    fn received(&self) -> u64;
    /// The stack's own counters for its connection, where it has them.
    fn counters(&self) -> Option<Counters> {
        None
    }
}

/// A connection's loss-recovery counters (synack's `ConnInfo`; smoltcp exposes none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Retransmission-timer expiries (RFC 6298 §5.4).
    pub timeouts: u64,
}

/// Drive a client (host 0, which connects at time 0) and a server (host 1) over the link with
/// random loss `loss` each way until host `reader` has read `total` bytes; returns that moment
/// (µs of virtual time since the connect), or `None` if it did not come within 10 minutes of
/// virtual time.
pub(crate) fn run(
    hosts: &mut [Box<dyn Host>; 2],
    reader: usize,
    total: u64,
    seed: u64,
    loss: f64,
) -> Option<u64> {
    let mut links = [0u64, 1].map(|d| LinkDir {
        rng: Rng::new(derive_seed(seed, &[d])),
        busy_until: 0,
        loss,
    });
    let mut wire: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut payloads: VecDeque<Option<Vec<u8>>> = VecDeque::new();
    let mut first_id = 0u64;
    let mut next_id = 0u64;
    let mut now = 0u64;
    let mut out = Vec::new();
    loop {
        if now > 600_000_000 {
            return None;
        }
        while let Some(&Reverse((at, id, to))) = wire.peek() {
            if at > now {
                break;
            }
            wire.pop();
            let pkt = payloads[(id - first_id) as usize]
                .take()
                .expect("packet once");
            hosts[to].deliver(now, &pkt);
        }
        while payloads.front().is_some_and(Option::is_none) {
            payloads.pop_front();
            first_id += 1;
        }
        for (i, host) in hosts.iter_mut().enumerate() {
            host.run(now, &mut out);
            for pkt in out.drain(..) {
                if let Some(at) = links[i].transmit(now, pkt.len()) {
                    wire.push(Reverse((at, next_id, 1 - i)));
                    payloads.push_back(Some(pkt));
                } else {
                    payloads.push_back(None);
                }
                next_id += 1;
            }
        }
        // The moment the last byte was read, not the next event after it.
        if hosts[reader].received() >= total {
            return Some(now);
        }
        let next = [
            wire.peek().map(|r| r.0 .0),
            hosts[0].next_wakeup(now),
            hosts[1].next_wakeup(now),
        ]
        .into_iter()
        .flatten()
        .min()?;
        now = next.max(now + 1);
    }
}

/// Bytes per second of virtual time for `total` bytes read in `us` µs.
fn goodput(total: u64, us: u64) -> f64 {
    total as f64 / (us.max(1) as f64 / 1e6)
}

// ----- synack ---------------------------------------------------------------------------------

pub(crate) struct SynHost {
    ep: Endpoint,
    conn: Option<ConnHandle>,
    /// Bytes still to send once connected.
    to_send: u64,
    got: u64,
    client: bool,
    buf: Vec<u8>,
}

fn t(now: u64) -> Instant {
    Instant::from_micros(now)
}

impl Host for SynHost {
    fn deliver(&mut self, now: u64, pkt: &[u8]) {
        self.ep.handle(t(now), pkt);
    }

    fn run(&mut self, now: u64, out: &mut Vec<Vec<u8>>) {
        self.ep.handle_timeout(t(now));
        if self.client {
            if self.conn.is_none() {
                let c = self
                    .ep
                    .connect(t(now), sa(A_IP, 40000), sa(B_IP, 80))
                    .unwrap();
                self.conn = Some(c);
            }
        } else if self.conn.is_none() {
            self.conn = self.ep.accept(sa(B_IP, 80));
        }
        if let Some(c) = self.conn {
            while self.to_send > 0 {
                let n = self.to_send.min(self.buf.len() as u64) as usize;
                match self.ep.send(c, &self.buf[..n]) {
                    Ok(n) => self.to_send -= n as u64,
                    // Not yet established (a client's SYN-SENT), or the buffer is full.
                    Err(Error::WouldBlock) | Err(Error::NotConnected) => break,
                    Err(e) => panic!("send: {e}"),
                }
            }
            while let Ok(n @ 1..) = self.ep.recv(c, &mut self.buf) {
                self.got += n as u64;
            }
        }
        while self.ep.poll_event().is_some() {}
        let mut pkt = vec![0u8; 1500];
        while let Some(n) = self.ep.poll_transmit(t(now), &mut pkt) {
            out.push(pkt[..n].to_vec());
        }
    }

    fn next_wakeup(&mut self, _now: u64) -> Option<u64> {
        self.ep.poll_timeout().map(|i| i.as_micros())
    }

    fn received(&self) -> u64 {
        self.got
    }

    fn counters(&self) -> Option<Counters> {
        let i = self.ep.info(self.conn?)?;
        Some(Counters {
            retransmits: i.retransmits,
            timeouts: i.timeouts,
        })
    }
}

impl SynHost {
    /// The client (connects to the server) or the server (listens), with `cfg`'s local address
    /// set to its own; it sends `to_send` bytes once connected.
    pub(crate) fn new(cfg: Config, client: bool, to_send: u64) -> SynHost {
        let ip = if client { A_IP } else { B_IP };
        let cfg = cfg.with_local_addrs(vec![std::net::IpAddr::V4(ip)]);
        let mut ep = Endpoint::new(cfg, if client { [1; 16] } else { [2; 16] });
        if !client {
            ep.listen(sa(B_IP, 80), None).unwrap();
        }
        SynHost {
            ep,
            conn: None,
            to_send,
            got: 0,
            client,
            buf: vec![0x5a; 64 * 1024],
        }
    }
}

/// synack's goodput (bytes/s of virtual time) sending `total` bytes with `cc`, mean over
/// `seeds`.
pub fn synack_goodput(cc: Algorithm, total: u64, seeds: &[u64]) -> Option<f64> {
    let mut sum = 0.0;
    for &seed in seeds {
        let cfg = Config::default()
            .with_send_buffer(BUFFER)
            .with_recv_buffer(BUFFER)
            .with_congestion(cc);
        let mut hosts: [Box<dyn Host>; 2] = [
            Box::new(SynHost::new(cfg.clone(), true, total)),
            Box::new(SynHost::new(cfg, false, 0)),
        ];
        sum += goodput(total, run(&mut hosts, 1, total, seed, LOSS)?);
    }
    Some(sum / seeds.len() as f64)
}

// ----- smoltcp --------------------------------------------------------------------------------

struct Dev {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for Dev {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }
}

pub(crate) struct SmolSimHost {
    iface: Interface,
    sockets: SocketSet<'static>,
    dev: Dev,
    sock: SocketHandle,
    client: bool,
    connected: bool,
    to_send: u64,
    got: u64,
    buf: Vec<u8>,
}

fn st(now: u64) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(now as i64)
}

impl SmolSimHost {
    /// smoltcp with CUBIC and `BUFFER`-byte socket buffers; it sends `to_send` bytes once
    /// connected.
    pub(crate) fn new(ip: std::net::Ipv4Addr, client: bool, to_send: u64) -> SmolSimHost {
        let mut dev = Dev {
            rx: VecDeque::new(),
            tx: Vec::new(),
        };
        let mut iface = Interface::new(IfaceConfig::new(HardwareAddress::Ip), &mut dev, st(0));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(ip), 8)).unwrap());
        let mut sockets = SocketSet::new(Vec::new());
        let mut sock = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; BUFFER]),
            tcp::SocketBuffer::new(vec![0u8; BUFFER]),
        );
        sock.set_congestion_control(tcp::CongestionControl::Cubic);
        if !client {
            sock.listen(80).unwrap();
        }
        let sock = sockets.add(sock);
        SmolSimHost {
            iface,
            sockets,
            dev,
            sock,
            client,
            connected: false,
            to_send,
            got: 0,
            buf: vec![0x5a; 64 * 1024],
        }
    }

    fn app(&mut self) {
        let s = self.sockets.get_mut::<tcp::Socket>(self.sock);
        // Both fail (and stop) before the connection is established.
        while self.to_send > 0 {
            let n = self.to_send.min(self.buf.len() as u64) as usize;
            match s.send_slice(&self.buf[..n]) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.to_send -= n as u64,
            }
        }
        while let Ok(n @ 1..) = s.recv_slice(&mut self.buf) {
            self.got += n as u64;
        }
    }
}

impl Host for SmolSimHost {
    fn deliver(&mut self, _now: u64, pkt: &[u8]) {
        self.dev.rx.push_back(pkt.to_vec());
    }

    fn run(&mut self, now: u64, out: &mut Vec<Vec<u8>>) {
        if self.client && !self.connected {
            let cx = self.iface.context();
            self.sockets
                .get_mut::<tcp::Socket>(self.sock)
                .connect(cx, (IpAddress::Ipv4(B_IP), 80), 40000)
                .unwrap();
            self.connected = true;
        }
        self.app();
        self.iface.poll(st(now), &mut self.dev, &mut self.sockets);
        self.app();
        self.iface.poll(st(now), &mut self.dev, &mut self.sockets);
        out.append(&mut self.dev.tx);
    }

    fn next_wakeup(&mut self, now: u64) -> Option<u64> {
        self.iface
            .poll_at(st(now), &self.sockets)
            .map(|i| i.total_micros().max(0) as u64)
    }

    fn received(&self) -> u64 {
        self.got
    }
}

/// smoltcp's goodput with CUBIC over the same link, mean over `seeds`.
pub fn smoltcp_goodput(total: u64, seeds: &[u64]) -> Option<f64> {
    let mut sum = 0.0;
    for &seed in seeds {
        let mut hosts: [Box<dyn Host>; 2] = [
            Box::new(SmolSimHost::new(A_IP, true, total)),
            Box::new(SmolSimHost::new(B_IP, false, 0)),
        ];
        sum += goodput(total, run(&mut hosts, 1, total, seed, LOSS)?);
    }
    Some(sum / seeds.len() as f64)
}
