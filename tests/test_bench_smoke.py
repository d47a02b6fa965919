"""Keep ``benches/bench_clients.py`` from rotting: ``--quick`` runs of a few scenarios.

Runs the benchmark as a subprocess (its own private mosquitto; paho-mqtt and turbomqtt
side by side with the gmqtt, mosquitto_pub and raw-socket reference rows) and checks that
it printed a markdown table with a number in every median cell and the ratios filled in.
mosquitto, mosquitto_pub or gmqtt missing is a failure, not a skip: the rows say FAIL.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benches" / "bench_clients.py"
NUMBER = re.compile(r"^[0-9][0-9,]*(\.[0-9]+)?$")
RATIO = re.compile(r"^[0-9.]+(e[-+][0-9]+)?x$")
# columns: scenario, impl, unit, median, min, max, CPU, turbomqtt/paho, turbomqtt/this, notes
PAHO, THIS = 7, 8


def quick_table(*args: str) -> list[list[str]]:
    """The table rows of a ``--quick`` run, as lists of stripped cells (header dropped)."""
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert rows and rows[0].startswith("| scenario | impl |"), proc.stdout
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows[1:]]
    for c in cells:
        assert all(NUMBER.match(v) for v in c[3:6]), f"median/min/max not numbers: {c}"
        assert float(c[3].replace(",", "")) > 0, c
    return cells


def test_bench_clients_quick_produces_a_table() -> None:
    cells = quick_table("--scenarios", "publish_qos0,latency_qos0")
    seen = {(c[0], c[1]) for c in cells}
    assert seen == {
        ("publish_qos0", "paho"),
        ("publish_qos0", "turbomqtt"),
        ("publish_qos0", "gmqtt"),
        ("publish_qos0", "mosquitto_pub"),
        ("publish_qos0", "raw"),
        ("latency_qos0 p50", "paho"),
        ("latency_qos0 p50", "turbomqtt"),
        ("latency_qos0 p50", "gmqtt"),
        ("latency_qos0 p99", "paho"),
        ("latency_qos0 p99", "turbomqtt"),
        ("latency_qos0 p99", "gmqtt"),
    }, cells
    ratio = next(c[PAHO] for c in cells if c[:2] == ["publish_qos0", "turbomqtt"])
    assert RATIO.match(ratio), ratio
    for ref in ("gmqtt", "mosquitto_pub", "raw"):
        ratio = next(c[THIS] for c in cells if c[:2] == ["publish_qos0", ref])
        assert RATIO.match(ratio), (ref, ratio)
    ratio = next(c[THIS] for c in cells if c[:2] == ["latency_qos0 p50", "gmqtt"])
    assert RATIO.match(ratio), ratio


def test_bench_clients_quick_reference_rows() -> None:
    """gmqtt and mosquitto_pub at QoS 1 and 2 (acknowledgements, in-flight windows, the
    bench's pacing of gmqtt at QoS 2) and gmqtt's on_message receive, beside turbomqtt."""
    cells = quick_table(
        *("--scenarios", "publish_qos1,publish_qos2,receive"),
        *("--impls", "turbomqtt,gmqtt,mosquitto_pub"),
    )
    seen = {(c[0], c[1]) for c in cells}
    refs = ("gmqtt", "mosquitto_pub")
    assert seen == {
        *((f"publish_qos{q}", impl) for q in (1, 2) for impl in ("turbomqtt", *refs)),
        ("receive", "turbomqtt"),
        ("receive", "gmqtt"),
        ("receive", "raw"),
    }, cells
    for c in cells:
        if c[1] in refs:
            assert RATIO.match(c[THIS]), c
            counted = re.search(r"(?:delivered|received) ([0-9]+)/([0-9]+)", c[9])
            assert counted and counted[1] == counted[2], c


def test_bench_clients_quick_callback_latency_rows() -> None:
    """Round trips chained in on_message, for every client, and the raw one-socket floor."""
    cells = quick_table("--scenarios", "latency_cb_qos0,latency_cb_qos1")
    seen = {(c[0], c[1]) for c in cells}
    assert seen == {
        *(
            (f"latency_cb_qos{q} {p}", impl)
            for q in (0, 1)
            for p in ("p50", "p99")
            for impl in ("paho", "turbomqtt", "gmqtt")
        ),
        ("latency_cb_qos0 p50", "raw"),
        ("latency_cb_qos0 p99", "raw"),
    }, cells
    for c in cells:
        if c[1] in ("gmqtt", "raw"):
            assert RATIO.match(c[THIS]), c


def test_bench_clients_quick_tls_receive_rows() -> None:
    """The flood read over the TLS listener, paho beside turbomqtt, every message counted."""
    cells = quick_table("--scenarios", "receive_tls")
    assert {(c[0], c[1]) for c in cells} == {
        ("receive_tls", "paho"),
        ("receive_tls", "turbomqtt"),
    }, cells
    for c in cells:
        counted = re.search(r"received ([0-9]+)/([0-9]+)", c[9])
        assert counted and counted[1] == counted[2], c
    ratio = next(c[PAHO] for c in cells if c[1] == "turbomqtt")
    assert RATIO.match(ratio), ratio
