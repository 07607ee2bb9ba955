//! IP reassembly: IPv4 (RFC 791 §3.2, RFC 1122 §3.3.2) and IPv6 (RFC 8200 §4.5), with
//! overlapping fragments rejected (RFC 5722).
//!
//! A datagram being reassembled is keyed by (source, destination, protocol, identification)
//! for IPv4 and (source, destination, identification) for IPv6. Its fragments are held as
//! received, by offset, and must tile the datagram exactly:
//!
//! - **Overlap** (RFC 5722): a fragment that overlaps one already held discards the whole
//!   datagram, and every fragment of it that arrives later until its timeout, silently. IPv4
//!   is treated the same way (RFC 791 would let later data overwrite earlier; since RFC 1858
//!   and the FragmentSmack years hosts discard instead, as Linux does). An exact duplicate —
//!   same offset, length and bytes — is not an overlap (RFC 8200 §4.5 allows ignoring it): it
//!   is dropped and counted. A second last fragment that ends elsewhere, or a fragment beyond
//!   the last one's end, conflicts the same way.
//! - **Malformed fragments** are dropped (counted `invalid`; the datagram carries on): a
//!   fragment that is not the last whose length is not a multiple of 8; one that would make
//!   the datagram longer than 65535 bytes (IPv4 total length, IPv6 payload length); an empty
//!   one; an IPv6 first fragment without the whole header chain and the upper-layer header
//!   (RFC 8200 §4.5, RFC 7112: 20 bytes of TCP, 8 of UDP or ICMPv6). An IPv4 first fragment
//!   need not hold the TCP header: `nmap -f` sends it in 8-byte pieces, and a host that
//!   reassembles before looking at TCP has nothing to fear from that (RFC 1858 is about
//!   filters). DF is not looked at on receipt, nor the reserved flag bit.
//! - **Timeout**: 60 s from the first fragment of a datagram (RFC 1122 §3.3.2: a fixed value,
//!   not the TTL; RFC 8200 §4.5: 60 s). A datagram whose first fragment (offset 0) arrived
//!   yields the quote for an ICMP Time Exceeded, code 1 (RFC 792, RFC 8200), unless it is
//!   itself an ICMP error (RFC 1122 §3.2.2).
//! - **Bounds**: at most `max_datagrams` datagrams and `max_bytes` bytes (fragment data plus
//!   an estimate of the bookkeeping) are held. A fragment that does not fit evicts the oldest
//!   incomplete datagrams first; one whose datagram alone would exceed `max_bytes` drops that
//!   datagram. Both are counted `evicted`.
//!
//! The reassembled datagram is a plain one: IPv4 with a 20-byte header (the first fragment's
//! fields, no options — TCP ignores them, RFC 9293 MUST-50 — MF and offset clear, checksum
//! filled); IPv6 with the first fragment's fixed header, the Fragment header's next header
//! and the fragmentable part (the extension headers before the Fragment header were processed
//! on each fragment already). Deadlines are kept in arrival order, which is deadline order
//! as the timeout is fixed: the next one is found without scanning the table.

use core::hash::BuildHasher;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};

use siphasher::sip::SipHasher13;
use synack_wire::{ipv6_chain, Ipv4Packet, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP};

use crate::time::{Duration, Instant};

/// The table's bounds and timeout (from `Config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Datagrams being reassembled at once.
    pub max_datagrams: usize,
    /// Bytes held over all of them (data plus [`PIECE_COST`] per fragment and
    /// [`ENTRY_COST`] per datagram).
    pub max_bytes: usize,
    /// How long a datagram may take, from its first fragment.
    pub timeout: Duration,
}

/// Bookkeeping charged per datagram, bytes: its table entry and up to two deadline queue
/// items (checked by a test), rounded up.
pub const ENTRY_COST: usize = 256;
/// Bookkeeping charged per fragment held, bytes: its share of a B-tree node (11 pieces of
/// 24 bytes and the node's links, at least half full) and the allocator's overhead on its
/// data, rounded up.
pub const PIECE_COST: usize = 80;
/// An IPv6 Time Exceeded quotes at most this much of the first fragment (RFC 4443 §3.3: the
/// message fits in the minimum MTU of 1280).
const V6_QUOTE: usize = 1280 - 48;

