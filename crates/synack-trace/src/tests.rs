use std::net::{IpAddr, Ipv4Addr};

use synack_proto::{Instant, State};
use synack_wire::TcpOptions;

use super::*;

const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const CISN: u32 = 1000;
const SISN: u32 = 5000;

#[allow(clippy::too_many_arguments)]
fn pkt(
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    mss: Option<u16>,
    payload: &[u8],
) -> Vec<u8> {
    let ends = crate::test_frames::Ends::between((C, 49152), (S, 80), from_client);
    let options = TcpOptions {
        mss,
        ..TcpOptions::default()
    };
    crate::test_frames::ipv4_tcp(ends, 0, seq, ack, flags, win, options, payload)
}

fn ms(m: u64) -> Instant {
    Instant::from_millis(m)
}

const F_SYN: u8 = 0x02;
const F_ACK: u8 = 0x10;
const F_FIN: u8 = 0x01;
const F_PSH: u8 = 0x08;

fn handshake() -> Ladder {
    let mut l = Ladder::new("client", IpAddr::V4(C), "server", IpAddr::V4(S));
    l.push_transition(ms(0), true, State::Closed, State::SynSent, "connect");
    l.push_segment(
        ms(0),
        Some(ms(10)),
        true,
        pkt(true, CISN, 0, F_SYN, 65535, Some(1460), b""),
    );
    l.push_transition(
        ms(10),
        false,
        State::Listen,
        State::SynReceived,
        "SYN received",
    );
    l.push_segment(
        ms(10),
        Some(ms(20)),
        false,
        pkt(false, SISN, CISN + 1, F_SYN | F_ACK, 65535, Some(1460), b""),
    );
    l.push_transition(
        ms(20),
        true,
        State::SynSent,
        State::Established,
        "SYN-ACK received",
    );
    l.push_segment(
        ms(20),
        Some(ms(30)),
        true,
        pkt(true, CISN + 1, SISN + 1, F_ACK, 65535, None, b""),
    );
    l.push_transition(
        ms(30),
        false,
        State::SynReceived,
        State::Established,
        "ACK of SYN",
    );
    l
}

fn opts() -> RenderOptions {
    RenderOptions {
        width: 0,
        ..RenderOptions::default()
    }
}

#[test]
fn handshake_lines() {
    let text = render_text(&handshake(), &opts());
    let lines: Vec<&str> = text.lines().collect();
    let expected = [
        "      time  client 10.0.0.1:49152                                                      server 10.0.0.2:80",
        "            CLOSED                                                                     LISTEN",
        "  0.000000  SYN-SENT      (CLOSED → SYN-SENT: connect)",
        "  0.000000  SYN-SENT      ── SYN seq=0 (isn 1000) win=65535 mss=1460 ───────────────>  SYN-RECEIVED",
        "  0.010000  ESTABLISHED   <── SYN-ACK seq=0 (isn 5000) ack=1 win=65535 mss=1460 ─────  SYN-RECEIVED",
        "  0.020000  ESTABLISHED   ── ACK seq=1 ack=1 win=65535 ─────────────────────────────>  ESTABLISHED",
    ];
    assert_eq!(lines, expected, "\n{text}");
}

#[test]
fn absolute_and_ascii() {
    let o = RenderOptions {
        absolute: true,
        ascii: true,
        ..opts()
    };
    let text = render_text(&handshake(), &o);
    assert!(
        text.contains("-- SYN seq=1000 win=65535 mss=1460 ---"),
        "{text}"
    );
    assert!(
        text.contains("<-- SYN-ACK seq=5000 ack=1001 win=65535 mss=1460 ---"),
        "{text}"
    );
    assert!(text.contains("(CLOSED -> SYN-SENT: connect)"), "{text}");
    assert!(text.is_ascii(), "{text}");
}

