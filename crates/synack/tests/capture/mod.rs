//! What the packet hooks and the pcap tee saw, and the checks that it is what was on the wire:
//! shared by `packet_hooks.rs` (in memory) and `tun_offload.rs` (the kernel's unsplit
//! datagrams). Included with `mod capture;`.
#![allow(dead_code)]

use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use synack::{Device, Direction, Wakeup};
use synack_wire::{Error, Packet, TcpFlags};

/// A datagram and the way it went.
pub type Seen = (Direction, Vec<u8>);

/// Datagrams in the order they were seen.
#[derive(Clone, Default)]
pub struct Log(pub Arc<Mutex<Vec<Seen>>>);

impl Log {
    /// A `StackBuilder::on_packet` hook that copies every datagram into this log.
    pub fn hook(&self) -> impl FnMut(synack_proto::Instant, Direction, &[u8]) + Send + 'static {
        let log = self.clone();
        move |_, dir, p| log.0.lock().unwrap().push((dir, p.to_vec()))
    }

    /// The datagrams that went `dir`.
    pub fn only(&self, dir: Direction) -> Vec<Vec<u8>> {
        let v = self.0.lock().unwrap();
        v.iter()
            .filter(|(d, _)| *d == dir)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// A device that copies what its inner device's `recv` returned, before the stack thread
/// does anything with the buffer: the ground truth of what arrived.
pub struct Tap<D> {
    pub inner: D,
    pub log: Log,
}

impl<D: Device> Device for Tap<D> {
    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<Option<usize>> {
        let r = self.inner.recv(buf, timeout)?;
        if let Some(n) = r {
            let p = buf[..n.min(buf.len())].to_vec();
            self.log.0.lock().unwrap().push((Direction::In, p));
        }
        Ok(r)
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.inner.send(packet)
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn recv_len(&self) -> usize {
        self.inner.recv_len()
    }
    fn send_batch(&mut self, buf: &[u8], lens: &[usize]) -> usize {
        self.inner.send_batch(buf, lens)
    }
    fn wakeup(&self) -> Wakeup {
        self.inner.wakeup()
    }
}

/// A `Write` into shared memory, for `PcapWriter::new`.
#[derive(Clone, Default)]
pub struct Sink(pub Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// The records of the classic pcap written here (`LINKTYPE_RAW`), each whole: a record
    /// cut by the snap length fails the test.
    pub fn records(&self) -> Vec<Vec<u8>> {
        let b = self.0.lock().unwrap();
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        assert_eq!(u32_at(0), 0xa1b2_c3d4, "pcap magic");
        assert_eq!(u32_at(20), 101, "LINKTYPE_RAW");
        let mut out = Vec::new();
        let mut at = 24;
        while at < b.len() {
            let (caplen, len) = (u32_at(at + 8), u32_at(at + 12));
            assert_eq!(caplen, len, "pcap record {} cut short", out.len());
            out.push(b[at + 16..at + 16 + caplen].to_vec());
            at += 16 + caplen;
        }
        out
    }
}

/// The records of a capture that came from (`Out`) `local` or not (`In`).
pub fn by_direction(records: &[Vec<u8>], local: IpAddr, dir: Direction) -> Vec<Vec<u8>> {
    records
        .iter()
        .filter(|p| {
            let src = match synack_wire::parse_ip(p) {
                Ok(Packet::Tcp(ip, _) | Packet::Other(ip)) => ip.src_addr(),
                Ok(Packet::Icmpv4(ip, _)) => ip.src_addr.into(),
                Ok(Packet::Icmpv6(ip, _)) => ip.src_addr.into(),
                Err(e) => panic!("an invalid datagram in the capture: {e:?}"),
            };
            (src == local) == (dir == Direction::Out)
        })
        .cloned()
        .collect()
}

/// Both lists hold the same datagrams, byte for byte, in the same order.
pub fn assert_same_datagrams(what: &str, got: &[Vec<u8>], want: &[Vec<u8>]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            let at = g.iter().zip(w).position(|(a, b)| a != b);
            panic!(
                "{what}: datagram {i} differs ({} bytes against {}; first differing byte {at:?})",
                g.len(),
                w.len()
            );
        }
    }
    assert_eq!(got.len(), want.len(), "{what}: datagram count");
}

/// What [`check_stream`] found.
#[derive(Debug, Default)]
pub struct Stream {
    pub segments: usize,
    /// Segments whose text was at least 4 KiB (`Config::keep_packets_min`: the receiver may
    /// keep their buffer).
    pub large: usize,
    pub largest: usize,
}

/// Every datagram parses with valid checksums (IP, TCP: RFC 9293 MUST-2/3, ICMP), and the text
/// of every segment from port `src_port` to port `dst_port` is `want` at its sequence number
/// (ISN from the flow's SYN); the segments cover all of `want` and the FIN follows it.
pub fn check_stream(datagrams: &[Vec<u8>], src_port: u16, dst_port: u16, want: &[u8]) -> Stream {
    let mut isn = None;
    let mut ranges = Vec::new();
    let mut fin = false;
    let mut st = Stream::default();
    for (i, p) in datagrams.iter().enumerate() {
        let tcp = match synack_wire::parse_ip(p) {
            Ok(Packet::Tcp(_, tcp)) => tcp,
            Ok(_) => continue, // ICMP (the kernel's router solicitations, ...)
            Err(Error::BadChecksum) => panic!("datagram {i}: bad checksum"),
            Err(e) => panic!("datagram {i}: invalid: {e:?}"),
        };
        if (tcp.src_port, tcp.dst_port) != (src_port, dst_port) {
            continue;
        }
        if tcp.flags.contains(TcpFlags::SYN) {
            isn = Some(tcp.seq_number);
            continue;
        }
        let isn = isn.unwrap_or_else(|| panic!("datagram {i}: text before the SYN"));
        let off = tcp.seq_number.wrapping_sub(isn).wrapping_sub(1) as usize;
        let text = tcp.payload;
        if !text.is_empty() {
            let end = off + text.len();
            assert!(
                end <= want.len(),
                "datagram {i}: text past the end ({off}..{end})"
            );
            if text != &want[off..end] {
                let at = text.iter().zip(&want[off..end]).position(|(a, b)| a != b);
                panic!("datagram {i}: text at seq {off}..{end} differs at {at:?}");
            }
            ranges.push((off, end));
            st.segments += 1;
            st.large += usize::from(text.len() >= 4096);
            st.largest = st.largest.max(text.len());
        }
        if tcp.flags.contains(TcpFlags::FIN) {
            assert_eq!(off + text.len(), want.len(), "datagram {i}: FIN at the end");
            fin = true;
        }
    }
    // Retransmissions and reordering allowed: the union of the ranges is the whole stream.
    ranges.sort_unstable();
    let covered = ranges.iter().fold(
        0,
        |reach, &(a, b)| if a <= reach { reach.max(b) } else { reach },
    );
    assert_eq!(covered, want.len(), "the segments cover the stream");
    assert!(fin, "the FIN was seen");
    st
}
