//! TIME-WAIT after the TCB is gone (time_wait.rs): once the last ACK is out and nothing is
//! left unread, a connection in TIME-WAIT is a compact entry. It must answer every segment as
//! RFC 9293 §3.10.7.4 says for TIME-WAIT — and as the full TCB did — and keep its handle.

mod util;

use synack_proto::{CloseReason, Duration, Error, Event, State};
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

const MSL: Duration = Duration::from_secs(120);

/// A closes first and ends in TIME-WAIT; B's FIN and A's last ACK are returned (the ACK was
/// delivered unless `lose_last_ack`).
fn close_into_time_wait(p: &mut Pair, lose_last_ack: bool) -> (ConnHandleT, Seg, Seg) {
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    p.exchange();
    p.b.close(s).unwrap();
    let fin_b = p.one(Side::B);
    p.deliver(Side::A, &fin_b.raw);
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    let last_ack = p.one(Side::A);
    if !lose_last_ack {
        p.deliver(Side::B, &last_ack.raw);
    }
    (c, fin_b, last_ack)
}

type ConnHandleT = synack_proto::ConnHandle;

#[test]
fn a_tcb_in_time_wait_gives_way_to_a_compact_entry_that_keeps_its_handle_must_13() {
    let mut p = Pair::modern();
    let (c, _, last) = close_into_time_wait(&mut p, false);
    let entered = p.now;
    assert_eq!(p.a.stats().time_wait_compacted, 1, "the TCB was replaced");
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    assert_eq!((p.a.connection_count(), p.a.time_wait_count()), (1, 1));
    assert_eq!(p.a.connections().collect::<Vec<_>>(), vec![c]);
    let info = p.a.info(c).unwrap();
    assert_eq!(
        (info.state, info.snd_nxt.get(), info.rcv_nxt.get()),
        (State::TimeWait, last.seq, last.ack)
    );
    assert_eq!(p.a.timers(c).unwrap().time_wait_at, Some(entered + MSL * 2));
    // User calls (§3.10): SEND and CLOSE of the send side say "connection closing"; RECEIVE
    // reports the end of the stream.
    assert_eq!(p.a.send(c, b"x"), Err(Error::InvalidHandle), "A closed it");
    // Exactly 2·MSL, then CLOSED with the transition and the reason.
    assert_eq!(p.next_timeout(), Some(entered + MSL * 2));
    p.advance_to(entered + (MSL * 2 - Duration::from_micros(1)));
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    p.advance_to(entered + MSL * 2);
    assert_eq!(p.a.state(c), None);
    assert_eq!((p.a.connection_count(), p.a.time_wait_count()), (0, 0));
    assert!(p.a_events.iter().any(|e| matches!(e,
        Event::StateChanged { conn, from: State::TimeWait, to: State::Closed, cause: "2MSL timeout", .. } if *conn == c)));
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Normal
    }));
    assert_eq!(p.next_timeout(), None);
}

#[test]
fn the_compact_entry_acks_a_retransmitted_fin_exactly_as_the_tcb_did_and_restarts_2msl() {
    let mut p = Pair::modern();
    let (c, fin_b, last_ack) = close_into_time_wait(&mut p, true);
    let entered = p.now;
    assert_eq!(p.a.stats().time_wait_compacted, 1);
    p.advance(Duration::from_secs(60));
    p.deliver(Side::A, &fin_b.raw);
    let again = p.one(Side::A);
    assert_eq!(
        (again.flags().as_str(), again.seq, again.ack, again.wnd),
        (".", last_ack.seq, last_ack.ack, last_ack.wnd)
    );
    let (tsval, tsecr) = again.options.timestamps.unwrap();
    let (last_tsval, last_tsecr) = last_ack.options.timestamps.unwrap();
    assert_eq!(tsecr, last_tsecr, "TS.Recent echoed");
    assert_eq!(
        tsval.wrapping_sub(last_tsval),
        60_000,
        "our clock moved 60 s"
    );
    assert!(again.options.sack_blocks.is_empty());
    assert_eq!(p.a.poll_timeout(), Some(p.now + MSL * 2));
    p.advance_to(entered + MSL * 2);
    assert_eq!(p.a.state(c), Some(State::TimeWait), "restarted");
    // A second retransmission restarts it again.
    p.advance(Duration::from_secs(10));
    p.deliver(Side::A, &fin_b.raw);
    assert_eq!(p.one(Side::A).ack, last_ack.ack);
    let restarted = p.now;
    p.advance_to(restarted + (MSL * 2 - Duration::from_micros(1)));
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    p.advance_to(restarted + MSL * 2);
    assert_eq!(p.a.state(c), None);
}

