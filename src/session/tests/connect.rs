//! CONNECT encoding and mid allocation.

use super::*;

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

/// The options' (and so the session's) `Debug` text never shows the password: nothing that logs
/// or panics with it can leak the credential.
#[test]
fn debug_output_hides_the_password() {
    let mut o = opts("c");
    o.username = Some("user".to_owned());
    o.password = Some(b"hunter2-secret".to_vec());
    let session = Session::new(o.clone()).unwrap();
    for text in [format!("{o:?}"), format!("{session:?}")] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("password: Some(\"<hidden>\")"), "{text}");
        assert!(text.contains("\"user\""), "{text}");
    }
}
