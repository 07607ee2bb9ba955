//! Fuzz harnesses shared by the cargo-fuzz targets (`fuzz/fuzz_targets/endpoint.rs`,
//! `fuzz/fuzz_targets/connection.rs`) and the corpus replay test (`tests/fuzz_corpus.rs`), so
//! `cargo test` on stable replays every committed corpus file through exactly the logic the
//! fuzzer ran.
//!
//! Both harnesses build their starting point deterministically: two endpoints (client
//! 10.0.0.1, server 10.0.0.2) complete real handshakes in-process, then the fuzzer's bytes —
//! decoded with [`arbitrary::Unstructured`] into a list of operations — drive the endpoint
//! under test. Every check is an `assert!`, so a violation is a crash the fuzzer saves.
//!
//! - [`endpoint`]: a server with a listener (backlog [`BACKLOG`]) and [`INITIAL_CONNS`]
//!   established connections is fed raw packets, crafted TCP segments (on the known 4-tuples
//!   or random ones, with correct checksums, sometimes with one bit flipped), ICMP errors
//!   quoting its connections, time steps, `handle_timeout`, `poll_transmit`, `poll_event`,
//!   user calls, and real traffic with the client, interleaved. Checks: no panic;
//!   `connection_count()` stays within `INITIAL_CONNS + accepted + 2 · BACKLOG` (SYN queue
//!   plus accept queue); every packet it emits parses with [`synack_wire::parse_ip`] and comes
//!   from its own address.
//! - [`connection`]: one established connection (the active or the passive side) is fed
//!   structured segments whose sequence and acknowledgment numbers are offsets from its real
//!   RCV.NXT / SND.UNA / SND.NXT (so they often land in the window), with arbitrary flags,
//!   windows, options (timestamps near the last one, SACK blocks near SND.UNA) and payloads,
//!   plus SEND/RECEIVE/SHUTDOWN/CLOSE/ABORT. The peer's payload byte at sequence number `s` is
//!   always `pattern(PEER_SEED, s − IRS − 1)`, and ours is `pattern(OUR_SEED, offset)`, so the
//!   harness checks data integrity both ways: every byte RECEIVE returns is the peer's byte at
//!   that stream offset, and every data byte the connection emits is the byte the application
//!   sent at that offset, never beyond what it sent. Also: emitted packets parse and carry the
//!   connection's 4-tuple; SND.UNA ≤ SND.NXT; buffers stay within their configured sizes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use arbitrary::{Result, Unstructured};
use synack_proto::{Config, ConnHandle, Duration, Endpoint, Event, FourTuple, Instant, SeqNum};
use synack_wire::{
    emit_icmpv4, emit_ipv4_tcp, parse_ip, Icmpv4Message, Ipv4Repr, Packet, SackBlocks, TcpFlags,
    TcpOptions, TcpRepr, IPPROTO_ICMP, IPPROTO_TCP,
};

use crate::apps::pattern;
use crate::rng::mix64;

/// [`pattern`]`(seed, offset + i)` for every `i`, one hash per 8 bytes.
fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut word = (u64::MAX, 0u64);
    for (i, b) in buf.iter_mut().enumerate() {
        let off = offset + i as u64;
        if word.0 != off / 8 {
            word = (off / 8, mix64(seed ^ mix64(off / 8)));
        }
        *b = (word.1 >> ((off % 8) * 8)) as u8;
    }
}

/// Client address in the harnesses.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Server address in the harnesses.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The server's listening port.
pub const PORT: u16 = 80;
/// Listen backlog of the server in the harnesses (small, so the queues fill).
pub const BACKLOG: usize = 4;
/// Established connections the [`endpoint`] harness starts with.
pub const INITIAL_CONNS: usize = 3;
/// Pattern seed of the data the connection under test sends.
const OUR_SEED: u64 = 0x5EED_0001;
/// Pattern seed of the data the (synthetic) peer sends.
const PEER_SEED: u64 = 0x5EED_0002;
/// Operations per input, at most (keeps one execution short).
const MAX_OPS: usize = 256;

/// The configuration both harness endpoints use: defaults, small buffers and queues so limits
/// are reached quickly.
pub fn config(addr: Ipv4Addr) -> Config {
    Config::default()
        .with_local_addrs(vec![IpAddr::V4(addr)])
        .with_send_buffer(16 * 1024)
        .with_recv_buffer(16 * 1024)
        .with_backlog(BACKLOG)
        .with_max_pending_control(64)
}

