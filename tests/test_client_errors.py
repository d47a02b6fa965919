"""Exceptions for bad input (spec §13), return codes (§14), locked properties (§7) and
the error/connack strings (§3): the same exception type and the same message."""

from __future__ import annotations

import gc
import re
import socket
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import paho.mqtt.client as paho
import pytest
from support.broker import MosquittoBroker
from support.certs import TLSFiles
from support.clientkit import is_paho

# paho's Client.__del__ fails on an object whose __init__ raised early
# (AttributeError: no attribute '_sock'); that is paho noise, not what is tested.
paho_del_noise = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function Client.__del__:pytest.PytestUnraisableExceptionWarning"
)

Action = Callable[[Any, ModuleType], Any]

# (id, action(client, mqtt), exception type, exact message or None, client protocol)
CASES: list[tuple[str, Action, type[BaseException], str, int]] = [
    ("publish-empty-topic", lambda c, m: c.publish(""), ValueError, "Invalid topic.", 4),
    ("publish-none-topic", lambda c, m: c.publish(None), ValueError, "Invalid topic.", 4),
    (
        "publish-plus",
        lambda c, m: c.publish("a/+"),
        ValueError,
        "Publish topic cannot contain wildcards.",
        4,
    ),
    (
        "publish-hash",
        lambda c, m: c.publish("a/#"),
        ValueError,
        "Publish topic cannot contain wildcards.",
        4,
    ),
    (
        "publish-bytes-topic",
        lambda c, m: c.publish(b"a"),
        AttributeError,
        "'bytes' object has no attribute 'encode'",
        4,
    ),
    (
        "publish-long-topic",
        lambda c, m: c.publish("a" * 70000),
        ValueError,
        "Publish topic is too long.",
        4,
    ),
    ("publish-qos3", lambda c, m: c.publish("a", qos=3), ValueError, "Invalid QoS level.", 4),
    ("publish-qos-1", lambda c, m: c.publish("a", qos=-1), ValueError, "Invalid QoS level.", 4),
    *[
        (
            f"publish-payload-{name}",
            (lambda p: lambda c, m: c.publish("a", p))(payload),
            TypeError,
            "payload must be a string, bytearray, int, float or None.",
            4,
        )
        for name, payload in (("dict", {}), ("list", [1]), ("memoryview", memoryview(b"x")))
    ],
    ("subscribe-empty", lambda c, m: c.subscribe(""), ValueError, "Invalid topic.", 4),
    (
        "subscribe-empty-v5",
        lambda c, m: c.subscribe(""),
        ValueError,
        "Invalid subscription filter.",
        5,
    ),
    (
        "subscribe-none",
        lambda c, m: c.subscribe(None),
        ValueError,
        "No topic specified, or incorrect topic type.",
        4,
    ),
    (
        "subscribe-int",
        lambda c, m: c.subscribe(42),
        ValueError,
        "No topic specified, or incorrect topic type.",
        4,
    ),
    ("subscribe-qos3", lambda c, m: c.subscribe("a", 3), ValueError, "Invalid QoS level.", 4),
    (
        "subscribe-list-qos3",
        lambda c, m: c.subscribe([("a", 0), ("b", 3)]),
        ValueError,
        "Invalid QoS level.",
        4,
    ),
    (
        "subscribe-hash-middle",
        lambda c, m: c.subscribe("a/#/b"),
        ValueError,
        "Invalid subscription filter.",
        4,
    ),
    (
        "subscribe-hash-glued",
        lambda c, m: c.subscribe("a/b#"),
        ValueError,
        "Invalid subscription filter.",
        4,
    ),
    ("subscribe-empty-list", lambda c, m: c.subscribe([]), ValueError, "Empty topic list", 4),
    (
        "subscribe-list-empty-topic",
        lambda c, m: c.subscribe([("", 0)]),
        ValueError,
        "Invalid topic.",
        4,
    ),
    (
        "subscribe-v5-options-and-qos",
        lambda c, m: c.subscribe("a", 1, options=m.SubscribeOptions(1)),
        ValueError,
        "Subscribe options and qos parameters cannot be combined.",
        5,
    ),
    (
        "subscribe-v5-tuple-int",
        lambda c, m: c.subscribe(("a", 1)),
        ValueError,
        "Subscribe options must be instance of SubscribeOptions class.",
        5,
    ),
    (
        "subscribe-v3-tuple-options",
        lambda c, m: c.subscribe(("a", m.SubscribeOptions(1))),
        TypeError,
        "'<' not supported between instances of 'SubscribeOptions' and 'int'",
        4,
    ),
    ("unsubscribe-none", lambda c, m: c.unsubscribe(None), ValueError, "Invalid topic.", 4),
    ("unsubscribe-empty", lambda c, m: c.unsubscribe(""), ValueError, "Invalid topic.", 4),
    (
        "unsubscribe-int",
        lambda c, m: c.unsubscribe(42),
        ValueError,
        "No topic specified, or incorrect topic type.",
        4,
    ),
    (
        "unsubscribe-tuple",
        lambda c, m: c.unsubscribe(("a",)),
        ValueError,
        "No topic specified, or incorrect topic type.",
        4,
    ),
    ("will-empty-topic", lambda c, m: c.will_set(""), ValueError, "Invalid topic.", 4),
    ("will-qos3", lambda c, m: c.will_set("a", qos=3), ValueError, "Invalid QoS level.", 4),
    (
        "will-properties-dict",
        lambda c, m: c.will_set("a", properties={"x": 1}),
        ValueError,
        "The properties argument must be an instance of the Properties class.",
        5,
    ),
    ("connect-empty-host", lambda c, m: c.connect(""), ValueError, "Invalid host.", 4),
    (
        "connect-port-0",
        lambda c, m: c.connect("127.0.0.1", 0),
        ValueError,
        "Invalid port number.",
        4,
    ),
    (
        "connect-keepalive",
        lambda c, m: c.connect("127.0.0.1", keepalive=-1),
        ValueError,
        "Keepalive must be >=0.",
        4,
    ),
    (
        "connect-bind-port",
        lambda c, m: c.connect("127.0.0.1", bind_port=-1),
        ValueError,
        "Invalid bind port number.",
        4,
    ),
    (
        "connect-async-bind-port",
        lambda c, m: c.connect_async("127.0.0.1", bind_port=-1),
        ValueError,
        "Invalid bind port number.",
        4,
    ),
    (
        "connect-v3-clean-start",
        lambda c, m: c.connect("127.0.0.1", clean_start=True),
        ValueError,
        "Clean start only applies to MQTT V5",
        4,
    ),
    (
        "connect-v3-properties",
        lambda c, m: c.connect("127.0.0.1", properties=m.Properties(m.PacketTypes.CONNECT)),
        ValueError,
        "Properties only apply to MQTT V5",
        4,
    ),
    ("reconnect-before-connect", lambda c, m: c.reconnect(), ValueError, "Invalid host.", 4),
    ("loop-negative-timeout", lambda c, m: c.loop(-1), ValueError, "Invalid timeout.", 4),
    (
        "tls-insecure-before-tls-set",
        lambda c, m: c.tls_insecure_set(True),
        ValueError,
        "Must configure SSL context before using tls_insecure_set.",
        4,
    ),
    (
        "max-queued-str",
        lambda c, m: c.max_queued_messages_set("x"),
        TypeError,
        "queue_size should be an int",
        4,
    ),
    (
        "max-queued-negative",
        lambda c, m: c.max_queued_messages_set(-1),
        ValueError,
        "Invalid queue size.",
        4,
    ),
    (
        "max-inflight-negative",
        lambda c, m: c.max_inflight_messages_set(-1),
        ValueError,
        "Invalid inflight.",
        4,
    ),
    (
        "message-callback-add-none",
        lambda c, m: c.message_callback_add(None, print),
        ValueError,
        "sub and callback must both be defined.",
        4,
    ),
    (
        "message-callback-add-no-callback",
        lambda c, m: c.message_callback_add("a", None),
        ValueError,
        "sub and callback must both be defined.",
        4,
    ),
    (
        "message-callback-remove-none",
        lambda c, m: c.message_callback_remove(None),
        ValueError,
        "sub must defined.",  # sic: paho 2.2.0's message
        4,
    ),
    (
        "ws-headers-int",
        lambda c, m: c.ws_set_options(headers=42),
        ValueError,
        "'headers' option to ws_set_options has to be either a dictionary or callable",
        4,
    ),
    (
        "username-bytes",
        lambda c, m: c.username_pw_set(b"u"),
        AttributeError,
        "'bytes' object has no attribute 'encode'",
        4,
    ),
    (
        "protocol-read-only",
        lambda c, m: setattr(c, "protocol", m.MQTTv31),
        AttributeError,
        "property 'protocol' of 'Client' object has no setter",
        4,
    ),
    ("host-setter-empty", lambda c, m: setattr(c, "host", ""), ValueError, "Invalid host.", 4),
    (
        "port-setter-zero",
        lambda c, m: setattr(c, "port", 0),
        ValueError,
        "Invalid port number.",
        4,
    ),
    (
        "keepalive-setter-negative",
        lambda c, m: setattr(c, "keepalive", -1),
        ValueError,
        "Keepalive must be >=0.",
        4,
    ),
    (
        "connect-timeout-setter-zero",
        lambda c, m: setattr(c, "connect_timeout", 0),
        ValueError,
        "timeout must be a positive number",
        4,
    ),
]


