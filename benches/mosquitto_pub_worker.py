"""The ``mosquitto_pub`` reference rows of ``bench_clients.py``: publish QoS 0, 1 and 2.

``mosquitto_pub`` (mosquitto-clients, C, libmosquitto) is what people reach for to push
messages from a shell; issue 6 asks turbomqtt to publish QoS 1 at least as fast.

One ``mosquitto_pub`` process, one connection, publishes N messages: ``-l`` sends one
message per stdin line, and stdin is a file of N lines of the payload, written before
the process starts, so reading it costs the publisher next to nothing. ``-M`` sets the
same in-flight window as the library rows (``INFLIGHT``). ``-l`` is the fastest mode:
``--repeat N --repeat-delay 0`` publishes the next message only from the previous one's
``on_publish`` (after its PUBACK at QoS 1), one message in flight, and measured about
3x slower at QoS 1 and 1.3x at QoS 2 on the bench machine (see ``benches/README.md``).

What is timed differs from the library rows in one point: ``-l`` polls for its CONNACK
in 100 ms sleeps before it reads stdin, so the time of its first PUBLISH is not known
from outside; the rate is timed from the first arrival at the independent subscriber
instead of from the first ``publish()`` call. That leaves out one one-way delivery
(~0.1 ms against runs of 40 ms to 2 s), and the count is ``delivered - 1`` over that
span. The CPU is the child's own user + sys time from ``wait4()``, process start and
CONNECT included.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid
from typing import Any

from bench_clients import HOST, INFLIGHT, start_raw_subscriber

BINARY = "mosquitto_pub"


def work_publish(port: int, p: dict[str, int], timeout: float) -> dict[str, Any]:
    n, qos, size = p["n"], p["qos"], p["size"]
    topic = f"bench/{uuid.uuid4().hex}"
    lines = tempfile.TemporaryFile()
    lines.write((b"x" * size + b"\n") * n)
    lines.seek(0)
    cmd = [BINARY, "-h", HOST, "-p", str(port), "-t", topic, "-q", str(qos)]
    cmd += ["-M", str(INFLIGHT[qos]), "-i", f"mosquitto_pub-{os.getpid()}", "-l"]
    sub = start_raw_subscriber(port, topic, n, size, timeout)
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=lines, stderr=subprocess.PIPE)
    out, _ = sub.communicate(timeout=timeout)
    got = json.loads(out)
    # the subscriber has everything (or gave up): reap the publisher with its rusage
    deadline = time.monotonic() + 10
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    while not pid and time.monotonic() < deadline:
        time.sleep(0.01)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if not pid:
        proc.kill()
        pid, status, usage = os.wait4(proc.pid, 0)
        raise TimeoutError(f"{BINARY} did not exit 10 s after the last arrival")
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").strip()
    lines.close()
    if proc.returncode:
        raise RuntimeError(f"{BINARY} exit code {proc.returncode}: {err[-300:]}")
    count = int(got["count"])
    span = got["last"] - got["first"]
    return {
        "metrics": {"rate": (count - 1) / span if count > 1 and span > 0 else 0.0},
        "cpu_us": (usage.ru_utime + usage.ru_stime) / n * 1e6,
        "sent_rate": None,
        "delivered": count,
        "n": n,
        "note": "timed from the first arrival",
        "startup_ms": (got["first"] - t_start) * 1e3 if count else None,
    }