/// Build an IPv4/TCP packet with a correct checksum (urgent pointer 0).
#[allow(clippy::too_many_arguments)]
pub fn tcp_packet(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    tcp_packet_urg(src, dst, seq, ack, flags, window, options, payload, 0)
}

fn v4(addr: SocketAddr) -> (Ipv4Addr, u16) {
    match addr.ip() {
        IpAddr::V4(a) => (a, addr.port()),
        IpAddr::V6(_) => (Ipv4Addr::UNSPECIFIED, addr.port()),
    }
}

/// Check one packet an endpoint emitted: it parses, and it comes from `from`.
fn check_emitted(buf: &[u8], from: Ipv4Addr) {
    match parse_ip(buf) {
        Ok(Packet::Tcp(ip, _)) => {
            assert_eq!(
                ip.src_addr(),
                IpAddr::V4(from),
                "packet from a foreign address"
            );
        }
        Ok(Packet::Icmpv4(ip, _)) => {
            assert_eq!(ip.src_addr, from, "ICMP from a foreign address");
        }
        Ok(Packet::Icmpv6(..)) => panic!("IPv4-only endpoint emitted ICMPv6"),
        Ok(Packet::Other(_)) => panic!("endpoint emitted a non-TCP, non-ICMP packet"),
        Err(e) => panic!("endpoint emitted a packet that does not parse: {e} ({buf:02x?})"),
    }
}

/// Every packet `ep` has ready, each checked with [`check_emitted`].
fn drain(ep: &mut Endpoint, now: Instant, from: Ipv4Addr) -> Vec<Vec<u8>> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 65536]);
    }
    BUF.with_borrow_mut(|buf| drain_into(ep, now, from, buf))
}

fn drain_into(ep: &mut Endpoint, now: Instant, from: Ipv4Addr, buf: &mut [u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Some(n) = ep.poll_transmit(now, buf) else {
            return out;
        };
        assert!(n <= buf.len(), "poll_transmit returned {n} > buffer");
        check_emitted(&buf[..n], from);
        out.push(buf[..n].to_vec());
    }
    panic!("poll_transmit never runs dry");
}

/// Two endpoints joined back to back: what each emits is handed to the other.
struct Pair {
    client: Endpoint,
    server: Endpoint,
    now: Instant,
    /// Server-side handles accepted from the listener.
    accepted: Vec<ConnHandle>,
    /// Client-side handles.
    client_conns: Vec<ConnHandle>,
}

impl Pair {
    fn new(seed: u8) -> Pair {
        let client = Endpoint::new(config(CLIENT), [seed; 16]);
        // The server is handed its packets (`handle_owned`) and keeps any in-order text in
        // them: the kept-packet receive path is fuzzed there, the ring path on the client.
        let server_config = config(SERVER).with_keep_packets_min(1);
        let mut server = Endpoint::new(server_config, [seed ^ 0xA5; 16]);
        server
            .listen(SocketAddr::from((SERVER, PORT)), None)
            .expect("listen");
        Pair {
            client,
            server,
            now: Instant::from_secs(1),
            accepted: Vec::new(),
            client_conns: Vec::new(),
        }
    }

    /// Hand a packet to the server (it may keep it until its text is read).
    fn give_server(&mut self, packet: Vec<u8>) {
        let len = packet.len();
        drop(self.server.handle_owned(self.now, packet, len));
        while self.server.reclaim().is_some() {}
    }

    /// Shuttle packets both ways (and take events) until nothing moves, at most `rounds`.
    /// Server packets are checked; client events are dropped; server `Incoming` is accepted.
    fn exchange(&mut self, rounds: usize) {
        for _ in 0..rounds {
            let c = drain(&mut self.client, self.now, CLIENT);
            let s = drain(&mut self.server, self.now, SERVER);
            let moved = !c.is_empty() || !s.is_empty();
            for p in c {
                self.give_server(p);
            }
            for p in &s {
                self.client.handle(self.now, p);
            }
            self.server_events();
            while self.client.poll_event().is_some() {}
            if !moved {
                return;
            }
        }
    }

