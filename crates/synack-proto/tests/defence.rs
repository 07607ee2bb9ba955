//! Defending the handshake: SYN cookies (RFC 4987), SYN-RECEIVED lifetime, connection limits,
//! and a new incarnation out of TIME-WAIT (MAY-2, RFC 6191).

mod util;

use synack_proto::{Duration, Error, State};
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

fn backlog_one(cookies: bool) -> Pair {
    let b = modern_config(B_IP).with_syn_cookies(cookies);
    let mut p = Pair::with_configs(modern_config(A_IP), b);
    p.b.listen(addr(B_IP, 80), Some(1)).unwrap();
    p
}

fn syn_opts() -> TcpOptions {
    TcpOptions {
        mss: Some(1400),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((5000, 0)),
        ..TcpOptions::default()
    }
}

#[test]
fn a_full_syn_queue_answers_with_a_cookie_and_keeps_nothing_rfc4987() {
    let mut p = backlog_one(true);
    // The first SYN takes the one SYN-RECEIVED slot.
    p.deliver(
        Side::B,
        &packet(
            addr(A_IP, 1000),
            addr(B_IP, 80),
            TcpFlags::SYN,
            10,
            0,
            65535,
            syn_opts(),
            b"",
        ),
    );
    let _ = p.one(Side::B);
    assert_eq!(p.b.connection_count(), 1);
    // The second gets a cookie SYN-ACK and no state at all.
    let me = addr(A_IP, 2000);
    p.deliver(
        Side::B,
        &packet(
            me,
            addr(B_IP, 80),
            TcpFlags::SYN,
            777,
            0,
            65535,
            syn_opts(),
            b"",
        ),
    );
    let sa = p.one(Side::B);
    assert_eq!((sa.flags().as_str(), sa.ack), ("S.", 778));
    assert_eq!(
        sa.options.mss,
        Some(1400),
        "the peer's MSS, from the cookie table"
    );
    assert_eq!(
        sa.options.window_scale,
        Some(7),
        "room for recv_buffer_max, 4 MiB"
    );
    assert!(sa.options.sack_permitted);
    let (tsval, tsecr) = sa.options.timestamps.unwrap();
    assert_eq!(tsecr, 5000);
    assert_eq!(p.b.connection_count(), 1, "nothing kept for the cookie");
    assert_eq!(p.b.stats().syn_cookies_sent, 1);
    // The ACK returns the cookie: the connection appears ESTABLISHED, options intact, and the
    // data on the ACK is delivered — the application cannot tell.
    let ack = packet(
        me,
        addr(B_IP, 80),
        TcpFlags::ACK | TcpFlags::PSH,
        778,
        sa.seq.wrapping_add(1),
        100,
        TcpOptions {
            timestamps: Some((5001, tsval)),
            ..TcpOptions::default()
        },
        b"hello",
    );
    p.deliver(Side::B, &ack);
    assert_eq!(p.b.stats().syn_cookies_validated, 1);
    let s = p.b.accept(addr(B_IP, 80)).expect("the cookie connection");
    assert_eq!(p.b.state(s), Some(State::Established));
    let info = p.b.info(s).unwrap();
    assert_eq!(
        (info.mss, info.wscale, info.sack, info.timestamps),
        (1400 - 12, Some((7, 7)), true, true)
    );
    assert_eq!(info.snd_wnd, 100 << 7);
    assert_eq!(read_all(&mut p.b, s).0, b"hello");
    assert!(p
        .transitions(Side::B)
        .contains(&(State::SynReceived, State::Established)));
}

/// A bare ACK `<SEQ=100><ACK=0xdeadbeef>` from `port` to the listener.
fn stray_ack(p: &mut Pair, port: u16) {
    p.deliver(
        Side::B,
        &packet(
            addr(A_IP, port),
            addr(B_IP, 80),
            TcpFlags::ACK,
            100,
            0xdead_beef,
            1000,
            TcpOptions::default(),
            b"",
        ),
    );
}

