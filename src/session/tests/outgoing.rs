//! Requests from the user: publish flows in both QoS, the in-flight window, re-sends after a
//! reconnect, subscribe and unsubscribe.

use super::*;

// ----- outgoing publish flows --------------------------------------------------------------

/// paho's on_publish for QoS 0 fires when the bytes go to the socket, not at publish().
#[test]
fn qos0_published_when_encoded() {
    let mut h = Harness::connected(opts("c"));
    let handle = h.pub_("t", b"hi", QoS::AtMostOnce);
    assert_eq!(handle.status, PublishStatus::Sent);
    assert!(h.events().is_empty());
    h.expect_tx(vec![publish("t", b"hi", 0, 0, false)]);
    assert_eq!(h.events(), vec![Event::Published { mid: handle.mid }]);
}

/// With reporting off, no event per published message: `publish_status` follows each one by
/// its ticket, QoS 0 through encoding and through a connection that closes with some unsent.
#[test]
fn qos0_followed_by_ticket_without_events() {
    let mut h = Harness::connected(opts("c"));
    h.s.set_report_published(false);
    let first = h.pub_("t", b"1", QoS::AtMostOnce);
    let second = h.pub_("t", b"2", QoS::AtMostOnce);
    assert_eq!((first.track, second.track), (1, 2));
    assert_eq!(h.s.publish_status(first.track), None);
    h.expect_tx(vec![
        publish("t", b"1", 0, 0, false),
        publish("t", b"2", 0, 0, false),
    ]);
    assert_eq!(h.s.publish_status(first.track), Some(false));
    assert_eq!(h.s.publish_status(second.track), Some(false));
    assert!(h.events().is_empty());

    // Two more queued, then the connection is lost before they are encoded.
    let third = h.pub_("t", b"3", QoS::AtMostOnce);
    let fourth = h.pub_("t", b"4", QoS::AtMostOnce);
    h.s.on_connection_lost(h.now);
    assert_eq!(h.s.publish_status(third.track), Some(true));
    assert_eq!(h.s.publish_status(fourth.track), Some(true));
    assert_eq!(
        h.s.publish_status(second.track),
        Some(false),
        "written before the loss"
    );
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, Event::PublishDropped { .. } | Event::Published { .. })),
        "no per-message events while reporting is off"
    );
    // Not connected: QoS 0 is refused at once and gets no ticket.
    let offline = h.pub_("t", b"5", QoS::AtMostOnce);
    assert_eq!(
        (offline.status, offline.track),
        (PublishStatus::NotConnected, 0)
    );
    assert_eq!(h.s.publish_status(0), None);
    assert_eq!(h.s.publish_status(fourth.track + 1), None);
}

/// QoS 1/2 tickets: pending until the final ack (in any order), published after it with no
/// event while reporting is off, and never published once `drop_out_messages` threw them away.
#[test]
fn qos1_and_qos2_followed_by_ticket_without_events() {
    let mut h = Harness::connected(opts("c"));
    h.s.set_report_published(false);
    let one = h.pub_("t", b"1", QoS::AtLeastOnce);
    let two = h.pub_("t", b"2", QoS::ExactlyOnce);
    let three = h.pub_("t", b"3", QoS::AtLeastOnce);
    h.tx();
    assert!([one, two, three]
        .iter()
        .all(|m| m.track != 0 && h.s.publish_status(m.track).is_none()));
    h.feed(wire::Packet::PubAck(wire::PubAck::new(three.mid)));
    assert_eq!(
        h.s.publish_status(three.track),
        Some(false),
        "acks out of order"
    );
    assert_eq!(h.s.publish_status(one.track), None);
    h.feed(wire::Packet::PubRec(wire::PubRec::new(two.mid)));
    h.tx();
    assert_eq!(
        h.s.publish_status(two.track),
        None,
        "QoS 2 waits for PUBCOMP"
    );
    h.feed(wire::Packet::PubComp(wire::PubComp::new(two.mid)));
    assert_eq!(h.s.publish_status(two.track), Some(false));
    assert!(h.events().is_empty());
    assert!(h.s.drop_out_messages().len() == 1);
    assert_eq!(
        h.s.publish_status(one.track),
        None,
        "dropped: never published"
    );
    // Reporting on again: the next completion is an event as before.
    h.s.set_report_published(true);
    let four = h.pub_("t", b"4", QoS::AtLeastOnce);
    h.tx();
    h.feed(wire::Packet::PubAck(wire::PubAck::new(four.mid)));
    assert_eq!(h.events(), vec![Event::Published { mid: four.mid }]);
    assert_eq!(h.s.publish_status(four.track), Some(false));
}

