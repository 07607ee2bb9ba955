//! How the endpoint shares the wire between connections that all have something to send:
//! round robin, one run of up to 64 KiB of datagrams per connection per turn. Runs of one
//! connection are what a device with segmentation offload merges into a single datagram (and
//! what the receiver's stack takes in one go); one segment each would merge nothing.

mod util;

use synack_proto::Config;
use util::*;

fn roomy(ip: std::net::Ipv4Addr) -> Config {
    modern_config(ip)
        .with_send_buffer(4 << 20)
        .with_send_buffer_max(4 << 20)
        .with_recv_buffer(4 << 20)
        .with_mss(1460)
}

#[test]
fn ready_connections_take_turns_in_runs_of_64_kib() {
    let mut p = Pair::with_configs(roomy(A_IP), roomy(B_IP));
    p.b.listen(addr(B_IP, 80), None).unwrap();
    let ports = [40000, 40001, 40002];
    let conns: Vec<_> = ports
        .iter()
        .map(|&port| {
            p.a.connect(p.now, addr(A_IP, port), addr(B_IP, 80))
                .unwrap()
        })
        .collect();
    p.exchange();
    let servers: Vec<_> = ports
        .iter()
        .map(|_| p.b.accept(addr(B_IP, 80)).unwrap())
        .collect();
    // Slow start, the senders always cwnd-limited, until every congestion window is well
    // over one turn (44 segments).
    let chunk = vec![7u8; 64 * 1024];
    let mut rounds = 0;
    while conns
        .iter()
        .any(|&c| p.a.info(c).unwrap().cwnd < 120 * 1448)
    {
        rounds += 1;
        assert!(rounds < 50, "slow start stalled: {:?}", p.a.info(conns[0]));
        for &c in &conns {
            while p.a.send(c, &chunk).is_ok_and(|n| n > 0) {}
        }
        p.exchange();
        for &s in &servers {
            let _ = read_all(&mut p.b, s);
        }
        p.wire.clear();
    }
    // Let everything in flight be acknowledged (the reads above opened the windows).
    p.exchange();
    p.wire.clear();
    // All three have 1 MiB queued and room in their windows: what goes out, in order?
    let big = vec![9u8; 1 << 20];
    for &c in &conns {
        let mut sent = 0;
        while sent < big.len() {
            sent += p.a.send(c, &big[sent..]).unwrap();
        }
    }
    let segs = p.out(Side::A);
    let mut runs: Vec<(u16, usize, usize)> = Vec::new(); // (port, segments, datagram bytes)
    for s in &segs {
        match runs.last_mut() {
            Some((port, n, bytes)) if *port == s.src.port() => {
                *n += 1;
                *bytes += s.raw.len();
            }
            _ => runs.push((s.src.port(), 1, s.raw.len())),
        }
    }
    assert!(runs.len() >= 6, "several turns each: {runs:?}");
    // Every segment is a full one: 1448 bytes of text behind 52 bytes of headers
    // (timestamps), 1500 in all; a turn ends at the first datagram that reaches 64 KiB.
    assert!(segs.iter().all(|s| s.raw.len() == 1500));
    let full_turn = 65536usize.div_ceil(1500);
    for (i, &(port, n, _)) in runs.iter().enumerate() {
        // The connections take turns in order, round and round.
        assert_eq!(port, ports[i % 3], "turn {i}: {runs:?}");
        // Every turn but each connection's last (its window ran out) is a full one.
        if i + 3 < runs.len() {
            assert_eq!(n, full_turn, "turn {i}: {runs:?}");
        }
    }
}
