//! The scripted peer's state, inferred from the segments it sends and receives, so a failure
//! can show both sides' states (the local side's come from the endpoint's own events).

use synack_proto::State;
use synack_wire::TcpFlags;

#[derive(Clone, Debug)]
pub struct Remote {
    pub state: State,
    /// Script sequence number just past the remote's FIN, once it sent one.
    fin_end: Option<u32>,
    /// Script sequence number just past the remote's SYN.
    syn_end: Option<u32>,
}

impl Default for Remote {
    fn default() -> Self {
        Remote {
            state: State::Closed,
            fin_end: None,
            syn_end: None,
        }
    }
}

fn acks(ack: u32, mark: Option<u32>) -> bool {
    mark.is_some_and(|m| (ack.wrapping_sub(m) as i32) >= 0)
}

impl Remote {
    /// The remote sent a segment (an inbound `<` line): flags, script seq end (incl. FIN).
    pub fn sent(&mut self, f: TcpFlags, end: u32) {
        use State::*;
        let syn = f.contains(TcpFlags::SYN);
        if f.contains(TcpFlags::RST) {
            self.state = Closed;
            return;
        }
        if syn {
            self.syn_end = Some(end.wrapping_add(1));
            self.state = match (self.state, f.contains(TcpFlags::ACK)) {
                (Closed | Listen | TimeWait, false) => SynSent,
                (_, true) => SynReceived,
                (s, false) => s,
            };
        }
        if f.contains(TcpFlags::FIN) {
            self.fin_end = Some(end.wrapping_add(1));
            self.state = match self.state {
                Established | SynReceived => FinWait1,
                CloseWait => LastAck,
                s => s,
            };
        }
    }

    /// The remote received a segment (an outbound `>` line): flags and script ack.
    pub fn received(&mut self, f: TcpFlags, ack: u32) {
        use State::*;
        if f.contains(TcpFlags::RST) {
            if self.state != Listen {
                self.state = Closed;
            }
            return;
        }
        let has_ack = f.contains(TcpFlags::ACK);
        if f.contains(TcpFlags::SYN) {
            self.state = match (self.state, has_ack) {
                (Closed | Listen, false) | (SynSent, false) => SynReceived,
                (SynSent | SynReceived, true) => Established,
                (s, _) => s,
            };
            return;
        }
        if has_ack {
            if self.state == SynReceived && acks(ack, self.syn_end) {
                self.state = Established;
            }
            if acks(ack, self.fin_end) {
                self.state = match self.state {
                    FinWait1 => FinWait2,
                    Closing => TimeWait,
                    LastAck => Closed,
                    s => s,
                };
            }
        }
        if f.contains(TcpFlags::FIN) {
            self.state = match self.state {
                Established | SynReceived => CloseWait,
                FinWait1 => Closing,
                FinWait2 => TimeWait,
                s => s,
            };
        }
    }
}
