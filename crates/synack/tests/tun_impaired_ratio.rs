//! Issue 21's worst case, measured: bulk throughput through a lossy TUN link with synack as the
//! sender against the Linux kernel as the sender, under the same impairment, in the same run.
//!
//! The stack's TUN device is wrapped in `impair::Impair` dropping 5% and holding back (by 5 ms,
//! so later packets overtake them) 1% of the packets in each direction. One stack, one network
//! namespace; first the kernel sends [`LEN`] bytes to synack, then synack sends [`LEN`] bytes to
//! the kernel. The kernel's side is a `std::net` socket opened by a thread that entered the
//! namespace with setns(2) (so no child process and no file: the bytes are compared in
//! memory, byte-exact). Each rate is the bytes over the time from the sender's connect to the
//! receiver's end of stream. The ratio synack-send / kernel-send is printed with both rates and
//! synack's sender-side counters, and asserted above [`MIN_RATIO`] so a regression cannot pass
//! silently (the README shows the measured one).
//!
//! The kernel's own TCP_INFO for its socket is printed beside synack's `info()` (the kernel
//! sender's cwnd, reordering degree and retransmissions under the same impairment).
//! Experiments: `SYNACK_RATIO_MIN_RTO_MS`, `SYNACK_RATIO_LOSS`, `SYNACK_RATIO_REORDER` change
//! the configuration (not what is asserted), `SYNACK_RATIO_PCAP=FILE` records synack's side.
//! Run: `cargo test -p synack --test tun_impaired_ratio -- --ignored --nocapture`.
//!
//! Needs root; skipped (with the reason printed) otherwise, and a failure when `CI` is set.

#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use synack::impair::{Impair, ImpairConfig};
use synack::net::{TcpListener, TcpStream};
use synack::pcap::PcapWriter;
use synack::tun::{netns, Tun};
use synack::{Config, ConnInfo, Stack};

mod support;
use support::{addr, pattern, skip_reason, Netns};

const SYNACK_IP: &str = "10.200.0.2";
const KERNEL_IP: &str = "10.200.0.1";
/// Bytes each way.
const LEN: usize = 16 << 20;
/// How long either transfer may take before the test gives up and fails (with the partial
/// rate printed).
const LIMIT: Duration = Duration::from_secs(25);
/// The regression guard: synack as sender at least this fraction of the kernel as sender.
/// Issue 21's target is 0.5; before RACK-TLP it was 1/1,760.
const MIN_RATIO: f64 = 0.1;

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// A stack on TUN device `synack0` in `ns`, the device wrapped in a seeded `Impair`: 5% loss
/// and 1% held back by 5 ms, each direction.
fn impaired_stack(ns: &Netns, seed: u64) -> Stack {
    let ns = ns.name.clone();
    let mut config = Config::default().with_local_addrs(vec![SYNACK_IP.parse().unwrap()]);
    // Experiments (not the asserted configuration): SYNACK_RATIO_MIN_RTO_MS overrides the
    // minimum RTO, SYNACK_RATIO_LOSS and SYNACK_RATIO_REORDER the loss and
    // reordering probabilities.
    if let Some(ms) = env_f64("SYNACK_RATIO_MIN_RTO_MS") {
        config = config.with_min_rto(Duration::from_micros((ms * 1000.0) as u64));
    }
    let loss = env_f64("SYNACK_RATIO_LOSS").unwrap_or(0.05);
    let reorder = env_f64("SYNACK_RATIO_REORDER").unwrap_or(0.01);
    Stack::builder(config)
        .spawn(move || {
            netns::enter(&ns)?;
            let tun = Tun::open("synack0")?;
            tun.configure_host_addrs(&[&format!("{KERNEL_IP}/24")])?;
            let impaired = Impair::new(
                tun,
                ImpairConfig {
                    loss,
                    reorder,
                    reorder_delay: Duration::from_millis(5),
                    seed,
                    outbound: true,
                    ..Default::default()
                },
            );
            // For a look at a run: SYNACK_RATIO_PCAP=FILE records synack's side of the
            // impairment (what it sent before the drops, what it received after them); read
            // it with `synack trace FILE`.
            Ok(match std::env::var_os("SYNACK_RATIO_PCAP") {
                Some(file) => Box::new(PcapWriter::create(impaired, file)?),
                None => Box::new(impaired) as Box<dyn synack::Device>,
            })
        })
        .expect("stack on a TUN device in the namespace")
}

