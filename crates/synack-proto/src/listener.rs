//! Listeners (RFC 9293 §3.10.1 passive OPEN, §3.10.7.1–2 SEGMENT ARRIVES in CLOSED and
//! LISTEN): bounded SYN and accept queues, SYN cookies when the SYN queue is full
//! (syn_cookies.rs), accept-any mode, and the resets owed when nobody listens.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack_wire::{TcpFlags, TcpOptions};

use crate::conn_table::OwnKeys;
use crate::connection::Connection;
use crate::endpoint::{push_control, Control, Endpoint, ACCEPT_ANY};
use crate::error::Error;
use crate::event::{ConnHandle, FourTuple};
use crate::segment_arrives::Segment;
use crate::seq::SeqNum;
use crate::state::State;
use crate::syn_cookies;
use crate::time::Instant;

pub(crate) struct Listener {
    pub(crate) backlog: usize,
    /// Children in SYN-RECEIVED (the SYN queue).
    pub(crate) syn_queue: usize,
    /// Children ESTABLISHED and waiting for `accept`.
    pub(crate) accept_queue: VecDeque<ConnHandle>,
    /// All children not yet accepted.
    pub(crate) children: HashSet<ConnHandle, OwnKeys>,
    /// When this listener last answered a SYN with a cookie: only an ACK that arrives while
    /// such a cookie can still be valid is checked as one (as Linux does); any other ACK is
    /// a stray (a late segment of a connection that is gone) and costs no hash.
    pub(crate) last_cookie: Option<Instant>,
}

impl Listener {
    pub(crate) fn new(backlog: usize) -> Self {
        Listener {
            backlog: backlog.max(1),
            syn_queue: 0,
            accept_queue: VecDeque::new(),
            children: HashSet::default(),
            last_cookie: None,
        }
    }
}

impl Endpoint {
    /// Passive OPEN (§3.10.1): listen on `local` (an unspecified IP listens on every local
    /// address). Connections in SYN-SENT/SYN-RECEIVED on the same port are unaffected
    /// (MUST-41, MUST-42).
    pub fn listen(&mut self, local: SocketAddr, backlog: Option<usize>) -> Result<(), Error> {
        if local.port() == 0 {
            return Err(Error::InvalidAddress);
        }
        if self.listeners.contains_key(&local) {
            return Err(Error::AddrInUse);
        }
        let l = Listener::new(backlog.unwrap_or(self.cfg.backlog));
        self.listeners.insert(local, l);
        Ok(())
    }

    /// Accept-any mode: take connections to every destination address and port that reaches
    /// this endpoint and has no listener of its own — what a tun2socks-style application
    /// needs. Accept them with `accept(ACCEPT_ANY)`; each connection's `tuple().local` is the
    /// original destination. Combine with an empty `Config::local_addrs`.
    pub fn listen_any(&mut self, backlog: Option<usize>) -> Result<(), Error> {
        if self.listeners.contains_key(&ACCEPT_ANY) {
            return Err(Error::AddrInUse);
        }
        let l = Listener::new(backlog.unwrap_or(self.cfg.backlog));
        self.listeners.insert(ACCEPT_ANY, l);
        Ok(())
    }

    /// Stop listening; children not yet accepted are reset.
    pub fn unlisten(&mut self, local: SocketAddr) -> bool {
        let Some(l) = self.listeners.remove(&local) else {
            return false;
        };
        for h in l.children {
            let _ = self.abort(h);
        }
        true
    }

    /// Take the next ESTABLISHED connection from a listener's accept queue.
    pub fn accept(&mut self, listener: SocketAddr) -> Option<ConnHandle> {
        loop {
            let l = self.listeners.get_mut(&listener)?;
            let h = l.accept_queue.pop_front()?;
            l.children.remove(&h);
            if let Some(c) = self.conns.get_mut(&h) {
                c.owned = true;
                return Some(h);
            }
        }
    }

    /// The listener for a SYN to `local`: an exact match, else one on the unspecified address
    /// of the same family and port, else the accept-any listener.
    pub(crate) fn find_listener(&self, local: SocketAddr) -> Option<SocketAddr> {
        if self.listeners.contains_key(&local) {
            return Some(local);
        }
        let unspecified = match local.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        let wildcard = SocketAddr::new(unspecified, local.port());
        if self.listeners.contains_key(&wildcard) {
            return Some(wildcard);
        }
        self.listeners
            .contains_key(&ACCEPT_ANY)
            .then_some(ACCEPT_ANY)
    }

