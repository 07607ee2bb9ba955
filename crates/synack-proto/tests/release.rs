//! `Endpoint::release_memory` (release.rs): after a busy spell the endpoint gives back what
//! it keeps only for reuse — emptied rings' storage, spent packet buffers, the slack of the
//! connection table — and everything still in use goes on working.

mod util;

use synack_proto::Config;
use util::*;

#[test]
fn release_memory_frees_emptied_rings_and_table_slack_and_connections_go_on() {
    let mut p = Pair::with_configs(modern_config(A_IP), modern_config(B_IP));
    p.b.listen(addr(B_IP, 80), None).unwrap();
    // A burst: 40 connections, each moving 100 KB each way.
    let mut pairs = Vec::new();
    for i in 0..40u16 {
        let c =
            p.a.connect(p.now, addr(A_IP, 40000 + i), addr(B_IP, 80))
                .unwrap();
        p.exchange();
        let s = p.b.accept(addr(B_IP, 80)).unwrap();
        pairs.push((c, s));
    }
    let data = vec![3u8; 100_000];
    for &(c, s) in &pairs {
        let (mut sent_a, mut sent_b, mut got_a, mut got_b) = (0, 0, 0, 0);
        while got_a < data.len() || got_b < data.len() {
            sent_a += p.a.send(c, &data[sent_a..]).unwrap_or(0);
            sent_b += p.b.send(s, &data[sent_b..]).unwrap_or(0);
            p.exchange();
            got_b += read_all(&mut p.b, s).0.len();
            got_a += read_all(&mut p.a, c).0.len();
        }
    }
    p.advance(synack_proto::Duration::from_millis(500));
    p.exchange();
    // Every ring is empty now, but keeps its storage for the next burst.
    let held = p.a.ring_storage();
    assert!(held >= 40 * 100_000, "rings kept: {held}");

    let freed = p.a.release_memory();
    assert_eq!(
        p.a.ring_storage(),
        0,
        "no ring holds data: all storage goes"
    );
    assert!(freed >= held, "freed {freed} of {held}");
    assert_eq!(p.a.stats().memory_releases, 1);
    assert_eq!(p.a.stats().memory_released, freed as u64);
    // A second call finds nothing more to give back.
    assert!(p.a.release_memory() < 1024);

    // 39 connections go: their slots at the end of the table are given back too.
    let (keep_c, keep_s) = pairs[0];
    for &(c, _) in &pairs[1..] {
        p.a.abort(c).unwrap();
    }
    p.exchange();
    let slack = p.a.release_memory();
    assert!(slack >= 39 * 48, "table slack freed: {slack}");
    assert_eq!(p.a.connection_count(), 1);

    // The connection that stayed works as before: 100 KB more each way, byte for byte.
    let more: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    while got.len() < more.len() {
        sent += p.a.send(keep_c, &more[sent..]).unwrap_or(0);
        p.exchange();
        got.extend(read_all(&mut p.b, keep_s).0);
    }
    assert_eq!(got, more);
}

/// `release_memory` cuts free slots off the end of the slab; a stale handle to such a slot
/// must not reach the connection that later takes the same index.
#[test]
fn a_stale_handle_does_not_reach_a_connection_in_a_slot_given_back() {
    let mut p = Pair::with_configs(config(A_IP), config(B_IP));
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let old =
        p.a.connect(p.now, addr(A_IP, 40000), addr(B_IP, 80))
            .unwrap();
    p.exchange();
    p.a.abort(old).unwrap();
    p.exchange();
    assert_eq!(p.a.state(old), None);
    p.a.release_memory();
    let new =
        p.a.connect(p.now, addr(A_IP, 40001), addr(B_IP, 80))
            .unwrap();
    p.exchange();
    assert_ne!(old, new);
    assert!(p.a.state(new).is_some());
    assert_eq!(p.a.state(old), None, "the stale handle reaches nothing");
    assert_eq!(p.a.tuple(old), None);
    let _ = Config::default();
}
