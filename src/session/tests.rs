//! Scripted packet sequences against the session, compared byte for byte with packets
//! encoded by rumqttc's codecs (or written out by hand where rumqttc cannot encode them).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4 as wire;
use rumqttc::mqttbytes::QoS as WireQoS;

use super::*;

// ----- harness -----------------------------------------------------------------------------

fn encode(packets: Vec<wire::Packet>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for p in packets {
        p.write(&mut buf, usize::MAX).unwrap();
    }
    buf.to_vec()
}

fn wqos(qos: u8) -> WireQoS {
    rumqttc::mqttbytes::qos(qos).unwrap()
}

/// A PUBLISH as the broker or the client would put it on the wire.
fn publish(topic: &str, payload: &[u8], qos: u8, pkid: u16, dup: bool) -> wire::Packet {
    wire::Packet::Publish(wire::Publish {
        dup,
        qos: wqos(qos),
        retain: false,
        topic: topic.to_owned(),
        pkid,
        payload: Bytes::copy_from_slice(payload),
    })
}

fn connack(code: wire::ConnectReturnCode, session_present: bool) -> wire::Packet {
    wire::Packet::ConnAck(wire::ConnAck::new(code, session_present))
}

fn connack_ok() -> wire::Packet {
    connack(wire::ConnectReturnCode::Success, false)
}

fn puback(id: u16) -> wire::Packet {
    wire::Packet::PubAck(wire::PubAck::new(id))
}

fn pubrec(id: u16) -> wire::Packet {
    wire::Packet::PubRec(wire::PubRec::new(id))
}

fn pubrel(id: u16) -> wire::Packet {
    wire::Packet::PubRel(wire::PubRel::new(id))
}

fn pubcomp(id: u16) -> wire::Packet {
    wire::Packet::PubComp(wire::PubComp::new(id))
}

fn opts(client_id: &str) -> SessionOptions {
    SessionOptions {
        client_id: client_id.as_bytes().to_vec(),
        ..SessionOptions::default()
    }
}

/// A session plus a fake clock.
struct Harness {
    s: Session,
    now: Instant,
}

impl Harness {
    fn new(opts: SessionOptions) -> Self {
        Self {
            s: Session::new(opts).unwrap(),
            now: Instant::now(),
        }
    }

    /// Opened, CONNECT written, CONNACK accepted, events drained.
    fn connected(opts: SessionOptions) -> Self {
        let mut h = Self::new(opts);
        h.connect();
        h
    }

    fn connect(&mut self) {
        self.s.on_connected(self.now);
        let connect = self.tx();
        assert_eq!(connect[0], 0x10, "CONNECT first");
        self.feed(connack_ok());
        assert!(self.s.is_connected());
        self.events();
    }

    fn feed(&mut self, packet: wire::Packet) {
        self.feed_raw(&encode(vec![packet]));
    }

    fn feed_raw(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        self.s.handle_bytes(&mut buf, self.now);
    }

    fn tx(&mut self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let n = self.s.poll_transmit(&mut buf, self.now);
        assert_eq!(n, buf.len());
        buf.to_vec()
    }

    fn expect_tx(&mut self, packets: Vec<wire::Packet>) {
        assert_eq!(self.tx(), encode(packets));
    }

    fn events(&mut self) -> Vec<Event> {
        self.s.drain_events().collect()
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.s.tick(self.now);
    }

    fn pub_(&mut self, topic: &str, payload: &[u8], qos: QoS) -> PublishHandle {
        self.s
            .publish(
                topic.to_owned(),
                Bytes::copy_from_slice(payload),
                qos,
                false,
            )
            .unwrap()
    }
}

fn protocol_error(events: &[Event]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::ProtocolError(_)
            }
        )
    })
}

fn connect_bytes(opts: SessionOptions) -> Vec<u8> {
    let mut h = Harness::new(opts);
    h.s.on_connected(h.now);
    h.tx()
}

// ----- CONNECT encoding --------------------------------------------------------------------

/// Where rumqttc can express the CONNECT, our encoder produces exactly its bytes.
#[test]
fn connect_matches_rumqttc_for_v311() {
    let mut o = opts("client-1");
    o.keepalive = 30;
    o.clean_session = false;
    o.username = Some("user".to_owned());
    o.password = Some(b"pass".to_vec());
    o.will = Some(Will {
        topic: "will/t".to_owned(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: true,
    });
    let mut expected = wire::Connect::new("client-1");
    expected.keep_alive = 30;
    expected.clean_session = false;
    expected.set_login("user", "pass");
    expected.last_will = Some(wire::LastWill::new(
        "will/t",
        "gone",
        WireQoS::AtLeastOnce,
        true,
    ));
    assert_eq!(
        connect_bytes(o),
        encode(vec![wire::Packet::Connect(expected)])
    );
}

/// MQTT 3.1 is `MQIsdp` level 3, which rumqttc cannot encode.
#[test]
fn connect_v31_uses_mqisdp_level_3() {
    let mut o = opts("cid");
    o.protocol = ProtocolVersion::V31;
    let expected = [
        0x10, 17, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x02, 0, 60, 0, 3, b'c', b'i', b'd',
    ];
    assert_eq!(connect_bytes(o), expected);
}

/// paho sends an empty client id as a zero-length string.
#[test]
fn connect_empty_client_id_is_zero_length_string() {
    let expected = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0];
    assert_eq!(connect_bytes(opts("")), expected);
}

/// `username_pw_set("u", "")` sets the password flag and sends a zero-length password.
#[test]
fn connect_empty_password_sets_flag_and_zero_length_field() {
    let mut o = opts("c");
    o.username = Some("u".to_owned());
    o.password = Some(Vec::new());
    let expected = [
        0x10, 18, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 60, 0, 1, b'c', 0, 1, b'u', 0, 0,
    ];
    assert_eq!(connect_bytes(o), expected);
}

