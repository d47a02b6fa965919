"""Helpers for the MQTT 5 client tests (``tests/test_client_mqtt5*.py``, both implementations).

:func:`props` builds a ``Properties`` of the module under test; :func:`start_v5` connects
a client with ``protocol=MQTTv5`` and waits for its CONNACK; :func:`package` gives the
package the client module belongs to (``paho.mqtt`` or ``turbomqtt``), for
``MQTTException``; :func:`dynsec_listener_config` gives the lines that put mosquitto's
dynamic-security plugin, with a set of denying ACLs, on a listener (the only way to get a
SUBACK "Not authorized" from mosquitto 2.0: its ``acl_file`` never refuses a subscription).
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .broker import BrokerError, MosquittoBroker
from .clientkit import WAIT, Recorder, wait_until

__all__ = [
    "ALL_CALLBACKS",
    "MakeClient",
    "dynsec_listener_config",
    "find_dynsec_plugin",
    "new_id",
    "package",
    "payloads",
    "props",
    "rc",
    "received",
    "start_v5",
    "wait_for_log",
]

ALL_CALLBACKS = ("connect", "disconnect", "message", "publish", "subscribe", "unsubscribe")

#: The ``make_client`` fixture's type.
MakeClient = Callable[..., Any]


def rc(packet_type: int, value: int, name: str) -> tuple[str, int, int, str]:
    """The normalised form of a ReasonCode (see :func:`support.clientkit.normalise`)."""
    return ("RC", packet_type, value, name)


def payloads(rec: Recorder) -> list[bytes]:
    """Payloads of the messages ``rec`` received so far, in order."""
    return [call.args[0].payload for call in rec.of("message")]


def received(rec: Recorder, payload: bytes) -> Callable[[], bool]:
    """A predicate for ``wait_until``: has a message with this payload arrived?"""
    return lambda: payload in payloads(rec)


def new_id(prefix: str) -> str:
    """A client id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def package(module: ModuleType) -> ModuleType:
    """``paho.mqtt`` for ``paho.mqtt.client``, ``turbomqtt`` for ``turbomqtt.client``."""
    return importlib.import_module(module.__name__.rpartition(".")[0])


def props(module: ModuleType, packet_type: str, **values: Any) -> Any:
    """``module.Properties(module.PacketTypes.<packet_type>)`` with ``values`` set.

    A ``UserProperty`` (or ``SubscriptionIdentifier``) given as a list is assigned item by
    item, since each assignment appends to the property's list.
    """
    properties = module.Properties(getattr(module.PacketTypes, packet_type))
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            setattr(properties, name, item)
    return properties


def start_v5(
    make_client: Callable[..., Any],
    module: ModuleType,
    broker: MosquittoBroker,
    *,
    version: int = 2,
    port: int | None = None,
    keepalive: int = 30,
    clean_start: Any = None,
    properties: Any = None,
    callbacks: Sequence[str] = ALL_CALLBACKS,
    before_connect: Callable[[Any], None] | None = None,
    **client_kwargs: Any,
) -> tuple[Any, Recorder]:
    """An MQTT 5 client, connected with ``loop_start()``, its CONNACK already seen.

    ``clean_start`` None means the default (``MQTT_CLEAN_START_FIRST_ONLY``);
    ``before_connect(client)`` runs just before ``connect()`` (``will_set`` etc.).
    """
    client = make_client(module, version, protocol=module.MQTTv5, **client_kwargs)
    rec = Recorder().attach(client, *callbacks)
    if before_connect is not None:
        before_connect(client)
    kwargs: dict[str, Any] = {"keepalive": keepalive, "properties": properties}
    if clean_start is not None:
        kwargs["clean_start"] = clean_start
    result = client.connect(broker.host, broker.port if port is None else port, **kwargs)
    assert result == module.MQTT_ERR_SUCCESS
    assert client.loop_start() == module.MQTT_ERR_SUCCESS
    if "connect" in callbacks:
        rec.wait("connect")
    return client, rec


def wait_for_log(broker: MosquittoBroker, needle: str, timeout: float = WAIT) -> None:
    """Wait until mosquitto's log contains ``needle``, e.g. ``"Client <id> disconnected"``
    (mosquitto has then finished with that connection: any will is already published)."""

    def logged() -> bool:
        return needle in broker.log_path.read_text(errors="replace")

    if not wait_until(logged, timeout, step=0.02):
        raise AssertionError(f"{needle!r} not in the mosquitto log within {timeout} s")


def find_dynsec_plugin() -> str:
    """Path of mosquitto's ``mosquitto_dynamic_security.so`` (``$MOSQUITTO_DYNSEC``
    overrides), shipped in Debian's ``mosquitto`` package; BrokerError if absent."""
    candidates = [os.environ.get("MOSQUITTO_DYNSEC", "")]
    for pattern in (
        "/usr/lib/*/mosquitto_dynamic_security.so",
        "/usr/lib/mosquitto_dynamic_security.so",
        "/usr/local/lib/mosquitto_dynamic_security.so",
        "/opt/homebrew/lib/mosquitto_dynamic_security.so",
    ):
        candidates += sorted(glob.glob(pattern))
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return candidate
    raise BrokerError(
        "mosquitto_dynamic_security.so not found (Debian/Ubuntu ship it in the mosquitto "
        "package); point $MOSQUITTO_DYNSEC at it"
    )


def dynsec_listener_config(workdir: Path, denied: Sequence[tuple[str, str]]) -> list[str]:
    """Listener lines loading the dynamic-security plugin with a config in ``workdir``.

    Anonymous clients may do everything except the ``(acltype, topic pattern)`` pairs in
    ``denied``, e.g. ``("subscribePattern", "denied/#")`` or
    ``("publishClientSend", "denied/#")``.
    """
    config = {
        "defaultACLAccess": {
            "publishClientSend": True,
            "publishClientReceive": True,
            "subscribe": True,
            "unsubscribe": True,
        },
        "clients": [],
        "groups": [{"groupname": "anonymous", "roles": [{"rolename": "restricted"}]}],
        "roles": [
            {
                "rolename": "restricted",
                "acls": [
                    {"acltype": acltype, "topic": topic, "priority": 0, "allow": False}
                    for acltype, topic in denied
                ],
            }
        ],
        "anonymousGroup": "anonymous",
    }
    path = Path(workdir) / "dynamic-security.json"
    path.write_text(json.dumps(config, indent=2))
    return [f"plugin {find_dynsec_plugin()}", f"plugin_opt_config_file {path}"]
