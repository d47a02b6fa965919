//! MQTT 5: byte-exact encodings (against paho 2.2's own bytes and hand-assembled packets from
//! the MQTT 5 spec), decoders checked against rumqttc's v5 codecs, CONNACK limits, topic
//! aliases, reason codes, server DISCONNECT, and malformed input.

use rumqttc::v5::mqttbytes::v5 as w5;
use rumqttc::v5::mqttbytes::QoS as W5QoS;

use super::*;

// ----- helpers -----------------------------------------------------------------------------

fn v5_opts(client_id: &str) -> SessionOptions {
    SessionOptions {
        protocol: ProtocolVersion::V5,
        ..opts(client_id)
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A property block: the length byte (all blocks here are under 128 bytes) and the body.
fn block(body: &[u8]) -> Bytes {
    let mut v = vec![u8::try_from(body.len()).unwrap()];
    v.extend_from_slice(body);
    Bytes::from(v)
}

/// A packet: first byte, one-byte remaining length, body.
fn packet(byte1: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![byte1, u8::try_from(body.len()).unwrap()];
    v.extend_from_slice(body);
    v
}

/// CONNACK, session not present, with this reason code and property block.
fn connack5(rc: u8, props: &[u8]) -> Vec<u8> {
    let mut body = vec![0, rc];
    body.extend_from_slice(props);
    packet(0x20, &body)
}

/// A broker PUBLISH: topic, packet id for QoS > 0, property block, payload.
fn publish5(topic: &[u8], qos: u8, pkid: u16, props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = u16::try_from(topic.len()).unwrap().to_be_bytes().to_vec();
    body.extend_from_slice(topic);
    if qos > 0 {
        body.extend_from_slice(&pkid.to_be_bytes());
    }
    body.extend_from_slice(props);
    body.extend_from_slice(payload);
    packet(0x30 | qos << 1, &body)
}

fn user_property(k: &str, v: &str) -> Vec<u8> {
    let mut out = vec![0x26];
    for s in [k, v] {
        out.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

fn reason_string(s: &str) -> Vec<u8> {
    let mut out = vec![0x1F];
    out.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    out
}

impl Harness {
    /// Opened, CONNECT written, this CONNACK fed, events drained.
    fn connect5(&mut self, connack: &[u8]) {
        self.s.on_connected(self.now);
        assert_eq!(self.tx()[0], 0x10, "CONNECT first");
        self.feed_raw(connack);
        assert!(self.s.is_connected(), "{:?}", self.full());
        self.full();
    }

    fn full(&mut self) -> Vec<FullEvent> {
        self.s.drain_full_events().collect()
    }

    fn pub5(&mut self, topic: &str, payload: &[u8], qos: QoS, props: &[u8]) -> PublishHandle {
        self.s
            .publish_with_properties(
                topic.to_owned(),
                Bytes::copy_from_slice(payload),
                qos,
                false,
                Bytes::copy_from_slice(props),
            )
            .unwrap()
    }
}

fn connected5(o: SessionOptions, connack: &[u8]) -> Harness {
    let mut h = Harness::new(o);
    h.connect5(connack);
    h
}

fn full_protocol_error(events: &[FullEvent]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            FullEvent::Disconnected {
                reason: DisconnectReason::ProtocolError(_),
                ..
            }
        )
    })
}

// ----- what paho 2.2 sends -----------------------------------------------------------------

// Captured from paho-mqtt 2.2.0 against a socket server (CONNACK: Topic Alias Maximum 10):
//   c = Client(VERSION2, client_id="c5", protocol=MQTTv5)
//   will_set("w/t", b"bye", qos=1, retain=True, properties=<WillDelayInterval=5>)
//   username_pw_set("u", "p")
//   connect(keepalive=30, clean_start=True,
//           properties=<SessionExpiryInterval=3600, ReceiveMaximum=10>)
//   publish("a/b", b"hi", qos=1, properties=<MessageExpiryInterval=60, UserProperty=("k","v"),
//           TopicAlias=3>)
//   subscribe([("s/#", SubscribeOptions(2, noLocal, retainAsPublished, retainHandling=1)),
//              ("t", SubscribeOptions(0))], properties=<SubscriptionIdentifier=7>)
//   unsubscribe(["s/#"], properties=<UserProperty=("x","y")>)
//   disconnect(ReasonCode(DISCONNECT, "Disconnect with will message"),
//              properties=<SessionExpiryInterval=0>)
const PAHO_CONNECT: &str = "102d00044d51545405ee001e081100000e1021000a000263350518000000050003772f\
                            740003627965000175000170";
const PAHO_PUBLISH: &str = "32190003612f6200010f020000003c2300032600016b0001766869";
const PAHO_SUBSCRIBE: &str = "820f0002020b070003732f231e00017400";
const PAHO_UNSUBSCRIBE: &str = "a20f000307260001780001790003732f23";
const PAHO_DISCONNECT: &str = "e00704051100000000";

fn paho_opts() -> SessionOptions {
    let mut o = v5_opts("c5");
    o.keepalive = 30;
    o.username = Some("u".to_owned());
    o.password = Some(b"p".to_vec());
    o.will = Some(Will {
        topic: "w/t".to_owned(),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: true,
    });
    o
}

fn paho_connect_props() -> ConnectProperties {
    ConnectProperties {
        connect: block(&hex("1100000e1021000a")),
        will: block(&hex("1800000005")),
    }
}

/// CONNECT with CONNECT and will properties, clean start, will, login: paho's bytes.
#[test]
fn connect_matches_paho() {
    let mut h = Harness::new(paho_opts());
    h.s.set_connect_properties(paho_connect_props()).unwrap();
    h.s.on_connected(h.now);
    assert_eq!(h.tx(), hex(PAHO_CONNECT));
}

/// PUBLISH, SUBSCRIBE, UNSUBSCRIBE and DISCONNECT with properties: paho's bytes, mids included.
#[test]
fn requests_match_paho() {
    let mut h = Harness::new(paho_opts());
    h.s.set_connect_properties(paho_connect_props()).unwrap();
    h.connect5(&connack5(0, &block(&[0x22, 0, 10])));

    let props = block(&hex("020000003c2300032600016b000176"));
    assert_eq!(h.pub5("a/b", b"hi", QoS::AtLeastOnce, &props).mid, 1);
    assert_eq!(h.tx(), hex(PAHO_PUBLISH));

    let wanted = SubscribeOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: 1,
    };
    let filters = vec![
        ("s/#".to_owned(), wanted),
        ("t".to_owned(), SubscribeOptions::from(QoS::AtMostOnce)),
    ];
    let mid =
        h.s.subscribe_with_options(filters, block(&[0x0B, 7]))
            .unwrap();
    assert_eq!(mid, 2);
    assert_eq!(h.tx(), hex(PAHO_SUBSCRIBE));

    let mid =
        h.s.unsubscribe_with_properties(vec!["s/#".to_owned()], block(&user_property("x", "y")))
            .unwrap();
    assert_eq!(mid, 3);
    assert_eq!(h.tx(), hex(PAHO_UNSUBSCRIBE));

    h.s.disconnect_with(Some(0x04), block(&[0x11, 0, 0, 0, 0]))
        .unwrap();
    assert_eq!(h.tx(), hex(PAHO_DISCONNECT));
    assert_eq!(
        h.full(),
        vec![FullEvent::Disconnected {
            reason: DisconnectReason::UserRequested,
            server: None
        }]
    );
}

