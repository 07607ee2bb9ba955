//! The fuzz harness of the IP reassembler (`synack_proto::ip_reassembly`), shared by the
//! cargo-fuzz target `fuzz/fuzz_targets/reassembly.rs`, the corpus replay test and a
//! proptest (`tests/fuzz_corpus.rs`, `tests/reassembly_fuzz.rs`) that run on stable.
//!
//! The input is decoded ([`arbitrary::Unstructured`]) into table bounds and a list of
//! operations: fragments of up to eight datagrams (four IPv4, four IPv6 — the IPv6 ones
//! sometimes behind a Hop-by-Hop header), mostly cut by a plan (a length and a piece size per
//! datagram) so that they complete, sometimes anywhere, with the datagram's own bytes or with
//! one byte changed (an overlap in disguise), TCP or ICMP; arbitrary bytes; and time steps
//! with expiry. Checks, as `assert!`s:
//!
//! - no panic;
//! - memory and datagram count never exceed the bounds;
//! - every reassembled datagram is a well-formed IP datagram of the right addresses and
//!   identification whose data is exactly the concatenation of fragments fed for it since
//!   its previous completion, each at its own offset, the last one without MF (found by a
//!   search over the fragments, so duplicates and conflicting copies are allowed for);
//! - the `reassembled` counter matches the datagrams returned;
//! - deadlines: there is one exactly while datagrams are held, and after `expire(now)` it is
//!   later than `now`; every Time Exceeded quote starts with an IP header of the right
//!   version and stays within its size limit.

use std::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::{Result, Unstructured};
use synack_proto::ip_reassembly::{Limits, Reassembler};
use synack_proto::{Duration, FragmentStats, Instant};
use synack_wire::{Ipv4Packet, Ipv6FragHeader, Ipv6Packet};

const SRC4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SRC6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const DST6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// Operations per input, at most.
const MAX_OPS: usize = 512;

/// Byte `offset` of datagram `d`'s data.
fn pattern(d: u8, offset: usize) -> u8 {
    (offset as u8).wrapping_mul(31) ^ (offset >> 8) as u8 ^ d.wrapping_mul(0x5b)
}

/// One fragment as fed, for the check of what comes out.
struct Fed {
    offset: usize,
    more: bool,
    data: Vec<u8>,
}

/// A fragment of datagram `d` (0–3 IPv4, 4–7 IPv6).
#[allow(clippy::too_many_arguments)]
fn fragment(d: u8, icmp: bool, offset: usize, data: &[u8], more: bool, hbh: bool) -> Vec<u8> {
    if d < 4 {
        let mut p = vec![0u8; 20];
        p.extend_from_slice(data);
        let mut v = Ipv4Packet::new_unchecked(&mut p[..]);
        v.set_version(4);
        v.set_header_len(20);
        v.set_total_len(u16::try_from(20 + data.len()).unwrap_or(u16::MAX));
        v.set_ident(u16::from(d) * 1000);
        v.set_more_frags(more);
        v.set_frag_offset(offset as u16);
        v.set_ttl(64);
        v.set_protocol(if icmp { 1 } else { 6 });
        v.set_src_addr(SRC4);
        v.set_dst_addr(DST4);
        v.fill_checksum();
        p
    } else {
        let ext: &[u8] = if hbh { &[44, 0, 1, 4, 0, 0, 0, 0] } else { &[] };
        let mut p = vec![0u8; 40];
        let mut v = Ipv6Packet::new_unchecked(&mut p[..]);
        v.set_version(6);
        v.set_payload_len(u16::try_from(ext.len() + 8 + data.len()).unwrap_or(u16::MAX));
        v.set_next_header(if hbh { 0 } else { 44 });
        v.set_hop_limit(64);
        v.set_src_addr(SRC6);
        v.set_dst_addr(DST6);
        p.extend_from_slice(ext);
        let mut h = [0u8; 8];
        Ipv6FragHeader {
            next_header: if icmp { 58 } else { 6 },
            offset: offset as u16,
            more,
            ident: u32::from(d) * 100_000,
        }
        .emit(&mut h);
        p.extend_from_slice(&h);
        p.extend_from_slice(data);
        p
    }
}

/// Whether `data` is the concatenation of fragments of `fed`, from offset 0 to its end, the
/// last one without MF: a reachability search over offsets.
fn tiles(data: &[u8], fed: &[Fed]) -> bool {
    let mut reach = vec![false; data.len() + 1];
    reach[0] = true;
    for at in 0..data.len() {
        if !reach[at] {
            continue;
        }
        for f in fed.iter().filter(|f| f.offset == at) {
            let end = at + f.data.len();
            if data.get(at..end) != Some(&f.data[..]) {
                continue;
            }
            if end == data.len() && !f.more {
                return true;
            }
            if end < data.len() && f.more {
                reach[end] = true;
            }
        }
    }
    false
}

