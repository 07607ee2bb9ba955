//! TUN offloads against the Linux kernel (`Tun::open_offload`: `IFF_VNET_HDR`, TSO out, unsplit
//! 64 KiB datagrams in). Needs root; skipped (with the reason printed) otherwise.
//!
//! Every test makes its own network namespace (`synack-o-<pid>-<n>`), removes it on every exit
//! path (a guard with `Drop`), and sends traffic only to addresses inside it: the stack thread
//! enters the namespace with setns(2) before it opens the TUN device, the kernel's side gets
//! 10.200.0.1/24 and fd00:5a::1/64, synack owns 10.200.0.2 and fd00:5a::2, and the kernel's end
//! of each connection is a thread that entered the namespace (plain `std::net` sockets).
//!
//! Each transfer checks every byte, that the offloads were really used (merged writes out,
//! unsplit datagrams in, partial checksums completed), that no send failed and that neither
//! side counted a bad checksum: a merged datagram whose headers were wrong would corrupt or
//! stall the stream, and a checksum completed wrongly would be dropped by synack.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use synack::net::{TcpListener, TcpStream};
use synack::pcap::PcapWriter;
use synack::tun::{netns, OffloadStats, Tun};
use synack::{Config, Device, Direction, Stack};

mod capture;
mod support;
use capture::{assert_same_datagrams, by_direction, check_stream, Log, Sink};
use support::{skip_reason, Netns};

const SYNACK_IP: &str = "10.200.0.2";
const KERNEL_IP: &str = "10.200.0.1";
const SYNACK_IP6: &str = "fd00:5a::2";
const KERNEL_IP6: &str = "fd00:5a::1";
/// Bytes each way.
const BULK: usize = 32 << 20;
/// A transfer that makes no progress for this long has failed.
const STALL: Duration = Duration::from_secs(20);

macro_rules! skip_unless_ready {
    () => {
        if let Some(why) = skip_reason(&["ip"]) {
            support::skip(&why);
            return;
        }
    };
}

impl Netns {
    /// A stack on an offloading TUN device in the namespace, and the device's counters.
    fn stack(&self, mtu: usize) -> (Stack, OffloadStats) {
        self.stack_watched(mtu, None)
    }

    /// [`Netns::stack`], with `watch`: a hook logging every datagram and a pcap tee over
    /// the device.
    fn stack_watched(&self, mtu: usize, watch: Option<(Log, Sink)>) -> (Stack, OffloadStats) {
        let ns = self.name.clone();
        let config = Config::default().with_local_addrs(vec![
            SYNACK_IP.parse().unwrap(),
            SYNACK_IP6.parse().unwrap(),
        ]);
        let (tx, rx) = mpsc::channel();
        let mut builder = Stack::builder(config);
        let mut pcap = None;
        if let Some((log, sink)) = watch {
            builder = builder.on_packet(log.hook());
            pcap = Some(sink);
        }
        let stack = builder
            .spawn(move || -> std::io::Result<Box<dyn Device>> {
                netns::enter(&ns)?;
                let mut tun = Tun::open_offload("synack0")?;
                assert!(tun.offload());
                tun.set_mtu(mtu)?;
                let v4 = format!("{KERNEL_IP}/24");
                let v6 = format!("{KERNEL_IP6}/64");
                // IPv6 needs an MTU of at least 1280 (RFC 8200 §5).
                let addrs: &[&str] = if mtu >= 1280 { &[&v4, &v6] } else { &[&v4] };
                tun.configure_host_addrs(addrs)?;
                let _ = tx.send(tun.offload_stats());
                Ok(match pcap {
                    Some(sink) => Box::new(PcapWriter::new(tun, sink)?),
                    None => Box::new(tun),
                })
            })
            .expect("stack on an offloading TUN device in the namespace");
        (stack, rx.recv().unwrap())
    }

