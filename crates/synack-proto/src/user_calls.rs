//! User calls on a connection (RFC 9293 §3.10.2–§3.10.6): SEND, RECEIVE, CLOSE, ABORT.
//! OPEN is the endpoint's (it needs the ISN secret and the demux tables).

use crate::connection::{Connection, Ctx};
use crate::error::{CloseReason, Error};
use crate::segment_arrives::ResetReply;
use crate::state::State;
use crate::time::Instant;
use crate::timers::Timer;

impl Connection {
    /// The error a call on a CLOSED connection reports.
    fn closed_error(&self) -> Error {
        self.close_reason
            .and_then(CloseReason::error)
            .unwrap_or(Error::NotConnected)
    }

    /// SEND (§3.10.2): queue data. Before ESTABLISHED it is held until the handshake ends.
    /// `pressure`: the endpoint is over its memory budget. `urgent`: SEND with the URGENT flag
    /// (MUST-30/31): every segment up to the end of this data carries the urgent pointer.
    pub(crate) fn send(
        &mut self,
        data: &[u8],
        pressure: bool,
        urgent: bool,
    ) -> Result<usize, Error> {
        match self.state() {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            State::Closed => return Err(self.closed_error()),
            State::Listen => return Err(Error::NotConnected),
            _ => return Err(Error::Closing),
        }
        if self.snd.fin_queued() {
            return Err(Error::Closing);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let room = self.send_room(pressure);
        match self.snd.buf_mut().push_at_most(data, room) {
            0 => Err(Error::WouldBlock),
            n => {
                if urgent {
                    self.snd.mark_urgent();
                }
                Ok(n)
            }
        }
    }

    /// What RECEIVE and its peek answer before looking at the buffer: the error of a
    /// connection that ended abnormally (MUST-12: reset and time-out are not the end of the
    /// stream), and `WouldBlock` before the connection is synchronized.
    fn receive_gate(&self) -> Result<(), Error> {
        if self.state() == State::Closed
            && self.close_reason.is_some_and(|r| r != CloseReason::Normal)
        {
            return Err(self.closed_error());
        }
        if matches!(
            self.state(),
            State::SynSent | State::SynReceived | State::Listen
        ) {
            return Err(Error::WouldBlock);
        }
        Ok(())
    }

    /// RECEIVE (§3.10.3). `Ok(0)` is the end of the stream: the peer's FIN (MUST-12).
    /// `pressure`: the endpoint is over its memory budget.
    pub(crate) fn recv(&mut self, buf: &mut [u8], pressure: bool) -> Result<usize, Error> {
        self.receive_gate()?;
        if self.rcv.buf().readable() > 0 {
            if buf.is_empty() {
                return Ok(0);
            }
            let before = self.rcv_wnd(pressure);
            let n = self.rcv.buf_mut().read(buf);
            // Tell the peer about the opened window once it grew by at least one MSS or half
            // the buffer (receiver silly-window avoidance, MUST-39) — at once only while the
            // window the peer knows of is down to half the largest we offer; above that the
            // peer is not held back, and the new edge rides on the next ACK (Linux's rule in
            // tcp_cleanup_rbuf). A reader draining a fast sender then adds no ACK per read.
            let after = self.rcv_wnd(pressure);
            let threshold =
                u32::from(self.opts.snd_mss()).min(self.rcv.buf().capacity() as u32 / 2);
            let opened = after.saturating_sub(before) >= threshold.max(1)
                || (before < threshold && after >= threshold);
            let largest = self.largest_window().min(self.rcv.buf().capacity() as u32);
            let held_back = self.rcv.promised_window() <= largest / 2;
            if opened && held_back && !self.rcv.fin_received() && self.state().is_synchronized() {
                self.rcv.owe_ack();
            }
            return Ok(n);
        }
        if self.rcv.fin_received() {
            return Ok(0);
        }
        match self.state() {
            State::Closed => Ok(0),
            _ => Err(Error::WouldBlock),
        }
    }

    /// Whether a SEND of one octet would not be `WouldBlock` now: room in the send buffer,
    /// or a state in which SEND fails at once (closing, closed, reset).
    pub(crate) fn writable(&self, pressure: bool) -> bool {
        match self.state() {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
                if !self.snd.fin_queued() =>
            {
                self.send_room(pressure) > 0
            }
            _ => true,
        }
    }

    /// RECEIVE without consuming (MSG_PEEK): the same answers as [`Connection::recv`] — data,
    /// `Ok(0)` at the end of the stream, the reset error, `WouldBlock` — with the bytes left
    /// in the buffer, so the window and the ACK owed are untouched.
    pub(crate) fn peek(&self, buf: &mut [u8]) -> Result<usize, Error> {
        self.receive_gate()?;
        if self.rcv.buf().readable() > 0 {
            return Ok(self.rcv.buf().peek(buf));
        }
        if self.rcv.fin_received() || self.state() == State::Closed {
            return Ok(0);
        }
        Err(Error::WouldBlock)
    }

    /// CLOSE of the send side (§3.10.4): a FIN follows the queued data. The receive side
    /// stays open (half-close).
    pub(crate) fn shutdown(&mut self, ctx: &mut Ctx<'_>) -> Result<(), Error> {
        match self.state() {
            State::SynSent | State::SynReceived => {
                // Queued until ESTABLISHED (§3.10.4 lets SYN-RECEIVED defer the FIN).
                self.snd.queue_fin();
                Ok(())
            }
            State::Established => {
                self.snd.queue_fin();
                self.transition(ctx, State::FinWait1, "CLOSE");
                Ok(())
            }
            State::CloseWait => {
                self.snd.queue_fin();
                self.transition(ctx, State::LastAck, "CLOSE");
                Ok(())
            }
            State::Closed => Err(self.closed_error()),
            State::Listen => Err(Error::NotConnected),
            // FIN-WAIT-1/2, CLOSING, LAST-ACK, TIME-WAIT: "error: connection closing".
            _ => Err(Error::Closing),
        }
    }

    /// CLOSE of both directions by an application that will not read again (MAY-1). Unread
    /// data turns the close into a reset (SHLD-3). Returns a RST to send, if any.
    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_>) -> Option<ResetReply> {
        self.released = true;
        if self.rcv.buf().readable() > 0 && self.state().is_synchronized() {
            return self.abort(ctx, "CLOSE with unread data (RST)");
        }
        match self.state() {
            State::SynSent => {
                // §3.10.4: delete the TCB.
                self.close_with(ctx, CloseReason::Aborted, "CLOSE in SYN-SENT");
            }
            State::FinWait2 => {
                self.timers.set(
                    Timer::FinWait2,
                    ctx.cfg.fin_wait2_timeout.map(|t| ctx.now + t),
                );
            }
            _ => {
                let _ = self.shutdown(ctx);
            }
        }
        None
    }

    /// ABORT (§3.10.5): RST to the peer where it has a synchronized (or synchronizing) TCB,
    /// then CLOSED.
    pub(crate) fn abort(&mut self, ctx: &mut Ctx<'_>, cause: &'static str) -> Option<ResetReply> {
        self.released = true;
        let reply = match self.state() {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => Some(self.reset_reply(ctx.now, self.snd.max())),
            _ => None,
        };
        self.rcv.buf_mut().clear();
        self.close_with(ctx, CloseReason::Aborted, cause);
        reply
    }

    /// Receive buffer autotuning after the application read `n` bytes (recv_autotune.rs):
    /// grow the buffer, up to `max` and what our window field can say — unless the endpoint
    /// is over its memory budget (`pressure`).
    pub(crate) fn autotune_read(&mut self, now: Instant, n: usize, max: usize, pressure: bool) {
        let limit = max.min(self.largest_window() as usize);
        let capacity = self.rcv.buf().capacity();
        if let Some(want) = self.rcv.autotune_mut().read(now, n, capacity, limit) {
            if !pressure {
                self.rcv.buf_mut().set_capacity(want);
            }
        }
    }
}
