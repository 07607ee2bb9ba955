//! Send buffer autotuning: the send buffer grows while it is what limits a transfer.
//!
//! The send buffer holds everything sent and not yet acknowledged plus what waits to be sent,
//! so a sender can never have more than the buffer in flight: with 256 KiB, one buffer per
//! round trip (20 Mbit/s across a 100 ms path, whatever the congestion window allows). RFC
//! 9293 leaves its size to the implementation; Linux grows it (`tcp_sndbuf_expand`) and this
//! follows the same rule:
//!
//! - **When.** An ACK frees space after the application found the buffer full (a write took
//!   less than it offered), and what the buffer still holds unsent cannot fill the room the
//!   congestion and peer's windows now leave: the buffer, not the network, holds the sender
//!   back. (Linux asks whether a congestion window is in flight after it has sent what the
//!   ACK allows; synack sends later, from `poll_transmit`, so it asks whether it could.)
//! - **To what.** Twice the congestion window (at least twice the initial window): one window
//!   in flight while the application refills the next. Up to `Config::send_buffer_max`.
//!
//! The buffer only grows; the congestion window itself only grows while it is used (RFC 7661,
//! recovery.rs), so the two climb together, each step justified by the last. Memory stays
//! bounded per connection by `send_buffer_max`, and nothing grows while the endpoint is over
//! its memory budget. The ring's storage follows lazily (send_buffer.rs), as it always does.

use crate::config::Config;
use crate::connection::Connection;

impl Connection {
    /// Acknowledged data freed send buffer space: grow the buffer if a write was held back
    /// by it while the windows had room.
    /// `pressure`: the endpoint is over its memory budget (no buffer grows).
    pub(crate) fn autotune_send(&mut self, cfg: &Config, pressure: bool) {
        if !self.snd.buf_mut().take_blocked() || pressure {
            return;
        }
        let room = self
            .rec
            .cwnd()
            .min(self.snd.wnd())
            .saturating_sub(self.snd.in_flight());
        let unsent = self.snd.buf().len_from(self.snd.max(), usize::MAX);
        if unsent >= room as usize {
            return; // enough queued to fill the windows: they are the limit
        }
        let smss = u32::from(self.opts.snd_mss());
        let window = self.rec.cwnd().max(crate::congestion::initial_window(smss));
        self.snd
            .buf_mut()
            .set_capacity((2 * window as usize).min(cfg.send_buffer_max));
    }
}
