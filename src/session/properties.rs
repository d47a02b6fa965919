//! MQTT 5 property blocks, carried raw: validated, searched, never re-encoded.
//!
//! The Python layer owns the typed view (`turbomqtt.properties.Properties`, paho's class), so
//! the session carries every property block as the exact bytes of the wire: the Variable Byte
//! Integer property length followed by the properties, which is what `Properties.pack()`
//! returns and `Properties.unpack()` reads. An empty `Bytes` means "no block": on a request the
//! encoder then writes a zero length (`0x00`), as paho writes `b'\x00'` for `properties=None`;
//! on an event it means the packet had no property field at all (a short-form ack, a CONNACK
//! of two bytes), which paho reports as `None` or an empty `Properties`.
//!
//! The session reads only the few properties it must act on (Topic Alias, Receive Maximum, ...)
//! but checks every block it sends or receives the way MQTT 5 §2.2.2 defines malformed: a
//! known identifier, a value that fits, UTF-8 strings, a property allowed in that packet, a
//! single-valued property at most once, and the ranges MQTT fixes. So Python's `unpack()`
//! never fails on a block the session accepted, and a broker's bad block is a protocol error
//! here, as paho's `MalformedPacket` makes it one.

use bytes::Bytes;

/// Where a property block sits; the packet type number (1 to 15), or [`WILL`].
pub(crate) type Context = u8;

/// The will properties of CONNECT (paho's `PacketTypes.WILLMESSAGE`).
pub(crate) const WILL: Context = 0;
pub(crate) const CONNECT: Context = 1;
pub(crate) const CONNACK: Context = 2;
pub(crate) const PUBLISH: Context = 3;
pub(crate) const SUBSCRIBE: Context = 8;
pub(crate) const UNSUBSCRIBE: Context = 10;
pub(crate) const DISCONNECT: Context = 14;

/// Property identifiers the session acts on.
pub(crate) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
pub(crate) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
pub(crate) const SERVER_KEEP_ALIVE: u8 = 0x13;
pub(crate) const RECEIVE_MAXIMUM: u8 = 0x21;
pub(crate) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
pub(crate) const TOPIC_ALIAS: u8 = 0x23;
pub(crate) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
const USER_PROPERTY: u8 = 0x26;

/// How a property value is encoded (MQTT 5 §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Byte,
    U16,
    U32,
    Vbi,
    /// UTF-8 string or binary data: a two-byte length and the bytes.
    Str,
    Binary,
    /// UTF-8 string pair (User Property).
    Pair,
}

/// Bit set of the contexts a property may appear in.
const fn ctx(list: &[Context]) -> u32 {
    let mut mask = 0;
    let mut i = 0;
    while i < list.len() {
        mask |= 1 << list[i];
        i += 1;
    }
    mask
}

const PUBLISH_WILL: u32 = ctx(&[PUBLISH, WILL]);
/// Every packet with properties, and the will (User Property goes anywhere).
const ANY: u32 = u32::MAX;

/// MQTT 5 §2.2.2.2: identifier, encoding, where it may appear.
fn spec(id: u8) -> Option<(Kind, u32)> {
    Some(match id {
        0x01 => (Kind::Byte, PUBLISH_WILL), // Payload Format Indicator
        0x02 => (Kind::U32, PUBLISH_WILL),  // Message Expiry Interval
        0x03 | 0x08 => (Kind::Str, PUBLISH_WILL), // Content Type, Response Topic
        0x09 => (Kind::Binary, PUBLISH_WILL), // Correlation Data
        SUBSCRIPTION_IDENTIFIER => (Kind::Vbi, ctx(&[PUBLISH, SUBSCRIBE])),
        0x11 => (Kind::U32, ctx(&[CONNECT, CONNACK, DISCONNECT])), // Session Expiry Interval
        ASSIGNED_CLIENT_IDENTIFIER => (Kind::Str, ctx(&[CONNACK])),
        SERVER_KEEP_ALIVE => (Kind::U16, ctx(&[CONNACK])),
        0x15 => (Kind::Str, ctx(&[CONNECT, CONNACK, 15])), // Authentication Method
        0x16 => (Kind::Binary, ctx(&[CONNECT, CONNACK, 15])), // Authentication Data
        0x17 | 0x19 => (Kind::Byte, ctx(&[CONNECT])),      // Request Problem / Response Information
        0x18 => (Kind::U32, ctx(&[WILL])),                 // Will Delay Interval
        0x1A => (Kind::Str, ctx(&[CONNACK])),              // Response Information
        0x1C => (Kind::Str, ctx(&[CONNACK, DISCONNECT])),  // Server Reference
        // Reason String: every ack, DISCONNECT and AUTH.
        0x1F => (
            Kind::Str,
            ctx(&[CONNACK, 4, 5, 6, 7, 9, 11, DISCONNECT, 15]),
        ),
        RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM => (Kind::U16, ctx(&[CONNECT, CONNACK])),
        TOPIC_ALIAS => (Kind::U16, ctx(&[PUBLISH])),
        0x24 | 0x25 | 0x28..=0x2A => (Kind::Byte, ctx(&[CONNACK])), // server capabilities
        USER_PROPERTY => (Kind::Pair, ANY),
        MAXIMUM_PACKET_SIZE => (Kind::U32, ctx(&[CONNECT, CONNACK])),
        _ => return None,
    })
}

