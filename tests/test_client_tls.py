"""TLS, mutual TLS, websockets and Unix-socket transports against mosquitto's listeners
(spec §6.4 tls_*, ws_set_options, §5 transport)."""

from __future__ import annotations

import gc
import os
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support.broker import MosquittoBroker
from support.certs import TLSFiles
from support.clientkit import WAIT, Recorder

# paho leaks its socket when the TLS handshake fails inside connect(); the
# ResourceWarning would become an error. Those tests collect the garbage themselves.
leaks_socket_on_tls_failure = pytest.mark.filterwarnings("ignore::ResourceWarning")


def roundtrip(client: Any, host: str, port: int, topic: str) -> None:
    """connect + loop_start, CONNACK 0, then a QoS 1 message to ourselves."""
    rec = Recorder().attach(client, "connect", "subscribe", "message", "publish")
    assert client.connect(host, port, keepalive=30) == 0
    client.loop_start()
    _flags, reason, _ = rec.first("connect")
    assert reason == 0, reason
    client.subscribe(topic, 1)
    assert rec.first("subscribe")[1][0] == 1
    info = client.publish(topic, b"secure", qos=1)
    info.wait_for_publish(WAIT)
    assert info.is_published()
    message = rec.first("message")[0]
    assert (message.topic, message.payload, message.qos) == (topic, b"secure", 1)


def test_tls_with_ca_certs(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
    unique_topic: str,
) -> None:
    client = make_client(mqtt)
    client.tls_set(ca_certs=str(tls_files.ca_cert))
    roundtrip(client, broker.host, broker.tls_port, unique_topic)


def test_tls_set_context(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
    unique_topic: str,
) -> None:
    client = make_client(mqtt)
    client.tls_set_context(ssl.create_default_context(cafile=str(tls_files.ca_cert)))
    roundtrip(client, broker.host, broker.tls_port, unique_topic)


@pytest.mark.parametrize("key", ["clear-key", "encrypted-key"])
def test_mutual_tls(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
    unique_topic: str,
    key: str,
) -> None:
    client = make_client(mqtt)
    if key == "clear-key":
        client.tls_set(
            ca_certs=str(tls_files.ca_cert),
            certfile=str(tls_files.client_cert),
            keyfile=str(tls_files.client_key),
            cert_reqs=ssl.CERT_REQUIRED,
        )
    else:
        client.tls_set(
            ca_certs=str(tls_files.ca_cert),
            certfile=str(tls_files.client_cert),
            keyfile=str(tls_files.client_key_encrypted),
            keyfile_password=tls_files.client_key_password,
        )
    roundtrip(client, broker.host, broker.mtls_port, unique_topic)


def test_encrypted_key_with_wrong_password_fails_in_tls_set(
    mqtt: ModuleType, make_client: Callable[..., Any], tls_files: TLSFiles
) -> None:
    client = make_client(mqtt)
    with pytest.raises(ssl.SSLError):
        client.tls_set(
            ca_certs=str(tls_files.ca_cert),
            certfile=str(tls_files.client_cert),
            keyfile=str(tls_files.client_key_encrypted),
            keyfile_password="not the password",
        )


@leaks_socket_on_tls_failure
def test_wrong_hostname_fails_then_passes_with_tls_insecure(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
    unique_topic: str,
) -> None:
    client = make_client(mqtt)
    client.tls_set(ca_certs=str(tls_files.ca_cert))
    with pytest.raises(ssl.SSLCertVerificationError) as excinfo:
        client.connect(broker.host, broker.wrong_host_port)
    assert isinstance(excinfo.value, ssl.SSLError)
    assert "certificate verify failed" in str(excinfo.value)
    assert excinfo.value.verify_code == 64  # OpenSSL's X509_V_ERR_IP_ADDRESS_MISMATCH
    assert not client.is_connected()
    del excinfo
    gc.collect()

    insecure = make_client(mqtt)
    insecure.tls_set(ca_certs=str(tls_files.ca_cert))
    insecure.tls_insecure_set(True)
    roundtrip(insecure, broker.host, broker.wrong_host_port, unique_topic)


