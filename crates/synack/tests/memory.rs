//! Two stacks joined by a `MemoryPair`: the blocking and the tokio sockets, without root.
//! Timeouts here are only failure guards: every wait is for an event, never a sleep.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::Duration;

use synack::memory::MemoryPair;
use synack::net::{TcpListener, TcpStream};
use synack::{Config, Stack, State};

const GUARD: Duration = Duration::from_secs(30);

fn pair() -> (Stack, Stack) {
    let (a, b) = MemoryPair::new();
    let cfg = |ip: &str| Config::default().with_local_addrs(vec![ip.parse().unwrap()]);
    (
        Stack::new(a, cfg("10.0.0.1")).unwrap(),
        Stack::new(b, cfg("10.0.0.2")).unwrap(),
    )
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A deterministic byte pattern that catches reordering and loss.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ (i >> 16) as u8)
        .collect()
}

#[test]
fn echo_one_megabyte_blocking() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:7")).unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr("10.0.0.1:7"));
    let echo = thread::spawn(move || {
        let (mut conn, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), addr("10.0.0.2:1").ip());
        conn.set_read_timeout(Some(GUARD)).unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let mut total = 0;
        loop {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            conn.write_all(&buf[..n]).unwrap();
        }
        conn.shutdown(Shutdown::Write).unwrap();
        total
    });
    let data = pattern(1 << 20);
    let conn = TcpStream::connect_timeout(&client, &addr("10.0.0.1:7"), GUARD).unwrap();
    assert_eq!(conn.peer_addr().unwrap(), addr("10.0.0.1:7"));
    assert_eq!(conn.info().unwrap().state, State::Established);
    conn.set_read_timeout(Some(GUARD)).unwrap();
    let writer = {
        let mut w = conn.try_clone().unwrap();
        let data = data.clone();
        thread::spawn(move || {
            w.write_all(&data).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut got = Vec::new();
    (&conn).read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(echo.join().unwrap(), data.len());
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echoed bytes differ");
    let info = conn.info().unwrap();
    assert_eq!(info.bytes_received, data.len() as u64);
}

#[test]
fn half_close_keeps_the_other_direction_open() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:80")).unwrap();
    let mut c = TcpStream::connect(&client, addr("10.0.0.1:80")).unwrap();
    let (mut s, _) = listener.accept_timeout(GUARD).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    c.set_read_timeout(Some(GUARD)).unwrap();

    // Client sends a request and half-closes: the server reads it, then end of stream.
    c.write_all(b"request").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    c.shutdown(Shutdown::Write).unwrap(); // idempotent, like std
    let mut req = Vec::new();
    s.read_to_end(&mut req).unwrap();
    assert_eq!(req, b"request");
    assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0, "EOF repeats");

    // Writing after our own shutdown is a broken pipe.
    assert_eq!(c.write(b"more").unwrap_err().kind(), ErrorKind::BrokenPipe);

    // The server can still answer over the half-open connection.
    s.write_all(b"response after your FIN").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert_eq!(resp, "response after your FIN");
    assert_eq!(c.read(&mut [0u8; 8]).unwrap(), 0);

    // The side that closed first ends in TIME-WAIT; the other reaches CLOSED.
    let s_state = s.info().unwrap().state;
    assert!(
        matches!(s_state, State::LastAck | State::Closed),
        "server in {s_state}"
    );
}

