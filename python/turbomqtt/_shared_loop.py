"""The shared loop behind ``Client.loop_start()``: a few lane threads serve every client.

paho gives each ``loop_start()`` client a thread of its own; a thousand clients cost a thousand
threads. Here a client is attached to one *lane*: a daemon thread ("turbomqtt-loop-N") that
waits in Rust (``_core.Lane``, GIL released) for the keys of clients whose sessions have events,
then, for each ready client, drains its events and runs its callbacks, as one
``loop_forever()`` iteration would. What users rely on is kept:

- one client's callbacks run one at a time, in order, never on two threads at once (a per-client
  dispatch lock is held while its events are drained), on the lane the client is pinned to;
- a callback that blocks does not stall other clients for long: when a lane has been inside one
  callback for more than ``_STUCK`` seconds, another lane moves its other clients away (the only
  time a client changes thread), and when every other lane is stuck a lane is added, up to
  ``_MAX_LANES``;
- reconnects never block a lane: ``CoreClient.start_connect`` opens the transport on the Rust
  runtime and reports back as an event; the backoff waits are entries in the lane's timer heap.

Lanes start lazily (two once there are two clients) and end after ``_IDLE_EXIT`` seconds with no
client, so a process with no ``loop_start()`` client has no lane thread. The ``atexit`` hook in
``client.py`` calls :func:`shutdown`.
"""

from __future__ import annotations

import heapq
import itertools
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Optional

from turbomqtt import _core
from turbomqtt.enums import _ConnectionState

if TYPE_CHECKING:
    from turbomqtt.client import Client

_MIN_LANES = 2
_MAX_LANES = 8
# A lane inside one callback for longer than this is stuck: its other clients move away.
_STUCK = 0.1
# The longest a lane waits without looking at timers, stuck lanes and its own idleness.
_TICK = 0.1
# A lane with no client for this long ends its thread.
_IDLE_EXIT = 1.0
# Batches drained from one client before the lane serves the others (then it is requeued).
_MAX_BATCHES = 8


