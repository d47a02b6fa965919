"""Lone messages take the short paths, bursts the batched ones, and no mix of the two loses or
reorders a message.

Over plain TCP a ``publish()`` that finds the writer idle, and does not come in a burst, is
written by the publishing thread itself; a ``loop_start()`` lane sleeps with its clients'
sockets in its poller and reads a lone message itself; while messages stream in, the socket
leaves the poller and the runtime's reader task reads alone, and it comes back after a quiet
spell. These tests drive one client through every switch between those paths (bursts, lone
round trips, publishes from the callback, sparse messages) and check that every message
arrives exactly once and in order, at QoS 0, 1 and 2, with the shared loop and with
``loop_forever()`` in a thread of its own.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import turbomqtt.client as mqtt

V2 = mqtt.CallbackAPIVersion.VERSION2
ROUNDS = 12
BURST = 200
LONE = 25
PONGS = 25


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("loop", ["loop_start", "loop_forever"])
def test_bursts_lone_messages_and_callback_publishes_arrive_once_in_order(
    broker: Any, unique_topic: str, qos: int, loop: str
) -> None:
    client = mqtt.Client(V2, client_id=f"direct-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(20)  # mosquitto's own in-flight quota per client
    client.max_queued_messages_set(0)
    got: list[int] = []
    cond = threading.Condition()
    # While > 0: on_message publishes the next number itself (a ping-pong from the callback).
    pong = {"left": 0, "next": 0}

    def on_message(c: Any, _u: Any, msg: Any) -> None:
        n = int(msg.payload)
        with cond:
            got.append(n)
            cond.notify_all()
            if pong["left"] > 0 and n == pong["next"] - 1:
                pong["left"] -= 1
                number = pong["next"]
                pong["next"] += 1
                c.publish(unique_topic, str(number), qos)

    def arrived(count: int, timeout: float = 10.0) -> None:
        with cond:
            assert cond.wait_for(lambda: len(got) >= count, timeout), (len(got), count)

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    thread = None
    if loop == "loop_start":
        client.loop_start()
    else:
        thread = threading.Thread(target=client.loop_forever, daemon=True)
        thread.start()
    try:
        sub = threading.Event()
        client.on_subscribe = lambda *_: sub.set()
        client.subscribe(unique_topic, qos)
        assert sub.wait(5)
        sent = 0
        for _ in range(ROUNDS):
            for _ in range(BURST):  # back to back: the writer's batches, the reader's stream
                client.publish(unique_topic, str(sent), qos)
                sent += 1
            arrived(sent)
            for _ in range(LONE):  # one at a time, each waited for: the short paths
                client.publish(unique_topic, str(sent), qos)
                sent += 1
                arrived(sent)
            with cond:  # a ping-pong driven from on_message
                pong["left"], pong["next"] = PONGS, sent + 1
            client.publish(unique_topic, str(sent), qos)
            sent += PONGS + 1
            arrived(sent)
            for _ in range(LONE):  # sparse, not waited for
                client.publish(unique_topic, str(sent), qos)
                sent += 1
                time.sleep(0.0015)
            arrived(sent)
        time.sleep(0.2)  # nothing more may come
        with cond:
            assert got == list(range(sent))
    finally:
        client.disconnect()
        if thread is not None:
            thread.join(5)
            assert not thread.is_alive()
        client.loop_stop()


@pytest.mark.parametrize("transport", ["tcp", "tls"])
@pytest.mark.parametrize("qos", [1, 2])
def test_round_trips_do_not_wait_for_the_delayed_ack_timer(
    broker: Any, tls_files: Any, unique_topic: str, qos: int, transport: str
) -> None:
    """mosquitto keeps Nagle's algorithm on by default (this broker's config does not touch
    ``set_tcp_nodelay``): it holds a small packet until the previous one is acknowledged, so
    a QoS 2 round trip (PUBCOMP, then the PUBLISH) waited for the client kernel's delayed-ACK
    timer, 40 ms, every time (44 ms at the median, measured before the fix, plain and TLS).
    The client now asks for quick ACKs after every read; a round trip is a fraction of a
    millisecond. The bound, 10 ms at the median, leaves room for a slow machine and none for
    the timer."""
    client = mqtt.Client(V2, client_id=f"quickack-{uuid.uuid4().hex[:8]}")
    arrived = threading.Event()
    client.on_message = lambda *_: arrived.set()
    port = broker.port
    if transport == "tls":
        client.tls_set(ca_certs=str(tls_files.ca_cert))
        port = broker.tls_port
    client.connect(broker.host, port)
    client.loop_start()
    try:
        subscribed = threading.Event()
        client.on_subscribe = lambda *_: subscribed.set()
        client.subscribe(unique_topic, qos)
        assert subscribed.wait(5)
        samples = []
        for _ in range(41):
            arrived.clear()
            start = time.perf_counter()
            client.publish(unique_topic, b"ping", qos)
            assert arrived.wait(5)
            samples.append(time.perf_counter() - start)
        samples.sort()
        assert samples[len(samples) // 2] < 0.010, samples
    finally:
        client.disconnect()
        client.loop_stop()
