//! The connection table: every TCB and every compact TIME-WAIT entry of an endpoint in one
//! slab, found by handle (an index: O(1), no hashing) or by 4-tuple (a hash table of slab
//! indices under a keyed SipHash of the tuple: O(1), and a peer cannot pick tuples that
//! collide without knowing the endpoint's secret).
//!
//! A [`ConnHandle`] is the slot's index plus one in its low 32 bits and the slot's generation
//! in its high 32 bits. A freed slot's generation moves on, so a stale handle never reaches the
//! connection that reuses the slot.
//!
//! Memory: a slot is 48 bytes (a TIME-WAIT entry lives in it; a live connection's TCB is
//! boxed beside it) and the tuple index 4 bytes plus one control byte per bucket.

use core::hash::{Hash, Hasher};
use std::net::{Ipv6Addr, SocketAddr};

use hashbrown::HashTable;
use siphasher::sip::SipHasher13;

use crate::connection::Connection;
use crate::event::{ConnHandle, FourTuple};
use crate::time_wait::TimeWait;
use crate::timer_heap::TimerHeap;

/// The last tuple looked up: its hash and, once found, the slot that owns it.
#[derive(Clone, Copy)]
struct Memo {
    tuple: FourTuple,
    hash: u64,
    /// The owner's slot, or `NONE` when not known. `bind` sets it and `unbind` forgets it
    /// (they are the only changes to the index); a slot is freed only after its tuple is
    /// unbound.
    owner: u32,
}

/// "No slot": the end of the free list and of the TIME-WAIT queue.
pub(crate) const NONE: u32 = u32::MAX;

pub(crate) enum Slot {
    Free { gen: u32, next: u32 },
    Live(Live),
    TimeWait(TimeWait),
}

/// A live connection's slot: its TCB, and beside it what the endpoint keeps about the
/// connection — where its deadline sits in the timer heap, whether it waits in the transmit
/// queue, and the bytes it last reported to the endpoint's memory accounts. The TCB knows
/// nothing of these: they are the endpoint's bookkeeping, written only by the endpoint.
pub(crate) struct Live {
    pub gen: u32,
    /// Position of this connection's deadline in the timer heap (timer_heap.rs), or `NONE`.
    pub timer_pos: u32,
    /// Queued in the endpoint's transmit (ready) queue.
    pub in_ready: bool,
    /// Receive memory and send-buffer bytes last reported to the endpoint's budget (u32: one
    /// connection's buffers stay far below 4 GiB).
    pub rx_accounted: u32,
    pub tx_accounted: u32,
    /// Ring storage last reported to the endpoint (`retained_ring_storage`).
    pub rings_accounted: usize,
    pub conn: Box<Connection>,
}

impl Slot {
    fn gen(&self) -> u32 {
        match self {
            Slot::Free { gen, .. } => *gen,
            Slot::Live(l) => l.gen,
            Slot::TimeWait(tw) => tw.gen,
        }
    }
}

impl ConnHandle {
    pub(crate) fn from_slot(index: u32, gen: u32) -> ConnHandle {
        ConnHandle((u64::from(gen) << 32) | (u64::from(index) + 1))
    }

    /// The slot index (`u32::MAX` for handle 0, which no slot has).
    pub(crate) fn slot(self) -> u32 {
        (self.0 as u32).wrapping_sub(1)
    }

