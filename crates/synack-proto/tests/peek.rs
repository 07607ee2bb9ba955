//! `Endpoint::peek`: RECEIVE (RFC 9293 §3.10.3) that leaves the data in place, like `MSG_PEEK`.

mod util;

use synack_proto::{Error, State};
use util::*;

#[test]
fn peek_copies_without_consuming_and_sends_nothing() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    let mut buf = [0u8; 16];
    // Nothing arrived yet: WouldBlock, like recv.
    assert_eq!(p.b.peek(s, &mut buf), Err(Error::WouldBlock));

    p.a.send(c, b"hello world").unwrap();
    let data = p.one(Side::A);
    assert_eq!((data.flags().as_str(), data.len()), ("P.", 11));
    p.deliver(Side::B, &data.raw);
    // Let B's ACK for the data go, so what follows is only what peek itself would cause.
    p.exchange();
    let wnd_before = p.b.info(s).unwrap();

    // Peeking twice gives the same bytes; a short buffer gets a prefix.
    assert_eq!(p.b.peek(s, &mut buf), Ok(11));
    assert_eq!(&buf[..11], b"hello world");
    let mut short = [0u8; 5];
    assert_eq!(p.b.peek(s, &mut short), Ok(5));
    assert_eq!(&short, b"hello");
    assert_eq!(p.b.peek(s, &mut buf), Ok(11));
    // Peek moves no window and owes no ACK: nothing is sent.
    assert!(p.out(Side::B).is_empty());
    assert_eq!(
        p.b.info(s).unwrap().rcv_wnd,
        wnd_before.rcv_wnd,
        "the window is unchanged"
    );

    // The read then takes exactly what was peeked.
    assert_eq!(p.b.recv(s, &mut short), Ok(5));
    assert_eq!(&short, b"hello");
    assert_eq!(p.b.peek(s, &mut buf), Ok(6));
    assert_eq!(&buf[..6], b" world");
    assert_eq!(p.b.recv(s, &mut buf), Ok(6));
    assert_eq!(p.b.peek(s, &mut buf), Err(Error::WouldBlock));
}

#[test]
fn peek_at_the_end_of_stream_is_zero_and_after_a_reset_is_the_reset_must_12() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.shutdown(c).unwrap();
    p.exchange();
    assert_eq!(p.b.state(s), Some(State::CloseWait));
    let mut buf = [0u8; 4];
    assert_eq!(p.b.peek(s, &mut buf), Ok(0));
    assert_eq!(
        p.b.peek(s, &mut buf),
        Ok(0),
        "peek of the FIN is repeatable"
    );

    let mut p = Pair::new();
    let (c, s) = p.establish();
    p.a.abort(c).unwrap();
    let rst = p.one(Side::A);
    assert_eq!(rst.flags(), "R");
    p.deliver(Side::B, &rst.raw);
    assert_eq!(p.b.peek(s, &mut buf), Err(Error::ConnectionReset));
}

#[test]
fn peek_of_an_unknown_handle_is_invalid() {
    let mut p = Pair::new();
    let (c, _s) = p.establish();
    p.a.close(c).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(p.a.peek(c, &mut buf), Err(Error::InvalidHandle));
}

#[test]
fn writable_until_the_send_buffer_is_full_then_again_after_the_ack() {
    let mut p = Pair::new();
    let (c, s) = p.establish();
    assert!(p.a.writable(c));
    let chunk = vec![7u8; 4096];
    let mut queued = 0;
    while p.a.writable(c) {
        let n = p.a.send(c, &chunk).unwrap();
        assert!(n > 0, "writable promised room");
        queued += n;
        assert!(queued < 64 << 20, "the send buffer is bounded");
    }
    assert_eq!(p.a.send(c, &chunk), Err(Error::WouldBlock));
    // The peer ACKs (and reads) what arrived: room again.
    p.exchange();
    let (got, _) = read_all(&mut p.b, s);
    assert!(!got.is_empty());
    p.exchange();
    assert!(p.a.writable(c));
    // After a close of the send side SEND fails at once, so it does not block.
    p.a.shutdown(c).unwrap();
    assert!(p.a.writable(c));
    assert_eq!(p.a.send(c, b"x"), Err(Error::Closing));
}
