//! What the endpoint tells its user: state changes, readiness, and how connections ended.

use core::fmt;
use std::net::SocketAddr;

use crate::error::CloseReason;
use crate::state::State;

/// A connection's handle: stable for the connection's whole life, never reused by an endpoint.
///
/// Only an [`crate::Endpoint`] makes handles (there is no constructor from an integer, so a
/// handle always names a connection the endpoint created); keep the one it gave you. Handles
/// compare, order and hash, for use as map keys; the order is arbitrary but fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle(pub(crate) u64);

impl ConnHandle {
    /// The handle as a number, for logs and machine-readable output (the control socket's
    /// `"id"`). Read-only: nothing turns the number back into a handle.
    pub fn id(self) -> u64 {
        self.0
    }
}

/// `#3` for the first connection in the table's third slot, `#3.2` for the third to use it (a
/// handle is the slot and a generation; see conn_table.rs).
impl fmt::Display for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (slot, gen) = (self.0 as u32, (self.0 >> 32) as u32);
        if gen == 0 {
            write!(f, "#{slot}")
        } else {
            write!(f, "#{slot}.{gen}")
        }
    }
}

/// A connection's identity on the wire: (local address, local port, remote address, remote port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// One write of the addresses and ports (a `SocketAddr` hashes field by field, which costs
/// several hasher calls per lookup on the demux path). Equal tuples write equal bytes.
impl core::hash::Hash for FourTuple {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        let mut buf = [0u8; 36];
        let mut n = 0;
        for a in [self.local, self.remote] {
            let ip: &[u8] = &match a.ip() {
                std::net::IpAddr::V4(v4) => {
                    let mut b = [0u8; 16];
                    b[..4].copy_from_slice(&v4.octets());
                    b
                }
                std::net::IpAddr::V6(v6) => v6.octets(),
            }[..if a.is_ipv4() { 4 } else { 16 }];
            buf[n..n + ip.len()].copy_from_slice(ip);
            n += ip.len();
            buf[n..n + 2].copy_from_slice(&a.port().to_be_bytes());
            n += 2;
        }
        state.write(&buf[..n]);
    }
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
