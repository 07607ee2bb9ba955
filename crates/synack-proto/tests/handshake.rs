//! Opening connections, RFC 9293 §3.5, asserted segment by segment on the wire.

mod util;

use synack_proto::{CloseReason, Error, Event, State};
use synack_wire::{TcpFlags, TcpOptions};
use util::*;

#[test]
fn three_way_handshake_must_14_must_65() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    assert_eq!(p.a.state(c), Some(State::SynSent));

    // 1. A -> B  SYN seq=x, MSS option (MUST-14), no ACK.
    let syn = p.one(Side::A);
    assert_eq!(syn.flags(), "S");
    assert_eq!(syn.options.mss, Some(1460));
    assert_eq!(syn.payload.len(), 0);
    let x = syn.seq;
    p.deliver(Side::B, &syn.raw);

    // 2. B -> A  SYN-ACK seq=y ack=x+1.
    let synack = p.one(Side::B);
    assert_eq!(synack.flags(), "S.");
    assert_eq!(synack.ack, x.wrapping_add(1));
    assert_eq!(synack.options.mss, Some(1460));
    let y = synack.seq;
    assert_ne!(y, x);
    let s_tuple = (synack.src, synack.dst);
    assert_eq!(s_tuple, (addr(B_IP, 80), addr(A_IP, 40000)));
    assert_eq!(p.b.accept(addr(B_IP, 80)), None, "not ESTABLISHED yet");
    p.deliver(Side::A, &synack.raw);
    assert_eq!(p.a.state(c), Some(State::Established));

    // 3. A -> B  ACK seq=x+1 ack=y+1, no MSS option on a non-SYN segment (MUST-65).
    let ack = p.one(Side::A);
    assert_eq!(ack.flags(), ".");
    assert_eq!(ack.seq, x.wrapping_add(1));
    assert_eq!(ack.ack, y.wrapping_add(1));
    assert_eq!(ack.options, TcpOptions::default());
    p.deliver(Side::B, &ack.raw);
    let s = p.b.accept(addr(B_IP, 80)).unwrap();
    assert_eq!(p.b.state(s), Some(State::Established));
    assert!(p.out(Side::B).is_empty(), "nothing more to say");

    assert_eq!(
        p.transitions(Side::A),
        vec![
            (State::Closed, State::SynSent),
            (State::SynSent, State::Established)
        ]
    );
    assert_eq!(
        p.transitions(Side::B),
        vec![
            (State::Listen, State::SynReceived),
            (State::SynReceived, State::Established)
        ]
    );
    assert!(p.a_events.contains(&Event::Connected { conn: c }));
    assert!(p.b_events.contains(&Event::Incoming {
        listener: addr(B_IP, 80),
        conn: s
    }));
}

#[test]
fn data_on_the_third_segment_is_delivered() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A);
    p.deliver(Side::B, &syn.raw);
    let synack = p.one(Side::B);
    // A queues data before the SYN-ACK arrives: it rides on the third segment.
    assert_eq!(p.a.send(c, b"GET /").unwrap(), 5);
    p.deliver(Side::A, &synack.raw);
    let third = p.one(Side::A);
    assert_eq!(third.flags(), "P.");
    assert_eq!(third.seq, syn.seq.wrapping_add(1));
    assert_eq!(third.ack, synack.seq.wrapping_add(1));
    assert_eq!(third.payload, b"GET /");
    p.deliver(Side::B, &third.raw);
    // SYN-RECEIVED + ACK with data: step 5 => ESTABLISHED, then step 7 delivers the text.
    let s = p.b.accept(addr(B_IP, 80)).unwrap();
    assert_eq!(p.b.state(s), Some(State::Established));
    let mut buf = [0u8; 16];
    assert_eq!(p.b.recv(s, &mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"GET /");
    let ack = p.one(Side::B);
    assert_eq!(ack.flags(), ".");
    assert_eq!(ack.ack, third.seq.wrapping_add(5));
}

