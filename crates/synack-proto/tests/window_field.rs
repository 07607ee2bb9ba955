//! MUST-1 (RFC 9293 §3.1): the window field is an unsigned 16-bit number — and, scaled, a
//! 30-bit one (RFC 7323 §2.2). A peer advertising 0x8000 and more (negative as an i16) gets
//! exactly that much data in flight, no less and never more: the sender fills the window to
//! its right edge, SND.UNA + SND.WND. The test plays the peer by hand and ACKs every segment,
//! so slow start soon makes the window, not cwnd, the limit.

mod util;

use synack_wire::TcpOptions;
use util::*;

/// Connect to a hand peer with MSS `mss` and window scale `shift` (if any), then keep A's
/// send buffer full and ACK every segment with window field `field`, round after round,
/// until the window is the limit. Returns the last round: (relative seq, len) of each
/// segment, and SND.UNA (relative) when it was sent.
fn fill_window(mss: u16, shift: Option<u8>, field: u16) -> (Vec<(u32, u32)>, u32, u32) {
    let a = config(A_IP)
        .with_window_scaling(shift.is_some())
        .with_send_buffer(1 << 20);
    let mut p = Pair::with_configs(a, config(B_IP));
    let opts = TcpOptions {
        mss: Some(mss),
        window_scale: shift,
        ..TcpOptions::default()
    };
    let (c, iss) = connect_to_hand_peer(&mut p, 65535, opts);
    let window = u32::from(field) << shift.unwrap_or(0);
    let data = vec![0x5au8; 1 << 20];
    // The first ACK carries the window under test (the SYN-ACK's is never scaled).
    p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(1), field));
    assert_eq!(p.a.info(c).unwrap().snd_wnd, window, "SND.WND, unsigned");
    let mut last = Vec::new();
    let mut una = 1u32;
    for _round in 0..30 {
        let _ = p.a.send(c, &data); // top up; a full buffer is fine
        let segs: Vec<(u32, u32)> = p
            .out(Side::A)
            .iter()
            .map(|s| (s.seq.wrapping_sub(iss), s.payload.len() as u32))
            .collect();
        for &(seq, len) in &segs {
            assert!(
                seq + len <= una + window,
                "a segment past the right edge: {seq}+{len} > {una}+{window}"
            );
        }
        let sent: u32 = segs.iter().map(|s| s.1).sum();
        let round_una = una;
        // Every segment ACKed, one ACK each, window field unchanged.
        for &(seq, len) in &segs {
            p.deliver(Side::A, &hand_peer_ack(iss.wrapping_add(seq + len), field));
            una = seq + len;
        }
        last = segs;
        if sent == window {
            return (last, round_una, window);
        }
    }
    panic!("the window {window} was never filled; last round {last:?}");
}

fn assert_filled(mss: u16, shift: Option<u8>, field: u16, segments: usize) {
    let (segs, una, window) = fill_window(mss, shift, field);
    assert_eq!(segs.len(), segments);
    assert!(segs.iter().all(|s| s.1 == u32::from(mss)), "full segments");
    assert_eq!(segs[0].0, una, "from SND.UNA");
    let end = segs.last().map(|s| s.0 + s.1).unwrap();
    assert_eq!(end, una + window, "exactly to the right edge");
}

#[test]
fn an_unscaled_window_of_65535_is_filled_must_1() {
    // 0xFFFF is -1 as an i16; 65535 = 51 segments of 1285.
    assert_filled(1285, None, 0xFFFF, 51);
}

#[test]
fn an_unscaled_window_of_0x8000_is_filled_must_1() {
    // 0x8000 is -32768 as an i16; 32768 = 32 segments of 1024.
    assert_filled(1024, None, 0x8000, 32);
}

#[test]
fn a_scaled_window_field_of_0x8000_is_filled_must_1() {
    // Shift 2: 0x8000 << 2 = 131072 = 128 segments of 1024 (RFC 7323 §2.2).
    assert_filled(1024, Some(2), 0x8000, 128);
}

#[test]
fn a_scaled_window_field_of_0xffff_is_filled_must_1() {
    // Shift 1: 0xFFFF << 1 = 131070 = 102 segments of 1285.
    assert_filled(1285, Some(1), 0xFFFF, 102);
}
