//! The endpoint: its state (the connection table, listeners, the transmit and control
//! queues, the memory accounts, the statistics) and its API — OPEN, the user calls on a
//! connection, events. Packets in are input.rs, packets out and the clock transmit.rs, the
//! LISTEN and CLOSED rows of SEGMENT ARRIVES listener.rs.

use std::collections::{HashMap, VecDeque};

use crate::conn_table::{ConnTable, Live, OwnKeys};
use std::net::{IpAddr, SocketAddr};

use synack_wire::{TcpFlags, TcpOptions};

use crate::config::Config;
use crate::connection::Connection;
use crate::error::Error;
use crate::event::{ConnHandle, Event, FourTuple};
use crate::info::{ConnInfo, ConnTimers};
use crate::ip_reassembly::{FragmentStats, Limits, Reassembler};
use crate::isn::Secret;
use crate::listener::Listener;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::{Duration, Instant};

/// The listener key of accept-any mode (see [`Endpoint::listen_any`]): port 0 on the
/// unspecified IPv6 address, which no ordinary listener can use.
pub const ACCEPT_ANY: SocketAddr = SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0);

/// A listener's queues, as `Endpoint::listeners` reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerInfo {
    pub backlog: usize,
    /// Children in SYN-RECEIVED.
    pub syn_queue: usize,
    /// ESTABLISHED children waiting for `accept`.
    pub accept_queue: usize,
}

/// Counters kept by an endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    pub packets_in: u64,
    pub packets_out: u64,
    /// Packets dropped because they did not parse, by reason (wire error name → count).
    pub malformed: Vec<(synack_wire::Error, u64)>,
    /// Packets for an address this endpoint does not own.
    pub not_ours: u64,
    /// Packets from or to a broadcast/multicast/unspecified address (MUST-57, MUST-63).
    pub bad_address: u64,
    pub resets_sent: u64,
    /// Control segments dropped because the control queue was full.
    pub control_dropped: u64,
    /// SYNs dropped because the listener's SYN queue was full (cookies off).
    pub syn_queue_full: u64,
    /// SYN cookies sent (SYN queue full), validated by a returning ACK, and ACKs to a
    /// listener that carried no valid cookie while one could have (RFC 4987 §3.6).
    pub syn_cookies_sent: u64,
    pub syn_cookies_validated: u64,
    pub syn_cookies_invalid: u64,
    /// ACK segments to a listener while no SYN cookie it sent can still be valid: late
    /// segments of connections that are gone, not cookie guesses. Answered with a RST
    /// (§3.10.7.2).
    pub stray_acks: u64,
    /// Connections that skipped TIME-WAIT because the table was full (`max_time_wait`).
    pub time_wait_overflow: u64,
    /// TCBs in TIME-WAIT replaced by a compact entry (time_wait.rs) once their last ACK was out.
    pub time_wait_compacted: u64,
    /// Out-of-order segments not held because receive memory was over `memory_budget`.
    pub ooo_dropped_memory: u64,
    /// Packets given to `handle_owned` that were kept for their text (recv_buffer.rs).
    pub packets_kept: u64,
    /// Calls of `release_memory` (release.rs), and about how many bytes they gave back.
    pub memory_releases: u64,
    pub memory_released: u64,
    pub active_opens: u64,
    pub passive_opens: u64,
    /// IP packets of a protocol other than TCP and ICMP.
    pub other_protocol: u64,
    /// ICMP/ICMPv6 messages received, echo replies sent, and errors dropped because they
    /// quoted no connection of ours or a sequence number outside its window (RFC 5927).
    pub icmp_in: u64,
    pub icmp_echo_replies: u64,
    pub icmp_ignored: u64,
    /// IP fragments and their reassembly (ip_reassembly.rs).
    pub fragments: FragmentStats,
    /// ICMP Time Exceeded (fragment reassembly) messages sent.
    pub icmp_time_exceeded: u64,
}

impl EndpointStats {
    pub(crate) fn count_malformed(&mut self, e: synack_wire::Error) {
        match self.malformed.iter_mut().find(|(k, _)| *k == e) {
            Some((_, n)) => *n += 1,
            None => self.malformed.push((e, 1)),
        }
    }
}

