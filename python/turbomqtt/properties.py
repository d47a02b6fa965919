"""MQTT 5 properties, with the behaviour of ``paho.mqtt.properties``.

A :class:`Properties` object holds the properties of one packet type. Each property is an
attribute named after the property without spaces (``ReceiveMaximum``, ``UserProperty``, ...);
an unset property is simply absent (``hasattr``). Assignments are checked against the packet
type and the value ranges of the MQTT 5.0 standard, and raise :class:`MQTTException`.

The module also has the wire helpers paho exposes: :class:`VariableByteIntegers` and the
``read*``/``write*`` functions for MQTT's integer, string and binary encodings.
"""

from __future__ import annotations

import struct
from typing import Any, Union

from turbomqtt.exception import MalformedPacket, MQTTException
from turbomqtt.packettypes import PacketTypes

__all__ = [
    "MQTTException",
    "MalformedPacket",
    "PacketTypes",
    "Properties",
    "VariableByteIntegers",
    "readBytes",
    "readInt16",
    "readInt32",
    "readUTF",
    "writeBytes",
    "writeInt16",
    "writeInt32",
    "writeUTF",
]

_Buffer = Union[bytes, bytearray]

_VBI_MAX = 268_435_455  # 0x0FFFFFFF, the largest value four 7-bit groups can hold


def writeInt16(length: int) -> bytearray:
    """``length`` as a big-endian unsigned 16-bit integer (MQTT "Two Byte Integer")."""
    return bytearray(struct.pack("!H", length))


def readInt16(buf: _Buffer) -> int:
    """The big-endian unsigned 16-bit integer at the start of ``buf``."""
    value: int = struct.unpack("!H", buf[:2])[0]
    return value


def writeInt32(length: int) -> bytearray:
    """``length`` as a big-endian unsigned 32-bit integer (MQTT "Four Byte Integer")."""
    return bytearray(struct.pack("!L", length))


def readInt32(buf: _Buffer) -> int:
    """The big-endian unsigned 32-bit integer at the start of ``buf``."""
    value: int = struct.unpack("!L", buf[:4])[0]
    return value


def writeUTF(data: Union[str, bytes]) -> bytearray:
    """An MQTT string: a 16-bit length, then the bytes (a ``str`` is encoded as UTF-8)."""
    raw = data if isinstance(data, bytes) else bytes(data, "utf-8")
    return writeInt16(len(raw)) + raw


def _prefixed_length(buffer: _Buffer, pos: int, limit: int, what: str) -> int:
    """Length of the length-prefixed field at ``buffer[pos]``, which must end by ``limit``."""
    if limit - pos < 2:
        raise MalformedPacket(f"Not enough data to read {what} length")
    length: int = struct.unpack_from("!H", buffer, pos)[0]
    if length > limit - pos - 2:
        raise MalformedPacket(f"Length delimited {what} too long")
    return length


def _read_utf(buffer: _Buffer, pos: int, limit: int) -> tuple[str, int]:
    length = _prefixed_length(buffer, pos, limit, "string")
    try:
        text = bytes(buffer[pos + 2 : pos + 2 + length]).decode("utf-8")
    except UnicodeDecodeError as err:
        # Python's strict UTF-8 codec also rejects encoded surrogates (U+D800-U+DFFF),
        # which MQTT forbids [MQTT-1.5.4-1].
        raise MalformedPacket(f"[MQTT-1.5.4-1] Invalid UTF-8 data: {err}") from err
    # Report whichever forbidden character comes first, as a character-by-character scan would.
    null, bom = text.find("\x00"), text.find("\ufeff")
    if null >= 0 and (bom < 0 or null < bom):
        raise MalformedPacket("[MQTT-1.5.4-2] Null found in UTF-8 data")
    if bom >= 0:
        raise MalformedPacket("[MQTT-1.5.4-3] U+FEFF in UTF-8 data")
    return text, length + 2


def readUTF(buffer: _Buffer, maxlen: int) -> tuple[str, int]:
    """Read an MQTT string from ``buffer``, using at most ``maxlen`` bytes.

    Returns the text and the bytes consumed. Raises :class:`MalformedPacket` if the field does
    not fit, is not UTF-8, or holds U+0000 or U+FEFF (paho rejects both).
    """
    return _read_utf(buffer, 0, min(maxlen, len(buffer)))


def writeBytes(buffer: _Buffer) -> bytearray:
    """MQTT binary data: a 16-bit length, then the bytes."""
    return writeInt16(len(buffer)) + buffer


