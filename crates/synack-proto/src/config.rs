//! Endpoint configuration. Every default is one the RFCs allow; where they leave a choice
//! open, the comment says which we took and why.

use std::net::IpAddr;
use std::time::Duration;

/// Configuration of an [`crate::Endpoint`].
///
/// `#[non_exhaustive]`, so that settings can be added without breaking users: outside this
/// crate it is built from [`Config::default()`], not with a struct literal. Either assign
/// fields of a default, or chain the `with_*` methods (one per field, each setting that field
/// and returning the configuration) to keep it one expression:
///
/// ```
/// use std::time::Duration;
/// use synack_proto::Config;
///
/// let mut a = Config::default();
/// a.mss = 1400;
/// a.delayed_ack = None;
///
/// let b = Config::default()
///     .with_mss(1400)
///     .with_delayed_ack(None)
///     .with_keepalive(Some(Duration::from_secs(60)));
/// assert_eq!((a.mss, a.delayed_ack), (b.mss, b.delayed_ack));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Addresses this endpoint owns. Packets to other addresses are dropped. Empty: accept
    /// packets to any address (what a tun2socks-style application wants).
    pub local_addrs: Vec<IpAddr>,
    /// The MSS we advertise on our SYNs (MUST-14, MUST-67: at most MTU − 40 for IPv4).
    /// Default 1460, for an MTU of 1500.
    pub mss: u16,
    /// Maximum segment lifetime; TIME-WAIT lasts 2·MSL (MUST-13). RFC 9293 §3.4.2: 2 minutes.
    pub msl: Duration,
    /// Send buffer per connection, bytes: what a connection starts with. This and the other
    /// three buffer sizes are at most 1 GiB (larger values are taken as 1 GiB).
    pub send_buffer: usize,
    /// Send buffer autotuning (send_autotune.rs): a connection whose application finds the
    /// send buffer full, while what the buffer holds unsent could not fill the congestion and
    /// peer's windows, grows it to twice the congestion window, up to this (Linux: tcp_wmem's
    /// maximum, 4 MiB). At most `send_buffer`: buffers stay at `send_buffer`. Default 4 MiB.
    pub send_buffer_max: usize,
    /// Receive buffer per connection, bytes. The offered window is at most 65535 unless window
    /// scaling is negotiated (RFC 7323), and at most 2^30 with it.
    pub recv_buffer: usize,
    /// Receive buffer autotuning (recv_autotune.rs): while the application reads everything
    /// the peer sends, a connection's receive buffer grows, up to this, so that a fast path
    /// is not held back by the window (Linux: tcp_rmem's maximum, 6 MiB). At most
    /// `recv_buffer`: buffers stay at `recv_buffer`. The window scale we offer is chosen for
    /// this size. Default 4 MiB.
    pub recv_buffer_max: usize,
    /// Offer window scaling (RFC 7323 §2) on our SYNs and accept it on the peer's.
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3): RTT samples from every ACK, and PAWS.
    pub timestamps: bool,
    /// Offer SACK (RFC 2018) and recover losses from the scoreboard (RFC 6675).
    pub sack: bool,
    /// HyStart++ (RFC 9406) in the initial slow start: leave it when the round-trip time
    /// grows, before the window overflows the bottleneck's queue (congestion/hystart.rs). On
    /// by default, as in Linux and Windows.
    pub hystart: bool,
    /// Proportional Rate Reduction (RFC 6937/9937) in SACK recovery: send in step with the
    /// ACKs rather than all that cwnd − pipe allows at once (prr.rs). On by default, as in
    /// Linux.
    pub prr: bool,
    /// Spurious retransmission detection and undo (undo.rs): Eifel with timestamps
    /// (RFC 3522), D-SACK (RFC 3708) and F-RTO after a timeout (RFC 5682); a retransmission
    /// found unnecessary gives back cwnd and ssthresh (RFC 4015). On by default, as in Linux.
    pub undo: bool,
    /// RACK (RFC 8985 §6) on connections that agreed on SACK: a segment is lost when one sent
    /// a round trip (plus a reordering window) after it has been delivered — in place of
    /// counting three duplicate ACKs (rack.rs). On by default, as in Linux.
    pub rack: bool,
    /// Tail loss probes (RFC 8985 §7) on connections that agreed on SACK: about two round
    /// trips after the last segment of a flight, with no ACK for it, send one segment to
    /// draw the SACK that lets RACK repair the tail, instead of waiting for the
    /// retransmission timeout. On by default, as in Linux.
    pub tlp: bool,
    /// Congestion control for new connections (MAY-18; changeable per connection). CUBIC by
    /// default, as in Linux.
    pub congestion: crate::congestion::Algorithm,
    /// A congestion controller of your own for new connections, in place of `congestion`
    /// (see [`crate::congestion::Controller`]). `None`: the built-in one `congestion` names.
    pub controller: Option<crate::congestion::ControllerFactory>,
    /// Delayed ACK (SHLD-18): how long an ACK for in-order data may wait. RFC 9293 allows up to
    /// 0.5 s (MUST-40); we take 40 ms, as Linux does at most times, so interactive traffic
    /// stays snappy. A second full-sized segment is always ACKed at once (SHLD-19). `None`
    /// ACKs every segment immediately.
    pub delayed_ack: Option<Duration>,
    /// Quick ACKs (as Linux's quickack mode): at the start of a connection, and when data
    /// arrives after more than an RTO without any, ACK each in-order data segment at once —
    /// for at most this many segments, and at most the window offered over two full
    /// segments — so the peer's slow start is not held back by delayed ACKs (RFC 5681 §4.2
    /// allows ACKing sooner; quick_ack.rs). 0 turns them off. Default 16, Linux's
    /// TCP_MAX_QUICKACKS. Only matters with `delayed_ack`.
    pub quick_acks: u32,
    /// Disable Nagle's algorithm for new connections (MUST-17; Nagle is on by default, SHLD-7).
    pub nodelay: bool,
    /// Keep-alive idle time for new connections; `None` = off, the default (MUST-25). When on,
    /// at least 2 hours is the RFC's default (MUST-28); the application chooses (MUST-27).
    pub keepalive: Option<Duration>,
    /// Time between unanswered keep-alive probes (Linux: 75 s).
    pub keepalive_interval: Duration,
    /// Unanswered keep-alive probes before the connection is declared dead (Linux: 9). One lost
    /// probe never kills a connection (MUST-29).
    pub keepalive_probes: u32,
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
    /// RFC 5961 §7: at most this many challenge ACKs per connection per
    /// `challenge_ack_window` (default 10 per 5 s, the RFC's suggestion). Per connection, not
    /// host-wide (CVE-2016-5696).
    pub challenge_ack_limit: u32,
    pub challenge_ack_window: Duration,
    /// Answer SYNs with SYN cookies when a listener's SYN queue is full (RFC 4987 §3.6),
    /// instead of dropping them. On by default.
    pub syn_cookies: bool,
    /// Most connections (TIME-WAIT included) the endpoint keeps; beyond it new SYNs get
    /// cookies (or are dropped) and `connect` fails.
    pub max_connections: usize,
    /// Most connections in TIME-WAIT; a connection closing beyond it skips the 2MSL wait.
    pub max_time_wait: usize,
    /// Memory for data over all connections: what receive buffers hold (in order and out
    /// of order) plus what send buffers hold (unacknowledged and unsent). Above it,
    /// out-of-order segments are no longer held, windows stop opening, no buffer grows, and a
    /// connection takes new data from the application only while its send buffer holds less
    /// than 64 KiB (so every connection still makes progress). A remote host can fill at
    /// most the windows already promised. Default 1 GiB.
    pub memory_budget: usize,
    /// Ring storage that emptied rings may keep over all connections. A send or receive ring
    /// that empties keeps its storage (a bulk transfer empties both once per window, and
    /// freeing and regrowing them cost a third of its CPU time); past this total, an emptied
    /// ring gives its storage back, so many connections that each sent a burst and went quiet
    /// do not each hold their rings. Default 64 MiB.
    pub retained_ring_storage: usize,
    /// How long a passively opened connection may stay in SYN-RECEIVED retransmitting its
    /// SYN-ACK — shorter than an active open's `syn_timeout`, as half-open children are what a
    /// SYN flood is made of (RFC 4987 §3.2). Default 60 s (Linux: 5 retries, about 63 s).
    pub syn_received_timeout: Duration,
    /// RFC 1337: ignore RSTs in TIME-WAIT, so a stray RST cannot cut the 2MSL wait short
    /// ("TIME-WAIT assassination"). On by default (Linux's tcp_rfc1337 defaults to off; the
    /// RFC's reasoning wins here).
    pub rfc1337: bool,
    /// Smallest in-order segment text that [`crate::Endpoint::handle_owned`] keeps in its
    /// packet buffer (copied once, packet to application, instead of into the receive ring and
    /// out again); shorter text is copied into the ring, where a copy costs less than keeping
    /// a buffer. Default 4096 bytes: in the bulk bench 64 KiB segments kept went 8% faster,
    /// 1448-byte ones no faster (a window of small kept buffers cycles through the L2 cache,
    /// where the ring path reuses one hot buffer). `usize::MAX`: never keep.
    pub keep_packets_min: usize,
    /// IP reassembly (ip_reassembly.rs; RFC 791, RFC 8200 §4.5): at most this many datagrams
    /// are reassembled at once. A fragment of a new datagram beyond it evicts the oldest
    /// incomplete one (counted `fragments.evicted`). Default 1024. 0 drops every fragment.
    pub max_reassembly_datagrams: usize,
    /// Bytes the datagrams being reassembled may hold in all: fragment data plus a fixed
    /// bookkeeping charge per fragment and per datagram. A fragment that would go past it
    /// evicts the oldest incomplete datagrams; one whose datagram alone would, drops that
    /// datagram. Default 4 MiB (Linux's `ipfrag_high_thresh`): 64 datagrams of 64 KiB.
    pub max_reassembly_bytes: usize,
    /// How long a datagram may take to reassemble, from its first fragment to arrive
    /// (RFC 1122 §3.3.2: a fixed value, 60–120 s recommended; RFC 8200 §4.5: 60 s). Default
    /// 60 s. At the timeout the fragments are dropped (counted `fragments.timeouts`) and, if
    /// the first fragment was among them, an ICMP Time Exceeded (code 1) goes to the sender.
    pub reassembly_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            local_addrs: Vec::new(),
            mss: 1460,
            msl: Duration::from_secs(120),
            send_buffer: 256 * 1024,
            send_buffer_max: 4 << 20,
            recv_buffer: 256 * 1024,
            recv_buffer_max: 4 << 20,
            window_scaling: true,
            timestamps: true,
            sack: true,
            hystart: true,
            prr: true,
            undo: true,
            rack: true,
            tlp: true,
            congestion: crate::congestion::Algorithm::default(),
            controller: None,
            delayed_ack: Some(Duration::from_millis(40)),
            quick_acks: 16,
            nodelay: false,
            keepalive: None,
            keepalive_interval: Duration::from_secs(75),
            keepalive_probes: 9,
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
            challenge_ack_limit: 10,
            challenge_ack_window: Duration::from_secs(5),
            rfc1337: true,
            syn_cookies: true,
            max_connections: 1 << 20,
            max_time_wait: 1 << 18,
            memory_budget: 1 << 30,
            retained_ring_storage: 64 << 20,
            syn_received_timeout: Duration::from_secs(60),
            keep_packets_min: 4096,
            max_reassembly_datagrams: 1024,
            max_reassembly_bytes: 4 << 20,
            reassembly_timeout: Duration::from_secs(60),
        }
    }
}

