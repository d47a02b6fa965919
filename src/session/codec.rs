//! Bytes to packets and back for MQTT 3.1 and 3.1.1, on rumqttc's v4 codecs; MQTT 5 in the
//! child module `v5`.
//!
//! The state machine never sees wire bytes: it reads [`Incoming`] and writes [`Outgoing`],
//! protocol-neutral enums; MQTT 5 is a second codec producing the same enums (reason codes and
//! properties are simply 0 and empty under MQTT 3).
//!
//! Framing (`rumqttc::mqttbytes::check`, which rejects an over-limit remaining length from the
//! header alone) and most packets use rumqttc. Three packets are ours, each for a paho behaviour
//! rumqttc 0.25 cannot express:
//! - CONNECT: rumqttc cannot encode MQTT 3.1 (`MQIsdp`, level 3), a non-UTF-8 or empty password
//!   (it drops an empty one; paho sends the flag and a zero-length field), nor the bridge bit.
//! - incoming PUBLISH: rumqttc rejects a topic that is not UTF-8, which paho delivers, and a
//!   packet id of 0, which paho accepts.
//! - incoming CONNACK: rumqttc rejects return codes above 5, which paho still hands to
//!   `on_connect` before failing with a protocol error.
//!
//! paho's v3 decoders also insist on exact sizes (CONNACK and the four publish acks are exactly
//! 2 bytes, PINGRESP 0) where rumqttc is lenient, so those lengths are checked here first.

use bytes::{BufMut, Bytes, BytesMut};
use rumqttc::mqttbytes::v4 as wire;
use rumqttc::mqttbytes::{self, Error as WireError};

use super::event::Message;
use super::options::{ConnectProperties, ProtocolVersion, QoS, SessionOptions, SubscribeOptions};
use super::properties;

mod v5;

pub(crate) use v5::{publish_wire_size, subscribe_remaining_length, wire_size};

/// A publish acknowledgement: packet id, reason code (0 in MQTT 3 and in MQTT 5's short form)
/// and raw properties (empty when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub(crate) mid: u16,
    pub(crate) reason_code: u8,
    pub(crate) properties: Bytes,
}

impl Ack {
    fn plain(mid: u16) -> Self {
        Self {
            mid,
            reason_code: 0,
            properties: Bytes::new(),
        }
    }
}

/// A decoded packet the client may legitimately receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// CONNACK with its raw return code / reason code (any byte; paho does not reject unknown
    /// codes early) and raw properties (MQTT 5; empty when absent).
    ConnAck {
        session_present: bool,
        rc: u8,
        properties: Bytes,
    },
    /// PUBLISH, with the MQTT 5 Topic Alias if it carries one (the topic may then be empty).
    Publish {
        message: Message,
        topic_alias: Option<u16>,
    },
    /// PUBACK.
    PubAck(Ack),
    /// PUBREC.
    PubRec(Ack),
    /// PUBREL.
    PubRel(Ack),
    /// PUBCOMP.
    PubComp(Ack),
    /// SUBACK with one return code / reason code per filter.
    SubAck {
        mid: u16,
        reason_codes: Vec<u8>,
        properties: Bytes,
    },
    /// UNSUBACK (MQTT 3: no reason codes).
    UnsubAck {
        mid: u16,
        reason_codes: Vec<u8>,
        properties: Bytes,
    },
    /// A broker's DISCONNECT (MQTT 5 only).
    Disconnect {
        reason_code: Option<u8>,
        properties: Bytes,
    },
    /// PINGREQ: a broker should not send one, but paho answers it, so we do.
    PingReq,
    /// PINGRESP.
    PingResp,
}

/// A packet waiting in the transmit queue, encoded only when `poll_transmit` runs.
///
/// QoS 1/2 PUBLISHes name their stored message by mid instead of copying it, so a message
/// acknowledged (or dropped) before it is encoded costs nothing, and the DUP flag is read at
/// encoding time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    /// CONNECT built from the options.
    Connect,
    /// A QoS 0 PUBLISH, owning its data (QoS 0 messages are never stored). `topic` is the full
    /// topic; `omit_topic` says the user sent it as an empty topic with a Topic Alias.
    PublishQos0 {
        mid: u16,
        topic: String,
        payload: Bytes,
        retain: bool,
        properties: Bytes,
        omit_topic: bool,
    },
    /// The stored QoS 1/2 message with this mid.
    PublishStored { mid: u16 },
    /// PUBACK.
    PubAck(u16),
    /// PUBREC.
    PubRec(u16),
    /// PUBREL.
    PubRel(u16),
    /// PUBCOMP.
    PubComp(u16),
    /// SUBSCRIBE with its filters (MQTT 3 sends only the QoS of the options).
    Subscribe {
        mid: u16,
        filters: Vec<(String, SubscribeOptions)>,
        properties: Bytes,
    },
    /// UNSUBSCRIBE with its filters, in one packet as paho sends it.
    Unsubscribe {
        mid: u16,
        filters: Vec<String>,
        properties: Bytes,
    },
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT; MQTT 5 adds the reason code and properties, written as paho writes them.
    Disconnect {
        reason_code: Option<u8>,
        properties: Bytes,
    },
}

