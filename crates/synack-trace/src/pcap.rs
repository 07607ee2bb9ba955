//! A reader for capture files: classic pcap (either byte order, microsecond or nanosecond
//! timestamps) and pcapng (sections in either byte order, several interfaces, enhanced, simple
//! and obsolete packet blocks, `if_tsresol`/`if_tsoffset`), and the link layers TCP captures
//! come in: Ethernet (with VLAN tags), raw IP, Linux cooked (SLL and SLL2) and BSD loopback.
//!
//! Malformed input never panics: a file that ends mid-record or carries an impossible length
//! keeps the frames read so far and says what was wrong in [`Capture::warnings`].

use std::fmt;

/// Link-layer types (LINKTYPE_* in the tcpdump.org registry).
pub mod linktype {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II (with optional 802.1Q/802.1ad tags).
    pub const ETHERNET: u32 = 1;
    /// Raw IP as DLT_RAW is numbered on most systems.
    pub const RAW_12: u32 = 12;
    /// Raw IP as DLT_RAW is numbered on OpenBSD.
    pub const RAW_14: u32 = 14;
    /// Raw IP (LINKTYPE_RAW).
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture (`tcpdump -i any`), version 1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture, version 2.
    pub const LINUX_SLL2: u32 = 276;
}

/// One captured frame.
#[derive(Clone, Debug)]
pub struct Frame {
    /// 1-based position in the file, as Wireshark numbers frames.
    pub number: u64,
    /// Capture time, nanoseconds since the Unix epoch (0 when the block has none).
    pub ts_ns: u64,
    /// Link-layer type of the interface it was captured on.
    pub linktype: u32,
    /// The bytes captured (possibly cut short by the snapshot length).
    pub data: Vec<u8>,
    /// The frame's length on the wire.
    pub orig_len: u32,
}

/// A whole capture file.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    /// `pcap` or `pcapng`.
    pub format: &'static str,
    /// The frames in file order.
    pub frames: Vec<Frame>,
    /// What could not be read (the frames before it are kept).
    pub warnings: Vec<String>,
}

/// Why a file is not a capture at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotACapture(pub String);

impl fmt::Display for NotACapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotACapture {}

/// Bytes with an explicit byte order; every read is bounds-checked.
#[derive(Clone, Copy)]
struct Rd<'a> {
    b: &'a [u8],
    le: bool,
}

impl<'a> Rd<'a> {
    fn u16(&self, at: usize) -> Option<u16> {
        let s: [u8; 2] = self.b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.le {
            u16::from_le_bytes(s)
        } else {
            u16::from_be_bytes(s)
        })
    }
    fn u32(&self, at: usize) -> Option<u32> {
        let s: [u8; 4] = self.b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    }
    fn u64(&self, at: usize) -> Option<u64> {
        let s: [u8; 8] = self.b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if self.le {
            u64::from_le_bytes(s)
        } else {
            u64::from_be_bytes(s)
        })
    }
    fn slice(&self, at: usize, len: usize) -> Option<&'a [u8]> {
        self.b.get(at..at.checked_add(len)?)
    }
}

/// Largest frame we accept (pcap's own limit for most link types is 256 KiB).
const MAX_FRAME: u32 = 1 << 20;

/// Read a pcap or pcapng file from its bytes.
pub fn read(bytes: &[u8]) -> Result<Capture, NotACapture> {
    let magic = bytes
        .get(..4)
        .ok_or_else(|| NotACapture("file too short to be a capture".into()))?;
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => Ok(read_pcapng(bytes)),
        [0xd4, 0xc3, 0xb2, 0xa1] => Ok(read_pcap(bytes, true, 1_000)),
        [0xa1, 0xb2, 0xc3, 0xd4] => Ok(read_pcap(bytes, false, 1_000)),
        [0x4d, 0x3c, 0xb2, 0xa1] => Ok(read_pcap(bytes, true, 1)),
        [0xa1, 0xb2, 0x3c, 0x4d] => Ok(read_pcap(bytes, false, 1)),
        _ => Err(NotACapture(
            "not a pcap or pcapng file (unknown magic number)".into(),
        )),
    }
}

