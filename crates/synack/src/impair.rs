//! Impairment middleware: seeded loss, delay, jitter and reordering over any device, in both
//! directions, to watch the stack recover on a real link. Randomness comes from a small
//! SplitMix64 generator seeded by the caller, so a run's choices are reproducible (its timing,
//! on a real device, is not).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::time::{Duration, Instant};

use crate::device::{Device, Wakeup};

/// What to do to packets, each direction independently.
#[derive(Clone, Debug, Default)]
pub struct ImpairConfig {
    /// Probability that a packet is dropped, 0.0–1.0.
    pub loss: f64,
    /// Fixed extra delay of every packet.
    pub delay: Duration,
    /// Uniform random extra delay in `[0, jitter)` on top of `delay`.
    pub jitter: Duration,
    /// Probability that a packet is held back (by `reorder_delay`) so later ones overtake it.
    pub reorder: f64,
    /// How long a reordered packet is held back; default (zero) means 10 ms.
    pub reorder_delay: Duration,
    /// Seed of every random choice.
    pub seed: u64,
    /// Impair sent packets too (default: only received ones).
    pub outbound: bool,
}

/// SplitMix64: tiny, fast, and good enough for choosing which packets to drop.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Packets at most this many are held back at once; more are dropped (bounded memory).
const MAX_HELD: usize = 4096;

/// A held packet: (due, arrival order, outbound?, bytes); the heap pops the earliest.
type Held = Reverse<(Instant, u64, bool, Vec<u8>)>;

/// A device with impairments; see [`ImpairConfig`].
pub struct Impair<D> {
    inner: D,
    cfg: ImpairConfig,
    rng: SplitMix64,
    /// (due, sequence, outbound, packet)
    held: BinaryHeap<Held>,
    seq: u64,
    /// Packets dropped on purpose.
    pub dropped: u64,
}

impl<D: Device> Impair<D> {
    pub fn new(inner: D, cfg: ImpairConfig) -> Impair<D> {
        let rng = SplitMix64::new(cfg.seed);
        Impair {
            inner,
            cfg,
            rng,
            held: BinaryHeap::new(),
            seq: 0,
            dropped: 0,
        }
    }

    /// Decide a packet's fate: `None` drops it, `Some(d)` delivers it after `d`.
    fn fate(&mut self) -> Option<Duration> {
        if self.cfg.loss > 0.0 && self.rng.next_f64() < self.cfg.loss {
            self.dropped += 1;
            return None;
        }
        let mut d = self.cfg.delay;
        if !self.cfg.jitter.is_zero() {
            d += self.cfg.jitter.mul_f64(self.rng.next_f64());
        }
        if self.cfg.reorder > 0.0 && self.rng.next_f64() < self.cfg.reorder {
            d += if self.cfg.reorder_delay.is_zero() {
                Duration::from_millis(10)
            } else {
                self.cfg.reorder_delay
            };
        }
        Some(d)
    }

    fn hold(&mut self, due: Instant, outbound: bool, packet: &[u8]) {
        if self.held.len() >= MAX_HELD {
            self.dropped += 1;
            return;
        }
        self.seq += 1;
        self.held
            .push(Reverse((due, self.seq, outbound, packet.to_vec())));
    }

    /// Send the outbound packets that are due; return a due inbound one, if any.
    fn release(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let now = Instant::now();
        while let Some(Reverse((due, _, _, _))) = self.held.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((_, _, outbound, p))) = self.held.pop() else {
                break;
            };
            if outbound {
                self.inner.send(&p)?;
            } else {
                let n = p.len().min(buf.len());
                buf[..n].copy_from_slice(&p[..n]);
                return Ok(Some(n));
            }
        }
        Ok(None)
    }
}

impl<D: Device> Device for Impair<D> {
    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<Option<usize>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if let Some(n) = self.release(buf)? {
                return Ok(Some(n));
            }
            let now = Instant::now();
            let next_due = self.held.peek().map(|Reverse((d, ..))| *d);
            let wait_until = match (deadline, next_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let wait = wait_until.map(|t| t.saturating_duration_since(now));
            match self.inner.recv(buf, wait)? {
                Some(n) => match self.fate() {
                    None => {}
                    Some(d) if d.is_zero() && self.held.is_empty() => return Ok(Some(n)),
                    Some(d) => {
                        let p = buf[..n].to_vec();
                        self.hold(Instant::now() + d, false, &p);
                    }
                },
                None => {
                    let now = Instant::now();
                    let due_now = self.held.peek().is_some_and(|Reverse((d, ..))| *d <= now);
                    if !due_now {
                        // Woken, or the caller's timeout passed.
                        return Ok(None);
                    }
                }
            }
            // A dropped or held packet: keep waiting, unless the caller's time is up (a
            // stream of dropped packets must not keep recv from returning).
            if deadline.is_some_and(|d| Instant::now() > d) {
                return self.release(buf);
            }
        }
    }

    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        if !self.cfg.outbound {
            return self.inner.send(packet);
        }
        match self.fate() {
            None => Ok(()),
            Some(d) if d.is_zero() && self.held.is_empty() => self.inner.send(packet),
            Some(d) => {
                self.hold(Instant::now() + d, true, packet);
                Ok(())
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryPair;

    #[test]
    fn loss_is_seeded_and_roughly_right() {
        let run = |seed| {
            let (a, mut b) = MemoryPair::new();
            let mut a = Impair::new(
                a,
                ImpairConfig {
                    loss: 0.3,
                    seed,
                    ..Default::default()
                },
            );
            for i in 0..1000u32 {
                b.send(&i.to_be_bytes()).unwrap();
            }
            let mut got = Vec::new();
            let mut buf = [0u8; 4];
            while let Some(4) = a.recv(&mut buf, Some(Duration::from_millis(50))).unwrap() {
                got.push(u32::from_be_bytes(buf));
            }
            got
        };
        let x = run(7);
        assert_eq!(x, run(7));
        assert!((600..800).contains(&x.len()), "{}", x.len());
        assert!(x.windows(2).all(|w| w[0] < w[1]));
    }
}