#[test]
fn lost_segment_and_retransmission() {
    let mut l = Ladder::new("client", IpAddr::V4(C), "server", IpAddr::V4(S));
    l.push_transition(ms(0), true, State::Closed, State::SynSent, "connect");
    l.push_segment(
        ms(0),
        None,
        true,
        pkt(true, CISN, 0, F_SYN, 65535, Some(1460), b""),
    );
    l.push_segment(
        ms(1000),
        Some(ms(1010)),
        true,
        pkt(true, CISN, 0, F_SYN, 65535, Some(1460), b""),
    );
    l.push_transition(
        ms(1010),
        false,
        State::Listen,
        State::SynReceived,
        "SYN received",
    );
    let text = render_text(&l, &opts());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[3].ends_with("──✗"), "{text}");
    assert!(lines[3].contains("[lost]"), "{text}");
    assert!(lines[4].contains("[retransmission]"), "{text}");
    assert!(lines[4].ends_with(">  SYN-RECEIVED"), "{text}");
}

/// Both sides close at the same instant: the FINs cross, each arrives in FIN-WAIT-1 and moves
/// the receiver to CLOSING, so departures and arrivals are drawn on separate rows.
#[test]
fn simultaneous_close_splits_crossing_segments() {
    let mut l = Ladder::new("client", IpAddr::V4(C), "server", IpAddr::V4(S));
    let (c, s) = (CISN + 1, SISN + 1);
    l.push_transition(ms(100), true, State::Established, State::FinWait1, "close");
    l.push_segment(
        ms(100),
        Some(ms(110)),
        true,
        pkt(true, c, s, F_FIN | F_ACK, 65535, None, b""),
    );
    l.push_transition(ms(100), false, State::Established, State::FinWait1, "close");
    l.push_segment(
        ms(100),
        Some(ms(110)),
        false,
        pkt(false, s, c, F_FIN | F_ACK, 65535, None, b""),
    );
    l.push_transition(
        ms(110),
        true,
        State::FinWait1,
        State::Closing,
        "FIN received",
    );
    l.push_segment(
        ms(110),
        Some(ms(120)),
        true,
        pkt(true, c + 1, s + 1, F_ACK, 65535, None, b""),
    );
    l.push_transition(
        ms(110),
        false,
        State::FinWait1,
        State::Closing,
        "FIN received",
    );
    l.push_segment(
        ms(110),
        Some(ms(120)),
        false,
        pkt(false, s + 1, c + 1, F_ACK, 65535, None, b""),
    );
    l.push_transition(ms(120), true, State::Closing, State::TimeWait, "ACK of FIN");
    l.push_transition(
        ms(120),
        false,
        State::Closing,
        State::TimeWait,
        "ACK of FIN",
    );
    let text = render_text(&l, &opts());
    let lines: Vec<&str> = text.lines().collect();
    let expected = [
        "      time  client 10.0.0.1:49152                                        server 10.0.0.2:80",
        "            ESTABLISHED                                                  ESTABLISHED",
        "  0.100000  FIN-WAIT-1    (ESTABLISHED → FIN-WAIT-1: close)",
        "  0.100000  FIN-WAIT-1    ── FIN-ACK seq=1 ack=1 win=65535 ─────┄┄┄┄┄┄┄",
        "  0.100000                            (ESTABLISHED → FIN-WAIT-1: close)  FIN-WAIT-1",
        "  0.100000  CLOSING       <── FIN-ACK seq=1 ack=1 win=65535 ───────────  FIN-WAIT-1",
        "  0.110000  CLOSING       ── ACK seq=2 ack=2 win=65535 ───────┄┄┄┄┄┄┄┄┄",
        "  0.110000                ┄┄ FIN-ACK seq=1 ack=1 (sent 0.100000) ┄┄┄┄┄>  CLOSING",
        "  0.110000  TIME-WAIT     <── ACK seq=2 ack=2 win=65535 ───────────────  CLOSING",
        "  0.120000                ┄┄ ACK seq=2 ack=2 (sent 0.110000) ┄┄┄┄┄┄┄┄┄>  TIME-WAIT",
    ];
    // The left FIN departs while the right is still ESTABLISHED and only arrives (CLOSING)
    // after the right has closed too, so it is drawn as a departure and a later arrival.
    assert_eq!(lines, expected, "\n{text}");
    let json = render_json(&l);
    let ev = json["events"].as_array().expect("events");
    let closing: Vec<_> = ev
        .iter()
        .filter(|e| e["type"] == "segment" && e["flags"] == "FIN|ACK")
        .map(|e| (e["left_state"].clone(), e["right_state"].clone()))
        .collect();
    assert_eq!(closing.len(), 2);
    assert_eq!(
        closing[0],
        (
            serde_json::json!("FIN-WAIT-1"),
            serde_json::json!("CLOSING")
        )
    );
}

