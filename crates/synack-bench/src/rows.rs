//! The workloads of rows 1–4, each written once per stack over the same in-memory link
//! ([`crate::net`]). Every function does the work and returns counts; timing and reporting are
//! the caller's.

use std::net::Ipv4Addr;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use synack_proto::{Config, ConnHandle, Error};

use crate::net::{sa, smol_socket, synack_config, SmolNet, SynNet, A_IP, B_IP};

/// Server port of every workload.
pub const PORT: u16 = 80;

/// The client address and port of the `i`th connection of a workload that needs many
/// distinct 4-tuples: 60,000 ports per address, addresses 10.1.x.y.
pub fn client_tuple(i: usize) -> (Ipv4Addr, u16) {
    let k = (i / 60_000) as u32;
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + k);
    (ip, 1024 + (i % 60_000) as u16)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

// ----- row 1: bulk transfer -------------------------------------------------------------------

/// A connected synack pair ready for bulk transfer at `mtu`.
pub struct SynBulk {
    pub net: SynNet,
    c: ConnHandle,
    s: ConnHandle,
    data: Vec<u8>,
    rbuf: Vec<u8>,
}

impl SynBulk {
    pub fn new(mtu: usize) -> SynBulk {
        // The sender's buffer stays at 256 KiB, as smoltcp's does. On this link a round trip
        // takes a microsecond of virtual time and drains the whole buffer, so send autotuning
        // (send_autotune.rs) sees a buffer-limited sender and grows the buffer to 2 MiB; the
        // application then cycles through more memory than the L2 cache holds, and the row
        // measures cache misses (40% slower at MTU 1500). On a path with real latency that
        // growth is what lets one connection fill it (row 5).
        let fixed = |mut c: Config| {
            c.send_buffer_max = c.send_buffer;
            c
        };
        let mut net = SynNet::new(
            mtu,
            fixed(synack_config(mtu, Some(A_IP))),
            fixed(synack_config(mtu, Some(B_IP))),
        );
        net.b.listen(sa(B_IP, PORT), None).unwrap();
        let c = net
            .a
            .connect(net.now, sa(A_IP, 40000), sa(B_IP, PORT))
            .unwrap();
        let s = loop {
            assert!(net.step(), "synack handshake stalled");
            if let Some(s) = net.b.accept(sa(B_IP, PORT)) {
                break s;
            }
        };
        SynBulk {
            net,
            c,
            s,
            data: pattern(64 * 1024),
            rbuf: vec![0; 64 * 1024],
        }
    }

