"""MQTT 5 subscriptions, acknowledgements and bad input, against the shared mosquitto
2.0.11: subscription options (no local, retain as published, retain handling),
subscription identifiers, SUBACK/UNSUBACK reason codes, on_publish reason codes, and the
exceptions for bad properties and subscribe options (spec §13).

Every test runs once per implementation (the ``mqtt`` fixture); the expected values are
what paho-mqtt 2.2 does against mosquitto 2.0.11, pinned literally. Observed: a QoS 1
PUBLISH nobody subscribes to gets PUBACK 0x10 "No matching subscribers"; a second
SUBSCRIBE to the same filter does not change its options (mosquitto 2.0.11), so each test
subscribes to a filter once unless it is testing retain handling.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from support.broker import MosquittoBroker
from support.clientkit import WAIT, normalise, wait_until
from support.mqtt5 import MakeClient, package, payloads, props, rc, received, start_v5

# -- subscriptions ---------------------------------------------------------------------------


def test_no_local(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """noLocal=True: the client's own publishes are not sent back to it; others' are."""
    client, rec = start_v5(make_client, mqtt, broker)
    options = mqtt.SubscribeOptions(qos=1, noLocal=True)
    client.subscribe(unique_topic, options=options)
    assert normalise(rec.first("subscribe")[1][0]) == rc(9, 1, "Granted QoS 1")
    for qos in (0, 1, 2):
        client.publish(unique_topic, f"mine{qos}", qos=qos).wait_for_publish(WAIT)
    other, _ = start_v5(make_client, mqtt, broker)
    other.publish(unique_topic, b"theirs", qos=1).wait_for_publish(WAIT)
    rec.wait("message")
    assert payloads(rec) == [b"theirs"]  # anything of ours would have come first


def test_retain_as_published(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """retainAsPublished=True keeps the retain flag on a live message; without it the
    flag is cleared (MQTT 3 behaviour)."""
    kept, plain = f"{unique_topic}/kept", f"{unique_topic}/plain"
    client, rec = start_v5(make_client, mqtt, broker)
    client.subscribe(
        [
            (kept, mqtt.SubscribeOptions(qos=1, retainAsPublished=True)),
            (plain, mqtt.SubscribeOptions(qos=1)),
        ]
    )
    rec.wait("subscribe")
    publisher, _ = start_v5(make_client, mqtt, broker)
    try:
        publisher.publish(kept, b"k", qos=1, retain=True).wait_for_publish(WAIT)
        publisher.publish(plain, b"p", qos=1, retain=True).wait_for_publish(WAIT)
        got = {c.args[0].topic: c.args[0].retain for c in rec.wait("message", 2)}
        assert got == {kept: True, plain: False}
    finally:
        for topic in (kept, plain):
            publisher.publish(topic, b"", qos=1, retain=True).wait_for_publish(WAIT)


@pytest.mark.parametrize(
    ("handling", "expected"),
    [
        (0, [b"retained", b"after-1", b"retained", b"after-2"]),
        (1, [b"retained", b"after-1", b"after-2"]),
        (2, [b"after-1", b"after-2"]),
    ],
    ids=["send-on-subscribe", "send-if-new", "do-not-send"],
)
def test_retain_handling(
    mqtt: ModuleType,
    make_client: MakeClient,
    broker: MosquittoBroker,
    unique_topic: str,
    handling: int,
    expected: list[bytes],
) -> None:
    """retainHandling 0 sends the retained message on every SUBSCRIBE, 1 only when the
    subscription is new, 2 never. Each SUBSCRIBE is followed by a live marker, which
    arrives after any retained message the broker sends for that SUBSCRIBE."""
    publisher, _ = start_v5(make_client, mqtt, broker)
    publisher.publish(unique_topic, b"retained", qos=1, retain=True).wait_for_publish(WAIT)
    try:
        client, rec = start_v5(make_client, mqtt, broker)
        options = mqtt.SubscribeOptions(qos=1, retainHandling=handling)
        for n in (1, 2):
            client.subscribe(unique_topic, options=options)
            rec.wait("subscribe", n)
            client.publish(unique_topic, f"after-{n}", qos=1)
            assert wait_until(received(rec, f"after-{n}".encode())), payloads(rec)
        assert payloads(rec) == expected
        assert [c.args[0].retain for c in rec.of("message")] == [
            body == b"retained" for body in expected
        ]
    finally:
        publisher.publish(unique_topic, b"", qos=1, retain=True).wait_for_publish(WAIT)


def test_subscription_identifiers(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """A SubscriptionIdentifier in SUBSCRIBE comes back as a one-item list in
    msg.properties.SubscriptionIdentifier; mosquitto sends one copy per matching
    subscription, each with its own identifier (none for a subscription without one)."""
    client, rec = start_v5(make_client, mqtt, broker)
    ids = {f"{unique_topic}/a": 7, f"{unique_topic}/+": 268_435_455}
    for n, (topic_filter, identifier) in enumerate(ids.items(), 1):
        client.subscribe(
            topic_filter,
            qos=1,
            properties=props(mqtt, "SUBSCRIBE", SubscriptionIdentifier=identifier),
        )
        rec.wait("subscribe", n)
    client.subscribe(f"{unique_topic}/#", qos=1)
    rec.wait("subscribe", 3)
    client.publish(f"{unique_topic}/a", b"a", qos=1)
    client.publish(f"{unique_topic}/b", b"b", qos=1)
    messages = [c.args[0] for c in rec.wait("message", 5)]
    got = sorted(
        (m.payload, tuple(getattr(m.properties, "SubscriptionIdentifier", ()))) for m in messages
    )
    assert got == [
        (b"a", ()),
        (b"a", (7,)),
        (b"a", (268_435_455,)),
        (b"b", ()),
        (b"b", (268_435_455,)),
    ]
    for m in messages:
        if hasattr(m.properties, "SubscriptionIdentifier"):
            assert type(m.properties.SubscriptionIdentifier) is list


@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
def test_suback_reason_codes(
    mqtt: ModuleType,
    make_client: MakeClient,
    broker: MosquittoBroker,
    unique_topic: str,
    version: int,
) -> None:
    """SUBACK under MQTT 5: (mid, [ReasonCode "Granted QoS n", ...], Properties) for both
    callback versions; a list may mix SubscribeOptions and plain QoS ints."""
    client, rec = start_v5(make_client, mqtt, broker, version=version)
    result, mid = client.subscribe(
        [
            (f"{unique_topic}/0", mqtt.SubscribeOptions(qos=0)),
            (f"{unique_topic}/1", 1),
            (f"{unique_topic}/2", mqtt.SubscribeOptions(qos=2, noLocal=True)),
        ]
    )
    assert result == mqtt.MQTT_ERR_SUCCESS
    args = rec.first("subscribe")
    assert len(args) == 3
    assert args[0] == mid
    assert isinstance(args[1], list) and all(isinstance(r, mqtt.ReasonCode) for r in args[1])
    assert normalise(args[1]) == (
        "list",
        rc(9, 0, "Granted QoS 0"),
        rc(9, 1, "Granted QoS 1"),
        rc(9, 2, "Granted QoS 2"),
    )
    assert isinstance(args[2], mqtt.Properties) and normalise(args[2]) == ("PROPS", 9, {})


@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
def test_unsuback_reason_codes(
    mqtt: ModuleType,
    make_client: MakeClient,
    broker: MosquittoBroker,
    unique_topic: str,
    version: int,
) -> None:
    """UNSUBACK under MQTT 5: 0x00 "Success", 0x11 "No subscription found". VERSION2:
    (mid, [ReasonCode...], Properties); VERSION1: (mid, Properties, codes) where one topic
    gives a single ReasonCode and a list of topics a list."""
    a, b = f"{unique_topic}/a", f"{unique_topic}/b"
    client, rec = start_v5(make_client, mqtt, broker, version=version)
    client.subscribe(a, qos=1)
    rec.wait("subscribe")
    requests = [a, a, [b, a]]
    mids = []
    for n, topics in enumerate(requests, 1):
        result, mid = client.unsubscribe(topics)
        assert result == mqtt.MQTT_ERR_SUCCESS
        mids.append(mid)
        rec.wait("unsubscribe", n)
    client.subscribe(b, qos=0)
    rec.wait("subscribe", 2)
    mids.append(client.unsubscribe([a, b])[1])
    calls = [c.args for c in rec.wait("unsubscribe", 4)]
    assert [args[0] for args in calls] == mids
    success, missing = rc(11, 0, "Success"), rc(11, 17, "No subscription found")
    expected_codes = [[success], [missing], [missing, missing], [missing, success]]
    for args, codes, topics in zip(calls, expected_codes, [*requests, [a, b]]):
        assert len(args) == 3
        if version == 1:
            _, properties, reasons = args
            if isinstance(topics, str):
                assert isinstance(reasons, mqtt.ReasonCode)
                assert [normalise(reasons)] == codes
            else:
                assert isinstance(reasons, list)
                assert [normalise(r) for r in reasons] == codes
        else:
            _, reasons, properties = args
            assert isinstance(reasons, list)
            assert [normalise(r) for r in reasons] == codes
        assert isinstance(properties, mqtt.Properties)
        assert normalise(properties) == ("PROPS", 11, {})


# -- publish acknowledgements ----------------------------------------------------------------


@pytest.mark.parametrize("subscribed", [True, False], ids=["subscriber", "no-subscriber"])
def test_on_publish_reason_codes(
    mqtt: ModuleType,
    make_client: MakeClient,
    broker: MosquittoBroker,
    unique_topic: str,
    subscribed: bool,
) -> None:
    """VERSION2 on_publish under MQTT 5: QoS 0 always (PUBACK, Success); QoS 1 the
    PUBACK's reason (0x10 "No matching subscribers" with no subscriber); QoS 2 the
    PUBCOMP's (Success: a PUBREC 0x10 is not a failure and does not end the flow)."""
    if subscribed:
        subscriber, sub_rec = start_v5(make_client, mqtt, broker)
        subscriber.subscribe(unique_topic, qos=2)
        sub_rec.wait("subscribe")
    client, rec = start_v5(make_client, mqtt, broker)
    infos = [client.publish(unique_topic, f"q{qos}", qos=qos) for qos in (0, 1, 2)]
    for info in infos:
        info.wait_for_publish(WAIT)
        assert info.is_published()
    got = {c.args[0]: tuple(normalise(a) for a in c.args[1:]) for c in rec.wait("publish", 3)}
    qos1 = rc(4, 0, "Success") if subscribed else rc(4, 16, "No matching subscribers")
    assert got == {
        infos[0].mid: (rc(4, 0, "Success"), ("PROPS", 4, {})),
        infos[1].mid: (qos1, ("PROPS", 4, {})),
        infos[2].mid: (rc(7, 0, "Success"), ("PROPS", 7, {})),
    }
    assert not any(c.args[1].is_failure for c in rec.of("publish"))