/// Whether a decoded value is in the range MQTT 5 fixes for it (a value outside is a
/// protocol error, and Python's `Properties` refuses it too).
fn in_range(id: u8, value: u32) -> bool {
    match id {
        // Flags: Payload Format Indicator, Request Problem/Response Information, Maximum QoS,
        // Retain/Wildcard/Subscription Identifier/Shared Subscription Available.
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28..=0x2A => value <= 1,
        SUBSCRIPTION_IDENTIFIER | RECEIVE_MAXIMUM | TOPIC_ALIAS | MAXIMUM_PACKET_SIZE => value > 0,
        _ => true,
    }
}

/// One property: its identifier, and its numeric value where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Property<'a> {
    pub(crate) id: u8,
    /// Byte, two- and four-byte integers and VBIs; 0 for the others.
    pub(crate) number: u32,
    /// String and binary contents (without their length); empty for numbers.
    pub(crate) data: &'a [u8],
}

/// Reads a Variable Byte Integer at `at`: `(value, bytes used)`, or `None` when it is
/// truncated or longer than four bytes.
pub(crate) fn read_vbi(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for i in 0..4 {
        let byte = *buf.get(at + i)?;
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The number of bytes the Variable Byte Integer for `value` takes.
pub(crate) fn vbi_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// The length of the property block at the start of `buf` (prefix included), checking only
/// that the prefix is readable and the block fits in `buf`.
pub(crate) fn block_len(buf: &[u8]) -> Result<usize, String> {
    let (len, used) = read_vbi(buf, 0).ok_or("malformed property length")?;
    let total = used + len;
    if total > buf.len() {
        return Err(format!(
            "property length {len} overruns the packet ({} bytes left)",
            buf.len() - used
        ));
    }
    Ok(total)
}

/// Checks a whole block (prefix included, exactly `block.len()` bytes) for `context` and
/// returns its properties. An empty block stands for "none" and is accepted.
pub(crate) fn parse(block: &[u8], context: Context) -> Result<Vec<Property<'_>>, String> {
    if block.is_empty() {
        return Ok(Vec::new());
    }
    let total = block_len(block)?;
    if total != block.len() {
        return Err(format!(
            "property length {} does not match the {} bytes given",
            total,
            block.len()
        ));
    }
    let (_, mut pos) = read_vbi(block, 0).ok_or("malformed property length")?;
    let mut seen = 0u64;
    let mut out = Vec::new();
    while pos < block.len() {
        let id = block[pos];
        pos += 1;
        let (kind, allowed) = spec(id).ok_or_else(|| format!("unknown property 0x{id:02X}"))?;
        if allowed & (1 << context) == 0 {
            return Err(format!(
                "property 0x{id:02X} not allowed in packet type {context}"
            ));
        }
        let multiple = id == USER_PROPERTY || (id == SUBSCRIPTION_IDENTIFIER && context == PUBLISH);
        if !multiple {
            if seen & (1 << id) != 0 {
                return Err(format!("property 0x{id:02X} repeated"));
            }
            seen |= 1 << id;
        }
        let truncated = || format!("property 0x{id:02X} truncated");
        let fixed = |n: usize| -> Result<u32, String> {
            let bytes = block.get(pos..pos + n).ok_or_else(truncated)?;
            Ok(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
        };
        let (number, data, used): (u32, &[u8], usize) = match kind {
            Kind::Byte => (fixed(1)?, &[], 1),
            Kind::U16 => (fixed(2)?, &[], 2),
            Kind::U32 => (fixed(4)?, &[], 4),
            Kind::Vbi => {
                let (value, n) = read_vbi(block, pos).ok_or_else(truncated)?;
                let value = u32::try_from(value).map_err(|_| truncated())?;
                (value, &[], n)
            }
            Kind::Str | Kind::Binary => {
                let (data, n) = read_field(block, pos).ok_or_else(truncated)?;
                if kind == Kind::Str && std::str::from_utf8(data).is_err() {
                    return Err(format!("property 0x{id:02X} is not UTF-8"));
                }
                (0, data, n)
            }
            Kind::Pair => {
                let (key, n1) = read_field(block, pos).ok_or_else(truncated)?;
                let (value, n2) = read_field(block, pos + n1).ok_or_else(truncated)?;
                if std::str::from_utf8(key).is_err() || std::str::from_utf8(value).is_err() {
                    return Err("user property is not UTF-8".to_owned());
                }
                (0, &block[pos..pos + n1 + n2], n1 + n2)
            }
        };
        if !in_range(id, number) {
            return Err(format!("property 0x{id:02X} has invalid value {number}"));
        }
        pos += used;
        out.push(Property { id, number, data });
    }
    Ok(out)
}

/// A two-byte length and that many bytes at `at`: `(contents, bytes used)`.
fn read_field(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = usize::from(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]));
    let data = buf.get(at + 2..at + 2 + len)?;
    Some((data, 2 + len))
}

