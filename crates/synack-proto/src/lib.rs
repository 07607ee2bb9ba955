//! synack-proto: TCP as RFC 9293 specifies it, sans I/O.
//!
//! The caller feeds IP packets and time in and pulls packets, events and the next deadline
//! out (the shape of quinn-proto):
//!
//! ```text
//! endpoint.handle(now, ip_packet)             // demux; may create a connection
//! endpoint.poll_transmit(now, &mut buf)       // next outgoing IP packet, if any
//! endpoint.poll_timeout()                     // earliest deadline of all connections
//! endpoint.handle_timeout(now)
//! endpoint.poll_event()                       // StateChanged, Incoming, Readable, Closed…
//! ```
//!
//! No clock, no I/O, no global randomness: time is an [`Instant`] passed in and the only
//! secret is the one given to [`Endpoint::new`], so the same inputs give the same outputs.
//!
//! # Inside
//!
//! A connection is a few parts, each written by its own module: `SendSide` (send_side.rs),
//! `RecvSide` (recv_side.rs), `Negotiated` (negotiated.rs), `Recovery` with its congestion
//! [`congestion::Controller`] (recovery.rs, congestion/), a `TimerTable` (timers.rs) and
//! `Stats`; the state changes only in `Connection::transition` (connection.rs). What the
//! endpoint keeps about a connection lives in the connection table's slot (conn_table.rs).
//!
//! A segment's life, in the order the code runs: `Endpoint::handle` parses and demultiplexes
//! (input.rs, conn_table.rs; fragments to ip_reassembly.rs, ICMP to icmp.rs) → no
//! connection: listener.rs (`accept_syn`) or a RST → TIME-WAIT: time_wait_rules.rs, for a
//! compact entry (time_wait.rs) and a full TCB alike → `Connection::segment_arrives`
//! (handshake.rs for SYN-SENT, segment_arrives.rs for the rest, RFC 9293 §3.10.7 step by
//! step, the ACK in loss.rs) returns an `Outcome` the endpoint acts on (`Endpoint::after`) →
//! `Endpoint::poll_transmit` (transmit.rs) asks the connection for its next segment
//! (output.rs) and writes it (`emit`) → what is left to wait for goes into the timer heap
//! (timer_heap.rs), and `Endpoint::handle_timeout` runs it (timeouts.rs). The README's "Inside synack-proto" walks through the same in more words.

/// The context a connection handler gets from its endpoint (`connection::Ctx`): the time, the
/// configuration, the event queue, and whether the endpoint is over its memory budget. A
/// macro rather than a method so that it borrows only those fields of the endpoint: the
/// connection table stays free for the connection being handled.
macro_rules! ctx {
    ($ep:expr, $now:expr) => {
        crate::connection::Ctx {
            now: $now,
            cfg: &$ep.cfg,
            events: &mut $ep.events,
            pressure: crate::endpoint::over_budget($ep.rx_memory, $ep.tx_memory, &$ep.cfg),
        }
    };
}

mod config;
pub mod congestion;
mod conn_table;
mod connection;
mod endpoint;
mod error;
mod event;
mod handshake;
mod icmp;
mod info;
mod input;
pub mod ip_reassembly;
mod isn;
mod listener;
mod log;
mod loss;
mod negotiated;
mod output;
mod prr;
mod quick_ack;
mod rack;
mod recovery;
mod recv_autotune;
mod recv_buffer;
mod recv_side;
mod release;
mod rtt;
mod sack;
mod segment_arrives;
mod send_autotune;
mod send_buffer;
mod send_side;
pub mod seq;
pub mod state;
mod stats;
mod syn_cookies;
pub mod time;
mod time_wait;
mod time_wait_rules;
mod timeouts;
mod timer_heap;
mod timers;
mod transmit;
mod undo;
mod user_calls;

pub use config::Config;
pub use endpoint::{Endpoint, EndpointStats, ListenerInfo, ACCEPT_ANY};
pub use error::{CloseReason, Error};
pub use event::{ConnHandle, Event, FourTuple};
pub use icmp::IcmpError;
pub use info::{ConnInfo, ConnTimers};
pub use ip_reassembly::FragmentStats;
pub use seq::SeqNum;
pub use state::State;
pub use time::{Duration, Instant};
