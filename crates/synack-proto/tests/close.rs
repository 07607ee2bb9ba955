//! Closing connections, RFC 9293 §3.6 and §3.10.4, asserted segment by segment.

mod util;

use synack_proto::{CloseReason, Duration, Error, Event, Instant, State};
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

const MSL: Duration = Duration::from_secs(120);

#[test]
fn four_way_close_and_time_wait_of_exactly_2msl_must_13() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    let t0 = p.now;

    // A: CLOSE -> FIN-WAIT-1, FIN seq=u.
    p.a.close(c).unwrap();
    assert_eq!(p.a.state(c), Some(State::FinWait1));
    let fin = p.one(Side::A);
    assert_eq!(fin.flags(), "F.");
    let u = fin.seq;
    p.deliver(Side::B, &fin.raw);
    assert_eq!(p.b.state(s), Some(State::CloseWait));
    assert!(p.b_events.contains(&Event::PeerClosed { conn: s }));

    // B: ACK ack=u+1.
    let ack = p.one(Side::B);
    assert_eq!((ack.flags().as_str(), ack.ack), (".", u.wrapping_add(1)));
    p.deliver(Side::A, &ack.raw);
    assert_eq!(p.a.state(c), Some(State::FinWait2));

    // B reads end-of-stream, then CLOSE -> LAST-ACK, FIN seq=w ack=u+1.
    let mut buf = [0u8; 8];
    assert_eq!(p.b.recv(s, &mut buf), Ok(0));
    p.b.close(s).unwrap();
    assert_eq!(p.b.state(s), Some(State::LastAck));
    let fin_b = p.one(Side::B);
    assert_eq!(
        (fin_b.flags().as_str(), fin_b.ack),
        ("F.", u.wrapping_add(1))
    );
    let w = fin_b.seq;
    p.deliver(Side::A, &fin_b.raw);
    assert_eq!(p.a.state(c), Some(State::TimeWait));

    // A: ACK seq=u+1 ack=w+1. B -> CLOSED.
    let last = p.one(Side::A);
    assert_eq!(
        (last.flags().as_str(), last.seq, last.ack),
        (".", u.wrapping_add(1), w.wrapping_add(1))
    );
    p.deliver(Side::B, &last.raw);
    assert_eq!(p.b.state(s), None, "B's TCB is deleted");
    assert!(p.b_events.contains(&Event::Closed {
        conn: s,
        reason: CloseReason::Normal
    }));

    // TIME-WAIT lasts exactly 2·MSL from entering it.
    let entered = p.now;
    assert_eq!(p.next_timeout(), Some(entered + MSL * 2));
    p.advance_to(entered + (MSL * 2 - Duration::from_micros(1)));
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    p.advance_to(entered + MSL * 2);
    assert_eq!(p.a.state(c), None);
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Normal
    }));
    assert_eq!(p.a.connection_count() + p.b.connection_count(), 0);
    assert!(p.now > t0);

    assert_eq!(
        p.transitions(Side::A),
        vec![
            (State::Closed, State::SynSent),
            (State::SynSent, State::Established),
            (State::Established, State::FinWait1),
            (State::FinWait1, State::FinWait2),
            (State::FinWait2, State::TimeWait),
            (State::TimeWait, State::Closed),
        ]
    );
    assert_eq!(
        p.transitions(Side::B),
        vec![
            (State::Listen, State::SynReceived),
            (State::SynReceived, State::Established),
            (State::Established, State::CloseWait),
            (State::CloseWait, State::LastAck),
            (State::LastAck, State::Closed),
        ]
    );
}

#[test]
fn retransmitted_fin_in_time_wait_is_acked_and_restarts_2msl() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    p.exchange();
    p.b.close(s).unwrap();
    let fin_b = p.one(Side::B);
    p.deliver(Side::A, &fin_b.raw);
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    let last_ack = p.one(Side::A); // lost: B will retransmit its FIN
    let entered = p.now;

    p.advance(Duration::from_secs(60));
    p.deliver(Side::A, &fin_b.raw);
    let again = p.one(Side::A);
    assert_eq!(
        (again.flags().as_str(), again.seq, again.ack),
        (".", last_ack.seq, last_ack.ack)
    );
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    // The 2MSL timer restarted at the retransmission.
    assert_eq!(p.a.poll_timeout(), Some(p.now + MSL * 2));
    p.advance_to(entered + MSL * 2);
    assert_eq!(
        p.a.state(c),
        Some(State::TimeWait),
        "restarted, so not yet over"
    );
    p.advance_to(entered + Duration::from_secs(60) + MSL * 2);
    assert_eq!(p.a.state(c), None);
}