/// What the reassembler did, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FragmentStats {
    /// Fragments handed to the reassembler.
    pub received: u64,
    /// Datagrams completed and passed on.
    pub reassembled: u64,
    /// Datagrams abandoned at the reassembly timeout.
    pub timeouts: u64,
    /// Datagrams discarded for overlapping or conflicting fragments (RFC 5722).
    pub overlaps: u64,
    /// Incomplete datagrams dropped to keep within the table's bounds.
    pub evicted: u64,
    /// Malformed fragments dropped (lengths, offsets, an IPv6 first fragment without its
    /// upper-layer header).
    pub invalid: u64,
    /// Exact duplicates of fragments already held, dropped.
    pub duplicates: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        ident: u16,
    },
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ident: u32,
    },
}

/// One fragment, parsed.
struct Fragment<'a> {
    key: Key,
    /// Bytes before the data: the IPv4 header, or the IPv6 headers through the Fragment
    /// header.
    header: &'a [u8],
    offset: usize,
    more: bool,
    data: &'a [u8],
    /// IPv6: the Fragment header's next header (the reassembled datagram's).
    next_header: u8,
    /// A first fragment of an ICMP error message: no Time Exceeded about it.
    icmp_error: bool,
}

/// A datagram being reassembled.
struct Entry {
    /// Its place in `order`.
    id: u64,
    /// Fragment data by offset; pieces never overlap.
    pieces: BTreeMap<usize, Box<[u8]>>,
    /// Data bytes held.
    have: usize,
    /// The data's length, once the last fragment arrived.
    total: Option<usize>,
    /// The first fragment's header bytes, once it arrived.
    first: Option<Box<[u8]>>,
    next_header: u8,
    icmp_error: bool,
    /// Overlap seen: every fragment is dropped until the timeout (RFC 5722).
    discarded: bool,
    /// Bytes charged to the table.
    charged: usize,
}

impl Entry {
    fn cost(&self) -> usize {
        ENTRY_COST
            + self.have
            + self.pieces.len() * PIECE_COST
            + self.first.as_ref().map_or(0, |f| f.len())
    }
}

/// SipHash keyed by the endpoint's secret: the keys are chosen by remote hosts.
#[derive(Clone)]
struct Keyed([u8; 16]);

impl BuildHasher for Keyed {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_key(&self.0)
    }
}

/// The reassembly table.
pub struct Reassembler {
    limits: Limits,
    entries: HashMap<Key, Entry, Keyed>,
    /// (deadline, id, key) in arrival order = deadline order; stale items (entries gone or
    /// replaced) are skipped, and dropped when they outnumber the live ones.
    order: VecDeque<(Instant, u64, Key)>,
    next_id: u64,
    bytes: usize,
    latest: Instant,
    stats: FragmentStats,
}

