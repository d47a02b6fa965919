"""MQTT 5 reason codes, with the behaviour of ``paho.mqtt.reasoncodes``.

A :class:`ReasonCode` is a number (``.value``) read in the context of one packet type
(``.packetType``): the same number can have a different name in another packet, for example
0 is "Success" in a CONNACK, "Normal disconnection" in a DISCONNECT and "Granted QoS 0" in a
SUBACK.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Union

from turbomqtt.packettypes import PacketTypes

__all__ = ["PacketTypes", "ReasonCode", "ReasonCodes"]

_CONNACK = PacketTypes.CONNACK
_PUBACK = PacketTypes.PUBACK
_PUBREC = PacketTypes.PUBREC
_PUBREL = PacketTypes.PUBREL
_PUBCOMP = PacketTypes.PUBCOMP
_SUBACK = PacketTypes.SUBACK
_UNSUBACK = PacketTypes.UNSUBACK
_DISCONNECT = PacketTypes.DISCONNECT
_AUTH = PacketTypes.AUTH

# The MQTT 5.0 reason codes (OASIS standard, section 2.4): number, name, and the packet types
# that may carry the code under that name, in ascending packet type order.
_TABLE: tuple[tuple[int, str, tuple[int, ...]], ...] = (
    (0x00, "Success", (_CONNACK, _PUBACK, _PUBREC, _PUBREL, _PUBCOMP, _UNSUBACK, _AUTH)),
    (0x00, "Normal disconnection", (_DISCONNECT,)),
    (0x00, "Granted QoS 0", (_SUBACK,)),
    (0x01, "Granted QoS 1", (_SUBACK,)),
    (0x02, "Granted QoS 2", (_SUBACK,)),
    (0x04, "Disconnect with will message", (_DISCONNECT,)),
    (0x10, "No matching subscribers", (_PUBACK, _PUBREC)),
    (0x11, "No subscription found", (_UNSUBACK,)),
    (0x18, "Continue authentication", (_AUTH,)),
    (0x19, "Re-authenticate", (_AUTH,)),
    (0x80, "Unspecified error", (_CONNACK, _PUBACK, _PUBREC, _SUBACK, _UNSUBACK, _DISCONNECT)),
    (0x81, "Malformed packet", (_CONNACK, _DISCONNECT)),
    (0x82, "Protocol error", (_CONNACK, _DISCONNECT)),
    (
        0x83,
        "Implementation specific error",
        (_CONNACK, _PUBACK, _PUBREC, _SUBACK, _UNSUBACK, _DISCONNECT),
    ),
    (0x84, "Unsupported protocol version", (_CONNACK,)),
    (0x85, "Client identifier not valid", (_CONNACK,)),
    (0x86, "Bad user name or password", (_CONNACK,)),
    (0x87, "Not authorized", (_CONNACK, _PUBACK, _PUBREC, _SUBACK, _UNSUBACK, _DISCONNECT)),
    (0x88, "Server unavailable", (_CONNACK,)),
    (0x89, "Server busy", (_CONNACK, _DISCONNECT)),
    (0x8A, "Banned", (_CONNACK,)),
    (0x8B, "Server shutting down", (_DISCONNECT,)),
    (0x8C, "Bad authentication method", (_CONNACK, _DISCONNECT)),
    (0x8D, "Keep alive timeout", (_DISCONNECT,)),
    (0x8E, "Session taken over", (_DISCONNECT,)),
    (0x8F, "Topic filter invalid", (_SUBACK, _UNSUBACK, _DISCONNECT)),
    (0x90, "Topic name invalid", (_CONNACK, _PUBACK, _PUBREC, _DISCONNECT)),
    (0x91, "Packet identifier in use", (_PUBACK, _PUBREC, _SUBACK, _UNSUBACK)),
    (0x92, "Packet identifier not found", (_PUBREL, _PUBCOMP)),
    (0x93, "Receive maximum exceeded", (_DISCONNECT,)),
    (0x94, "Topic alias invalid", (_DISCONNECT,)),
    (0x95, "Packet too large", (_CONNACK, _DISCONNECT)),
    (0x96, "Message rate too high", (_DISCONNECT,)),
    (0x97, "Quota exceeded", (_CONNACK, _PUBACK, _PUBREC, _SUBACK, _DISCONNECT)),
    (0x98, "Administrative action", (_DISCONNECT,)),
    (0x99, "Payload format invalid", (_PUBACK, _PUBREC, _DISCONNECT)),
    (0x9A, "Retain not supported", (_CONNACK, _DISCONNECT)),
    (0x9B, "QoS not supported", (_CONNACK, _DISCONNECT)),
    (0x9C, "Use another server", (_CONNACK, _DISCONNECT)),
    (0x9D, "Server moved", (_CONNACK, _DISCONNECT)),
    (0x9E, "Shared subscription not supported", (_SUBACK, _DISCONNECT)),
    (0x9F, "Connection rate exceeded", (_CONNACK, _DISCONNECT)),
    (0xA0, "Maximum connect time", (_DISCONNECT,)),
    (0xA1, "Subscription identifiers not supported", (_SUBACK, _DISCONNECT)),
    (0xA2, "Wildcard subscription not supported", (_SUBACK, _DISCONNECT)),
)


def _names_by_code() -> dict[int, dict[str, list[int]]]:
    """The table in paho's public shape: ``{number: {name: [packet types]}}``."""
    names: dict[int, dict[str, list[int]]] = {}
    for code, name, packet_types in _TABLE:
        names.setdefault(code, {})[name] = list(packet_types)
    return names


