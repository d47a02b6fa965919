"""The client in whole processes and across threads: a broker restart in the middle of 10,000
QoS 1 messages, Ctrl-C in loop_forever, interpreter exit with live clients, fork, and many
threads publishing at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import turbomqtt.client as mqtt

V2 = mqtt.CallbackAPIVersion.VERSION2


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_10000_qos1_messages_survive_a_broker_restart(persistent_broker, unique_topic) -> None:
    broker = persistent_broker
    total = 10_000
    received: set[int] = set()
    lock = threading.Lock()

    def on_message(client, userdata, msg):
        with lock:
            received.add(int(msg.payload))

    sub = mqtt.Client(V2, client_id="restart-sub", clean_session=False)
    sub.reconnect_delay_set(1, 1)
    sub.on_connect = lambda c, *a: c.subscribe(unique_topic, qos=1)
    sub.on_message = on_message
    sub.connect(broker.host, broker.port, keepalive=10)
    sub.loop_start()
    pub = mqtt.Client(V2, client_id="restart-pub", clean_session=False)
    pub.reconnect_delay_set(1, 1)
    pub.max_inflight_messages_set(100)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    try:
        assert subscribed.wait(5)
        pub.connect(broker.host, broker.port, keepalive=10)
        pub.loop_start()
        infos = [pub.publish(unique_topic, str(i), qos=1) for i in range(total // 2)]
        # Restart once the broker holds nothing for the subscriber: mosquitto may lose
        # messages queued or in flight to a session across a restart, which is the broker's
        # business. What this test checks is the clients: the publisher's messages published
        # while the broker is away are kept and sent, and both reconnect on their own.
        assert _wait(lambda: len(received) == total // 2, 20), f"{len(received)} arrived"
        broker.stop()
        broker.start()
        infos += [pub.publish(unique_topic, str(i), qos=1) for i in range(total // 2, total)]
        assert len({info.mid for info in infos}) == total
        assert _wait(lambda: len(received) == total, 40), f"{len(received)} of {total} arrived"
        # Every message accepted while connected completes (paho's is_published() raises for
        # the ones published while the broker was down: their rc is MQTT_ERR_NO_CONN).
        sent = [info for info in infos if info.rc == mqtt.MQTT_ERR_SUCCESS]
        offline = [info for info in infos if info.rc == mqtt.MQTT_ERR_NO_CONN]
        assert len(sent) + len(offline) == total
        assert _wait(lambda: all(info.is_published() for info in sent), 10)
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()
    assert received == set(range(total))


def _run(code: str, timeout: float = 30, **kwargs):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def test_ctrl_c_stops_loop_forever_quickly(broker) -> None:
    code = f"""
        import sys, time
        import turbomqtt.client as mqtt
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.connect("{broker.host}", {broker.port})
        print("ready", flush=True)
        try:
            c.loop_forever()
        except KeyboardInterrupt:
            print("interrupted", time.monotonic(), flush=True)
    """
    with subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(0.3)  # inside loop_forever, waiting in Rust
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            line = proc.stdout.readline().split()
            assert proc.wait(5) == 0
        finally:
            proc.kill()
    assert line[0] == "interrupted"
    # time.monotonic() is system-wide on Linux, so the two processes' clocks compare.
    assert float(line[1]) - sent < 0.25


def test_interpreter_exits_cleanly_with_live_clients_and_loop_threads(broker) -> None:
    code = f"""
        import turbomqtt.client as mqtt
        clients = []
        for i in range(3):
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"exit-{{i}}")
            c.connect("{broker.host}", {broker.port})
            c.loop_start()
            c.publish("exit/test", "bye", qos=1)
            clients.append(c)
        print("leaving", flush=True)
    """
    start = time.monotonic()
    out = _run(code, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "leaving"
    assert "Traceback" not in out.stderr and "panicked" not in out.stderr
    assert time.monotonic() - start < 10


def test_child_after_fork_can_make_new_clients(broker, unique_topic) -> None:
    code = f"""
        import os, sys, threading
        import turbomqtt.client as mqtt
        parent = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fork-parent")
        parent.connect("{broker.host}", {broker.port})
        parent.loop_start()
        parent.publish("{unique_topic}", "from parent", qos=1).wait_for_publish(5)
        pid = os.fork()
        if pid == 0:
            child = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fork-child")
            child.connect("{broker.host}", {broker.port})
            child.loop_start()
            info = child.publish("{unique_topic}", "from child", qos=1)
            info.wait_for_publish(5)
            child.disconnect()
            child.loop_stop()
            os._exit(0 if info.is_published() else 3)
        _, status = os.waitpid(pid, 0)
        parent.disconnect()
        parent.loop_stop()
        print("child status", os.waitstatus_to_exitcode(status))
    """
    out = _run(code, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "child status 0", out.stderr


def test_many_threads_publish_at_once(broker, unique_topic) -> None:
    threads, per_thread = 8, 500
    received: list[bytes] = []
    done = threading.Event()

    def on_message(client, userdata, msg):
        received.append(msg.payload)
        if len(received) == threads * per_thread:
            done.set()

    sub = mqtt.Client(V2, client_id="threads-sub")
    ready = threading.Event()
    sub.on_connect = lambda c, *a: c.subscribe(unique_topic, qos=1)
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = on_message
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    pub = mqtt.Client(V2, client_id="threads-pub")
    pub.max_inflight_messages_set(0)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    mids: list[int] = []
    mids_lock = threading.Lock()

    def worker(n: int) -> None:
        local = [pub.publish(unique_topic, f"{n}-{i}", qos=1).mid for i in range(per_thread)]
        with mids_lock:
            mids.extend(local)

    try:
        assert ready.wait(5)
        workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
        assert done.wait(30), f"{len(received)} arrived"
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()
    assert len(set(mids)) == threads * per_thread
    assert sorted(received) == sorted(
        f"{n}-{i}".encode() for n in range(threads) for i in range(per_thread)
    )


def test_no_thread_or_socket_left_after_disconnect(broker) -> None:
    before = threading.active_count()
    fds_before = len(os.listdir("/proc/self/fd"))
    for i in range(20):
        c = mqtt.Client(V2, client_id=f"cycle-{i}")
        c.connect(broker.host, broker.port)
        c.loop_start()
        c.disconnect()
        c.loop_stop()
    # <=: the shared loop's lane threads end after a second without clients, and lanes left by
    # earlier tests may be among `before`.
    assert _wait(lambda: threading.active_count() <= before, 5)
    assert _wait(lambda: len(os.listdir("/proc/self/fd")) <= fds_before + 2, 5)