#[test]
fn simultaneous_open_must_10() {
    let mut p = Pair::new();
    let a =
        p.a.connect(p.now, addr(A_IP, 7000), addr(B_IP, 7001))
            .unwrap();
    let b =
        p.b.connect(p.now, addr(B_IP, 7001), addr(A_IP, 7000))
            .unwrap();
    let syn_a = p.one(Side::A);
    let syn_b = p.one(Side::B);
    assert_eq!((syn_a.flags().as_str(), syn_b.flags().as_str()), ("S", "S"));
    // The SYNs cross.
    p.deliver(Side::B, &syn_a.raw);
    p.deliver(Side::A, &syn_b.raw);
    assert_eq!(p.a.state(a), Some(State::SynReceived));
    assert_eq!(p.b.state(b), Some(State::SynReceived));
    // Each answers <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    let sa_a = p.one(Side::A);
    let sa_b = p.one(Side::B);
    assert_eq!(sa_a.flags(), "S.");
    assert_eq!((sa_a.seq, sa_a.ack), (syn_a.seq, syn_b.seq.wrapping_add(1)));
    assert_eq!((sa_b.seq, sa_b.ack), (syn_b.seq, syn_a.seq.wrapping_add(1)));
    p.deliver(Side::B, &sa_a.raw);
    p.deliver(Side::A, &sa_b.raw);
    assert_eq!(p.a.state(a), Some(State::Established));
    assert_eq!(p.b.state(b), Some(State::Established));
    assert_eq!(
        p.transitions(Side::A),
        vec![
            (State::Closed, State::SynSent),
            (State::SynSent, State::SynReceived),
            (State::SynReceived, State::Established)
        ]
    );
    // Data flows both ways afterwards.
    p.a.send(a, b"ping").unwrap();
    p.b.send(b, b"pong").unwrap();
    p.exchange();
    assert_eq!(read_all(&mut p.b, b).0, b"ping");
    assert_eq!(read_all(&mut p.a, a).0, b"pong");
}

#[test]
fn syn_to_a_closed_port_gets_rst_ack() {
    let mut p = Pair::new();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 81))
            .unwrap();
    let syn = p.one(Side::A);
    p.deliver(Side::B, &syn.raw);
    // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    let rst = p.one(Side::B);
    assert_eq!(rst.flags(), "R.");
    assert_eq!(rst.seq, 0);
    assert_eq!(rst.ack, syn.seq.wrapping_add(1));
    assert_eq!(rst.wnd, 0);
    p.deliver(Side::A, &rst.raw);
    assert!(p.a_events.contains(&Event::Closed {
        conn: c,
        reason: CloseReason::Refused
    }));
    let mut buf = [0u8; 4];
    assert_eq!(p.a.recv(c, &mut buf), Err(Error::ConnectionRefused));
    assert_eq!(
        std::io::Error::from(Error::ConnectionRefused).kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // The application releases it; nothing stays behind.
    p.a.close(c).unwrap();
    assert_eq!(p.a.connection_count(), 0);
    assert!(p.out(Side::A).is_empty(), "never a RST in answer to a RST");
}

#[test]
fn data_segment_to_a_closed_port_gets_rst_with_seq_of_its_ack() {
    let mut p = Pair::new();
    let peer = addr(A_IP, 1234);
    p.deliver(
        Side::B,
        &packet(
            peer,
            addr(B_IP, 9),
            TcpFlags::ACK | TcpFlags::PSH,
            500,
            777_777,
            1000,
            TcpOptions::default(),
            b"data",
        ),
    );
    let rst = p.one(Side::B);
    assert_eq!(rst.flags(), "R");
    assert_eq!(rst.seq, 777_777);
    // A segment without ACK: ACK = SEG.SEQ + SEG.LEN (data and FIN count).
    p.deliver(
        Side::B,
        &packet(
            peer,
            addr(B_IP, 9),
            TcpFlags::FIN,
            500,
            0,
            1000,
            TcpOptions::default(),
            b"abc",
        ),
    );
    let rst = p.one(Side::B);
    assert_eq!((rst.flags().as_str(), rst.seq, rst.ack), ("R.", 0, 504));
    // A RST is never answered.
    p.deliver(
        Side::B,
        &packet(
            peer,
            addr(B_IP, 9),
            TcpFlags::RST,
            500,
            0,
            0,
            TcpOptions::default(),
            b"",
        ),
    );
    assert!(p.out(Side::B).is_empty());
}