    /// Run `f` on a thread inside the namespace (the kernel's end of a connection).
    fn kernel<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let ns = self.name.clone();
        thread::spawn(move || {
            netns::enter(&ns).expect("enter the namespace");
            f()
        })
    }

    /// The kernel's TCP counters in the namespace (`/proc/net/snmp`, line `Tcp:`).
    fn kernel_tcp_counter(&self, name: &'static str) -> u64 {
        self.kernel(move || {
            let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
            let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
            let (names, values) = (tcp.next().unwrap(), tcp.next().unwrap());
            let i = names.split_whitespace().position(|n| n == name).unwrap();
            values.split_whitespace().nth(i).unwrap().parse().unwrap()
        })
        .join()
        .unwrap()
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Read everything until the end of the stream (bounded by the read timeout set).
fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut got = Vec::with_capacity(BULK);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed after {} bytes: {e}", got.len()),
        }
    }
}

fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {i}");
    }
}

/// synack sends `out` to a kernel listener and closes; the kernel's side reads it all,
/// checked byte for byte. Returns synack's port.
fn synack_to_kernel(ns: &Netns, stack: &Stack, ip_kernel: &str, out: &[u8]) -> u16 {
    let kernel_addr = SocketAddr::new(ip_kernel.parse::<IpAddr>().unwrap(), 5001);
    let (ready_tx, ready_rx) = mpsc::channel();
    let sink = ns.kernel(move || {
        let l = std::net::TcpListener::bind(kernel_addr).unwrap();
        ready_tx.send(()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(STALL)).unwrap();
        read_all(s)
    });
    ready_rx.recv().unwrap();
    let mut c = TcpStream::connect_timeout(stack, &kernel_addr, STALL).unwrap();
    c.set_write_timeout(Some(STALL)).unwrap();
    c.write_all(out).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_same("synack -> kernel", &sink.join().unwrap(), out);
    c.local_addr().unwrap().port()
}

/// The kernel sends `back` to a synack listener and closes; synack reads it all, checked
/// byte for byte. Returns the kernel's port.
fn kernel_to_synack(ns: &Netns, stack: &Stack, ip_synack: &str, back: &[u8]) -> u16 {
    let synack_addr = SocketAddr::new(ip_synack.parse::<IpAddr>().unwrap(), 5002);
    let listener = TcpListener::bind(stack, synack_addr).unwrap();
    let src = back.to_vec();
    let source = ns.kernel(move || {
        let mut s = std::net::TcpStream::connect_timeout(&synack_addr, STALL).unwrap();
        s.set_write_timeout(Some(STALL)).unwrap();
        s.write_all(&src).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        // Keep the socket until synack has read the end.
        let mut rest = Vec::new();
        s.set_read_timeout(Some(STALL)).unwrap();
        let _ = s.read_to_end(&mut rest);
    });
    let (s, peer) = listener.accept_timeout(STALL).unwrap();
    s.set_read_timeout(Some(STALL)).unwrap();
    let got = read_all(s);
    source.join().unwrap();
    assert_same("kernel -> synack", &got, back);
    peer.port()
}

/// synack sends BULK bytes to a kernel listener, then the kernel sends BULK bytes back on a
/// second connection to a synack listener; both checked byte for byte.
fn both_ways(ip_synack: &str, ip_kernel: &str, mtu: usize) {
    let ns = Netns::new();
    let (stack, stats) = ns.stack(mtu);

    synack_to_kernel(&ns, &stack, ip_kernel, &pattern(BULK, 1));
    let after_out = stats.get();
    assert!(
        after_out.merged_writes > 0 && after_out.merged_segments > 2 * after_out.merged_writes,
        "synack's segments went out merged: {after_out:?}"
    );

    kernel_to_synack(&ns, &stack, ip_synack, &pattern(BULK, 2));
    let st = stats.get();
    eprintln!("{ip_synack} MTU {mtu}: {st:?}");
    assert!(
        st.unsplit_reads > 0,
        "the kernel handed over unsplit datagrams: {st:?}"
    );
    assert!(
        st.checksums_completed > st.unsplit_reads,
        "partial checksums completed: {st:?}"
    );
    let rt = stack.runtime_stats();
    assert_eq!(rt.send_errors, 0, "{rt:?}");
    let ep = stack.stats();
    assert!(
        ep.malformed.is_empty(),
        "synack saw malformed datagrams: {ep:?}"
    );
    // Unsplit datagrams carry tens of KiB of text: the endpoint keeps them whole until read
    // (one copy fewer), and the bytes above still arrived exact.
    assert!(ep.packets_kept > 0, "no datagram was kept whole: {ep:?}");
    assert_eq!(ns.kernel_tcp_counter("InCsumErrors"), 0);
    assert_eq!(ns.kernel_tcp_counter("InErrs"), 0);
    drop(stack);
}