#[test]
fn qos1_completes_on_puback_and_ignores_unknown_acks() {
    let mut h = Harness::connected(opts("c"));
    let m = h.pub_("t", b"1", QoS::AtLeastOnce).mid;
    h.expect_tx(vec![publish("t", b"1", 1, m, false)]);
    h.feed(puback(999));
    h.feed(pubcomp(998));
    h.feed(pubrec(997));
    assert!(h.events().is_empty(), "unknown acks are ignored as in paho");
    assert!(h.tx().is_empty(), "no PUBREL for an unknown PUBREC");
    h.feed(puback(m));
    assert_eq!(h.events(), vec![Event::Published { mid: m }]);
    h.feed(puback(m));
    assert!(h.events().is_empty(), "on_publish only once per mid");
    assert_eq!((h.s.stored(), h.s.inflight()), (0, 0));
}

#[test]
fn qos2_outgoing_flow() {
    let mut h = Harness::connected(opts("c"));
    let m = h.pub_("t", b"2", QoS::ExactlyOnce).mid;
    h.expect_tx(vec![publish("t", b"2", 2, m, false)]);
    h.feed(pubrec(m));
    h.expect_tx(vec![pubrel(m)]);
    assert!(h.events().is_empty());
    h.feed(pubrec(m));
    h.expect_tx(vec![pubrel(m)]);
    h.feed(pubcomp(m));
    assert_eq!(h.events(), vec![Event::Published { mid: m }]);
}

/// paho re-sends un-acked messages with DUP=1 and the same mid even with a clean session.
#[test]
fn resend_after_reconnect_with_dup_and_same_mid_clean_session() {
    let mut h = Harness::connected(opts("c"));
    let q1 = h.pub_("a", b"1", QoS::AtLeastOnce).mid;
    let q2 = h.pub_("b", b"2", QoS::ExactlyOnce).mid;
    let q2rec = h.pub_("c", b"3", QoS::ExactlyOnce).mid;
    h.tx();
    h.feed(pubrec(q2rec));
    h.expect_tx(vec![pubrel(q2rec)]);
    h.s.on_connection_lost(h.now);
    assert_eq!(
        h.events(),
        vec![Event::Disconnected {
            reason: DisconnectReason::ConnectionLost
        }]
    );
    h.s.on_connected(h.now);
    assert_eq!(h.tx()[0], 0x10);
    assert!(h.tx().is_empty(), "nothing before CONNACK");
    h.feed(connack_ok());
    // Clean session: the broker forgot the QoS 2 flow, so even the PUBREC'd one is re-published.
    h.expect_tx(vec![
        publish("a", b"1", 1, q1, true),
        publish("b", b"2", 2, q2, true),
        publish("c", b"3", 2, q2rec, true),
    ]);
    h.feed(puback(q1));
    h.feed(pubrec(q2));
    h.expect_tx(vec![pubrel(q2)]);
    h.feed(pubcomp(q2));
    assert_eq!(
        h.events(),
        vec![
            Event::Connected {
                session_present: false
            },
            Event::Published { mid: q1 },
            Event::Published { mid: q2 },
        ]
    );
}

/// With a persistent session a PUBREC'd QoS 2 message gets its PUBREL re-sent, not the PUBLISH.
#[test]
fn persistent_session_resends_pubrel_for_pubrec_received() {
    let mut o = opts("c");
    o.clean_session = false;
    let mut h = Harness::connected(o);
    let q1 = h.pub_("a", b"1", QoS::AtLeastOnce).mid;
    let q2 = h.pub_("b", b"2", QoS::ExactlyOnce).mid;
    let q2rec = h.pub_("c", b"3", QoS::ExactlyOnce).mid;
    h.tx();
    h.feed(pubrec(q2rec));
    h.tx();
    h.s.on_connection_lost(h.now);
    h.s.on_connected(h.now);
    h.tx();
    h.feed(connack(wire::ConnectReturnCode::Success, true));
    h.expect_tx(vec![
        publish("a", b"1", 1, q1, true),
        publish("b", b"2", 2, q2, true),
        pubrel(q2rec),
    ]);
    h.feed(pubcomp(q2rec));
    let events = h.events();
    assert!(events.contains(&Event::Connected {
        session_present: true
    }));
    assert!(events.contains(&Event::Published { mid: q2rec }));
}