@pytest.mark.parametrize(
    ("action", "exc_type", "message", "protocol"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_raises(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    action: Action,
    exc_type: type[BaseException],
    message: str,
    protocol: int,
) -> None:
    client = make_client(mqtt, protocol=protocol)
    with pytest.raises(exc_type) as excinfo:
        action(client, mqtt)
    assert type(excinfo.value) is exc_type
    assert str(excinfo.value) == message


def test_inputs_that_are_accepted(mqtt: ModuleType, make_client: Callable[..., Any]) -> None:
    """Counterparts of the table: these do not raise (and are not connected)."""
    client = make_client(mqtt)
    assert client.will_set("a/#", True) is None  # wildcards not checked in will topics
    assert client.will_topic == "a/#" and client.will_payload == b"True"
    info = client.publish("a", True)  # bool payload -> b"True"
    assert info.rc == mqtt.MQTT_ERR_NO_CONN


def test_v5_empty_topic_with_topic_alias_is_accepted(
    mqtt: ModuleType, make_client: Callable[..., Any]
) -> None:
    """MQTT 5 allows an empty topic when a Topic Alias stands for it."""
    v5 = make_client(mqtt, protocol=mqtt.MQTTv5)
    props = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    props.TopicAlias = 1
    assert v5.publish("a/b", b"named", properties=props).rc == mqtt.MQTT_ERR_NO_CONN
    assert v5.publish("", b"alias", properties=props).rc == mqtt.MQTT_ERR_NO_CONN


def test_v5_empty_topic_without_alias(mqtt: ModuleType, make_client: Callable[..., Any]) -> None:
    """An empty topic with no Topic Alias for it: paho sends the PUBLISH and the broker closes
    the connection for the protocol error; turbomqtt refuses it at the call, as it refuses
    every other topic the broker cannot accept (a documented difference)."""
    v5 = make_client(mqtt, protocol=mqtt.MQTTv5)
    if is_paho(mqtt):
        assert v5.publish("", b"lost").rc == mqtt.MQTT_ERR_NO_CONN
        return
    with pytest.raises(ValueError, match=r"^Invalid topic\.$"):
        v5.publish("", b"lost")
    unknown = mqtt.Properties(mqtt.PacketTypes.PUBLISH)
    unknown.TopicAlias = 5
    with pytest.raises(ValueError, match=r"^Invalid topic\.$"):
        v5.publish("", b"lost", properties=unknown)


@paho_del_noise
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"client_id": "", "clean_session": False},
            "A client id must be provided if clean session is False.",
        ),
        ({"protocol": 5, "clean_session": True}, "Clean session is not used for MQTT 5.0"),
        ({"transport": "quic"}, 'transport must be "websockets", "tcp" or "unix", not quic'),
    ],
    ids=["empty-id-persistent", "v5-clean-session", "bad-transport"],
)
def test_constructor_value_errors(mqtt: ModuleType, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    assert str(excinfo.value) == message
    del excinfo
    gc.collect()  # run paho's failing __del__ now, under this test's filter


@paho_del_noise
@pytest.mark.filterwarnings("ignore:in 3.12 __contains__:DeprecationWarning")  # Python 3.11 enum
def test_constructor_rejects_unknown_callback_api(mqtt: ModuleType) -> None:
    # paho: `3 in CallbackAPIVersion` raises TypeError on Python 3.11, ValueError on 3.12+
    with pytest.raises((ValueError, TypeError)):
        mqtt.Client(3)
    gc.collect()


def test_tls_configured_twice(
    mqtt: ModuleType, make_client: Callable[..., Any], tls_files: TLSFiles
) -> None:
    import ssl

    message = "SSL/TLS has already been configured."
    client = make_client(mqtt)
    client.tls_set(ca_certs=str(tls_files.ca_cert))
    with pytest.raises(ValueError, match=re.escape(message)):
        client.tls_set(ca_certs=str(tls_files.ca_cert))
    with pytest.raises(ValueError, match=re.escape(message)):
        client.tls_set_context(ssl.create_default_context())
    other = make_client(mqtt)
    other.tls_set_context()
    with pytest.raises(ValueError, match=re.escape(message)):
        other.tls_set(ca_certs=str(tls_files.ca_cert))


# -- socket errors raised by connect() --------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connect_to_closed_port_raises_connection_refused(
    mqtt: ModuleType, make_client: Callable[..., Any]
) -> None:
    client = make_client(mqtt)
    with pytest.raises(ConnectionRefusedError):
        client.connect("127.0.0.1", closed_port())
    assert not client.is_connected()


