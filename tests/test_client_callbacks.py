"""Callback semantics (spec §8, §10, §16.16-17): thread, serialisation, order, decorators,
per-topic callbacks, subclass overrides, exceptions, logging, re-entrant client calls."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from support.broker import MosquittoBroker
from support.clientkit import WAIT, Recorder, wait_until


def connect_started(client: Any, broker: MosquittoBroker, rec: Recorder) -> None:
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    rec.wait("connect")


def run_loop_forever(client: Any) -> Any:
    """loop_forever() in the calling thread, unblocked by a watchdog after WAIT."""
    watchdog = threading.Timer(WAIT, client.disconnect)
    watchdog.start()
    try:
        return client.loop_forever()
    finally:
        watchdog.cancel()


# -- which thread, and never two at once ------------------------------------------


def test_callbacks_run_on_the_loop_start_thread(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client_id = f"threads-{uuid.uuid4().hex[:8]}"
    client = make_client(mqtt, client_id=client_id)
    rec = Recorder().attach(
        client, "connect", "subscribe", "publish", "message", "unsubscribe", "disconnect"
    )
    before = set(threading.enumerate())
    connect_started(client, broker, rec)
    loop_threads = set(threading.enumerate()) - before
    client.subscribe(unique_topic, 1)
    rec.wait("subscribe")
    client.publish(unique_topic, b"x", qos=1)
    rec.wait("message")
    rec.wait("publish")
    client.unsubscribe(unique_topic)
    rec.wait("unsubscribe")
    client.disconnect()
    rec.wait("disconnect")
    threads = {call.thread for call in rec.calls}
    assert len(threads) == 1, threads
    (thread,) = threads
    assert thread is not threading.current_thread()
    assert thread.daemon
    if mqtt.__name__.startswith("paho"):
        assert thread in loop_threads  # the thread loop_start() created
        assert thread.name == f"paho-mqtt-client-{client_id}"
    else:
        # turbomqtt's loop_start() shares a few lane threads between all clients (the lane may
        # predate this client); TURBOMQTT_LOOP_THREAD_PER_CLIENT=1 restores paho's thread.
        assert thread.name.startswith("turbomqtt-loop-")


def test_callbacks_run_in_the_caller_of_loop_forever(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt)
    # not on_publish: without a loop thread paho writes (and reports) publish() at once,
    # in the caller's thread (spec §8)
    rec = Recorder().attach(client, "connect", "subscribe", "disconnect")

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        rec.record("message", msg)
        c.disconnect()

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(unique_topic, 1)
    client.publish(unique_topic, b"x", qos=1)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(run_loop_forever(client)))
    worker.start()
    worker.join(WAIT + 1)
    assert not worker.is_alive()
    assert result == [mqtt.MQTT_ERR_NO_CONN]
    assert rec.names()[0] == "connect" and rec.names()[-1] == "disconnect"
    assert {"subscribe", "message"} <= set(rec.names())
    assert {call.thread for call in rec.calls} == {worker}


def test_callbacks_never_overlap_and_keep_order(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt)
    busy = threading.Lock()
    overlaps: list[str] = []
    rec = Recorder()

    def guarded(name: str) -> Callable[..., None]:
        def cb(c: Any, userdata: Any, *args: Any) -> None:
            if not busy.acquire(blocking=False):
                overlaps.append(name)
                return
            try:
                rec.record(name, *args)
                time.sleep(0.01)  # widen the window for a concurrent callback
            finally:
                busy.release()

        return cb

    for name in ("connect", "subscribe", "publish", "message"):
        setattr(client, f"on_{name}", guarded(name))
    connect_started(client, broker, rec)
    client.subscribe(unique_topic, 1)
    rec.wait("subscribe")
    count = 10
    mids = [client.publish(unique_topic, f"{i}", qos=1).mid for i in range(count)]
    rec.wait("message", count)
    rec.wait("publish", count)
    assert overlaps == []
    assert [c.args[0].payload for c in rec.of("message")] == [f"{i}".encode() for i in range(count)]
    assert sorted(c.args[0] for c in rec.of("publish")) == mids
    assert rec.names()[:2] == ["connect", "subscribe"]


# -- registration forms --------------------------------------------------------------


def test_decorator_forms(mqtt: ModuleType, make_client: Callable[..., Any]) -> None:
    client = make_client(mqtt)
    names = [
        "connect",
        "disconnect",
        "message",
        "publish",
        "subscribe",
        "unsubscribe",
        "log",
        "connect_fail",
        "pre_connect",
        "socket_open",
        "socket_close",
        "socket_register_write",
        "socket_unregister_write",
    ]
    for name in names:

        def f(*args: Any) -> None:
            pass

        decorator = getattr(client, f"{name}_callback")()
        assert decorator(f) is f, name
        assert getattr(client, f"on_{name}") is f, name


def test_decorators_are_called(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt)
    seen: list[Any] = []
    done = threading.Event()

    @client.connect_callback()
    def on_connect(c: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        seen.append(("connect", rc == 0))
        c.subscribe(f"{unique_topic}/#", 1)

    @client.subscribe_callback()
    def on_subscribe(c: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
        seen.append(("subscribe", [code.value for code in codes]))
        c.publish(f"{unique_topic}/a", b"for topic_callback")

    @client.topic_callback(f"{unique_topic}/+")
    def on_a(c: Any, userdata: Any, msg: Any) -> None:
        seen.append(("topic", msg.topic, msg.payload))
        done.set()

    @client.message_callback()
    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        seen.append(("on_message", msg.topic))

    assert client.on_connect is on_connect and client.on_message is on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert done.wait(WAIT), seen
    assert seen == [
        ("connect", True),
        ("subscribe", [1]),
        ("topic", f"{unique_topic}/a", b"for topic_callback"),
    ]


def test_message_callback_add_and_remove_with_wildcards(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt)
    rec = Recorder().attach(client, "connect", "subscribe", "message")
    for sub in (f"{unique_topic}/+/x", f"{unique_topic}/#", f"{unique_topic}/a/x", "#/nomatch"):
        client.message_callback_add(sub, rec.callback(f"cb {sub.replace(unique_topic, 'T')}"))
    connect_started(client, broker, rec)
    client.subscribe(f"{unique_topic}/#", 1)
    rec.wait("subscribe")

    client.publish(f"{unique_topic}/a/x", b"1", qos=1)
    rec.wait("cb T/#")
    client.publish(f"{unique_topic}/b/y", b"2", qos=1)
    rec.wait("cb T/#", 2)

    def filter_calls(payload: bytes) -> list[str]:
        return [
            c.name for c in rec.calls if c.name.startswith("cb") and c.args[0].payload == payload
        ]

    assert sorted(filter_calls(b"1")) == [
        "cb T/#",
        "cb T/+/x",
        "cb T/a/x",
    ]
    assert filter_calls(b"2") == ["cb T/#"]
    assert rec.of("message") == []  # claimed by a filter: on_message not called

    client.message_callback_remove(f"{unique_topic}/#")
    client.message_callback_remove("never/added")  # unknown filter: ignored
    client.publish(f"{unique_topic}/b/y", b"3", qos=1)
    assert rec.first("message")[0].payload == b"3"
    client.publish(f"{unique_topic}/c/x", b"4", qos=1)
    rec.wait("cb T/+/x", 2)
    assert filter_calls(b"4") == ["cb T/+/x"]
    assert len(rec.of("message")) == 1


def test_subclass_with_callback_methods(
    mqtt: ModuleType, broker: MosquittoBroker, unique_topic: str
) -> None:
    """The official client_sub-class.py example: callbacks defined as methods."""

    class MyClient(mqtt.Client):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__(mqtt.CallbackAPIVersion.VERSION2)
            self.seen: list[Any] = []
            self.done = threading.Event()

        def on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
            self.seen.append(("connect", client is self, rc == 0))
            self.subscribe(unique_topic, 0)

        def on_subscribe(
            self, client: Any, userdata: Any, mid: Any, codes: Any, props: Any
        ) -> None:
            self.publish(unique_topic, b"from a subclass")

        def on_message(self, client: Any, userdata: Any, msg: Any) -> None:
            self.seen.append(("message", client is self, msg.payload))
            self.done.set()

    client = MyClient()
    try:
        client.connect(broker.host, broker.port)
        client.loop_start()
        assert client.done.wait(WAIT), client.seen
    finally:
        client.loop_stop()
        client.disconnect()
    assert client.seen == [("connect", True, True), ("message", True, b"from a subclass")]


# -- exceptions in callbacks --------------------------------------------------------


def test_suppress_exceptions_logs_and_keeps_running(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt)
    client.suppress_exceptions = True
    rec = Recorder().attach(client, "connect", "subscribe", "log")

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        rec.record("message", msg)
        if msg.payload == b"raise":
            raise ValueError("boom in callback")

    client.on_message = on_message
    connect_started(client, broker, rec)
    client.subscribe(unique_topic, 1)
    rec.wait("subscribe")
    client.publish(unique_topic, b"raise", qos=1)
    client.publish(unique_topic, b"after", qos=1)
    assert [c.args[0].payload for c in rec.wait("message", 2)] == [b"raise", b"after"]
    errors = [c.args for c in rec.of("log") if c.args[0] == mqtt.MQTT_LOG_ERR]
    assert (mqtt.MQTT_LOG_ERR, "Caught exception in on_message: boom in callback") in errors
    assert client.is_connected()


def test_exception_propagates_out_of_loop_forever(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt)
    assert client.suppress_exceptions is False
    logs = Recorder().attach(client, "log")

    def on_connect(c: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        c.subscribe(unique_topic, 0)
        c.publish(unique_topic, b"x")

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        raise KeyError("propagated")

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    with pytest.raises(KeyError, match="propagated"):
        run_loop_forever(client)
    assert any(c.args[1] == "Caught exception in on_message: 'propagated'" for c in logs.of("log"))


def test_exception_propagates_out_of_loop(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker
) -> None:
    client = make_client(mqtt)

    def on_connect(c: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        raise RuntimeError("from on_connect")

    client.on_connect = on_connect
    client.connect(broker.host, broker.port)
    with pytest.raises(RuntimeError, match="from on_connect"):
        for _ in range(int(WAIT / 0.05)):
            client.loop(0.05)


# -- logging ---------------------------------------------------------------------


def test_on_log_arguments(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker
) -> None:
    client = make_client(mqtt, client_id="log-args", userdata={"mine": 1})
    calls: list[tuple[Any, ...]] = []
    client.on_log = lambda *args: calls.append(args)
    rec = Recorder().attach(client, "connect")
    connect_started(client, broker, rec)
    assert wait_until(lambda: any("CONNACK" in c[3] for c in calls))
    levels = set(mqtt.LogLevel)
    for c, userdata, level, buf in calls:
        assert c is client and userdata == {"mine": 1}
        assert level in levels and isinstance(buf, str)
    texts = [c[3] for c in calls]
    assert "Sending CONNECT (u0, p0, wr0, wq0, wf0, c1, k30) client_id=b'log-args'" in texts
    assert any(t.startswith("Received CONNACK (0, 0)") for t in texts)
    assert all(c[2] == mqtt.MQTT_LOG_DEBUG for c in calls if "CONNECT" in c[3])


def test_enable_logger_uses_the_paho_logger_name(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(mqtt, client_id="logged")
    client.enable_logger()
    assert client.logger is logging.getLogger("paho.mqtt.client")
    rec = Recorder().attach(client, "connect")
    with caplog.at_level(logging.DEBUG, logger="paho.mqtt.client"):
        connect_started(client, broker, rec)
        assert wait_until(lambda: any("Received CONNACK" in r.getMessage() for r in caplog.records))
    ours = [r for r in caplog.records if r.name == "paho.mqtt.client"]
    sent = [r for r in ours if r.getMessage().startswith("Sending CONNECT")]
    assert sent and sent[0].levelno == logging.DEBUG
    assert "client_id=b'logged'" in sent[0].getMessage()


# -- client calls from inside callbacks --------------------------------------------


def test_client_calls_from_inside_callbacks(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt)
    seen: list[Any] = []

    def on_connect(c: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        seen.append(("connect", c.subscribe(unique_topic, 2)[0]))

    def on_subscribe(c: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
        seen.append(("subscribe", c.publish(unique_topic, b"inner", qos=2).rc))

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        seen.append(("message", msg.payload))
        seen.append(("disconnect-rc", c.disconnect()))

    def on_disconnect(c: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        seen.append(("disconnect", str(rc)))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.connect(broker.host, broker.port)
    assert run_loop_forever(client) == mqtt.MQTT_ERR_NO_CONN
    assert seen == [
        ("connect", mqtt.MQTT_ERR_SUCCESS),
        ("subscribe", mqtt.MQTT_ERR_SUCCESS),
        ("message", b"inner"),
        ("disconnect-rc", mqtt.MQTT_ERR_SUCCESS),
        ("disconnect", "Normal disconnection"),
    ]
