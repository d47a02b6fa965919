"""The shared loop behind turbomqtt's loop_start(): many clients on a few lane threads, with
paho's per-client guarantees (one callback at a time, in order, off the caller's thread), no
stall behind a blocking callback, loop_stop from a callback, and reconnects that neither block
a lane nor spin."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

import pytest
import turbomqtt.client as mqtt

V2 = mqtt.CallbackAPIVersion.VERSION2


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


@pytest.fixture
def clients() -> Any:
    made: list[mqtt.Client] = []

    def make(**kwargs: Any) -> mqtt.Client:
        c = mqtt.Client(V2, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.disconnect()
        c.loop_stop()


def test_300_clients_connect_subscribe_and_receive_on_few_threads(
    broker: Any, unique_topic: str, clients: Any
) -> None:
    n = 300
    connected: set[int] = set()
    subscribed: set[int] = set()
    received: dict[int, bytes] = {}
    lock = threading.Lock()
    max_threads = threading.active_count()

    def on_connect(c: Any, i: int, flags: Any, rc: Any, props: Any) -> None:
        with lock:
            connected.add(i)
        c.subscribe(f"{unique_topic}/{i}", 1)

    def on_subscribe(c: Any, i: int, mid: Any, codes: Any, props: Any) -> None:
        with lock:
            subscribed.add(i)

    def on_message(c: Any, i: int, msg: Any) -> None:
        with lock:
            received[i] = msg.payload

    start = time.monotonic()
    made = []
    for i in range(n):
        c = clients(client_id=f"many-{uuid.uuid4().hex[:8]}-{i}", userdata=i)
        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        c.connect_async(broker.host, broker.port)
        assert c.loop_start() == mqtt.MQTT_ERR_SUCCESS
        made.append(c)
        max_threads = max(max_threads, threading.active_count())

    def all_subscribed() -> bool:
        nonlocal max_threads
        max_threads = max(max_threads, threading.active_count())
        return len(subscribed) == n

    assert _wait(all_subscribed, 20), f"{len(connected)} connected, {len(subscribed)} subscribed"
    took = time.monotonic() - start
    for i, c in enumerate(made):
        c.publish(f"{unique_topic}/{i}", f"hello {i}", qos=1)
    assert _wait(lambda: len(received) == n, 20), f"{len(received)}/{n} received"
    max_threads = max(max_threads, threading.active_count())
    assert received == {i: f"hello {i}".encode() for i in range(n)}
    assert max_threads <= 10, max_threads
    assert took < 15, took


def test_per_client_order_one_at_a_time_one_thread(
    broker: Any, unique_topic: str, clients: Any
) -> None:
    n, per_client = 12, 40
    busy = [threading.Lock() for _ in range(n)]
    got: dict[int, list[int]] = defaultdict(list)
    threads: dict[int, set[threading.Thread]] = defaultdict(set)
    overlaps: list[int] = []
    made = []
    for i in range(n):
        c = clients(client_id=f"order-{uuid.uuid4().hex[:8]}-{i}", userdata=i)

        def on_message(c: Any, i: int, msg: Any) -> None:
            if not busy[i].acquire(blocking=False):
                overlaps.append(i)
                return
            try:
                threads[i].add(threading.current_thread())
                time.sleep(0.001)
                got[i].append(int(msg.payload))
            finally:
                busy[i].release()

        c.on_message = on_message
        c.connect(broker.host, broker.port)
        c.subscribe(f"{unique_topic}/{i}", 1)
        c.loop_start()
        made.append(c)
    pub = clients(client_id=f"order-pub-{uuid.uuid4().hex[:8]}")
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    time.sleep(0.3)  # the SUBACKs
    for k in range(per_client):
        for i in range(n):
            pub.publish(f"{unique_topic}/{i}", str(k), qos=1)
    assert _wait(lambda: all(len(got[i]) == per_client for i in range(n)), 20), {
        i: len(got[i]) for i in range(n)
    }
    assert not overlaps
    main = threading.current_thread()
    for i in range(n):
        assert got[i] == list(range(per_client))
        assert len(threads[i]) == 1 and main not in threads[i]
        (thread,) = threads[i]
        assert thread.name.startswith("turbomqtt-loop-") and thread.daemon


def test_a_blocking_callback_does_not_stall_the_other_clients(
    broker: Any, unique_topic: str, clients: Any
) -> None:
    arrived: dict[str, float] = {}
    blocking = threading.Event()

    def on_message(c: Any, name: str, msg: Any) -> None:
        arrived.setdefault(name, time.monotonic())
        if name == "slow":
            blocking.set()
            time.sleep(1.0)

    made: dict[str, mqtt.Client] = {}
    for name in ["slow", *(f"other{i}" for i in range(6))]:
        c = clients(client_id=f"stall-{uuid.uuid4().hex[:8]}-{name}", userdata=name)
        c.on_message = on_message
        c.connect(broker.host, broker.port)
        c.subscribe(f"{unique_topic}/{name}", 0)
        c.loop_start()
        made[name] = c
    time.sleep(0.3)
    slow = made["slow"]
    # The interesting neighbour shares the slow client's lane.
    neighbours = [n for n, c in made.items() if n != "slow" and c._lane is slow._lane]
    assert neighbours, "no client shares the slow client's lane"
    neighbour = neighbours[0]
    made["other0"].publish(f"{unique_topic}/slow", b"x")
    assert blocking.wait(5)
    sent = time.monotonic()
    made["other0"].publish(f"{unique_topic}/{neighbour}", b"y")
    assert _wait(lambda: neighbour in arrived, 5)
    assert arrived[neighbour] - sent < 0.3, arrived[neighbour] - sent


def test_loop_stop_from_a_callback_and_loop_start_again(
    broker: Any, unique_topic: str, clients: Any
) -> None:
    got: list[bytes] = []
    stopped: list[Any] = []
    c = clients(client_id=f"stopcb-{uuid.uuid4().hex[:8]}")

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        got.append(msg.payload)
        if msg.payload == b"stop":
            stopped.append(c.loop_stop())

    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.subscribe(unique_topic, 1)
    c.loop_start()
    assert _wait(lambda: c._lane is not None, 2)
    c.publish(unique_topic, b"stop", qos=1)
    assert _wait(lambda: stopped, 5)
    assert stopped == [mqtt.MQTT_ERR_SUCCESS]
    assert c._lane is None
    assert c.loop_stop() == mqtt.MQTT_ERR_INVAL  # already stopped
    c.publish(unique_topic, b"while stopped", qos=1)
    time.sleep(0.3)
    assert got == [b"stop"]  # nobody runs the loop
    assert c.loop_start() == mqtt.MQTT_ERR_SUCCESS
    assert _wait(lambda: got == [b"stop", b"while stopped"], 5), got
    assert c.loop_stop() == mqtt.MQTT_ERR_SUCCESS
    assert c.loop_start() == mqtt.MQTT_ERR_SUCCESS
    c.publish(unique_topic, b"again", qos=1)
    assert _wait(lambda: got[-1:] == [b"again"], 5), got


def test_loop_stop_waits_for_the_callback_in_progress(
    broker: Any, unique_topic: str, clients: Any
) -> None:
    inside = threading.Event()
    finished: list[float] = []
    c = clients(client_id=f"stopwait-{uuid.uuid4().hex[:8]}")

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        inside.set()
        time.sleep(0.5)
        finished.append(time.monotonic())

    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.subscribe(unique_topic, 0)
    c.loop_start()
    time.sleep(0.2)
    c.publish(unique_topic, b"x")
    assert inside.wait(5)
    assert c.loop_stop() == mqtt.MQTT_ERR_SUCCESS
    assert finished and finished[0] <= time.monotonic()


def test_50_clients_reconnect_after_a_broker_restart_without_spinning(
    fresh_broker: Any, clients: Any
) -> None:
    n = 50
    connects: dict[int, int] = defaultdict(int)
    disconnects: dict[int, int] = defaultdict(int)
    lock = threading.Lock()

    def on_connect(c: Any, i: int, flags: Any, rc: Any, props: Any) -> None:
        with lock:
            connects[i] += 1

    def on_disconnect(c: Any, i: int, flags: Any, rc: Any, props: Any) -> None:
        with lock:
            disconnects[i] += 1

    for i in range(n):
        c = clients(client_id=f"restart-{uuid.uuid4().hex[:8]}-{i}", userdata=i)
        c.on_connect, c.on_disconnect = on_connect, on_disconnect
        c.reconnect_delay_set(1, 2)
        c.connect(fresh_broker.host, fresh_broker.port)
        c.loop_start()
    assert _wait(lambda: sum(connects.values()) == n, 10)
    fresh_broker.stop()
    assert _wait(lambda: sum(disconnects.values()) == n, 10)
    # Connections refused for 2 s: the lanes wait on timers, they do not spin.
    cpu = time.process_time()
    time.sleep(2.0)
    cpu = time.process_time() - cpu
    assert cpu < 0.5, cpu
    fresh_broker.start()
    assert _wait(lambda: all(connects[i] == 2 for i in range(n)), 20), dict(connects)
    assert threading.active_count() <= 10


def test_connect_async_to_a_refused_port_retries_with_backoff(clients: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    fails: list[float] = []
    pre: list[threading.Thread] = []
    c = clients(client_id=f"refused-{uuid.uuid4().hex[:8]}")
    c.on_connect_fail = lambda c, u: fails.append(time.monotonic())
    c.on_pre_connect = lambda c, u: pre.append(threading.current_thread())
    c.reconnect_delay_set(1, 2)
    c.connect_async("127.0.0.1", port)
    start = time.monotonic()
    cpu = time.process_time()
    c.loop_start()
    assert _wait(lambda: len(fails) >= 2, 5), fails
    assert fails[0] - start < 0.5  # the first attempt is immediate
    assert fails[1] - fails[0] >= 0.9  # then min_delay
    assert time.process_time() - cpu < 0.5
    assert pre and all(t.name.startswith("turbomqtt-loop-") for t in pre)
    c.disconnect()  # no reconnect after this
    count = len(fails)
    time.sleep(2.5)
    assert len(fails) <= count + 1
    assert _wait(lambda: c._lane is None, 3)


def test_reconnect_on_failure_false_stops_after_a_drop(fresh_broker: Any, clients: Any) -> None:
    events: list[str] = []
    c = clients(client_id=f"noreconnect-{uuid.uuid4().hex[:8]}", reconnect_on_failure=False)
    c.on_connect = lambda *a: events.append("connect")
    c.on_disconnect = lambda *a: events.append("disconnect")
    c.on_pre_connect = lambda *a: events.append("pre_connect")
    c.reconnect_delay_set(1, 1)
    c.connect(fresh_broker.host, fresh_broker.port)
    c.loop_start()
    assert _wait(lambda: "connect" in events, 5)
    fresh_broker.stop()
    assert _wait(lambda: "disconnect" in events, 5)
    fresh_broker.start()
    time.sleep(2.0)
    assert events.count("connect") == 1
    assert events.count("pre_connect") == 1
    assert _wait(lambda: c._lane is None, 3)  # its loop ended, as paho's thread would
