//! Packets from the broker: inbound publish flows, framing across reads, malformed input.

use super::*;

// ----- inbound publish flows ---------------------------------------------------------------

#[test]
fn inbound_qos0_and_qos1() {
    let mut h = Harness::connected(opts("c"));
    h.feed(publish("x/y", b"zero", 0, 0, false));
    h.feed(publish("x/y", b"one", 1, 42, true));
    h.expect_tx(vec![puback(42)]);
    assert_eq!(
        h.events(),
        vec![
            Event::Message(Message {
                mid: 0,
                topic: Bytes::from_static(b"x/y"),
                payload: Bytes::from_static(b"zero"),
                qos: QoS::AtMostOnce,
                retain: false,
                dup: false,
                properties: Bytes::new(),
            }),
            Event::Message(Message {
                mid: 42,
                topic: Bytes::from_static(b"x/y"),
                payload: Bytes::from_static(b"one"),
                qos: QoS::AtLeastOnce,
                retain: false,
                dup: true,
                properties: Bytes::new(),
            }),
        ]
    );
}

/// QoS 2 is delivered at PUBREL, once, even if the PUBLISH is repeated before it.
#[test]
fn inbound_qos2_delivered_at_pubrel_once() {
    let mut h = Harness::connected(opts("c"));
    h.feed(publish("q2", b"payload", 2, 7, false));
    h.expect_tx(vec![pubrec(7)]);
    assert!(h.events().is_empty(), "not delivered at PUBLISH");
    h.feed(publish("q2", b"payload", 2, 7, true));
    h.expect_tx(vec![pubrec(7)]);
    assert!(h.events().is_empty());
    h.feed(pubrel(7));
    h.expect_tx(vec![pubcomp(7)]);
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0], Event::Message(m) if m.mid == 7 && m.qos == QoS::ExactlyOnce));
    // A repeated PUBREL is answered but delivers nothing.
    h.feed(pubrel(7));
    h.expect_tx(vec![pubcomp(7)]);
    assert!(h.events().is_empty());
}

/// A persistent session keeps a QoS 2 message awaiting PUBREL across a reconnect; a clean one
/// forgets it.
#[test]
fn inbound_qos2_across_reconnect() {
    for clean in [false, true] {
        let mut o = opts("c");
        o.clean_session = clean;
        let mut h = Harness::connected(o);
        h.feed(publish("q2", b"p", 2, 9, false));
        h.tx();
        h.s.on_connection_lost(h.now);
        h.connect();
        h.feed(pubrel(9));
        h.expect_tx(vec![pubcomp(9)]);
        let delivered = h.events().iter().any(|e| matches!(e, Event::Message(_)));
        assert_eq!(delivered, !clean, "clean_session={clean}");
    }
}

/// paho delivers a topic that is not UTF-8; `msg.topic` raises only when read.
#[test]
fn invalid_utf8_topic_is_delivered_raw() {
    let mut h = Harness::connected(opts("c"));
    h.feed_raw(&[0x30, 5, 0, 2, 0xC3, 0x28, b'p']);
    assert_eq!(
        h.events(),
        vec![Event::Message(Message {
            mid: 0,
            topic: Bytes::from_static(&[0xC3, 0x28]),
            payload: Bytes::from_static(b"p"),
            qos: QoS::AtMostOnce,
            retain: false,
            dup: false,
            properties: Bytes::new(),
        })]
    );
}

/// paho accepts packet id 0 on QoS 1 and acknowledges it.
#[test]
fn inbound_packet_id_zero_is_accepted() {
    let mut h = Harness::connected(opts("c"));
    h.feed_raw(&[0x32, 5, 0, 1, b't', 0, 0]);
    assert_eq!(h.tx(), [0x40, 2, 0, 0]);
    assert_eq!(h.events().len(), 1);
}

// ----- framing -----------------------------------------------------------------------------

#[test]
fn partial_packets_across_calls() {
    let mut h = Harness::connected(opts("c"));
    let bytes = encode(vec![publish("a/b", b"hello", 1, 5, false), puback(1)]);
    let mut buf = BytesMut::new();
    for byte in &bytes {
        buf.extend_from_slice(&[*byte]);
        h.s.handle_bytes(&mut buf, h.now);
    }
    assert!(buf.is_empty());
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0], Event::Message(m) if &m.payload[..] == b"hello"));
    h.expect_tx(vec![puback(5)]);
}

