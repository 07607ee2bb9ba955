//! What a connection counts over its life, for `info()` (like Linux's `tcp_info`).

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    /// Segments retransmitted.
    pub retransmits: u32,
    /// Times loss recovery was entered.
    pub fast_retransmits: u32,
    /// Zero-window probes sent (MUST-36).
    pub zero_window_probes: u32,
    /// Retransmission timer expiries (not counting zero-window probes).
    pub timeouts: u32,
    /// Retransmissions found lost during SACK recovery and sent again.
    pub lost_retransmits: u32,
    /// Segments RACK marked lost (RFC 8985 §6.2 step 5).
    pub rack_lost: u32,
    /// Tail loss probes sent (RFC 8985 §7.3), and losses they repaired (§7.4).
    pub tlp_probes: u32,
    pub tlp_repairs: u32,
    /// Challenge ACKs sent (RFC 5961), and those the budget suppressed.
    pub challenge_acks: u32,
    pub challenge_acks_suppressed: u32,
    pub bytes_sent: u64,
    pub bytes_acked: u64,
    pub bytes_received: u64,
}
