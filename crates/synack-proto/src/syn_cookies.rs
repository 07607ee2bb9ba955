//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, answer a SYN without
//! keeping any state, and rebuild the connection from the ACK that completes the handshake.
//!
//! The cookie is our ISN:
//!
//! ```text
//!  31      27 26  24 23                                  0
//! +----------+------+-------------------------------------+
//! | t mod 32 | MSS  | SipHash(secret; 4-tuple, peer ISN, t) |
//! +----------+------+-------------------------------------+
//! ```
//!
//! `t` counts 64-second periods, so a cookie is good for 64 to 128 seconds. The MSS is one of
//! eight values (the largest not above the peer's). Window scaling and SACK-permitted cannot
//! fit; when the peer offered timestamps they ride in the low five bits of our TSval, which the
//! peer echoes in the ACK's TSecr (the Linux scheme): 4 bits of window shift (15 = none) and
//! one bit for SACK. Without timestamps a cookie connection has neither (RFC 4987 §3.6 notes
//! the loss).

use std::net::SocketAddr;

use crate::isn::Secret;
use crate::seq::SeqNum;
use crate::time::Instant;

/// The MSS values a cookie can say, smallest first.
pub(crate) const MSS_TABLE: [u16; 8] = [536, 1024, 1220, 1300, 1360, 1400, 1440, 1460];

/// The longest a cookie stays valid: the period it was made in and the next one.
pub(crate) const LIFETIME: crate::time::Duration = crate::time::Duration::from_secs(128);

/// The 64-second period counter.
fn period(now: Instant) -> u32 {
    (now.as_micros() / 64_000_000) as u32
}

/// The table index of the largest MSS not above `mss` (at least the first).
fn mss_index(mss: u16) -> u32 {
    MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32
}

/// The cookie ISN for a SYN from `remote` to `local` carrying `peer_isn` and MSS `mss`; also
/// returns the MSS the cookie encodes.
pub(crate) fn encode(
    secret: &Secret,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNum,
    mss: u16,
) -> (SeqNum, u16) {
    let t = period(now);
    let idx = mss_index(mss);
    let hash = secret.cookie_hash(local, remote, peer_isn, t) & 0x00ff_ffff;
    (
        (SeqNum(((t & 31) << 27) | (idx << 24) | hash)),
        MSS_TABLE[idx as usize],
    )
}

/// Check the cookie an ACK returns (`SEG.ACK − 1`) for the peer ISN it implies
/// (`SEG.SEQ − 1`); gives the encoded MSS if the cookie is ours and at most one period old.
pub(crate) fn decode(
    secret: &Secret,
    now: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    peer_isn: SeqNum,
    cookie: SeqNum,
) -> Option<u16> {
    let c = cookie.get();
    let t_now = period(now);
    [t_now, t_now.wrapping_sub(1)]
        .into_iter()
        .filter(|t| t & 31 == c >> 27)
        .find(|&t| secret.cookie_hash(local, remote, peer_isn, t) & 0x00ff_ffff == c & 0x00ff_ffff)
        .map(|_| MSS_TABLE[((c >> 24) & 7) as usize])
}

/// Options packed into the low bits of a cookie SYN-ACK's TSval.
pub(crate) fn ts_encode(ts_now: u32, wscale: Option<u8>, sack: bool) -> u32 {
    let ws = wscale.map_or(0xf, |w| u32::from(w.min(14)));
    let v = (ts_now & !0x1f) | (u32::from(sack) << 4) | ws;
    // Never ahead of the clock the connection will use afterwards (TSval must not go back).
    if (v.wrapping_sub(ts_now) as i32) > 0 {
        v.wrapping_sub(32)
    } else {
        v
    }
}

/// The options a cookie ACK's TSecr carries back: (window shift, SACK permitted).
pub(crate) fn ts_decode(tsecr: u32) -> (Option<u8>, bool) {
    let ws = (tsecr & 0xf) as u8;
    ((ws != 0xf).then_some(ws), tsecr & 0x10 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_cookie_validates_for_its_tuple_and_isn_only() {
        let secret = Secret::new([9; 16]);
        let (l, r) = (sa("10.0.0.2:80"), sa("10.0.0.1:5000"));
        let now = Instant::from_secs(1000);
        let (cookie, mss) = encode(&secret, now, l, r, SeqNum(777), 1460);
        assert_eq!(mss, 1460);
        assert_eq!(decode(&secret, now, l, r, SeqNum(777), cookie), Some(1460));
        // Another peer ISN, port, or secret: rejected.
        assert_eq!(decode(&secret, now, l, r, SeqNum(778), cookie), None);
        assert_eq!(
            decode(&secret, now, l, sa("10.0.0.1:5001"), SeqNum(777), cookie),
            None
        );
        assert_eq!(
            decode(&Secret::new([8; 16]), now, l, r, SeqNum(777), cookie),
            None
        );
        assert_eq!(decode(&secret, now, l, r, SeqNum(777), cookie + 1u32), None);
    }

    #[test]
    fn a_cookie_expires_after_one_to_two_periods() {
        let secret = Secret::new([9; 16]);
        let (l, r) = (sa("10.0.0.2:80"), sa("10.0.0.1:5000"));
        let t0 = Instant::from_secs(64 * 100); // the start of a period
        let (cookie, _) = encode(&secret, t0, l, r, SeqNum(1), 1000);
        assert_eq!(
            decode(
                &secret,
                Instant::from_secs(64 * 101 + 63),
                l,
                r,
                SeqNum(1),
                cookie
            ),
            Some(536)
        );
        assert_eq!(
            decode(
                &secret,
                Instant::from_secs(64 * 102),
                l,
                r,
                SeqNum(1),
                cookie
            ),
            None
        );
    }

    #[test]
    fn mss_rounds_down_to_the_table() {
        let secret = Secret::new([1; 16]);
        let (l, r) = (sa("10.0.0.2:80"), sa("10.0.0.1:5000"));
        for (offered, encoded) in [
            (1460, 1460),
            (1459, 1440),
            (1220, 1220),
            (100, 536),
            (9000, 1460),
        ] {
            let (c, m) = encode(&secret, Instant::ZERO, l, r, SeqNum(5), offered);
            assert_eq!(m, encoded);
            assert_eq!(
                decode(&secret, Instant::ZERO, l, r, SeqNum(5), c),
                Some(encoded)
            );
        }
    }

    #[test]
    fn options_ride_in_the_timestamp() {
        assert_eq!(
            ts_decode(ts_encode(123_456, Some(7), true)),
            (Some(7), true)
        );
        assert_eq!(ts_decode(ts_encode(123_456, None, false)), (None, false));
        assert_eq!(
            ts_decode(ts_encode(u32::MAX, Some(14), false)),
            (Some(14), false)
        );
        assert!(
            ts_encode(1000, Some(3), true) <= 1000,
            "never ahead of the real clock"
        );
    }
}
