"""A hostile or broken broker (the scripted fake broker): malformed packets, a remaining
length claiming 256 MiB, unknown packet types, acknowledgements for ids never used, a
broker that trickles one byte at a time. turbomqtt must disconnect with an error reason
or keep working as paho does - never crash, never hang, never allocate what the peer
claims - and must then reconnect."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as paho
import pytest
import turbomqtt.client as mqtt
from support import packets
from support.clientkit import Recorder
from support.fake_broker import FakeBroker
from support.faultproxy import FaultProxy

from .util import bounded, rss_bytes, wait_until

V2 = mqtt.CallbackAPIVersion.VERSION2


def _connected(
    fake: FakeBroker, impl: Any = mqtt, client_id: str = "hostile"
) -> tuple[Any, Recorder]:
    client = impl.Client(impl.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.reconnect_delay_set(0.2, 0.2)
    rec = Recorder().attach(client, "connect", "disconnect", "message", "publish")
    client.connect(fake.host, fake.port, keepalive=30)
    client.loop_start()
    fake.accept()
    fake.expect_packet("connect", packets.connect(client_id, keepalive=30))
    fake.send(packets.connack(0))
    rec.wait("connect", 1)
    return client, rec


def _loop_alive(client: Any) -> bool:
    """The client's loop_start() loop still runs: its shared-loop lane (the default), or its
    own thread (TURBOMQTT_LOOP_THREAD_PER_CLIENT=1)."""
    lane = getattr(client, "_lane", None)
    if lane is not None:
        return bool(lane.thread.is_alive())
    thread = getattr(client, "_thread", None)
    return thread is not None and thread.is_alive()


def _outcome(fake: FakeBroker, client: Any, rec: Recorder, client_id: str = "hostile") -> str:
    """Either the client dropped the connection with a failure reason and reconnects, or
    it still works (a QoS 1 publish goes out and completes). Returns which, with the
    reason."""
    assert _loop_alive(client), "the loop thread died"
    if wait_until(lambda: bool(rec.of("disconnect")), 1.0):
        _, reason, _ = rec.first("disconnect")
        assert getattr(reason, "is_failure", True) and reason != 0, f"disconnect reason {reason!r}"
        fake.accept(timeout=5)  # it comes back
        fake.expect_packet("connect again", packets.connect(client_id, keepalive=30))
        fake.send(packets.connack(0))
        rec.wait("connect", 2)
        outcome = f"disconnected ({reason}), reconnected"
    else:
        outcome = "kept the connection"
    info = client.publish("after", b"still alive", qos=1)
    expected = packets.publish("after", b"still alive", qos=1, mid=info.mid)
    replies = []
    while (packet := fake.read_packet()) != expected:
        replies.append(packets.describe(packet))  # answers to the hostile packet
        assert len(replies) < 5, f"no PUBLISH after {replies}"
    if replies:
        outcome += f", replied {replies}"
    fake.send(packets.puback(info.mid))
    info.wait_for_publish(5)
    assert info.is_published()
    assert _loop_alive(client)
    return outcome


MALFORMED = {
    "remaining-length-5-bytes": b"\x30\xff\xff\xff\xff\x7f",
    "packet-type-0": b"\x00\x00",
    "packet-type-15": b"\xf0\x00",
    "pingresp-with-body": b"\xd0\x02\x00\x00",
    "puback-length-3": b"\x40\x03\x00\x01\x00",
    "puback-length-1": b"\x40\x01\x00",
    "pubrel-flags-0": b"\x60\x02\x00\x01",
    "publish-qos-3": b"\x36\x05\x00\x01a\x00\x01",
    "publish-topic-longer-than-packet": b"\x30\x04\x00\x10ab",
    "publish-topic-invalid-utf8": b"\x32\x07\x00\x02\xff\xfe\x00\x01X",
    "publish-qos1-mid-0": b"\x32\x05\x00\x01a\x00\x00",
    "second-connack": packets.connack(0),
    "connect-from-broker": packets.connect("evil"),
    "subscribe-from-broker": packets.subscribe(1, "a/#"),
    "suback-unknown-mid": packets.suback(4242, 1),
    "unsuback-unknown-mid": packets.unsuback(4242),
    "garbage": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_packet_never_crashes_or_hangs(
    fake_broker: FakeBroker, figures: dict[str, Any], name: str
) -> None:
    client, rec = _connected(fake_broker)
    try:
        fake_broker.send(MALFORMED[name])
        figures["outcome"] = _outcome(fake_broker, client, rec)
        figures["messages_delivered"] = len(rec.of("message"))
    finally:
        bounded(client.disconnect, timeout=5)
        bounded(client.loop_stop, timeout=5)


@pytest.mark.parametrize("declared", [268_435_455, 100 * 1024 * 1024])
def test_huge_remaining_length_allocates_nothing(
    fake_broker: FakeBroker, figures: dict[str, Any], declared: int
) -> None:
    client, rec = _connected(fake_broker)
    try:
        before = rss_bytes()
        # A PUBLISH announcing `declared` bytes, then a valid start and a trickle of body.
        head = b"\x30" + packets.encode_remaining_length(declared) + b"\x00\x01a"
        fake_broker.send(head)
        peak = before
        for _ in range(20):
            if rec.of("disconnect"):
                break
            try:
                fake_broker.send(b"x" * 4096)
            except OSError:
                break
            peak = max(peak, rss_bytes())
            time.sleep(0.05)
        peak = max(peak, rss_bytes())
        figures["declared_MiB"] = declared / 2**20
        figures["rss_growth_MiB"] = (peak - before) / 2**20
        figures["disconnected_at_once"] = bool(rec.of("disconnect"))
        assert peak - before < 32 * 2**20, figures
        if not rec.of("disconnect"):
            fake_broker.close_client()  # paho would wait for the rest: end it here
            rec.wait("disconnect", 1)
        fake_broker.accept(timeout=5)
        fake_broker.expect_packet("connect again", packets.connect("hostile", keepalive=30))
        fake_broker.send(packets.connack(0))
        rec.wait("connect", 2)
        figures["reason"] = str(rec.first("disconnect")[1])
    finally:
        bounded(client.disconnect, timeout=5)
        bounded(client.loop_stop, timeout=5)


def _unknown_ack_run(impl: Any, ack: bytes) -> tuple[list[str], bool]:
    """What the client sends back to an acknowledgement for an id it never used, and
    whether it keeps the connection."""
    with FakeBroker() as fake:
        client, rec = _connected(fake, impl, client_id="unknown-ack")
        try:
            fake.send(ack)
            replies = []
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                try:
                    replies.append(packets.describe(fake.read_packet(timeout=0.1)))
                except AssertionError:
                    continue
            kept = not rec.of("disconnect")
            if kept:
                info = client.publish("after", b"ok", qos=1)
                fake.expect_packet("publish", packets.publish("after", b"ok", qos=1, mid=info.mid))
                fake.send(packets.puback(info.mid))
                info.wait_for_publish(5)
            return replies, kept
        finally:
            bounded(client.disconnect, timeout=5)
            bounded(client.loop_stop, timeout=5)


@pytest.mark.parametrize(
    "ack",
    [
        packets.puback(777),
        packets.pubrec(777),
        packets.pubcomp(777),
        packets.pubrel(777),
    ],
    ids=["puback", "pubrec", "pubcomp", "pubrel"],
)
def test_acks_for_unknown_ids_are_handled_like_paho(ack: bytes, figures: dict[str, Any]) -> None:
    theirs = _unknown_ack_run(paho, ack)
    ours = _unknown_ack_run(mqtt, ack)
    figures["paho"] = theirs
    figures["turbomqtt"] = ours
    assert ours == theirs


def test_a_broker_that_trickles_one_byte_at_a_time(fake_broker: FakeBroker) -> None:
    client = mqtt.Client(V2, client_id="trickled")
    rec = Recorder().attach(client, "connect", "subscribe", "message", "disconnect")
    client.connect(fake_broker.host, fake_broker.port, keepalive=30)
    client.loop_start()
    try:
        fake_broker.accept()
        fake_broker.read_packet()

        def trickle(data: bytes) -> None:
            for i in range(len(data)):
                fake_broker.send(data[i : i + 1])
                time.sleep(0.002)

        trickle(packets.connack(0))
        rec.wait("connect", 1)
        _, mid = client.subscribe("t/#", qos=2)
        fake_broker.read_packet()
        trickle(packets.suback(mid, 2))
        rec.wait("subscribe", 1)
        payload = bytes(range(200))
        trickle(packets.publish("t/1", payload, qos=1, mid=9) + packets.pingresp())
        fake_broker.expect_packet("puback", packets.puback(9))
        trickle(packets.publish("t/2", payload, qos=2, mid=10))
        fake_broker.expect_packet("pubrec", packets.pubrec(10))
        trickle(packets.pubrel(10))
        fake_broker.expect_packet("pubcomp", packets.pubcomp(10))
        msgs = rec.wait("message", 2)
        assert [(m.args[0].topic, m.args[0].payload) for m in msgs] == [
            ("t/1", payload),
            ("t/2", payload),
        ]
        assert not rec.of("disconnect")
    finally:
        bounded(client.disconnect, timeout=5)
        bounded(client.loop_stop, timeout=5)


def test_real_broker_through_a_trickling_proxy(
    broker: Any, proxy: FaultProxy, unique_topic: str, figures: dict[str, Any]
) -> None:
    total = 200
    got: list[bytes] = []
    done = threading.Event()

    def on_message(c: Any, u: Any, msg: Any) -> None:
        got.append(msg.payload)
        if len(got) == total:
            done.set()

    client = mqtt.Client(V2, client_id="trickle-proxy")
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = on_message
    proxy.trickle(True)
    client.connect(proxy.host, proxy.port, keepalive=30)
    client.loop_start()
    try:
        client.subscribe(unique_topic, qos=2)
        assert subscribed.wait(10)
        infos = [client.publish(unique_topic, f"{i:04d}" * 10, qos=i % 3) for i in range(total)]
        assert done.wait(30), f"{len(got)} of {total}"
        assert all(info.rc == 0 for info in infos)
        assert sorted(got) == sorted(f"{i:04d}".encode() * 10 for i in range(total))
        figures["bytes_trickled_up/down"] = f"{proxy.bytes_up}/{proxy.bytes_down}"
    finally:
        proxy.trickle(False)
        bounded(client.disconnect, timeout=5)
        bounded(client.loop_stop, timeout=5)
