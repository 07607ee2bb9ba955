//! Text on a SYN without Fast Open (RFC 9293 §3.10.7.2, §3.10.7.3): RCV.NXT = SEG.SEQ + 1, so
//! the SYN-ACK acknowledges the SYN only. synack drops the text, as Linux does without TFO
//! (`Connection::text_on_syn`), and takes it when the peer sends it again after the
//! handshake — to a listener, to a listener answering with SYN cookies, and in a
//! simultaneous open.

mod util;

use synack_proto::State;
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

fn mss(m: u16) -> TcpOptions {
    TcpOptions {
        mss: Some(m),
        ..TcpOptions::default()
    }
}

#[test]
fn a_listener_acknowledges_the_syn_only_and_takes_the_text_when_sent_again() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let client = addr(A_IP, 5555);
    let to = addr(B_IP, 80);
    p.deliver(
        Side::B,
        &packet(
            client,
            to,
            TcpFlags::SYN,
            1000,
            0,
            8192,
            mss(1000),
            b"early",
        ),
    );
    let sa = p.one(Side::B);
    assert_eq!(
        (sa.flags().as_str(), sa.ack, sa.payload.len()),
        ("S.", 1001, 0),
        "SYN-ACK <ACK=SEG.SEQ+1>: the 5 bytes are not acknowledged"
    );
    // The handshake completes; nothing was kept for the application.
    let iss = sa.seq;
    p.deliver(
        Side::B,
        &packet(
            client,
            to,
            TcpFlags::ACK,
            1001,
            iss.wrapping_add(1),
            8192,
            mss(0),
            b"",
        ),
    );
    let s = p.b.accept(to).unwrap();
    assert_eq!(p.b.state(s), Some(State::Established));
    assert_eq!(p.b.info(s).unwrap().rcv_nxt.get(), 1001);
    assert!(read_all(&mut p.b, s).0.is_empty());
    assert!(p.out(Side::B).is_empty(), "a pure ACK is not acknowledged");
    // The peer sends the text again, at SEG.SEQ + 1: taken and acknowledged.
    p.deliver(
        Side::B,
        &packet(
            client,
            to,
            TcpFlags::ACK | TcpFlags::PSH,
            1001,
            iss.wrapping_add(1),
            8192,
            TcpOptions::default(),
            b"early",
        ),
    );
    let ack = p.one(Side::B);
    assert_eq!(
        (ack.flags().as_str(), ack.seq, ack.ack),
        (".", iss.wrapping_add(1), 1006)
    );
    assert_eq!(read_all(&mut p.b, s).0, b"early");
    assert_eq!(p.b.info(s).unwrap().mss, 1000, "peer's MSS option honoured");
}

#[test]
fn a_syn_cookie_acknowledges_the_syn_only() {
    let b = config(B_IP).with_syn_cookies(true);
    let mut p = Pair::with_configs(config(A_IP), b);
    let to = addr(B_IP, 80);
    p.b.listen(to, Some(1)).unwrap();
    // The first SYN takes the one SYN-RECEIVED slot.
    p.deliver(
        Side::B,
        &packet(
            addr(A_IP, 1000),
            to,
            TcpFlags::SYN,
            10,
            0,
            8192,
            mss(1000),
            b"",
        ),
    );
    let _ = p.one(Side::B);
    // The second, with text, is answered with a cookie: SYN only acknowledged, nothing kept.
    let client = addr(A_IP, 2000);
    p.deliver(
        Side::B,
        &packet(client, to, TcpFlags::SYN, 777, 0, 8192, mss(1000), b"early"),
    );
    let sa = p.one(Side::B);
    assert_eq!((sa.flags().as_str(), sa.ack), ("S.", 778));
    assert_eq!(p.b.stats().syn_cookies_sent, 1);
    assert_eq!(p.b.connection_count(), 1);
    // The text comes again on the ACK that returns the cookie: delivered.
    p.deliver(
        Side::B,
        &packet(
            client,
            to,
            TcpFlags::ACK | TcpFlags::PSH,
            778,
            sa.seq.wrapping_add(1),
            8192,
            TcpOptions::default(),
            b"early",
        ),
    );
    assert_eq!(p.b.stats().syn_cookies_validated, 1);
    let s = p.b.accept(to).unwrap();
    assert_eq!(read_all(&mut p.b, s).0, b"early");
    let ack = p.one(Side::B);
    assert_eq!((ack.flags().as_str(), ack.ack), (".", 783));
}

#[test]
fn a_simultaneous_open_acknowledges_the_peers_syn_only_must_10() {
    let mut p = Pair::new();
    let me = addr(A_IP, 7000);
    let peer = addr(B_IP, 7001);
    let c = p.a.connect(p.now, me, peer).unwrap();
    let syn = p.one(Side::A);
    assert_eq!(syn.flags(), "S");
    // The peer's SYN crosses ours and carries text: SYN-RECEIVED, and our SYN-ACK repeats our
    // SYN and acknowledges the peer's SYN only.
    p.deliver(
        Side::A,
        &packet(peer, me, TcpFlags::SYN, 5000, 0, 8192, mss(1000), b"early"),
    );
    assert_eq!(p.a.state(c), Some(State::SynReceived));
    let sa = p.one(Side::A);
    assert_eq!((sa.flags().as_str(), sa.seq, sa.ack), ("S.", syn.seq, 5001));
    // The peer's SYN-ACK completes the open; then the text comes again.
    p.deliver(
        Side::A,
        &packet(
            peer,
            me,
            TcpFlags::SYN | TcpFlags::ACK,
            5000,
            syn.seq.wrapping_add(1),
            8192,
            mss(1000),
            b"",
        ),
    );
    assert_eq!(p.a.state(c), Some(State::Established));
    assert!(read_all(&mut p.a, c).0.is_empty());
    let _ = p.out(Side::A);
    p.deliver(
        Side::A,
        &packet(
            peer,
            me,
            TcpFlags::ACK | TcpFlags::PSH,
            5001,
            syn.seq.wrapping_add(1),
            8192,
            TcpOptions::default(),
            b"early",
        ),
    );
    let ack = p.one(Side::A);
    assert_eq!(
        (ack.flags().as_str(), ack.seq, ack.ack),
        (".", syn.seq.wrapping_add(1), 5006)
    );
    assert_eq!(read_all(&mut p.a, c).0, b"early");
}