    fn server_events(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            if let Event::Incoming { listener, .. } = ev {
                while let Some(h) = self.server.accept(listener) {
                    self.accepted.push(h);
                }
            }
        }
    }

    /// Open `n` connections and complete their handshakes.
    fn open(&mut self, n: usize) {
        for _ in 0..n {
            if let Ok(h) = self.client.connect(
                self.now,
                SocketAddr::from((CLIENT, 0)),
                SocketAddr::from((SERVER, PORT)),
            ) {
                self.client_conns.push(h);
            }
        }
        self.exchange(16);
    }
}

fn time_step(u: &mut Unstructured<'_>) -> Result<Duration> {
    Ok(match u.int_in_range(0u8..=3)? {
        0 => Duration::from_micros(u.int_in_range(0..=1000)?),
        1 => Duration::from_millis(u.int_in_range(0..=2000)?),
        2 => Duration::from_secs(u.int_in_range(0..=600)?),
        _ => Duration::from_micros(u64::from(u.arbitrary::<u32>()?) * 16),
    })
}

fn flags(u: &mut Unstructured<'_>) -> Result<TcpFlags> {
    const COMMON: [u8; 10] = [
        0x10, // ACK
        0x18, // PSH-ACK
        0x02, // SYN
        0x12, // SYN-ACK
        0x04, // RST
        0x14, // RST-ACK
        0x11, // FIN-ACK
        0x01, // FIN
        0x00, // none
        0x30, // URG-ACK
    ];
    Ok(if u.ratio(3u8, 4)? {
        TcpFlags(*u.choose(&COMMON)?)
    } else {
        TcpFlags(u.arbitrary()?)
    })
}

/// A sequence-space offset: mostly small, sometimes anywhere.
fn offset(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=4)? {
        0 => 0,
        1 => u.int_in_range(0..=3000)?,
        2 => (u.int_in_range(1u32..=3000)?).wrapping_neg(),
        3 => u.int_in_range(0..=1 << 20)?,
        _ => u.arbitrary()?,
    })
}

fn options(u: &mut Unstructured<'_>, ts_base: u32, sack_base: u32) -> Result<TcpOptions> {
    let mut o = TcpOptions::default();
    if u.ratio(1u8, 8)? {
        o.mss = Some(u.arbitrary()?);
    }
    if u.ratio(1u8, 8)? {
        o.window_scale = Some(u.int_in_range(0..=20)?);
    }
    if u.ratio(1u8, 8)? {
        o.sack_permitted = true;
    }
    if u.ratio(3u8, 4)? {
        let tsval = if u.ratio(7u8, 8)? {
            ts_base.wrapping_add(u.int_in_range(0..=5000)?)
        } else {
            u.arbitrary()?
        };
        o.timestamps = Some((tsval, u.arbitrary()?));
    }
    if u.ratio(1u8, 4)? {
        let mut sack = SackBlocks::new();
        for _ in 0..u.int_in_range(1u8..=4)? {
            let l = sack_base.wrapping_add(offset(u)?);
            let r = l.wrapping_add(u.int_in_range(0..=20_000)?);
            sack.push(l, r);
        }
        o.sack_blocks = sack;
    }
    Ok(o)
}

// ----- the endpoint harness ---------------------------------------------------------------

/// Run the endpoint harness on `data` (see the module docs). Panics on a violation.
pub fn endpoint(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let seed = u.arbitrary::<u8>().unwrap_or(0);
    let mut p = Pair::new(seed);
    p.open(INITIAL_CONNS);
    assert_eq!(p.accepted.len(), INITIAL_CONNS, "setup handshakes failed");
    let initial = p.server.connection_count();
    let mut client_tsval = 1u32;
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        if endpoint_op(&mut u, &mut p, &mut client_tsval).is_err() {
            break;
        }
        p.server_events();
        let bound = initial + p.accepted.len() + 2 * BACKLOG;
        assert!(
            p.server.connection_count() <= bound,
            "connection_count {} exceeds {bound}",
            p.server.connection_count()
        );
    }
    // Let everything run out: traffic, then timers far into the future.
    p.exchange(64);
    for _ in 0..3 {
        p.now += Duration::from_secs(300);
        p.server.handle_timeout(p.now);
        p.client.handle_timeout(p.now);
        p.exchange(64);
    }
}

