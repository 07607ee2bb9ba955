//! The runner runs public scripts as packetdrill runs them (issue 19): script fd numbers,
//! absolute SYN sequence numbers, ACKs without an `ack` clause, a second connection on the
//! same tuple, MSG_PEEK, ICMP both ways, the syntax of the suites (ECN, TOS, Fast Open,
//! `--define`, `#ifdef`), `TCP_INFO` and code-block assertions, `sockstat` checks, and an
//! unsupported construct stopping a script instead of letting it pass.

use synack_packetdrill::{run_script, Outcome, RunOptions};

const LISTEN: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
    +0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n";
const OPEN: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
    +0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
    +0 < S 0:0(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 <mss 1460>\n\
    +.1 < . 1:1(0) ack 1 win 65535\n+0 accept(3, ..., ...) = 4\n";

fn run(src: &str) -> Outcome {
    run_script(src, &RunOptions::default()).unwrap_or_else(|e| panic!("parse: {e}"))
}

fn passes(src: &str) -> Outcome {
    let o = run(src);
    assert!(o.passed(), "{o}");
    o
}

fn fails(src: &str, needle: &str) {
    let o = run(src);
    let f = o
        .failure
        .unwrap_or_else(|| panic!("passed but should fail:\n{src}"));
    assert!(!f.unsupported, "unsupported instead of failing: {f}");
    assert!(
        f.to_string().contains(needle),
        "expected `{needle}` in:\n{f}"
    );
}

fn unsupported(src: &str, needle: &str) {
    let o = run(src);
    assert!(o.unsupported(), "expected unsupported:\n{o}");
    let text = o.to_string();
    assert!(text.contains("unsupported: "), "{text}");
    assert!(text.contains(needle), "expected `{needle}` in:\n{text}");
}

#[test]
fn msg_peek_leaves_the_data_in_place() {
    passes(&format!(
        "{OPEN}+0 < P. 1:11(10) ack 1 win 65535\n\
         +0 recv(4, ..., 100, MSG_PEEK) = 10\n\
         +0 recv(4, ..., 4, MSG_PEEK) = 4\n\
         +0 recv(4, ..., 100, MSG_PEEK) = 10\n\
         +0 read(4, ..., 100) = 10\n\
         +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
         +0 recv(4, ..., 100, MSG_PEEK) = -1 EAGAIN (Resource temporarily unavailable)\n"
    ));
    // A peek on a blocking socket waits for data like a read, and consumes none.
    passes(&format!(
        "{OPEN}+0...0.1 recv(4, ..., 100, MSG_PEEK) = 5\n\
         +.1 < P. 1:6(5) ack 1 win 65535\n+0 read(4, ..., 100) = 5\n"
    ));
}

#[test]
fn shut_rd_makes_an_empty_read_return_zero() {
    // As in Linux: data already there (or arriving later) is still read; with nothing to
    // read, a read returns 0 at once instead of waiting.
    passes(&format!(
        "{OPEN}+0 shutdown(4, SHUT_RD) = 0\n+0 read(4, ..., 1000) = 0\n\
         +0 < P. 1:11(10) ack 1 win 65535\n+0 read(4, ..., 1000) = 10\n\
         +0 read(4, ..., 1000) = 0\n"
    ));
    // Without it the same read blocks.
    fails(
        &format!("{OPEN}+0 read(4, ..., 1000) = 0\n"),
        "blocking read never returned",
    );
}

#[test]
fn script_fd_numbers_are_mapped_not_required() {
    // A process that already has fds 3..9 open would get 10 and 11.
    passes(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 10\n+0 bind(10, ..., ...) = 0\n\
         +0 listen(10, 1) = 0\n+0 < S 0:0(0) win 65535 <mss 1460>\n\
         +0 > S. 0:0(0) ack 1 <mss 1460>\n+.1 < . 1:1(0) ack 1 win 65535\n\
         +0 accept(10, ..., ...) = 11\n+0 write(11, ..., 5) = 5\n+0 > P. 1:6(5) ack 1\n\
         +0 read(3, ..., 5) = -1 EBADF (Bad file descriptor)\n",
    );
    // `= ...` takes the lowest free number.
    passes(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = ...\n+0 bind(3, ..., ...) = 0\n\
         +0 listen(3, 1) = 0\n",
    );
}

#[test]
fn syn_sequence_numbers_are_the_scripts_own() {
    // The remote ISN is 100: the SYN-ACK acknowledges 101, absolute; later numbers are
    // relative to it.
    // (The first data is ACKed at once: quick ACKs at the start, as Linux's quickack mode.)
    passes(&format!(
        "{LISTEN}+0 < S 100:100(0) win 65535 <mss 1460>\n\
         +0 > S. 0:0(0) ack 101 <mss 1460>\n\
         +.1 < . 1:1(0) ack 1 win 65535\n+0 accept(3, ..., ...) = 4\n\
         +0 < P. 1:11(10) ack 1 win 65535\n+0 > . 1:1(0) ack 11\n"
    ));
    fails(
        &format!(
            "{LISTEN}+0 < S 100:100(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 <mss 1460>\n"
        ),
        "ack: expected 1 got 101",
    );
    // An active open: the SYN-ACK's sequence number 5000 is the remote ISN, its ACK number
    // acknowledges our SYN.
    passes(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
         +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
         +0 > S 0:0(0) <...>\n+.1 < S. 5000:5000(0) ack 1 win 65535 <mss 1460>\n\
         +0 > . 1:1(0) ack 1\n+0 < P. 1:11(10) ack 1 win 65535\n+0 > . 1:1(0) ack 11\n",
    );
}

#[test]
fn an_ack_without_an_ack_clause_acknowledges_the_isn() {
    // packetdrill builds `< . 1:11(10) win 65535` with ACK number 0, relative: the local
    // ISN, an old but acceptable ACK. The data is taken.
    passes(&format!(
        "{OPEN}+0 < . 1:11(10) win 65535\n+0 > . 1:1(0) ack 11\n+0 read(4, ..., 100) = 10\n"
    ));
}

#[test]
fn a_second_connection_may_reuse_the_tuple() {
    // The first connection closes (the remote first; local LAST-ACK -> CLOSED), then the
    // remote opens again on the same ports with another ISN.
    passes(&format!(
        "{OPEN}+0 < F. 1:1(0) ack 1 win 65535\n+0 > . 1:1(0) ack 2\n\
         +0 close(4) = 0\n+0 > F. 1:1(0) ack 2\n+.1 < . 2:2(0) ack 2 win 65535\n\
         +.1 < S 7000:7000(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 7001 <mss 1460>\n\
         +.1 < . 1:1(0) ack 1 win 65535\n+0 accept(3, ..., ...) = 4\n\
         +0 < P. 1:11(10) ack 1 win 65535\n+0 > . 1:1(0) ack 11\n"
    ));
    // A listener made again while the first connection is still open: its SYN makes a new
    // connection (a new remote port, as packetdrill's new child socket has), not a SYN in
    // the old one's window.
    passes(&format!(
        "{OPEN}+0 close(3) = 0\n\
         +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
         +0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
         +0 < S 0:0(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 <mss 1460>\n\
         +.1 < . 1:1(0) ack 1 win 65535\n+0 accept(3, ..., ...) = 5\n\
         +0 write(5, ..., 5) = 5\n+0 > P. 1:6(5) ack 1\n"
    ));
}

#[test]
fn icmp_goes_both_ways() {
    // An echo request is answered (outbound ICMP is matched by type, code and id).
    passes(&format!(
        "{OPEN}+0 < icmp echo_request id 7\n+0 > icmp echo_reply id 7\n"
    ));
    fails(
        &format!("{OPEN}+0 < icmp echo_request id 7\n+0 > icmp echo_reply id 8\n"),
        "icmp id: expected 8 got 7",
    );
    fails(
        &format!("{OPEN}+0 < icmp echo_request id 7\n+0 > . 1:1(0) ack 1\n"),
        "expected a TCP segment, the stack sent ICMP",
    );
    // A port unreachable quoting our SYN refuses the connection attempt.
    passes(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
         +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
         +0 > S 0:0(0) <...>\n+.1 < icmp unreachable port_unreachable [0:0(0)]\n\
         +0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0\n",
    );
    // An unknown code, or an MTU on the wrong type, is a script error, not a pass.
    fails(
        &format!("{OPEN}+0 < icmp unreachable no_such_code [1:1(0)]\n"),
        "unknown ICMPv4 code",
    );
    fails(
        &format!("{OPEN}+0 < icmp unreachable port_unreachable mtu 1000\n"),
        "an MTU belongs to",
    );
    // ICMP quoting a UDP datagram is beyond the runner.
    unsupported(
        &format!("{OPEN}+0 < icmp unreachable port_unreachable [udp (10)]\n"),
        "quoting a udp packet",
    );
}

#[test]
fn the_suites_syntax_parses_and_is_checked() {
    // ECN codepoints and the TOS byte are checked on what synack sends (Not-ECT, TOS 0).
    passes(&format!(
        "{OPEN}+0 close(4) = 0\n+0 > [noecn] F. 1:1(0) ack 1\n"
    ));
    fails(
        &format!("{OPEN}+0 close(4) = 0\n+0 > [ect0] F. 1:1(0) ack 1\n"),
        "ip ecn: expected Ect0 got 0",
    );
    fails(
        &format!("{OPEN}+0 close(4) = 0\n+0 > (tos 0x20) F. 1:1(0) ack 1\n"),
        "ip tos: expected 0x20 got 0x00",
    );
    fails(
        &format!("{OPEN}+0 close(4) = 0\n+0 > (ttl 4) F. 1:1(0) ack 1\n"),
        "ip ttl: expected 4 got 64",
    );
    // An ECN-setup SYN with a Fast Open cookie (both kinds) and CE marking is sent as
    // written; synack negotiates neither, and its SYN-ACK says so.
    passes(&format!(
        "{LISTEN}+0 < [ce] SEW 0:0(0) win 65535 <mss 1460,FO 3021b9d889017eeb,nop,nop>\n\
         +0 > S. 0:0(0) ack 1 <mss 1460>\n"
    ));
    passes(&format!(
        "{LISTEN}+0 < (tos 0x2) S 0:0(0) win 65535 <mss 1460,FOEXP 0102030405060708>\n\
         +0 > S. 0:0(0) ack 1 <mss 1460>\n"
    ));
    fails(
        &format!(
            "{LISTEN}+0 < SEW 0:0(0) win 65535 <mss 1460>\n+0 > SE. 0:0(0) ack 1 <mss 1460>\n"
        ),
        "flags: expected SE. got S.",
    );
}

#[test]
fn defines_and_ifdef() {
    let src = format!(
        "{OPEN}#ifdef STANDARD\n+0 close(4) = 0\n+0 > F. 1:1(0) ack 1\n#else\n\
         +0 > R. 1:1(0) ack 1\n#endif\n#ifdef FreeBSD\n+0 this_is_not_parsed\n#endif\n"
    );
    passes(&src);
    let mut opts = RunOptions::default();
    opts.defines.remove("STANDARD");
    opts.defines.insert("FreeBSD".into(), "1".into());
    assert!(
        run_script(&src, &opts).is_err(),
        "the FreeBSD branch is parsed now"
    );
    // --define NAME=VALUE replaces a word.
    opts.defines
        .insert("CODE".into(), "port_unreachable".into());
    opts.defines.insert("MTU".into(), "1000".into());
    let o = run_script(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
         +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
         +0 > S 0:0(0) <...>\n+.1 < icmp unreachable CODE [0:0(0)]\n\
         +0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0\n",
        &opts,
    )
    .unwrap();
    assert!(o.passed(), "{o}");
}

#[test]
fn tcp_info_and_code_blocks_see_the_connection() {
    passes(&format!(
        "{OPEN}+0 getsockopt(4, SOL_TCP, TCP_INFO, {{tcpi_state=TCP_ESTABLISHED, \
         tcpi_snd_mss=1460, tcpi_snd_cwnd=10, tcpi_retransmits=0, tcpi_ca_state=TCP_CA_Open, \
         tcpi_rto=1000000, tcpi_options=0, tcpi_rtt=...}}, [104]) = 0\n\
         +0 %{{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }}%\n\
         +0 %{{ assert 99000 <= tcpi_rtt <= 101000; assert tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH }}%\n\
         +0 getsockopt(3, SOL_TCP, TCP_INFO, {{tcpi_state=TCP_LISTEN}}, [104]) = 0\n"
    ));
    // SACK and timestamps agreed: the options bits say so.
    passes(&format!(
        "{LISTEN}+0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0>\n\
         +0 > S. 0:0(0) ack 1 <...>\n+.1 < . 1:1(0) ack 1 win 65535 <nop,nop,TS val 2 ecr 100>\n\
         +0 accept(3, ..., ...) = 4\n\
         +0 getsockopt(4, SOL_TCP, TCP_INFO, {{tcpi_options=TCPI_OPT_SACK|TCPI_OPT_TIMESTAMPS}}, [104]) = 0\n"
    ));
    fails(
        &format!("{OPEN}+0 getsockopt(4, SOL_TCP, TCP_INFO, {{tcpi_snd_cwnd=11}}, [104]) = 0\n"),
        "tcpi_snd_cwnd: expected 11 got 10",
    );
    fails(
        &format!("{OPEN}+0 %{{ assert tcpi_state == TCP_CLOSE_WAIT, tcpi_state }}%\n"),
        "code block assertion failed: tcpi_state = 1",
    );
    // After an RTO: one retransmission, the Loss state, a doubled RTO.
    passes(&format!(
        "{OPEN}+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n\
         +1 > P. 1:11(10) ack 1\n\
         +0 %{{ assert tcpi_retransmits == 1 and tcpi_ca_state == TCP_CA_Loss }}%\n\
         +0 %{{ assert tcpi_rto == 2000000, tcpi_rto }}%\n"
    ));
    unsupported(
        &format!("{OPEN}+0 %{{ assert tcpi_rwnd_limited == 0 }}%\n"),
        "tcpi_rwnd_limited",
    );
    unsupported(
        &format!("{OPEN}+0 getsockopt(4, SOL_TCP, TCP_INFO, {{tcpi_pmtu=1500}}, [104]) = 0\n"),
        "tcpi_pmtu",
    );
}

#[test]
fn sockstat_lines_are_checks() {
    let time_wait = format!(
        "{OPEN}+0 shutdown(4, SHUT_WR) = 0\n+0 > F. 1:1(0) ack 1\n\
         +.1 < F. 1:1(0) ack 2 win 65535\n+0 > . 2:2(0) ack 2\n"
    );
    passes(&format!(
        "{time_wait}+0 `sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1`\n\
         +0 `sockstat -4 -P tcp -p 8080 -s | grep -c LISTEN | grep 1`\n"
    ));
    fails(
        &format!("{time_wait}+0 `sockstat -4 -P tcp -s | grep packetdril | grep -c ESTABLISHED | grep 1`\n"),
        "0 socket(s) in ESTABLISHED, the script expects 1",
    );
    // An embryonic connection counts without `grep packetdril`.
    passes(&format!(
        "{LISTEN}+0 < S 0:0(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 <mss 1460>\n\
         +0 `sockstat -4 -P tcp -s -p 8080 | grep -c SYN_RCVD | grep 1`\n"
    ));
}

#[test]
fn what_the_runner_cannot_run_stops_the_script() {
    unsupported(&format!("{OPEN}+0 < udp (10)\n"), "udp packets");
    unsupported(
        &format!("{OPEN}+0 < . 1:1(0) ack 1 win 65535 <nop,nop,md5 abcd>\n"),
        "MD5",
    );
    unsupported(
        &format!("{OPEN}+0 < . 1:1(0) ack 1 win 65535/udp(1 > 9811)\n"),
        "UDP encapsulation",
    );
    unsupported(&format!("{OPEN}+0 epoll_create(1) = 5\n"), "epoll_create");
    unsupported(
        &format!("{OPEN}+0 setsockopt(4, SOL_TCP, TCP_FASTOPEN, [1], 4) = 0\n"),
        "setsockopt TCP_FASTOPEN",
    );
    unsupported(
        &format!("{OPEN}+0 send(4, ..., 10, MSG_ZEROCOPY) = 10\n"),
        "MSG_ZEROCOPY",
    );
    unsupported(
        &format!("{OPEN}+0 getsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [1], [4]) = 0\n"),
        "getsockopt TCP_NOTSENT_LOWAT",
    );
    unsupported(&format!("{OPEN}+0 %{{ import os }}%\n"), "code block");
    unsupported(
        "0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n",
        "a socket of type",
    );
    unsupported(
        &format!("{OPEN}+0 write(4, NULL, 1000) = -1 EFAULT (Bad address)\n"),
        "a buffer pointer",
    );
}

#[test]
fn socket_defaults_follow_their_sysctls() {
    passes(
        "0 `sysctl -w net.inet.tcp.keepidle=15000`\n\
         +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 getsockopt(3, IPPROTO_TCP, TCP_KEEPIDLE, [15], [4]) = 0\n\
         +0 `sysctl -w net.inet.tcp.keepinit=75000 net.inet.tcp.keepintvl=5000`\n\
         +0 getsockopt(3, IPPROTO_TCP, TCP_KEEPINIT, [75], [4]) = 0\n\
         +0 getsockopt(3, IPPROTO_TCP, TCP_KEEPINTVL, [5], [4]) = 0\n",
    );
}

#[test]
fn ioctl_values_are_compared() {
    passes(&format!(
        "{OPEN}+0 < P. 1:1001(1000) ack 1 win 65535\n+0 ioctl(4, SIOCINQ, [1000]) = 0\n\
         +0 read(4, ..., 400) = 400\n+0 ioctl(4, FIONREAD, [600]) = 0\n"
    ));
    fails(
        &format!("{OPEN}+0 ioctl(4, SIOCINQ, [1]) = 0\n"),
        "ioctl SIOCINQ: expected [1] got [0]",
    );
}
