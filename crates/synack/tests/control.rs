//! The control socket and graceful shutdown over a `MemoryPair` (no root needed).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use synack::memory::MemoryPair;
use synack::net::{TcpListener, TcpStream};
use synack::{Config, Stack};

const GUARD: Duration = Duration::from_secs(30);

fn cfg(ip: &str) -> Config {
    Config::default().with_local_addrs(vec![ip.parse().unwrap()])
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn control_socket_serves_the_table_and_goes_away_with_the_stack() {
    let (a, b) = MemoryPair::new();
    let path = std::env::temp_dir().join(format!("synack-control-{}.sock", std::process::id()));
    let server = Stack::builder(cfg("10.0.0.1"))
        .control_socket(&path)
        .build(a)
        .unwrap();
    let client = Stack::new(b, cfg("10.0.0.2")).unwrap();
    assert_eq!(server.control_path(), Some(path.clone()));
    let listener = TcpListener::bind(&server, addr("10.0.0.1:7")).unwrap();
    let mut c = TcpStream::connect(&client, addr("10.0.0.1:7")).unwrap();
    let (s, _) = listener.accept().unwrap();
    c.write_all(b"hello").unwrap();
    // Unread by the server: Recv-Q 5.
    let end = std::time::Instant::now() + GUARD;
    while s.info().unwrap().recv_buffered < 5 {
        assert!(std::time::Instant::now() < end);
        std::thread::sleep(Duration::from_millis(5));
    }
    let doc = synack::control::query(&path, GUARD).unwrap();
    assert!(doc.contains("\"state\":\"ESTABLISHED\""), "{doc}");
    assert!(doc.contains("\"recv_q\":5,"), "{doc}");
    assert!(doc.contains("\"local\":\"10.0.0.1:7\""), "{doc}");
    assert!(doc.contains("\"owner\":\"application\""), "{doc}");
    assert!(doc.contains("\"syn_cookies\":{\"sent\":0"), "{doc}");
    assert!(
        doc.contains("\"fragments\":{\"received\":0,\"reassembled\":0,\"pending\":0,"),
        "{doc}"
    );
    assert!(doc.contains("\"fragment_overlap\":0"), "{doc}");
    assert!(
        doc.contains("\"local\":\"10.0.0.1:7\",\"syn_queue\":0,\"accept_queue\":0"),
        "{doc}"
    );
    assert_eq!(doc, doc.trim_start());
    drop((s, c, listener));
    drop(server);
    assert!(!path.exists(), "the socket file is removed with the stack");
}

#[test]
fn shutdown_sends_fin_after_queued_data_and_waits_for_the_peer() {
    let (a, b) = MemoryPair::new();
    let server = Stack::new(a, cfg("10.0.0.1")).unwrap();
    let client = Stack::new(b, cfg("10.0.0.2")).unwrap();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:7")).unwrap();
    let mut c = TcpStream::connect(&client, addr("10.0.0.1:7")).unwrap();
    c.set_read_timeout(Some(GUARD)).unwrap();
    let (s, _) = listener.accept().unwrap();
    // Queued before the shutdown: it arrives before the FIN.
    (&s).write_all(&[7u8; 100_000]).unwrap();
    let peer = std::thread::spawn(move || {
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap(); // Ok(0) at the FIN, not a reset
        drop(c); // our FIN: the server's close finishes
        got.len()
    });
    let report = server.shutdown(GUARD);
    assert_eq!(peer.join().unwrap(), 100_000);
    assert_eq!(report.open_at_start, 1);
    assert_eq!(report.closed, 1, "{report:?}");
    assert_eq!(report.reset, 0, "{report:?}");
    assert!(!report.aborted);
    // The stack is stopped: new work fails.
    assert!(TcpListener::bind(&server, addr("10.0.0.1:8")).is_err());
    drop(s);
}

#[test]
fn shutdown_resets_what_is_left_after_the_grace_period() {
    let (a, b) = MemoryPair::new();
    let server = Stack::new(a, cfg("10.0.0.1")).unwrap();
    let client = Stack::new(b, cfg("10.0.0.2")).unwrap();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:7")).unwrap();
    let mut c = TcpStream::connect(&client, addr("10.0.0.1:7")).unwrap();
    c.set_read_timeout(Some(GUARD)).unwrap();
    let (s, _) = listener.accept().unwrap();
    // The peer never closes: after the grace period it is reset.
    let mut seen = Vec::new();
    let report = server.shutdown_with(Duration::from_millis(300), None, |p| {
        seen.push(p.remaining())
    });
    assert_eq!(report.reset, 1, "{report:?}");
    assert_eq!(seen.first(), Some(&1));
    assert_eq!(seen.last(), Some(&0));
    // The FIN came first (read returns 0), then the RST (reset).
    let end = std::time::Instant::now() + GUARD;
    let mut buf = [0u8; 8];
    loop {
        match c.read(&mut buf) {
            Ok(0) => {
                let _ = c.write(b"x");
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            other => panic!("{other:?}"),
        }
        assert!(std::time::Instant::now() < end, "the RST never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(s);
}
