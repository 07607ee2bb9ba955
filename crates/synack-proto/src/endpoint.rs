//! The endpoint: demultiplexing (4-tuple hash map, never a scan), listeners with bounded SYN
//! and accept queues, the CLOSED/LISTEN rows of SEGMENT ARRIVES, OPEN, the timer heap and the
//! transmit queue.

use std::collections::{HashMap, VecDeque};

use crate::conn_table::{ConnTable, Live, OwnKeys};
use std::net::{IpAddr, SocketAddr};

use synack_wire::{
    Deferred, IpRepr, Ipv4Repr, Ipv6Repr, Packet, PendingChecksum, TcpFlags, TcpOptions, TcpRepr,
};

use crate::config::Config;
use crate::connection::{Connection, Outgoing};
use crate::error::{CloseReason, Error};
use crate::event::{ConnHandle, Event, FourTuple};
use crate::info::{ConnInfo, ConnTimers};
use crate::ip_reassembly::{FragmentStats, Limits, Reassembler};
use crate::isn::Secret;
use crate::listener::Listener;
use crate::recv_buffer::Offer;
use crate::segment_arrives::{ResetReply, Segment};
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
    fn count_malformed(&mut self, e: synack_wire::Error) {
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
    spent: Vec<Vec<u8>>,
    /// Bytes the connection at the front of `ready` has sent in its current turn.
    burst: usize,
    /// Datagrams arriving in fragments.
    pub(crate) reassembly: Reassembler,
}

/// A connection the application holds (not released): what user calls act on. Borrows only
/// the table, so the endpoint's counters stay free beside it.
fn owned_in(conns: &mut ConnTable, h: ConnHandle) -> Result<&mut Connection, Error> {
    owned_live(conns, h).map(|l| &mut *l.conn)
}

