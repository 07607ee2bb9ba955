//! The tokio socket surface beyond AsyncRead/AsyncWrite: `into_split`/`split`, `readable`/
//! `writable`, `try_read`/`try_write`, `peek`, over two stacks joined by a `MemoryPair` (no
//! root). Timeouts are only failure guards: every wait is for an event.

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

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ (i >> 16) as u8)
        .collect()
}

/// A connected (client, server) pair on port `port`.
async fn connected(server: &Stack, client: &Stack, port: u16) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(server, ("10.0.0.1", port)).unwrap();
    let c = timeout(GUARD, TcpStream::connect(client, ("10.0.0.1", port)))
        .await
        .unwrap()
        .unwrap();
    let (s, _) = timeout(GUARD, listener.accept()).await.unwrap().unwrap();
    (c, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_split_halves_echo_from_two_tasks() {
    let (server, client) = pair();
    let (c, s) = connected(&server, &client, 7).await;
    // The echo side splits too: its halves copy in one task.
    let echo = tokio::spawn(async move {
        let (mut rd, mut wr) = s.into_split();
        let n = tokio::io::copy(&mut rd, &mut wr).await.unwrap();
        wr.shutdown().await.unwrap();
        n
    });
    let data = pattern(1 << 20);
    let (mut rd, mut wr) = c.into_split();
    assert_eq!(rd.peer_addr().unwrap(), wr.peer_addr().unwrap());
    let to_send = data.clone();
    // Writer and reader in two tasks at once; dropping the write half sends the FIN.
    let writer = tokio::spawn(async move {
        wr.write_all(&to_send).await.unwrap();
    });
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        rd.read_to_end(&mut got).await.unwrap();
        got
    });
    let got = timeout(GUARD, reader).await.unwrap().unwrap();
    timeout(GUARD, writer).await.unwrap().unwrap();
    assert_eq!(echo.await.unwrap(), data.len() as u64);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the echo is byte-exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reunite_takes_only_partners() {
    let (server, client) = pair();
    let (c1, mut s1) = connected(&server, &client, 8).await;
    let (c2, _s2) = connected(&server, &client, 9).await;
    let (r1, w1) = c1.into_split();
    let (r2, w2) = c2.into_split();
    let synack::tokio::ReuniteError(r1, w2) = r1.reunite(w2).unwrap_err();
    let c1 = r1.reunite(w1).unwrap();
    let c2 = w2.reunite(r2).unwrap();
    assert_eq!(c1.peer_addr().unwrap().port(), 8);
    assert_eq!(c2.peer_addr().unwrap().port(), 9);
    assert_ne!(c1.local_addr().unwrap(), c2.local_addr().unwrap());
    // Reuniting sent no FIN: the stream still writes.
    let mut c1 = c1;
    c1.write_all(b"still open").await.unwrap();
    let mut buf = [0u8; 10];
    timeout(GUARD, s1.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_read_would_block_then_readable_then_data() {
    let (server, client) = pair();
    let (c, mut s) = connected(&server, &client, 10).await;
    let mut buf = [0u8; 32];
    let err = c.try_read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    assert_eq!(c.try_read(&mut []).unwrap(), 0, "an empty buffer is Ok(0)");
    s.write_all(b"ready now").await.unwrap();
    timeout(GUARD, c.readable()).await.unwrap().unwrap();
    let n = c.try_read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ready now");
    assert_eq!(
        c.try_read(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // The end of the stream is readable too, and reads Ok(0).
    s.shutdown().await.unwrap();
    timeout(GUARD, c.readable()).await.unwrap().unwrap();
    assert_eq!(c.try_read(&mut buf).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_write_would_block_then_writable_after_the_peer_reads() {
    let (server, client) = pair();
    let (c, mut s) = connected(&server, &client, 11).await;
    timeout(GUARD, c.writable()).await.unwrap().unwrap();
    let chunk = vec![5u8; 64 << 10];
    let mut sent = 0usize;
    let err = loop {
        match c.try_write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => break e,
        }
        assert!(sent < 256 << 20, "the buffers are bounded");
    };
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    // The peer drains it all; the window reopens, the ACKs free the send buffer.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; sent];
        s.read_exact(&mut buf).await.unwrap();
        assert!(buf.iter().all(|&b| b == 5));
        s
    });
    timeout(GUARD, c.writable()).await.unwrap().unwrap();
    assert!(c.try_write(b"x").unwrap() == 1);
    let _s = timeout(GUARD, drain).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peek_then_read_returns_the_same_bytes() {
    let (server, client) = pair();
    let (mut c, mut s) = connected(&server, &client, 12).await;
    s.write_all(b"peekaboo").await.unwrap();
    let mut p = [0u8; 16];
    let n = timeout(GUARD, c.peek(&mut p)).await.unwrap().unwrap();
    assert_eq!(&p[..n], &b"peekaboo"[..n]);
    let mut p2 = [0u8; 16];
    let n2 = c.peek(&mut p2).await.unwrap();
    assert!(
        n2 >= n && p2[..n] == p[..n],
        "a second peek sees the same bytes"
    );
    let mut r = [0u8; 8];
    c.read_exact(&mut r).await.unwrap();
    assert_eq!(&r, b"peekaboo");
    assert_eq!(
        c.try_read(&mut r).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Peek through a half after a split.
    s.write_all(b"z").await.unwrap();
    let (rd, _wr) = c.split();
    let mut one = [0u8; 1];
    assert_eq!(timeout(GUARD, rd.peek(&mut one)).await.unwrap().unwrap(), 1);
    assert_eq!(rd.try_read(&mut one).unwrap(), 1);
    assert_eq!(&one, b"z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn borrowed_split_reads_and_writes_at_once() {
    let (server, client) = pair();
    let (mut c, s) = connected(&server, &client, 13).await;
    let echo = tokio::spawn(async move {
        let (mut rd, mut wr) = s.into_split();
        tokio::io::copy(&mut rd, &mut wr).await.unwrap();
    });
    let data = pattern(256 << 10);
    let (mut rd, mut wr) = c.split();
    let mut got = Vec::new();
    let (w, r) = timeout(GUARD, async {
        tokio::join!(
            async {
                wr.write_all(&data).await?;
                wr.shutdown().await
            },
            rd.read_to_end(&mut got)
        )
    })
    .await
    .unwrap();
    w.unwrap();
    assert_eq!(r.unwrap(), data.len());
    assert!(got == data);
    let _: SocketAddr = rd.local_addr().unwrap();
    echo.await.unwrap();
}
