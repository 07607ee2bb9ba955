//! The timer heap: each live connection's earliest deadline (RTO, persist, delayed ACK,
//! keep-alive, FIN-WAIT-2; a connection computes its own in `next_deadline`), at most one
//! entry per connection, in a binary min-heap. Each connection knows its entry's position, so
//! a deadline that moves or goes costs O(log n) and the heap never holds stale entries: its
//! size is the number of connections with a timer running, whatever the clock does.
//! TIME-WAIT entries are timed by their own queue (time_wait.rs).

use crate::conn_table::{ConnTable, Slot, NONE};
use crate::event::ConnHandle;
use crate::time::Instant;

#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: Vec<(Instant, u32)>,
}

impl TimerHeap {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn capacity_bytes(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<(Instant, u32)>()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.heap.shrink_to_fit();
    }
}

impl ConnTable {
    fn timer_pos(&mut self, slot: u32) -> Option<&mut u32> {
        match self.slots.get_mut(slot as usize) {
            Some(Slot::Live(l)) => Some(&mut l.timer_pos),
            _ => None,
        }
    }

    /// Record that heap entry `i` now sits at position `i`.
    fn place(&mut self, i: usize) {
        let slot = self.timers.heap[i].1;
        if let Some(pos) = self.timer_pos(slot) {
            *pos = i as u32;
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.timers.heap[parent].0 <= self.timers.heap[i].0 {
                break;
            }
            self.timers.heap.swap(parent, i);
            self.place(i);
            i = parent;
        }
        self.place(i);
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.timers.heap.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut min = i;
            if l < n && self.timers.heap[l].0 < self.timers.heap[min].0 {
                min = l;
            }
            if r < n && self.timers.heap[r].0 < self.timers.heap[min].0 {
                min = r;
            }
            if min == i {
                break;
            }
            self.timers.heap.swap(min, i);
            self.place(i);
            i = min;
        }
        self.place(i);
    }

    /// Set (or with `None` clear) a live connection's deadline.
    pub(crate) fn set_timer(&mut self, h: ConnHandle, at: Option<Instant>) {
        let slot = h.slot();
        let Some(&mut pos) = self.timer_pos(slot) else {
            return;
        };
        if pos != NONE && Some(self.timers.heap[pos as usize].0) == at {
            return; // unchanged: the common case, several times per segment
        }
        match (pos, at) {
            (NONE, None) => {}
            (NONE, Some(t)) => {
                self.timers.heap.push((t, slot));
                self.sift_up(self.timers.heap.len() - 1);
            }
            (p, Some(t)) => {
                let p = p as usize;
                let old = std::mem::replace(&mut self.timers.heap[p].0, t);
                if t < old {
                    self.sift_up(p);
                } else {
                    self.sift_down(p);
                }
            }
            (p, None) => {
                let p = p as usize;
                if let Some(pos) = self.timer_pos(slot) {
                    *pos = NONE;
                }
                let last = self.timers.heap.len() - 1;
                self.timers.heap.swap(p, last);
                self.timers.heap.pop();
                if p < last {
                    self.place(p);
                    self.sift_down(p);
                    self.sift_up(p);
                }
            }
        }
    }

    /// The earliest deadline and its connection.
    pub(crate) fn next_timer(&self) -> Option<(Instant, ConnHandle)> {
        let &(t, slot) = self.timers.heap.first()?;
        let gen = match &self.slots[slot as usize] {
            Slot::Live(l) => l.gen,
            _ => return None,
        };
        Some((t, ConnHandle::from_slot(slot, gen)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::connection::Connection;
    use crate::event::FourTuple;
    use crate::seq::SeqNum;

    /// Random sets, moves and clears against a plain map: the heap's top is always the
    /// earliest deadline, it holds one entry per timed connection, and every position is right.
    #[test]
    fn the_heap_tracks_a_model_through_random_updates() {
        let cfg = Config::default();
        let mut table = ConnTable::new([3; 16]);
        let mut handles = Vec::new();
        for i in 0..64u16 {
            let h = table.vacant();
            let tuple = FourTuple {
                local: "10.0.0.1:80".parse().unwrap(),
                remote: std::net::SocketAddr::new([10, 0, 0, 2].into(), 1000 + i),
            };
            table.insert(Box::new(Connection::new(
                h,
                tuple,
                SeqNum(0),
                0,
                &cfg,
                Instant::ZERO,
            )));
            handles.push(h);
        }
        let mut model: Vec<Option<Instant>> = vec![None; handles.len()];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % handles.len() as u64) as usize;
            let at = !(x >> 32).is_multiple_of(4);
            let t = at.then(|| Instant::from_micros((x >> 40) % 1000));
            table.set_timer(handles[i], t);
            model[i] = t;
            let want = model.iter().flatten().min().copied();
            assert_eq!(table.next_timer().map(|(t, _)| t), want);
            assert_eq!(table.timers.len(), model.iter().flatten().count());
        }
        for (p, &(t, slot)) in table.timers.heap.iter().enumerate() {
            let l = table.live(&handles[slot as usize]).unwrap();
            assert_eq!((l.timer_pos as usize, Some(t)), (p, model[slot as usize]));
        }
        // Removing a connection takes its entry out.
        let timed = 0;
        table.set_timer(handles[timed], Some(Instant::from_micros(5)));
        table.remove(&handles[timed]);
        assert!(table
            .timers
            .heap
            .iter()
            .all(|&(_, s)| s != handles[timed].slot()));
    }
}
