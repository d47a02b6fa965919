"""Delivery under faults (turbomqtt): QoS 1 and QoS 2 streams in both directions while the
fault proxy cuts the client's connection every few hundred milliseconds.

Client A (turbomqtt, the one under test) talks to mosquitto through a :class:`FaultProxy`;
it publishes a paced stream on ``<topic>/out`` (QoS 1 and 2 alternately, also while it is
offline) and is subscribed (QoS 2) to ``<topic>/in``. Client B (paho-mqtt, the reference)
is connected to mosquitto directly, never cut: it counts what A sent and publishes its own
stream to A. Every message carries a unique payload, so loss and duplicates are counted
exactly.

What MQTT guarantees, and therefore what is asserted:

=================================  ==================  ===================================
                                   clean session       persistent session (broker keeps it)
=================================  ==================  ===================================
A -> B, QoS 1                      none lost           none lost
A -> B, QoS 2                      (reported) [1]_     none lost, never twice
B -> A, QoS 1                      (loss is legal)     none lost
B -> A, QoS 2                      never twice         none lost, never twice
A's on_publish                     once per accepted QoS 1/2 publish, in both modes
=================================  ==================  ===================================

.. [1] with a clean session the new broker session has forgotten the old one: a PUBREL cut
   in flight may lose a QoS 2 message, a PUBLISH re-sent with DUP is a new message to it
   (mosquitto forwards QoS 2 at PUBLISH). paho-mqtt shows the same figures; reported only.

Messages mosquitto dropped because the client went over its receive quota (see
``test_inflight_limit.py``: after a reconnect the client ignores max_inflight_messages) are
identified in the broker log (rc151) and counted apart; every other loss fails the test.

Every 4th connection also gets 30 ms of latency each way (``proxy.delay``). The persistent
variant also restarts mosquitto gracefully (persistence on) in the middle.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import Counter
from typing import Any

import paho.mqtt.client as paho
import pytest
import turbomqtt.client as mqtt
from support.broker import MosquittoBroker
from support.faultproxy import FaultProxy

from .conftest import scaled, test_timeout
from .util import wait_until

V2 = mqtt.CallbackAPIVersion.VERSION2
CUTS = scaled(60, 1000)


class Side:
    """Thread-safe counters of one client's traffic."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.published_mids: Counter[int] = Counter()  # on_publish calls
        self.accepted_mids: Counter[int] = Counter()  # mids of accepted QoS 1/2 publishes
        self.sent: list[str] = []  # payloads of accepted QoS 1/2 publishes
        self.meta: dict[str, tuple[int, int, float]] = {}  # payload -> (mid, rc, time)
        self.offline = 0  # publishes made while not connected (rc MQTT_ERR_NO_CONN)
        self.connects = 0
        self.disconnects = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()


