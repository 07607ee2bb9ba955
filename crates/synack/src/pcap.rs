//! A tee device: everything that passes through goes to a classic pcap file with
//! `LINKTYPE_RAW` (101: each record is one IP datagram), which Wireshark, tshark, tcpdump and
//! `synack trace` read. Records are buffered and flushed whenever the device goes idle (a
//! `recv` that returns nothing) and when the writer is dropped.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::device::{Device, Wakeup};

/// pcap link type for raw IPv4/IPv6 datagrams.
pub const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 65535;

/// Wraps a device and records every datagram received from or sent to it.
pub struct PcapWriter<D> {
    inner: D,
    out: Box<dyn Write + Send>,
    /// The first write error; recording stops after it, the device keeps working.
    failed: bool,
}

impl<D: Device> PcapWriter<D> {
    /// Record into a new file at `path` (truncated if it exists).
    pub fn create(inner: D, path: impl AsRef<Path>) -> io::Result<PcapWriter<D>> {
        let file = File::create(path)?;
        PcapWriter::new(inner, BufWriter::new(file))
    }

    /// Record into any writer; the pcap header is written at once.
    pub fn new(inner: D, mut out: impl Write + Send + 'static) -> io::Result<PcapWriter<D>> {
        let mut hdr = Vec::with_capacity(24);
        hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // microsecond timestamps
        hdr.extend_from_slice(&2u16.to_le_bytes());
        hdr.extend_from_slice(&4u16.to_le_bytes());
        hdr.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        hdr.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        hdr.extend_from_slice(&SNAPLEN.to_le_bytes());
        hdr.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&hdr)?;
        Ok(PcapWriter {
            inner,
            out: Box::new(out),
            failed: false,
        })
    }

    /// The wrapped device.
    pub fn get_ref(&self) -> &D {
        &self.inner
    }

    fn record(&mut self, packet: &[u8]) {
        if self.failed {
            return;
        }
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let caplen = packet.len().min(SNAPLEN as usize);
        let mut hdr = [0u8; 16];
        hdr[0..4].copy_from_slice(&(ts.as_secs() as u32).to_le_bytes());
        hdr[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
        hdr[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        hdr[12..16].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        // Straight into the writer: no record assembled first (a copy of up to 64 KiB).
        let written = self.out.write_all(&hdr);
        if let Err(e) = written.and_then(|()| self.out.write_all(&packet[..caplen])) {
            tracing::warn!(error = %e, "pcap write failed; recording stopped");
            self.failed = true;
        }
    }

    fn flush(&mut self) {
        if !self.failed {
            if let Err(e) = self.out.flush() {
                tracing::warn!(error = %e, "pcap flush failed; recording stopped");
                self.failed = true;
            }
        }
    }
}

impl<D: Device> Device for PcapWriter<D> {
    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<Option<usize>> {
        let r = self.inner.recv(buf, timeout)?;
        match r {
            Some(n) => self.record(&buf[..n.min(buf.len())]),
            None => self.flush(),
        }
        Ok(r)
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.record(packet);
        self.inner.send(packet)
    }

    /// Records each datagram, then hands the whole batch to the inner device, which may merge
    /// segments (TUN transmit offloads); the capture holds the segments the stack sent.
    fn send_batch(&mut self, buf: &[u8], lens: &[usize]) -> usize {
        let mut off = 0;
        for &len in lens {
            let Some(p) = buf.get(off..off + len) else {
                break;
            };
            self.record(p);
            off += len;
        }
        self.inner.send_batch(buf, lens)
    }

    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn recv_len(&self) -> usize {
        self.inner.recv_len()
    }

    fn wakeup(&self) -> Wakeup {
        self.inner.wakeup()
    }
}

impl<D> Drop for PcapWriter<D> {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryPair;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_both_directions() {
        let (a, mut b) = MemoryPair::new();
        let sink = Shared::default();
        let mut a = PcapWriter::new(a, sink.clone()).unwrap();
        a.send(&[0x45, 1, 2]).unwrap();
        b.send(&[0x45, 9]).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(a.recv(&mut buf, Some(Duration::ZERO)).unwrap(), Some(2));
        let bytes = sink.0.lock().unwrap().clone();
        assert_eq!(bytes.len(), 24 + 16 + 3 + 16 + 2);
        assert_eq!(&bytes[20..24], &101u32.to_le_bytes());
        assert_eq!(&bytes[24 + 16..24 + 19], &[0x45, 1, 2]);
    }

    /// A device that says which send call it got.
    #[derive(Default)]
    struct Batches {
        singles: Vec<Vec<u8>>,
        batches: Vec<(Vec<u8>, Vec<usize>)>,
    }

    impl Device for Batches {
        fn recv(&mut self, _: &mut [u8], _: Option<Duration>) -> io::Result<Option<usize>> {
            Ok(None)
        }
        fn send(&mut self, packet: &[u8]) -> io::Result<()> {
            self.singles.push(packet.to_vec());
            Ok(())
        }
        fn mtu(&self) -> usize {
            1500
        }
        fn send_batch(&mut self, buf: &[u8], lens: &[usize]) -> usize {
            self.batches.push((buf.to_vec(), lens.to_vec()));
            0
        }
        fn wakeup(&self) -> Wakeup {
            Wakeup::new(|| {})
        }
    }

    /// A batch reaches the inner device as one (a TUN device with offloads merges its
    /// segments), and each of its datagrams is a record of its own.
    #[test]
    fn a_batch_goes_through_whole_and_each_datagram_is_recorded() {
        let sink = Shared::default();
        let mut w = PcapWriter::new(Batches::default(), sink.clone()).unwrap();
        let buf = [0x45, 1, 2, 0x45, 3, 0x60, 4, 5, 6];
        assert_eq!(w.send_batch(&buf, &[3, 2, 4]), 0);
        assert!(w.get_ref().singles.is_empty());
        assert_eq!(w.get_ref().batches, [(buf.to_vec(), vec![3, 2, 4])]);
        let bytes = sink.0.lock().unwrap().clone();
        let mut at = 24;
        for want in [&buf[..3], &buf[3..5], &buf[5..]] {
            let len = want.len() as u32;
            assert_eq!(
                &bytes[at + 8..at + 16],
                [len.to_le_bytes(), len.to_le_bytes()].concat()
            );
            assert_eq!(&bytes[at + 16..at + 16 + want.len()], want);
            at += 16 + want.len();
        }
        assert_eq!(at, bytes.len());
    }
}