def _read_bytes(buffer: _Buffer, pos: int, limit: int) -> tuple[_Buffer, int]:
    length = _prefixed_length(buffer, pos, limit, "binary data")
    return buffer[pos + 2 : pos + 2 + length], length + 2


def readBytes(buffer: _Buffer, maxlen: int) -> tuple[_Buffer, int]:
    """Read MQTT binary data from ``buffer``, using at most ``maxlen`` bytes.

    Returns the data (a slice of ``buffer``, so of its type) and the bytes consumed.
    """
    return _read_bytes(buffer, 0, min(maxlen, len(buffer)))


def _decode_vbi(buffer: _Buffer, pos: int, limit: int) -> tuple[int, int]:
    value = 0
    for used in range(4):
        if pos + used >= limit:
            raise MalformedPacket("Not enough data to decode Variable Byte Integer")
        byte = buffer[pos + used]
        value |= (byte & 0x7F) << (7 * used)
        if not byte & 0x80:
            return value, used + 1
    raise MalformedPacket("Variable Byte Integer is more than four bytes long")


class VariableByteIntegers:
    """The MQTT Variable Byte Integer encoding: 7 bits per byte, low group first, the top bit
    set on every byte but the last; at most four bytes (0 to 268 435 455)."""

    @staticmethod
    def encode(x: int) -> bytes:
        """Encode ``x``; :class:`ValueError` unless ``0 <= x <= 268435455``."""
        if not 0 <= x <= _VBI_MAX:
            raise ValueError(f"Value {x!r} must be in range 0-{_VBI_MAX}")
        out = bytearray()
        while True:
            x, group = divmod(x, 128)
            out.append(group | 0x80 if x else group)
            if not x:
                return bytes(out)

    @staticmethod
    def decode(buffer: _Buffer) -> tuple[int, int]:
        """Decode the integer at the start of ``buffer``; returns ``(value, bytes used)``.

        Raises :class:`MalformedPacket` if the data ends inside the integer or the integer is
        longer than four bytes. Like paho, a non-minimal encoding is accepted.
        """
        return _decode_vbi(buffer, 0, len(buffer))


# Value encodings, in paho's order: Properties.types[i] names encoding i.
_TYPES = (
    "Byte",
    "Two Byte Integer",
    "Four Byte Integer",
    "Variable Byte Integer",
    "Binary Data",
    "UTF-8 Encoded String",
    "UTF-8 String Pair",
)
_BYTE, _INT16, _INT32, _VBI, _BINARY, _STRING, _PAIR = range(len(_TYPES))

_CONNECT = PacketTypes.CONNECT
_CONNACK = PacketTypes.CONNACK
_PUBLISH = PacketTypes.PUBLISH
_WILL = PacketTypes.WILLMESSAGE
_DISCONNECT = PacketTypes.DISCONNECT
_AUTH = PacketTypes.AUTH
_ACKS = (
    PacketTypes.PUBACK,
    PacketTypes.PUBREC,
    PacketTypes.PUBREL,
    PacketTypes.PUBCOMP,
    PacketTypes.SUBACK,
    PacketTypes.UNSUBACK,
)

