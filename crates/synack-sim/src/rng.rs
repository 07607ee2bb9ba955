//! The simulator's only source of randomness: small, fast, seedable PRNGs of our own.
//!
//! [`SplitMix64`] turns one `u64` seed into well-mixed streams (and seeds the others);
//! [`Rng`] is xoshiro256** (Blackman & Vigna), used for every random decision a link makes.
//! Nothing here reads a clock or the OS, so the same seed gives the same numbers everywhere.

/// SplitMix64: a 64-bit generator used for seeding and one-off hashing.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }
}

/// The SplitMix64 finalizer: a bijective mix of 64 bits (a good cheap hash of a `u64`).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derive an independent sub-seed from a seed and a list of labels (host index, link ends, …),
/// so that adding traffic to one link never shifts the random numbers another link sees.
pub fn derive_seed(seed: u64, labels: &[u64]) -> u64 {
    let mut h = mix64(seed ^ 0x5EED_0F5A_9AC4);
    for &l in labels {
        h = mix64(h ^ mix64(l.wrapping_add(0x9E37_79B9_7F4A_7C15)));
    }
    h
}

/// xoshiro256**: the generator behind every loss, jitter, duplication and corruption decision.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded from `seed` through SplitMix64 (never the all-zero state).
    pub fn new(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        let mut s = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform float in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`. `p <= 0` or NaN is never, `p >= 1` always.
    ///
    /// A random number is drawn even when the answer is certain, so changing one
    /// probability does not shift every later decision of the stream.
    pub fn chance(&mut self, p: f64) -> bool {
        let x = self.next_f64();
        p > 0.0 && x < p
    }

    /// A uniform integer in `[0, n)`; 0 if `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the tiny bias is irrelevant for a simulator.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform integer in `[0, max]` (inclusive).
    pub fn up_to(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            self.next_u64()
        } else {
            self.below(max + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below(10) < 10);
            assert!(r.up_to(3) <= 3);
        }
        assert_eq!(r.below(0), 0);
        assert!(!r.chance(0.0));
        assert!(!r.chance(f64::NAN));
        assert!(r.chance(1.0));
        assert_ne!(derive_seed(1, &[0]), derive_seed(1, &[1]));
        assert_ne!(derive_seed(1, &[0, 1]), derive_seed(1, &[1, 0]));
    }

    #[test]
    fn chance_is_roughly_right() {
        let mut r = Rng::new(3);
        let hits = (0..100_000).filter(|_| r.chance(0.25)).count();
        assert!((24_000..26_000).contains(&hits), "{hits}");
    }
}