/// A RST (or RST-ACK) the endpoint owes someone; it has no TCB to send it from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Control {
    pub(crate) tuple: FourTuple,
    pub(crate) seq: SeqNum,
    pub(crate) ack: Option<SeqNum>,
    /// Not a RST but this segment (flags, window, options): a stateless SYN-ACK (SYN
    /// cookie) or an ACK from a TIME-WAIT entry.
    pub(crate) segment: Option<(TcpFlags, u16, TcpOptions)>,
}

/// A TCP endpoint: every connection and listener of one host (or one set of addresses).
pub struct Endpoint {
    pub(crate) cfg: Config,
    pub(crate) secret: Secret,
    /// Every connection and TIME-WAIT entry, by handle and by 4-tuple.
    pub(crate) conns: ConnTable,
    pub(crate) listeners: HashMap<SocketAddr, Listener, OwnKeys>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) ready: VecDeque<ConnHandle>,
    pub(crate) control: VecDeque<Control>,
    /// Whole packets ready to go (ICMP echo replies), bounded like `control`.
    pub(crate) raw_out: VecDeque<Vec<u8>>,
    pub(crate) stats: EndpointStats,
    pub(crate) port_counter: u64,
    pub(crate) ip_ident: u16,
    /// Connections in TIME-WAIT now.
    pub(crate) time_wait_count: usize,
    /// Bytes held in all receive buffers (in order and out of order).
    pub(crate) rx_memory: usize,
    /// Bytes held in all send buffers (unacknowledged and unsent).
    pub(crate) tx_memory: usize,
    /// Storage of all send and receive rings (`Config::retained_ring_storage`).
    pub(crate) ring_storage: usize,
    /// The latest time the caller gave us (user calls carry no clock).
    pub(crate) last_now: Instant,
    /// Emptied packet buffers for [`Endpoint::reclaim`] (at most [`MAX_RECLAIMABLE`]).
    pub(crate) spent: Vec<Vec<u8>>,
    /// Bytes the connection at the front of `ready` has sent in its current turn.
    pub(crate) burst: usize,
    /// Datagrams arriving in fragments.
    pub(crate) reassembly: Reassembler,
}

/// A connection the application holds (not released): what user calls act on. Borrows only
/// the table, so the endpoint's counters stay free beside it.
pub(crate) fn owned_in(conns: &mut ConnTable, h: ConnHandle) -> Result<&mut Connection, Error> {
    owned_live(conns, h).map(|l| &mut *l.conn)
}

/// The slot of a connection the application holds: its TCB and the endpoint's bookkeeping.
pub(crate) fn owned_live(conns: &mut ConnTable, h: ConnHandle) -> Result<&mut Live, Error> {
    match conns.live_mut(&h) {
        Some(l) if l.conn.owned && !l.conn.released => Ok(l),
        _ => Err(Error::InvalidHandle),
    }
}

/// Bring the endpoint's ring-storage count up to date with what one connection holds; past
/// `limit`, rings that are empty give their storage back (`Config::retained_ring_storage`).
pub(crate) fn account_rings(total: &mut usize, limit: usize, l: &mut Live) {
    let mut held = l.conn.ring_storage();
    *total = *total - l.rings_accounted + held;
    if *total > limit {
        l.conn.release_empty_rings();
        let kept = l.conn.ring_storage();
        *total = *total - held + kept;
        held = kept;
    }
    l.rings_accounted = held;
}

/// Bring an endpoint-wide byte count up to date with what one connection holds `now`, given
/// what it reported last time (`accounted`, which then becomes `now`).
#[inline]
pub(crate) fn reaccount(total: &mut usize, now: usize, accounted: &mut u32) {
    *total = *total - *accounted as usize + now;
    *accounted = now as u32;
}

/// The largest send or receive buffer of one connection (`Config` sizes above are taken as
/// this).
pub(crate) const MAX_BUFFER: usize = 1 << 30;

/// Bytes of datagrams one connection sends in a row before the next ready connection's turn
/// (the most a device with segmentation offload merges into one datagram).
pub(crate) const TX_BURST: usize = 64 * 1024;