fn read_pcap(bytes: &[u8], le: bool, ns_per_unit: u64) -> Capture {
    let r = Rd { b: bytes, le };
    let mut cap = Capture {
        format: "pcap",
        ..Capture::default()
    };
    let Some(network) = r.u32(20) else {
        cap.warnings.push("pcap header truncated".into());
        return cap;
    };
    // The upper bits may carry FCS information; the link type is the low 16.
    let linktype = network & 0xffff;
    let mut at = 24usize;
    while at < bytes.len() {
        let (Some(sec), Some(frac), Some(incl), Some(orig)) =
            (r.u32(at), r.u32(at + 4), r.u32(at + 8), r.u32(at + 12))
        else {
            cap.warnings
                .push(format!("record header truncated at byte {at}"));
            break;
        };
        if incl > MAX_FRAME {
            cap.warnings.push(format!(
                "record at byte {at} claims {incl} bytes; stopping there"
            ));
            break;
        }
        let Some(data) = r.slice(at + 16, incl as usize) else {
            cap.warnings
                .push(format!("record at byte {at} runs past the end of the file"));
            break;
        };
        let ts_ns = u64::from(sec)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(frac).saturating_mul(ns_per_unit));
        cap.frames.push(Frame {
            number: cap.frames.len() as u64 + 1,
            ts_ns,
            linktype,
            data: data.to_vec(),
            orig_len: orig.max(incl),
        });
        at += 16 + incl as usize;
    }
    cap
}

#[derive(Clone, Copy)]
struct Iface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp units per second, as (base, exponent): 10^e or 2^e.
    units_per_sec: u128,
    offset_s: i64,
}

fn ts_to_ns(iface: &Iface, ts: u64) -> u64 {
    let ns = u128::from(ts) * 1_000_000_000 / iface.units_per_sec.max(1);
    let off = i128::from(iface.offset_s) * 1_000_000_000;
    u64::try_from((ns as i128).saturating_add(off).max(0)).unwrap_or(u64::MAX)
}

/// Options of an interface description block: `if_tsresol` (9) and `if_tsoffset` (14).
fn iface_options(r: &Rd<'_>, mut at: usize, end: usize, iface: &mut Iface) {
    while at + 4 <= end {
        let (Some(code), Some(len)) = (r.u16(at), r.u16(at + 2)) else {
            return;
        };
        if code == 0 {
            return;
        }
        let len = usize::from(len);
        match (code, len) {
            (9, 1) => {
                if let Some(&v) = r.b.get(at + 4) {
                    let e = u32::from(v & 0x7f);
                    let units = if v & 0x80 != 0 {
                        (e <= 64).then(|| 1u128 << e)
                    } else {
                        (e <= 19).then(|| 10u128.pow(e))
                    };
                    if let Some(u) = units {
                        iface.units_per_sec = u;
                    }
                }
            }
            (14, 8) => {
                if let Some(v) = r.u64(at + 4) {
                    iface.offset_s = v as i64;
                }
            }
            _ => {}
        }
        at += 4 + len.div_ceil(4) * 4;
    }
}

