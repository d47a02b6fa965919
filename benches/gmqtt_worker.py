"""The gmqtt rows of ``bench_clients.py``: publish, receive and latency through gmqtt.

gmqtt is an asyncio MQTT client (PyPI ``gmqtt``); issue 6 asks turbomqtt to receive
faster than it. Each measurement runs gmqtt's own API in an ``asyncio.run()`` loop in the
worker's main thread, and does what the paho/turbomqtt rows do in ``bench_clients.py``:
the same N, payload and topic scheme, the same independent raw subscriber or flooder
(``rawmqtt.py``), the same clocks and the same ``getrusage(RUSAGE_SELF)`` CPU figure.

Where gmqtt differs, the bench follows gmqtt's own way and says so:

* MQTT 3.1.1 (``version=MQTTv311``), like the other rows. gmqtt defaults to MQTT 5, where
  it takes mosquitto's Receive Maximum (20) as its packet-id pool and ``publish()`` raises
  ``OverflowError`` at the 20th unacknowledged message, so a burst of N cannot be sent.
* ``publish()`` is synchronous: it encodes and writes to the asyncio transport at once,
  buffering whatever the socket does not take; gmqtt has no in-flight limit. QoS 0 and 1
  publish in a plain loop, as fast as ``publish()`` returns, with everything in flight.
* QoS 2 needs a limit: mosquitto 2.0.11 stops acknowledging a MQTT 3.1.1 publisher with
  more than 20 QoS 2 messages in flight (gmqtt stalled at exactly 20 of 5000 unpaced).
  The loop keeps at most ``INFLIGHT[2]`` (20, as for paho and turbomqtt) unfinished,
  counting them through gmqtt's ``persistent_storage`` hook, where gmqtt stores each
  PUBLISH until its PUBACK/PUBCOMP, and awaiting room when the window is full.
* ``on_message(client, topic, payload, qos, properties)`` is a plain function (gmqtt also
  accepts coroutines, which cost a task per message).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import gmqtt
from bench_clients import HERE, HOST, INFLIGHT, cpu_seconds, percentiles, start_raw_subscriber
from gmqtt.mqtt.constants import MQTTv311
from gmqtt.storage import PersistentStorage


class Window(PersistentStorage):  # type: ignore[misc]
    """gmqtt's in-memory store of unacknowledged PUBLISHes that also tells the publisher
    when fewer than ``size`` are outstanding."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.pending: set[int] = set()
        self._room = asyncio.Event()

    def push_message(self, mid: int, raw_package: bytes) -> None:
        super().push_message(mid, raw_package)  # also the PUBREL that replaces a PUBLISH
        self.pending.add(mid)

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        self.pending.discard(mid)
        if len(self.pending) < self.size:
            self._room.set()

    async def room(self) -> None:
        while len(self.pending) >= self.size:
            self._room.clear()
            await self._room.wait()


def run(kind: str, port: int, params: dict[str, int], timeout: float) -> dict[str, Any]:
    """One measurement of a ``publish``, ``receive`` or ``latency`` scenario."""
    work = {"publish": _publish, "receive": _receive, "latency": _latency}[kind]
    result: dict[str, Any] = asyncio.run(asyncio.wait_for(work(port, params, timeout), timeout + 4))
    return result


async def _connect(
    port: int, client_id: str, storage: PersistentStorage | None = None
) -> gmqtt.Client:
    """A gmqtt client, returned once its CONNACK is in (``connect()`` waits for it)."""
    client = gmqtt.Client(client_id, persistent_storage=storage)
    await asyncio.wait_for(client.connect(HOST, port, keepalive=60, version=MQTTv311), 10)
    return client


async def _subscribe(client: gmqtt.Client, topic: str, qos: int) -> None:
    subscribed = asyncio.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.subscribe(topic, qos=qos)
    await asyncio.wait_for(subscribed.wait(), 10)


async def _publish(port: int, p: dict[str, int], timeout: float) -> dict[str, Any]:
    n, qos, payload = p["n"], p["qos"], b"x" * p["size"]
    topic = f"bench/{uuid.uuid4().hex}"
    sub = start_raw_subscriber(port, topic, n, p["size"], timeout)
    window = Window(INFLIGHT[qos]) if qos == 2 else None
    client = await _connect(port, f"pub-{os.getpid()}", window)
    publish = client.publish
    t0, c0 = time.monotonic(), cpu_seconds()
    if window is None:
        for _ in range(n):
            publish(topic, payload, qos)
    else:
        pending, size = window.pending, window.size
        for _ in range(n):
            if len(pending) >= size:
                await window.room()
            publish(topic, payload, qos)
    t_sent = time.monotonic()
    # the loop must keep running (flush the transport, answer PUBRECs) while we wait
    out, _ = await asyncio.to_thread(sub.communicate, timeout=timeout)
    c1 = cpu_seconds()
    got = json.loads(out)
    await client.disconnect()
    count = int(got["count"])
    elapsed = got["last"] - t0
    note = f"{INFLIGHT[qos]} in flight, paced by the bench" if window else "no in-flight limit"
    return {
        "metrics": {"rate": count / elapsed if count else 0.0},
        "cpu_us": (c1 - c0) / n * 1e6,
        "sent_rate": n / (t_sent - t0),
        "delivered": count,
        "n": n,
        "note": note if qos else "",
    }


