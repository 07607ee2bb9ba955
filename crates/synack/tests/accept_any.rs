//! Accept-any mode (`TcpListener::bind_any`) over two stacks joined by a `MemoryPair`, without
//! root: a server stack with no local address list takes connections to any destination, and
//! every accepted stream's `local_addr` is the destination the client connected to.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use synack::memory::MemoryPair;
use synack::{Config, Stack};

const GUARD: Duration = Duration::from_secs(30);

/// A server stack that owns every address (empty `local_addrs`, the default) and a client at
/// 10.0.0.2 and fd00::2.
fn pair() -> (Stack, Stack) {
    let (a, b) = MemoryPair::new();
    let server = Stack::new(a, Config::default()).unwrap();
    let client = Stack::new(
        b,
        Config::default().with_local_addrs(vec![
            "10.0.0.2".parse().unwrap(),
            "fd00::2".parse().unwrap(),
        ]),
    )
    .unwrap();
    (server, client)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Arbitrary destinations, two IPv4 (different addresses and ports) and one IPv6.
const DESTS: [&str; 3] = ["198.18.7.9:443", "203.0.113.200:8080", "[2001:db8::42]:25"];

#[test]
fn bind_any_accepts_every_destination_with_its_original_address() {
    use synack::net::{TcpListener, TcpStream};
    let (server, client) = pair();
    assert!(server.local_addrs().is_empty());
    let listener = TcpListener::bind_any(&server).unwrap();
    assert_eq!(listener.local_addr().unwrap(), synack_proto::ACCEPT_ANY);
    // A second accept-any listener on the same stack is refused.
    let again = TcpListener::bind_any(&server).unwrap_err();
    assert_eq!(again.kind(), ErrorKind::AddrInUse);

    let server_side = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in DESTS {
            let (mut conn, peer) = listener.accept_timeout(GUARD).unwrap();
            assert_eq!(conn.peer_addr().unwrap(), peer);
            let local = conn.local_addr().unwrap();
            conn.set_read_timeout(Some(GUARD)).unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).unwrap();
            conn.write_all(format!("{local} ").as_bytes()).unwrap();
            conn.write_all(&got).unwrap();
            conn.shutdown(Shutdown::Write).unwrap();
            seen.push((local, peer));
        }
        seen
    });

    for dest in DESTS {
        let mut conn = TcpStream::connect_timeout(&client, &addr(dest), GUARD).unwrap();
        assert_eq!(conn.peer_addr().unwrap(), addr(dest));
        conn.set_read_timeout(Some(GUARD)).unwrap();
        conn.write_all(format!("hello {dest}").as_bytes()).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, format!("{dest} hello {dest}"));
    }
    let seen = server_side.join().unwrap();
    let locals: Vec<SocketAddr> = seen.iter().map(|s| s.0).collect();
    assert_eq!(locals, DESTS.map(addr));
    for (local, peer) in seen {
        let want = if local.is_ipv4() {
            "10.0.0.2"
        } else {
            "fd00::2"
        };
        assert_eq!(peer.ip(), want.parse::<std::net::IpAddr>().unwrap());
    }
}

#[test]
fn an_exact_listener_takes_precedence_and_dropping_bind_any_refuses_again() {
    use synack::net::{TcpListener, TcpStream};
    let (server, client) = pair();
    let exact = TcpListener::bind(&server, addr("198.18.0.1:80")).unwrap();
    let any = TcpListener::bind_any(&server).unwrap();

    let _c1 = TcpStream::connect_timeout(&client, &addr("198.18.0.1:80"), GUARD).unwrap();
    let (s1, _) = exact.accept_timeout(GUARD).unwrap();
    assert_eq!(s1.local_addr().unwrap(), addr("198.18.0.1:80"));
    let _c2 = TcpStream::connect_timeout(&client, &addr("198.18.0.1:81"), GUARD).unwrap();
    let (s2, _) = any.accept_timeout(GUARD).unwrap();
    assert_eq!(s2.local_addr().unwrap(), addr("198.18.0.1:81"));
    assert_eq!(
        any.accept_timeout(Duration::from_millis(50))
            .unwrap_err()
            .kind(),
        ErrorKind::TimedOut
    );

    drop(any);
    let refused = TcpStream::connect_timeout(&client, &addr("198.18.0.1:82"), GUARD).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // The accept-any slot is free again.
    let _again = TcpListener::bind_any(&server).unwrap();
    // With no address of its own, the accept-any stack cannot pick one to connect from.
    let no_addr = TcpStream::connect_timeout(&server, &addr("10.0.0.2:9"), GUARD).unwrap_err();
    assert_eq!(no_addr.kind(), ErrorKind::AddrNotAvailable);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_bind_any_echoes_with_original_destinations() {
    use synack::tokio::{TcpListener, TcpStream};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::timeout;

    let (server, client) = pair();
    let listener = TcpListener::bind_any(&server).unwrap();
    let accepting = tokio::spawn(async move {
        let mut locals = Vec::new();
        for _ in DESTS {
            let (mut conn, _peer) = listener.accept().await.unwrap();
            let local = conn.local_addr().unwrap();
            locals.push(local);
            tokio::spawn(async move {
                let mut got = Vec::new();
                conn.read_to_end(&mut got).await.unwrap();
                conn.write_all(format!("{local} ").as_bytes())
                    .await
                    .unwrap();
                conn.write_all(&got).await.unwrap();
                conn.shutdown().await.unwrap();
            });
        }
        locals
    });
    for dest in DESTS {
        let mut conn = timeout(GUARD, TcpStream::connect(&client, addr(dest)))
            .await
            .unwrap()
            .unwrap();
        conn.write_all(b"ping").await.unwrap();
        conn.shutdown().await.unwrap();
        let mut reply = String::new();
        timeout(GUARD, conn.read_to_string(&mut reply))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply, format!("{dest} ping"));
    }
    let locals = timeout(GUARD, accepting).await.unwrap().unwrap();
    assert_eq!(locals, DESTS.map(addr));
}
