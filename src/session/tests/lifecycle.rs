//! CONNACK handling, keepalive, and the ways a connection ends.

use super::*;

// ----- CONNACK -----------------------------------------------------------------------------

/// Refusals reach on_connect with the code, then on_disconnect with CONN_REFUSED.
#[test]
fn refused_connack_codes() {
    for rc in 2..=5u8 {
        let mut h = Harness::new(opts("c"));
        h.s.on_connected(h.now);
        h.tx();
        h.feed_raw(&[0x20, 2, 1, rc]);
        assert_eq!(
            h.events(),
            vec![
                Event::ConnectRefused {
                    rc,
                    session_present: true
                },
                Event::Disconnected {
                    reason: DisconnectReason::Refused(rc)
                },
            ],
            "rc {rc}"
        );
        assert!(!h.s.is_open());
    }
    // MQTT 3.1 has no automatic downgrade, so rc 1 is a plain refusal there.
    let mut o = opts("c");
    o.protocol = ProtocolVersion::V31;
    let mut h = Harness::new(o);
    h.s.on_connected(h.now);
    h.feed_raw(&[0x20, 2, 0, 1]);
    assert_eq!(
        h.events()[1],
        Event::Disconnected {
            reason: DisconnectReason::Refused(1)
        }
    );
}

/// An unknown return code still reaches on_connect, then is a protocol error (paho).
#[test]
fn connack_unknown_code() {
    let mut h = Harness::new(opts("c"));
    h.s.on_connected(h.now);
    h.feed_raw(&[0x20, 2, 0, 6]);
    let events = h.events();
    assert_eq!(
        events[0],
        Event::ConnectRefused {
            rc: 6,
            session_present: false
        }
    );
    assert!(protocol_error(&events));
}

/// paho's automatic downgrade: 3.1.1 refused with rc 1 retries at once with 3.1.
#[test]
fn refused_protocol_version_downgrades_to_v31() {
    let mut h = Harness::new(opts("cid"));
    h.s.on_connected(h.now);
    h.tx();
    h.feed_raw(&[0x20, 2, 0, 1]);
    assert_eq!(
        h.events(),
        vec![Event::RetryConnect {
            reason: RetryReason::ProtocolDowngrade
        }]
    );
    assert!(!h.s.is_open());
    assert_eq!(h.s.protocol(), ProtocolVersion::V31);
    h.s.on_connected(h.now);
    assert_eq!(&h.tx()[4..10], b"MQIsdp");

    let mut o = opts("cid");
    o.reconnect_on_failure = false;
    let mut h = Harness::new(o);
    h.s.on_connected(h.now);
    h.feed_raw(&[0x20, 2, 0, 1]);
    let events = h.events();
    assert_eq!(events.len(), 1, "no on_connect: {events:?}");
    assert!(protocol_error(&events));
}

/// paho's other retry: an empty client id refused with rc 2 gets a generated 22-char id.
#[test]
fn refused_empty_client_id_gets_generated_id() {
    let mut h = Harness::new(opts(""));
    h.s.on_connected(h.now);
    h.feed_raw(&[0x20, 2, 0, 2]);
    assert_eq!(
        h.events(),
        vec![Event::RetryConnect {
            reason: RetryReason::ClientIdAssigned
        }]
    );
    let id = h.s.client_id().to_vec();
    assert_eq!(id.len(), 22);
    assert!(id.iter().all(u8::is_ascii_alphanumeric));
    h.s.on_connected(h.now);
    let connect = h.tx();
    assert_eq!(&connect[connect.len() - 22..], id.as_slice());
}

// ----- keepalive ---------------------------------------------------------------------------

