//! A hostile network against synack over TUN (issue "Defend the handshake"): a SYN flood from
//! `hping3 --flood --rand-source` while the kernel's `curl` keeps completing requests,
//! `nmap` SYN scans (whole and in 8-byte fragments, `-f`) and connect scans that must see open
//! ports open and closed ports closed, and pings the kernel fragments.
//!
//! Root only, each test in a network namespace of its own (`synack-h-<pid>-<n>`), removed on
//! every exit path; all traffic stays inside it (10.200.0.0/24 on the TUN device). Skipped,
//! with the reason printed, when not root or a tool is missing.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use synack::net::TcpListener;
use synack::tun::{netns, Tun};
use synack::{Config, Stack};

mod support;
use support::{skip_reason, Netns, Reaper};

const SYNACK_IP: &str = "10.200.0.2";
const KERNEL_IP: &str = "10.200.0.1";
const SYNACK_IP6: &str = "fd00:5a::2";

impl Netns {
    /// A stack whose thread lives in the namespace, with a small backlog so a flood fills the
    /// SYN queue at once.
    fn stack(&self) -> Stack {
        self.stack_on(false)
    }

    /// [`Netns::stack`], with IPv6 too when `v6` (synack fd00:5a::2, the kernel fd00:5a::1).
    fn stack_on(&self, v6: bool) -> Stack {
        let ns = self.name.clone();
        let mut local_addrs = vec![SYNACK_IP.parse().unwrap()];
        let mut host = vec![format!("{KERNEL_IP}/24")];
        if v6 {
            local_addrs.push(SYNACK_IP6.parse().unwrap());
            host.push("fd00:5a::1/64".to_string());
        }
        let config = Config::default().with_local_addrs(local_addrs);
        Stack::builder(config)
            .spawn(move || {
                netns::enter(&ns)?;
                let tun = Tun::open("synack0")?;
                let host: Vec<&str> = host.iter().map(String::as_str).collect();
                tun.configure_host_addrs(&host)?;
                Ok(Box::new(tun) as Box<dyn synack::Device>)
            })
            .expect("stack on a TUN device in the namespace")
    }
}

/// Serve `HTTP/1.0 200 ok` on `listener` until `stop` is set.
fn serve_http(listener: TcpListener, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut served = 0;
        while !stop.load(Ordering::Relaxed) {
            let Ok((mut s, _)) = listener.accept_timeout(Duration::from_millis(100)) else {
                continue;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
            served += 1;
        }
        served
    })
}

fn addr(port: u16) -> SocketAddr {
    format!("{SYNACK_IP}:{port}").parse().unwrap()
}

#[test]
fn curl_keeps_working_through_an_hping3_syn_flood() {
    if let Some(why) = skip_reason(&["ip", "hping3", "curl"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let stack = ns.stack();
    let listener = TcpListener::bind_with_backlog(&stack, addr(80), 16).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve_http(listener, stop.clone());
    // Spoofed sources at full speed: every SYN would take a SYN-RECEIVED slot.
    let _flood = Reaper(
        ns.exec("hping3")
            .args(["-S", "-p", "80", "--flood", "--rand-source", SYNACK_IP])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    thread::sleep(Duration::from_millis(500)); // let the flood fill the queue first
    let start = Instant::now();
    let mut ok = 0;
    for _ in 0..20 {
        let out = ns
            .exec("curl")
            .args(["-s", "-m", "10", &format!("http://{SYNACK_IP}/")])
            .output()
            .unwrap();
        if out.status.success() && out.stdout == b"ok" {
            ok += 1;
        }
    }
    let stats = stack.stats();
    drop(_flood);
    stop.store(true, Ordering::Relaxed);
    let served = server.join().unwrap();
    eprintln!(
        "20 curl requests during the flood: {ok} ok in {:?}; SYN cookies sent {}, validated {}; \
         connections {}; served {served}",
        start.elapsed(),
        stats.syn_cookies_sent,
        stats.syn_cookies_validated,
        stack.connection_count()
    );
    assert_eq!(ok, 20, "every request completed during the flood");
    assert!(
        stats.syn_cookies_sent > 100,
        "the flood filled the SYN queue: {stats:?}"
    );
    assert!(
        stats.syn_cookies_validated >= 1,
        "curl's handshakes went through cookies"
    );
    assert!(
        stack.connection_count() <= 16 + 20 + 16,
        "memory stays bounded by the backlog"
    );
}

/// `nmap` output lines like `80/tcp   open  http` as (port, state).
fn nmap_ports(out: &str) -> Vec<(u16, String)> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let port = f.next()?.strip_suffix("/tcp")?.parse().ok()?;
            Some((port, f.next()?.to_string()))
        })
        .collect()
}

