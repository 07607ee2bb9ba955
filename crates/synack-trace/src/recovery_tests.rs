//! RACK-TLP named from captures (RFC 8985 §6, §7; [`crate::recovery`]): hand-built segment
//! sequences, and the notes on each frame exactly.

use std::net::Ipv4Addr;

use synack_wire::{SackBlocks, TcpOptions};

use crate::test_frames::{ipv4_tcp, Ends};

use crate::pcap::linktype;
use crate::{render_html, render_json, render_text, trace_capture};
use crate::{HtmlOptions, HtmlPart, RenderOptions, TraceOptions};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const S: u8 = 0x02;
const SA: u8 = 0x12;
const AK: u8 = 0x10;
const PA: u8 = 0x18;

/// One frame: (time in µs, A→B?, seq, ack, flags, payload length, SACK blocks).
type F = (u64, bool, u32, u32, u8, usize, &'static [(u32, u32)]);

fn packet(&(_, a_to_b, seq, ack, flags, len, sack): &F) -> Vec<u8> {
    let mut options = TcpOptions {
        sack_permitted: flags & S != 0,
        ..TcpOptions::default()
    };
    let mut blocks = SackBlocks::new();
    for &(l, r) in sack {
        assert!(blocks.push(l, r));
    }
    options.sack_blocks = blocks;
    let ends = Ends::between((A, 40000), (B, 80), a_to_b);
    ipv4_tcp(ends, 1, seq, ack, flags, 60000, options, &vec![b'x'; len])
}

/// A raw-IP pcap of the frames, after a handshake at 0, 10 and 20 ms (A's ISN 100, B's 900).
fn capture(frames: &[F]) -> Vec<u8> {
    let hs: [F; 3] = [
        (0, true, 100, 0, S, 0, &[]),
        (10_000, false, 900, 101, SA, 0, &[]),
        (20_000, true, 101, 901, AK, 0, &[]),
    ];
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&linktype::RAW.to_le_bytes());
    for fr in hs.iter().chain(frames) {
        let t = 1_700_000_000_000_000 + fr.0;
        let data = packet(fr);
        f.extend_from_slice(&((t / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(&data);
    }
    f
}

/// The recovery notes (and Wireshark's retransmission flags) of each frame after the
/// handshake, by frame number.
fn notes(bytes: &[u8]) -> Vec<(u64, Vec<String>)> {
    let res = trace_capture(bytes, &TraceOptions::default()).expect("trace");
    assert_eq!(res.connections.len(), 1);
    let keep = [
        "tail_loss_probe",
        "rack_retransmission",
        "fast_retransmission",
        "retransmission",
        "spurious_retransmission",
        "duplicate_ack",
    ];
    res.connections[0]
        .ladder
        .annotations
        .values()
        .filter_map(|a| a.frame.map(|f| (f, a)))
        .filter(|(f, _)| *f > 3)
        .map(|(f, a)| {
            let kinds = a
                .notes
                .iter()
                .filter(|n| keep.contains(&n.kind.as_str()))
                .map(|n| n.kind.clone())
                .collect();
            (f, kinds)
        })
        .collect()
}

fn k(kinds: &[&str]) -> Vec<String> {
    kinds.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rfc8985_7_a_resend_of_the_last_segment_is_a_probe_and_the_hole_below_the_sack_is_rack() {
    // A sends three segments; B acknowledges the first and then nothing. 60 ms later A resends
    // the last one only: a tail loss probe (a timeout would resend from SND.UNA = 201). B's
    // answer SACKs it and reveals the hole 201-301, which A resends on that one duplicate ACK:
    // a RACK retransmission (§6), not a fast one (Wireshark wants two more dup ACKs).
    let cap = capture(&[
        (30_000, true, 101, 901, PA, 100, &[]),
        (30_100, true, 201, 901, PA, 100, &[]),
        (30_200, true, 301, 901, PA, 100, &[]),
        (50_000, false, 901, 201, AK, 0, &[]),
        (90_000, true, 301, 901, PA, 100, &[]),
        (110_000, false, 901, 201, AK, 0, &[(301, 401)]),
        (110_100, true, 201, 901, PA, 100, &[]),
        (130_000, false, 901, 401, AK, 0, &[]),
    ]);
    assert_eq!(
        notes(&cap),
        vec![
            (4, k(&[])),
            (5, k(&[])),
            (6, k(&[])),
            (7, k(&[])),
            (8, k(&["tail_loss_probe", "retransmission"])),
            (9, k(&["duplicate_ack"])),
            (10, k(&["rack_retransmission", "retransmission"])),
            (11, k(&[])),
        ]
    );
    // All three outputs name them.
    let res = trace_capture(&cap, &TraceOptions::default()).expect("trace");
    let ladder = &res.connections[0].ladder;
    let text = render_text(ladder, &RenderOptions::default());
    assert!(
        // At the default width the notes sit on the line under the arrow.
        text.contains("len=100 win=60000 ───")
            && text.contains("   [tail loss probe] [retransmission]\n"),
        "{text}"
    );
    assert!(
        text.contains("[RACK retransmission] [retransmission]"),
        "{text}"
    );
    let json = render_json(ladder).to_string();
    assert!(
        json.contains(r#"{"kind":"tail_loss_probe","text":"tail loss probe"}"#),
        "{json}"
    );
    assert!(json.contains(r#""kind":"rack_retransmission""#), "{json}");
    let html = render_html(
        &[HtmlPart {
            heading: "t".into(),
            ladder,
            summary: String::new(),
        }],
        &HtmlOptions::default(),
    );
    assert!(html.contains("[tail loss probe]"), "no probe in the page");
    assert!(
        html.contains("[RACK retransmission]"),
        "no RACK in the page"
    );
}

#[test]
fn rfc6298_5_4_a_timeout_resends_from_snd_una_and_what_follows_it_is_no_probe() {
    // Three segments, the first acknowledged; more than a second later A resends from SND.UNA
    // (201) with 301-401 still outstanding: the retransmission timer, not a probe. Its ACK
    // moves SND.UNA to 301, and the go-back-N resend of the last segment that follows is not
    // a probe either, though it repeats the highest data sent.
    let cap = capture(&[
        (30_000, true, 101, 901, PA, 100, &[]),
        (30_100, true, 201, 901, PA, 100, &[]),
        (30_200, true, 301, 901, PA, 100, &[]),
        (50_000, false, 901, 201, AK, 0, &[]),
        (1_050_000, true, 201, 901, PA, 100, &[]),
        (1_070_000, false, 901, 301, AK, 0, &[]),
        (1_070_100, true, 301, 901, PA, 100, &[]),
        (1_090_000, false, 901, 401, AK, 0, &[]),
    ]);
    assert_eq!(
        notes(&cap),
        vec![
            (4, k(&[])),
            (5, k(&[])),
            (6, k(&[])),
            (7, k(&[])),
            (8, k(&["retransmission"])),
            (9, k(&[])),
            (10, k(&["retransmission"])),
            (11, k(&[])),
        ]
    );
}

#[test]
fn rfc8985_7_2_a_lone_segment_resent_within_a_second_is_a_probe_later_a_timeout() {
    // One segment outstanding: probe and timeout resend the same bytes. 250 ms after it left
    // (2·SRTT + the worst-case delayed ACK) it is a probe; a second resend with no ACK between
    // is a timeout (one probe per flight); so is a first resend 1.1 s after it left.
    let probe = capture(&[
        (30_000, true, 101, 901, PA, 100, &[]),
        (280_000, true, 101, 901, PA, 100, &[]),
        (1_280_000, true, 101, 901, PA, 100, &[]),
        (1_300_000, false, 901, 201, AK, 0, &[]),
    ]);
    assert_eq!(
        notes(&probe),
        vec![
            (4, k(&[])),
            (5, k(&["tail_loss_probe", "retransmission"])),
            (6, k(&["retransmission"])),
            (7, k(&[])),
        ]
    );
    let timeout = capture(&[
        (30_000, true, 101, 901, PA, 100, &[]),
        (1_130_000, true, 101, 901, PA, 100, &[]),
        (1_150_000, false, 901, 201, AK, 0, &[]),
    ]);
    assert_eq!(
        notes(&timeout),
        vec![(4, k(&[])), (5, k(&["retransmission"])), (6, k(&[]))]
    );
}

#[test]
fn rfc8985_7_2_no_probe_in_loss_recovery_even_of_a_lone_segment() {
    // 201-301 is lost and repaired by RACK on the first SACK; 401-501 is lost too and never
    // SACKed. The repair's ACK leaves it alone in flight, but the sender is still in recovery
    // (its recovery point is 501), so its resend 210 ms later is the timer's, not a probe.
    let cap = capture(&[
        (30_000, true, 101, 901, PA, 100, &[]),
        (30_100, true, 201, 901, PA, 100, &[]),
        (30_200, true, 301, 901, PA, 100, &[]),
        (30_300, true, 401, 901, PA, 100, &[]),
        (55_000, false, 901, 201, AK, 0, &[(301, 401)]),
        (55_100, true, 201, 901, PA, 100, &[]),
        (75_000, false, 901, 401, AK, 0, &[]),
        (280_000, true, 401, 901, PA, 100, &[]),
        (300_000, false, 901, 501, AK, 0, &[]),
    ]);
    assert_eq!(
        notes(&cap),
        vec![
            (4, k(&[])),
            (5, k(&[])),
            (6, k(&[])),
            (7, k(&[])),
            (8, k(&[])),
            (9, k(&["rack_retransmission", "retransmission"])),
            (10, k(&[])),
            (11, k(&["retransmission"])),
            (12, k(&[])),
        ]
    );
}

#[test]
fn rfc5681_3_2_a_fast_retransmission_after_three_dup_acks_is_neither_probe_nor_rack() {
    // Five segments, the second lost: B's three SACKing duplicate ACKs, then A resends the
    // hole at once — Wireshark's fast retransmission. A resend of the same hole 30 ms later on
    // those three dup ACKs (too late for "fast") is not RACK's early one either.
    let cap = capture(&[
        (30_000, true, 101, 901, PA, 100, &[]),
        (30_100, true, 201, 901, PA, 100, &[]),
        (30_200, true, 301, 901, PA, 100, &[]),
        (30_300, true, 401, 901, PA, 100, &[]),
        (30_400, true, 501, 901, PA, 100, &[]),
        (50_000, false, 901, 201, AK, 0, &[]),
        (50_200, false, 901, 201, AK, 0, &[(301, 401)]),
        (50_300, false, 901, 201, AK, 0, &[(301, 501)]),
        (50_400, false, 901, 201, AK, 0, &[(301, 601)]),
        (50_500, true, 201, 901, PA, 100, &[]),
        (80_500, true, 201, 901, PA, 100, &[]),
        (100_000, false, 901, 601, AK, 0, &[]),
    ]);
    assert_eq!(
        notes(&cap),
        vec![
            (4, k(&[])),
            (5, k(&[])),
            (6, k(&[])),
            (7, k(&[])),
            (8, k(&[])),
            (9, k(&[])),
            (10, k(&["duplicate_ack"])),
            (11, k(&["duplicate_ack"])),
            (12, k(&["duplicate_ack"])),
            (13, k(&["fast_retransmission", "retransmission"])),
            (14, k(&["retransmission"])),
            (15, k(&[])),
        ]
    );
}
