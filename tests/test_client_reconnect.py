"""Reconnects and CONNACK handling, against the scripted fake broker, for paho-mqtt and
turbomqtt alike: MQTT 3.1's CONNECT, the automatic downgrade to 3.1 after a CONNACK rc 1, the
made-up client id after rc 2, a refusal retried with backoff, ``reconnect_on_failure=False``,
and the automatic reconnect of ``loop_start()`` after the connection drops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from support import packets
from support.clientkit import Recorder
from support.fake_broker import FakeBroker

V2 = 2


def test_mqtt31_connect_bytes(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client = make_client(mqtt, client_id="old-device", protocol=mqtt.MQTTv31)
    client.connect(fake_broker.host, fake_broker.port, keepalive=30)
    fake_broker.accept()
    fake_broker.expect_packet(
        "connect", packets.connect("old-device", keepalive=30, protocol_level=3)
    )


def test_mqtt31_empty_client_id_gets_a_random_one(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client = make_client(mqtt, protocol=mqtt.MQTTv31)
    client.connect(fake_broker.host, fake_broker.port)
    fake_broker.accept()
    packet = fake_broker.read_packet()
    # fixed header (2) + "MQIsdp" string (8) + level + flags + keepalive (4) + id length (2)
    id_length = int.from_bytes(packet[14:16], "big")
    assert packet[4:10] == b"MQIsdp" and packet[10] == 3
    assert id_length == 22 and packet[16:].isalnum()


def test_connack_rc1_downgrades_to_mqtt31_without_on_connect(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client = make_client(mqtt, client_id="dg")
    rec = Recorder().attach(client, "connect", "disconnect")
    client.connect(fake_broker.host, fake_broker.port)
    client.loop_start()
    fake_broker.accept()
    fake_broker.expect_packet("connect 3.1.1", packets.connect("dg"))
    fake_broker.send(packets.connack(1))
    fake_broker.accept()
    fake_broker.expect_packet("connect 3.1", packets.connect("dg", protocol_level=3))
    fake_broker.send(packets.connack(0))
    assert rec.first("connect")[1] == 0
    assert client.protocol == mqtt.MQTTv31
    assert rec.names() == ["connect"]  # the refusal itself called neither callback


def test_connack_rc2_with_empty_id_retries_with_a_made_up_id(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client = make_client(mqtt)
    rec = Recorder().attach(client, "connect")
    client.connect(fake_broker.host, fake_broker.port)
    client.loop_start()
    fake_broker.accept()
    fake_broker.expect_packet("connect", packets.connect(""))
    fake_broker.send(packets.connack(2))
    fake_broker.accept()
    packet = fake_broker.read_packet()
    assert int.from_bytes(packet[12:14], "big") == 22  # MQTT 3.1.1: id length after keepalive
    fake_broker.send(packets.connack(0))
    assert rec.first("connect")[1] == 0


def test_refused_connection_calls_on_connect_then_on_disconnect_and_retries(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client = make_client(mqtt, client_id="refused")
    client.reconnect_delay_set(1, 1)
    rec = Recorder().attach(client, "connect", "disconnect")
    client.connect(fake_broker.host, fake_broker.port)
    client.loop_start()
    fake_broker.accept()
    fake_broker.read_packet()
    started = time.monotonic()
    fake_broker.send(packets.connack(5))
    _, reason, _ = rec.first("connect")
    assert reason == 135 and str(reason) == "Not authorized"
    flags, reason, _ = rec.first("disconnect")
    assert not flags.is_disconnect_packet_from_server
    fake_broker.accept(timeout=5)  # the retry, after the backoff
    assert time.monotonic() - started >= 0.9
    fake_broker.expect_packet("connect again", packets.connect("refused"))


def test_reconnect_on_failure_false_makes_loop_forever_return(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client = make_client(mqtt, client_id="once", reconnect_on_failure=False)
    rec = Recorder().attach(client, "connect", "disconnect")
    client.connect(fake_broker.host, fake_broker.port)
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(client.loop_forever()), daemon=True)
    runner.start()
    fake_broker.accept()
    fake_broker.read_packet()
    fake_broker.send(packets.connack(0))
    rec.first("connect")
    fake_broker.close_client()
    runner.join(5)
    assert not runner.is_alive()
    assert result == [mqtt.MQTT_ERR_CONN_LOST]
    _, reason, _ = rec.first("disconnect")
    assert str(reason) == "Unspecified error"


@pytest.mark.parametrize("qos", [1, 2])
def test_loop_start_reconnects_and_resends_unacknowledged_messages(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker, qos: int
) -> None:
    client = make_client(mqtt, client_id="again")
    client.reconnect_delay_set(1, 1)
    rec = Recorder().attach(client, "connect", "disconnect", "publish")
    client.connect(fake_broker.host, fake_broker.port)
    client.loop_start()
    fake_broker.accept()
    fake_broker.read_packet()
    fake_broker.send(packets.connack(0))
    rec.first("connect")
    info = client.publish("t", b"keep me", qos=qos)
    fake_broker.expect_packet("publish", packets.publish("t", b"keep me", qos=qos, mid=info.mid))
    fake_broker.close_client()  # no ack: the message must come again, with DUP set
    rec.first("disconnect")
    fake_broker.accept(timeout=5)
    fake_broker.expect_packet("connect again", packets.connect("again"))
    fake_broker.send(packets.connack(0))
    rec.wait("connect", 2)
    fake_broker.expect_packet(
        "resent publish", packets.publish("t", b"keep me", qos=qos, mid=info.mid, dup=True)
    )
    if qos == 1:
        fake_broker.send(packets.puback(info.mid))
    else:
        fake_broker.send(packets.pubrec(info.mid))
        fake_broker.expect_packet("pubrel", packets.pubrel(info.mid))
        fake_broker.send(packets.pubcomp(info.mid))
    assert rec.first("publish")[0] == info.mid
    info.wait_for_publish(5)
    assert info.is_published()
