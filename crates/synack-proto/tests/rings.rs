//! Ring storage: an emptied send or receive ring keeps its storage (no free and regrow per
//! window of a bulk transfer) while all rings together hold at most
//! `Config::retained_ring_storage`; past that, emptied rings give it back.

mod util;

use util::*;

/// A sends 200 kB, B reads it all and everything is acknowledged. Returns the ring storage each
/// endpoint holds afterwards.
fn transfer_and_drain(retain: usize) -> (usize, usize) {
    let cfg = |ip| config(ip).with_retained_ring_storage(retain);
    let mut p = Pair::with_configs(cfg(A_IP), cfg(B_IP));
    let (c, s) = p.establish();
    let data = vec![7u8; 200_000];
    let mut sent = 0;
    let mut got = 0;
    while got < data.len() {
        if sent < data.len() {
            sent += p.a.send(c, &data[sent..]).unwrap_or(0);
        }
        p.exchange();
        got += read_all(&mut p.b, s).0.len();
    }
    p.exchange();
    assert_eq!(p.a.info(c).unwrap().bytes_acked, data.len() as u64);
    (p.a.ring_storage(), p.b.ring_storage())
}

#[test]
fn emptied_rings_keep_their_storage_within_the_budget() {
    let (a, b) = transfer_and_drain(64 << 20);
    assert!(a > 0, "the sender's emptied ring is kept");
    assert!(b > 0, "the receiver's emptied ring is kept");
}

#[test]
fn past_the_budget_emptied_rings_give_their_storage_back() {
    assert_eq!(transfer_and_drain(0), (0, 0));
}
