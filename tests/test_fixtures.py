"""The shared fixtures work: each is exercised with paho-mqtt as the client.

These tests check the test infrastructure itself (certs, mosquitto listeners,
fresh_broker restarts, the fake broker and the packet builders), so a failure in a
turbomqtt test can be blamed on turbomqtt, not on the harness.
"""

from __future__ import annotations

import base64
import gc
import queue
import socket
import ssl
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from support import broker as broker_mod
from support import packets
from support.broker import LISTENERS, MosquittoBroker
from support.certs import TLSFiles
from support.fake_broker import FakeBroker

WAIT = 5.0  # seconds; every wait in this file is bounded by it

# paho leaks its socket when the TLS handshake fails inside connect(); the
# ResourceWarning would turn into an error (filterwarnings = error). Tests that make
# paho's handshake fail carry this mark and collect the garbage themselves.
paho_leaks_socket_on_tls_failure = pytest.mark.filterwarnings("ignore::ResourceWarning")


def collect_leaked_sockets() -> None:
    gc.collect()


class Probe:
    """A paho client wired to threading events, for short connect/pub/sub checks."""

    def __init__(
        self, transport: str = "tcp", client_id: str | None = None, reconnect: bool = True
    ) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"probe-{uuid.uuid4().hex[:12]}",
            protocol=MQTTProtocolVersion.MQTTv311,
            transport=transport,  # type: ignore[arg-type]
            reconnect_on_failure=reconnect,
        )
        self.client.reconnect_delay_set(1, 1)
        self.connects: queue.Queue[Any] = queue.Queue()
        self.disconnects: queue.Queue[Any] = queue.Queue()
        self.subacks: queue.Queue[Any] = queue.Queue()
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self.client.on_connect = lambda c, u, f, rc, p: self.connects.put(rc)
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnects.put(rc)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(rcs)
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        self._started = False

    def begin(self, host: str, port: int = 1883, keepalive: int = 30) -> None:
        """connect() + loop_start(), without waiting for the CONNACK."""
        self.client.connect(host, port, keepalive=keepalive)
        self.client.loop_start()
        self._started = True

    def start(self, host: str, port: int = 1883) -> Any:
        """begin(), then the CONNACK reason code, or None if the connection
        dropped first."""
        self.begin(host, port)
        return self.wait_connect_or_disconnect()

    def wait_connect_or_disconnect(self, timeout: float = WAIT) -> Any:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                try:
                    return self.connects.get(timeout=0.05)
                except queue.Empty:
                    pass
                if not self.disconnects.empty():
                    return None
            raise AssertionError(f"no CONNACK and no disconnect within {timeout} s")
        finally:
            timer.cancel()

    def roundtrip(self, topic: str, payload: bytes = b"hello") -> None:
        """Subscribe, publish QoS 1 to ourselves, and receive it."""
        self.client.subscribe(topic, qos=1)
        assert not self.subacks.get(timeout=WAIT)[0].is_failure
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=WAIT)
        assert info.is_published()
        message = self.messages.get(timeout=WAIT)
        assert (message.topic, message.payload, message.qos) == (topic, payload, 1)

    def stop(self) -> None:
        if self._started:
            self.client.disconnect()
            self.client.loop_stop()
            self._started = False


@pytest.fixture
def probe() -> Any:
    made: list[Probe] = []

    def make(transport: str = "tcp", client_id: str | None = None, reconnect: bool = True) -> Probe:
        made.append(Probe(transport, client_id, reconnect))
        return made[-1]

    yield make
    for p in made:
        p.stop()


# -- certificates ---------------------------------------------------------------


def test_certificates_have_the_expected_names(tls_files: TLSFiles) -> None:
    def san(path: Path) -> set[str]:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return {str(v) for v in ext.get_values_for_type(x509.DNSName)} | {
            str(v) for v in ext.get_values_for_type(x509.IPAddress)
        }

    assert san(tls_files.server_cert) == {"localhost", "127.0.0.1"}
    assert san(tls_files.wrong_host_cert) == {"wrong.example"}
    encrypted = tls_files.client_key_encrypted.read_bytes()
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        load_pem_private_key(encrypted, password=None)
    key = load_pem_private_key(encrypted, tls_files.client_key_password.encode())
    clear = load_pem_private_key(tls_files.client_key.read_bytes(), password=None)
    assert key.public_key() == clear.public_key()


