//! The wire on both sides of the fuzzed session: an encoder for every packet a broker may send,
//! with any field value (MQTT 3.1.1 and 5), proptest strategies that generate such packets, and
//! a parser that accepts the client's output only if it is a sequence of well-formed client
//! packets.
//!
//! The broker's packets are assembled by hand rather than with rumqttc's encoders: those cannot
//! write every reason code or property block a broker may send, and the session's decoders are
//! already compared with rumqttc's in `mqtt5.rs`. The client's output, on the other hand, is read
//! with rumqttc's decoders, an implementation independent of the session's encoders.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rumqttc::mqttbytes::v4 as wire;
use rumqttc::v5::mqttbytes::v5 as w5;

// ----- encoding ----------------------------------------------------------------------------

/// Appends MQTT's Variable Byte Integer.
pub(super) fn put_vbi(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = u8::try_from(n & 0x7F).unwrap();
        n >>= 7;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

/// A whole packet: first byte, remaining length, body.
pub(super) fn frame(byte1: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![byte1];
    put_vbi(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
    out.extend_from_slice(s);
}

/// An MQTT 5 property block from encoded properties: the length, then the properties.
pub(super) fn block(props: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = props.concat();
    let mut out = Vec::new();
    put_vbi(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// MQTT 5 properties, encoded one by one (identifier and value).
pub(super) mod property {
    use super::{put_str, put_vbi};

    pub(crate) fn byte(id: u8, v: u8) -> Vec<u8> {
        vec![id, v]
    }
    pub(crate) fn u16(id: u8, v: u16) -> Vec<u8> {
        let mut out = vec![id];
        out.extend_from_slice(&v.to_be_bytes());
        out
    }
    pub(crate) fn u32(id: u8, v: u32) -> Vec<u8> {
        let mut out = vec![id];
        out.extend_from_slice(&v.to_be_bytes());
        out
    }
    pub(crate) fn vbi(id: u8, v: usize) -> Vec<u8> {
        let mut out = vec![id];
        put_vbi(&mut out, v);
        out
    }
    pub(crate) fn string(id: u8, s: &[u8]) -> Vec<u8> {
        let mut out = vec![id];
        put_str(&mut out, s);
        out
    }
    pub(crate) fn user(k: &[u8], v: &[u8]) -> Vec<u8> {
        let mut out = vec![0x26];
        put_str(&mut out, k);
        put_str(&mut out, v);
        out
    }
}

/// The packets a broker sends, with every field free. `props` are MQTT 5 property blocks
/// (ignored under MQTT 3); `None` leaves the optional block out where MQTT 5 allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BrokerPacket {
    ConnAck {
        session_present: bool,
        rc: u8,
        props: Option<Vec<u8>>,
    },
    Publish {
        topic: Vec<u8>,
        qos: u8,
        id: u16,
        dup: bool,
        retain: bool,
        props: Vec<u8>,
        payload: Vec<u8>,
    },
    /// PUBACK (4), PUBREC (5), PUBREL (6) or PUBCOMP (7), with an MQTT 5 reason code and
    /// properties when `reason` is set.
    Ack {
        kind: u8,
        id: u16,
        reason: Option<(u8, Option<Vec<u8>>)>,
    },
    SubAck {
        id: u16,
        props: Vec<u8>,
        codes: Vec<u8>,
    },
    UnsubAck {
        id: u16,
        props: Vec<u8>,
        codes: Vec<u8>,
    },
    PingReq,
    PingResp,
    /// MQTT 5 only.
    Disconnect {
        reason: Option<(u8, Option<Vec<u8>>)>,
    },
}

impl BrokerPacket {
    /// The packet's bytes under MQTT 5 (`v5`) or MQTT 3.1.1.
    pub(super) fn encode(&self, v5: bool) -> Vec<u8> {
        let mut body = Vec::new();
        let byte1 = match self {
            Self::ConnAck {
                session_present,
                rc,
                props,
            } => {
                body.push(u8::from(*session_present));
                body.push(*rc);
                if let (true, Some(p)) = (v5, props) {
                    body.extend_from_slice(p);
                }
                0x20
            }
            Self::Publish {
                topic,
                qos,
                id,
                dup,
                retain,
                props,
                payload,
            } => {
                put_str(&mut body, topic);
                if *qos > 0 {
                    body.extend_from_slice(&id.to_be_bytes());
                }
                if v5 {
                    body.extend_from_slice(props);
                }
                body.extend_from_slice(payload);
                0x30 | u8::from(*dup) << 3 | qos << 1 | u8::from(*retain)
            }
            Self::Ack { kind, id, reason } => {
                body.extend_from_slice(&id.to_be_bytes());
                if let (true, Some((code, props))) = (v5, reason) {
                    body.push(*code);
                    if let Some(p) = props {
                        body.extend_from_slice(p);
                    }
                }
                kind << 4 | if *kind == 6 { 0x02 } else { 0 }
            }
            Self::SubAck { id, props, codes } | Self::UnsubAck { id, props, codes } => {
                body.extend_from_slice(&id.to_be_bytes());
                let suback = matches!(self, Self::SubAck { .. });
                if v5 {
                    body.extend_from_slice(props);
                }
                // MQTT 3.1.1's UNSUBACK has no payload.
                if suback || v5 {
                    body.extend_from_slice(codes);
                }
                if suback {
                    0x90
                } else {
                    0xB0
                }
            }
            Self::PingReq => 0xC0,
            Self::PingResp => 0xD0,
            Self::Disconnect { reason } => {
                if let Some((code, props)) = reason {
                    body.push(*code);
                    if let Some(p) = props {
                        body.extend_from_slice(p);
                    }
                }
                0xE0
            }
        };
        frame(byte1, &body)
    }
}

// ----- strategies --------------------------------------------------------------------------

/// A short UTF-8 string, sometimes empty.
pub(super) fn short_text() -> impl Strategy<Value = Vec<u8>> {
    "[a-z/]{0,6}".prop_map(String::into_bytes)
}

/// A packet id: mostly the few the client uses first, sometimes any (0 included).
pub(super) fn packet_id() -> impl Strategy<Value = u16> {
    prop_oneof![3 => 1u16..=6, 1 => any::<u16>()]
}

/// MQTT 5 properties valid in a broker's PUBLISH (Topic Alias aside), zero or more.
pub(super) fn publish_props() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let one = prop_oneof![
        (0u8..=1).prop_map(|v| property::byte(0x01, v)),
        any::<u32>().prop_map(|v| property::u32(0x02, v)),
        short_text().prop_map(|s| property::string(0x03, &s)),
        short_text().prop_map(|s| property::string(0x08, &s)),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(|s| property::string(0x09, &s)),
        (1usize..=268_435_455).prop_map(|v| property::vbi(0x0B, v)),
        (short_text(), short_text()).prop_map(|(k, v)| property::user(&k, &v)),
    ];
    // Single-valued properties must not repeat: keep the first of each identifier.
    prop::collection::vec(one, 0..4).prop_map(|props| {
        let mut seen = Vec::new();
        props
            .into_iter()
            .filter(|p| {
                let multi = p[0] == 0x26 || p[0] == 0x0B;
                let fresh = !seen.contains(&p[0]);
                seen.push(p[0]);
                multi || fresh
            })
            .collect()
    })
}

/// An optional Reason String and User Property, encoded.
pub(super) fn ack_prop_list() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop::option::of(short_text()),
        prop::option::of((short_text(), short_text())),
    )
        .prop_map(|(reason, user)| {
            let mut props = Vec::new();
            if let Some(r) = reason {
                props.push(property::string(0x1F, &r));
            }
            if let Some((k, v)) = user {
                props.push(property::user(&k, &v));
            }
            props
        })
}