/// Without properties: zero property lengths everywhere (paho writes `b'\x00'`), MQTT 5
/// level, no will properties without a will. MQTT 5 §3.1 example layout, by hand.
#[test]
fn connect_and_publish_without_properties() {
    let bytes = connect_bytes(v5_opts(""));
    assert_eq!(
        bytes,
        [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0, 0, 0]
    );
    // A will without will properties still gets its zero-length block; clean start off.
    let mut o = v5_opts("c");
    o.clean_session = false;
    o.will = Some(Will {
        topic: "w".to_owned(),
        payload: Bytes::new(),
        qos: QoS::AtMostOnce,
        retain: false,
    });
    assert_eq!(
        connect_bytes(o),
        [
            0x10, 20, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x04, 0, 60, 0, 0, 1, b'c', 0, 0, 1, b'w',
            0, 0
        ]
    );

    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    h.pub_("a", b"x", QoS::AtMostOnce);
    assert_eq!(h.tx(), [0x30, 5, 0, 1, b'a', 0, b'x']);
    h.pub_("a", b"", QoS::ExactlyOnce);
    assert_eq!(h.tx(), [0x34, 6, 0, 1, b'a', 0, 2, 0]);
    // Subscribe with a plain QoS: options byte = QoS; unsubscribe: zero properties.
    h.s.subscribe(vec![("f".to_owned(), QoS::AtLeastOnce)])
        .unwrap();
    assert_eq!(h.tx(), [0x82, 7, 0, 3, 0, 0, 1, b'f', 1]);
    h.s.unsubscribe(vec!["f".to_owned()]).unwrap();
    assert_eq!(h.tx(), [0xA2, 6, 0, 4, 0, 0, 1, b'f']);
}

/// DISCONNECT: paho's three shapes (`_send_disconnect`).
#[test]
fn disconnect_forms() {
    let cases: [(Option<u8>, Bytes, &[u8]); 4] = [
        (None, Bytes::new(), &[0xE0, 0]),
        (Some(0), Bytes::new(), &[0xE0, 1, 0]),
        (Some(0x04), Bytes::new(), &[0xE0, 1, 4]),
        (
            None,
            block(&reason_string("r")),
            &[0xE0, 6, 0, 4, 0x1F, 0, 1, b'r'],
        ),
    ];
    for (reason, props, want) in cases {
        let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
        h.s.disconnect_with(reason, props).unwrap();
        assert_eq!(h.tx(), want);
    }
    // MQTT 3 ignores reason and properties.
    let mut h = Harness::connected(opts("c"));
    h.s.disconnect_with(Some(0x04), block(&reason_string("r")))
        .unwrap();
    assert_eq!(h.tx(), [0xE0, 0]);
}

/// MQTT 3 sessions ignore publish and subscribe properties and options: bytes unchanged.
#[test]
fn mqtt3_ignores_v5_extras() {
    let mut h = Harness::connected(opts("c"));
    h.pub5("t", b"p", QoS::AtLeastOnce, &block(&[0x02, 0, 0, 0, 9]));
    h.expect_tx(vec![publish("t", b"p", 1, 1, false)]);
    let o = SubscribeOptions {
        no_local: true,
        ..SubscribeOptions::from(QoS::AtLeastOnce)
    };
    h.s.subscribe_with_options(vec![("f".to_owned(), o)], block(&[0x0B, 1]))
        .unwrap();
    let mut plain = wire::Subscribe::new("f", WireQoS::AtLeastOnce);
    plain.pkid = 2;
    h.expect_tx(vec![wire::Packet::Subscribe(plain)]);
    // An empty topic is still invalid under MQTT 3, even with a Topic Alias.
    let err =
        h.s.publish_with_properties(
            String::new(),
            Bytes::new(),
            QoS::AtMostOnce,
            false,
            block(&[0x23, 0, 1]),
        )
        .unwrap_err();
    assert_eq!(err, RequestError::Session(SessionError::InvalidTopic));
}

// ----- rumqttc's v5 codecs as an independent oracle -----------------------------------------

/// Our PUBLISH is rumqttc's, byte for byte, given the property block rumqttc wrote; rumqttc
/// reads our SUBSCRIBE's options and our UNSUBSCRIBE back.
#[test]
fn encoders_agree_with_rumqttc() {
    let mut theirs = w5::Publish::new("x/y", W5QoS::AtLeastOnce, "data", None);
    theirs.pkid = 1;
    theirs.properties = Some(w5::PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(30),
        response_topic: Some("r".to_owned()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01")),
        user_properties: vec![("a".to_owned(), "b".to_owned())],
        content_type: Some("text/plain".to_owned()),
        ..Default::default()
    });
    let mut expected = BytesMut::new();
    theirs.write(&mut expected).unwrap();
    // Fixed header 2 bytes, topic 5, packet id 2: the block follows, up to the payload.
    let props = &expected[9..expected.len() - 4];
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    h.pub5("x/y", b"data", QoS::AtLeastOnce, props);
    assert_eq!(h.tx(), expected.to_vec());

    let o = SubscribeOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: false,
        retain_handling: 2,
    };
    h.s.subscribe_with_options(vec![("a/+".to_owned(), o)], block(&[0x0B, 0x80, 0x01]))
        .unwrap();
    h.s.unsubscribe_with_properties(vec!["a/+".to_owned(), "b".to_owned()], Bytes::new())
        .unwrap();
    let mut out = BytesMut::from(&h.tx()[..]);
    match w5::Packet::read(&mut out, None).unwrap() {
        w5::Packet::Subscribe(s) => {
            assert_eq!(s.pkid, 2);
            assert_eq!(s.properties.unwrap().id, Some(128));
            let f = &s.filters[0];
            assert_eq!(f.path, "a/+");
            assert_eq!(f.qos, W5QoS::AtLeastOnce);
            assert!(f.nolocal && !f.preserve_retain);
            assert_eq!(f.retain_forward_rule, w5::RetainForwardRule::Never);
        }
        other => panic!("{other:?}"),
    }
    match w5::Packet::read(&mut out, None).unwrap() {
        w5::Packet::Unsubscribe(u) => assert_eq!(u.filters, ["a/+", "b"]),
        other => panic!("{other:?}"),
    }
}