/// QoS 0 while disconnected is dropped with NO_CONN; QoS 1 is kept and sent after CONNACK.
#[test]
fn publish_while_disconnected() {
    let mut h = Harness::new(opts("c"));
    let q0 = h.pub_("t", b"0", QoS::AtMostOnce);
    let q1 = h.pub_("t", b"1", QoS::AtLeastOnce);
    assert_eq!(q0.status, PublishStatus::NotConnected);
    assert_eq!(q1.status, PublishStatus::NotConnected);
    assert_eq!((q0.mid, q1.mid), (1, 2));
    assert!(h.tx().is_empty());
    assert!(h.events().is_empty());
    h.s.on_connected(h.now);
    h.tx();
    h.feed(connack_ok());
    h.expect_tx(vec![publish("t", b"1", 1, 2, false)]);
    assert_eq!(
        h.s.subscribe(vec![("x".to_owned(), QoS::AtMostOnce)]),
        Ok(3)
    );
}

#[test]
fn subscribe_unsubscribe_disconnect_need_a_connection() {
    let mut h = Harness::new(opts("c"));
    assert_eq!(
        h.s.subscribe(vec![("x".to_owned(), QoS::AtMostOnce)]),
        Err(SessionError::NotConnected)
    );
    assert_eq!(
        h.s.unsubscribe(vec!["x".to_owned()]),
        Err(SessionError::NotConnected)
    );
    assert_eq!(h.s.disconnect(), Err(SessionError::NotConnected));
    // No mid was used by the refused requests.
    assert_eq!(h.pub_("t", b"", QoS::AtMostOnce).mid, 1);
}

/// paho writes a publish made after connect() but before CONNACK right away.
#[test]
fn publish_before_connack_follows_connect() {
    let mut h = Harness::new(opts("c"));
    h.s.on_connected(h.now);
    let m0 = h.pub_("t", b"0", QoS::AtMostOnce).mid;
    let m1 = h.pub_("t", b"1", QoS::AtLeastOnce).mid;
    let bytes = h.tx();
    let connect = connect_bytes(opts("c"));
    assert_eq!(&bytes[..connect.len()], connect.as_slice());
    assert_eq!(
        &bytes[connect.len()..],
        encode(vec![
            publish("t", b"0", 0, 0, false),
            publish("t", b"1", 1, m1, false)
        ])
    );
    assert_eq!(h.events(), vec![Event::Published { mid: m0 }]);
    h.feed(connack_ok());
    assert!(h.tx().is_empty(), "already sent, not re-sent at CONNACK");
}

/// max_inflight sends the first N, queues the rest, and releases them in order as acks come.
#[test]
fn max_inflight_queues_and_releases_in_order() {
    let mut o = opts("c");
    o.max_inflight = 2;
    let mut h = Harness::connected(o);
    let handles: Vec<_> = (0..5u8)
        .map(|i| h.pub_("t", &[i], QoS::AtLeastOnce))
        .collect();
    let status: Vec<_> = handles.iter().map(|h| h.status).collect();
    assert_eq!(
        status,
        [
            PublishStatus::Sent,
            PublishStatus::Sent,
            PublishStatus::Queued,
            PublishStatus::Queued,
            PublishStatus::Queued
        ]
    );
    h.expect_tx(vec![
        publish("t", &[0], 1, 1, false),
        publish("t", &[1], 1, 2, false),
    ]);
    assert_eq!(h.s.inflight(), 2);
    h.feed(puback(2));
    h.expect_tx(vec![publish("t", &[2], 1, 3, false)]);
    // A QoS 0 publish is never held back by the window.
    let q0 = h.pub_("t", b"q0", QoS::AtMostOnce).mid;
    h.expect_tx(vec![publish("t", b"q0", 0, 0, false)]);
    assert_eq!(q0, 6);
    h.feed(puback(1));
    h.feed(puback(3));
    h.expect_tx(vec![
        publish("t", &[3], 1, 4, false),
        publish("t", &[4], 1, 5, false),
    ]);
    assert_eq!((h.s.inflight(), h.s.stored()), (2, 2));
}

/// After a reconnect the stored messages go out in publish order within the in-flight window
/// (paho sends them all at once, which a broker with a receive limit answers by dropping some),
/// the rest as acks come.
#[test]
fn reconnect_resends_queued_messages_in_order() {
    let mut o = opts("c");
    o.max_inflight = 1;
    let mut h = Harness::connected(o);
    h.pub_("t", b"a", QoS::AtLeastOnce);
    h.pub_("t", b"b", QoS::AtLeastOnce);
    h.pub_("t", b"c", QoS::ExactlyOnce);
    h.tx();
    h.s.on_connection_lost(h.now);
    h.s.on_connected(h.now);
    h.tx();
    h.feed(connack_ok());
    // QoS 1 "b" was only queued: no DUP. QoS 2 "c" was queued: paho marks it DUP on a clean
    // session reconnect because its state had left "publish".
    h.expect_tx(vec![publish("t", b"a", 1, 1, true)]);
    h.feed(puback(1));
    h.expect_tx(vec![publish("t", b"b", 1, 2, false)]);
    h.feed(puback(2));
    h.expect_tx(vec![publish("t", b"c", 2, 3, true)]);
    assert_eq!(h.s.inflight(), 1);
}