    /// SEGMENT ARRIVES in LISTEN (§3.10.7.2). `iss_floor`: a new incarnation of a
    /// connection that was in TIME-WAIT must start above the old one's sequence space (MAY-2).
    pub(crate) fn listen_arrives(
        &mut self,
        now: Instant,
        laddr: SocketAddr,
        tuple: FourTuple,
        seg: Segment<'_>,
        iss_floor: Option<SeqNum>,
    ) {
        // First: a RST is ignored.
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        // Second: any ACK is bad: <SEQ=SEG.ACK><CTL=RST> — unless it returns a SYN cookie.
        if seg.flags.contains(TcpFlags::ACK) {
            let cookie_recent = self
                .listeners
                .get(&laddr)
                .and_then(|l| l.last_cookie)
                .is_some_and(|t| now.saturating_duration_since(t) <= syn_cookies::LIFETIME);
            if !seg.flags.contains(TcpFlags::SYN)
                && self.cfg.syn_cookies
                && cookie_recent
                && self.cookie_ack(now, laddr, tuple, seg)
            {
                return;
            }
            if !cookie_recent {
                self.stats.stray_acks += 1;
            }
            self.queue_control(tuple, seg.ack, None);
            return;
        }
        // Third: a SYN.
        if !seg.flags.contains(TcpFlags::SYN) {
            return; // fourth: anything else is dropped
        }
        let Some(l) = self.listeners.get_mut(&laddr) else {
            return;
        };
        if l.syn_queue >= l.backlog || self.conns.len() >= self.cfg.max_connections {
            // The SYN queue is full (or the connection table): answer with a cookie and keep
            // nothing, or drop and let the peer retry (RFC 4987 §3.6, §3.1).
            if self.cfg.syn_cookies {
                self.send_cookie(now, laddr, tuple, seg);
            } else {
                self.stats.syn_queue_full += 1;
            }
            return;
        }
        l.syn_queue += 1;
        let h = self.conns.vacant();
        l.children.insert(h);
        let (mut iss, ts_offset) = self.secret.isn_and_ts_offset(now, tuple);
        if let Some(floor) = iss_floor {
            iss = iss.max(floor);
        }
        let mut c = Box::new(Connection::new_child(
            h, tuple, iss, ts_offset, &self.cfg, now, laddr,
        ));
        let mut ctx = ctx!(self, now);
        // RCV.NXT = SEG.SEQ+1, IRS = SEG.SEQ; the window of a SYN is never scaled.
        c.accept_syn(&ctx, seg.seq, &seg.options);
        c.snd.update_window(seg.wnd, seg.seq, iss);
        c.transition(&mut ctx, State::SynReceived, "rcv SYN");
        // Text on the SYN: dropped without Fast Open; the SYN-ACK acknowledges the SYN only.
        c.text_on_syn(seg.payload);
        self.stats.passive_opens += 1;
        self.conns.insert(c);
        self.conns.bind(&tuple, h);
        self.touch(h);
    }

