//! Scaffolding shared by the root-only tests (TUN devices in network namespaces, kernel peers):
//! the skip check, and a child-process guard with a bounded wait. Included by the tests of
//! `synack` (`mod support;`) and of `synack-cli` (`#[path = ...] mod support;`).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Whether `cmd` is an executable file on `PATH`.
pub fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// Why this machine cannot run a root test that needs `tools`, if it cannot: not root, no
/// `/dev/net/tun`, or a program missing.
pub fn skip_reason(tools: &[&str]) -> Option<String> {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if !is_root {
        return Some("needs root".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("no /dev/net/tun".into());
    }
    tools
        .iter()
        .find(|t| !on_path(t))
        .map(|t| format!("`{t}` is not installed"))
}

/// Say why a test cannot run and return (the caller returns next). Under CI (the `CI`
/// environment variable set, as `.ci/run` is run) a test that cannot run is a failure, not a
/// quiet pass: this panics instead.
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("this test cannot run here and CI is set: {why}");
    }
    eprintln!("skipping: {why}");
}

/// Kills the child when dropped (every exit path).
pub struct Reaper(pub Child);

impl Reaper {
    /// Wait at most `limit`; the child is killed if it is still running then.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_bounded(&mut self.0, limit)
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait for a child at most `limit`; kill it if it is still running then.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// A network namespace that exists while the guard lives (its loopback up), with a scratch
/// directory of the same name under the temp dir. Dropping it — also when the test panics — kills whatever still runs
/// inside, deletes the namespace (and with it its TUN devices) and removes the directory.
pub struct Netns {
    pub name: String,
    pub dir: std::path::PathBuf,
}

impl Netns {
    /// A fresh namespace, named uniquely for this process and call.
    pub fn new() -> Netns {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "synack-t-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let st = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(st.success(), "ip netns add {name}");
        // Loopback up, so that programs inside can talk to each other (a capture on lo).
        let up = std::process::Command::new("ip")
            .args(["-n", &name, "link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(up, "lo up in {name}");
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Netns { name, dir }
    }

    /// A command run inside the namespace.
    pub fn exec(&self, program: &str) -> std::process::Command {
        let mut c = std::process::Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        use std::process::Command;
        if let Ok(o) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Spawn `cmd` with standard error piped, and wait at most `limit` for a line containing
/// `ready` (e.g. serve's "listening on"). Returns the child, the lines up to and including that
/// one, and a channel of the lines after it. A thread drains standard error to the end, so the
/// child never blocks on a full pipe, whether or not the channel is read.
pub fn spawn_until(
    cmd: &mut std::process::Command,
    ready: &str,
    limit: Duration,
) -> (Reaper, Vec<String>, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = Reaper(cmd.stderr(std::process::Stdio::piped()).spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("no line with {ready:?} on stderr: {seen:?}"));
        let done = line.contains(ready);
        seen.push(line);
        if done {
            return (child, seen, rx);
        }
    }
}

/// A seeded byte pattern the receiver can check byte for byte (the TUN tests' payloads).
#[allow(dead_code)]
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(0x9e37_79b9)).to_be_bytes()
                [1]
        })
        .collect()
}

/// `ip:port` from an address literal.
#[allow(dead_code)]
pub fn addr(ip: &str, port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::new(ip.parse::<std::net::IpAddr>().unwrap(), port)
}
