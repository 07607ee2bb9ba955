//! Interop with the Linux kernel's TCP over a TUN device. Needs root; skipped (with the reason
//! printed) otherwise, or when `ip`, `nc` or `curl` is missing.
//!
//! Every test makes its own network namespace (`synack-t-<pid>-<n>`), removes it on every exit
//! path (a guard with `Drop`), and sends traffic only to addresses inside it: the stack thread
//! enters the namespace with setns(2) before it opens the TUN device, the kernel's side of the
//! device gets 10.200.0.1/24, synack owns 10.200.0.2, and kernel programs run under
//! `ip netns exec`. Every child process is killed if it outlives its time limit.

#![cfg(target_os = "linux")]

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use synack::net::{TcpListener, TcpStream};
use synack::tun::{netns, Tun};
use synack::{Config, Stack};

const GUARD: Duration = Duration::from_secs(60);
const SYNACK_IP: &str = "10.200.0.2";
const KERNEL_IP: &str = "10.200.0.1";

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// Why this machine cannot run the test, if it cannot.
fn skip_reason(tools: &[&str]) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    for t in tools {
        if !on_path(t) {
            return Some(format!("`{t}` is not installed"));
        }
    }
    None
}

macro_rules! skip_unless_ready {
    ($($tool:expr),*) => {
        if let Some(why) = skip_reason(&["ip" $(, $tool)*]) {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

/// A network namespace that exists while this guard lives.
struct Netns {
    name: String,
    dir: PathBuf,
}

impl Netns {
    fn new() -> Netns {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "synack-t-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(st.success(), "ip netns add {name}");
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        Netns { name, dir }
    }

    /// A command run inside the namespace.
    fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// A stack whose thread lives in the namespace, on TUN device `synack0` there.
    fn stack(&self) -> Stack {
        let ns = self.name.clone();
        let config = Config {
            local_addrs: vec![SYNACK_IP.parse().unwrap()],
            ..Config::default()
        };
        Stack::builder(config)
            .spawn(move || {
                netns::enter(&ns)?;
                let tun = Tun::open("synack0")?;
                tun.configure_host(Some(&format!("{KERNEL_IP}/24")))?;
                Ok(tun)
            })
            .expect("stack on a TUN device in the namespace")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Wait for a child at most `limit`; kill it if it is still running then.
fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() < end => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed).to_be_bytes()[1])
        .collect()
}

fn addr(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

#[test]
fn kernel_nc_through_synack_echo_server() {
    skip_unless_ready!("nc");
    let ns = Netns::new();
    let stack = ns.stack();
    let listener = TcpListener::bind(&stack, addr(SYNACK_IP, 7)).unwrap();
    let echo = thread::spawn(move || {
        let (mut conn, _) = listener.accept_timeout(GUARD).unwrap();
        conn.set_read_timeout(Some(GUARD)).unwrap();
        let mut buf = vec![0u8; 32 * 1024];
        let mut total = 0usize;
        loop {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            conn.write_all(&buf[..n]).unwrap();
        }
        conn.shutdown(Shutdown::Write).unwrap();
        total
    });
    let data = pattern(3 << 20, 1);
    let input = ns.dir.join("in");
    let output = ns.dir.join("out");
    std::fs::write(&input, &data).unwrap();
    let mut nc = ns
        .exec("nc")
        .args(["-N", SYNACK_IP, "7"])
        .stdin(File::open(&input).unwrap())
        .stdout(File::create(&output).unwrap())
        .spawn()
        .unwrap();
    let st = wait_bounded(&mut nc, GUARD).expect("nc finished in time");
    assert!(st.success(), "nc: {st}");
    assert_eq!(echo.join().unwrap(), data.len());
    let got = std::fs::read(&output).unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echoed bytes differ");
}

#[test]
fn synack_client_to_kernel_nc_listener() {
    skip_unless_ready!("nc");
    let ns = Netns::new();
    let stack = ns.stack();
    let output = ns.dir.join("received");
    let mut nc = ns
        .exec("nc")
        .args(["-l", KERNEL_IP, "5555"])
        .stdin(Stdio::null())
        .stdout(File::create(&output).unwrap())
        .spawn()
        .unwrap();
    // nc needs a moment to listen: retry while the kernel refuses (bounded by GUARD).
    let end = Instant::now() + GUARD;
    let mut conn = loop {
        match TcpStream::connect_timeout(&stack, &addr(KERNEL_IP, 5555), GUARD) {
            Ok(c) => break c,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < end => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                let _ = nc.kill();
                panic!("connect: {e}");
            }
        }
    };
    let data = pattern(3 << 20, 2);
    conn.write_all(&data).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    conn.set_read_timeout(Some(GUARD)).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap(); // nc closes after our FIN
    let st = wait_bounded(&mut nc, GUARD).expect("nc finished in time");
    assert!(st.success(), "nc: {st}");
    let got = std::fs::read(&output).unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes differ");
    assert!(rest.is_empty());
}

#[test]
fn curl_gets_a_page_from_synack_http() {
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
    let mut curl = ns
        .exec("curl")
        .args(["-sS", "--max-time", "30", "-o"])
        .arg(ns.dir.join("page"))
        .arg(format!("http://{SYNACK_IP}:8080/index.html"))
        .spawn()
        .unwrap();
    let st = wait_bounded(&mut curl, GUARD).expect("curl finished in time");
    assert!(st.success(), "curl: {st}");
    assert_eq!(std::fs::read_to_string(ns.dir.join("page")).unwrap(), body);
    drop(rt);
}

#[test]
fn synack_connect_to_closed_kernel_port_is_refused() {
    skip_unless_ready!();
    let ns = Netns::new();
    let stack = ns.stack();
    let err = TcpStream::connect_timeout(&stack, &addr(KERNEL_IP, 9), GUARD).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn kernel_connect_to_closed_synack_port_gets_rst() {
    skip_unless_ready!("nc");
    let ns = Netns::new();
    let stack = ns.stack();
    let start = Instant::now();
    let mut nc = ns
        .exec("nc")
        .args(["-z", "-w", "20", SYNACK_IP, "9"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let st = wait_bounded(&mut nc, GUARD).expect("nc finished in time");
    assert!(!st.success(), "nc should fail against a closed port");
    // A RST answers at once; a dropped SYN would have taken nc's whole 20 s timeout.
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert!(stack.stats().resets_sent >= 1);
}