/// Most emptied packet buffers the endpoint holds for the caller to reclaim; more are freed.
/// 64 is a whole 4 MiB window (the autotuning limit) of 64 KiB datagrams.
pub(crate) const MAX_RECLAIMABLE: usize = 64;

impl Endpoint {
    /// A new endpoint. `secret` keys the ISN generator (RFC 6528) and ephemeral port choice;
    /// give each endpoint a fresh random one (the simulator derives it from its seed).
    pub fn new(mut config: Config, secret: [u8; 16]) -> Endpoint {
        // One connection's buffers are at most 1 GiB each (a window cannot be larger, RFC 7323
        // §2.3), which keeps what a TCB accounts for in 32 bits.
        for size in [
            &mut config.send_buffer,
            &mut config.send_buffer_max,
            &mut config.recv_buffer,
            &mut config.recv_buffer_max,
        ] {
            *size = (*size).min(MAX_BUFFER);
        }
        let limits = Limits {
            max_datagrams: config.max_reassembly_datagrams,
            max_bytes: config.max_reassembly_bytes,
            timeout: config.reassembly_timeout,
        };
        let reassembly = Reassembler::new(limits, Secret::new(secret).subkey(b"ip reassembly"));
        Endpoint {
            cfg: config,
            conns: ConnTable::new(Secret::new(secret).demux_key()),
            secret: Secret::new(secret),
            listeners: HashMap::default(),
            events: VecDeque::new(),
            ready: VecDeque::new(),
            control: VecDeque::new(),
            raw_out: VecDeque::new(),
            stats: EndpointStats::default(),
            port_counter: 0,
            ip_ident: 0,
            last_now: Instant::ZERO,
            time_wait_count: 0,
            rx_memory: 0,
            tx_memory: 0,
            ring_storage: 0,
            spent: Vec::new(),
            burst: 0,
            reassembly,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Bytes held in all connections' receive buffers (bounded by `Config::memory_budget`
    /// plus what was already promised in open windows).
    pub fn receive_memory(&self) -> usize {
        self.rx_memory
    }

    /// Bytes held in all connections' send buffers: written by the application and not yet
    /// acknowledged (counted with receive memory against `Config::memory_budget`).
    pub fn send_memory(&self) -> usize {
        self.tx_memory
    }

    /// Whether the data held in all buffers is over `Config::memory_budget`.
    #[inline]
    pub(crate) fn over_budget(&self) -> bool {
        over_budget(self.rx_memory, self.tx_memory, &self.cfg)
    }

    /// Heap bytes held by all connections' send and receive rings (emptied rings keep their
    /// storage up to `Config::retained_ring_storage` in all).
    pub fn ring_storage(&self) -> usize {
        self.ring_storage
    }

    /// Datagrams being reassembled from fragments (bounded by
    /// `Config::max_reassembly_datagrams`).
    pub fn reassembly_datagrams(&self) -> usize {
        self.reassembly.datagrams()
    }

    /// Bytes held by datagrams being reassembled (bounded by `Config::max_reassembly_bytes`).
    pub fn reassembly_memory(&self) -> usize {
        self.reassembly.memory()
    }

    /// Connections in TIME-WAIT (bounded by `Config::max_time_wait`).
    pub fn time_wait_count(&self) -> usize {
        self.time_wait_count
    }

    /// Connections alive (TIME-WAIT included).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Handles of all connections alive, in no particular order.
    pub fn connections(&self) -> impl Iterator<Item = ConnHandle> + '_ {
        self.conns.keys()
    }

    // ----- passive OPEN ---------------------------------------------------------------------

    // ----- active OPEN ----------------------------------------------------------------------

    /// Active OPEN (§3.10.1): send a SYN to `remote`. A local port of 0 picks an ephemeral
    /// port; an unspecified local IP uses the first configured address (MUST-44).
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnHandle, Error> {
        if !valid_unicast(remote.ip()) || remote.port() == 0 {
            return Err(Error::InvalidAddress); // MUST-46
        }
        if self.conns.len() >= self.cfg.max_connections {
            return Err(Error::NoResources);
        }
        let local_ip = if local.ip().is_unspecified() {
            // MUST-44: the first configured address of the remote's family.
            *self
                .cfg
                .local_addrs
                .iter()
                .find(|a| a.is_ipv4() == remote.is_ipv4())
                .ok_or(Error::InvalidAddress)?
        } else {
            local.ip()
        };
        if local_ip.is_ipv4() != remote.is_ipv4() {
            return Err(Error::InvalidAddress);
        }
        let port = if local.port() == 0 {
            self.ephemeral_port(local_ip, remote)?
        } else {
            local.port()
        };
        let tuple = FourTuple {
            local: SocketAddr::new(local_ip, port),
            remote,
        };
        if self.conns.contains_tuple(&tuple) {
            return Err(Error::AddrInUse);
        }
        self.last_now = self.last_now.max(now);
        let h = self.new_handle();
        let (iss, ts_offset) = self.secret.isn_and_ts_offset(now, tuple);
        let mut c = Box::new(Connection::new(h, tuple, iss, ts_offset, &self.cfg, now));
        c.owned = true;
        let mut ctx = ctx!(self, now);
        c.transition(&mut ctx, State::SynSent, "OPEN (active)");
        self.stats.active_opens += 1;
        self.conns.insert(c);
        self.conns.bind(&tuple, h);
        self.touch(h);
        Ok(h)
    }

    /// The handle the next connection will have (a free slot of the table).
    pub(crate) fn new_handle(&self) -> ConnHandle {
        self.conns.vacant()
    }

    /// RFC 6056 algorithm 3: a keyed offset per destination plus a counter.
    fn ephemeral_port(&mut self, local_ip: IpAddr, remote: SocketAddr) -> Result<u16, Error> {
        let (lo, hi) = self.cfg.ephemeral_ports;
        let (lo, hi) = (lo.min(hi).max(1), hi.max(lo).max(1));
        let n = u64::from(hi - lo) + 1;
        let offset = self.secret.port_offset(local_ip, remote);
        for i in 0..n {
            let port = lo + ((offset.wrapping_add(self.port_counter).wrapping_add(i)) % n) as u16;
            let tuple = FourTuple {
                local: SocketAddr::new(local_ip, port),
                remote,
            };
            if !self.conns.contains_tuple(&tuple) && !self.listeners.contains_key(&tuple.local) {
                self.port_counter = self.port_counter.wrapping_add(i + 1);
                return Ok(port);
            }
        }
        Err(Error::NoPorts)
    }

    // ----- user calls on a connection -------------------------------------------------------

    fn owned_mut(&mut self, h: ConnHandle) -> Result<&mut Connection, Error> {
        owned_in(&mut self.conns, h)
    }

    /// SEND: copy as much of `data` as fits into the send buffer (over the memory budget,
    /// only up to 64 KiB held: `Config::memory_budget`).
    pub fn send(&mut self, h: ConnHandle, data: &[u8]) -> Result<usize, Error> {
        self.send_with(h, data, false)
    }

    /// SEND, urgent or not: the memory budget decides how much the send buffer may take, and
    /// what it took is accounted for.
    fn send_with(&mut self, h: ConnHandle, data: &[u8], urgent: bool) -> Result<usize, Error> {
        let pressure = self.over_budget();
        let l = owned_live(&mut self.conns, h)?;
        let n = l.conn.send(data, pressure, urgent)?;
        reaccount(
            &mut self.tx_memory,
            l.conn.snd.buf().len(),
            &mut l.tx_accounted,
        );
        self.touch(h);
        Ok(n)
    }

    /// SEND with the URGENT flag (RFC 9293 §3.8.5, MUST-30/31): the data is queued like any
    /// other, and every segment up to its end carries URG with the urgent pointer set to the
    /// sequence number of the octet after it (MUST-62). New applications should not need this
    /// (SHLD-13); it exists for the protocols that do (telnet, ftp).
    pub fn send_urgent(&mut self, h: ConnHandle, data: &[u8]) -> Result<usize, Error> {
        self.send_with(h, data, true)
    }

    /// Urgent octets not yet read (MUST-33): 0 when no urgent data is pending.
    pub fn urgent_pending(&self, h: ConnHandle) -> usize {
        self.conns.get(&h).map_or(0, |c| c.urgent_pending())
    }

    /// RECEIVE: `Ok(0)` means the peer closed its side (FIN) and everything before it was
    /// read; errors say whether it reset (MUST-12).
    pub fn recv(&mut self, h: ConnHandle, buf: &mut [u8]) -> Result<usize, Error> {
        let pressure = self.over_budget();
        let l = owned_live(&mut self.conns, h)?;
        let c = &mut *l.conn;
        let n = c.recv(buf, pressure)?;
        c.rcv.buf_mut().take_spent(&mut self.spent, MAX_RECLAIMABLE);
        if self.cfg.recv_buffer_max > c.rcv.buf().capacity() {
            c.autotune_read(self.last_now, n, self.cfg.recv_buffer_max, pressure);
        }
        let ack_now = c.rcv.ack_now();
        reaccount(&mut self.rx_memory, c.recv_memory(), &mut l.rx_accounted);
        account_rings(&mut self.ring_storage, self.cfg.retained_ring_storage, l);
        if ack_now {
            self.touch(h);
        }
        Ok(n)
    }

    /// Whether [`Endpoint::send`] of non-empty data would not be `WouldBlock`: there is room
    /// in the send buffer, or the call would fail at once (closing, reset, unknown handle).
    pub fn writable(&self, h: ConnHandle) -> bool {
        match self.conns.live(&h) {
            Some(l) if l.conn.owned && !l.conn.released => l.conn.writable(self.over_budget()),
            _ => true,
        }
    }

    /// RECEIVE without consuming (like `MSG_PEEK`): copies the next in-order bytes into `buf`
    /// and leaves them to the next [`Endpoint::recv`]; the same `Ok(0)` (FIN), errors (reset)
    /// and `WouldBlock` as `recv`. Nothing changes: no window update, no ACK.
    pub fn peek(&self, h: ConnHandle, buf: &mut [u8]) -> Result<usize, Error> {
        match self.conns.live(&h) {
            Some(l) if l.conn.owned && !l.conn.released => l.conn.peek(buf),
            _ => Err(Error::InvalidHandle),
        }
    }

    /// Half-close: FIN after the queued data; the receive side stays open.
    pub fn shutdown(&mut self, h: ConnHandle) -> Result<(), Error> {
        let now = self.last_now;
        let c = match self.conns.get_mut(&h) {
            Some(c) if c.owned && !c.released => c,
            _ => return Err(Error::InvalidHandle),
        };
        let was = c.state();
        let mut ctx = ctx!(self, now);
        let r = c.shutdown(&mut ctx);
        self.after(h, was, false);
        r
    }

    /// Full close: the handle is released and the connection finishes its close on its own
    /// (FIN exchange, TIME-WAIT). Unread data turns this into a reset (SHLD-3).
    pub fn close(&mut self, h: ConnHandle) -> Result<(), Error> {
        self.user_close(h, false)
    }

    /// ABORT: send a RST and forget the connection.
    pub fn abort(&mut self, h: ConnHandle) -> Result<(), Error> {
        self.user_close(h, true)
    }

    fn user_close(&mut self, h: ConnHandle, abort: bool) -> Result<(), Error> {
        let now = self.last_now;
        let c = match self.conns.get_mut(&h) {
            Some(c) if !c.released => c,
            Some(_) => return Err(Error::InvalidHandle),
            None => return self.user_close_time_wait(h, abort, false),
        };
        let was = c.state();
        let mut ctx = ctx!(self, now);
        let rst = if abort {
            c.abort(&mut ctx, "ABORT")
        } else {
            c.close(&mut ctx)
        };
        let tuple = c.tuple;
        if let Some(r) = rst {
            self.queue_reset(tuple, r);
        }
        self.after(h, was, false);
        Ok(())
    }

    pub fn state(&self, h: ConnHandle) -> Option<State> {
        match self.conns.get(&h) {
            Some(c) => Some(c.state()),
            None => Some(self.conns.time_wait(h)?.state()),
        }
    }

    pub fn tuple(&self, h: ConnHandle) -> Option<FourTuple> {
        match self.conns.get(&h) {
            Some(c) => Some(c.tuple),
            None => Some(self.conns.time_wait(h)?.tuple(&self.conns.v6)),
        }
    }

    /// The connection's pending timers.
    pub fn timers(&self, h: ConnHandle) -> Option<ConnTimers> {
        match self.conns.get(&h) {
            Some(c) => Some(c.timers(&self.cfg)),
            None => self.time_wait_timers(h),
        }
    }

    /// Every listener with its backlog and the depth of its SYN and accept queues.
    pub fn listeners(&self) -> impl Iterator<Item = (SocketAddr, ListenerInfo)> + '_ {
        self.listeners.iter().map(|(a, l)| {
            (
                *a,
                ListenerInfo {
                    backlog: l.backlog,
                    syn_queue: l.syn_queue,
                    accept_queue: l.accept_queue.len(),
                },
            )
        })
    }

