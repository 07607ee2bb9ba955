//! One-line, tcpdump-like summaries of packets and runs, for failure messages and debugging.

use std::fmt::Write;

use crate::link::Fate;
use crate::sim::Sim;

/// `10.0.0.1:49152 > 10.0.0.2:80 S. seq=1 ack=2 win=65535 len=0`, or why it does not parse.
pub fn summarize(packet: &[u8]) -> String {
    match synack_wire::parse_ipv4_tcp(packet) {
        Ok((ip, tcp)) => format!(
            "{}:{} > {}:{} {} seq={} ack={} win={} len={}",
            ip.src_addr,
            tcp.src_port,
            ip.dst_addr,
            tcp.dst_port,
            tcp.flags.letters(),
            tcp.seq_number,
            tcp.ack_number,
            tcp.window_len,
            tcp.payload.len()
        ),
        Err(e) => format!("unparsable packet of {} bytes ({e:?})", packet.len()),
    }
}

/// The whole run so far, packets and transitions interleaved by time: one line each.
pub fn dump(sim: &Sim) -> String {
    let mut lines: Vec<(u64, u64, String)> = Vec::new();
    for p in sim.packets() {
        let fate = match p.fate {
            Fate::Delivered { at } => format!("-> {at}"),
            Fate::Corrupted { at } => format!("-> {at} CORRUPTED"),
            Fate::Lost => "LOST".to_string(),
            Fate::TooBig => "TOO BIG".to_string(),
            Fate::QueueFull => "QUEUE FULL".to_string(),
            Fate::Filtered => "DROPPED (filter)".to_string(),
        };
        let dup = if p.duplicate_of.is_some() {
            " (dup)"
        } else {
            ""
        };
        lines.push((
            p.sent.as_micros(),
            lines.len() as u64,
            format!("{} #{} {}{dup} {fate}", p.sent, p.id, summarize(&p.data)),
        ));
    }
    for t in sim.transitions() {
        lines.push((
            t.at.as_micros(),
            lines.len() as u64,
            format!(
                "{} {} {} {} -> {} ({})",
                t.at,
                sim.host_name(t.host),
                t.conn,
                t.from,
                t.to,
                t.cause
            ),
        ));
    }
    lines.sort();
    let mut out = String::new();
    for (_, _, l) in lines {
        let _ = writeln!(out, "{l}");
    }
    out
}