#[test]
fn paws_in_time_wait_acks_an_old_duplicate_and_drops_a_segment_without_timestamps() {
    let mut p = Pair::modern();
    let (c, fin_b, last) = close_into_time_wait(&mut p, false);
    let (peer_ts, _) = fin_b.options.timestamps.unwrap();
    let old = TcpOptions {
        timestamps: Some((peer_ts.wrapping_sub(5), 0)),
        ..TcpOptions::default()
    };
    let seg = from_peer(&p.a, c, TcpFlags::ACK, last.ack, last.seq, 1000, old, b"");
    p.deliver(Side::A, &seg);
    let reply = p.one(Side::A);
    assert_eq!(
        (reply.flags().as_str(), reply.seq, reply.ack),
        (".", last.seq, last.ack)
    );
    let bare = from_peer(
        &p.a,
        c,
        TcpFlags::ACK,
        last.ack,
        last.seq,
        1000,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::A, &bare);
    assert!(
        p.out(Side::A).is_empty(),
        "no timestamp: dropped (RFC 7323 §3.2)"
    );
    assert_eq!(p.a.state(c), Some(State::TimeWait));
}

#[test]
fn a_rst_does_not_assassinate_time_wait_rfc1337() {
    let mut p = Pair::new();
    let (c, _, last) = close_into_time_wait(&mut p, false);
    assert_eq!(p.a.stats().time_wait_compacted, 1);
    p.deliver(Side::A, &peer_rst(&p.a, c, last.ack));
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    assert!(p.out(Side::A).is_empty());
}

#[test]
fn without_rfc1337_an_exact_rst_ends_time_wait_and_an_inexact_one_is_challenged_rfc5961() {
    let a = config(A_IP).with_rfc1337(false);
    let mut p = Pair::with_configs(a, config(B_IP));
    let (c, _, last) = close_into_time_wait(&mut p, false);
    assert_eq!(p.a.stats().time_wait_compacted, 1);
    p.deliver(Side::A, &peer_rst(&p.a, c, last.ack.wrapping_add(10)));
    let challenge = p.one(Side::A);
    assert_eq!(
        (challenge.flags().as_str(), challenge.seq, challenge.ack),
        (".", last.seq, last.ack)
    );
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    p.deliver(Side::A, &peer_rst(&p.a, c, last.ack));
    assert_eq!(p.a.state(c), None);
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Reset
    }));
    assert_eq!(p.a.time_wait_count(), 0);
}

#[test]
fn an_old_syn_gets_challenge_acks_from_a_budget_rfc5961_section_4_and_7() {
    let mut p = Pair::new();
    let (c, _, last) = close_into_time_wait(&mut p, false);
    // No listener on A and an old sequence number: not a new incarnation.
    let syn = from_peer(
        &p.a,
        c,
        TcpFlags::SYN,
        last.ack.wrapping_sub(100),
        0,
        1000,
        TcpOptions::default(),
        b"",
    );
    let mut acks = 0;
    for _ in 0..15 {
        p.deliver(Side::A, &syn);
        for seg in p.out(Side::A) {
            assert_eq!(
                (seg.flags().as_str(), seg.seq, seg.ack),
                (".", last.seq, last.ack)
            );
            acks += 1;
        }
    }
    assert_eq!(acks, 10, "challenge_ack_limit per challenge_ack_window");
    p.advance(Duration::from_secs(5));
    p.deliver(Side::A, &syn);
    assert_eq!(p.out(Side::A).len(), 1, "a new window, a new budget");
    assert_eq!(p.a.state(c), Some(State::TimeWait));
}

