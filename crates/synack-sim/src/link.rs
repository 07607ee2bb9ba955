//! Links: one direction of a point-to-point link and the fate of each packet on it.
//!
//! The model, per direction, in the order a packet meets it:
//!
//! 1. **MTU**: a packet longer than [`LinkConfig::mtu`] is dropped ([`Fate::TooBig`]).
//! 2. **Serialization** (if [`LinkConfig::bandwidth_bps`] is set): the link is a FIFO; a packet
//!    leaves at `max(now, previous departure) + len·8 / bandwidth`. With a
//!    [`LinkConfig::queue_limit`] the FIFO is a drop-tail router queue: a packet that would
//!    find more than that many bytes waiting ahead of it (not yet serialized) is dropped
//!    ([`Fate::QueueFull`]) and takes no slot. Without one the queue is unbounded: a sender
//!    that overshoots only sees its RTT grow, never a drop.
//! 3. **Loss** with probability [`LinkConfig::loss`] ([`Fate::Lost`]). Lost packets still used
//!    their serialization slot (they are lost in flight, not at the queue).
//! 4. **Propagation**: arrival = departure + `delay` + uniform jitter in `[0, jitter]`.
//!    Jitter alone can reorder packets, as on a real path.
//! 5. **Reordering** with probability [`LinkConfig::reorder`]: the packet is held back by one
//!    more `delay` plus a uniform part of another `delay` (at least 1 ms when `delay` is zero),
//!    so packets sent after it overtake it.
//! 6. **Corruption** with probability [`LinkConfig::corrupt`]: one uniformly chosen bit of the
//!    packet is flipped and it is still delivered ([`Fate::Corrupted`]); the receiver's
//!    checksums must catch it.
//! 7. **Duplication** with probability [`LinkConfig::duplicate`]: a second, intact copy arrives
//!    a little later (1 µs to a quarter of `delay` after the original).
//!
//! Every direction draws from its own random stream (derived from the simulation seed and the
//! two host indices), so traffic on one link never changes what happens on another.

use synack_proto::{Duration, Instant};

use crate::rng::Rng;

/// Impairments of a point-to-point link, applied independently to each direction.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `[0, jitter]` per packet.
    pub jitter: Duration,
    /// Serialization rate in bits per second; `None` (or `Some(0)`) = infinitely fast.
    pub bandwidth_bps: Option<u64>,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a delivered packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a packet is held back so that later ones overtake it.
    pub reorder: f64,
    /// Probability that one bit of a delivered packet is flipped.
    pub corrupt: f64,
    /// Largest packet the link carries, bytes; bigger ones are dropped and counted.
    /// 0 = no limit.
    pub mtu: usize,
    /// Drop-tail queue in front of the serializer, bytes (only with a bandwidth limit):
    /// a packet arriving when more than this many bytes wait (the one being serialized
    /// included) is dropped. `None` = unbounded.
    pub queue_limit: Option<usize>,
}

impl Default for LinkConfig {
    /// 10 ms one way, no jitter, no loss, unlimited bandwidth, MTU 1500.
    fn default() -> Self {
        LinkConfig {
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            bandwidth_bps: None,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            mtu: 1500,
            queue_limit: None,
        }
    }
}

impl LinkConfig {
    /// The default link with loss probability `p`.
    pub fn lossy(p: f64) -> Self {
        LinkConfig {
            loss: p,
            ..LinkConfig::default()
        }
    }

    /// This link with a different one-way delay.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// This link with a bandwidth limit.
    pub fn with_bandwidth(mut self, bps: u64) -> Self {
        self.bandwidth_bps = Some(bps);
        self
    }

    /// This link with a drop-tail queue of `bytes` in front of its serializer.
    pub fn with_queue_limit(mut self, bytes: usize) -> Self {
        self.queue_limit = Some(bytes);
        self
    }

    /// Bandwidth-delay product of one direction (bandwidth × one-way delay), bytes; `None`
    /// without a bandwidth limit. A queue of one round trip's worth (2 × this for a symmetric
    /// link) is the classic router buffer size.
    pub fn bdp_one_way(&self) -> Option<usize> {
        let bps = self.bandwidth_bps.filter(|&b| b > 0)?;
        let bytes = u128::from(bps) * self.delay.as_micros() / 8 / 1_000_000;
        Some(usize::try_from(bytes).unwrap_or(usize::MAX))
    }
}

