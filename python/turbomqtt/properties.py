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


def _prefixed_length(buffer: _Buffer, maxlen: int, what: str) -> int:
    """Length of the length-prefixed field at the start of ``buffer``, checked against the
    bytes really available (at most ``maxlen``)."""
    available = min(maxlen, len(buffer))
    if available < 2:
        raise MalformedPacket(f"Not enough data to read {what} length")
    length = readInt16(buffer)
    if length > available - 2:
        raise MalformedPacket(f"Length delimited {what} too long")
    return length


def readUTF(buffer: _Buffer, maxlen: int) -> tuple[str, int]:
    """Read an MQTT string from ``buffer``, using at most ``maxlen`` bytes.

    Returns the text and the bytes consumed. Raises :class:`MalformedPacket` if the field does
    not fit, is not UTF-8, or holds U+0000 or U+FEFF (paho rejects both).
    """
    length = _prefixed_length(buffer, maxlen, "string")
    try:
        text = bytes(buffer[2 : 2 + length]).decode("utf-8")
    except UnicodeDecodeError as err:
        # Python's strict UTF-8 codec also rejects encoded surrogates (U+D800-U+DFFF),
        # which MQTT forbids [MQTT-1.5.4-1].
        raise MalformedPacket(f"[MQTT-1.5.4-1] Invalid UTF-8 data: {err}") from err
    for char in text:
        if char == "\x00":
            raise MalformedPacket("[MQTT-1.5.4-2] Null found in UTF-8 data")
        if char == "\ufeff":
            raise MalformedPacket("[MQTT-1.5.4-3] U+FEFF in UTF-8 data")
    return text, length + 2


def writeBytes(buffer: _Buffer) -> bytearray:
    """MQTT binary data: a 16-bit length, then the bytes."""
    return writeInt16(len(buffer)) + buffer


def readBytes(buffer: _Buffer, maxlen: int) -> tuple[_Buffer, int]:
    """Read MQTT binary data from ``buffer``, using at most ``maxlen`` bytes.

    Returns the data (a slice of ``buffer``, so of its type) and the bytes consumed.
    """
    length = _prefixed_length(buffer, maxlen, "binary data")
    return buffer[2 : 2 + length], length + 2


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
        value = 0
        for used in range(4):
            if used >= len(buffer):
                raise MalformedPacket("Not enough data to decode Variable Byte Integer")
            byte = buffer[used]
            value |= (byte & 0x7F) << (7 * used)
            if not byte & 0x80:
                return value, used + 1
        raise MalformedPacket("Variable Byte Integer is more than four bytes long")


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
    identifier to ``(encoding, packet types)``, and ``types`` lists the encodings.
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

    def _compressed_names(self) -> list[str]:
        return [name.replace(" ", "") for name in self.names]

    def allowsMultiple(self, compressedName: str) -> bool:
        """Whether the property may occur several times (and so is kept as a list)."""
        return self.getIdentFromName(compressedName) in _MULTIPLE

    def getIdentFromName(self, compressedName: str) -> int:
        """The identifier of the property called ``compressedName`` (no spaces), else -1."""
        for name, ident in self.names.items():
            if name.replace(" ", "") == compressedName:
                return ident
        return -1

    def getNameFromIdent(self, identifier: int) -> Union[str, None]:
        """The name (with spaces) of the property numbered ``identifier``, else ``None``."""
        found = None
        for name, ident in self.names.items():
            if ident == identifier:
                found = name
        return found

    def __setattr__(self, name: str, value: Any) -> None:
        name = name.replace(" ", "")
        if name in _INTERNAL:
            object.__setattr__(self, name, value)
            return
        ident = self.getIdentFromName(name)
        if ident == -1:
            raise MQTTException(f"Property name must be one of {self.names.keys()}")
        if self.packetType not in self.properties[ident][1]:
            raise MQTTException(
                f"Property {name} does not apply to packet type {self._packet_name()}"
            )
        if not isinstance(value, list):
            _check_value(name, value)
        if ident in _MULTIPLE:
            items = value if isinstance(value, list) else [value]
            if hasattr(self, name):
                items = object.__getattribute__(self, name) + items
            value = items
        object.__setattr__(self, name, value)

    def _present(self) -> list[str]:
        """Compressed names of the properties that are set, in identifier order."""
        return [name for name in self._compressed_names() if hasattr(self, name)]

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
            kind = self.properties[ident][0]
            value = getattr(self, name)
            for item in value if self.allowsMultiple(name) else [value]:
                body += self.writeProperty(ident, kind, item)
        return VariableByteIntegers.encode(len(body)) + bytes(body)

    def readProperty(self, buffer: _Buffer, type: int, propslen: int) -> tuple[Any, int]:
        """Read one value of encoding ``type`` from ``buffer``, using at most ``propslen``
        bytes; returns ``(value, bytes used)``. A value that does not fit raises
        :class:`MalformedPacket`."""
        available = min(propslen, len(buffer))
        fixed = {_BYTE: 1, _INT16: 2, _INT32: 4}.get(type)
        if fixed is not None and fixed > available:
            raise MalformedPacket(f"Not enough data to read a {_TYPES[type]} property value")
        if type == _BYTE:
            return buffer[0], 1
        if type == _INT16:
            return readInt16(buffer), 2
        if type == _INT32:
            return readInt32(buffer), 4
        if type == _VBI:
            value, used = VariableByteIntegers.decode(buffer[:available])
            return value, used
        if type == _BINARY:
            return readBytes(buffer, available)
        if type == _STRING:
            return readUTF(buffer, available)
        if type == _PAIR:
            key, used = readUTF(buffer, available)
            val, used2 = readUTF(buffer[used:], available - used)
            return (key, val), used + used2
        raise MalformedPacket(f"Unknown property value encoding {type!r}")

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
        pos = used
        # Every read below sees buffer[pos:end], so it is bounded both by the property length
        # and by the data really there; running out of either is a MalformedPacket, raised by
        # the read that runs out (so with the same message as paho where paho raises one).
        while pos < end:
            ident, n = VariableByteIntegers.decode(buffer[pos:end])
            pos += n
            entry = self.properties.get(ident)
            name = self.getNameFromIdent(ident)
            if entry is None or name is None:
                raise MalformedPacket(f"Unknown property identifier {ident}")
            value, n = self.readProperty(buffer[pos:end], entry[0], end - pos)
            pos += n
            compressed = name.replace(" ", "")
            if not self.allowsMultiple(compressed) and hasattr(self, compressed):
                raise MQTTException(f"Property '{compressed}' must not exist more than once")
            setattr(self, name, value)
        return self, end


def _check_value(name: str, value: Any) -> None:
    """Range checks for a single (non-list) value, with paho's messages."""
    bounds = _RANGES.get(name)
    if bounds is not None:
        low, high = bounds
        if value < low or value > high:
            raise MQTTException(f"{name} property value must be in the range {low}-{high}")
    elif name in _FLAGS and value not in (0, 1):
        raise MQTTException(f"{name} property value must be 0 or 1")
