//! Flow control edges: receiver and sender silly-window avoidance (MUST-38, MUST-39), a peer
//! that shrinks its window (MUST-34, SHLD-14..16), and the urgent mechanism (MUST-30..33, 62).

mod util;

use synack_proto::{Event, State};
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

fn small_receiver(buffer: usize) -> Pair {
    let b = config(B_IP).with_recv_buffer(buffer);
    Pair::with_configs(config(A_IP), b)
}

#[test]
fn receiver_opens_a_closed_window_only_by_a_useful_amount_must_39() {
    // Seven full segments fill it (a sub-segment tail would wait for the sender's SWS
    // override timer).
    let mut p = small_receiver(7 * 1460);
    let (c, s) = p.establish();
    p.a.send(c, &vec![5u8; 20_000]).unwrap();
    p.exchange();
    assert_eq!(p.b.info(s).unwrap().rcv_wnd, 0, "full");
    // Reading a little does not reopen the window: no tiny window updates.
    let mut buf = [0u8; 100];
    assert_eq!(p.b.recv(s, &mut buf).unwrap(), 100);
    assert_eq!(p.b.info(s).unwrap().rcv_wnd, 0);
    assert!(p.out(Side::B).is_empty(), "no window update for 100 bytes");
    // Reading one MSS (min(buffer/2, MSS) = 1460) opens it, and B says so at once.
    let mut big = vec![0u8; 1400];
    p.b.recv(s, &mut big).unwrap();
    let upd = p.one(Side::B);
    assert_eq!(upd.flags(), ".");
    assert_eq!(u32::from(upd.wnd), 1500);
    p.deliver(Side::A, &upd.raw);
    let seg = p.one(Side::A);
    assert_eq!(seg.payload.len(), 1460, "the sender fills one full segment");
}

/// MUST-39 says when the right edge may move; when to announce it is ours. A read announces
/// it at once only while the window the peer knows of is down to half the buffer or less;
/// above that the peer is not held back and the new edge rides on the next ACK (as Linux
/// does), so a reader keeping up with a fast sender adds no ACK per read.
#[test]
fn a_read_announces_the_window_at_once_only_when_the_peer_is_held_back_must_39() {
    let mut p = small_receiver(20_000);
    let (c, s) = p.establish();
    let mut buf = vec![0u8; 20_000];

    // 4000 bytes in: B's ACKs leave A a window of 16000, more than half the buffer.
    p.a.send(c, &[1u8; 4000]).unwrap();
    p.exchange();
    assert_eq!(p.b.info(s).unwrap().rcv_wnd, 16_000);
    assert_eq!(p.b.recv(s, &mut buf).unwrap(), 4000);
    assert!(
        !p.b.wants_poll(),
        "nothing queued: a runtime need not wake its thread"
    );
    assert!(
        p.out(Side::B).is_empty(),
        "A still knows of 16000 of 20000 bytes: no window update"
    );
    // The opened edge goes out with the next ACK.
    p.a.send(c, &[2u8; 100]).unwrap();
    let data = p.one(Side::A);
    p.deliver(Side::B, &data.raw);
    let ack = p.one(Side::B);
    assert_eq!((ack.flags().as_str(), ack.ack), (".", data.seq + 100));
    assert_eq!(
        u32::from(ack.wnd),
        19_900,
        "the whole buffer but the 100 bytes"
    );
    assert_eq!(p.b.recv(s, &mut buf).unwrap(), 100);
    assert!(p.out(Side::B).is_empty());

    // 12000 more: A now knows of 7900 bytes (the 100 read did not move the edge: less than
    // an MSS), half the buffer or less. Reading them announces the reopened window at once.
    p.a.send(c, &[3u8; 12_000]).unwrap();
    p.exchange();
    let known = p.b.info(s).unwrap().rcv_wnd;
    assert_eq!(known, 7900);
    assert_eq!(p.b.recv(s, &mut buf).unwrap(), 12_000);
    assert!(p.b.wants_poll());
    let update = p.one(Side::B);
    assert_eq!(update.flags(), ".");
    assert_eq!(u32::from(update.wnd), 20_000);
}