fn endpoint_op(u: &mut Unstructured<'_>, p: &mut Pair, tsval: &mut u32) -> Result<()> {
    match u.int_in_range(0u8..=13)? {
        // Raw bytes.
        0 => {
            let len = u.int_in_range(0..=1600usize)?;
            let bytes = u.bytes(len.min(u.len()))?;
            p.server.handle(p.now, bytes);
        }
        // A crafted segment on a known connection's 4-tuple, near the client's numbers.
        1..=3 => {
            let (src, seq, ack) = match u.choose(&p.client_conns).ok().copied() {
                Some(h) => match p.client.info(h) {
                    Some(i) => (
                        v4(i.tuple.local),
                        i.snd_nxt.0.wrapping_add(offset(u)?),
                        i.rcv_nxt.0.wrapping_add(offset(u)?),
                    ),
                    None => ((CLIENT, u.arbitrary()?), u.arbitrary()?, u.arbitrary()?),
                },
                None => ((CLIENT, u.arbitrary()?), u.arbitrary()?, u.arbitrary()?),
            };
            let pkt = crafted(u, src, (SERVER, PORT), seq, ack, tsval)?;
            p.give_server(pkt);
        }
        // A crafted segment from a random source (SYNs to the listener, mostly).
        4 => {
            let src = (
                Ipv4Addr::new(10, u.int_in_range(0..=3)?, 0, u.int_in_range(1..=4)?),
                u.arbitrary::<u16>()?.max(1),
            );
            let dport = if u.ratio(7u8, 8)? {
                PORT
            } else {
                u.arbitrary()?
            };
            let (seq, ack) = (u.arbitrary()?, u.arbitrary()?);
            let pkt = crafted(u, src, (SERVER, dport), seq, ack, tsval)?;
            p.give_server(pkt);
        }
        // An ICMP error quoting one of the server's connections.
        5 => {
            let Some(&h) = u.choose(&p.accepted).ok() else {
                return Ok(());
            };
            let Some(i) = p.server.info(h) else {
                return Ok(());
            };
            let quoted = tcp_packet(
                v4(i.tuple.local),
                v4(i.tuple.remote),
                i.snd_una.0.wrapping_add(offset(u)?),
                i.rcv_nxt.0,
                TcpFlags::ACK,
                1000,
                TcpOptions::default(),
                &[],
            );
            let cut = u.int_in_range(0..=quoted.len())?;
            let msg = match u.int_in_range(0u8..=3)? {
                0 => Icmpv4Message::DestUnreachable {
                    code: u.int_in_range(0..=15)?,
                    next_hop_mtu: u.arbitrary()?,
                    original: &quoted[..cut],
                },
                1 => Icmpv4Message::TimeExceeded {
                    code: u.int_in_range(0..=1)?,
                    original: &quoted[..cut],
                },
                2 => Icmpv4Message::SourceQuench {
                    original: &quoted[..cut],
                },
                _ => Icmpv4Message::EchoRequest {
                    ident: u.arbitrary()?,
                    seq_no: u.arbitrary()?,
                    data: &quoted[..cut],
                },
            };
            let ip = Ipv4Repr {
                src_addr: Ipv4Addr::new(10, 0, 0, u.int_in_range(1..=9)?),
                dst_addr: SERVER,
                protocol: IPPROTO_ICMP,
                payload_len: 0,
                ttl: 64,
                dscp: 0,
                ecn: 0,
                ident: 0,
            };
            let mut buf = vec![0u8; 1600];
            if let Ok(n) = emit_icmpv4(&ip, &msg, &mut buf) {
                p.server.handle(p.now, &buf[..n]);
            }
        }
        6 => p.now += time_step(u)?,
        7 => {
            if u.arbitrary()? {
                if let Some(t) = p.server.poll_timeout() {
                    p.now = p.now.max(t);
                }
            }
            p.server.handle_timeout(p.now);
        }
        8 => {
            let out = drain(&mut p.server, p.now, SERVER);
            if u.arbitrary()? {
                for pkt in &out {
                    p.client.handle(p.now, pkt);
                }
            }
        }
        9 => {
            let rounds = u.int_in_range(1..=32)?;
            p.exchange(rounds);
        }
        // Server user calls.
        10 => {
            let Some(&h) = u.choose(&p.accepted).ok() else {
                return Ok(());
            };
            user_call(u, &mut p.server, h)?;
        }
        // Client user calls (real traffic toward the server).
        11 => {
            let Some(&h) = u.choose(&p.client_conns).ok() else {
                return Ok(());
            };
            p.client.handle_timeout(p.now);
            user_call(u, &mut p.client, h)?;
        }
        // A new real connection.
        12 => {
            if p.client_conns.len() < 64 {
                p.open(1);
            }
        }
        // Client timers.
        _ => {
            p.client.handle_timeout(p.now);
        }
    }
    Ok(())
}

