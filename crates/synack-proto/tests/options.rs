//! RFC 7323 (window scale, timestamps, PAWS) and RFC 2018/2883 (SACK, D-SACK) on the wire.

mod util;

use synack_proto::{Duration, State};
use synack_wire::{SackBlocks, TcpFlags, TcpOptions};
use util::*;

fn ts(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some((tsval, tsecr)),
        ..TcpOptions::default()
    }
}

#[test]
fn syn_offers_mss_sack_timestamps_and_window_scale_in_linux_layout() {
    let mut p = Pair::modern();
    p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
        .unwrap();
    let syn = p.one(Side::A);
    assert_eq!(syn.options.mss, Some(1460));
    assert!(syn.options.sack_permitted);
    assert_eq!(
        syn.options.window_scale,
        Some(7),
        "a receive buffer that may autotune to 4 MiB needs shift 7"
    );
    let (_tsval, tsecr) = syn.options.timestamps.unwrap();
    assert_eq!(tsecr, 0);
    assert_eq!(
        syn.wnd, 65535,
        "the SYN's window is never scaled (RFC 7323 §2.2)"
    );
    // MSS, SACK-permitted + timestamps, NOP + window scale: 20 option bytes.
    let opts = &syn.raw[40..60];
    assert_eq!(&opts[..4], &[2, 4, 0x05, 0xb4]);
    assert_eq!(&opts[4..8], &[4, 2, 8, 10]);
    assert_eq!(&opts[16..20], &[1, 3, 3, 7]);
}

#[test]
fn syn_ack_only_answers_what_the_syn_offered() {
    let mut p = Pair::modern();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let me = addr(A_IP, 1111);
    // A plain SYN: the SYN-ACK carries MSS only.
    p.deliver(
        Side::B,
        &packet(
            me,
            addr(B_IP, 80),
            TcpFlags::SYN,
            100,
            0,
            65535,
            TcpOptions::default(),
            b"",
        ),
    );
    let sa = p.one(Side::B);
    assert_eq!(sa.options.mss, Some(1460));
    assert_eq!(
        (
            sa.options.window_scale,
            sa.options.timestamps,
            sa.options.sack_permitted
        ),
        (None, None, false)
    );
    // A SYN with timestamps only: the SYN-ACK echoes its TSval, nothing else.
    let me2 = addr(A_IP, 2222);
    p.deliver(
        Side::B,
        &packet(
            me2,
            addr(B_IP, 80),
            TcpFlags::SYN,
            100,
            0,
            65535,
            ts(777, 0),
            b"",
        ),
    );
    let sa = p.one(Side::B);
    assert_eq!(sa.options.timestamps.map(|t| t.1), Some(777));
    assert_eq!(
        (sa.options.window_scale, sa.options.sack_permitted),
        (None, false)
    );
}

#[test]
fn windows_are_scaled_after_the_handshake_and_shifts_above_14_clamp() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    let info = p.a.info(c).unwrap();
    // Shift 7: room for a receive buffer autotuned up to recv_buffer_max (4 MiB).
    assert_eq!(info.wscale, Some((7, 7)));
    assert_eq!(
        info.snd_wnd, 65535,
        "until B says more, the SYN-ACK's unscaled window"
    );
    p.a.send(c, b"x").unwrap();
    let seg = p.one(Side::A);
    assert_eq!(u32::from(seg.wnd) << 7, 256 * 1024, "2048 << 7");
    p.deliver(Side::B, &seg.raw);
    assert_eq!(p.b.info(s).unwrap().rcv_wnd, 256 * 1024 - 1);
    p.advance(Duration::from_millis(40));
    let ack = p.one(Side::B);
    assert_eq!(
        u32::from(ack.wnd),
        (256 * 1024 - 1) >> 7,
        "free space, scaled down"
    );
    p.deliver(Side::A, &ack.raw);
    assert_eq!(p.a.info(c).unwrap().snd_wnd, ((256 * 1024 - 1) >> 7) << 7);

    // A peer offering shift 15 is treated as 14 (RFC 7323 §2.3).
    let mut p = Pair::modern();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let me = addr(A_IP, 1111);
    let syn_opts = TcpOptions {
        window_scale: Some(15),
        ..TcpOptions::default()
    };
    p.deliver(
        Side::B,
        &packet(
            me,
            addr(B_IP, 80),
            TcpFlags::SYN,
            100,
            0,
            65535,
            syn_opts,
            b"",
        ),
    );
    let sa = p.one(Side::B);
    p.deliver(
        Side::B,
        &packet(
            me,
            addr(B_IP, 80),
            TcpFlags::ACK,
            101,
            sa.seq.wrapping_add(1),
            1,
            TcpOptions::default(),
            b"",
        ),
    );
    let s = p.b.accept(addr(B_IP, 80)).unwrap();
    assert_eq!(p.b.info(s).unwrap().wscale, Some((7, 14)));
    assert_eq!(p.b.info(s).unwrap().snd_wnd, 1 << 14);
}