    /// Answer a SYN with a cookie SYN-ACK and keep no state (syn_cookies.rs): text on the SYN
    /// is dropped and the SYN-ACK acknowledges the SYN only (`Connection::text_on_syn`).
    fn send_cookie(&mut self, now: Instant, laddr: SocketAddr, tuple: FourTuple, seg: Segment<'_>) {
        let cfg = &self.cfg;
        let our_mss = crate::connection::advertised_mss(cfg, &tuple);
        let peer_mss = seg
            .options
            .mss
            .unwrap_or(crate::connection::default_mss(&tuple));
        let (cookie, mss) = syn_cookies::encode(
            &self.secret,
            now,
            tuple.local,
            tuple.remote,
            seg.seq,
            peer_mss.min(our_mss),
        );
        // Window scaling and SACK survive only inside the timestamp (RFC 4987 §3.6).
        let ts = cfg.timestamps && seg.options.timestamps.is_some();
        // The peer's shift goes into the cookie; ours is offered as usual.
        let peer_ws = seg
            .options
            .window_scale
            .filter(|_| ts && cfg.window_scaling);
        let sack = ts && cfg.sack && seg.options.sack_permitted;
        let timestamps = seg
            .options
            .timestamps
            .filter(|_| ts)
            .map(|(peer_tsval, _)| {
                let ts_now = self.secret.ts_value(now, tuple);
                (syn_cookies::ts_encode(ts_now, peer_ws, sack), peer_tsval)
            });
        let options = TcpOptions {
            mss: Some(mss),
            window_scale: peer_ws.map(|_| crate::connection::offered_shift(cfg)),
            sack_permitted: sack,
            timestamps,
            ..TcpOptions::default()
        };
        let window = cfg.recv_buffer.min(65535) as u16;
        let syn_ack = Control {
            tuple,
            seq: cookie,
            ack: Some(seg.seq + 1u32),
            segment: Some((TcpFlags::SYN | TcpFlags::ACK, window, options)),
        };
        if push_control(&mut self.control, &mut self.stats, cfg, syn_ack) {
            self.stats.syn_cookies_sent += 1;
            if let Some(l) = self.listeners.get_mut(&laddr) {
                l.last_cookie = Some(now);
            }
        }
    }

    /// An ACK to a listener that may return a SYN cookie: if it does, build the connection it
    /// stands for, ESTABLISHED, and process the rest of the segment there. Returns whether
    /// it was a valid cookie.
    fn cookie_ack(
        &mut self,
        now: Instant,
        laddr: SocketAddr,
        tuple: FourTuple,
        seg: Segment<'_>,
    ) -> bool {
        let cookie = seg.ack - 1u32;
        let peer_isn = seg.seq - 1u32;
        let Some(mss) = syn_cookies::decode(
            &self.secret,
            now,
            tuple.local,
            tuple.remote,
            peer_isn,
            cookie,
        ) else {
            self.stats.syn_cookies_invalid += 1;
            return false;
        };
        let Some(l) = self.listeners.get_mut(&laddr) else {
            return false;
        };
        if l.accept_queue.len() >= l.backlog || self.conns.len() >= self.cfg.max_connections {
            return true; // valid, but no room: drop it; the peer's retransmission may find room
        }
        self.stats.syn_cookies_validated += 1;
        let h = self.conns.vacant();
        l.children.insert(h);
        let ts_offset = self.secret.ts_offset(tuple);
        let mut c = Box::new(Connection::new_child(
            h, tuple, cookie, ts_offset, &self.cfg, now, laddr,
        ));
        // The SYN's options as the cookie remembers them.
        let (ws, sack) = seg
            .options
            .timestamps
            .map_or((None, false), |(_, ecr)| syn_cookies::ts_decode(ecr));
        let peer = TcpOptions {
            mss: Some(mss),
            window_scale: ws,
            sack_permitted: sack,
            timestamps: seg.options.timestamps,
            ..TcpOptions::default()
        };
        let mut ctx = ctx!(self, now);
        c.accept_syn(&ctx, peer_isn, &peer);
        // Our SYN-ACK (the cookie) went out; the window comes with this ACK (step 5).
        c.snd.syn_sent();
        c.snd.update_window(0, seg.seq, cookie);
        c.transition(&mut ctx, State::SynReceived, "SYN cookie returned");
        self.stats.passive_opens += 1;
        self.conns.insert(c);
        self.conns.bind(&tuple, h);
        if let Some(l) = self.listeners.get_mut(&laddr) {
            l.syn_queue += 1; // leaving SYN-RECEIVED below takes it off again
        }
        // The ACK (and any data or FIN on it) is now an ordinary segment for SYN-RECEIVED.
        self.dispatch(now, h, seg);
        true
    }

    /// SEGMENT ARRIVES with no TCB (§3.10.7.1): reset everything but a reset.
    pub(crate) fn closed_arrives(&mut self, tuple: FourTuple, seg: Segment<'_>) {
        if seg.flags.contains(TcpFlags::RST) {
            return;
        }
        if seg.flags.contains(TcpFlags::ACK) {
            // <SEQ=SEG.ACK><CTL=RST>
            self.queue_control(tuple, seg.ack, None);
        } else {
            // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
            self.queue_control(tuple, SeqNum(0), Some(seg.seq + seg.len()));
        }
    }
}