    /// Reset a connection whatever its owner — also one the application has already closed
    /// and that is finishing on its own (a graceful shutdown running out of time uses this).
    /// Sends `<SEQ=SND.NXT><CTL=RST>` where the peer holds a synchronized connection.
    pub fn reset(&mut self, h: ConnHandle) -> Result<(), Error> {
        let now = self.last_now;
        let Some(c) = self.conns.get_mut(&h) else {
            return self.user_close_time_wait(h, true, true);
        };
        let was = c.state();
        let mut ctx = ctx!(self, now);
        let rst = c.abort(&mut ctx, "reset");
        let tuple = c.tuple;
        if let Some(r) = rst {
            self.queue_reset(tuple, r);
        }
        self.after(h, was, false);
        Ok(())
    }

    pub fn info(&self, h: ConnHandle) -> Option<ConnInfo> {
        match self.conns.get(&h) {
            Some(c) => Some(c.info(self.over_budget())),
            None => self.time_wait_info(h),
        }
    }

    /// R2 for this connection's data (MUST-21); `None` never gives up.
    pub fn set_user_timeout(&mut self, h: ConnHandle, t: Option<Duration>) -> Result<(), Error> {
        self.owned_mut(h)?.user_timeout = t;
        self.schedule(h); // the R2 deadline moves with it, now
        Ok(())
    }

