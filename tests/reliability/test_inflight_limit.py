"""max_inflight_messages after a reconnect (turbomqtt), packet-exact against the fake broker.

With the default limit of 20, at most 20 QoS 1/2 PUBLISHes may be unacknowledged at once.
mosquitto 2 uses the same number as its receive quota: a 21st unacknowledged QoS 1/2
PUBLISH is acknowledged (MQTT 3.1.1 PUBACK/PUBREC have no reason code) and *dropped* -
silent message loss (test_delivery_under_faults.py sees it as "rc151" in mosquitto's log).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
import turbomqtt.client as mqtt
from support import packets
from support.fake_broker import FakeBroker
from support.faultproxy import FaultProxy

from .util import bounded, wait_until

V2 = mqtt.CallbackAPIVersion.VERSION2
LIMIT = 20
QUEUED = 30


def _publishes(fake: FakeBroker, window: float = 0.7) -> int:
    """How many PUBLISH packets arrive within ``window`` s (nothing is acknowledged)."""
    count = 0
    deadline = time.monotonic() + window
    while (left := deadline - time.monotonic()) > 0:
        try:
            packet = fake.read_packet(timeout=left)
        except AssertionError:  # nothing more before the deadline
            break
        count += packet[0] >> 4 == 3
    return count


def _connected_client(fake: FakeBroker) -> mqtt.Client:
    client = mqtt.Client(V2, client_id="inflight")
    client.reconnect_delay_set(0.1, 0.1)
    client.max_inflight_messages_set(LIMIT)
    client.connect(fake.host, fake.port)
    client.loop_start()
    fake.accept()
    fake.read_packet()
    fake.send(packets.connack(0))
    time.sleep(0.2)
    return client


def test_the_limit_holds_on_a_live_connection(fake_broker: FakeBroker) -> None:
    client = _connected_client(fake_broker)
    try:
        for _ in range(QUEUED):
            client.publish("t", b"x", qos=2)
        assert _publishes(fake_broker) == LIMIT
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.parametrize("when", ["in-flight-then-cut", "published-offline"])
def test_the_limit_holds_after_a_reconnect(fake_broker: FakeBroker, when: str) -> None:
    client = _connected_client(fake_broker)
    try:
        if when == "in-flight-then-cut":
            for _ in range(QUEUED):
                client.publish("t", b"x", qos=2)
            assert _publishes(fake_broker) == LIMIT
            fake_broker.close_client()
        else:
            fake_broker.close_client()
            time.sleep(0.05)
            for _ in range(QUEUED):
                client.publish("t", b"x", qos=2)
        fake_broker.accept()
        fake_broker.read_packet()  # CONNECT
        fake_broker.send(packets.connack(0))
        sent = _publishes(fake_broker)
        assert sent <= LIMIT, f"{sent} unacknowledged QoS 2 PUBLISHes with max_inflight {LIMIT}"
    finally:
        client.disconnect()
        client.loop_stop()


def test_messages_published_offline_all_reach_mosquitto(
    broker: Any, proxy: FaultProxy, unique_topic: str, figures: dict[str, Any]
) -> None:
    got: set[bytes] = set()
    lock = threading.Lock()

    def on_message(c: Any, u: Any, msg: Any) -> None:
        with lock:
            got.add(msg.payload)

    sub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="offline-sub")
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    pub = mqtt.Client(V2, client_id="offline-pub")
    pub.reconnect_delay_set(0.1, 0.1)
    connected = threading.Event()
    pub.on_connect = lambda *a: connected.set()
    pub.on_disconnect = lambda *a: connected.clear()
    completed: list[int] = []
    pub.on_publish = lambda c, u, mid, rc, p: completed.append(mid)
    try:
        sub.subscribe(unique_topic, qos=2)
        assert subscribed.wait(5)
        pub.connect(proxy.host, proxy.port)
        pub.loop_start()
        assert connected.wait(5)
        proxy.refuse(True)
        proxy.cut()
        assert wait_until(lambda: not connected.is_set(), 5)
        payloads = [f"{i}-q{2 - i % 2}".encode() for i in range(200)]
        for i, payload in enumerate(payloads):
            pub.publish(unique_topic, payload, qos=2 - i % 2)  # QoS 2, 1, 2, 1, ...
        proxy.refuse(False)
        assert connected.wait(5)
        assert wait_until(lambda: len(completed) == 200, 10), len(completed)
        wait_until(lambda: len(got) == 200, 5)
    finally:
        for c in (pub, sub):
            c.disconnect()
            bounded(c.loop_stop, timeout=5)
    lost = sorted(set(payloads) - got)
    figures["published_offline"] = 200
    figures["completed (on_publish)"] = len(completed)
    figures["lost_q1/q2"] = (
        f"{sum(p.endswith(b'q1') for p in lost)}/{sum(p.endswith(b'q2') for p in lost)}"
    )
    assert not lost, f"{len(lost)} of 200 lost although on_publish reported them all: {lost[:5]}"
