//! Capture files built byte by byte: every container and link type the reader claims, broken
//! files, repaired checksums and cut payloads, and the inference on hand-made connections.

use std::net::{Ipv4Addr, Ipv6Addr};

use synack_wire::{emit_ipv6_tcp, Ipv6Repr, TcpFlags, TcpOptions, TcpRepr};

use crate::pcap::{self, linktype};
use crate::segments::Filter;
use crate::test_frames::{ipv4_tcp, Ends};
use crate::{render_html, render_json, render_text, trace_capture, HtmlOptions, HtmlPart};
use crate::{RenderOptions, TraceOptions};

const A: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const B: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);

fn v4(a_to_b: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let ends = Ends::between((A, 40000), (B, 80), a_to_b);
    ipv4_tcp(
        ends,
        1,
        seq,
        ack,
        flags,
        1000,
        TcpOptions::default(),
        payload,
    )
}

fn v6(seq: u32, flags: u8) -> Vec<u8> {
    let ip = Ipv6Repr {
        src_addr: Ipv6Addr::LOCALHOST,
        dst_addr: Ipv6Addr::LOCALHOST,
        next_header: 6,
        payload_len: 0,
        hop_limit: 64,
        traffic_class: 0,
    };
    let tcp = TcpRepr {
        src_port: 5000,
        dst_port: 6000,
        seq_number: seq,
        ack_number: 0,
        flags: TcpFlags(flags),
        window_len: 1000,
        urgent_pointer: 0,
        options: TcpOptions::default(),
        payload: b"",
    };
    let mut buf = vec![0u8; 200];
    let n = emit_ipv6_tcp(&ip, &tcp, &mut buf).expect("emit");
    buf.truncate(n);
    buf
}

fn ether(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(if ip[0] >> 4 == 6 {
        &[0x86, 0xdd]
    } else {
        &[0x08, 0x00]
    });
    f.extend_from_slice(ip);
    f
}

/// A classic pcap, little-endian, microseconds: (time in µs, frame bytes).
fn pcap_file(link: u32, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&link.to_le_bytes());
    for (t, data) in frames {
        f.extend_from_slice(&((t / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(&(data.len() as u32).to_le_bytes());
        f.extend_from_slice(data);
    }
    f
}

/// A big-endian pcapng with one interface at nanosecond resolution.
fn pcapng_file(link: u16, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, ty: u32, body: &[u8]) {
        let len = 12 + body.len().div_ceil(4) * 4;
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + (len - 12 - body.len()), 0);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    let mut f = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b3c4du32.to_be_bytes());
    shb.extend_from_slice(&1u16.to_be_bytes());
    shb.extend_from_slice(&0u16.to_be_bytes());
    shb.extend_from_slice(&u64::MAX.to_be_bytes());
    block(&mut f, 0x0a0d0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend_from_slice(&link.to_be_bytes());
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&0u32.to_be_bytes());
    idb.extend_from_slice(&[0, 9, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0]); // if_tsresol = 10^-9
    block(&mut f, 1, &idb);
    for (t_us, data) in frames {
        let ts = t_us * 1000;
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_be_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_be_bytes());
        epb.extend_from_slice(&(ts as u32).to_be_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_be_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_be_bytes());
        epb.extend_from_slice(data);
        block(&mut f, 6, &epb);
    }
    f
}

const S: u8 = 0x02;
const SA: u8 = 0x12;
const AK: u8 = 0x10;
const FA: u8 = 0x11;
const PA: u8 = 0x18;
const RA: u8 = 0x14;

/// Handshake, "hello", close by A.
fn conversation() -> Vec<Vec<u8>> {
    vec![
        v4(true, 100, 0, S, b""),
        v4(false, 900, 101, SA, b""),
        v4(true, 101, 901, AK, b""),
        v4(true, 101, 901, PA, b"hello"),
        v4(false, 901, 106, AK, b""),
        v4(true, 106, 901, FA, b""),
        v4(false, 901, 107, FA, b""),
        v4(true, 107, 902, AK, b""),
    ]
}

fn timed(frames: Vec<Vec<u8>>) -> Vec<(u64, Vec<u8>)> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| (1_700_000_000_000_000 + i as u64 * 1000, f))
        .collect()
}

