//! TUN offloads: the `virtio_net_hdr` that prefixes every datagram on a TUN device opened with
//! `IFF_VNET_HDR`, and the two jobs it lets the device do (see [`crate::tun::Tun::open_offload`]).
//!
//! - **Transmit (TSO):** consecutive full-sized TCP segments of one flow that the endpoint
//!   emits in one batch are written as *one* datagram of up to 64 KiB with `gso_type` TCPV4 or
//!   TCPV6 and `gso_size` the segment size. The kernel delivers it locally as one buffer (it
//!   would segment it only to forward it), so one `write` carries up to ~45 segments at MTU
//!   1500. [`runs`] finds the segments that can be merged; [`merged_header`] writes the
//!   merged datagram's headers. The payloads follow unchanged (`writev`, no copy).
//! - **Receive (GRO/LRO):** with `TUNSETOFFLOAD` (CSUM, TSO4, TSO6) the kernel hands us its
//!   64 KiB TCP buffers unsegmented, and every datagram's TCP or UDP checksum may be left
//!   *partial* (`NEEDS_CSUM`: the field holds the pseudo-header sum only). The device
//!   completes it ([`complete_checksum`]) and passes the whole datagram, headers valid for its
//!   full length, to the endpoint, which takes a segment longer than the MSS like any other.
//!
//! The merge rules are the inverse of the kernel's segmentation (`tcp_gso_segment`): every
//! segment but the last carries exactly `gso_size` bytes, the last at most that; the sequence
//! numbers are contiguous; the IP and TCP headers are identical except for the lengths, the
//! IPv4 identification and checksums, the sequence number, and PSH, which only the last may
//! carry (segmentation clears PSH and FIN on all but the last). Only ACK and PSH may be set.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use synack_wire::checksum;

/// `sizeof(struct virtio_net_hdr)`, the TUN default (`TUNSETVNETHDRSZ` not used).
pub(crate) const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is partial.
pub(crate) const F_NEEDS_CSUM: u8 = 1;
pub(crate) const GSO_NONE: u8 = 0;
pub(crate) const GSO_TCPV4: u8 = 1;
pub(crate) const GSO_TCPV6: u8 = 4;
/// Most segments merged into one datagram (a bound on the `writev` vector, whatever the MSS).
pub(crate) const MAX_SEGMENTS: usize = 64;
/// Largest merged datagram: the IPv4 total length field, and the kernel's GSO limit.
pub(crate) const MAX_MERGED: usize = 65535;

/// `struct virtio_net_hdr`. Fields are in the host's byte order (a legacy TUN device is
/// "guest native endian").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    pub fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    pub fn decode(b: &[u8; VNET_HDR_LEN]) -> VnetHdr {
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        }
    }
}

