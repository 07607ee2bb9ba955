//! The transmit path copies each segment's payload straight from the send ring (two slices
//! when it wraps) into the packet. With a small ring, odd write sizes and lost segments, the
//! ring wraps all the time: every segment on the wire must carry exactly the stream's bytes
//! at its sequence number, first transmissions and retransmissions alike.

mod util;

use synack_proto::{Config, Error};
use util::*;

fn small_ring(ip: std::net::Ipv4Addr) -> Config {
    modern_config(ip)
        .with_mss(1000)
        .with_send_buffer(3000)
        .with_recv_buffer(8000)
}

#[test]
fn every_segment_carries_the_stream_bytes_at_its_sequence_number() {
    let mut p = Pair::with_configs(small_ring(A_IP), small_ring(B_IP));
    let (c, s) = p.establish();
    let stream: Vec<u8> = (0..60_000u32).map(|i| (i * 131 + i / 251) as u8).collect();
    let iss = p.a.info(c).unwrap().snd_una.get();
    let (mut written, mut got) = (0usize, Vec::new());
    let (mut checked, mut dropped) = (0usize, 0usize);
    let mut n = 0u32;
    while got.len() < stream.len() {
        // Odd write sizes, so segments and the ring's seam never line up.
        while written < stream.len() {
            let end = (written + 777).min(stream.len());
            match p.a.send(c, &stream[written..end]) {
                Ok(k) => written += k,
                Err(Error::WouldBlock) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        let crossed = p.exchange_with(|side, seg| {
            if side != Side::A || seg.payload.is_empty() {
                return false;
            }
            let off = seg.seq.wrapping_sub(iss) as usize;
            assert_eq!(
                seg.payload,
                stream[off..off + seg.payload.len()],
                "segment seq={} len={}",
                seg.seq,
                seg.payload.len()
            );
            checked += 1;
            n += 1;
            let lose = n % 7 == 3; // lose some: retransmissions come from the ring too
            dropped += usize::from(lose);
            lose
        });
        let (data, _) = read_all(&mut p.b, s);
        got.extend_from_slice(&data);
        if crossed.is_empty() && p.next_timeout().is_some() {
            p.fire_next_timeout();
        }
    }
    assert_eq!(got, stream);
    assert!(
        checked > 60 && dropped > 5,
        "{checked} segments, {dropped} lost"
    );
}