#[test]
fn a_forged_cookie_is_reset() {
    let mut p = backlog_one(true);
    // Fill the one SYN-RECEIVED slot, then make the listener answer a SYN with a cookie.
    for port in [1000, 2000] {
        let syn = packet(
            addr(A_IP, port),
            addr(B_IP, 80),
            TcpFlags::SYN,
            10,
            0,
            65535,
            syn_opts(),
            b"",
        );
        p.deliver(Side::B, &syn);
        let _ = p.one(Side::B);
    }
    assert_eq!(p.b.stats().syn_cookies_sent, 1);
    // While a cookie can be valid, an ACK is checked as one: a forged one is reset (§3.10.7.2
    // LISTEN, second check: <SEQ=SEG.ACK><CTL=RST>) and counted as an invalid cookie.
    stray_ack(&mut p, 3000);
    let rst = p.one(Side::B);
    assert_eq!((rst.flags().as_str(), rst.seq), ("R", 0xdead_beef));
    assert_eq!(p.b.stats().syn_cookies_invalid, 1);
    assert_eq!(p.b.stats().stray_acks, 0);
    assert_eq!(p.b.connection_count(), 1, "only the SYN-RECEIVED child");
    // 129 s later (two cookie periods and then some) no cookie can be valid any more: the
    // same ACK is a stray.
    p.advance(Duration::from_secs(129));
    let _ = p.out(Side::B); // the child's SYN-ACK retransmissions, whatever they were
    stray_ack(&mut p, 3001);
    let rst = p.one(Side::B);
    assert_eq!((rst.flags().as_str(), rst.seq), ("R", 0xdead_beef));
    assert_eq!(p.b.stats().syn_cookies_invalid, 1);
    assert_eq!(p.b.stats().stray_acks, 1);
}

/// An ACK to a listener that never sent a cookie is a late segment of some connection that is
/// gone (§3.10.7.2: reset it), not a forged cookie: counted as a stray, with no cookie check.
#[test]
fn a_stray_ack_to_a_listener_without_cookies_out_is_reset_and_counted_as_stray() {
    let mut p = backlog_one(true);
    stray_ack(&mut p, 3000);
    let rst = p.one(Side::B);
    assert_eq!(
        (rst.flags().as_str(), rst.seq, rst.ack),
        ("R", 0xdead_beef, 0)
    );
    assert_eq!(p.b.stats().stray_acks, 1);
    assert_eq!(p.b.stats().syn_cookies_invalid, 0);
    assert_eq!(p.b.connection_count(), 0);
}

#[test]
fn without_cookies_a_full_syn_queue_drops_the_syn() {
    let mut p = backlog_one(false);
    p.deliver(
        Side::B,
        &packet(
            addr(A_IP, 1000),
            addr(B_IP, 80),
            TcpFlags::SYN,
            10,
            0,
            65535,
            syn_opts(),
            b"",
        ),
    );
    let _ = p.one(Side::B);
    p.deliver(
        Side::B,
        &packet(
            addr(A_IP, 2000),
            addr(B_IP, 80),
            TcpFlags::SYN,
            10,
            0,
            65535,
            syn_opts(),
            b"",
        ),
    );
    assert!(p.out(Side::B).is_empty());
    assert_eq!(p.b.stats().syn_queue_full, 1);
}

#[test]
fn a_half_open_child_lives_60_s_not_3_minutes() {
    let mut p = Pair::modern();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    p.deliver(
        Side::B,
        &packet(
            addr(A_IP, 1000),
            addr(B_IP, 80),
            TcpFlags::SYN,
            10,
            0,
            65535,
            syn_opts(),
            b"",
        ),
    );
    assert_eq!(p.one(Side::B).flags(), "S.");
    while p.b.connection_count() > 0 {
        let t = p.next_timeout().unwrap_or_else(|| {
            panic!(
                "stuck: {:?}",
                p.b.connections().map(|h| p.b.info(h)).collect::<Vec<_>>()
            )
        });
        p.advance_to(t);
        p.out(Side::B);
    }
    // SYN-ACKs at 0, 1, 3, 7, 15, 31; the next expiry (63 s) is capped at the 60 s limit.
    assert_eq!(p.now, synack_proto::Instant::from_secs(60));
}

