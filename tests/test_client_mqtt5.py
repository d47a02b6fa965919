"""MQTT 5 client behaviour against the shared mosquitto 2.0.11 (``protocol=MQTTv5``):
CONNACK, clean start and session expiry, PUBLISH properties, topic aliases, wills and
disconnects from either side.

Every test runs once per implementation (the ``mqtt`` fixture); the expected values are
what paho-mqtt 2.2 does against mosquitto 2.0.11, pinned literally. Subscriptions,
acknowledgements and bad input are in ``test_client_mqtt5_subscribe.py``; tests that need
a broker configured differently (limits, ACLs) and the callback-sequence parity are in
``test_client_mqtt5_broker.py``.

What mosquitto 2.0.11 sends, as observed (and asserted below):

- CONNACK properties: ``ReceiveMaximum 20`` (its ``max_inflight_messages``) and
  ``TopicAliasMaximum 10``, plus ``AssignedClientIdentifier "auto-<UUID>"`` when the
  client id was empty;
- a bad password gets CONNACK 0x87 "Not authorized" (not 0x86);
- a session taken over closes the socket with no DISCONNECT 0x8E (so does a broker
  shutting down, with no 0x8B; not tested here);
- it never uses topic aliases towards clients, even when they allow them;
- a Will Delay Interval is honoured even with no Session Expiry Interval.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from support import packets
from support.broker import MosquittoBroker
from support.clientkit import WAIT, Recorder, normalise
from support.fake_broker import FakeBroker
from support.mqtt5 import (
    MakeClient,
    new_id,
    payloads,
    props,
    rc,
    start_v5,
    wait_for_log,
)

# -- CONNACK --------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["", "fixed"], ids=["assigned-id", "own-id"])
def test_connack_under_version2(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, client_id: str
) -> None:
    """VERSION2 on_connect gets ConnectFlags, ReasonCode "Success" and the CONNACK
    Properties mosquitto sent; an empty client id makes mosquitto assign one."""
    client_id = new_id(client_id) if client_id else ""
    client, rec = start_v5(make_client, mqtt, broker, client_id=client_id)
    assert client.is_connected()
    ((flags, reason, properties),) = [c.args for c in rec.of("connect")]
    assert isinstance(flags, mqtt.ConnectFlags) and flags.session_present is False
    assert isinstance(reason, mqtt.ReasonCode)
    assert reason == 0 and reason == "Success" and not reason.is_failure
    assert reason.packetType == mqtt.PacketTypes.CONNACK
    assert isinstance(properties, mqtt.Properties)
    assert properties.packetType == mqtt.PacketTypes.CONNACK
    received = properties.json()
    if client_id:
        assert received == {"ReceiveMaximum": 20, "TopicAliasMaximum": 10}
    else:
        assigned = received.pop("AssignedClientIdentifier")
        assert received == {"ReceiveMaximum": 20, "TopicAliasMaximum": 10}
        assert re.fullmatch(r"auto-[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", assigned)
    assert client.keepalive == 30  # no Server Keep Alive: the client's own value stands


def test_connack_under_version1(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker
) -> None:
    """VERSION1 under MQTT 5: on_connect(client, userdata, flags_dict, ReasonCode, Properties)."""
    _, rec = start_v5(make_client, mqtt, broker, version=1, client_id=new_id("v1"))
    (args,) = [c.args for c in rec.of("connect")]
    assert len(args) == 3
    flags, reason, properties = args
    assert flags == {"session present": 0} and type(flags["session present"]) is int
    assert isinstance(reason, mqtt.ReasonCode) and normalise(reason) == rc(2, 0, "Success")
    assert isinstance(properties, mqtt.Properties)
    assert properties.json() == {"ReceiveMaximum": 20, "TopicAliasMaximum": 10}


@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
def test_refused_connack(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, version: int
) -> None:
    """A bad password under MQTT 5: mosquitto answers CONNACK 0x87 "Not authorized";
    on_connect reports it, then on_disconnect follows. paho reports that disconnect as a
    protocol error (V1 MQTT_ERR_PROTOCOL, V2 0x82): it maps only MQTT 3's refusal codes
    1-5 to MQTT_ERR_CONN_REFUSED."""
    client = make_client(mqtt, version, protocol=mqtt.MQTTv5)
    client.reconnect_delay_set(30, 30)  # one attempt within the test
    client.username_pw_set(broker.username, "wrong password")
    rec = Recorder().attach(client, "connect", "disconnect")
    client.connect(broker.host, broker.auth_port)
    client.loop_start()
    rec.wait("disconnect")
    client.disconnect()  # no reconnect attempt after the loop stops
    client.loop_stop()
    calls = [(c.name, *(normalise(a) for a in c.args)) for c in rec.calls]
    if version == 1:
        assert calls == [
            ("connect", {"session present": 0}, rc(2, 135, "Not authorized"), ("PROPS", 2, {})),
            ("disconnect", int(mqtt.MQTT_ERR_PROTOCOL), None),
        ]
    else:
        assert calls == [
            ("connect", ("ConnectFlags", False), rc(2, 135, "Not authorized"), ("PROPS", 2, {})),
            (
                "disconnect",
                ("DisconnectFlags", False),
                rc(14, 130, "Protocol error"),
                ("PROPS", 14, {}),
            ),
        ]
    assert not client.is_connected()


# -- clean start and session expiry ---------------------------------------------------


def connect_round(
    make_client: MakeClient,
    mqtt: ModuleType,
    broker: MosquittoBroker,
    client_id: str,
    clean_start: Any,
    expiry: int | None,
) -> tuple[Any, Recorder]:
    properties = None if expiry is None else props(mqtt, "CONNECT", SessionExpiryInterval=expiry)
    return start_v5(
        make_client,
        mqtt,
        broker,
        client_id=client_id,
        clean_start=clean_start,
        properties=properties,
    )


def end_round(client: Any, rec: Recorder, **disconnect_kwargs: Any) -> None:
    # disconnect()'s result is not checked: paho's loop thread may send the DISCONNECT and
    # exit before disconnect() returns, which then says MQTT_ERR_NO_CONN (paho 2.2 race).
    client.disconnect(**disconnect_kwargs)
    rec.wait("disconnect")
    client.loop_stop()


def publish_all(
    make_client: MakeClient, mqtt: ModuleType, broker: MosquittoBroker, topic: str, *bodies: bytes
) -> None:
    publisher, rec = start_v5(make_client, mqtt, broker)
    for body in bodies:
        publisher.publish(topic, body, qos=1).wait_for_publish(WAIT)
    end_round(publisher, rec)


def test_session_resumed_with_clean_start_false_and_expiry(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """clean_start=False + SessionExpiryInterval: the session survives a disconnect,
    the reconnect has session_present and gets the QoS 1 messages queued meanwhile, in
    order; a DISCONNECT with SessionExpiryInterval 0 then ends the session."""
    cid = new_id("resume")
    client, rec = connect_round(make_client, mqtt, broker, cid, False, 30)
    assert rec.first("connect")[0].session_present is False
    client.subscribe(unique_topic, qos=1)
    rec.wait("subscribe")
    end_round(client, rec)

    publish_all(make_client, mqtt, broker, unique_topic, b"m0", b"m1", b"m2")

    client, rec = connect_round(make_client, mqtt, broker, cid, False, 30)
    assert rec.first("connect")[0].session_present is True
    messages = [c.args[0] for c in rec.wait("message", 3)]
    assert [(m.topic, m.payload, m.qos) for m in messages] == [
        (unique_topic, b"m0", 1),
        (unique_topic, b"m1", 1),
        (unique_topic, b"m2", 1),
    ]
    end_round(client, rec, properties=props(mqtt, "DISCONNECT", SessionExpiryInterval=0))

    client, rec = connect_round(make_client, mqtt, broker, cid, False, 30)
    assert rec.first("connect")[0].session_present is False
    end_round(client, rec, properties=props(mqtt, "DISCONNECT", SessionExpiryInterval=0))


@pytest.mark.parametrize(
    ("first_expiry", "second_clean_start"),
    [(30, True), (None, False)],
    ids=["clean_start=True", "no-session-expiry"],
)
def test_no_session_to_resume(
    mqtt: ModuleType,
    make_client: MakeClient,
    broker: MosquittoBroker,
    unique_topic: str,
    first_expiry: int | None,
    second_clean_start: bool,
) -> None:
    """No session present and nothing queued on reconnect when either the reconnect
    asks for a clean start, or the first connection had no Session Expiry Interval (its
    session ended with it, even with clean_start=False)."""
    cid = new_id("clean")
    client, rec = connect_round(make_client, mqtt, broker, cid, False, first_expiry)
    client.subscribe(unique_topic, qos=1)
    rec.wait("subscribe")
    end_round(client, rec)
    publish_all(make_client, mqtt, broker, unique_topic, b"stale")

    client, rec = connect_round(make_client, mqtt, broker, cid, second_clean_start, 30)
    assert rec.first("connect")[0].session_present is False
    client.subscribe(unique_topic, qos=1)
    rec.wait("subscribe")
    client.publish(unique_topic, b"marker", qos=1)  # queued messages would come first
    rec.wait("message")
    assert payloads(rec) == [b"marker"]
    end_round(client, rec, properties=props(mqtt, "DISCONNECT", SessionExpiryInterval=0))


def test_clean_start_first_only(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """MQTT_CLEAN_START_FIRST_ONLY: connect() starts clean (an existing session and its
    queued message are dropped); a later reconnect() resumes the session. Driven with
    loop() so that one Client object does both."""
    cid = new_id("first-only")
    seeder, seeder_rec = connect_round(make_client, mqtt, broker, cid, False, 30)
    seeder.subscribe(unique_topic, qos=1)
    seeder_rec.wait("subscribe")
    end_round(seeder, seeder_rec)
    publish_all(make_client, mqtt, broker, unique_topic, b"stale")

    client = make_client(mqtt, 2, client_id=cid, protocol=mqtt.MQTTv5)
    rec = Recorder().attach(client, "connect", "disconnect", "subscribe", "message")

    def pump(until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not until():
            assert time.monotonic() < deadline, f"not reached by loop(); callbacks {rec.names()}"
            client.loop(0.05)

    expiry = props(mqtt, "CONNECT", SessionExpiryInterval=30)
    client.connect(
        broker.host,
        broker.port,
        clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY,
        properties=expiry,
    )
    pump(lambda: bool(rec.of("connect")))
    assert rec.first("connect")[0].session_present is False
    client.subscribe(unique_topic, qos=1)
    pump(lambda: bool(rec.of("subscribe")))
    client.disconnect()
    pump(lambda: bool(rec.of("disconnect")))

    publish_all(make_client, mqtt, broker, unique_topic, b"queued")
    assert client.reconnect() == mqtt.MQTT_ERR_SUCCESS
    pump(lambda: len(rec.of("connect")) == 2 and bool(rec.of("message")))
    assert rec.of("connect")[1].args[0].session_present is True
    assert payloads(rec) == [b"queued"]  # never b"stale": the first connect was clean
    client.disconnect(properties=props(mqtt, "DISCONNECT", SessionExpiryInterval=0))
    pump(lambda: len(rec.of("disconnect")) == 2)


# -- PUBLISH properties and topic aliases ------------------------------------------------


def test_publish_properties_round_trip(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """User properties (order and duplicates kept), Response Topic, Correlation Data,
    Content Type, Payload Format Indicator and Message Expiry Interval reach the
    subscriber at every QoS; msg.properties is a PUBLISH Properties."""
    subscriber, sub_rec = start_v5(make_client, mqtt, broker)
    subscriber.subscribe(unique_topic, qos=2)
    sub_rec.wait("subscribe")
    publisher, _ = start_v5(make_client, mqtt, broker)
    user = [("a", "1"), ("b", "2"), ("a", "3"), ("émoji", "✓")]
    sent = props(
        mqtt,
        "PUBLISH",
        UserProperty=user,
        ResponseTopic=f"{unique_topic}/reply",
        CorrelationData=b"\x00\x01corr\xff",
        ContentType="text/plain; charset=utf-8",
        PayloadFormatIndicator=1,
        MessageExpiryInterval=60,
    )
    for qos in (0, 1, 2):
        publisher.publish(unique_topic, f"q{qos}", qos=qos, properties=sent)
    publisher.publish(unique_topic, b"bare", qos=1)
    messages = sorted((c.args[0] for c in sub_rec.wait("message", 4)), key=lambda m: m.payload)
    assert [m.payload for m in messages] == [b"bare", b"q0", b"q1", b"q2"]
    bare, *with_props = messages
    assert isinstance(bare.properties, mqtt.Properties) and bare.properties.json() == {}
    for message in with_props:
        p = message.properties
        assert isinstance(p, mqtt.Properties)
        assert p.packetType == mqtt.PacketTypes.PUBLISH
        assert p.UserProperty == user
        assert p.ResponseTopic == f"{unique_topic}/reply"
        assert p.CorrelationData == b"\x00\x01corr\xff"
        assert p.ContentType == "text/plain; charset=utf-8"
        assert p.PayloadFormatIndicator == 1
        # mosquitto forwards the time left, in whole seconds
        assert p.MessageExpiryInterval in (59, 60)
        assert not hasattr(p, "TopicAlias") and not hasattr(p, "SubscriptionIdentifier")


def test_message_properties_are_none_under_mqtt311(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """An MQTT 3.1.1 subscriber gets msg.properties None, even for a message published
    with MQTT 5 properties."""
    subscriber = make_client(mqtt, 2, protocol=mqtt.MQTTv311)
    rec = Recorder().attach(subscriber, "connect", "subscribe", "message")
    subscriber.connect(broker.host, broker.port)
    subscriber.loop_start()
    rec.wait("connect")
    subscriber.subscribe(unique_topic, qos=1)
    rec.wait("subscribe")
    publisher, _ = start_v5(make_client, mqtt, broker)
    publisher.publish(unique_topic, b"x", qos=1, properties=props(mqtt, "PUBLISH", ContentType="a"))
    message = rec.first("message")[0]
    assert message.payload == b"x" and message.properties is None


def test_topic_aliases_from_the_client(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """Publishing with TopicAlias and a topic sets the alias; then the topic "" with the
    alias publishes to the aliased topic. The subscriber always sees full topics."""
    subscriber, sub_rec = start_v5(make_client, mqtt, broker)
    subscriber.subscribe(f"{unique_topic}/#", qos=1)
    sub_rec.wait("subscribe")
    publisher, pub_rec = start_v5(make_client, mqtt, broker)
    assert pub_rec.first("connect")[2].TopicAliasMaximum == 10  # mosquitto's default
    first, second = f"{unique_topic}/first", f"{unique_topic}/second"
    alias1 = props(mqtt, "PUBLISH", TopicAlias=1)
    alias2 = props(mqtt, "PUBLISH", TopicAlias=2)
    sends = [(first, alias1), (second, alias2), ("", alias1), ("", alias2), ("", alias1)]
    infos = [
        publisher.publish(topic, f"p{i}", qos=1, properties=alias)
        for i, (topic, alias) in enumerate(sends)
    ]
    assert [info.rc for info in infos] == [mqtt.MQTT_ERR_SUCCESS] * 5
    received = [(c.args[0].topic, c.args[0].payload) for c in sub_rec.wait("message", 5)]
    assert received == [
        (first, b"p0"),
        (second, b"p1"),
        (first, b"p2"),
        (second, b"p3"),
        (first, b"p4"),
    ]
    acks = [(c.args[0], normalise(c.args[1])) for c in pub_rec.wait("publish", 5)]
    assert acks == [(info.mid, rc(4, 0, "Success")) for info in infos]
    assert publisher.is_connected()


def test_broker_sends_full_topics_to_a_client_allowing_aliases(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, unique_topic: str
) -> None:
    """A client may declare TopicAliasMaximum in CONNECT; mosquitto 2.0.11 still sends
    every PUBLISH with its full topic and no TopicAlias property."""
    subscriber, sub_rec = start_v5(
        make_client, mqtt, broker, properties=props(mqtt, "CONNECT", TopicAliasMaximum=10)
    )
    subscriber.subscribe(unique_topic, qos=1)
    sub_rec.wait("subscribe")
    publisher, _ = start_v5(make_client, mqtt, broker)
    for i in range(3):
        publisher.publish(unique_topic, f"m{i}", qos=1)
    messages = [c.args[0] for c in sub_rec.wait("message", 3)]
    assert [(m.topic, m.payload) for m in messages] == [
        (unique_topic, b"m0"),
        (unique_topic, b"m1"),
        (unique_topic, b"m2"),
    ]
    assert [m.properties.json() for m in messages] == [{}, {}, {}]


# -- disconnects and wills -------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
@pytest.mark.parametrize("with_will", [True, False], ids=["reason-0x04", "plain"])
def test_disconnect_reason_decides_the_will(
    mqtt: ModuleType,
    make_client: MakeClient,
    broker: MosquittoBroker,
    unique_topic: str,
    version: int,
    with_will: bool,
) -> None:
    """disconnect(reasoncode="Disconnect with will message") makes mosquitto publish
    the will; a plain disconnect() does not. Either way on_disconnect reports a normal
    client-side disconnection."""
    observer, obs_rec = start_v5(make_client, mqtt, broker)
    observer.subscribe(unique_topic, qos=1)
    obs_rec.wait("subscribe")

    cid = new_id("will")
    client, rec = start_v5(
        make_client,
        mqtt,
        broker,
        version=version,
        client_id=cid,
        before_connect=lambda c: c.will_set(unique_topic, b"will", qos=1),
    )
    if with_will:
        reason = mqtt.ReasonCode(mqtt.PacketTypes.DISCONNECT, "Disconnect with will message")
        assert reason.value == 4
        why = props(mqtt, "DISCONNECT", ReasonString="going", UserProperty=[("k", "v")])
        client.disconnect(reasoncode=reason, properties=why)  # result unchecked: end_round()
    else:
        client.disconnect()
    args = tuple(normalise(a) for a in rec.first("disconnect"))
    if version == 1:
        assert args == (0, None)
    else:
        assert args == (
            ("DisconnectFlags", False),
            rc(14, 0, "Normal disconnection"),
            ("PROPS", 14, {}),
        )
    wait_for_log(broker, f"Client {cid} disconnected")  # the broker is done with it
    observer.publish(unique_topic, b"marker", qos=1)
    obs_rec.wait("message", 2 if with_will else 1)
    assert payloads(obs_rec) == ([b"will", b"marker"] if with_will else [b"marker"])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("delay", [0, 2])
def test_will_properties_and_delay(
    mqtt: ModuleType,
    make_client: MakeClient,
    broker: MosquittoBroker,
    unique_topic: str,
    delay: int,
) -> None:
    """Will properties reach the will's subscribers (User Property, Content Type); a
    Will Delay Interval holds the will back for that long."""
    observer, obs_rec = start_v5(make_client, mqtt, broker)
    observer.subscribe(unique_topic, qos=1)
    obs_rec.wait("subscribe")
    will_props = props(
        mqtt, "WILLMESSAGE", UserProperty=[("origin", "test"), ("n", "1")], ContentType="text/x"
    )
    if delay:
        will_props.WillDelayInterval = delay

    client, _ = start_v5(
        make_client,
        mqtt,
        broker,
        properties=props(mqtt, "CONNECT", SessionExpiryInterval=10),
        before_connect=lambda c: c.will_set(unique_topic, b"bye", 1, properties=will_props),
    )
    reason = mqtt.ReasonCode(mqtt.PacketTypes.DISCONNECT, identifier=4)
    assert str(reason) == "Disconnect with will message"
    sent_at = time.monotonic()
    client.disconnect(reasoncode=reason)
    will = obs_rec.first("message", timeout=delay + WAIT)[0]
    elapsed = time.monotonic() - sent_at
    assert (will.topic, will.payload, will.qos) == (unique_topic, b"bye", 1)
    assert will.properties.UserProperty == [("origin", "test"), ("n", "1")]
    assert will.properties.ContentType == "text/x"
    assert not hasattr(will.properties, "WillDelayInterval")  # a will property only
    if delay:
        assert elapsed >= delay - 0.5, f"will published after {elapsed:.2f} s"
    else:
        assert elapsed < 1.5, f"will published after {elapsed:.2f} s"


@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
def test_session_taken_over_is_a_plain_connection_loss(
    mqtt: ModuleType, make_client: MakeClient, broker: MosquittoBroker, version: int
) -> None:
    """A second connection with the same client id: mosquitto 2.0.11 closes the first
    one without sending DISCONNECT 0x8E, so the MQTT 5 client sees a connection loss."""
    cid = new_id("taken")
    client, rec = start_v5(make_client, mqtt, broker, version=version, client_id=cid)
    client.reconnect_delay_set(10, 10)  # do not kick back during the test
    with socket.create_connection((broker.host, broker.port), timeout=WAIT) as intruder:
        intruder.sendall(packets.connect(cid, keepalive=10))
        assert intruder.recv(4) == packets.connack(0)
        args = tuple(normalise(a) for a in rec.first("disconnect"))
        client.loop_stop()
        intruder.sendall(packets.disconnect())
    if version == 1:
        assert args == (int(mqtt.MQTT_ERR_CONN_LOST), None)
    else:
        assert args == (
            ("DisconnectFlags", False),
            rc(14, 128, "Unspecified error"),
            ("PROPS", 14, {}),
        )


#: A v5 CONNACK: no session, reason 0, no properties.
CONNACK5 = bytes([0x20, 3, 0, 0, 0])

#: Server DISCONNECT bodies -> (VERSION1 arguments, VERSION2 arguments), normalised.
SERVER_DISCONNECTS = {
    "reason+properties": (
        # 0x8E "Session taken over", properties: Reason String "bye!"
        bytes([0xE0, 9, 0x8E, 7, 0x1F, 0, 4]) + b"bye!",
        (rc(14, 142, "Session taken over"), ("PROPS", 14, {"ReasonString": "bye!"})),
        (rc(14, 142, "Session taken over"), ("PROPS", 14, {"ReasonString": "bye!"})),
    ),
    "reason-only": (
        bytes([0xE0, 1, 0x8E]),
        (rc(14, 142, "Session taken over"), None),
        (rc(14, 142, "Session taken over"), ("PROPS", 14, {})),
    ),
    "empty": (
        bytes([0xE0, 0]),
        (None, None),
        (rc(14, 0, "Normal disconnection"), ("PROPS", 14, {})),
    ),
}


@pytest.mark.parametrize("body", list(SERVER_DISCONNECTS))
@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
def test_server_disconnect_packet(
    mqtt: ModuleType, make_client: MakeClient, fake_broker: FakeBroker, version: int, body: str
) -> None:
    """A DISCONNECT from the server (scripted: mosquitto 2.0.11 sends none for a
    takeover): VERSION2 gets DisconnectFlags(is_disconnect_packet_from_server=True) and the
    server's reason and properties; VERSION1 gets (reason_code, properties), each None when
    absent from the packet."""
    packet, v1_args, v2_args = SERVER_DISCONNECTS[body]
    client = make_client(mqtt, version, client_id="v5-fake", protocol=mqtt.MQTTv5)
    client.reconnect_delay_set(10, 10)
    rec = Recorder().attach(client, "connect", "disconnect")
    client.connect(fake_broker.host, fake_broker.port)
    client.loop_start()
    fake_broker.accept()
    connect = fake_broker.read_packet()
    assert connect[:9] == bytes([0x10, len(connect) - 2, 0, 4]) + b"MQTT\x05"  # level 5
    fake_broker.send(CONNACK5)
    rec.wait("connect")
    fake_broker.send(packet)
    args = tuple(normalise(a) for a in rec.first("disconnect"))
    client.loop_stop()
    if version == 1:
        assert args == v1_args
    else:
        assert args == (("DisconnectFlags", True), *v2_args)
    # Not asserted: is_connected() here. paho 2.2 still says True after a server
    # DISCONNECT until its loop has gone through the reconnect path, stopped above.


def test_connect_and_disconnect_bytes(
    mqtt: ModuleType, make_client: MakeClient, fake_broker: FakeBroker
) -> None:
    """Byte-exact MQTT 5 CONNECT (clean_start=False, keepalive, Session Expiry Interval, a
    QoS 1 will with a Will Delay Interval) and DISCONNECT (reason 0x04 + Reason String)."""
    client = make_client(mqtt, 2, client_id="v5-fake", protocol=mqtt.MQTTv5)
    client.will_set("w", b"bye", qos=1, properties=props(mqtt, "WILLMESSAGE", WillDelayInterval=5))
    rec = Recorder().attach(client, "connect", "disconnect")
    client.connect(
        fake_broker.host,
        fake_broker.port,
        keepalive=30,
        clean_start=False,
        properties=props(mqtt, "CONNECT", SessionExpiryInterval=30),
    )
    client.loop_start()
    fake_broker.accept()
    connect = bytes.fromhex(
        "10 27"  # CONNECT, remaining length 39
        " 0004 4d515454 05"  # "MQTT", protocol level 5
        " 0c"  # flags: will QoS 1 (0x08), will (0x04); no clean start
        " 001e"  # keepalive 30
        " 05 11 0000001e"  # properties: Session Expiry Interval 30
        " 0007 76352d66616b65"  # client id "v5-fake"
        " 05 18 00000005"  # will properties: Will Delay Interval 5
        " 0001 77"  # will topic "w"
        " 0003 627965"  # will payload "bye"
    )
    fake_broker.expect_packet("connect", connect)
    fake_broker.send(CONNACK5)
    rec.wait("connect")
    reason = mqtt.ReasonCode(mqtt.PacketTypes.DISCONNECT, "Disconnect with will message")
    client.disconnect(reasoncode=reason, properties=props(mqtt, "DISCONNECT", ReasonString="bye!"))
    disconnect = bytes.fromhex(
        "e0 09"  # DISCONNECT, remaining length 9
        " 04"  # reason: Disconnect with will message
        " 07 1f 0004 62796521"  # properties: Reason String "bye!"
    )
    fake_broker.expect_packet("disconnect", disconnect)
    fake_broker.expect_closed()
    rec.wait("disconnect")