impl Reassembler {
    /// An empty table; `key` keys its hash (a per-endpoint secret).
    pub fn new(limits: Limits, key: [u8; 16]) -> Reassembler {
        Reassembler {
            limits,
            entries: HashMap::with_hasher(Keyed(key)),
            order: VecDeque::new(),
            next_id: 0,
            bytes: 0,
            latest: Instant::ZERO,
            stats: FragmentStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &FragmentStats {
        &self.stats
    }

    /// Datagrams being reassembled (discarded ones waiting out their timeout included).
    pub fn datagrams(&self) -> usize {
        self.entries.len()
    }

    /// Bytes charged to the table (at most `max_bytes`).
    pub fn memory(&self) -> usize {
        self.bytes
    }

    /// Take one fragment — a whole IPv4 datagram with MF or an offset, or an IPv6 datagram
    /// with a Fragment header — and return the reassembled datagram if it completes one.
    /// Anything else is counted `invalid` and dropped.
    pub fn insert(&mut self, now: Instant, packet: &[u8]) -> Option<Vec<u8>> {
        self.latest = self.latest.max(now);
        self.stats.received += 1;
        let Some(f) = parse(packet) else {
            self.stats.invalid += 1;
            return None;
        };
        if !self.entries.contains_key(&f.key) && !self.make_room(true, ENTRY_COST, None) {
            self.stats.evicted += 1;
            return None;
        }
        let (id, next_id) = (self.next_id, &mut self.next_id);
        let entry = self.entries.entry(f.key).or_insert_with(|| {
            *next_id += 1;
            Entry {
                id,
                pieces: BTreeMap::new(),
                have: 0,
                total: None,
                first: None,
                next_header: 0,
                icmp_error: false,
                discarded: false,
                charged: 0,
            }
        });
        if entry.id == id {
            // New: its deadline joins the queue, and its cost the table's.
            entry.charged = entry.cost();
            self.bytes += entry.charged;
            self.order
                .push_back((self.latest + self.limits.timeout, id, f.key));
        }
        if entry.discarded {
            return None;
        }
        let end = f.offset + f.data.len();
        // The greatest piece starting before this one ends: it overlaps iff it ends after
        // this one starts (pieces are disjoint and sorted).
        let (mut dup, mut conflict) = (false, false);
        if let Some((&o, p)) = entry.pieces.range(..end).next_back() {
            if o + p.len() > f.offset {
                dup = o == f.offset && **p == *f.data;
                conflict = !dup;
            }
        }
        match (f.more, entry.total) {
            (false, Some(t)) => conflict |= t != end,
            (false, None) => {
                let last_end = entry
                    .pieces
                    .last_key_value()
                    .map_or(0, |(o, p)| o + p.len());
                conflict |= last_end > end;
            }
            (true, Some(t)) => conflict |= end > t,
            (true, None) => {}
        }
        if conflict {
            // RFC 5722: the whole datagram goes, and its later fragments with it.
            self.stats.overlaps += 1;
            entry.discarded = true;
            entry.pieces = BTreeMap::new();
            entry.first = None;
            entry.have = 0;
            let cost = entry.cost();
            self.bytes = self.bytes - entry.charged + cost;
            entry.charged = cost;
            return None;
        }
        if dup {
            self.stats.duplicates += 1;
            return None;
        }
        let add = f.data.len() + PIECE_COST + if f.offset == 0 { f.header.len() } else { 0 };
        if !self.make_room(false, add, Some(f.key)) {
            // This datagram alone would exceed the byte bound.
            self.remove(&f.key);
            self.stats.evicted += 1;
            return None;
        }
        let entry = self.entries.get_mut(&f.key)?;
        if !f.more {
            entry.total = Some(end);
        }
        if f.offset == 0 {
            entry.first = Some(f.header.into());
            entry.next_header = f.next_header;
            entry.icmp_error = f.icmp_error;
        }
        entry.pieces.insert(f.offset, f.data.into());
        entry.have += f.data.len();
        let cost = entry.cost();
        self.bytes = self.bytes - entry.charged + cost;
        entry.charged = cost;
        if entry.total != Some(entry.have) {
            return None;
        }
        let entry = self.remove(&f.key)?;
        self.stats.reassembled += 1;
        Some(assemble(f.key, entry))
    }

    /// The earliest deadline of a datagram being reassembled.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&(t, id, key)) = self.order.front() {
            if live(&self.entries, &key, id) {
                return Some(t);
            }
            self.order.pop_front();
        }
        None
    }

    /// Abandon every datagram whose deadline is at or before `now`. For each whose first
    /// fragment arrived (and that is not an ICMP error itself), `quote` gets what an ICMP
    /// Time Exceeded (code 1, fragment reassembly time exceeded) should quote: the first
    /// fragment's IP header and 8 bytes of its data for IPv4 (RFC 792), as much of it as fits
    /// in 1280 bytes for IPv6 (RFC 4443 §3.3).
    pub fn expire(&mut self, now: Instant, mut quote: impl FnMut(&[u8])) {
        while let Some(t) = self.next_deadline() {
            if t > now {
                break;
            }
            let Some((_, _, key)) = self.order.pop_front() else {
                break;
            };
            let Some(entry) = self.remove(&key) else {
                continue;
            };
            if entry.discarded {
                continue; // an overlap's tombstone: counted when it was discarded
            }
            self.stats.timeouts += 1;
            if let (Some(first), Some(data), false) =
                (&entry.first, entry.pieces.get(&0), entry.icmp_error)
            {
                let room = match key {
                    Key::V4 { .. } => 8,
                    Key::V6 { .. } => V6_QUOTE.saturating_sub(first.len()),
                };
                let mut q = first.to_vec();
                q.extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
                quote(&q);
            }
        }
    }

    /// Evict the oldest datagrams (but `keep`) until `add` more bytes, and one more datagram
    /// if `new_entry`, fit. Returns whether they do.
    fn make_room(&mut self, new_entry: bool, add: usize, keep: Option<Key>) -> bool {
        let mut kept = None;
        let fits = loop {
            let full = new_entry && self.entries.len() >= self.limits.max_datagrams;
            if !full && self.bytes + add <= self.limits.max_bytes {
                break true;
            }
            let Some(item) = self.order.pop_front() else {
                break false;
            };
            let (_, id, key) = item;
            if !live(&self.entries, &key, id) {
                continue; // stale
            }
            if Some(key) == keep {
                kept = Some(item);
                continue;
            }
            self.remove(&key);
            self.stats.evicted += 1;
        };
        if let Some(item) = kept {
            self.order.push_front(item);
        }
        fits
    }

    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.bytes -= entry.charged;
        // Completed and evicted datagrams leave their queue items behind: drop them once
        // they outnumber the live ones, so the queue stays within twice the table.
        if self.order.len() > 2 * self.entries.len() + 16 {
            let entries = &self.entries;
            self.order.retain(|(_, id, k)| live(entries, k, *id));
        }
        Some(entry)
    }
}