#[test]
fn collapse_data_rows() {
    let mut l = handshake();
    let mut t = 30;
    for k in 0..20u32 {
        let seq = CISN + 1 + k * 100;
        l.push_segment(
            ms(t),
            Some(ms(t + 10)),
            true,
            pkt(true, seq, SISN + 1, F_PSH | F_ACK, 65535, None, &[7u8; 100]),
        );
        l.push_segment(
            ms(t + 10),
            Some(ms(t + 20)),
            false,
            pkt(false, SISN + 1, seq + 100, F_ACK, 65535, None, b""),
        );
        t += 20;
    }
    l.push_transition(ms(t), true, State::Established, State::FinWait1, "close");
    l.push_segment(
        ms(t),
        Some(ms(t + 10)),
        true,
        pkt(true, CISN + 2001, SISN + 1, F_FIN | F_ACK, 65535, None, b""),
    );
    l.push_transition(
        ms(t + 10),
        false,
        State::Established,
        State::CloseWait,
        "FIN received",
    );
    let full = render_text(&l, &opts());
    let short = render_text(
        &l,
        &RenderOptions {
            collapse: Some(2),
            ..opts()
        },
    );
    assert_eq!(full.lines().count(), 6 + 40 + 2);
    assert!(
        short.contains("… 36 data segments and ACKs, 0.050000 to 0.400000 …"),
        "{short}"
    );
    assert_eq!(short.lines().count(), 6 + 4 + 1 + 2, "{short}");
    assert!(
        short
            .lines()
            .last()
            .is_some_and(|l| l.ends_with("CLOSE-WAIT")),
        "{short}"
    );
}

#[test]
fn json_shape() {
    let v = render_json(&handshake());
    assert_eq!(v["left"]["name"], "client");
    assert_eq!(v["left"]["port"], 49152);
    assert_eq!(v["right"]["isn"], SISN);
    let ev = v["events"].as_array().expect("events");
    assert_eq!(ev[0]["type"], "transition");
    assert_eq!(ev[0]["to"], "SYN-SENT");
    let syn = &ev[1];
    assert_eq!(syn["type"], "segment");
    assert_eq!(syn["dir"], "->");
    assert_eq!(syn["flags"], "SYN");
    assert_eq!(syn["seq"], CISN);
    assert_eq!(syn["rel_seq"], 0);
    assert_eq!(syn["ack"], serde_json::Value::Null);
    assert_eq!(syn["options"]["mss"], 1460);
    assert_eq!(syn["lost"], false);
    assert_eq!(syn["left_state"], "SYN-SENT");
    assert_eq!(syn["right_state"], "SYN-RECEIVED");
    assert_eq!(ev[2]["type"], "transition");
    assert_eq!(ev[2]["to"], "SYN-RECEIVED");
    assert_eq!(ev[2]["by_segment"], true);
    let synack = &ev[3];
    assert_eq!(synack["dir"], "<-");
    assert_eq!(synack["flags"], "SYN|ACK");
    assert_eq!(synack["rel_ack"], 1);
    assert_eq!(synack["left_state"], "ESTABLISHED");
    assert_eq!(ev[5]["flags"], "ACK");
    assert_eq!(ev[5]["right_state"], "ESTABLISHED");
    assert_eq!(ev.len(), 7);
}

#[test]
fn words() {
    assert_eq!(flags_words(0x12), "SYN-ACK");
    assert_eq!(flags_words(0x18), "PSH-ACK");
    assert_eq!(flags_words(0x11), "FIN-ACK");
    assert_eq!(flags_words(0x14), "RST-ACK");
    assert_eq!(flags_words(0x04), "RST");
    assert_eq!(flags_words(0x19), "FIN-PSH-ACK");
    assert_eq!(flags_words(0), "NULL");
}

#[test]
fn stats_count_directions() {
    let st = ladder_stats(&handshake());
    assert_eq!(st.segments, [2, 1]);
    assert_eq!(st.lost, [0, 0]);
    assert_eq!(st.retransmissions, [0, 0]);
}