class _Lane:
    """One lane: its thread, its Rust ready queue, its clients and their reconnect timers."""

    def __init__(self, loop: _SharedLoop, index: int) -> None:
        self.loop = loop
        self.index = index
        self.core = _core.Lane()
        # key -> client, for the clients pinned here (guarded by loop.lock).
        self.clients: dict[int, Client] = {}
        # (due, seq, key): reconnect attempts, soonest first (guarded by loop.lock).
        self.timers: list[tuple[float, int, int]] = []
        # Set while the lane runs one client's callbacks.
        self.busy_since: Optional[float] = None
        self.current: Optional[Client] = None
        self.stopping = False
        self.idle_since = time.monotonic()
        self.last_check = 0.0
        self.thread = threading.Thread(
            target=self._run, name=f"turbomqtt-loop-{index}", daemon=True
        )

    def _run(self) -> None:
        while not self.stopping:
            try:
                keys = self.core.wait(self._timeout())
                for key in keys:
                    if self.stopping:
                        return
                    self._service(key, timer=False)
                    self._maybe_rebalance()
                if self.stopping:
                    return
                for key in self._due_timers():
                    self._service(key, timer=True)
                self._maybe_rebalance()
                if self.loop._retire_if_idle(self):
                    return
            except Exception:  # a lane must outlive any one bug
                _report(sys.exc_info())

    def _timeout(self) -> float:
        with self.loop.lock:
            if not self.timers:
                return _TICK
            return min(max(self.timers[0][0] - time.monotonic(), 0.0), _TICK)

    def _due_timers(self) -> list[int]:
        due: list[int] = []
        now = time.monotonic()
        with self.loop.lock:
            while self.timers and self.timers[0][0] <= now:
                at, _, key = heapq.heappop(self.timers)
                client = self.clients.get(key)
                if client is not None and client._lane_due == at:
                    client._lane_due = None
                    due.append(key)
        return due

    def _maybe_rebalance(self) -> None:
        now = time.monotonic()
        if now - self.last_check >= _STUCK / 2:
            self.last_check = now
            self.loop._rebalance(self, now)

    def _service(self, key: int, timer: bool) -> None:
        client = self.clients.get(key)
        if client is None:
            return
        with client._dispatch_lock:
            if client._lane is not self:
                return
            self.current = client
            self.busy_since = time.monotonic()
            try:
                self._drive(client, key, timer)
            except Exception:  # as an exception ends paho's loop thread
                _report(sys.exc_info())
                self.loop.detach(client)
            finally:
                self.current = None
                self.busy_since = None

    def _drive(self, client: Client, key: int, timer: bool) -> None:
        """One ``loop_forever()`` step for ``client``: a due reconnect, or its events."""
        if timer and not client._thread_terminate:
            if client._should_exit(True):
                self.loop.detach(client)
            elif not client._lane_connecting:
                client._lane_begin_connect()
            return
        for _ in range(_MAX_BATCHES):
            if client._lane is not self:
                return
            events = client._core.next_events(0.0)
            if not events:
                break
            client._dispatch(events)
        else:
            self.core.push(key)  # more may be waiting: serve the other ready clients first
            return
        if client._lane is self:
            self._after_drain(client)

    def _after_drain(self, client: Client) -> None:
        """With the events handled: stop, connect, schedule a reconnect, or wait for more."""
        core = client._core
        if client._thread_terminate:
            if not client._wait_before_stopping():
                # The last ack can land between the drain above and that check: deliver it.
                self._last_events_then_detach(client)
            elif client._lane_due is None:
                # loop_stop() waits for acks while they keep coming (paho waits for them all,
                # which on a dead connection means until keepalive gives up); look again.
                self.loop.schedule(client, 0.05)
            return
        if client._lane_connecting or client._lane_due is not None or core.is_open():
            return
        if client._should_exit(True):
            self._last_events_then_detach(client)
            return
        if client._lane_failed:
            # paho's loop retries a failed connect with backoff, reconnect_on_failure or not.
            client._lane_failed = False
            self.loop.schedule(client, client._next_reconnect_delay())
            return
        state = client._state
        if state == _ConnectionState.MQTT_CS_CONNECT_ASYNC:
            client._lane_begin_connect()
        elif state in (_ConnectionState.MQTT_CS_NEW, _ConnectionState.MQTT_CS_CONNECTING):
            return  # not connected yet, or another thread's connect() is under way
        elif not client._reconnect_on_failure:
            self._last_events_then_detach(client)
        else:
            self.loop.schedule(client, client._next_reconnect_delay())

    def _last_events_then_detach(self, client: Client) -> None:
        """Detach a client whose connection is closed, after delivering what came with the
        close: the session queues on_disconnect's event in the same step that closes the link,
        so once is_open() is False one more drain sees it (else it would be lost with the
        client's ready-queue entry)."""
        events = client._core.next_events(0.0)
        if events:
            client._dispatch(events)
        self.loop.detach(client)


def _report(exc_info: tuple[type[BaseException], BaseException, object] | tuple[None, ...]) -> None:
    """Hand an exception to ``threading.excepthook``, as the end of a loop thread would."""
    exc_type, exc_value, exc_tb = exc_info
    if exc_type is None:
        return
    args = threading.ExceptHookArgs((exc_type, exc_value, exc_tb, threading.current_thread()))
    threading.excepthook(args)


