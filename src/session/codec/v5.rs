//! MQTT 5 packets: our own codec, because the session carries properties raw.
//!
//! rumqttc 0.25's `v5::mqttbytes` codecs decode every property block into typed structs and
//! re-encode from them, so the exact bytes Python packed (and the broker sent) would not
//! survive the trip, and they reject what paho and the session must accept:
//! - CONNACK, PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK and DISCONNECT with a reason code
//!   outside rumqttc's private tables are decode errors (`InvalidConnectReturnCode`), which
//!   would drop the connection instead of reporting the code;
//! - a property that rumqttc does not expect in that packet fails the whole packet;
//! - it cannot encode DISCONNECT with a reason code or properties, nor CONNECT's bridge bit,
//!   an empty password or a non-UTF-8 one (the MQTT 3 reasons in `codec.rs` still hold).
//!
//! So every MQTT 5 packet with a property field is encoded and decoded here, in the same few
//! lines each as the MQTT 3 ones; the publish acks in their short form, PINGREQ and PINGRESP
//! are the MQTT 3 bytes and keep using rumqttc's v4 codecs (`codec.rs`). rumqttc's v5 codecs
//! serve as an independent oracle in the tests.
//!
//! Decoding follows paho's `_packet.py` leniency where MQTT allows it (any reason code byte is
//! accepted and reported; a CONNACK of two bytes has no properties) and MQTT 5 strictness
//! where paho's `MalformedPacket` is (truncation, a property length that does not match,
//! a malformed property block, reserved flag bits).

use bytes::{BufMut, Bytes, BytesMut};

use super::super::event::Message;
use super::super::options::{QoS, SubscribeOptions};
use super::super::properties::{self, Context};
use super::PublishFields;
use super::{
    malformed, publish_head, put_field, put_remaining_length, read_u16, Ack, DecodeError, Incoming,
};

/// Decodes a complete MQTT 5 packet from its first byte and its body (after the fixed header).
pub(super) fn decode(byte1: u8, body: &Bytes) -> Result<Incoming, DecodeError> {
    let kind = byte1 >> 4;
    // MQTT 5 §2.1.3: the flag bits are fixed for every packet but PUBLISH.
    let want_flags = match kind {
        3 => byte1 & 0x0F,
        6 => 0x02,
        _ => 0,
    };
    if byte1 & 0x0F != want_flags {
        return Err(DecodeError(format!(
            "packet type {kind} with reserved flags 0x{:X}",
            byte1 & 0x0F
        )));
    }
    Ok(match kind {
        2 => decode_connack(body)?,
        3 => decode_publish(byte1, body)?,
        4 => Incoming::PubAck(decode_ack(body, kind, "PUBACK")?),
        5 => Incoming::PubRec(decode_ack(body, kind, "PUBREC")?),
        6 => Incoming::PubRel(decode_ack(body, kind, "PUBREL")?),
        7 => Incoming::PubComp(decode_ack(body, kind, "PUBCOMP")?),
        9 | 11 => decode_sub_unsub_ack(kind, body)?,
        12 | 13 if !body.is_empty() => {
            return Err(DecodeError(format!(
                "packet type {kind} with remaining length {}, expected 0",
                body.len()
            )))
        }
        12 => Incoming::PingReq,
        13 => Incoming::PingResp,
        14 => {
            let (reason_code, properties) = reason_and_properties(body, 0, kind, "DISCONNECT")?;
            Incoming::Disconnect {
                // paho tells an empty DISCONNECT (no reason code at all) from reason 0.
                reason_code: (!body.is_empty()).then_some(reason_code),
                properties,
            }
        }
        // paho 2.2 has no AUTH handler either and fails with MQTT_ERR_PROTOCOL.
        15 => {
            return Err(DecodeError(
                "AUTH received: enhanced authentication is not supported".to_owned(),
            ))
        }
        other => {
            return Err(DecodeError(format!(
                "unexpected packet type {other} from the broker"
            )))
        }
    })
}

/// Checks the property block that must fill `body[at..]` exactly and returns it (as a
/// zero-copy slice, prefix included).
fn block_to_end(
    body: &Bytes,
    at: usize,
    context: Context,
    what: &str,
) -> Result<Bytes, DecodeError> {
    let block = body.slice(at..);
    let len = properties::block_len(&block).map_err(|e| DecodeError(format!("{what}: {e}")))?;
    if len != block.len() {
        return Err(DecodeError(format!(
            "{what}: {} bytes after the properties",
            block.len() - len
        )));
    }
    properties::parse(&block, context).map_err(|e| DecodeError(format!("{what}: {e}")))?;
    Ok(block)
}