/// The numeric value of the first property `id` in a parsed block.
pub(crate) fn number(props: &[Property<'_>], id: u8) -> Option<u32> {
    props.iter().find(|p| p.id == id).map(|p| p.number)
}

/// The Topic Alias of a PUBLISH block that already passed [`parse`].
pub(crate) fn topic_alias(block: &[u8]) -> Option<u16> {
    let props = parse(block, PUBLISH).ok()?;
    number(&props, TOPIC_ALIAS).and_then(|n| u16::try_from(n).ok())
}

/// The block without property `id` (used to drop a Topic Alias the current connection cannot
/// honour). The block must have passed [`parse`]; an empty result stands for "none".
pub(crate) fn without(block: &Bytes, id: u8) -> Bytes {
    let Some((_, mut pos)) = read_vbi(block, 0) else {
        return block.clone();
    };
    let Ok(props) = parse(block, PUBLISH) else {
        return block.clone();
    };
    if props.iter().all(|p| p.id != id) {
        return block.clone();
    }
    // Re-walk the raw bytes, copying every property but `id` verbatim.
    let mut body = Vec::with_capacity(block.len());
    while pos < block.len() {
        let this = block[pos];
        let start = pos;
        pos += 1;
        let used = match spec(this).map(|(kind, _)| kind) {
            Some(Kind::Byte) => 1,
            Some(Kind::U16) => 2,
            Some(Kind::U32) => 4,
            Some(Kind::Vbi) => read_vbi(block, pos).map_or(0, |(_, n)| n),
            Some(Kind::Str | Kind::Binary) => read_field(block, pos).map_or(0, |(_, n)| n),
            Some(Kind::Pair) => read_field(block, pos)
                .and_then(|(_, n1)| read_field(block, pos + n1).map(|(_, n2)| n1 + n2))
                .unwrap_or(0),
            None => 0,
        };
        pos += used;
        if this != id {
            body.extend_from_slice(&block[start..pos]);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    put_vbi(&mut out, body.len());
    out.extend_from_slice(&body);
    Bytes::from(out)
}

/// Appends the Variable Byte Integer for `value` (at most 268 435 455).
pub(crate) fn put_vbi(buf: &mut impl bytes::BufMut, mut value: usize) {
    loop {
        // Masked to 7 bits, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

/// The bytes a block takes on the wire: a request's empty block is written as `0x00`.
pub(crate) fn wire_len(block: &[u8]) -> usize {
    block.len().max(1)
}

/// Writes a request's block, `0x00` for an empty one.
pub(crate) fn put_block(buf: &mut bytes::BytesMut, block: &[u8]) {
    if block.is_empty() {
        buf.extend_from_slice(&[0]);
    } else {
        buf.extend_from_slice(block);
    }
}
