//! Linux `struct tcp_info` fields (`tcpi_*`) filled from synack's `ConnInfo`, for
//! `getsockopt(fd, SOL_TCP, TCP_INFO, {tcpi_state=…, …}, …)` and for `%{ assert tcpi_… }%`
//! code blocks.
//!
//! Only fields synack knows are given; any other name is an unsupported construct, never a
//! guess. Linux counts windows in segments and times in microseconds: `tcpi_snd_cwnd` and
//! `tcpi_snd_ssthresh` are synack's byte counts divided by the current send MSS (rounded
//! down; an ssthresh that was never set is Linux's `TCP_INFINITE_SSTHRESH`), and
//! `tcpi_unacked`, `tcpi_sacked` and `tcpi_lost` are bytes rounded up to whole segments.

use synack_proto::{ConnInfo, State};

/// Linux's `TCP_INFINITE_SSTHRESH`.
pub const INFINITE_SSTHRESH: i64 = 0x7fff_ffff;

/// Constants a code block or a `TCP_INFO` struct may name.
pub const CONSTANTS: &[(&str, i64)] = &[
    ("TCP_ESTABLISHED", 1),
    ("TCP_SYN_SENT", 2),
    ("TCP_SYN_RECV", 3),
    ("TCP_FIN_WAIT1", 4),
    ("TCP_FIN_WAIT2", 5),
    ("TCP_TIME_WAIT", 6),
    ("TCP_CLOSE", 7),
    ("TCP_CLOSE_WAIT", 8),
    ("TCP_LAST_ACK", 9),
    ("TCP_LISTEN", 10),
    ("TCP_CLOSING", 11),
    // The names the FreeBSD suite's scripts use, for the same states.
    ("TCPI_ESTABLISHED", 1),
    ("TCPI_SYN_SENT", 2),
    ("TCPI_SYN_RECEIVED", 3),
    ("TCPI_FIN_WAIT_1", 4),
    ("TCPI_FIN_WAIT_2", 5),
    ("TCPI_TIME_WAIT", 6),
    ("TCPI_CLOSED", 7),
    ("TCPI_CLOSE_WAIT", 8),
    ("TCPI_LAST_ACK", 9),
    ("TCPI_LISTEN", 10),
    ("TCPI_CLOSING", 11),
    ("TCP_CA_Open", 0),
    ("TCP_CA_Disorder", 1),
    ("TCP_CA_CWR", 2),
    ("TCP_CA_Recovery", 3),
    ("TCP_CA_Loss", 4),
    ("TCPI_OPT_TIMESTAMPS", 1),
    ("TCPI_OPT_SACK", 2),
    ("TCPI_OPT_WSCALE", 4),
    ("TCPI_OPT_ECN", 8),
    ("TCPI_OPT_ECN_SEEN", 16),
    ("TCPI_OPT_SYN_DATA", 32),
    ("TCP_INFINITE_SSTHRESH", INFINITE_SSTHRESH),
];

pub fn constant(name: &str) -> Option<i64> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Linux's number for a TCP state (`tcpi_state`).
pub fn linux_state(s: State) -> i64 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

/// What a `tcpi_` name is taken from: the connection's info, or (for a socket without a live
/// connection) only its state.
pub enum Source<'a> {
    Conn(&'a ConnInfo),
    /// A listener, a fresh socket, or a connection that is gone.
    StateOnly(State),
}

fn segs_up(bytes: u64, mss: u64) -> i64 {
    bytes.div_ceil(mss.max(1)) as i64
}

/// The value of field `name`; `Err` names why it cannot be given.
pub fn field(src: &Source<'_>, name: &str) -> Result<i64, String> {
    let i = match src {
        Source::StateOnly(s) if name == "tcpi_state" => return Ok(linux_state(*s)),
        Source::StateOnly(s) => {
            return Err(format!(
                "{name} of a socket without a connection ({})",
                s.name()
            ))
        }
        Source::Conn(i) => i,
    };
    let mss = u64::from(i.mss.max(1));
    let us = |d: std::time::Duration| d.as_micros().min(i64::MAX as u128) as i64;
    Ok(match name {
        "tcpi_state" => linux_state(i.state),
        // Open, Disorder (SACKed data, no recovery yet), Recovery, Loss (after an RTO,
        // until new data is acknowledged).
        "tcpi_ca_state" => {
            if i.in_recovery {
                3
            } else if i.backoff > 0 {
                4
            } else if i.sacked > 0 {
                1
            } else {
                0
            }
        }
        "tcpi_retransmits" | "tcpi_backoff" => i64::from(i.backoff),
        "tcpi_total_retrans" => i.retransmits as i64,
        "tcpi_options" => {
            i64::from(i.timestamps)
                | if i.sack { 2 } else { 0 }
                | if i.wscale.is_some() { 4 } else { 0 }
        }
        "tcpi_snd_wscale" => i64::from(i.wscale.map_or(0, |w| w.1)),
        "tcpi_rcv_wscale" => i64::from(i.wscale.map_or(0, |w| w.0)),
        "tcpi_rto" => us(i.rto),
        "tcpi_rtt" => i.srtt.map_or(0, us),
        "tcpi_rttvar" => us(i.rttvar),
        "tcpi_snd_mss" => mss as i64,
        "tcpi_snd_cwnd" => (u64::from(i.cwnd) / mss) as i64,
        "tcpi_snd_ssthresh" => {
            let s = u64::from(i.ssthresh) / mss;
            if i.ssthresh >= u32::MAX / 2 {
                INFINITE_SSTHRESH
            } else {
                s as i64
            }
        }
        "tcpi_unacked" => segs_up(u64::from(i.snd_nxt.0.wrapping_sub(i.snd_una.0)), mss),
        "tcpi_sacked" => segs_up(u64::from(i.sacked), mss),
        "tcpi_lost" => segs_up(u64::from(i.lost), mss),
        "tcpi_bytes_acked" => i.bytes_acked as i64,
        "tcpi_bytes_received" => i.bytes_received as i64,
        "tcpi_snd_wnd" => i64::from(i.snd_wnd),
        "tcpi_rcv_wnd" => i64::from(i.rcv_wnd),
        other if other.starts_with("tcpi_") => {
            return Err(format!("{other}: synack's ConnInfo has no such value"))
        }
        other => return Err(format!("`{other}` is not a tcp_info field")),
    })
}