/// Why bytes could not be decoded; always fatal for the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(pub String);

fn malformed(what: &str) -> DecodeError {
    DecodeError(format!("malformed {what}"))
}

/// Takes one complete packet off the front of `buf`.
///
/// Returns `Ok(None)` and leaves `buf` untouched when the packet is not complete yet. Rejects a
/// remaining length above `max_packet_size` as soon as the header is readable, so a hostile
/// length never makes anyone buffer or allocate it.
pub(crate) fn decode(
    buf: &mut BytesMut,
    max_packet_size: usize,
    protocol: ProtocolVersion,
) -> Result<Option<Incoming>, DecodeError> {
    let header = match mqttbytes::check(buf.iter(), max_packet_size) {
        Ok(header) => header,
        Err(WireError::InsufficientBytes(_)) => return Ok(None),
        Err(WireError::PayloadSizeLimitExceeded(len)) => {
            return Err(DecodeError(format!(
                "packet remaining length {len} exceeds max_packet_size {max_packet_size}"
            )))
        }
        Err(e) => return Err(DecodeError(e.to_string())),
    };
    let byte1 = buf[0];
    // `check` accepted the length, so its bytes are there: count them to find where the
    // variable header starts (rumqttc keeps that offset private).
    let header_len = 1 + buf[1..].iter().take_while(|b| *b & 0x80 != 0).count() + 1;
    let frame_len = header.frame_length();
    let remaining = frame_len - header_len;
    let frame = buf.split_to(frame_len);
    if protocol == ProtocolVersion::V5 {
        return v5::decode(byte1, &frame.freeze().slice(header_len..)).map(Some);
    }

    let exact = |want: usize, what: &str| {
        if remaining == want {
            Ok(())
        } else {
            Err(DecodeError(format!(
                "{what} with remaining length {remaining}, expected {want}"
            )))
        }
    };
    let packet = match byte1 >> 4 {
        2 => {
            exact(2, "CONNACK")?;
            Incoming::ConnAck {
                session_present: frame[header_len] & 0x01 != 0,
                rc: frame[header_len + 1],
                properties: Bytes::new(),
            }
        }
        3 => Incoming::Publish {
            message: decode_publish(byte1, &frame.freeze().slice(header_len..))?,
            topic_alias: None,
        },
        4 => {
            exact(2, "PUBACK")?;
            Incoming::PubAck(Ack::plain(read_ack(frame, max_packet_size)?))
        }
        5 => {
            exact(2, "PUBREC")?;
            Incoming::PubRec(Ack::plain(read_ack(frame, max_packet_size)?))
        }
        6 => {
            exact(2, "PUBREL")?;
            Incoming::PubRel(Ack::plain(read_ack(frame, max_packet_size)?))
        }
        7 => {
            exact(2, "PUBCOMP")?;
            Incoming::PubComp(Ack::plain(read_ack(frame, max_packet_size)?))
        }
        9 | 11 => read_with_rumqttc(frame, max_packet_size)?,
        12 => {
            exact(0, "PINGREQ")?;
            Incoming::PingReq
        }
        13 => {
            exact(0, "PINGRESP")?;
            Incoming::PingResp
        }
        other => {
            return Err(DecodeError(format!(
                "unexpected packet type {other} from the broker"
            )))
        }
    };
    Ok(Some(packet))
}

/// Decodes one of the four publish acknowledgements with rumqttc and returns its packet id.
fn read_ack(frame: BytesMut, max: usize) -> Result<u16, DecodeError> {
    match read_with_rumqttc(frame, max)? {
        Incoming::PubAck(ack)
        | Incoming::PubRec(ack)
        | Incoming::PubRel(ack)
        | Incoming::PubComp(ack) => Ok(ack.mid),
        _ => Err(malformed("acknowledgement")),
    }
}