/// Checks the property block at `body[at..]` and returns it and the offset after it.
fn block_at(
    body: &Bytes,
    at: usize,
    context: Context,
    what: &str,
) -> Result<(Bytes, usize), DecodeError> {
    let rest = body.get(at..).ok_or_else(|| malformed(what))?;
    let len = properties::block_len(rest).map_err(|e| DecodeError(format!("{what}: {e}")))?;
    let block = body.slice(at..at + len);
    properties::parse(&block, context).map_err(|e| DecodeError(format!("{what}: {e}")))?;
    Ok((block, at + len))
}

/// The optional reason code and properties after `at` (acks, DISCONNECT): absent means 0 and
/// no properties; a reason code alone is allowed (MQTT 5 §3.4.2.1, §3.14.2.2).
fn reason_and_properties(
    body: &Bytes,
    at: usize,
    context: Context,
    what: &str,
) -> Result<(u8, Bytes), DecodeError> {
    match body.len().saturating_sub(at) {
        0 => Ok((0, Bytes::new())),
        1 => Ok((body[at], Bytes::new())),
        _ => Ok((body[at], block_to_end(body, at + 1, context, what)?)),
    }
}

/// CONNACK: flags, reason code, properties. Two bytes (a 3.x broker's answer) mean no
/// properties, as in paho's `decode_connack`.
fn decode_connack(body: &Bytes) -> Result<Incoming, DecodeError> {
    if body.len() < 2 {
        return Err(malformed("CONNACK: fewer than 2 bytes"));
    }
    let properties = if body.len() == 2 {
        Bytes::new()
    } else {
        block_to_end(body, 2, properties::CONNACK, "CONNACK")?
    };
    Ok(Incoming::ConnAck {
        session_present: body[0] & 0x01 != 0,
        rc: body[1],
        properties,
    })
}

/// PUBLISH: topic (may be empty when a Topic Alias stands for it), packet id for QoS 1/2,
/// properties, payload. The topic stays raw bytes, as in MQTT 3 (paho delivers non-UTF-8
/// topics and raises only when `msg.topic` is read); rumqttc's v5 decoder keeps it raw too, but
/// its typed properties lose the block.
fn decode_publish(byte1: u8, body: &Bytes) -> Result<Incoming, DecodeError> {
    let head = publish_head(byte1, body, true)?;
    let (properties, payload_at) = block_at(body, head.rest_at, properties::PUBLISH, "PUBLISH")?;
    let topic_alias = properties::topic_alias(&properties);
    Ok(Incoming::Publish {
        message: Message {
            mid: head.mid,
            topic: body.slice(2..head.topic_end),
            payload: body.slice(payload_at..),
            qos: head.qos,
            retain: byte1 & 0x01 != 0,
            dup: byte1 & 0x08 != 0,
            properties,
        },
        topic_alias,
    })
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP: packet id, then an optional reason code and properties.
fn decode_ack(body: &Bytes, kind: u8, what: &str) -> Result<Ack, DecodeError> {
    let mid = read_u16(body, 0).ok_or_else(|| malformed(what))?;
    let (reason_code, properties) = reason_and_properties(body, 2, kind, what)?;
    Ok(Ack {
        mid,
        reason_code,
        properties,
    })
}

/// SUBACK and UNSUBACK: packet id, properties, at least one reason code (a SUBSCRIBE or
/// UNSUBSCRIBE always has a filter, and paho's `decode_unsuback` insists on one too).
fn decode_sub_unsub_ack(kind: u8, body: &Bytes) -> Result<Incoming, DecodeError> {
    let what = if kind == 9 { "SUBACK" } else { "UNSUBACK" };
    let mid = read_u16(body, 0).ok_or_else(|| malformed(what))?;
    let (properties, codes_at) = block_at(body, 2, kind, what)?;
    let reason_codes = body[codes_at..].to_vec();
    if reason_codes.is_empty() {
        return Err(DecodeError(format!("{what} without reason codes")));
    }
    Ok(if kind == 9 {
        Incoming::SubAck {
            mid,
            reason_codes,
            properties,
        }
    } else {
        Incoming::UnsubAck {
            mid,
            reason_codes,
            properties,
        }
    })
}

/// The remaining length of an MQTT 5 PUBLISH.
pub(crate) fn publish_remaining_length(
    topic_len: usize,
    payload_len: usize,
    qos: QoS,
    props: &[u8],
) -> usize {
    2 + topic_len
        + if qos == QoS::AtMostOnce { 0 } else { 2 }
        + properties::wire_len(props)
        + payload_len
}

/// The whole size of a packet with this remaining length, which is what MQTT 5's Maximum
/// Packet Size limits.
pub(crate) fn wire_size(remaining: usize) -> usize {
    1 + properties::vbi_len(remaining) + remaining
}

/// The whole size of an MQTT 5 PUBLISH, to compare with the broker's Maximum Packet Size.
pub(crate) fn publish_wire_size(p: &PublishFields<'_>) -> usize {
    wire_size(publish_remaining_length(
        p.topic.len(),
        p.payload.len(),
        p.qos,
        p.properties,
    ))
}

/// The remaining length of an MQTT 5 SUBSCRIBE (`per_filter` 1) or UNSUBSCRIBE (0).
pub(crate) fn subscribe_remaining_length<'a>(
    filters: impl Iterator<Item = &'a str>,
    per_filter: usize,
    props: &[u8],
) -> usize {
    super::filters_remaining_length(filters, per_filter) + properties::wire_len(props)
}

