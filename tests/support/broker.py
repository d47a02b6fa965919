"""A real mosquitto broker on free loopback ports, for the integration tests.

:class:`MosquittoBroker` writes a config with one listener per transport we test,
starts ``mosquitto -c`` as a child process, waits until it is really serving, and
stops it with terminate -> wait(5) -> kill. Every listener binds ``127.0.0.1`` only.

Listeners (names are the keys of :attr:`MosquittoBroker.ports`):

========== ===================================================================
``mqtt``   plain MQTT over TCP, anonymous
``tls``    TLS with ``server_cert`` (SAN localhost/127.0.0.1), anonymous
``mtls``   TLS + ``require_certificate true``: a client cert from our CA is needed
``ws``     MQTT over plain websockets
``wss``    MQTT over websockets over TLS (``server_cert``)
``wrong_host`` TLS with ``wrong_host_cert`` (valid chain, SAN only wrong.example)
``auth``   plain TCP, ``allow_anonymous false`` + a password file
========== ===================================================================

plus a Unix domain socket listener (``listener 0 <path>``, new in mosquitto 2.0)
at :attr:`MosquittoBroker.unix_path`. ``per_listener_settings true`` gives each
listener its own authentication settings; the message space stays shared, so a
message published on one listener reaches subscribers on every other one.

Free ports come from binding port 0 and closing the socket; someone else may grab
a port before mosquitto binds it, so :meth:`MosquittoBroker.start` detects "Address
already in use" and retries with new ports. Once started, the ports stay fixed for
the life of the object, so ``stop()``/``kill()`` then ``start()`` come back on the
same ports (reconnect tests).

Tests that need a broker limit (``max_keepalive``, ``max_packet_size``, an ACL file...)
pass ``extra_config`` (lines for the general section) and ``listener_config``
(listener name -> extra lines for that listener; with ``per_listener_settings true``
authentication and ACL options are per listener).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .certs import TLSFiles

__all__ = [
    "HOST",
    "LISTENERS",
    "BrokerError",
    "MosquittoBroker",
    "find_mosquitto",
    "find_mosquitto_passwd",
    "free_ports",
    "mosquitto_password_line",
    "wait_for_port",
]

#: The only address the tests ever use.
HOST = "127.0.0.1"

#: TCP listener names, in config order.
LISTENERS = ("mqtt", "tls", "mtls", "ws", "wss", "wrong_host", "auth")

_START_ATTEMPTS = 5
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin

# Brokers still running, killed at interpreter exit if a fixture teardown never ran.
_LIVE: set[MosquittoBroker] = set()


class BrokerError(RuntimeError):
    """mosquitto could not be found, started or stopped."""


def find_mosquitto() -> str:
    """Path of the mosquitto binary (``$MOSQUITTO`` overrides), or raise BrokerError.

    Debian installs it in ``/usr/sbin``, which is not on a normal user's PATH.
    """
    candidates = [os.environ.get("MOSQUITTO"), shutil.which("mosquitto")]
    candidates += ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError(
        "mosquitto is not installed: the integration tests need a real broker. "
        "Install it (Debian/Ubuntu: `sudo apt-get install -y mosquitto`, macOS: "
        "`brew install mosquitto`) or point $MOSQUITTO at the binary."
    )


def find_mosquitto_passwd() -> str | None:
    """Path of ``mosquitto_passwd`` (shipped in Debian's ``mosquitto`` package), or None."""
    candidates = [os.environ.get("MOSQUITTO_PASSWD"), shutil.which("mosquitto_passwd")]
    candidates += ["/usr/bin/mosquitto_passwd", "/usr/local/bin/mosquitto_passwd"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def mosquitto_password_line(
    username: str, password: str, *, salt: bytes | None = None, iterations: int = 101
) -> str:
    """One password-file line in mosquitto 2.0's ``$7$`` format.

    ``$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512(password, salt)>``,
    which is what ``mosquitto_passwd`` writes by default. Only used when
    ``mosquitto_passwd`` is not installed.
    """
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"{username}:$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _accepts(family: int, address: str | tuple[str, int]) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(address)
        except OSError:
            return False
        return True


def wait_for_port(port: int, timeout: float = 10.0, host: str = HOST) -> None:
    """Poll until ``host:port`` accepts a TCP connection, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while not _accepts(socket.AF_INET, (host, port)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing accepted on {host}:{port} within {timeout} s")
        time.sleep(0.02)


class MosquittoBroker:
    """One mosquitto process with all the test listeners.

    Attributes:
        host: always ``"127.0.0.1"``.
        ports: listener name (see :data:`LISTENERS`) -> TCP port; fixed after the
            first successful :meth:`start`.
        unix_path: path of the Unix socket listener.
        certs: the :class:`TLSFiles` the TLS listeners use.
        username, password: the account accepted on the ``auth`` listener.
        workdir: directory with ``mosquitto.conf``, the password file and the log.
        log_path: mosquitto's stdout+stderr, appended across restarts.
    """

    host = HOST

    def __init__(
        self,
        workdir: Path,
        certs: TLSFiles,
        *,
        username: str = "turbomqtt",
        password: str = "correct horse battery staple",
        persistence: bool = False,
        extra_config: Sequence[str] = (),
        listener_config: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.certs = certs
        self.username = username
        self.password = password
        self.executable = find_mosquitto()
        self.config_path = self.workdir / "mosquitto.conf"
        self.password_file = self.workdir / "passwords"
        self.log_path = self.workdir / "mosquitto.log"
        self.ports: dict[str, int] = {}
        # With persistence, a graceful stop() saves sessions and queued messages to workdir,
        # and the next start() restores them (for restart-while-publishing tests).
        self.persistence = persistence
        self.extra_config = list(extra_config)
        self.listener_config = {k: list(v) for k, v in (listener_config or {}).items()}
        unknown = set(self.listener_config) - set(LISTENERS)
        if unknown:
            raise BrokerError(f"listener_config: unknown listeners {sorted(unknown)}")
        self.unix_path = self._choose_unix_path()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._write_password_file()

    # Convenience accessors, so tests read ``broker.tls_port``.
    @property
    def port(self) -> int:
        """Plain MQTT port."""
        return self.ports["mqtt"]

    @property
    def tls_port(self) -> int:
        return self.ports["tls"]

    @property
    def mtls_port(self) -> int:
        return self.ports["mtls"]

    @property
    def ws_port(self) -> int:
        return self.ports["ws"]

    @property
    def wss_port(self) -> int:
        return self.ports["wss"]

    @property
    def wrong_host_port(self) -> int:
        return self.ports["wrong_host"]

    @property
    def auth_port(self) -> int:
        return self.ports["auth"]

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<MosquittoBroker {state} ports={self.ports} unix={self.unix_path}>"

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _choose_unix_path(self) -> Path:
        path = self.workdir / "mqtt.sock"
        if len(os.fsencode(path)) <= _UNIX_PATH_MAX:
            return path
        # pytest's basetemp can be deep; a Unix socket path cannot.
        return Path(tempfile.mkdtemp(prefix="tmqtt-")) / "mqtt.sock"

    def _write_password_file(self) -> None:
        tool = find_mosquitto_passwd()
        self.password_file.unlink(missing_ok=True)
        if tool is not None:
            cmd = [tool, "-c", "-b", str(self.password_file), self.username, self.password]
            subprocess.run(cmd, check=True, capture_output=True, timeout=10)
        else:
            line = mosquitto_password_line(self.username, self.password)
            self.password_file.write_text(line + "\n")
        self.password_file.chmod(0o600)

    def _config(self) -> str:
        c = self.certs
        # Run as whoever we are: as root, mosquitto would otherwise switch to the
        # "mosquitto" user, which cannot read our 0600 keys in a 0700 temp dir.
        user = pwd.getpwuid(os.geteuid()).pw_name
        tls = [f"cafile {c.ca_cert}", f"certfile {c.server_cert}", f"keyfile {c.server_key}"]
        p = self.ports
        listeners = {
            "mqtt": ["allow_anonymous true"],
            "tls": ["allow_anonymous true", *tls],
            "mtls": ["allow_anonymous true", *tls, "require_certificate true"],
            "ws": ["protocol websockets", "allow_anonymous true"],
            "wss": ["protocol websockets", "allow_anonymous true", *tls],
            "wrong_host": [
                "allow_anonymous true",
                f"cafile {c.ca_cert}",
                f"certfile {c.wrong_host_cert}",
                f"keyfile {c.wrong_host_key}",
            ],
            "auth": ["allow_anonymous false", f"password_file {self.password_file}"],
        }
        lines = [
            "# generated by tests/support/broker.py",
            "per_listener_settings true",
            f"user {user}",
            *(
                ["persistence true", f"persistence_location {self.workdir}/", "autosave_interval 1"]
                if self.persistence
                else ["persistence false"]
            ),
            "log_dest stderr",  # unbuffered, unlike stdout to a file
            "log_type all",
            "log_timestamp_format %H:%M:%S",
            "connection_messages true",
            # Tests measure the client: the broker must not drop messages it queues for a
            # subscriber that is briefly away (mosquitto's default is 1000).
            "max_queued_messages 1000000",
            *self.extra_config,
        ]
        for name in LISTENERS:
            # mosquitto 2.0.11 binds websockets listeners to every address (IPv4 and
            # IPv6) whatever the bind address says, unless socket_domain is ipv4.
            lines += ["", f"# {name}", f"listener {p[name]} {HOST}", "socket_domain ipv4"]
            lines += listeners[name]
            lines += self.listener_config.get(name, [])
        lines += ["", "# unix", f"listener 0 {self.unix_path}", "allow_anonymous true", ""]
        return "\n".join(lines)

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until every listener accepts connections.

        The first start picks free ports (retrying if another process steals one);
        later starts reuse the same ports.
        """
        if self.is_running():
            raise BrokerError(f"{self!r} is already running")
        pinned = bool(self.ports)
        last_error = ""
        for _ in range(_START_ATTEMPTS):
            if not pinned:
                self.ports = dict(zip(LISTENERS, free_ports(len(LISTENERS))))
            self.unix_path.unlink(missing_ok=True)
            self.config_path.write_text(self._config())
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn()
            error = self._wait_ready(offset, timeout)
            if error is None:
                return
            self._reap()
            last_error = error
            if "Address already in use" not in error:
                break
            time.sleep(0.2)  # pinned ports: give the old socket a moment
        raise BrokerError(f"mosquitto did not start: {last_error}\n{self.log_tail()}")

    def _spawn(self) -> None:
        self._log = open(self.log_path, "ab")
        self._log.write(f"==== starting mosquitto, ports {self.ports}\n".encode())
        self._log.flush()
        self._proc = subprocess.Popen(
            [self.executable, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        _LIVE.add(self)

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def _wait_ready(self, log_offset: int, timeout: float) -> str | None:
        """None once serving, else why not. Ready means: the log says "running"
        (printed after every listener is bound, so a port held by a stranger cannot
        fool us) and each listener accepts a connection."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        pending_tcp = list(self.ports.values())
        unix_ready = False
        while True:
            if self._proc.poll() is not None:
                log = self._log_since(log_offset)
                return f"exited with status {self._proc.returncode}: {log.strip()[-500:]}"
            if " running" in self._log_since(log_offset):
                pending_tcp = [p for p in pending_tcp if not _accepts(socket.AF_INET, (HOST, p))]
                unix_ready = unix_ready or _accepts(socket.AF_UNIX, str(self.unix_path))
                if not pending_tcp and unix_ready:
                    return None
            if time.monotonic() > deadline:
                return f"not ready after {timeout} s (waiting for ports {pending_tcp})"
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful stop: SIGTERM, wait up to ``timeout`` s, then SIGKILL."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._reap()

    def kill(self) -> None:
        """Abrupt stop (SIGKILL): clients see their connection drop with no DISCONNECT."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        self._reap()

    def restart(self, timeout: float = 10.0) -> None:
        """stop() then start() on the same ports."""
        self.stop()
        self.start(timeout)

    def _reap(self) -> None:
        if self._proc is not None:
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        _LIVE.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the broker log (for failure reports)."""
        if not self.log_path.exists():
            return "(no mosquitto log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@atexit.register
def _kill_leftovers() -> None:
    for broker in list(_LIVE):
        broker.kill()