/// CONNACK, PUBLISH and PUBACK written by rumqttc decode to events carrying exactly rumqttc's
/// property bytes.
#[test]
fn decoders_agree_with_rumqttc() {
    let connack = w5::ConnAck {
        session_present: true,
        code: w5::ConnectReturnCode::Success,
        properties: Some(w5::ConnAckProperties {
            session_expiry_interval: Some(10),
            receive_max: Some(5),
            max_qos: Some(1),
            retain_available: Some(1),
            max_packet_size: Some(1000),
            assigned_client_identifier: None,
            topic_alias_max: Some(3),
            reason_string: Some("welcome".to_owned()),
            user_properties: vec![("u".to_owned(), "v".to_owned())],
            wildcard_subscription_available: Some(1),
            subscription_identifiers_available: Some(1),
            shared_subscription_available: Some(0),
            server_keep_alive: Some(20),
            response_information: Some("ri".to_owned()),
            server_reference: Some("sr".to_owned()),
            authentication_method: None,
            authentication_data: None,
        }),
    };
    let mut bytes = BytesMut::new();
    connack.write(&mut bytes).unwrap();
    let mut h = Harness::new(v5_opts("c"));
    h.s.on_connected(h.now);
    h.tx();
    h.feed_raw(&bytes);
    assert_eq!(
        h.full(),
        vec![FullEvent::Connected {
            session_present: true,
            properties: Bytes::copy_from_slice(&bytes[4..]),
        }]
    );
    assert_eq!(h.s.keepalive(), 20);

    let mut p = w5::Publish::new("in/t", W5QoS::AtLeastOnce, "pl", None);
    p.pkid = 9;
    p.properties = Some(w5::PublishProperties {
        subscription_identifiers: vec![1, 300],
        user_properties: vec![("k".to_owned(), "v".to_owned())],
        ..Default::default()
    });
    let mut bytes = BytesMut::new();
    p.write(&mut bytes).unwrap();
    h.feed_raw(&bytes);
    h.expect_tx(vec![puback(9)]);
    assert_eq!(
        h.full(),
        vec![FullEvent::Message(Message {
            mid: 9,
            topic: Bytes::from_static(b"in/t"),
            payload: Bytes::from_static(b"pl"),
            qos: QoS::AtLeastOnce,
            retain: false,
            dup: false,
            properties: Bytes::copy_from_slice(&bytes[10..bytes.len() - 2]),
        })]
    );

    let mid = h.pub_("o", b"", QoS::AtLeastOnce).mid;
    h.tx();
    let mut ack = w5::PubAck::new(mid, None);
    ack.reason = w5::PubAckReason::NoMatchingSubscribers;
    ack.properties = Some(w5::PubAckProperties {
        reason_string: Some("nobody".to_owned()),
        user_properties: Vec::new(),
    });
    let mut bytes = BytesMut::new();
    ack.write(&mut bytes).unwrap();
    h.feed_raw(&bytes);
    assert_eq!(
        h.full(),
        vec![FullEvent::Published {
            mid,
            reason_code: 0x10,
            properties: Bytes::copy_from_slice(&bytes[5..]),
        }]
    );
}

/// SUBACK, UNSUBACK and DISCONNECT written by rumqttc: reason codes and property bytes.
#[test]
fn ack_decoders_agree_with_rumqttc() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    let sub =
        h.s.subscribe(vec![("a".to_owned(), QoS::ExactlyOnce)])
            .unwrap();
    let unsub =
        h.s.unsubscribe(vec!["a".to_owned(), "b".to_owned()])
            .unwrap();
    h.tx();
    let suback = w5::SubAck {
        pkid: sub,
        return_codes: vec![
            w5::SubscribeReasonCode::Success(W5QoS::AtLeastOnce),
            w5::SubscribeReasonCode::NotAuthorized,
        ],
        properties: Some(w5::SubAckProperties {
            reason_string: Some("half".to_owned()),
            user_properties: Vec::new(),
        }),
    };
    let unsuback = w5::UnsubAck {
        pkid: unsub,
        reasons: vec![
            w5::UnsubAckReason::Success,
            w5::UnsubAckReason::NoSubscriptionExisted,
        ],
        properties: None,
    };
    let mut bytes = BytesMut::new();
    suback.write(&mut bytes).unwrap();
    let suback_props = Bytes::copy_from_slice(&bytes[4..bytes.len() - 2]);
    unsuback.write(&mut bytes).unwrap();
    h.feed_raw(&bytes);
    let events = h.full();
    assert_eq!(
        events,
        vec![
            FullEvent::Subscribed {
                mid: sub,
                reason_codes: vec![1, 0x87],
                properties: suback_props,
            },
            FullEvent::Unsubscribed {
                mid: unsub,
                reason_codes: vec![0, 0x11],
                properties: Bytes::from_static(&[0]),
            },
        ]
    );
    // The MQTT 3 view of the same events.
    assert_eq!(
        Event::from(events[0].clone()),
        Event::Subscribed {
            mid: sub,
            granted: vec![1, 0x87]
        }
    );

    let mut d = w5::Disconnect::new(w5::DisconnectReasonCode::ServerShuttingDown);
    d.properties = Some(w5::DisconnectProperties {
        session_expiry_interval: None,
        reason_string: Some("bye".to_owned()),
        user_properties: Vec::new(),
        server_reference: Some("other".to_owned()),
    });
    let mut bytes = BytesMut::new();
    d.write(&mut bytes).unwrap();
    h.feed_raw(&bytes);
    assert_eq!(
        h.full(),
        vec![FullEvent::Disconnected {
            reason: DisconnectReason::ConnectionLost,
            server: Some(ServerDisconnect {
                reason_code: Some(0x8B),
                properties: Bytes::copy_from_slice(&bytes[3..]),
            }),
        }]
    );
    assert!(!h.s.is_open());
}

