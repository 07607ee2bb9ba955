//! synack runtime: a [`Stack`] runs a `synack_proto::Endpoint` over a packet [`Device`] on a
//! thread of its own, and offers sockets that mirror `std::net` ([`net`]) and tokio's
//! ([`tokio`], feature `tokio`, on by default).
//!
//! Devices: [`tun::Tun`] (Linux TUN), [`memory::MemoryPair`] (two connected in-memory devices,
//! no root needed), and middleware over any device: [`pcap::PcapWriter`] (a Wireshark-readable
//! capture of everything) and [`impair::Impair`] (seeded loss, delay, reordering).
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use synack::{memory::MemoryPair, net::{TcpListener, TcpStream}, Config, Stack};
//!
//! let (a, b) = MemoryPair::new();
//! let cfg = |ip: &str| Config::default().with_local_addrs(vec![ip.parse().unwrap()]);
//! let server = Stack::new(a, cfg("10.0.0.1"))?;
//! let client = Stack::new(b, cfg("10.0.0.2"))?;
//! let listener = TcpListener::bind(&server, "10.0.0.1:7")?;
//! let mut c = TcpStream::connect(&client, "10.0.0.1:7")?;
//! let (mut s, _peer) = listener.accept()?;
//! c.write_all(b"hello")?;
//! let mut buf = [0u8; 5];
//! s.read_exact(&mut buf)?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod control;
pub mod device;
pub mod impair;
pub mod memory;
pub mod net;
#[cfg(target_os = "linux")]
mod offload;
pub mod pcap;
pub mod shutdown;
pub mod stack;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(target_os = "linux")]
pub mod tun;

pub use device::{Device, Wakeup};
pub use shutdown::{ShutdownProgress, ShutdownReport};
pub use stack::{Direction, RuntimeStats, Stack, StackBuilder};
pub use synack_proto::{CloseReason, Config, ConnInfo, Event, State};