@functools.total_ordering
class ReasonCode:
    """An MQTT 5 reason code for one packet type.

    ``ReasonCode(PacketTypes.CONNACK, "Not authorized")`` picks the code by name;
    ``ReasonCode(PacketTypes.CONNACK, identifier=135)`` by number (the name is then ignored).
    A name the packet type does not use raises ``KeyError("Reason code name not found: …")``;
    an unknown number raises ``KeyError(number)``, and a number the packet type does not use
    raises :class:`ValueError`. A DISCONNECT created with the default name "Success" becomes
    "Normal disconnection".

    A reason code compares equal to its number (``rc == 0``), to its name (``rc == "Success"``)
    and to any reason code with the same number, and orders against numbers and reason codes.
    Like paho's, it is not an ``int`` (``int(rc)`` raises :class:`TypeError`) and not hashable.
    """

    #: Every reason code: ``{number: {name: [packet types using that name]}}``. Each instance
    #: holds its own copy in ``self.names``.
    names: Mapping[int, Mapping[str, list[int]]] = MappingProxyType(_names_by_code())

    #: The numeric reason code.
    value: int
    #: The packet type (a :class:`PacketTypes` number) the code belongs to.
    packetType: int

    def __init__(self, packetType: int, aName: str = "Success", identifier: int = -1) -> None:
        """Create the code named ``aName``, or numbered ``identifier`` if it is not -1."""
        self.names = dict(type(self).names)
        self.packetType = packetType
        if identifier != -1:
            self.value = identifier
            self.getName()  # raises if this packet type has no such code
            return
        if aName == "Success" and packetType == PacketTypes.DISCONNECT:
            aName = "Normal disconnection"
        self.set(aName)

    def _name_of(self, packetType: int, identifier: int) -> str:
        if identifier not in self.names:
            raise KeyError(identifier)
        candidates = [
            name
            for name, packet_types in self.names[identifier].items()
            if packetType in packet_types
        ]
        if len(candidates) != 1:
            raise ValueError(f"Expected exactly one name, found {candidates!r}")
        return candidates[0]

    # paho exposes its lookup helper under this (dunder-looking) name.
    __getName__ = _name_of

    def getId(self, name: str) -> int:
        """The number of the code called ``name`` in this packet type.

        Raises ``KeyError("Reason code name not found: <name>")`` if there is none.
        """
        for code, by_name in self.names.items():
            packet_types = by_name.get(name)
            if packet_types is not None and self.packetType in packet_types:
                return code
        raise KeyError(f"Reason code name not found: {name}")

    def set(self, name: str) -> None:
        """Change the code to the one called ``name`` (same packet type)."""
        self.value = self.getId(name)

    def getName(self) -> str:
        """The name of the current code in this packet type, e.g. "Granted QoS 1"."""
        return self._name_of(self.packetType, self.value)

    def unpack(self, buffer: Union[bytes, bytearray]) -> int:
        """Read the code from the first byte of ``buffer``; returns the bytes used (1)."""
        self.value = self.getId(self._name_of(self.packetType, buffer[0]))
        return 1

    def pack(self) -> bytearray:
        """The code as the single byte sent on the wire."""
        return bytearray((self.value,))

    def json(self) -> str:
        """The name, which is how a reason code appears in JSON."""
        return self.getName()

    @property
    def is_failure(self) -> bool:
        """Whether the code reports a failure (0x80 and above)."""
        return self.value >= 0x80

    def __eq__(self, other: object) -> bool:
        # Exactly paho's rules: ints (bool and IntEnum included) compare with the number,
        # strings with the name, reason codes with the number; anything else is unequal
        # (False rather than NotImplemented).
        if isinstance(other, int):
            return self.value == other
        if isinstance(other, str):
            return str(self) == other
        if isinstance(other, ReasonCode):
            return self.value == other.value
        return False

    def __lt__(self, other: object) -> bool:
        if isinstance(other, int):
            return self.value < other
        if isinstance(other, ReasonCode):
            return self.value < other.value
        return NotImplemented

    # Defining __eq__ without __hash__ leaves instances unhashable, as in paho.

    def __str__(self) -> str:
        return self.getName()

    def __repr__(self) -> str:
        try:
            packet_name = PacketTypes.Names[self.packetType]
        except IndexError:
            packet_name = "Unknown"
        return f"ReasonCode({packet_name}, {self.getName()!r})"


class _ReasonCodesMeta(type):
    """Makes ``isinstance(ReasonCode(...), ReasonCodes)`` true, for code written for paho 1.x."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, ReasonCode)


class ReasonCodes(ReasonCode, metaclass=_ReasonCodesMeta):
    """Deprecated name of :class:`ReasonCode`; creating one emits a :class:`DeprecationWarning`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "ReasonCodes is deprecated, use ReasonCode (singular) instead",
            category=DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)