#[test]
fn half_close_lets_data_flow_the_other_way_may_1() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.send(c, b"request").unwrap();
    p.a.shutdown(c).unwrap(); // half-close: FIN after the data
    let v = p.out(Side::A);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].flags(), "FP.", "FIN rides on the last data segment");
    p.deliver(Side::B, &v[0].raw);
    assert_eq!(p.b.state(s), Some(State::CloseWait));
    assert_eq!(read_all(&mut p.b, s), (b"request".to_vec(), true));
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::FinWait2));
    // B keeps sending in CLOSE-WAIT; A keeps reading in FIN-WAIT-2.
    for _ in 0..3 {
        p.b.send(s, b"response").unwrap();
        p.exchange();
    }
    assert_eq!(
        read_all(&mut p.a, c),
        (b"responseresponseresponse".to_vec(), false)
    );
    assert_eq!(p.a.send(c, b"more"), Err(Error::Closing));
    p.b.close(s).unwrap();
    p.exchange();
    assert_eq!(read_all(&mut p.a, c), (Vec::new(), true));
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    p.a.close(c).unwrap();
    p.run_until_quiet(Instant::from_secs(1000));
    assert_eq!(p.a.connection_count() + p.b.connection_count(), 0);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    p.b.close(s).unwrap();
    let fin_a = p.one(Side::A);
    let fin_b = p.one(Side::B);
    assert_eq!(
        (fin_a.flags().as_str(), fin_b.flags().as_str()),
        ("F.", "F.")
    );
    // The FINs cross.
    p.deliver(Side::B, &fin_a.raw);
    p.deliver(Side::A, &fin_b.raw);
    assert_eq!(p.a.state(c), Some(State::Closing));
    assert_eq!(p.b.state(s), Some(State::Closing));
    let ack_a = p.one(Side::A);
    let ack_b = p.one(Side::B);
    assert_eq!(
        (ack_a.ack, ack_b.ack),
        (fin_b.seq.wrapping_add(1), fin_a.seq.wrapping_add(1))
    );
    p.deliver(Side::B, &ack_a.raw);
    p.deliver(Side::A, &ack_b.raw);
    // Both sides were active closers: both wait 2MSL.
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    assert_eq!(p.b.state(s), Some(State::TimeWait));
    for side in [Side::A, Side::B] {
        assert!(p.transitions(side).ends_with(&[
            (State::Established, State::FinWait1),
            (State::FinWait1, State::Closing),
            (State::Closing, State::TimeWait)
        ]));
    }
    p.run_until_quiet(Instant::from_secs(1000));
    assert_eq!(p.a.connection_count() + p.b.connection_count(), 0);
}

#[test]
fn fin_and_ack_of_our_fin_together_go_straight_to_time_wait() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    let fin = p.one(Side::A);
    p.deliver(Side::B, &fin.raw);
    // B closes before its ACK leaves: the ACK and B's FIN are one segment.
    p.b.close(s).unwrap();
    let fin_b = p.one(Side::B);
    assert_eq!(
        (fin_b.flags().as_str(), fin_b.ack),
        ("F.", fin.seq.wrapping_add(1))
    );
    p.deliver(Side::A, &fin_b.raw);
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    // §3.10.7.4 in step order: step 5 sees our FIN acknowledged (FIN-WAIT-2), step 8 the FIN.
    assert!(p.transitions(Side::A).ends_with(&[
        (State::Established, State::FinWait1),
        (State::FinWait1, State::FinWait2),
        (State::FinWait2, State::TimeWait)
    ]));
}

#[test]
fn rst_aborts_established_and_the_app_learns_it_was_a_reset_must_12() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.abort(c).unwrap();
    let rst = p.one(Side::A);
    assert_eq!(rst.flags(), "R");
    assert_eq!(p.a.state(c), None);
    p.deliver(Side::B, &rst.raw);
    assert!(p.b_events.contains(&Event::Closed {
        conn: s,
        reason: CloseReason::Reset
    }));
    let mut buf = [0u8; 4];
    assert_eq!(p.b.recv(s, &mut buf), Err(Error::ConnectionReset));
    assert_eq!(p.b.send(s, b"x"), Err(Error::ConnectionReset));
    assert!(p.out(Side::B).is_empty());
}

