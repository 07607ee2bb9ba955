//! Packets in: parsing and demultiplexing a datagram (fragments to ip_reassembly.rs, ICMP to
//! icmp.rs), the connection a segment belongs to, and the endpoint's bookkeeping after
//! anything happened to a connection (`after`: listener queues, memory accounts, reaping,
//! the transmit queue).

use std::net::{IpAddr, SocketAddr};

use synack_wire::{Deferred, Packet, PendingChecksum, TcpFlags, TcpRepr};

use crate::error::CloseReason;
use crate::event::{ConnHandle, Event, FourTuple};
use crate::recv_buffer::Offer;
use crate::segment_arrives::{ResetReply, Segment};
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;

use crate::endpoint::*;

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
            Some(c) => c.rcv.buf_mut().adopt(packet),
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
                c.rcv.buf_mut().unstage();
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
        reaccount(&mut self.tx_memory, c.snd.buf().len(), &mut l.tx_accounted);
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
    pub(crate) fn let_go(&mut self, h: ConnHandle) {
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
    pub(crate) fn sync_ready_timers(&mut self) {
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
}