def test_connect_to_unresolvable_name_raises_gaierror(
    mqtt: ModuleType, make_client: Callable[..., Any]
) -> None:
    """``.invalid`` never resolves (RFC 6761). Bounded: run in a thread, join with a timeout."""
    client = make_client(mqtt)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            client.connect("turbomqtt-test.invalid", 1883)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(20)
    assert outcome, "connect() to a .invalid name did not fail within 20 s"
    assert isinstance(outcome[0], socket.gaierror), outcome


# -- locked properties ------------------------------------------------------------

LOCKED = [
    ("host", "127.0.0.1"),
    ("port", 1884),
    ("keepalive", 10),
    ("transport", "tcp"),
    ("connect_timeout", 1.0),
    ("username", "u"),
    ("password", "p"),
    ("max_inflight_messages", 3),
    ("max_queued_messages", 3),
]


@pytest.mark.parametrize("state", ["connected", "after-failed-connect"])
def test_property_setters_raise_while_connected(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, state: str
) -> None:
    client = make_client(mqtt)
    if state == "connected":
        client.connect(broker.host, broker.port)
    else:  # the state stays CONNECTING after a failed connect (spec §7)
        with pytest.raises(ConnectionRefusedError):
            client.connect("127.0.0.1", closed_port())
    for name, value in LOCKED:
        with pytest.raises(RuntimeError) as excinfo:
            setattr(client, name, value)
        assert str(excinfo.value) == f"updating {name} on established connection is not supported"
    with pytest.raises(RuntimeError, match="updating max_inflight_messages on established"):
        client.max_inflight_messages_set(5)
    with pytest.raises(RuntimeError, match="updating max_queued_messages on established"):
        client.max_queued_messages_set(5)


