//! The tokio sockets over two stacks joined by a `MemoryPair`, without root.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use synack::memory::MemoryPair;
use synack::tokio::{TcpListener, TcpStream};
use synack::{Config, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_one_megabyte_async() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:7")).unwrap();
    let echo = tokio::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        let (mut rd, mut wr) = tokio::io::split(conn);
        let n = tokio::io::copy(&mut rd, &mut wr).await.unwrap();
        wr.shutdown().await.unwrap();
        n
    });
    let data: Vec<u8> = (0..1usize << 20)
        .map(|i| (i * 7 + (i >> 12)) as u8)
        .collect();
    let conn = timeout(GUARD, TcpStream::connect(&client, addr("10.0.0.1:7")))
        .await
        .unwrap()
        .unwrap();
    let (mut rd, mut wr) = tokio::io::split(conn);
    let to_send = data.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&to_send).await.unwrap();
        wr.shutdown().await.unwrap();
        wr
    });
    let mut got = Vec::new();
    timeout(GUARD, rd.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let _wr = writer.await.unwrap();
    assert_eq!(echo.await.unwrap(), data.len() as u64);
    assert!(
        got == data,
        "echoed bytes differ ({} vs {})",
        got.len(),
        data.len()
    );
}

#[tokio::test]
async fn async_half_close() {
    let (server, client) = pair();
    let listener = TcpListener::bind(&server, addr("10.0.0.1:80")).unwrap();
    let mut c = TcpStream::connect(&client, addr("10.0.0.1:80"))
        .await
        .unwrap();
    let (mut s, peer) = timeout(GUARD, listener.accept()).await.unwrap().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    c.write_all(b"GET /").await.unwrap();
    c.shutdown().await.unwrap();
    let mut req = Vec::new();
    timeout(GUARD, s.read_to_end(&mut req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(req, b"GET /");
    assert_eq!(
        c.write(b"x").await.unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
    s.write_all(b"200 OK").await.unwrap();
    s.shutdown().await.unwrap();
    let mut resp = Vec::new();
    timeout(GUARD, c.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp, b"200 OK");
}

#[tokio::test]
async fn async_connect_refused() {
    let (_server, client) = pair();
    let err = timeout(GUARD, TcpStream::connect(&client, addr("10.0.0.1:9")))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn cancelled_connect_leaves_nothing_behind() {
    let (a, _b) = MemoryPair::new();
    let stack = Stack::new(
        a,
        Config::default().with_local_addrs(vec!["10.0.0.2".parse().unwrap()]),
    )
    .unwrap();
    let r = timeout(
        Duration::from_millis(50),
        TcpStream::connect(&stack, addr("10.0.0.1:80")),
    )
    .await;
    assert!(r.is_err(), "nobody answers, so the timeout fires");
    assert_eq!(stack.connection_count(), 0);
}
