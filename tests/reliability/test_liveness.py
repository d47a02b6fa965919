"""Liveness: a black-holed connection is detected within a keepalive bound and the client
reconnects with backoff; while the broker is down the client costs almost no CPU;
``disconnect()`` and ``loop_stop()`` return while reconnecting and while black-holed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import turbomqtt.client as tmqtt
from support.broker import MosquittoBroker
from support.faultproxy import FaultProxy

from .util import bounded, wait_until

KEEPALIVE = 2
SLACK = 1.0


class Events:
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connect_times: list[float] = []
        self.disconnect_times: list[float] = []
        self.reasons: list[str] = []

    def attach(self, client: Any) -> Events:
        def on_connect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
            if reason == 0:
                self.connect_times.append(time.monotonic())
                self.disconnected.clear()
                self.connected.set()

        def on_disconnect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
            self.disconnect_times.append(time.monotonic())
            self.reasons.append(str(reason))
            self.connected.clear()
            self.disconnected.set()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        return self


def test_blackhole_is_detected_within_keepalive_bounds_and_the_client_comes_back(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    proxy: FaultProxy,
    figures: dict[str, Any],
) -> None:
    client = make_client(mqtt)
    client.reconnect_delay_set(1, 2)
    ev = Events().attach(client)
    client.connect(proxy.host, proxy.port, keepalive=KEEPALIVE)
    client.loop_start()
    assert ev.connected.wait(5)
    time.sleep(0.3)
    proxy.blackhole(True)
    holed = time.monotonic()
    assert ev.disconnected.wait(2 * KEEPALIVE + 5), "black hole never detected"
    detected = ev.disconnect_times[0] - holed
    # While black-holed, reconnect attempts reach the proxy (CONNECT is swallowed).
    attempts_before = proxy.connections
    time.sleep(2 * KEEPALIVE + 2)
    attempts = proxy.connections - attempts_before
    proxy.blackhole(False)
    released = time.monotonic()
    assert ev.connected.wait(2 * KEEPALIVE + 10), "no reconnect after the black hole ended"
    back = ev.connect_times[-1] - released
    figures.update(
        {
            "impl": mqtt.__name__,
            "keepalive_s": KEEPALIVE,
            "blackhole_detected_after_s": detected,
            "detected/keepalive": detected / KEEPALIVE,
            "disconnect_reason": ev.reasons[0],
            f"connection_attempts_in_{2 * KEEPALIVE + 2}s_blackholed": attempts,
            "reconnected_after_release_s": back,
        }
    )
    # paho waits a whole keepalive for PINGRESP, so up to 2x keepalive; turbomqtt gives the
    # broker half a keepalive to answer, which keeps detection within 1.5x (issue 5).
    # (turbomqtt's slack is smaller, so that paho's 1.85x would fail it.)
    paho_like = mqtt.__name__.startswith("paho")
    bound, slack = (2, SLACK) if paho_like else (1.5, 0.4)
    assert detected <= bound * KEEPALIVE + slack, figures
    assert detected >= 0.5 * KEEPALIVE, f"disconnected before keepalive could matter: {figures}"
    assert 1 <= attempts <= 6, figures


def _blackholed_client(
    proxy: FaultProxy, name: str, pending: bool, impl: Any = tmqtt
) -> tuple[Any, Any]:
    """A connected client whose link is then black-holed; with ``pending``, one QoS 1
    message is published into the black hole (its MQTTMessageInfo is returned)."""
    client = impl.Client(impl.CallbackAPIVersion.VERSION2, client_id=name)
    client.reconnect_delay_set(0.2, 1)
    ev = Events().attach(client)
    client.connect(proxy.host, proxy.port, keepalive=30)
    client.loop_start()
    assert ev.connected.wait(5)
    proxy.blackhole(True)
    info = None
    if pending:
        info = client.publish(f"turbomqtt-reliab/bh/{name}", b"x" * 1000, qos=1)  # never acked
    time.sleep(0.3)
    return client, info


@pytest.fixture(params=["shared-loop", "thread-per-client"])
def loop_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test with ``loop_start()``'s shared lanes and with paho's thread per client."""
    if request.param == "thread-per-client":
        monkeypatch.setenv("TURBOMQTT_LOOP_THREAD_PER_CLIENT", "1")
    else:
        monkeypatch.delenv("TURBOMQTT_LOOP_THREAD_PER_CLIENT", raising=False)
    return str(request.param)