/// What the link did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Delivered intact at `at`.
    Delivered { at: Instant },
    /// Lost in flight.
    Lost,
    /// Delivered at `at` with one bit flipped.
    Corrupted { at: Instant },
    /// Longer than the link's MTU: dropped before it was sent.
    TooBig,
    /// Dropped at the link's full queue ([`LinkConfig::queue_limit`], tail drop).
    QueueFull,
    /// Dropped by the simulation's drop filter ([`crate::Sim::set_drop_filter`]).
    Filtered,
}

impl Fate {
    /// When the packet arrived, if it did.
    pub fn arrival(&self) -> Option<Instant> {
        match *self {
            Fate::Delivered { at } | Fate::Corrupted { at } => Some(at),
            Fate::Lost | Fate::TooBig | Fate::QueueFull | Fate::Filtered => None,
        }
    }

    /// The packet never reached its destination (lost, dropped or too big).
    pub fn dropped(&self) -> bool {
        self.arrival().is_none()
    }
}

/// The link's decision for one packet (see the module docs for the model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub fate: Fate,
    /// The bit flipped when corrupted (index into the packet, counting bits MSB first).
    pub flipped_bit: Option<usize>,
    /// Arrival of an intact duplicate, if any.
    pub duplicate_at: Option<Instant>,
}

/// One direction of a link: configuration, FIFO state and random stream.
#[derive(Clone, Debug)]
pub(crate) struct LinkDir {
    pub config: LinkConfig,
    rng: Rng,
    /// When the last packet finished serializing.
    busy_until: Instant,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl LinkDir {
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        LinkDir {
            config,
            rng: Rng::new(seed),
            busy_until: Instant::ZERO,
        }
    }

    /// Decide the fate of a packet of `len` bytes handed to the link at `now`.
    ///
    /// The same number of random draws happens for every packet that passes the MTU check,
    /// whatever the outcome, so one decision never shifts the stream for the next packet.
    pub fn transmit(&mut self, now: Instant, len: usize) -> Decision {
        let c = &self.config;
        if c.mtu != 0 && len > c.mtu {
            return Decision {
                fate: Fate::TooBig,
                flipped_bit: None,
                duplicate_at: None,
            };
        }
        let mut queue_full = false;
        let departure = match c.bandwidth_bps {
            Some(bps) if bps > 0 => {
                // Bytes still waiting to be serialized (the packet on the wire included).
                let waiting_us = self.busy_until.saturating_duration_since(now).as_micros();
                let waiting = waiting_us * u128::from(bps) / 8 / 1_000_000;
                queue_full = c
                    .queue_limit
                    .is_some_and(|limit| waiting + len as u128 > limit as u128 && waiting > 0);
                if queue_full {
                    now
                } else {
                    let bits = (len as u128) * 8 * 1_000_000;
                    let tx_us = u64::try_from(bits.div_ceil(u128::from(bps))).unwrap_or(u64::MAX);
                    let start = now.max(self.busy_until);
                    self.busy_until = start + Duration::from_micros(tx_us);
                    self.busy_until
                }
            }
            _ => now,
        };
        let delay_us = micros(c.delay);
        let lost = self.rng.chance(c.loss);
        let jitter_us = self.rng.up_to(micros(c.jitter));
        let reorder = self.rng.chance(c.reorder);
        let hold_base = delay_us.max(1000);
        let hold_us = hold_base.saturating_add(self.rng.up_to(hold_base));
        let corrupt = self.rng.chance(c.corrupt);
        let bit = self.rng.below((len as u64).saturating_mul(8));
        let dup = self.rng.chance(c.duplicate);
        let dup_extra = 1 + self.rng.below((delay_us / 4).max(1));
        if queue_full || lost {
            return Decision {
                fate: if queue_full {
                    Fate::QueueFull
                } else {
                    Fate::Lost
                },
                flipped_bit: None,
                duplicate_at: None,
            };
        }
        let mut at = departure + Duration::from_micros(delay_us.saturating_add(jitter_us));
        if reorder {
            at += Duration::from_micros(hold_us);
        }
        let (fate, flipped_bit) = if corrupt && len > 0 {
            (Fate::Corrupted { at }, usize::try_from(bit).ok())
        } else {
            (Fate::Delivered { at }, None)
        };
        Decision {
            fate,
            flipped_bit,
            duplicate_at: dup.then(|| at + Duration::from_micros(dup_extra)),
        }
    }
}