/// With a hook (`--trace`) and a pcap tee (`--pcap`) on, every datagram they see is the one
/// on the wire: the kernel's unsplit datagrams, which the endpoint keeps whole, arrive in the
/// hook and the capture with their checksums completed and the text the kernel sent at each
/// sequence number; synack's segments likewise. The tee hands transmit batches on whole, so
/// the device still merges segments under it.
fn watched_both_ways(ip_synack: &str, ip_kernel: &str) {
    const LEN: usize = 4 << 20;
    let ns = Netns::new();
    let (log, pcap) = (Log::default(), Sink::default());
    let (stack, stats) = ns.stack_watched(1500, Some((log.clone(), pcap.clone())));
    let out = pattern(LEN, 3);
    let synack_port = synack_to_kernel(&ns, &stack, ip_kernel, &out);
    let back = pattern(LEN, 4);
    let kernel_port = kernel_to_synack(&ns, &stack, ip_synack, &back);
    let kept = stack.stats().packets_kept;
    // Stopping the stack joins its thread: the hook and the tee have seen everything.
    drop(stack);

    let st = stats.get();
    assert!(st.merged_writes > 0, "merged writes under the tee: {st:?}");
    assert!(st.unsplit_reads > 0, "unsplit datagrams: {st:?}");
    assert!(kept > 0, "no datagram was kept whole");
    let ip: IpAddr = ip_synack.parse().unwrap();
    let records = pcap.records();
    let (seen_in, seen_out) = (log.only(Direction::In), log.only(Direction::Out));
    let pcap_in = by_direction(&records, ip, Direction::In);
    assert_same_datagrams("hook vs pcap, in", &seen_in, &pcap_in);
    assert_same_datagrams(
        "hook vs pcap, out",
        &seen_out,
        &by_direction(&records, ip, Direction::Out),
    );
    let sent = check_stream(&seen_out, synack_port, 5001, &out);
    let got = check_stream(&seen_in, kernel_port, 5002, &back);
    eprintln!("{ip_synack}: sent {sent:?}, received {got:?}, {kept} kept, {st:?}");
    assert!(
        got.largest > 1500,
        "unsplit datagrams reached the hook: {got:?}"
    );
}

#[test]
fn bulk_both_ways_with_offloads_ipv4() {
    skip_unless_ready!();
    both_ways(SYNACK_IP, KERNEL_IP, 1500);
}

#[test]
fn bulk_both_ways_with_offloads_ipv6() {
    skip_unless_ready!();
    both_ways(SYNACK_IP6, KERNEL_IP6, 1500);
}

/// A small MTU (IPv4 only): more, smaller segments in each merged datagram, up to the
/// 64-segment limit (64 · 524 bytes stays under 64 KiB).
#[test]
fn bulk_both_ways_with_offloads_mtu_576() {
    skip_unless_ready!();
    both_ways(SYNACK_IP, KERNEL_IP, 576);
}

#[test]
fn hook_and_pcap_see_unsplit_datagrams_as_they_arrived_ipv4() {
    skip_unless_ready!();
    watched_both_ways(SYNACK_IP, KERNEL_IP);
}

#[test]
fn hook_and_pcap_see_unsplit_datagrams_as_they_arrived_ipv6() {
    skip_unless_ready!();
    watched_both_ways(SYNACK_IP6, KERNEL_IP6);
}
