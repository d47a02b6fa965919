"""MQTT 5 subscription options, with the behaviour of ``paho.mqtt.subscribeoptions``."""

from __future__ import annotations

from typing import Any, Union

from turbomqtt.exception import MQTTException

__all__ = ["MQTTException", "SubscribeOptions"]


class SubscribeOptions:
    """The options byte of one MQTT 5 subscription.

    - ``QoS`` (note the capitals): the maximum QoS, 0, 1 or 2.
    - ``noLocal``: if true, the broker does not send the client its own publications.
    - ``retainAsPublished``: if true, forwarded messages keep the publisher's retain flag.
    - ``retainHandling``: when retained messages are sent: :attr:`RETAIN_SEND_ON_SUBSCRIBE`
      (every subscribe), :attr:`RETAIN_SEND_IF_NEW_SUB` (only for a new subscription) or
      :attr:`RETAIN_DO_NOT_SEND`.

    The defaults give MQTT 3.1.1 behaviour. A QoS or retain handling outside 0-2 raises
    :class:`AssertionError` (even under ``python -O``); assigning any other attribute raises
    :class:`MQTTException`.
    """

    RETAIN_SEND_ON_SUBSCRIBE = 0
    RETAIN_SEND_IF_NEW_SUB = 1
    RETAIN_DO_NOT_SEND = 2

    #: The attribute names that may be assigned.
    names: list[str]
    QoS: int
    noLocal: bool
    retainAsPublished: bool
    retainHandling: int

    def __init__(
        self,
        qos: int = 0,
        noLocal: bool = False,
        retainAsPublished: bool = False,
        retainHandling: int = RETAIN_SEND_ON_SUBSCRIBE,
    ) -> None:
        """Options with the given values; see the class docstring."""
        object.__setattr__(self, "names", ["QoS", "noLocal", "retainAsPublished", "retainHandling"])
        self.QoS = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
        self._check()

    def _check(self) -> None:
        if self.retainHandling not in (0, 1, 2):
            raise AssertionError(f"Retain handling should be 0, 1 or 2, not {self.retainHandling}")
        if self.QoS not in (0, 1, 2):
            raise AssertionError(f"QoS should be 0, 1 or 2, not {self.QoS}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self.names:
            raise MQTTException(f"{name} Attribute name must be one of {self.names}")
        object.__setattr__(self, name, value)

    def pack(self) -> bytes:
        """The options byte: bits 0-1 QoS, bit 2 no local, bit 3 retain as published,
        bits 4-5 retain handling."""
        self._check()
        byte = self.QoS | (self.retainHandling << 4)
        if self.noLocal:
            byte |= 0x04
        if self.retainAsPublished:
            byte |= 0x08
        return bytes((byte,))

    def unpack(self, buffer: Union[bytes, bytearray]) -> int:
        """Set the options from the first byte of ``buffer``; returns the bytes used (1)."""
        byte = buffer[0]
        self.retainHandling = (byte >> 4) & 0x03
        self.retainAsPublished = bool(byte & 0x08)
        self.noLocal = bool(byte & 0x04)
        self.QoS = byte & 0x03
        self._check()
        return 1

    def json(self) -> dict[str, Any]:
        """The options as a dict keyed by attribute name."""
        return {
            name: getattr(self, name)
            for name in ("QoS", "noLocal", "retainAsPublished", "retainHandling")
        }

    def __str__(self) -> str:
        return (
            f"{{QoS={self.QoS}, noLocal={self.noLocal}, "
            f"retainAsPublished={self.retainAsPublished}, retainHandling={self.retainHandling}}}"
        )

    def __repr__(self) -> str:
        return str(self)