def test_property_setters_work_before_connect(
    mqtt: ModuleType, make_client: Callable[..., Any]
) -> None:
    client = make_client(mqtt)
    assert (client.host, client.port, client.keepalive) == ("", 1883, 60)
    assert (client.transport, client.connect_timeout) == ("tcp", 5.0)
    assert (client.max_inflight_messages, client.max_queued_messages) == (20, 0)
    for name, value in LOCKED:
        setattr(client, name, value)
        assert getattr(client, name) == value, name


# -- return codes and strings ------------------------------------------------------


def test_return_codes_when_not_connected(mqtt: ModuleType, make_client: Callable[..., Any]) -> None:
    client = make_client(mqtt)
    assert client.loop(0) == mqtt.MQTT_ERR_NO_CONN
    assert client.loop_misc() == mqtt.MQTT_ERR_NO_CONN
    assert client.disconnect() == mqtt.MQTT_ERR_NO_CONN
    assert client.subscribe("a") == (mqtt.MQTT_ERR_NO_CONN, None)
    assert client.unsubscribe(["a", "b"]) == (mqtt.MQTT_ERR_NO_CONN, None)
    assert client.is_connected() is False


CODES = [*range(-2, 20), 128, 255]


def test_error_string_for_every_code(mqtt: ModuleType) -> None:
    assert [mqtt.error_string(c) for c in CODES] == [paho.error_string(c) for c in CODES]
    assert [mqtt.error_string(c) for c in mqtt.MQTTErrorCode] == [
        paho.error_string(c) for c in paho.MQTTErrorCode
    ]
    assert mqtt.error_string(0) == "No error."
    assert mqtt.error_string(4) == "The client is not currently connected."
    assert mqtt.error_string(7) == "The connection was lost."
    assert mqtt.error_string(16) == (
        "Client or broker did not communicate in the keepalive interval."
    )
    assert mqtt.error_string(99) == "Unknown error."


def test_connack_string_for_every_code(mqtt: ModuleType) -> None:
    assert [mqtt.connack_string(c) for c in CODES] == [paho.connack_string(c) for c in CODES]
    assert [mqtt.connack_string(c) for c in range(7)] == [
        "Connection Accepted.",
        "Connection Refused: unacceptable protocol version.",
        "Connection Refused: identifier rejected.",
        "Connection Refused: broker unavailable.",
        "Connection Refused: bad user name or password.",
        "Connection Refused: not authorised.",
        "Connection Refused: unknown reason.",
    ]
    reason = mqtt.ReasonCode(mqtt.PacketTypes.CONNACK, "Not authorized")
    assert mqtt.connack_string(reason) == "Not authorized"