// ----- CONNACK -----------------------------------------------------------------------------

/// Reason codes of 0x80 and above refuse, with the broker's properties, then Disconnected
/// with `Refused`; a 3.x broker's rc 1 reads as 0x84; no downgrade or generated id in MQTT 5;
/// other codes below 0x80 are no MQTT 5 CONNACK.
#[test]
fn connack_refusals() {
    let props = block(&reason_string("no"));
    for (rc, reported) in [(0x87, 0x87), (0x80, 0x80), (0x9C, 0x9C), (1, 0x84)] {
        let mut h = Harness::new(v5_opts(""));
        h.s.on_connected(h.now);
        h.tx();
        let body = if rc == 1 { Vec::new() } else { props.to_vec() };
        h.feed_raw(&connack5(rc, &body));
        let properties = if rc == 1 { Bytes::new() } else { props.clone() };
        assert_eq!(
            h.full(),
            vec![
                FullEvent::ConnectRefused {
                    reason_code: reported,
                    session_present: false,
                    properties,
                },
                FullEvent::Disconnected {
                    reason: DisconnectReason::Refused(reported),
                    server: None,
                },
            ]
        );
        assert_eq!(h.s.protocol(), ProtocolVersion::V5, "never downgraded");
        assert!(h.s.client_id().is_empty(), "no generated id");
    }
    // The MQTT 3 view.
    let mut h = Harness::new(v5_opts("c"));
    h.s.on_connected(h.now);
    h.tx();
    h.feed_raw(&connack5(0x86, &[0]));
    assert_eq!(
        h.events(),
        vec![
            Event::ConnectRefused {
                rc: 0x86,
                session_present: false
            },
            Event::Disconnected {
                reason: DisconnectReason::Refused(0x86)
            }
        ]
    );
    for rc in [2, 5, 0x7F] {
        let mut h = Harness::new(v5_opts("c"));
        h.s.on_connected(h.now);
        h.tx();
        h.feed_raw(&connack5(rc, &[0]));
        let events = h.full();
        assert!(full_protocol_error(&events), "rc {rc}: {events:?}");
    }
}

/// Server Keep Alive replaces ours for that connection only.
#[test]
fn server_keep_alive_overrides_keepalive() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &block(&[0x13, 0, 5])));
    assert_eq!(h.s.keepalive(), 5);
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    h.advance(5);
    assert_eq!(h.tx(), [0xC0, 0]);
    h.advance(5);
    assert!(!h.s.is_open(), "no PINGRESP within the server's keepalive");
    // The next connection starts with ours again.
    h.s.on_connected(h.now);
    assert_eq!(h.s.keepalive(), 60);
    h.tx();
    h.feed_raw(&connack5(0, &[0]));
    assert_eq!(h.s.keepalive(), 60);
}

/// Receive Maximum caps the in-flight window below `max_inflight`; `max_inflight` still
/// applies when it is the smaller.
#[test]
fn receive_maximum_caps_inflight() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &block(&[0x21, 0, 2])));
    let mids: Vec<u16> = (0..3)
        .map(|_| h.pub_("t", b"m", QoS::AtLeastOnce).mid)
        .collect();
    assert_eq!(h.s.inflight(), 2);
    let sent = h.tx();
    assert_eq!(sent.len(), 2 * 9, "two PUBLISHes of 9 bytes");
    h.feed_raw(&[0x40, 2, 0, 1]);
    assert_eq!(h.s.inflight(), 2);
    assert_eq!(h.tx(), [0x32, 7, 0, 1, b't', 0, 3, 0, b'm']);
    assert_eq!(mids, [1, 2, 3]);

    let mut o = v5_opts("c");
    o.max_inflight = 1;
    let mut h = connected5(o, &connack5(0, &block(&[0x21, 0, 5])));
    h.pub_("t", b"", QoS::AtLeastOnce);
    h.pub_("t", b"", QoS::AtLeastOnce);
    assert_eq!(h.s.inflight(), 1);

    // max_inflight 0 (unlimited) takes the broker's value.
    let mut o = v5_opts("c");
    o.max_inflight = 0;
    let mut h = connected5(o, &connack5(0, &block(&[0x21, 0, 1])));
    h.pub_("t", b"", QoS::ExactlyOnce);
    let second = h.pub_("t", b"", QoS::ExactlyOnce);
    assert_eq!(second.status, PublishStatus::Queued);
}

/// Messages re-sent at CONNACK respect the new connection's Receive Maximum, and the rest
/// follow in order as acks come in (MQTT 3 re-sends them all, as paho does).
#[test]
fn receive_maximum_at_reconnect_resend() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    for _ in 0..3 {
        h.pub_("t", b"", QoS::AtLeastOnce);
    }
    h.tx();
    h.s.on_connection_lost(h.now);
    h.full();
    h.s.on_connected(h.now);
    h.tx();
    h.feed_raw(&connack5(0, &block(&[0x21, 0, 1])));
    // DUP PUBLISH of mid 1 only.
    assert_eq!(h.tx(), [0x3A, 6, 0, 1, b't', 0, 1, 0]);
    h.feed_raw(&[0x40, 2, 0, 1]);
    assert_eq!(h.tx(), [0x3A, 6, 0, 1, b't', 0, 2, 0]);
    h.feed_raw(&[0x40, 2, 0, 2]);
    assert_eq!(h.tx(), [0x3A, 6, 0, 1, b't', 0, 3, 0]);
    assert_eq!(h.s.inflight(), 1);
}

