//! Initial sequence numbers per RFC 6528 (RFC 9293 §3.4.1, MUST-8, MUST-9, SHLD-1).
//!
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a clock that
//! ticks every 4 microseconds (so it wraps in about 4.55 hours) and F is SipHash-2-4 keyed with
//! the endpoint's 128-bit secret. Within one 4-tuple ISNs grow with the clock, which is what
//! keeps old duplicates of a previous incarnation out of the new window; across 4-tuples they
//! are unpredictable to anyone who does not know the secret.

use core::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

use crate::seq::SeqNum;
use crate::time::Instant;

/// Keyed hashing for ISNs and ephemeral port choice.
#[derive(Clone)]
pub(crate) struct Secret {
    key: [u8; 16],
}

impl Secret {
    pub(crate) fn new(key: [u8; 16]) -> Self {
        Secret { key }
    }

    fn hasher(&self) -> SipHasher24 {
        SipHasher24::new_with_key(&self.key)
    }

    /// F(): the keyed hash of the connection identifiers.
    fn tuple_hash(&self, local: SocketAddr, remote: SocketAddr) -> u64 {
        let mut h = self.hasher();
        write_addr(&mut h, local);
        write_addr(&mut h, remote);
        h.finish()
    }

    /// The ISN for a new connection on this 4-tuple at `now` (RFC 6528 §3); new connections
    /// take it with their timestamp offset from [`Secret::isn_and_ts_offset`].
    #[cfg(test)]
    pub(crate) fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNum {
        // M: a 4 µs clock (MUST-8). Truncating to 32 bits is the wrap-around the RFC expects.
        let m = (now.as_micros() / 4) as u32;
        let f = self.tuple_hash(local, remote) as u32;
        SeqNum(m.wrapping_add(f))
    }

    /// A key of its own for another use of the secret (`label` names the use).
    pub(crate) fn subkey(&self, label: &[u8]) -> [u8; 16] {
        let half = |n: u8| {
            let mut h = self.hasher();
            h.write(label);
            h.write_u8(n);
            h.finish().to_le_bytes()
        };
        let (a, b) = (half(0), half(1));
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&a);
        key[8..].copy_from_slice(&b);
        key
    }

    /// The keyed hash inside a SYN cookie (syn_cookies.rs).
    pub(crate) fn cookie_hash(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: SeqNum,
        period: u32,
    ) -> u32 {
        let mut h = self.hasher();
        h.write(b"cookie");
        write_addr(&mut h, local);
        write_addr(&mut h, remote);
        h.write(&peer_isn.get().to_be_bytes());
        h.write(&period.to_be_bytes());
        h.finish() as u32
    }

    /// The per-connection offset of our timestamp clock (RFC 7323 §5.4), the same for a
    /// cookie SYN-ACK and the connection it becomes: the high half of F(), whose low half
    /// offsets the ISN. The bits of a keyed hash are independent, so a peer that reads the
    /// offset from our TSvals learns nothing about the ISN's.
    pub(crate) fn ts_offset(&self, tuple: crate::event::FourTuple) -> u32 {
        (self.tuple_hash(tuple.local, tuple.remote) >> 32) as u32
    }

    /// Our TSval now for a tuple that has no TCB (a cookie SYN-ACK, a TIME-WAIT entry).
    pub(crate) fn ts_value(&self, now: Instant, tuple: crate::event::FourTuple) -> u32 {
        ts_clock(now, self.ts_offset(tuple))
    }

    /// [`Secret::isn`] and [`Secret::ts_offset`] of a new connection from one hash.
    pub(crate) fn isn_and_ts_offset(
        &self,
        now: Instant,
        tuple: crate::event::FourTuple,
    ) -> (SeqNum, u32) {
        let f = self.tuple_hash(tuple.local, tuple.remote);
        let m = (now.as_micros() / 4) as u32;
        (SeqNum(m.wrapping_add(f as u32)), (f >> 32) as u32)
    }

    /// The key of the connection table's tuple hash (conn_table.rs), derived so that it
    /// reveals nothing about the ISN key.
    pub(crate) fn demux_key(&self) -> [u8; 16] {
        let mut key = [0u8; 16];
        for (i, half) in key.chunks_mut(8).enumerate() {
            let mut h = self.hasher();
            h.write(b"demux");
            h.write(&[i as u8]);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
        key
    }

    /// A hash used to pick an ephemeral port offset per destination (RFC 6056 algorithm 3).
    pub(crate) fn port_offset(&self, local_ip: IpAddr, remote: SocketAddr) -> u64 {
        let mut h = self.hasher();
        h.write(b"port");
        write_ip(&mut h, local_ip);
        write_addr(&mut h, remote);
        h.finish()
    }
}

/// Our timestamp clock (RFC 7323 §5.4): milliseconds plus a per-connection offset.
pub(crate) fn ts_clock(now: Instant, offset: u32) -> u32 {
    ((now.as_micros() / 1000) as u32).wrapping_add(offset)
}

fn write_ip(h: &mut SipHasher24, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => h.write(&a.octets()),
        IpAddr::V6(a) => h.write(&a.octets()),
    }
}

fn write_addr(h: &mut SipHasher24, addr: SocketAddr) {
    write_ip(h, addr.ip());
    h.write(&addr.port().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn isn_follows_the_4us_clock_within_a_tuple_must_8() {
        let s = Secret::new([7; 16]);
        let (l, r) = (sa("10.0.0.1:1000"), sa("10.0.0.2:80"));
        let a = s.isn(Instant::from_micros(0), l, r);
        let b = s.isn(Instant::from_micros(400), l, r);
        assert_eq!(b - a, 100, "100 ticks of 4 µs");
        let c = s.isn(Instant::from_secs(1), l, r);
        assert_eq!(c - a, 250_000);
    }

    #[test]
    fn one_hash_gives_the_isn_and_the_timestamp_offset() {
        let s = Secret::new([7; 16]);
        let tuple = crate::event::FourTuple {
            local: sa("10.0.0.1:1000"),
            remote: sa("10.0.0.2:80"),
        };
        let t = Instant::from_secs(3);
        let (isn, ts) = s.isn_and_ts_offset(t, tuple);
        assert_eq!(isn, s.isn(t, tuple.local, tuple.remote));
        assert_eq!(ts, s.ts_offset(tuple));
        assert_ne!(
            ts,
            isn.get().wrapping_sub((t.as_micros() / 4) as u32),
            "different halves"
        );
    }

    #[test]
    fn isn_differs_across_tuples_and_secrets_must_9_shld_1() {
        let s = Secret::new([7; 16]);
        let t = Instant::from_secs(5);
        let a = s.isn(t, sa("10.0.0.1:1000"), sa("10.0.0.2:80"));
        let b = s.isn(t, sa("10.0.0.1:1001"), sa("10.0.0.2:80"));
        let c = Secret::new([8; 16]).isn(t, sa("10.0.0.1:1000"), sa("10.0.0.2:80"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        // Adjacent ports must not give adjacent ISNs (the offset is a keyed hash).
        let d = b - a;
        assert!(d > 1_000_000 && d < u32::MAX - 1_000_000, "offset {d}");
    }
}