fn read_pcapng(bytes: &[u8]) -> Capture {
    let mut cap = Capture {
        format: "pcapng",
        ..Capture::default()
    };
    let mut le = true;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        // A section header fixes the byte order of what follows.
        if bytes.get(at..at + 4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
            match bytes.get(at + 8..at + 12) {
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => le = true,
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => le = false,
                _ => {
                    cap.warnings.push(format!(
                        "section header at byte {at} has a bad byte-order magic"
                    ));
                    break;
                }
            }
            ifaces.clear();
        }
        let r = Rd { b: bytes, le };
        let (Some(btype), Some(blen)) = (r.u32(at), r.u32(at + 4)) else {
            cap.warnings
                .push(format!("block header truncated at byte {at}"));
            break;
        };
        let blen = blen as usize;
        if blen < 12
            || !blen.is_multiple_of(4)
            || at.checked_add(blen).is_none_or(|e| e > bytes.len())
        {
            cap.warnings.push(format!(
                "block at byte {at} has an impossible length {blen}; stopping there"
            ));
            break;
        }
        let body = at + 8;
        let end = at + blen - 4; // before the trailing length
        match btype {
            1 => {
                // Interface description.
                let (Some(lt), Some(snap)) = (r.u16(body), r.u32(body + 4)) else {
                    cap.warnings
                        .push(format!("short interface block at byte {at}"));
                    break;
                };
                let mut iface = Iface {
                    linktype: u32::from(lt),
                    snaplen: snap,
                    units_per_sec: 1_000_000,
                    offset_s: 0,
                };
                iface_options(&r, body + 8, end, &mut iface);
                ifaces.push(iface);
            }
            2 | 6 => {
                // Obsolete packet block (2) or enhanced packet block (6).
                let (iface_id, hi_at) = if btype == 6 {
                    (r.u32(body).map(|v| v as usize), body + 4)
                } else {
                    (r.u16(body).map(usize::from), body + 4)
                };
                let fields = (
                    iface_id,
                    r.u32(hi_at),
                    r.u32(hi_at + 4),
                    r.u32(hi_at + 8),
                    r.u32(hi_at + 12),
                );
                let (Some(id), Some(hi), Some(lo), Some(caplen), Some(orig)) = fields else {
                    cap.warnings
                        .push(format!("short packet block at byte {at}"));
                    break;
                };
                let data_at = hi_at + 16;
                let Some(iface) = ifaces.get(id).copied() else {
                    cap.warnings.push(format!(
                        "packet block at byte {at} names unknown interface {id}"
                    ));
                    at += blen;
                    continue;
                };
                let data = r
                    .slice(data_at, caplen as usize)
                    .filter(|_| data_at + caplen as usize <= end);
                let Some(data) = data else {
                    cap.warnings.push(format!(
                        "packet block at byte {at}: data runs past the block"
                    ));
                    at += blen;
                    continue;
                };
                let ts = (u64::from(hi) << 32) | u64::from(lo);
                cap.frames.push(Frame {
                    number: cap.frames.len() as u64 + 1,
                    ts_ns: ts_to_ns(&iface, ts),
                    linktype: iface.linktype,
                    data: data.to_vec(),
                    orig_len: orig.max(caplen),
                });
            }
            3 => {
                // Simple packet block: interface 0, no timestamp.
                let Some(iface) = ifaces.first().copied() else {
                    cap.warnings.push(format!(
                        "simple packet block at byte {at} before any interface"
                    ));
                    at += blen;
                    continue;
                };
                let orig = r.u32(body).unwrap_or(0);
                let mut caplen = (orig as usize).min(end.saturating_sub(body + 4));
                if iface.snaplen > 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                let data = r.slice(body + 4, caplen).unwrap_or(&[]);
                cap.frames.push(Frame {
                    number: cap.frames.len() as u64 + 1,
                    ts_ns: 0,
                    linktype: iface.linktype,
                    data: data.to_vec(),
                    orig_len: orig,
                });
            }
            _ => {} // section header (handled above), statistics, name resolution, custom...
        }
        at += blen;
    }
    cap
}

/// Whether [`ip_payload`] knows how to find IP inside frames of this link type.
pub fn readable_linktype(lt: u32) -> bool {
    use linktype::*;
    matches!(
        lt,
        NULL | ETHERNET | RAW_12 | RAW_14 | RAW | LOOP | LINUX_SLL | IPV4 | IPV6 | LINUX_SLL2
    )
}

/// The IP datagram inside a frame, by link type; `None` when it carries something else.
pub fn ip_payload(linktype: u32, data: &[u8]) -> Option<&[u8]> {
    let by_ethertype = |et: u16, rest: &'_ [u8]| -> bool {
        matches!(
            (et, rest.first().map(|b| b >> 4)),
            (0x0800, Some(4)) | (0x86dd, Some(6))
        )
    };
    match linktype {
        linktype::ETHERNET => {
            let mut et = u16::from_be_bytes(data.get(12..14)?.try_into().ok()?);
            let mut at = 14;
            // Up to two VLAN tags (802.1Q, 802.1ad QinQ).
            for _ in 0..2 {
                if et == 0x8100 || et == 0x88a8 {
                    et = u16::from_be_bytes(data.get(at + 2..at + 4)?.try_into().ok()?);
                    at += 4;
                }
            }
            let rest = data.get(at..)?;
            by_ethertype(et, rest).then_some(rest)
        }
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            matches!(data.first().map(|b| b >> 4), Some(4 | 6)).then_some(data)
        }
        linktype::LINUX_SLL => {
            let et = u16::from_be_bytes(data.get(14..16)?.try_into().ok()?);
            let rest = data.get(16..)?;
            by_ethertype(et, rest).then_some(rest)
        }
        linktype::LINUX_SLL2 => {
            let et = u16::from_be_bytes(data.get(0..2)?.try_into().ok()?);
            let rest = data.get(20..)?;
            by_ethertype(et, rest).then_some(rest)
        }
        linktype::NULL | linktype::LOOP => {
            let fam: [u8; 4] = data.get(0..4)?.try_into().ok()?;
            // Host byte order for NULL, so accept either; 2 = AF_INET, 24/28/30 = AF_INET6.
            let v = u32::from_le_bytes(fam).min(u32::from_be_bytes(fam));
            let rest = data.get(4..)?;
            let ok = match v {
                2 => rest.first().map(|b| b >> 4) == Some(4),
                24 | 28 | 30 => rest.first().map(|b| b >> 4) == Some(6),
                _ => false,
            };
            ok.then_some(rest)
        }
        _ => None,
    }
}
