"""A fault-injecting TCP proxy on 127.0.0.1, for the reliability tests.

Put it between a client and a broker; the client connects to :attr:`FaultProxy.port`,
every accepted connection gets its own upstream connection to ``(upstream_host,
upstream_port)``, and two pump threads copy bytes both ways. At any time the test can::

    proxy.cut()             # close every current connection, both directions (RST-free FIN)
    proxy.blackhole(True)   # keep connections open but forward nothing (bytes are swallowed)
    proxy.delay(0.2)        # hold every chunk 0.2 s before forwarding it (0: off)
    proxy.trickle(True)     # forward one byte per send() (TCP_NODELAY), to split packets
    proxy.refuse(True)      # close new connections at once (a broker that is "down")

and read counters: :attr:`connections` (accepted so far), :attr:`active` (open now),
:attr:`cuts`, :attr:`bytes_up` (client -> broker, forwarded), :attr:`bytes_down`
(broker -> client, forwarded), :attr:`bytes_dropped` (swallowed by the black hole).

The faults apply to current and future connections alike. Everything is bounded: the
pump threads poll their sockets with a short select() timeout so a flag change or a
:meth:`close` takes effect within :data:`POLL` seconds, and :meth:`close` joins every
thread with a timeout. Only loopback is used.
"""

from __future__ import annotations

import select
import socket
import threading
import time

__all__ = ["POLL", "FaultProxy"]

HOST = "127.0.0.1"
#: Seconds between checks of the fault flags in every pump thread.
POLL = 0.02
_CHUNK = 65536


class _Link:
    """One proxied connection: client socket, upstream socket, two pump threads."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self._close_lock = threading.Lock()
        self.threads = [
            threading.Thread(
                target=self._pump, args=(client, upstream, "up"), name="faultproxy-up", daemon=True
            ),
            threading.Thread(
                target=self._pump,
                args=(upstream, client, "down"),
                name="faultproxy-down",
                daemon=True,
            ),
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def close(self) -> None:
        with self._close_lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.proxy._forget(self)

    def _send(self, dst: socket.socket, data: bytes, direction: str) -> bool:
        p = self.proxy
        if p._delay > 0:
            deadline = time.monotonic() + p._delay
            while not self.closed.is_set() and time.monotonic() < deadline:
                time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        if p._blackhole:  # switched on while we held the chunk
            p._count("bytes_dropped", len(data))
            return True
        try:
            if p._trickle:
                for i in range(len(data)):
                    if self.closed.is_set():
                        return False
                    dst.sendall(data[i : i + 1])
                    p._count(f"bytes_{direction}", 1)
                    if p._trickle_gap:
                        time.sleep(p._trickle_gap)
            else:
                dst.sendall(data)
                p._count(f"bytes_{direction}", len(data))
        except OSError:
            return False
        return True

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while not self.closed.is_set():
                try:
                    readable, _, _ = select.select([src], [], [], POLL)
                except (OSError, ValueError):  # closed under us
                    break
                if not readable:
                    continue
                try:
                    data = src.recv(_CHUNK)
                except OSError:
                    break
                if not data:
                    break
                if self.proxy._blackhole:
                    self.proxy._count("bytes_dropped", len(data))
                    continue
                if not self._send(dst, data, direction):
                    break
        finally:
            self.close()


class FaultProxy:
    """TCP proxy ``127.0.0.1:port`` -> ``upstream_host:upstream_port`` with fault injection."""

    host = HOST

    def __init__(self, upstream_port: int, upstream_host: str = HOST) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._all_threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._blackhole = False
        self._delay = 0.0
        self._trickle = False
        self._trickle_gap = 0.0
        self._refuse = False
        self.connections = 0
        self.refused = 0
        self.cuts = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.bytes_dropped = 0
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="faultproxy-accept", daemon=True
        )
        self._acceptor.start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<FaultProxy :{self.port} -> {self.upstream[1]} active={self.active} "
            f"connections={self.connections} cuts={self.cuts} up={self.bytes_up} "
            f"down={self.bytes_down} dropped={self.bytes_dropped}>"
        )

    # -- fault controls ---------------------------------------------------------

    def cut(self) -> int:
        """Close every current connection (both directions). Returns how many were cut."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()
        if links:
            with self._lock:
                self.cuts += 1
        return len(links)

    def blackhole(self, on: bool = True) -> None:
        """Keep connections open but forward nothing (what arrives is read and dropped)."""
        self._blackhole = bool(on)

    def delay(self, seconds: float) -> None:
        """Hold every chunk ``seconds`` before forwarding it (0 switches it off)."""
        if seconds < 0:
            raise ValueError("delay must be >= 0")
        self._delay = float(seconds)

    def trickle(self, on: bool = True, gap: float = 0.0) -> None:
        """Forward one byte per send() (with ``gap`` seconds between bytes)."""
        self._trickle = bool(on)
        self._trickle_gap = float(gap)

    def refuse(self, on: bool = True) -> None:
        """Accept and close new connections at once, as if nothing were listening."""
        self._refuse = bool(on)

    # -- counters ---------------------------------------------------------------

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._links)

    def _count(self, name: str, n: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def wait_active(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` connections are open; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.active < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL)
        return True

    # -- plumbing ---------------------------------------------------------------

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                readable, _, _ = select.select([self._listener], [], [], POLL * 5)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            if self._refuse:
                with self._lock:
                    self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=2.0)
            except OSError:  # broker down: the client sees its connection closed
                with self._lock:
                    self.refused += 1
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(5.0)  # bounds sendall() to a peer that stopped reading
            link = _Link(self, client, upstream)
            with self._lock:
                if self._closing.is_set():
                    link.close()
                    return
                self._links.add(link)
                self.connections += 1
                self._all_threads = [t for t in self._all_threads if t.is_alive()]
                self._all_threads += link.threads
            link.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, cut everything, join every thread (bounded by ``timeout``)."""
        self._closing.set()
        self._listener.close()
        self._acceptor.join(timeout)
        with self._lock:
            links = list(self._links)
            threads = list(self._all_threads)
        for link in links:
            link.close()
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()] + (
            ["faultproxy-accept"] if self._acceptor.is_alive() else []
        )
        if alive:
            raise RuntimeError(f"FaultProxy threads still alive after close(): {alive}")