/// PUBLISH as paho's `_send_publish` writes it for MQTT 5. The caller has checked the sizes.
pub(super) fn encode_publish(buf: &mut BytesMut, mid: u16, p: &PublishFields<'_>) {
    let remaining = publish_remaining_length(p.topic.len(), p.payload.len(), p.qos, p.properties);
    buf.reserve(5 + remaining);
    buf.put_u8(0x30 | u8::from(p.dup) << 3 | p.qos.as_u8() << 1 | u8::from(p.retain));
    put_remaining_length(buf, remaining);
    put_field(buf, p.topic.as_bytes());
    if p.qos != QoS::AtMostOnce {
        buf.put_u16(mid);
    }
    properties::put_block(buf, p.properties);
    buf.extend_from_slice(p.payload);
}

/// SUBSCRIBE: packet id, properties, then each filter with its options byte.
pub(super) fn encode_subscribe(
    buf: &mut BytesMut,
    mid: u16,
    filters: &[(String, SubscribeOptions)],
    props: &Bytes,
) {
    let remaining = subscribe_remaining_length(filters.iter().map(|(f, _)| f.as_str()), 1, props);
    buf.reserve(5 + remaining);
    buf.put_u8(0x82);
    put_remaining_length(buf, remaining);
    buf.put_u16(mid);
    properties::put_block(buf, props);
    for (filter, options) in filters {
        put_field(buf, filter.as_bytes());
        buf.put_u8(options.to_byte());
    }
}

/// UNSUBSCRIBE: packet id, properties, filters.
pub(super) fn encode_unsubscribe(buf: &mut BytesMut, mid: u16, filters: &[String], props: &Bytes) {
    let remaining = subscribe_remaining_length(filters.iter().map(String::as_str), 0, props);
    buf.reserve(5 + remaining);
    buf.put_u8(0xA2);
    put_remaining_length(buf, remaining);
    buf.put_u16(mid);
    properties::put_block(buf, props);
    for filter in filters {
        put_field(buf, filter.as_bytes());
    }
}

/// DISCONNECT as paho's `_send_disconnect` writes it: nothing when neither a reason code nor
/// properties were given, the reason code alone without properties, both otherwise (a missing
/// reason code then being 0, "Normal disconnection").
pub(super) fn encode_disconnect(buf: &mut BytesMut, reason_code: Option<u8>, props: &Bytes) {
    buf.put_u8(0xE0);
    match (reason_code, props.is_empty()) {
        (None, true) => buf.put_u8(0),
        (Some(code), true) => {
            buf.put_u8(1);
            buf.put_u8(code);
        }
        (code, false) => {
            put_remaining_length(buf, 1 + props.len());
            buf.put_u8(code.unwrap_or(0));
            buf.extend_from_slice(props);
        }
    }
}
