//! Errors the user calls return, mapped onto `std::io::ErrorKind`s people already match on.

use core::fmt;

/// Why a user call failed or a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// Nothing to read yet, or no room to write: try again after the next event.
    WouldBlock,
    /// The connection is not yet (or no longer) able to carry data.
    NotConnected,
    /// Our SYN was answered by a RST (RFC 9293 §3.10.7.3: "connection refused").
    ConnectionRefused,
    /// The peer reset an established connection (RST).
    ConnectionReset,
    /// The retransmission limit R2 / user timeout was reached (MUST-20, MUST-23).
    TimedOut,
    /// The connection was aborted by this side (ABORT, or CLOSE with unread data, SHLD-3).
    ConnectionAborted,
    /// The write side is already closed: "connection closing" (RFC 9293 §3.10.2, §3.10.4).
    Closing,
    /// Something already listens on, or is connected from, this address.
    AddrInUse,
    /// The address cannot be used (broadcast, multicast, unspecified; MUST-46).
    InvalidAddress,
    /// No connection has this handle (it was closed and released).
    InvalidHandle,
    /// No ephemeral port is free for this destination.
    NoPorts,
    /// A configured limit (connections, memory) is reached.
    NoResources,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::WouldBlock => "operation would block",
            Error::NotConnected => "connection not established",
            Error::ConnectionRefused => "connection refused",
            Error::ConnectionReset => "connection reset by peer",
            Error::TimedOut => "connection timed out",
            Error::ConnectionAborted => "connection aborted",
            Error::Closing => "connection closing",
            Error::AddrInUse => "address in use",
            Error::InvalidAddress => "invalid address",
            Error::InvalidHandle => "no such connection",
            Error::NoPorts => "no free local port",
            Error::NoResources => "connection or memory limit reached",
        };
        f.write_str(s)
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        use std::io::ErrorKind as K;
        let kind = match e {
            Error::WouldBlock => K::WouldBlock,
            Error::NotConnected => K::NotConnected,
            Error::ConnectionRefused => K::ConnectionRefused,
            Error::ConnectionReset => K::ConnectionReset,
            Error::TimedOut => K::TimedOut,
            Error::ConnectionAborted => K::ConnectionAborted,
            Error::Closing => K::BrokenPipe,
            Error::AddrInUse => K::AddrInUse,
            Error::InvalidAddress => K::AddrNotAvailable,
            Error::InvalidHandle => K::NotFound,
            Error::NoPorts => K::AddrNotAvailable,
            Error::NoResources => K::OutOfMemory,
        };
        std::io::Error::new(kind, e)
    }
}

/// How a connection ended, as reported in [`crate::Event::Closed`] (MUST-12: the application
/// always learns whether the peer closed with FIN or aborted with RST).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// Both FINs exchanged and acknowledged (includes the end of TIME-WAIT).
    Normal,
    /// The peer sent a RST on a synchronized connection.
    Reset,
    /// The peer answered our SYN with a RST.
    Refused,
    /// Retransmissions reached R2 or the user timeout.
    TimedOut,
    /// This side aborted (ABORT call, or CLOSE with unread data).
    Aborted,
}

impl CloseReason {
    /// The error a user call on a connection that ended this way returns.
    pub fn error(self) -> Option<Error> {
        match self {
            CloseReason::Normal => None,
            CloseReason::Reset => Some(Error::ConnectionReset),
            CloseReason::Refused => Some(Error::ConnectionRefused),
            CloseReason::TimedOut => Some(Error::TimedOut),
            CloseReason::Aborted => Some(Error::ConnectionAborted),
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::Normal => "closed",
            CloseReason::Reset => "reset by peer",
            CloseReason::Refused => "refused",
            CloseReason::TimedOut => "timed out",
            CloseReason::Aborted => "aborted",
        })
    }
}
