//! TIME-WAIT in 48 bytes (RFC 9293 §3.6, §3.10.7.4; MUST-13).
//!
//! A connection in TIME-WAIT has nothing left to send or to deliver: it only has to answer a
//! retransmitted FIN (ACK it, restart 2MSL), keep old duplicates away from a new incarnation
//! (PAWS, RFC 7323 §5), answer SYNs and RSTs as RFC 5961 and RFC 1337 say, and let a new SYN
//! with a higher timestamp or sequence number open a new incarnation early (MAY-2, RFC 6191).
//! Once its last ACK is out and the application has closed it, the TCB (its buffers,
//! congestion and SACK state) is dropped and a [`TimeWait`] entry takes its slot in the
//! connection table: same handle, same tuple, a few dozen bytes. A server closing a million
//! connections a minute keeps them all, in tens of megabytes.
//!
//! Expiry: every entry waits the same 2·MSL, so entries expire in the order they entered. They
//! form a queue threaded through the entries (`next`); the head is the next deadline. An entry
//! whose wait restarts (a retransmitted FIN) leaves the queue's order: it is marked, skipped
//! when it reaches the head, and timed by a small heap instead — such restarts are rare.
//! Entries that end early (RST, a new incarnation, ABORT) stay in the queue as hidden zombies
//! until they reach the head, so the queue never needs unlinking from the middle.
//!
//! The rules a segment meets in TIME-WAIT are time_wait_rules.rs, shared with a full TCB in
//! TIME-WAIT. What the entry does not keep, and the difference it makes:
//! - TS.Recent's age: TS.Recent is treated as fresh (it is at most 2·MSL old unless MSL is set
//!   above 12 days; RFC 7323 §5.5's 24-day rule cannot apply).
//! - MAX.SND.WND: an ACK below SND.UNA is ignored rather than challenged (MAY-12's lower
//!   bound); it can change nothing in TIME-WAIT.
//! - The challenge-ACK budget counts per fixed window of `challenge_ack_window` rather than
//!   from the first challenge; the rate is the same.
//! - The counters of `info()` (retransmits, bytes, RTT) read as zero.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack_wire::{SackBlocks, TcpFlags, TcpOptions};

use crate::conn_table::{ConnTable, Slot, NONE};
use crate::connection::Connection;
use crate::endpoint::{push_control, Control, Endpoint};
use crate::error::{CloseReason, Error};
use crate::event::{ConnHandle, Event, FourTuple};
use crate::info::{ConnInfo, ConnTimers};
use crate::segment_arrives::Segment;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::{Duration, Instant};
use crate::time_wait_rules as rules;
use crate::timers::Timer;

const SACK_OK: u8 = 1;
const V6: u8 = 2;
/// The application holds the handle (it was accepted or actively opened)…
const OWNED: u8 = 4;
/// …and has since closed it.
const RELEASED: u8 = 8;
/// The wait ended (2MSL, RST, new incarnation, ABORT): CLOSED.
const CLOSED: u8 = 16;
/// In the expiry queue.
const QUEUED: u8 = 32;
/// The wait restarted: the queue position no longer matches `expires` (the heap times it).
const RESTARTED: u8 = 64;

/// A connection in TIME-WAIT, without its TCB.
#[repr(C)]
pub(crate) struct TimeWait {
    pub(crate) gen: u32,
    /// The next entry in the expiry queue.
    next: u32,
    /// IPv4: local and remote address. IPv6: an index into the table's address pairs.
    addrs: [u32; 2],
    snd_nxt: SeqNum,
    rcv_nxt: SeqNum,
    ts_recent: u32,
    /// Local and remote port.
    ports: [u16; 2],
    expires: Instant,
    /// The window field of our ACKs (already shifted).
    window: u16,
    ts_ok: bool,
    flags: u8,
    rcv_shift: u8,
    challenges: u8,
    challenge_epoch: u16,
}

