//! ICMP and ICMPv6 (RFC 9293 §3.9.2.2, MUST-54..56; RFC 1191 / RFC 8201 path MTU; RFC 5927).
//!
//! Echo requests to our addresses are answered (so `ping` works). Errors are matched to the
//! connection whose segment they quote, and only if the quoted sequence number lies in
//! SND.UNA..SND.NXT (RFC 5927 §4.1: a blind attacker must not be able to reset connections
//! with forged ICMP). Hard errors (protocol or port unreachable) abort a connection attempt;
//! on an established connection, as for every soft error, the application is told and the
//! connection carries on (MUST-56). "Fragmentation needed" / "packet too big" lower the
//! connection's MSS (path MTU discovery) and are never fatal. Source quench is ignored
//! (MUST-55).

use core::fmt;
use std::net::IpAddr;

use synack_wire::{Icmpv4Message, Icmpv6Message, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr};

use crate::connection::{Connection, Ctx};
use crate::endpoint::{valid_unicast, Endpoint};
use crate::error::CloseReason;
use crate::event::{Event, FourTuple};
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::Instant;

/// An ICMP error reported to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IcmpError {
    NetUnreachable,
    HostUnreachable,
    ProtocolUnreachable,
    PortUnreachable,
    /// ICMPv4 "fragmentation needed and DF set" with the next-hop MTU (RFC 1191).
    FragmentationNeeded {
        mtu: u16,
    },
    /// ICMPv6 "packet too big" (RFC 8201).
    PacketTooBig {
        mtu: u32,
    },
    AdminProhibited,
    TimeExceeded,
    ParameterProblem,
    Other {
        icmp_type: u8,
        code: u8,
    },
}

impl IcmpError {
    /// A hard error (RFC 9293 §3.9.2.2, SHLD-26): the destination will not take this
    /// connection.
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            IcmpError::ProtocolUnreachable
                | IcmpError::PortUnreachable
                | IcmpError::AdminProhibited
        )
    }

    fn from_v4_unreachable(code: u8, mtu: u16) -> Self {
        match code {
            0 | 6 | 9 | 11 => IcmpError::NetUnreachable,
            1 | 7 | 10 | 12 => IcmpError::HostUnreachable,
            2 => IcmpError::ProtocolUnreachable,
            3 => IcmpError::PortUnreachable,
            4 => IcmpError::FragmentationNeeded { mtu },
            13 => IcmpError::AdminProhibited,
            code => IcmpError::Other { icmp_type: 3, code },
        }
    }

    fn from_v6_unreachable(code: u8) -> Self {
        match code {
            0 => IcmpError::NetUnreachable,
            1 => IcmpError::AdminProhibited,
            3 => IcmpError::HostUnreachable,
            4 => IcmpError::PortUnreachable,
            code => IcmpError::Other { icmp_type: 1, code },
        }
    }
}

impl fmt::Display for IcmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IcmpError::NetUnreachable => f.write_str("network unreachable"),
            IcmpError::HostUnreachable => f.write_str("host unreachable"),
            IcmpError::ProtocolUnreachable => f.write_str("protocol unreachable"),
            IcmpError::PortUnreachable => f.write_str("port unreachable"),
            IcmpError::FragmentationNeeded { mtu } => write!(f, "fragmentation needed (mtu {mtu})"),
            IcmpError::PacketTooBig { mtu } => write!(f, "packet too big (mtu {mtu})"),
            IcmpError::AdminProhibited => f.write_str("administratively prohibited"),
            IcmpError::TimeExceeded => f.write_str("time exceeded"),
            IcmpError::ParameterProblem => f.write_str("parameter problem"),
            IcmpError::Other { icmp_type, code } => write!(f, "icmp type {icmp_type} code {code}"),
        }
    }
}

