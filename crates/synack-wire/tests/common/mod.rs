//! Helpers shared by the integration tests.
#![allow(dead_code)]

use core::net::Ipv4Addr;
use synack_wire::{emit_ipv4_tcp, Ipv4Repr, TcpFlags, TcpOptions, TcpRepr};

pub fn ip() -> Ipv4Repr {
    Ipv4Repr {
        src_addr: Ipv4Addr::new(192, 0, 2, 1),
        dst_addr: Ipv4Addr::new(198, 51, 100, 7),
        protocol: 6,
        payload_len: 0,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0x1234,
    }
}

pub fn tcp(flags: TcpFlags, options: TcpOptions, payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 49152,
        dst_port: 443,
        seq_number: 1_000_000,
        ack_number: if flags.contains(TcpFlags::ACK) {
            7_777
        } else {
            0
        },
        flags,
        window_len: 65535,
        urgent_pointer: 0,
        options,
        payload,
    }
}

pub fn datagram(ip: &Ipv4Repr, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + tcp.buffer_len()];
    let n = emit_ipv4_tcp(ip, tcp, &mut buf).expect("emit");
    assert_eq!(n, buf.len());
    buf
}

pub fn syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((123_456, 0)),
        ..Default::default()
    }
}

/// Named sample datagrams (valid and broken) used as the fuzz seed corpus.
pub fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let ip = ip();
    let mut out = Vec::new();
    let syn = datagram(&ip, &tcp(TcpFlags::SYN, syn_options(), b""));
    let mut sa_opts = syn_options();
    sa_opts.timestamps = Some((999, 123_456));
    let syn_ack = datagram(&ip, &tcp(TcpFlags::SYN | TcpFlags::ACK, sa_opts, b""));
    let ts = TcpOptions {
        timestamps: Some((1, 2)),
        ..Default::default()
    };
    let data = datagram(
        &ip,
        &tcp(TcpFlags::PSH | TcpFlags::ACK, ts, b"GET / HTTP/1.1\r\n\r\n"),
    );
    let mut sack = ts;
    sack.sack_blocks.push(100, 200);
    sack.sack_blocks.push(300, 400);
    sack.sack_blocks.push(500, 600);
    let sack_ack = datagram(&ip, &tcp(TcpFlags::ACK, sack, b""));
    let fin = datagram(&ip, &tcp(TcpFlags::FIN | TcpFlags::ACK, ts, b""));
    let rst = datagram(&ip, &tcp(TcpFlags::RST, TcpOptions::default(), b""));
    let rst_ack = datagram(
        &ip,
        &tcp(TcpFlags::RST | TcpFlags::ACK, TcpOptions::default(), b""),
    );
    let big = datagram(&ip, &tcp(TcpFlags::ACK, ts, &[0x5a; 1400]));
    let odd = datagram(
        &ip,
        &tcp(TcpFlags::PSH | TcpFlags::ACK, TcpOptions::default(), b"x"),
    );
    let mut ecn_ip = ip;
    ecn_ip.ecn = 2;
    ecn_ip.dscp = 46;
    let ecn_syn = datagram(
        &ecn_ip,
        &tcp(
            TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR,
            syn_options(),
            b"",
        ),
    );
    out.push(("syn", syn.clone()));
    out.push(("syn_ack", syn_ack));
    out.push(("data", data.clone()));
    out.push(("sack_ack", sack_ack));
    out.push(("fin_ack", fin));
    out.push(("rst", rst));
    out.push(("rst_ack", rst_ack));
    out.push(("big_data", big));
    out.push(("odd_data", odd));
    out.push(("ecn_syn", ecn_syn));
    out.push(("truncated_ip", syn[..12].to_vec()));
    out.push(("truncated_tcp_header", syn[..30].to_vec()));
    out.push(("truncated_options", syn[..50].to_vec()));
    out.push(("truncated_payload", data[..data.len() - 5].to_vec()));
    out.push(("empty", Vec::new()));
    let mut bad_csum = syn.clone();
    let last = bad_csum.len() - 1;
    bad_csum[last] ^= 0xff;
    out.push(("bad_tcp_checksum", bad_csum));
    let mut bad_opt = syn.clone();
    bad_opt[41] = 1; // MSS option length 1
    out.push(("bad_option_len", bad_opt));
    let mut frag = syn.clone();
    frag[6] = 0x20; // MF
    out.push(("fragment", frag));
    let mut v6 = syn.clone();
    v6[0] = 0x60;
    out.push(("version6", v6));
    let mut trailing = data;
    trailing.extend_from_slice(&[0xee; 7]); // Ethernet padding style
    out.push(("trailing_bytes", trailing));
    out
}
