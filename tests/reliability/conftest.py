"""Fixtures and helpers for the reliability suite (issue 5).

``SOAK_SCALE`` (environment, default 1) multiplies every count in this suite: the
number of forced disconnects, of messages, of connect/disconnect cycles, of Hypothesis
examples. CI runs scale 1 (the whole directory in well under 5 minutes); ``make soak``
runs the same tests with a larger scale and no per-test timeout worth mentioning.

Every test records its measurements with the ``figures`` fixture
(``figures["name"] = value``); they are printed in a "reliability figures" section at
the end of the run and written as JSON to ``$RELIABILITY_FIGURES`` when that is set.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Generator
from typing import Any

import pytest
from support.broker import MosquittoBroker
from support.faultproxy import FaultProxy


def soak_scale() -> float:
    raw = os.environ.get("SOAK_SCALE", "1")
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"SOAK_SCALE={raw!r} is not a number") from None
    if value <= 0:
        raise pytest.UsageError(f"SOAK_SCALE={raw!r} must be > 0")
    return value


SCALE = soak_scale()
SOAK = SCALE > 1


def scaled(ci_count: int, soak_count: int | None = None) -> int:
    """``ci_count`` in CI; under soak ``soak_count`` (when given) times SCALE/10, else
    ``ci_count * SCALE``."""
    if not SOAK:
        return max(1, round(ci_count * SCALE))
    if soak_count is not None:
        return max(ci_count, round(soak_count * SCALE / 10))
    return round(ci_count * SCALE)


def test_timeout(ci_seconds: float) -> float:
    """A per-test timeout that grows with the scale."""
    return ci_seconds * max(1.0, SCALE)


test_timeout.__test__ = False  # type: ignore[attr-defined]

_FIGURES: dict[str, dict[str, Any]] = {}
_FIGURES_LOCK = threading.Lock()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A dict whose contents are reported at the end of the run under this test's name."""
    record: dict[str, Any] = {}
    with _FIGURES_LOCK:
        _FIGURES[request.node.nodeid.split("::", 1)[-1]] = record
    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section(f"reliability figures (SOAK_SCALE={SCALE:g})")
    for name, record in _FIGURES.items():
        if not record:
            continue
        terminalreporter.write_line(name)
        for key, value in record.items():
            if isinstance(value, float):
                value = f"{value:.3f}"
            terminalreporter.write_line(f"    {key}: {value}")
    out = os.environ.get("RELIABILITY_FIGURES")
    if out:
        with open(out, "w") as f:
            json.dump({"scale": SCALE, "tests": _FIGURES}, f, indent=2, default=str)


@pytest.fixture
def make_proxy() -> Generator[Callable[[int], FaultProxy], None, None]:
    """``make_proxy(upstream_port)``: a :class:`FaultProxy`, closed at teardown."""
    made: list[FaultProxy] = []

    def make(port: int) -> FaultProxy:
        proxy = FaultProxy(port)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture
def proxy(broker: MosquittoBroker, make_proxy: Callable[[int], FaultProxy]) -> FaultProxy:
    """A :class:`FaultProxy` in front of the shared broker's plain listener."""
    return make_proxy(broker.port)
