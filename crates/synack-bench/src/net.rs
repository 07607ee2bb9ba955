//! The in-memory link both stacks run over: two hosts, one queue of IP packets per direction,
//! packet buffers recycled through a pool (so neither stack pays for allocation the other does
//! not), the same MTU and a virtual clock that advances 1 µs per round and jumps to the next
//! timer when nothing moves.
//!
//! synack: two [`Endpoint`]s; `poll_transmit` writes into a pooled buffer, the peer's `handle`
//! reads it. smoltcp: two [`Interface`]s, each polled with a device whose receive queue is the
//! other's transmit queue. Checksums are computed and verified on both sides (smoltcp's own
//! `Loopback` skips them; synack always does them, so smoltcp does them here too).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use synack_proto::{Config, Duration, Endpoint, Instant};

/// Client and server addresses (both stacks).
pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// One packet in flight: a pooled buffer of MTU bytes and the length used.
struct Pkt {
    buf: Vec<u8>,
    len: usize,
}

/// One direction of the link.
#[derive(Default)]
struct Queue {
    pkts: VecDeque<Pkt>,
    free: Vec<Vec<u8>>,
}

impl Queue {
    fn take_buf(&mut self, mtu: usize) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0u8; mtu])
    }
}

/// The synack configuration the benches use: `mtu` sets the MSS, everything else is the
/// default (window scaling, timestamps, SACK, CUBIC, delayed ACK 40 ms, Nagle on).
pub fn synack_config(mtu: usize, local: Option<Ipv4Addr>) -> Config {
    Config::default()
        .with_local_addrs(local.map(IpAddr::V4).into_iter().collect())
        .with_mss((mtu - 40).min(65495) as u16)
}

/// Two synack endpoints joined by the in-memory link.
pub struct SynNet {
    pub a: Endpoint,
    pub b: Endpoint,
    pub now: Instant,
    mtu: usize,
    a2b: Queue,
    b2a: Queue,
    /// Packets carried so far.
    pub packets: u64,
}

impl SynNet {
    pub fn new(mtu: usize, a: Config, b: Config) -> SynNet {
        SynNet {
            a: Endpoint::new(a, [1; 16]),
            b: Endpoint::new(b, [2; 16]),
            now: Instant::ZERO,
            mtu,
            a2b: Queue::default(),
            b2a: Queue::default(),
            packets: 0,
        }
    }

    /// One round: everything A wants to send crosses to B, then everything B wants to send
    /// crosses to A; events are drained. Returns the packets moved.
    pub fn pump(&mut self) -> usize {
        self.now += Duration::from_micros(1);
        let moved = transfer(&mut self.a, &mut self.b, &mut self.a2b, self.now, self.mtu)
            + transfer(&mut self.b, &mut self.a, &mut self.b2a, self.now, self.mtu);
        while self.a.poll_event().is_some() {}
        while self.b.poll_event().is_some() {}
        self.packets += moved as u64;
        moved
    }

    /// A round; when nothing moved, jump the clock to the next timer and run it. Returns
    /// false when nothing moved and no timer is pending.
    pub fn step(&mut self) -> bool {
        if self.pump() > 0 {
            return true;
        }
        let next = match (self.a.poll_timeout(), self.b.poll_timeout()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        match next {
            Some(t) => {
                self.now = self.now.max(t);
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                true
            }
            None => false,
        }
    }

    /// Pump until a round moves nothing (timers are not run).
    pub fn settle(&mut self) {
        while self.pump() > 0 {}
    }
}

fn transfer(
    from: &mut Endpoint,
    to: &mut Endpoint,
    q: &mut Queue,
    now: Instant,
    mtu: usize,
) -> usize {
    loop {
        let mut buf = q.take_buf(mtu);
        match from.poll_transmit(now, &mut buf) {
            Some(len) => q.pkts.push_back(Pkt { buf, len }),
            None => {
                q.free.push(buf);
                break;
            }
        }
    }
    let n = q.pkts.len();
    while let Some(p) = q.pkts.pop_front() {
        // The receiver may keep the buffer until its text is read (Endpoint::handle_owned);
        // buffers come back to this direction's pool either way.
        if let Some(buf) = to.handle_owned(now, p.buf, p.len) {
            q.free.push(buf);
        }
    }
    while let Some(buf) = to.reclaim() {
        q.free.push(buf);
    }
    n
}

// ----- smoltcp ------------------------------------------------------------------------------

/// One smoltcp host: an interface and its sockets.
pub struct SmolHost {
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
}

/// The device a host is polled with: it receives from one queue and transmits into the other.
struct End<'q> {
    rx: &'q mut Queue,
    tx: &'q mut Queue,
    mtu: usize,
}