#[test]
fn nmap_syn_and_connect_scans_see_open_and_closed_ports() {
    if let Some(why) = skip_reason(&["ip", "nmap"]) {
        support::skip(&why);
        return;
    }
    let ns = Netns::new();
    let stack = ns.stack();
    let _l80 = TcpListener::bind(&stack, addr(80)).unwrap();
    let _l8080 = TcpListener::bind(&stack, addr(8080)).unwrap();
    // `-f`: the SYN probes in 8-byte IP fragments (RFC 791 reassembly, ip_reassembly.rs).
    for scan in ["-sS", "-sT", "-f"] {
        let out = ns
            .exec("nmap")
            .args([
                "-n",
                "-Pn",
                if scan == "-f" { "-sS" } else { scan },
                "-p",
                "79-81,8080",
                "--max-retries",
                "1",
                SYNACK_IP,
            ])
            .args((scan == "-f").then_some("-f"))
            .output()
            .unwrap();
        assert!(out.status.success(), "nmap {scan} ran");
        let text = String::from_utf8_lossy(&out.stdout);
        let ports = nmap_ports(&text);
        eprintln!("nmap {scan}: {ports:?}");
        let want: Vec<(u16, String)> =
            [(79, "closed"), (80, "open"), (81, "closed"), (8080, "open")]
                .into_iter()
                .map(|(p, s)| (p, s.to_string()))
                .collect();
        assert_eq!(ports, want, "nmap {scan} output:\n{text}");
    }
    // A connect scan completes handshakes and resets them; nothing stays half-open.
    thread::sleep(Duration::from_millis(200));
    assert!(stack.connection_count() <= 2, "no half-open leftovers");
    let st = stack.stats();
    assert!(st.fragments.reassembled >= 4, "{:?}", st.fragments);
    assert_eq!(st.fragments.overlaps + st.fragments.invalid, 0);
}

/// The kernel fragments an echo request larger than the device's MTU (1500), IPv4 and
/// IPv6 (a Fragment header): synack reassembles it and answers (with one datagram: the kernel
/// takes it from the TUN device whatever its MTU).
#[test]
fn kernel_fragmented_ping_is_reassembled_and_answered() {
    if let Some(why) = skip_reason(&["ip", "ping"]) {
        eprintln!("skipping: {why}");
        return;
    }
    let ns = Netns::new();
    let stack = ns.stack_on(true);
    for (family, dst) in [("-4", SYNACK_IP), ("-6", SYNACK_IP6)] {
        let out = ns
            .exec("ping")
            .args([
                family, "-n", "-c", "3", "-i", "0.2", "-W", "5", "-s", "3000",
            ])
            .args(["-M", "dont", dst])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("{text}");
        assert!(out.status.success(), "ping {family} answered:\n{text}");
        assert!(text.contains("3 received"), "{text}");
    }
    let st = stack.stats();
    // 3008 bytes of ICMP in 1480-byte (IPv4) or 1448-byte (IPv6) pieces: 3 fragments each.
    assert_eq!(st.fragments.reassembled, 6, "{:?}", st.fragments);
    assert_eq!(st.fragments.received, 18, "{:?}", st.fragments);
    assert_eq!(st.icmp_echo_replies, 6);
    assert_eq!(stack.stats().fragments.timeouts, 0);
}