/// One `with_<field>` method per field: sets it and returns the configuration, so a
/// configuration that differs from the defaults in a few fields is one expression.
macro_rules! with_methods {
    ($($with:ident => $field:ident: $ty:ty;)*) => {
        impl Config {
            $(
                #[doc = concat!("Sets [`Config::", stringify!($field), "`].")]
                #[must_use]
                pub fn $with(mut self, value: $ty) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }

        // Every field has its method: this pattern names them all, so a field added to
        // `Config` but not to the list below does not compile.
        const _: fn(Config) = |c| {
            let Config { $($field: _),* } = c;
        };
    };
}

with_methods! {
    with_local_addrs => local_addrs: Vec<IpAddr>;
    with_mss => mss: u16;
    with_msl => msl: Duration;
    with_send_buffer => send_buffer: usize;
    with_send_buffer_max => send_buffer_max: usize;
    with_recv_buffer => recv_buffer: usize;
    with_recv_buffer_max => recv_buffer_max: usize;
    with_window_scaling => window_scaling: bool;
    with_timestamps => timestamps: bool;
    with_sack => sack: bool;
    with_hystart => hystart: bool;
    with_prr => prr: bool;
    with_undo => undo: bool;
    with_rack => rack: bool;
    with_tlp => tlp: bool;
    with_congestion => congestion: crate::congestion::Algorithm;
    with_controller => controller: Option<crate::congestion::ControllerFactory>;
    with_delayed_ack => delayed_ack: Option<Duration>;
    with_quick_acks => quick_acks: u32;
    with_nodelay => nodelay: bool;
    with_keepalive => keepalive: Option<Duration>;
    with_keepalive_interval => keepalive_interval: Duration;
    with_keepalive_probes => keepalive_probes: u32;
    with_initial_rto => initial_rto: Duration;
    with_min_rto => min_rto: Duration;
    with_max_rto => max_rto: Duration;
    with_r1 => r1: u32;
    with_syn_timeout => syn_timeout: Duration;
    with_user_timeout => user_timeout: Option<Duration>;
    with_fin_wait2_timeout => fin_wait2_timeout: Option<Duration>;
    with_backlog => backlog: usize;
    with_ttl => ttl: u8;
    with_ephemeral_ports => ephemeral_ports: (u16, u16);
    with_max_pending_control => max_pending_control: usize;
    with_challenge_ack_limit => challenge_ack_limit: u32;
    with_challenge_ack_window => challenge_ack_window: Duration;
    with_syn_cookies => syn_cookies: bool;
    with_max_connections => max_connections: usize;
    with_max_time_wait => max_time_wait: usize;
    with_memory_budget => memory_budget: usize;
    with_retained_ring_storage => retained_ring_storage: usize;
    with_syn_received_timeout => syn_received_timeout: Duration;
    with_rfc1337 => rfc1337: bool;
    with_keep_packets_min => keep_packets_min: usize;
    with_max_reassembly_datagrams => max_reassembly_datagrams: usize;
    with_max_reassembly_bytes => max_reassembly_bytes: usize;
    with_reassembly_timeout => reassembly_timeout: Duration;
}
