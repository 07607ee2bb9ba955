//! A two-endpoint harness for scenario tests (the idea of quinn-proto's tests/util.rs): the
//! test moves every segment by hand, so it can look at each one, drop it, or inject its own.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack_proto::{Config, ConnHandle, Duration, Endpoint, Event, Instant, State};
use synack_wire::{IpRepr, Ipv4Repr, Ipv6Repr, TcpFlags, TcpOptions, TcpRepr};

pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

pub fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

/// A segment as seen on the wire, decoded.
#[derive(Clone, Debug)]
pub struct Seg {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub wnd: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
    pub raw: Vec<u8>,
}

impl Seg {
    pub fn parse(raw: &[u8]) -> Seg {
        let synack_wire::Packet::Tcp(ip, tcp) =
            synack_wire::parse_ip(raw).expect("endpoint emitted a valid packet")
        else {
            panic!("not a TCP segment: {raw:?}");
        };
        Seg {
            src: SocketAddr::new(ip.src_addr(), tcp.src_port),
            dst: SocketAddr::new(ip.dst_addr(), tcp.dst_port),
            flags: tcp.flags,
            seq: tcp.seq_number,
            ack: tcp.ack_number,
            wnd: tcp.window_len,
            options: tcp.options,
            payload: tcp.payload.to_vec(),
            raw: raw.to_vec(),
        }
    }

    /// packetdrill letters: "S", "S.", ".", "P.", "F.", "R", "R."
    pub fn flags(&self) -> String {
        self.flags.letters()
    }

    pub fn len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags.contains(TcpFlags::SYN))
            + u32::from(self.flags.contains(TcpFlags::FIN))
    }
}