#[test]
fn connect_fails_cleanly_at_the_connection_limit() {
    let a = modern_config(A_IP).with_max_connections(2);
    let mut p = Pair::with_configs(a, modern_config(B_IP));
    p.a.connect(p.now, addr(A_IP, 0), addr(B_IP, 80)).unwrap();
    p.a.connect(p.now, addr(A_IP, 0), addr(B_IP, 80)).unwrap();
    assert_eq!(
        p.a.connect(p.now, addr(A_IP, 0), addr(B_IP, 80)),
        Err(Error::NoResources)
    );
}

#[test]
fn a_new_syn_ends_time_wait_for_a_new_incarnation_may_2_rfc6191_shld_4() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    // The server closes first, so it holds TIME-WAIT.
    p.b.close(s).unwrap();
    p.exchange();
    p.a.close(c).unwrap();
    p.exchange();
    assert_eq!(p.b.state(s), Some(State::TimeWait));
    let old = p.b.info(s).unwrap();
    p.advance(Duration::from_secs(1));
    // The same client port connects again: its timestamp is newer, so it is accepted.
    let c2 =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A);
    p.deliver(Side::B, &syn.raw);
    assert_eq!(p.b.state(s), None, "the old incarnation is gone");
    let sa = p.one(Side::B);
    assert_eq!(sa.flags(), "S.");
    assert!(
        synack_proto::SeqNum(sa.seq) > old.snd_nxt + 65535u32,
        "ISS above the old sequence space"
    );
    p.deliver(Side::A, &sa.raw);
    p.exchange();
    assert_eq!(p.a.state(c2), Some(State::Established));
    assert!(p.b.accept(addr(B_IP, 80)).is_some());
}

#[test]
fn an_old_syn_in_time_wait_gets_a_challenge_ack_instead() {
    let mut p = Pair::modern();
    let (c, s) = p.establish();
    p.b.close(s).unwrap();
    p.exchange();
    p.a.close(c).unwrap();
    let crossed = p.exchange();
    let info = p.b.info(s).unwrap();
    let last_tsval = crossed
        .iter()
        .rev()
        .find_map(|(side, seg)| (*side == Side::A).then_some(seg.options.timestamps?.0))
        .unwrap();
    // A SYN with an older timestamp (an old duplicate): TIME-WAIT stays.
    let old_ts = TcpOptions {
        timestamps: Some((last_tsval.wrapping_sub(1000), 0)),
        ..TcpOptions::default()
    };
    p.deliver(
        Side::B,
        &packet(
            addr(A_IP, 40000),
            addr(B_IP, 80),
            TcpFlags::SYN,
            info.rcv_nxt.get().wrapping_add(10),
            0,
            1000,
            old_ts,
            b"",
        ),
    );
    assert_eq!(p.b.state(s), Some(State::TimeWait));
}

#[test]
fn the_time_wait_table_is_bounded() {
    let a = modern_config(A_IP).with_max_time_wait(1);
    let mut p = Pair::with_configs(a, modern_config(B_IP));
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c1 = p.a.connect(p.now, addr(A_IP, 0), addr(B_IP, 80)).unwrap();
    let c2 = p.a.connect(p.now, addr(A_IP, 0), addr(B_IP, 80)).unwrap();
    p.exchange();
    for _ in 0..2 {
        let s = p.b.accept(addr(B_IP, 80)).unwrap();
        p.b.close(s).unwrap();
    }
    p.a.close(c1).unwrap();
    p.a.close(c2).unwrap();
    p.exchange();
    p.advance(Duration::from_millis(40));
    p.exchange();
    assert_eq!(p.a.time_wait_count(), 1);
    assert_eq!(p.a.stats().time_wait_overflow, 1);
    assert_eq!(
        p.a.connection_count(),
        1,
        "the second went straight to CLOSED"
    );
}