fn states(bytes: &[u8]) -> Vec<(String, String)> {
    let res = trace_capture(bytes, &TraceOptions::default()).expect("trace");
    let c = &res.connections[0];
    vec![
        (
            c.summary.initial_states[0].name().to_string(),
            c.summary.final_states[0].name().to_string(),
        ),
        (
            c.summary.initial_states[1].name().to_string(),
            c.summary.final_states[1].name().to_string(),
        ),
    ]
}

#[test]
fn every_container_and_link_type_reads_the_same_connection() {
    let ip = conversation();
    let sll = |p: &Vec<u8>| {
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(p);
        f
    };
    let sll2 = |p: &Vec<u8>| {
        let mut f = vec![0x08, 0x00];
        f.extend_from_slice(&[0; 18]);
        f.extend_from_slice(p);
        f
    };
    let files = [
        pcap_file(
            linktype::ETHERNET,
            &timed(ip.iter().map(|p| ether(p)).collect()),
        ),
        pcap_file(linktype::RAW, &timed(ip.clone())),
        pcap_file(linktype::RAW_12, &timed(ip.clone())),
        pcap_file(linktype::LINUX_SLL, &timed(ip.iter().map(sll).collect())),
        pcap_file(linktype::LINUX_SLL2, &timed(ip.iter().map(sll2).collect())),
        pcapng_file(1, &timed(ip.iter().map(|p| ether(p)).collect())),
        pcapng_file(101, &timed(ip.clone())),
    ];
    for f in &files {
        let res = trace_capture(f, &TraceOptions::default()).expect("trace");
        assert_eq!(res.frames, 8);
        assert_eq!(res.tcp_segments, 8, "{}", res.format);
        assert!(res.warnings.is_empty(), "{:?}", res.warnings);
        assert_eq!(
            states(f),
            vec![
                ("CLOSED".into(), "TIME-WAIT".into()),
                ("LISTEN".into(), "CLOSED".into())
            ]
        );
        let c = &res.connections[0];
        assert_eq!(c.summary.payload_bytes, [5, 0]);
        assert_eq!(c.summary.closed_first, Some((0, "FIN")));
        assert_eq!(
            c.summary.handshake_ns,
            Some((1_000_000, 1_000_000, 2_000_000))
        );
    }
    // pcapng keeps nanoseconds: frame 2 is exactly 1 ms after frame 1.
    let cap = pcap::read(&files[5]).expect("read");
    assert_eq!(cap.frames[1].ts_ns - cap.frames[0].ts_ns, 1_000_000);
}

#[test]
fn ipv6_segments_are_traced() {
    // The second SYN a second later: a retransmission (within 3 ms Wireshark would call it
    // out of order).
    let f = pcap_file(linktype::RAW, &[(0, v6(7, S)), (1_000_000, v6(7, S))]);
    let res = trace_capture(&f, &TraceOptions::default()).expect("trace");
    assert_eq!(res.connections.len(), 1);
    let text = render_text(&res.connections[0].ladder, &RenderOptions::default());
    assert!(text.contains("[::1]:5000"), "{text}");
    assert!(text.contains("[retransmission]"), "{text}");
}

#[test]
fn broken_files_never_panic_and_keep_what_came_before() {
    let good = pcap_file(linktype::RAW, &timed(conversation()));
    for cut in 0..good.len() {
        let _ = trace_capture(&good[..cut], &TraceOptions::default());
    }
    let ng = pcapng_file(101, &timed(conversation()));
    for cut in 0..ng.len() {
        let _ = trace_capture(&ng[..cut], &TraceOptions::default());
    }
    // Flip every byte of a few frames' worth in turn.
    for i in 0..good.len().min(400) {
        let mut bad = good.clone();
        bad[i] ^= 0xff;
        let _ = trace_capture(&bad, &TraceOptions::default());
        let mut bad = ng.clone();
        bad[i % ng.len()] = 0xff;
        let _ = trace_capture(&bad, &TraceOptions::default());
    }
    let half = &good[..good.len() - 10];
    let res = trace_capture(half, &TraceOptions::default()).expect("a pcap");
    assert_eq!(res.frames, 7);
    assert_eq!(res.warnings.len(), 1, "{:?}", res.warnings);
    assert!(trace_capture(b"hello world", &TraceOptions::default()).is_err());
}

