//! Endpoint configuration. Every default is one the RFCs allow; where they leave a choice
//! open, the comment says which we took and why.

use std::net::IpAddr;
use std::time::Duration;

/// Configuration of an [`crate::Endpoint`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Addresses this endpoint owns. Packets to other addresses are dropped. Empty: accept
    /// packets to any address (what a tun2socks-style application wants).
    pub local_addrs: Vec<IpAddr>,
    /// The MSS we advertise on our SYNs (MUST-14, MUST-67: at most MTU − 40 for IPv4).
    /// Default 1460, for an MTU of 1500.
    pub mss: u16,
    /// Maximum segment lifetime; TIME-WAIT lasts 2·MSL (MUST-13). RFC 9293 §3.4.2: 2 minutes.
    pub msl: Duration,
    /// Send buffer per connection, bytes.
    pub send_buffer: usize,
    /// Receive buffer per connection, bytes. Without window scaling the offered window is at
    /// most 65535, so larger buffers only help once window scaling is negotiated.
    pub recv_buffer: usize,
    /// RTO before the first RTT sample (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// Lower bound on the RTO (RFC 6298 §2.4: 1 s).
    pub min_rto: Duration,
    /// Upper bound on the RTO (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// R1: retransmissions of one segment after which the user is warned (SHLD-9, SHLD-10: ≥ 3).
    pub r1: u32,
    /// R2 for SYN and SYN-ACK: give up opening after this long (MUST-23: ≥ 3 minutes).
    pub syn_timeout: Duration,
    /// R2 for data and FIN: give up after retransmitting this long without progress
    /// (SHLD-11: ≥ 100 s; MUST-21: per connection, `None` = never).
    pub user_timeout: Option<Duration>,
    /// A connection the application has closed (fully) waits at most this long in FIN-WAIT-2
    /// for the peer's FIN. RFC 9293 sets no limit; without one a peer that never closes pins
    /// the connection forever. Linux uses 60 s (tcp_fin_timeout); so do we. `None` = forever.
    pub fin_wait2_timeout: Option<Duration>,
    /// Listen backlog used when `listen` is called without one: bounds the SYN queue
    /// (SYN-RECEIVED children) and the accept queue of each listener.
    pub backlog: usize,
    /// IP TTL of our packets (MUST-49).
    pub ttl: u8,
    /// Ephemeral local ports for active opens (RFC 6335 range).
    pub ephemeral_ports: (u16, u16),
    /// Pending RST/ACK control segments the endpoint keeps before it drops new ones.
    pub max_pending_control: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            local_addrs: Vec::new(),
            mss: 1460,
            msl: Duration::from_secs(120),
            send_buffer: 256 * 1024,
            recv_buffer: 65535,
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_secs(1),
            max_rto: Duration::from_secs(60),
            r1: 3,
            syn_timeout: Duration::from_secs(180),
            user_timeout: Some(Duration::from_secs(300)),
            fin_wait2_timeout: Some(Duration::from_secs(60)),
            backlog: 128,
            ttl: 64,
            ephemeral_ports: (49152, 65535),
            max_pending_control: 1024,
        }
    }
}
