"""Wire-exact behaviour against the scripted fake broker (spec §16.1, 16.5, 16.7, 16.8).

CONNECT bytes are recorded from paho and compared with what the implementation under
test sends; the other tests compare with :mod:`support.packets` builders, which
``test_fixtures.py`` checks against paho.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import paho.mqtt.client as paho
import pytest
from support import packets
from support.clientkit import WAIT, Recorder, wait_until
from support.fake_broker import FakeBroker

Configure = Callable[[Any], None]


def _no_setup(client: Any) -> None:
    pass


def _credentials(client: Any) -> None:
    client.username_pw_set("user", "secret")


def _empty_password(client: Any) -> None:
    client.username_pw_set("u", "")


def _username_only(client: Any) -> None:
    client.username_pw_set("only-user")


def _will(client: Any) -> None:
    client.will_set("will/topic", b"gone", qos=2, retain=True)


def _empty_will_payload(client: Any) -> None:
    client.will_set("will/empty", None, qos=1)


# (id, client_id, configure, keepalive, the bytes paho is expected to send)
CONNECT_CASES: list[tuple[str, str, Configure, int, bytes]] = [
    ("plain", "test-client", _no_setup, 60, packets.connect("test-client", keepalive=60)),
    (
        "credentials",
        "test-client",
        _credentials,
        60,
        packets.connect("test-client", keepalive=60, username="user", password="secret"),
    ),
    (
        "empty-password",
        "test-client",
        _empty_password,
        60,
        packets.connect("test-client", keepalive=60, username="u", password=""),
    ),
    (
        "username-only",
        "test-client",
        _username_only,
        60,
        packets.connect("test-client", keepalive=60, username="only-user"),
    ),
    (
        "will",
        "test-client",
        _will,
        60,
        packets.connect(
            "test-client",
            keepalive=60,
            will_topic="will/topic",
            will_payload=b"gone",
            will_qos=2,
            will_retain=True,
        ),
    ),
    (
        "will-empty-payload",
        "test-client",
        _empty_will_payload,
        15,
        packets.connect("test-client", keepalive=15, will_topic="will/empty", will_qos=1),
    ),
    ("empty-client-id", "", _no_setup, 60, packets.connect("", keepalive=60)),
]


def sent_connect(
    module: ModuleType, fake: FakeBroker, client_id: str, configure: Configure, keepalive: int
) -> bytes:
    """The CONNECT packet ``module``'s client writes (connect() without a loop)."""
    client = module.Client(
        module.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True
    )
    configure(client)
    try:
        client.connect(fake.host, fake.port, keepalive=keepalive)
        fake.accept()
        return fake.read_packet()
    finally:
        client.disconnect()
        fake.close_client()


@pytest.mark.parametrize(
    ("client_id", "configure", "keepalive", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CONNECT_CASES],
)
def test_connect_bytes_match_paho(
    mqtt: ModuleType,
    fake_broker: FakeBroker,
    client_id: str,
    configure: Configure,
    keepalive: int,
    expected: bytes,
) -> None:
    reference = sent_connect(paho, fake_broker, client_id, configure, keepalive)
    assert reference == expected, packets.describe(reference)
    candidate = sent_connect(mqtt, fake_broker, client_id, configure, keepalive)
    assert candidate == reference, (packets.describe(candidate), packets.describe(reference))


def connected(
    mqtt: ModuleType, make_client: Callable[..., Any], fake: FakeBroker, client_id: str = "pkt"
) -> tuple[Any, Recorder]:
    """A V2 client with loop_start(), accepted by the fake broker, CONNACK processed."""
    client = make_client(mqtt, client_id=client_id)
    client.reconnect_delay_set(1, 1)
    rec = Recorder().attach(client, "connect", "disconnect", "message", "publish", "subscribe")
    client.connect(fake.host, fake.port, keepalive=60)
    client.loop_start()
    fake.accept()
    fake.expect_packet("connect", packets.connect(client_id, keepalive=60))
    fake.send(packets.connack(0))
    rec.wait("connect")
    return client, rec