#[test]
fn keepalive_pings_when_idle_and_times_out_without_pingresp() {
    let mut o = opts("c");
    o.keepalive = 10;
    let mut h = Harness::connected(o);
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(10)));
    h.advance(9);
    assert!(h.tx().is_empty());
    h.advance(1);
    h.expect_tx(vec![wire::Packet::PingReq]);
    h.feed(wire::Packet::PingResp);
    h.advance(9);
    assert!(h.tx().is_empty());
    h.advance(1);
    h.expect_tx(vec![wire::Packet::PingReq]);
    // No PINGRESP this time: half a keepalive later the connection is declared dead (paho
    // waits a whole keepalive), so a dead link is found within 1.5x keepalive of going quiet.
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    h.advance(4);
    assert!(h.events().is_empty());
    h.advance(1);
    assert_eq!(
        h.events(),
        vec![Event::Disconnected {
            reason: DisconnectReason::KeepaliveTimeout
        }]
    );
    assert!(!h.s.is_open());
    assert_eq!(h.s.poll_timeout(), None);
}

/// Outgoing traffic postpones the PINGREQ, but silence from the broker still triggers one.
#[test]
fn keepalive_counts_traffic_in_each_direction() {
    let mut o = opts("c");
    o.keepalive = 10;
    let mut h = Harness::connected(o);
    h.advance(6);
    h.pub_("t", b"", QoS::AtMostOnce);
    h.tx();
    h.feed(publish("in", b"", 0, 0, false));
    h.advance(6);
    assert!(h.tx().is_empty(), "traffic both ways 6 s ago");
    // Keep sending but hear nothing: incoming silence alone triggers the ping.
    h.pub_("t", b"", QoS::AtMostOnce);
    h.tx();
    h.advance(4);
    h.expect_tx(vec![wire::Packet::PingReq]);
}

/// A large message trickling in keeps the link alive without a PINGRESP (paho's
/// test_no_disconnect_during_large_download), and PINGREQ is still sent.
#[test]
fn keepalive_survives_slow_download() {
    let mut o = opts("c");
    o.keepalive = 10;
    let mut h = Harness::connected(o);
    let big = encode(vec![publish("big", &[7u8; 100], 0, 0, false)]);
    let mut buf = BytesMut::new();
    let mut pings = 0;
    for chunk in big.chunks(10) {
        h.now += Duration::from_secs(4);
        buf.extend_from_slice(chunk);
        h.s.handle_bytes(&mut buf, h.now);
        h.s.tick(h.now);
        if h.tx() == [0xC0, 0] {
            pings += 1;
        }
    }
    assert!(pings >= 2, "pinged while downloading");
    let events = h.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(&events[0], Event::Message(m) if m.payload.len() == 100));
}

#[test]
fn no_connack_within_keepalive_times_out() {
    let mut o = opts("c");
    o.keepalive = 5;
    let mut h = Harness::new(o);
    h.s.on_connected(h.now);
    h.tx();
    h.advance(5);
    assert_eq!(
        h.events(),
        vec![Event::Disconnected {
            reason: DisconnectReason::KeepaliveTimeout
        }]
    );
}

#[test]
fn keepalive_zero_never_pings() {
    let mut o = opts("c");
    o.keepalive = 0;
    let mut h = Harness::connected(o);
    assert_eq!(h.s.poll_timeout(), None);
    h.advance(100_000);
    assert!(h.tx().is_empty());
    assert!(h.s.is_open());
}

/// paho answers a PINGREQ from the broker.
#[test]
fn pingreq_from_broker_is_answered() {
    let mut h = Harness::connected(opts("c"));
    h.feed(wire::Packet::PingReq);
    h.expect_tx(vec![wire::Packet::PingResp]);
}

// ----- closing -----------------------------------------------------------------------------

/// DISCONNECT ends the connection when written; anything queued after it is not sent, and
/// unsent QoS 0 publishes are reported dropped.
#[test]
fn user_disconnect() {
    let mut h = Harness::connected(opts("c"));
    let before = h.pub_("t", b"a", QoS::AtMostOnce).mid;
    h.s.disconnect().unwrap();
    let after = h.pub_("t", b"b", QoS::AtMostOnce).mid;
    let q1 = h.pub_("t", b"c", QoS::AtLeastOnce).mid;
    h.expect_tx(vec![
        publish("t", b"a", 0, 0, false),
        wire::Packet::Disconnect,
    ]);
    assert_eq!(
        h.events(),
        vec![
            Event::Published { mid: before },
            Event::Disconnected {
                reason: DisconnectReason::UserRequested
            },
            Event::PublishDropped { mid: after },
        ]
    );
    assert!(!h.s.is_open());
    // The QoS 1 message is kept for the next connection, as in paho.
    assert_eq!(h.s.stored(), 1);
    h.connect();
    h.expect_tx(vec![publish("t", b"c", 1, q1, true)]);
}