/// The slot of a connection the application holds: its TCB and the endpoint's bookkeeping.
fn owned_live(conns: &mut ConnTable, h: ConnHandle) -> Result<&mut Live, Error> {
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
fn reaccount(total: &mut usize, now: usize, accounted: &mut u32) {
    *total = *total - *accounted as usize + now;
    *accounted = now as u32;
}

/// The largest send or receive buffer of one connection (`Config` sizes above are taken as
/// this).
const MAX_BUFFER: usize = 1 << 30;

/// Bytes of datagrams one connection sends in a row before the next ready connection's turn
/// (the most a device with segmentation offload merges into one datagram).
const TX_BURST: usize = 64 * 1024;

/// Most emptied packet buffers the endpoint holds for the caller to reclaim; more are freed.
/// 64 is a whole 4 MiB window (the autotuning limit) of 64 KiB datagrams.
const MAX_RECLAIMABLE: usize = 64;

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
    fn over_budget(&self) -> bool {
        self.rx_memory + self.tx_memory >= self.cfg.memory_budget
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
            l.conn.snd.buf.len(),
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
        c.rcv.buf.take_spent(&mut self.spent, MAX_RECLAIMABLE);
        if self.cfg.recv_buffer_max > c.rcv.buf.capacity() {
            c.autotune_read(self.last_now, n, self.cfg.recv_buffer_max, pressure);
        }
        let ack_now = c.rcv.ack_now;
        reaccount(&mut self.rx_memory, c.recv_memory(), &mut l.rx_accounted);
        account_rings(&mut self.ring_storage, self.cfg.retained_ring_storage, l);
        if ack_now {
            self.touch(h);
        }
        Ok(n)
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
        self.owned_mut(h)?.snd.nodelay = nodelay;
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

impl Endpoint {
    // ----- packets in -----------------------------------------------------------------------

    /// Handle one incoming IP datagram (IPv4 or IPv6): TCP segments go to their connection,
    /// listener or the CLOSED rules; ICMP echo requests are answered and ICMP errors delivered
    /// to the connection they quote (icmp.rs); anything else is counted and dropped.
    #[inline]
    pub fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.handle_offered(now, packet, None);
    }

    /// [`Endpoint::handle`] for a datagram in `packet[..len]` of a buffer the caller gives up.
    /// The endpoint may keep the buffer: a large in-order segment then stays in it until the
    /// application reads it, and its text is copied once, packet to application, instead of
    /// into the receive ring and out again (recv_buffer/kept.rs). Returns the buffer when it
    /// was not kept; a kept one comes back through [`Endpoint::reclaim`] once read. Behaves as
    /// `handle` in every other respect.
    #[inline]
    pub fn handle_owned(&mut self, now: Instant, packet: Vec<u8>, len: usize) -> Option<Vec<u8>> {
        let len = len.min(packet.len());
        if len < self.cfg.keep_packets_min {
            // No text long enough to keep (inlined: most packets, ACKs, take this way).
            self.handle_offered(now, &packet[..len], None);
            return Some(packet);
        }
        self.handle_offering(now, packet, len)
    }

    /// [`Endpoint::handle_owned`] for a datagram long enough to be kept. The segment borrows
    /// the datagram while it is processed: a receive buffer that keeps its text notes where
    /// it lies (by offsets, [`Offer`]), and is handed the buffer itself afterwards (`adopt`),
    /// which gives it back if nothing was kept.
    fn handle_offering(&mut self, now: Instant, packet: Vec<u8>, len: usize) -> Option<Vec<u8>> {
        let datagram = &packet[..len];
        let offer = Offer::new(datagram, packet.capacity(), self.cfg.keep_packets_min);
        let c = self
            .handle_offered(now, datagram, offer)
            .and_then(|h| self.conns.get_mut(&h));
        let back = match c {
            Some(c) => c.rcv.buf.adopt(packet),
            None => Some(packet),
        };
        self.stats.packets_kept += u64::from(back.is_none());
        back
    }

    /// A packet buffer given to [`Endpoint::handle_owned`] whose text the application has
    /// read, for the caller to use again (the endpoint holds at most 64; more are freed).
    pub fn reclaim(&mut self) -> Option<Vec<u8>> {
        self.spent.pop()
    }

    /// Drop the packet buffers held for `reclaim`; returns their bytes (release.rs).
    pub(crate) fn release_spent(&mut self) -> usize {
        let bytes = self.spent.iter().map(Vec::capacity).sum();
        self.spent = Vec::new();
        bytes
    }

    /// Both `handle`s. Returns the connection the segment went to when `offer` was passed on
    /// with it.
    fn handle_offered(
        &mut self,
        now: Instant,
        packet: &[u8],
        offer: Option<Offer>,
    ) -> Option<ConnHandle> {
        self.last_now = self.last_now.max(now);
        self.stats.packets_in += 1;
        // A TCP segment's checksum is finished in tcp_arrives, where its text may be summed
        // while it is copied into the receive ring.
        let (src, dst, tcp, pending) = match synack_wire::parse_ip_tcp_deferred(packet) {
            Ok(parsed) => parsed,
            Err(synack_wire::Error::NotTcp) => {
                self.other_arrives(now, packet);
                return None;
            }
            Err(synack_wire::Error::Fragmented) => {
                self.fragment_arrives(now, packet);
                return None;
            }
            Err(e) => {
                self.malformed(e);
                return None;
            }
        };
        self.tcp_arrives(now, src, dst, tcp, pending, offer)
    }

    /// A well-formed datagram that is not TCP (ICMP, another protocol), parsed again as
    /// such. Out of line: the per-packet path is TCP's.
    #[cold]
    #[inline(never)]
    fn other_arrives(&mut self, now: Instant, packet: &[u8]) {
        match synack_wire::parse_ip_deferred(packet) {
            Ok(parsed) => {
                self.datagram_arrives(now, parsed, None);
            }
            Err(e) => self.malformed(e),
        }
    }

    /// A fragment: into the reassembly table; a datagram it completes goes on as if it had
    /// arrived whole (once: it is no fragment itself). Kept out of line: fragments are rare,
    /// and the per-packet path stays small.
    #[cold]
    #[inline(never)]
    fn fragment_arrives(&mut self, now: Instant, packet: &[u8]) {
        // The parser found a well-formed IPv4 or IPv6 header before it said "fragment".
        let (src, dst) = if packet.first().is_some_and(|b| b >> 4 == 6) {
            let p = synack_wire::Ipv6Packet::new_unchecked(packet);
            (IpAddr::V6(p.src_addr()), IpAddr::V6(p.dst_addr()))
        } else {
            let p = synack_wire::Ipv4Packet::new_unchecked(packet);
            (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()))
        };
        // Nothing is held for another host, or from or to an address that cannot be one
        // (MUST-57, MUST-63).
        if !self.is_ours(dst) {
            self.stats.not_ours += 1;
            return;
        }
        if !valid_unicast(dst) || !valid_unicast(src) {
            self.stats.bad_address += 1;
            return;
        }
        let whole = self.reassembly.insert(now, packet);
        self.stats.fragments = self.reassembly.stats().clone();
        if let Some(whole) = whole {
            match synack_wire::parse_ip_deferred(&whole) {
                Ok(parsed) => {
                    self.datagram_arrives(now, parsed, None);
                }
                Err(e) => self.malformed(e),
            }
        }
    }

    /// A whole datagram, parsed: to TCP, ICMP, or counted as another protocol. (Inlined: it
    /// is the per-packet path of `handle_offered`.)
    #[inline(always)]
    fn datagram_arrives(
        &mut self,
        now: Instant,
        parsed: Deferred<'_>,
        offer: Option<Offer>,
    ) -> Option<ConnHandle> {
        match parsed {
            Deferred::Tcp(ip, tcp, pending) => {
                return self.tcp_arrives(now, ip.src_addr(), ip.dst_addr(), tcp, pending, offer)
            }
            Deferred::Done(Packet::Icmpv4(ip, msg)) => self.icmpv4_arrives(now, ip, msg),
            Deferred::Done(Packet::Icmpv6(ip, msg)) => self.icmpv6_arrives(now, ip, msg),
            Deferred::Done(Packet::Tcp(..) | Packet::Other(_)) => self.stats.other_protocol += 1,
        }
        None
    }

    /// MUST-3 (bad checksum), MUST-7 (bad option length) and every other malformed input:
    /// dropped and counted, never a panic.
    fn malformed(&mut self, e: synack_wire::Error) {
        tracing::debug!(error = %e, "dropped malformed packet");
        self.stats.count_malformed(e);
    }

    /// Whether `dst` is one of this endpoint's addresses (all are, with no list configured).
    pub(crate) fn is_ours(&self, dst: IpAddr) -> bool {
        self.cfg.local_addrs.is_empty() || self.cfg.local_addrs.contains(&dst)
    }

    /// (Inlined into both its callers: the per-packet path, where it always was, and the cold
    /// path of reassembled datagrams, which would otherwise make it a call of its own.)
    #[inline(always)]
    fn tcp_arrives(
        &mut self,
        now: Instant,
        src: IpAddr,
        dst: IpAddr,
        tcp: TcpRepr<'_>,
        pending: PendingChecksum,
        offer: Option<Offer>,
    ) -> Option<ConnHandle> {
        let tuple = FourTuple {
            local: SocketAddr::new(dst, tcp.dst_port),
            remote: SocketAddr::new(src, tcp.src_port),
        };
        let found = self.conns.lookup(&tuple);
        // MUST-3: the checksum is verified before anything else is done with the segment.
        // Text that a connection would store at RCV.NXT is copied into its receive ring and
        // summed in the same pass; it only becomes readable if the checksum is good and the
        // segment is then accepted (RecvBuffer::stage). Everything else is summed here.
        // (Short segments were verified whole by the parser.)
        // (Text long enough to be kept in its packet, if one is on offer, is verified by a
        // read-only sum instead.)
        let offer = offer.and_then(|o| o.text(SeqNum(tcp.seq_number), tcp.payload.len()));
        let staged = found
            .filter(|_| pending.is_deferred() && offer.is_none())
            .and_then(|h| self.conns.get_mut(&h))
            .and_then(|c| c.stage_text(SeqNum(tcp.seq_number), tcp.flags, tcp.payload));
        let valid = match staged {
            Some(sum) => pending.verify(sum),
            None => pending.verify_payload(tcp.payload),
        };
        if !valid || !self.is_ours(dst) || !valid_unicast(dst) || !valid_unicast(src) {
            if let Some(c) = found.and_then(|h| self.conns.get_mut(&h)) {
                c.rcv.buf.unstage();
            }
            if !valid {
                self.malformed(synack_wire::Error::BadChecksum);
            } else if !self.is_ours(dst) {
                self.stats.not_ours += 1;
            } else {
                // MUST-57: nothing addressed to broadcast/multicast; MUST-63: nothing (in
                // particular no SYN) from an invalid source.
                self.stats.bad_address += 1;
            }
            return None;
        }
        let seg = Segment {
            seq: SeqNum(tcp.seq_number),
            ack: SeqNum(tcp.ack_number),
            flags: tcp.flags,
            wnd: u32::from(tcp.window_len), // MUST-1: unsigned
            options: tcp.options,
            payload: tcp.payload,
            urgent: tcp.urgent_pointer,
            offer: offer.as_ref(),
        };
        if crate::log::enabled(tracing::Level::TRACE) {
            let (seq, ack, len) = (tcp.seq_number, tcp.ack_number, tcp.payload.len());
            crate::log::segment("in", &tuple, tcp.flags, seq, ack, len);
        }
        if let Some(h) = found {
            if self.conns.get(&h).is_some() {
                // Only the connection found for the segment may keep its packet.
                self.dispatch(now, h, seg);
                return offer.map(|_| h);
            } else {
                let seg = Segment { offer: None, ..seg }; // a compact entry keeps nothing
                self.time_wait_arrives(now, h, seg);
            }
        } else if let Some(laddr) = self.find_listener(tuple.local) {
            let seg = Segment { offer: None, ..seg };
            self.listen_arrives(now, laddr, tuple, seg, None);
        } else {
            self.closed_arrives(tuple, seg);
        }
        None
    }

    pub(crate) fn dispatch(&mut self, now: Instant, h: ConnHandle, seg: Segment<'_>) {
        let accept_room = {
            let Some(c) = self.conns.get(&h) else { return };
            // Only SYN-RECEIVED asks (the ACK that would complete the handshake).
            match c.listener.filter(|_| c.state() == State::SynReceived) {
                Some(l) => self
                    .listeners
                    .get(&l)
                    .is_none_or(|l| l.accept_queue.len() < l.backlog),
                None => true,
            }
        };
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let was = c.state();
        if was == State::TimeWait {
            // The TIME-WAIT rules, shared with the compact entry (time_wait_rules.rs).
            return self.time_wait_tcb_arrives(now, h, seg);
        }
        let mut ctx = ctx!(self, now);
        let out = c.segment_arrives(&mut ctx, seg, accept_room);
        if out.dropped_for_memory {
            self.stats.ooo_dropped_memory += 1;
        }
        if let Some(r) = out.reset {
            let tuple = c.tuple;
            self.queue_reset(tuple, r);
        }
        self.after(h, was, out.back_to_listen);
    }

    /// A RST from a connection, with the options it chose (timestamps, RFC 7323 §3.2).
    pub(crate) fn queue_reset(&mut self, tuple: FourTuple, r: ResetReply) {
        let rst = Control {
            tuple,
            seq: r.seq,
            ack: None,
            segment: Some((TcpFlags::RST, 0, r.options)),
        };
        push_control(&mut self.control, &mut self.stats, &self.cfg, rst);
    }

    pub(crate) fn queue_control(&mut self, tuple: FourTuple, seq: SeqNum, ack: Option<SeqNum>) {
        let rst = Control {
            tuple,
            seq,
            ack,
            segment: None,
        };
        push_control(&mut self.control, &mut self.stats, &self.cfg, rst);
    }

    /// Bookkeeping after anything happened to a connection: listener queues, reaping, the
    /// transmit queue and the timer heap.
    pub(crate) fn after(&mut self, h: ConnHandle, was: State, back_to_listen: bool) {
        let pressure = self.over_budget();
        let Some(l) = self.conns.live_mut(&h) else {
            return;
        };
        let c = &mut *l.conn;
        // The TIME-WAIT table is bounded: past `max_time_wait` a connection skips its 2MSL
        // wait (the Linux "time wait bucket table overflow" behaviour), counted.
        if was != State::TimeWait && c.state() == State::TimeWait {
            if self.time_wait_count >= self.cfg.max_time_wait {
                // The FIN that led here is still acknowledged (§3.10.7.4): without it the
                // peer would sit in LAST-ACK until its retransmitted FIN met a RST.
                if let Some((seq, ack, window, options)) = c.owed_ack(self.last_now, pressure) {
                    let ack = Control {
                        tuple: c.tuple,
                        seq,
                        ack: Some(ack),
                        segment: Some((TcpFlags::ACK, window, options)),
                    };
                    push_control(&mut self.control, &mut self.stats, &self.cfg, ack);
                }
                let mut ctx = ctx!(self, self.last_now);
                c.close_with(&mut ctx, CloseReason::Normal, "TIME-WAIT table full");
                self.stats.time_wait_overflow += 1;
            } else {
                self.time_wait_count += 1;
            }
        } else if was == State::TimeWait && c.state() != State::TimeWait {
            self.time_wait_count = self.time_wait_count.saturating_sub(1);
        }
        // Receive and send memory against the global budget.
        reaccount(&mut self.rx_memory, c.recv_memory(), &mut l.rx_accounted);
        reaccount(&mut self.tx_memory, c.snd.buf.len(), &mut l.tx_accounted);
        account_rings(&mut self.ring_storage, self.cfg.retained_ring_storage, l);
        let c = &mut *l.conn;
        let state = c.state();
        if let Some(laddr) = c.listener {
            if was == State::SynReceived && state != State::SynReceived {
                let established = state.is_synchronized();
                if let Some(l) = self.listeners.get_mut(&laddr) {
                    l.syn_queue = l.syn_queue.saturating_sub(1);
                    if established && l.children.contains(&h) {
                        l.accept_queue.push_back(h);
                        self.events.push_back(Event::Incoming {
                            listener: laddr,
                            conn: h,
                        });
                    }
                }
            }
        }
        if back_to_listen {
            let mut ctx = ctx!(self, self.last_now);
            c.transition(&mut ctx, State::Closed, "half-open child discarded");
        }
        if c.state() == State::Closed {
            let (reapable, tuple) = (c.is_reapable(), c.tuple);
            self.conns.unbind(&tuple, h);
            if reapable {
                self.let_go(h);
                self.conns.remove(&h);
            }
            return;
        }
        self.touch(h);
    }

    /// A TCB is about to go (reaped, or frozen into a TIME-WAIT entry): take what it holds off
    /// the endpoint's memory accounts and out of its listener's children.
    fn let_go(&mut self, h: ConnHandle) {
        let Some(live) = self.conns.live(&h) else {
            return;
        };
        self.rx_memory -= live.rx_accounted as usize;
        self.tx_memory -= live.tx_accounted as usize;
        self.ring_storage -= live.rings_accounted;
        if let Some(l) = live.conn.listener.and_then(|a| self.listeners.get_mut(&a)) {
            l.children.remove(&h);
        }
    }

    /// Put a connection on the transmit queue. Its timer is brought up to date when it leaves
    /// the queue (`poll_transmit`), or before the timer heap is read (`sync_ready_timers`):
    /// once, however many segments and calls touched it in between.
    pub(crate) fn touch(&mut self, h: ConnHandle) {
        let Some(l) = self.conns.live_mut(&h) else {
            return;
        };
        if !l.in_ready {
            l.in_ready = true;
            self.ready.push_back(h);
        }
    }

    /// Refresh the timers of the connections waiting in the transmit queue, whose deadlines
    /// may have moved since they were queued: the heap is then exact for every connection.
    fn sync_ready_timers(&mut self) {
        for i in 0..self.ready.len() {
            if let Some(&h) = self.ready.get(i) {
                self.schedule(h);
            }
        }
    }

    /// Put the connection's earliest deadline in the timer heap (timer_heap.rs).
    pub(crate) fn schedule(&mut self, h: ConnHandle) {
        let Some(c) = self.conns.get(&h) else {
            return;
        };
        let d = c.next_deadline(&self.cfg);
        self.conns.set_timer(h, d);
    }

    // ----- time -----------------------------------------------------------------------------

    /// The earliest deadline of any connection, or of a datagram being reassembled.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.sync_ready_timers();
        let time_wait = self.conns.next_time_wait().map(|(t, _)| t);
        let t = match (self.poll_live_timeout().map(|(t, _)| t), time_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.reassembly.datagrams() == 0 {
            return t;
        }
        match (t, self.reassembly.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest deadline of the live connections' timer heap.
    /// A deadline that changed without `schedule` (nothing should do that) is corrected here.
    fn poll_live_timeout(&mut self) -> Option<(Instant, ConnHandle)> {
        loop {
            let (t, h) = self.conns.next_timer()?;
            let d = self.conns.get(&h).and_then(|c| c.next_deadline(&self.cfg));
            if d == Some(t) {
                return Some((t, h));
            }
            self.conns.set_timer(h, d);
        }
    }

    /// Run every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        self.sync_ready_timers();
        self.expire_time_wait(now);
        if self.reassembly.datagrams() > 0 {
            self.expire_fragments(now);
        }
        while let Some((t, h)) = self.poll_live_timeout() {
            if t > now {
                break;
            }
            let Some(c) = self.conns.get_mut(&h) else {
                break;
            };
            let was = c.state();
            let mut ctx = ctx!(self, now);
            c.handle_timeout(&mut ctx);
            self.after(h, was, false);
        }
    }

    // ----- packets out ----------------------------------------------------------------------

    /// Write the next outgoing IPv4 datagram into `buf` and return its length. Call until it
    /// returns `None`. A buffer of 65536 bytes is always enough.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.last_now = self.last_now.max(now);
        while let Some(pkt) = self.raw_out.pop_front() {
            if let Some(dst) = buf.get_mut(..pkt.len()) {
                dst.copy_from_slice(&pkt);
                self.stats.packets_out += 1;
                return Some(pkt.len());
            }
        }
        while let Some(ctl) = self.control.pop_front() {
            if let Some(n) = self.emit_control(ctl, buf) {
                return Some(n);
            }
        }
        while let Some(&h) = self.ready.front() {
            let Some(l) = self.conns.live_mut(&h) else {
                self.burst = 0;
                self.ready.pop_front();
                continue;
            };
            let c = &mut *l.conn;
            let mut ctx = ctx!(self, now);
            let out = c.poll_transmit(&mut ctx);
            let result = match &out {
                Some(out) => {
                    // The payload goes from the send ring straight into the packet.
                    let payload = c.snd.buf.slices(out.seq, out.payload_len);
                    let n = emit(&self.cfg, &mut self.ip_ident, &c.tuple, out, payload, buf);
                    self.stats.packets_out += u64::from(n.is_some());
                    // Round robin by bursts: a connection with more to send goes to the back
                    // (alone in the queue, it is already there) once it has sent
                    // TX_BURST bytes in a row. Consecutive segments of one connection are
                    // what a device with segmentation offload merges into one datagram, and
                    // what the receiver's stack takes in one go.
                    if self.ready.len() > 1 {
                        self.burst += n.unwrap_or(0);
                        if self.burst >= TX_BURST {
                            self.burst = 0;
                            self.ready.pop_front();
                            self.ready.push_back(h);
                        }
                    }
                    n
                }
                None => {
                    self.burst = 0;
                    self.ready.pop_front();
                    l.in_ready = false;
                    if c.can_freeze() {
                        // TIME-WAIT with its last ACK out: the TCB gives way to a compact
                        // entry (time_wait.rs).
                        self.let_go(h);
                        self.conns
                            .freeze(h, self.rx_memory + self.tx_memory >= self.cfg.memory_budget);
                        self.stats.time_wait_compacted += 1;
                    } else {
                        self.schedule(h); // whatever moved its deadlines while it was queued
                    }
                    None
                }
            };
            if result.is_some() {
                return result;
            }
        }
        None
    }

    fn emit_control(&mut self, ctl: Control, buf: &mut [u8]) -> Option<usize> {
        let out = match ctl.segment {
            Some((flags, window, options)) => {
                self.stats.resets_sent += u64::from(flags.contains(TcpFlags::RST));
                Outgoing {
                    seq: ctl.seq,
                    ack: ctl.ack.unwrap_or(SeqNum(0)),
                    flags,
                    window,
                    options,
                    payload_len: 0,
                    urgent: 0,
                }
            }
            None => {
                self.stats.resets_sent += 1;
                Outgoing {
                    seq: ctl.seq,
                    ack: ctl.ack.unwrap_or(SeqNum(0)),
                    flags: if ctl.ack.is_some() {
                        TcpFlags::RST | TcpFlags::ACK
                    } else {
                        TcpFlags::RST
                    },
                    window: 0,
                    options: TcpOptions::default(),
                    payload_len: 0,
                    urgent: 0,
                }
            }
        };
        let n = emit(
            &self.cfg,
            &mut self.ip_ident,
            &ctl.tuple,
            &out,
            (&[], &[]),
            buf,
        );
        self.stats.packets_out += u64::from(n.is_some());
        n
    }
}