/// Build a raw IPv4/TCP packet, for injecting segments a test invents.
#[allow(clippy::too_many_arguments)]
pub fn packet(
    src: SocketAddr,
    dst: SocketAddr,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    wnd: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq_number: seq,
        ack_number: ack,
        flags,
        window_len: wnd,
        urgent_pointer: 0,
        options,
        payload,
    };
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => IpRepr::V4(Ipv4Repr {
            src_addr: s,
            dst_addr: d,
            protocol: 6,
            payload_len: tcp.buffer_len(),
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0,
        }),
        (IpAddr::V6(s), IpAddr::V6(d)) => IpRepr::V6(Ipv6Repr {
            src_addr: s,
            dst_addr: d,
            next_header: 6,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
            traffic_class: 0,
        }),
        _ => panic!("mixed address families"),
    };
    let mut buf = vec![0u8; 40 + tcp.buffer_len()];
    let n = synack_wire::emit_ip_tcp(&ip, &tcp, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A segment from the peer of connection `h` on `ep` (its tuple reversed), for injection.
#[allow(clippy::too_many_arguments)]
pub fn from_peer(
    ep: &Endpoint,
    h: ConnHandle,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    wnd: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let t = ep.tuple(h).expect("a live connection");
    packet(t.remote, t.local, flags, seq, ack, wnd, options, payload)
}

/// A bare RST from the peer of connection `h` with sequence number `seq`.
pub fn peer_rst(ep: &Endpoint, h: ConnHandle, seq: u32) -> Vec<u8> {
    from_peer(ep, h, TcpFlags::RST, seq, 0, 0, TcpOptions::default(), b"")
}

/// RFC 9293 alone: no window scaling, timestamps or SACK, every segment ACKed at once. The
/// scenario tests of the core use it so each segment on the wire is exactly the RFC's.
pub fn config(ip: Ipv4Addr) -> Config {
    Config::default()
        .with_local_addrs(vec![IpAddr::V4(ip)])
        .with_window_scaling(false)
        .with_timestamps(false)
        .with_sack(false)
        .with_delayed_ack(None)
}

/// The defaults: window scaling, timestamps, SACK, delayed ACK; and every in-order segment
/// kept in its packet ([`Pair::deliver`] hands packets over with `handle_owned`), which
/// changes nothing on the wire.
pub fn modern_config(ip: Ipv4Addr) -> Config {
    Config::default()
        .with_local_addrs(vec![IpAddr::V4(ip)])
        .with_keep_packets_min(1)
}

/// Side selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

pub struct Pair {
    pub now: Instant,
    pub a: Endpoint,
    pub b: Endpoint,
    pub a_events: Vec<Event>,
    pub b_events: Vec<Event>,
    /// Every segment delivered or dropped by `exchange`, in order, with the sender.
    pub wire: Vec<(Side, Seg, bool)>,
}

impl Pair {
    pub fn new() -> Pair {
        Pair::with_configs(config(A_IP), config(B_IP))
    }

    pub fn modern() -> Pair {
        Pair::with_configs(modern_config(A_IP), modern_config(B_IP))
    }

    pub fn with_configs(a: Config, b: Config) -> Pair {
        Pair {
            now: Instant::ZERO,
            a: Endpoint::new(a, [1; 16]),
            b: Endpoint::new(b, [2; 16]),
            a_events: Vec::new(),
            b_events: Vec::new(),
            wire: Vec::new(),
        }
    }

    pub fn ep(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Drain the segments `side` wants to send now.
    pub fn out(&mut self, side: Side) -> Vec<Seg> {
        let now = self.now;
        let mut buf = vec![0u8; 65536];
        let mut v = Vec::new();
        while let Some(n) = self.ep(side).poll_transmit(now, &mut buf) {
            v.push(Seg::parse(&buf[..n]));
        }
        self.collect_events();
        v
    }

    /// Exactly one segment from `side`; panics otherwise.
    pub fn one(&mut self, side: Side) -> Seg {
        let v = self.out(side);
        assert_eq!(
            v.len(),
            1,
            "expected exactly one segment from {side:?}, got {v:#?}"
        );
        v.into_iter().next().unwrap()
    }

    /// Deliver a raw packet to `side`, handing it over (`handle_owned`): with
    /// `keep_packets_min` low enough, its text may stay in it until read.
    pub fn deliver(&mut self, side: Side, raw: &[u8]) {
        let now = self.now;
        let ep = self.ep(side);
        drop(ep.handle_owned(now, raw.to_vec(), raw.len()));
        while ep.reclaim().is_some() {}
        self.collect_events();
    }

    pub fn collect_events(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    /// Move segments both ways until neither side has anything to send; `drop` decides per
    /// segment whether the network loses it. Returns the segments that crossed, in order.
    pub fn exchange_with(&mut self, mut drop: impl FnMut(Side, &Seg) -> bool) -> Vec<(Side, Seg)> {
        let mut crossed = Vec::new();
        loop {
            let mut moved = false;
            for side in [Side::A, Side::B] {
                for seg in self.out(side) {
                    moved = true;
                    let lost = drop(side, &seg);
                    self.wire.push((side, seg.clone(), lost));
                    if !lost {
                        let to = if side == Side::A { Side::B } else { Side::A };
                        self.deliver(to, &seg.raw);
                        crossed.push((side, seg));
                    }
                }
            }
            if !moved {
                return crossed;
            }
        }
    }

    pub fn exchange(&mut self) -> Vec<(Side, Seg)> {
        self.exchange_with(|_, _| false)
    }

    /// The earliest deadline of either side.
    pub fn next_timeout(&mut self) -> Option<Instant> {
        match (self.a.poll_timeout(), self.b.poll_timeout()) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        }
    }

    /// Jump the clock to `t` and run the timers due.
    pub fn advance_to(&mut self, t: Instant) {
        assert!(t >= self.now);
        self.now = t;
        self.a.handle_timeout(t);
        self.b.handle_timeout(t);
        self.collect_events();
    }

    pub fn advance(&mut self, d: Duration) {
        let t = self.now + d;
        self.advance_to(t);
    }

    /// Jump to the next deadline; returns it.
    pub fn fire_next_timeout(&mut self) -> Instant {
        let t = self.next_timeout().expect("a timer is pending");
        self.advance_to(t);
        t
    }

    /// Run the whole thing (exchange, timers) until nothing is pending; no loss.
    pub fn run_until_quiet(&mut self, limit: Instant) {
        loop {
            self.exchange();
            match self.next_timeout() {
                Some(t) if t <= limit => self.advance_to(t),
                _ => return,
            }
        }
    }

    pub fn state(&self, side: Side, h: ConnHandle) -> Option<State> {
        match side {
            Side::A => self.a.state(h),
            Side::B => self.b.state(h),
        }
    }

    /// The state transitions reported on one side, as (from, to) pairs.
    pub fn transitions(&self, side: Side) -> Vec<(State, State)> {
        let evs = if side == Side::A {
            &self.a_events
        } else {
            &self.b_events
        };
        evs.iter()
            .filter_map(|e| match e {
                Event::StateChanged { from, to, .. } => Some((*from, *to)),
                _ => None,
            })
            .collect()
    }

    pub fn events(&self, side: Side) -> &[Event] {
        if side == Side::A {
            &self.a_events
        } else {
            &self.b_events
        }
    }

    /// A: connect to B:80 (B listening); returns (client handle, server handle) after the
    /// three-way handshake.
    pub fn establish(&mut self) -> (ConnHandle, ConnHandle) {
        self.b.listen(addr(B_IP, 80), None).unwrap();
        let c = self
            .a
            .connect(self.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
        self.exchange();
        let s = self
            .b
            .accept(addr(B_IP, 80))
            .expect("an established connection to accept");
        assert_eq!(self.a.state(c), Some(State::Established));
        assert_eq!(self.b.state(s), Some(State::Established));
        (c, s)
    }
}

pub fn read_all(ep: &mut Endpoint, h: ConnHandle) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match ep.recv(h, &mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// The ISN of the peer a test plays by hand ([`connect_to_hand_peer`]).
pub const HAND_PEER_ISN: u32 = 1_000_000;

/// A (synack) connects to B:80, a peer the test plays by hand: the test answers A's SYN with
/// a SYN-ACK `<SEQ=HAND_PEER_ISN>` carrying window `wnd` and `options`, and takes A's ACK.
/// Returns A's handle and A's ISS.
pub fn connect_to_hand_peer(p: &mut Pair, wnd: u16, options: TcpOptions) -> (ConnHandle, u32) {
    let me = addr(A_IP, 40000);
    let peer = addr(B_IP, 80);
    let c = p.a.connect(p.now, me, peer).unwrap();
    let syn = p.one(Side::A);
    assert_eq!(syn.flags(), "S");
    let iss = syn.seq;
    let syn_ack = packet(
        peer,
        me,
        TcpFlags::SYN | TcpFlags::ACK,
        HAND_PEER_ISN,
        iss.wrapping_add(1),
        wnd,
        options,
        b"",
    );
    p.deliver(Side::A, &syn_ack);
    let ack = p.one(Side::A);
    assert_eq!(
        (ack.flags().as_str(), ack.seq, ack.ack),
        (".", iss.wrapping_add(1), HAND_PEER_ISN.wrapping_add(1))
    );
    assert_eq!(p.a.state(c), Some(State::Established));
    (c, iss)
}

/// An ACK from the hand peer of [`connect_to_hand_peer`]: `<SEQ=HAND_PEER_ISN+1><ACK=ack>`
/// with window field `wnd`.
pub fn hand_peer_ack(ack: u32, wnd: u16) -> Vec<u8> {
    packet(
        addr(B_IP, 80),
        addr(A_IP, 40000),
        TcpFlags::ACK,
        HAND_PEER_ISN.wrapping_add(1),
        ack,
        wnd,
        TcpOptions::default(),
        b"",
    )
}