/// Maximum Packet Size: a publish the broker would refuse is refused at the call while
/// connected; one stored earlier fails with 0x95 instead of being sent. Subscribe too.
#[test]
fn maximum_packet_size() {
    let mut h = Harness::new(v5_opts("c"));
    // Stored while disconnected: 20-byte payload, 28 bytes on the wire.
    let early = h.pub_("t", &[0; 20], QoS::AtLeastOnce);
    assert_eq!(early.status, PublishStatus::NotConnected);
    h.connect5(&connack5(0, &block(&[0x27, 0, 0, 0, 20])));
    assert_eq!(h.tx(), Vec::<u8>::new(), "not sent");
    assert_eq!(h.s.stored(), 0);
    // (connect5 drained the events; reconnect to see them.)
    let mut h = Harness::new(v5_opts("c"));
    let early = h.pub_("t", &[0; 20], QoS::AtLeastOnce).mid;
    h.s.on_connected(h.now);
    h.tx();
    h.feed_raw(&connack5(0, &block(&[0x27, 0, 0, 0, 20])));
    assert_eq!(h.tx(), Vec::<u8>::new());
    let events = h.full();
    assert_eq!(
        events[1],
        FullEvent::Published {
            mid: early,
            reason_code: 0x95,
            properties: Bytes::new()
        }
    );
    assert_eq!(h.s.inflight(), 0);

    // Exactly 20 bytes goes out; 21 is refused.
    let ok = h.pub_("t", &[0; 12], QoS::AtLeastOnce);
    assert_eq!(ok.status, PublishStatus::Sent);
    assert_eq!(h.tx().len(), 20);
    let err =
        h.s.publish(
            "t".to_owned(),
            Bytes::from(vec![0; 13]),
            QoS::AtLeastOnce,
            false,
        )
        .unwrap_err();
    assert_eq!(err, SessionError::PacketTooLarge);
    let err =
        h.s.subscribe(vec![("f".repeat(20), QoS::AtMostOnce)])
            .unwrap_err();
    assert_eq!(err, SessionError::PacketTooLarge);
}

/// Assigned Client Identifier replaces an empty id for later CONNECTs, never a chosen one.
#[test]
fn assigned_client_identifier() {
    let assigned = [0x12, 0, 3, b's', b'r', b'v'];
    let mut h = connected5(v5_opts(""), &connack5(0, &block(&assigned)));
    assert_eq!(h.s.client_id(), b"srv");
    h.s.on_connected(h.now);
    let connect = h.tx();
    assert_eq!(&connect[connect.len() - 5..], [0, 3, b's', b'r', b'v']);

    let h = connected5(v5_opts("mine"), &connack5(0, &block(&assigned)));
    assert_eq!(h.s.client_id(), b"mine");
}

/// Clean Start off with a Session Expiry Interval, as paho's `clean_start=False`.
#[test]
fn clean_start_and_session_expiry() {
    let mut o = v5_opts("c");
    o.clean_session = false;
    let mut h = Harness::new(o);
    h.s.set_connect_properties(ConnectProperties {
        connect: block(&[0x11, 0xFF, 0xFF, 0xFF, 0xFF]),
        will: Bytes::new(),
    })
    .unwrap();
    h.s.on_connected(h.now);
    assert_eq!(
        h.tx(),
        [
            0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x00, 0, 60, 5, 0x11, 0xFF, 0xFF, 0xFF,
            0xFF, 0, 1, b'c'
        ]
    );
}

// ----- topic aliases -----------------------------------------------------------------------

/// Outgoing aliases are the user's (paho leaves them to the user): checked against the
/// broker's Topic Alias Maximum, an empty topic needs an alias given a topic before, and after
/// a reconnect the full topic is sent again (the broker forgot the alias).
#[test]
fn outgoing_topic_alias() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &block(&[0x22, 0, 2])));
    let alias1 = block(&[0x23, 0, 1]);
    h.pub5("a/b", b"1", QoS::AtMostOnce, &alias1);
    assert_eq!(
        h.tx(),
        [0x30, 10, 0, 3, b'a', b'/', b'b', 3, 0x23, 0, 1, b'1']
    );
    h.pub5("", b"2", QoS::AtLeastOnce, &alias1);
    assert_eq!(h.tx(), [0x32, 9, 0, 0, 0, 2, 3, 0x23, 0, 1, b'2']);

    let bad = |h: &mut Harness, topic: &str, alias: u8| {
        h.s.publish_with_properties(
            topic.to_owned(),
            Bytes::new(),
            QoS::AtMostOnce,
            false,
            block(&[0x23, 0, alias]),
        )
        .unwrap_err()
    };
    let invalid_topic = RequestError::Session(SessionError::InvalidTopic);
    assert_eq!(bad(&mut h, "x", 3), invalid_topic, "above the broker's max");
    assert_eq!(
        bad(&mut h, "", 2),
        invalid_topic,
        "alias never given a topic"
    );
    assert!(matches!(
        bad(&mut h, "x", 0),
        RequestError::InvalidProperties(_)
    ));

    // Mid 2 (empty topic, alias 1) is unacknowledged: after a reconnect it goes with its
    // topic and DUP; with no aliases allowed any more, without the alias.
    h.s.on_connection_lost(h.now);
    h.s.on_connected(h.now);
    h.tx();
    h.feed_raw(&connack5(0, &block(&[0x22, 0, 2])));
    assert_eq!(
        h.tx(),
        [0x3A, 12, 0, 3, b'a', b'/', b'b', 0, 2, 3, 0x23, 0, 1, b'2']
    );
    h.s.on_connection_lost(h.now);
    h.s.on_connected(h.now);
    h.tx();
    h.feed_raw(&connack5(0, &[0]));
    assert_eq!(h.tx(), [0x3A, 9, 0, 3, b'a', b'/', b'b', 0, 2, 0, b'2']);
}

/// A PUBLISH that sets an alias but is not sent (larger than the broker's Maximum Packet
/// Size) does not teach the broker the alias: the next message with an empty topic and that
/// alias goes with its topic. Found by the model fuzzer (`fuzz/model.rs`): the alias used to be
/// recorded before the size check, and the broker then got an empty topic with an alias it
/// had never seen, a protocol error that makes it disconnect.
#[test]
fn alias_of_an_unsent_publish_is_not_used() {
    let mut h = Harness::new(v5_opts("c"));
    let alias1 = block(&[0x23, 0, 1]);
    // Stored while disconnected: the first sets alias 1 to "a", the second uses it.
    h.pub5("a", &[b'x'; 200], QoS::AtLeastOnce, &alias1);
    h.pub5("", b"2", QoS::AtLeastOnce, &alias1);
    h.s.on_connected(h.now);
    h.tx();
    // Maximum Packet Size 30, Topic Alias Maximum 1.
    h.feed_raw(&connack5(0, &block(&[0x27, 0, 0, 0, 30, 0x22, 0, 1])));
    assert_eq!(
        h.tx(),
        [0x32, 10, 0, 1, b'a', 0, 2, 3, 0x23, 0, 1, b'2'],
        "the full topic, since the broker never saw alias 1 set"
    );
    assert_eq!(
        h.full()[1],
        FullEvent::Published {
            mid: 1,
            reason_code: 0x95,
            properties: Bytes::new(),
        }
    );
    // Now the broker knows it.
    h.pub5("", b"3", QoS::AtMostOnce, &alias1);
    assert_eq!(h.tx(), [0x30, 7, 0, 0, 3, 0x23, 0, 1, b'3']);
}

