"""One-shot publishing, paho's ``paho.mqtt.publish``: connect, publish, disconnect.

    import turbomqtt.publish as publish
    publish.single("sensors/t", "21.5", hostname="localhost")
    publish.multiple([("a", "1", 0, False), {"topic": "b", "payload": "2", "qos": 1}])

Each message is sent once the previous one is published (acknowledged for QoS 1/2); the call
returns after all are and the client has disconnected. Connection errors raise from
``connect()`` (``ConnectionRefusedError``, ``socket.gaierror``, ``ssl.SSLError``, ...); a refused
CONNACK raises :class:`turbomqtt.exception.MQTTException`.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any, Optional, Union

from turbomqtt import _helpers
from turbomqtt import client as mqtt
from turbomqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from turbomqtt.exception import MQTTException
from turbomqtt.properties import Properties  # noqa: F401 - paho.mqtt.publish has it
from turbomqtt.reasoncodes import ReasonCode  # noqa: F401 - paho.mqtt.publish has it

# paho.mqtt.publish names the client module `paho`; scripts reaching for it find it here too.
paho = mqtt

__all__ = ["MessageDict", "MessageTuple", "MessagesList", "multiple", "single"]

MessageDict = dict[str, Any]
MessageTuple = tuple[Any, ...]
MessagesList = list[Union[MessageDict, MessageTuple]]


def _send_next(client: mqtt.Client) -> None:
    queue: collections.deque[Any] = client._userdata
    message = queue.popleft()
    if isinstance(message, dict):
        client.publish(**message)
    elif isinstance(message, (tuple, list)):
        client.publish(*message)
    else:
        raise TypeError("message must be a dict, tuple, or list")


def _on_connect(
    client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
) -> None:
    if reason_code != 0:
        raise MQTTException(mqtt.connack_string(reason_code))
    if userdata:
        _send_next(client)


def _on_publish(
    client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any
) -> None:
    if userdata:
        _send_next(client)
    else:
        client.disconnect()


def multiple(
    msgs: MessagesList,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: Optional[MessageDict] = None,
    auth: Optional[_helpers.AuthDict] = None,
    tls: Optional[_helpers.TlsArg] = None,
    protocol: MQTTProtocolVersion = mqtt.MQTTv311,
    transport: str = "tcp",
    proxy_args: Optional[Any] = None,
) -> None:
    """Publish several messages, in order, then disconnect.

    :param msgs: dicts ``{"topic", "payload", "qos", "retain"}`` (only ``topic`` required) or
        tuples ``(topic, payload, qos, retain)``.
    :param will: keyword arguments of ``will_set``.
    :param auth: ``{"username": ..., "password": ...}``.
    :param tls: keyword arguments of ``tls_set`` (plus ``"insecure": bool``), or an
        ``ssl.SSLContext``.
    """
    if not isinstance(msgs, Iterable):
        raise TypeError("msgs must be an iterable")
    if len(msgs) == 0:
        raise ValueError("msgs is empty")
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        userdata=collections.deque(msgs),
        protocol=protocol,
        transport=transport,
    )
    client.on_publish = _on_publish
    client.on_connect = _on_connect
    _helpers.configure(client, will=will, auth=auth, tls=tls, proxy_args=proxy_args)
    client.connect(hostname, port, keepalive)
    client.loop_forever()


def single(
    topic: str,
    payload: mqtt.PayloadType = None,
    qos: int = 0,
    retain: bool = False,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: Optional[MessageDict] = None,
    auth: Optional[_helpers.AuthDict] = None,
    tls: Optional[_helpers.TlsArg] = None,
    protocol: MQTTProtocolVersion = mqtt.MQTTv311,
    transport: str = "tcp",
    proxy_args: Optional[Any] = None,
) -> None:
    """Publish one message, then disconnect (see :func:`multiple` for the arguments)."""
    msg: MessageDict = {"topic": topic, "payload": payload, "qos": qos, "retain": retain}
    multiple(
        [msg],
        hostname,
        port,
        client_id,
        keepalive,
        will,
        auth,
        tls,
        protocol,
        transport,
        proxy_args,
    )