async def _receive(port: int, p: dict[str, int], timeout: float) -> dict[str, Any]:
    n, size = p["n"], p["size"]
    topic = f"bench/{uuid.uuid4().hex}"
    flood = [sys.executable, str(HERE / "rawmqtt.py"), "pub", "--port", str(port)]
    flood += ["--topic", topic, "--count", str(n), "--size", str(size)]
    client = await _connect(port, f"recv-{os.getpid()}")
    state = {"count": 0, "first": 0.0, "last": 0.0}
    done = asyncio.Event()
    clock = time.monotonic

    def on_message(_c: Any, _t: str, _payload: bytes, _qos: int, _props: Any) -> None:
        now = clock()
        count = state["count"] + 1
        state["count"] = count
        if count == 1:
            state["first"] = now
        state["last"] = now
        if count == n:
            done.set()

    client.on_message = on_message
    await _subscribe(client, topic, 0)
    c0 = cpu_seconds()
    proc = subprocess.Popen(flood)
    seen, idle_since, deadline = -1, clock(), clock() + timeout
    while not done.is_set() and clock() < deadline:
        try:
            await asyncio.wait_for(done.wait(), 0.2)
        except asyncio.TimeoutError:
            pass
        if state["count"] != seen:
            seen, idle_since = int(state["count"]), clock()
        elif clock() - idle_since > 3.0 and proc.poll() is not None:
            break
    c1 = cpu_seconds()
    count, first, last = int(state["count"]), state["first"], state["last"]
    await client.disconnect()
    await asyncio.to_thread(proc.wait, timeout)
    return {
        "metrics": {"rate": count / (last - first) if count > 1 else 0.0},
        "cpu_us": (c1 - c0) / max(count, 1) * 1e6,
        "delivered": count,
        "n": n,
    }


def _fail(fut: asyncio.Future[None], message: str) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError(message))


async def _latency_callback(port: int, p: dict[str, int], timeout: float) -> dict[str, Any]:
    """Round trips chained in ``on_message`` (each arrival publishes the next message)."""
    qos, total = p["qos"], p["warmup"] + p["n"]
    client = await _connect(port, f"latcb-{os.getpid()}")
    topic = f"bench/{uuid.uuid4().hex}"
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[None] = loop.create_future()
    payload = b"x" * 16
    samples: list[float] = []
    clock = time.perf_counter
    state = {"i": 0, "t": 0.0, "c0": 0.0}

    def on_message(*_: Any) -> None:
        now = clock()
        i = state["i"]
        if i >= p["warmup"]:
            samples.append(now - state["t"])
        i += 1
        state["i"] = i
        if i == p["warmup"]:
            state["c0"] = cpu_seconds()
        if i >= total:
            if not finished.done():
                finished.set_result(None)
            return
        state["t"] = clock()
        client.publish(topic, payload, qos)

    client.on_message = on_message
    await _subscribe(client, topic, qos)
    state["t"] = clock()
    client.publish(topic, payload, qos)
    await asyncio.wait_for(finished, timeout)
    c1 = cpu_seconds()
    await client.disconnect()
    return {
        "metrics": percentiles(samples),
        "cpu_us": (c1 - state["c0"]) / p["n"] * 1e6,
    }


async def _latency(port: int, p: dict[str, int], timeout: float) -> dict[str, Any]:
    if p.get("callback"):
        return await _latency_callback(port, p, timeout)
    qos = p["qos"]
    client = await _connect(port, f"lat-{os.getpid()}")
    topic = f"bench/{uuid.uuid4().hex}"
    loop = asyncio.get_running_loop()
    arrival: list[asyncio.Future[None]] = []

    def on_message(*_: Any) -> None:
        if arrival and not arrival[0].done():
            arrival[0].set_result(None)

    client.on_message = on_message
    await _subscribe(client, topic, qos)
    payload = b"x" * 16
    samples: list[float] = []
    clock = time.perf_counter
    c0 = 0.0
    for i in range(p["warmup"] + p["n"]):
        if i == p["warmup"]:
            c0 = cpu_seconds()
        fut: asyncio.Future[None] = loop.create_future()
        arrival[:] = [fut]
        # a bare future and one timer: cheaper than asyncio.wait_for() on every trip
        timer = loop.call_later(10, _fail, fut, f"round trip {i} never came back")
        t = clock()
        client.publish(topic, payload, qos)
        await fut
        if i >= p["warmup"]:
            samples.append(clock() - t)
        timer.cancel()
    c1 = cpu_seconds()
    await client.disconnect()
    return {
        "metrics": percentiles(samples),
        "cpu_us": (c1 - c0) / p["n"] * 1e6,
    }
