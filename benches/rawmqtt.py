"""Raw-socket MQTT 3.1.1 publisher and subscriber with no client library: the reference
row of ``bench_clients.py`` and the independent counterpart of every throughput scenario.

A tiny hand-written encoder (CONNECT, SUBSCRIBE, PUBLISH QoS 0, DISCONNECT) and a
packet walker that only reads the fixed header of each incoming packet, so both sides
cost as little Python as possible and are the same whichever client is under test.

* :func:`publish_flood` sends ``count`` QoS 0 PUBLISH packets, many per ``sendall``.
* ``python benches/rawmqtt.py sub --port P --topic T --count N`` subscribes at QoS 0,
  prints ``ready`` once the SUBACK is in, counts PUBLISH packets until ``N`` arrived
  (or nothing came for ``--idle`` seconds) and prints one JSON line: ``count``,
  ``first`` and ``last`` (``time.monotonic()`` of the first and last arrival; the
  clock is system-wide on Linux, so the parent can compare it with its own).
* ``python benches/rawmqtt.py pub --port P --topic T --count N --size S`` floods.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from typing import Callable

HOST = "127.0.0.1"


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(s: bytes) -> bytes:
    return len(s).to_bytes(2, "big") + s


def connect_packet(client_id: str, keepalive: int = 0) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, no will or credentials."""
    body = _string(b"MQTT") + bytes([4, 0x02]) + keepalive.to_bytes(2, "big")
    body += _string(client_id.encode())
    return b"\x10" + _remaining_length(len(body)) + body


def subscribe_packet(topic: str, qos: int = 0, mid: int = 1) -> bytes:
    body = mid.to_bytes(2, "big") + _string(topic.encode()) + bytes([qos])
    return b"\x82" + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes) -> bytes:
    """PUBLISH at QoS 0 (no packet id)."""
    body = _string(topic.encode()) + payload
    return b"\x30" + _remaining_length(len(body)) + body


DISCONNECT = b"\xe0\x00"


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def read_packet(sock: socket.socket) -> tuple[int, bytes]:
    first = _read_exact(sock, 1)[0]
    length, shift = 0, 0
    while True:
        byte = _read_exact(sock, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first, _read_exact(sock, length)


def open_session(port: int, client_id: str) -> socket.socket:
    """TCP connect, CONNECT, wait for a successful CONNACK."""
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(client_id))
    first, body = read_packet(sock)
    if first != 0x20 or body[1] != 0:
        raise ConnectionError(f"CONNACK refused: {first:#x} {body!r}")
    return sock


def publish_flood(sock: socket.socket, topic: str, payload: bytes, count: int) -> None:
    """``count`` QoS 0 PUBLISHes, batched into ~256 KiB ``sendall`` calls."""
    packet = publish_packet(topic, payload)
    per_batch = max(1, (256 * 1024) // len(packet))
    batch = packet * per_batch
    sent = 0
    while sent + per_batch <= count:
        sock.sendall(batch)
        sent += per_batch
    if count > sent:
        sock.sendall(packet * (count - sent))


def close_session(sock: socket.socket) -> None:
    """DISCONNECT, then wait for the broker to close (so everything sent was read)."""
    try:
        sock.sendall(DISCONNECT)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except OSError:
        pass
    sock.close()


def subscribe_and_count(
    port: int,
    topic: str,
    count: int,
    idle: float,
    deadline: float,
    on_ready: Callable[[], None] | None = None,
    packet_len: int = 0,
) -> dict[str, float]:
    """Subscribe at QoS 0, announce readiness (``on_ready()``, default: print ``ready``),
    count PUBLISH packets; see the module doc.

    With ``packet_len`` (every message has the same topic and payload size, and a QoS 0
    subscription gets nothing but those PUBLISH packets) arrivals are counted from the
    byte total, with no Python work per message, so the counter is never the bottleneck.
    """
    sock = open_session(port, f"rawsub-{os.getpid()}")
    sock.sendall(subscribe_packet(topic))
    first_byte, body = read_packet(sock)
    if first_byte != 0x90 or body[2:] != b"\x00":
        raise ConnectionError(f"SUBACK refused: {first_byte:#x} {body!r}")
    if on_ready is None:
        print("ready", flush=True)
    else:
        on_ready()
    sock.settimeout(idle)
    if packet_len:
        got, first, last = _count_fixed(sock, count, packet_len, deadline)
    else:
        got, first, last = _count_walking(sock, count, deadline)
    sock.close()
    return {"count": got, "first": first, "last": last}


def _count_fixed(
    sock: socket.socket, count: int, packet_len: int, deadline: float
) -> tuple[int, float, float]:
    buf = bytearray(4 * 1024 * 1024)
    total, need = 0, count * packet_len
    first = last = 0.0
    stop_at = time.monotonic() + deadline
    while total < need and time.monotonic() < stop_at:
        try:
            n = sock.recv_into(buf)
        except socket.timeout:
            if total:
                break  # no more messages are coming
            continue
        if not n:
            break
        last = time.monotonic()
        if not total:
            first = last
            if buf[0] != 0x30:
                raise ValueError(f"expected a QoS 0 PUBLISH, got packet type {buf[0]:#x}")
        total += n
    return total // packet_len, first, last


def _count_walking(sock: socket.socket, count: int, deadline: float) -> tuple[int, float, float]:
    buf = bytearray(4 * 1024 * 1024)
    view = memoryview(buf)
    pending = 0  # bytes of buf not yet walked, starting at 0
    got = 0
    first = last = 0.0
    stop_at = time.monotonic() + deadline
    while got < count and time.monotonic() < stop_at:
        if pending == len(buf):  # one packet bigger than the buffer
            view.release()
            buf.extend(bytearray(len(buf)))
            view = memoryview(buf)
        try:
            n = sock.recv_into(view[pending:])
        except socket.timeout:
            if got:
                break  # no more messages are coming
            continue
        if not n:
            break
        now = time.monotonic()
        if not first:
            first = now
        end = pending + n
        pos = 0
        while True:
            # fixed header: type byte, 1-4 byte remaining length
            if end - pos < 2:
                break
            length, shift, i = 0, 0, pos + 1
            complete = False
            while i < end:
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if not byte & 0x80:
                    complete = True
                    break
            if not complete or i + length > end:
                break
            if buf[pos] >> 4 == 3:
                got += 1
            pos = i + length
        last = now
        pending = end - pos
        if pos:
            buf[:pending] = buf[pos:end]
    return got, first, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["sub", "pub"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--size", type=int, default=16, help="payload size; 0: walk packets")
    parser.add_argument("--idle", type=float, default=3.0)
    parser.add_argument("--deadline", type=float, default=120.0)
    args = parser.parse_args()
    if args.mode == "sub":
        packet_len = len(publish_packet(args.topic, b"x" * args.size)) if args.size else 0
        result = subscribe_and_count(
            args.port, args.topic, args.count, args.idle, args.deadline, packet_len=packet_len
        )
        print(json.dumps(result), flush=True)
    else:
        sock = open_session(args.port, f"rawpub-{os.getpid()}")
        publish_flood(sock, args.topic, b"x" * args.size, args.count)
        close_session(sock)
    sys.exit(0)


if __name__ == "__main__":
    main()