# The MQTT 5.0 properties (OASIS standard, section 2.2.2.2): identifier, name, encoding and
# the packet types (WILLMESSAGE for the will) that may carry it. Ordered by identifier, which
# is also the order in which pack(), str() and json() list them.
_PROPERTY_TABLE: tuple[tuple[int, str, int, tuple[int, ...]], ...] = (
    (1, "Payload Format Indicator", _BYTE, (_PUBLISH, _WILL)),
    (2, "Message Expiry Interval", _INT32, (_PUBLISH, _WILL)),
    (3, "Content Type", _STRING, (_PUBLISH, _WILL)),
    (8, "Response Topic", _STRING, (_PUBLISH, _WILL)),
    (9, "Correlation Data", _BINARY, (_PUBLISH, _WILL)),
    (11, "Subscription Identifier", _VBI, (_PUBLISH, PacketTypes.SUBSCRIBE)),
    (17, "Session Expiry Interval", _INT32, (_CONNECT, _CONNACK, _DISCONNECT)),
    (18, "Assigned Client Identifier", _STRING, (_CONNACK,)),
    (19, "Server Keep Alive", _INT16, (_CONNACK,)),
    (21, "Authentication Method", _STRING, (_CONNECT, _CONNACK, _AUTH)),
    (22, "Authentication Data", _BINARY, (_CONNECT, _CONNACK, _AUTH)),
    (23, "Request Problem Information", _BYTE, (_CONNECT,)),
    (24, "Will Delay Interval", _INT32, (_WILL,)),
    (25, "Request Response Information", _BYTE, (_CONNECT,)),
    (26, "Response Information", _STRING, (_CONNACK,)),
    (28, "Server Reference", _STRING, (_CONNACK, _DISCONNECT)),
    (31, "Reason String", _STRING, (_CONNACK, *_ACKS, _DISCONNECT, _AUTH)),
    (33, "Receive Maximum", _INT16, (_CONNECT, _CONNACK)),
    (34, "Topic Alias Maximum", _INT16, (_CONNECT, _CONNACK)),
    (35, "Topic Alias", _INT16, (_PUBLISH,)),
    (36, "Maximum QoS", _BYTE, (_CONNACK,)),
    (37, "Retain Available", _BYTE, (_CONNACK,)),
    (
        38,
        "User Property",
        _PAIR,
        (
            _CONNECT,
            _CONNACK,
            _PUBLISH,
            *_ACKS[:4],
            PacketTypes.SUBSCRIBE,
            PacketTypes.SUBACK,
            PacketTypes.UNSUBSCRIBE,
            PacketTypes.UNSUBACK,
            _DISCONNECT,
            _AUTH,
            _WILL,
        ),
    ),
    (39, "Maximum Packet Size", _INT32, (_CONNECT, _CONNACK)),
    (40, "Wildcard Subscription Available", _BYTE, (_CONNACK,)),
    (41, "Subscription Identifier Available", _BYTE, (_CONNACK,)),
    (42, "Shared Subscription Available", _BYTE, (_CONNACK,)),
)

_IDENT_BY_COMPRESSED = {name.replace(" ", ""): ident for ident, name, _, _ in _PROPERTY_TABLE}
_COMPRESSED_BY_IDENT = {ident: name for name, ident in _IDENT_BY_COMPRESSED.items()}
_NAME_BY_IDENT = {ident: name for ident, name, _, _ in _PROPERTY_TABLE}
_KIND_BY_IDENT = {ident: kind for ident, _, kind, _ in _PROPERTY_TABLE}
_PACKETS_BY_IDENT = {ident: packets for ident, _, _, packets in _PROPERTY_TABLE}

# Properties that may appear more than once; they are kept as lists.
_MULTIPLE = frozenset((11, 38))

# Value checks on assignment: (lowest, highest) accepted, by compressed name.
_RANGES = {
    "ReceiveMaximum": (1, 65535),
    "TopicAlias": (1, 65535),
    "TopicAliasMaximum": (0, 65535),
    "MaximumPacketSize": (1, _VBI_MAX),
    "SubscriptionIdentifier": (1, _VBI_MAX),
}
_FLAGS = frozenset(
    ("RequestResponseInformation", "RequestProblemInformation", "PayloadFormatIndicator")
)

# Instance attributes that are bookkeeping, not properties.
_INTERNAL = frozenset(("packetType", "types", "names", "properties"))