#[test]
fn over_the_memory_budget_out_of_order_data_is_not_held() {
    let b = modern_config(B_IP)
        .with_memory_budget(10_000)
        .with_delayed_ack(None);
    let mut p = Pair::with_configs(modern_config(A_IP), b);
    let (c, s) = p.establish();
    p.a.set_nodelay(c, true).unwrap();
    // B's application reads nothing: 12 KB in order fills the budget.
    p.a.send(c, &vec![1u8; 12_000]).unwrap();
    p.exchange();
    // 12 KB of text, and the headers of the packets it is kept in (modern_config keeps them).
    let held = p.b.receive_memory();
    assert!(held >= 12_000);
    // Now a hole: the first segment is lost, later ones arrive out of order and are dropped.
    p.a.send(c, &vec![2u8; 1448 * 4]).unwrap();
    let segs = p.out(Side::A);
    for seg in &segs[1..] {
        p.deliver(Side::B, &seg.raw);
    }
    let info = p.b.info(s).unwrap();
    assert_eq!(info.recv_out_of_order, 0);
    assert_eq!(p.b.stats().ooo_dropped_memory, 3);
    assert_eq!(p.b.receive_memory(), held, "nothing more held");
    // Reading relieves the pressure; the retransmissions are then taken in.
    let _ = read_all(&mut p.b, s);
    assert_eq!(p.b.receive_memory(), 0);
}

/// Send buffers count against `memory_budget` too: over it, a connection takes new data only
/// while its send buffer holds less than 64 KiB (every connection keeps moving; the total past
/// the budget is bounded), and a writer held back that way is told `Writable` again once the
/// peer's ACKs free the room.
#[test]
fn over_the_memory_budget_send_buffers_take_at_most_64_kib() {
    let a = modern_config(A_IP).with_memory_budget(100_000);
    let mut p = Pair::with_configs(a, modern_config(B_IP));
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c1 =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let c2 =
        p.a.connect(p.now, addr(A_IP, 40001), addr(B_IP, 80))
            .unwrap();
    p.exchange();
    let s1 = p.b.accept(addr(B_IP, 80)).unwrap();
    let s2 = p.b.accept(addr(B_IP, 80)).unwrap();
    let fill = |p: &mut Pair, c| {
        let mut n = 0;
        while let Ok(k) = p.a.send(c, &[5u8; 10_000]) {
            n += k;
        }
        n
    };
    // Under the budget a write takes what fits the buffer: one of 256 KiB puts A over.
    assert_eq!(p.a.send(c1, &[4u8; 256 * 1024]), Ok(256 * 1024));
    assert_eq!(fill(&mut p, c1), 0);
    assert_eq!(p.a.send_memory(), 256 * 1024);
    // Over it, the second takes 64 KiB and no more.
    assert_eq!(fill(&mut p, c2), 64 * 1024);
    assert_eq!(p.a.send_memory(), 320 * 1024);
    assert_eq!(p.a.send(c2, b"x"), Err(Error::WouldBlock));
    // B reads everything: ACKs empty both buffers, and the second hears it may write again.
    let before = p.events(Side::A).len();
    let mut got = (0, 0);
    while got != (256 * 1024, 64 * 1024) {
        p.exchange();
        got.0 += read_all(&mut p.b, s1).0.len();
        got.1 += read_all(&mut p.b, s2).0.len();
    }
    p.advance(Duration::from_millis(500)); // B's delayed ACK of the last bytes
    p.exchange();
    assert_eq!(p.a.send_memory(), 0);
    assert!(
        p.events(Side::A)[before..].contains(&synack_proto::Event::Writable { conn: c2 }),
        "{:?}",
        &p.events(Side::A)[before..]
    );
    // No longer over the budget: the second takes data until the budget is reached (ten
    // writes of 10,000), then the 64 KiB rule holds it (it already holds more).
    assert_eq!(fill(&mut p, c2), 100_000);
}