def test_python_ssl_trusts_our_ca_only(tls_files: TLSFiles, broker: MosquittoBroker) -> None:
    good = ssl.create_default_context(cafile=str(tls_files.ca_cert))
    with socket.create_connection((broker.host, broker.tls_port), timeout=WAIT) as raw:
        with good.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    rogue = ssl.create_default_context(cafile=str(tls_files.rogue_ca_cert))
    with socket.create_connection((broker.host, broker.tls_port), timeout=WAIT) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            rogue.wrap_socket(raw, server_hostname="127.0.0.1")


# -- mosquitto listeners --------------------------------------------------------


def test_broker_listens_on_loopback_only(broker: MosquittoBroker) -> None:
    assert broker.host == "127.0.0.1"
    assert set(broker.ports) == set(LISTENERS)
    assert len(set(broker.ports.values())) == len(LISTENERS)
    config = broker.config_path.read_text()
    for name, port in broker.ports.items():
        assert f"listener {port} 127.0.0.1\n" in config, name
    assert broker.unix_path.exists()


def test_plain_roundtrip(broker: MosquittoBroker, probe: Any, unique_topic: str) -> None:
    p = probe()
    assert p.start(broker.host, broker.port) == 0
    p.roundtrip(unique_topic)


def test_tls_roundtrip(
    broker: MosquittoBroker, tls_files: TLSFiles, probe: Any, unique_topic: str
) -> None:
    p = probe()
    p.client.tls_set(ca_certs=str(tls_files.ca_cert))
    assert p.start(broker.host, broker.tls_port) == 0
    p.roundtrip(unique_topic)


