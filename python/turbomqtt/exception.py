"""The exceptions of paho-mqtt's data modules, defined once.

``turbomqtt.properties``, ``turbomqtt.reasoncodes`` and ``turbomqtt.subscribeoptions`` raise
these classes (and re-export them), so one ``except MQTTException`` catches an error from any of
them. This module is pure Python and never imports ``_core``.
"""

from __future__ import annotations

__all__ = ["MQTTException", "MalformedPacket"]


class MQTTException(Exception):
    """An MQTT protocol rule was broken: a property that a packet type does not allow, a value
    out of range, an unknown attribute name."""


class MalformedPacket(MQTTException):
    """Bytes received from the network cannot be decoded (a truncated field, a Variable Byte
    Integer longer than four bytes, a string that is not valid MQTT UTF-8, ...)."""
