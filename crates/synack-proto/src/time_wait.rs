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
//! What the entry does not keep, and the difference it makes:
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
use crate::connection::{ConnInfo, ConnTimers, Connection};
use crate::endpoint::{push_control, Control, Endpoint};
use crate::error::{CloseReason, Error};
use crate::event::{ConnHandle, Event, FourTuple};
use crate::segment_arrives::Segment;
use crate::seq::SeqNum;
use crate::state::State;
use crate::time::{Duration, Instant};
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
            (c.opts.sack_ok, SACK_OK),
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
            snd_nxt: c.snd.max,
            rcv_nxt: c.rcv.nxt,
            ts_recent: c.opts.ts_recent,
            ports: [c.tuple.local.port(), c.tuple.remote.port()],
            expires,
            window: c.window_field(pressure),
            ts_ok: c.opts.ts_ok,
            flags: flags | QUEUED,
            rcv_shift: c.opts.rcv_shift,
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

    /// SEGMENT ARRIVES for a compact TIME-WAIT entry: §3.10.7.4 for TIME-WAIT, in the RFC's
    /// order, as `Connection::segment_arrives` does it for a full TCB.
    pub(crate) fn time_wait_arrives(&mut self, now: Instant, h: ConnHandle, seg: Segment<'_>) {
        let i = h.slot();
        let tuple = match self.conns.time_wait(h) {
            Some(tw) if !tw.has(CLOSED) => tw.tuple(&self.conns.v6),
            _ => return,
        };
        let has = |f: TcpFlags| seg.flags.contains(f);
        let tw = self.conns.tw_at(i);
        let (ts_ok, ts_recent, sack, owned) =
            (tw.ts_ok, tw.ts_recent, tw.has(SACK_OK), tw.has(OWNED));
        let (snd_nxt, nxt, wnd) = (tw.snd_nxt, tw.rcv_nxt, tw.rcv_wnd());
        // MAY-2 / RFC 6191: a SYN from a new incarnation (newer timestamp, or a sequence number
        // beyond RCV.NXT) ends TIME-WAIT and goes to the listener, our ISS above the old space.
        if has(TcpFlags::SYN) && !has(TcpFlags::ACK) && !has(TcpFlags::RST) {
            let newer = match (ts_ok, seg.options.timestamps) {
                (true, Some((tsval, _))) => (tsval.wrapping_sub(ts_recent) as i32) > 0,
                _ => seg.seq > nxt,
            };
            if let (true, Some(laddr)) = (newer, self.find_listener(tuple.local)) {
                self.close_time_wait(h, CloseReason::Normal, "new SYN in TIME-WAIT (MAY-2)");
                let floor = snd_nxt + 65535u32 + 2u32;
                self.listen_arrives(now, laddr, tuple, seg, Some(floor));
                return;
            }
        }
        // RFC 7323 §5.3 R1 (PAWS): once timestamps are agreed a non-RST segment without one is
        // dropped, and one older than TS.Recent is an old duplicate: ACK and drop.
        if ts_ok && !has(TcpFlags::RST) {
            match seg.options.timestamps {
                None => return,
                Some((tsval, _)) if (tsval.wrapping_sub(ts_recent) as i32) < 0 => {
                    return self.time_wait_ack(now, h, None);
                }
                Some(_) => {}
            }
        }
        // RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK.
        if has(TcpFlags::SYN) && !has(TcpFlags::RST) {
            return self.time_wait_challenge(now, h);
        }
        // First: the sequence number (Table 6), against the window our ACKs offer.
        let seg_len = seg.len();
        let in_window = |s: SeqNum| s.in_range(nxt, nxt + wnd);
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seg.seq == nxt,
            (0, _) => in_window(seg.seq),
            (_, 0) => false,
            _ => in_window(seg.seq) || in_window(seg.seq + (seg_len - 1)),
        };
        let mut fin = has(TcpFlags::FIN);
        let mut ack_owed = false;
        let mut dsack = None;
        if !acceptable {
            let zero_window_ack = wnd == 0 && seg.seq == nxt;
            if !zero_window_ack {
                if has(TcpFlags::RST) {
                    return;
                }
                if sack && !seg.payload.is_empty() && seg.seq < nxt {
                    // A duplicate: report it as D-SACK (RFC 2883).
                    dsack = Some((seg.seq, (seg.seq + seg.payload.len()).min(nxt)));
                }
                if fin {
                    // A retransmitted FIN: ACK it and restart the 2MSL wait (step 8).
                    self.conns.restart(i, now + self.cfg.msl * 2);
                }
                return self.time_wait_ack(now, h, dsack);
            }
            // MUST-66: the ACK field of a segment at RCV.NXT is still processed.
            ack_owed = !has(TcpFlags::RST);
            fin = false;
        }
        if acceptable && sack && seg.seq < nxt && !seg.payload.is_empty() {
            dsack = Some((seg.seq, nxt)); // partly a duplicate (RFC 2883 §4.1.2)
        }
        // Second: the RST bit. RFC 1337: a RST must not assassinate TIME-WAIT; without it,
        // only an exact match resets (RFC 5961 §3.2).
        if has(TcpFlags::RST) {
            if self.cfg.rfc1337 {
                return;
            }
            if seg.seq != nxt {
                return self.time_wait_challenge(now, h);
            }
            return self.close_time_wait(h, CloseReason::Reset, "rcv RST");
        }
        // Fifth: the ACK field. MAY-12 (RFC 5961 §5): an ACK of data never sent is challenged.
        if !has(TcpFlags::ACK) {
            if ack_owed {
                self.time_wait_ack(now, h, dsack);
            }
            return;
        }
        if seg.ack > snd_nxt {
            return self.time_wait_challenge(now, h);
        }
        // RFC 7323 §4.3: TS.Recent from a segment at or before Last.ACK.sent (RCV.NXT: our
        // last ACK acknowledged everything) — only now that it passed the window, RST, SYN and
        // ACK checks, as for a full TCB: a segment that is dropped must not move it.
        if let (true, Some((tsval, _))) = (ts_ok, seg.options.timestamps) {
            if (tsval.wrapping_sub(ts_recent) as i32) >= 0 && seg.seq <= nxt {
                self.conns.tw_at(i).ts_recent = tsval;
            }
        }
        // Seventh: text is ignored in TIME-WAIT. Eighth: a FIN at RCV.NXT (the peer's FIN is
        // behind RCV.NXT already, so only a bogus one lands here) is acknowledged and
        // restarts the wait, as for a full TCB.
        if fin && seg.seq + seg.payload.len() == nxt {
            self.conns.tw_at(i).rcv_nxt += 1u32;
            self.conns.restart(i, now + self.cfg.msl * 2);
            if owned {
                self.events.push_back(Event::PeerClosed { conn: h });
            }
            ack_owed = true;
        }
        if ack_owed {
            self.time_wait_ack(now, h, dsack);
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
            congestion: self.cfg.congestion,
            in_recovery: false,
            fast_retransmits: 0,
            zero_window_probes: 0,
            timeouts: 0,
            lost_retransmits: 0,
            challenge_acks: 0,
            challenge_acks_suppressed: 0,
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
            && !self.rcv.ack_now
            && !self.timers.is_set(Timer::DelayedAck)
            && self.rcv.dsack.is_none()
            && self.rcv.buf.readable() == 0
            && self.rcv.buf.ooo_bytes() == 0
    }
}