/// An ack's optional property block (Reason String, User Property).
pub(super) fn ack_props() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(ack_prop_list().prop_map(|props| block(&props)))
}

/// Reason codes MQTT 5 defines for PUBACK/PUBREC (§3.4.2.1).
pub(super) const PUBACK_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
/// Reason codes MQTT 5 defines for PUBREL/PUBCOMP (§3.6.2.1).
pub(super) const PUBREL_CODES: &[u8] = &[0x00, 0x92];
/// Reason codes MQTT 5 defines for SUBACK (§3.9.3).
pub(super) const SUBACK_CODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
/// Reason codes MQTT 5 defines for UNSUBACK (§3.11.3).
pub(super) const UNSUBACK_CODES: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
/// Refusing CONNACK reason codes of MQTT 5 (§3.2.2.2).
pub(super) const CONNACK_REFUSALS: &[u8] = &[
    0x80, 0x81, 0x82, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A,
    0x9B, 0x9C, 0x9D, 0x9F,
];
/// Reason codes a broker may end a connection with (§3.14.2.1).
pub(super) const DISCONNECT_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x93, 0x94, 0x97, 0x98, 0x9C,
];

/// An ack's optional MQTT 5 reason part: a code from `codes`, with or without properties.
pub(super) fn ack_reason(
    codes: &'static [u8],
) -> impl Strategy<Value = Option<(u8, Option<Vec<u8>>)>> {
    prop::option::of((prop::sample::select(codes), ack_props()))
}

