//! The invariants every run must keep, and the report that lists what broke.
//!
//! Checked by [`crate::Sim::run`]:
//!
//! 1. **Data**: every app's received bytes match the pattern its peer sends, in order (the apps
//!    verify each byte and record mismatches as errors); for each connection pair (matched by
//!    4-tuple across hosts) a side never received more than the other sent, and a side that
//!    read end-of-stream received exactly what the other sent.
//! 2. **State machine**: every transition is an edge of RFC 9293's diagram
//!    (`from.can_transition(to)`); transitions chain (each `from` is the previous `to` of that
//!    connection; the first starts at CLOSED or LISTEN).
//! 3. **Endings** (when the run went quiet rather than hitting its limit): every connection's
//!    last transition is to CLOSED (or back to LISTEN, for a passive child that was reset),
//!    every app is done and saw a `Closed` event for each of its connections, and every
//!    endpoint's `connection_count()` is back to 0 — memory returned to its start.
//! 4. **Progress**: a run that hit its limit while an app was not done is a violation; so is
//!    an endpoint that spins (asks for a timeout at the same instant forever).

use std::collections::BTreeMap;

use synack_proto::{ConnHandle, Instant, State};

use crate::apps::{AppOutcome, ConnOutcome};
use crate::sim::{HostId, Sim, SimStats, TransitionRecord};

/// The result of [`Sim::run`].
#[derive(Clone, Debug)]
pub struct RunReport {
    pub seed: u64,
    /// Virtual time when the run stopped.
    pub end: Instant,
    /// Every invariant violation, as a sentence naming the host and connection.
    pub violations: Vec<String>,
    /// Each app's outcome, by host (hosts without an app are left out).
    pub outcomes: Vec<(HostId, AppOutcome)>,
    /// The run stopped at its limit rather than going quiet (end-state checks were skipped).
    pub hit_limit: bool,
    /// Link counters.
    pub stats: SimStats,
    /// How to replay this run.
    pub replay: String,
}

impl RunReport {
    /// No violations.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Panic if any invariant broke, with a message that starts with the seed:
    /// `seed 1234: <violations> (replay: SYNACK_SEED=1234 cargo test ...)`.
    #[track_caller]
    pub fn assert_ok(&self) {
        if !self.is_ok() {
            panic!("{}", self.failure_message());
        }
    }

    /// The message [`RunReport::assert_ok`] panics with (at most 20 violations listed).
    pub fn failure_message(&self) -> String {
        let shown: Vec<&str> = self
            .violations
            .iter()
            .take(20)
            .map(String::as_str)
            .collect();
        let more = self.violations.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!("; … and {more} more")
        } else {
            String::new()
        };
        format!(
            "seed {}: {}{more} (replay: {})",
            self.seed,
            shown.join("; "),
            self.replay
        )
    }

    /// The outcome of the app on `host`.
    pub fn outcome(&self, host: HostId) -> Option<&AppOutcome> {
        self.outcomes
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, o)| o)
    }
}

/// Check the transition log; `end_checks` adds "every connection ended CLOSED".
pub fn check_transitions(
    transitions: &[TransitionRecord],
    names: &[String],
    end_checks: bool,
) -> Vec<String> {
    let name = |h: HostId| names.get(h.0).cloned().unwrap_or_else(|| h.to_string());
    let mut v = Vec::new();
    let mut last: BTreeMap<(HostId, ConnHandle), State> = BTreeMap::new();
    for t in transitions {
        let who = format!("{} conn {} ({})", name(t.host), t.conn, t.tuple);
        if !t.from.can_transition(t.to) {
            v.push(format!(
                "{who}: {} -> {} at {} ({}) is not an RFC 9293 transition",
                t.from, t.to, t.at, t.cause
            ));
        }
        match last.insert((t.host, t.conn), t.to) {
            Some(prev) if prev != t.from => v.push(format!(
                "{who}: transition {} -> {} at {} ({}) but the connection was in {prev}",
                t.from, t.to, t.at, t.cause
            )),
            None if !matches!(t.from, State::Closed | State::Listen) => v.push(format!(
                "{who}: first transition starts in {} at {} ({})",
                t.from, t.at, t.cause
            )),
            _ => {}
        }
    }
    if end_checks {
        for ((host, conn), state) in &last {
            if !matches!(state, State::Closed | State::Listen) {
                v.push(format!(
                    "{} conn {conn}: ended in {state}, not CLOSED",
                    name(*host)
                ));
            }
        }
    }
    v
}