/// A scaled window field is rounded up to keep the edge already promised (SHLD-14) only while
/// the buffer has room: a peer that keeps filling a full buffer to the edge, a few bytes at a
/// time, must not push the edge (and the buffer) on by a unit of the scale per ACK.
#[test]
fn a_full_buffer_stops_the_scaled_edge_from_creeping_shld_14() {
    let scaled = |ip, recv_buffer| {
        config(ip)
            .with_window_scaling(true)
            .with_recv_buffer(recv_buffer)
            .with_recv_buffer_max(4 << 20) // shift 7 on a 10 KB buffer: units of 128 bytes
    };
    let mut p = Pair::with_configs(scaled(A_IP, 256 * 1024), scaled(B_IP, 10_000));
    let (c, s) = p.establish();
    let base = p.b.info(s).unwrap().rcv_nxt.get(); // the buffer's first byte
    p.a.send(c, &[1u8; 10_000]).unwrap();
    p.exchange();
    let a = p.a.info(c).unwrap();
    // The peer (the test, as A) sends whatever B still offers, again and again, and B never
    // reads.
    for _ in 0..50 {
        let b = p.b.info(s).unwrap();
        if b.rcv_wnd == 0 {
            break;
        }
        let more = vec![2u8; b.rcv_wnd as usize];
        let (seq, ack) = (b.rcv_nxt.get(), a.rcv_nxt.get());
        let seg = from_peer(
            &p.b,
            s,
            TcpFlags::ACK,
            seq,
            ack,
            1000,
            TcpOptions::default(),
            &more,
        );
        p.deliver(Side::B, &seg);
        for ack in p.out(Side::B) {
            let edge = ack.ack.wrapping_add(u32::from(ack.wnd) << 7);
            assert!(
                edge.wrapping_sub(base) < 10_000 + 128,
                "edge {} bytes past the buffer's start",
                edge.wrapping_sub(base)
            );
        }
    }
    let held = p.b.info(s).unwrap().recv_buffered;
    assert!(held < 10_000 + 128, "the buffer holds {held} bytes");
}

#[test]
fn sender_copes_with_a_shrinking_window_must_34_shld_15_16() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    let info = p.a.info(c).unwrap();
    let (la, ra) = (info.tuple.local, info.tuple.remote);
    // The test plays B: it ACKs nothing new and shrinks its window to 100 bytes.
    let shrink = packet(
        ra,
        la,
        TcpFlags::ACK,
        info.rcv_nxt.get(),
        info.snd_nxt.get(),
        100,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::A, &shrink);
    p.a.send(c, &[1u8; 5000]).unwrap();
    // 100 bytes is neither a full segment, nor all that is queued, nor half the largest
    // window B offered: sender SWS avoidance (MUST-38) holds it until the override timer.
    assert!(p.out(Side::A).is_empty());
    p.fire_next_timeout();
    let segs = p.out(Side::A);
    assert_eq!(segs.len(), 1);
    assert_eq!(
        segs[0].payload.len(),
        100,
        "no new data beyond the offered window"
    );
    // The window then shrinks to 0 with those 100 bytes unacknowledged: nothing new goes out,
    // and the connection is not timed out because data lies beyond the right edge (SHLD-17).
    let zero = packet(
        ra,
        la,
        TcpFlags::ACK,
        info.rcv_nxt.get(),
        info.snd_nxt.get(),
        0,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::A, &zero);
    assert!(p.out(Side::A).is_empty());
    // The retransmission timer still resends the unacknowledged data (SHLD-16).
    p.fire_next_timeout();
    let re = p.out(Side::A);
    assert_eq!(re.len(), 1);
    assert_eq!(re[0].seq, segs[0].seq);
    assert_eq!(p.a.state(c), Some(State::Established));
}

#[test]
fn urgent_data_sets_urg_and_the_pointer_past_the_last_urgent_octet_must_62() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    p.a.send(c, b"normal").unwrap();
    p.a.send_urgent(c, b"!INTR").unwrap();
    let seg = p.one(Side::A);
    assert!(seg.flags.contains(TcpFlags::URG));
    assert_eq!(seg.payload, b"normal!INTR");
    // The pointer is the offset of the octet after the urgent data (RFC 9293 §3.8.5).
    let raw_urg = u16::from_be_bytes([seg.raw[38], seg.raw[39]]);
    assert_eq!(raw_urg, 11);
    p.deliver(Side::B, &seg.raw);
    // MUST-32: the application is told; MUST-33: it can learn how much urgent data remains.
    assert!(p.b_events.contains(&Event::Urgent { conn: s }));
    assert_eq!(p.b.urgent_pending(s), 11);
    let mut buf = [0u8; 6];
    p.b.recv(s, &mut buf).unwrap();
    assert_eq!(p.b.urgent_pending(s), 5);
    let mut rest = [0u8; 16];
    let n = p.b.recv(s, &mut rest).unwrap();
    assert_eq!(&rest[..n], b"!INTR");
    assert_eq!(p.b.urgent_pending(s), 0);
    // Once acknowledged, later data carries no URG.
    p.exchange();
    p.a.send(c, b"later").unwrap();
    let later = p.one(Side::A);
    assert!(!later.flags.contains(TcpFlags::URG));
}
