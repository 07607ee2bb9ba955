//! [`Fleet`]: many client connections from one host, opened on a schedule, each sending a
//! pattern to an echo server, verifying the echo byte for byte and closing.

use std::net::SocketAddr;

use synack_proto::{Duration, Event, Instant};

use super::{App, AppCtx, AppOutcome, Stream};

/// Opens `count` connections to `remote`, the i-th at `start + i · interval` after the app
/// starts; each sends `bytes` pattern bytes (seed `seed`) to an echo server, reads them back
/// verified, and closes once everything came back (or at end of stream).
#[derive(Debug)]
pub struct Fleet {
    pub remote: SocketAddr,
    pub count: usize,
    pub bytes: u64,
    pub seed: u64,
    pub start: Duration,
    pub interval: Duration,
    began: Option<Instant>,
    streams: Vec<Stream>,
    connect_failures: usize,
    errors: Vec<String>,
}

impl Fleet {
    /// `count` echo clients of `bytes` each, all opened at once (see [`Fleet::schedule`]).
    pub fn new(remote: SocketAddr, count: usize, bytes: u64, seed: u64) -> Fleet {
        Fleet {
            remote,
            count,
            bytes,
            seed,
            start: Duration::ZERO,
            interval: Duration::ZERO,
            began: None,
            streams: Vec::new(),
            connect_failures: 0,
            errors: Vec::new(),
        }
    }

    /// Open the first connection `start` after the app starts, the others `interval` apart.
    pub fn schedule(mut self, start: Duration, interval: Duration) -> Fleet {
        self.start = start;
        self.interval = interval;
        self
    }

    fn opened(&self) -> usize {
        self.streams.len() + self.connect_failures
    }

    fn due(&self, i: usize) -> Option<Instant> {
        let began = self.began?;
        Some(began + self.start + self.interval * u32::try_from(i).unwrap_or(u32::MAX))
    }

    fn open_due(&mut self, ctx: &mut AppCtx<'_>) {
        while self.opened() < self.count && self.due(self.opened()).is_some_and(|t| t <= ctx.now) {
            let local = SocketAddr::from((ctx.addr, 0));
            match ctx.endpoint.connect(ctx.now, local, self.remote) {
                Ok(conn) => {
                    let mut s = Stream::new(conn, ctx.endpoint.tuple(conn), ctx.now);
                    s.send_seed = self.seed;
                    s.recv_seed = self.seed;
                    s.to_send = Some(self.bytes);
                    s.expect = Some(self.bytes);
                    self.streams.push(s);
                }
                Err(e) => {
                    self.connect_failures += 1;
                    self.errors
                        .push(format!("connect to {} failed: {e}", self.remote));
                }
            }
        }
        ctx.set_timer(if self.opened() < self.count {
            self.due(self.opened())
        } else {
            None
        });
    }
}

impl App for Fleet {
    fn on_start(&mut self, ctx: &mut AppCtx<'_>) {
        self.began = Some(ctx.now);
        self.open_due(ctx);
    }

    fn on_timer(&mut self, ctx: &mut AppCtx<'_>) {
        self.open_due(ctx);
    }

    fn on_event(&mut self, ctx: &mut AppCtx<'_>, event: &Event) {
        let Some(s) = self.streams.iter_mut().find(|s| s.out.conn == event.conn()) else {
            return;
        };
        s.on_event(ctx.endpoint, ctx.now, event, &mut self.errors);
        let done_sending = s.out.bytes_sent >= self.bytes;
        let got_all = s.out.bytes_received >= self.bytes || s.out.eof;
        if s.connected && !s.released && !s.failed() && done_sending && got_all {
            s.close(ctx.endpoint);
        }
    }

    fn done(&self) -> bool {
        self.opened() >= self.count && self.streams.iter().all(|s| s.out.closed.is_some())
    }

    fn outcome(&self) -> AppOutcome {
        AppOutcome {
            role: "fleet".into(),
            done: self.done(),
            conns: self.streams.iter().map(|s| s.out.clone()).collect(),
            errors: self.errors.clone(),
        }
    }
}
