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
        let mut rec = Vec::with_capacity(16 + caplen);
        rec.extend_from_slice(&(ts.as_secs() as u32).to_le_bytes());
        rec.extend_from_slice(&ts.subsec_micros().to_le_bytes());
        rec.extend_from_slice(&(caplen as u32).to_le_bytes());
        rec.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        rec.extend_from_slice(&packet[..caplen]);
        if let Err(e) = self.out.write_all(&rec) {
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
}
