//! PSH (MUST-61: set on the last segment of what the application wrote) also marks the last
//! segment of each burst that the congestion window or the peer's window ends, as Linux
//! does: a receiver that hands data to its application on PSH sees the burst now.

mod util;

use util::*;

/// A full segment with timestamps: MSS 1460 less 12 option bytes.
const FULL: usize = 1448;

#[test]
fn psh_marks_the_last_segment_of_a_burst_cwnd_ends_not_the_ones_before() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    // Twenty segments queued, cwnd 10: the burst stops at ten with data still queued.
    p.a.send(c, &vec![3u8; FULL * 20]).unwrap();
    let segs = p.out(Side::A);
    let flags: Vec<String> = segs.iter().map(|s| s.flags()).collect();
    let mut want = vec![".".to_string(); 9];
    want.push("P.".into());
    assert_eq!(flags, want);
    assert!(segs.iter().all(|s| s.payload.len() == FULL));
    assert_eq!(p.a.info(c).unwrap().send_buffered, FULL * 20);
}

#[test]
fn psh_marks_the_end_of_the_data_and_the_end_of_each_cwnd_burst() {
    let mut p = Pair::modern();
    let (c, _s) = p.establish();
    // 15 segments: 10 go (cwnd), PSH on the 10th; the ACKs release the other 5, PSH on the
    // last of the data only.
    p.a.send(c, &vec![4u8; FULL * 15]).unwrap();
    let first = p.out(Side::A);
    assert_eq!(first.len(), 10);
    assert_eq!(first[9].flags(), "P.");
    for s in &first {
        p.deliver(Side::B, &s.raw);
    }
    for a in p.out(Side::B) {
        p.deliver(Side::A, &a.raw);
    }
    let rest = p.out(Side::A);
    let flags: Vec<String> = rest.iter().map(|s| s.flags()).collect();
    assert_eq!(flags, vec![".", ".", ".", ".", "P."]);
}