class _SharedLoop:
    """The lanes of the process, and the client <-> lane bookkeeping (under ``lock``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lanes: list[_Lane] = []
        self._keys = itertools.count(1)
        self._seq = itertools.count()

    # --- called by Client -----------------------------------------------------------------------

    def attach(self, client: Client) -> None:
        with self.lock:
            if client._lane_key is None:
                client._lane_key = next(self._keys)
            client._lane_stopped.clear()
            self._attach_to(self._pick_lane(), client)

    def detach(self, client: Client) -> None:
        """Unpin ``client``: its events are no longer served by any lane."""
        with self.lock:
            lane = client._lane
            if lane is not None and client._lane_key is not None:
                lane.clients.pop(client._lane_key, None)
            client._core.detach()
            client._lane = None
            client._lane_due = None
            client._lane_stopped.set()

    def poke(self, client: Client) -> None:
        """Make the client's lane look at it soon (``loop_stop``, ``disconnect``)."""
        with self.lock:
            lane = client._lane
            if lane is not None and client._lane_key is not None:
                lane.core.push(client._lane_key)

    def schedule(self, client: Client, delay: float) -> None:
        """Service ``client`` (a reconnect attempt) after ``delay`` seconds."""
        with self.lock:
            lane = client._lane
            if lane is None or client._lane_key is None:
                return
            due = time.monotonic() + delay
            client._lane_due = due
            heapq.heappush(lane.timers, (due, next(self._seq), client._lane_key))
        lane.core.wakeup()

    def is_lane_thread(self) -> bool:
        current = threading.current_thread()
        return any(lane.thread is current for lane in list(self.lanes))

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop every lane and wait (up to ``timeout`` in all) for their threads to end."""
        with self.lock:
            lanes, self.lanes = self.lanes, []
            for lane in lanes:
                lane.stopping = True
                lane.core.wakeup()
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        for lane in lanes:
            if lane.thread is not current and lane.thread.is_alive():
                lane.thread.join(max(deadline - time.monotonic(), 0.0))

    # --- lanes ----------------------------------------------------------------------------------

    def _attach_to(self, lane: _Lane, client: Client) -> None:
        key = client._lane_key
        assert key is not None
        lane.clients[key] = client
        lane.idle_since = time.monotonic()
        client._lane = lane
        client._core.attach(lane.core, key)
        if client._lane_due is not None:
            heapq.heappush(lane.timers, (client._lane_due, next(self._seq), key))
            lane.core.wakeup()

    def _new_lane(self) -> _Lane:
        used = {lane.index for lane in self.lanes}
        index = next(i for i in itertools.count() if i not in used)
        lane = _Lane(self, index)
        self.lanes.append(lane)
        lane.thread.start()
        return lane

    def _pick_lane(self) -> _Lane:
        now = time.monotonic()
        lanes = self.lanes
        free = [lane for lane in lanes if not _stuck(lane, now)]
        if (
            not lanes
            or (len(lanes) < _MIN_LANES and all(lane.clients for lane in lanes))
            or (not free and len(lanes) < _MAX_LANES)
        ):
            return self._new_lane()
        return min(free or lanes, key=lambda lane: len(lane.clients))

    def _rebalance(self, checker: _Lane, now: float) -> None:
        """Move the idle clients of lanes stuck in a callback to lanes that are not."""
        with self.lock:
            if checker.clients:
                checker.idle_since = now
            stuck = [lane for lane in self.lanes if lane is not checker and _stuck(lane, now)]
            if not stuck:
                return
            free = [lane for lane in self.lanes if lane not in stuck and not lane.stopping]
            if len(free) <= 1 and len(self.lanes) < _MAX_LANES:
                free.append(self._new_lane())  # spare room in case the checker blocks too
            for lane in stuck:
                for key, client in list(lane.clients.items()):
                    if client is lane.current:
                        continue
                    del lane.clients[key]
                    self._attach_to(min(free, key=lambda lane: len(lane.clients)), client)

    def _retire_if_idle(self, lane: _Lane) -> bool:
        with self.lock:
            now = time.monotonic()
            if lane.clients:
                lane.idle_since = now
                return False
            if now - lane.idle_since < _IDLE_EXIT:
                return False
            lane.stopping = True
            lane.timers.clear()
            if lane in self.lanes:
                self.lanes.remove(lane)
            return True


def _stuck(lane: _Lane, now: float) -> bool:
    since = lane.busy_since
    return since is not None and now - since > _STUCK


_LOOP = _SharedLoop()


def shared_loop() -> _SharedLoop:
    return _LOOP


def shutdown() -> None:
    _LOOP.shutdown()


def _after_fork_in_child() -> None:
    # The parent's lane threads do not exist here; its lock may have been held at the fork.
    global _LOOP
    old, _LOOP = _LOOP, _SharedLoop()
    for lane in old.lanes:
        for client in lane.clients.values():
            client._lane = None
            client._lane_due = None
            client._lane_stopped.set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["shared_loop", "shutdown"]