#[test]
fn multiple_packets_in_one_buffer_and_trailing_partial() {
    let mut h = Harness::connected(opts("c"));
    let mut bytes = encode(vec![
        publish("a", b"1", 0, 0, false),
        publish("b", b"2", 1, 1, false),
        publish("c", b"3", 2, 2, false),
        wire::Packet::PingResp,
    ]);
    let next = encode(vec![publish("d", b"4", 0, 0, false)]);
    bytes.extend_from_slice(&next[..3]);
    let mut buf = BytesMut::from(&bytes[..]);
    h.s.handle_bytes(&mut buf, h.now);
    assert_eq!(
        &buf[..],
        &next[..3],
        "partial packet left for the next read"
    );
    assert_eq!(h.events().len(), 2);
    // Write coalescing: both acks in one buffer.
    h.expect_tx(vec![puback(1), pubrec(2)]);
    buf.extend_from_slice(&next[3..]);
    h.s.handle_bytes(&mut buf, h.now);
    assert_eq!(h.events().len(), 1);
}

/// A remaining length above max_packet_size is refused from the header alone.
#[test]
fn huge_remaining_length_is_refused_without_buffering() {
    let mut o = opts("c");
    o.max_packet_size = 1024;
    let mut h = Harness::connected(o);
    let mut buf = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    let capacity = buf.capacity();
    h.s.handle_bytes(&mut buf, h.now);
    assert!(protocol_error(&h.events()));
    assert!(buf.capacity() <= capacity.max(64));
    assert!(!h.s.is_open());
}

/// The default limit is MQTT's own maximum: a header promising a large packet just waits.
#[test]
fn default_limit_waits_for_large_packets() {
    let mut h = Harness::connected(opts("c"));
    let mut buf = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1, b't'][..]);
    h.s.handle_bytes(&mut buf, h.now);
    assert!(h.events().is_empty());
    assert_eq!(buf.len(), 8);
    assert!(h.s.is_open());
}

/// Malformed packets and packets a client never receives end the connection, never panic.
#[test]
fn malformed_and_forbidden_packets_are_protocol_errors() {
    let cases: &[(&str, &[u8])] = &[
        ("topic longer than packet", &[0x30, 3, 0, 5, b'a']),
        ("empty topic", &[0x30, 3, 0, 0, b'a']),
        ("qos 3", &[0x36, 5, 0, 1, b'a', 0, 1]),
        ("qos1 without id", &[0x32, 3, 0, 1, b'a']),
        (
            "remaining length of 5 bytes",
            &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ),
        ("puback too long", &[0x40, 3, 0, 1, 0]),
        ("puback too short", &[0x40, 1, 0]),
        ("pingresp with body", &[0xD0, 1, 0]),
        ("suback bad code", &[0x90, 3, 0, 1, 3]),
        ("suback without codes", &[0x90, 2, 0, 1]),
        ("unsuback too long", &[0xB0, 3, 0, 1, 0]),
        ("connect", &[0x10, 0]),
        ("subscribe", &[0x82, 6, 0, 1, 0, 1, b'a', 0]),
        ("unsubscribe", &[0xA2, 5, 0, 1, 0, 1, b'a']),
        ("disconnect in 3.1.1", &[0xE0, 0]),
        ("type 0", &[0x00, 0]),
        ("type 15", &[0xF0, 0]),
        ("second connack", &[0x20, 2, 0, 0]),
    ];
    for (what, bytes) in cases {
        let mut h = Harness::connected(opts("c"));
        h.feed_raw(bytes);
        assert!(protocol_error(&h.events()), "{what}");
        assert!(!h.s.is_open(), "{what}");
        // A closed session ignores further input.
        h.feed(publish("a", b"", 0, 0, false));
        assert!(h.events().is_empty(), "{what}");
    }
}

#[test]
fn packet_before_connack_is_a_protocol_error() {
    let mut h = Harness::new(opts("c"));
    h.s.on_connected(h.now);
    h.tx();
    h.feed(publish("a", b"", 0, 0, false));
    assert!(protocol_error(&h.events()));
}