/// Check the apps' outcomes against each other.
pub fn check_outcomes(
    outcomes: &[(HostId, AppOutcome)],
    names: &[String],
    end_checks: bool,
) -> Vec<String> {
    let name = |h: HostId| names.get(h.0).cloned().unwrap_or_else(|| h.to_string());
    let mut v = Vec::new();
    for (h, o) in outcomes {
        for e in &o.errors {
            v.push(format!("{} {}: {e}", name(*h), o.role));
        }
        if end_checks {
            if !o.done {
                v.push(format!(
                    "{} {}: not done when the network went quiet",
                    name(*h),
                    o.role
                ));
            }
            for c in o.conns.iter().filter(|c| c.closed.is_none()) {
                v.push(format!(
                    "{} {} conn {}: never saw a Closed event",
                    name(*h),
                    o.role,
                    c.conn
                ));
            }
        }
    }
    // Pair connections across hosts by 4-tuple and compare the byte counts.
    let all: Vec<(HostId, &ConnOutcome)> = outcomes
        .iter()
        .flat_map(|(h, o)| o.conns.iter().map(move |c| (*h, c)))
        .collect();
    for (rh, r) in &all {
        let Some(rt) = r.tuple else { continue };
        let mut peers = all.iter().filter(|(_, s)| {
            s.tuple
                .is_some_and(|st| st.local == rt.remote && st.remote == rt.local)
        });
        let (Some((sh, s)), None) = (peers.next(), peers.next()) else {
            continue;
        };
        let who = format!("{} conn {} ({rt})", name(*rh), r.conn);
        if r.bytes_received > s.bytes_sent {
            v.push(format!(
                "{who}: received {} bytes but {} conn {} sent only {}",
                r.bytes_received,
                name(*sh),
                s.conn,
                s.bytes_sent
            ));
        } else if r.eof && r.bytes_received != s.bytes_sent {
            v.push(format!(
                "{who}: end of stream after {} bytes but {} conn {} sent {}",
                r.bytes_received,
                name(*sh),
                s.conn,
                s.bytes_sent
            ));
        }
    }
    v
}

