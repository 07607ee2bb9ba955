//! Interop with the Linux kernel's TCP over a TUN device. Needs root; skipped (with the reason
//! printed) otherwise, or when a program a test uses (`ip`, `nc`, `curl`, `python3`, `ss`,
//! `tcpdump`, `tshark`, `ping`) is missing.
//!
//! Every test makes its own network namespace (`synack-t-<pid>-<n>`), removes it on every exit
//! path (a guard with `Drop`), and sends traffic only to addresses inside it: the stack thread
//! enters the namespace with setns(2) before it opens the TUN device, the kernel's side of the
//! device gets 10.200.0.1/24 and fd00:5a::1/64, synack owns 10.200.0.2 and fd00:5a::2, and
//! kernel programs run under `ip netns exec`. Every child process is killed if it outlives its
//! time limit (and when the test ends, on any path).
//!
//! Sizes: bulk transfers move [`BULK`] bytes each way on a clean link and [`IMPAIRED`] bytes
//! each way through 5% loss and 1% reordering (synack's RTO has a 1 s minimum, RFC 6298, so a
//! lost retransmission costs a second; see the README for timings).

#![cfg(target_os = "linux")]

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use synack::impair::{Impair, ImpairConfig};
use synack::net::{TcpListener, TcpStream};
use synack::tun::{netns, Tun};
use synack::{Config, ConnInfo, Device, Stack, State};

mod support;
use support::{addr, pattern, skip_reason, Netns, Reaper};

const GUARD: Duration = Duration::from_secs(120);
const SYNACK_IP: &str = "10.200.0.2";
const KERNEL_IP: &str = "10.200.0.1";
const SYNACK_IP6: &str = "fd00:5a::2";
const KERNEL_IP6: &str = "fd00:5a::1";
/// Bytes each way of the clean-link bulk transfers.
const BULK: usize = 50 << 20;
/// Bytes each way of the transfers through 5% loss and 1% reordering.
const IMPAIRED: usize = 4 << 20;

macro_rules! skip_unless_ready {
    ($($tool:expr),*) => {
        if let Some(why) = skip_reason(&["ip" $(, $tool)*]) {
            support::skip(&why);
            return;
        }
    };
}

/// IPv4 or IPv6: which addresses a test uses.
#[derive(Clone, Copy, Debug)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn synack(self) -> &'static str {
        match self {
            Family::V4 => SYNACK_IP,
            Family::V6 => SYNACK_IP6,
        }
    }
    fn kernel(self) -> &'static str {
        match self {
            Family::V4 => KERNEL_IP,
            Family::V6 => KERNEL_IP6,
        }
    }
}