/// Incoming aliases: a topic with an alias records it, an empty topic gets it filled in (the
/// properties keep the alias, as paho's `msg.properties` does); unknown, zero, above our Topic
/// Alias Maximum, or an empty topic without alias are protocol errors; a reconnect forgets.
#[test]
fn incoming_topic_alias() {
    let o = v5_opts("c");
    let mut h = Harness::new(o.clone());
    h.s.set_connect_properties(ConnectProperties {
        connect: block(&[0x22, 0, 5]),
        will: Bytes::new(),
    })
    .unwrap();
    h.connect5(&connack5(0, &[0]));
    let alias1 = block(&[0x23, 0, 1]);
    h.feed_raw(&publish5(b"x/y", 0, 0, &alias1, b"a"));
    h.feed_raw(&publish5(b"", 0, 0, &alias1, b"b"));
    let events = h.full();
    let topics: Vec<&[u8]> = events
        .iter()
        .map(|e| match e {
            FullEvent::Message(m) => {
                assert_eq!(m.properties, alias1);
                &m.topic[..]
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(topics, [b"x/y", b"x/y"]);

    let reconnect = |h: &mut Harness| {
        h.s.on_connected(h.now);
        h.tx();
        h.feed_raw(&connack5(0, &[0]));
        h.full();
    };
    let bad: [(&[u8], &[u8]); 4] = [
        (b"", &[0x23, 0, 2]),  // unknown
        (b"t", &[0x23, 0, 0]), // zero
        (b"t", &[0x23, 0, 6]), // above our maximum
        (b"", &[]),            // empty topic, no alias
    ];
    for (topic, props) in bad {
        reconnect(&mut h);
        h.feed_raw(&publish5(topic, 0, 0, &block(props), b""));
        assert!(full_protocol_error(&h.full()), "{topic:?} {props:?}");
    }
    reconnect(&mut h);
    h.feed_raw(&publish5(b"", 0, 0, &alias1, b""));
    assert!(
        full_protocol_error(&h.full()),
        "aliases die with the connection"
    );

    // Without a Topic Alias Maximum of ours, any alias is an error.
    let mut h = connected5(o, &connack5(0, &[0]));
    h.feed_raw(&publish5(b"t", 0, 0, &alias1, b""));
    assert!(full_protocol_error(&h.full()));
}

// ----- publish acknowledgements ------------------------------------------------------------

/// Short forms, reason codes below 0x80 (success), failures with properties: every ack
/// completes the message with its reason, as paho's `on_publish` reports it. A PUBREC failure
/// ends the QoS 2 flow without PUBREL (MQTT 5 §4.3.3).
#[test]
fn publish_ack_reason_codes() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    let m1 = h.pub_("t", b"", QoS::AtLeastOnce).mid;
    let m2 = h.pub_("t", b"", QoS::AtLeastOnce).mid;
    let m3 = h.pub_("t", b"", QoS::ExactlyOnce).mid;
    let m4 = h.pub_("t", b"", QoS::ExactlyOnce).mid;
    h.tx();
    let why = block(&reason_string("quota"));
    let mut puback_fail = vec![0, 2, 0x97];
    puback_fail.extend_from_slice(&why);
    h.feed_raw(&[0x40, 2, 0, 1]); // short form
    h.feed_raw(&packet(0x40, &puback_fail));
    h.feed_raw(&[0x50, 3, 0, 3, 0x80]); // PUBREC failure, reason only
    h.feed_raw(&[0x50, 4, 0, 4, 0x00, 0]); // PUBREC success, empty properties
    assert_eq!(h.tx(), [0x62, 2, 0, 4], "PUBREL for m4 only");
    h.feed_raw(&[0x70, 3, 0, 4, 0x92]);
    let published = |mid, reason_code, properties| FullEvent::Published {
        mid,
        reason_code,
        properties,
    };
    assert_eq!(
        h.full(),
        vec![
            published(m1, 0, Bytes::new()),
            published(m2, 0x97, why),
            published(m3, 0x80, Bytes::new()),
            published(m4, 0x92, Bytes::new()),
        ]
    );
    assert_eq!((h.s.inflight(), h.s.stored()), (0, 0));
}

/// Inbound QoS 2 under MQTT 5: PUBREL with a reason code still delivers (paho ignores it).
#[test]
fn inbound_qos2_v5() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    h.feed_raw(&publish5(b"q", 2, 5, &[0], b"x"));
    assert_eq!(h.tx(), [0x50, 2, 0, 5]);
    h.feed_raw(&[0x62, 3, 0, 5, 0x92]);
    assert_eq!(h.tx(), [0x70, 2, 0, 5]);
    assert!(
        matches!(&h.full()[..], [FullEvent::Message(m)] if m.mid == 5 && m.properties[..] == [0])
    );
}

// ----- server DISCONNECT, AUTH -------------------------------------------------------------

/// A server DISCONNECT ends the connection with its reason and properties; the empty form
/// means "Normal disconnection"; the MQTT 3 view is a lost connection.
#[test]
fn server_disconnect() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    h.feed_raw(&[0xE0, 0]);
    assert_eq!(
        h.full(),
        vec![FullEvent::Disconnected {
            reason: DisconnectReason::ConnectionLost,
            server: Some(ServerDisconnect {
                reason_code: None,
                properties: Bytes::new()
            }),
        }]
    );
    let props = block(&reason_string("takeover"));
    let mut body = vec![0x8E];
    body.extend_from_slice(&props);
    for (bytes, code, properties) in [
        (vec![0xE0, 1, 0x81], 0x81, Bytes::new()),
        (packet(0xE0, &body), 0x8E, props.clone()),
    ] {
        let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
        h.pub_("t", b"", QoS::AtLeastOnce);
        h.feed_raw(&bytes);
        let events = h.full();
        assert_eq!(
            events,
            vec![FullEvent::Disconnected {
                reason: DisconnectReason::ConnectionLost,
                server: Some(ServerDisconnect {
                    reason_code: Some(code),
                    properties
                }),
            }]
        );
        assert_eq!(h.s.stored(), 1, "kept for the next connection");
        assert_eq!(
            Event::from(events[0].clone()),
            Event::Disconnected {
                reason: DisconnectReason::ConnectionLost
            }
        );
    }
    // Before CONNACK too (MQTT forbids it, but the reason is what matters).
    let mut h = Harness::new(v5_opts("c"));
    h.s.on_connected(h.now);
    h.tx();
    h.feed_raw(&[0xE0, 1, 0x87]);
    assert!(matches!(
        &h.full()[..],
        [FullEvent::Disconnected { server: Some(s), .. }] if s.reason_code == Some(0x87)
    ));
    // MQTT 3 has no server DISCONNECT.
    let mut h = Harness::connected(opts("c"));
    h.feed_raw(&[0xE0, 0]);
    assert!(protocol_error(&h.events()));
}