/// Run every check on a simulation that has stopped.
pub(crate) fn check(sim: &Sim, hit_limit: bool) -> RunReport {
    let names = sim.names();
    let end_checks = !hit_limit;
    let mut violations: Vec<String> = sim.sim_violations().to_vec();
    let stalled = !violations.is_empty();
    violations.extend(check_transitions(
        sim.transitions(),
        &names,
        end_checks && !stalled,
    ));
    let outcomes = sim.outcomes();
    violations.extend(check_outcomes(&outcomes, &names, end_checks && !stalled));
    if hit_limit {
        let unfinished: Vec<String> = outcomes
            .iter()
            .filter(|(_, o)| !o.done)
            .map(|(h, o)| format!("{} {}", names[h.0], o.role))
            .collect();
        if !unfinished.is_empty() {
            violations.push(format!(
                "run hit its limit at {} before these apps finished: {}",
                sim.now(),
                unfinished.join(", ")
            ));
        }
    } else if !stalled {
        for (h, n) in sim.connection_counts() {
            if n != 0 {
                violations.push(format!(
                    "{}: {n} connection(s) still alive after the network went quiet",
                    names[h.0]
                ));
            }
        }
    }
    RunReport {
        seed: sim.seed(),
        end: sim.now(),
        violations,
        outcomes,
        hit_limit,
        stats: sim.stats().clone(),
        replay: sim.replay_hint(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use synack_proto::{CloseReason, Config, Endpoint, FourTuple};

    fn tuple(a: u16, b: u16) -> FourTuple {
        FourTuple {
            local: SocketAddr::from(([10, 0, 0, 1], a)),
            remote: SocketAddr::from(([10, 0, 0, 2], b)),
        }
    }

    /// Distinct handles, `handle(n)` for n in 1..=3: only an endpoint makes handles, so these
    /// are those of three connections it opened.
    fn handle(n: usize) -> ConnHandle {
        let mut ep = Endpoint::new(
            Config::default().with_local_addrs(vec![[10, 0, 0, 1].into()]),
            [0; 16],
        );
        let mut h = Vec::new();
        for port in 1..=3 {
            let local = SocketAddr::from(([10, 0, 0, 1], port));
            let remote = SocketAddr::from(([10, 0, 0, 2], 80));
            h.push(ep.connect(Instant::ZERO, local, remote).expect("connect"));
        }
        h[n - 1]
    }

    fn tr(conn: usize, from: State, to: State) -> TransitionRecord {
        TransitionRecord {
            at: Instant::ZERO,
            host: HostId(0),
            conn: handle(conn),
            tuple: tuple(1, 2),
            from,
            to,
            cause: "test",
        }
    }

    #[test]
    fn transitions_are_checked() {
        use State::*;
        let names = vec!["a".to_string()];
        let good = [
            tr(1, Closed, SynSent),
            tr(1, SynSent, Established),
            tr(1, Established, FinWait1),
            tr(1, FinWait1, TimeWait),
            tr(1, TimeWait, Closed),
            tr(2, Listen, SynReceived),
            tr(2, SynReceived, Listen),
        ];
        assert!(check_transitions(&good, &names, true).is_empty());
        // An edge outside the diagram.
        let v = check_transitions(
            &[tr(1, Closed, SynSent), tr(1, SynSent, TimeWait)],
            &names,
            false,
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("not an RFC 9293 transition"));
        // A broken chain, a bad start, and an unfinished connection.
        let v = check_transitions(
            &[
                tr(1, Closed, SynSent),
                tr(1, Established, FinWait1),
                tr(3, Established, CloseWait),
            ],
            &names,
            true,
        );
        assert_eq!(v.len(), 4, "{v:?}");
    }

    fn conn(t: FourTuple, sent: u64, received: u64, eof: bool) -> ConnOutcome {
        ConnOutcome {
            bytes_sent: sent,
            bytes_received: received,
            eof,
            closed: Some(CloseReason::Normal),
            ..ConnOutcome::new(handle(1), Some(t), Instant::ZERO)
        }
    }

    fn app(c: ConnOutcome) -> AppOutcome {
        AppOutcome {
            role: "x".into(),
            done: true,
            conns: vec![c],
            errors: Vec::new(),
        }
    }

    #[test]
    fn byte_counts_are_compared_across_hosts() {
        let names = vec!["a".to_string(), "b".to_string()];
        let t = tuple(1000, 80);
        let back = FourTuple {
            local: t.remote,
            remote: t.local,
        };
        let ok = [
            (HostId(0), app(conn(t, 10, 5, true))),
            (HostId(1), app(conn(back, 5, 10, true))),
        ];
        assert!(check_outcomes(&ok, &names, true).is_empty());
        // EOF after fewer bytes than the peer sent.
        let short = [
            (HostId(0), app(conn(t, 10, 5, true))),
            (HostId(1), app(conn(back, 5, 9, true))),
        ];
        assert_eq!(check_outcomes(&short, &names, true).len(), 1);
        // More than the peer sent.
        let more = [
            (HostId(0), app(conn(t, 10, 6, false))),
            (HostId(1), app(conn(back, 5, 10, false))),
        ];
        assert_eq!(check_outcomes(&more, &names, true).len(), 1);
        // App errors and a missing Closed event are violations too.
        let mut bad = app(conn(t, 0, 0, false));
        bad.errors.push("pattern mismatch".into());
        bad.conns[0].closed = None;
        bad.done = false;
        assert_eq!(check_outcomes(&[(HostId(0), bad)], &names, true).len(), 3);
    }

    #[test]
    fn failure_message_starts_with_the_seed() {
        let r = RunReport {
            seed: 1234,
            end: Instant::ZERO,
            violations: vec!["x".into(), "y".into()],
            outcomes: Vec::new(),
            hit_limit: false,
            stats: SimStats::default(),
            replay: "SYNACK_SEED=1234 cargo test -p synack-sim".into(),
        };
        assert_eq!(
            r.failure_message(),
            "seed 1234: x; y (replay: SYNACK_SEED=1234 cargo test -p synack-sim)"
        );
        assert!(std::panic::catch_unwind(|| r.assert_ok()).is_err());
    }
}