impl Endpoint {
    pub(crate) fn icmpv4_arrives(&mut self, now: Instant, ip: Ipv4Repr, msg: Icmpv4Message<'_>) {
        self.stats.icmp_in += 1;
        let dst = IpAddr::V4(ip.dst_addr);
        if !self.is_ours(dst) {
            self.stats.not_ours += 1;
            return;
        }
        let error = match msg {
            Icmpv4Message::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                if valid_unicast(dst) && valid_unicast(IpAddr::V4(ip.src_addr)) {
                    let reply = Ipv4Repr {
                        src_addr: ip.dst_addr,
                        dst_addr: ip.src_addr,
                        ttl: self.cfg.ttl,
                        ..ip
                    };
                    let msg = Icmpv4Message::EchoReply {
                        ident,
                        seq_no,
                        data,
                    };
                    let mut buf = vec![0u8; 20 + msg.buffer_len()];
                    if let Ok(n) = synack_wire::emit_icmpv4(&reply, &msg, &mut buf) {
                        buf.truncate(n);
                        self.queue_raw(buf);
                    }
                }
                return;
            }
            Icmpv4Message::DestUnreachable {
                code,
                next_hop_mtu,
                original,
            } => (IcmpError::from_v4_unreachable(code, next_hop_mtu), original),
            Icmpv4Message::TimeExceeded { original, .. } => (IcmpError::TimeExceeded, original),
            Icmpv4Message::ParamProblem { original, .. } => (IcmpError::ParameterProblem, original),
            // MUST-55: source quench is silently discarded; replies and others need nothing.
            _ => return,
        };
        self.icmp_error(now, error.0, error.1);
    }

    pub(crate) fn icmpv6_arrives(&mut self, now: Instant, ip: Ipv6Repr, msg: Icmpv6Message<'_>) {
        self.stats.icmp_in += 1;
        let dst = IpAddr::V6(ip.dst_addr);
        if !self.is_ours(dst) {
            self.stats.not_ours += 1;
            return;
        }
        let error = match msg {
            Icmpv6Message::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                if valid_unicast(dst) {
                    let reply = Ipv6Repr {
                        src_addr: ip.dst_addr,
                        dst_addr: ip.src_addr,
                        hop_limit: self.cfg.ttl,
                        ..ip
                    };
                    let msg = Icmpv6Message::EchoReply {
                        ident,
                        seq_no,
                        data,
                    };
                    let mut buf = vec![0u8; 40 + msg.buffer_len()];
                    if let Ok(n) = synack_wire::emit_icmpv6(&reply, &msg, &mut buf) {
                        buf.truncate(n);
                        self.queue_raw(buf);
                    }
                }
                return;
            }
            Icmpv6Message::DestUnreachable { code, original } => {
                (IcmpError::from_v6_unreachable(code), original)
            }
            Icmpv6Message::PacketTooBig { mtu, original } => {
                (IcmpError::PacketTooBig { mtu }, original)
            }
            Icmpv6Message::TimeExceeded { original, .. } => (IcmpError::TimeExceeded, original),
            Icmpv6Message::ParamProblem { original, .. } => (IcmpError::ParameterProblem, original),
            _ => return,
        };
        self.icmp_error(now, error.0, error.1);
    }

    /// Datagrams whose reassembly timed out are dropped (ip_reassembly.rs); for each whose
    /// first fragment had arrived, the sender gets an ICMP Time Exceeded, code 1 "fragment
    /// reassembly time exceeded" (RFC 792, RFC 1122 §3.3.2, RFC 8200 §4.5). No rate limit
    /// beyond the table's: at most `max_reassembly_datagrams` per `reassembly_timeout`, each
    /// caused by a fragment the sender sent us, and the control queue's bound.
    #[cold]
    #[inline(never)]
    pub(crate) fn expire_fragments(&mut self, now: Instant) {
        let mut quotes = Vec::new();
        self.reassembly.expire(now, |q| quotes.push(q.to_vec()));
        self.stats.fragments = self.reassembly.stats().clone();
        for q in quotes {
            self.time_exceeded(&q);
        }
    }

    /// Queue an ICMP Time Exceeded (code 1) quoting `original`, back to its sender.
    fn time_exceeded(&mut self, original: &[u8]) {
        let mut buf = vec![0u8; 48 + original.len()];
        let n = match original.first().map(|b| b >> 4) {
            Some(4) => {
                let q = Ipv4Packet::new_unchecked(original);
                self.ip_ident = self.ip_ident.wrapping_add(1);
                let ip = Ipv4Repr {
                    src_addr: q.dst_addr(),
                    dst_addr: q.src_addr(),
                    protocol: synack_wire::IPPROTO_ICMP,
                    payload_len: 0,
                    ttl: self.cfg.ttl,
                    dscp: 0,
                    ecn: 0,
                    ident: self.ip_ident,
                };
                let msg = Icmpv4Message::TimeExceeded { code: 1, original };
                synack_wire::emit_icmpv4(&ip, &msg, &mut buf)
            }
            Some(6) => {
                let q = Ipv6Packet::new_unchecked(original);
                let ip = Ipv6Repr {
                    src_addr: q.dst_addr(),
                    dst_addr: q.src_addr(),
                    next_header: synack_wire::IPPROTO_ICMPV6,
                    payload_len: 0,
                    hop_limit: self.cfg.ttl,
                    traffic_class: 0,
                };
                let msg = Icmpv6Message::TimeExceeded { code: 1, original };
                synack_wire::emit_icmpv6(&ip, &msg, &mut buf)
            }
            _ => return,
        };
        let Ok(n) = n else { return };
        if self.raw_out.len() >= self.cfg.max_pending_control {
            self.stats.control_dropped += 1;
            return;
        }
        buf.truncate(n);
        self.stats.icmp_time_exceeded += 1;
        self.raw_out.push_back(buf);
    }

    fn queue_raw(&mut self, packet: Vec<u8>) {
        if self.raw_out.len() >= self.cfg.max_pending_control {
            self.stats.control_dropped += 1;
            return;
        }
        self.stats.icmp_echo_replies += 1;
        self.raw_out.push_back(packet);
    }

    /// Deliver an ICMP error to the connection whose segment it quotes (MUST-54).
    fn icmp_error(&mut self, now: Instant, error: IcmpError, original: &[u8]) {
        let Some((src, dst, sport, dport, seq)) = synack_wire::quoted_tcp(original) else {
            self.stats.icmp_ignored += 1;
            return;
        };
        let tuple = FourTuple {
            local: std::net::SocketAddr::new(src, sport),
            remote: std::net::SocketAddr::new(dst, dport),
        };
        let Some(h) = self.conns.lookup(&tuple) else {
            self.stats.icmp_ignored += 1;
            return;
        };
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        // RFC 5927 §4.1: the quoted segment must be one we may still have outstanding.
        if !SeqNum(seq).in_range(c.snd.una(), c.snd.max().max(c.snd.una() + 1u32)) {
            self.stats.icmp_ignored += 1;
            return;
        }
        let was = c.state();
        let mut ctx = ctx!(self, now);
        c.icmp_error(&mut ctx, error);
        self.after(h, was, false);
    }
}