    /// Move `total` bytes from client to server: the application writes from a 64 KiB buffer
    /// and reads into one (both copies counted). Returns the bytes read.
    pub fn transfer(&mut self, total: u64) -> u64 {
        let (mut sent, mut got) = (0u64, 0u64);
        while got < total {
            while sent < total {
                let chunk = (total - sent).min(self.data.len() as u64) as usize;
                match self.net.a.send(self.c, &self.data[..chunk]) {
                    Ok(n) => sent += n as u64,
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("send: {e}"),
                }
            }
            assert!(self.net.step(), "synack bulk transfer stalled");
            loop {
                match self.net.b.recv(self.s, &mut self.rbuf) {
                    Ok(0) => panic!("unexpected end of stream"),
                    Ok(n) => got += n as u64,
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        std::hint::black_box(&self.rbuf);
        got
    }
}

/// A connected smoltcp pair ready for bulk transfer at `mtu`, with the same buffer sizes as
/// synack's defaults (256 KiB each way).
pub struct SmolBulk {
    pub net: SmolNet,
    c: SocketHandle,
    s: SocketHandle,
    data: Vec<u8>,
    rbuf: Vec<u8>,
}

/// Socket buffers of the bulk and lifecycle rows: synack's default buffer sizes.
pub const BULK_BUFFER: usize = 256 * 1024;

impl SmolBulk {
    pub fn new(mtu: usize) -> SmolBulk {
        let mut net = SmolNet::new(mtu);
        let c = net.a.sockets.add(smol_socket(BULK_BUFFER, BULK_BUFFER));
        let s = net.b.sockets.add(smol_socket(BULK_BUFFER, BULK_BUFFER));
        net.sock_b(s).listen(PORT).unwrap();
        net.connect(c, 40000, PORT);
        while !(net.sock_a(c).may_send() && net.sock_b(s).may_recv()) {
            assert!(net.step(), "smoltcp handshake stalled");
        }
        SmolBulk {
            net,
            c,
            s,
            data: pattern(64 * 1024),
            rbuf: vec![0; 64 * 1024],
        }
    }

    pub fn transfer(&mut self, total: u64) -> u64 {
        let (mut sent, mut got) = (0u64, 0u64);
        while got < total {
            while sent < total {
                let chunk = (total - sent).min(self.data.len() as u64) as usize;
                let c = self.c;
                match self.net.sock_a(c).send_slice(&self.data[..chunk]) {
                    Ok(0) => break,
                    Ok(n) => sent += n as u64,
                    Err(e) => panic!("send: {e}"),
                }
            }
            assert!(self.net.step(), "smoltcp bulk transfer stalled");
            let s = self.s;
            loop {
                match self.net.sock_b(s).recv_slice(&mut self.rbuf) {
                    Ok(0) => break,
                    Ok(n) => got += n as u64,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        std::hint::black_box(&self.rbuf);
        got
    }
}

// ----- row 2: lifecycles ----------------------------------------------------------------------

/// Bytes each side sends in a lifecycle.
pub const LIFECYCLE_BYTES: usize = 100;

/// synack: a client endpoint that owns every address (connections come from many 10.1.x.y
/// addresses so that TIME-WAIT entries never collide) and a server listening on B:80.
pub struct SynLifecycles {
    pub net: SynNet,
    next: usize,
    msg: Vec<u8>,
}

impl SynLifecycles {
    pub fn new() -> SynLifecycles {
        SynLifecycles::with(|_| {})
    }

    /// The row with both endpoints' configurations changed by `tweak` (to see what a feature
    /// costs: `workload lifecycle synack-lean`).
    pub fn with(tweak: impl Fn(&mut Config)) -> SynLifecycles {
        let mut client = synack_config(1500, None);
        // Keep every TIME-WAIT entry for its full 2·MSL (RFC 9293's 2 minutes, the default):
        // they accumulate in the table for the whole run.
        client.max_time_wait = 1 << 22;
        client.max_connections = 1 << 22;
        let mut server = synack_config(1500, Some(B_IP));
        tweak(&mut client);
        tweak(&mut server);
        let mut net = SynNet::new(1500, client, server);
        net.b.listen(sa(B_IP, PORT), Some(1024)).unwrap();
        SynLifecycles {
            net,
            next: 0,
            msg: pattern(LIFECYCLE_BYTES),
        }
    }

    /// One lifecycle: connect, handshake, 100 bytes each way, the client closes, the server
    /// closes once it reads the end of the stream; the client's connection stays in TIME-WAIT.
    pub fn run_one(&mut self) {
        let net = &mut self.net;
        let (ip, port) = client_tuple(self.next);
        self.next += 1;
        let c = net
            .a
            .connect(net.now, sa(ip, port), sa(B_IP, PORT))
            .unwrap();
        let s = loop {
            assert!(net.step(), "synack handshake stalled");
            if let Some(s) = net.b.accept(sa(B_IP, PORT)) {
                break s;
            }
        };
        net.a.send(c, &self.msg).unwrap();
        net.b.send(s, &self.msg).unwrap();
        let mut buf = [0u8; 256];
        let (mut got_c, mut got_s) = (0, 0);
        while got_c < LIFECYCLE_BYTES || got_s < LIFECYCLE_BYTES {
            assert!(net.step(), "synack exchange stalled");
            got_c += net.a.recv(c, &mut buf).unwrap_or(0);
            got_s += net.b.recv(s, &mut buf).unwrap_or(0);
        }
        net.a.close(c).unwrap();
        loop {
            assert!(net.step(), "synack close stalled");
            if let Ok(0) = net.b.recv(s, &mut buf) {
                break;
            }
        }
        net.b.close(s).unwrap();
        net.settle();
    }

    pub fn time_wait_count(&self) -> usize {
        self.net.a.time_wait_count()
    }
}

impl Default for SynLifecycles {
    fn default() -> Self {
        SynLifecycles::new()
    }
}

/// smoltcp: one client and one server socket, reused for every lifecycle (a smoltcp socket is
/// one connection; listening again needs a closed socket). The client's TIME-WAIT is aborted.
pub struct SmolLifecycles {
    pub net: SmolNet,
    c: SocketHandle,
    s: SocketHandle,
    next: usize,
    msg: Vec<u8>,
}

impl SmolLifecycles {
    pub fn new() -> SmolLifecycles {
        let mut net = SmolNet::new(1500);
        let c = net.a.sockets.add(smol_socket(BULK_BUFFER, BULK_BUFFER));
        let s = net.b.sockets.add(smol_socket(BULK_BUFFER, BULK_BUFFER));
        SmolLifecycles {
            net,
            c,
            s,
            next: 0,
            msg: pattern(LIFECYCLE_BYTES),
        }
    }

    pub fn run_one(&mut self) {
        let (c, s) = (self.c, self.s);
        let net = &mut self.net;
        let port = client_tuple(self.next).1;
        self.next += 1;
        net.sock_b(s).listen(PORT).unwrap();
        net.connect(c, port, PORT);
        while !(net.sock_a(c).state() == tcp::State::Established
            && net.sock_b(s).state() == tcp::State::Established)
        {
            assert!(net.step(), "smoltcp handshake stalled");
        }
        net.sock_a(c).send_slice(&self.msg).unwrap();
        net.sock_b(s).send_slice(&self.msg).unwrap();
        let mut buf = [0u8; 256];
        let (mut got_c, mut got_s) = (0, 0);
        while got_c < LIFECYCLE_BYTES || got_s < LIFECYCLE_BYTES {
            assert!(net.step(), "smoltcp exchange stalled");
            got_c += net.sock_a(c).recv_slice(&mut buf).unwrap_or(0);
            got_s += net.sock_b(s).recv_slice(&mut buf).unwrap_or(0);
        }
        net.sock_a(c).close();
        while net.sock_b(s).may_recv() {
            assert!(net.step(), "smoltcp close stalled");
        }
        net.sock_b(s).close();
        while !(net.sock_b(s).state() == tcp::State::Closed
            && net.sock_a(c).state() == tcp::State::TimeWait)
        {
            assert!(net.step(), "smoltcp close stalled");
        }
        // smoltcp keeps TIME-WAIT in the socket itself; to open the next connection the
        // socket must be free, so TIME-WAIT is cut short.
        net.sock_a(c).abort();
    }
}

impl Default for SmolLifecycles {
    fn default() -> Self {
        SmolLifecycles::new()
    }
}

// ----- rows 3 and 4: many idle connections, ping-pong on one ----------------------------------

/// Socket buffers of rows 3 and 4 (synack allocates them lazily; smoltcp needs them up front).
pub const IDLE_BUFFER: usize = 16 * 1024;

/// Ping-pong message size.
pub const PING_BYTES: usize = 64;

/// synack: one measured connection plus `n` idle established ones.
pub struct SynMany {
    pub net: SynNet,
    c: ConnHandle,
    s: ConnHandle,
    /// Idle connections established (client handles are kept, as an application would).
    pub idle: usize,
    handles: Vec<(ConnHandle, ConnHandle)>,
}

impl SynMany {
    pub fn new() -> SynMany {
        let mut client = synack_config(1500, None);
        client.max_connections = 1 << 22;
        client.send_buffer = IDLE_BUFFER;
        client.recv_buffer = IDLE_BUFFER;
        let mut server = synack_config(1500, Some(B_IP));
        server.max_connections = 1 << 22;
        server.send_buffer = IDLE_BUFFER;
        server.recv_buffer = IDLE_BUFFER;
        let mut net = SynNet::new(1500, client, server);
        net.b.listen(sa(B_IP, PORT), Some(4096)).unwrap();
        let c = net
            .a
            .connect(net.now, sa(A_IP, 40000), sa(B_IP, PORT))
            .unwrap();
        let s = loop {
            assert!(net.step(), "synack handshake stalled");
            if let Some(s) = net.b.accept(sa(B_IP, PORT)) {
                break s;
            }
        };
        SynMany {
            net,
            c,
            s,
            idle: 0,
            handles: Vec::new(),
        }
    }

    /// Establish idle connections until there are `n`, in batches of 1000 handshakes.
    pub fn grow_to(&mut self, n: usize) {
        self.handles.reserve(n.saturating_sub(self.idle));
        while self.idle < n {
            let batch = (n - self.idle).min(1000);
            let mut clients = Vec::with_capacity(batch);
            for i in self.idle..self.idle + batch {
                let (ip, port) = client_tuple(i);
                let now = self.net.now;
                clients.push(
                    self.net
                        .a
                        .connect(now, sa(ip, port), sa(B_IP, PORT))
                        .unwrap(),
                );
            }
            self.net.settle();
            for c in clients {
                let s = self.net.b.accept(sa(B_IP, PORT)).expect("accepted");
                self.handles.push((c, s));
            }
            self.idle += batch;
        }
    }

    /// `rounds` ping-pongs of 64 bytes on the measured connection; returns packets carried.
    pub fn ping_pong(&mut self, rounds: usize) -> u64 {
        let before = self.net.packets;
        let msg = [7u8; PING_BYTES];
        let mut buf = [0u8; 256];
        for _ in 0..rounds {
            self.net.a.send(self.c, &msg).unwrap();
            let mut got = 0;
            while got < PING_BYTES {
                assert!(self.net.step(), "synack ping stalled");
                got += self.net.b.recv(self.s, &mut buf).unwrap_or(0);
            }
            self.net.b.send(self.s, &msg).unwrap();
            let mut got = 0;
            while got < PING_BYTES {
                assert!(self.net.step(), "synack pong stalled");
                got += self.net.a.recv(self.c, &mut buf).unwrap_or(0);
            }
        }
        self.net.packets - before
    }
}

impl Default for SynMany {
    fn default() -> Self {
        SynMany::new()
    }
}

/// smoltcp: one measured connection plus `n` idle established ones (a socket per side each,
/// [`IDLE_BUFFER`] bytes of buffer each way).
pub struct SmolMany {
    pub net: SmolNet,
    c: SocketHandle,
    s: SocketHandle,
    pub idle: usize,
}

impl SmolMany {
    pub fn new() -> SmolMany {
        let mut net = SmolNet::new(1500);
        let c = net.a.sockets.add(smol_socket(IDLE_BUFFER, IDLE_BUFFER));
        let s = net.b.sockets.add(smol_socket(IDLE_BUFFER, IDLE_BUFFER));
        net.sock_b(s).listen(PORT).unwrap();
        net.connect(c, 40000, PORT);
        while !(net.sock_a(c).may_send() && net.sock_b(s).may_recv()) {
            assert!(net.step(), "smoltcp handshake stalled");
        }
        SmolMany { net, c, s, idle: 0 }
    }

    /// Establish idle connections until there are `n`, in batches of 1000 (a listening socket
    /// per expected connection, as smoltcp has no backlog).
    pub fn grow_to(&mut self, n: usize) {
        while self.idle < n {
            let batch = (n - self.idle).min(1000);
            for i in self.idle..self.idle + batch {
                let s = self
                    .net
                    .b
                    .sockets
                    .add(smol_socket(IDLE_BUFFER, IDLE_BUFFER));
                self.net.sock_b(s).listen(PORT).unwrap();
                let c = self
                    .net
                    .a
                    .sockets
                    .add(smol_socket(IDLE_BUFFER, IDLE_BUFFER));
                // Ports distinct from the measured connection's 40000.
                let port = 1024 + (i % 38_000) as u16;
                assert!(
                    i < 38_000,
                    "smoltcp idle connections limited to 38,000 here"
                );
                self.net.connect(c, port, PORT);
            }
            self.net.settle();
            self.idle += batch;
        }
    }

    pub fn ping_pong(&mut self, rounds: usize) -> u64 {
        let before = self.net.packets;
        let msg = [7u8; PING_BYTES];
        let mut buf = [0u8; 256];
        let (c, s) = (self.c, self.s);
        for _ in 0..rounds {
            self.net.sock_a(c).send_slice(&msg).unwrap();
            let mut got = 0;
            while got < PING_BYTES {
                assert!(self.net.step(), "smoltcp ping stalled");
                got += self.net.sock_b(s).recv_slice(&mut buf).unwrap_or(0);
            }
            self.net.sock_b(s).send_slice(&msg).unwrap();
            let mut got = 0;
            while got < PING_BYTES {
                assert!(self.net.step(), "smoltcp pong stalled");
                got += self.net.sock_a(c).recv_slice(&mut buf).unwrap_or(0);
            }
        }
        self.net.packets - before
    }
}

impl Default for SmolMany {
    fn default() -> Self {
        SmolMany::new()
    }
}