impl TimeWait {
    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Still a connection the user can see. Only a TCB the application has let go of is ever
    /// frozen (`Connection::can_freeze`), so a CLOSED entry is reaped at once: it stays in its
    /// slot, hidden, only until it leaves the expiry queue.
    pub(crate) fn visible(&self) -> bool {
        !self.has(CLOSED)
    }

    pub(crate) fn state(&self) -> State {
        if self.has(CLOSED) {
            State::Closed
        } else {
            State::TimeWait
        }
    }

    pub(crate) fn tuple(&self, v6: &[[std::net::Ipv6Addr; 2]]) -> FourTuple {
        let (local, remote): (IpAddr, IpAddr) = if self.has(V6) {
            let [l, r] = v6[self.addrs[0] as usize];
            (l.into(), r.into())
        } else {
            (
                Ipv4Addr::from(self.addrs[0]).into(),
                Ipv4Addr::from(self.addrs[1]).into(),
            )
        };
        FourTuple {
            local: SocketAddr::new(local, self.ports[0]),
            remote: SocketAddr::new(remote, self.ports[1]),
        }
    }

    fn rcv_wnd(&self) -> u32 {
        u32::from(self.window) << self.rcv_shift
    }
}

impl ConnTable {
    /// Replace a TCB in TIME-WAIT with a compact entry (same handle, same tuple) and queue it
    /// for expiry. `pressure`: the endpoint is over its memory budget (the window the entry
    /// keeps advertising is then the one already promised).
    pub(crate) fn freeze(&mut self, h: ConnHandle, pressure: bool) {
        let Some(c) = self.get(&h) else { return };
        let Some(expires) = c.timers.get(Timer::TimeWait) else {
            return;
        };
        let mut flags = 0;
        let addrs = match (c.tuple.local.ip(), c.tuple.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => [u32::from(l), u32::from(r)],
            (IpAddr::V6(l), IpAddr::V6(r)) => {
                flags |= V6;
                let i = match self.v6_free.pop() {
                    Some(i) => {
                        self.v6[i as usize] = [l, r];
                        i
                    }
                    None => {
                        self.v6.push([l, r]);
                        (self.v6.len() - 1) as u32
                    }
                };
                [i, 0]
            }
            _ => return,
        };
        let c = self.get(&h).expect("checked above");
        for (on, f) in [
            (c.opts.sack_ok(), SACK_OK),
            (c.owned, OWNED),
            (c.released, RELEASED),
        ] {
            if on {
                flags |= f;
            }
        }
        let tw = TimeWait {
            gen: h.gen(),
            next: NONE,
            addrs,
            snd_nxt: c.snd.max(),
            rcv_nxt: c.rcv.nxt(),
            ts_recent: c.opts.ts_recent(),
            ports: [c.tuple.local.port(), c.tuple.remote.port()],
            expires,
            window: c.window_field(pressure),
            ts_ok: c.opts.ts_ok(),
            flags: flags | QUEUED,
            rcv_shift: c.opts.rcv_shift(),
            challenges: 0,
            challenge_epoch: 0,
        };
        self.replace_with_time_wait(h, tw);
        // Append to the expiry queue: every entry waits 2·MSL from now, so the queue stays in
        // deadline order.
        let i = h.slot();
        match self.tw_tail {
            NONE => self.tw_head = i,
            t => {
                if let Slot::TimeWait(prev) = &mut self.slots[t as usize] {
                    prev.next = i;
                }
            }
        }
        self.tw_tail = i;
    }

    fn tw_at(&mut self, i: u32) -> &mut TimeWait {
        match &mut self.slots[i as usize] {
            Slot::TimeWait(tw) => tw,
            _ => unreachable!("the TIME-WAIT queue and heap name only TIME-WAIT slots"),
        }
    }

    /// Free a TIME-WAIT slot (and its IPv6 addresses).
    fn release_time_wait(&mut self, i: u32) {
        if let Slot::TimeWait(tw) = self.free_slot(i) {
            if tw.has(V6) {
                self.v6_free.push(tw.addrs[0]);
            }
        }
    }