/// Finish a checksum the kernel left partial: the one's complement sum of everything from
/// `start` to the end (the field at `start + offset` holds the pseudo-header sum), stored
/// complemented at `start + offset`. False (packet untouched) when the offsets do not fit.
pub(crate) fn complete_checksum(packet: &mut [u8], start: usize, offset: usize) -> bool {
    let Some(at) = start.checked_add(offset) else {
        return false;
    };
    if at + 2 > packet.len() {
        return false;
    }
    let c = checksum::combine(&[checksum::sum(&packet[start..])]);
    packet[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// What merging needs to know about one datagram that is a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seg {
    v6: bool,
    ip_len: usize,
    /// IP plus TCP header bytes.
    hdr_len: usize,
    payload: usize,
    seq: u32,
    flags: u8,
}

/// A TCP segment over IPv4 (no options, not a fragment) or IPv6 (no extension headers)
/// whose lengths agree with the buffer; `None` for anything else.
pub(crate) fn tcp_segment(p: &[u8]) -> Option<Seg> {
    let (v6, ip_len, total) = match p.first()? >> 4 {
        4 => {
            if p.len() < 20 || p[0] & 0x0f != 5 || p[9] != 6 || p[6] & 0x3f != 0 || p[7] != 0 {
                return None;
            }
            (false, 20, usize::from(u16::from_be_bytes([p[2], p[3]])))
        }
        6 => {
            if p.len() < 40 || p[6] != 6 {
                return None;
            }
            (true, 40, 40 + usize::from(u16::from_be_bytes([p[4], p[5]])))
        }
        _ => return None,
    };
    if total != p.len() || p.len() < ip_len + 20 {
        return None;
    }
    let t = &p[ip_len..];
    let tcp_len = usize::from(t[12] >> 4) * 4;
    if tcp_len < 20 || ip_len + tcp_len > p.len() {
        return None;
    }
    Some(Seg {
        v6,
        ip_len,
        hdr_len: ip_len + tcp_len,
        payload: p.len() - ip_len - tcp_len,
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        flags: t[13],
    })
}

/// Whether segment `b` (header `bh`) may follow segment `a` (header `ah`, the last of a run
/// whose segments carry `gso` bytes each) in one merged datagram.
fn continues(a: &[u8], ah: &Seg, b: &[u8], bh: &Seg, gso: usize) -> bool {
    if bh.v6 != ah.v6 || bh.hdr_len != ah.hdr_len || ah.payload != gso {
        return false;
    }
    if bh.payload == 0 || bh.payload > gso || bh.seq != ah.seq.wrapping_add(gso as u32) {
        return false;
    }
    // Only the last segment may carry PSH.
    if ah.flags & TCP_PSH != 0 || bh.flags & !TCP_PSH != TCP_ACK {
        return false;
    }
    // IP: identical but for the lengths, the IPv4 identification and header checksum.
    let ip_same = if ah.v6 {
        a[..4] == b[..4] && a[6..40] == b[6..40]
    } else {
        a[..2] == b[..2] && a[6..10] == b[6..10] && a[12..20] == b[12..20]
    };
    // TCP: identical but for the sequence number, the checksum and PSH.
    let (at, bt) = (&a[ah.ip_len..ah.hdr_len], &b[bh.ip_len..bh.hdr_len]);
    ip_same
        && at[..4] == bt[..4]
        && at[8..13] == bt[8..13]
        && at[13] & !TCP_PSH == bt[13] & !TCP_PSH
        && at[14..16] == bt[14..16]
        && at[18..] == bt[18..]
}

/// Split the datagrams laid end to end in `buf` (lengths `lens`) into runs that can be sent
/// as one datagram each: `(first index, count)`, in order. A run of one is sent as it is.
pub(crate) fn runs(buf: &[u8], lens: &[usize], mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    let mut off = 0;
    while i < lens.len() {
        let first = &buf[off..off + lens[i]];
        let mut count = 1;
        let mut next_off = off + lens[i];
        if let Some(fh) =
            tcp_segment(first).filter(|h| h.payload > 0 && h.flags & !TCP_PSH == TCP_ACK)
        {
            let gso = fh.payload;
            let (mut prev, mut prev_h) = (first, fh);
            let mut total = first.len();
            while i + count < lens.len() && count < MAX_SEGMENTS {
                let len = lens[i + count];
                let p = &buf[next_off..next_off + len];
                let Some(h) = tcp_segment(p) else { break };
                if total + h.payload > MAX_MERGED || !continues(prev, &prev_h, p, &h, gso) {
                    break;
                }
                total += h.payload;
                count += 1;
                next_off += len;
                (prev, prev_h) = (p, h);
                if h.payload < gso {
                    break;
                }
            }
        }
        f(i, count);
        i += count;
        off = next_off;
    }
}

/// Write into `out` the IP and TCP headers of the datagram merging a run whose first segment
/// is `first` (header `h`), whose segments carry `payload` bytes in all, and whose last one
/// has PSH if `psh`; return the `virtio_net_hdr` to send it with (its `hdr_len` is the
/// header length). `None` if `first` is not a TCP segment or `out` is shorter than its
/// headers (at most 120 bytes).
pub(crate) fn merged_header(
    first: &[u8],
    payload: usize,
    psh: bool,
    out: &mut [u8],
) -> Option<VnetHdr> {
    let h = tcp_segment(first)?;
    let hl = h.hdr_len;
    if out.len() < hl {
        return None;
    }
    out[..hl].copy_from_slice(&first[..hl]);
    let total = hl + payload;
    let tcp_len = total - h.ip_len;
    let (src, dst) = if h.v6 {
        out[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        let a = |i: usize| {
            IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(&out[i..i + 16]).unwrap(),
            ))
        };
        (a(8), a(24))
    } else {
        out[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        let c = checksum::combine(&[checksum::sum(&out[..20])]);
        out[10..12].copy_from_slice(&c.to_be_bytes());
        let a = |i: usize| IpAddr::V4(Ipv4Addr::new(out[i], out[i + 1], out[i + 2], out[i + 3]));
        (a(12), a(16))
    };
    let t = h.ip_len;
    if psh {
        out[t + 13] |= TCP_PSH;
    }
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum over the whole TCP length, not
    // complemented; whoever needs the full checksum (segmentation, a NIC) adds the rest.
    let pseudo = !checksum::combine(&[checksum::pseudo_header(&src, &dst, 6, tcp_len as u32)]);
    out[t + 16..t + 18].copy_from_slice(&pseudo.to_be_bytes());
    Some(VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: if h.v6 { GSO_TCPV6 } else { GSO_TCPV4 },
        hdr_len: hl as u16,
        gso_size: h.payload as u16,
        csum_start: t as u16,
        csum_offset: 16,
    })
}

