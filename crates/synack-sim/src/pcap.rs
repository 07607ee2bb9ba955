//! Classic libpcap files (the format tcpdump and Wireshark read), written and read back.
//!
//! Layout: a 24-byte global header (magic `0xa1b2c3d4` in little-endian byte order, version
//! 2.4, thiszone 0, sigfigs 0, snaplen 65535, linktype 101 = `LINKTYPE_RAW`: each record is a
//! bare IPv4/IPv6 packet), then per packet a 16-byte record header (`ts_sec`, `ts_usec`,
//! `incl_len`, `orig_len`) and the packet bytes. Packets longer than the snaplen are truncated
//! to it (`incl_len < orig_len`), as a capture tool would.

use synack_proto::Instant;

/// Magic number of a microsecond-resolution classic pcap file.
pub const MAGIC: u32 = 0xa1b2_c3d4;
/// `LINKTYPE_RAW`: records are raw IP packets.
pub const LINKTYPE_RAW: u32 = 101;
/// Snapshot length we write.
pub const SNAPLEN: u32 = 65535;

/// Builds a pcap file in memory.
#[derive(Clone, Debug)]
pub struct PcapWriter {
    bytes: Vec<u8>,
}

impl Default for PcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PcapWriter {
    /// A file holding only the global header.
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&MAGIC.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        bytes.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        bytes.extend_from_slice(&SNAPLEN.to_le_bytes());
        bytes.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        PcapWriter { bytes }
    }

    /// Append one packet captured at `at` (virtual time: seconds and microseconds since zero).
    pub fn record(&mut self, at: Instant, packet: &[u8]) {
        let us = at.as_micros();
        let ts_sec = u32::try_from(us / 1_000_000).unwrap_or(u32::MAX);
        let ts_usec = (us % 1_000_000) as u32;
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(SNAPLEN);
        self.bytes.extend_from_slice(&ts_sec.to_le_bytes());
        self.bytes.extend_from_slice(&ts_usec.to_le_bytes());
        self.bytes.extend_from_slice(&incl_len.to_le_bytes());
        self.bytes.extend_from_slice(&orig_len.to_le_bytes());
        self.bytes.extend_from_slice(&packet[..incl_len as usize]);
    }

    /// The file so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The finished file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// One packet read back from a pcap file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    /// Capture time (microsecond resolution).
    pub at: Instant,
    /// Original length of the packet on the wire.
    pub orig_len: u32,
    /// The captured bytes (`incl_len` of them).
    pub data: Vec<u8>,
}

/// A parsed pcap file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapFile {
    pub version: (u16, u16),
    pub snaplen: u32,
    pub linktype: u32,
    pub records: Vec<PcapRecord>,
}

/// Why a pcap file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcapError {
    /// Shorter than a global header, or a record runs past the end of the file.
    Truncated { offset: usize },
    /// Not a classic microsecond pcap magic in either byte order.
    BadMagic(u32),
}

impl core::fmt::Display for PcapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PcapError::Truncated { offset } => write!(f, "pcap truncated at byte {offset}"),
            PcapError::BadMagic(m) => write!(f, "not a pcap file (magic {m:#010x})"),
        }
    }
}

impl std::error::Error for PcapError {}

/// Read a classic pcap file (either byte order, microsecond timestamps). Never panics.
pub fn read_pcap(bytes: &[u8]) -> Result<PcapFile, PcapError> {
    let header = bytes.get(..24).ok_or(PcapError::Truncated { offset: 0 })?;
    let raw_magic = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let le = match raw_magic {
        MAGIC => true,
        m if m == MAGIC.swap_bytes() => false,
        m => return Err(PcapError::BadMagic(m)),
    };
    let u16_at = |b: &[u8], i: usize| {
        let v = [b[i], b[i + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], i: usize| {
        let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let mut file = PcapFile {
        version: (u16_at(header, 4), u16_at(header, 6)),
        snaplen: u32_at(header, 16),
        linktype: u32_at(header, 20),
        records: Vec::new(),
    };
    let mut off = 24;
    while off < bytes.len() {
        let rh = bytes
            .get(off..off + 16)
            .ok_or(PcapError::Truncated { offset: off })?;
        let ts_sec = u64::from(u32_at(rh, 0));
        let ts_usec = u64::from(u32_at(rh, 4));
        let incl = u32_at(rh, 8) as usize;
        let orig_len = u32_at(rh, 12);
        let start = off + 16;
        let data = start
            .checked_add(incl)
            .and_then(|end| bytes.get(start..end))
            .ok_or(PcapError::Truncated { offset: off })?;
        file.records.push(PcapRecord {
            at: Instant::from_micros(ts_sec * 1_000_000 + ts_usec),
            orig_len,
            data: data.to_vec(),
        });
        off = start + incl;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let mut w = PcapWriter::new();
        w.record(Instant::from_micros(1_500_001), &[0x45, 1, 2, 3]);
        w.record(Instant::from_secs(7), &[]);
        let bytes = w.into_bytes();
        assert_eq!(bytes.len(), 24 + 16 + 4 + 16);
        let f = read_pcap(&bytes).unwrap();
        assert_eq!(f.version, (2, 4));
        assert_eq!((f.snaplen, f.linktype), (65535, 101));
        assert_eq!(f.records.len(), 2);
        assert_eq!(f.records[0].at, Instant::from_micros(1_500_001));
        assert_eq!(f.records[0].data, vec![0x45, 1, 2, 3]);
        assert_eq!(f.records[1].orig_len, 0);
        for cut in 0..bytes.len() {
            // Every prefix either parses (at a record boundary) or is a typed error.
            let _ = read_pcap(&bytes[..cut]);
        }
        assert_eq!(
            read_pcap(&bytes[..30]),
            Err(PcapError::Truncated { offset: 24 })
        );
        assert!(matches!(read_pcap(&[0u8; 24]), Err(PcapError::BadMagic(0))));
    }

    #[test]
    fn big_packets_are_truncated_to_snaplen() {
        let mut w = PcapWriter::new();
        w.record(Instant::ZERO, &vec![0u8; 70_000]);
        let f = read_pcap(w.bytes()).unwrap();
        assert_eq!(f.records[0].orig_len, 70_000);
        assert_eq!(f.records[0].data.len(), 65535);
    }
}
