//! One IPv4/TCP frame builder for the crate's tests (tests.rs, trace_tests.rs,
//! recovery_tests.rs): each describes its frames its own way and builds them here.

use std::net::Ipv4Addr;

use synack_wire::{emit_ipv4_tcp, Ipv4Repr, TcpFlags, TcpOptions, TcpRepr};

/// Who sends a frame: addresses and ports.
#[derive(Clone, Copy)]
pub(crate) struct Ends {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

impl Ends {
    /// `a` on `a_port` to `b` on `b_port` when `forward`, else the other way.
    pub(crate) fn between(a: (Ipv4Addr, u16), b: (Ipv4Addr, u16), forward: bool) -> Ends {
        let (from, to) = if forward { (a, b) } else { (b, a) };
        Ends {
            src: from.0,
            dst: to.0,
            src_port: from.1,
            dst_port: to.1,
        }
    }
}

/// The raw IPv4 packet of one TCP segment (IP ident `ident`, TTL 64).
#[allow(clippy::too_many_arguments)]
pub(crate) fn ipv4_tcp(
    ends: Ends,
    ident: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: ends.src,
        dst_addr: ends.dst,
        protocol: 6,
        payload_len: 0,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident,
    };
    let tcp = TcpRepr {
        src_port: ends.src_port,
        dst_port: ends.dst_port,
        seq_number: seq,
        ack_number: ack,
        flags: TcpFlags(flags),
        window_len: window,
        urgent_pointer: 0,
        options,
        payload,
    };
    let mut buf = vec![0u8; 60 + payload.len() + 40];
    let n = emit_ipv4_tcp(&ip, &tcp, &mut buf).expect("emit");
    buf.truncate(n);
    buf
}
