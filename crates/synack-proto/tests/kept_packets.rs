//! Packets kept whole (`Endpoint::handle_owned`, recv_buffer.rs): large in-order text stays in
//! the packet it arrived in until the application reads it. It is an internal copy saved, so
//! nothing on the wire may change because of it: not a window, not an ACK.

mod util;

use synack_proto::Duration;
use util::*;

/// What one transfer put on the wire, what B's application read, and B's counters.
struct Run {
    wire: Vec<(Side, Vec<u8>, bool)>,
    got: Vec<u8>,
    kept: u64,
    saw_holes: bool,
}

/// 400 kB from A to B, whose application reads 2,500 bytes a round (so text piles up and the
/// window closes and opens), with every 23rd data segment A sends lost (so text arrives out
/// of order while packets are kept).
fn transfer(keep: usize) -> Run {
    let cfg = |ip| {
        modern_config(ip)
            .with_mss(8000)
            .with_recv_buffer(40_000)
            .with_keep_packets_min(keep)
    };
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, s) = p.establish();
    let data: Vec<u8> = (0..400_000u32)
        .map(|i| ((i * 17) ^ (i >> 9)) as u8)
        .collect();
    let (mut sent, mut got, mut buf) = (0, Vec::new(), [0u8; 2500]);
    let (mut k, mut saw_holes) = (0u32, false);
    for _round in 0..20_000 {
        if got.len() == data.len() {
            break;
        }
        if sent < data.len() {
            sent += p.a.send(c, &data[sent..]).unwrap_or(0);
        }
        p.exchange_with(|side, seg| {
            if side == Side::A && !seg.payload.is_empty() {
                k += 1;
                k % 23 == 0
            } else {
                false
            }
        });
        saw_holes |= p.b.info(s).unwrap().recv_out_of_order > 0;
        if let Ok(n) = p.b.recv(s, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        p.advance(Duration::from_millis(5));
    }
    assert!(got == data, "byte-exact, in order (keep {keep})");
    Run {
        wire: p
            .wire
            .iter()
            .map(|(side, seg, lost)| (*side, seg.raw.clone(), *lost))
            .collect(),
        got,
        kept: p.b.stats().packets_kept,
        saw_holes,
    }
}

#[test]
fn keeping_packets_changes_nothing_on_the_wire() {
    let copied = transfer(usize::MAX);
    let kept = transfer(1);
    assert_eq!(copied.kept, 0);
    assert!(kept.kept > 40, "{} packets kept", kept.kept);
    assert!(
        kept.saw_holes,
        "out-of-order text arrived while packets were kept"
    );
    assert_eq!(copied.got, kept.got);
    assert_eq!(copied.wire.len(), kept.wire.len());
    for (i, (x, y)) in copied.wire.iter().zip(&kept.wire).enumerate() {
        assert!(
            x == y,
            "segment {i} differs: {:?} vs {:?}",
            Seg::parse(&x.1),
            Seg::parse(&y.1)
        );
    }
}

#[test]
fn kept_buffers_come_back_through_reclaim_once_read() {
    let cfg = |ip| {
        modern_config(ip)
            .with_mss(16_000)
            .with_keep_packets_min(4096)
    };
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    p.a.send(c, &[7u8; 40_000]).unwrap();
    let segs: Vec<Seg> = p.out(Side::A);
    let lens: Vec<usize> = segs.iter().map(|s| s.payload.len()).collect();
    assert_eq!(
        lens,
        [15_988, 15_988],
        "the initial window: two MSS less the timestamps"
    );
    let now = p.now;
    let mut ptrs = Vec::new();
    for seg in &segs {
        let packet = seg.raw.clone();
        ptrs.push(packet.as_ptr() as usize);
        assert!(
            p.b.handle_owned(now, packet, seg.raw.len()).is_none(),
            "kept"
        );
    }
    assert_eq!(p.b.stats().packets_kept, 2);
    assert!(p.b.reclaim().is_none(), "nothing read yet");
    // Half of the first packet: it stays.
    let mut buf = vec![0u8; 8000];
    assert_eq!(p.b.recv(s, &mut buf), Ok(8000));
    assert!(p.b.reclaim().is_none());
    // The rest of it and all of the second: both come back, the very buffers given.
    let mut buf = vec![0u8; 15_988 - 8000 + 15_988];
    assert_eq!(p.b.recv(s, &mut buf), Ok(buf.len()));
    let mut back: Vec<usize> = std::iter::from_fn(|| p.b.reclaim())
        .map(|b| b.as_ptr() as usize)
        .collect();
    back.sort();
    let mut want = ptrs[..2].to_vec();
    want.sort();
    assert_eq!(back, want);
    assert!(buf.iter().all(|&x| x == 7));
}

/// A packet the endpoint does not keep comes straight back: too short, not TCP, or for no
/// connection.
#[test]
fn a_packet_not_kept_is_handed_back() {
    let mut p = Pair::modern();
    let (c, _) = p.establish();
    p.a.send(c, b"short").unwrap();
    let seg = p.one(Side::A);
    let now = p.now;
    let mut roomy = Vec::with_capacity(65_536);
    roomy.extend_from_slice(&seg.raw);
    // keep_packets_min is 1 here, but the buffer is mostly empty: copied, handed back.
    let back =
        p.b.handle_owned(now, roomy, seg.raw.len())
            .expect("handed back");
    assert_eq!(back.capacity(), 65_536);
    assert_eq!(p.b.stats().packets_kept, 0);
    // Garbage: handed back, counted as malformed.
    assert!(p.b.handle_owned(now, vec![0x45; 30], 30).is_some());
    // A length past the buffer is clamped, not a panic.
    assert!(p.b.handle_owned(now, vec![0; 10], 1000).is_some());
}
