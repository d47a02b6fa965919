"""turbomqtt.enums has paho's enumerations: the same classes, members, values and base types."""

from __future__ import annotations

import enum

import paho.mqtt.enums as paho_enums
import pytest
from turbomqtt import enums

NAMES = [
    "CallbackAPIVersion",
    "ConnackCode",
    "LogLevel",
    "MQTTErrorCode",
    "MQTTProtocolVersion",
    "MessageState",
    "MessageType",
    "PahoClientMode",
    "_ConnectionState",
]


@pytest.mark.parametrize("name", NAMES)
def test_same_members_values_and_kind(name: str) -> None:
    ours, theirs = getattr(enums, name), getattr(paho_enums, name)
    assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in theirs]
    assert issubclass(ours, enum.IntEnum) == issubclass(theirs, enum.IntEnum)


def test_int_behaviour() -> None:
    rc = enums.MQTTErrorCode.MQTT_ERR_SUCCESS
    assert rc == 0
    assert not rc
    assert enums.MQTTErrorCode.MQTT_ERR_NO_CONN > 0
    assert enums.MQTTErrorCode.MQTT_ERR_NO_CONN + 1 == 5
    assert str(rc) == str(paho_enums.MQTTErrorCode.MQTT_ERR_SUCCESS)
    assert enums.CallbackAPIVersion.VERSION2 != 2  # a plain Enum, as in paho
