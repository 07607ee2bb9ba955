//! The 4-tuple index (conn_table.rs) through its growth: thousands of connections opened,
//! aborted and reopened on one endpoint pair, every segment still reaching its own
//! connection. The index rebuilds itself in slab order when it fills; a lost or misfiled
//! entry would leave a connection short of ESTABLISHED or answer its segments with RST.

mod util;

use synack_proto::{ConnHandle, State};
use util::*;

/// Open `ports` from A to B:80 at once, exchange until quiet, and accept every connection.
fn open_all(p: &mut Pair, ports: impl Iterator<Item = u16>) -> Vec<(ConnHandle, ConnHandle)> {
    let clients: Vec<ConnHandle> = ports
        .map(|port| {
            p.a.connect(p.now, addr(A_IP, port), addr(B_IP, 80))
                .unwrap()
        })
        .collect();
    p.exchange();
    clients
        .into_iter()
        .map(|c| {
            assert_eq!(p.a.state(c), Some(State::Established), "client {c}");
            let s = p.b.accept(addr(B_IP, 80)).expect("one accept per connect");
            assert_eq!(p.b.state(s), Some(State::Established), "server {s}");
            (c, s)
        })
        .collect()
}

#[test]
fn thousands_of_tuples_stay_found_through_index_growth_and_churn() {
    let mut p = Pair::new();
    p.b.listen(addr(B_IP, 80), Some(8192)).unwrap();
    let first = open_all(&mut p, 20_000..23_000);
    assert_eq!(p.a.connection_count(), 3000);
    assert_eq!(p.b.connection_count(), 3000);

    // Abort every other connection: RST from A, each finds its own TCB on B (MUST-12: the
    // peer learns of the abort), and the index is left with holes to reuse.
    // (In batches: the RSTs wait in the control queue, `max_pending_control` long.)
    let aborted: Vec<_> = first.iter().step_by(2).collect();
    for batch in aborted.chunks(500) {
        for (c, _) in batch {
            p.a.abort(*c).unwrap();
        }
        p.exchange();
    }
    for (i, &(c, s)) in first.iter().enumerate() {
        if i % 2 == 1 {
            assert_eq!(p.a.state(c), Some(State::Established), "client {c}");
            assert_eq!(p.b.state(s), Some(State::Established), "server {s}");
        } else {
            assert_eq!(p.a.state(c), None, "client {c}");
            assert_eq!(p.b.state(s), Some(State::Closed), "server {s}");
            p.b.close(s).unwrap(); // the application lets go of the reset connection
        }
    }

    // New tuples on the freed ports and beyond: growth again, over the holes.
    let second = open_all(&mut p, (20_000..23_000).step_by(2).chain(23_000..25_000));
    assert_eq!(second.len(), 3500);
    assert_eq!(p.a.connection_count(), 5000);
    assert_eq!(p.b.connection_count(), 5000);

    // Data on one of the oldest and one of the newest connections reaches the right peer.
    for &(c, s) in [first[1], second[3499]].iter() {
        p.a.send(c, c.to_string().as_bytes()).unwrap();
        p.exchange();
        let (got, _) = read_all(&mut p.b, s);
        assert_eq!(got, c.to_string().into_bytes());
    }
}