impl Netns {
    /// Run a program in the namespace to completion (bounded); its stdout.
    fn output(&self, program: &str, args: &[&str]) -> (ExitStatus, String) {
        let mut child = Reaper(
            self.exec(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let mut stdout = child.0.stdout.take().unwrap();
        let reader = thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let st = child
            .wait(GUARD)
            .unwrap_or_else(|| panic!("{program} {args:?} finished in time"));
        (st, reader.join().unwrap())
    }

    /// A stack whose thread lives in the namespace, on TUN device `synack0` there.
    fn stack(&self) -> Stack {
        self.stack_on(|tun| Box::new(tun))
    }

    /// Like [`Netns::stack`], the device wrapped by `wrap` (impairment, pcap).
    fn stack_on(&self, wrap: impl FnOnce(Tun) -> Box<dyn Device> + Send + 'static) -> Stack {
        let ns = self.name.clone();
        let config = Config::default().with_local_addrs(vec![
            SYNACK_IP.parse().unwrap(),
            SYNACK_IP6.parse().unwrap(),
        ]);
        Stack::builder(config)
            .spawn(move || {
                netns::enter(&ns)?;
                let tun = Tun::open("synack0")?;
                tun.configure_host_addrs(&[
                    &format!("{KERNEL_IP}/24"),
                    &format!("{KERNEL_IP6}/64"),
                ])?;
                Ok(wrap(tun))
            })
            .expect("stack on a TUN device in the namespace")
    }

    /// A stack whose device drops 5% and delays (reorders) 1% of the packets in each
    /// direction, seeded.
    fn impaired_stack(&self, seed: u64) -> Stack {
        self.stack_on(move |tun| {
            Box::new(Impair::new(
                tun,
                ImpairConfig {
                    loss: 0.05,
                    reorder: 0.01,
                    reorder_delay: Duration::from_millis(5),
                    seed,
                    outbound: true,
                    ..Default::default()
                },
            ))
        })
    }

    /// `tcpdump -i synack0 -w FILE` in the namespace, started and listening when this
    /// returns. The device must exist (start the stack first).
    fn capture(&self, file: &Path) -> Capture {
        let mut child = Reaper(
            self.exec("tcpdump")
                .args(["-i", "synack0", "-n", "-U", "-w"])
                .arg(file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stderr = child.0.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let end = Instant::now() + GUARD;
        loop {
            let line = rx
                .recv_timeout(end.saturating_duration_since(Instant::now()))
                .expect("tcpdump started listening");
            if line.contains("listening on") {
                break;
            }
        }
        Capture {
            child,
            file: file.to_path_buf(),
        }
    }
}

/// A running tcpdump.
struct Capture {
    child: Reaper,
    file: PathBuf,
}

impl Capture {
    /// Stop tcpdump (SIGINT, so it flushes the file) and check every TCP checksum in the
    /// capture with tshark: `tcp.checksum.status` is 1 (Good) for every segment — 0 would be
    /// Bad, 2 Unverified (a truncated packet), as `tshark -G values` lists them in tshark
    /// 4.0. IPv4 header checksums too. Returns the number
    /// of TCP segments checked.
    fn stop_and_check_checksums(mut self) -> usize {
        // SAFETY: kill(2) on our own child's pid (`ip netns exec` execs tcpdump in place).
        unsafe { libc::kill(self.child.0.id() as libc::pid_t, libc::SIGINT) };
        self.child.wait(GUARD).expect("tcpdump stopped");
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args([
                // No stream reassembly: a payload dissector on the port (5555 is ADB's) would
                // otherwise reassemble megabytes of test pattern, 20 s instead of 0.5 s.
                "-o",
                "tcp.desegment_tcp_streams:FALSE",
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
                "-Y",
                "tcp",
                "-T",
                "fields",
                "-e",
                "tcp.checksum.status",
                "-e",
                "ip.checksum.status",
                "-e",
                "frame.number",
                "-e",
                "ip.src",
                "-e",
                "ipv6.src",
                "-e",
                "tcp.len",
                "-e",
                "tcp.flags.str",
                "-e",
                "tcp.checksum",
                "-e",
                "tcp.checksum_calculated",
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("run tshark");
        assert!(out.status.success(), "tshark failed");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut segments = 0;
        for line in text.lines() {
            let mut fields = line.split('\t');
            let tcp = fields.next().unwrap_or("");
            let ip = fields.next().unwrap_or("");
            // 0xffff and 0x0000 are the same one's complement zero (RFC 1624 §3): the kernel
            // sends 0xffff where the sum is zero (seen once in ~65k segments) and the receiver's
            // check passes, but tshark compares the field with its own 0x0000.
            let mut rest = line.split('\t').skip(7);
            let negative_zero =
                matches!((rest.next(), rest.next()), (Some("0xffff"), Some("0x0000")));
            if tcp != "1" && !negative_zero {
                // Keep the capture for a look (frame number, sender, length are in the line).
                let keep = std::env::temp_dir().join("synack-bad-checksum.pcap");
                let _ = std::fs::copy(&self.file, &keep);
                panic!(
                    "a TCP checksum is not Good: {line:?} (capture kept at {})",
                    keep.display()
                );
            }
            assert!(
                ip.is_empty() || ip == "1",
                "an IPv4 checksum is not Good: {line:?}"
            );
            segments += 1;
        }
        segments
    }
}

/// Compare two byte strings without printing 50 MB when they differ.
fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!(
            "{what}: first difference at byte {i} ({} bytes, {} expected)",
            got.len(),
            want.len()
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length (what arrived is a prefix of what was sent)"
    );
}

/// Connect from synack, retrying while the kernel refuses (its listener may not be up yet).
fn connect_retrying(stack: &Stack, to: SocketAddr) -> TcpStream {
    let end = Instant::now() + GUARD;
    loop {
        match TcpStream::connect_timeout(stack, &to, GUARD) {
            Ok(c) => return c,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < end => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("connect {to}: {e}"),
        }
    }
}

/// An echo server on synack for one connection; returns the bytes it echoed, the connection's
/// info at the kernel's FIN, and the connection (after its FIN went out).
fn synack_echo_once(listener: TcpListener) -> thread::JoinHandle<(usize, ConnInfo, TcpStream)> {
    thread::spawn(move || {
        let (mut conn, _) = listener.accept_timeout(GUARD).unwrap();
        conn.set_read_timeout(Some(GUARD)).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break; // the kernel's FIN
            }
            total += n;
            conn.write_all(&buf[..n]).unwrap();
        }
        let info = conn.info().unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        (total, info, conn)
    })
}

/// The kernel's `nc -N` sends `len` bytes to a synack echo server and reads them back;
/// synack's connection info at the end.
fn kernel_nc_echo(ns: &Netns, stack: &Stack, family: Family, len: usize) -> ConnInfo {
    let listener = TcpListener::bind(stack, addr(family.synack(), 7)).unwrap();
    let echo = synack_echo_once(listener);
    let data = pattern(len, 1);
    let input = ns.dir.join("echo-in");
    let output = ns.dir.join("echo-out");
    std::fs::write(&input, &data).unwrap();
    let started = Instant::now();
    let mut nc = Reaper(
        ns.exec("nc")
            .args(["-N", family.synack(), "7"])
            .stdin(File::open(&input).unwrap())
            .stdout(File::create(&output).unwrap())
            .spawn()
            .unwrap(),
    );
    let st = nc.wait(GUARD).expect("nc finished in time");
    assert!(st.success(), "nc: {st}");
    eprintln!(
        "kernel nc -> synack echo ({family:?}): {len} bytes each way in {:.2?}",
        started.elapsed()
    );
    let (n, info, _conn) = echo.join().unwrap();
    assert_eq!(n, data.len());
    assert_same("echoed bytes", &std::fs::read(&output).unwrap(), &data);
    info
}

/// synack connects to the kernel's `nc -N -l` and both send `len` bytes at once; synack's
/// connection info at the end.
fn synack_to_kernel_nc(ns: &Netns, stack: &Stack, family: Family, len: usize) -> ConnInfo {
    let to_kernel = pattern(len, 2);
    let to_synack = pattern(len, 3);
    let input = ns.dir.join("nc-in");
    let output = ns.dir.join("nc-out");
    std::fs::write(&input, &to_synack).unwrap();
    let mut nc = Reaper(
        ns.exec("nc")
            .args(["-N", "-l", family.kernel(), "5555"])
            .stdin(File::open(&input).unwrap())
            .stdout(File::create(&output).unwrap())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let conn = connect_retrying(stack, addr(family.kernel(), 5555));
    let mut rx = conn.try_clone().unwrap();
    rx.set_read_timeout(Some(GUARD)).unwrap();
    let reader = thread::spawn(move || {
        let mut got = Vec::with_capacity(len);
        rx.read_to_end(&mut got).map(|_| got)
    });
    let mut tx = conn;
    tx.write_all(&to_kernel).unwrap();
    // Half-close only after the kernel's FIN: netcat-openbsd stops sending its input once it
    // reads end of stream from the network (seen: the kernel's FIN came after 47,874,048 of
    // 52,428,800 bytes when synack's FIN overtook nc's reads), which is nc, not TCP.
    let got = reader.join().unwrap().expect("read until the kernel's FIN");
    tx.shutdown(Shutdown::Write).unwrap();
    let info = tx.info().unwrap();
    if got.len() != len {
        eprintln!(
            "synack received {} bytes; info: rcv_nxt-irs={} bytes_received={} state={:?}",
            got.len(),
            info.rcv_nxt.0.wrapping_sub(info.irs.0),
            info.bytes_received,
            info.state
        );
    }
    let st = nc.wait(GUARD).expect("nc finished in time");
    assert!(st.success(), "nc: {st}");
    eprintln!(
        "synack -> kernel nc -l ({family:?}): {len} bytes each way in {:.2?}",
        started.elapsed()
    );
    assert_same("bytes synack received", &got, &to_synack);
    assert_same(
        "bytes the kernel received",
        &std::fs::read(&output).unwrap(),
        &to_kernel,
    );
    info
}

// ----- kernel client, synack server ---------------------------------------------------------

#[test]
fn kernel_nc_through_synack_echo_server() {
    skip_unless_ready!("nc");
    let ns = Netns::new();
    let stack = ns.stack();
    kernel_nc_echo(&ns, &stack, Family::V4, BULK);
}

#[test]
fn kernel_nc_through_synack_echo_server_ipv6() {
    skip_unless_ready!("nc");
    let ns = Netns::new();
    let stack = ns.stack();
    kernel_nc_echo(&ns, &stack, Family::V6, BULK);
}

#[test]
fn curl_gets_a_page_from_the_http_server_example() {
    skip_unless_ready!("curl");
    // `cargo test` builds the examples next to the test binaries' directory.
    let exe = std::env::current_exe().unwrap();
    let example = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("examples").join("http_server"))
        .filter(|p| p.is_file());
    let Some(example) = example else {
        support::skip("the http_server example is not built (cargo test --workspace builds it)");
        return;
    };
    let ns = Netns::new();
    let mut server = Reaper(
        ns.exec(example.to_str().unwrap())
            .args(["synack0", SYNACK_IP, &format!("{KERNEL_IP}/24"), "8080"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving"), "example said {line:?}");
    let (st, page) = ns.output(
        "curl",
        &[
            "-sS",
            "--max-time",
            "30",
            &format!("http://{SYNACK_IP}:8080/index.html"),
        ],
    );
    assert!(st.success(), "curl: {st}");
    assert_eq!(
        page,
        "hello from synack, a userspace TCP\nyou asked: GET /index.html HTTP/1.1\n"
    );
}

#[test]
fn curl_gets_a_page_from_synack_tokio_http() {
    skip_unless_ready!("curl");
    let ns = Netns::new();
    let stack = ns.stack();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = synack::tokio::TcpListener::bind(&stack, addr(SYNACK_IP, 8080)).unwrap();
    let body = "hello from synack\n".repeat(2000);
    let served = body.clone();
    rt.spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let body = served.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
                let _ = conn.shutdown().await;
                while matches!(conn.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let (st, page) = ns.output(
        "curl",
        &[
            "-sS",
            "--max-time",
            "30",
            &format!("http://{SYNACK_IP}:8080/index.html"),
        ],
    );
    assert!(st.success(), "curl: {st}");
    assert_eq!(page, body);
    drop(rt);
}

/// A kernel client's connect(2) to a port nobody listens on in synack fails with ECONNREFUSED
/// (synack answers the SYN with RST, RFC 9293 §3.10.7.1), at once.
fn kernel_connect_refused(family: Family) {
    let ns = Netns::new();
    let stack = ns.stack();
    let script = "import socket, sys\n\
        fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n\
        s = socket.socket(fam, socket.SOCK_STREAM)\n\
        s.settimeout(20)\n\
        try:\n    s.connect((sys.argv[1], 9))\n    print('connected')\n\
        except ConnectionRefusedError:\n    print('ECONNREFUSED')\n\
        except OSError as e:\n    print(repr(e))\n";
    let started = Instant::now();
    let (st, out) = ns.output("python3", &["-c", script, family.synack()]);
    assert!(st.success());
    assert_eq!(out.trim(), "ECONNREFUSED");
    // A RST answers at once; a dropped SYN would have taken the whole 20 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(stack.stats().resets_sent >= 1);
}

#[test]
fn kernel_connect_to_closed_synack_port_is_refused() {
    skip_unless_ready!("python3");
    kernel_connect_refused(Family::V4);
}

#[test]
fn kernel_connect_to_closed_synack_port_is_refused_ipv6() {
    skip_unless_ready!("python3");
    kernel_connect_refused(Family::V6);
}

// ----- synack client, kernel server ---------------------------------------------------------

#[test]
fn synack_client_to_kernel_nc_listener() {
    skip_unless_ready!("nc");
    let ns = Netns::new();
    let stack = ns.stack();
    synack_to_kernel_nc(&ns, &stack, Family::V4, BULK);
}

#[test]
fn synack_client_to_kernel_nc_listener_ipv6() {
    skip_unless_ready!("nc");
    let ns = Netns::new();
    let stack = ns.stack();
    synack_to_kernel_nc(&ns, &stack, Family::V6, BULK);
}

#[test]
fn synack_gets_a_file_from_python_http_server() {
    skip_unless_ready!("python3");
    let ns = Netns::new();
    let stack = ns.stack();
    let www = ns.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let data = pattern(BULK, 4);
    std::fs::write(www.join("big.bin"), &data).unwrap();
    let _server = Reaper(
        ns.exec("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                KERNEL_IP,
                "8000",
                "--directory",
            ])
            .arg(&www)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let mut conn = connect_retrying(&stack, addr(KERNEL_IP, 8000));
    conn.write_all(b"GET /big.bin HTTP/1.0\r\nHost: kernel\r\n\r\n")
        .unwrap();
    conn.set_read_timeout(Some(GUARD)).unwrap();
    let mut resp = Vec::with_capacity(BULK + 1024);
    conn.read_to_end(&mut resp).unwrap(); // HTTP/1.0: the server closes after the body
    eprintln!(
        "synack GET from python3 http.server: {BULK} bytes in {:.2?}",
        started.elapsed()
    );
    let head_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response head")
        + 4;
    let head = String::from_utf8_lossy(&resp[..head_end]);
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains(&format!("Content-Length: {BULK}")), "{head}");
    assert_same("body", &resp[head_end..], &data);
}

#[test]
fn synack_connect_to_closed_kernel_port_is_refused() {
    skip_unless_ready!();
    let ns = Netns::new();
    let stack = ns.stack();
    for ip in [KERNEL_IP, KERNEL_IP6] {
        let err = TcpStream::connect_timeout(&stack, &addr(ip, 9), GUARD).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{ip}: {err}");
    }
}

// ----- through loss and reordering, checked with tcpdump + tshark ---------------------------

#[test]
fn kernel_nc_through_synack_echo_server_with_loss_and_reordering() {
    skip_unless_ready!("nc", "tcpdump", "tshark");
    let ns = Netns::new();
    let stack = ns.impaired_stack(11);
    let cap = ns.capture(&ns.dir.join("echo.pcap"));
    let info = kernel_nc_echo(&ns, &stack, Family::V4, IMPAIRED);
    eprintln!(
        "synack's side: {} retransmits, {} fast retransmits",
        info.retransmits, info.fast_retransmits
    );
    assert!(
        info.retransmits > 0,
        "5% loss should have cost synack retransmissions"
    );
    let segments = cap.stop_and_check_checksums();
    assert!(
        segments > 2 * IMPAIRED / 1460,
        "{segments} segments captured"
    );
}

#[test]
fn synack_client_to_kernel_nc_listener_with_loss_and_reordering() {
    skip_unless_ready!("nc", "tcpdump", "tshark");
    let ns = Netns::new();
    let stack = ns.impaired_stack(12);
    let cap = ns.capture(&ns.dir.join("client.pcap"));
    let info = synack_to_kernel_nc(&ns, &stack, Family::V4, IMPAIRED);
    eprintln!(
        "synack's side: {} retransmits, {} fast retransmits",
        info.retransmits, info.fast_retransmits
    );
    assert!(
        info.retransmits > 0,
        "5% loss should have cost synack retransmissions"
    );
    let segments = cap.stop_and_check_checksums();
    assert!(
        segments > 2 * IMPAIRED / 1460,
        "{segments} segments captured"
    );
}

// ----- the close, in both orders ------------------------------------------------------------

/// The kernel's TCP connections in the namespace as `ss -tan` lists them: (state, local, peer).
fn kernel_sockets(ns: &Netns) -> Vec<(String, String, String)> {
    let (st, out) = ns.output("ss", &["-tan"]);
    assert!(st.success());
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 5).then(|| (f[0].to_string(), f[3].to_string(), f[4].to_string()))
        })
        .collect()
}

/// Poll `f` until it is true (bounded).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The kernel closes first: it sends FIN (FIN-WAIT-1), synack reads end of stream
/// (CLOSE-WAIT), closes (LAST-ACK) and ends CLOSED; the kernel ends in TIME-WAIT.
#[test]
fn kernel_closes_first_and_ends_in_time_wait() {
    skip_unless_ready!("nc", "ss");
    let ns = Netns::new();
    let stack = ns.stack();
    let listener = TcpListener::bind(&stack, addr(SYNACK_IP, 7)).unwrap();
    let echo = synack_echo_once(listener);
    let mut nc = Reaper(
        ns.exec("nc")
            .args(["-N", SYNACK_IP, "7"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    nc.0.stdin.take().unwrap().write_all(b"goodbye\n").unwrap(); // then EOF: nc sends FIN
    let st = nc.wait(GUARD).expect("nc finished in time");
    assert!(st.success());
    let mut echoed = String::new();
    nc.0.stdout
        .take()
        .unwrap()
        .read_to_string(&mut echoed)
        .unwrap();
    assert_eq!(echoed, "goodbye\n");
    let (n, _, conn) = echo.join().unwrap();
    assert_eq!(n, 8);
    // synack: LAST-ACK until the kernel's ACK of our FIN, then CLOSED (and gone).
    eventually("synack's side to reach CLOSED", || {
        conn.info().map_or(true, |i| i.state == State::Closed)
    });
    let socks = kernel_sockets(&ns);
    let peer = format!("{SYNACK_IP}:7");
    assert!(
        socks
            .iter()
            .any(|(state, _, p)| state == "TIME-WAIT" && *p == peer),
        "the kernel's side should be in TIME-WAIT: {socks:?}"
    );
}

/// synack closes first: FIN-WAIT-1, FIN-WAIT-2, then the kernel's FIN puts it in TIME-WAIT
/// (where the stack's `info()` shows it); the kernel passes through CLOSE-WAIT and LAST-ACK
/// to CLOSED and keeps no TIME-WAIT.
#[test]
fn synack_closes_first_and_ends_in_time_wait() {
    skip_unless_ready!("nc", "ss");
    let ns = Netns::new();
    let stack = ns.stack();
    let output = ns.dir.join("received");
    let mut nc = Reaper(
        ns.exec("nc")
            .args(["-l", KERNEL_IP, "5556"])
            .stdin(Stdio::null())
            .stdout(File::create(&output).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut conn = connect_retrying(&stack, addr(KERNEL_IP, 5556));
    conn.write_all(b"goodbye\n").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    conn.set_read_timeout(Some(GUARD)).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap(); // the kernel's FIN, once nc saw ours and exited
    assert!(rest.is_empty());
    let st = nc.wait(GUARD).expect("nc finished in time");
    assert!(st.success());
    assert_eq!(std::fs::read(&output).unwrap(), b"goodbye\n");
    assert_eq!(conn.info().unwrap().state, State::TimeWait);
    let local = conn.local_addr().unwrap();
    assert!(stack.with_endpoint(|ep| {
        ep.connections().any(|h| {
            ep.state(h) == Some(State::TimeWait) && ep.tuple(h).is_some_and(|t| t.local == local)
        })
    }));
    // The kernel's side is CLOSED once our last ACK arrives: no TIME-WAIT there.
    eventually("the kernel's side to close", || {
        !kernel_sockets(&ns)
            .iter()
            .any(|(_, l, p)| *l == format!("{KERNEL_IP}:5556") && *p == local.to_string())
    });
}

// ----- ICMP echo ----------------------------------------------------------------------------

/// The kernel's `ping` (ICMP echo) gets replies from synack, IPv4 and IPv6.
#[test]
fn kernel_ping_gets_echo_replies_from_synack() {
    skip_unless_ready!("ping");
    let ns = Netns::new();
    let stack = ns.stack();
    for (flag, ip) in [("-4", SYNACK_IP), ("-6", SYNACK_IP6)] {
        let (st, out) = ns.output("ping", &[flag, "-c", "3", "-i", "0.2", "-W", "5", ip]);
        assert!(st.success(), "ping {flag} {ip}:\n{out}");
        assert!(out.contains("3 received"), "ping {flag} {ip}:\n{out}");
    }
    assert!(stack.stats().icmp_echo_replies >= 6);
}

// ----- accept-any mode (tun2socks-style) ----------------------------------------------------

/// Prefixes routed into the TUN device (inside the namespace only) for the accept-any tests:
/// every address in them is synack's, none is configured anywhere.
const ANY_PREFIX: &str = "198.18.0.0/16";
const ANY_PREFIX6: &str = "fd00:99::/64";

/// A stack in `ns` with no local address list (every destination is its own), the kernel's
/// side of the device at 10.200.0.1/24 and fd00:5a::1/64, and [`ANY_PREFIX`] and
/// [`ANY_PREFIX6`] routed into the device.
fn accept_any_stack(ns: &Netns) -> Stack {
    let name = ns.name.clone();
    Stack::builder(Config::default())
        .spawn(move || {
            netns::enter(&name)?;
            let tun = Tun::open("synack0")?;
            tun.configure_host_addrs(&[&format!("{KERNEL_IP}/24"), &format!("{KERNEL_IP6}/64")])?;
            synack::tun::ip(&["route", "add", ANY_PREFIX, "dev", "synack0"])?;
            synack::tun::ip(&["-6", "route", "add", ANY_PREFIX6, "dev", "synack0"])?;
            Ok(tun)
        })
        .expect("accept-any stack on a TUN device in the namespace")
}

/// The kernel connects to arbitrary addresses and ports in prefixes routed into the TUN
/// device; synack's `bind_any` listener accepts every connection, each stream's `local_addr`
/// is the original destination, and the data (256 KiB each) comes back byte-exact behind a
/// line naming that destination.
#[test]
fn kernel_connections_to_any_address_reach_bind_any() {
    skip_unless_ready!("python3");
    const DESTS: [&str; 3] = ["198.18.7.9:443", "198.18.200.1:8080", "[fd00:99::42]:25"];
    let ns = Netns::new();
    let stack = accept_any_stack(&ns);
    assert!(stack.local_addrs().is_empty());
    let listener = TcpListener::bind_any(&stack).unwrap();
    let server = thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in DESTS {
            let (mut conn, peer) = listener.accept_timeout(GUARD).unwrap();
            let local = conn.local_addr().unwrap();
            conn.set_read_timeout(Some(GUARD)).unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).unwrap();
            conn.write_all(format!("{local}\n").as_bytes()).unwrap();
            conn.write_all(&got).unwrap();
            conn.shutdown(Shutdown::Write).unwrap();
            seen.push((local, peer, got.len()));
        }
        seen
    });
    // One connection after the other; for each: the kernel's source address, and "ok" when
    // the reply is the destination's line followed by exactly what was sent.
    let script = "import socket, sys\n\
        for dest in sys.argv[1:]:\n\
        \x20   host, port = dest.rsplit(':', 1)\n\
        \x20   host = host.strip('[]')\n\
        \x20   fam = socket.AF_INET6 if ':' in host else socket.AF_INET\n\
        \x20   s = socket.socket(fam, socket.SOCK_STREAM)\n\
        \x20   s.settimeout(30)\n\
        \x20   s.connect((host, int(port)))\n\
        \x20   sent = ('hello ' + dest + '\\n').encode() + bytes(range(256)) * 1024\n\
        \x20   s.sendall(sent)\n\
        \x20   s.shutdown(socket.SHUT_WR)\n\
        \x20   got = b''\n\
        \x20   while True:\n\
        \x20       chunk = s.recv(65536)\n\
        \x20       if not chunk:\n\
        \x20           break\n\
        \x20       got += chunk\n\
        \x20   want = (dest + '\\n').encode() + sent\n\
        \x20   src = s.getsockname()\n\
        \x20   print(dest, src[0], src[1], 'ok' if got == want else 'bad %d of %d bytes' % (len(got), len(want)))\n\
        \x20   s.close()\n";
    let mut args = vec!["-c", script];
    args.extend(DESTS);
    let (st, out) = ns.output("python3", &args);
    assert!(st.success(), "python3:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), DESTS.len(), "python3:\n{out}");
    let seen = server.join().unwrap();
    for ((dest, line), (local, peer, len)) in DESTS.iter().zip(&lines).zip(&seen) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.get(3), Some(&"ok"), "{line}");
        assert_eq!(f[0], *dest);
        // synack's side of the connection is the original destination, its peer the
        // kernel's socket.
        assert_eq!(*local, dest.parse::<SocketAddr>().unwrap(), "{line}");
        assert_eq!(
            *peer,
            SocketAddr::new(f[1].parse().unwrap(), f[2].parse().unwrap())
        );
        let kernel = if local.is_ipv4() {
            KERNEL_IP
        } else {
            KERNEL_IP6
        };
        assert_eq!(peer.ip(), kernel.parse::<IpAddr>().unwrap());
        assert_eq!(*len, format!("hello {dest}\n").len() + 256 * 1024);
    }
    eprintln!("accept-any: synack accepted {seen:?}");
}

// ----- hyper -----------------------------------------------------------------------------------

/// The path of an example binary `cargo test` built next to the test binaries, if it did.
fn example_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("examples").join(name))
        .filter(|p| p.is_file())
}

/// The kernel's curl against the hyper example (`examples/hyper_server.rs`): two GETs over
/// one kept-alive HTTP/1.1 connection, then a 1 MiB POST echoed back byte for byte.
#[test]
fn curl_talks_http11_to_the_hyper_server_example() {
    skip_unless_ready!("curl");
    let Some(example) = example_binary("hyper_server") else {
        support::skip("the hyper_server example is not built (cargo test --workspace builds it)");
        return;
    };
    let ns = Netns::new();
    let mut server = Reaper(
        ns.exec(example.to_str().unwrap())
            .args(["synack0", SYNACK_IP, &format!("{KERNEL_IP}/24"), "8080"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving"), "example said {line:?}");

    // Two URLs in one curl: the second request reuses the first connection (keep-alive);
    // `%{num_connects}` counts the connections each transfer opened.
    let base = format!("http://{SYNACK_IP}:8080");
    let (st, out) = ns.output(
        "curl",
        &[
            "-sS",
            "--max-time",
            "30",
            "-w",
            "connects=%{num_connects} code=%{http_code}\n",
            &format!("{base}/one"),
            &format!("{base}/two?x=1"),
        ],
    );
    assert!(st.success(), "curl: {st}\n{out}");
    let mut pages = out.split("hello from hyper over synack, a userspace TCP\n");
    assert_eq!(pages.next(), Some(""), "{out}");
    let (one, two) = (pages.next().unwrap(), pages.next().unwrap());
    assert!(
        one.starts_with("you asked: GET /one HTTP/1.1\nfrom "),
        "{one}"
    );
    assert!(one.contains(&format!(" to {SYNACK_IP}:8080\n")), "{one}");
    assert!(one.ends_with("connects=1 code=200\n"), "{one}");
    assert!(
        two.starts_with("you asked: GET /two?x=1 HTTP/1.1\n"),
        "{two}"
    );
    assert!(two.ends_with("connects=0 code=200\n"), "reused: {two}");

    let body = pattern(1 << 20, 7);
    let input = ns.dir.join("post-body");
    let output = ns.dir.join("post-reply");
    std::fs::write(&input, &body).unwrap();
    let (st, out) = ns.output(
        "curl",
        &[
            "-sS",
            "--max-time",
            "60",
            "--data-binary",
            &format!("@{}", input.display()),
            "-o",
            output.to_str().unwrap(),
            "-w",
            "%{http_code}",
            &format!("{base}/echo"),
        ],
    );
    assert!(st.success(), "curl POST: {st}");
    assert_eq!(out, "200");
    assert_same(
        "POST body echoed by hyper",
        &std::fs::read(&output).unwrap(),
        &body,
    );
}
