//! Differential tests against `etherparse`: what we emit, it parses to the
//! same values (with a valid checksum), and what it builds, we parse to the
//! same values.

mod common;

use core::net::{IpAddr, Ipv4Addr};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice};
use proptest::prelude::*;
use synack_wire::{
    emit_ipv4_tcp, parse_ipv4_tcp, Ipv4Repr, SackBlocks, TcpFlags, TcpOptions, TcpRepr,
};

#[derive(Debug, Clone)]
struct Owned {
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    ident: u16,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent: u16,
    options: TcpOptions,
    payload: Vec<u8>,
}

fn sack_strategy() -> impl Strategy<Value = SackBlocks> {
    prop::collection::vec((any::<u32>(), any::<u32>()), 0..=4).prop_map(|v| {
        let mut b = SackBlocks::new();
        for (l, r) in v {
            b.push(l, r);
        }
        b
    })
}

fn options_strategy() -> impl Strategy<Value = TcpOptions> {
    (
        any::<Option<u16>>(),
        any::<Option<u8>>(),
        any::<bool>(),
        sack_strategy(),
        any::<Option<(u32, u32)>>(),
    )
        .prop_map(
            |(mss, window_scale, sack_permitted, sack_blocks, timestamps)| TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                sack_blocks,
                timestamps,
            },
        )
}

fn owned_strategy() -> impl Strategy<Value = Owned> {
    (
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            any::<u16>(),
        ),
        (1..=u16::MAX, 1..=u16::MAX, any::<u32>(), any::<u32>()),
        (any::<u8>(), any::<u16>(), any::<u16>()),
        options_strategy(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(
                (src, dst, ttl, ident),
                (src_port, dst_port, seq, ack),
                (flags, window, urgent),
                options,
                payload,
            )| Owned {
                src,
                dst,
                ttl,
                ident,
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
                payload,
            },
        )
}

impl Owned {
    fn reprs(&self) -> (Ipv4Repr, TcpRepr<'_>) {
        let ip = Ipv4Repr {
            src_addr: Ipv4Addr::from(self.src),
            dst_addr: Ipv4Addr::from(self.dst),
            protocol: 6,
            payload_len: 0,
            ttl: self.ttl,
            dscp: 0,
            ecn: 0,
            ident: self.ident,
        };
        let tcp = TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq_number: self.seq,
            ack_number: self.ack,
            flags: TcpFlags(self.flags),
            window_len: self.window,
            urgent_pointer: self.urgent,
            options: self.options,
            payload: &self.payload,
        };
        (ip, tcp)
    }
}

/// Convert etherparse's option list into our TcpOptions.
fn their_options(iter: etherparse::TcpOptionsIterator<'_>) -> TcpOptions {
    let mut o = TcpOptions::default();
    for item in iter {
        match item.expect("etherparse option error") {
            TcpOptionElement::Noop => {}
            TcpOptionElement::MaximumSegmentSize(v) => o.mss = Some(v),
            TcpOptionElement::WindowScale(v) => o.window_scale = Some(v),
            TcpOptionElement::SelectiveAcknowledgementPermitted => o.sack_permitted = true,
            TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                o.sack_blocks.push(first.0, first.1);
                for (l, r) in rest.iter().flatten() {
                    o.sack_blocks.push(*l, *r);
                }
            }
            TcpOptionElement::Timestamp(a, b) => o.timestamps = Some((a, b)),
        }
    }
    o
}