#[test]
fn timestamps_ride_on_every_segment_and_echo_ts_recent() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    p.now += Duration::from_millis(250);
    p.a.send(c, b"ping").unwrap();
    let seg = p.one(Side::A);
    let (tsval, _) = seg.options.timestamps.expect("TS on a data segment");
    p.deliver(Side::B, &seg.raw);
    p.b.send(s, b"pong").unwrap();
    let reply = p.one(Side::B);
    assert_eq!(
        reply.options.timestamps.unwrap().1,
        tsval,
        "TSecr = TS.Recent"
    );
    assert_eq!(
        p.a.info(c).unwrap().mss,
        1448,
        "1460 less 12 bytes of timestamps (MUST-16)"
    );
}

#[test]
fn paws_drops_an_old_duplicate_and_acks_it_rfc7323_5() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    p.a.send(c, b"fresh").unwrap();
    let seg = p.one(Side::A);
    let (tsval, tsecr) = seg.options.timestamps.unwrap();
    p.deliver(Side::B, &seg.raw);
    p.out(Side::B);
    assert_eq!(read_all(&mut p.b, s).0, b"fresh");
    // A segment at RCV.NXT with an older TSval: an old duplicate from a wrapped sequence space.
    let info = p.b.info(s).unwrap();
    let old = packet(
        addr(A_IP, 40000),
        addr(B_IP, 80),
        TcpFlags::ACK | TcpFlags::PSH,
        info.rcv_nxt.get(),
        info.snd_nxt.get(),
        1000,
        ts(tsval.wrapping_sub(10), tsecr),
        b"stale",
    );
    p.deliver(Side::B, &old);
    let ack = p.one(Side::B);
    assert_eq!((ack.flags().as_str(), ack.ack), (".", info.rcv_nxt.get()));
    assert!(read_all(&mut p.b, s).0.is_empty(), "PAWS dropped the text");
    // Without timestamps at all, once agreed: silently dropped (RFC 7323 §3.2).
    let bare = packet(
        addr(A_IP, 40000),
        addr(B_IP, 80),
        TcpFlags::ACK | TcpFlags::PSH,
        info.rcv_nxt.get(),
        info.snd_nxt.get(),
        1000,
        TcpOptions::default(),
        b"bare",
    );
    p.deliver(Side::B, &bare);
    assert!(p.out(Side::B).is_empty());
    assert!(read_all(&mut p.b, s).0.is_empty());
    assert_eq!(p.b.state(s), Some(State::Established));
}

#[test]
fn sack_blocks_report_held_ranges_most_recent_first_rfc2018_4() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    let data = vec![9u8; 1448 * 5];
    p.a.send(c, &data).unwrap();
    let segs = p.out(Side::A);
    assert_eq!(segs.len(), 5);
    let edge = |i: usize| segs[i].seq.wrapping_add(segs[i].payload.len() as u32);
    // Segments 1 and 3 are lost; 2 and 4 arrive.
    p.deliver(Side::B, &segs[2].raw);
    let d1 = p.one(Side::B);
    assert_eq!(d1.ack, segs[0].seq);
    assert_eq!(d1.options.sack_blocks.as_slice(), &[(segs[2].seq, edge(2))]);
    p.deliver(Side::B, &segs[4].raw);
    let d2 = p.one(Side::B);
    // The first block covers the segment that triggered this ACK.
    assert_eq!(
        d2.options.sack_blocks.as_slice(),
        &[(segs[4].seq, edge(4)), (segs[2].seq, edge(2))]
    );
    p.deliver(Side::B, &segs[3].raw);
    let d3 = p.one(Side::B);
    assert_eq!(
        d3.options.sack_blocks.as_slice(),
        &[(segs[2].seq, edge(4))],
        "merged"
    );
    // The holes fill; the stream is whole and no SACK block remains.
    p.deliver(Side::B, &segs[0].raw);
    p.deliver(Side::B, &segs[1].raw);
    let acks = p.out(Side::B);
    let last = acks.last().unwrap();
    assert_eq!(last.ack, edge(4));
    assert!(last.options.sack_blocks.is_empty());
    assert_eq!(read_all(&mut p.b, s).0, data);
}

#[test]
fn a_duplicate_is_reported_as_d_sack_rfc2883() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    p.a.send(c, b"once").unwrap();
    let seg = p.one(Side::A);
    p.deliver(Side::B, &seg.raw);
    p.advance(Duration::from_millis(40)); // delayed ACK
    let _ = p.one(Side::B);
    p.deliver(Side::B, &seg.raw); // the network duplicated it
    let dup = p.one(Side::B);
    let mut want = SackBlocks::new();
    want.push(seg.seq, seg.seq.wrapping_add(4));
    assert_eq!(dup.options.sack_blocks, want);
    assert_eq!(dup.ack, seg.seq.wrapping_add(4));
}
