//! Ladders fit the width asked for (issue 23): the arrow column shrinks, labels shed options,
//! notes move onto continuation lines.

use std::net::{IpAddr, Ipv4Addr};

use synack_proto::{Instant, State};
use synack_wire::TcpOptions;

use super::*;

const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

fn pkt(
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    options: TcpOptions,
    len: usize,
) -> Vec<u8> {
    let ends = crate::test_frames::Ends::between((C, 49152), (S, 80), from_client);
    crate::test_frames::ipv4_tcp(ends, 0, seq, ack, flags, 2048, options, &vec![0; len])
}

fn ms(m: u64) -> Instant {
    Instant::from_millis(m)
}

/// A handshake with every option a Linux SYN carries, then one data segment that is lost.
fn wide() -> Ladder {
    let syn_opts = |ts: (u32, u32)| TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(ts),
        ..TcpOptions::default()
    };
    let ts = |v: u32, e: u32| TcpOptions {
        timestamps: Some((v, e)),
        ..TcpOptions::default()
    };
    let mut l = Ladder::new("client", IpAddr::V4(C), "server", IpAddr::V4(S));
    l.push_transition(ms(0), true, State::Closed, State::SynSent, "connect");
    l.push_segment(
        ms(0),
        Some(ms(10)),
        true,
        pkt(true, 540_084_244, 0, SYN, syn_opts((2_087_669_895, 0)), 0),
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
        pkt(
            false,
            1_105_579_515,
            540_084_245,
            SYN | ACK,
            syn_opts((3_835_896_202, 2_087_669_895)),
            0,
        ),
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
        pkt(
            true,
            540_084_245,
            1_105_579_516,
            ACK,
            ts(2_087_669_915, 3_835_896_202),
            0,
        ),
    );
    l.push_transition(
        ms(30),
        false,
        State::SynReceived,
        State::Established,
        "ACK of SYN",
    );
    l.push_segment(
        ms(40),
        None,
        true,
        pkt(
            true,
            540_084_245,
            1_105_579_516,
            PSH | ACK,
            ts(2_087_669_935, 3_835_896_202),
            1448,
        ),
    );
    l
}

fn render(width: usize) -> String {
    let o = RenderOptions {
        width,
        ..RenderOptions::default()
    };
    render_text(&wide(), &o)
}

#[test]
fn every_line_fits_the_width_asked_for() {
    for width in [64, 72, 80, 100, 120] {
        let text = render(width);
        for line in text.lines() {
            // Columns are characters: the arrows are box-drawing characters of three bytes.
            assert!(
                line.chars().count() <= width,
                "width {width}: {line:?}\n{text}"
            );
        }
        // The arrows fill the width: the widest line is exactly as wide as asked.
        let widest = text.lines().map(|l| l.chars().count()).max();
        assert_eq!(widest, Some(width), "{text}");
    }
}

#[test]
fn labels_shed_timestamps_then_window_then_isn_and_notes_go_below() {
    // At 100 the SYNs lose their timestamps, window and (the SYN-ACK) scale, and keep the ISN;
    // the ACK has room for its timestamps.
    let text = render(100);
    for want in [
        "── SYN seq=0 (isn 540084244) mss=1460 wscale=7 sackOK ─────>  SYN-RECEIVED\n",
        "<── SYN-ACK seq=0 (isn 1105579515) ack=1 mss=1460 sackOK ───  SYN-RECEIVED\n",
        "── ACK seq=1 ack=1 win=2048 ts=2087669915/3835896202 ──────>  ESTABLISHED\n",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    // At 80 the ISNs go too.
    let text = render(80);
    let lines: Vec<&str> = text.lines().collect();
    let expected = [
        "      time  client 10.0.0.1:49152                             server 10.0.0.2:80",
        "            CLOSED                                                  LISTEN",
        "  0.000000  SYN-SENT      (CLOSED → SYN-SENT: connect)",
        "  0.000000  SYN-SENT      ── SYN seq=0 mss=1460 sackOK ──────────>  SYN-RECEIVED",
        "  0.010000  ESTABLISHED   <── SYN-ACK seq=0 ack=1 mss=1460 ───────  SYN-RECEIVED",
        "  0.020000  ESTABLISHED   ── ACK seq=1 ack=1 win=2048 ───────────>  ESTABLISHED",
        "  0.040000  ESTABLISHED   ── PSH-ACK seq=1 ack=1 len=1448 ───────✗",
        // The note, under the label rather than widening the line.
        "                             [lost]",
    ];
    assert_eq!(lines, expected, "\n{text}");
}

#[test]
fn below_the_minimum_arrow_the_numbers_move_below_rather_than_vanish() {
    // 64 columns leave the arrow its minimum (24): `PSH-ACK seq=1` stays on it, the ack and
    // length lead the continuation line, before the note.
    let text = render(64);
    // A transition runs over the other side's empty state column before it is cut.
    assert!(
        text.contains("SYN-SENT      (CLOSED → SYN-SENT: connect)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "── PSH-ACK seq=1 ──────✗\n                             ack=1 len=1448 [lost]\n"
        ),
        "{text}"
    );
}

#[test]
fn width_zero_draws_every_label_whole() {
    let text = render(0);
    assert!(
        text.contains(
            "── SYN seq=0 (isn 540084244) win=2048 mss=1460 wscale=7 sackOK ts=2087669895/0 ──"
        ),
        "{text}"
    );
    assert!(
        text.contains("ts=2087669935/3835896202 [lost] ──"),
        "{text}"
    );
}