#[test]
fn ack_to_a_listening_port_gets_rst_seq_seg_ack() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let peer = addr(A_IP, 1234);
    p.deliver(
        Side::B,
        &packet(
            peer,
            addr(B_IP, 80),
            TcpFlags::ACK,
            42,
            9999,
            1000,
            TcpOptions::default(),
            b"",
        ),
    );
    let rst = p.one(Side::B);
    assert_eq!((rst.flags().as_str(), rst.seq), ("R", 9999));
    // RST to a listener: ignored. Plain data without SYN/ACK: dropped.
    p.deliver(
        Side::B,
        &packet(
            peer,
            addr(B_IP, 80),
            TcpFlags::RST,
            42,
            0,
            0,
            TcpOptions::default(),
            b"",
        ),
    );
    p.deliver(
        Side::B,
        &packet(
            peer,
            addr(B_IP, 80),
            TcpFlags::PSH,
            42,
            0,
            0,
            TcpOptions::default(),
            b"x",
        ),
    );
    assert!(p.out(Side::B).is_empty());
    assert_eq!(p.b.connection_count(), 0);
}

#[test]
fn old_duplicate_syn_is_reset_and_the_real_handshake_completes() {
    // RFC 9293 Figure 9: why the handshake has three segments.
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let c =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    let syn = p.one(Side::A); // the real SYN, delayed in the network
    let x = syn.seq;
    // An old duplicate SYN from an earlier incarnation arrives first.
    let old = packet(
        addr(A_IP, 40000),
        addr(B_IP, 80),
        TcpFlags::SYN,
        x.wrapping_sub(10_000),
        0,
        8192,
        TcpOptions::default(),
        b"",
    );
    p.deliver(Side::B, &old);
    let synack = p.one(Side::B);
    assert_eq!(synack.ack, x.wrapping_sub(9_999));
    // A is in SYN-SENT; the SYN-ACK acknowledges something it never sent: RST <SEQ=SEG.ACK>.
    p.deliver(Side::A, &synack.raw);
    let rst = p.one(Side::A);
    assert_eq!((rst.flags().as_str(), rst.seq), ("R", synack.ack));
    assert_eq!(p.a.state(c), Some(State::SynSent));
    // B's SYN-RECEIVED came from a passive OPEN: back to LISTEN, no one told.
    p.deliver(Side::B, &rst.raw);
    assert_eq!(p.b.connection_count(), 0);
    assert_eq!(
        p.transitions(Side::B),
        vec![
            (State::Listen, State::SynReceived),
            (State::SynReceived, State::Listen),
            (State::Listen, State::Closed)
        ]
    );
    // The real SYN arrives and the handshake completes.
    p.deliver(Side::B, &syn.raw);
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::Established));
    let s = p.b.accept(addr(B_IP, 80)).unwrap();
    assert_eq!(p.b.state(s), Some(State::Established));
}

#[test]
fn listen_while_a_connection_on_the_port_is_in_syn_sent_must_42() {
    let mut p = Pair::new();
    let c =
        p.a.connect(p.now, addr(A_IP, 8080), addr(B_IP, 80))
            .unwrap();
    p.a.listen(addr(A_IP, 8080), None).unwrap();
    assert_eq!(p.a.state(c), Some(State::SynSent));
    assert_eq!(p.a.listen(addr(A_IP, 8080), None), Err(Error::AddrInUse));
}

