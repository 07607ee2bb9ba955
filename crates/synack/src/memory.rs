//! Two connected in-memory devices: what one sends, the other receives. For tests and
//! examples that need no root and no TUN device.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::device::{Device, Wakeup};

/// Packets a direction holds before it drops new ones (a full queue, like a NIC ring).
pub const DEFAULT_QUEUE: usize = 4096;

#[derive(Default)]
struct Queue {
    packets: VecDeque<Vec<u8>>,
    /// Set by a [`Wakeup`]; the next `recv` returns `Ok(None)` and clears it.
    woken: bool,
    dropped: u64,
}

#[derive(Default)]
struct Chan {
    queue: Mutex<Queue>,
    cond: Condvar,
}

impl Chan {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One end of a [`MemoryPair`].
pub struct MemoryDevice {
    rx: Arc<Chan>,
    tx: Arc<Chan>,
    mtu: usize,
    capacity: usize,
}

/// Constructor of two connected [`MemoryDevice`]s.
pub struct MemoryPair;

impl MemoryPair {
    /// Two connected devices with an MTU of 1500 bytes.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (MemoryDevice, MemoryDevice) {
        MemoryPair::with_mtu(1500)
    }

    /// Two connected devices with the given MTU (at least 68, the IPv4 minimum).
    pub fn with_mtu(mtu: usize) -> (MemoryDevice, MemoryDevice) {
        let mtu = mtu.clamp(68, 65535);
        let (a, b) = (Arc::new(Chan::default()), Arc::new(Chan::default()));
        (
            MemoryDevice {
                rx: a.clone(),
                tx: b.clone(),
                mtu,
                capacity: DEFAULT_QUEUE,
            },
            MemoryDevice {
                rx: b,
                tx: a,
                mtu,
                capacity: DEFAULT_QUEUE,
            },
        )
    }
}

impl MemoryDevice {
    /// Packets dropped because this device's receive queue was full.
    pub fn dropped(&self) -> u64 {
        self.rx.lock().dropped
    }
}

impl Device for MemoryDevice {
    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<Option<usize>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut q = self.rx.lock();
        loop {
            if q.woken {
                q.woken = false;
                return Ok(None);
            }
            if let Some(p) = q.packets.pop_front() {
                let n = p.len().min(buf.len());
                buf[..n].copy_from_slice(&p[..n]);
                return Ok(Some(n));
            }
            match deadline {
                None => q = self.rx.cond.wait(q).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(None);
                    }
                    q = self
                        .rx
                        .cond
                        .wait_timeout(q, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if packet.len() > self.mtu {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("packet of {} bytes exceeds MTU {}", packet.len(), self.mtu),
            ));
        }
        let mut q = self.tx.lock();
        if q.packets.len() >= self.capacity {
            q.dropped += 1;
            return Ok(());
        }
        q.packets.push_back(packet.to_vec());
        drop(q);
        self.tx.cond.notify_all();
        Ok(())
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn wakeup(&self) -> Wakeup {
        let chan = self.rx.clone();
        Wakeup::new(move || {
            chan.lock().woken = true;
            chan.cond.notify_all();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_carries_packets_both_ways_and_wakes() {
        let (mut a, mut b) = MemoryPair::new();
        a.send(b"ping").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(b.recv(&mut buf, None).unwrap(), Some(4));
        assert_eq!(&buf[..4], b"ping");
        b.send(b"pong!").unwrap();
        assert_eq!(a.recv(&mut buf, Some(Duration::ZERO)).unwrap(), Some(5));
        assert_eq!(a.recv(&mut buf, Some(Duration::ZERO)).unwrap(), None);
        a.wakeup().wake();
        assert_eq!(a.recv(&mut buf, None).unwrap(), None);
        assert!(a.send(&[0u8; 1501]).is_err());
    }
}