/// Whether the queue item (`key`, `id`) still stands for an entry of the table.
fn live(entries: &HashMap<Key, Entry, Keyed>, key: &Key, id: u64) -> bool {
    entries.get(key).is_some_and(|e| e.id == id)
}

/// Minimum upper-layer header an IPv6 first fragment must hold (RFC 8200 §4.5, RFC 7112).
fn upper_header_len(protocol: u8) -> usize {
    match protocol {
        IPPROTO_TCP => 20,
        IPPROTO_ICMPV6 | 17 => 8,
        _ => 0,
    }
}

/// ICMP types that are errors (RFC 792; RFC 4443: types below 128).
fn is_icmp_error(protocol: u8, first_byte: Option<u8>) -> bool {
    match (protocol, first_byte) {
        (IPPROTO_ICMP, Some(t)) => matches!(t, 3 | 4 | 5 | 11 | 12),
        (IPPROTO_ICMPV6, Some(t)) => t < 128,
        _ => false,
    }
}

/// Parse and check one fragment; `None` if it is malformed or not a fragment.
fn parse(packet: &[u8]) -> Option<Fragment<'_>> {
    let f = match packet.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(packet).ok()?;
            if !p.verify_checksum() || !(p.more_frags() || p.frag_offset() != 0) {
                return None;
            }
            let hlen = p.header_len();
            let data = packet.get(hlen..usize::from(p.total_len()))?;
            let f = Fragment {
                key: Key::V4 {
                    src: p.src_addr(),
                    dst: p.dst_addr(),
                    protocol: p.protocol(),
                    ident: p.ident(),
                },
                header: packet.get(..hlen)?,
                offset: usize::from(p.frag_offset()),
                more: p.more_frags(),
                data,
                next_header: p.protocol(),
                icmp_error: is_icmp_error(p.protocol(), data.first().copied()),
            };
            // RFC 791: total length is 16 bits (no "ping of death").
            if hlen + f.offset + data.len() > 65535 {
                return None;
            }
            f
        }
        6 => {
            let chain = ipv6_chain(packet).ok()?;
            let frag = chain.fragment?;
            let start = frag.at + synack_wire::Ipv6FragHeader::LEN;
            let data = packet.get(start..chain.end)?;
            let p = synack_wire::Ipv6Packet::new_unchecked(packet);
            let offset = usize::from(frag.header.offset);
            if offset == 0 {
                // RFC 8200 §4.5: the first fragment holds every header through the
                // upper-layer header (ipv6_chain checked the extension headers).
                if chain.upper_at + upper_header_len(chain.upper) > chain.end {
                    return None;
                }
            }
            // RFC 8200 §4.5: the reassembled payload length (unfragmentable part included)
            // must fit in 16 bits.
            if frag.at.saturating_sub(40) + offset + data.len() > 65535 {
                return None;
            }
            let upper_first = packet.get(chain.upper_at).copied();
            Fragment {
                key: Key::V6 {
                    src: p.src_addr(),
                    dst: p.dst_addr(),
                    ident: frag.header.ident,
                },
                header: packet.get(..start)?,
                offset,
                more: frag.header.more,
                data,
                next_header: frag.header.next_header,
                icmp_error: offset == 0 && is_icmp_error(chain.upper, upper_first),
            }
        }
        _ => return None,
    };
    // Every fragment but the last carries a multiple of 8 bytes (RFC 791, RFC 8200 §4.5);
    // an empty one carries nothing.
    if (f.more && f.data.len() % 8 != 0) || f.data.is_empty() {
        return None;
    }
    Some(f)
}

