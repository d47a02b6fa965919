"""Security defaults (issue 5, item 6): certificates and host names are verified unless the
user says otherwise; passwords and tokens never appear in logs, reprs or exception messages."""

from __future__ import annotations

import functools
import gc
import logging
import ssl
import threading
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

from .util import bounded

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