/// SACK blocks we expect after emission (truncated to what fits in 40 bytes).
fn fitted(o: &TcpOptions) -> TcpOptions {
    let mut nosack = *o;
    nosack.sack_blocks = SackBlocks::new();
    let used = nosack.buffer_len();
    let room = (40 - used).saturating_sub(4) / 8;
    let mut out = nosack;
    for (l, r) in o.sack_blocks.iter().take(room) {
        out.sack_blocks.push(l, r);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ours_parse_with_etherparse(owned in owned_strategy()) {
        let (ip, tcp) = owned.reprs();
        let mut buf = vec![0u8; 20 + tcp.buffer_len()];
        let n = emit_ipv4_tcp(&ip, &tcp, &mut buf).unwrap();
        prop_assert_eq!(n, buf.len());

        let sliced = SlicedPacket::from_ip(&buf).expect("etherparse parse");
        let Some(NetSlice::Ipv4(ipv4)) = sliced.net else { panic!("not ipv4") };
        let h = ipv4.header();
        prop_assert_eq!(h.source(), owned.src);
        prop_assert_eq!(h.destination(), owned.dst);
        prop_assert_eq!(h.ttl(), owned.ttl);
        prop_assert_eq!(h.identification(), owned.ident);
        prop_assert!(h.dont_fragment());
        prop_assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());

        let Some(TransportSlice::Tcp(t)) = sliced.transport else { panic!("not tcp") };
        prop_assert_eq!(t.source_port(), owned.src_port);
        prop_assert_eq!(t.destination_port(), owned.dst_port);
        prop_assert_eq!(t.sequence_number(), owned.seq);
        prop_assert_eq!(t.acknowledgment_number(), owned.ack);
        let their_flags = u8::from(t.fin())
            | u8::from(t.syn()) << 1
            | u8::from(t.rst()) << 2
            | u8::from(t.psh()) << 3
            | u8::from(t.ack()) << 4
            | u8::from(t.urg()) << 5
            | u8::from(t.ece()) << 6
            | u8::from(t.cwr()) << 7;
        prop_assert_eq!(their_flags, owned.flags);
        prop_assert!(!t.ns());
        prop_assert_eq!(t.window_size(), owned.window);
        prop_assert_eq!(t.urgent_pointer(), owned.urgent);
        prop_assert_eq!(t.payload(), &owned.payload[..]);
        prop_assert_eq!(t.checksum(), t.calc_checksum_ipv4(owned.src, owned.dst).unwrap());
        prop_assert_eq!(their_options(t.options_iterator()), fitted(&owned.options));

        // And we parse our own output back to the same repr (modulo SACK fit).
        let (_, back) = parse_ipv4_tcp(&buf).unwrap();
        let mut expect = tcp;
        expect.options = fitted(&owned.options);
        prop_assert_eq!(back, expect);
    }

    #[test]
    fn theirs_parse_with_ours(owned in owned_strategy()) {
        let mut b = PacketBuilder::ipv4(owned.src, owned.dst, owned.ttl)
            .tcp(owned.src_port, owned.dst_port, owned.seq, owned.window);
        let f = TcpFlags(owned.flags);
        if f.contains(TcpFlags::FIN) { b = b.fin(); }
        if f.contains(TcpFlags::SYN) { b = b.syn(); }
        if f.contains(TcpFlags::RST) { b = b.rst(); }
        if f.contains(TcpFlags::PSH) { b = b.psh(); }
        if f.contains(TcpFlags::ACK) { b = b.ack(owned.ack); }
        if f.contains(TcpFlags::URG) { b = b.urg(owned.urgent); }
        if f.contains(TcpFlags::ECE) { b = b.ece(); }
        if f.contains(TcpFlags::CWR) { b = b.cwr(); }
        // Build their option list (at most 40 bytes: use fitted options).
        let o = fitted(&owned.options);
        let mut elems = Vec::new();
        if let Some(m) = o.mss { elems.push(TcpOptionElement::MaximumSegmentSize(m)); }
        if o.sack_permitted { elems.push(TcpOptionElement::SelectiveAcknowledgementPermitted); }
        if let Some((a, c)) = o.timestamps { elems.push(TcpOptionElement::Timestamp(a, c)); }
        if let Some(w) = o.window_scale { elems.push(TcpOptionElement::WindowScale(w)); }
        if let Some((&first, rest)) = o.sack_blocks.as_slice().split_first() {
            let mut more = [None; 3];
            for (slot, blk) in more.iter_mut().zip(rest) { *slot = Some(*blk); }
            elems.push(TcpOptionElement::SelectiveAcknowledgement(first, more));
        }
        // etherparse packs without our NOP alignment, so it may fit where
        // ours needed padding; skip the rare case it rejects the list.
        let b = match b.options(&elems) { Ok(b) => b, Err(_) => return Ok(()) };
        let mut buf = Vec::new();
        b.write(&mut buf, &owned.payload).unwrap();

        let (ipr, t) = parse_ipv4_tcp(&buf).expect("ours failed on etherparse packet");
        prop_assert_eq!(ipr.src_addr, Ipv4Addr::from(owned.src));
        prop_assert_eq!(ipr.dst_addr, Ipv4Addr::from(owned.dst));
        prop_assert_eq!(ipr.ttl, owned.ttl);
        prop_assert_eq!(ipr.payload_len, buf.len() - 20);
        prop_assert_eq!(t.src_port, owned.src_port);
        prop_assert_eq!(t.dst_port, owned.dst_port);
        prop_assert_eq!(t.seq_number, owned.seq);
        if f.contains(TcpFlags::ACK) { prop_assert_eq!(t.ack_number, owned.ack); }
        if f.contains(TcpFlags::URG) { prop_assert_eq!(t.urgent_pointer, owned.urgent); }
        prop_assert_eq!(t.flags, f);
        prop_assert_eq!(t.window_len, owned.window);
        prop_assert_eq!(t.payload, &owned.payload[..]);
        prop_assert_eq!(t.options, o);
        let (s, d): (IpAddr, IpAddr) = (ipr.src_addr.into(), ipr.dst_addr.into());
        let tcp_bytes = &buf[20..];
        prop_assert!(synack_wire::TcpPacket::new_unchecked(tcp_bytes).verify_checksum(&s, &d));
    }
}