@pytest.mark.parametrize("pending", [False, True], ids=["idle", "unacked-qos1"])
def test_disconnect_then_loop_stop_return_while_blackholed(
    proxy: FaultProxy, figures: dict[str, Any], pending: bool
) -> None:
    client, _ = _blackholed_client(proxy, f"bh-d-{pending}", pending)
    try:
        figures["disconnect_s"], _ = bounded(client.disconnect, timeout=5)
        figures["loop_stop_s"], _ = bounded(client.loop_stop, timeout=5)
    finally:
        client.disconnect()
        proxy.blackhole(False)
        bounded(client.loop_stop, timeout=60)


# loop_stop() gives acks 1 s (client._STOP_GRACE) to arrive; the rest is scheduling slack.
LOOP_STOP_BOUND = 2.5


@pytest.mark.parametrize("pending", [False, True], ids=["idle", "unacked-qos1"])
def test_loop_stop_returns_while_blackholed(
    broker: MosquittoBroker,
    proxy: FaultProxy,
    figures: dict[str, Any],
    pending: bool,
    loop_mode: str,
) -> None:
    """loop_stop() returns within about a second although a QoS 1 message waits for a PUBACK
    that cannot come (paho waits for keepalive), and the message is not lost: once the link
    is back and a loop runs again it is re-sent, acknowledged and reaches a subscriber."""
    name = f"bh-s-{pending}-{loop_mode}-{uuid.uuid4().hex[:6]}"
    watcher = tmqtt.Client(tmqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-w")
    received: list[bytes] = []
    subscribed = threading.Event()
    watcher.on_message = lambda c, u, msg: received.append(msg.payload)
    watcher.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
    watcher.connect(broker.host, broker.port)
    watcher.subscribe(f"turbomqtt-reliab/bh/{name}", qos=1)
    watcher.loop_start()
    assert subscribed.wait(5)
    client, info = _blackholed_client(proxy, name, pending)
    try:
        took, _ = bounded(client.loop_stop, timeout=5)
        figures["loop_stop_s"] = took
        assert took < LOOP_STOP_BOUND, figures
        if pending:
            assert not info.is_published()
            assert client._core.has_pending(), "the unacknowledged message was dropped"
            # The link comes back (a new connection) and a loop runs again: re-sent.
            proxy.blackhole(False)
            proxy.cut()
            started = time.monotonic()
            client.loop_start()
            info.wait_for_publish(10)
            figures["resent_and_acked_after_s"] = time.monotonic() - started
            assert info.is_published()
            assert wait_until(lambda: received == [b"x" * 1000], 5), received
        figures["disconnect_s"], _ = bounded(client.disconnect, timeout=5)
    finally:
        client.disconnect()  # closes the connection, which lets a stuck loop_stop() end
        proxy.blackhole(False)
        bounded(client.loop_stop, timeout=60)
        watcher.disconnect()
        bounded(watcher.loop_stop, timeout=5)


def test_loop_stop_waits_for_acks_that_arrive(
    broker: MosquittoBroker, figures: dict[str, Any], loop_mode: str
) -> None:
    """The common case keeps paho's behaviour: connected, acks arriving, loop_stop() returns
    once every QoS 1/2 message published before it has had its on_publish."""
    client = tmqtt.Client(tmqtt.CallbackAPIVersion.VERSION2, client_id=f"ls-acks-{loop_mode}")
    published: list[int] = []
    client.on_publish = lambda c, u, mid, rc, p: published.append(mid)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [
            client.publish("turbomqtt-reliab/ls", b"m%d" % i, qos=1 + i % 2) for i in range(300)
        ]
        figures["loop_stop_s"], _ = bounded(client.loop_stop, timeout=10)
        assert all(info.is_published() for info in infos)
        assert sorted(published) == sorted(info.mid for info in infos)
        assert not client._core.has_pending()
    finally:
        client.disconnect()
        bounded(client.loop_stop, timeout=5)


@pytest.mark.parametrize("order", ["disconnect-first", "loop_stop-first"])
def test_disconnect_and_loop_stop_return_while_reconnecting(
    fresh_broker: MosquittoBroker, figures: dict[str, Any], order: str
) -> None:
    client = tmqtt.Client(tmqtt.CallbackAPIVersion.VERSION2, client_id=f"rc-{order}")
    client.reconnect_delay_set(1, 4)
    ev = Events().attach(client)
    client.connect(fresh_broker.host, fresh_broker.port, keepalive=5)
    client.loop_start()
    try:
        assert ev.connected.wait(5)
        fresh_broker.kill()
        assert ev.disconnected.wait(5)
        time.sleep(1.5)  # one refused attempt done, now inside the backoff sleep
        calls = [client.disconnect, client.loop_stop]
        if order == "loop_stop-first":
            calls.reverse()
        for call in calls:
            took, _ = bounded(call, timeout=5)
            figures[f"{call.__name__}_s"] = took
    finally:
        bounded(client.loop_stop, timeout=5)


def test_almost_no_cpu_while_the_broker_is_down(
    fresh_broker: MosquittoBroker, figures: dict[str, Any]
) -> None:
    client = tmqtt.Client(tmqtt.CallbackAPIVersion.VERSION2, client_id="idle-cpu")
    client.reconnect_delay_set(1, 2)
    ev = Events().attach(client)
    client.connect(fresh_broker.host, fresh_broker.port, keepalive=5)
    client.loop_start()
    try:
        assert ev.connected.wait(5)
        fresh_broker.stop()
        assert ev.disconnected.wait(5)
        time.sleep(0.5)
        window = 4.0
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(window)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        figures["cpu_s_while_broker_down"] = cpu
        figures["window_s"] = wall
        figures["cpu_percent"] = 100 * cpu / wall
        assert cpu / wall < 0.03, figures  # under 3 % of one core, reconnect attempts included
        fresh_broker.start()
        assert ev.connected.wait(10), "no reconnect once the broker was back"
    finally:
        client.disconnect()
        bounded(client.loop_stop, timeout=5)


def test_reconnect_attempts_back_off_while_the_broker_is_down(
    fresh_broker: MosquittoBroker, make_proxy: Callable[[int], FaultProxy], figures: dict[str, Any]
) -> None:
    proxy = make_proxy(fresh_broker.port)
    client = tmqtt.Client(tmqtt.CallbackAPIVersion.VERSION2, client_id="backoff")
    client.reconnect_delay_set(1, 4)
    ev = Events().attach(client)
    client.connect(proxy.host, proxy.port, keepalive=5)
    client.loop_start()
    attempts: list[float] = []
    try:
        assert ev.connected.wait(5)
        fresh_broker.stop()  # the proxy now accepts and closes at once: one per attempt
        start = time.monotonic()
        seen = 0
        while time.monotonic() - start < 8:
            if proxy.refused > seen:
                seen = proxy.refused
                attempts.append(time.monotonic() - start)
            time.sleep(0.01)
        gaps = [round(b - a, 2) for a, b in zip(attempts, attempts[1:])]
        figures["attempt_times_s"] = [round(t, 2) for t in attempts]
        figures["gaps_s"] = gaps
        # min 1 s doubling to 4 s: about 1, 2, 4, 4 ... never faster than the minimum
        assert 2 <= len(attempts) <= 6, figures
        assert all(g >= 0.9 for g in gaps), figures
        assert gaps == sorted(gaps) or max(gaps) >= 3.5, figures
    finally:
        client.disconnect()
        bounded(client.loop_stop, timeout=5)