/// Runs rumqttc's decoder on a frame already known to be complete and of an allowed type.
fn read_with_rumqttc(mut frame: BytesMut, max: usize) -> Result<Incoming, DecodeError> {
    let packet = wire::Packet::read(&mut frame, max).map_err(|e| DecodeError(e.to_string()))?;
    Ok(match packet {
        wire::Packet::PubAck(p) => Incoming::PubAck(Ack::plain(p.pkid)),
        wire::Packet::PubRec(p) => Incoming::PubRec(Ack::plain(p.pkid)),
        wire::Packet::PubRel(p) => Incoming::PubRel(Ack::plain(p.pkid)),
        wire::Packet::PubComp(p) => Incoming::PubComp(Ack::plain(p.pkid)),
        wire::Packet::UnsubAck(p) => Incoming::UnsubAck {
            mid: p.pkid,
            reason_codes: Vec::new(),
            properties: Bytes::new(),
        },
        wire::Packet::SubAck(s) => Incoming::SubAck {
            mid: s.pkid,
            properties: Bytes::new(),
            reason_codes: s
                .return_codes
                .iter()
                .map(|code| match code {
                    wire::SubscribeReasonCode::Success(qos) => *qos as u8,
                    wire::SubscribeReasonCode::Failure => 0x80,
                })
                .collect(),
        },
        other => {
            return Err(DecodeError(format!(
                "unexpected packet {other:?} from the broker"
            )))
        }
    })
}

/// Decodes a v3 PUBLISH body (everything after the fixed header), paho's way: the topic stays
/// raw bytes, an empty topic is malformed, QoS 3 is a protocol error, packet id 0 is accepted.
fn decode_publish(byte1: u8, body: &Bytes) -> Result<Message, DecodeError> {
    let head = publish_head(byte1, body, false)?;
    Ok(Message {
        mid: head.mid,
        topic: body.slice(2..head.topic_end),
        payload: body.slice(head.rest_at..),
        qos: head.qos,
        retain: byte1 & 0x01 != 0,
        dup: byte1 & 0x08 != 0,
        properties: Bytes::new(),
    })
}

/// The start of a PUBLISH body, the same in MQTT 3 and 5: topic, then a packet id for QoS 1/2.
pub(crate) struct PublishHead {
    pub(crate) qos: QoS,
    /// Where the topic (which starts at 2) ends.
    pub(crate) topic_end: usize,
    /// 0 for QoS 0.
    pub(crate) mid: u16,
    /// Where what follows the packet id starts (MQTT 5: properties; MQTT 3: the payload).
    pub(crate) rest_at: usize,
}

/// Reads a [`PublishHead`]; QoS 3 is a protocol error, an empty topic malformed unless
/// `empty_topic_ok` (MQTT 5, where a Topic Alias may stand for it), packet id 0 accepted.
pub(crate) fn publish_head(
    byte1: u8,
    body: &Bytes,
    empty_topic_ok: bool,
) -> Result<PublishHead, DecodeError> {
    let qos = QoS::from_u8((byte1 >> 1) & 0x03)
        .ok_or_else(|| DecodeError("PUBLISH with QoS 3".to_owned()))?;
    let topic_len = usize::from(read_u16(body, 0).ok_or_else(|| malformed("PUBLISH"))?);
    let topic_end = 2 + topic_len;
    if body.len() < topic_end {
        return Err(malformed("PUBLISH: topic longer than packet"));
    }
    if topic_len == 0 && !empty_topic_ok {
        return Err(malformed("PUBLISH: empty topic"));
    }
    let (mid, rest_at) = if qos == QoS::AtMostOnce {
        (0, topic_end)
    } else {
        let mid = read_u16(body, topic_end).ok_or_else(|| malformed("PUBLISH: no packet id"))?;
        (mid, topic_end + 2)
    };
    Ok(PublishHead {
        qos,
        topic_end,
        mid,
        rest_at,
    })
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let hi = *bytes.get(at)?;
    let lo = *bytes.get(at + 1)?;
    Some(u16::from_be_bytes([hi, lo]))
}

/// Why a packet could not be encoded. Requests are validated before they are queued, so this
/// means a bug, and the packet is skipped rather than sent corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {0}")]
pub(crate) struct EncodeError(pub String);

impl From<WireError> for EncodeError {
    fn from(e: WireError) -> Self {
        EncodeError(e.to_string())
    }
}

/// Whether a length fits MQTT's two-byte string length prefix.
pub(crate) fn fits_u16(len: usize) -> bool {
    u16::try_from(len).is_ok()
}

/// Appends the MQTT variable-length integer for `len`.
fn put_remaining_length(buf: &mut BytesMut, mut len: usize) {
    loop {
        // Masked to 7 bits, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let mut byte = (len & 0x7F) as u8;
        len >>= 7;
        if len > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if len == 0 {
            break;
        }
    }
}

