"""Helpers shared by the ``test_client_*`` files (both implementations).

:class:`Recorder` collects callback invocations from the loop thread and lets the
test thread wait for them with a timeout; :func:`normalise` turns callback
arguments into plain comparable values for the parity tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["WAIT", "Call", "Recorder", "is_paho", "normalise", "wait_until"]

#: Seconds; every wait in the client tests is bounded by it.
WAIT = 5.0


def is_paho(module: ModuleType) -> bool:
    """True for paho-mqtt, False for turbomqtt (per-implementation expectations)."""
    return module.__name__.startswith("paho.")


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, step: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(step)
    return True


class Call:
    """One callback invocation: its name, arguments and thread."""

    __slots__ = ("args", "name", "thread")

    def __init__(self, name: str, args: tuple[Any, ...], thread: threading.Thread) -> None:
        self.name = name
        self.args = args
        self.thread = thread

    def __repr__(self) -> str:
        return f"Call({self.name!r}, {self.args!r}, thread={self.thread.name!r})"


class Recorder:
    """Records callbacks; ``attach(client, "connect", "message", ...)`` installs them.

    Each recorded call keeps the raw arguments *after* ``client, userdata``.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._cond = threading.Condition()

    def record(self, name: str, *args: Any) -> None:
        with self._cond:
            self.calls.append(Call(name, args, threading.current_thread()))
            self._cond.notify_all()

    def callback(self, name: str) -> Callable[..., None]:
        def cb(client: Any, userdata: Any, *args: Any) -> None:
            self.record(name, *args)

        return cb

    def attach(self, client: Any, *names: str) -> Recorder:
        for name in names:
            setattr(client, f"on_{name}", self.callback(name))
        return self

    def of(self, name: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.name == name]

    def names(self) -> list[str]:
        with self._cond:
            return [c.name for c in self.calls]

    def wait(self, name: str, count: int = 1, timeout: float = WAIT) -> list[Call]:
        """Wait until ``count`` calls of ``name`` were recorded; AssertionError otherwise."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(c.name == name for c in self.calls) >= count, timeout
            )
            if not ok:
                raise AssertionError(
                    f"expected {count} x on_{name} within {timeout} s; got {self.names()}"
                )
            return [c for c in self.calls if c.name == name]

    def first(self, name: str, timeout: float = WAIT) -> tuple[Any, ...]:
        return self.wait(name, 1, timeout)[0].args


def normalise(value: Any) -> Any:
    """Plain, comparable form of a callback argument, independent of the implementation:
    ReasonCode -> ("RC", packetType, value), Properties -> ("PROPS", json), messages ->
    their fields, NamedTuples -> (type name, fields), enums -> int."""
    kind = type(value).__name__
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if kind in ("ReasonCode", "ReasonCodes"):
        return ("RC", value.packetType, value.value, str(value))
    if kind == "Properties":
        return ("PROPS", value.packetType, value.json())
    if kind == "MQTTMessage":
        return (
            "MSG",
            value.topic,
            bytes(value.payload),
            value.qos,
            bool(value.retain),
            value.mid,
            bool(value.dup),
        )
    if kind in ("ConnectFlags", "DisconnectFlags"):
        return (kind, *(normalise(v) for v in value))
    if isinstance(value, int):  # IntEnum members included
        return int(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, *(normalise(v) for v in value))
    return ("?", kind, repr(value))
