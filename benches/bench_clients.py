"""turbomqtt against paho-mqtt, side by side in one run, through the same paho API,
with reference rows for the other clients issue 6 compares with.

    python benches/bench_clients.py [--rounds 3] [--quick] [--scenarios a,b] [--json out.json]

What it measures (every number comes from this run; nothing is hard-coded):

* ``publish_qos{0,1,2}[_1k|_64k]``: one client publishes N messages as fast as
  ``publish()`` returns, with ``loop_start()`` running and ``max_inflight_messages_set(100)``
  for both libraries. An independent raw-socket subscriber process (``rawmqtt.py``, no
  client library, subscribed at QoS 0) counts arrivals; the run ends when it has all N
  (or nothing came for 3 s). Rate = delivered / (last arrival - first publish); the
  notes add the rate at which ``publish()`` returned and the delivered count.
* ``receive[_1k|_64k]``: a raw-socket publisher floods N QoS 0 messages; the client under
  test counts them in a Python ``on_message``; rate = N / (last - first arrival).
  ``receive_tls``: the same 16-byte flood, the client on the broker's TLS listener.
* ``latency_qos{0,1}``: one client subscribed to its own topic publishes and waits for
  ``on_message``, 2000 times; p50 and p99 of publish -> on_message, in µs. The waiting
  thread is woken by the loop's thread, a hand-off the library cannot avoid.
* ``latency_cb_qos{0,1}``: the same round trips driven from ``on_message`` itself (each
  message's callback publishes the next), so no thread of the script's is involved: the
  library's own latency. The ``raw`` row (QoS 0) is one socket that sends a PUBLISH and
  reads it back on one thread: the broker's and kernel's share of any round trip.
* ``clients_1000``: 1000 clients, each ``connect()`` + ``loop_start()``; time until every
  ``on_connect`` fired, then RSS (``VmRSS``) and OS threads (``/proc/self/status``).
* ``tls_connect``: 100 sequential connect + CONNACK + disconnect on the TLS listener.
* ``import``: ``import <module>.client`` in a fresh interpreter, median of 5.
* ``raw`` rows: the same publish/receive done by ``rawmqtt.py`` in the worker, QoS 0
  packets batched into large ``sendall`` calls: the ceiling of this machine and broker.
* ``mosquitto_pub`` rows (``publish_qos{0,1,2}``, 16 B): one ``mosquitto_pub -l`` process
  publishes N stdin lines over one connection, ``-M`` as the libraries' in-flight window,
  counted by the same raw subscriber; its CPU is the child's rusage. Timed from the first
  arrival, since its start and CONNECT cannot be seen (``mosquitto_pub_worker.py``).
* ``gmqtt`` rows (``publish_qos{0,1,2}``, ``receive``, ``latency_qos{0,1}``, 16 B): the
  same measurements through gmqtt's asyncio API, its loop in the worker's main thread,
  MQTT 3.1.1 (``gmqtt_worker.py`` says where gmqtt's way differs: no in-flight limit, so
  QoS 0/1 send everything at once and QoS 2 is paced by the bench to 20 in flight).

"CPU µs/msg" is the worker's own user + sys time (``getrusage(RUSAGE_SELF)``, all its
threads, not the broker's or the helper's) divided by messages (round trips, clients,
connects): the figure the broker cannot hide. Each measurement runs in a fresh
``--worker`` subprocess against one private mosquitto (``broker.py``); the parent runs
the implementations alternately (paho, turbomqtt, gmqtt, mosquitto_pub, raw, paho, ...) for
``--rounds`` rounds and prints the median, min and max per row, and ratios of the
medians: turbomqtt / paho on the turbomqtt row, turbomqtt / this row on each reference
row (above 1 is better for rates, below 1 for times, sizes and threads). A client that
is not installed still gets its rows, marked FAIL and NOT INSTALLED.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import rawmqtt  # noqa: E402

HOST = "127.0.0.1"
MODULES = {"paho": "paho.mqtt.client", "turbomqtt": "turbomqtt.client"}
# paho and turbomqtt run through the same paho API (MODULES); gmqtt (asyncio) and the
# mosquitto_pub command have their own workers (gmqtt_worker.py, mosquitto_pub_worker.py)
# and run only in the scenarios where issue 6 compares turbomqtt with them.
IMPLS = (*MODULES, "gmqtt", "mosquitto_pub")
# max_inflight_messages_set() for both libraries. QoS 2 uses 20, mosquitto's default
# max_inflight_messages: mosquitto 2.0.11 stalls a MQTT 3.1.1 publisher that keeps more
# than that many QoS 2 messages in flight (both libraries stop after exactly 100 with 100).
INFLIGHT = {0: 100, 1: 100, 2: 20}
SIZES = {"": 16, "_1k": 1024, "_64k": 65536}


@dataclass(frozen=True)
class Scenario:
    """One row group: which worker runs it, with what parameters, for which impls."""

    name: str
    kind: str
    impls: tuple[str, ...]
    params: dict[str, int] = field(default_factory=dict)
    quick: dict[str, int] = field(default_factory=dict)
    timeout: float = 180.0

    def budget(self, quick: bool) -> float:
        """Seconds the parent gives one worker run before killing it."""
        return 15.0 if quick else self.timeout


def _scenarios() -> dict[str, Scenario]:
    both = ("paho", "turbomqtt")
    out: list[Scenario] = []
    counts = {0: (200_000, 100_000, 5_000), 1: (50_000, 30_000, 3_000), 2: (20_000, 0, 0)}
    for qos, per_size in counts.items():
        for (suffix, size), n in zip(SIZES.items(), per_size):
            if not n:
                continue
            # the other clients where issue 6 compares with them: 16 B payloads
            impls: tuple[str, ...] = (*both, "gmqtt", "mosquitto_pub") if size == 16 else both
            impls = (*impls, "raw") if qos == 0 else impls
            params = {"qos": qos, "size": size, "n": n}
            quick = {**params, "n": max(200, n // 40)}
            out.append(Scenario(f"publish_qos{qos}{suffix}", "publish", impls, params, quick))
    for (suffix, size), n in zip(SIZES.items(), (200_000, 100_000, 5_000)):
        params = {"size": size, "n": n}
        quick = {**params, "n": max(200, n // 40)}
        impls = (*both, "gmqtt", "raw") if size == 16 else (*both, "raw")
        out.append(Scenario(f"receive{suffix}", "receive", impls, params, quick))
    # the same flood read over the TLS listener (the publisher stays on the plain one)
    params = {"size": 16, "n": 200_000, "tls": 1}
    quick = {**params, "n": 5_000}
    out.append(Scenario("receive_tls", "receive", both, params, quick))
    for qos in (0, 1):
        params = {"qos": qos, "n": 2000, "warmup": 100}
        quick = {"qos": qos, "n": 200, "warmup": 20}
        out.append(Scenario(f"latency_qos{qos}", "latency", (*both, "gmqtt"), params, quick))
    for qos in (0, 1):
        params = {"qos": qos, "n": 2000, "warmup": 100, "callback": 1}
        quick = {**params, "n": 200, "warmup": 20}
        impls = (*both, "gmqtt", "raw") if qos == 0 else (*both, "gmqtt")
        out.append(Scenario(f"latency_cb_qos{qos}", "latency", impls, params, quick))
    out.append(Scenario("clients_1000", "clients", both, {"n": 1000}, {"n": 50}, 240.0))
    out.append(Scenario("tls_connect", "tls", both, {"n": 100}, {"n": 5}))
    out.append(Scenario("import", "import", both, {"n": 5}, {"n": 2}))
    return {s.name: s for s in out}


SCENARIOS = _scenarios()


# --- worker side: one measurement in this (fresh) process ----------------------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_status(key: str) -> int:
    """An integer field of /proc/self/status (``VmRSS`` in kB, ``Threads``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def load(impl: str) -> Any:
    import importlib

    return importlib.import_module(MODULES[impl])


def new_client(mqtt: Any, client_id: str, qos: int = 0) -> Any:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(INFLIGHT[qos])
    return client


def connected_client(
    mqtt: Any, port: int, client_id: str, qos: int = 0, ca: Optional[str] = None
) -> Any:
    """connect() + loop_start(), returned once on_connect fired; over TLS with a ``ca``."""
    client = new_client(mqtt, client_id, qos)
    if ca is not None:
        client.tls_set(ca_certs=ca)
    ready = threading.Event()
    client.on_connect = lambda *_: ready.set()
    client.connect(HOST, port, 60)
    client.loop_start()
    if not ready.wait(10):
        raise TimeoutError("no CONNACK within 10 s")
    return client


def subscribe(client: Any, topic: str, qos: int) -> None:
    done = threading.Event()
    client.on_subscribe = lambda *_: done.set()
    client.subscribe(topic, qos)
    if not done.wait(10):
        raise TimeoutError("no SUBACK within 10 s")


def stop(client: Any) -> None:
    client.disconnect()
    client.loop_stop()


def start_raw_subscriber(
    port: int, topic: str, n: int, size: int, timeout: float
) -> subprocess.Popen[str]:
    sub = subprocess.Popen(
        [
            *(sys.executable, str(HERE / "rawmqtt.py"), "sub", "--port", str(port)),
            *("--size", str(size), "--topic", topic, "--count", str(n)),
            *("--deadline", str(timeout)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sub.stdout is not None
    if sub.stdout.readline().strip() != "ready":
        raise RuntimeError("raw subscriber did not start")
    return sub


def work_publish(impl: str, port: int, p: dict[str, int], timeout: float) -> dict[str, Any]:
    n, qos, payload = p["n"], p["qos"], b"x" * p["size"]
    topic = f"bench/{uuid.uuid4().hex}"
    sub = start_raw_subscriber(port, topic, n, p["size"], timeout)
    if impl == "raw":
        sock = rawmqtt.open_session(port, f"rawpub-{os.getpid()}")
        t0, c0 = time.monotonic(), cpu_seconds()
        rawmqtt.publish_flood(sock, topic, payload, n)
    else:
        client = connected_client(load(impl), port, f"pub-{os.getpid()}", qos)
        publish = client.publish
        t0, c0 = time.monotonic(), cpu_seconds()
        for _ in range(n):
            publish(topic, payload, qos)
    t_sent = time.monotonic()
    out, _ = sub.communicate(timeout=timeout)
    c1 = cpu_seconds()
    got = json.loads(out)
    if impl == "raw":
        rawmqtt.close_session(sock)
    else:
        stop(client)
    count = int(got["count"])
    elapsed = got["last"] - t0
    return {
        "metrics": {"rate": count / elapsed if count else 0.0},
        "cpu_us": (c1 - c0) / n * 1e6,
        "sent_rate": n / (t_sent - t0),
        "delivered": count,
        "n": n,
    }


def work_receive(
    impl: str, port: int, p: dict[str, int], timeout: float, tls: tuple[int, str]
) -> dict[str, Any]:
    """``tls``: the TLS listener's port and CA file, used when ``p["tls"]`` is set."""
    n, size = p["n"], p["size"]
    topic = f"bench/{uuid.uuid4().hex}"
    flood = [sys.executable, str(HERE / "rawmqtt.py"), "pub", "--port", str(port)]
    flood += ["--topic", topic, "--count", str(n), "--size", str(size)]
    procs: list[subprocess.Popen[bytes]] = []
    if impl == "raw":
        c0 = cpu_seconds()
        got = rawmqtt.subscribe_and_count(
            port,
            topic,
            n,
            3.0,
            timeout,
            lambda: procs.append(subprocess.Popen(flood)),
            packet_len=len(rawmqtt.publish_packet(topic, b"x" * size)),
        )
        c1 = cpu_seconds()
        count, first, last = int(got["count"]), got["first"], got["last"]
    else:
        if p.get("tls"):
            client = connected_client(load(impl), tls[0], f"recv-{os.getpid()}", ca=tls[1])
        else:
            client = connected_client(load(impl), port, f"recv-{os.getpid()}")
        state = {"count": 0, "first": 0.0, "last": 0.0}
        done = threading.Event()
        clock = time.monotonic

        def on_message(_c: Any, _u: Any, _m: Any) -> None:
            now = clock()
            count = state["count"] + 1
            state["count"] = count
            if count == 1:
                state["first"] = now
            state["last"] = now
            if count == n:
                done.set()

        client.on_message = on_message
        subscribe(client, topic, 0)
        c0 = cpu_seconds()
        procs.append(subprocess.Popen(flood))
        seen, idle_since, deadline = -1, time.monotonic(), time.monotonic() + timeout
        while not done.wait(0.2) and time.monotonic() < deadline:
            if state["count"] != seen:
                seen, idle_since = int(state["count"]), time.monotonic()
            elif time.monotonic() - idle_since > 3.0 and procs[0].poll() is not None:
                break
        c1 = cpu_seconds()
        count, first, last = int(state["count"]), state["first"], state["last"]
        stop(client)
    for proc in procs:
        proc.wait(timeout)
    return {
        "metrics": {"rate": count / (last - first) if count > 1 else 0.0},
        "cpu_us": (c1 - c0) / max(count, 1) * 1e6,
        "delivered": count,
        "n": n,
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 of round-trip times in seconds, in µs."""
    samples = sorted(samples)
    return {
        "p50": samples[len(samples) // 2] * 1e6,
        "p99": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e6,
    }


def work_latency_raw(port: int, p: dict[str, int]) -> dict[str, Any]:
    """QoS 0 round trips on one blocking socket: no library, no thread hand-off."""
    topic = f"bench/{uuid.uuid4().hex}"
    sock = rawmqtt.open_session(port, f"rawlat-{os.getpid()}")
    sock.sendall(rawmqtt.subscribe_packet(topic, 0))
    rawmqtt.read_packet(sock)  # SUBACK
    packet = rawmqtt.publish_packet(topic, b"x" * 16)

    def trip(_i: int) -> None:
        sock.sendall(packet)
        got = sock.recv(65536)
        while len(got) < len(packet):
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("broker closed the connection")
            got += more

    result = timed_trips(p, trip)
    rawmqtt.close_session(sock)
    return result


def timed_trips(p: dict[str, int], trip: Callable[[int], None]) -> dict[str, Any]:
    """Runs ``trip(i)`` ``warmup + n`` times; percentiles and CPU of the last ``n``."""
    samples: list[float] = []
    clock = time.perf_counter
    c0 = 0.0
    for i in range(p["warmup"] + p["n"]):
        if i == p["warmup"]:
            c0 = cpu_seconds()
        t = clock()
        trip(i)
        if i >= p["warmup"]:
            samples.append(clock() - t)
    c1 = cpu_seconds()
    return {"metrics": percentiles(samples), "cpu_us": (c1 - c0) / p["n"] * 1e6}


def work_latency_callback(
    impl: str, port: int, p: dict[str, int], timeout: float
) -> dict[str, Any]:
    """Round trips chained in ``on_message``: each arrival publishes the next message."""
    qos, total = p["qos"], p["warmup"] + p["n"]
    client = connected_client(load(impl), port, f"latcb-{os.getpid()}", qos)
    topic = f"bench/{uuid.uuid4().hex}"
    payload = b"x" * 16
    samples: list[float] = []
    clock = time.perf_counter
    state = {"i": 0, "t": 0.0, "c0": 0.0}
    done = threading.Event()

    def on_message(c: Any, _u: Any, _m: Any) -> None:
        now = clock()
        i = state["i"]
        if i >= p["warmup"]:
            samples.append(now - state["t"])
        i += 1
        state["i"] = i
        if i == p["warmup"]:
            state["c0"] = cpu_seconds()
        if i >= total:
            done.set()
            return
        state["t"] = clock()
        c.publish(topic, payload, qos)

    client.on_message = on_message
    subscribe(client, topic, qos)
    state["t"] = clock()
    client.publish(topic, payload, qos)
    if not done.wait(timeout):
        raise TimeoutError(f"round trips stopped at {state['i']} of {total}")
    c1 = cpu_seconds()
    stop(client)
    return {"metrics": percentiles(samples), "cpu_us": (c1 - state["c0"]) / p["n"] * 1e6}


def work_latency(impl: str, port: int, p: dict[str, int], timeout: float) -> dict[str, Any]:
    if impl == "raw":
        return work_latency_raw(port, p)
    if p.get("callback"):
        return work_latency_callback(impl, port, p, timeout)
    qos = p["qos"]
    client = connected_client(load(impl), port, f"lat-{os.getpid()}", qos)
    topic = f"bench/{uuid.uuid4().hex}"
    arrived = threading.Event()
    client.on_message = lambda *_: arrived.set()
    subscribe(client, topic, qos)
    payload = b"x" * 16

    def trip(i: int) -> None:
        client.publish(topic, payload, qos)
        if not arrived.wait(10):
            raise TimeoutError(f"round trip {i} never came back")
        arrived.clear()

    result = timed_trips(p, trip)
    stop(client)
    return result


def work_clients(impl: str, port: int, p: dict[str, int], timeout: float) -> dict[str, Any]:
    n = p["n"]
    mqtt = load(impl)
    rss0 = proc_status("VmRSS")
    lock = threading.Lock()
    state = {"connected": 0}
    all_in = threading.Event()
    thread_errors: list[str] = []

    def on_connect(*_: Any) -> None:
        with lock:
            state["connected"] += 1
            if state["connected"] == n:
                all_in.set()

    def excepthook(args: threading.ExceptHookArgs) -> None:
        thread_errors.append(f"{args.exc_type.__name__}: {args.exc_value}")

    threading.excepthook = excepthook
    clients = []
    connect_error = ""
    c0, t0 = cpu_seconds(), time.monotonic()
    for i in range(n):
        client = new_client(mqtt, f"many-{os.getpid()}-{i}")
        client.on_connect = on_connect
        try:
            client.connect(HOST, port, 60)
            client.loop_start()
        except Exception as exc:  # record what happened, do not crash the run
            connect_error = f"client {i}: {type(exc).__name__}: {exc}"
            break
        clients.append(client)
    # wait for every on_connect, or until no client connected for 10 s
    seen, idle_since = -1, time.monotonic()
    while not all_in.wait(0.05) and time.monotonic() - t0 < max(5.0, timeout - 10):
        if state["connected"] != seen:
            seen, idle_since = state["connected"], time.monotonic()
        elif time.monotonic() - idle_since > 10:
            break
    elapsed = time.monotonic() - t0
    c1 = cpu_seconds()
    time.sleep(0.5)  # let thread counts settle (paho's threads that died, etc.)
    connected = state["connected"]
    result: dict[str, Any] = {
        "metrics": {
            "connect_s": elapsed if connected == n else None,
            "rss_mb": proc_status("VmRSS") / 1024,
            "threads": proc_status("Threads"),
        },
        "cpu_us": (c1 - c0) / max(connected, 1) * 1e6,
        "connected": connected,
        "n": n,
        "rss0_mb": rss0 / 1024,
        "active_count": threading.active_count(),
    }
    errors = [connect_error] if connect_error else []
    if thread_errors:
        errors.append(f"{len(thread_errors)} loop threads died, first: {thread_errors[0]}")
    if errors:
        result["error_detail"] = "; ".join(errors)
    # Disconnecting 1000 clients is not measured; exit hard after reporting (see emit()).
    result["exit_hard"] = True
    return result


def work_tls(impl: str, tls_port: int, ca: str, p: dict[str, int]) -> dict[str, Any]:
    mqtt = load(impl)
    c0, t0 = cpu_seconds(), time.perf_counter()
    for i in range(p["n"]):
        client = new_client(mqtt, f"tls-{os.getpid()}-{i}")
        client.tls_set(ca_certs=ca)
        ready = threading.Event()
        client.on_connect = lambda *_, ready=ready: ready.set()
        client.connect(HOST, tls_port, 60)
        client.loop_start()
        if not ready.wait(10):
            raise TimeoutError(f"TLS connect {i}: no CONNACK within 10 s")
        stop(client)
    elapsed = time.perf_counter() - t0
    return {
        "metrics": {"ms_per_connect": elapsed / p["n"] * 1e3},
        "cpu_us": (cpu_seconds() - c0) / p["n"] * 1e6,
    }


def work_import(impl: str, p: dict[str, int]) -> dict[str, Any]:
    code = (
        "import time; t = time.perf_counter(); "
        f"import {MODULES[impl]}; print(time.perf_counter() - t)"
    )
    # As a user's install imports: with byte code cached (pip compiles a wheel's modules when
    # it installs them; an editable checkout run with PYTHONDONTWRITEBYTECODE=1 would compile
    # every module at every import instead). The first, untimed, import writes the cache.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for i in range(p["n"] + 1):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        if i:
            times.append(float(out.stdout) * 1e3)
    return {"metrics": {"ms": statistics.median(times)}, "cpu_us": None}


def run_worker(args: argparse.Namespace) -> None:
    scenario = SCENARIOS[args.worker]
    params = scenario.quick if args.quick else scenario.params
    timeout = scenario.budget(args.quick) - 8  # inner waits give up before the parent kills us
    # the other clients live in their own modules, imported only where they run
    if args.impl == "gmqtt":
        import gmqtt_worker

        result = gmqtt_worker.run(scenario.kind, args.port, params, timeout)
    elif args.impl == "mosquitto_pub":
        import mosquitto_pub_worker

        result = mosquitto_pub_worker.work_publish(args.port, params, timeout)
    elif scenario.kind == "publish":
        result = work_publish(args.impl, args.port, params, timeout)
    elif scenario.kind == "receive":
        result = work_receive(args.impl, args.port, params, timeout, (args.tls_port, args.ca))
    elif scenario.kind == "latency":
        result = work_latency(args.impl, args.port, params, timeout)
    elif scenario.kind == "clients":
        result = work_clients(args.impl, args.port, params, timeout)
    elif scenario.kind == "tls":
        result = work_tls(args.impl, args.tls_port, args.ca, params)
    else:
        result = work_import(args.impl, params)
    print("RESULT " + json.dumps(result), flush=True)
    if result.get("exit_hard"):
        os._exit(0)


# --- parent side: broker, alternation, table ------------------------------------------------------

# scenario kind -> [(metric key, row label suffix, unit, number format)]
ROWS: dict[str, list[tuple[str, str, str, str]]] = {
    "publish": [("rate", "", "msg/s ↑", "{:,.0f}")],
    "receive": [("rate", "", "msg/s ↑", "{:,.0f}")],
    "latency": [("p50", " p50", "µs ↓", "{:,.1f}"), ("p99", " p99", "µs ↓", "{:,.1f}")],
    "clients": [
        ("connect_s", " connect all", "s ↓", "{:.3f}"),
        ("rss_mb", " RSS", "MB ↓", "{:.1f}"),
        ("threads", " threads", "threads ↓", "{:.0f}"),
    ],
    "tls": [("ms_per_connect", "", "ms/connect ↓", "{:.2f}")],
    "import": [("ms", "", "ms ↓", "{:.1f}")],
}


def run_one(scenario: Scenario, impl: str, broker: Any, quick: bool) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", scenario.name]
    cmd += ["--impl", impl, "--port", str(broker.port), "--tls-port", str(broker.tls_port)]
    cmd += ["--ca", str(broker.ca_cert)] + (["--quick"] if quick else [])
    timeout = scenario.budget(quick)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    hung = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            if hung:
                result["error_detail"] = (
                    f"worker hung after reporting (killed after {timeout:.0f} s)"
                )
            return result
    tail = " | ".join(err.strip().splitlines()[-3:]) if err.strip() else ""
    reason = f"timed out after {timeout:.0f} s" if hung else f"exit code {proc.returncode}"
    return {"error": f"{reason}: {tail}"[:300]}


def fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else spec.format(value)


def notes_for(kind: str, runs: list[dict[str, Any]]) -> str:
    ok = [r for r in runs if "error" not in r]
    notes = []
    if kind == "publish" and ok:
        sent = [r["sent_rate"] for r in ok if r.get("sent_rate")]
        lost = [r["n"] - r["delivered"] for r in ok]
        if sent:
            notes.append(f"publish() returned at {statistics.median(sent):,.0f}/s")
        notes.append(
            f"delivered {min(r['delivered'] for r in ok)}/{ok[0]['n']}"
            + (f" (LOST up to {max(lost)})" if max(lost) else "")
        )
    if kind == "receive" and ok:
        lost = [r["n"] - r["delivered"] for r in ok]
        notes.append(f"received {min(r['delivered'] for r in ok)}/{ok[0]['n']}")
    if kind == "clients" and ok:
        notes.append(f"connected {min(r['connected'] for r in ok)}/{ok[0]['n']}")
        notes.append(f"RSS before clients {statistics.median(r['rss0_mb'] for r in ok):.1f} MB")
        notes.append(f"threading.active_count {max(r['active_count'] for r in ok)}")
    for r in ok:  # what a worker says about how it measured (gmqtt, mosquitto_pub)
        if r.get("note") and r["note"] not in notes:
            notes.append(r["note"])
    startup = [r["startup_ms"] for r in ok if r.get("startup_ms") is not None]
    if startup:
        notes.append(f"start + CONNECT ({statistics.median(startup):,.0f} ms) not timed")
    for r in runs:
        detail = r.get("error") or r.get("error_detail")
        if detail:
            detail = ("FAILED: " if "error" in r else "") + detail
            if detail not in notes:
                notes.append(detail)
    return "; ".join(notes)


# Rows that turbomqtt is compared with in the "turbomqtt/this" column; paho has its own column.
REFERENCES = ("gmqtt", "mosquitto_pub", "raw")


def ratio(med: float | None, base: float | None) -> str:
    """The ratio of two medians, as the table prints it; FAIL if turbomqtt's is missing."""
    if med is None:
        return "FAIL"
    return f"{med / base:.3g}x" if base else ""


def build_table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    head = (
        "| scenario | impl | unit | median | min | max | CPU µs/msg "
        "| turbomqtt/paho | turbomqtt/this | notes |"
    )
    lines = [head, "|" + "---|" * 10]
    for name, by_impl in results.items():
        scenario = SCENARIOS[name]
        for key, suffix, unit, spec in ROWS[scenario.kind]:
            values = {
                impl: [
                    r["metrics"][key]
                    for r in runs
                    if "error" not in r and r["metrics"].get(key) is not None
                ]
                for impl, runs in by_impl.items()
            }
            medians = {i: statistics.median(v) if v else None for i, v in values.items()}
            turbo = medians.get("turbomqtt")
            has_turbo = "turbomqtt" in medians
            for impl, runs in by_impl.items():
                med, vals = medians[impl], values[impl]
                cpus = [r["cpu_us"] for r in runs if "error" not in r and r.get("cpu_us")]
                cpu = fmt(statistics.median(cpus) if cpus else None, "{:,.2f}")
                vs_paho = ratio(turbo, medians.get("paho")) if impl == "turbomqtt" else ""
                vs_this = ""
                if impl in REFERENCES and has_turbo:
                    vs_this = ratio(turbo, med) if med is not None else "—"
                cells = [
                    name + suffix,
                    impl,
                    unit,
                    fmt(med, spec) if vals else "FAIL",
                    fmt(min(vals) if vals else None, spec),
                    fmt(max(vals) if vals else None, spec),
                    cpu if key == ROWS[scenario.kind][0][0] else "",
                    vs_paho,
                    vs_this,
                    notes_for(scenario.kind, runs) if key == ROWS[scenario.kind][0][0] else "",
                ]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    from broker import find_mosquitto, mosquitto_version

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} x {cpu}",
        "os": platform.platform(),
        "python": platform.python_version(),
        "mosquitto": mosquitto_version(find_mosquitto()),
        "paho-mqtt": version("paho-mqtt"),
        "turbomqtt": version("turbomqtt"),
        "gmqtt": version("gmqtt"),
        "mosquitto_pub": mosquitto_pub_version(),
    }


def mosquitto_pub_version() -> str:
    binary = shutil.which("mosquitto_pub")
    if binary is None:
        return "not installed"
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, check=False).stdout
    return next((line for line in out.splitlines() if " version " in line), "unknown").strip()


def missing(impl: str) -> str | None:
    """Why ``impl`` cannot run on this machine, or None. Its rows then say so in the table."""
    if impl in MODULES and importlib.util.find_spec(MODULES[impl].split(".")[0]) is None:
        return f"NOT INSTALLED: {impl} cannot be imported (make deps)"
    if impl == "gmqtt" and importlib.util.find_spec("gmqtt") is None:
        return "NOT INSTALLED: gmqtt cannot be imported (make deps, or pip install gmqtt)"
    if impl == "mosquitto_pub" and shutil.which("mosquitto_pub") is None:
        return (
            "NOT INSTALLED: no mosquitto_pub on PATH (make deps: apt-get install mosquitto-clients)"
        )
    return None


def run_parent(args: argparse.Namespace) -> int:
    from broker import Broker

    if args.scenarios == "all":
        names = list(SCENARIOS)
    else:
        names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
        unknown = [s for s in names if s not in SCENARIOS]
        if unknown:
            print(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
            return 2
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    if set(impls) - set(IMPLS):
        print(
            f"unknown impls {sorted(set(impls) - set(IMPLS))}; known: {', '.join(IMPLS)}",
            file=sys.stderr,
        )
        return 2
    absent = {i: why for i in impls if (why := missing(i))}
    for impl, why in absent.items():
        print(f"!!! {impl}: {why}; its rows will show FAIL", file=sys.stderr)
    rounds = 1 if args.quick and args.rounds is None else (args.rounds or 3)
    env = machine()
    print(
        f"# {', '.join(impls)}, {rounds} round(s){' (quick)' if args.quick else ''}",
        file=sys.stderr,
    )
    broker = Broker(nodelay=not args.broker_nagle)
    broker.start()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        for name in names:
            scenario = SCENARIOS[name]
            order = [i for i in (*impls, "raw") if i in scenario.impls]
            results[name] = {impl: [] for impl in order}
            for rnd in range(rounds):
                for impl in order:
                    if not broker.alive():
                        broker.stop(remove=False)
                        broker.start()
                    t = time.monotonic()
                    res = {"error": absent[impl]} if impl in absent else {}
                    res = res or run_one(scenario, impl, broker, args.quick)
                    results[name][impl].append(res)
                    summary = res.get("error") or res.get("metrics")
                    print(
                        f"  {name} round {rnd + 1} {impl}: {summary} ({time.monotonic() - t:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        broker.stop()
    report = {
        "machine": env,
        "rounds": rounds,
        "inflight": INFLIGHT,
        "broker_nodelay": broker.nodelay,
        "results": results,
    }
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


def print_report(report: dict[str, Any]) -> None:
    """The header lines and the markdown table of a run (live, or saved with --json)."""
    header = " · ".join(f"{k}: {v}" for k, v in report["machine"].items())
    inflight = ", ".join(f"QoS {q}: {v}" for q, v in report.get("inflight", INFLIGHT).items())
    print(
        f"{header}\n\nrounds: {report['rounds']}; max_inflight_messages_set: {inflight}; "
        f"mosquitto set_tcp_nodelay {str(report.get('broker_nodelay', True)).lower()}\n\n"
        + build_table(report["results"])
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--scenarios", default="all", help=f"comma list of: {', '.join(SCENARIOS)}")
    parser.add_argument(
        "--impls", default=",".join(IMPLS), help="clients to compare (the raw rows always run)"
    )
    parser.add_argument("--json", help="also write all raw results to this file")
    parser.add_argument("--table-from", help="only print the table of a saved --json file")
    parser.add_argument(
        "--broker-nagle",
        action="store_true",
        help="leave mosquitto's set_tcp_nodelay at its default (false)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tls-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.table_from:
        print_report(json.loads(Path(args.table_from).read_text()))
        return 0
    if args.worker:
        run_worker(args)
        return 0
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())
