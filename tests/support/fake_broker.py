"""A scripted fake MQTT broker for packet-exact client tests.

The test drives both sides: it makes the client do something, then asserts the
exact bytes the client sent (``expect_packet``) and answers with bytes of its
choosing (``send``), usually built with :mod:`tests.support.packets`::

    fake = FakeBroker()
    client.connect(fake.host, fake.port)
    fake.accept()
    fake.expect_packet("connect", packets.connect("cid", keepalive=60))
    fake.send(packets.connack(0))

Every wait has a timeout (default 5 s) and fails with AssertionError, never hangs.
The listening socket stays open after a client leaves, so ``accept()`` can be
called again for reconnect tests.
"""

from __future__ import annotations

import select
import socket
import time

from .packets import decode_remaining_length, describe

__all__ = ["FakeBroker", "hex_diff"]

DEFAULT_TIMEOUT = 5.0


def _hex_row(data: bytes, start: int) -> str:
    chunk = data[start : start + 16]
    return " ".join(f"{b:02x}" for b in chunk).ljust(47)


def hex_diff(expected: bytes, received: bytes) -> str:
    """Side-by-side hex dump of two byte strings, 16 bytes a row, ``!`` on rows
    that differ, with the offset of the first difference."""
    first = next(
        (i for i, (a, b) in enumerate(zip(expected, received)) if a != b),
        min(len(expected), len(received)),
    )
    lines = [
        f"first difference at byte {first}",
        f"        {'expected':<47}   {'received':<47}",
    ]
    for start in range(0, max(len(expected), len(received)), 16):
        same = expected[start : start + 16] == received[start : start + 16]
        mark = " " if same else "!"
        left, right = _hex_row(expected, start), _hex_row(received, start)
        lines.append(f"{mark}{start:06x} {left} | {right}")
    return "\n".join(lines)


class FakeBroker:
    """Listens on 127.0.0.1 (port 0 -> a free port) and serves one client at a time.

    Attributes:
        host: ``"127.0.0.1"``.
        port: the listening port.
        timeout: default timeout in seconds for every wait.
    """

    host = "127.0.0.1"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self._listener.listen(5)
        self.port: int = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None
        self._buffer = bytearray()
        self.connections_accepted = 0

    def __enter__(self) -> FakeBroker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self._conn is not None else "idle"
        return f"<FakeBroker {self.host}:{self.port} {state}>"

    # -- connection management -------------------------------------------------

    def accept(self, timeout: float | None = None) -> None:
        """Wait for the next client connection (closing the current one, if any)."""
        self.close_client()
        self._listener.settimeout(self.timeout if timeout is None else timeout)
        try:
            conn, _ = self._listener.accept()
        except socket.timeout:
            raise AssertionError(
                f"no client connected to the fake broker on port {self.port}"
            ) from None
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self._buffer.clear()
        self.connections_accepted += 1

    def close_client(self) -> None:
        """Drop the current client connection (as a broker crash would)."""
        if self._conn is not None:
            try:
                self._conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._conn.close()
            self._conn = None
        self._buffer.clear()

    def close(self) -> None:
        """Close the client connection and the listening socket."""
        self.close_client()
        self._listener.close()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _require_conn(self) -> socket.socket:
        if self._conn is None:
            raise AssertionError("the fake broker has no client connection; call accept()")
        return self._conn

    # -- I/O -------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Send raw bytes to the client."""
        conn = self._require_conn()
        conn.settimeout(self.timeout)
        conn.sendall(data)

    def _fill(self, want: int, deadline: float) -> bool:
        """Read until the buffer holds ``want`` bytes; False on EOF or timeout."""
        conn = self._require_conn()
        while len(self._buffer) < want:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([conn], [], [], remaining)
            if not readable:
                return False
            try:
                chunk = conn.recv(65536)
            except ConnectionError:
                chunk = b""
            if not chunk:
                return False
            self._buffer += chunk
        return True

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def read_bytes(self, count: int, timeout: float | None = None) -> bytes:
        """Exactly ``count`` bytes, or AssertionError (with what did arrive)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if not self._fill(count, deadline):
            got = self._take(len(self._buffer))
            raise AssertionError(
                f"wanted {count} bytes, got {len(got)} before EOF/timeout: {got.hex(' ')}"
            )
        return self._take(count)

    def read_packet(self, timeout: float | None = None) -> bytes:
        """One whole MQTT packet (fixed header + remaining length + body)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        need = 2
        while True:
            if not self._fill(need, deadline):
                got = bytes(self._buffer)
                raise AssertionError(
                    f"no complete packet before EOF/timeout; partial: {got.hex(' ') or 'none'}"
                )
            try:
                length, used = decode_remaining_length(self._buffer)
            except ValueError as exc:
                if "incomplete" not in str(exc):
                    raise AssertionError(f"{exc}: {bytes(self._buffer).hex(' ')}") from None
                need = len(self._buffer) + 1
                continue
            if self._fill(1 + used + length, deadline):
                return self._take(1 + used + length)
            need = 1 + used + length

    def expect_packet(self, name: str, expected: bytes, timeout: float | None = None) -> None:
        """Read exactly ``len(expected)`` bytes and assert they equal ``expected``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        complete = self._fill(len(expected), deadline)
        received = self._take(len(expected) if complete else len(self._buffer))
        if received == expected:
            return
        why = "" if complete else " (connection closed or timed out first)"
        raise AssertionError(
            f"{name}: packet mismatch{why}\n"
            f"  expected: {describe(expected)}\n"
            f"  received: {describe(received)}\n" + hex_diff(expected, received)
        )

    def expect_no_packet(self, duration: float = 0.5) -> None:
        """Assert the client sends nothing (and keeps the connection) for ``duration`` s."""
        conn = self._require_conn()
        if self._buffer:
            raise AssertionError(f"unexpected data: {describe(bytes(self._buffer))}")
        readable, _, _ = select.select([conn], [], [], duration)
        if readable:
            data = conn.recv(65536)
            if not data:
                raise AssertionError("the client closed the connection")
            raise AssertionError(f"unexpected data: {describe(data)}")

    def expect_closed(self, timeout: float | None = None) -> None:
        """Assert the client closes the connection (EOF) with no further bytes."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if self._fill(len(self._buffer) + 1, deadline):
            raise AssertionError(f"expected EOF, got data: {describe(bytes(self._buffer))}")
        if time.monotonic() >= deadline:
            raise AssertionError("the client did not close the connection in time")
        if self._buffer:
            raise AssertionError(f"expected EOF, got data: {describe(bytes(self._buffer))}")
        self.close_client()
