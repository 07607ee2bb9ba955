//! The data passes of row 1 alone, with no TCP around them, one segment at a time, with 256
//! KiB rings as in row 1 and the payload 52 bytes into the packet (IPv4 and TCP with
//! timestamps). The bytes per second they reach are the most the bulk row can reach on this
//! machine with this API (the application's copies are part of the row), whatever the
//! protocol costs. Two receive paths:
//!
//! - ring: application → send ring (`memcpy`), send ring → packet (copy-and-sum), packet →
//!   receive ring (copy-and-sum), receive ring → application (`memcpy`): what a segment
//!   shorter than `Config::keep_packets_min` (4096) takes, or any segment given to
//!   `Endpoint::handle`;
//! - kept: the same two sending passes, then a read-only sum of the packet and packet →
//!   application (`memcpy`): a segment kept in its packet (`Endpoint::handle_owned`).
//!
//! ```text
//! data_path SEGMENT_BYTES [TOTAL_BYTES]     # e.g. 65483 (MTU 65535) or 1448 (MTU 1500)
//! ```
//!
//! The first figure of each path times whole rounds; the per-pass figures time each pass on
//! its own clock reads, which add about 20 ns a pass (noticeable only for small segments).

use std::hint::black_box;
use std::time::Instant;

use synack_wire::checksum::{copy_and_sum, sum};

const RING: usize = 256 * 1024;
const HEADERS: usize = 52;

/// Segments at least this long are kept in their packet by the bulk row's receiver.
const KEEP_MIN: usize = 4096;

struct Path {
    app_out: Vec<u8>,
    app_in: Vec<u8>,
    send_ring: Vec<u8>,
    recv_ring: Vec<u8>,
    packet: Vec<u8>,
    seg: usize,
    at: usize,
}

impl Path {
    fn new(seg: usize) -> Path {
        Path {
            app_out: (0..seg).map(|i| (i * 131 + 7) as u8).collect(),
            app_in: vec![0; seg],
            send_ring: vec![0; RING + seg],
            recv_ring: vec![0; RING + seg],
            packet: vec![0; HEADERS + seg],
            seg,
            at: 0,
        }
    }

    /// One segment through the passes of one path; `lap` is called after each.
    fn round(&mut self, kept: bool, mut lap: impl FnMut(usize)) -> u32 {
        let (at, seg) = (self.at, self.seg);
        self.send_ring[at..at + seg].copy_from_slice(&self.app_out);
        lap(0);
        let payload = &mut self.packet[HEADERS..];
        let sent = copy_and_sum(payload, [&self.send_ring[at..at + seg]]);
        lap(1);
        let got = if kept {
            let got = sum(&self.packet[HEADERS..]);
            lap(2);
            self.app_in.copy_from_slice(&self.packet[HEADERS..]);
            got
        } else {
            let got = copy_and_sum(&mut self.recv_ring[at..at + seg], [&self.packet[HEADERS..]]);
            lap(2);
            self.app_in.copy_from_slice(&self.recv_ring[at..at + seg]);
            got
        };
        lap(3);
        self.at = (at + seg) % RING;
        sent ^ got
    }
}

fn measure(seg: usize, rounds: usize, kept: bool) {
    let mut path = Path::new(seg);
    for _ in 0..rounds.min(1000) {
        black_box(path.round(kept, |_| {}));
    }
    let bytes = (rounds * seg) as f64;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(path.round(kept, |_| {}));
    }
    let whole = start.elapsed().as_secs_f64();
    let mut spent = [0f64; 4];
    for _ in 0..rounds {
        let mut last = Instant::now();
        black_box(path.round(kept, |pass| {
            let now = Instant::now();
            spent[pass] += (now - last).as_secs_f64();
            last = now;
        }));
    }
    let rate = |secs: f64| bytes / secs / 1e9;
    let used = kept == (seg >= KEEP_MIN);
    println!(
        "{seg}-byte segments, {} path: {:.2} GB/s through all four passes{}",
        if kept { "kept" } else { "ring" },
        rate(whole),
        if used {
            " (the path the bulk row takes: its ceiling)"
        } else {
            ""
        }
    );
    let names = if kept {
        [
            "application → send ring (memcpy)",
            "send ring → packet (copy-and-sum)",
            "packet (read-only sum)",
            "packet → application (memcpy)",
        ]
    } else {
        [
            "application → send ring (memcpy)",
            "send ring → packet (copy-and-sum)",
            "packet → receive ring (copy-and-sum)",
            "receive ring → application (memcpy)",
        ]
    };
    for (name, secs) in names.iter().zip(spent) {
        println!("  {name:38} {:6.1} GB/s", rate(secs));
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number of bytes"))
        .collect();
    let seg = *args
        .first()
        .expect("usage: data_path SEGMENT_BYTES [TOTAL_BYTES]");
    let total = args.get(1).copied().unwrap_or(4_000_000_000);
    let rounds = (total / seg.max(1)).max(1);
    measure(seg, rounds, seg >= KEEP_MIN);
    measure(seg, rounds, seg < KEEP_MIN);
}
