//! `parse_ip_deferred` leaves a long TCP payload's checksum to the caller: it must agree with
//! `parse_ip` on every input once the caller finishes the verification, whichever way the
//! payload is summed, and never panic.

use core::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use synack_wire::checksum;
use synack_wire::tcp::DEFER_MIN;
use synack_wire::{
    emit_ip_tcp, parse_ip, parse_ip_deferred, Deferred, Error, IpRepr, Ipv4Repr, Packet, TcpFlags,
    TcpOptions, TcpRepr,
};

/// `parse_ip` done the deferred way: the payload summed while copied out, as a receiver does.
fn deferred(buf: &[u8]) -> Result<Packet<'_>, Error> {
    match parse_ip_deferred(buf)? {
        Deferred::Tcp(ip, tcp, pending) => {
            let mut ring = vec![0u8; tcp.payload.len()];
            let cut = ring.len() / 3;
            let (a, b) = ring.split_at_mut(cut);
            let sum = checksum::copy_and_sum_split(a, b, tcp.payload);
            assert_eq!(ring, tcp.payload);
            assert_eq!(
                pending.verify(sum),
                pending.verify_payload(tcp.payload),
                "copy-and-sum and sum agree"
            );
            if pending.verify(sum) {
                Ok(Packet::Tcp(ip, tcp))
            } else {
                Err(Error::BadChecksum)
            }
        }
        Deferred::Done(p) => Ok(p),
    }
}

fn segment(payload: &[u8], options: TcpOptions) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: 7,
        ack_number: 9,
        flags: TcpFlags::ACK,
        window_len: 1000,
        urgent_pointer: 0,
        options,
        payload,
    };
    let ip = IpRepr::V4(Ipv4Repr {
        src_addr: Ipv4Addr::new(10, 0, 0, 1),
        dst_addr: Ipv4Addr::new(10, 0, 0, 2),
        protocol: 6,
        payload_len: 0,
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident: 0,
    });
    let mut buf = vec![0u8; 40 + tcp.buffer_len() + 40];
    let n = emit_ip_tcp(&ip, &tcp, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn long_payloads_are_deferred_short_ones_verified_at_once() {
    let long = vec![0xabu8; DEFER_MIN];
    let buf = segment(&long, TcpOptions::default());
    let Ok(Deferred::Tcp(_, tcp, pending)) = parse_ip_deferred(&buf) else {
        panic!("a TCP segment");
    };
    assert!(pending.is_deferred());
    assert!(pending.verify_payload(tcp.payload));
    assert!(
        !pending.verify(checksum::sum(&long[1..])),
        "a different payload fails"
    );

    let short = segment(&long[..DEFER_MIN - 1], TcpOptions::default());
    let Ok(Deferred::Tcp(_, _, pending)) = parse_ip_deferred(&short) else {
        panic!("a TCP segment");
    };
    assert!(!pending.is_deferred());
    let mut bad = short.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(parse_ip_deferred(&bad), Err(Error::BadChecksum));
}

#[test]
fn a_bad_checksum_is_reported_before_other_faults_must_3() {
    let long = vec![0x11u8; DEFER_MIN + 3];
    let mut buf = segment(
        &long,
        TcpOptions {
            mss: Some(1460),
            ..TcpOptions::default()
        },
    );
    // Break the MSS option's length (MUST-7) and leave the checksum stale.
    buf[20 + 21] = 9;
    assert_eq!(parse_ip(&buf), Err(Error::BadChecksum));
    assert_eq!(parse_ip_deferred(&buf), Err(Error::BadChecksum));
    // With a fixed-up checksum it is the option that is reported.
    let mut fixed = buf.clone();
    let mut p = synack_wire::Ipv4Packet::new_unchecked(&mut fixed[..]);
    let (s, d) = (IpAddr::V4(p.src_addr()), IpAddr::V4(p.dst_addr()));
    synack_wire::TcpPacket::new_unchecked(p.payload_mut()).fill_checksum(&s, &d);
    assert_eq!(parse_ip(&fixed), Err(Error::BadOptionLen));
    assert_eq!(parse_ip_deferred(&fixed), Err(Error::BadOptionLen));
}

proptest! {
    #[test]
    fn deferred_agrees_with_parse_ip(
        payload in proptest::collection::vec(any::<u8>(), 0..5000),
        flip in proptest::option::of((any::<prop::sample::Index>(), 1u8..=255)),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut buf = segment(&payload, TcpOptions { timestamps: Some((1, 2)), ..TcpOptions::default() });
        if let Some((at, x)) = flip {
            let at = at.index(buf.len());
            buf[at] ^= x;
        }
        if let Some(cut) = cut {
            let n = cut.index(buf.len());
            buf.truncate(n);
        }
        prop_assert_eq!(deferred(&buf), parse_ip(&buf));
        if flip.is_some_and(|(at, _)| at.index(buf.len().max(1)) >= 40) && cut.is_none() {
            // A flipped TCP byte never passes.
            prop_assert!(parse_ip(&buf).is_err());
        }
    }

    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let _ = deferred(&bytes);
    }
}