@leaks_socket_on_tls_failure
def test_untrusted_ca_fails_then_passes_with_cert_none(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
    unique_topic: str,
) -> None:
    client = make_client(mqtt)
    client.tls_set(ca_certs=str(tls_files.rogue_ca_cert))
    with pytest.raises(ssl.SSLCertVerificationError) as excinfo:
        client.connect(broker.host, broker.tls_port)
    assert isinstance(excinfo.value, ssl.SSLError)
    assert "certificate verify failed" in str(excinfo.value)
    # OpenSSL says 20 (unable to get local issuer certificate) or 19 (self-signed in chain).
    assert excinfo.value.verify_code in (19, 20)
    del excinfo
    gc.collect()

    unverified = make_client(mqtt)
    unverified.tls_set(ca_certs=str(tls_files.rogue_ca_cert), cert_reqs=ssl.CERT_NONE)
    roundtrip(unverified, broker.host, broker.tls_port, unique_topic)


@pytest.mark.parametrize("argument", ["ca_certs", "certfile", "keyfile"])
def test_tls_set_with_missing_file(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    tls_files: TLSFiles,
    tmp_path: Any,
    argument: str,
) -> None:
    files = {
        "ca_certs": str(tls_files.ca_cert),
        "certfile": str(tls_files.client_cert),
        "keyfile": str(tls_files.client_key),
    }
    files[argument] = str(tmp_path / "missing.pem")
    client = make_client(mqtt)
    with pytest.raises(FileNotFoundError):
        client.tls_set(**files)


def test_websockets(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt, transport="websockets")
    client.ws_set_options(path="/mqtt", headers={"X-Test": "1"})
    assert client.transport == "websockets"
    roundtrip(client, broker.host, broker.ws_port, unique_topic)


def test_websockets_over_tls(
    mqtt: ModuleType,
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
    unique_topic: str,
) -> None:
    client = make_client(mqtt, transport="WebSockets")  # case-insensitive
    client.ws_set_options(path="/mqtt")
    client.tls_set(ca_certs=str(tls_files.ca_cert))
    roundtrip(client, broker.host, broker.wss_port, unique_topic)


def test_unix_socket(
    mqtt: ModuleType, make_client: Callable[..., Any], broker: MosquittoBroker, unique_topic: str
) -> None:
    client = make_client(mqtt, transport="unix")
    roundtrip(client, str(broker.unix_path), 1883, unique_topic)


def _descriptors_per_socket(port: int) -> list[int]:
    """For each TCP socket of this process connected to ``port``: how many of the process's
    descriptors refer to it (Linux: ``/proc/self/fd`` against ``/proc/net/tcp``)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port:
            inodes.add(fields[9])
    counts = dict.fromkeys(inodes, 0)
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed while listed (the listing's own descriptor)
            continue
        inode = target.removeprefix("socket:[").removesuffix("]")
        if inode in counts:
            counts[inode] += 1
    return sorted(n for n in counts.values() if n)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_tls_connection_holds_one_socket_descriptor(
    make_client: Callable[..., Any],
    broker: MosquittoBroker,
    tls_files: TLSFiles,
) -> None:
    """A second descriptor per TLS connection (a dup kept for socket options) would halve the
    clients a process fits under the usual limit of 1,024 descriptors."""
    import turbomqtt.client as turbo

    for _ in range(3):
        client = make_client(turbo)
        client.tls_set(ca_certs=str(tls_files.ca_cert))
        rec = Recorder().attach(client, "connect")
        assert client.connect(broker.host, broker.tls_port, keepalive=30) == 0
        client.loop_start()
        assert rec.first("connect")[1] == 0
    # The broker's own end of each connection is another process's: only ours are counted.
    counts = _descriptors_per_socket(broker.tls_port)
    assert len(counts) >= 3 and set(counts) == {1}, counts