/// The whole datagram from a complete entry (see the module documentation).
fn assemble(key: Key, entry: Entry) -> Vec<u8> {
    let first = entry.first.unwrap_or_default();
    let total = entry.have;
    let header_len = match key {
        Key::V4 { .. } => 20,
        Key::V6 { .. } => 40,
    };
    let mut out = Vec::with_capacity(header_len + total);
    out.extend_from_slice(first.get(..header_len).unwrap_or(&[]));
    out.resize(header_len, 0);
    match key {
        Key::V4 { .. } => {
            let mut p = Ipv4Packet::new_unchecked(&mut out[..]);
            p.set_header_len(20);
            p.set_total_len((20 + total) as u16);
            p.set_more_frags(false);
            p.set_frag_offset(0);
            p.fill_checksum();
        }
        Key::V6 { .. } => {
            let mut p = synack_wire::Ipv6Packet::new_unchecked(&mut out[..]);
            p.set_payload_len(total as u16);
            p.set_next_header(entry.next_header);
        }
    }
    for piece in entry.pieces.values() {
        out.extend_from_slice(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_datagrams: 8,
        max_bytes: 1 << 20,
        timeout: Duration::from_secs(60),
    };

    /// An IPv4 fragment of datagram `ident` (10.0.0.1 → 10.0.0.2, TCP): `len` bytes of 0xab at
    /// `offset`.
    fn frag(ident: u16, offset: u16, len: usize, more: bool) -> Vec<u8> {
        let mut f = vec![0xab; 20 + len];
        let mut p = Ipv4Packet::new_unchecked(&mut f[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_total_len((20 + len) as u16);
        p.set_ident(ident);
        p.set_more_frags(more);
        p.set_frag_offset(offset);
        p.set_ttl(64);
        p.set_protocol(6);
        p.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
        p.fill_checksum();
        f
    }

    #[test]
    fn the_charge_per_datagram_covers_its_bookkeeping() {
        let item = core::mem::size_of::<(Instant, u64, Key)>();
        let entry = core::mem::size_of::<(Key, Entry)>() + 1; // + hashbrown's control byte
        assert!(entry + 2 * item <= ENTRY_COST, "{entry} + 2 x {item}");
    }

    #[test]
    fn two_different_ends_or_data_past_the_end_conflict() {
        let mut r = Reassembler::new(LIMITS, [0; 16]);
        let t = Instant::ZERO;
        assert!(r.insert(t, &frag(1, 16, 8, false)).is_none()); // ends at 24
        assert!(r.insert(t, &frag(1, 8, 8, false)).is_none()); // ends at 16: conflict
        assert_eq!(r.stats().overlaps, 1);
        assert!(r.insert(t, &frag(2, 16, 8, false)).is_none());
        assert!(r.insert(t, &frag(2, 24, 8, true)).is_none()); // past the end
        assert!(r.insert(t, &frag(3, 24, 8, true)).is_none());
        assert!(r.insert(t, &frag(3, 8, 8, false)).is_none()); // data held past this end
        assert_eq!(r.stats().overlaps, 3);
        // Tombstones hold no data, and still count as datagrams until their timeout.
        assert_eq!((r.datagrams(), r.memory()), (3, 3 * ENTRY_COST));
        r.expire(t + LIMITS.timeout, |_| {
            panic!("no Time Exceeded for a discarded datagram")
        });
        assert_eq!((r.datagrams(), r.memory(), r.stats().timeouts), (0, 0, 0));
    }

    #[test]
    fn the_deadline_queue_stays_within_twice_the_table() {
        let mut r = Reassembler::new(LIMITS, [0; 16]);
        for i in 0..10_000u32 {
            let id = i as u16;
            let t = Instant::from_micros(u64::from(i));
            assert!(r.insert(t, &frag(id, 8, 8, false)).is_none());
            assert!(r.insert(t, &frag(id, 0, 8, true)).is_some());
            assert!(
                r.order.len() <= 2 * r.entries.len() + 17,
                "{}",
                r.order.len()
            );
        }
        assert_eq!(r.stats().reassembled, 10_000);
        assert_eq!(r.next_deadline(), None);
        assert!(r.order.is_empty(), "stale items dropped on the way");
    }

    #[test]
    fn room_is_made_by_evicting_others_never_the_datagram_growing() {
        let limits = Limits {
            max_bytes: 2 * ENTRY_COST + 2 * PIECE_COST + 1200,
            ..LIMITS
        };
        let mut r = Reassembler::new(limits, [0; 16]);
        r.insert(Instant::ZERO, &frag(1, 8, 400, true)); // the oldest
        r.insert(Instant::from_secs(1), &frag(2, 8, 400, true));
        // Datagram 1 grows: datagram 2 makes room, and 1 keeps its (earliest) deadline.
        r.insert(Instant::from_secs(2), &frag(1, 408, 400, true));
        assert_eq!(r.stats().evicted, 1);
        assert_eq!(r.datagrams(), 1);
        assert_eq!(r.next_deadline(), Some(Instant::from_secs(60)));
        assert!(r.memory() <= limits.max_bytes);
        // Grown past the bound on its own, it goes.
        r.insert(Instant::from_secs(2), &frag(1, 808, 800, true));
        assert_eq!((r.stats().evicted, r.datagrams(), r.memory()), (2, 0, 0));
    }
}