/// A password without a username is not sent (paho ignores it); binary passwords are fine.
#[test]
fn connect_password_rules_and_bridge_bit() {
    let mut o = opts("c");
    o.password = Some(vec![0xFF]);
    o.bridge_mode = true;
    let expected = [
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 0x84, 0x02, 0, 60, 0, 1, b'c',
    ];
    assert_eq!(connect_bytes(o), expected);

    let mut o = opts("c");
    o.username = Some("u".to_owned());
    o.password = Some(vec![0xFF, 0x00]);
    let bytes = connect_bytes(o);
    assert_eq!(bytes[9], 0xC2);
    assert_eq!(&bytes[bytes.len() - 4..], &[0, 2, 0xFF, 0x00]);
}

/// A will with an empty payload is sent with a zero-length payload field.
#[test]
fn connect_will_with_empty_payload() {
    let mut o = opts("c");
    o.will = Some(Will {
        topic: "w".to_owned(),
        payload: Bytes::new(),
        qos: QoS::ExactlyOnce,
        retain: false,
    });
    let expected = [
        0x10, 18, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x16, 0, 60, 0, 1, b'c', 0, 1, b'w', 0, 0,
    ];
    assert_eq!(connect_bytes(o), expected);
}

#[test]
fn oversized_connect_field_is_refused_at_construction() {
    let mut o = opts("");
    o.client_id = vec![b'a'; 65536];
    assert_eq!(Session::new(o).unwrap_err(), SessionError::PacketTooLarge);
}

// ----- mids --------------------------------------------------------------------------------

/// One counter for everything, QoS 0 included, and the wire id is the mid.
#[test]
fn mid_is_packet_id_and_counter_is_shared() {
    let mut h = Harness::connected(opts("c"));
    let sub =
        h.s.subscribe(vec![("a/#".to_owned(), QoS::AtLeastOnce)])
            .unwrap();
    let unsub = h.s.unsubscribe(vec!["a/#".to_owned()]).unwrap();
    let q1 = h.pub_("t", b"x", QoS::AtLeastOnce);
    let q0 = h.pub_("t", b"y", QoS::AtMostOnce);
    let q2 = h.pub_("t", b"z", QoS::ExactlyOnce);
    assert_eq!((sub, unsub, q1.mid, q0.mid, q2.mid), (1, 2, 3, 4, 5));
    assert_eq!(q1.status, PublishStatus::Sent);
    h.expect_tx(
        vec![
            wire::Packet::Subscribe(wire::Subscribe::new("a/#", WireQoS::AtLeastOnce)),
            wire::Packet::Unsubscribe(wire::Unsubscribe::new("a/#")),
            publish("t", b"x", 1, 3, false),
            publish("t", b"y", 0, 0, false),
            publish("t", b"z", 2, 5, false),
        ]
        .into_iter()
        .map(|p| match p {
            wire::Packet::Subscribe(mut s) => {
                s.pkid = 1;
                wire::Packet::Subscribe(s)
            }
            wire::Packet::Unsubscribe(mut u) => {
                u.pkid = 2;
                wire::Packet::Unsubscribe(u)
            }
            other => other,
        })
        .collect(),
    );
}

/// 65535 wraps to 1, and ids still awaiting an ack are skipped.
#[test]
fn mid_wraps_at_65535_and_skips_ids_in_use() {
    let mut h = Harness::connected(opts("c"));
    assert_eq!(h.pub_("t", b"", QoS::AtLeastOnce).mid, 1); // unacked
    assert_eq!(
        h.s.subscribe(vec![("s".to_owned(), QoS::AtMostOnce)])
            .unwrap(),
        2
    ); // unacked
    h.s.set_last_mid(65534);
    assert_eq!(h.pub_("t", b"", QoS::AtMostOnce).mid, 65535);
    assert_eq!(
        h.pub_("t", b"", QoS::AtMostOnce).mid,
        3,
        "1 and 2 are in use"
    );
    h.tx();
    h.feed(puback(1));
    h.feed(wire::Packet::SubAck(wire::SubAck::new(
        2,
        vec![wire::SubscribeReasonCode::Success(WireQoS::AtMostOnce)],
    )));
    h.s.set_last_mid(65535);
    assert_eq!(
        h.pub_("t", b"", QoS::AtMostOnce).mid,
        1,
        "freed ids are reused"
    );
    assert_eq!(h.s.unsubscribe(vec!["s".to_owned()]).unwrap(), 2);
}

#[test]
fn all_mids_in_use_is_an_error() {
    let mut o = opts("c");
    o.max_inflight = 0;
    let mut h = Harness::connected(o);
    for _ in 0..65535 {
        h.pub_("t", b"", QoS::AtLeastOnce);
    }
    let err =
        h.s.publish("t".to_owned(), Bytes::new(), QoS::AtLeastOnce, false)
            .unwrap_err();
    assert_eq!(err, SessionError::NoFreeMid);
}

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

/// After a reconnect paho re-sends every stored message at CONNACK, window or not, and keeps
/// the queued order.
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
    h.expect_tx(vec![
        publish("t", b"a", 1, 1, true),
        publish("t", b"b", 1, 2, false),
        publish("t", b"c", 2, 3, true),
    ]);
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
            }),
            Event::Message(Message {
                mid: 42,
                topic: Bytes::from_static(b"x/y"),
                payload: Bytes::from_static(b"one"),
                qos: QoS::AtLeastOnce,
                retain: false,
                dup: true,
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
    // No PINGRESP this time: one keepalive later the connection is declared dead.
    h.advance(9);
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