/// AUTH (enhanced authentication) is not supported: a protocol error, as paho's missing
/// handler makes it.
#[test]
fn auth_is_a_protocol_error() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    h.feed_raw(&[0xF0, 0]);
    let events = h.full();
    assert!(
        matches!(&events[..], [FullEvent::Disconnected { reason: DisconnectReason::ProtocolError(why), .. }] if why.contains("AUTH")),
        "{events:?}"
    );
}

// ----- malformed input ---------------------------------------------------------------------

/// Every malformed MQTT 5 packet is a protocol error, never a panic.
#[test]
fn malformed_v5_packets_are_protocol_errors() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "property length overruns",
            publish5(b"t", 0, 0, &[5, 1, 1], b""),
        ),
        ("truncated VBI", packet(0x30, &[0, 1, b't', 0x80, 0x80])),
        (
            "5-byte VBI",
            packet(0x30, &[0, 1, b't', 0x80, 0x80, 0x80, 0x80, 0x01]),
        ),
        (
            "unknown property",
            publish5(b"t", 0, 0, &block(&[0x7F, 0]), b""),
        ),
        (
            "not allowed in PUBACK",
            packet(0x40, &[0, 1, 0, 3, 0x23, 0, 1]),
        ),
        (
            "repeated",
            publish5(b"t", 0, 0, &block(&[0x01, 0, 0x01, 1]), b""),
        ),
        (
            "flag out of range",
            publish5(b"t", 0, 0, &block(&[0x01, 2]), b""),
        ),
        (
            "truncated value",
            publish5(b"t", 0, 0, &block(&[0x02, 0, 0]), b""),
        ),
        (
            "non-UTF-8 string",
            publish5(b"t", 0, 0, &block(&[0x03, 0, 1, 0xFF]), b""),
        ),
        ("no properties", packet(0x30, &[0, 1, b't'])),
        ("topic overruns", packet(0x30, &[0, 9, b't'])),
        ("QoS 3", packet(0x36, &[0, 1, b't', 0, 1, 0])),
        ("PUBACK short", packet(0x40, &[0])),
        ("ack trailing bytes", packet(0x40, &[0, 1, 0, 0, 7])),
        ("SUBACK no codes", packet(0x90, &[0, 1, 0])),
        ("UNSUBACK no codes", packet(0xB0, &[0, 1, 0])),
        ("SUBACK bad props", packet(0x90, &[0, 1, 9, 0])),
        ("PUBREL flags", packet(0x60, &[0, 1])),
        ("PUBACK flags", packet(0x42, &[0, 1])),
        ("PINGRESP body", packet(0xD0, &[0])),
        ("DISCONNECT bad props", packet(0xE0, &[0x80, 3, 0x1F])),
        ("reserved type 0", packet(0x00, &[])),
        ("CONNACK again", connack5(0, &[0])),
    ];
    for (what, bytes) in cases {
        let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
        h.feed_raw(&bytes);
        let events = h.full();
        assert!(full_protocol_error(&events), "{what}: {events:?}");
        assert!(!h.s.is_open(), "{what}");
    }
    let connacks: Vec<(&str, Vec<u8>)> = vec![
        ("CONNACK short", packet(0x20, &[0])),
        ("CONNACK trailing", connack5(0, &[0, 0])),
        ("Receive Maximum 0", connack5(0, &block(&[0x21, 0, 0]))),
        (
            "Maximum Packet Size 0",
            connack5(0, &block(&[0x27, 0, 0, 0, 0])),
        ),
        ("Topic Alias in CONNACK", connack5(0, &block(&[0x23, 0, 1]))),
        (
            "reason string not UTF-8",
            connack5(0x80, &block(&[0x1F, 0, 1, 0xC0])),
        ),
    ];
    for (what, bytes) in connacks {
        let mut h = Harness::new(v5_opts("c"));
        h.s.on_connected(h.now);
        h.tx();
        h.feed_raw(&bytes);
        let events = h.full();
        assert!(full_protocol_error(&events), "{what}: {events:?}");
    }
}

/// Arbitrary bytes never panic an MQTT 5 session either.
#[test]
fn random_bytes_never_panic_v5() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..3000 {
        let mut h = Harness::new(v5_opts("c"));
        h.s.set_connect_properties(ConnectProperties {
            connect: block(&[0x22, 0, 3]),
            will: Bytes::new(),
        })
        .unwrap();
        h.s.on_connected(h.now);
        if round % 2 == 0 {
            h.feed_raw(&connack5(0, &[0]));
        }
        let len = usize::try_from(next() % 48).unwrap();
        let mut bytes: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        if bytes.len() >= 2 {
            bytes[0] = (bytes[0] & 0x0F) | (u8::try_from(next() % 16).unwrap() << 4);
            // A remaining length that fits, so the decoders (not the framing) see the bytes.
            bytes[1] = u8::try_from(bytes.len() - 2).unwrap();
        }
        let mut buf = BytesMut::from(&bytes[..]);
        h.s.handle_bytes(&mut buf, h.now);
        h.tx();
        h.full();
    }
}

// ----- request validation ------------------------------------------------------------------

