"""A private mosquitto for the benchmarks: a plain and a TLS listener on free 127.0.0.1 ports.

The config lifts every queue limit (``max_queued_messages 0``, ``max_queued_bytes 0``)
so the broker never drops a message on purpose; ``max_inflight_messages`` keeps its
default. The TLS certificates (a CA and a server certificate for 127.0.0.1/localhost,
EC P-256) are generated with ``cryptography`` into the broker's temporary directory.
:meth:`Broker.stop` terminates, then kills, and removes the directory.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str:
    """``$MOSQUITTO``, ``mosquitto`` on PATH, or /usr/sbin/mosquitto; raise if none."""
    for candidate in (
        os.environ.get("MOSQUITTO"),
        shutil.which("mosquitto"),
        *MOSQUITTO_CANDIDATES,
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "mosquitto is not installed (the benchmarks need a real broker): "
        "`sudo apt-get install -y mosquitto` or set $MOSQUITTO"
    )


def mosquitto_version(binary: str) -> str:
    out = subprocess.run([binary, "-h"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else "unknown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def generate_certs(directory: Path) -> tuple[Path, Path, Path]:
    """(ca_cert, server_cert, server_key) PEM files for IP 127.0.0.1 and DNS localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject: str, key, issuer, issuer_key, ca: bool):  # type: ignore[no-untyped-def]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
                ),
                False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            builder = builder.add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("turbomqtt bench CA", ca_key, None, ca_key, True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = build("localhost", server_key, ca.subject, ca_key, False)
    pem = serialization.Encoding.PEM
    paths = (directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(server.public_bytes(pem))
    paths[2].write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class Broker:
    """``start()`` a mosquitto; ``port``, ``tls_port`` and ``ca_cert`` say how to reach it."""

    def __init__(self, nodelay: bool = True) -> None:
        self.nodelay = nodelay
        self.binary = find_mosquitto()
        self.directory = Path(tempfile.mkdtemp(prefix="turbomqtt-bench-"))
        self.ca_cert, server_cert, server_key = generate_certs(self.directory)
        self._server_files = (server_cert, server_key)
        self.port = 0
        self.tls_port = 0
        self.log_path = self.directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        for _attempt in range(5):
            self.port, self.tls_port = _free_port(), _free_port()
            if self.port == self.tls_port:
                continue
            config = self.directory / "mosquitto.conf"
            config.write_text(
                "\n".join(
                    [
                        "persistence false",
                        # run as ourselves: as root, mosquitto would switch to the user
                        # `mosquitto`, which cannot read our private temp directory
                        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
                        "allow_anonymous true",
                        "max_queued_messages 10000000",
                        "max_queued_bytes 0",
                        "max_connections -1",
                        # mosquitto's default (false) adds a 40 ms Nagle/delayed-ACK
                        # stall to every TLS handshake, for both libraries
                        f"set_tcp_nodelay {'true' if self.nodelay else 'false'}",
                        f"log_dest file {self.log_path}",
                        "log_type error",
                        "log_type warning",
                        f"listener {self.port} {HOST}",
                        f"listener {self.tls_port} {HOST}",
                        f"cafile {self.ca_cert}",
                        f"certfile {self._server_files[0]}",
                        f"keyfile {self._server_files[1]}",
                        "",
                    ]
                )
            )
            self._process = subprocess.Popen(
                [self.binary, "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._process.poll() is None:
                if _accepts(self.port) and _accepts(self.tls_port):
                    return
                time.sleep(0.05)
            self.stop(remove=False)
        raise RuntimeError(f"mosquitto did not start; log: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text()[-2000:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, remove: bool = True) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False