#[test]
fn bad_checksums_are_repaired_and_cut_payloads_padded() {
    let mut frames = conversation();
    frames[3][36] ^= 0x55; // TCP checksum of the data segment (20 IP + 16)
    let mut f = timed(frames);
    f[3].1.truncate(20 + 20 + 2); // snaplen cut "hello" to "he"
    let bytes = pcap_file(linktype::RAW, &f);
    let res = trace_capture(&bytes, &TraceOptions::default()).expect("trace");
    let c = &res.connections[0];
    assert_eq!(res.tcp_segments, 8);
    assert_eq!(c.summary.payload_bytes, [5, 0]);
    let j = render_json(&c.ladder);
    let notes = j["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e.get("notes"))
        .flat_map(|n| n.as_array().cloned().unwrap_or_default())
        .filter(|n| n["kind"] == "truncated")
        .count();
    assert_eq!(notes, 1);
}

#[test]
fn mid_connection_captures_start_established_and_still_close() {
    let bytes = pcap_file(linktype::RAW, &timed(conversation()[3..].to_vec()));
    assert_eq!(
        states(&bytes),
        vec![
            ("ESTABLISHED".into(), "TIME-WAIT".into()),
            ("ESTABLISHED".into(), "CLOSED".into())
        ]
    );
    let res = trace_capture(&bytes, &TraceOptions::default()).expect("trace");
    assert!(res.connections[0].summary.mid_connection);
}

#[test]
fn a_lost_fin_leaves_the_receiver_where_it_was_until_the_resend() {
    let mut f = conversation();
    // A's FIN (index 5) is sent again before B acknowledges it.
    f.insert(6, v4(true, 106, 901, FA, b""));
    let bytes = pcap_file(linktype::RAW, &timed(f));
    let res = trace_capture(&bytes, &TraceOptions::default()).expect("trace");
    let j = render_json(&res.connections[0].ladder);
    let ev = j["events"].as_array().expect("events");
    let fins: Vec<_> = ev
        .iter()
        .filter(|e| e["type"] == "segment" && e["flags"] == "FIN|ACK" && e["dir"] == "->")
        .collect();
    assert_eq!(fins.len(), 2);
    assert_eq!(fins[0]["lost"], true);
    assert_eq!(fins[0]["right_state"], serde_json::Value::Null);
    assert_eq!(fins[1]["right_state"], "CLOSE-WAIT");
    // 1 ms after the first, inside the handshake RTT: Wireshark's "out of order".
    assert_eq!(fins[1]["notes"][0]["kind"], "out_of_order");
}

#[test]
fn refused_connections_say_why_and_filters_choose() {
    let mut f = conversation();
    f.push(v4(true, 5000, 0, S, b""));
    f.push(v4(false, 0, 5001, RA, b""));
    let bytes = pcap_file(linktype::RAW, &timed(f));
    let res = trace_capture(&bytes, &TraceOptions::default()).expect("trace");
    assert_eq!(
        res.connections.len(),
        2,
        "a new SYN on the same ports is a new connection"
    );
    let text = render_text(&res.connections[1].ladder, &RenderOptions::default());
    assert!(text.contains("nothing listens on port 80"), "{text}");
    let only2 = TraceOptions {
        conn: Some(2),
        filter: None,
    };
    assert_eq!(
        trace_capture(&bytes, &only2).expect("t").connections.len(),
        1
    );
    let none = TraceOptions {
        conn: None,
        filter: Some(Filter::parse("port 443").expect("filter")),
    };
    assert!(trace_capture(&bytes, &none)
        .expect("t")
        .connections
        .is_empty());
    let both = TraceOptions {
        conn: None,
        filter: Some(Filter::parse("192.168.1.20 port 80").expect("filter")),
    };
    assert_eq!(
        trace_capture(&bytes, &both).expect("t").connections.len(),
        2
    );
    assert!(Filter::parse("port").is_err());
}

#[test]
fn the_page_has_one_arrow_per_segment() {
    let bytes = pcap_file(linktype::RAW, &timed(conversation()));
    let res = trace_capture(&bytes, &TraceOptions::default()).expect("trace");
    let c = &res.connections[0];
    let page = render_html(
        &[HtmlPart {
            heading: c.summary.title(),
            ladder: &c.ladder,
            summary: c.summary.text(),
        }],
        &HtmlOptions::default(),
    );
    assert_eq!(page.matches("<g class=\"arrow").count(), 8);
    assert_eq!(page.matches("<svg").count(), 1);
    assert!(page.contains("TIME-WAIT"));
    assert!(!page.contains("src=\"http"), "no fetches");
}
