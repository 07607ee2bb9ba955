//! SIGINT/SIGTERM for the commands that run a stack: the first signal starts a graceful
//! shutdown ([`synack::Stack::shutdown_with`]: stop accepting, FIN every connection after its
//! queued data, wait up to the grace period, reset the rest) with its progress on stderr; a
//! second one resets everything at once; a third exits without waiting.
//!
//! The handler only writes the signal number to a self-pipe (write(2) is async-signal-safe);
//! a thread reads the pipe and does the work.
//!
//! That thread holds the stack weakly: when the command returns (an error included) its
//! `Arc<Stack>` is the last one, and dropping it stops the stack and removes the control
//! socket file.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use synack::{ShutdownProgress, ShutdownReport, Stack};

static PIPE_WR: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WR.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) on a valid fd with a 1-byte buffer; async-signal-safe.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// Install the handlers; returns the pipe's read end.
fn install_handlers() -> io::Result<libc::c_int> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    PIPE_WR.store(fds[1], Ordering::Relaxed);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction with our handler and an empty mask is valid.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(fds[0])
}

fn signal_name(sig: u8) -> &'static str {
    match libc::c_int::from(sig) {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

#[derive(Default)]
struct Phase {
    requested: bool,
    report: Option<ShutdownReport>,
}

/// Watches for SIGINT/SIGTERM and shuts `stack` down when one comes.
pub struct Stopper {
    phase: Arc<(Mutex<Phase>, Condvar)>,
}

impl Stopper {
    /// Handle SIGINT/SIGTERM from now on for `stack`, giving connections `grace` to close.
    pub fn install(stack: Arc<Stack>, grace: Duration, who: &'static str) -> Result<Self, String> {
        let fd = install_handlers().map_err(|e| format!("signal handlers: {e}"))?;
        let control = stack.control_path();
        let stack: Weak<Stack> = Arc::downgrade(&stack);
        let phase: Arc<(Mutex<Phase>, Condvar)> = Arc::default();
        let abort = Arc::new(AtomicBool::new(false));
        let p = phase.clone();
        std::thread::Builder::new()
            .name("synack-signals".into())
            .spawn(move || {
                let mut count = 0;
                loop {
                    let mut b = 0u8;
                    // SAFETY: reading one byte into a valid buffer from our pipe.
                    let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
                    if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    if n != 1 {
                        return;
                    }
                    count += 1;
                    match count {
                        1 => {
                            p.0.lock().unwrap_or_else(|e| e.into_inner()).requested = true;
                            // Gone: the command is returning and its drop stops the stack.
                            let Some(stack) = stack.upgrade() else {
                                continue;
                            };
                            let (abort, p) = (abort.clone(), p.clone());
                            let name = signal_name(b);
                            std::thread::spawn(move || {
                                let r = run_shutdown(&stack, grace, &abort, who, name);
                                let mut g = p.0.lock().unwrap_or_else(|e| e.into_inner());
                                g.report = Some(r);
                                p.1.notify_all();
                            });
                        }
                        2 => {
                            crate::errln!(
                                "synack {who}: {} again: resetting every connection now",
                                signal_name(b)
                            );
                            abort.store(true, Ordering::Release);
                        }
                        _ => {
                            crate::errln!("synack {who}: exiting without waiting");
                            // No destructor runs: remove the control socket here.
                            if let Some(path) = &control {
                                let _ = std::fs::remove_file(path);
                            }
                            std::process::exit(130);
                        }
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Stopper { phase })
    }

    /// Whether a signal asked for a shutdown.
    pub fn requested(&self) -> bool {
        self.phase
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .requested
    }

    /// Wait for the shutdown a signal started to finish.
    pub fn wait(&self) -> ShutdownReport {
        let mut g = self.phase.0.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = &g.report {
                return r.clone();
            }
            g = self.phase.1.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn describe(p: &ShutdownProgress) -> String {
    let mut s = p
        .closing
        .iter()
        .map(|(st, n)| format!("{n} {st}"))
        .collect::<Vec<_>>()
        .join(", ");
    if p.time_wait > 0 {
        if !s.is_empty() {
            s.push_str("; ");
        }
        s.push_str(&format!("{} in TIME-WAIT (done)", p.time_wait));
    }
    s
}

/// The shutdown with its progress on stderr.
fn run_shutdown(
    stack: &Stack,
    grace: Duration,
    abort: &AtomicBool,
    who: &str,
    signal: &str,
) -> ShutdownReport {
    let mut first = true;
    // A line a second at most: with thousands of connections closing, the count per state
    // changes at every check.
    let mut last_line = std::time::Instant::now();
    let report = stack.shutdown_with(grace, Some(abort), |p| {
        if first {
            first = false;
            crate::errln!(
                "synack {who}: {signal}: no longer accepting; closing {} connection{} with FIN \
                 (up to {:.1} s; Ctrl-C again resets them now)",
                p.remaining(),
                if p.remaining() == 1 { "" } else { "s" },
                grace.as_secs_f64()
            );
            if p.remaining() > 0 {
                crate::errln!("synack {who}: closing: {}", describe(p));
            }
        } else if p.remaining() > 0 && last_line.elapsed() >= Duration::from_secs(1) {
            last_line = std::time::Instant::now();
            crate::errln!(
                "synack {who}: {:.1} s left: {}",
                grace.saturating_sub(p.elapsed).as_secs_f64(),
                describe(p)
            );
        }
    });
    crate::errln!(
        "synack {who}: stopped after {:.2} s: {} of {} connection{} finished closing, {} reset{}",
        report.elapsed.as_secs_f64(),
        report.closed,
        report.open_at_start,
        if report.open_at_start == 1 { "" } else { "s" },
        report.reset,
        if report.aborted { " (aborted)" } else { "" },
    );
    report
}