/// A connection that dies while DISCONNECT is pending is reported as a normal disconnect.
#[test]
fn loss_while_disconnecting_reports_user_requested() {
    let mut h = Harness::connected(opts("c"));
    h.s.disconnect().unwrap();
    h.s.on_connection_lost(h.now);
    assert_eq!(
        h.events(),
        vec![Event::Disconnected {
            reason: DisconnectReason::UserRequested
        }]
    );
    h.s.on_connection_lost(h.now);
    assert!(h.events().is_empty(), "reported once");
}

#[test]
fn connection_lost_drops_unsent_qos0_and_pending_subscribe_ids() {
    let mut h = Harness::connected(opts("c"));
    let q0 = h.pub_("t", b"", QoS::AtMostOnce).mid;
    let sub =
        h.s.subscribe(vec![("s".to_owned(), QoS::AtMostOnce)])
            .unwrap();
    h.s.on_connection_lost(h.now);
    assert_eq!(
        h.events(),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::ConnectionLost
            },
            Event::PublishDropped { mid: q0 },
        ]
    );
    assert!(h.tx().is_empty());
    h.connect();
    h.s.set_last_mid(sub - 1);
    assert_eq!(
        h.pub_("t", b"", QoS::AtMostOnce).mid,
        sub,
        "the SUBSCRIBE id is free again"
    );
}

#[test]
fn drop_out_messages_empties_the_store() {
    let mut o = opts("c");
    o.max_inflight = 1;
    let mut h = Harness::connected(o);
    h.pub_("a", b"1", QoS::AtLeastOnce);
    h.pub_("b", b"2", QoS::ExactlyOnce);
    let dropped = h.s.drop_out_messages();
    assert_eq!(
        dropped.iter().map(|m| (m.mid, m.qos)).collect::<Vec<_>>(),
        vec![(1, QoS::AtLeastOnce), (2, QoS::ExactlyOnce)]
    );
    assert_eq!((h.s.stored(), h.s.inflight()), (0, 0));
    // The queued PUBLISH of mid 1 is no longer sent.
    assert!(h.tx().is_empty());
    assert_eq!(
        h.pub_("c", b"3", QoS::AtLeastOnce).status,
        PublishStatus::Sent
    );
}

/// paho's own `test_03_publish_c2b_qos2_disconnect` script, packet for packet: PUBLISH, drop,
/// PUBLISH with DUP, PUBREC, PUBREL, drop, PUBREL again, PUBCOMP.
#[test]
fn paho_script_publish_c2b_qos2_disconnect() {
    let mut o = opts("publish-qos2-test");
    o.clean_session = false;
    let mut h = Harness::connected(o);
    let mid = h.pub_("pub/qos2/test", b"message", QoS::ExactlyOnce).mid;
    assert_eq!(mid, 1);
    h.expect_tx(vec![publish("pub/qos2/test", b"message", 2, 1, false)]);
    h.s.on_connection_lost(h.now);
    h.connect();
    h.expect_tx(vec![publish("pub/qos2/test", b"message", 2, 1, true)]);
    h.feed(pubrec(1));
    h.expect_tx(vec![pubrel(1)]);
    h.s.on_connection_lost(h.now);
    h.connect();
    h.expect_tx(vec![pubrel(1)]);
    h.feed(pubcomp(1));
    assert_eq!(h.events(), vec![Event::Published { mid: 1 }]);
    assert_eq!(h.s.stored(), 0);
}