    /// Turn Nagle's algorithm off (`true`) or on for one connection (MUST-17).
    pub fn set_nodelay(&mut self, h: ConnHandle, nodelay: bool) -> Result<(), Error> {
        self.owned_mut(h)?.snd.set_nodelay(nodelay);
        self.touch(h);
        Ok(())
    }

    /// Choose the congestion controller of one connection (MAY-18). The window carries over.
    pub fn set_congestion(
        &mut self,
        h: ConnHandle,
        algorithm: crate::congestion::Algorithm,
    ) -> Result<(), Error> {
        self.owned_mut(h)?.rec.switch_controller(algorithm);
        Ok(())
    }

    /// Keep-alive for one connection (MUST-24): probe after `idle` with nothing received;
    /// `None` turns it off (the default, MUST-25).
    pub fn set_keepalive(&mut self, h: ConnHandle, idle: Option<Duration>) -> Result<(), Error> {
        let c = self.owned_mut(h)?;
        c.keepalive = idle;
        c.arm_keepalive();
        self.touch(h);
        Ok(())
    }

    /// Whether the endpoint has something for its driver: segments or deadlines for
    /// `poll_transmit`, events for `poll_event`. A runtime that drives the endpoint on
    /// another thread wakes that thread after a user call only when this is true (a `recv`
    /// that opened no window worth announcing queues nothing).
    #[inline]
    pub fn wants_poll(&self) -> bool {
        !(self.ready.is_empty()
            && self.control.is_empty()
            && self.raw_out.is_empty()
            && self.events.is_empty())
    }

    /// The next event, oldest first. Inlined: callers drain the queue after every packet, and
    /// one that drops the event then skips copying it out.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

pub(crate) use crate::transmit::push_control;

/// Receive and send memory `rx` + `tx` reach `Config::memory_budget` (what
/// `Endpoint::over_budget` and the `ctx!` macro ask, the macro field by field).
#[inline]
pub(crate) fn over_budget(rx: usize, tx: usize, cfg: &Config) -> bool {
    rx + tx >= cfg.memory_budget
}

/// A usable unicast address: not unspecified, broadcast or multicast.
pub(crate) fn valid_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}
