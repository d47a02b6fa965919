"""``publish.single/multiple`` and ``subscribe.simple/callback``, run under paho-mqtt and
turbomqtt against the same broker, with paho's argument conventions and errors."""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

import pytest
from support.broker import MosquittoBroker

IMPLS = {"paho": "paho.mqtt", "turbomqtt": "turbomqtt"}


@pytest.fixture(params=sorted(IMPLS))
def helpers(request: pytest.FixtureRequest) -> tuple[ModuleType, ModuleType, ModuleType]:
    base = IMPLS[request.param]
    return (
        importlib.import_module(f"{base}.publish"),
        importlib.import_module(f"{base}.subscribe"),
        importlib.import_module(base),
    )


def _in_thread(target: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(target(*args, **kwargs))
        except BaseException as exc:  # report it to the test thread
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_single_and_simple(helpers, broker: MosquittoBroker, unique_topic: str) -> None:
    publish, subscribe, _ = helpers
    publish.single(unique_topic, "kept", qos=1, retain=True, hostname=broker.host, port=broker.port)
    msg = subscribe.simple(unique_topic, qos=1, hostname=broker.host, port=broker.port)
    assert (msg.topic, msg.payload, msg.retain) == (unique_topic, b"kept", True)
    publish.single(unique_topic, None, retain=True, hostname=broker.host, port=broker.port)


def test_multiple_in_order_and_simple_counts(
    helpers, broker: MosquittoBroker, unique_topic: str
) -> None:
    publish, subscribe, _ = helpers
    waiter, out = _in_thread(
        subscribe.simple, unique_topic, qos=1, msg_count=4, hostname=broker.host, port=broker.port
    )
    threading.Event().wait(0.5)  # let the subscription reach the broker
    publish.multiple(
        [
            {"topic": unique_topic, "payload": "a"},
            (unique_topic, "b", 1, False),
            [unique_topic, "c", 2],
            {"topic": unique_topic, "payload": 4, "qos": 1},
        ],
        hostname=broker.host,
        port=broker.port,
    )
    waiter.join(10)
    assert not waiter.is_alive()
    (messages,) = out
    assert [m.payload for m in messages] == [b"a", b"b", b"c", b"4"]


def test_callback_runs_until_disconnect(
    helpers, broker: MosquittoBroker, unique_topic: str
) -> None:
    publish, subscribe, _ = helpers
    seen: list[bytes] = []

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        seen.append(message.payload)
        assert userdata == "mine"
        if len(seen) == 2:
            client.disconnect()

    waiter, out = _in_thread(
        subscribe.callback,
        on_message,
        [unique_topic + "/a", unique_topic + "/b"],
        qos=1,
        userdata="mine",
        hostname=broker.host,
        port=broker.port,
    )
    threading.Event().wait(0.5)
    publish.multiple(
        [(unique_topic + "/a", "1", 1), (unique_topic + "/b", "2", 1)],
        hostname=broker.host,
        port=broker.port,
    )
    waiter.join(10)
    assert not waiter.is_alive() and out == [None]
    assert seen == [b"1", b"2"]


def test_auth_and_refusal(helpers, broker: MosquittoBroker, unique_topic: str) -> None:
    publish, _, base = helpers
    good = {"username": broker.username, "password": broker.password}
    publish.single(unique_topic, "ok", hostname=broker.host, port=broker.auth_port, auth=good)
    with pytest.raises(base.MQTTException, match=r"^Not authorized$"):
        publish.single(
            unique_topic,
            "no",
            hostname=broker.host,
            port=broker.auth_port,
            auth={"username": broker.username, "password": "wrong"},
        )
    with pytest.raises(KeyError, match="username"):
        publish.single(
            unique_topic, "no", hostname=broker.host, port=broker.port, auth={"password": "x"}
        )


def test_tls_dict_is_applied_and_insecure_popped(
    helpers, broker: MosquittoBroker, tls_files, unique_topic: str
) -> None:
    publish, _, _ = helpers
    tls = {"ca_certs": str(tls_files.ca_cert), "insecure": True}
    publish.single(unique_topic, "tls", hostname=broker.host, port=broker.wrong_host_port, tls=tls)
    assert tls == {
        "ca_certs": str(tls_files.ca_cert)
    }  # paho pops "insecure" from the caller's dict


def test_argument_errors(helpers) -> None:
    publish, subscribe, _ = helpers
    with pytest.raises(TypeError, match="msgs must be an iterable"):
        publish.multiple(5)
    with pytest.raises(ValueError, match="msgs is empty"):
        publish.multiple([])
    with pytest.raises(ValueError, match="msg_count must be > 0"):
        subscribe.simple("t", msg_count=0)
    with pytest.raises(ValueError, match="qos must be in the range 0-2"):
        subscribe.callback(print, "t", qos=3)


def test_connection_refused_raises(helpers, broker: MosquittoBroker) -> None:
    import socket

    publish, _, _ = helpers
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionRefusedError):
        publish.single("t", "x", hostname="127.0.0.1", port=port)