/// Queue a control segment (a RST, a SYN-cookie SYN-ACK, an ACK for a connection without a
/// TCB), bounded by `max_pending_control`: past it the segment is dropped and counted
/// (`control_dropped`), and the peer's retransmission asks again. Returns whether it was queued.
pub(crate) fn push_control(
    control: &mut VecDeque<Control>,
    stats: &mut EndpointStats,
    cfg: &Config,
    ctl: Control,
) -> bool {
    if control.len() >= cfg.max_pending_control {
        stats.control_dropped += 1;
        return false;
    }
    control.push_back(ctl);
    true
}

/// Wrap `out` in TCP and IP headers into `buf`; `payload` is its data in (at most) two pieces,
/// copied once, straight into the packet. Returns the datagram's length.
fn emit(
    cfg: &Config,
    ip_ident: &mut u16,
    tuple: &FourTuple,
    out: &Outgoing,
    payload: (&[u8], &[u8]),
    buf: &mut [u8],
) -> Option<usize> {
    // One match on the family gives the ports and the addresses. (The payload length is the
    // emitter's to fill in, from the segment.)
    let (ports, ip) = match (tuple.local, tuple.remote) {
        (SocketAddr::V4(local), SocketAddr::V4(remote)) => {
            *ip_ident = ip_ident.wrapping_add(1);
            let ip = IpRepr::V4(Ipv4Repr {
                src_addr: *local.ip(),
                dst_addr: *remote.ip(),
                protocol: synack_wire::IPPROTO_TCP,
                payload_len: 0,
                ttl: cfg.ttl,
                dscp: 0,
                ecn: 0,
                ident: *ip_ident,
            });
            ((local.port(), remote.port()), ip)
        }
        (SocketAddr::V6(local), SocketAddr::V6(remote)) => {
            let ip = IpRepr::V6(Ipv6Repr {
                src_addr: *local.ip(),
                dst_addr: *remote.ip(),
                next_header: synack_wire::IPPROTO_TCP,
                payload_len: 0,
                hop_limit: cfg.ttl,
                traffic_class: 0,
            });
            ((local.port(), remote.port()), ip)
        }
        _ => return None, // a tuple never mixes families
    };
    let tcp = TcpRepr {
        src_port: ports.0,
        dst_port: ports.1,
        seq_number: out.seq.get(),
        ack_number: out.ack.get(),
        flags: out.flags,
        window_len: out.window,
        urgent_pointer: if out.flags.contains(TcpFlags::URG) {
            out.urgent
        } else {
            0
        },
        options: out.options,
        payload: payload.0,
    };
    let more = [payload.1];
    match synack_wire::emit_ip_tcp_gather(&ip, &tcp, &more, buf) {
        Ok(n) => {
            if crate::log::enabled(tracing::Level::TRACE) {
                let (seq, ack, len) = (out.seq.get(), out.ack.get(), out.payload_len);
                crate::log::segment("out", tuple, out.flags, seq, ack, len);
            }
            Some(n)
        }
        Err(e) => {
            tracing::warn!(error = %e, "output buffer too small; segment dropped");
            None
        }
    }
}

/// A usable unicast address: not unspecified, broadcast or multicast.
pub(crate) fn valid_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}
