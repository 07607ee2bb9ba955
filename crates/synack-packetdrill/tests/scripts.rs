//! Every script in tests/packetdrill/ is a test case here; `every_script_has_a_test` fails
//! when a new script is not listed. Known-failing scripts (they expose synack-proto bugs)
//! are `#[ignore]`d with the reason; `cargo test -- --ignored` runs them.

use std::path::{Path, PathBuf};

use synack_packetdrill::{run_file, RunOptions};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/packetdrill")
}

fn run(name: &str) {
    let path = dir().join(format!("{name}.pkt"));
    let outcome = run_file(&path, &RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(outcome.passed(), "{}:\n{outcome}", path.display());
}

macro_rules! scripts {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                run(stringify!($name));
            }
        )*
        const LISTED: &[&str] = &[$(stringify!($name)),*];
    };
}

scripts! {
    ack_to_listener,
    active_open,
    blocking_and_poll,
    challenge_ack,
    close_local_first,
    close_remote_first,
    connect_refused,
    data_on_third_segment,
    data_retransmit,
    delayed_ack,
    dsack_is_not_a_duplicate_ack,
    dsack_undoes_a_reordering_fast_retransmit,
    fin_retransmit,
    frto_spurious_timeout,
    half_close,
    icmp_echo,
    icmp_hard_error_in_syn_sent,
    icmp_out_of_window_ignored,
    icmp_packet_too_big,
    icmp_soft_errors_do_not_abort,
    icmpv6_packet_too_big,
    keepalive,
    listen_while_connecting,
    mss_default,
    nagle,
    options,
    passive_open,
    quick_ack,
    rack_reorder_window,
    rst_carries_timestamps,
    rst_closed_port,
    sack_recovery,
    sender_sws_avoidance,
    simultaneous_close,
    simultaneous_open,
    syn_retransmit,
    synack_retransmit,
    syn_text_is_not_acknowledged,
    syn_text_simultaneous_open,
    time_wait_reack,
    timestamps,
    tlp_lost_tail,
    ts_recent_from_acceptable_segments_only,
    urgent,
    user_timeout,
    user_timeout_between_rtos,
    user_timeout_shortened,
    window_field_unsigned,
    window_scaling,
    zero_window_at_open,
    zero_window_after_idle,
    zero_window_probe,
    zero_receive_window,
}

#[test]
fn every_script_has_a_test() {
    let mut missing = Vec::new();
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pkt") {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            if !LISTED.contains(&stem.as_str()) {
                missing.push(stem);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these scripts to tests/scripts.rs: {missing:?}"
    );
}
