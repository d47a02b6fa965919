"""Security defaults (issue 5, item 6): certificates and host names are verified unless the
user says otherwise; passwords and tokens never appear in logs, reprs or exception messages;
the incoming packet size has a configurable limit that a hostile broker cannot get past."""

from __future__ import annotations

import functools
import gc
import logging
import ssl
import threading
import time
from types import ModuleType
from typing import Any, Callable

import pytest
import turbomqtt.client as tmqtt
from support import packets
from support.broker import MosquittoBroker
from support.certs import TLSFiles
from support.clientkit import Recorder
from support.fake_broker import FakeBroker
from turbomqtt import auth, publish
from turbomqtt.errors import TokenMalformedError

from .util import bounded, rss_bytes, wait_until

V2 = tmqtt.CallbackAPIVersion.VERSION2
SECRET = "s3cr3t-Pa55-7f1d9c"
# A OneNET access key (base64 of 32 bytes) and a token signed with it.
KEY = "rs2FaE5BuygJZkWKDA5okKt1RFpwOx53hbu6hwyCS4U="
KEY_BODY = KEY.rstrip("=")

# paho leaks its socket when the TLS handshake fails inside connect(); the ResourceWarning
# would become an error (as in tests/test_client_tls.py).
leaks_socket_on_tls_failure = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _refused_verification(client: Any, host: str, port: int) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as excinfo:
        client.connect(host, port)
    assert "certificate verify failed" in str(excinfo.value)
    assert not client.is_connected()
    del excinfo
    gc.collect()


# ----- certificates and host names -----------------------------------------------------------


@leaks_socket_on_tls_failure
def test_tls_set_without_ca_trusts_only_the_system_store(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker
) -> None:
    """``tls_set()`` with no ``ca_certs`` verifies against the system store, which does not
    hold the test broker's private CA: refused, as in paho."""
    client = make_client(mqtt)
    client.tls_set()
    _refused_verification(client, broker.host, broker.tls_port)


@leaks_socket_on_tls_failure
def test_a_default_ssl_context_checks_the_host_name(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
) -> None:
    """``tls_set_context(ssl.create_default_context(...))``: a trusted certificate for another
    name is refused."""
    client = make_client(mqtt)
    client.tls_set_context(ssl.create_default_context(cafile=str(tls_files.ca_cert)))
    _refused_verification(client, broker.host, broker.wrong_host_port)


@leaks_socket_on_tls_failure
def test_turning_off_the_host_name_check_keeps_the_chain_check(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
) -> None:
    """``tls_insecure_set(True)`` and ``check_hostname = False`` give up the name only: a
    certificate from an untrusted CA is still refused."""
    client = make_client(mqtt)
    client.tls_set(ca_certs=str(tls_files.rogue_ca_cert))
    client.tls_insecure_set(True)
    _refused_verification(client, broker.host, broker.tls_port)

    context = ssl.create_default_context(cafile=str(tls_files.rogue_ca_cert))
    context.check_hostname = False
    other = make_client(mqtt)
    other.tls_set_context(context)
    _refused_verification(other, broker.host, broker.tls_port)


# ----- secrets -------------------------------------------------------------------------------


def _texts(records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records]