#[test]
fn read_timeout_is_would_block_and_shutdown_read_gives_eof() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:81")).unwrap();
    let mut c = TcpStream::connect(&client, addr("10.0.0.1:81")).unwrap();
    let (_s, _) = listener.accept_timeout(GUARD).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    assert_eq!(
        c.read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert!(c.set_read_timeout(Some(Duration::ZERO)).is_err());
    c.shutdown(Shutdown::Read).unwrap();
    assert_eq!(c.read(&mut [0u8; 4]).unwrap(), 0);
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_keepalive(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(c.keepalive().unwrap(), Some(Duration::from_secs(30)));
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let (_server, client) = pair();
    let err = TcpStream::connect_timeout(&client, &addr("10.0.0.1:9"), GUARD).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // The refused attempt leaves nothing behind.
    assert_eq!(client.connection_count(), 0);
}

#[test]
fn reset_by_peer_is_connection_reset() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:82")).unwrap();
    let mut c = TcpStream::connect(&client, addr("10.0.0.1:82")).unwrap();
    let (s, _) = listener.accept_timeout(GUARD).unwrap();
    c.set_read_timeout(Some(GUARD)).unwrap();
    s.abort();
    let err = c.read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert_eq!(
        c.write(b"x").unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[test]
fn connect_timeout_when_nobody_answers() {
    // A device whose other end nobody reads: the SYN goes nowhere.
    let (a, _b) = MemoryPair::new();
    let stack = Stack::new(
        a,
        Config::default().with_local_addrs(vec!["10.0.0.2".parse().unwrap()]),
    )
    .unwrap();
    let err = TcpStream::connect_timeout(&stack, &addr("10.0.0.1:80"), Duration::from_millis(100))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(stack.connection_count(), 0);
}

#[test]
fn bind_conflicts_and_port_zero() {
    let (server, _client) = pair();
    let l = TcpListener::bind(&server, addr("10.0.0.1:8080")).unwrap();
    let err = TcpListener::bind(&server, addr("10.0.0.1:8080")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    drop(l);
    TcpListener::bind(&server, addr("10.0.0.1:8080")).unwrap();
    let any = TcpListener::bind(&server, addr("0.0.0.0:0")).unwrap();
    assert_ne!(any.local_addr().unwrap().port(), 0);
}

#[test]
fn dropping_the_stack_fails_blocked_and_later_calls() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:83")).unwrap();
    let c = TcpStream::connect(&client, addr("10.0.0.1:83")).unwrap();
    let (_s, _) = listener.accept_timeout(GUARD).unwrap();
    drop(client);
    let err = (&c).read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConnected);
}

#[test]
fn many_connections_in_parallel() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:84")).unwrap();
    let srv = thread::spawn(move || {
        let mut handles = Vec::new();
        for conn in listener.incoming().take(8) {
            let mut conn = conn.unwrap();
            handles.push(thread::spawn(move || {
                let mut v = Vec::new();
                conn.read_to_end(&mut v).unwrap();
                conn.write_all(&v).unwrap();
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
    });
    thread::scope(|scope| {
        for i in 0..8usize {
            let client = &client;
            scope.spawn(move || {
                let mut c = TcpStream::connect(client, addr("10.0.0.1:84")).unwrap();
                c.set_read_timeout(Some(GUARD)).unwrap();
                let msg = pattern(10_000 + i * 1000);
                c.write_all(&msg).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                let mut back = Vec::new();
                c.read_to_end(&mut back).unwrap();
                assert!(back == msg);
            });
        }
    });
    srv.join().unwrap();
}

#[test]
fn transfer_survives_loss_and_reordering() {
    use synack::impair::{Impair, ImpairConfig};
    let (a, b) = MemoryPair::new();
    let impaired = |dev, seed| {
        Impair::new(
            dev,
            ImpairConfig {
                loss: 0.02,
                reorder: 0.02,
                reorder_delay: Duration::from_millis(2),
                seed,
                ..Default::default()
            },
        )
    };
    let cfg = |ip: &str| {
        Config::default()
            .with_local_addrs(vec![ip.parse().unwrap()])
            .with_initial_rto(Duration::from_millis(50))
            .with_min_rto(Duration::from_millis(50))
    };
    let server = Stack::new(impaired(a, 1), cfg("10.0.0.1")).unwrap();
    let client = Stack::new(impaired(b, 2), cfg("10.0.0.2")).unwrap();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:9000")).unwrap();
    let data = pattern(256 * 1024);
    let sent = data.clone();
    let sender = thread::spawn(move || {
        let mut c = TcpStream::connect_timeout(&client, &addr("10.0.0.1:9000"), GUARD).unwrap();
        c.write_all(&sent).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        c.set_read_timeout(Some(GUARD)).unwrap();
        // Wait for the server's FIN so our FIN is known to have arrived.
        assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0);
        c.info().unwrap().retransmits
    });
    let (mut s, _) = listener.accept_timeout(GUARD).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let retransmits = sender.join().unwrap();
    assert!(got == data, "bytes differ after loss recovery");
    assert!(retransmits > 0, "2% loss should have cost a retransmission");
}

/// A stack that goes quiet gives back what it kept for the next burst
/// (`StackBuilder::idle_release`): after a transfer the connections' emptied rings hold
/// storage; once nothing has moved for the idle time, the ring storage is gone (the
/// connection stays open and works).
#[test]
fn an_idle_stack_gives_its_retained_memory_back() {
    let (a, b) = MemoryPair::new();
    let cfg = |ip: &str| Config::default().with_local_addrs(vec![ip.parse().unwrap()]);
    let idle = Some(Duration::from_millis(200));
    let server = Stack::builder(cfg("10.0.0.1"))
        .idle_release(idle)
        .build(a)
        .unwrap();
    let client = Stack::builder(cfg("10.0.0.2"))
        .idle_release(idle)
        .build(b)
        .unwrap();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:7")).unwrap();
    let conn = TcpStream::connect_timeout(&client, &addr("10.0.0.1:7"), GUARD).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    accepted.set_read_timeout(Some(GUARD)).unwrap();
    let data = pattern(1 << 20);
    let writer = {
        let mut w = conn.try_clone().unwrap();
        let data = data.clone();
        thread::spawn(move || w.write_all(&data).unwrap())
    };
    let mut got = vec![0u8; data.len()];
    accepted.read_exact(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == data);
    // Wait (polling, guarded) for the client, whose send ring emptied, to go quiet and give
    // it back.
    let start = std::time::Instant::now();
    while client.stats().memory_releases == 0 {
        assert!(start.elapsed() < GUARD, "no release: {:?}", client.stats());
        thread::sleep(Duration::from_millis(20));
    }
    let freed = client.stats().memory_released;
    assert!(
        freed >= 256 * 1024,
        "the emptied send ring at least: {freed}"
    );
    assert_eq!(client.with_endpoint(|ep| ep.ring_storage()), 0);
    // The connection goes on: an echo of 100 KB the other way.
    let more = pattern(100_000);
    accepted.write_all(&more).unwrap();
    let mut back = vec![0u8; more.len()];
    (&conn).read_exact(&mut back).unwrap();
    assert!(back == more);
}

/// A stack that stops (dropped, or shut down) still hands its sockets what had arrived: a
/// read returns the data, then the end of the stream (the peer's FIN), and only then — and
/// for writes at once — the "stack stopped" error.
#[test]
fn reads_drain_what_arrived_after_the_stack_stops() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:7")).unwrap();
    let mut conn = TcpStream::connect_timeout(&client, &addr("10.0.0.1:7"), GUARD).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    accepted.write_all(b"hello").unwrap();
    accepted.shutdown(Shutdown::Write).unwrap();
    // Wait (polling, guarded) until the client holds the 5 bytes and the FIN.
    let start = std::time::Instant::now();
    while conn.info().unwrap().state != State::CloseWait {
        assert!(start.elapsed() < GUARD, "{:?}", conn.info());
        thread::sleep(Duration::from_millis(5));
    }
    drop(client);
    let mut buf = [0u8; 16];
    assert_eq!(conn.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(conn.read(&mut buf).unwrap(), 0, "the end of the stream");
    assert_eq!(
        conn.write(b"x").unwrap_err().kind(),
        ErrorKind::NotConnected,
        "writes fail at once"
    );
}