/// Whether the last segment of a run has PSH.
pub(crate) fn has_psh(p: &[u8]) -> bool {
    tcp_segment(p).is_some_and(|h| h.flags & TCP_PSH != 0)
}

/// The header length of a TCP segment (IP plus TCP), for slicing payloads.
pub(crate) fn header_len(p: &[u8]) -> usize {
    tcp_segment(p).map_or(p.len(), |h| h.hdr_len)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use synack_wire::{
        emit_ipv4_tcp, emit_ipv6_tcp, parse_ip, parse_ipv4_tcp, parse_ipv6_tcp, Ipv4Repr, Ipv6Repr,
        TcpFlags, TcpOptions, TcpRepr,
    };

    const A: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);

    pub(crate) fn data(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| ((i + seed) * 31 + 7) as u8).collect()
    }

    /// One IPv4 TCP segment as the endpoint would emit it (ACK, timestamps).
    pub(crate) fn seg4(seq: u32, payload: &[u8], flags: TcpFlags, ident: u16) -> Vec<u8> {
        let ip = Ipv4Repr {
            src_addr: A,
            dst_addr: B,
            protocol: 6,
            payload_len: 0,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident,
        };
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 5001,
            seq_number: seq,
            ack_number: 777,
            flags,
            window_len: 4000,
            urgent_pointer: 0,
            options: TcpOptions {
                timestamps: Some((11, 22)),
                ..Default::default()
            },
            payload,
        };
        let mut buf = vec![0u8; 60 + payload.len()];
        let n = emit_ipv4_tcp(&ip, &tcp, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    pub(crate) fn seg6(seq: u32, payload: &[u8], flags: TcpFlags) -> Vec<u8> {
        let ip = Ipv6Repr {
            src_addr: "fd00:5a::2".parse().unwrap(),
            dst_addr: "fd00:5a::1".parse().unwrap(),
            next_header: 6,
            payload_len: 0,
            hop_limit: 64,
            traffic_class: 0,
        };
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 5001,
            seq_number: seq,
            ack_number: 777,
            flags,
            window_len: 4000,
            urgent_pointer: 0,
            options: TcpOptions::default(),
            payload,
        };
        let mut buf = vec![0u8; 80 + payload.len()];
        let n = emit_ipv6_tcp(&ip, &tcp, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    fn batch(pkts: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
        (pkts.concat(), pkts.iter().map(Vec::len).collect())
    }

    fn all_runs(pkts: &[Vec<u8>]) -> Vec<(usize, usize)> {
        let (buf, lens) = batch(pkts);
        let mut v = Vec::new();
        runs(&buf, &lens, |i, n| v.push((i, n)));
        v
    }

    /// Merge a run the way the device writes it: headers from `merged_header`, then each
    /// segment's payload.
    fn merge(pkts: &[Vec<u8>]) -> (VnetHdr, Vec<u8>) {
        let payload: usize = pkts.iter().map(|p| p.len() - header_len(p)).sum();
        let mut out = vec![0u8; 120];
        let hdr =
            merged_header(&pkts[0], payload, has_psh(pkts.last().unwrap()), &mut out).unwrap();
        out.truncate(usize::from(hdr.hdr_len));
        for p in pkts {
            out.extend_from_slice(&p[header_len(p)..]);
        }
        (hdr, out)
    }

    /// What the kernel does with a GSO datagram it must segment (`tcp_gso_segment` and
    /// `inet_gso_segment`): `gso_size` bytes a segment, sequence numbers advanced, PSH only
    /// on the last, IPv4 identification incremented, lengths and checksums recomputed.
    pub(crate) fn kernel_segment(hdr: &VnetHdr, merged: &[u8]) -> Vec<Vec<u8>> {
        let hl = usize::from(hdr.hdr_len);
        let t = usize::from(hdr.csum_start);
        let (head, body) = merged.split_at(hl);
        let chunks: Vec<&[u8]> = body.chunks(usize::from(hdr.gso_size)).collect();
        let seq0 = u32::from_be_bytes(head[t + 4..t + 8].try_into().unwrap());
        let mut out = Vec::new();
        for (k, c) in chunks.iter().enumerate() {
            let mut p = head.to_vec();
            p.extend_from_slice(c);
            let seq = seq0.wrapping_add((k * usize::from(hdr.gso_size)) as u32);
            p[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
            if k + 1 < chunks.len() {
                p[t + 13] &= !TCP_PSH;
            }
            let (src, dst) = if hdr.gso_type == GSO_TCPV4 {
                let total = p.len() as u16;
                p[2..4].copy_from_slice(&total.to_be_bytes());
                let id = u16::from_be_bytes([p[4], p[5]]).wrapping_add(k as u16);
                p[4..6].copy_from_slice(&id.to_be_bytes());
                p[10..12].copy_from_slice(&[0, 0]);
                let c = checksum::combine(&[checksum::sum(&p[..20])]);
                p[10..12].copy_from_slice(&c.to_be_bytes());
                let a = |i: usize| IpAddr::V4(Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]));
                (a(12), a(16))
            } else {
                let pl = (p.len() - 40) as u16;
                p[4..6].copy_from_slice(&pl.to_be_bytes());
                let a = |i: usize| {
                    IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&p[i..i + 16]).unwrap()))
                };
                (a(8), a(24))
            };
            p[t + 16..t + 18].copy_from_slice(&[0, 0]);
            let ps = checksum::pseudo_header(&src, &dst, 6, (p.len() - t) as u32);
            let c = checksum::combine(&[ps, checksum::sum(&p[t..])]);
            p[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
            out.push(p);
        }
        out
    }

    #[test]
    fn vnet_header_round_trips_in_host_order() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        let b = h.encode();
        assert_eq!(VnetHdr::decode(&b), h);
        assert_eq!(&b[4..6], &1448u16.to_ne_bytes());
        assert_eq!(b[..2], [1, 1]);
    }

    #[test]
    fn a_partial_checksum_is_completed_to_the_real_one() {
        let p = seg4(1000, &data(1448, 1), TcpFlags::ACK | TcpFlags::PSH, 9);
        // The kernel leaves the pseudo-header sum, not complemented, in the field.
        let mut partial = p.clone();
        let ps = !checksum::combine(&[checksum::pseudo_header(
            &IpAddr::V4(A),
            &IpAddr::V4(B),
            6,
            (p.len() - 20) as u32,
        )]);
        partial[36..38].copy_from_slice(&ps.to_be_bytes());
        assert_ne!(partial, p);
        assert!(complete_checksum(&mut partial, 20, 16));
        assert_eq!(partial, p);
        assert!(parse_ipv4_tcp(&partial).is_ok());
        // Offsets past the end leave the packet alone.
        let mut short = p[..30].to_vec();
        assert!(!complete_checksum(&mut short, 20, 16));
        assert_eq!(short, p[..30]);
        assert!(!complete_checksum(&mut short, usize::MAX, 16));
    }

    #[test]
    fn full_segments_merge_and_the_kernel_gets_them_back() {
        let d = data(1448 * 5 + 100, 3);
        let mut pkts: Vec<Vec<u8>> = d
            .chunks(1448)
            .enumerate()
            .map(|(k, c)| seg4(5000 + (k * 1448) as u32, c, TcpFlags::ACK, 100 + k as u16))
            .collect();
        // The endpoint sets PSH on the last segment of a write.
        *pkts.last_mut().unwrap() = seg4(
            5000 + 5 * 1448,
            &d[5 * 1448..],
            TcpFlags::ACK | TcpFlags::PSH,
            105,
        );
        assert_eq!(all_runs(&pkts), vec![(0, 6)]);
        let (hdr, merged) = merge(&pkts);
        assert_eq!(hdr.gso_type, GSO_TCPV4);
        assert_eq!(hdr.gso_size, 1448);
        assert_eq!(hdr.hdr_len, 52);
        assert_eq!((hdr.csum_start, hdr.csum_offset), (20, 16));
        assert_eq!(hdr.flags, F_NEEDS_CSUM);
        // The merged datagram parses as one segment once its checksum is completed (what the
        // kernel's CHECKSUM_PARTIAL means), with the whole payload, PSH and the first seq.
        let mut full = merged.clone();
        assert!(complete_checksum(&mut full, 20, 16));
        let (ip, tcp) = parse_ipv4_tcp(&full).unwrap();
        assert_eq!(ip.payload_len, 32 + d.len());
        assert_eq!(tcp.payload, &d[..]);
        assert_eq!(tcp.seq_number, 5000);
        assert!(tcp.flags.contains(TcpFlags::PSH));
        // Segmented again, it is exactly what the endpoint emitted.
        assert_eq!(kernel_segment(&hdr, &merged), pkts);
    }

    #[test]
    fn ipv6_segments_merge_too() {
        let d = data(1000 * 3, 5);
        let pkts: Vec<Vec<u8>> = d
            .chunks(1000)
            .enumerate()
            .map(|(k, c)| seg6(7 + (k * 1000) as u32, c, TcpFlags::ACK))
            .collect();
        assert_eq!(all_runs(&pkts), vec![(0, 3)]);
        let (hdr, merged) = merge(&pkts);
        assert_eq!(hdr.gso_type, GSO_TCPV6);
        assert_eq!((hdr.csum_start, hdr.hdr_len, hdr.gso_size), (40, 60, 1000));
        let mut full = merged.clone();
        assert!(complete_checksum(&mut full, 40, 16));
        let (_, tcp) = parse_ipv6_tcp(&full).unwrap();
        assert_eq!(tcp.payload, &d[..]);
        assert_eq!(kernel_segment(&hdr, &merged), pkts);
        assert!(parse_ip(&pkts[0]).is_ok());
    }

    #[test]
    fn what_segmentation_could_not_rebuild_is_never_merged() {
        let d = data(1448, 0);
        let ack = TcpFlags::ACK;
        let s = |seq: u32, len: usize, flags: TcpFlags| seg4(seq, &d[..len], flags, 1);
        // Pure ACKs, SYN, FIN and RST go alone.
        assert_eq!(
            all_runs(&[s(0, 0, ack), s(0, 0, ack)]),
            vec![(0, 1), (1, 1)]
        );
        assert_eq!(
            all_runs(&[s(0, 1448, ack), s(1448, 1448, ack | TcpFlags::FIN)]),
            vec![(0, 1), (1, 1)]
        );
        assert_eq!(
            all_runs(&[s(0, 1448, TcpFlags::SYN | ack), s(1448, 10, ack)]),
            vec![(0, 1), (1, 1)]
        );
        assert_eq!(
            all_runs(&[s(0, 1448, ack), s(1448, 10, ack | TcpFlags::RST)]),
            vec![(0, 1), (1, 1)]
        );
        // A gap or an overlap in the sequence (a retransmission in the batch).
        assert_eq!(
            all_runs(&[s(0, 1448, ack), s(1449, 1448, ack)]),
            vec![(0, 1), (1, 1)]
        );
        assert_eq!(
            all_runs(&[s(0, 1448, ack), s(0, 1448, ack)]),
            vec![(0, 1), (1, 1)]
        );
        // A short segment ends a run; the next full one starts another.
        assert_eq!(
            all_runs(&[
                s(0, 1448, ack),
                s(1448, 100, ack),
                s(1548, 1448, ack),
                s(2996, 1448, ack)
            ]),
            vec![(0, 2), (2, 2)]
        );
        // A segment longer than the first (the gso size) cannot follow it.
        assert_eq!(
            all_runs(&[s(0, 1000, ack), s(1000, 1448, ack)]),
            vec![(0, 1), (1, 1)]
        );
        // PSH in the middle would be lost by segmentation.
        assert_eq!(
            all_runs(&[s(0, 1448, ack | TcpFlags::PSH), s(1448, 1448, ack)]),
            vec![(0, 1), (1, 1)]
        );
        // Another flow, another ACK number, other options.
        let mut other_port = s(1448, 1448, ack);
        other_port[21] ^= 1;
        let mut other_ack = s(1448, 1448, ack);
        other_ack[28] ^= 1;
        let mut other_ts = s(1448, 1448, ack);
        other_ts[50] ^= 1;
        let mut other_ttl = s(1448, 1448, ack);
        other_ttl[8] ^= 1;
        for p in [other_port, other_ack, other_ts, other_ttl] {
            assert_eq!(all_runs(&[s(0, 1448, ack), p]), vec![(0, 1), (1, 1)]);
        }
        // A different IPv4 identification is fine: segmentation assigns new ones.
        assert_eq!(
            all_runs(&[seg4(0, &d, ack, 1), seg4(1448, &d, ack, 99)]),
            vec![(0, 2)]
        );
        // Not TCP, or not IP at all.
        let mut udp = s(1448, 1448, ack);
        udp[9] = 17;
        assert_eq!(all_runs(&[s(0, 1448, ack), udp]), vec![(0, 1), (1, 1)]);
        assert_eq!(
            all_runs(&[vec![0x00; 40], s(0, 1448, ack)]),
            vec![(0, 1), (1, 1)]
        );
    }

    #[test]
    fn runs_stop_at_64_kib_and_at_the_segment_limit() {
        let d = data(1448, 0);
        let pkts: Vec<Vec<u8>> = (0..100)
            .map(|k| seg4((k * 1448) as u32, &d, TcpFlags::ACK, 0))
            .collect();
        let r = all_runs(&pkts);
        // 52 + 45 · 1448 = 65212 ≤ 65535; a 46th segment would not fit.
        assert_eq!(r[0], (0, 45));
        assert_eq!(r.iter().map(|&(_, n)| n).sum::<usize>(), 100);
        for &(i, n) in &r {
            let (_, m) = merge(&pkts[i..i + n]);
            assert!(m.len() <= MAX_MERGED);
        }
        let small: Vec<Vec<u8>> = (0..200)
            .map(|k| seg4((k * 100) as u32, &d[..100], TcpFlags::ACK, 0))
            .collect();
        assert_eq!(all_runs(&small)[0], (0, MAX_SEGMENTS));
    }
}