/// A crafted TCP segment from `src` to `dst` with fuzzer-chosen flags, window, options,
/// payload; sometimes one bit flipped after the checksum.
fn crafted(
    u: &mut Unstructured<'_>,
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    tsval: &mut u32,
) -> Result<Vec<u8>> {
    let f = flags(u)?;
    let window = u.arbitrary()?;
    let o = options(u, *tsval, ack)?;
    if let Some((v, _)) = o.timestamps {
        *tsval = (*tsval).max(v);
    }
    let len = u.int_in_range(0..=1500usize)?;
    let payload = vec![0x5A; len.min(u.len() + 16)];
    let mut pkt = tcp_packet(src, dst, seq, ack, f, window, o, &payload);
    if !pkt.is_empty() && u.ratio(1u8, 16)? {
        let bit = u.int_in_range(0..=pkt.len() * 8 - 1)?;
        pkt[bit / 8] ^= 0x80 >> (bit % 8);
    }
    Ok(pkt)
}

fn user_call(u: &mut Unstructured<'_>, ep: &mut Endpoint, h: ConnHandle) -> Result<()> {
    match u.int_in_range(0u8..=7)? {
        0..=2 => {
            let n = u.int_in_range(0..=8_000usize)?;
            let _ = ep.send(h, &vec![0x42; n]);
        }
        3 | 4 => {
            let mut buf = vec![0u8; u.int_in_range(0..=16_000usize)?];
            let _ = ep.recv(h, &mut buf);
        }
        5 => {
            let _ = ep.shutdown(h);
        }
        6 => {
            let _ = ep.close(h);
        }
        _ => {
            let _ = ep.abort(h);
        }
    }
    Ok(())
}

// ----- the connection harness -------------------------------------------------------------

/// The connection under test and what the harness knows about it.
struct Conn {
    ep: Endpoint,
    h: ConnHandle,
    tuple: FourTuple,
    local_ip: Ipv4Addr,
    now: Instant,
    iss: SeqNum,
    irs: SeqNum,
    /// Last known RCV.NXT, SND.UNA, SND.NXT (kept after the connection is gone).
    rcv_nxt: SeqNum,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    tsval: u32,
    /// Bytes SEND accepted.
    sent: u64,
    /// Bytes RECEIVE returned.
    received: u64,
    /// The handle is ours (no CLOSE/ABORT yet).
    open: bool,
    recv_limit: usize,
    send_limit: usize,
}

impl Conn {
    fn refresh(&mut self) {
        if let Some(i) = self.ep.info(self.h) {
            assert!(
                i.snd_una <= i.snd_nxt,
                "SND.UNA {} beyond SND.NXT {}",
                i.snd_una.0,
                i.snd_nxt.0
            );
            // The buffer may autotune up to recv_buffer_max, and a scaled window's edge may
            // pass it by less than one unit of the scale (output.rs, window_field).
            let unit = 1usize << i.wscale.map_or(0, |w| w.0);
            assert!(
                i.recv_buffered < self.recv_limit + unit,
                "recv_buffered {} >= {} + {unit}",
                i.recv_buffered,
                self.recv_limit
            );
            assert!(
                i.recv_buffer <= self.recv_limit,
                "recv_buffer {}",
                i.recv_buffer
            );
            assert!(
                i.send_buffered <= self.send_limit,
                "send_buffered {} > {}",
                i.send_buffered,
                self.send_limit
            );
            assert!(
                i.recv_out_of_order < self.recv_limit + unit,
                "recv_out_of_order {} > {}",
                i.recv_out_of_order,
                self.recv_limit
            );
            self.rcv_nxt = i.rcv_nxt;
            self.snd_una = i.snd_una;
            self.snd_nxt = i.snd_nxt;
        }
        assert!(
            self.ep.connection_count() <= 1 + 2 * BACKLOG,
            "connection_count {}",
            self.ep.connection_count()
        );
    }

