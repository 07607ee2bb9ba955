//! Unit tests for `icmp.rs`.

use super::*;

fn emit4(msg: &Icmpv4Message<'_>) -> Vec<u8> {
    let mut buf = vec![0xcc; msg.buffer_len()];
    msg.emit(&mut buf);
    buf
}

fn addrs6() -> (Ipv6Addr, Ipv6Addr) {
    ("fe80::1".parse().unwrap(), "2001:db8::42".parse().unwrap())
}

fn emit6(msg: &Icmpv6Message<'_>) -> Vec<u8> {
    let (s, d) = addrs6();
    let mut buf = vec![0xcc; msg.buffer_len()];
    msg.emit(&mut buf, &s, &d);
    buf
}

fn parse6(buf: &[u8]) -> Result<Icmpv6Message<'_>> {
    let (s, d) = addrs6();
    Icmpv6Message::parse(buf, &s, &d)
}

#[test]
fn v4_echo_hand_computed_checksum() {
    let msg = Icmpv4Message::EchoRequest {
        ident: 0x1234,
        seq_no: 1,
        data: b"ab",
    };
    let buf = emit4(&msg);
    // 0x0800 + 0x1234 + 0x0001 + 0x6162 = 0x7b97; !0x7b97 = 0x8468.
    assert_eq!(buf, [8, 0, 0x84, 0x68, 0x12, 0x34, 0, 1, b'a', b'b']);
    assert_eq!(Icmpv4Message::parse(&buf).unwrap(), msg);
    assert_eq!(msg.buffer_len(), 10);
    assert_eq!(msg.icmp_type(), 8);
    assert_eq!(msg.original(), None);

    // Reply: only the type changes, so the checksum goes down by 0x0800.
    let reply = Icmpv4Message::EchoReply {
        ident: 0x1234,
        seq_no: 1,
        data: b"ab",
    };
    let buf = emit4(&reply);
    assert_eq!(&buf[..4], &[0, 0, 0x8c, 0x68]);
    assert_eq!(Icmpv4Message::parse(&buf).unwrap(), reply);
}

#[test]
fn v4_odd_length_checksum() {
    // Odd data length: the trailing byte is padded with zero.
    let msg = Icmpv4Message::EchoReply {
        ident: 0,
        seq_no: 0,
        data: &[0xff],
    };
    let buf = emit4(&msg);
    // 0x0000 + 0xff00 = 0xff00; !0xff00 = 0x00ff.
    assert_eq!(&buf[2..4], &[0x00, 0xff]);
    assert_eq!(Icmpv4Message::parse(&buf).unwrap(), msg);
}

#[test]
fn v4_all_variants_round_trip() {
    let quote = [0x45u8, 0, 0, 40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let msgs = [
        Icmpv4Message::EchoRequest {
            ident: 7,
            seq_no: 0xffff,
            data: &[],
        },
        Icmpv4Message::DestUnreachable {
            code: 4,
            next_hop_mtu: 1400,
            original: &quote,
        },
        Icmpv4Message::DestUnreachable {
            code: 3,
            next_hop_mtu: 0,
            original: &quote,
        },
        Icmpv4Message::SourceQuench { original: &quote },
        Icmpv4Message::TimeExceeded {
            code: 1,
            original: &quote,
        },
        Icmpv4Message::ParamProblem {
            pointer: 9,
            original: &quote[..3],
        },
        Icmpv4Message::Other {
            icmp_type: 13,
            code: 0,
        },
    ];
    for msg in msgs {
        let buf = emit4(&msg);
        assert_eq!(buf.len(), msg.buffer_len());
        assert_eq!(Icmpv4Message::parse(&buf).unwrap(), msg, "{msg:?}");
        assert_eq!(buf[0], msg.icmp_type());
    }
    let buf = emit4(&msgs[1]);
    assert_eq!(&buf[..2], &[3, 4]);
    assert_eq!(&buf[4..8], &[0, 0, 0x05, 0x78]);
    assert_eq!(msgs[1].original(), Some(&quote[..]));
    let buf = emit4(&msgs[5]);
    assert_eq!(&buf[4..8], &[9, 0, 0, 0]);
    let buf = emit4(&msgs[6]);
    assert_eq!(buf.len(), 8);
    assert_eq!(&buf[..2], &[13, 0]);
    assert_eq!(&buf[4..], &[0; 4]);
}

#[test]
fn v4_mtu_only_for_frag_needed() {
    // Bytes 6..8 are "unused" for codes other than 4 (RFC 1191).
    let mut buf = emit4(&Icmpv4Message::DestUnreachable {
        code: 1,
        next_hop_mtu: 576,
        original: &[],
    });
    assert_eq!(
        Icmpv4Message::parse(&buf).unwrap(),
        Icmpv4Message::DestUnreachable {
            code: 1,
            next_hop_mtu: 0,
            original: &[],
        }
    );
    buf[1] = 4;
    store_checksum(&mut buf, 0);
    let c = checksum::combine(&[checksum::sum(&buf)]);
    store_checksum(&mut buf, c);
    assert_eq!(
        Icmpv4Message::parse(&buf).unwrap(),
        Icmpv4Message::DestUnreachable {
            code: 4,
            next_hop_mtu: 576,
            original: &[],
        }
    );
}

#[test]
fn v4_other_keeps_type_and_code() {
    // A timestamp request (type 13) with its 12 bytes of timestamps.
    let mut buf = vec![13u8, 0, 0, 0, 0, 1, 0, 2];
    buf.extend_from_slice(&[0x11; 12]);
    let c = checksum::combine(&[checksum::sum(&buf)]);
    store_checksum(&mut buf, c);
    assert_eq!(
        Icmpv4Message::parse(&buf).unwrap(),
        Icmpv4Message::Other {
            icmp_type: 13,
            code: 0
        }
    );
}

#[test]
fn v4_errors() {
    let buf = emit4(&Icmpv4Message::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"hello",
    });
    for len in 0..8 {
        assert_eq!(
            Icmpv4Message::parse(&buf[..len]).unwrap_err(),
            Error::Truncated
        );
    }
    // Cutting the data breaks the checksum (it covers the whole message).
    assert_eq!(
        Icmpv4Message::parse(&buf[..12]).unwrap_err(),
        Error::BadChecksum
    );
    for i in 0..buf.len() {
        let mut bad = buf.clone();
        bad[i] ^= 0x10;
        assert_eq!(
            Icmpv4Message::parse(&bad).unwrap_err(),
            Error::BadChecksum,
            "byte {i}"
        );
    }
}