def test_password_is_in_no_log_line_repr_or_callback_argument(
    fake_broker: FakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Everything logged while connecting with a password and being refused (on_log,
    enable_logger, and every logger at DEBUG, the Rust core's included), the client's repr,
    and what the callbacks receive: the password is in none of it, though it is on the wire."""
    caplog.set_level(logging.DEBUG)
    client = tmqtt.Client(V2, client_id="sec")
    on_log: list[str] = []
    client.on_log = lambda c, u, level, buf: on_log.append(buf)
    client.enable_logger(logging.getLogger("test.security"))
    client.username_pw_set("user", SECRET)
    client.reconnect_delay_set(5, 5)
    rec = Recorder().attach(client, "connect", "disconnect")
    try:
        client.connect(fake_broker.host, fake_broker.port, keepalive=30)
        client.loop_start()
        fake_broker.accept()
        connect = packets.connect("sec", keepalive=30, username="user", password=SECRET)
        fake_broker.expect_packet("connect", connect)
        fake_broker.send(packets.connack(4))  # bad user name or password
        rec.wait("connect", 1)
        rec.wait("disconnect", 1)
        seen = [*on_log, *_texts(caplog.records), repr(client), str(client)]
        seen += [repr(call) for call in rec.of("connect") + rec.of("disconnect")]
        assert any("Sending CONNECT (u1, p1" in line for line in on_log), on_log
        leaks = [text for text in seen if SECRET in text]
        assert not leaks, leaks
    finally:
        bounded(client.disconnect, timeout=5)
        bounded(client.loop_stop, timeout=5)


def test_refused_password_is_not_in_the_exception(fake_broker: FakeBroker) -> None:
    """``publish.single(auth=...)`` raises on a refusing CONNACK; the message names the
    refusal, not the password."""

    def refuse() -> None:
        fake_broker.accept()
        fake_broker.read_packet()  # CONNECT
        fake_broker.send(packets.connack(4))

    broker_side = threading.Thread(target=refuse, daemon=True)
    broker_side.start()
    send = functools.partial(
        publish.single,
        "t",
        b"x",
        hostname=fake_broker.host,
        port=fake_broker.port,
        auth={"username": "user", "password": SECRET},
    )
    with pytest.raises(Exception) as excinfo:
        bounded(send, timeout=10)
    broker_side.join(5)
    text = f"{excinfo.value!s} {excinfo.value!r}"
    assert "password" in text.lower(), text  # "bad user name or password"
    assert SECRET not in text


def test_credentials_repr_hides_the_password() -> None:
    creds = auth.onenet("123456", "dev1", KEY, et=2_000_000_000)
    assert creds.password.startswith("version=")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert creds.password not in text
        assert "password='***'" in text


@pytest.mark.parametrize(
    "token",
    [KEY, KEY_BODY, "version=2018-10-31&" + KEY_BODY, "et=1&" + KEY],
    ids=["padded-key", "unpadded-key", "key-as-part", "key-as-field-name"],
)
def test_token_errors_do_not_echo_the_secret(token: str) -> None:
    """A key where the token goes (the arguments swapped, or pasted into a token) is reported
    by position, never echoed: the message of a TokenError ends up in logs."""
    for call in (
        lambda: auth.parse_onenet_token(token),
        lambda: auth.verify_onenet_token(token, KEY, now=0),
    ):
        with pytest.raises(TokenMalformedError) as excinfo:
            call()
        text = f"{excinfo.value!s} {excinfo.value!r}"
        assert KEY_BODY not in text, text


def test_bad_access_key_is_not_in_the_error() -> None:
    secretish = "SECRETKEYSECRETKEY$$" + KEY_BODY
    with pytest.raises(ValueError) as excinfo:
        auth.onenet("123456", "dev1", secretish, et=2_000_000_000)
    assert "access_key" in str(excinfo.value)
    assert KEY_BODY not in str(excinfo.value) and "SECRETKEY" not in str(excinfo.value)


# ----- the incoming packet size limit --------------------------------------------------------


def test_max_incoming_packet_size_is_checked() -> None:
    client = tmqtt.Client(V2)
    assert client.max_incoming_packet_size == 268_435_455  # MQTT's maximum, as paho
    client.max_incoming_packet_size = 1
    client.max_incoming_packet_size = 268_435_455
    for bad, error in (
        (0, ValueError),
        (268_435_456, ValueError),
        (True, TypeError),
        ("1", TypeError),
    ):
        with pytest.raises(error):
            client.max_incoming_packet_size = bad
    assert client.max_incoming_packet_size == 268_435_455


def test_a_packet_over_max_incoming_packet_size_ends_the_connection(
    fake_broker: FakeBroker, figures: dict[str, Any]
) -> None:
    """With a 64 KiB limit, a message of exactly that size is delivered; a PUBLISH announcing
    100 MiB is a protocol error as soon as its header arrives: on_disconnect at once, nothing
    of the body buffered however fast the broker pushes it, the socket closed within the core's
    2 s drain, and a reconnect."""
    limit = 64 * 1024
    client = tmqtt.Client(V2, client_id="limit")
    client.max_incoming_packet_size = limit
    client.reconnect_delay_set(0.2, 0.2)
    rec = Recorder().attach(client, "connect", "disconnect", "message")
    try:
        client.connect(fake_broker.host, fake_broker.port, keepalive=30)
        client.loop_start()
        fake_broker.accept()
        fake_broker.expect_packet("connect", packets.connect("limit", keepalive=30))
        fake_broker.send(packets.connack(0))
        rec.wait("connect", 1)
        fits = b"p" * (limit - 2 - len(b"t"))  # topic length + topic + payload = limit
        fake_broker.send(packets.publish("t", fits))
        assert len(rec.wait("message", 1)[0].args[0].payload) == len(fits)
        assert not rec.of("disconnect")

        before = rss_bytes()
        fake_broker.send(b"\x30" + packets.encode_remaining_length(100 * 2**20) + b"\x00\x01t")
        pushed, started, closed = 0, time.monotonic(), False
        chunk = b"x" * 65536
        while not closed and time.monotonic() - started < 6:
            try:
                fake_broker.send(chunk)
                pushed += len(chunk)
            except OSError:
                closed = True  # the client dropped the connection
        took = time.monotonic() - started
        rec.wait("disconnect", 1)
        grown = rss_bytes() - before
        _, reason, _ = rec.first("disconnect")
        figures["socket_closed_after_s"] = took
        figures["pushed_before_close_MiB"] = pushed / 2**20
        figures["rss_growth_MiB"] = grown / 2**20
        figures["reason"] = str(reason)
        assert getattr(reason, "is_failure", True) and reason != 0, reason
        assert grown < 16 * 2**20, figures
        # The connection ends at once; the socket is dropped after the core's drain of at most
        # 2 s, during which what arrives is read and thrown away.
        assert closed, f"the client kept the socket open: {figures}"
        # It comes back, limit unchanged.
        fake_broker.accept(timeout=5)
        fake_broker.expect_packet("connect again", packets.connect("limit", keepalive=30))
        fake_broker.send(packets.connack(0))
        rec.wait("connect", 2)
        assert wait_until(lambda: client.is_connected(), 2)
        assert client.max_incoming_packet_size == limit
    finally:
        bounded(client.disconnect, timeout=5)
        bounded(client.loop_stop, timeout=5)


def test_mqtt5_declares_max_incoming_packet_size_so_the_broker_drops_bigger_messages(
    broker: MosquittoBroker, unique_topic: str
) -> None:
    """Under MQTT 5 the lowered limit goes out as CONNECT's Maximum Packet Size: mosquitto then
    drops a message too big for this client (instead of sending it and having the connection
    closed for it), and the next, smaller message still arrives on the same connection."""
    limit = 1000
    receiver = tmqtt.Client(V2, protocol=tmqtt.MQTTv5)
    receiver.max_incoming_packet_size = limit
    rec = Recorder().attach(receiver, "connect", "disconnect", "message", "subscribe")
    sender = tmqtt.Client(V2, protocol=tmqtt.MQTTv5)
    try:
        receiver.connect(broker.host, broker.port, keepalive=30)
        receiver.loop_start()
        rec.wait("connect")
        receiver.subscribe(unique_topic, qos=1)
        rec.wait("subscribe")
        sender.connect(broker.host, broker.port, keepalive=30)
        sender.loop_start()
        for size in (5000, limit - 100):
            sender.publish(unique_topic, b"z" * size, qos=1).wait_for_publish(5)
        message = rec.wait("message")[0].args[0]
        assert len(message.payload) == limit - 100
        assert rec.of("disconnect") == [] and receiver.is_connected()
    finally:
        for client in (sender, receiver):
            bounded(client.disconnect, timeout=5)
            bounded(client.loop_stop, timeout=5)
