//! Fuzz target for synack-wire: parsers must never panic, and any datagram
//! that parses must survive a re-emit round trip:
//! parse(emit(parse(x))) == parse(x), up to the fields emission normalises
//! (IP length/flags, and SACK blocks beyond the 40-byte option budget).
#![no_main]

use libfuzzer_sys::fuzz_target;
use synack_wire::{
    emit_ipv4_tcp, parse_ipv4_tcp, Ipv4Packet, TcpOptionIter, TcpOptions, TcpPacket,
};

fuzz_target!(|data: &[u8]| {
    let _ = TcpOptions::parse(data);
    for item in TcpOptionIter::new(data) {
        let _ = item;
    }

    round_trip(data);

    // Random bytes rarely carry valid checksums; fix both up so the fuzzer
    // also explores the TCP header and option parsing behind them.
    let mut fixed = data.to_vec();
    if let Ok(mut ip) = Ipv4Packet::new_checked(&mut fixed[..]) {
        ip.fill_checksum();
        let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
        TcpPacket::new_unchecked(ip.payload_mut()).fill_checksum(&src, &dst);
        round_trip(&fixed);
    }
});

fn round_trip(data: &[u8]) {
    let Ok((ip, tcp)) = parse_ipv4_tcp(data) else {
        return;
    };
    let mut buf = vec![0u8; 20 + tcp.buffer_len()];
    let n = match emit_ipv4_tcp(&ip, &tcp, &mut buf) {
        Ok(n) => n,
        // The canonical option layout can be a few bytes longer than the
        // received one, which may push a near-64 KiB datagram over the limit.
        Err(synack_wire::Error::BadTotalLen) => return,
        Err(e) => panic!("emit of a parsed repr failed: {e}"),
    };
    let (ip2, tcp2) = parse_ipv4_tcp(&buf[..n]).expect("re-parse of emitted datagram");

    // The IP payload length is recomputed from the canonical option layout.
    let mut ip_expect = ip;
    ip_expect.payload_len = tcp.buffer_len();
    assert_eq!(ip2, ip_expect);

    let mut tcp_expect = tcp;
    let mut sack = synack_wire::SackBlocks::new();
    for (l, r) in tcp
        .options
        .sack_blocks
        .iter()
        .take(tcp2.options.sack_blocks.len())
    {
        sack.push(l, r);
    }
    tcp_expect.options.sack_blocks = sack;
    assert_eq!(tcp2, tcp_expect);

    // A second round trip is exact.
    let mut buf2 = vec![0u8; n];
    let n2 = emit_ipv4_tcp(&ip2, &tcp2, &mut buf2).expect("second emit");
    assert_eq!(&buf[..n], &buf2[..n2]);
}
