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