/// Flip bit `bit` (MSB-first numbering) of `data`; out-of-range bits are ignored.
pub(crate) fn flip_bit(data: &mut [u8], bit: usize) {
    if let Some(b) = data.get_mut(bit / 8) {
        *b ^= 0x80 >> (bit % 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_serializes_fifo() {
        let cfg = LinkConfig {
            delay: Duration::from_millis(1),
            bandwidth_bps: Some(8_000_000), // 1 byte per µs
            ..LinkConfig::default()
        };
        let mut l = LinkDir::new(cfg, 1);
        let a = l.transmit(Instant::ZERO, 1000);
        let b = l.transmit(Instant::ZERO, 1000);
        assert_eq!(
            a.fate,
            Fate::Delivered {
                at: Instant::from_micros(2000)
            }
        );
        assert_eq!(
            b.fate,
            Fate::Delivered {
                at: Instant::from_micros(3000)
            }
        );
        // An idle link starts fresh.
        let c = l.transmit(Instant::from_secs(1), 500);
        assert_eq!(c.fate.arrival(), Some(Instant::from_micros(1_001_500)));
    }

    #[test]
    fn queue_limit_drops_tail() {
        let cfg = LinkConfig {
            delay: Duration::from_millis(1),
            bandwidth_bps: Some(8_000_000), // 1 byte per µs
            ..LinkConfig::default()
        }
        .with_queue_limit(2500);
        assert_eq!(cfg.bdp_one_way(), Some(1000));
        let mut l = LinkDir::new(cfg, 1);
        let fates: Vec<Fate> = (0..4)
            .map(|_| l.transmit(Instant::ZERO, 1000).fate)
            .collect();
        // 0 waiting, then 1000, then 2000 (+1000 > 2500: dropped), again dropped.
        assert_eq!(fates[0].arrival(), Some(Instant::from_micros(2000)));
        assert_eq!(fates[1].arrival(), Some(Instant::from_micros(3000)));
        assert_eq!(fates[2], Fate::QueueFull);
        assert_eq!(fates[3], Fate::QueueFull);
        // Half a packet later there is room again.
        let f = l.transmit(Instant::from_micros(500), 1000).fate;
        assert_eq!(f.arrival(), Some(Instant::from_micros(4000)));
        // A packet bigger than the queue still passes an idle link.
        let f = l.transmit(Instant::from_secs(1), 1500).fate;
        assert!(!f.dropped());
    }

    #[test]
    fn mtu_and_odd_configs() {
        let mut l = LinkDir::new(LinkConfig::default(), 1);
        assert_eq!(l.transmit(Instant::ZERO, 1501).fate, Fate::TooBig);
        let cfg = LinkConfig {
            mtu: 0,
            loss: f64::NAN,
            corrupt: 1.0,
            bandwidth_bps: Some(0),
            ..LinkConfig::default()
        };
        let mut l = LinkDir::new(cfg, 1);
        let d = l.transmit(Instant::ZERO, 100_000);
        assert!(matches!(d.fate, Fate::Corrupted { .. }));
        assert!(d.flipped_bit.unwrap() < 800_000);
        let d = l.transmit(Instant::ZERO, 0);
        assert!(matches!(d.fate, Fate::Delivered { .. }));
        let mut buf = [0u8; 2];
        flip_bit(&mut buf, 9);
        assert_eq!(buf, [0, 0x40]);
        flip_bit(&mut buf, 99);
        assert_eq!(buf, [0, 0x40]);
    }

    #[test]
    fn loss_rate_and_duplicates() {
        let cfg = LinkConfig {
            loss: 0.5,
            duplicate: 0.5,
            ..LinkConfig::default()
        };
        let mut l = LinkDir::new(cfg, 9);
        let ds: Vec<_> = (0..10_000)
            .map(|_| l.transmit(Instant::ZERO, 100))
            .collect();
        let lost = ds.iter().filter(|d| d.fate == Fate::Lost).count();
        let dups = ds.iter().filter(|d| d.duplicate_at.is_some()).count();
        assert!((4_500..5_500).contains(&lost), "{lost}");
        assert!((2_000..3_000).contains(&dups), "{dups}");
        for d in &ds {
            if let (Some(dup), Some(at)) = (d.duplicate_at, d.fate.arrival()) {
                assert!(dup > at);
            }
        }
    }
}
