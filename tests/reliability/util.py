"""Small helpers for the reliability tests: bounded calls, resource readings."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

__all__ = ["bounded", "fd_count", "rss_bytes", "wait_until"]


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(step)
    return True


def bounded(fn: Callable[..., Any], *args: Any, timeout: float = 5.0) -> tuple[float, Any]:
    """Run ``fn(*args)`` in a daemon thread; AssertionError if it has not returned within
    ``timeout`` s (a hang), re-raise what it raised. Returns (seconds taken, result)."""
    result: list[Any] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn(*args))
        except BaseException as exc:
            error.append(exc)

    started = time.monotonic()
    t = threading.Thread(target=run, name=f"bounded-{getattr(fn, '__name__', fn)}", daemon=True)
    t.start()
    t.join(timeout)
    took = time.monotonic() - started
    if t.is_alive():
        raise AssertionError(f"{getattr(fn, '__qualname__', fn)} did not return within {timeout} s")
    if error:
        raise error[0]
    return took, result[0] if result else None


def rss_bytes() -> int:
    return psutil.Process().memory_info().rss


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))