#[test]
fn out_of_window_data_in_time_wait_is_acked_with_a_dsack() {
    let mut p = Pair::modern();
    let (c, fin_b, last) = close_into_time_wait(&mut p, false);
    let (peer_ts, _) = fin_b.options.timestamps.unwrap();
    let ts = TcpOptions {
        timestamps: Some((peer_ts, 0)),
        ..TcpOptions::default()
    };
    // Old data (before RCV.NXT): a duplicate, reported as D-SACK (RFC 2883).
    let dup_seq = last.ack.wrapping_sub(11);
    let seg = from_peer(
        &p.a,
        c,
        TcpFlags::ACK,
        dup_seq,
        last.seq,
        1000,
        ts,
        b"0123456789",
    );
    p.deliver(Side::A, &seg);
    let reply = p.one(Side::A);
    assert_eq!((reply.flags().as_str(), reply.ack), (".", last.ack));
    let blocks: Vec<(u32, u32)> = reply.options.sack_blocks.iter().collect();
    assert_eq!(blocks, vec![(dup_seq, dup_seq.wrapping_add(10))]);
}

#[test]
fn a_handle_the_application_still_holds_keeps_its_full_tcb_in_time_wait() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.shutdown(c).unwrap();
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::FinWait2));
    p.b.send(s, b"hello").unwrap();
    p.b.close(s).unwrap();
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    let mut buf = [0u8; 16];
    assert_eq!(p.a.recv(c, &mut buf), Ok(5));
    assert_eq!(p.a.recv(c, &mut buf), Ok(0), "end of stream");
    p.exchange();
    assert_eq!(p.a.stats().time_wait_compacted, 0, "not closed yet");
    assert_eq!(
        p.a.info(c).unwrap().bytes_received,
        5,
        "info() still has the whole story"
    );
    assert_eq!(p.a.send(c, b"x"), Err(Error::Closing));
    // CLOSE: now the TCB can go.
    p.a.close(c).unwrap();
    p.exchange();
    assert_eq!(p.a.stats().time_wait_compacted, 1);
    assert_eq!(p.a.state(c), Some(State::TimeWait));
    assert_eq!(
        p.a.recv(c, &mut buf),
        Err(Error::InvalidHandle),
        "closed by the application"
    );
    assert_eq!(p.a.close(c), Err(Error::InvalidHandle));
    p.advance(MSL * 2);
    assert_eq!(p.a.state(c), None);
    assert_eq!(p.a.connection_count(), 0);
}

#[test]
fn reset_of_a_time_wait_entry_deletes_it_without_a_rst() {
    let mut p = Pair::new();
    let (c, _, _) = close_into_time_wait(&mut p, false);
    assert_eq!(p.a.stats().time_wait_compacted, 1);
    p.a.reset(c).unwrap();
    assert!(p.out(Side::A).is_empty(), "§3.10.5: no RST from TIME-WAIT");
    assert_eq!(p.a.state(c), None);
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Aborted
    }));
    assert_eq!(p.a.time_wait_count(), 0);
    assert_eq!(p.next_timeout(), None, "the zombie entry is not a deadline");
    assert_eq!(p.a.reset(c), Err(Error::InvalidHandle));
}

#[test]
fn a_reused_slot_does_not_answer_to_the_old_handle() {
    let mut p = Pair::new();
    let (c, _, _) = close_into_time_wait(&mut p, false);
    p.advance(MSL * 2);
    assert_eq!(p.a.state(c), None);
    let c2 = p.a.connect(p.now, addr(A_IP, 0), addr(B_IP, 80)).unwrap();
    assert_ne!(c2, c);
    assert_eq!(p.a.state(c), None);
    assert_eq!(p.a.state(c2), Some(State::SynSent));
}