    pub(crate) fn gen(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

pub(crate) struct ConnTable {
    pub(crate) slots: Vec<Slot>,
    /// Head of the free list.
    free: u32,
    /// Slab indices of every connection that owns its 4-tuple, by tuple.
    index: HashTable<u32>,
    key: [u8; 16],
    memo: std::cell::Cell<Option<Memo>>,
    live: usize,
    /// The generation a slot appended to the slab starts with: above every generation a slot
    /// that `shrink` cut off had, so a stale handle to such a slot never reaches the
    /// connection that later takes its index.
    fresh_gen: u32,
    /// TIME-WAIT slots still visible to the user (not yet reaped).
    pub(crate) time_wait_visible: usize,
    /// IPv6 address pairs of TIME-WAIT entries: an entry holds an index here, so an IPv4
    /// entry (the common case) stays small.
    pub(crate) v6: Vec<[Ipv6Addr; 2]>,
    pub(crate) v6_free: Vec<u32>,
    /// The TIME-WAIT expiry queue (time_wait.rs): a list threaded through the entries.
    pub(crate) tw_head: u32,
    pub(crate) tw_tail: u32,
    /// Entries whose 2MSL wait restarted, by their new deadline (time_wait.rs).
    pub(crate) tw_restarted:
        std::collections::BinaryHeap<std::cmp::Reverse<(crate::time::Instant, u32, u32)>>,
    /// Live connections' deadlines (timer_heap.rs).
    pub(crate) timers: TimerHeap,
}

impl ConnTable {
    pub(crate) fn new(key: [u8; 16]) -> ConnTable {
        ConnTable {
            slots: Vec::new(),
            free: NONE,
            index: HashTable::new(),
            key,
            memo: std::cell::Cell::new(None),
            live: 0,
            fresh_gen: 0,
            time_wait_visible: 0,
            v6: Vec::new(),
            v6_free: Vec::new(),
            tw_head: NONE,
            tw_tail: NONE,
            tw_restarted: std::collections::BinaryHeap::new(),
            timers: TimerHeap::default(),
        }
    }

    /// Connections the user can see: live TCBs and TIME-WAIT entries.
    pub(crate) fn len(&self) -> usize {
        self.live + self.time_wait_visible
    }

    /// The handle the next `insert` will use.
    pub(crate) fn vacant(&self) -> ConnHandle {
        match self.free {
            NONE => ConnHandle::from_slot(self.slots.len() as u32, self.fresh_gen),
            i => ConnHandle::from_slot(i, self.slots[i as usize].gen()),
        }
    }

    /// Store a new connection in the slot `vacant` named (its `handle`). It comes boxed:
    /// built where it will stay (`Box::new(Connection::new(..))`), the 900-byte TCB is not
    /// moved again on its way in (each move was a `memcpy` whose wide loads waited on the
    /// constructor's narrow stores).
    pub(crate) fn insert(&mut self, conn: Box<Connection>) {
        let h = conn.handle;
        debug_assert_eq!(h, self.vacant(), "insert takes the vacant slot");
        let slot = Slot::Live(Live {
            gen: h.gen(),
            timer_pos: NONE,
            in_ready: false,
            rx_accounted: 0,
            tx_accounted: 0,
            rings_accounted: 0,
            conn,
        });
        let i = h.slot() as usize;
        if i == self.slots.len() {
            self.slots.push(slot);
        } else {
            let Slot::Free { next, .. } = self.slots[i] else {
                unreachable!("the free list holds only free slots");
            };
            self.free = next;
            self.slots[i] = slot;
        }
        self.live += 1;
    }

    pub(crate) fn get(&self, h: &ConnHandle) -> Option<&Connection> {
        self.live(h).map(|l| &*l.conn)
    }

    pub(crate) fn get_mut(&mut self, h: &ConnHandle) -> Option<&mut Connection> {
        self.live_mut(h).map(|l| &mut *l.conn)
    }

    /// A live connection's slot: its TCB and the endpoint's bookkeeping about it.
    pub(crate) fn live(&self, h: &ConnHandle) -> Option<&Live> {
        match self.slots.get(h.slot() as usize) {
            Some(Slot::Live(l)) if l.gen == h.gen() => Some(l),
            _ => None,
        }
    }

    pub(crate) fn live_mut(&mut self, h: &ConnHandle) -> Option<&mut Live> {
        match self.slots.get_mut(h.slot() as usize) {
            Some(Slot::Live(l)) if l.gen == h.gen() => Some(l),
            _ => None,
        }
    }

    pub(crate) fn time_wait(&self, h: ConnHandle) -> Option<&TimeWait> {
        match self.slots.get(h.slot() as usize) {
            Some(Slot::TimeWait(tw)) if tw.gen == h.gen() && tw.visible() => Some(tw),
            _ => None,
        }
    }

    pub(crate) fn time_wait_mut(&mut self, h: ConnHandle) -> Option<&mut TimeWait> {
        match self.slots.get_mut(h.slot() as usize) {
            Some(Slot::TimeWait(tw)) if tw.gen == h.gen() && tw.visible() => Some(tw),
            _ => None,
        }
    }

    /// Free a live connection's slot (it must no longer own its tuple).
    pub(crate) fn remove(&mut self, h: &ConnHandle) -> Option<Box<Connection>> {
        self.get(h)?;
        self.set_timer(*h, None);
        self.live -= 1;
        match self.free_slot(h.slot()) {
            Slot::Live(l) => Some(l.conn),
            _ => None,
        }
    }

    /// Put a slot on the free list with the next generation; returns what it held.
    pub(crate) fn free_slot(&mut self, i: u32) -> Slot {
        let gen = self.slots[i as usize].gen().wrapping_add(1);
        let old = std::mem::replace(
            &mut self.slots[i as usize],
            Slot::Free {
                gen,
                next: self.free,
            },
        );
        self.free = i;
        old
    }

    /// Turn a live connection's slot into a TIME-WAIT entry; the TCB is returned to be
    /// dropped. The tuple index is unchanged: the entry still answers for the tuple.
    pub(crate) fn replace_with_time_wait(&mut self, h: ConnHandle, tw: TimeWait) {
        debug_assert!(self.get(&h).is_some());
        self.set_timer(h, None);
        self.slots[h.slot() as usize] = Slot::TimeWait(tw);
        self.live -= 1;
        self.time_wait_visible += 1;
    }

    /// Give back what a burst of connections left behind: free slots at the end of the slab
    /// are cut off, the free list is rebuilt lowest index first (new connections fill the
    /// front), and the slab, the tuple index and the timer heap shrink to what they hold.
    /// Returns about how many bytes that freed. O(slots); for idle times.
    pub(crate) fn shrink(&mut self) -> usize {
        let bytes = |t: &Self| {
            t.slots.capacity() * std::mem::size_of::<Slot>()
                + t.index.capacity() * (std::mem::size_of::<u32>() + 1)
                + t.timers.capacity_bytes()
                + t.tw_restarted.capacity()
                    * std::mem::size_of::<(crate::time::Instant, u32, u32)>()
        };
        let before = bytes(self);
        while let Some(Slot::Free { gen, .. }) = self.slots.last() {
            self.fresh_gen = self.fresh_gen.max(gen.wrapping_add(1));
            self.slots.pop();
        }
        self.free = NONE;
        for i in (0..self.slots.len()).rev() {
            if let Slot::Free { next, .. } = &mut self.slots[i] {
                *next = self.free;
                self.free = i as u32;
            }
        }
        self.slots.shrink_to_fit();
        let (slots, v6, key) = (&self.slots, &self.v6, &self.key);
        self.index
            .shrink_to_fit(|&i| Self::slot_tuple(slots, v6, i).map_or(0, |t| Self::hash(key, &t)));
        self.timers.shrink_to_fit();
        self.tw_restarted.shrink_to_fit();
        before.saturating_sub(bytes(self))
    }

    /// Handles of every live connection and visible TIME-WAIT entry.
    pub(crate) fn keys(&self) -> impl Iterator<Item = ConnHandle> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Live(l) => Some(ConnHandle::from_slot(i as u32, l.gen)),
            Slot::TimeWait(tw) if tw.visible() => Some(ConnHandle::from_slot(i as u32, tw.gen)),
            _ => None,
        })
    }

    // ----- the tuple index ------------------------------------------------------------------

    /// The tuple's hash, remembered for the last tuple asked: a segment's lookup is usually
    /// followed by a `bind` of the same tuple (a SYN creating a connection), and by more
    /// segments of the same connection.
    fn tuple_hash(&self, tuple: &FourTuple) -> u64 {
        if let Some(m) = self.memo.get() {
            if m.tuple == *tuple {
                return m.hash;
            }
        }
        let hash = Self::hash(&self.key, tuple);
        self.remember(tuple, hash, NONE);
        hash
    }

    /// Remember `tuple`, its hash and its owner's slot (`NONE`: not known).
    fn remember(&self, tuple: &FourTuple, hash: u64, owner: u32) {
        self.memo.set(Some(Memo {
            tuple: *tuple,
            hash,
            owner,
        }));
    }

    fn hash(key: &[u8; 16], tuple: &FourTuple) -> u64 {
        let mut h = SipHasher13::new_with_key(key);
        match (tuple.local, tuple.remote) {
            // The common case in two fixed-size writes (12 bytes in all).
            (SocketAddr::V4(l), SocketAddr::V4(r)) => {
                h.write_u64((u64::from(l.ip().to_bits()) << 32) | u64::from(r.ip().to_bits()));
                h.write_u32((u32::from(l.port()) << 16) | u32::from(r.port()));
            }
            _ => tuple.hash(&mut h),
        }
        h.finish()
    }

    fn slot_tuple(slots: &[Slot], v6: &[[Ipv6Addr; 2]], i: u32) -> Option<FourTuple> {
        match slots.get(i as usize)? {
            Slot::Live(l) => Some(l.conn.tuple),
            Slot::TimeWait(tw) => Some(tw.tuple(v6)),
            Slot::Free { .. } => None,
        }
    }

    /// The connection that owns `tuple`, if any.
    ///
    /// A run of segments for one connection (a bulk transfer, a handshake and its close)
    /// finds it without probing the index again.
    pub(crate) fn lookup(&self, tuple: &FourTuple) -> Option<ConnHandle> {
        let (slots, v6) = (&self.slots, &self.v6);
        let hash = match self.memo.get().filter(|m| m.tuple == *tuple) {
            Some(m) => match slots.get(m.owner as usize) {
                Some(slot) if !matches!(slot, Slot::Free { .. }) => {
                    return Some(ConnHandle::from_slot(m.owner, slot.gen()));
                }
                _ => m.hash, // no owner remembered (NONE is past every slot)
            },
            None => Self::hash(&self.key, tuple),
        };
        let found = self
            .index
            .find(hash, |&i| {
                Self::slot_tuple(slots, v6, i).as_ref() == Some(tuple)
            })
            .copied();
        self.remember(tuple, hash, found.unwrap_or(NONE));
        let i = found?;
        Some(ConnHandle::from_slot(i, slots[i as usize].gen()))
    }

    pub(crate) fn contains_tuple(&self, tuple: &FourTuple) -> bool {
        self.lookup(tuple).is_some()
    }

    /// Make `h` the owner of `tuple` (no other connection may own it).
    pub(crate) fn bind(&mut self, tuple: &FourTuple, h: ConnHandle) {
        let hash = self.tuple_hash(tuple);
        if self.index.len() == self.index.capacity() {
            self.grow_index();
        }
        let (slots, v6, key) = (&self.slots, &self.v6, &self.key);
        self.index.insert_unique(hash, h.slot(), |&i| {
            Self::slot_tuple(slots, v6, i).map_or(0, |t| Self::hash(key, &t))
        });
        // The new owner is remembered: the connection's first segment (a SYN-ACK, the
        // handshake's ACK) finds it without a probe.
        self.remember(tuple, hash, h.slot());
    }

    /// Rebuild the full tuple index, larger, before an insertion would make it rehash itself.
    ///
    /// A rehash moves entries in bucket order, which is random order in the slab: every entry
    /// costs a cache miss for its slot (and, for a live connection, one more for its TCB) —
    /// 5% of the lifecycle row's time once a million TIME-WAIT entries fill the table. Here
    /// the owners are marked in a bitmap (one bit a slot), then hashed and inserted in slab
    /// order, so the slots stream through the cache. The new capacity is 1.5 times the
    /// entries: one doubling of the buckets when the table is full of live entries, as
    /// hashbrown grows it; less when deletions left tombstones, and never so small that the
    /// next rebuild comes before half as many insertions again.
    #[cold]
    fn grow_index(&mut self) {
        let mut owners = vec![0u64; self.slots.len().div_ceil(64)];
        for &i in self.index.iter() {
            let w = i as usize / 64;
            if w >= owners.len() {
                owners.resize(w + 1, 0); // an entry past the slab: a bug elsewhere, kept all the same
            }
            owners[w] |= 1 << (i % 64);
        }
        let len = self.index.len();
        let mut index = HashTable::with_capacity(len.saturating_add(len / 2).max(len + 1));
        let (slots, v6, key) = (&self.slots, &self.v6, &self.key);
        let rehash = |&i: &u32| Self::slot_tuple(slots, v6, i).map_or(0, |t| Self::hash(key, &t));
        for (w, &word) in owners.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let i = (w * 64) as u32 + bits.trailing_zeros();
                bits &= bits - 1;
                index.insert_unique(rehash(&i), i, rehash);
            }
        }
        self.index = index;
    }

    /// `h` gives up `tuple`, if it owns it.
    pub(crate) fn unbind(&mut self, tuple: &FourTuple, h: ConnHandle) {
        let hash = self.tuple_hash(tuple);
        self.remember(tuple, hash, NONE);
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == h.slot()) {
            entry.remove();
        }
    }
}