    /// Take the queue's head off the queue.
    fn pop_head(&mut self) -> u32 {
        let i = self.tw_head;
        let tw = self.tw_at(i);
        let next = tw.next;
        tw.flags &= !(QUEUED | RESTARTED);
        self.tw_head = next;
        if next == NONE {
            self.tw_tail = NONE;
        }
        i
    }

    /// The earliest TIME-WAIT deadline and its slot, dropping queue heads that are zombies
    /// or were restarted (the heap times those) and stale heap records.
    pub(crate) fn next_time_wait(&mut self) -> Option<(Instant, u32)> {
        let mut queued = None;
        while self.tw_head != NONE {
            let i = self.tw_head;
            let tw = self.tw_at(i);
            if tw.has(CLOSED) || tw.has(RESTARTED) {
                let zombie = tw.has(CLOSED);
                self.pop_head();
                if zombie {
                    self.release_time_wait(i);
                }
                continue;
            }
            queued = Some((tw.expires, i));
            break;
        }
        let mut restarted = None;
        while let Some(&std::cmp::Reverse((t, i, gen))) = self.tw_restarted.peek() {
            let live = match &self.slots[i as usize] {
                Slot::TimeWait(tw) => tw.gen == gen && !tw.has(CLOSED) && tw.expires == t,
                _ => false,
            };
            if live {
                restarted = Some((t, i));
                break;
            }
            self.tw_restarted.pop();
        }
        match (queued, restarted) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Restart an entry's 2MSL wait (a retransmitted FIN, RFC 9293 §3.10.7.4 step 8).
    fn restart(&mut self, i: u32, expires: Instant) {
        let tw = self.tw_at(i);
        tw.expires = expires;
        if tw.has(QUEUED) {
            tw.flags |= RESTARTED;
        }
        let gen = tw.gen;
        self.tw_restarted.push(std::cmp::Reverse((expires, i, gen)));
    }
}

impl Endpoint {
    /// End a TIME-WAIT entry: CLOSED, with the events a TCB would give. The slot is freed now
    /// if nothing refers to it any more, or when it leaves the expiry queue.
    pub(crate) fn close_time_wait(
        &mut self,
        h: ConnHandle,
        reason: CloseReason,
        cause: &'static str,
    ) {
        let tuple = {
            let (slots, v6) = (&self.conns.slots, &self.conns.v6);
            match slots.get(h.slot() as usize) {
                Some(Slot::TimeWait(tw)) if tw.gen == h.gen() && !tw.has(CLOSED) => tw.tuple(v6),
                _ => return,
            }
        };
        if crate::log::enabled(tracing::Level::DEBUG) {
            crate::log::state(h, &tuple, State::TimeWait, State::Closed, cause);
        }
        self.events.push_back(Event::StateChanged {
            conn: h,
            tuple,
            from: State::TimeWait,
            to: State::Closed,
            cause,
        });
        self.events.push_back(Event::Closed { conn: h, reason });
        self.time_wait_count = self.time_wait_count.saturating_sub(1);
        self.conns.unbind(&tuple, h);
        let tw = self.conns.tw_at(h.slot());
        tw.flags |= CLOSED;
        let queued = tw.has(QUEUED);
        self.conns.time_wait_visible -= 1;
        if !queued {
            self.conns.release_time_wait(h.slot());
        }
    }

    /// Expire every TIME-WAIT entry due at `now` (MUST-13: after 2·MSL, delete the TCB).
    pub(crate) fn expire_time_wait(&mut self, now: Instant) {
        while let Some((t, i)) = self.conns.next_time_wait() {
            if t > now {
                break;
            }
            let h = ConnHandle::from_slot(i, self.conns.tw_at(i).gen);
            if self.conns.tw_head == i {
                self.conns.pop_head();
            } else {
                self.conns.tw_restarted.pop();
            }
            self.close_time_wait(h, CloseReason::Normal, "2MSL timeout");
        }
    }

