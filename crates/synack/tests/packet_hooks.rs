//! The `on_packet` hook (`--trace`, user hooks) and the pcap tee see every datagram exactly as
//! it arrived and left, also the large in-order datagrams the endpoint keeps whole
//! (`Endpoint::handle_owned`): the stack hands their buffer to the endpoint and reads the next
//! datagram into another one, so a hook that looked at the buffer afterwards would see an
//! older datagram or zeroes instead.
//!
//! Two stacks over a `MemoryPair` with an MTU large enough for 4 KiB of text a segment (what
//! TUN offloads hand over). The server's device is wrapped in a tap that copies what the
//! device returned before the stack touches the buffer; every view is compared with it and
//! with what the client's hook saw leave. Timeouts are failure guards only.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::thread;
use std::time::Duration;

use synack::memory::MemoryPair;
use synack::net::{TcpListener, TcpStream};
use synack::pcap::PcapWriter;
use synack::{Config, Direction, Stack};

mod capture;
use capture::{assert_same_datagrams, by_direction, check_stream, Log, Sink, Tap};

const GUARD: Duration = Duration::from_secs(30);
const PORT: u16 = 7;

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ (i >> 16) as u8)
        .collect()
}

/// The client sends `len` bytes and closes; the server reads them all. Every view of the
/// server's received datagrams equals what its device delivered and what the client sent.
fn hooks_see_what_arrived(client_ip: &str, server_ip: &str, mtu: usize, len: usize) {
    let cfg = |ip: &str| {
        Config::default()
            .with_local_addrs(vec![ip.parse().unwrap()])
            // As large as the MTU allows (the stack lowers it to fit, MUST-67).
            .with_mss(u16::MAX)
    };
    let (a, b) = MemoryPair::with_mtu(mtu);
    // The client: its hook and its capture see what it sent.
    let (client_log, client_pcap) = (Log::default(), Sink::default());
    let client = Stack::builder(cfg(client_ip))
        .on_packet(client_log.hook())
        .build(PcapWriter::new(a, client_pcap.clone()).unwrap())
        .unwrap();
    // The server: the tap sees what the device delivered, then the capture, then the hook.
    let (tapped, server_log, server_pcap) = (Log::default(), Log::default(), Sink::default());
    let tap = Tap {
        inner: b,
        log: tapped.clone(),
    };
    let server = Stack::builder(cfg(server_ip))
        .on_packet(server_log.hook())
        .build(PcapWriter::new(tap, server_pcap.clone()).unwrap())
        .unwrap();

    let server_ip: IpAddr = server_ip.parse().unwrap();
    let to = SocketAddr::new(server_ip, PORT);
    let listener = TcpListener::bind(&server, to).unwrap();
    let data = pattern(len);
    let mut c = TcpStream::connect_timeout(&client, &to, GUARD).unwrap();
    let client_port = c.local_addr().unwrap().port();
    let writer = {
        let data = data.clone();
        thread::spawn(move || {
            c.set_write_timeout(Some(GUARD)).unwrap();
            c.write_all(&data).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            c
        })
    };
    let (mut s, _) = listener.accept_timeout(GUARD).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert!(got == data, "the application read what was sent");
    let c = writer.join().unwrap();
    let kept = server.stats().packets_kept;
    // Stopping a stack joins its thread: its hook and capture have seen everything.
    drop((s, listener, server));
    drop((c, client));

    // The endpoint kept datagrams whole, so their buffers left the stack's hands: the case
    // this test is about.
    assert!(kept > 0, "the server kept no datagram");
    let arrived = tapped.only(Direction::In);
    let seen_in = server_log.only(Direction::In);
    assert_same_datagrams("server hook, in", &seen_in, &arrived);
    let records = server_pcap.records();
    assert_same_datagrams(
        "server pcap, in",
        &by_direction(&records, server_ip, Direction::In),
        &arrived,
    );
    assert_same_datagrams(
        "server pcap, out",
        &by_direction(&records, server_ip, Direction::Out),
        &server_log.only(Direction::Out),
    );
    // What arrived is what the client sent (the pair neither drops nor reorders; the client
    // may have sent more after the server stopped).
    let sent = client_log.only(Direction::Out);
    assert!(sent.len() >= arrived.len(), "{} sent", sent.len());
    assert_same_datagrams(
        "server device vs client hook",
        &arrived,
        &sent[..arrived.len()],
    );
    assert_same_datagrams(
        "client pcap, out",
        &by_direction(&client_pcap.records(), server_ip, Direction::In),
        &sent,
    );
    // Checksums valid, and the text at every sequence number the text sent.
    let st = check_stream(&seen_in, client_port, PORT, &data);
    assert!(st.large > 0, "no segment carried 4 KiB: {st:?}");
    eprintln!("{server_ip} MTU {mtu}: {st:?}, {kept} kept");
}

/// Segments of 16 344 bytes over IPv4: every full one may be kept.
#[test]
fn hook_and_pcap_see_kept_datagrams_as_they_arrived_ipv4() {
    hooks_see_what_arrived("10.0.0.2", "10.0.0.1", 16384, 1 << 20);
}

/// Segments of 8 940 bytes over IPv6 (a jumbo-frame MTU).
#[test]
fn hook_and_pcap_see_kept_datagrams_as_they_arrived_ipv6() {
    hooks_see_what_arrived("fd00::2", "fd00::1", 9000, 1 << 20);
}