#[test]
fn connack_of_wrong_size_is_malformed() {
    let mut h = Harness::new(opts("c"));
    h.s.on_connected(h.now);
    h.feed_raw(&[0x20, 3, 0, 0, 0]);
    assert!(protocol_error(&h.events()));
}

/// Arbitrary bytes never panic, whatever state the session is in.
#[test]
fn random_bytes_never_panic() {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..2000 {
        let mut h = Harness::new(opts("c"));
        h.s.on_connected(h.now);
        if round % 2 == 0 {
            h.feed(connack_ok());
        }
        let len = usize::try_from(next() % 64).unwrap();
        let mut bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        if let Some(first) = bytes.first_mut() {
            // Bias towards real packet types so decoders get exercised.
            *first = (*first & 0x0F) | (u8::try_from(next() % 16).unwrap() << 4);
        }
        let mut buf = BytesMut::from(&bytes[..]);
        h.s.handle_bytes(&mut buf, h.now);
        h.tx();
        h.events();
    }
}

// ----- when acknowledgements go out ---------------------------------------------------------

/// `AfterDelivery` (paho: the ack follows `on_message`): PUBACK and PUBCOMP wait for
/// `release_acks`, then go out in arrival order; an unknown PUBREL is still answered at once.
#[test]
fn acks_after_delivery_wait_for_release_in_order() {
    let mut h = Harness::connected(opts("c"));
    h.s.set_ack_mode(AckMode::AfterDelivery);
    h.feed(publish("a", b"1", 1, 10, false));
    h.feed(publish("a", b"2", 2, 11, false));
    h.expect_tx(vec![pubrec(11)]);
    h.feed(pubrel(11));
    h.feed(publish("a", b"3", 1, 12, false));
    h.feed(pubrel(99));
    h.expect_tx(vec![pubcomp(99)]);
    assert_eq!(h.events().len(), 3);
    assert!(h.s.release_acks());
    h.expect_tx(vec![puback(10), pubcomp(11), puback(12)]);
    assert!(!h.s.release_acks());
}

/// `Manual` (paho's `manual_ack`): only `ack(mid)` sends that message's ack.
#[test]
fn manual_acks_go_out_one_by_one() {
    let mut h = Harness::connected(opts("c"));
    h.s.set_ack_mode(AckMode::Manual);
    h.feed(publish("a", b"1", 1, 10, false));
    h.feed(publish("a", b"2", 1, 11, false));
    assert!(!h.s.release_acks());
    assert_eq!(h.tx(), Vec::<u8>::new());
    assert!(h.s.ack(11));
    h.expect_tx(vec![puback(11)]);
    assert!(!h.s.ack(11));
    assert!(h.s.ack(10));
    h.expect_tx(vec![puback(10)]);
}

/// Held acks die with the connection: the broker re-sends those messages.
#[test]
fn held_acks_are_dropped_with_the_connection() {
    let mut h = Harness::connected(opts("c"));
    h.s.set_ack_mode(AckMode::AfterDelivery);
    h.feed(publish("a", b"1", 1, 10, false));
    h.s.on_connection_lost(h.now);
    h.connect();
    assert!(!h.s.release_acks());
    assert_eq!(h.tx(), Vec::<u8>::new());
}

/// `AfterDelivery`: a message not yet handed out by `drain_events` has not been through
/// `on_message`, so `release_acks` keeps its ack (a loop that polls between arrivals, like the
/// shared loop's `next_events(0)`, must not ack ahead of the callback).
#[test]
fn acks_of_messages_not_yet_drained_are_kept() {
    let mut h = Harness::connected(opts("c"));
    h.s.set_ack_mode(AckMode::AfterDelivery);
    h.feed(publish("a", b"1", 1, 10, false));
    assert!(!h.s.release_acks());
    assert_eq!(h.tx(), Vec::<u8>::new());
    assert_eq!(h.events().len(), 1);
    h.feed(publish("a", b"2", 1, 11, false));
    assert!(h.s.release_acks());
    h.expect_tx(vec![puback(10)]);
    assert_eq!(h.events().len(), 1);
    assert!(h.s.release_acks());
    h.expect_tx(vec![puback(11)]);
}
