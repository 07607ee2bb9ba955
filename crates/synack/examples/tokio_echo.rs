//! The tokio API: two stacks joined by an in-memory link (no root needed); one echoes with
//! `tokio::io::copy`, the other sends a message and reads it back.
//!
//! ```sh
//! cargo run -p synack --example tokio_echo
//! ```

use synack::memory::MemoryPair;
use synack::tokio::{TcpListener, TcpStream};
use synack::{Config, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (a, b) = MemoryPair::new();
    let config =
        |ip: &str| Config::default().with_local_addrs(vec![ip.parse().expect("an IP address")]);
    let server = Stack::new(a, config("10.0.0.1"))?;
    let client = Stack::new(b, config("10.0.0.2"))?;

    let listener = TcpListener::bind(&server, "10.0.0.1:7")?;
    let echo = tokio::spawn(async move {
        let (conn, _peer) = listener.accept().await?;
        let (mut rd, mut wr) = conn.into_split();
        tokio::io::copy(&mut rd, &mut wr).await?;
        wr.shutdown().await
    });

    let mut conn = TcpStream::connect(&client, "10.0.0.1:7").await?;
    conn.write_all(b"hello over synack, async").await?;
    conn.shutdown().await?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await?;
    println!("client: got {reply:?} back");
    echo.await.map_err(std::io::Error::other)??;
    Ok(())
}
