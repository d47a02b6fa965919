"""Resources (turbomqtt): RSS across many messages and many connect/disconnect cycles, no
file-descriptor or thread leaks, and callbacks that raise or call back into the client
(publish, disconnect, loop_stop, reconnect) never deadlock."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import psutil
import pytest
import turbomqtt.client as mqtt
from support.broker import MosquittoBroker

from .conftest import SOAK, scaled, test_timeout
from .util import bounded, fd_count, rss_bytes, wait_until

V2 = mqtt.CallbackAPIVersion.VERSION2
MiB = 2**20
MESSAGES = scaled(200_000, 1_000_000)
CYCLES = scaled(1_000, 10_000)
RSS_BOUND = 5 * MiB if SOAK else 10 * MiB


def _settle() -> int:
    gc.collect()
    time.sleep(0.2)
    return rss_bytes()


@pytest.mark.timeout(test_timeout(120))
def test_rss_stays_flat_over_many_messages(
    broker: MosquittoBroker, unique_topic: str, figures: dict[str, Any]
) -> None:
    received = 0
    cond = threading.Condition()

    def on_message(c: Any, u: Any, msg: Any) -> None:
        nonlocal received
        with cond:
            received += 1
            cond.notify_all()

    client = mqtt.Client(V2, client_id="rss-messages")
    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    payload = b"p" * 64
    warmup = MESSAGES // 10
    started = time.monotonic()
    rss: dict[str, int] = {}
    try:
        client.subscribe(unique_topic, qos=1)
        assert subscribed.wait(5)
        for i in range(MESSAGES):
            if i == warmup:
                with cond:
                    assert cond.wait_for(lambda: received == warmup, 30)
                rss["after_warmup"] = _settle()
            client.publish(unique_topic, payload, qos=1)
            if i % 500 == 499:  # stay within mosquitto's queue for the subscriber
                with cond:
                    assert cond.wait_for(lambda i=i: received >= i - 1500, 30), (i, received)
        with cond:
            assert cond.wait_for(lambda: received == MESSAGES, 60), (received, MESSAGES)
        rss["end"] = _settle()
    finally:
        client.disconnect()
        bounded(client.loop_stop, timeout=5)
    took = time.monotonic() - started
    growth = rss["end"] - rss["after_warmup"]
    figures.update(
        {
            "messages (QoS 1, out and back)": MESSAGES,
            "seconds": took,
            "msg_per_s": MESSAGES / took,
            "rss_after_warmup_MiB": rss["after_warmup"] / MiB,
            "rss_end_MiB": rss["end"] / MiB,
            "rss_growth_MiB": growth / MiB,
            "bound_MiB": RSS_BOUND / MiB,
        }
    )
    assert growth < RSS_BOUND, figures


@pytest.mark.timeout(test_timeout(120))
def test_connect_disconnect_cycles_leak_nothing(
    broker: MosquittoBroker, figures: dict[str, Any]
) -> None:
    def cycle(i: int) -> None:
        client = mqtt.Client(V2, client_id=f"cycle-{i % 7}")
        connected = threading.Event()
        client.on_connect = lambda *a: connected.set()
        client.connect(broker.host, broker.port)
        client.loop_start()
        assert connected.wait(5), f"cycle {i}: no CONNACK"
        if i % 2:
            client.publish("turbomqtt-reliab/cycle", b"x", qos=1)
        client.disconnect()
        client.loop_stop()

    warmup = max(1, CYCLES // 10)
    for i in range(warmup):
        cycle(i)
    time.sleep(0.2)
    threads0, fds0, rss0 = threading.active_count(), fd_count(), _settle()
    os_threads0 = psutil.Process().num_threads()
    started = time.monotonic()
    for i in range(warmup, CYCLES):
        cycle(i)
    took = time.monotonic() - started
    assert wait_until(lambda: threading.active_count() <= threads0, 5)
    assert wait_until(lambda: fd_count() <= fds0, 5)
    rss1 = _settle()
    figures.update(
        {
            "cycles": CYCLES,
            "seconds": took,
            "threads_before/after": f"{threads0}/{threading.active_count()}",
            "fds_before/after": f"{fds0}/{fd_count()}",
            "os_threads_before/after": f"{os_threads0}/{psutil.Process().num_threads()}",
            "rss_before_MiB": rss0 / MiB,
            "rss_after_MiB": rss1 / MiB,
            "rss_growth_MiB": (rss1 - rss0) / MiB,
            "bound_MiB": RSS_BOUND / MiB,
        }
    )
    assert threading.active_count() <= threads0, figures
    assert fd_count() <= fds0, figures
    assert psutil.Process().num_threads() <= os_threads0, figures
    assert rss1 - rss0 < RSS_BOUND, figures


class _Harness:
    """A loop_start client subscribed to its own topic, for the callback tests."""

    def __init__(self, broker: MosquittoBroker, topic: str, name: str) -> None:
        self.topic = topic
        self.client = mqtt.Client(V2, client_id=name)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.connects = 0
        self.disconnects = 0
        self.messages: list[bytes] = []
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.hooks: dict[str, Any] = {}
        self.client.connect(broker.host, broker.port, keepalive=10)

    def _on_connect(self, c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connects += 1
        c.subscribe(self.topic, qos=1)
        self.connected.set()

    def _on_disconnect(self, c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        self.disconnects += 1
        self.connected.clear()
        if "disconnect" in self.hooks:
            self.hooks["disconnect"](c)

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        self.messages.append(msg.payload)
        if "message" in self.hooks:
            self.hooks["message"](c, msg)

    def close(self) -> None:
        self.client.disconnect()
        bounded(self.client.loop_stop, timeout=5)


def test_raising_on_message_with_suppress_exceptions_keeps_the_loop(
    broker: MosquittoBroker, unique_topic: str
) -> None:
    h = _Harness(broker, unique_topic, "raise-suppressed")
    h.client.suppress_exceptions = True
    h.client.loop_start()

    def boom(c: Any, msg: Any) -> None:
        raise RuntimeError("boom in on_message")

    h.hooks["message"] = boom
    try:
        assert h.subscribed.wait(5)
        for i in range(20):
            h.client.publish(unique_topic, str(i), qos=1)
        assert wait_until(lambda: len(h.messages) == 20, 5), h.messages
    finally:
        h.close()


def test_raising_on_message_propagates_out_of_loop_forever_and_the_loop_restarts(
    broker: MosquittoBroker, unique_topic: str
) -> None:
    h = _Harness(broker, unique_topic, "raise-forever")
    raised: list[BaseException] = []

    def run() -> None:
        try:
            h.client.loop_forever()
        except RuntimeError as exc:
            raised.append(exc)

    def boom(c: Any, msg: Any) -> None:
        if msg.payload == b"bad":
            raise RuntimeError("boom in on_message")

    h.hooks["message"] = boom
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        assert h.subscribed.wait(5)
        h.client.publish(unique_topic, b"bad", qos=1)
        runner.join(5)
        assert not runner.is_alive(), "loop_forever did not end with the exception"
        assert [str(e) for e in raised] == ["boom in on_message"]
        h.client.loop_start()  # the client is still usable
        h.client.publish(unique_topic, b"good", qos=1)
        assert wait_until(lambda: b"good" in h.messages, 5), h.messages
    finally:
        h.close()


REENTRANT = ["publish", "disconnect", "loop_stop", "reconnect", "unsubscribe", "subscribe"]


@pytest.mark.parametrize("call", REENTRANT)
def test_calls_from_inside_on_message_do_not_deadlock(
    broker: MosquittoBroker, unique_topic: str, figures: dict[str, Any], call: str
) -> None:
    h = _Harness(broker, unique_topic, f"reentrant-{call}")
    done = threading.Event()
    errors: list[BaseException] = []

    def hook(c: Any, msg: Any) -> None:
        if msg.payload != b"trigger":
            return
        try:
            if call == "publish":
                for i in range(50):
                    c.publish(unique_topic, f"echo-{i}", qos=i % 3)
            elif call == "disconnect":
                c.disconnect()
            elif call == "loop_stop":
                c.loop_stop()
            elif call == "reconnect":
                c.reconnect()
            elif call == "unsubscribe":
                c.unsubscribe(unique_topic)
            elif call == "subscribe":
                c.subscribe(unique_topic + "/more", qos=2)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    h.hooks["message"] = hook
    h.client.loop_start()
    try:
        assert h.subscribed.wait(5)
        h.client.publish(unique_topic, b"trigger", qos=1)
        assert done.wait(5), "the callback never ran"
        assert not errors, errors
        if call == "publish":
            assert wait_until(lambda: sum(m.startswith(b"echo") for m in h.messages) >= 33, 5)
        if call == "disconnect":
            assert wait_until(lambda: h.disconnects == 1, 5)
        if call == "loop_stop":
            assert wait_until(
                lambda: (
                    not any(t.name.endswith("reentrant-loop_stop") for t in threading.enumerate())
                ),
                5,
            ), "the loop thread did not stop"
        if call == "reconnect":
            assert wait_until(lambda: h.connects >= 2 and h.connected.is_set(), 5)
            h.client.publish(unique_topic, b"after-reconnect", qos=1)
            assert wait_until(lambda: b"after-reconnect" in h.messages, 5)
        figures["connects/disconnects"] = f"{h.connects}/{h.disconnects}"
    finally:
        took, _ = bounded(h.client.disconnect, timeout=5)
        took2, _ = bounded(h.client.loop_stop, timeout=5)
        figures["disconnect+loop_stop_s"] = took + took2


def test_reconnect_from_on_disconnect_does_not_deadlock(
    broker: MosquittoBroker, unique_topic: str
) -> None:
    h = _Harness(broker, unique_topic, "reconnect-in-ondisconnect")
    state = {"done": False}

    def again(c: Any) -> None:
        if not state["done"]:
            state["done"] = True
            c.reconnect()

    h.hooks["disconnect"] = again
    h.client.loop_start()
    try:
        assert h.subscribed.wait(5)
        h.client.disconnect()
        assert wait_until(lambda: state["done"], 5)
        assert wait_until(lambda: h.connects >= 2, 5), f"connects={h.connects}"
    finally:
        bounded(h.client.disconnect, timeout=5)
        bounded(h.client.loop_stop, timeout=5)