/// Any packet a broker may send, with free fields: packet ids, reason codes and properties
/// from their whole valid range, a PUBLISH of any QoS (3 included, which is malformed).
pub(super) fn any_broker_packet() -> impl Strategy<Value = BrokerPacket> {
    let publish = (
        short_text(),
        0u8..=3,
        packet_id(),
        any::<bool>(),
        any::<bool>(),
        publish_props(),
        prop::option::of(1u16..=12),
        prop::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(topic, qos, id, dup, retain, mut props, alias, payload)| {
            if let Some(a) = alias {
                props.push(property::u16(0x23, a));
            }
            BrokerPacket::Publish {
                topic,
                qos,
                id,
                dup,
                retain,
                props: block(&props),
                payload,
            }
        });
    prop_oneof![
        1 => (any::<bool>(), any::<u8>(), prop::option::of(ack_props())).prop_map(
            |(session_present, rc, props)| BrokerPacket::ConnAck {
                session_present,
                rc,
                props: props.map(|p| p.unwrap_or_else(|| block(&[]))),
            }
        ),
        4 => publish,
        4 => (4u8..=7, packet_id(), ack_reason(PUBACK_CODES))
            .prop_map(|(kind, id, reason)| BrokerPacket::Ack { kind, id, reason }),
        1 => (
            packet_id(),
            ack_props(),
            prop::collection::vec(prop::sample::select(SUBACK_CODES), 1..4)
        )
            .prop_map(|(id, props, codes)| BrokerPacket::SubAck {
                id,
                props: props.unwrap_or_else(|| block(&[])),
                codes,
            }),
        1 => (
            packet_id(),
            ack_props(),
            prop::collection::vec(prop::sample::select(UNSUBACK_CODES), 1..4)
        )
            .prop_map(|(id, props, codes)| BrokerPacket::UnsubAck {
                id,
                props: props.unwrap_or_else(|| block(&[])),
                codes,
            }),
        1 => Just(BrokerPacket::PingReq),
        2 => Just(BrokerPacket::PingResp),
        1 => ack_reason(DISCONNECT_CODES).prop_map(|reason| BrokerPacket::Disconnect { reason }),
    ]
}

// ----- the client's output -----------------------------------------------------------------

/// A packet the client sent, as far as the fuzz model needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ClientPacket {
    Connect,
    Publish {
        id: u16,
        qos: u8,
        dup: bool,
        topic: Bytes,
        payload: Bytes,
        alias: Option<u16>,
    },
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe {
        id: u16,
        filters: usize,
    },
    Unsubscribe {
        id: u16,
        filters: usize,
    },
    PingReq,
    PingResp,
    Disconnect,
}

/// Splits the client's output into packets, failing unless every byte belongs to a complete,
/// well-formed client packet (read with rumqttc's decoders).
pub(super) fn parse_client(bytes: &[u8], v5: bool) -> Result<Vec<ClientPacket>, String> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while !buf.is_empty() {
        let before = buf.clone();
        let packet = if v5 {
            parse_v5(&mut buf)
        } else {
            parse_v4(&mut buf)
        };
        out.push(packet.map_err(|e| format!("{e} in {:02x?}", &before[..]))?);
    }
    Ok(out)
}