def test_on_publish_under_version1_has_only_the_mid(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """VERSION1 on_publish is (client, userdata, mid) under MQTT 5 too."""
    client, rec = start_v5(make_client, mqtt, broker, version=1)
    infos = [client.publish(unique_topic, b"x", qos=qos) for qos in (0, 1, 2)]
    assert sorted(c.args for c in rec.wait("publish", 3)) == [(info.mid,) for info in infos]


# -- bad input -------------------------------------------------------------------------------


def test_bad_properties(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """Properties that are not Properties, or not allowed for the packet, or out of range."""
    exception = package(mqtt).MQTTException
    publish = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    with pytest.raises(
        exception, match=r"^Property SessionExpiryInterval does not apply to packet type Publish$"
    ):
        publish.SessionExpiryInterval = 5
    with pytest.raises(exception, match=r"^Property name must be one of"):
        publish.Bogus = 1
    with pytest.raises(
        exception, match=r"^TopicAlias property value must be in the range 1-65535$"
    ):
        publish.TopicAlias = 0
    with pytest.raises(exception, match="does not apply to packet type Connect"):
        mqtt.Properties(mqtt.PacketTypes.CONNECT).WillDelayInterval = 1
    assert publish.json() == {}

    with pytest.raises(
        ValueError, match=r"^The properties argument must be an instance of the Properties class\.$"
    ):
        # an empty dict is let through (paho tests `properties and not isinstance(...)`)
        make_client(mqtt, 2, protocol=mqtt.MQTTv5).will_set(unique_topic, properties={"a": 1})

    client, rec = start_v5(make_client, mqtt, broker)
    no_pack = r"^'dict' object has no attribute 'pack'$"
    with pytest.raises(AttributeError, match=no_pack):
        client.publish(unique_topic, b"x", qos=0, properties={})
    with pytest.raises(AttributeError, match=no_pack):
        client.subscribe(unique_topic, qos=1, properties={})
    with pytest.raises(AttributeError, match=r"^'str' object has no attribute 'pack'$"):
        client.publish(unique_topic, b"x", qos=0, properties="ContentType=a")
    # the client is unharmed: it still subscribes, publishes and receives
    client.subscribe(unique_topic, qos=1)
    rec.wait("subscribe")
    client.publish(unique_topic, b"after", qos=1)
    assert rec.first("message")[0].payload == b"after"
    assert client.is_connected()


def test_bad_subscribe_options(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """Subscribe option and QoS combinations refused under MQTT 5 (spec §13), checked
    before anything is sent: the client stays connected with no SUBSCRIBE answered."""
    options = mqtt.SubscribeOptions
    with pytest.raises(AssertionError, match=r"^QoS should be 0, 1 or 2, not 3$"):
        options(qos=3)
    with pytest.raises(AssertionError, match=r"^Retain handling should be 0, 1 or 2, not 3$"):
        options(qos=1, retainHandling=3)
    client, rec = start_v5(make_client, mqtt, broker)
    cases: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: client.subscribe(unique_topic, 1, options=options(1)),
            "Subscribe options and qos parameters cannot be combined.",
        ),
        (
            lambda: client.subscribe((unique_topic, 1)),
            "Subscribe options must be instance of SubscribeOptions class.",
        ),
        (
            lambda: client.subscribe(unique_topic, options=1),
            "Subscribe options must be instance of SubscribeOptions class.",
        ),
        (
            lambda: client.subscribe((unique_topic, options(1)), qos=1),
            "Subscribe options and qos parameters cannot be combined.",
        ),
        (lambda: client.subscribe([(unique_topic, 3)]), "Invalid QoS level."),
        (lambda: client.subscribe(unique_topic, 3), "Invalid QoS level."),
        (lambda: client.subscribe(""), "Invalid subscription filter."),
        (lambda: client.subscribe([]), "Empty topic list"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            call()
    # a tuple (topic, SubscribeOptions) is the MQTT 5 form of (topic, qos)
    result, mid = client.subscribe((unique_topic, options(2)))
    assert result == mqtt.MQTT_ERR_SUCCESS
    assert rec.first("subscribe")[0] == mid
    assert [c.args[0] for c in rec.of("subscribe")] == [mid]  # nothing else was sent
    assert client.is_connected()