#[test]
fn rst_in_each_synchronized_state_closes() {
    // For each state, drive a connection there, inject an exact-match RST, expect CLOSED.
    for target in [
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ] {
        // RFC 9293 alone: a RST closes TIME-WAIT too (RFC 1337's protection is tested below).
        let plain = |ip| config(ip).with_rfc1337(false);
        let mut p = Pair::with_configs(plain(A_IP), plain(B_IP));
        let (c, s) = p.establish();
        match target {
            State::Established => {}
            State::FinWait1 => {
                p.a.close(c).unwrap();
                p.out(Side::A); // FIN lost
            }
            State::FinWait2 => {
                p.a.close(c).unwrap();
                p.exchange();
            }
            State::CloseWait => {
                p.b.close(s).unwrap();
                p.exchange();
            }
            State::Closing => {
                p.a.close(c).unwrap();
                p.b.close(s).unwrap();
                let fin_b = p.one(Side::B);
                p.out(Side::A);
                p.deliver(Side::A, &fin_b.raw);
                p.out(Side::A);
            }
            State::LastAck => {
                p.b.close(s).unwrap();
                p.exchange();
                p.a.close(c).unwrap();
                p.out(Side::A);
            }
            State::TimeWait => {
                p.a.close(c).unwrap();
                p.exchange();
                p.b.close(s).unwrap();
                p.exchange();
            }
            _ => unreachable!(),
        }
        assert_eq!(p.a.state(c), Some(target), "drove A into {target}");
        let info = p.a.info(c).unwrap();
        let rst = peer_rst(&p.a, c, info.rcv_nxt.get());
        p.deliver(Side::A, &rst);
        assert!(
            matches!(p.a.state(c), None | Some(State::Closed)),
            "RST in {target} must close, got {:?}",
            p.a.state(c)
        );
        assert!(p.out(Side::A).is_empty(), "no reply to a RST in {target}");
        assert!(
            p.a_events.iter().any(
                |e| matches!(e, Event::Closed { conn, reason: CloseReason::Reset } if *conn == c)
            ),
            "{target}: the application is told it was a reset"
        );
    }
}

#[test]
fn rst_not_at_rcv_nxt_gets_a_challenge_ack_rfc5961() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    let info = p.a.info(c).unwrap();
    let rst = peer_rst(&p.a, c, info.rcv_nxt.get().wrapping_add(100));
    p.deliver(Side::A, &rst);
    assert_eq!(p.a.state(c), Some(State::Established));
    let ack = p.one(Side::A);
    assert_eq!(
        (ack.flags().as_str(), ack.seq, ack.ack),
        (".", info.snd_nxt.get(), info.rcv_nxt.get())
    );
    // Out of window entirely: silently dropped.
    let far = peer_rst(&p.a, c, info.rcv_nxt.get().wrapping_add(1 << 30));
    p.deliver(Side::A, &far);
    assert!(p.out(Side::A).is_empty());
    assert_eq!(p.a.state(c), Some(State::Established));
}

#[test]
fn syn_in_established_gets_a_challenge_ack_rfc5961() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    let info = p.a.info(c).unwrap();
    let syn = from_peer(
        &p.a,
        c,
        TcpFlags::SYN,
        info.rcv_nxt.get(),
        0,
        1000,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::A, &syn);
    let ack = p.one(Side::A);
    assert_eq!((ack.flags().as_str(), ack.ack), (".", info.rcv_nxt.get()));
    assert_eq!(p.a.state(c), Some(State::Established));
}

#[test]
fn rst_to_syn_received_from_active_open_is_refused() {
    let mut p = Pair::new();
    let a =
        p.a.connect(p.now, addr(A_IP, 7000), addr(B_IP, 7001))
            .unwrap();
    let _b =
        p.b.connect(p.now, addr(B_IP, 7001), addr(A_IP, 7000))
            .unwrap();
    let _ = p.one(Side::A);
    let syn_b = p.one(Side::B);
    p.deliver(Side::A, &syn_b.raw);
    assert_eq!(p.a.state(a), Some(State::SynReceived));
    let rst = packet(
        addr(B_IP, 7001),
        addr(A_IP, 7000),
        TcpFlags::RST,
        syn_b.seq.wrapping_add(1),
        0,
        0,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::A, &rst);
    assert!(p.a_events.contains(&Event::Closed {
        conn: a,
        reason: CloseReason::Refused
    }));
}

#[test]
fn close_with_unread_data_sends_rst_shld_3() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.b.send(s, b"unread").unwrap();
    p.exchange();
    p.a.close(c).unwrap();
    let rst = p.one(Side::A);
    assert_eq!(rst.flags(), "R");
    p.deliver(Side::B, &rst.raw);
    assert!(p.b_events.contains(&Event::Closed {
        conn: s,
        reason: CloseReason::Reset
    }));
}

#[test]
fn close_in_each_state_per_3_10_4() {
    let mut p = Pair::new();
    // SYN-SENT: the TCB is deleted, nothing sent.
    let c = p.a.connect(p.now, addr(A_IP, 1), addr(B_IP, 80)).unwrap();
    p.out(Side::A);
    p.a.close(c).unwrap();
    assert_eq!(p.a.state(c), None);
    assert!(p.out(Side::A).is_empty());
    // FIN-WAIT-1/2, CLOSING, LAST-ACK, TIME-WAIT: a second shutdown is "connection closing".
    let (c, s) = p.establish();
    p.a.shutdown(c).unwrap();
    assert_eq!(p.a.shutdown(c), Err(Error::Closing));
    p.exchange();
    assert_eq!(p.a.shutdown(c), Err(Error::Closing));
    p.b.shutdown(s).unwrap();
    assert_eq!(p.b.shutdown(s), Err(Error::Closing));
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    assert_eq!(p.a.shutdown(c), Err(Error::Closing));
}