/// The MQTT 3.1 CONNECT (after paho's automatic downgrade), which rumqttc cannot read.
fn parse_v31_connect(buf: &mut BytesMut) -> Option<ClientPacket> {
    let header = rumqttc::mqttbytes::check(buf.iter(), usize::MAX).ok()?;
    let frame = buf.get(..header.frame_length())?;
    // After the first byte and the remaining length's bytes.
    let name_at = 2 + buf[1..].iter().take_while(|b| *b & 0x80 != 0).count();
    let is_v31 = frame.get(name_at..name_at + 9) == Some(b"\x00\x06MQIsdp\x03".as_slice());
    if frame[0] != 0x10 || !is_v31 {
        return None;
    }
    let _ = buf.split_to(header.frame_length());
    Some(ClientPacket::Connect)
}

fn parse_v4(buf: &mut BytesMut) -> Result<ClientPacket, String> {
    if let Some(p) = parse_v31_connect(buf) {
        return Ok(p);
    }
    let packet = wire::Packet::read(buf, usize::MAX).map_err(|e| format!("{e:?}"))?;
    Ok(match packet {
        wire::Packet::Connect(_) => ClientPacket::Connect,
        wire::Packet::Publish(p) => ClientPacket::Publish {
            id: p.pkid,
            qos: p.qos as u8,
            dup: p.dup,
            topic: Bytes::from(p.topic.into_bytes()),
            payload: p.payload,
            alias: None,
        },
        wire::Packet::PubAck(p) => ClientPacket::PubAck(p.pkid),
        wire::Packet::PubRec(p) => ClientPacket::PubRec(p.pkid),
        wire::Packet::PubRel(p) => ClientPacket::PubRel(p.pkid),
        wire::Packet::PubComp(p) => ClientPacket::PubComp(p.pkid),
        wire::Packet::Subscribe(s) => ClientPacket::Subscribe {
            id: s.pkid,
            filters: s.filters.len(),
        },
        wire::Packet::Unsubscribe(u) => ClientPacket::Unsubscribe {
            id: u.pkid,
            filters: u.topics.len(),
        },
        wire::Packet::PingReq => ClientPacket::PingReq,
        wire::Packet::PingResp => ClientPacket::PingResp,
        wire::Packet::Disconnect => ClientPacket::Disconnect,
        other => return Err(format!("a client must not send {other:?}")),
    })
}

fn parse_v5(buf: &mut BytesMut) -> Result<ClientPacket, String> {
    // A DISCONNECT without properties (E0 01 code) or without reason code either (E0 00), as
    // paho writes them: MQTT 5 allows both (§3.14.2.1, §3.14.2.2.1) but rumqttc's decoder
    // wants the property length.
    if buf.starts_with(&[0xE0, 0x00]) || (buf.starts_with(&[0xE0, 0x01]) && buf.len() >= 3) {
        let _ = buf.split_to(2 + usize::from(buf[1]));
        return Ok(ClientPacket::Disconnect);
    }
    let packet = w5::Packet::read(buf, None).map_err(|e| format!("{e:?}"))?;
    Ok(match packet {
        w5::Packet::Connect(..) => ClientPacket::Connect,
        w5::Packet::Publish(p) => ClientPacket::Publish {
            id: p.pkid,
            qos: p.qos as u8,
            dup: p.dup,
            alias: p.properties.as_ref().and_then(|props| props.topic_alias),
            topic: p.topic,
            payload: p.payload,
        },
        w5::Packet::PubAck(p) => ClientPacket::PubAck(p.pkid),
        w5::Packet::PubRec(p) => ClientPacket::PubRec(p.pkid),
        w5::Packet::PubRel(p) => ClientPacket::PubRel(p.pkid),
        w5::Packet::PubComp(p) => ClientPacket::PubComp(p.pkid),
        w5::Packet::Subscribe(s) => ClientPacket::Subscribe {
            id: s.pkid,
            filters: s.filters.len(),
        },
        w5::Packet::Unsubscribe(u) => ClientPacket::Unsubscribe {
            id: u.pkid,
            filters: u.filters.len(),
        },
        w5::Packet::PingReq(_) => ClientPacket::PingReq,
        w5::Packet::PingResp(_) => ClientPacket::PingResp,
        w5::Packet::Disconnect(_) => ClientPacket::Disconnect,
        other => return Err(format!("a client must not send {other:?}")),
    })
}