#[test]
fn ipv6_time_wait_entries_keep_their_addresses() {
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};
    let (a6, b6): (IpAddr, IpAddr) = (
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).into(),
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).into(),
    );
    let mut p = Pair::with_configs(
        config(A_IP).with_local_addrs(vec![a6]),
        config(B_IP).with_local_addrs(vec![b6]),
    );
    p.b.listen(SocketAddr::new(b6, 80), None).unwrap();
    let mut handles = Vec::new();
    for port in [40000u16, 40001] {
        let c =
            p.a.connect(p.now, SocketAddr::new(a6, port), SocketAddr::new(b6, 80))
                .unwrap();
        p.exchange();
        let s = p.b.accept(SocketAddr::new(b6, 80)).unwrap();
        p.a.close(c).unwrap();
        p.exchange();
        p.b.close(s).unwrap();
        p.exchange();
        handles.push((c, port));
    }
    assert_eq!(p.a.stats().time_wait_compacted, 2);
    for (c, port) in handles {
        let t = p.a.tuple(c).unwrap();
        assert_eq!(
            (t.local, t.remote),
            (SocketAddr::new(a6, port), SocketAddr::new(b6, 80))
        );
        assert_eq!(p.a.state(c), Some(State::TimeWait));
    }
}

/// With the TIME-WAIT table full (`max_time_wait`), a connection skips its 2MSL wait — but the
/// FIN that brought it there is still acknowledged, `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`
/// (§3.10.7.4, FIN-WAIT-2 row). Without it the peer would sit in LAST-ACK retransmitting its FIN
/// until a RST answered it.
#[test]
fn a_full_time_wait_table_still_acks_the_fin() {
    let a = modern_config(A_IP).with_max_time_wait(0);
    let mut p = Pair::with_configs(a, modern_config(B_IP));
    let (c, s) = p.establish();
    p.a.close(c).unwrap();
    p.exchange();
    p.b.close(s).unwrap();
    let fin_b = p.one(Side::B);
    assert_eq!(fin_b.flags(), "F.");
    p.deliver(Side::A, &fin_b.raw);
    assert_eq!(p.a.stats().time_wait_overflow, 1);
    assert_eq!(p.a.state(c), None, "straight to CLOSED, the TCB gone");
    let last_ack = p.one(Side::A);
    assert_eq!(last_ack.flags(), ".");
    assert_eq!(
        (last_ack.seq, last_ack.ack),
        (fin_b.ack, fin_b.seq.wrapping_add(1))
    );
    assert!(last_ack.options.timestamps.is_some(), "{last_ack:?}");
    p.deliver(Side::B, &last_ack.raw);
    assert_eq!(p.b.state(s), None, "B left LAST-ACK for CLOSED");
    assert_eq!((p.a.connection_count(), p.a.time_wait_count()), (0, 0));
}