/// Beyond max_queued publish fails with paho's QUEUE_SIZE, the mid still consumed.
#[test]
fn max_queued_refuses_with_mid() {
    let mut o = opts("c");
    o.max_queued = 2;
    o.max_inflight = 1;
    let mut h = Harness::connected(o);
    h.pub_("t", b"", QoS::AtLeastOnce);
    h.pub_("t", b"", QoS::AtLeastOnce);
    let err =
        h.s.publish("t".to_owned(), Bytes::new(), QoS::AtLeastOnce, false)
            .unwrap_err();
    assert_eq!(err, SessionError::QueueFull { mid: 3 });
    // QoS 0 is not stored, so it is not limited.
    assert_eq!(h.pub_("t", b"", QoS::AtMostOnce).mid, 4);
    h.tx();
    h.feed(puback(1));
    assert_eq!(h.pub_("t", b"", QoS::AtLeastOnce).mid, 5);
}

#[test]
fn publish_validation() {
    let mut h = Harness::connected(opts("c"));
    for topic in ["", "a/+", "a/#", &"x".repeat(65536)] {
        assert_eq!(
            h.s.publish(topic.to_owned(), Bytes::new(), QoS::AtMostOnce, false),
            Err(SessionError::InvalidTopic)
        );
    }
    let huge = Bytes::from(vec![0u8; MAX_REMAINING_LENGTH]);
    assert_eq!(
        h.s.publish("t".to_owned(), huge, QoS::AtMostOnce, false),
        Err(SessionError::PacketTooLarge)
    );
    assert_eq!(h.s.subscribe(vec![]), Err(SessionError::EmptyTopicList));
    for filter in ["", "a/#/b", "a/b#", "a+/b"] {
        assert_eq!(
            h.s.subscribe(vec![(filter.to_owned(), QoS::AtMostOnce)]),
            Err(SessionError::InvalidFilter),
            "{filter}"
        );
    }
    assert_eq!(
        h.s.unsubscribe(vec![String::new()]),
        Err(SessionError::InvalidTopic)
    );
    // Nothing above used a mid.
    assert_eq!(h.pub_("t", b"", QoS::AtMostOnce).mid, 1);
}

// ----- subscribe / unsubscribe -------------------------------------------------------------

#[test]
fn subscribe_and_unsubscribe_many_filters_in_one_packet() {
    let mut h = Harness::connected(opts("c"));
    let sub =
        h.s.subscribe(vec![
            ("a".to_owned(), QoS::AtMostOnce),
            ("b/+".to_owned(), QoS::ExactlyOnce),
        ])
        .unwrap();
    let unsub =
        h.s.unsubscribe(vec!["a".to_owned(), "b/+".to_owned()])
            .unwrap();
    h.expect_tx(vec![
        wire::Packet::Subscribe(wire::Subscribe {
            pkid: sub,
            filters: vec![
                wire::SubscribeFilter::new("a".to_owned(), WireQoS::AtMostOnce),
                wire::SubscribeFilter::new("b/+".to_owned(), WireQoS::ExactlyOnce),
            ],
        }),
        wire::Packet::Unsubscribe(wire::Unsubscribe {
            pkid: unsub,
            topics: vec!["a".to_owned(), "b/+".to_owned()],
        }),
    ]);
    h.feed(wire::Packet::SubAck(wire::SubAck::new(
        sub,
        vec![
            wire::SubscribeReasonCode::Success(WireQoS::AtMostOnce),
            wire::SubscribeReasonCode::Failure,
        ],
    )));
    h.feed(wire::Packet::UnsubAck(wire::UnsubAck::new(unsub)));
    // paho reports a SUBACK even for an id it never sent.
    h.feed(wire::Packet::SubAck(wire::SubAck::new(
        77,
        vec![wire::SubscribeReasonCode::Success(WireQoS::AtLeastOnce)],
    )));
    assert_eq!(
        h.events(),
        vec![
            Event::Subscribed {
                mid: sub,
                granted: vec![0, 0x80]
            },
            Event::Unsubscribed { mid: unsub },
            Event::Subscribed {
                mid: 77,
                granted: vec![1]
            },
        ]
    );
}