class Properties:
    """The MQTT 5 properties of one packet (``Properties(PacketTypes.PUBLISH)``), or of a will
    message (``PacketTypes.WILLMESSAGE``).

    Set a property by assigning the attribute named like it without spaces::

        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = 30
        props.UserProperty = ("sensor", "t1")
        props.UserProperty = ("unit", "C")  # UserProperty is now a list of two pairs

    ``UserProperty`` and ``SubscriptionIdentifier`` accumulate: every assignment appends (a
    list appends all its items). Assigning a name that is not a property, a property the packet
    type does not allow, or a value out of range raises :class:`MQTTException`.

    ``names`` maps each property name (with spaces) to its identifier, ``properties`` maps each
    identifier to ``(encoding, packet types)``, and ``types`` lists the encodings. They are
    per-instance copies of the MQTT 5.0 tables, for reading: changing them changes nothing.
    """

    packetType: int
    types: list[str]
    names: dict[str, int]
    properties: dict[int, tuple[int, list[int]]]

    # The properties, for type checkers; at run time each exists only once it is set.
    PayloadFormatIndicator: int
    MessageExpiryInterval: int
    ContentType: str
    ResponseTopic: str
    CorrelationData: Union[bytes, bytearray]
    SubscriptionIdentifier: Any  # list[int]; assign an int or a list of ints
    SessionExpiryInterval: int
    AssignedClientIdentifier: str
    ServerKeepAlive: int
    AuthenticationMethod: str
    AuthenticationData: Union[bytes, bytearray]
    RequestProblemInformation: int
    WillDelayInterval: int
    RequestResponseInformation: int
    ResponseInformation: str
    ServerReference: str
    ReasonString: str
    ReceiveMaximum: int
    TopicAliasMaximum: int
    TopicAlias: int
    MaximumQoS: int
    RetainAvailable: int
    UserProperty: Any  # list[tuple[str, str]]; assign a pair or a list of pairs
    MaximumPacketSize: int
    WildcardSubscriptionAvailable: int
    SubscriptionIdentifierAvailable: int
    SharedSubscriptionAvailable: int

    def __init__(self, packetType: int) -> None:
        """Start with no properties, for packets of type ``packetType``."""
        self.packetType = packetType
        self.types = list(_TYPES)
        self.names = {name: ident for ident, name, _, _ in _PROPERTY_TABLE}
        self.properties = {
            ident: (kind, list(packets)) for ident, _, kind, packets in _PROPERTY_TABLE
        }

    def _packet_name(self) -> str:
        try:
            return PacketTypes.Names[self.packetType]
        except IndexError:
            # paho raises IndexError here; a will is the one such type in normal use.
            return "WillMessage" if self.packetType == PacketTypes.WILLMESSAGE else "Unknown"

    def allowsMultiple(self, compressedName: str) -> bool:
        """Whether the property may occur several times (and so is kept as a list)."""
        return _IDENT_BY_COMPRESSED.get(compressedName) in _MULTIPLE

    def getIdentFromName(self, compressedName: str) -> int:
        """The identifier of the property called ``compressedName`` (no spaces), else -1."""
        return _IDENT_BY_COMPRESSED.get(compressedName, -1)

    def getNameFromIdent(self, identifier: int) -> Union[str, None]:
        """The name (with spaces) of the property numbered ``identifier``, else ``None``."""
        return _NAME_BY_IDENT.get(identifier)

    def _validated(self, name: str, value: Any) -> int:
        """Check that property ``name`` (compressed) may hold ``value`` in this packet type;
        returns its identifier."""
        ident = _IDENT_BY_COMPRESSED.get(name)
        if ident is None:
            raise MQTTException(f"Property name must be one of {self.names.keys()}")
        if self.packetType not in _PACKETS_BY_IDENT[ident]:
            raise MQTTException(
                f"Property {name} does not apply to packet type {self._packet_name()}"
            )
        if not isinstance(value, list):
            _check_value(name, value)
        return ident

    def __setattr__(self, name: str, value: Any) -> None:
        name = name.replace(" ", "")
        if name in _INTERNAL:
            object.__setattr__(self, name, value)
            return
        if self._validated(name, value) in _MULTIPLE:
            items = value if isinstance(value, list) else [value]
            if name in self.__dict__:
                # A new list, as paho makes: a list the caller kept hold of is not changed.
                items = self.__dict__[name] + items
            value = items
        object.__setattr__(self, name, value)

    def _present(self) -> list[str]:
        """Compressed names of the properties that are set, in identifier order."""
        return [name for name in _IDENT_BY_COMPRESSED if name in self.__dict__]

    def __str__(self) -> str:
        return "[" + ", ".join(f"{name} : {getattr(self, name)}" for name in self._present()) + "]"

    def json(self) -> dict[str, Any]:
        """The set properties as a dict; ``CorrelationData`` bytes become a hex string."""
        data: dict[str, Any] = {}
        for name in self._present():
            value = getattr(self, name)
            if name == "CorrelationData" and isinstance(value, bytes):
                value = value.hex()
            data[name] = value
        return data

    def isEmpty(self) -> bool:
        """Whether no property is set."""
        return not self._present()

    def clear(self) -> None:
        """Remove every property."""
        for name in self._present():
            delattr(self, name)

    def writeProperty(self, identifier: int, type: int, value: Any) -> bytes:
        """One property on the wire: its identifier, then ``value`` in encoding ``type``."""
        out = bytearray(VariableByteIntegers.encode(identifier))
        if type == _BYTE:
            out += bytes((value,))
        elif type == _INT16:
            out += writeInt16(value)
        elif type == _INT32:
            out += writeInt32(value)
        elif type == _VBI:
            out += VariableByteIntegers.encode(value)
        elif type == _BINARY:
            out += writeBytes(value)
        elif type == _STRING:
            out += writeUTF(value)
        elif type == _PAIR:
            out += writeUTF(value[0]) + writeUTF(value[1])
        return bytes(out)

    def pack(self) -> bytes:
        """The properties on the wire: a Variable Byte Integer length, then each property."""
        body = bytearray()
        for name in self._present():
            ident = self.getIdentFromName(name)
            kind = _KIND_BY_IDENT[ident]
            value = getattr(self, name)
            for item in value if self.allowsMultiple(name) else [value]:
                body += self.writeProperty(ident, kind, item)
        return VariableByteIntegers.encode(len(body)) + bytes(body)

    def readProperty(self, buffer: _Buffer, type: int, propslen: int) -> tuple[Any, int]:
        """Read one value of encoding ``type`` from ``buffer``, using at most ``propslen``
        bytes; returns ``(value, bytes used)``. A value that does not fit raises
        :class:`MalformedPacket`."""
        return _read_value(buffer, 0, min(propslen, len(buffer)), type)

    def unpack(self, buffer: _Buffer) -> tuple[Properties, int]:
        """Replace the properties with those encoded at the start of ``buffer``.

        Returns ``(self, bytes used)``. Data that cannot be decoded (truncated, an unknown
        identifier, a value overrunning the property length) raises :class:`MalformedPacket`;
        a decodable property the packet type does not allow, a value out of range, or a
        repeated single-valued property raises :class:`MQTTException`.
        """
        self.clear()
        propslen, used = VariableByteIntegers.decode(buffer)
        end = used + propslen
        # Every read is bounded both by the property length and by the data really there;
        # running out of either is a MalformedPacket, raised by the read that runs out (so with
        # the same message as paho where paho raises one). Reading at offsets, not slicing,
        # keeps a packet with many properties linear.
        limit = min(end, len(buffer))
        pos = used
        while pos < end:
            ident, n = _decode_vbi(buffer, pos, limit)
            pos += n
            name = _COMPRESSED_BY_IDENT.get(ident)
            if name is None:
                raise MalformedPacket(f"Unknown property identifier {ident}")
            value, n = _read_value(buffer, pos, limit, _KIND_BY_IDENT[ident])
            pos += n
            if ident in _MULTIPLE:
                self._validated(name, value)
                held = self.__dict__.get(name)
                if held is None:
                    object.__setattr__(self, name, [value])
                else:
                    held.append(value)  # a list made by this call (clear() ran first)
                continue
            if name in self.__dict__:
                raise MQTTException(f"Property '{name}' must not exist more than once")
            self._validated(name, value)
            object.__setattr__(self, name, value)
        return self, end


