"""Keep ``benches/bench_clients.py`` from rotting: a ``--quick`` run of two scenarios.

Runs the benchmark as a subprocess (its own private mosquitto, paho-mqtt and turbomqtt
side by side, plus the raw-socket reference row) and checks that it printed a markdown
table with a number in every median cell. mosquitto missing is a failure, not a skip.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benches" / "bench_clients.py"
NUMBER = re.compile(r"^[0-9][0-9,]*(\.[0-9]+)?$")


def test_bench_clients_quick_produces_a_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--scenarios", "publish_qos0,latency_qos0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| scenario | impl |"), proc.stdout
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows[1:]]
    seen = {(c[0], c[1]) for c in cells}
    assert seen == {
        ("publish_qos0", "paho"),
        ("publish_qos0", "turbomqtt"),
        ("publish_qos0", "raw"),
        ("latency_qos0 p50", "paho"),
        ("latency_qos0 p50", "turbomqtt"),
        ("latency_qos0 p99", "paho"),
        ("latency_qos0 p99", "turbomqtt"),
    }, proc.stdout
    for c in cells:
        assert all(NUMBER.match(v) for v in c[3:6]), f"median/min/max not numbers: {c}"
        assert float(c[3].replace(",", "")) > 0, c
    ratio = next(c[7] for c in cells if c[:2] == ["publish_qos0", "turbomqtt"])
    assert re.match(r"^[0-9.]+x$", ratio), ratio
