"""MQTT control packet type numbers, as ``paho.mqtt.packettypes`` names them."""

from __future__ import annotations

__all__ = ["PacketTypes"]


class PacketTypes:
    """Numbers of the MQTT control packet types (the high nibble of a packet's first byte).

    ``PacketTypes.Names[PacketTypes.PUBLISH]`` is the display name, ``"Publish"``.
    ``WILLMESSAGE`` is not a packet: it stands for the will message when choosing which
    :class:`~turbomqtt.properties.Properties` are allowed (``WillDelayInterval`` only applies
    there).
    """

    #: The packet type numbers that exist on the wire, 1 (CONNECT) to 15 (AUTH).
    indexes = range(1, 16)

    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15

    #: Not a packet type: selects the properties that a will message may carry.
    WILLMESSAGE = 99

    #: Display names indexed by packet type number; index 0 is ``"reserved"``.
    Names = (
        "reserved",
        "Connect",
        "Connack",
        "Publish",
        "Puback",
        "Pubrec",
        "Pubrel",
        "Pubcomp",
        "Subscribe",
        "Suback",
        "Unsubscribe",
        "Unsuback",
        "Pingreq",
        "Pingresp",
        "Disconnect",
        "Auth",
    )