/// Appends a two-byte length and the bytes; callers guarantee at most 65535 bytes
/// ([`connect_fields_fit`] for CONNECT).
fn put_field(buf: &mut BytesMut, field: &[u8]) {
    let len = u16::try_from(field.len()).unwrap_or(u16::MAX);
    buf.put_u16(len);
    buf.extend_from_slice(&field[..usize::from(len)]);
}

/// Whether every CONNECT string fits its two-byte length (paho's `struct.pack("!H")` raises
/// otherwise) and the whole packet fits MQTT's remaining length.
pub(crate) fn connect_fields_fit(opts: &SessionOptions) -> bool {
    let mut fields: Vec<&[u8]> = vec![&opts.client_id];
    if let Some(will) = &opts.will {
        fields.push(will.topic.as_bytes());
        fields.push(&will.payload);
    }
    if let Some(username) = &opts.username {
        fields.push(username.as_bytes());
        if let Some(password) = &opts.password {
            fields.push(password);
        }
    }
    fields.iter().all(|f| fits_u16(f.len()))
}

/// The remaining length of the CONNECT these options, protocol and properties make.
pub(crate) fn connect_remaining_length(
    opts: &SessionOptions,
    protocol: ProtocolVersion,
    props: &ConnectProperties,
) -> usize {
    let v5 = protocol == ProtocolVersion::V5;
    let mut remaining = 2 + protocol.name().len() + 1 + 1 + 2 + 2 + opts.client_id.len();
    if v5 {
        remaining += properties::wire_len(&props.connect);
    }
    if let Some(will) = &opts.will {
        remaining += 2 + will.topic.len() + 2 + will.payload.len();
        if v5 {
            remaining += properties::wire_len(&props.will);
        }
    }
    if let Some(username) = &opts.username {
        remaining += 2 + username.len();
        if let Some(password) = &opts.password {
            remaining += 2 + password.len();
        }
    }
    remaining
}

/// Encodes CONNECT byte for byte as paho's `_send_connect` does: MQTT 3.1 and 3.1.1, and
/// MQTT 5 with its two property blocks (CONNECT properties after the keepalive, will
/// properties before the will topic), an empty block written as `0x00` as paho writes it.
pub(crate) fn encode_connect(
    opts: &SessionOptions,
    protocol: ProtocolVersion,
    props: &ConnectProperties,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    if !connect_fields_fit(opts) {
        return Err(EncodeError(
            "CONNECT: a field exceeds 65535 bytes".to_owned(),
        ));
    }
    let v5 = protocol == ProtocolVersion::V5;
    let name = protocol.name();
    let remaining = connect_remaining_length(opts, protocol, props);
    let mut flags = 0u8;
    if opts.clean_session {
        flags |= 0x02;
    }
    if let Some(will) = &opts.will {
        flags |= 0x04 | (will.qos.as_u8() << 3);
        if will.retain {
            flags |= 0x20;
        }
    }
    // paho sends a password only together with a username, and an empty one as a zero-length
    // field with the flag set.
    let login = opts
        .username
        .as_ref()
        .map(|u| (u.as_bytes(), opts.password.as_deref()));
    if let Some((_, password)) = login {
        flags |= 0x80;
        if password.is_some() {
            flags |= 0x40;
        }
    }
    if remaining > crate::session::MAX_REMAINING_LENGTH {
        return Err(EncodeError("CONNECT: packet too large".to_owned()));
    }
    let mut level = protocol.level();
    if opts.bridge_mode {
        level |= 0x80;
    }

    buf.reserve(5 + remaining);
    buf.put_u8(0x10);
    put_remaining_length(buf, remaining);
    put_field(buf, name);
    buf.put_u8(level);
    buf.put_u8(flags);
    buf.put_u16(opts.keepalive);
    if v5 {
        properties::put_block(buf, &props.connect);
    }
    put_field(buf, &opts.client_id);
    if let Some(will) = &opts.will {
        if v5 {
            properties::put_block(buf, &props.will);
        }
        put_field(buf, will.topic.as_bytes());
        put_field(buf, &will.payload);
    }
    if let Some((username, password)) = login {
        put_field(buf, username);
        if let Some(password) = password {
            put_field(buf, password);
        }
    }
    Ok(())
}

/// What a PUBLISH carries besides its id; borrowed from the store or the transmit queue.
pub(crate) struct PublishFields<'a> {
    pub(crate) topic: &'a str,
    pub(crate) payload: &'a Bytes,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) dup: bool,
    /// MQTT 5 properties, raw (ignored under MQTT 3).
    pub(crate) properties: &'a Bytes,
}