_FIXED_SIZES = {_BYTE: 1, _INT16: 2, _INT32: 4}


def _read_value(buffer: _Buffer, pos: int, limit: int, kind: int) -> tuple[Any, int]:
    """One property value of encoding ``kind`` at ``buffer[pos]``, ending by ``limit``."""
    size = _FIXED_SIZES.get(kind)
    if size is not None and pos + size > limit:
        raise MalformedPacket(f"Not enough data to read a {_TYPES[kind]} property value")
    if kind == _BYTE:
        return buffer[pos], 1
    if kind == _INT16:
        return struct.unpack_from("!H", buffer, pos)[0], 2
    if kind == _INT32:
        return struct.unpack_from("!L", buffer, pos)[0], 4
    if kind == _VBI:
        return _decode_vbi(buffer, pos, limit)
    if kind == _BINARY:
        return _read_bytes(buffer, pos, limit)
    if kind == _STRING:
        return _read_utf(buffer, pos, limit)
    if kind == _PAIR:
        key, used = _read_utf(buffer, pos, limit)
        val, used2 = _read_utf(buffer, pos + used, limit)
        return (key, val), used + used2
    raise MalformedPacket(f"Unknown property value encoding {kind!r}")


def _check_value(name: str, value: Any) -> None:
    """Range checks for a single (non-list) value, with paho's messages."""
    bounds = _RANGES.get(name)
    if bounds is not None:
        low, high = bounds
        if value < low or value > high:
            raise MQTTException(f"{name} property value must be in the range {low}-{high}")
    elif name in _FLAGS and value not in (0, 1):
        raise MQTTException(f"{name} property value must be 0 or 1")