    /// The user lets go of a TIME-WAIT entry (CLOSE or ABORT; `reset` acts whoever holds it).
    pub(crate) fn user_close_time_wait(
        &mut self,
        h: ConnHandle,
        abort: bool,
        any_owner: bool,
    ) -> Result<(), Error> {
        let Some(tw) = self.conns.time_wait_mut(h) else {
            return Err(Error::InvalidHandle);
        };
        if tw.has(RELEASED) && !any_owner {
            return Err(Error::InvalidHandle); // closed already, as for a full TCB
        }
        tw.flags |= RELEASED;
        if abort {
            // ABORT in TIME-WAIT (§3.10.5): no RST, delete the TCB.
            let cause = if any_owner { "reset" } else { "ABORT" };
            self.close_time_wait(h, CloseReason::Aborted, cause);
        }
        Ok(())
    }

    /// SEGMENT ARRIVES for a compact TIME-WAIT entry: the verdict of the TIME-WAIT rules
    /// (time_wait_rules.rs, the same a full TCB in TIME-WAIT follows), carried out on the
    /// entry.
    pub(crate) fn time_wait_arrives(&mut self, now: Instant, h: ConnHandle, seg: Segment<'_>) {
        let i = h.slot();
        let tuple = match self.conns.time_wait(h) {
            Some(tw) if !tw.has(CLOSED) => tw.tuple(&self.conns.v6),
            _ => return,
        };
        let listener = if rules::syn_only(&seg) {
            self.find_listener(tuple.local)
        } else {
            None
        };
        let tw = self.conns.tw_at(i);
        let owned = tw.has(OWNED);
        let view = rules::View {
            snd_nxt: tw.snd_nxt,
            rcv_nxt: tw.rcv_nxt,
            // Our last ACK acknowledged everything.
            last_ack_sent: tw.rcv_nxt,
            wnd: tw.rcv_wnd(),
            ts_ok: tw.ts_ok,
            ts_recent: tw.ts_recent,
            ts_recent_stale: false,
            sack_ok: tw.has(SACK_OK),
            ack_floor: None,
            listener: listener.is_some(),
        };
        let v = rules::rules(&view, &seg, &self.cfg);
        if let Some(ts) = v.ts_recent {
            tw.ts_recent = ts;
        }
        if v.fin {
            tw.rcv_nxt += 1u32;
            if owned {
                self.events.push_back(Event::PeerClosed { conn: h });
            }
        }
        if v.restart {
            self.conns.restart(i, now + self.cfg.msl * 2);
        }
        match (v.action, listener) {
            (rules::Action::Drop, _) => {}
            (rules::Action::Ack, _) => self.time_wait_ack(now, h, v.dsack),
            (rules::Action::Challenge, _) => self.time_wait_challenge(now, h),
            (rules::Action::Reset, _) => self.close_time_wait(h, CloseReason::Reset, "rcv RST"),
            (rules::Action::Reincarnate { iss_floor }, Some(laddr)) => {
                self.close_time_wait(h, CloseReason::Normal, "new SYN in TIME-WAIT (MAY-2)");
                self.listen_arrives(now, laddr, tuple, seg, Some(iss_floor));
            }
            (rules::Action::Reincarnate { .. }, None) => {}
        }
    }

    /// A challenge ACK from the entry's budget (RFC 5961 §7: `challenge_ack_limit` per
    /// `challenge_ack_window`).
    fn time_wait_challenge(&mut self, now: Instant, h: ConnHandle) {
        let window = (self.cfg.challenge_ack_window.as_micros() as u64).max(1);
        let epoch = (now.as_micros() / window) as u16;
        let limit = self.cfg.challenge_ack_limit.min(255) as u8;
        let tw = self.conns.tw_at(h.slot());
        if tw.challenge_epoch != epoch {
            tw.challenge_epoch = epoch;
            tw.challenges = 0;
        }
        if tw.challenges < limit {
            tw.challenges += 1;
            self.time_wait_ack(now, h, None);
        }
    }

