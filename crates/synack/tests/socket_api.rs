//! The std-flavoured socket surface beyond read/write: `peek`, nonblocking mode, `take_error`,
//! listener clones and `ToSocketAddrs`, over two stacks joined by a `MemoryPair` (no root).
//! Waits are for events (the server stack's event hook, or a blocking call); `GUARD` is only a
//! failure guard.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use synack::memory::MemoryPair;
use synack::net::{TcpListener, TcpStream};
use synack::{Config, Event, Stack};

const GUARD: Duration = Duration::from_secs(30);

fn cfg(ip: &str) -> Config {
    Config::default().with_local_addrs(vec![ip.parse().unwrap()])
}

/// Server (10.0.0.1) and client (10.0.0.2), and the server stack's events.
fn pair() -> (Stack, Stack, mpsc::Receiver<Event>) {
    let (a, b) = MemoryPair::new();
    let (tx, rx) = mpsc::channel();
    let server = Stack::builder(cfg("10.0.0.1"))
        .on_event(move |_, ev| {
            let _ = tx.send(*ev);
        })
        .build(a)
        .unwrap();
    (server, Stack::new(b, cfg("10.0.0.2")).unwrap(), rx)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Block until the server stack reports an event `want` accepts.
fn wait_event(rx: &mpsc::Receiver<Event>, want: impl Fn(&Event) -> bool) {
    loop {
        let ev = rx.recv_timeout(GUARD).expect("event before the guard");
        if want(&ev) {
            return;
        }
    }
}

#[test]
fn peek_returns_the_bytes_the_next_read_takes() {
    let (server, client, _ev) = pair();
    let listener = TcpListener::bind(&server, "10.0.0.1:80").unwrap();
    let mut c = TcpStream::connect(&client, "10.0.0.1:80").unwrap();
    let (mut s, _) = listener.accept_timeout(GUARD).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    c.write_all(b"hello").unwrap();

    let mut p1 = [0u8; 16];
    let n = s.peek(&mut p1).unwrap(); // waits for the data
    assert_eq!(&p1[..n], b"hello");
    let mut p2 = [0u8; 3];
    assert_eq!(s.peek(&mut p2).unwrap(), 3, "a short peek gets a prefix");
    assert_eq!(&p2, b"hel");
    let mut got = [0u8; 16];
    assert_eq!(s.read(&mut got).unwrap(), 5, "peek consumed nothing");
    assert_eq!(&got[..5], b"hello");

    // Nothing left: nonblocking peek says WouldBlock; after the peer's FIN, peek is Ok(0).
    s.set_nonblocking(true).unwrap();
    assert_eq!(s.peek(&mut p1).unwrap_err().kind(), ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(s.peek(&mut p1).unwrap(), 0);
    assert_eq!(s.read(&mut got).unwrap(), 0);
}

#[test]
fn nonblocking_accept_and_read_would_block_then_succeed() {
    let (server, client, ev) = pair();
    let listener = TcpListener::bind(&server, "10.0.0.1:81").unwrap();
    listener.set_nonblocking(true).unwrap();
    let err = listener.accept().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");

    let mut c = TcpStream::connect(&client, "10.0.0.1:81").unwrap();
    wait_event(&ev, |e| matches!(e, Event::Incoming { .. }));
    let (mut s, peer) = listener
        .accept()
        .expect("a connection waits: no WouldBlock");
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "only one was queued"
    );

    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(s.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    c.write_all(b"data").unwrap();
    wait_event(&ev, |e| matches!(e, Event::Readable { .. }));
    assert_eq!(s.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"data");
    assert_eq!(s.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    // Writes in nonblocking mode go through while there is room.
    assert_eq!(s.write(b"back").unwrap(), 4);
    c.set_read_timeout(Some(GUARD)).unwrap();
    c.read_exact(&mut buf[..4]).unwrap();
    assert_eq!(&buf[..4], b"back");
}

#[test]
fn nonblocking_write_would_block_on_a_full_send_buffer() {
    let (server, client, _ev) = pair();
    let listener = TcpListener::bind(&server, "10.0.0.1:85").unwrap();
    let c = TcpStream::connect(&client, "10.0.0.1:85").unwrap();
    let (_s, _) = listener.accept_timeout(GUARD).unwrap(); // never reads
    c.set_nonblocking(true).unwrap();
    let chunk = vec![1u8; 64 << 10];
    let mut total = 0usize;
    let err = loop {
        match (&c).write(&chunk) {
            Ok(n) => total += n,
            Err(e) => break e,
        }
        assert!(total < 256 << 20, "the buffers are bounded");
    };
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    assert!(total > 0);
}

#[test]
fn take_error_reports_a_reset_once() {
    let (server, client, _ev) = pair();
    let listener = TcpListener::bind(&server, "10.0.0.1:82").unwrap();
    let mut c = TcpStream::connect(&client, "10.0.0.1:82").unwrap();
    let (s, _) = listener.accept_timeout(GUARD).unwrap();
    assert!(c.take_error().unwrap().is_none(), "a healthy connection");
    c.set_read_timeout(Some(GUARD)).unwrap();
    s.abort(); // RST
    let err = c.read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    let pending = c.take_error().unwrap().expect("the reset is pending");
    assert_eq!(pending.kind(), ErrorKind::ConnectionReset);
    assert!(c.take_error().unwrap().is_none(), "taking clears it");
    // Reads still report the reset (MUST-12).
    assert_eq!(
        c.read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
}

#[test]
fn listener_clones_share_the_listen_until_the_last_is_dropped() {
    let (server, client, _ev) = pair();
    let listener = TcpListener::bind(&server, "10.0.0.1:83").unwrap();
    let clone = listener.try_clone().unwrap();
    assert_eq!(clone.local_addr().unwrap(), addr("10.0.0.1:83"));
    assert!(listener.take_error().unwrap().is_none());
    // Nonblocking mode is shared, as on one socket.
    clone.set_nonblocking(true).unwrap();
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    clone.set_nonblocking(false).unwrap();
    drop(listener);
    let c = TcpStream::connect(&client, "10.0.0.1:83").unwrap();
    let (s, _) = clone.accept_timeout(GUARD).unwrap();
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    drop(clone);
    let err = TcpStream::connect(&client, "10.0.0.1:83").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn bind_and_connect_take_to_socket_addrs_like_std() {
    let (server, client, _ev) = pair();
    // A string literal and an (ip, port) tuple resolve without any lookup.
    let listener = TcpListener::bind(&server, "10.0.0.1:84").unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr("10.0.0.1:84"));
    let c = TcpStream::connect(&client, ("10.0.0.1", 84)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr("10.0.0.1:84"));
    let c2 = TcpStream::connect(&client, String::from("10.0.0.1:84")).unwrap();
    assert_eq!(c2.peer_addr().unwrap(), addr("10.0.0.1:84"));

    // Several addresses: each is tried in turn; the refused one (RST) is skipped.
    let addrs = [addr("10.0.0.1:9"), addr("10.0.0.1:84")];
    let c3 = TcpStream::connect(&client, &addrs[..]).unwrap();
    assert_eq!(c3.peer_addr().unwrap(), addr("10.0.0.1:84"));
    // All fail: the last error. None at all: InvalidInput.
    let err = TcpStream::connect(&client, &[addr("10.0.0.1:9")][..]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let none: &[SocketAddr] = &[];
    assert_eq!(
        TcpStream::connect(&client, none).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // bind: the first address that can be bound (84 is taken).
    let l2 = TcpListener::bind(&server, &[addr("10.0.0.1:84"), addr("10.0.0.1:86")][..]).unwrap();
    assert_eq!(l2.local_addr().unwrap(), addr("10.0.0.1:86"));
    assert!(listener.accept_timeout(GUARD).is_ok());
}