impl Connection {
    fn icmp_error(&mut self, ctx: &mut Ctx<'_>, error: IcmpError) {
        let header = if self.tuple.remote.is_ipv4() { 20 } else { 40 };
        let mtu = match error {
            IcmpError::FragmentationNeeded { mtu } => Some(u32::from(mtu)),
            IcmpError::PacketTooBig { mtu } => Some(mtu),
            _ => None,
        };
        if let Some(mtu) = mtu {
            // Path MTU discovery: segments shrink to fit and the lost one is sent again. A
            // next-hop MTU of 0 (an old router) or an absurdly small one is not believed.
            let floor = if header == 20 { 536 } else { 1220 };
            let mss = mtu
                .saturating_sub(header + 20)
                .max(floor)
                .min(u32::from(u16::MAX)) as u16;
            if mss < self.opts.path_mss() && mtu > 0 {
                self.opts.lower_path_mss(mss);
                self.snd.go_back_to_una(); // resend what was too big
            }
        }
        ctx.events.push_back(Event::IcmpError {
            conn: self.handle,
            error,
        });
        // A hard error aborts a connection attempt (SHLD-26); once synchronized, and for soft
        // errors always, the connection continues (MUST-56) — the application was told
        // (MUST-47, SHLD-25).
        if error.is_hard() && self.state() == State::SynSent {
            self.close_with(ctx, CloseReason::Refused, "ICMP unreachable");
        }
    }
}