#[test]
fn v6_all_variants_round_trip() {
    let quote = [0x60u8, 0, 0, 0, 0, 20, 6, 64, 1, 2, 3];
    let msgs = [
        Icmpv6Message::EchoRequest {
            ident: 0xabcd,
            seq_no: 9,
            data: b"ping",
        },
        Icmpv6Message::EchoReply {
            ident: 0xabcd,
            seq_no: 9,
            data: b"ping!",
        },
        Icmpv6Message::DestUnreachable {
            code: 4,
            original: &quote,
        },
        Icmpv6Message::PacketTooBig {
            mtu: 1280,
            original: &quote,
        },
        Icmpv6Message::TimeExceeded {
            code: 0,
            original: &quote,
        },
        Icmpv6Message::ParamProblem {
            code: 1,
            pointer: 0x0102_0304,
            original: &quote,
        },
        Icmpv6Message::Other {
            icmp_type: 135,
            code: 0,
        },
    ];
    for msg in msgs {
        let buf = emit6(&msg);
        assert_eq!(buf.len(), msg.buffer_len());
        assert_eq!(parse6(&buf).unwrap(), msg, "{msg:?}");
        assert_eq!(buf[0], msg.icmp_type());
        assert_eq!(msg.original().is_some(), matches!(buf[0], 1..=4));
    }
    assert_eq!(&emit6(&msgs[0])[..2], &[128, 0]);
    assert_eq!(&emit6(&msgs[1])[..2], &[129, 0]);
    assert_eq!(&emit6(&msgs[3])[4..8], &[0, 0, 5, 0]);
    assert_eq!(&emit6(&msgs[5])[..8], {
        let b = emit6(&msgs[5]);
        &[4, 1, b[2], b[3], 1, 2, 3, 4][..]
    });
    assert_eq!(emit6(&msgs[6]).len(), 8);
}

#[test]
fn v6_checksum_covers_pseudo_header() {
    let buf = emit6(&Icmpv6Message::EchoRequest {
        ident: 1,
        seq_no: 1,
        data: &[1, 2, 3],
    });
    let (s, d) = addrs6();
    assert!(Icmpv6Message::parse(&buf, &s, &d).is_ok());
    // Swapping the addresses keeps the sum (one's complement addition
    // commutes), so change one instead.
    let other: Ipv6Addr = "fe80::2".parse().unwrap();
    assert_eq!(
        Icmpv6Message::parse(&buf, &other, &d).unwrap_err(),
        Error::BadChecksum
    );
    assert_eq!(
        Icmpv6Message::parse(&buf, &s, &other).unwrap_err(),
        Error::BadChecksum
    );
    // The ICMPv4 rule (no pseudo header) does not validate it.
    assert_eq!(Icmpv4Message::parse(&buf).unwrap_err(), Error::BadChecksum);
    for len in 0..8 {
        assert_eq!(parse6(&buf[..len]).unwrap_err(), Error::Truncated);
    }
    assert_eq!(parse6(&buf[..10]).unwrap_err(), Error::BadChecksum);
}

#[test]
fn emit_into_short_buffers_does_not_panic() {
    let v4 = Icmpv4Message::TimeExceeded {
        code: 0,
        original: &[7; 30],
    };
    let v6 = Icmpv6Message::PacketTooBig {
        mtu: 1280,
        original: &[7; 30],
    };
    let (s, d) = addrs6();
    for len in 0..40 {
        let mut buf = vec![0u8; len];
        v4.emit(&mut buf);
        v6.emit(&mut buf, &s, &d);
        if len >= 1 {
            assert_eq!(buf[0], 2);
        }
    }
    // A longer buffer: only buffer_len bytes are touched.
    let mut buf = vec![0xee; 50];
    v4.emit(&mut buf);
    assert_eq!(&buf[38..], &[0xee; 12]);
    assert_eq!(Icmpv4Message::parse(&buf[..38]).unwrap(), v4);
}