struct RxToken<'q> {
    pkt: Pkt,
    free: &'q mut Vec<Vec<u8>>,
}

struct TxToken<'q> {
    q: &'q mut Queue,
    mtu: usize,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.pkt.buf[..self.pkt.len]);
        self.free.push(self.pkt.buf);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.q.take_buf(self.mtu);
        let r = f(&mut buf[..len]);
        self.q.pkts.push_back(Pkt { buf, len });
        r
    }
}

impl Device for End<'_> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }

    fn receive(
        &mut self,
        _now: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let pkt = self.rx.pkts.pop_front()?;
        Some((
            RxToken {
                pkt,
                free: &mut self.rx.free,
            },
            TxToken {
                q: self.tx,
                mtu: self.mtu,
            },
        ))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(TxToken {
            q: self.tx,
            mtu: self.mtu,
        })
    }
}

/// Two smoltcp hosts joined by the in-memory link.
pub struct SmolNet {
    pub a: SmolHost,
    pub b: SmolHost,
    /// Virtual time, µs.
    pub now: i64,
    mtu: usize,
    a2b: Queue,
    b2a: Queue,
    pub packets: u64,
}

fn smol_host(ip: Ipv4Addr, mtu: usize, q1: &mut Queue, q2: &mut Queue) -> SmolHost {
    let mut dev = End {
        rx: q1,
        tx: q2,
        mtu,
    };
    let mut iface = Interface::new(
        IfaceConfig::new(HardwareAddress::Ip),
        &mut dev,
        smoltcp::time::Instant::ZERO,
    );
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv4(ip), 8))
            .expect("one address fits");
    });
    SmolHost {
        iface,
        sockets: SocketSet::new(Vec::new()),
    }
}

/// A smoltcp TCP socket with `rx` and `tx` bytes of buffer.
pub fn smol_socket(rx: usize, tx: usize) -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; rx]),
        tcp::SocketBuffer::new(vec![0u8; tx]),
    )
}

impl SmolNet {
    pub fn new(mtu: usize) -> SmolNet {
        let (mut a2b, mut b2a) = (Queue::default(), Queue::default());
        let a = smol_host(A_IP, mtu, &mut b2a, &mut a2b);
        let b = smol_host(B_IP, mtu, &mut a2b, &mut b2a);
        SmolNet {
            a,
            b,
            now: 0,
            mtu,
            a2b,
            b2a,
            packets: 0,
        }
    }

    /// One round: A is polled (takes what B sent, sends), then B. Returns the packets moved.
    pub fn pump(&mut self) -> usize {
        self.now += 1;
        let now = smoltcp::time::Instant::from_micros(self.now);
        let mut dev = End {
            rx: &mut self.b2a,
            tx: &mut self.a2b,
            mtu: self.mtu,
        };
        self.a.iface.poll(now, &mut dev, &mut self.a.sockets);
        let sent_a = self.a2b.pkts.len();
        let mut dev = End {
            rx: &mut self.a2b,
            tx: &mut self.b2a,
            mtu: self.mtu,
        };
        self.b.iface.poll(now, &mut dev, &mut self.b.sockets);
        // Count each packet once, when it is sent: what A sent plus what B sent.
        let moved = sent_a + self.b2a.pkts.len();
        self.packets += moved as u64;
        moved
    }

    /// A round; when nothing moved, jump to the earliest `poll_at`. False when idle.
    pub fn step(&mut self) -> bool {
        if self.pump() > 0 {
            return true;
        }
        let now = smoltcp::time::Instant::from_micros(self.now);
        let next = [
            self.a.iface.poll_at(now, &self.a.sockets),
            self.b.iface.poll_at(now, &self.b.sockets),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(t) => {
                self.now = self.now.max(t.total_micros() - 1);
                true
            }
            None => false,
        }
    }

    pub fn settle(&mut self) {
        while self.pump() > 0 {}
    }

    pub fn sock_a(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.a.sockets.get_mut::<tcp::Socket>(h)
    }

    pub fn sock_b(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.b.sockets.get_mut::<tcp::Socket>(h)
    }

    /// Connect socket `c` of A from `local_port` to B:`port`.
    pub fn connect(&mut self, c: SocketHandle, local_port: u16, port: u16) {
        let cx = self.a.iface.context();
        self.a
            .sockets
            .get_mut::<tcp::Socket>(c)
            .connect(cx, (IpAddress::Ipv4(B_IP), port), local_port)
            .expect("connect");
    }
}

/// `ip:port` for synack calls.
pub fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}