/// Property blocks that are malformed for their packet are refused before anything is queued
/// or a mid is used.
#[test]
fn malformed_request_properties_are_refused() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    let publish = |h: &mut Harness, props: &[u8]| {
        h.s.publish_with_properties(
            "t".to_owned(),
            Bytes::new(),
            QoS::AtMostOnce,
            false,
            Bytes::copy_from_slice(props),
        )
    };
    for props in [
        vec![3, 0x02, 0],                    // length says 3, 2 follow
        block(&[0x11, 0, 0, 0, 1]).to_vec(), // Session Expiry not in PUBLISH
        block(&[0x0B, 1]).to_vec(),          // Subscription Identifier from a client
        vec![0x80],                          // truncated length
    ] {
        assert!(
            matches!(
                publish(&mut h, &props),
                Err(RequestError::InvalidProperties(_))
            ),
            "{props:?}"
        );
    }
    assert!(h
        .s
        .subscribe_with_options(
            vec![("f".to_owned(), QoS::AtMostOnce.into())],
            block(&[0x21, 0, 1])
        )
        .is_err());
    let rh3 = SubscribeOptions {
        retain_handling: 3,
        ..QoS::AtMostOnce.into()
    };
    assert!(h
        .s
        .subscribe_with_options(vec![("f".to_owned(), rh3)], Bytes::new())
        .is_err());
    assert!(h
        .s
        .unsubscribe_with_properties(vec!["f".to_owned()], block(&[0x0B, 1]))
        .is_err());
    assert!(h.s.disconnect_with(None, block(&[0x23, 0, 1])).is_err());
    assert!(h
        .s
        .set_connect_properties(ConnectProperties {
            connect: block(&[0x18, 0, 0, 0, 1]), // Will Delay belongs to the will
            will: Bytes::new(),
        })
        .is_err());
    assert_eq!(h.tx(), Vec::<u8>::new(), "nothing queued");
    assert_eq!(h.pub_("t", b"", QoS::AtLeastOnce).mid, 1, "no mid used");
}

/// The options byte round-trips for every valid value and refuses the others.
#[test]
fn subscribe_options_byte() {
    let mut valid = 0;
    for byte in 0..=255u8 {
        match SubscribeOptions::from_byte(byte) {
            Some(o) => {
                valid += 1;
                assert_eq!(o.to_byte(), byte);
            }
            None => assert!(byte & 0xC0 != 0 || byte & 0x03 == 3 || (byte >> 4) & 0x03 == 3),
        }
    }
    assert_eq!(valid, 3 * 2 * 2 * 3);
}

// ----- property blocks ---------------------------------------------------------------------

/// Blocks over 127 bytes (two-byte property length) encode as rumqttc encodes them and decode
/// back to the same bytes.
#[test]
fn long_property_block_round_trip() {
    let mut theirs = w5::Publish::new("t", W5QoS::AtLeastOnce, "", None);
    theirs.pkid = 1;
    theirs.properties = Some(w5::PublishProperties {
        user_properties: vec![("k".to_owned(), "v".repeat(200))],
        ..Default::default()
    });
    let mut expected = BytesMut::new();
    theirs.write(&mut expected).unwrap();
    // Fixed header 3 bytes (two-byte remaining length), topic 3, packet id 2.
    let props = Bytes::copy_from_slice(&expected[8..]);
    assert_eq!(props.len(), 2 + 1 + 2 + 1 + 2 + 200);
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    h.pub5("t", b"", QoS::AtLeastOnce, &props);
    assert_eq!(h.tx(), expected.to_vec());

    h.feed_raw(&expected);
    match &h.full()[..] {
        [FullEvent::Message(m)] => assert_eq!(m.properties, props),
        other => panic!("{other:?}"),
    }
}

/// Variable Byte Integers at every length boundary, and the five-byte form refused.
#[test]
fn variable_byte_integers() {
    use crate::session::properties::{put_vbi, read_vbi, vbi_len};
    for (value, len) in [
        (0, 1),
        (127, 1),
        (128, 2),
        (16_383, 2),
        (16_384, 3),
        (2_097_151, 3),
        (2_097_152, 4),
        (268_435_455, 4),
    ] {
        let mut buf = Vec::new();
        put_vbi(&mut buf, value);
        assert_eq!((buf.len(), vbi_len(value)), (len, len), "{value}");
        assert_eq!(read_vbi(&buf, 0), Some((value, len)));
    }
    assert_eq!(read_vbi(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01], 0), None);
    assert_eq!(read_vbi(&[0x80], 0), None);
}

/// What may repeat: User Property anywhere, Subscription Identifier in a broker's PUBLISH
/// only; `without` drops just the named property.
#[test]
fn property_rules() {
    use crate::session::properties::{self, parse, without};
    let mut body = user_property("a", "1");
    body.extend(user_property("a", "2"));
    body.extend([0x0B, 1, 0x0B, 0x80, 0x02]);
    let publish = block(&body);
    assert_eq!(parse(&publish, properties::PUBLISH).unwrap().len(), 4);
    assert!(parse(&block(&[0x0B, 1, 0x0B, 2]), properties::SUBSCRIBE).is_err());
    assert!(
        parse(&block(&[0x0B, 0]), properties::SUBSCRIBE).is_err(),
        "id 0"
    );

    let mut body = vec![0x02, 0, 0, 0, 5, 0x23, 0, 7];
    body.extend(user_property("k", "v"));
    let mut kept = vec![0x02, 0, 0, 0, 5];
    kept.extend(user_property("k", "v"));
    assert_eq!(
        without(&block(&body), properties::TOPIC_ALIAS),
        block(&kept)
    );
    assert_eq!(
        without(&block(&kept), properties::TOPIC_ALIAS),
        block(&kept)
    );
    assert_eq!(
        without(&block(&[0x23, 0, 1]), properties::TOPIC_ALIAS),
        block(&[])
    );
}

/// The Topic Alias Maximum we declare holds for the connection it was sent on: setting new
/// CONNECT properties mid-connection changes the next one only.
#[test]
fn declared_alias_maximum_is_per_connection() {
    let mut h = connected5(v5_opts("c"), &connack5(0, &[0]));
    h.s.set_connect_properties(ConnectProperties {
        connect: block(&[0x22, 0, 4]),
        will: Bytes::new(),
    })
    .unwrap();
    let alias = block(&[0x23, 0, 1]);
    h.feed_raw(&publish5(b"t", 0, 0, &alias, b""));
    assert!(full_protocol_error(&h.full()));
    h.connect5(&connack5(0, &[0]));
    h.feed_raw(&publish5(b"t", 0, 0, &alias, b""));
    assert!(matches!(&h.full()[..], [FullEvent::Message(_)]));
}

/// A QoS 0 publish queued before CONNACK and larger than the Maximum Packet Size it brings
/// is not sent, and reported as failed so its waiter is released.
#[test]
fn qos0_over_maximum_packet_size_learned_at_connack() {
    let mut h = Harness::new(v5_opts("c"));
    h.s.on_connected(h.now);
    h.tx();
    let mid = h.pub_("t", &[0; 50], QoS::AtMostOnce).mid;
    h.feed_raw(&connack5(0, &block(&[0x27, 0, 0, 0, 40])));
    assert_eq!(h.tx(), Vec::<u8>::new());
    assert_eq!(
        h.full()[1..],
        [FullEvent::Published {
            mid,
            reason_code: 0x95,
            properties: Bytes::new()
        }]
    );
}
