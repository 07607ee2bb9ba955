//! A small HTTP/1.0 server over synack and a TUN device, with plain tokio.
//!
//! ```sh
//! sudo ip netns add demo
//! sudo ip netns exec demo cargo run -p synack --example http_server -- synack0 10.200.0.2 10.200.0.1/24 8080
//! sudo ip netns exec demo curl http://10.200.0.2:8080/   # from another terminal
//! ```
//! Arguments (all optional, in order): TUN name, synack's address, the kernel side's address
//! with prefix, port.

use std::net::{IpAddr, SocketAddr};

use synack::tokio::{TcpListener, TcpStream};
use synack::tun::Tun;
use synack::{Config, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.to_string());
    let (tun, addr, host, port) = (
        arg(0, "synack0"),
        arg(1, "10.200.0.2"),
        arg(2, "10.200.0.1/24"),
        arg(3, "8080"),
    );
    let ip: IpAddr = addr.parse().map_err(std::io::Error::other)?;
    let port: u16 = port.parse().map_err(std::io::Error::other)?;

    let device = Tun::open(&tun)?;
    device.configure_host(Some(&host))?;
    let config = Config::default().with_local_addrs(vec![ip]);
    let stack = Stack::new(device, config)?;
    let listener = TcpListener::bind(&stack, SocketAddr::new(ip, port))?;
    println!("serving http://{ip}:{port}/ on {tun} (kernel side {host})");
    loop {
        let (conn, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(conn).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

/// Read the request head, answer with a fixed page, close.
async fn serve(mut conn: TcpStream) -> std::io::Result<()> {
    let mut req = Vec::new();
    let mut buf = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(req.split(|&b| b == b'\r').next().unwrap_or(&[]));
    let body = format!("hello from synack, a userspace TCP\nyou asked: {line}\n");
    let resp = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(resp.as_bytes()).await?;
    conn.shutdown().await?;
    // Read until the client closes, so our close is a clean FIN rather than a RST for
    // unread data.
    while conn.read(&mut buf).await? > 0 {}
    Ok(())
}