/// Hashing for maps whose keys the endpoint chooses — listener addresses, connection handles
/// — never a peer: a multiply-rotate over the written words, far cheaper than SipHash.
/// Lookups with a peer's values (a SYN's destination) cannot flood such a map: only our own
/// insertions fill it.
#[derive(Clone, Copy, Default)]
pub(crate) struct OwnKeys;

#[derive(Default)]
pub(crate) struct OwnKeysHasher(u64);

impl core::hash::BuildHasher for OwnKeys {
    type Hasher = OwnKeysHasher;
    fn build_hasher(&self) -> OwnKeysHasher {
        OwnKeysHasher(0)
    }
}

impl Hasher for OwnKeysHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 6's memory budget: a TIME-WAIT entry (its slot plus about 10 bytes of tuple
    /// index) within 64 bytes, an idle connection (slot, index and TCB, buffers not yet
    /// allocated) within 1 KiB. These sizes are what keep both: 928 + 48 + the index is
    /// about 999 bytes requested per idle connection (bench row 4). PRR's 12 bytes of
    /// accounting took it from 920 to 936; moving the receive buffer's out-of-order list into
    /// the box it shares with kept packets took it back to 920; RACK-TLP and quick ACKs used
    /// the rest of that headroom, and undo.rs's one pointer (its state boxed, made with the
    /// first loss) took it to 928.
    #[test]
    fn a_slot_is_48_bytes_and_a_tcb_at_most_928() {
        assert_eq!(std::mem::size_of::<Slot>(), 48);
        let tcb = std::mem::size_of::<Connection>();
        assert!(tcb <= 928, "Connection grew to {tcb} bytes");
    }

    /// The slab-order rebuild grows the index exactly as hashbrown grows a table by itself
    /// (one doubling of the buckets when full), so a TIME-WAIT entry's share of the index,
    /// and issue 6's 64-byte budget, are unchanged.
    #[test]
    fn the_index_grows_as_hashbrown_would() {
        let mut table = ConnTable::new([7; 16]);
        let mut reference: HashTable<u32> = HashTable::new();
        for i in 0..2000u32 {
            let port = i as u16;
            let tuple = FourTuple {
                local: SocketAddr::from(([10, 0, 0, 1], port)),
                remote: SocketAddr::from(([10, 0, 0, 2], 80)),
            };
            table.bind(&tuple, ConnHandle::from_slot(i, 0));
            let hash = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            reference.insert_unique(hash, i, |&j| {
                u64::from(j).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            });
            assert_eq!(table.index.len(), reference.len());
            assert_eq!(table.index.capacity(), reference.capacity(), "at {i}");
        }
    }

    #[test]
    fn handles_encode_slot_and_generation() {
        let h = ConnHandle::from_slot(0, 0);
        assert_eq!(h, ConnHandle(1));
        assert_eq!((h.slot(), h.gen()), (0, 0));
        let h = ConnHandle::from_slot(41, 7);
        assert_eq!((h.slot(), h.gen()), (41, 7));
        assert_eq!(ConnHandle(0).slot(), u32::MAX, "handle 0 names no slot");
    }
}
