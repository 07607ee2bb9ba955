//! Giving memory back after a busy spell. While connections come and go, the endpoint keeps
//! what it will need again: emptied send and receive rings keep their storage (up to
//! `Config::retained_ring_storage` in all), emptied packet buffers wait for `reclaim`, and the
//! connection table keeps the size the busiest moment gave it. That is right while traffic
//! flows and wasted once it stops; [`Endpoint::release_memory`] gives it all back. The runtime
//! calls it once the stack has been idle for a while (`StackBuilder::idle_release`); nothing
//! in use is touched, so calling it at any time is safe, only slower for what comes next.

use crate::endpoint::Endpoint;

impl Endpoint {
    /// Free what the endpoint keeps only for reuse: the storage of every empty send and
    /// receive ring, the packet buffers held for [`Endpoint::reclaim`], and the slack of the
    /// connection table and queues. Returns about how many bytes that was (also counted in
    /// `EndpointStats::memory_released`). O(connections).
    pub fn release_memory(&mut self) -> usize {
        let rings_before = self.ring_storage;
        let handles: Vec<_> = self.conns.keys().collect();
        for h in handles {
            if let Some(l) = self.conns.live_mut(&h) {
                l.conn.release_empty_rings();
                // No limit: what is still held (rings with data) is only reported.
                crate::endpoint::account_rings(&mut self.ring_storage, usize::MAX, l);
            }
        }
        let mut freed = rings_before.saturating_sub(self.ring_storage);
        freed += self.release_spent();
        freed += self.conns.shrink();
        let queues = |e: &Endpoint| {
            e.events.capacity() * std::mem::size_of::<crate::event::Event>()
                + e.ready.capacity() * std::mem::size_of::<crate::event::ConnHandle>()
                + e.control.capacity() * std::mem::size_of::<crate::endpoint::Control>()
                + e.raw_out.capacity() * std::mem::size_of::<Vec<u8>>()
        };
        let before = queues(self);
        self.events.shrink_to_fit();
        self.ready.shrink_to_fit();
        self.control.shrink_to_fit();
        self.raw_out.shrink_to_fit();
        freed += before.saturating_sub(queues(self));
        self.stats.memory_releases += 1;
        self.stats.memory_released += freed as u64;
        freed
    }
}
