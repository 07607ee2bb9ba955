//! The blocking API: two stacks joined by an in-memory link (no root needed); one echoes,
//! the other sends a message and reads it back.
//!
//! ```sh
//! cargo run -p synack --example blocking_echo
//! ```

use std::io::{Read, Write};
use std::net::Shutdown;

use synack::memory::MemoryPair;
use synack::net::{TcpListener, TcpStream};
use synack::{Config, Stack};

fn main() -> std::io::Result<()> {
    let (a, b) = MemoryPair::new();
    let config =
        |ip: &str| Config::default().with_local_addrs(vec![ip.parse().expect("an IP address")]);
    let server = Stack::new(a, config("10.0.0.1"))?;
    let client = Stack::new(b, config("10.0.0.2"))?;

    let listener = TcpListener::bind(&server, "10.0.0.1:7")?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut conn, peer) = listener.accept()?;
        println!("server: accepted {peer}");
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break; // the client's FIN
            }
            conn.write_all(&buf[..n])?;
        }
        conn.shutdown(Shutdown::Write)
    });

    let mut conn = TcpStream::connect(&client, "10.0.0.1:7")?;
    conn.write_all(b"hello over synack")?;
    conn.shutdown(Shutdown::Write)?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply)?;
    println!("client: got {reply:?} back; {:?}", conn.info()?.state);
    echo.join().expect("echo thread")?;
    Ok(())
}