#[test]
fn a_peer_that_never_sends_fin_releases_an_orphan_after_fin_wait_2_timeout() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    p.a.close(c).unwrap();
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::FinWait2));
    let t = p.now;
    assert_eq!(p.a.poll_timeout(), Some(t + Duration::from_secs(60)));
    p.advance(Duration::from_secs(60));
    assert_eq!(p.a.state(c), None);
}

#[test]
fn rst_in_time_wait_is_ignored_rfc1337() {
    let mut p = Pair::new(); // rfc1337 is on by default
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    p.exchange();
    p.b.close(s).unwrap();
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    let info = p.a.info(c).unwrap();
    let rst = peer_rst(&p.a, c, info.rcv_nxt.get());
    p.deliver(Side::A, &rst);
    assert_eq!(
        p.a.state(c),
        Some(State::TimeWait),
        "the 2MSL wait is not cut short"
    );
    assert!(p.out(Side::A).is_empty());
}

#[test]
fn challenge_acks_are_rate_limited_per_connection_rfc5961_7() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    let c2 =
        p.a.connect(p.now, addr(A_IP, 40001), addr(B_IP, 80))
            .unwrap();
    p.exchange();
    // 30 in-window SYNs at one instant: 10 challenge ACKs, the rest suppressed.
    let info = p.a.info(c).unwrap();
    let syn = from_peer(
        &p.a,
        c,
        TcpFlags::SYN,
        info.rcv_nxt.get(),
        0,
        1000,
        TcpOptions::default(),
        b"",
    );
    let mut acks = 0;
    for _ in 0..30 {
        p.deliver(Side::A, &syn);
        acks += p.out(Side::A).len();
    }
    assert_eq!(acks, 10);
    let info = p.a.info(c).unwrap();
    assert_eq!(
        (info.challenge_acks, info.challenge_acks_suppressed),
        (10, 20)
    );
    // The budget is per connection: another connection still answers (no global counter for
    // an off-path attacker to read, CVE-2016-5696).
    let info2 = p.a.info(c2).unwrap();
    let syn2 = packet(
        addr(B_IP, 80),
        info2.tuple.local,
        TcpFlags::SYN,
        info2.rcv_nxt.get(),
        0,
        1000,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::A, &syn2);
    assert_eq!(p.out(Side::A).len(), 1);
    // Five seconds later the budget is back.
    p.advance(std::time::Duration::from_secs(5));
    p.deliver(Side::A, &syn);
    assert_eq!(p.out(Side::A).len(), 1);
}

#[test]
fn an_out_of_window_syn_also_draws_a_rate_limited_challenge_ack_rfc5961_4_2() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    let info = p.a.info(c).unwrap();
    let far = from_peer(
        &p.a,
        c,
        TcpFlags::SYN,
        info.rcv_nxt.get().wrapping_add(1 << 31),
        0,
        1000,
        TcpOptions::default(),
        b"",
    );
    let mut acks = 0;
    for _ in 0..20 {
        p.deliver(Side::A, &far);
        acks += p.out(Side::A).len();
    }
    assert_eq!(acks, 10, "the budget, not one ACK per spoofed SYN");
    assert_eq!(p.a.info(c).unwrap().challenge_acks, 10);
    assert_eq!(p.a.state(c), Some(State::Established));
}

#[test]
fn timers_listeners_and_reset_of_a_released_connection_are_visible() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    let (addr80, info) = p.b.listeners().next().unwrap();
    assert_eq!(addr80, addr(B_IP, 80));
    assert_eq!(
        (info.backlog, info.syn_queue, info.accept_queue),
        (128, 0, 0)
    );
    // A FIN in flight: its retransmission timer is pending.
    p.a.close(c).unwrap();
    let fin = p.one(Side::A);
    p.deliver(Side::B, &fin.raw); // B is in CLOSE-WAIT; its ACK is lost
    let _ = p.out(Side::B);
    let t = p.a.timers(c).unwrap();
    assert!(t.rto_at.is_some() && !t.persist && t.time_wait_at.is_none());
    // The application has closed it; a shutdown that runs out of time can still reset it.
    p.a.reset(c).unwrap();
    let rst = p.one(Side::A);
    assert_eq!(rst.flags(), "R");
    assert_eq!(p.a.state(c), None);
    p.deliver(Side::B, &rst.raw);
    assert_eq!(p.b.state(s), Some(State::Closed));
}
