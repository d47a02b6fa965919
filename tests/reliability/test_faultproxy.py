"""The fault proxy itself, against a plain echo server: forwarding, cut, black hole,
delay, trickle, refuse, counters, and a clean close."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Generator

import pytest
from support.faultproxy import FaultProxy

from .util import wait_until


@pytest.fixture
def echo_port() -> Generator[int, None, None]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        conn.settimeout(0.1)
        while not stop.is_set():
            try:
                data = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            conn.sendall(data)
        conn.close()

    def accept() -> None:
        workers = []
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            conns.append(conn)
            w = threading.Thread(target=serve, args=(conn,), daemon=True)
            w.start()
            workers.append(w)
        for w in workers:
            w.join(2)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    yield listener.getsockname()[1]
    stop.set()
    acceptor.join(3)
    listener.close()


def _client(proxy: FaultProxy) -> socket.socket:
    s = socket.create_connection((proxy.host, proxy.port), timeout=2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assert proxy.wait_active(1, 2)
    return s


def _recv_exactly(s: socket.socket, n: int, timeout: float = 2.0) -> bytes:
    s.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def test_forwards_both_ways_and_counts(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _client(proxy) as s:
        s.sendall(b"hello")
        assert _recv_exactly(s, 5) == b"hello"
        # the counters move right after each sendall(): give the pump a moment
        assert wait_until(lambda: proxy.bytes_down == 5, 2)
        assert proxy.connections == 1 and proxy.bytes_up == 5 and proxy.bytes_down == 5


def test_cut_closes_both_directions(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _client(proxy) as s:
        assert proxy.cut() == 1
        s.settimeout(2)
        assert s.recv(10) == b""  # EOF, not a timeout
        assert proxy.cuts == 1 and proxy.active == 0
        with _client(proxy) as again:  # new connections still work
            again.sendall(b"x")
            assert _recv_exactly(again, 1) == b"x"


def test_blackhole_keeps_the_connection_but_forwards_nothing(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _client(proxy) as s:
        proxy.blackhole(True)
        s.sendall(b"lost")
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recv(10)
        assert proxy.active == 1 and proxy.bytes_dropped == 4
        proxy.blackhole(False)
        s.sendall(b"back")
        assert _recv_exactly(s, 4) == b"back"


def test_delay_holds_data(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _client(proxy) as s:
        proxy.delay(0.2)
        started = time.monotonic()
        s.sendall(b"slow")
        assert _recv_exactly(s, 4) == b"slow"
        assert time.monotonic() - started >= 0.38  # held on the way up and on the way down


def test_trickle_splits_into_single_bytes(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy, _client(proxy) as s:
        proxy.trickle(True, gap=0.002)
        s.sendall(b"0123456789")
        s.settimeout(2)
        first = s.recv(100)
        assert len(first) < 10  # the echo came back in pieces
        rest = _recv_exactly(s, 10 - len(first))
        assert first + rest == b"0123456789"


def test_refuse_closes_new_connections(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        proxy.refuse(True)
        with socket.create_connection((proxy.host, proxy.port), timeout=2) as s:
            s.settimeout(2)
            assert s.recv(1) == b""
        assert proxy.refused == 1 and proxy.connections == 0


def test_close_leaves_no_thread() -> None:
    before = {t.ident for t in threading.enumerate()}
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    proxy = FaultProxy(listener.getsockname()[1])
    s = socket.create_connection((proxy.host, proxy.port), timeout=2)
    assert proxy.wait_active(1, 2)
    proxy.close()
    s.close()
    listener.close()
    left = [t.name for t in threading.enumerate() if t.ident not in before]
    assert left == []
