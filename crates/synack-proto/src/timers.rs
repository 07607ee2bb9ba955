//! A connection's timers (RFC 9293 §3.8): one table indexed by one enum, so every timer is
//! set, stopped, expired and reported the same way, and the connection's earliest deadline
//! (what the endpoint's timer heap holds, timer_heap.rs) is a minimum over six words.
//!
//! R2 (the user timeout, MUST-20) is not a timer of its own: it is computed from the
//! connection's progress whenever it is asked for (`Connection::r2_deadline`).

use crate::time::Instant;

/// The timers a connection runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Retransmission (RFC 6298); also the persist timer while the peer's window is zero
    /// (MUST-35), and the SWS override timer (MUST-38).
    Rto,
    /// Delayed ACK (SHLD-18, MUST-40).
    DelayedAck,
    /// Keep-alive (RFC 9293 §3.8.4).
    KeepAlive,
    /// 2·MSL in TIME-WAIT (MUST-13).
    TimeWait,
    /// FIN-WAIT-2 for a connection the application closed.
    FinWait2,
    /// RACK-TLP (RFC 8985): RACK's reordering timer while SACKed segments wait for a
    /// verdict, or the tail loss probe's timeout otherwise (never both: a probe is scheduled
    /// only with nothing SACKed). `Rack::timer` says which.
    Loss,
}

impl Timer {
    pub(crate) const COUNT: usize = 6;
}

/// Not set: later than every deadline, so the earliest is a plain minimum.
const UNSET: u64 = u64::MAX;

/// Deadlines in microseconds, `UNSET` where a timer is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerTable {
    at: [u64; Timer::COUNT],
}

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable {
            at: [UNSET; Timer::COUNT],
        }
    }
}

impl TimerTable {
    /// The timer's deadline, if it runs.
    #[inline]
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        match self.at[t as usize] {
            UNSET => None,
            us => Some(Instant::from_micros(us)),
        }
    }

    /// Start (or move) the timer, or stop it with `None`.
    #[inline]
    pub(crate) fn set(&mut self, t: Timer, at: Option<Instant>) {
        // An instant at the very end of time cannot be told from "not set"; it never comes.
        self.at[t as usize] = at.map_or(UNSET, |i| i.as_micros());
    }

    #[inline]
    pub(crate) fn start(&mut self, t: Timer, at: Instant) {
        self.set(t, Some(at));
    }

    #[inline]
    pub(crate) fn stop(&mut self, t: Timer) {
        self.at[t as usize] = UNSET;
    }

    #[inline]
    pub(crate) fn is_set(&self, t: Timer) -> bool {
        self.at[t as usize] != UNSET
    }

    /// The timer runs and its deadline has come: it is stopped, and the caller handles it.
    #[inline]
    pub(crate) fn expire(&mut self, t: Timer, now: Instant) -> bool {
        let due = self.at[t as usize] <= now.as_micros();
        if due {
            self.stop(t);
        }
        due
    }

    /// The earliest deadline of all timers.
    #[inline]
    pub(crate) fn earliest(&self) -> Option<Instant> {
        match self.at.iter().copied().min().unwrap_or(UNSET) {
            UNSET => None,
            us => Some(Instant::from_micros(us)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_stop_expire_and_the_earliest() {
        let mut t = TimerTable::default();
        assert_eq!(t.earliest(), None);
        t.start(Timer::KeepAlive, Instant::from_secs(7200));
        t.start(Timer::Rto, Instant::from_secs(1));
        assert_eq!(t.earliest(), Some(Instant::from_secs(1)));
        assert!(!t.expire(Timer::Rto, Instant::from_millis(999)));
        assert!(t.expire(Timer::Rto, Instant::from_secs(1)));
        assert!(!t.is_set(Timer::Rto));
        assert!(
            !t.expire(Timer::Rto, Instant::from_secs(2)),
            "a stopped timer never expires"
        );
        assert_eq!(t.earliest(), Some(Instant::from_secs(7200)));
        t.set(Timer::KeepAlive, None);
        assert_eq!(t.get(Timer::KeepAlive), None);
        assert_eq!(t.earliest(), None);
    }
}