/// One set of TIME-WAIT rules (time_wait_rules.rs): a connection the application still holds
/// keeps its full TCB in TIME-WAIT, one it closed becomes a compact entry, and each answers
/// every probe with the same segment (flags, seq, ack, window, options) and ends in the same
/// state — PAWS, RFC 1337 and RFC 5961 (RST and SYN), a retransmitted FIN, duplicate and
/// partly duplicate data (D-SACK), an ACK of data never sent, a bogus FIN at RCV.NXT.
#[test]
fn the_full_tcb_and_the_compact_entry_answer_every_probe_alike() {
    #[derive(Clone, Copy, Debug)]
    enum Probe {
        RetransmittedFin,
        OldTimestamp,
        NoTimestamp,
        ExactRst,
        InexactRst,
        OldSyn,
        DuplicateData,
        PartlyDuplicateData,
        AckOfUnsent,
        BogusFinAtRcvNxt,
        PlainAck,
    }
    let probes = [
        Probe::RetransmittedFin,
        Probe::OldTimestamp,
        Probe::NoTimestamp,
        Probe::ExactRst,
        Probe::InexactRst,
        Probe::OldSyn,
        Probe::DuplicateData,
        Probe::PartlyDuplicateData,
        Probe::AckOfUnsent,
        Probe::BogusFinAtRcvNxt,
        Probe::PlainAck,
    ];
    // What A sends in answer and A's state after, for one holder.
    let run = |modern: bool, rfc1337: bool, hold: bool, probe: Probe| {
        let base = if modern {
            modern_config(A_IP)
        } else {
            config(A_IP)
        };
        let a = base.with_rfc1337(rfc1337);
        let b = if modern {
            modern_config(B_IP)
        } else {
            config(B_IP)
        };
        let mut p = Pair::with_configs(a, b);
        let (c, s) = p.establish();
        if hold {
            p.a.shutdown(c).unwrap();
        } else {
            p.a.close(c).unwrap();
        }
        p.exchange();
        p.b.close(s).unwrap();
        let fin_b = p.one(Side::B);
        p.deliver(Side::A, &fin_b.raw);
        let last = p.one(Side::A);
        p.deliver(Side::B, &last.raw);
        assert_eq!(p.a.state(c), Some(State::TimeWait));
        assert_eq!(
            p.a.stats().time_wait_compacted,
            u64::from(!hold),
            "held: TCB; closed: compact entry"
        );
        p.advance(Duration::from_secs(1));
        let ts = |delta: u32| TcpOptions {
            timestamps: fin_b
                .options
                .timestamps
                .map(|(v, _)| (v.wrapping_add(delta), 0)),
            ..TcpOptions::default()
        };
        let (nxt, una) = (last.ack, last.seq);
        let ack = TcpFlags::ACK;
        let raw = match probe {
            Probe::RetransmittedFin => fin_b.raw.clone(),
            Probe::OldTimestamp => from_peer(&p.a, c, ack, nxt, una, 1000, ts(u32::MAX - 4), b""),
            Probe::NoTimestamp => {
                from_peer(&p.a, c, ack, nxt, una, 1000, TcpOptions::default(), b"")
            }
            Probe::ExactRst => from_peer(&p.a, c, TcpFlags::RST, nxt, 0, 0, ts(1), b""),
            Probe::InexactRst => from_peer(&p.a, c, TcpFlags::RST, nxt + 10, 0, 0, ts(1), b""),
            Probe::OldSyn => from_peer(&p.a, c, TcpFlags::SYN, nxt - 100, 0, 1000, ts(1), b""),
            Probe::DuplicateData => {
                from_peer(&p.a, c, ack, nxt - 11, una, 1000, ts(1), b"0123456789")
            }
            Probe::PartlyDuplicateData => {
                from_peer(&p.a, c, ack, nxt - 5, una, 1000, ts(1), b"0123456789")
            }
            Probe::AckOfUnsent => from_peer(&p.a, c, ack, nxt, una + 1000, 1000, ts(1), b""),
            Probe::BogusFinAtRcvNxt => {
                from_peer(&p.a, c, ack | TcpFlags::FIN, nxt, una, 1000, ts(1), b"")
            }
            Probe::PlainAck => from_peer(&p.a, c, ack, nxt, una, 1000, ts(1), b""),
        };
        p.deliver(Side::A, &raw);
        let out: Vec<_> = p
            .out(Side::A)
            .into_iter()
            .map(|s| (s.flags(), s.seq, s.ack, s.wnd, s.options))
            .collect();
        // A CLOSED connection the application still holds stays visible (Closed), a closed
        // one is gone: the state is compared as "what is left of TIME-WAIT".
        let state = p.a.state(c).unwrap_or(State::Closed);
        let timers = (state == State::TimeWait).then(|| p.a.timers(c).map(|t| t.time_wait_at));
        (out, state, timers)
    };
    for modern in [false, true] {
        for rfc1337 in [true, false] {
            for probe in probes {
                let tcb = run(modern, rfc1337, true, probe);
                let entry = run(modern, rfc1337, false, probe);
                assert_eq!(
                    tcb, entry,
                    "{probe:?} (timestamps and SACK: {modern}, RFC 1337: {rfc1337}): \
                     the TCB (left) and the compact entry (right) differ"
                );
            }
        }
    }
}
