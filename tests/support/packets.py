"""Byte builders for MQTT 3.1.1 control packets, for packet-exact tests.

Written from the OASIS MQTT 3.1.1 specification (section numbers in the
docstrings). Every builder returns the complete packet: fixed header, remaining
length, variable header and payload. Strings are UTF-8 with a 2-byte big-endian
length prefix (1.5.3); packet identifiers ("mid") are 2-byte big-endian (2.3.1).

``describe()`` turns packet bytes back into a one-line summary for failure
messages; it is not a full decoder.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Union

__all__ = [
    "PACKET_NAMES",
    "connack",
    "connect",
    "decode_remaining_length",
    "describe",
    "disconnect",
    "encode_remaining_length",
    "encode_string",
    "pingreq",
    "pingresp",
    "puback",
    "pubcomp",
    "publish",
    "pubrec",
    "pubrel",
    "suback",
    "subscribe",
    "unsuback",
    "unsubscribe",
]

Text = Union[str, bytes]

#: Control packet type (high nibble of byte 1) -> name (2.2.1).
PACKET_NAMES = {
    1: "CONNECT",
    2: "CONNACK",
    3: "PUBLISH",
    4: "PUBACK",
    5: "PUBREC",
    6: "PUBREL",
    7: "PUBCOMP",
    8: "SUBSCRIBE",
    9: "SUBACK",
    10: "UNSUBSCRIBE",
    11: "UNSUBACK",
    12: "PINGREQ",
    13: "PINGRESP",
    14: "DISCONNECT",
}

_MAX_REMAINING_LENGTH = 268_435_455  # 2.2.3: four bytes of 7 bits


def encode_remaining_length(length: int) -> bytes:
    """The variable-length "Remaining Length" field (2.2.3)."""
    if not 0 <= length <= _MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {length} out of range")
    out = bytearray()
    while True:
        length, digit = divmod(length, 128)
        out.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(out)


def decode_remaining_length(data: bytes | bytearray, offset: int = 1) -> tuple[int, int]:
    """Decode the Remaining Length starting at ``data[offset]``.

    Returns ``(length, number of bytes used)``; raises ValueError if the field is
    incomplete or longer than 4 bytes.
    """
    value = 0
    for i in range(4):
        if offset + i >= len(data):
            raise ValueError("incomplete remaining length")
        byte = data[offset + i]
        value += (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise ValueError("malformed remaining length (more than 4 bytes)")


def _utf8(value: Text) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def encode_string(value: Text) -> bytes:
    """A length-prefixed UTF-8 string or binary field (1.5.3)."""
    data = _utf8(value)
    if len(data) > 0xFFFF:
        raise ValueError("string longer than 65535 bytes")
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes = b"") -> bytes:
    return bytes([first_byte]) + encode_remaining_length(len(body)) + body


def _mid(mid: int) -> bytes:
    if not 0 < mid <= 0xFFFF:
        raise ValueError(f"packet identifier {mid} must be in 1..65535")
    return struct.pack("!H", mid)


def connect(
    client_id: Text = "",
    *,
    clean_session: bool = True,
    keepalive: int = 60,
    username: Text | None = None,
    password: Text | None = None,
    will_topic: Text | None = None,
    will_payload: Text = b"",
    will_qos: int = 0,
    will_retain: bool = False,
    protocol_level: int = 4,
) -> bytes:
    """CONNECT (3.1). ``protocol_level`` 4 is MQTT 3.1.1 ("MQTT"); 3 is MQTT 3.1 ("MQIsdp").

    The flags byte is set from the arguments (3.1.2.3): will flag iff
    ``will_topic`` is given; user name / password flags iff they are not None.
    The payload order is fixed: client id, will topic, will message, user name,
    password (3.1.3).
    """
    if protocol_level == 4:
        name = b"MQTT"
    elif protocol_level == 3:
        name = b"MQIsdp"
    else:
        raise ValueError("protocol_level must be 3 or 4 for MQTT 3.1/3.1.1")
    flags = 0x02 if clean_session else 0
    payload = encode_string(client_id)
    if will_topic is not None:
        if will_qos not in (0, 1, 2):
            raise ValueError("will_qos must be 0, 1 or 2")
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        payload += encode_string(will_topic) + encode_string(will_payload)
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
    if password is not None:
        flags |= 0x40
        payload += encode_string(password)
    variable = encode_string(name) + bytes([protocol_level, flags]) + struct.pack("!H", keepalive)
    return _packet(0x10, variable + payload)


def connack(return_code: int = 0, *, session_present: bool = False) -> bytes:
    """CONNACK (3.2): 0 accepted, 1 bad protocol, 2 id rejected, 3 unavailable,
    4 bad user name or password, 5 not authorised."""
    return _packet(0x20, bytes([1 if session_present else 0, return_code]))


def publish(
    topic: Text,
    payload: Text = b"",
    *,
    qos: int = 0,
    mid: int | None = None,
    dup: bool = False,
    retain: bool = False,
) -> bytes:
    """PUBLISH (3.3). ``mid`` is required for QoS 1/2 and forbidden for QoS 0 (2.3.1)."""
    if qos not in (0, 1, 2):
        raise ValueError("qos must be 0, 1 or 2")
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    variable = encode_string(topic)
    if qos:
        if mid is None:
            raise ValueError("QoS 1/2 PUBLISH needs a mid")
        variable += _mid(mid)
    elif mid is not None:
        raise ValueError("QoS 0 PUBLISH has no mid")
    return _packet(first, variable + _utf8(payload))


def puback(mid: int) -> bytes:
    """PUBACK (3.4)."""
    return _packet(0x40, _mid(mid))


def pubrec(mid: int) -> bytes:
    """PUBREC (3.5)."""
    return _packet(0x50, _mid(mid))


def pubrel(mid: int) -> bytes:
    """PUBREL (3.6): the fixed-header flags are 0b0010."""
    return _packet(0x62, _mid(mid))


def pubcomp(mid: int) -> bytes:
    """PUBCOMP (3.7)."""
    return _packet(0x70, _mid(mid))


def subscribe(mid: int, topics: Text | Sequence[tuple[Text, int]], qos: int = 0) -> bytes:
    """SUBSCRIBE (3.8), flags 0b0010. ``topics`` is one filter (with ``qos``) or a
    list of ``(filter, qos)`` pairs, kept in order."""
    pairs = [(topics, qos)] if isinstance(topics, (str, bytes)) else list(topics)
    if not pairs:
        raise ValueError("SUBSCRIBE needs at least one topic filter")
    payload = b"".join(encode_string(t) + bytes([q]) for t, q in pairs)
    return _packet(0x82, _mid(mid) + payload)


def suback(mid: int, granted: int | Sequence[int]) -> bytes:
    """SUBACK (3.9): one return code per filter (0, 1, 2, or 0x80 failure)."""
    codes = [granted] if isinstance(granted, int) else list(granted)
    return _packet(0x90, _mid(mid) + bytes(codes))


def unsubscribe(mid: int, topics: Text | Sequence[Text]) -> bytes:
    """UNSUBSCRIBE (3.10), flags 0b0010."""
    filters = [topics] if isinstance(topics, (str, bytes)) else list(topics)
    if not filters:
        raise ValueError("UNSUBSCRIBE needs at least one topic filter")
    return _packet(0xA2, _mid(mid) + b"".join(encode_string(t) for t in filters))


def unsuback(mid: int) -> bytes:
    """UNSUBACK (3.11)."""
    return _packet(0xB0, _mid(mid))


def pingreq() -> bytes:
    """PINGREQ (3.12)."""
    return b"\xc0\x00"


def pingresp() -> bytes:
    """PINGRESP (3.13)."""
    return b"\xd0\x00"


def disconnect() -> bytes:
    """DISCONNECT (3.14)."""
    return b"\xe0\x00"


def describe(packet: bytes) -> str:
    """A short human summary of one packet, e.g. ``PUBLISH qos=1 dup=0 retain=0
    mid=3 topic='a/b' (14 bytes)``. Never raises: garbage is described as such."""
    if not packet:
        return "(no bytes)"
    kind = packet[0] >> 4
    name = PACKET_NAMES.get(kind, f"reserved type {kind}")
    try:
        length, used = decode_remaining_length(packet)
    except ValueError as exc:
        return f"{name} with {exc} ({len(packet)} bytes)"
    body = packet[1 + used : 1 + used + length]
    parts = [name]
    try:
        if kind == 3:
            qos = (packet[0] >> 1) & 3
            parts.append(f"qos={qos} dup={packet[0] >> 3 & 1} retain={packet[0] & 1}")
            (tlen,) = struct.unpack_from("!H", body)
            topic = body[2 : 2 + tlen].decode("utf-8", "replace")
            if qos:
                parts.append(f"mid={struct.unpack_from('!H', body, 2 + tlen)[0]}")
            parts.append(f"topic={topic!r}")
        elif kind in (4, 5, 6, 7, 8, 9, 10, 11):
            parts.append(f"mid={struct.unpack_from('!H', body)[0]}")
        elif kind == 2:
            parts.append(f"session_present={body[0]} rc={body[1]}")
        elif kind == 1:
            (nlen,) = struct.unpack_from("!H", body)
            level, flags = body[2 + nlen], body[3 + nlen]
            parts.append(f"level={level} flags=0x{flags:02x}")
    except (struct.error, IndexError):
        parts.append("(truncated)")
    if len(body) != length:
        parts.append(f"[remaining length says {length}, have {len(body)}]")
    parts.append(f"({len(packet)} bytes)")
    return " ".join(parts)