/// Encodes an MQTT 3 PUBLISH with rumqttc, taking the topic by value (rumqttc wants a
/// `String`) so a QoS 0 message's topic moves into the packet without a copy.
pub(crate) fn encode_publish(
    buf: &mut BytesMut,
    mid: u16,
    topic: String,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    dup: bool,
) -> Result<(), EncodeError> {
    let packet = wire::Publish {
        dup,
        qos: qos.to_rumqttc(),
        retain,
        topic,
        // rumqttc writes no packet id for QoS 0, but insists on a non-zero one otherwise.
        pkid: if qos == QoS::AtMostOnce { 0 } else { mid },
        payload,
    };
    packet.write(buf)?;
    Ok(())
}

/// Encodes an MQTT 5 PUBLISH (ours, see `v5`); the caller has checked its size.
pub(crate) fn encode_publish_v5(buf: &mut BytesMut, mid: u16, p: &PublishFields<'_>) {
    v5::encode_publish(buf, mid, p);
}

/// Encodes every other client packet: rumqttc's v4 codecs for MQTT 3 and for the packets
/// MQTT 5 writes identically (the publish acks in their short form, PINGREQ, PINGRESP), ours
/// for MQTT 5's SUBSCRIBE, UNSUBSCRIBE and DISCONNECT.
pub(crate) fn encode_simple(
    packet: Outgoing,
    protocol: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let v5 = protocol == ProtocolVersion::V5;
    match packet {
        // paho never puts a reason code on the acks it sends, and MQTT 5 writes success
        // without properties as the two-byte MQTT 3 form.
        Outgoing::PubAck(id) => {
            wire::PubAck::new(id).write(buf)?;
        }
        Outgoing::PubRec(id) => {
            wire::PubRec::new(id).write(buf)?;
        }
        Outgoing::PubRel(id) => {
            wire::PubRel::new(id).write(buf)?;
        }
        Outgoing::PubComp(id) => {
            wire::PubComp::new(id).write(buf)?;
        }
        Outgoing::Subscribe {
            mid,
            filters,
            properties,
        } if v5 => v5::encode_subscribe(buf, mid, &filters, &properties),
        Outgoing::Subscribe { mid, filters, .. } => {
            wire::Subscribe {
                pkid: mid,
                filters: filters
                    .into_iter()
                    .map(|(path, o)| wire::SubscribeFilter::new(path, o.qos.to_rumqttc()))
                    .collect(),
            }
            .write(buf)?;
        }
        Outgoing::Unsubscribe {
            mid,
            filters,
            properties,
        } if v5 => v5::encode_unsubscribe(buf, mid, &filters, &properties),
        Outgoing::Unsubscribe { mid, filters, .. } => {
            wire::Unsubscribe {
                pkid: mid,
                topics: filters,
            }
            .write(buf)?;
        }
        Outgoing::PingReq => {
            wire::PingReq.write(buf)?;
        }
        Outgoing::PingResp => {
            wire::PingResp.write(buf)?;
        }
        Outgoing::Disconnect {
            reason_code,
            properties,
        } if v5 => v5::encode_disconnect(buf, reason_code, &properties),
        Outgoing::Disconnect { .. } => {
            wire::Disconnect.write(buf)?;
        }
        Outgoing::Connect | Outgoing::PublishQos0 { .. } | Outgoing::PublishStored { .. } => {
            return Err(EncodeError(
                "CONNECT/PUBLISH have their own encoders".to_owned(),
            ))
        }
    }
    Ok(())
}

/// The remaining length an MQTT 5 PUBLISH would have.
pub(crate) fn v5_publish_remaining_length(p: &PublishFields<'_>) -> usize {
    v5::publish_remaining_length(p.topic.len(), p.payload.len(), p.qos, p.properties)
}

/// The remaining length a PUBLISH would have under MQTT 3, to refuse one MQTT cannot carry.
pub(crate) fn publish_remaining_length(topic: &str, payload: &Bytes, qos: QoS) -> usize {
    2 + topic.len() + if qos == QoS::AtMostOnce { 0 } else { 2 } + payload.len()
}

/// The remaining length of a SUBSCRIBE or UNSUBSCRIBE with these filters.
pub(crate) fn filters_remaining_length<'a>(
    filters: impl Iterator<Item = &'a str>,
    per_filter: usize,
) -> usize {
    2 + filters.map(|f| 2 + f.len() + per_filter).sum::<usize>()
}
