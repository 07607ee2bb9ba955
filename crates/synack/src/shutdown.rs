//! Graceful shutdown of a whole stack: stop accepting, close every connection with a FIN
//! after its queued data, wait (bounded) for the closes to finish, reset what remains, stop.
//!
//! What a kernel does for a process that exits with connections open, done by the stack
//! itself since no kernel finishes our closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use synack_proto::State;

use crate::stack::Stack;

/// How a shutdown is going, given to the progress callback of [`Stack::shutdown_with`].
#[derive(Clone, Debug, Default)]
pub struct ShutdownProgress {
    /// Time since the shutdown began.
    pub elapsed: Duration,
    /// The grace period.
    pub grace: Duration,
    /// Connections still closing, by state (TIME-WAIT and CLOSED are done).
    pub closing: Vec<(State, usize)>,
    /// Connections in TIME-WAIT (finished; they stop with the stack).
    pub time_wait: usize,
}

impl ShutdownProgress {
    /// Connections still closing.
    pub fn remaining(&self) -> usize {
        self.closing.iter().map(|(_, n)| n).sum()
    }
}

/// What a shutdown did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections open (not TIME-WAIT) when the shutdown began.
    pub open_at_start: usize,
    /// Of those, the ones that finished their close in time (a FIN exchange, or the peer's
    /// RST).
    pub closed: usize,
    /// Connections reset at the end of the grace period (or at once when aborted).
    pub reset: usize,
    /// The abort flag ended the wait before the grace period did.
    pub aborted: bool,
    /// How long the shutdown took.
    pub elapsed: Duration,
}

/// How often the wait re-checks the abort flag and reports progress.
const TICK: Duration = Duration::from_millis(100);

fn closing(state: Option<State>) -> bool {
    !matches!(state, None | Some(State::TimeWait) | Some(State::Closed))
}

impl Stack {
    /// Shut the stack down gracefully: stop listening (SYNs then get RSTs), send a FIN after
    /// the queued data on every connection, wait up to `grace` for every close to finish
    /// (TIME-WAIT counts as finished), then reset the connections still open, stop the
    /// stack thread once it has sent the resets, and remove the control socket. Sockets
    /// still held then fail with `NotConnected`.
    pub fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.shutdown_with(grace, None, |_| {})
    }

    /// [`Stack::shutdown`], ending the wait early when `abort` becomes true (a second
    /// Ctrl-C), and calling `progress` at the start, whenever the count of connections per
    /// state changes (checked every 100 ms), and once at the end.
    pub fn shutdown_with(
        &self,
        grace: Duration,
        abort: Option<&AtomicBool>,
        mut progress: impl FnMut(&ShutdownProgress),
    ) -> ShutdownReport {
        let start = std::time::Instant::now();
        let deadline = start + grace;
        let shared = &self.shared;
        let mut report = ShutdownReport::default();
        // 1. Stop accepting, and FIN every connection after its queued data.
        {
            let mut g = shared.lock();
            let inner = &mut *g;
            let listeners: Vec<_> = inner.listeners.keys().copied().collect();
            for l in listeners {
                inner.ep.unlisten(l);
            }
            let handles: Vec<_> = inner.ep.connections().collect();
            for h in handles {
                let state = inner.ep.state(h);
                if !closing(state) {
                    continue;
                }
                report.open_at_start += 1;
                match state {
                    // Nothing synchronized to close: forget the SYN (no RST in SYN-SENT).
                    Some(State::SynSent) => {
                        let _ = inner.ep.abort(h);
                    }
                    _ => {
                        // Accepted connections half-close (the application may still read
                        // what the peer sends until it closes); ones waiting in an accept
                        // queue are closed for good. Already-released ones close by themselves.
                        if inner.ep.shutdown(h).is_err() {
                            let _ = inner.ep.close(h);
                        }
                    }
                }
            }
        }
        shared.kick();
        shared.cond.notify_all();

        // 2. Wait, reporting progress.
        let snapshot = |elapsed| {
            let g = shared.lock();
            let mut p = ShutdownProgress {
                elapsed,
                grace,
                ..Default::default()
            };
            for h in g.ep.connections() {
                match g.ep.state(h) {
                    Some(State::TimeWait) => p.time_wait += 1,
                    s if closing(s) => {
                        let s = s.unwrap_or(State::Closed);
                        match p.closing.iter_mut().find(|(k, _)| *k == s) {
                            Some(e) => e.1 += 1,
                            None => p.closing.push((s, 1)),
                        }
                    }
                    _ => {}
                }
            }
            p.closing
                .sort_by_key(|(s, _)| State::ALL.iter().position(|a| a == s));
            (p, g.stopped)
        };
        let mut last: Option<Vec<(State, usize)>> = None;
        loop {
            let now = std::time::Instant::now();
            let (p, stopped) = snapshot(now - start);
            if last.as_ref() != Some(&p.closing) {
                progress(&p);
                last = Some(p.closing.clone());
            }
            if stopped || p.remaining() == 0 {
                break;
            }
            if abort.is_some_and(|a| a.load(Ordering::Acquire)) {
                report.aborted = true;
                break;
            }
            if now >= deadline {
                break;
            }
            let g = shared.lock();
            let wait = TICK.min(deadline - now);
            drop(
                shared
                    .cond
                    .wait_timeout(g, wait)
                    .unwrap_or_else(|e| e.into_inner()),
            );
        }

        // 3. Reset what remains and stop: the thread sends the RSTs on its last turn.
        {
            let mut g = shared.lock();
            let inner = &mut *g;
            let handles: Vec<_> = inner.ep.connections().collect();
            let mut left = 0;
            for h in handles {
                if !closing(inner.ep.state(h)) {
                    continue;
                }
                left += 1;
                report.reset += 1;
                // ABORT (§3.10.5), also for connections the application already closed.
                let _ = inner.ep.reset(h);
            }
            report.closed = report.open_at_start.saturating_sub(left);
        }
        // The thread sends the RSTs on its last turn; then the control socket goes.
        self.stop_and_join();
        report.elapsed = start.elapsed();
        let (mut p, _) = snapshot(report.elapsed);
        p.closing.clear();
        progress(&p);
        report
    }
}