/// Read `r` until end of stream or `deadline`; what arrived and when the end came (`None`: the
/// deadline passed first).
fn read_until_eof(
    mut read: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
    deadline: Instant,
) -> (Vec<u8>, Option<Instant>) {
    let mut got = Vec::with_capacity(LEN);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if Instant::now() >= deadline {
            return (got, None);
        }
        match read(&mut buf) {
            Ok(0) => return (got, Some(Instant::now())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// One transfer's outcome: bytes delivered, the time they took, and whether it completed.
struct Transfer {
    bytes: usize,
    took: Duration,
    complete: bool,
}

impl Transfer {
    fn rate(&self) -> f64 {
        self.bytes as f64 / self.took.as_secs_f64()
    }
}

fn check_exact(what: &str, got: &[u8], want: &[u8]) {
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {i}");
    }
    assert!(
        got.len() <= want.len(),
        "{what}: {} bytes too many",
        got.len()
    );
}

/// The kernel connects to synack and sends `data`; synack reads to the end.
fn kernel_sends(ns: &Netns, stack: &Stack, data: &[u8]) -> Transfer {
    let listener = TcpListener::bind(stack, addr(SYNACK_IP, 5002)).unwrap();
    let ns_name = ns.name.clone();
    let payload = data.to_vec();
    let (tx, rx) = mpsc::channel();
    let kernel = thread::spawn(move || {
        netns::enter(&ns_name).expect("enter the namespace");
        let mut s = std::net::TcpStream::connect_timeout(&addr(SYNACK_IP, 5002), LIMIT)
            .expect("kernel connects to synack");
        tx.send(Instant::now()).unwrap();
        s.set_write_timeout(Some(LIMIT)).unwrap();
        // A write error (timeout, reset when the test gives up) ends the thread; the reader's
        // byte count tells what arrived.
        if s.write_all(&payload).is_ok() {
            let _ = s.shutdown(Shutdown::Write);
        }
        s
    });
    let (conn, _) = listener.accept_timeout(LIMIT).expect("synack accepts");
    let started = rx.recv_timeout(LIMIT).expect("the kernel connected");
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut r = conn.try_clone().unwrap();
    let (got, end) = read_until_eof(|b| r.read(b), started + LIMIT);
    let took = end.unwrap_or_else(Instant::now) - started;
    check_exact("bytes synack received", &got, data);
    let t = Transfer {
        bytes: got.len(),
        took,
        complete: end.is_some() && got.len() == data.len(),
    };
    if t.complete {
        let kernel_socket = kernel.join().unwrap();
        eprintln!("kernel sender: {}", kernel_tcp_info(&kernel_socket));
    }
    t
}

/// The kernel's own counters for a socket (getsockopt TCP_INFO), to set beside synack's.
fn kernel_tcp_info(s: &std::net::TcpStream) -> String {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain old data; getsockopt writes at most `len` bytes into it.
    let mut ti: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: a valid socket, a buffer of `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut ti as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return format!("TCP_INFO: {}", std::io::Error::last_os_error());
    }
    format!(
        "total_retrans {} reordering {} rtt {}us rttvar {}us rto {}us cwnd {} ssthresh {} \
         mss {} ato {}us",
        ti.tcpi_total_retrans,
        ti.tcpi_reordering,
        ti.tcpi_rtt,
        ti.tcpi_rttvar,
        ti.tcpi_rto,
        ti.tcpi_snd_cwnd,
        ti.tcpi_snd_ssthresh,
        ti.tcpi_snd_mss,
        ti.tcpi_ato,
    )
}

/// synack connects to the kernel and sends `data`; the kernel reads to the end. Also synack's
/// connection info once the kernel has everything (or the limit passed).
fn synack_sends(ns: &Netns, stack: &Stack, data: &[u8]) -> (Transfer, ConnInfo) {
    let ns_name = ns.name.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    let kernel = thread::spawn(move || {
        netns::enter(&ns_name).expect("enter the namespace");
        let l = std::net::TcpListener::bind(addr(KERNEL_IP, 5001)).expect("kernel listens");
        ready_tx.send(()).unwrap();
        let (mut s, _) = l.accept().expect("kernel accepts");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let (got, end) = read_until_eof(|b| s.read(b), Instant::now() + LIMIT);
        (got, end, s)
    });
    ready_rx.recv_timeout(LIMIT).expect("kernel listener up");
    let conn = TcpStream::connect_timeout(stack, &addr(KERNEL_IP, 5001), LIMIT)
        .expect("synack connects to the kernel");
    let started = Instant::now();
    let writer = {
        let mut w = conn.try_clone().unwrap();
        w.set_write_timeout(Some(LIMIT)).unwrap();
        let payload = data.to_vec();
        thread::spawn(move || {
            if w.write_all(&payload).is_ok() {
                let _ = w.shutdown(Shutdown::Write);
            }
        })
    };
    let (got, end, kernel_socket) = kernel.join().unwrap();
    eprintln!("kernel receiver: {}", kernel_tcp_info(&kernel_socket));
    let took = end.unwrap_or_else(Instant::now) - started;
    let info = conn.info().unwrap();
    check_exact("bytes the kernel received", &got, data);
    let t = Transfer {
        bytes: got.len(),
        took,
        complete: end.is_some() && got.len() == data.len(),
    };
    if t.complete {
        writer.join().unwrap();
    } else {
        conn.abort();
    }
    (t, info)
}

fn mb(rate: f64) -> f64 {
    rate / 1e6
}

/// Issue 21: synack as the sender keeps up with the kernel as the sender through 5% loss and 1%
/// reordering each way (RACK-TLP, RFC 8985, repairs losses without waiting for the RTO).
#[test]
#[ignore = "issue 21: the ratio is 0.004-0.03 today (RTOs after lost retransmissions); run with --ignored"]
fn synack_sender_keeps_up_with_the_kernel_through_loss_rfc8985() {
    if let Some(why) = skip_reason(&["ip"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let stack = impaired_stack(&ns, 21);
    let to_synack = pattern(LEN, 4);
    let to_kernel = pattern(LEN, 5);

    let k = kernel_sends(&ns, &stack, &to_synack);
    eprintln!(
        "kernel -> synack: {} of {LEN} bytes in {:.2?}: {:.2} MB/s",
        k.bytes,
        k.took,
        mb(k.rate())
    );
    let (s, info) = synack_sends(&ns, &stack, &to_kernel);
    eprintln!(
        "synack -> kernel: {} of {LEN} bytes in {:.2?}: {:.2} MB/s",
        s.bytes,
        s.took,
        mb(s.rate())
    );
    let ratio = s.rate() / k.rate();
    eprintln!("ratio synack-send / kernel-send: {ratio:.3}");
    eprintln!(
        "synack sender: timeouts {} retransmits {} fast_retransmits {} lost_retransmits {} \
         rack_lost {} tlp_probes {} tlp_repairs {} reordering_window {:?} srtt {:?} rttvar {:?} \
         rto {:?} cwnd {} ssthresh {} mss {} sack {} timestamps {} wscale {:?}",
        info.timeouts,
        info.retransmits,
        info.fast_retransmits,
        info.lost_retransmits,
        info.rack_lost,
        info.tlp_probes,
        info.tlp_repairs,
        info.reordering_window,
        info.srtt,
        info.rttvar,
        info.rto,
        info.cwnd,
        info.ssthresh,
        info.mss,
        info.sack,
        info.timestamps,
        info.wscale,
    );
    assert!(
        k.complete,
        "the kernel's {LEN} bytes did not arrive within {LIMIT:?}"
    );
    assert!(
        s.complete,
        "synack's {LEN} bytes did not arrive within {LIMIT:?}"
    );
    assert!(
        ratio > MIN_RATIO,
        "synack as sender at {ratio:.3}× the kernel as sender (must be > {MIN_RATIO})"
    );
}
