//! Packets out and the clock: the transmit queue (`poll_transmit`: control segments first,
//! then each ready connection's next segment, written around its payload straight from the
//! send ring), and the timer heap (`poll_timeout`, `handle_timeout`).

use std::collections::VecDeque;

use std::net::SocketAddr;

use synack_wire::{IpRepr, Ipv4Repr, Ipv6Repr, TcpFlags, TcpOptions, TcpRepr};

use crate::config::Config;
use crate::connection::Outgoing;
use crate::event::{ConnHandle, FourTuple};
use crate::seq::SeqNum;
use crate::time::Instant;

use crate::endpoint::*;

impl Endpoint {
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
                    let payload = c.snd.buf().slices(out.seq, out.payload_len);
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
                        self.conns.freeze(h, self.over_budget());
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