#[test]
fn connect_to_broadcast_is_rejected_must_46() {
    let mut p = Pair::new();
    let r = p.a.connect(
        p.now,
        addr(A_IP, 0),
        addr(std::net::Ipv4Addr::BROADCAST, 80),
    );
    assert_eq!(r, Err(Error::InvalidAddress));
    let r = p.a.connect(
        p.now,
        addr(A_IP, 0),
        addr(std::net::Ipv4Addr::new(224, 0, 0, 1), 80),
    );
    assert_eq!(r, Err(Error::InvalidAddress));
}

#[test]
fn syn_from_a_broadcast_source_is_ignored_must_57_must_63() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let bcast = addr(std::net::Ipv4Addr::BROADCAST, 1);
    p.deliver(
        Side::B,
        &packet(
            bcast,
            addr(B_IP, 80),
            TcpFlags::SYN,
            1,
            0,
            100,
            TcpOptions::default(),
            b"",
        ),
    );
    assert!(p.out(Side::B).is_empty());
    assert_eq!(p.b.connection_count(), 0);
    assert_eq!(p.b.stats().bad_address, 1);
}

#[test]
fn missing_mss_option_means_536_must_15() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let peer = addr(A_IP, 1000);
    p.deliver(
        Side::B,
        &packet(
            peer,
            addr(B_IP, 80),
            TcpFlags::SYN,
            5,
            0,
            60000,
            TcpOptions::default(),
            b"",
        ),
    );
    let synack = p.one(Side::B);
    p.deliver(
        Side::B,
        &packet(
            peer,
            addr(B_IP, 80),
            TcpFlags::ACK,
            6,
            synack.seq.wrapping_add(1),
            60000,
            TcpOptions::default(),
            b"",
        ),
    );
    let s = p.b.accept(addr(B_IP, 80)).unwrap();
    assert_eq!(p.b.info(s).unwrap().mss, 536);
    p.b.send(s, &[7u8; 2000]).unwrap();
    let segs = p.out(Side::B);
    assert!(segs.iter().all(|s| s.payload.len() <= 536));
    assert_eq!(segs[0].payload.len(), 536);
}

#[test]
fn isns_differ_per_tuple_and_follow_the_clock_must_8_must_9() {
    let mut p = Pair::new();
    p.a.connect(p.now, addr(A_IP, 1000), addr(B_IP, 80))
        .unwrap();
    p.a.connect(p.now, addr(A_IP, 1001), addr(B_IP, 80))
        .unwrap();
    let v = p.out(Side::A);
    assert_eq!(v.len(), 2);
    let d = v[1].seq.wrapping_sub(v[0].seq);
    assert!(
        d > 1000 && d < u32::MAX - 1000,
        "ISNs of adjacent tuples look related: {d}"
    );
}

#[test]
fn accept_any_takes_connections_to_every_destination() {
    let b = config(B_IP).with_local_addrs(Vec::new()); // every address is ours
    let mut p = Pair::with_configs(config(A_IP), b);
    p.b.listen_any(None).unwrap();
    let far = addr(std::net::Ipv4Addr::new(93, 184, 216, 34), 443);
    let c = p.a.connect(p.now, addr(A_IP, 40000), far).unwrap();
    p.exchange();
    assert_eq!(p.a.state(c), Some(State::Established));
    let s = p.b.accept(synack_proto::ACCEPT_ANY).unwrap();
    let t = p.b.tuple(s).unwrap();
    assert_eq!(
        (t.local, t.remote),
        (far, addr(A_IP, 40000)),
        "the original destination"
    );
    // A specific listener still wins over accept-any.
    p.b.listen(addr(B_IP, 80), None).unwrap();
    p.a.connect(p.now, addr(A_IP, 40001), addr(B_IP, 80))
        .unwrap();
    p.exchange();
    assert!(p.b.accept(addr(B_IP, 80)).is_some());
    assert_eq!(p.b.accept(synack_proto::ACCEPT_ANY), None);
}