@paho_leaks_socket_on_tls_failure
def test_tls_with_rogue_ca_fails_verification(
    broker: MosquittoBroker, tls_files: TLSFiles, probe: Any
) -> None:
    p = probe()
    p.client.tls_set(ca_certs=str(tls_files.rogue_ca_cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        p.client.connect(broker.host, broker.tls_port)
    collect_leaked_sockets()


@pytest.mark.parametrize("encrypted", [False, True], ids=["clear-key", "encrypted-key"])
def test_mutual_tls_with_client_cert(
    broker: MosquittoBroker, tls_files: TLSFiles, probe: Any, unique_topic: str, encrypted: bool
) -> None:
    p = probe()
    if encrypted:
        p.client.tls_set(
            ca_certs=str(tls_files.ca_cert),
            certfile=str(tls_files.client_cert),
            keyfile=str(tls_files.client_key_encrypted),
            keyfile_password=tls_files.client_key_password,
        )
    else:
        p.client.tls_set(
            ca_certs=str(tls_files.ca_cert),
            certfile=str(tls_files.client_cert),
            keyfile=str(tls_files.client_key),
        )
    assert p.start(broker.host, broker.mtls_port) == 0
    p.roundtrip(unique_topic)


@pytest.mark.parametrize("client_cert", ["none", "rogue"])
@paho_leaks_socket_on_tls_failure
def test_mutual_tls_refuses_missing_or_rogue_client_cert(
    broker: MosquittoBroker, tls_files: TLSFiles, probe: Any, client_cert: str
) -> None:
    p = probe(reconnect=False)  # one attempt is enough
    if client_cert == "rogue":
        p.client.tls_set(
            ca_certs=str(tls_files.ca_cert),
            certfile=str(tls_files.rogue_client_cert),
            keyfile=str(tls_files.rogue_client_key),
        )
    else:
        p.client.tls_set(ca_certs=str(tls_files.ca_cert))
    try:
        rc = p.start(broker.host, broker.mtls_port)
    except (ssl.SSLError, OSError):
        collect_leaked_sockets()
        return  # TLS 1.2: the handshake itself fails
    # TLS 1.3: the client finishes its handshake first, then the broker's alert
    # arrives and the connection drops without a CONNACK.
    assert rc is None


def test_websockets_roundtrip(broker: MosquittoBroker, probe: Any, unique_topic: str) -> None:
    p = probe(transport="websockets")
    assert p.start(broker.host, broker.ws_port) == 0
    p.roundtrip(unique_topic)


def test_websockets_over_tls_roundtrip(
    broker: MosquittoBroker, tls_files: TLSFiles, probe: Any, unique_topic: str
) -> None:
    p = probe(transport="websockets")
    p.client.tls_set(ca_certs=str(tls_files.ca_cert))
    assert p.start(broker.host, broker.wss_port) == 0
    p.roundtrip(unique_topic)


def test_unix_socket_roundtrip(broker: MosquittoBroker, probe: Any, unique_topic: str) -> None:
    p = probe(transport="unix")
    assert p.start(str(broker.unix_path)) == 0
    p.roundtrip(unique_topic)


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def _recv_packet(sock: socket.socket) -> bytes:
    header = _recv_exact(sock, 2)
    while header[-1] & 0x80:  # remaining length continues
        header += _recv_exact(sock, 1)
    length, _ = packets.decode_remaining_length(header)
    return header + _recv_exact(sock, length)


def test_unix_socket_with_raw_packets(broker: MosquittoBroker, unique_topic: str) -> None:
    """The Unix listener, and the packet builders, against the real broker
    (independent of paho's version: paho has transport="unix" only since 2.1)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(WAIT)
        sock.connect(str(broker.unix_path))
        sock.sendall(packets.connect("raw-unix", keepalive=10))
        assert _recv_packet(sock) == packets.connack(0)
        sock.sendall(packets.subscribe(1, unique_topic, 1))
        assert _recv_packet(sock) == packets.suback(1, 1)
        sock.sendall(packets.publish(unique_topic, b"raw", qos=1, mid=2))
        got = {_recv_packet(sock), _recv_packet(sock)}  # order is the broker's choice
        assert got == {packets.puback(2), packets.publish(unique_topic, b"raw", qos=1, mid=1)}
        sock.sendall(packets.puback(1) + packets.disconnect())
        assert sock.recv(1) == b""


def test_listeners_share_one_message_space(
    broker: MosquittoBroker, tls_files: TLSFiles, probe: Any, unique_topic: str
) -> None:
    subscriber = probe(transport="websockets")
    assert subscriber.start(broker.host, broker.ws_port) == 0
    subscriber.client.subscribe(unique_topic, qos=1)
    subscriber.subacks.get(timeout=WAIT)
    publisher = probe()
    publisher.client.tls_set(ca_certs=str(tls_files.ca_cert))
    assert publisher.start(broker.host, broker.tls_port) == 0
    publisher.client.publish(unique_topic, b"across", qos=1).wait_for_publish(WAIT)
    assert subscriber.messages.get(timeout=WAIT).payload == b"across"


@paho_leaks_socket_on_tls_failure
def test_wrong_host_listener_fails_verification(
    broker: MosquittoBroker, tls_files: TLSFiles, probe: Any
) -> None:
    p = probe()
    p.client.tls_set(ca_certs=str(tls_files.ca_cert))
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch"):
        p.client.connect(broker.host, broker.wrong_host_port)
    collect_leaked_sockets()


def test_wrong_host_listener_passes_with_tls_insecure(
    broker: MosquittoBroker, tls_files: TLSFiles, probe: Any, unique_topic: str
) -> None:
    p = probe()
    p.client.tls_set(ca_certs=str(tls_files.ca_cert))
    p.client.tls_insecure_set(True)
    assert p.start(broker.host, broker.wrong_host_port) == 0
    p.roundtrip(unique_topic)


def test_password_listener_accepts_right_password(
    broker: MosquittoBroker, probe: Any, unique_topic: str
) -> None:
    p = probe()
    p.client.username_pw_set(broker.username, broker.password)
    assert p.start(broker.host, broker.auth_port) == 0
    p.roundtrip(unique_topic)


@pytest.mark.parametrize("credentials", ["wrong-password", "anonymous"])
def test_password_listener_refuses(broker: MosquittoBroker, probe: Any, credentials: str) -> None:
    p = probe(reconnect=False)
    if credentials == "wrong-password":
        p.client.username_pw_set(broker.username, "not the password")
    rc = p.start(broker.host, broker.auth_port)
    # MQTT 3.1.1 CONNACK return code 5; paho 2 reports it as "Not authorized" (0x87).
    assert rc is not None
    assert rc.is_failure
    assert rc == "Not authorized"


def test_password_hash_fallback_matches_mosquitto_passwd(broker: MosquittoBroker) -> None:
    """Our $7$ writer (used when mosquitto_passwd is absent) agrees with the tool."""
    line = broker.password_file.read_text().strip()
    user, _, rest = line.partition(":")
    _, seven, iterations, salt, _ = rest.split("$")
    assert (user, seven) == (broker.username, "7")
    ours = broker_mod.mosquitto_password_line(
        user, broker.password, salt=base64.b64decode(salt), iterations=int(iterations)
    )
    assert ours == line


def test_missing_mosquitto_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_mod.os, "access", lambda *a, **k: False)
    with pytest.raises(broker_mod.BrokerError, match="mosquitto is not installed"):
        broker_mod.find_mosquitto()


# -- fresh_broker ---------------------------------------------------------------


def test_fresh_broker_kill_and_start_keep_ports(fresh_broker: MosquittoBroker, probe: Any) -> None:
    ports = dict(fresh_broker.ports)
    p = probe()
    assert p.start(fresh_broker.host, fresh_broker.port) == 0
    first_pid = fresh_broker.pid

    fresh_broker.kill()
    assert not fresh_broker.is_running()
    assert p.disconnects.get(timeout=WAIT).is_failure  # dropped, no DISCONNECT
    fresh_broker.start()
    assert fresh_broker.ports == ports
    assert fresh_broker.pid != first_pid
    # paho's own reconnect (1 s delay) finds the broker on the same port.
    assert p.connects.get(timeout=WAIT) == 0
    p.roundtrip(f"fresh/{uuid.uuid4().hex}")


def test_fresh_broker_graceful_stop_and_restart(fresh_broker: MosquittoBroker, probe: Any) -> None:
    ports = dict(fresh_broker.ports)
    fresh_broker.stop()
    with pytest.raises(OSError):
        socket.create_connection((fresh_broker.host, fresh_broker.port), timeout=1).close()
    fresh_broker.start()
    assert fresh_broker.ports == ports
    p = probe(transport="unix")
    assert p.start(str(fresh_broker.unix_path)) == 0


# -- fake broker and packet builders ----------------------------------------------


def test_paho_connect_bytes_match_builder(fake_broker: FakeBroker, probe: Any) -> None:
    p = probe(client_id="turbomqtt-fixture")
    p.begin(fake_broker.host, fake_broker.port, keepalive=60)
    fake_broker.accept()
    fake_broker.expect_packet("connect", packets.connect("turbomqtt-fixture", keepalive=60))
    fake_broker.send(packets.connack(0))
    assert p.connects.get(timeout=WAIT) == 0


def test_paho_connect_with_credentials_and_will(fake_broker: FakeBroker, probe: Any) -> None:
    p = probe(client_id="will-client")
    p.client.username_pw_set("user", "pass")
    p.client.will_set("will/topic", b"gone", qos=1, retain=True)
    p.begin(fake_broker.host, fake_broker.port, keepalive=15)
    fake_broker.accept()
    expected = packets.connect(
        "will-client",
        keepalive=15,
        username="user",
        password="pass",
        will_topic="will/topic",
        will_payload=b"gone",
        will_qos=1,
        will_retain=True,
    )
    fake_broker.expect_packet("connect", expected)


def test_fake_broker_scripted_session(fake_broker: FakeBroker, probe: Any) -> None:
    """A scripted PUBLISH reaches paho; paho's PUBACK/SUBSCRIBE/DISCONNECT bytes match;
    a dropped connection is followed by a reconnect on the same listener."""
    p = probe(client_id="scripted")
    p.begin(fake_broker.host, fake_broker.port, keepalive=60)
    fake_broker.accept()
    fake_broker.expect_packet("connect", packets.connect("scripted", keepalive=60))
    fake_broker.send(packets.connack(0))
    assert p.connects.get(timeout=WAIT) == 0

    fake_broker.send(packets.publish("a/b", b"scripted payload", qos=1, mid=7))
    message = p.messages.get(timeout=WAIT)
    assert (message.topic, message.payload, message.qos, message.mid) == (
        "a/b",
        b"scripted payload",
        1,
        7,
    )
    fake_broker.expect_packet("puback", packets.puback(7))

    _, mid = p.client.subscribe("x/#", qos=2)
    assert fake_broker.read_packet() == packets.subscribe(mid, "x/#", 2)
    fake_broker.send(packets.suback(mid, 2))
    assert [rc.value for rc in p.subacks.get(timeout=WAIT)] == [2]

    fake_broker.close_client()
    assert p.disconnects.get(timeout=WAIT).is_failure
    fake_broker.accept()  # paho reconnects after its 1 s delay
    assert fake_broker.connections_accepted == 2
    fake_broker.expect_packet("reconnect", packets.connect("scripted", keepalive=60))
    fake_broker.send(packets.connack(0))
    assert p.connects.get(timeout=WAIT) == 0

    p.client.disconnect()
    fake_broker.expect_packet("disconnect", packets.disconnect())
    fake_broker.expect_closed()
    p.stop()


def test_expect_packet_reports_a_hex_diff(fake_broker: FakeBroker) -> None:
    with socket.create_connection((fake_broker.host, fake_broker.port), timeout=WAIT) as raw:
        fake_broker.accept()
        raw.sendall(packets.publish("a/b", b"x", qos=1, mid=2))
        with pytest.raises(AssertionError) as excinfo:
            fake_broker.expect_packet("publish", packets.publish("a/b", b"x", qos=1, mid=1))
    text = str(excinfo.value)
    assert "publish: packet mismatch" in text
    assert "first difference at byte 8" in text
    assert "mid=1" in text and "mid=2" in text


def test_read_packet_handles_split_and_long_packets(fake_broker: FakeBroker) -> None:
    big = packets.publish("t", b"p" * 20_000, qos=0)  # 3-byte remaining length
    with socket.create_connection((fake_broker.host, fake_broker.port), timeout=WAIT) as raw:
        fake_broker.accept()
        raw.sendall(big[:2])
        raw.sendall(big[2:] + packets.pingreq())
        assert fake_broker.read_packet() == big
        assert fake_broker.read_packet() == packets.pingreq()
        fake_broker.expect_no_packet(0.1)
    fake_broker.expect_closed()
    with pytest.raises(AssertionError, match="no client connected"):
        fake_broker.accept(timeout=0.1)


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_spec_vectors(length: int, encoded: bytes) -> None:
    # MQTT 3.1.1 table 2.4
    assert packets.encode_remaining_length(length) == encoded
    assert packets.decode_remaining_length(b"\x30" + encoded) == (length, len(encoded))


def test_packet_builders_by_hand() -> None:
    assert packets.connect("c", keepalive=10) == (b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x0a\x00\x01c")
    assert packets.connect("c", clean_session=False, protocol_level=3) == (
        b"\x10\x0f\x00\x06MQIsdp\x03\x00\x00\x3c\x00\x01c"
    )
    assert packets.connack(5, session_present=True) == b"\x20\x02\x01\x05"
    assert packets.publish("a", b"x", qos=2, mid=258, dup=True, retain=True) == (
        b"\x3d\x06\x00\x01a\x01\x02x"
    )
    assert packets.publish("a") == b"\x30\x03\x00\x01a"
    assert packets.puback(1) == b"\x40\x02\x00\x01"
    assert packets.pubrec(1) == b"\x50\x02\x00\x01"
    assert packets.pubrel(1) == b"\x62\x02\x00\x01"
    assert packets.pubcomp(1) == b"\x70\x02\x00\x01"
    assert packets.subscribe(3, [("a", 0), ("b/#", 1)]) == (
        b"\x82\x0c\x00\x03\x00\x01a\x00\x00\x03b/#\x01"
    )
    assert packets.suback(3, [0, 0x80]) == b"\x90\x04\x00\x03\x00\x80"
    assert packets.unsubscribe(4, ["a", "b"]) == b"\xa2\x08\x00\x04\x00\x01a\x00\x01b"
    assert packets.unsuback(4) == b"\xb0\x02\x00\x04"
    assert packets.pingreq() == b"\xc0\x00"
    assert packets.pingresp() == b"\xd0\x00"
    assert packets.disconnect() == b"\xe0\x00"
    with pytest.raises(ValueError):
        packets.publish("a", qos=1)
    with pytest.raises(ValueError):
        packets.puback(0)


def test_start_retries_when_a_free_port_is_stolen(
    tmp_path: Path, tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race between picking a free port and mosquitto binding it is retried."""
    thief = socket.socket()
    thief.bind(("127.0.0.1", 0))
    thief.listen(1)
    real_free_ports = broker_mod.free_ports
    calls: list[list[int]] = []

    def first_call_returns_a_taken_port(count: int) -> list[int]:
        ports = real_free_ports(count)
        if not calls:
            ports[0] = thief.getsockname()[1]
        calls.append(ports)
        return ports

    monkeypatch.setattr(broker_mod, "free_ports", first_call_returns_a_taken_port)
    b = MosquittoBroker(tmp_path, tls_files)
    try:
        b.start()
        assert len(calls) == 2
        assert b.ports == dict(zip(LISTENERS, calls[1]))
        assert "Address already in use" in b.log_path.read_text()
    finally:
        b.stop()
        thief.close()
