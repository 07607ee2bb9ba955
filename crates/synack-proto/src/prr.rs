//! Proportional Rate Reduction (RFC 6937, as updated by RFC 9937): how much SACK recovery
//! may send on each ACK.
//!
//! RFC 6675 alone sets cwnd = ssthresh on entering recovery and sends whenever the pipe is
//! below it. After a burst of losses (a slow start that overflowed the bottleneck's queue)
//! the pipe is far below ssthresh at once, and the whole difference goes out in one burst —
//! into a queue that is still full, so the retransmissions in it are lost again, and with the
//! window full nothing reveals that before the retransmission timer. PRR spreads the
//! reduction over the recovery instead: while the pipe is above ssthresh it sends
//! `ssthresh / RecoverFS` of what each ACK reports delivered, and below it it grows the pipe
//! back towards ssthresh by at most what was delivered (plus one segment on an ACK that shows
//! progress and no new loss: the slow-start reduction bound), so sending follows the ACK
//! clock, that is the queue's drain.
//!
//! Without SACK the sender has no pipe estimate, and NewReno's window inflation (RFC 6582)
//! stays in charge.

/// One recovery episode's accounting (12 bytes; meaningful only while recovering with SACK).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Prr {
    /// prr_delivered: bytes the receiver reported delivered (ACKed or SACKed) in recovery.
    delivered: u32,
    /// prr_out: bytes sent (new or retransmitted) in recovery.
    out: u32,
    /// RecoverFS: the flight at the start, less what was SACKed before it (those bytes will
    /// never be reported delivered again: RFC 9937).
    recover_fs: u32,
}

impl Prr {
    /// A new episode: `flight` = SND.NXT − SND.UNA when recovery starts, `sacked` = the bytes
    /// of it the scoreboard already holds.
    pub(crate) fn start(flight: u32, sacked: u32) -> Prr {
        Prr {
            delivered: 0,
            out: 0,
            recover_fs: flight.saturating_sub(sacked).max(1),
        }
    }

    /// Bytes of a segment sent during recovery.
    pub(crate) fn sent(&mut self, bytes: u32) {
        self.out = self.out.saturating_add(bytes);
    }

    /// An ACK during recovery (not the one that ends it) that reported `delivered` bytes:
    /// the congestion window for what may be sent now (pipe + sndcnt), or `None` if the ACK
    /// delivered nothing and changes nothing. `safe`: SND.UNA advanced and the ACK shows no
    /// new loss, which allows the slow-start reduction bound.
    pub(crate) fn on_ack(
        &mut self,
        delivered: u32,
        pipe: u32,
        ssthresh: u32,
        mss: u32,
        safe: bool,
    ) -> Option<u32> {
        if delivered == 0 {
            return None;
        }
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > ssthresh {
            // Proportional rate reduction: by the end of recovery, ssthresh bytes sent for
            // RecoverFS delivered (rounded up).
            let target = (u64::from(self.delivered) * u64::from(ssthresh))
                .div_ceil(u64::from(self.recover_fs));
            u32::try_from(target)
                .unwrap_or(u32::MAX)
                .saturating_sub(self.out)
        } else {
            // Reduction bound: conservative (no more than delivered), or slow start's one
            // segment more on a safe ACK; never past ssthresh.
            let mut limit = self.delivered.saturating_sub(self.out);
            if safe {
                limit = limit.max(delivered).saturating_add(mss);
            }
            (ssthresh - pipe).min(limit)
        };
        // The fast retransmit goes out whatever the arithmetic says (RFC 9937: when nothing
        // was sent yet; in segments, as Linux counts, so a sub-segment share cannot hold it).
        let sndcnt = if self.out == 0 {
            sndcnt.max(mss)
        } else {
            sndcnt
        };
        Some(pipe.saturating_add(sndcnt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    /// RFC 6937's example: 20 segments in flight, one lost, ssthresh = 10 segments. Each
    /// ACK delivering one segment earns half a segment while the pipe is above ssthresh: the
    /// fast retransmit goes on the first (ahead of its share), then one on every other ACK,
    /// so after 8 ACKs 4 segments went out, ssthresh / RecoverFS of what was delivered.
    #[test]
    fn above_ssthresh_one_segment_per_two_delivered() {
        let mut prr = Prr::start(20 * MSS, 0);
        let ssthresh = 10 * MSS;
        let mut pipe = 19 * MSS; // one lost
        let mut sends = Vec::new();
        for _ in 0..8 {
            pipe -= MSS; // a segment left the network
            let cwnd = prr.on_ack(MSS, pipe, ssthresh, MSS, false).unwrap();
            let mut n = 0;
            while cwnd >= pipe + MSS {
                prr.sent(MSS);
                pipe += MSS;
                n += 1;
            }
            sends.push(n);
        }
        assert_eq!(sends, [1, 0, 0, 1, 0, 1, 0, 1]);
        assert_eq!(prr.out, 4 * MSS);
    }

    /// Below ssthresh the pipe grows by what is delivered, one segment more on a safe ACK
    /// (slow start), never past ssthresh.
    #[test]
    fn below_ssthresh_the_reduction_bound() {
        let mut prr = Prr::start(20 * MSS, 0);
        prr.sent(MSS); // the fast retransmit
        let ssthresh = 10 * MSS;
        // Conservative: delivered 2, sent 1 → one more.
        assert_eq!(
            prr.on_ack(2 * MSS, 3 * MSS, ssthresh, MSS, false),
            Some(4 * MSS)
        );
        prr.sent(MSS);
        // Safe ACK: max(delivered − out, this ACK's delivered) + 1 segment.
        assert_eq!(
            prr.on_ack(2 * MSS, 3 * MSS, ssthresh, MSS, true),
            Some(6 * MSS)
        );
        // Never above ssthresh.
        assert_eq!(
            prr.on_ack(20 * MSS, 9 * MSS, ssthresh, MSS, true),
            Some(ssthresh)
        );
    }

    /// An ACK that delivers nothing changes nothing; the first ACK of recovery always lets
    /// the fast retransmit out; bytes SACKed before recovery are not part of RecoverFS.
    #[test]
    fn edges() {
        let mut prr = Prr::start(20 * MSS, 0);
        assert_eq!(prr.on_ack(0, 19 * MSS, 10 * MSS, MSS, false), None);
        // 100 bytes delivered of 20,000: the proportional share is 50 bytes, but nothing
        // was sent yet: one segment may go.
        let mut tiny = Prr::start(20 * MSS, 0);
        assert_eq!(
            tiny.on_ack(100, 19 * MSS, 10 * MSS, MSS, false),
            Some(20 * MSS)
        );
        tiny.sent(MSS);
        // After it, the share counts: 150 of 20,000 delivered → 75 bytes, 1000 sent.
        assert_eq!(
            tiny.on_ack(50, 19 * MSS, 10 * MSS, MSS, false),
            Some(19 * MSS)
        );
        let mut zero = Prr::start(20 * MSS, 0);
        assert_eq!(zero.on_ack(1, 19 * MSS, 0, MSS, false), Some(20 * MSS));
        assert_eq!(Prr::start(20 * MSS, 5 * MSS).recover_fs, 15 * MSS);
        assert_eq!(Prr::start(MSS, 2 * MSS).recover_fs, 1);
    }
}