    /// Drain the transmit queue, checking every segment of this connection: parses, right
    /// tuple, and its data is exactly what SEND was given at that offset.
    fn transmit(&mut self) {
        for pkt in drain(&mut self.ep, self.now, self.local_ip) {
            let Ok(Packet::Tcp(_, tcp)) = parse_ip(&pkt) else {
                continue;
            };
            if tcp.src_port != self.tuple.local.port() || tcp.dst_port != self.tuple.remote.port() {
                continue; // a listener child's (passive side) or a RST to another tuple
            }
            if tcp.flags.contains(TcpFlags::RST) || tcp.flags.contains(TcpFlags::SYN) {
                continue;
            }
            if tcp.payload.is_empty() {
                continue;
            }
            let start = i64::from(tcp.seq_number.wrapping_sub(self.iss.0.wrapping_add(1)) as i32);
            // A keep-alive probe may carry a garbage byte below SND.UNA: skip bytes at
            // negative offsets.
            let skip = usize::try_from(-start).unwrap_or(0).min(tcp.payload.len());
            let data = &tcp.payload[skip..];
            let first = (start + skip as i64) as u64;
            let end = first + data.len() as u64;
            assert!(
                end <= self.sent,
                "emitted bytes up to offset {end}, but SEND was given only {} bytes",
                self.sent
            );
            let mut want = vec![0u8; data.len()];
            fill(OUR_SEED, first, &mut want);
            assert!(
                data == &want[..],
                "emitted bytes at offsets {first}..{end} differ from what SEND was given"
            );
        }
    }

    fn recv(&mut self, max: usize) {
        if !self.open {
            return;
        }
        let mut buf = vec![0u8; max];
        if let Ok(n) = self.ep.recv(self.h, &mut buf) {
            assert!(n <= max);
            let mut want = vec![0u8; n];
            fill(PEER_SEED, self.received, &mut want);
            if buf[..n] != want[..] {
                let k = (0..n).find(|&k| buf[k] != want[k]).unwrap_or(0);
                panic!(
                    "RECEIVE returned a wrong byte at stream offset {}",
                    self.received + k as u64
                );
            }
            self.received += n as u64;
        }
    }

    fn events(&mut self) {
        while let Some(ev) = self.ep.poll_event() {
            if let Event::Incoming { listener, .. } = ev {
                // New passive children (a SYN after the connection ended): accept and close
                // them so the test connection stays the one we check.
                while let Some(h) = self.ep.accept(listener) {
                    let _ = self.ep.close(h);
                }
            }
        }
    }
}

/// Run the connection harness on `data` (see the module docs). Panics on a violation.
pub fn connection(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let seed = u.arbitrary::<u8>().unwrap_or(0);
    let active = u.arbitrary::<bool>().unwrap_or(false);
    let mut p = Pair::new(seed);
    p.open(1);
    let (ep, h) = if active {
        (p.client, p.client_conns[0])
    } else {
        (p.server, p.accepted[0])
    };
    let info = ep.info(h).expect("established");
    let local_ip = match info.tuple.local.ip() {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => unreachable!(),
    };
    let cfg = ep.config();
    let (recv_limit, send_limit) = (
        cfg.recv_buffer.max(cfg.recv_buffer_max),
        cfg.send_buffer.max(cfg.send_buffer_max),
    );
    let mut c = Conn {
        ep,
        h,
        tuple: info.tuple,
        local_ip,
        now: p.now,
        iss: info.iss,
        irs: info.irs,
        rcv_nxt: info.rcv_nxt,
        snd_una: info.snd_una,
        snd_nxt: info.snd_nxt,
        tsval: 1000,
        sent: 0,
        received: 0,
        open: true,
        recv_limit,
        send_limit,
    };
    c.transmit();
    c.events();
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        if connection_op(&mut u, &mut c).is_err() {
            break;
        }
        c.events();
        c.refresh();
    }
    for _ in 0..4 {
        c.recv(1 << 16);
        c.now += Duration::from_secs(200);
        c.ep.handle_timeout(c.now);
        c.transmit();
        c.events();
        c.refresh();
    }
}

