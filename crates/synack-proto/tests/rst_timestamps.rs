//! RFC 7323 §3.2: once timestamps are agreed, TSopt MUST ride on every non-RST segment and
//! SHOULD ride on a RST. Every RST a TCB sends carries it — TSval our clock, TSecr TS.Recent —
//! at `<SEQ=SND.NXT>` (our highest sequence sent): ABORT, CLOSE with unread data and data
//! after CLOSE (SHLD-3), `reset()`, and a bad ACK in SYN-RECEIVED (`<SEQ=SEG.ACK>`). Without
//! timestamps agreed a RST carries no option at all.

mod util;

use synack_proto::{CloseReason, ConnHandle, Duration, Event, State};
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

fn pair() -> Pair {
    let cfg = |ip| modern_config(ip).with_delayed_ack(None);
    Pair::with_configs(cfg(A_IP), cfg(B_IP))
}

/// The timestamps of the latest segment `side` put on the wire: (TSval, TSecr).
fn last_ts(p: &Pair, side: Side) -> (u32, u32) {
    let (_, seg, _) = p.wire.iter().rev().find(|(s, _, _)| *s == side).unwrap();
    seg.options.timestamps.unwrap()
}

/// The one segment A sends now is `<SEQ=seq><CTL=RST>` with TSopt: TSval A's clock (its last
/// TSval on the wire plus the milliseconds since), TSecr B's latest TSval on the wire.
fn assert_rst_with_timestamps(p: &mut Pair, seq: u32, elapsed_ms: u32) {
    let (our_last, _) = last_ts(p, Side::A);
    let (peer_last, _) = last_ts(p, Side::B);
    assert_rst_with(p, seq, (our_last.wrapping_add(elapsed_ms), peer_last));
}

fn assert_rst_with(p: &mut Pair, seq: u32, (tsval, tsecr): (u32, u32)) {
    let rst = p.one(Side::A);
    assert_eq!((rst.flags().as_str(), rst.seq, rst.ack), ("R", seq, 0));
    assert_eq!(
        rst.options,
        TcpOptions {
            timestamps: Some((tsval, tsecr)),
            ..TcpOptions::default()
        },
        "TSopt and nothing else (no SACK blocks on a RST)"
    );
    assert!(rst.payload.is_empty());
}

fn snd_nxt(p: &Pair, c: ConnHandle) -> u32 {
    p.a.info(c).unwrap().snd_nxt.get()
}

#[test]
fn abort_sends_a_rst_with_timestamps_rfc7323_3_2() {
    let mut p = pair();
    let (c, s) = p.establish();
    p.a.send(c, b"some data").unwrap();
    p.exchange();
    p.advance(Duration::from_millis(250));
    let seq = snd_nxt(&p, c);
    p.a.abort(c).unwrap();
    assert_rst_with_timestamps(&mut p, seq, 250);
    assert_eq!(p.a.stats().resets_sent, 1, "counted like any RST");
    assert_eq!(p.a.state(c), None);
    assert_eq!(p.b.state(s), Some(State::Established), "not delivered");
}

#[test]
fn close_with_unread_data_sends_a_rst_with_timestamps_shld_3_rfc7323_3_2() {
    let mut p = pair();
    let (c, s) = p.establish();
    p.b.send(s, b"unread").unwrap();
    p.exchange();
    p.advance(Duration::from_millis(30));
    let seq = snd_nxt(&p, c);
    p.a.close(c).unwrap();
    assert_rst_with_timestamps(&mut p, seq, 30);
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Aborted
    }));
}

#[test]
fn data_after_close_draws_a_rst_with_timestamps_shld_3_rfc7323_3_2() {
    let mut p = pair();
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::FinWait2));
    let (our_last, _) = last_ts(&p, Side::A);
    // B goes on sending: nobody on A will read it. It is acceptable (its TSval becomes
    // TS.Recent), and then answered with a RST at A's SND.NXT, past its FIN.
    p.advance(Duration::from_millis(20));
    p.b.send(s, b"too late").unwrap();
    let data = p.one(Side::B);
    let (data_ts, _) = data.options.timestamps.unwrap();
    p.deliver(Side::A, &data.raw);
    assert_rst_with(&mut p, data.ack, (our_last.wrapping_add(20), data_ts));
    assert_eq!(p.a.state(c), None);
}

#[test]
fn reset_of_a_closing_connection_sends_a_rst_with_timestamps_rfc7323_3_2() {
    let mut p = pair();
    let (c, _s) = p.establish();
    p.a.send(c, &[3u8; 3000]).unwrap();
    p.a.shutdown(c).unwrap();
    let segs = p.out(Side::A); // data and FIN, not delivered
    let end = segs.last().unwrap();
    assert!(end.flags.contains(TcpFlags::FIN));
    p.advance(Duration::from_millis(100));
    p.a.reset(c).unwrap();
    assert_rst_with_timestamps(&mut p, end.seq.wrapping_add(end.len()), 100);
}

#[test]
fn a_bad_ack_in_syn_received_draws_a_rst_with_timestamps_rfc7323_3_2() {
    let mut p = pair();
    p.a.listen(addr(A_IP, 80), None).unwrap();
    let peer = addr(B_IP, 5555);
    let syn_opts = TcpOptions {
        mss: Some(1460),
        timestamps: Some((7000, 0)),
        ..TcpOptions::default()
    };
    p.deliver(
        Side::A,
        &packet(
            peer,
            addr(A_IP, 80),
            TcpFlags::SYN,
            100,
            0,
            65535,
            syn_opts,
            b"",
        ),
    );
    let syn_ack = p.one(Side::A);
    let (our_ts, ecr) = syn_ack.options.timestamps.unwrap();
    assert_eq!(ecr, 7000);
    // An ACK of something we never sent: <SEQ=SEG.ACK><CTL=RST>, with TSopt.
    let bogus = syn_ack.seq.wrapping_add(5000);
    let ack = packet(
        peer,
        addr(A_IP, 80),
        TcpFlags::ACK,
        101,
        bogus,
        65535,
        TcpOptions {
            timestamps: Some((7001, our_ts)),
            ..TcpOptions::default()
        },
        b"",
    );
    p.deliver(Side::A, &ack);
    let rst = p.one(Side::A);
    assert_eq!((rst.flags().as_str(), rst.seq), ("R", bogus));
    assert_eq!(
        rst.options.timestamps,
        Some((our_ts, 7000)),
        "TS.Recent: the SYN's TSval (the bad ACK did not move it)"
    );
}

#[test]
fn without_timestamps_a_rst_carries_no_options() {
    let mut p = Pair::new(); // RFC 9293 alone: no timestamps agreed
    let (c, _s) = p.establish();
    let seq = snd_nxt(&p, c);
    p.a.abort(c).unwrap();
    let rst = p.one(Side::A);
    assert_eq!((rst.flags().as_str(), rst.seq), ("R", seq));
    assert_eq!(rst.options, TcpOptions::default());
    assert_eq!(rst.raw.len(), 40, "a bare 20-byte TCP header");
}
