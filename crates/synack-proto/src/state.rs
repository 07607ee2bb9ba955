//! The eleven states of RFC 9293 §3.3.2 and the edges of its state diagram (Figure 5).
//!
//! Every state change of a connection goes through `Connection::transition` (connection.rs),
//! which checks the edge against [`State::can_transition`], logs it with `tracing` and queues
//! an [`crate::Event::StateChanged`] with the cause. Nothing else writes the state.

use core::fmt;

/// A TCP connection state (RFC 9293 §3.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    /// All eleven states, in the RFC's order.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ];

    /// The RFC's name: `SYN-SENT`, `FIN-WAIT-1`, …
    pub const fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// Parse an RFC name (case-insensitive, `_` accepted for `-`, e.g. `syn-recv`, `time_wait`).
    pub fn from_name(name: &str) -> Option<State> {
        let n = name.to_ascii_uppercase().replace('_', "-");
        let n = match n.as_str() {
            "SYN-RECV" => "SYN-RECEIVED",
            "ESTAB" => "ESTABLISHED",
            other => other,
        }
        .to_string();
        State::ALL.into_iter().find(|s| s.name() == n)
    }

    /// A synchronized state: the connection has exchanged SYNs both ways (RFC 9293 §3.5.2).
    pub const fn is_synchronized(self) -> bool {
        matches!(
            self,
            State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
                | State::TimeWait
        )
    }

    /// Whether the edge `self → to` is in RFC 9293's state diagram (Figure 5), including the
    /// edges the text adds: ABORT, RST and timeouts lead to CLOSED from any state; a
    /// SYN-RECEIVED reached by passive OPEN returns to LISTEN on RST or SYN (§3.10.7.4 steps 2
    /// and 4); FIN-WAIT-1 goes straight to TIME-WAIT when a FIN arrives that also ACKs ours.
    pub fn can_transition(self, to: State) -> bool {
        use State::*;
        if to == Closed {
            return self != Closed;
        }
        matches!(
            (self, to),
            (Closed, Listen)
                | (Closed, SynSent)
                | (Listen, SynReceived)
                | (Listen, SynSent)
                | (SynSent, SynReceived)
                | (SynSent, Established)
                | (SynReceived, Established)
                | (SynReceived, Listen)
                | (SynReceived, FinWait1)
                | (SynReceived, CloseWait)
                | (Established, FinWait1)
                | (Established, CloseWait)
                | (FinWait1, FinWait2)
                | (FinWait1, Closing)
                | (FinWait1, TimeWait)
                | (FinWait2, TimeWait)
                | (CloseWait, LastAck)
                | (Closing, TimeWait)
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::from_name(s.name()), Some(s));
        }
        assert_eq!(State::from_name("syn-recv"), Some(State::SynReceived));
        assert_eq!(State::from_name("time_wait"), Some(State::TimeWait));
        assert_eq!(State::from_name("nope"), None);
    }

    #[test]
    fn diagram_edges() {
        use State::*;
        assert!(SynSent.can_transition(Established));
        assert!(FinWait1.can_transition(Closing));
        assert!(Closing.can_transition(TimeWait));
        assert!(!Established.can_transition(TimeWait));
        assert!(!TimeWait.can_transition(Established));
        assert!(!LastAck.can_transition(TimeWait));
        assert!(!Closed.can_transition(Closed));
        for s in State::ALL {
            assert_eq!(s.can_transition(Closed), s != Closed);
        }
    }
}
