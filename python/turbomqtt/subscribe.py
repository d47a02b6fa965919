"""Subscribing in one call, paho's ``paho.mqtt.subscribe``.

    import turbomqtt.subscribe as subscribe
    msg = subscribe.simple("sensors/#", hostname="localhost")          # waits for one message
    subscribe.callback(print_msg, "sensors/#", hostname="localhost")   # runs until disconnect

A refused CONNACK raises :class:`turbomqtt.exception.MQTTException`.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from turbomqtt import _helpers
from turbomqtt import client as mqtt
from turbomqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from turbomqtt.exception import MQTTException

# paho.mqtt.subscribe names the client module `paho`; scripts reaching for it find it here too.
paho = mqtt

__all__ = ["callback", "simple"]

Topics = Union[str, list[str]]


def _on_connect(
    client: mqtt.Client, userdata: dict[str, Any], flags: Any, reason_code: Any, properties: Any
) -> None:
    if reason_code != 0:
        raise MQTTException(mqtt.connack_string(reason_code))
    topics = userdata["topics"]
    for topic in topics if isinstance(topics, list) else [topics]:
        client.subscribe(topic, userdata["qos"])


def _on_message_callback(
    client: mqtt.Client, userdata: dict[str, Any], message: mqtt.MQTTMessage
) -> None:
    userdata["callback"](client, userdata["userdata"], message)


def callback(
    callback: Callable[[mqtt.Client, Any, mqtt.MQTTMessage], Any],
    topics: Topics,
    qos: int = 0,
    userdata: Any = None,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: Optional[dict[str, Any]] = None,
    auth: Optional[_helpers.AuthDict] = None,
    tls: Optional[_helpers.TlsArg] = None,
    protocol: MQTTProtocolVersion = mqtt.MQTTv311,
    transport: str = "tcp",
    clean_session: bool = True,
    proxy_args: Optional[Any] = None,
) -> None:
    """Subscribe to ``topics`` and call ``callback(client, userdata, message)`` for every
    message, until the callback calls ``client.disconnect()``."""
    if qos < 0 or qos > 2:
        raise ValueError("qos must be in the range 0-2")
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        userdata={"callback": callback, "topics": topics, "qos": qos, "userdata": userdata},
        protocol=protocol,
        transport=transport,
        clean_session=clean_session,
    )
    client.on_message = _on_message_callback
    client.on_connect = _on_connect
    _helpers.configure(client, will=will, auth=auth, tls=tls, proxy_args=proxy_args)
    client.connect(hostname, port, keepalive)
    client.loop_forever()


def _collect(client: mqtt.Client, userdata: dict[str, Any], message: mqtt.MQTTMessage) -> None:
    if userdata["msg_count"] == 0:
        return
    if message.retain and not userdata["retained"]:
        return  # a stale retained message, not wanted
    userdata["msg_count"] -= 1
    if userdata["messages"] is None:
        userdata["messages"] = message  # msg_count was 1: return the message itself
    else:
        userdata["messages"].append(message)
    if userdata["msg_count"] == 0:
        client.disconnect()


def simple(
    topics: Topics,
    qos: int = 0,
    msg_count: int = 1,
    retained: bool = True,
    hostname: str = "localhost",
    port: int = 1883,
    client_id: str = "",
    keepalive: int = 60,
    will: Optional[dict[str, Any]] = None,
    auth: Optional[_helpers.AuthDict] = None,
    tls: Optional[_helpers.TlsArg] = None,
    protocol: MQTTProtocolVersion = mqtt.MQTTv311,
    transport: str = "tcp",
    clean_session: bool = True,
    proxy_args: Optional[Any] = None,
) -> Union[list[mqtt.MQTTMessage], mqtt.MQTTMessage]:
    """Wait for ``msg_count`` messages on ``topics`` and return them: the message itself when
    ``msg_count`` is 1, else a list. ``retained=False`` skips retained messages."""
    if msg_count < 1:
        raise ValueError("msg_count must be > 0")
    collected: dict[str, Any] = {
        "retained": retained,
        "msg_count": msg_count,
        "messages": None if msg_count == 1 else [],
    }
    callback(
        _collect,
        topics,
        qos,
        collected,
        hostname,
        port,
        client_id,
        keepalive,
        will,
        auth,
        tls,
        protocol,
        transport,
        None if protocol == mqtt.MQTTv5 else clean_session,  # type: ignore[arg-type]
        proxy_args,
    )
    return collected["messages"]  # type: ignore[no-any-return]