/// Check a datagram the reassembler returned for datagram `d`.
fn check_whole(d: u8, whole: &[u8], fed: &[Fed]) {
    let data = if d < 4 {
        let p = Ipv4Packet::new_checked(whole).expect("reassembled IPv4 parses");
        assert!(p.verify_checksum(), "header checksum");
        assert_eq!(usize::from(p.total_len()), whole.len());
        assert!(!p.more_frags() && p.frag_offset() == 0, "no fragment");
        assert_eq!((p.src_addr(), p.dst_addr()), (SRC4, DST4));
        assert_eq!(p.ident(), u16::from(d) * 1000);
        assert_eq!(p.header_len(), 20);
        &whole[20..]
    } else {
        let p = Ipv6Packet::new_checked(whole).expect("reassembled IPv6 parses");
        assert_eq!(usize::from(p.payload_len()) + 40, whole.len());
        assert_eq!((p.src_addr(), p.dst_addr()), (SRC6, DST6));
        assert!(matches!(p.next_header(), 6 | 58));
        &whole[40..]
    };
    assert!(
        tiles(data, fed),
        "datagram {d}: {} bytes that are no tiling of its {} fragments",
        data.len(),
        fed.len()
    );
}

/// Run one fuzz input (see the module documentation).
pub fn reassembly(input: &[u8]) {
    reassembly_stats(input);
}

/// [`reassembly`], returning the reassembler's counters at the end (so a test can tell which
/// paths its inputs reached).
pub fn reassembly_stats(input: &[u8]) -> FragmentStats {
    let mut u = Unstructured::new(input);
    let mut stats = FragmentStats::default();
    let _ = run(&mut u, &mut stats);
    stats
}

fn run(u: &mut Unstructured<'_>, stats: &mut FragmentStats) -> Result<()> {
    let limits = Limits {
        max_datagrams: usize::from(u.int_in_range(0u8..=8)?),
        max_bytes: usize::from(u.int_in_range(0u16..=u16::MAX)?) * 2,
        timeout: Duration::from_secs(60),
    };
    let mut r = Reassembler::new(limits, [9; 16]);
    // Each datagram's length and the size of its pieces (IPv6 first pieces hold the TCP
    // header): fragments cut by this plan fit together, so datagrams complete.
    let mut plan = [(0usize, 0usize); 8];
    for (d, p) in plan.iter_mut().enumerate() {
        let min_units = if d < 4 { 1 } else { 3 };
        let chunk = 8 * usize::from(u.int_in_range(min_units..=6u8)?);
        *p = (
            8 * usize::from(u.int_in_range(3u8..=40)?) + usize::from(u.int_in_range(0u8..=7)?),
            chunk,
        );
    }
    let mut now = Instant::from_secs(1);
    let mut fed: Vec<Vec<Fed>> = (0..8).map(|_| Vec::new()).collect();
    let mut completed = 0u64;
    // Raw bytes may be fragments of these datagrams too: what completes next is not checked.
    let mut tainted = [false; 8];
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0u8..=15)? {
            0..=13 => {
                let d = u.int_in_range(0u8..=7)?;
                // (The IPv4 protocol is part of the datagram's key: one per datagram.)
                let icmp = if d < 4 { d == 3 } else { u.ratio(1, 8)? };
                let hbh = u.arbitrary()?;
                let more = !u.ratio(1, 4)?;
                // Mostly a piece of the plan; sometimes anything.
                let (total, chunk) = plan[usize::from(d)];
                let (offset, len, more) = if u.ratio(7, 8)? {
                    let off = chunk * u.choose_index(total.div_ceil(chunk))?;
                    let end = (off + chunk).min(total);
                    (off, end - off, end < total)
                } else {
                    let off = usize::from(u.int_in_range(0u16..=8191)?) * 8;
                    (off, usize::from(u.int_in_range(0u16..=3000)?), more)
                };
                let mut data: Vec<u8> = (offset..offset + len).map(|o| pattern(d, o)).collect();
                if u.ratio(1, 20)? && !data.is_empty() {
                    let i = u.choose_index(data.len())?;
                    data[i] ^= 1 + u.int_in_range(0u8..=254)?;
                }
                let pkt = fragment(d, icmp, offset, &data, more, hbh);
                let slot = &mut fed[usize::from(d)];
                slot.push(Fed { offset, more, data });
                if let Some(whole) = r.insert(now, &pkt) {
                    if !std::mem::take(&mut tainted[usize::from(d)]) {
                        check_whole(d, &whole, slot);
                    }
                    slot.clear();
                    completed += 1;
                }
            }
            14 => {
                let len = u.int_in_range(0u16..=200)?;
                let bytes = u.bytes(usize::from(len))?;
                assert!(r.insert(now, bytes).is_none_or(|w| w.len() >= 20));
                completed = r.stats().reassembled; // raw bytes may complete anything
                tainted = [true; 8];
            }
            _ => {
                let step = if u.ratio(7, 8)? { 2_000 } else { 70_000 };
                now += Duration::from_millis(u64::from(u.int_in_range(0u32..=step)?));
                r.expire(now, |q| {
                    let v = q.first().map(|b| b >> 4);
                    assert!(matches!(v, Some(4 | 6)), "quote of an IP datagram");
                    let max = if v == Some(4) { 60 + 8 } else { 1232 };
                    assert!(q.len() <= max, "quote of {} bytes", q.len());
                });
                assert!(r.next_deadline().is_none_or(|t| t > now), "expired all due");
            }
        }
        assert!(r.memory() <= limits.max_bytes, "{} bytes held", r.memory());
        assert!(
            r.datagrams() <= limits.max_datagrams,
            "{} held",
            r.datagrams()
        );
        assert_eq!(r.stats().reassembled, completed);
        assert_eq!(r.next_deadline().is_some(), r.datagrams() > 0);
        assert_eq!(r.memory() == 0, r.datagrams() == 0);
        *stats = r.stats().clone();
    }
    Ok(())
}