def _make_a(side: Side, topic: str, *, client_id: str, clean: bool, impl: Any = mqtt) -> Any:
    a = impl.Client(impl.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    a.reconnect_delay_set(0.05, 0.5)

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason == 0:
            with side.lock:
                side.connects += 1
            client.subscribe(f"{topic}/in", qos=2)
            side.connected.set()

    def on_disconnect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        side.connected.clear()
        with side.lock:
            side.disconnects += 1

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        with side.lock:
            side.received[msg.payload.decode()] += 1

    def on_publish(client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with side.lock:
            side.published_mids[mid] += 1

    a.on_connect = on_connect
    a.on_disconnect = on_disconnect
    a.on_message = on_message
    a.on_publish = on_publish
    a.on_subscribe = lambda *args: side.subscribed.set()
    return a


def _make_b(side: Side, topic: str, *, client_id: str, clean: bool) -> Any:
    b = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    b.reconnect_delay_set(1, 1)

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.subscribe(f"{topic}/out", qos=2)
        side.connected.set()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        with side.lock:
            side.received[msg.payload.decode()] += 1

    b.on_connect = on_connect
    b.on_disconnect = lambda *args: side.connected.clear()
    b.on_message = on_message
    b.on_subscribe = lambda *args: side.subscribed.set()
    return b


def _publisher(client: Any, side: Side, topic: str, tag: str, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        for qos in (1, 2):
            payload = f"{tag}{qos}-{i}"
            info = client.publish(topic, payload, qos=qos)
            with side.lock:
                if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    side.sent.append(payload)
                    side.accepted_mids[info.mid] += 1
                    side.meta[payload] = (info.mid, int(info.rc), time.monotonic())
                if info.rc == mqtt.MQTT_ERR_NO_CONN:
                    side.offline += 1
            i += 1
        time.sleep(0.005)


def _quota_mids(broker: MosquittoBroker, who: str, tag: str, prefix: str = "rel") -> set[int]:
    """mids of the PUBLISHes from client ``who`` that mosquitto acknowledged with rc151
    (quota exceeded: acknowledged but dropped)."""
    log = broker.log_path.read_text(errors="replace")
    pattern = rf"Sending PUB(?:ACK|REC) to {prefix}-{who}-{tag} \(m(\d+), rc151\)"
    return {int(m) for m in re.findall(pattern, log)}


def _split(payloads: list[str] | Counter[str]) -> dict[int, set[str]]:
    return {qos: {p for p in payloads if p[1] == str(qos)} for qos in (1, 2)}


def _run(
    broker: MosquittoBroker,
    proxy: FaultProxy,
    figures: dict[str, Any],
    *,
    persistent: bool,
    restart_at: int | None,
    impl: Any = mqtt,
) -> None:
    topic = f"turbomqtt-reliab/{uuid.uuid4().hex}"
    tag = uuid.uuid4().hex[:6]
    sa, sb = Side(), Side()
    a = _make_a(sa, topic, client_id=f"rel-a-{tag}", clean=not persistent, impl=impl)
    b = _make_b(sb, topic, client_id=f"rel-b-{tag}", clean=not persistent)
    stop = threading.Event()
    workers: list[threading.Thread] = []
    rng = random.Random(tag)
    cuts_done = 0
    started = time.monotonic()
    try:
        b.connect(broker.host, broker.port, keepalive=10)
        b.loop_start()
        assert sb.subscribed.wait(5), "reference client B did not subscribe"
        a.connect(proxy.host, proxy.port, keepalive=5)
        a.loop_start()
        assert sa.subscribed.wait(5), "client A did not subscribe"
        workers = [
            threading.Thread(target=_publisher, args=(a, sa, f"{topic}/out", "a", stop)),
            threading.Thread(target=_publisher, args=(b, sb, f"{topic}/in", "b", stop)),
        ]
        for w in workers:
            w.start()
        for n in range(CUTS):
            assert sa.connected.wait(10), f"A did not reconnect after cut {n} ({proxy!r})"
            time.sleep(rng.uniform(0.05, 0.3))
            if restart_at is not None and n == restart_at:
                broker.stop()  # graceful: mosquitto saves both sessions
                time.sleep(0.2)  # A and B publish while the broker is gone
                broker.start()
                assert sb.connected.wait(10)
                continue
            if proxy.cut():
                cuts_done += 1
            # every 4th connection also suffers 30 ms of latency each way
            proxy.delay(0.03 if n % 4 == 3 else 0)
        stop.set()
        proxy.delay(0)
        for w in workers:
            w.join(5)
        # Let everything settle: A and B both connected, every accepted message completed.
        assert sa.connected.wait(10) and sb.connected.wait(10)

        def a_done() -> bool:
            with sa.lock:
                return sa.published_mids == sa.accepted_mids

        def out_delivered() -> bool:
            dropped = _quota_mids(broker, "a", tag)
            with sb.lock, sa.lock:
                return all(
                    sb.received[p] or sa.meta[p][0] in dropped
                    for p in sa.sent
                    if p[1] == "1" or persistent
                )

        def in_delivered() -> bool:
            dropped = _quota_mids(broker, "b", tag)
            with sa.lock, sb.lock:
                return all(sa.received[p] or sb.meta[p][0] in dropped for p in sb.sent)

        wait_until(a_done, 20)
        wait_until(out_delivered, 20, step=0.25)
        wait_until(in_delivered, 20 if persistent else 2, step=0.25)
        time.sleep(0.5)  # late duplicates, if any, arrive now
    finally:
        stop.set()
        for w in workers:
            w.join(5)
        for c in (a, b):
            c.disconnect()
            c.loop_stop()

    sent_out, sent_in = _split(sa.sent), _split(sb.sent)
    dup_out = {q: sum(sb.received[p] > 1 for p in sent_out[q]) for q in (1, 2)}
    dup_in = {q: sum(sa.received[p] > 1 for p in sent_in[q]) for q in (1, 2)}
    stray_in = set(sa.received) - set(sb.sent)
    # mosquitto 2 drops a QoS 1/2 PUBLISH beyond its receive quota (max_inflight_messages,
    # 20) and still acknowledges it (MQTT 3.1.1 has no reason code; its log says rc151). A
    # client that respects max_inflight_messages=20 never meets that quota; after a
    # reconnect turbomqtt (like paho) sends its whole queue at once (see
    # test_inflight_limit.py). Those drops are counted apart and the rest must be zero.
    quota = {who: _quota_mids(broker, who, tag) for who in ("a", "b")}
    over_quota_out = {
        p for q in (1, 2) for p in sent_out[q] - set(sb.received) if sa.meta[p][0] in quota["a"]
    }
    over_quota_in = {
        p for q in (1, 2) for p in sent_in[q] - set(sa.received) if sb.meta[p][0] in quota["b"]
    }
    figures["A->B_dropped_by_broker_over_quota"] = len(over_quota_out)
    figures["B->A_dropped_by_broker_over_quota"] = len(over_quota_in)
    figures["broker_rc151_acks_to_A/B"] = f"{len(quota['a'])}/{len(quota['b'])}"
    lost_out = {q: len(sent_out[q] - set(sb.received) - over_quota_out) for q in (1, 2)}
    lost_in = {q: len(sent_in[q] - set(sa.received) - over_quota_in) for q in (1, 2)}
    lost_samples = sorted(
        sent_out[1] - set(sb.received) - over_quota_out, key=lambda p: sa.meta[p][2]
    )[:5]
    figures["A->B_lost_q1_samples(payload,mid,rc,t)"] = [
        (p, *sa.meta[p][:2], round(sa.meta[p][2] - started, 3)) for p in lost_samples
    ]
    on_publish_extra = +(sa.published_mids - sa.accepted_mids)
    on_publish_missing = +(sa.accepted_mids - sa.published_mids)
    figures.update(
        {
            "session": "persistent" if persistent else "clean",
            "seconds": time.monotonic() - started,
            "cuts": cuts_done,
            "broker_restarts": 0 if restart_at is None else 1,
            "A_connects": sa.connects,
            "A_disconnects": sa.disconnects,
            "proxy_connections": proxy.connections,
            "A_sent_q1/q2": f"{len(sent_out[1])}/{len(sent_out[2])}",
            "A_sent_while_offline": sa.offline,
            "A->B_lost_q1/q2": f"{lost_out[1]}/{lost_out[2]}",
            "A->B_dup_q1/q2": f"{dup_out[1]}/{dup_out[2]}",
            "B_sent_q1/q2": f"{len(sent_in[1])}/{len(sent_in[2])}",
            "B->A_lost_q1/q2": f"{lost_in[1]}/{lost_in[2]}",
            "B->A_dup_q1/q2": f"{dup_in[1]}/{dup_in[2]}",
            "A_on_publish_extra/missing": f"{sum(on_publish_extra.values())}/"
            f"{sum(on_publish_missing.values())}",
        }
    )
    # A cut can find no connection (right after the restart, or while A is reconnecting), and
    # a cut that lands while A is still opening its connection ends that attempt before its
    # CONNACK, so not every cut produces an on_connect. Both happen to a few percent of the
    # cuts (soak, 1000 cuts: 994 done, 966-969 connects), so the slack grows with the count.
    slack = 3 + CUTS // 20
    assert cuts_done >= CUTS - slack
    assert sa.connects >= cuts_done - slack
    assert not stray_in, f"A received messages nobody sent: {sorted(stray_in)[:5]}"
    assert not on_publish_extra, f"on_publish more than once: {dict(on_publish_extra)}"
    assert not on_publish_missing, f"never completed: {len(on_publish_missing)} mids"
    assert lost_out[1] == 0, f"QoS 1 messages from A lost: {figures}"
    assert dup_in[2] == 0, f"QoS 2 messages to A delivered twice: {figures}"
    if persistent:
        # with a clean session a resent QoS 2 PUBLISH (DUP) meets a broker that forgot it
        assert dup_out[2] == 0, f"QoS 2 messages from A delivered twice: {figures}"
        assert lost_out[2] == 0, f"QoS 2 messages from A lost: {figures}"
        assert lost_in == {1: 0, 2: 0}, f"messages to A lost: {figures}"


@pytest.mark.timeout(test_timeout(120))
def test_clean_session_survives_many_cuts(
    fresh_broker: MosquittoBroker, make_proxy: Any, figures: dict[str, Any]
) -> None:
    _run(fresh_broker, make_proxy(fresh_broker.port), figures, persistent=False, restart_at=None)


@pytest.mark.timeout(test_timeout(120))
def test_persistent_session_survives_many_cuts_and_a_broker_restart(
    persistent_broker: MosquittoBroker, make_proxy: Any, figures: dict[str, Any]
) -> None:
    proxy = make_proxy(persistent_broker.port)
    _run(persistent_broker, proxy, figures, persistent=True, restart_at=CUTS // 2)


KILLS = scaled(5, 50)


@pytest.mark.timeout(test_timeout(90))
def test_repeated_broker_sigkill_and_restart(
    fresh_broker: MosquittoBroker, figures: dict[str, Any]
) -> None:
    """mosquitto SIGKILLed and restarted (no persistence: it forgets everything) while A
    streams QoS 1/2: A must come back every time and complete every accepted publish
    exactly once (on_publish); what the dead broker had acknowledged but not forwarded is
    lost by the broker, not by A, and only reported."""
    broker = fresh_broker
    topic = f"turbomqtt-reliab/{uuid.uuid4().hex}"
    tag = uuid.uuid4().hex[:6]
    sa, sb = Side(), Side()
    a = _make_a(sa, topic, client_id=f"kill-a-{tag}", clean=True)
    a.reconnect_delay_set(0.1, 0.4)
    b = _make_b(sb, topic, client_id=f"kill-b-{tag}", clean=True)
    stop = threading.Event()
    publisher = threading.Thread(target=_publisher, args=(a, sa, f"{topic}/out", "a", stop))
    started = time.monotonic()
    try:
        b.connect(broker.host, broker.port, keepalive=10)
        b.loop_start()
        assert sb.subscribed.wait(5)
        a.connect(broker.host, broker.port, keepalive=5)
        a.loop_start()
        assert sa.subscribed.wait(5)
        publisher.start()
        for n in range(KILLS):
            assert sa.connected.wait(10), f"A did not reconnect after kill {n}"
            time.sleep(0.3)
            broker.kill()
            time.sleep(0.3)  # A publishes into the void meanwhile
            broker.start()
        stop.set()
        publisher.join(5)
        assert sa.connected.wait(10)
        assert wait_until(lambda: sa.published_mids == sa.accepted_mids, 20), (
            f"{sum((sa.accepted_mids - sa.published_mids).values())} publishes never completed"
        )
    finally:
        stop.set()
        if publisher.is_alive():
            publisher.join(5)
        for c in (a, b):
            c.disconnect()
            c.loop_stop()
    sent = _split(sa.sent)
    figures.update(
        {
            "sigkills": KILLS,
            "seconds": time.monotonic() - started,
            "A_connects": sa.connects,
            "A_sent_q1/q2": f"{len(sent[1])}/{len(sent[2])}",
            "A_sent_while_offline": sa.offline,
            "not_at_B_q1/q2 (B offline, broker state lost, over quota)": f"{len(sent[1] - set(sb.received))}/"
            f"{len(sent[2] - set(sb.received))}",
            "broker_rc151_acks_to_A (dropped over quota)": len(
                _quota_mids(broker, "a", tag, "kill")
            ),
            "A_on_publish_extra/missing": f"{sum((sa.published_mids - sa.accepted_mids).values())}/"
            f"{sum((sa.accepted_mids - sa.published_mids).values())}",
        }
    )
    assert sa.connects >= KILLS + 1, figures
    assert sa.published_mids == sa.accepted_mids, figures