fn connection_op(u: &mut Unstructured<'_>, c: &mut Conn) -> Result<()> {
    match u.int_in_range(0u8..=11)? {
        // A segment from the peer.
        0..=4 => {
            let seq = match u.int_in_range(0u8..=7)? {
                0 => u.arbitrary()?,
                1 => c.irs.0.wrapping_add(offset(u)?),
                _ => c.rcv_nxt.0.wrapping_add(offset(u)?),
            };
            let ack = match u.int_in_range(0u8..=7)? {
                0 => u.arbitrary()?,
                1 => c.iss.0.wrapping_add(offset(u)?),
                2..=4 => c.snd_una.0.wrapping_add(offset(u)?),
                _ => c.snd_nxt.0.wrapping_add(offset(u)?),
            };
            let f = flags(u)?;
            let window = if u.ratio(3u8, 4)? {
                u.int_in_range(0..=u16::MAX)?
            } else {
                0
            };
            let o = options(u, c.tsval, c.snd_una.0)?;
            if let Some((v, _)) = o.timestamps {
                c.tsval = c.tsval.max(v);
            }
            let len = match u.int_in_range(0u8..=3)? {
                0 => 0,
                1 => u.int_in_range(1..=10)?,
                2 => u.int_in_range(1..=1460)?,
                _ => u.int_in_range(1..=4000)?,
            };
            // The peer's byte at sequence number s is pattern(PEER_SEED, s - IRS - 1).
            let start = seq.wrapping_sub(c.irs.0.wrapping_add(1));
            let mut payload = vec![0u8; len];
            if start.checked_add(len as u32).is_some() {
                fill(PEER_SEED, u64::from(start), &mut payload);
            } else {
                for (k, b) in payload.iter_mut().enumerate() {
                    *b = pattern(PEER_SEED, u64::from(start.wrapping_add(k as u32)));
                }
            }
            let urgent = if f.contains(TcpFlags::URG) {
                u.arbitrary()?
            } else {
                0
            };
            let pkt = tcp_packet_urg(
                v4(c.tuple.remote),
                v4(c.tuple.local),
                seq,
                ack,
                f,
                window,
                o,
                &payload,
                urgent,
            );
            c.ep.handle(c.now, &pkt);
        }
        5 => {
            if c.open {
                let n = u.int_in_range(0..=8_000usize)?;
                let mut buf = vec![0u8; n];
                fill(OUR_SEED, c.sent, &mut buf);
                if let Ok(k) = c.ep.send(c.h, &buf) {
                    assert!(k <= n);
                    c.sent += k as u64;
                }
            }
        }
        6 => {
            let n = u.int_in_range(0..=20_000usize)?;
            c.recv(n);
        }
        7 => match u.int_in_range(0u8..=5)? {
            0..=2 => {
                if c.open {
                    let _ = c.ep.shutdown(c.h);
                }
            }
            3 | 4 => {
                if c.open {
                    c.open = false;
                    let _ = c.ep.close(c.h);
                }
            }
            _ => {
                if c.open {
                    c.open = false;
                    let _ = c.ep.abort(c.h);
                }
            }
        },
        8 => c.now += time_step(u)?,
        9 => {
            if u.arbitrary()? {
                if let Some(t) = c.ep.poll_timeout() {
                    c.now = c.now.max(t);
                }
            }
            c.ep.handle_timeout(c.now);
        }
        10 => c.transmit(),
        _ => {
            if c.open {
                let _ = c.ep.set_nodelay(c.h, u.arbitrary()?);
            }
        }
    }
    Ok(())
}

/// [`tcp_packet`] with an urgent pointer (empty if it does not fit in one datagram).
#[allow(clippy::too_many_arguments)]
pub fn tcp_packet_urg(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: TcpOptions,
    payload: &[u8],
    urgent: u16,
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src.0,
        dst_addr: dst.0,
        protocol: IPPROTO_TCP,
        payload_len: 0,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
    };
    let tcp = TcpRepr {
        src_port: src.1,
        dst_port: dst.1,
        seq_number: seq,
        ack_number: ack,
        flags,
        window_len: window,
        urgent_pointer: urgent,
        options,
        payload,
    };
    let mut buf = vec![0u8; 20 + tcp.buffer_len()];
    match emit_ipv4_tcp(&ip, &tcp, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            buf
        }
        Err(_) => Vec::new(),
    }
}