    /// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` with our timestamp and any D-SACK block.
    fn time_wait_ack(&mut self, now: Instant, h: ConnHandle, dsack: Option<(SeqNum, SeqNum)>) {
        let Some(tw) = self.conns.time_wait(h) else {
            return;
        };
        let tuple = tw.tuple(&self.conns.v6);
        let mut options = TcpOptions::default();
        if tw.ts_ok {
            let tsval = self.secret.ts_value(now, tuple);
            options.timestamps = Some((tsval, tw.ts_recent));
        }
        if let (true, Some((l, r))) = (tw.has(SACK_OK), dsack) {
            let mut blocks = SackBlocks::new();
            blocks.push(l.get(), r.get());
            options.sack_blocks = blocks;
        }
        let (seq, ack, window) = (tw.snd_nxt, tw.rcv_nxt, tw.window);
        let ack = Control {
            tuple,
            seq,
            ack: Some(ack),
            segment: Some((TcpFlags::ACK, window, options)),
        };
        push_control(&mut self.control, &mut self.stats, &self.cfg, ack);
    }

    /// What the user calls read from a TIME-WAIT entry.
    pub(crate) fn time_wait_info(&self, h: ConnHandle) -> Option<ConnInfo> {
        let tw = self.conns.time_wait(h)?;
        let tuple = tw.tuple(&self.conns.v6);
        Some(ConnInfo {
            state: tw.state(),
            tuple,
            iss: SeqNum(0),
            irs: SeqNum(0),
            snd_una: tw.snd_nxt,
            snd_nxt: tw.snd_nxt,
            snd_wnd: 0,
            rcv_nxt: tw.rcv_nxt,
            rcv_wnd: tw.rcv_wnd(),
            mss: 0,
            srtt: None,
            rttvar: Duration::ZERO,
            rto: Duration::ZERO,
            cwnd: 0,
            ssthresh: 0,
            bytes_in_flight: 0,
            backoff: 0,
            retransmits: 0,
            bytes_sent: 0,
            bytes_acked: 0,
            bytes_received: 0,
            send_buffered: 0,
            recv_buffered: 0,
            recv_out_of_order: 0,
            recv_buffer: 0,
            send_buffer: 0,
            // The entry keeps no controller: what the configuration gives new connections.
            congestion: self.cfg.controller.is_none().then_some(self.cfg.congestion),
            controller: match self.cfg.controller {
                None => self.cfg.congestion.name(),
                Some(_) => "custom",
            },
            in_recovery: false,
            fast_retransmits: 0,
            zero_window_probes: 0,
            timeouts: 0,
            lost_retransmits: 0,
            undos: 0,
            spurious_timeouts: 0,
            rack_lost: 0,
            tlp_probes: 0,
            tlp_repairs: 0,
            reordering_window: None,
            challenge_acks: 0,
            challenge_acks_suppressed: 0,
            quick_acks_left: 0,
            quick_acks: 0,
            sacked: 0,
            lost: 0,
            wscale: None,
            timestamps: tw.ts_ok,
            sack: tw.has(SACK_OK),
            nodelay: false,
            keepalive: None,
            urgent_pending: 0,
        })
    }

    pub(crate) fn time_wait_timers(&self, h: ConnHandle) -> Option<ConnTimers> {
        let tw = self.conns.time_wait(h)?;
        Some(ConnTimers {
            time_wait_at: (!tw.has(CLOSED)).then_some(tw.expires),
            ..ConnTimers::default()
        })
    }
}

impl Connection {
    /// Whether this TCB can give way to a compact TIME-WAIT entry: in TIME-WAIT, nothing
    /// left to send, and the application has closed it (while it holds the handle, `info()`
    /// keeps reporting the connection's whole life, and unread data stays readable).
    pub(crate) fn can_freeze(&self) -> bool {
        self.state() == crate::state::State::TimeWait
            && (self.released || !self.owned)
            && self.timers.is_set(Timer::TimeWait)
            && !self.rcv.ack_now()
            && !self.timers.is_set(Timer::DelayedAck)
            && self.rcv.dsack().is_none()
            && self.rcv.buf().readable() == 0
            && self.rcv.buf().ooo_bytes() == 0
    }
}