def test_publish_qos1_mid_is_the_packet_id(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client, rec = connected(mqtt, make_client, fake_broker)
    first = client.publish("a/b", b"zero", qos=0)
    fake_broker.expect_packet("qos0", packets.publish("a/b", b"zero"))
    info = client.publish("a/b", b"one", qos=1)
    assert info.mid == first.mid + 1  # QoS 0 consumed a mid too
    fake_broker.expect_packet("qos1", packets.publish("a/b", b"one", qos=1, mid=info.mid))
    fake_broker.send(packets.puback(info.mid))
    info.wait_for_publish(WAIT)
    assert info.is_published()
    assert [c.args[0] for c in rec.wait("publish", 2)] == [first.mid, info.mid]


def test_subscribe_unsubscribe_publish_share_one_mid_counter(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client, rec = connected(mqtt, make_client, fake_broker)
    assert client.subscribe([("a/#", 1), ("b", 2)]) == (mqtt.MQTT_ERR_SUCCESS, 1)
    fake_broker.expect_packet("subscribe", packets.subscribe(1, [("a/#", 1), ("b", 2)]))
    fake_broker.send(packets.suback(1, [1, 0x80]))
    assert [code.value for code in rec.first("subscribe")[1]] == [1, 0x80]
    assert client.unsubscribe("a/#") == (mqtt.MQTT_ERR_SUCCESS, 2)
    fake_broker.expect_packet("unsubscribe", packets.unsubscribe(2, "a/#"))
    info = client.publish("c", b"3", qos=2)
    assert info.mid == 3
    fake_broker.expect_packet("publish", packets.publish("c", b"3", qos=2, mid=3))
    fake_broker.send(packets.pubrec(3))
    fake_broker.expect_packet("pubrel", packets.pubrel(3))
    assert not info.is_published()
    fake_broker.send(packets.pubcomp(3))
    assert rec.first("publish")[0] == 3


def test_qos2_inbound_is_delivered_on_pubrel(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    _, rec = connected(mqtt, make_client, fake_broker)
    fake_broker.send(packets.publish("in/q2", b"exactly once", qos=2, mid=7))
    fake_broker.expect_packet("pubrec", packets.pubrec(7))
    fake_broker.expect_no_packet(0.3)
    assert rec.of("message") == []  # not yet: QoS 2 is delivered on PUBREL
    fake_broker.send(packets.pubrel(7))
    message = rec.first("message")[0]
    assert (message.topic, message.payload, message.qos, message.mid) == (
        "in/q2",
        b"exactly once",
        2,
        7,
    )
    fake_broker.expect_packet("pubcomp", packets.pubcomp(7))
    assert len(rec.of("message")) == 1


def test_qos1_inbound_is_acked_after_on_message(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client, rec = connected(mqtt, make_client, fake_broker)
    release = threading.Event()
    client.on_message = lambda c, u, m: (rec.record("message", m), release.wait(WAIT))
    fake_broker.send(packets.publish("in/q1", b"x", qos=1, mid=9))
    rec.wait("message")
    fake_broker.expect_no_packet(0.2)  # PUBACK only after the callback returns
    release.set()
    fake_broker.expect_packet("puback", packets.puback(9))


def test_unacked_qos1_is_resent_with_dup_after_reconnect(
    mqtt: ModuleType, make_client: Callable[..., Any], fake_broker: FakeBroker
) -> None:
    client, rec = connected(mqtt, make_client, fake_broker, client_id="resend")
    info = client.publish("r/t", b"again", qos=1)
    fake_broker.expect_packet("first send", packets.publish("r/t", b"again", qos=1, mid=info.mid))
    fake_broker.close_client()  # no PUBACK: the broker "crashed"
    rec.wait("disconnect")
    fake_broker.accept()  # the loop reconnects after reconnect_delay (1 s)
    fake_broker.expect_packet("reconnect", packets.connect("resend", keepalive=60))
    fake_broker.send(packets.connack(0))
    fake_broker.expect_packet(
        "resend", packets.publish("r/t", b"again", qos=1, mid=info.mid, dup=True)
    )
    assert not info.is_published()
    fake_broker.send(packets.puback(info.mid))
    info.wait_for_publish(WAIT)
    assert info.is_published()
    assert wait_until(lambda: [c.args[0] for c in rec.of("publish")] == [info.mid])
