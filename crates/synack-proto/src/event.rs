//! What the endpoint tells its user: state changes, readiness, and how connections ended.

use core::fmt;
use std::net::SocketAddr;

use crate::error::CloseReason;
use crate::state::State;

/// A connection's handle: stable for the connection's whole life, never reused by an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle(pub u64);

impl fmt::Display for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A connection's identity on the wire: (local address, local port, remote address, remote port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

impl fmt::Display for FourTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <-> {}", self.local, self.remote)
    }
}

/// An event for the user of an [`crate::Endpoint`], taken with `poll_event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection changed state (every transition, once, with its cause).
    StateChanged {
        conn: ConnHandle,
        tuple: FourTuple,
        from: State,
        to: State,
        cause: &'static str,
    },
    /// A passively opened connection reached ESTABLISHED and waits in its listener's accept
    /// queue; take it with `Endpoint::accept`.
    Incoming {
        listener: SocketAddr,
        conn: ConnHandle,
    },
    /// An actively opened connection reached ESTABLISHED.
    Connected { conn: ConnHandle },
    /// New data (or the end of the stream) can be read.
    Readable { conn: ConnHandle },
    /// Room appeared in the send buffer.
    Writable { conn: ConnHandle },
    /// The peer sent FIN: once the buffered data is read, `recv` returns 0 (MUST-12).
    PeerClosed { conn: ConnHandle },
    /// Urgent data arrived, or the urgent pointer advanced (MUST-32); how much is still unread
    /// is `Endpoint::urgent_pending` (MUST-33).
    Urgent { conn: ConnHandle },
    /// An ICMP error arrived for the connection (MUST-47, MUST-54); see [`crate::IcmpError`].
    IcmpError {
        conn: ConnHandle,
        error: crate::icmp::IcmpError,
    },
    /// Retransmissions of one segment reached R1 (SHLD-9): the path may be broken.
    DeliveryProblem { conn: ConnHandle, retransmits: u32 },
    /// The connection reached CLOSED, and why (FIN exchange, RST, timeout, abort; MUST-12).
    Closed {
        conn: ConnHandle,
        reason: CloseReason,
    },
}

impl Event {
    /// The connection the event is about.
    pub fn conn(&self) -> ConnHandle {
        match *self {
            Event::StateChanged { conn, .. }
            | Event::Incoming { conn, .. }
            | Event::Connected { conn }
            | Event::Readable { conn }
            | Event::Writable { conn }
            | Event::PeerClosed { conn }
            | Event::Urgent { conn }
            | Event::IcmpError { conn, .. }
            | Event::DeliveryProblem { conn, .. }
            | Event::Closed { conn, .. } => conn,
        }
    }
}
