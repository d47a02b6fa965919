"""A paho-mqtt compatible MQTT client with a Rust core.

A script written for paho-mqtt runs unchanged after one edit::

    import turbomqtt.client as mqtt      # was: import paho.mqtt.client as mqtt

The names, signatures, defaults, return codes, exceptions and callback semantics are paho's
(2.2): callbacks run only on the thread that drives the loop (the ``loop_start()`` thread, or
the caller of ``loop()``/``loop_forever()``), one at a time, in the order the broker sent. The
protocol, sockets and TLS run in Rust on one shared runtime; Python sees finished events.

One deliberate difference: ``Client("my-id")`` (paho 1.x's positional client id, which paho 2
rejects with ``TypeError``) works as it did in paho 1.x, with VERSION1 callbacks and a
``DeprecationWarning``.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import socket
import ssl
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from turbomqtt import _core, _shared_loop
from turbomqtt._callbacks import _LOGGING_LEVEL, _CallbackMixin, _properties, _reason
from turbomqtt._message import MQTTMessage, MQTTMessageInfo, error_string
from turbomqtt._tls import TlsSettings
from turbomqtt.enums import (
    CallbackAPIVersion,
    ConnackCode,
    LogLevel,
    MessageState,
    MessageType,
    MQTTErrorCode,
    MQTTProtocolVersion,
    PahoClientMode,
    _ConnectionState,
)
from turbomqtt.errors import WebsocketConnectionError
from turbomqtt.exception import MalformedPacket, MQTTException
from turbomqtt.matcher import MQTTMatcher
from turbomqtt.packettypes import PacketTypes
from turbomqtt.properties import Properties, VariableByteIntegers
from turbomqtt.reasoncodes import ReasonCode, ReasonCodes
from turbomqtt.subscribeoptions import SubscribeOptions

if TYPE_CHECKING:
    from turbomqtt._core import _ConnectArgs

__all__ = [
    "Client",
    "ConnectFlags",
    "DisconnectFlags",
    "MQTTMessage",
    "MQTTMessageInfo",
    "WebsocketConnectionError",
    "connack_string",
    "error_string",
    "topic_matches_sub",
]

# --- module constants, as paho.mqtt.client exports them --------------------------------------

MQTTv31 = MQTTProtocolVersion.MQTTv31
MQTTv311 = MQTTProtocolVersion.MQTTv311
MQTTv5 = MQTTProtocolVersion.MQTTv5

CONNECT = MessageType.CONNECT
CONNACK = MessageType.CONNACK
PUBLISH = MessageType.PUBLISH
PUBACK = MessageType.PUBACK
PUBREC = MessageType.PUBREC
PUBREL = MessageType.PUBREL
PUBCOMP = MessageType.PUBCOMP
SUBSCRIBE = MessageType.SUBSCRIBE
SUBACK = MessageType.SUBACK
UNSUBSCRIBE = MessageType.UNSUBSCRIBE
UNSUBACK = MessageType.UNSUBACK
PINGREQ = MessageType.PINGREQ
PINGRESP = MessageType.PINGRESP
DISCONNECT = MessageType.DISCONNECT
AUTH = MessageType.AUTH

MQTT_LOG_INFO = LogLevel.MQTT_LOG_INFO
MQTT_LOG_NOTICE = LogLevel.MQTT_LOG_NOTICE
MQTT_LOG_WARNING = LogLevel.MQTT_LOG_WARNING
MQTT_LOG_ERR = LogLevel.MQTT_LOG_ERR
MQTT_LOG_DEBUG = LogLevel.MQTT_LOG_DEBUG
# paho's name for the table enable_logger() uses; defined once, in _callbacks.
LOGGING_LEVEL = _LOGGING_LEVEL

CONNACK_ACCEPTED = ConnackCode.CONNACK_ACCEPTED
CONNACK_REFUSED_PROTOCOL_VERSION = ConnackCode.CONNACK_REFUSED_PROTOCOL_VERSION
CONNACK_REFUSED_IDENTIFIER_REJECTED = ConnackCode.CONNACK_REFUSED_IDENTIFIER_REJECTED
CONNACK_REFUSED_SERVER_UNAVAILABLE = ConnackCode.CONNACK_REFUSED_SERVER_UNAVAILABLE
CONNACK_REFUSED_BAD_USERNAME_PASSWORD = ConnackCode.CONNACK_REFUSED_BAD_USERNAME_PASSWORD
CONNACK_REFUSED_NOT_AUTHORIZED = ConnackCode.CONNACK_REFUSED_NOT_AUTHORIZED

mqtt_ms_invalid = MessageState.MQTT_MS_INVALID
mqtt_ms_publish = MessageState.MQTT_MS_PUBLISH
mqtt_ms_wait_for_puback = MessageState.MQTT_MS_WAIT_FOR_PUBACK
mqtt_ms_wait_for_pubrec = MessageState.MQTT_MS_WAIT_FOR_PUBREC
mqtt_ms_resend_pubrel = MessageState.MQTT_MS_RESEND_PUBREL
mqtt_ms_wait_for_pubrel = MessageState.MQTT_MS_WAIT_FOR_PUBREL
mqtt_ms_resend_pubcomp = MessageState.MQTT_MS_RESEND_PUBCOMP
mqtt_ms_wait_for_pubcomp = MessageState.MQTT_MS_WAIT_FOR_PUBCOMP
mqtt_ms_send_pubrec = MessageState.MQTT_MS_SEND_PUBREC
mqtt_ms_queued = MessageState.MQTT_MS_QUEUED

MQTT_ERR_AGAIN = MQTTErrorCode.MQTT_ERR_AGAIN
MQTT_ERR_SUCCESS = MQTTErrorCode.MQTT_ERR_SUCCESS
MQTT_ERR_NOMEM = MQTTErrorCode.MQTT_ERR_NOMEM
MQTT_ERR_PROTOCOL = MQTTErrorCode.MQTT_ERR_PROTOCOL
MQTT_ERR_INVAL = MQTTErrorCode.MQTT_ERR_INVAL
MQTT_ERR_NO_CONN = MQTTErrorCode.MQTT_ERR_NO_CONN
MQTT_ERR_CONN_REFUSED = MQTTErrorCode.MQTT_ERR_CONN_REFUSED
MQTT_ERR_NOT_FOUND = MQTTErrorCode.MQTT_ERR_NOT_FOUND
MQTT_ERR_CONN_LOST = MQTTErrorCode.MQTT_ERR_CONN_LOST
MQTT_ERR_TLS = MQTTErrorCode.MQTT_ERR_TLS
MQTT_ERR_PAYLOAD_SIZE = MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE
MQTT_ERR_NOT_SUPPORTED = MQTTErrorCode.MQTT_ERR_NOT_SUPPORTED
MQTT_ERR_AUTH = MQTTErrorCode.MQTT_ERR_AUTH
MQTT_ERR_ACL_DENIED = MQTTErrorCode.MQTT_ERR_ACL_DENIED
MQTT_ERR_UNKNOWN = MQTTErrorCode.MQTT_ERR_UNKNOWN
MQTT_ERR_ERRNO = MQTTErrorCode.MQTT_ERR_ERRNO
MQTT_ERR_QUEUE_SIZE = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
MQTT_ERR_KEEPALIVE = MQTTErrorCode.MQTT_ERR_KEEPALIVE

MQTT_CLIENT = PahoClientMode.MQTT_CLIENT
MQTT_BRIDGE = PahoClientMode.MQTT_BRIDGE

MQTT_CLEAN_START_FIRST_ONLY = 3

PayloadType = Union[str, bytes, bytearray, int, float, None]
CleanStartOption = Union[bool, int]

# The same objects paho re-exports, for `mqtt.ssl.CERT_NONE` style scripts.
__all__ += ["socket", "ssl"]

_MAX_PAYLOAD = 268435455
_MAX_TOPIC = 65535


class ConnectFlags(NamedTuple):
    """The ``flags`` argument of a VERSION2 ``on_connect``."""

    session_present: bool


class DisconnectFlags(NamedTuple):
    """The ``flags`` argument of a VERSION2 ``on_disconnect``."""

    is_disconnect_packet_from_server: bool


# --- typing aliases paho exports: the shape of each callback, per API version and protocol ----
# ("Client" is a forward reference; the socket argument of on_socket_* is None here.)

HTTPHeader = dict[str, str]
WebSocketHeaders = Union[Callable[[HTTPHeader], HTTPHeader], HTTPHeader]

_OptProps = Optional[Properties]
CallbackOnConnect_v1_mqtt3 = Callable[["Client", Any, dict[str, Any], MQTTErrorCode], None]
CallbackOnConnect_v1_mqtt5 = Callable[["Client", Any, dict[str, Any], ReasonCode, _OptProps], None]
CallbackOnConnect_v1 = Union[CallbackOnConnect_v1_mqtt5, CallbackOnConnect_v1_mqtt3]
CallbackOnConnect_v2 = Callable[["Client", Any, ConnectFlags, ReasonCode, _OptProps], None]
CallbackOnConnect = Union[CallbackOnConnect_v1, CallbackOnConnect_v2]
CallbackOnConnectFail = Callable[["Client", Any], None]
CallbackOnDisconnect_v1_mqtt3 = Callable[["Client", Any, MQTTErrorCode], None]
CallbackOnDisconnect_v1_mqtt5 = Callable[
    ["Client", Any, Union[ReasonCode, int, None], _OptProps], None
]
CallbackOnDisconnect_v1 = Union[CallbackOnDisconnect_v1_mqtt3, CallbackOnDisconnect_v1_mqtt5]
CallbackOnDisconnect_v2 = Callable[["Client", Any, DisconnectFlags, ReasonCode, _OptProps], None]
CallbackOnDisconnect = Union[CallbackOnDisconnect_v1, CallbackOnDisconnect_v2]
CallbackOnLog = Callable[["Client", Any, int, str], None]
CallbackOnMessage = Callable[["Client", Any, "MQTTMessage"], None]
CallbackOnPreConnect = Callable[["Client", Any], None]
CallbackOnPublish_v1 = Callable[["Client", Any, int], None]
CallbackOnPublish_v2 = Callable[["Client", Any, int, ReasonCode, Properties], None]
CallbackOnPublish = Union[CallbackOnPublish_v1, CallbackOnPublish_v2]
CallbackOnSocket = Callable[["Client", Any, Any], None]
CallbackOnSubscribe_v1_mqtt3 = Callable[["Client", Any, int, tuple[int, ...]], None]
CallbackOnSubscribe_v1_mqtt5 = Callable[["Client", Any, int, list[ReasonCode], Properties], None]
CallbackOnSubscribe_v1 = Union[CallbackOnSubscribe_v1_mqtt3, CallbackOnSubscribe_v1_mqtt5]
CallbackOnSubscribe_v2 = Callable[["Client", Any, int, list[ReasonCode], _OptProps], None]
CallbackOnSubscribe = Union[CallbackOnSubscribe_v1, CallbackOnSubscribe_v2]
CallbackOnUnsubscribe_v1_mqtt3 = Callable[["Client", Any, int], None]
CallbackOnUnsubscribe_v1_mqtt5 = Callable[
    ["Client", Any, int, Properties, Union[ReasonCode, list[ReasonCode]]], None
]
CallbackOnUnsubscribe_v1 = Union[CallbackOnUnsubscribe_v1_mqtt3, CallbackOnUnsubscribe_v1_mqtt5]
CallbackOnUnsubscribe_v2 = Callable[["Client", Any, int, list[ReasonCode], _OptProps], None]
CallbackOnUnsubscribe = Union[CallbackOnUnsubscribe_v1, CallbackOnUnsubscribe_v2]

# Module globals paho scripts occasionally touch.
EAGAIN = errno.EAGAIN
time_func = time.monotonic
sockpair_data = b"0"
try:
    import dns.resolver  # type: ignore[import-not-found] # noqa: F401

    HAVE_DNS = True
except ImportError:
    HAVE_DNS = False
try:
    import socks  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError:
    socks = None


def connack_string(connack_code: Union[int, ReasonCode]) -> str:
    """The English description of a CONNACK return code (or the name of a ``ReasonCode``)."""
    if isinstance(connack_code, ReasonCode):
        return str(connack_code)
    return {
        0: "Connection Accepted.",
        1: "Connection Refused: unacceptable protocol version.",
        2: "Connection Refused: identifier rejected.",
        3: "Connection Refused: broker unavailable.",
        4: "Connection Refused: bad user name or password.",
        5: "Connection Refused: not authorised.",
    }.get(connack_code, "Connection Refused: unknown reason.")


def convert_connack_rc_to_reason_code(connack_code: Union[int, ReasonCode]) -> ReasonCode:
    """An MQTT 3 CONNACK return code as the MQTT 5 ``ReasonCode`` with the same meaning."""
    if isinstance(connack_code, ReasonCode):
        return connack_code
    ident = {0: 0, 1: 132, 2: 133, 3: 136, 4: 134, 5: 135}.get(connack_code, 128)
    return ReasonCode(PacketTypes.CONNACK, identifier=ident)


def convert_disconnect_error_code_to_reason_code(
    rc: Union[MQTTErrorCode, ReasonCode],
) -> ReasonCode:
    """An ``MQTT_ERR_*`` code as the DISCONNECT ``ReasonCode`` paho reports for it."""
    if isinstance(rc, ReasonCode):
        return rc
    ident = {
        MQTTErrorCode.MQTT_ERR_SUCCESS: 0,
        MQTTErrorCode.MQTT_ERR_KEEPALIVE: 141,
        MQTTErrorCode.MQTT_ERR_PROTOCOL: 130,
    }.get(rc, 128)
    return ReasonCode(PacketTypes.DISCONNECT, identifier=ident)


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Whether ``topic`` matches the subscription filter ``sub`` (paho's rules)."""
    return _core.topic_matches_sub(sub, topic)


_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base62(num: int, base: str = _BASE62, padding: int = 1) -> str:
    """``num`` written in base 62, at least ``padding`` digits (paho's random client ids)."""
    digits = []
    while num:
        num, rest = divmod(num, len(base))
        digits.append(base[rest])
    return "".join(reversed(digits)).rjust(padding, base[0])


def base62(num: int, base: str = _BASE62, padding: int = 1) -> str:
    """paho 1.x's ``base62`` (removed in paho 2.0, where a 1.x script calling it fails): kept so
    such scripts run, with a ``DeprecationWarning``."""
    warnings.warn(
        "base62() was removed in paho-mqtt 2.0; turbomqtt keeps it for paho 1.x scripts",
        DeprecationWarning,
        stacklevel=2,
    )
    return _base62(num, base, padding)


def _force_bytes(s: Union[str, bytes]) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else s


def _encode_payload(payload: PayloadType) -> Union[bytes, bytearray]:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (int, float)):
        return str(payload).encode("ascii")
    if payload is None:
        return b""
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError("payload must be a string, bytearray, int, float or None.")
    return payload


def _filter_is_valid(sub: bytes) -> bool:
    # paho's rule: not empty, not too long, '+'/'#' alone in their level, '#' only last.
    return not (
        len(sub) == 0
        or len(sub) > _MAX_TOPIC
        or any(b"+" in p or b"#" in p for p in sub.split(b"/") if len(p) > 1)
        or b"#/" in sub
    )


_LIVE_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()

# The rc values CoreClient.publish returns, as enum members without an enum call per message.
_RC = {int(rc): rc for rc in MQTTErrorCode}

# Event kinds of _core.CoreClient.next_events(), see src/py/client.rs.
_EV_CONNACK = _core.EV_CONNACK
_EV_MESSAGE = _core.EV_MESSAGE
_EV_PUBLISHED = _core.EV_PUBLISHED
_EV_SUBACK = _core.EV_SUBACK
_EV_UNSUBACK = _core.EV_UNSUBACK
_EV_DISCONNECTED = _core.EV_DISCONNECTED
_EV_LOG = _core.EV_LOG
_EV_RETRY = _core.EV_RETRY
_EV_CONNECT_RESULT = _core.EV_CONNECT_RESULT

# Set to 1 for paho's thread per loop_start() client (see Client.loop_start).
_THREAD_PER_CLIENT_ENV = "TURBOMQTT_LOOP_THREAD_PER_CLIENT"
# loop_stop() waits for pending acks only while one comes at least this often (seconds).
_STOP_GRACE = 1.0


class Client(_CallbackMixin):
    """An MQTT 3.1, 3.1.1 and 5 client, paho-mqtt's ``Client`` with the protocol in Rust.

    :param callback_api_version: ``CallbackAPIVersion.VERSION2`` for paho 2's callback
        signatures; ``VERSION1`` (the default, deprecated) for paho 1.x's. A ``str`` here is taken
        as paho 1.x's positional client id.
    :param client_id: the client identifier; ``""`` lets the broker assign one (MQTT 3.1: a
        random id is made).
    :param clean_session: MQTT 3 clean-session flag (default True).
    :param userdata: passed as the second argument to every callback.
    :param protocol: ``MQTTv311`` (default), ``MQTTv31`` or ``MQTTv5``.
    :param transport: ``"tcp"``, ``"websockets"`` or ``"unix"``.
    :param reconnect_on_failure: reconnect automatically in ``loop_forever``/``loop_start``.
    :param manual_ack: acknowledge received QoS 1/2 messages with :meth:`ack` only.
    """

    def __init__(
        self,
        callback_api_version: CallbackAPIVersion = CallbackAPIVersion.VERSION1,
        client_id: Optional[Union[str, bytes]] = "",
        clean_session: Optional[bool] = None,
        userdata: Any = None,
        protocol: MQTTProtocolVersion = MQTTv311,
        transport: str = "tcp",
        reconnect_on_failure: bool = True,
        manual_ack: bool = False,
    ) -> None:
        if isinstance(callback_api_version, (str, bytes)):
            # paho 1.x: Client(client_id="", clean_session=None, userdata=None, ...), and the
            # first positional argument was the client id. paho 2 refuses this; we run it.
            if isinstance(client_id, bool):
                clean_session, client_id = client_id, callback_api_version
            else:
                client_id = callback_api_version
            callback_api_version = CallbackAPIVersion.VERSION1
        transport = transport.lower()
        if transport == "unix" and not hasattr(socket, "AF_UNIX"):
            raise ValueError('"unix" transport not supported')
        if transport not in ("websockets", "tcp", "unix"):
            raise ValueError(f'transport must be "websockets", "tcp" or "unix", not {transport}')
        if callback_api_version == CallbackAPIVersion.VERSION1:
            warnings.warn(
                "Callback API version 1 is deprecated, update to latest version",
                category=DeprecationWarning,
                stacklevel=2,
            )
        if not isinstance(callback_api_version, CallbackAPIVersion):
            raise ValueError("Unsupported callback API version")
        if protocol == MQTTv5:
            # MQTT 5 has clean_start, an argument of connect(), instead.
            if clean_session is not None:
                raise ValueError("Clean session is not used for MQTT 5.0")
            clean_session = True
        else:
            if clean_session is None:
                clean_session = True
            if not clean_session and (client_id == "" or client_id is None):
                raise ValueError("A client id must be provided if clean session is False.")

        self._callback_api_version = callback_api_version
        self._manual_ack = manual_ack
        self._transport = transport
        self._protocol = MQTTProtocolVersion(protocol)
        self._userdata = userdata
        self._clean_session = bool(clean_session)
        if client_id == "" or client_id is None:
            if protocol == MQTTv31:
                self._client_id = _base62(uuid.uuid4().int, padding=22).encode("utf8")
            else:
                self._client_id = b""
        else:
            self._client_id = _force_bytes(client_id)
        self._keepalive = 60
        self._connect_timeout = 5.0
        self._client_mode = MQTT_CLIENT
        self._username: Optional[bytes] = None
        self._password: Optional[bytes] = None
        self._will = False
        self._will_topic = b""
        self._will_payload: Union[bytes, bytearray] = b""
        self._will_qos = 0
        self._will_retain = False
        self._will_properties: Optional[Properties] = None
        # MQTT 5: connect()'s clean_start and properties; FIRST_ONLY asks for a clean start
        # until a CONNACK has been received once since connect().
        self._clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY
        self._connect_properties: Optional[Properties] = None
        self._mqttv5_first_connect = True
        self._host = ""
        self._port = 1883
        self._bind_address = ""
        self._bind_port = 0
        self._max_inflight_messages = 20
        self._max_queued_messages = 0
        self._reconnect_min_delay = 1
        self._reconnect_max_delay = 120
        self._reconnect_delay: Optional[float] = None
        self._reconnect_on_failure = reconnect_on_failure
        self._reconnect_delay_mutex = threading.Lock()
        self._state = _ConnectionState.MQTT_CS_NEW
        self._tls: Optional[TlsSettings] = None
        self._websocket_path = "/mqtt"
        self._websocket_extra_headers: Any = None
        self._proxy: dict[str, Any] = {}
        self._logger: Optional[logging.Logger] = None
        self._thread: Optional[threading.Thread] = None
        self._thread_terminate = False
        # loop_start()/loop_stop() from different threads; and loop_stop()'s wait for acks.
        self._loop_start_lock = threading.Lock()
        self._stop_wait: Optional[tuple[int, float]] = None
        # The shared loop (loop_start without a thread of our own): the lane this client is
        # pinned to, its key there, the due time of its next reconnect attempt, whether a
        # start_connect is under way or has just failed; set when loop_stop has taken effect.
        self._lane: Optional[_shared_loop._Lane] = None
        self._lane_key: Optional[int] = None
        self._lane_due: Optional[float] = None
        self._lane_connecting = False
        self._lane_failed = False
        self._lane_stopped = threading.Event()
        # Held by a lane while it runs this client's callbacks: never two lanes at once.
        self._dispatch_lock = threading.Lock()
        self._in_callback_mutex = threading.Lock()
        self._callback_mutex = threading.RLock()
        # mid -> MQTTMessageInfo for publishes not yet reported published.
        self._pending_infos: dict[int, MQTTMessageInfo] = {}
        self._pending_lock = threading.Lock()
        self._on_message_filtered = MQTTMatcher()
        self._init_callbacks()
        self.suppress_exceptions = False
        self._core = _core.CoreClient(int(self._protocol))
        self._published_events_update()
        _LIVE_CLIENTS.add(self)

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None:
            core.close()

    # --- properties ---------------------------------------------------------------------------

    def _locked(self, name: str) -> None:
        if not self._connection_closed():
            raise RuntimeError(f"updating {name} on established connection is not supported")

    @property
    def host(self) -> str:
        """The broker's host name or address (or socket path for ``transport="unix"``)."""
        return self._host

    @host.setter
    def host(self, value: str) -> None:
        self._locked("host")
        if not value:
            raise ValueError("Invalid host.")
        self._host = value

    @property
    def port(self) -> int:
        """The broker's port."""
        return self._port

    @port.setter
    def port(self, value: int) -> None:
        self._locked("port")
        if value <= 0:
            raise ValueError("Invalid port number.")
        self._port = value

    @property
    def keepalive(self) -> int:
        """Seconds between messages before a PINGREQ is sent."""
        return self._keepalive

    @keepalive.setter
    def keepalive(self, value: int) -> None:
        self._locked("keepalive")
        if value < 0:
            raise ValueError("Keepalive must be >=0.")
        self._keepalive = value

    @property
    def transport(self) -> str:
        """``"tcp"``, ``"websockets"`` or ``"unix"``."""
        return self._transport

    @transport.setter
    def transport(self, value: str) -> None:
        self._locked("transport")
        self._transport = value

    @property
    def protocol(self) -> MQTTProtocolVersion:
        """The protocol version (read-only)."""
        return self._protocol

    @property
    def connect_timeout(self) -> float:
        """Seconds allowed for the TCP, TLS and WebSocket set-up of a connection."""
        return self._connect_timeout

    @connect_timeout.setter
    def connect_timeout(self, value: float) -> None:
        self._locked("connect_timeout")
        if value <= 0.0:
            raise ValueError("timeout must be a positive number")
        self._connect_timeout = value

    @property
    def username(self) -> Optional[str]:
        """The user name sent in CONNECT."""
        return None if self._username is None else self._username.decode("utf-8")

    @username.setter
    def username(self, value: Optional[str]) -> None:
        self._locked("username")
        self._username = None if value is None else value.encode("utf-8")

    @property
    def password(self) -> Optional[str]:
        """The password sent in CONNECT."""
        return None if self._password is None else self._password.decode("utf-8")

    @password.setter
    def password(self, value: Optional[str]) -> None:
        self._locked("password")
        self._password = None if value is None else value.encode("utf-8")

    @property
    def max_inflight_messages(self) -> int:
        """QoS 1/2 messages in flight at once (0: no limit)."""
        return self._max_inflight_messages

    @max_inflight_messages.setter
    def max_inflight_messages(self, value: int) -> None:
        self._locked("max_inflight_messages")
        if value < 0:
            raise ValueError("Invalid inflight.")
        self._max_inflight_messages = value
        self._core.set_limits(self._max_inflight_messages, self._max_queued_messages)

    @property
    def max_queued_messages(self) -> int:
        """QoS 1/2 messages kept waiting at most (0: no limit)."""
        return self._max_queued_messages

    @max_queued_messages.setter
    def max_queued_messages(self, value: int) -> None:
        self._locked("max_queued_messages")
        if value < 0:
            raise ValueError("Invalid queue size.")
        self._max_queued_messages = value
        self._core.set_limits(self._max_inflight_messages, self._max_queued_messages)

    # MQTT's largest remaining length, and paho's only limit on what it accepts.
    _max_incoming_packet_size = 268_435_455

    @property
    def max_incoming_packet_size(self) -> int:
        """The largest packet the broker may send, as its remaining length in bytes
        (everything after the 2 to 5 byte fixed header: topic, packet id, properties, payload).

        A larger packet is a protocol error: the client drops the connection
        (``on_disconnect`` with ``MQTT_ERR_PROTOCOL``, then reconnects as after any loss) as
        soon as the packet's header arrives, without reading or buffering its body. The
        default, 268,435,455, is the most MQTT can express and what paho accepts; lower it when
        a broker you do not trust could make the client buffer that much (about 256 MiB) per
        connection. Not a paho attribute. Any time, also while connected; 1 to 268,435,455.
        """
        return self._max_incoming_packet_size

    @max_incoming_packet_size.setter
    def max_incoming_packet_size(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("max_incoming_packet_size must be an int")
        if not 1 <= value <= 268_435_455:
            raise ValueError("max_incoming_packet_size must be between 1 and 268435455")
        self._core.set_max_incoming_packet_size(value)
        self._max_incoming_packet_size = value

    @property
    def will_topic(self) -> Optional[str]:
        """The will's topic (``""`` when no will is set)."""
        return self._will_topic.decode("utf-8")

    @property
    def will_payload(self) -> Optional[Union[bytes, bytearray]]:
        """The will's payload."""
        return self._will_payload

    @property
    def logger(self) -> Optional[logging.Logger]:
        """The logger :meth:`enable_logger` writes to."""
        return self._logger

    @logger.setter
    def logger(self, value: Optional[logging.Logger]) -> None:
        self._logger = value
        self._published_events_update()

    @property
    def callback_api_version(self) -> CallbackAPIVersion:
        """The callback API version the client was made with (read-only)."""
        return self._callback_api_version

    # --- configuration --------------------------------------------------------------------------

    def reinitialise(
        self,
        client_id: str = "",
        clean_session: bool = True,
        userdata: Any = None,
    ) -> None:
        """Close the connection and reset the client as if newly made (callbacks, TLS and the
        protocol return to their defaults; the callback API version is kept)."""
        self._core.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.__init__(  # type: ignore[misc]
                self._callback_api_version,
                client_id=client_id,
                clean_session=clean_session,
                userdata=userdata,
            )

    def ws_set_options(
        self,
        path: str = "/mqtt",
        headers: Union[dict[str, str], Callable[[dict[str, str]], dict[str, str]], None] = None,
    ) -> None:
        """Set the WebSocket path and extra handshake headers (a dict, or a function that takes
        the default headers and returns the ones to send)."""
        self._websocket_path = path
        if headers is not None:
            if isinstance(headers, dict) or callable(headers):
                self._websocket_extra_headers = headers
            else:
                raise ValueError(
                    "'headers' option to ws_set_options has to be either a dictionary or callable"
                )

    def tls_set_context(self, context: Optional[ssl.SSLContext] = None) -> None:
        """Use TLS configured from an ``ssl.SSLContext`` (default ``ssl.create_default_context()``).

        The verification mode, host-name check, CA certificates loaded into it and its protocol
        versions are taken over; a client certificate loaded into a context cannot be read back
        from it, so use :meth:`tls_set` with ``certfile``/``keyfile`` for mutual TLS.
        """
        if self._tls is not None:
            raise ValueError("SSL/TLS has already been configured.")
        if context is None:
            context = ssl.create_default_context()
        self._tls = TlsSettings.from_context(context)

    def tls_set(
        self,
        ca_certs: Optional[str] = None,
        certfile: Optional[str] = None,
        keyfile: Optional[str] = None,
        cert_reqs: Optional[ssl.VerifyMode] = None,
        tls_version: Optional[int] = None,
        ciphers: Optional[str] = None,
        keyfile_password: Optional[Any] = None,
        alpn_protocols: Optional[list[str]] = None,
    ) -> None:
        """Enable TLS. Without ``ca_certs`` the system's trust store is used (honouring
        ``SSL_CERT_FILE``/``SSL_CERT_DIR``). ``cert_reqs=ssl.CERT_NONE`` skips verification.

        :raises FileNotFoundError: a file does not exist.
        :raises ssl.SSLError: a file cannot be read as a certificate or key.
        :raises ValueError: TLS was configured already.
        """
        if self._tls is not None:
            raise ValueError("SSL/TLS has already been configured.")
        self._tls = TlsSettings.from_files(
            ca_certs=ca_certs,
            certfile=certfile,
            keyfile=keyfile,
            cert_reqs=cert_reqs,
            tls_version=tls_version,
            ciphers=ciphers,
            keyfile_password=keyfile_password,
            alpn_protocols=alpn_protocols,
        )

    def tls_insecure_set(self, value: bool) -> None:
        """Skip (True) or do (False) the check of the broker certificate's host name; the
        chain of trust is still checked. Call after :meth:`tls_set`."""
        if self._tls is None:
            raise ValueError("Must configure SSL context before using tls_insecure_set.")
        self._tls = self._tls.set_insecure(bool(value))

    def proxy_set(self, **proxy_args: Any) -> None:
        """Connect through a SOCKS or HTTP proxy. Not supported by turbomqtt yet."""
        raise ValueError("PySocks must be installed for proxy support.")

    def enable_logger(self, logger: Optional[logging.Logger] = None) -> None:
        """Send the client's log lines to ``logger`` (default: the ``paho.mqtt.client``
        logger, as paho does, so existing logging configuration keeps working)."""
        if logger is None:
            if self._logger is not None:
                return
            logger = logging.getLogger("paho.mqtt.client")
        self._logger = logger
        self._published_events_update()

    def disable_logger(self) -> None:
        """Stop sending log lines to the logger (``on_log`` is unaffected)."""
        self._logger = None
        self._published_events_update()

    def username_pw_set(
        self, username: Optional[str], password: Optional[Union[str, bytes]] = None
    ) -> None:
        """Set the user name and password for the next CONNECT (``None`` clears them)."""
        self._username = None if username is None else username.encode("utf-8")
        self._password = password.encode("utf-8") if isinstance(password, str) else password

    def enable_bridge_mode(self) -> None:
        """Mark the CONNECT as a bridge's (protocol level with bit 0x80, for mosquitto)."""
        self._client_mode = MQTT_BRIDGE

    def will_set(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Optional[Properties] = None,
    ) -> None:
        """Set the Last Will and Testament the broker publishes if the connection drops."""
        if topic is None or len(topic) == 0:
            raise ValueError("Invalid topic.")
        if qos < 0 or qos > 2:
            raise ValueError("Invalid QoS level.")
        if properties and not isinstance(properties, Properties):
            raise ValueError("The properties argument must be an instance of the Properties class.")
        self._will_payload = _encode_payload(payload)
        self._will = True
        self._will_topic = topic.encode("utf-8")
        self._will_qos = qos
        self._will_retain = retain
        self._will_properties = properties

    def will_clear(self) -> None:
        """Remove the will."""
        self._will = False
        self._will_topic = b""
        self._will_payload = b""
        self._will_qos = 0
        self._will_retain = False
        self._will_properties = None

    def reconnect_delay_set(self, min_delay: int = 1, max_delay: int = 120) -> None:
        """Automatic reconnects wait ``min_delay`` seconds, doubling up to ``max_delay``."""
        with self._reconnect_delay_mutex:
            self._reconnect_min_delay = min_delay
            self._reconnect_max_delay = max_delay
            self._reconnect_delay = None

    def message_retry_set(self, retry: int) -> None:
        """paho 1.x's retry interval for unacknowledged messages (removed in paho 2.0, where a
        1.x script calling it fails). Accepted with a ``DeprecationWarning`` and otherwise
        ignored: as in paho 2, QoS 1/2 messages are re-sent when the connection is re-made.

        :raises ValueError: ``retry`` is negative (as paho 1.x).
        """
        warnings.warn(
            "message_retry_set() was removed in paho-mqtt 2.0 and has no effect: unacknowledged "
            "QoS 1/2 messages are re-sent after a reconnect",
            DeprecationWarning,
            stacklevel=2,
        )
        if retry < 0:
            raise ValueError("Invalid retry.")

    def max_inflight_messages_set(self, inflight: int) -> None:
        """At most ``inflight`` QoS 1/2 messages in flight at once (default 20, 0: no limit)."""
        self.max_inflight_messages = inflight

    def max_queued_messages_set(self, queue_size: int) -> Client:
        """At most ``queue_size`` QoS 1/2 messages kept (default 0: no limit). Returns self."""
        if not isinstance(queue_size, int):
            raise TypeError("queue_size should be an int")
        self.max_queued_messages = queue_size
        return self

    def user_data_set(self, userdata: Any) -> None:
        """Replace the ``userdata`` passed to callbacks."""
        self._userdata = userdata

    def user_data_get(self) -> Any:
        """The ``userdata`` passed to callbacks."""
        return self._userdata

    def manual_ack_set(self, on: bool) -> None:
        """Switch manual acknowledgement of received QoS 1/2 messages on or off."""
        self._manual_ack = bool(on)
        self._core.set_manual_ack(self._manual_ack)

    # --- connection -----------------------------------------------------------------------------

    def connect(
        self,
        host: str,
        port: int = 1883,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
        properties: Optional[Properties] = None,
    ) -> MQTTErrorCode:
        """Connect to a broker: blocks until the connection is open and CONNECT is sent.

        The CONNACK is handled by a network loop (``loop_start``, ``loop_forever``, ``loop``).

        :param clean_start: MQTT 5 only: ``True`` (a new session every time), ``False`` (resume
            the broker's session), or ``MQTT_CLEAN_START_FIRST_ONLY`` (clean on the first
            successful connect, resumed on reconnects).
        :param properties: MQTT 5 only: ``Properties(PacketTypes.CONNECT)`` sent in CONNECT
            (``SessionExpiryInterval``, ``ReceiveMaximum``, ``TopicAliasMaximum``, ...).
        :raises ConnectionRefusedError, socket.gaierror, TimeoutError, ssl.SSLError: as paho.
        :raises ValueError: ``clean_start`` or ``properties`` given under MQTT 3.
        """
        if self._protocol == MQTTv5:
            self._mqttv5_first_connect = True
        else:
            if clean_start != MQTT_CLEAN_START_FIRST_ONLY:
                raise ValueError("Clean start only applies to MQTT V5")
            if properties:
                raise ValueError("Properties only apply to MQTT V5")
        self.connect_async(host, port, keepalive, bind_address, bind_port, clean_start, properties)
        return self.reconnect()

    def connect_async(
        self,
        host: str,
        port: int = 1883,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
        properties: Optional[Properties] = None,
    ) -> None:
        """Record where to connect; ``loop_start``/``loop_forever`` make the connection."""
        if bind_port < 0:
            raise ValueError("Invalid bind port number.")
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self._bind_address = bind_address
        self._bind_port = bind_port
        self._clean_start = clean_start
        self._connect_properties = properties
        self._state = _ConnectionState.MQTT_CS_CONNECT_ASYNC

    def connect_srv(
        self,
        domain: Optional[str] = None,
        keepalive: int = 60,
        bind_address: str = "",
        bind_port: int = 0,
        clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
        properties: Optional[Properties] = None,
    ) -> MQTTErrorCode:
        """Connect to a broker found by a DNS SRV lookup (needs dnspython)."""
        try:
            import dns.resolver  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise ValueError('No DNS resolver library found, try "pip install dnspython".') from exc
        if domain is None:
            domain = socket.getfqdn()
            domain = domain[domain.find(".") + 1 :]
        try:
            rr = f"_mqtt._tcp.{domain}" if self._tls is None else f"_secure-mqtt._tcp.{domain}"
            answers = [
                (str(a.target).rstrip("."), a.port, a.priority, a.weight)
                for a in dns.resolver.query(rr, "SRV")
            ]
        except dns.resolver.NXDOMAIN as exc:
            raise ValueError(f"No answer/NXDOMAIN for SRV in {domain}") from exc
        for host, port, _prio, _weight in answers:
            try:
                return self.connect(
                    host, port, keepalive, bind_address, bind_port, clean_start, properties
                )
            except Exception:  # noqa: S112 - try the next SRV target, as paho does
                continue
        raise ValueError("No SRV hosts responded")

    def reconnect(self) -> MQTTErrorCode:
        """Open the connection again with the stored parameters and send CONNECT."""
        self._core.connect(self._before_connect())
        self._call_socket_open()
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _before_connect(self) -> _ConnectArgs:
        """What every (re)connect does first (checks, ``on_pre_connect``, the log line); returns
        the arguments of ``CoreClient.connect``/``start_connect``."""
        if len(self._host) == 0:
            raise ValueError("Invalid host.")
        if self._port <= 0:
            raise ValueError("Invalid port number.")
        self._state = _ConnectionState.MQTT_CS_CONNECTING
        self._core.close()
        self._call_pre_connect()
        will = (
            (self._will_topic, bytes(self._will_payload), self._will_qos, self._will_retain)
            if self._will
            else None
        )
        v5 = self._protocol == MQTTv5
        if v5:
            clean = bool(
                self._mqttv5_first_connect
                if self._clean_start == MQTT_CLEAN_START_FIRST_ONLY
                else self._clean_start
            )
        else:
            clean = self._clean_session
        fmt = "Sending CONNECT (u%d, p%d, wr%d, wq%d, wf%d, c%d, k%d) client_id=%r"
        args: tuple[Any, ...] = (
            int(self._username is not None),
            int(self._username is not None and self._password is not None),
            int(self._will and self._will_retain),
            self._will_qos if self._will else 0,
            int(self._will),
            int(clean),
            self._keepalive,
            self._client_id,
        )
        if v5:
            fmt += " properties=%s"
            args += (self._connect_properties,)
        self._easy_log(MQTT_LOG_DEBUG, fmt, *args)
        connect_properties = self._connect_properties if v5 else None
        if v5:
            connect_properties = self._declare_incoming_limit(connect_properties)
        will_properties = self._will_properties if v5 and self._will else None
        return {
            "transport": self._transport,
            "host": self._host,
            "port": self._port,
            "keepalive": self._keepalive,
            "bind_address": self._bind_address,
            "bind_port": self._bind_port,
            "timeout": self._connect_timeout,
            "client_id": self._client_id,
            "clean_session": clean,
            "protocol": int(self._protocol),
            "bridge": self._client_mode == MQTT_BRIDGE,
            "username": self._username,
            "password": None if self._password is None else bytes(self._password),
            "will": will,
            "max_inflight": self._max_inflight_messages,
            "max_queued": self._max_queued_messages,
            "tls": None if self._tls is None else self._tls.config(),
            "ws_path": self._websocket_path,
            "ws_headers": self._ws_headers(),
            "manual_ack": self._manual_ack,
            "connect_properties": b"" if connect_properties is None else connect_properties.pack(),
            "will_properties": b"" if will_properties is None else will_properties.pack(),
        }

    def _declare_incoming_limit(self, props: Optional[Properties]) -> Optional[Properties]:
        """MQTT 5: with ``max_incoming_packet_size`` lowered, CONNECT says so in its Maximum
        Packet Size (unless the user's properties already set one), so the broker drops the
        larger messages instead of sending them and having the connection closed for them."""
        limit = self._max_incoming_packet_size
        if limit >= _MAX_PAYLOAD or (props is not None and hasattr(props, "MaximumPacketSize")):
            return props
        # MaximumPacketSize counts the whole packet: fixed header byte and length bytes too.
        length_bytes = len(VariableByteIntegers.encode(limit))
        declared = Properties(PacketTypes.CONNECT)
        if props is not None:
            declared.unpack(props.pack())
        declared.MaximumPacketSize = limit + 1 + length_bytes
        return declared

    def _lane_begin_connect(self) -> None:
        """The shared loop's ``reconnect()``: starts the attempt and returns at once; the
        outcome comes back as an ``EV_CONNECT_RESULT`` event (see ``_handle_connect_result``)."""
        kwargs = self._before_connect()
        self._lane_connecting = True
        try:
            self._core.start_connect(kwargs)
        except OSError as err:
            self._handle_connect_result(False, err)

    def _ws_headers(self) -> list[tuple[str, str]]:
        extra = self._websocket_extra_headers
        if extra is None:
            return []
        if callable(extra):
            defaults = {
                "Host": f"{self._host}:{self._port}",
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Origin": f"https://{self._host}:{self._port}",
                "Sec-WebSocket-Protocol": "mqtt",
                "Sec-Websocket-Version": "13",
            }
            extra = extra(defaults)
        return [(str(k), str(v)) for k, v in dict(extra).items()]

    def _connection_closed(self) -> bool:
        return self._state == _ConnectionState.MQTT_CS_NEW or (
            self._state
            in (_ConnectionState.MQTT_CS_DISCONNECTING, _ConnectionState.MQTT_CS_DISCONNECTED)
            and not self._core.is_open()
        )

    def is_connected(self) -> bool:
        """True once a CONNACK accepted the connection, until it closes."""
        return self._state == _ConnectionState.MQTT_CS_CONNECTED

    def disconnect(
        self,
        reasoncode: Optional[ReasonCode] = None,
        properties: Optional[Properties] = None,
    ) -> MQTTErrorCode:
        """Send DISCONNECT and close the connection; ``on_disconnect`` follows with rc 0.

        Everything published before is written first. Returns ``MQTT_ERR_NO_CONN`` when there
        is no connection.

        :param reasoncode: MQTT 5 only: a ``ReasonCode(PacketTypes.DISCONNECT, ...)``, e.g.
            "Disconnect with will message" to have the broker publish the will.
        :param properties: MQTT 5 only: ``Properties(PacketTypes.DISCONNECT)``
            (``SessionExpiryInterval``, ``ReasonString``, ``UserProperty``).
        """
        if not self._core.is_open():
            self._state = _ConnectionState.MQTT_CS_DISCONNECTED
            if self._lane is not None:
                # No reconnect after this: cancel an attempt under way, let the lane see it.
                if self._lane_connecting:
                    self._lane_connecting = False
                    self._core.close()
                _shared_loop.shared_loop().poke(self)
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        self._state = _ConnectionState.MQTT_CS_DISCONNECTING
        if self._protocol == MQTTv5:
            self._easy_log(
                MQTT_LOG_DEBUG,
                "Sending DISCONNECT reasonCode=%s properties=%s",
                reasoncode,
                properties,
            )
            rc = MQTTErrorCode(
                self._core.disconnect(
                    None if reasoncode is None else reasoncode.value,
                    b"" if properties is None else properties.pack(),
                )
            )
        else:
            self._easy_log(MQTT_LOG_DEBUG, "Sending DISCONNECT")
            rc = MQTTErrorCode(self._core.disconnect())
        if self._thread is None and self._lane is None:
            # No loop thread will see the close: wait for the DISCONNECT to be written (so a
            # script that exits next has delivered what it published), then report it here.
            self._core.flush(max(self._connect_timeout, 1.0))
            if not self._in_callback_mutex.locked():
                self._loop(0.0)
        return rc

    # --- publish / subscribe --------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Optional[Properties] = None,
    ) -> MQTTMessageInfo:
        """Publish a message; returns at once with its ``mid`` (an :class:`MQTTMessageInfo`).

        QoS 1/2 messages are kept until acknowledged, across reconnects; published while not
        connected they get ``rc = MQTT_ERR_NO_CONN`` but are sent once connected.

        :param properties: MQTT 5 only: ``Properties(PacketTypes.PUBLISH)``. With a
            ``TopicAlias`` the topic may be ``""`` once an earlier publish gave the alias its
            topic; the alias is used only as far as the broker's ``TopicAliasMaximum`` allows
            (the full topic is sent otherwise, and again after a reconnect).
        :raises ValueError: bad topic, QoS or payload; under MQTT 5 also an empty topic without
            a known alias, or a message larger than the broker's ``MaximumPacketSize``.
        """
        if self._protocol != MQTTv5 and (topic is None or len(topic) == 0):
            raise ValueError("Invalid topic.")
        if type(topic) is not str:
            topic.encode("utf-8")  # paho's error for a bytes topic: AttributeError
        # The hot path: checks on the str itself; a topic can only be too long as UTF-8 if
        # it has more than a quarter of the limit in characters.
        if "+" in topic or "#" in topic:
            raise ValueError("Publish topic cannot contain wildcards.")
        if "\x00" in topic:
            # MQTT forbids U+0000; paho sends it, the broker disconnects, and a QoS 1/2 message
            # is re-sent (and refused) on every reconnect for ever.
            raise ValueError("Publish topic cannot contain the null character.")
        if len(topic) > _MAX_TOPIC // 4 and len(topic.encode("utf-8")) > _MAX_TOPIC:
            raise ValueError("Publish topic is too long.")
        if qos < 0 or qos > 2:
            raise ValueError("Invalid QoS level.")
        local_payload = payload if type(payload) is bytes else _encode_payload(payload)
        if len(local_payload) > _MAX_PAYLOAD:
            raise ValueError("Payload too large.")
        # The info is registered under the lock before the core can report the mid published.
        with self._pending_lock:
            if properties is None or self._protocol != MQTTv5:
                rc, mid, seq = self._core.publish(topic, local_payload, qos, bool(retain))
            else:
                rc, mid, seq = self._core.publish_with_properties(
                    topic, local_payload, qos, bool(retain), properties.pack()
                )
            # The info follows the message through the core; an event per message comes
            # only for on_publish or the log, and then the info is registered to be found.
            info = MQTTMessageInfo._queued(mid, _RC[rc], qos, self._core if seq else None, seq)
            if self._published_events and (rc == 0 or (rc == 4 and qos)):
                self._pending_infos[mid] = info
        if self._on_log is not None or self._logger is not None:
            if self._protocol == MQTTv5:
                self._easy_log(
                    MQTT_LOG_DEBUG,
                    "Sending PUBLISH (d0, q%d, r%d, m%d), '%s', properties=%s, ... (%d bytes)",
                    qos,
                    int(bool(retain)),
                    mid,
                    topic.encode("utf-8"),
                    properties,
                    len(local_payload),
                )
            else:
                self._easy_log(
                    MQTT_LOG_DEBUG,
                    "Sending PUBLISH (d0, q%d, r%d, m%d), '%s', ... (%d bytes)",
                    qos,
                    int(bool(retain)),
                    mid,
                    topic.encode("utf-8"),
                    len(local_payload),
                )
        return info

    def subscribe(
        self,
        topic: Any,
        qos: int = 0,
        options: Optional[SubscribeOptions] = None,
        properties: Optional[Properties] = None,
    ) -> tuple[MQTTErrorCode, Optional[int]]:
        """Subscribe to ``"filter"`` with ``qos``, ``("filter", qos)`` or a list of those (one
        SUBSCRIBE packet). Returns ``(rc, mid)``; ``(MQTT_ERR_NO_CONN, None)`` when not
        connected.

        Under MQTT 5 a ``SubscribeOptions`` (``options=``, or in place of the QoS in the tuple
        and list forms) sets no local, retain as published and retain handling, and
        ``properties`` (``Properties(PacketTypes.SUBSCRIBE)``) may carry a
        ``SubscriptionIdentifier`` and ``UserProperty``.
        """
        topic_qos_list: Optional[list[tuple[bytes, Any]]] = None
        v5 = self._protocol == MQTTv5
        if isinstance(topic, tuple):
            if v5:
                topic, options = topic
                if not isinstance(options, SubscribeOptions):
                    raise ValueError(
                        "Subscribe options must be instance of SubscribeOptions class."
                    )
            else:
                topic, qos = topic
        if isinstance(topic, (bytes, str)):
            if qos < 0 or qos > 2:
                raise ValueError("Invalid QoS level.")
            if v5:
                if options is None:
                    options = SubscribeOptions(qos=qos)
                elif qos != 0:
                    raise ValueError("Subscribe options and qos parameters cannot be combined.")
                if not isinstance(options, SubscribeOptions):
                    raise ValueError(
                        "Subscribe options must be instance of SubscribeOptions class."
                    )
                topic_qos_list = [(_force_bytes(topic), options)]
            else:
                if topic is None or len(topic) == 0:
                    raise ValueError("Invalid topic.")
                topic_qos_list = [(_force_bytes(topic), qos)]
        elif isinstance(topic, list):
            if len(topic) == 0:
                raise ValueError("Empty topic list")
            topic_qos_list = []
            for t, q in topic:
                if v5:
                    if not isinstance(q, SubscribeOptions):
                        if q < 0 or q > 2:
                            raise ValueError("Invalid QoS level.")
                        q = SubscribeOptions(qos=q)
                    topic_qos_list.append((_force_bytes(t), q))
                    continue
                if isinstance(q, SubscribeOptions) or q < 0 or q > 2:
                    raise ValueError("Invalid QoS level.")
                if t is None or not isinstance(t, (bytes, str)) or len(t) == 0:
                    raise ValueError("Invalid topic.")
                topic_qos_list.append((_force_bytes(t), q))
        if topic_qos_list is None:
            raise ValueError("No topic specified, or incorrect topic type.")
        if not all(_filter_is_valid(t) for t, _ in topic_qos_list):
            raise ValueError("Invalid subscription filter.")
        if v5:
            filters = [(t.decode("utf-8"), o.pack()[0]) for t, o in topic_qos_list]
            packed = b"" if properties is None else properties.pack()
        else:
            filters = [(t.decode("utf-8"), q) for t, q in topic_qos_list]
            packed = b""
        rc, mid = self._core.subscribe(filters, packed)
        if rc:
            return (MQTTErrorCode(rc), None)
        self._easy_log(MQTT_LOG_DEBUG, "Sending SUBSCRIBE (d0, m%d) %s", mid, topic_qos_list)
        return (MQTTErrorCode.MQTT_ERR_SUCCESS, mid)

    def unsubscribe(
        self, topic: Union[str, list[str]], properties: Optional[Properties] = None
    ) -> tuple[MQTTErrorCode, Optional[int]]:
        """Unsubscribe from one filter or a list (one UNSUBSCRIBE packet). Returns
        ``(rc, mid)``; ``(MQTT_ERR_NO_CONN, None)`` when not connected."""
        topic_list: Optional[list[bytes]] = None
        if topic is None:
            raise ValueError("Invalid topic.")
        if isinstance(topic, (bytes, str)):
            if len(topic) == 0:
                raise ValueError("Invalid topic.")
            topic_list = [_force_bytes(topic)]
        elif isinstance(topic, list):
            topic_list = []
            for t in topic:
                if not isinstance(t, (bytes, str)) or len(t) == 0:
                    raise ValueError("Invalid topic.")
                topic_list.append(_force_bytes(t))
        if topic_list is None:
            raise ValueError("No topic specified, or incorrect topic type.")
        packed = b"" if properties is None or self._protocol != MQTTv5 else properties.pack()
        rc, mid = self._core.unsubscribe([t.decode("utf-8") for t in topic_list], packed)
        if rc:
            return (MQTTErrorCode(rc), None)
        self._easy_log(MQTT_LOG_DEBUG, "Sending UNSUBSCRIBE (d0, m%d) %s", mid, topic_list)
        return (MQTTErrorCode.MQTT_ERR_SUCCESS, mid)

    def drop_out_messages(self) -> list[MQTTMessage]:
        """Empty the store of unacknowledged outgoing QoS 1/2 messages and return them
        (paho 2.2); they will not be re-sent."""
        dropped = []
        for mid, topic, payload, qos, retain, props in self._core.drop_out_messages():
            msg = MQTTMessage(mid, topic)
            msg.payload = payload
            msg.qos = qos
            msg.retain = retain
            if props:
                msg.properties = _properties(PacketTypes.PUBLISH, props)
            dropped.append(msg)
            with self._pending_lock:
                self._pending_infos.pop(mid, None)
        return dropped

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        """With ``manual_ack``: acknowledge a received QoS 1 (PUBACK) or 2 (PUBCOMP) message."""
        if self._manual_ack and qos in (1, 2):
            return MQTTErrorCode(self._core.ack(mid))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    # --- network loop ---------------------------------------------------------------------------

    def loop(self, timeout: float = 1.0) -> MQTTErrorCode:
        """Handle what arrived (waiting up to ``timeout`` seconds) and run the callbacks on
        this thread. Returns ``MQTT_ERR_SUCCESS``, or why the connection is gone."""
        return self._loop(timeout)

    def _loop(self, timeout: float) -> MQTTErrorCode:
        if timeout < 0.0:
            raise ValueError("Invalid timeout.")
        events = self._core.next_events(timeout)
        if not events:
            if not self._core.is_open():
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._dispatch(events)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Handle what has arrived, without waiting (external event loop integration)."""
        return self._loop(0.0)

    def loop_write(self) -> MQTTErrorCode:
        """Outgoing data is written by the Rust core as soon as it is queued; this only reports
        whether there is a connection."""
        return (
            MQTTErrorCode.MQTT_ERR_SUCCESS
            if self._core.is_open()
            else MQTTErrorCode.MQTT_ERR_NO_CONN
        )

    def loop_misc(self) -> MQTTErrorCode:
        """Keepalive runs in the Rust core; this only reports whether there is a connection."""
        return self.loop_write()

    def want_write(self) -> bool:
        """Whether outgoing bytes are waiting to be written."""
        return bool(self._core.want_write())

    def socket(self) -> None:
        """paho returns the socket object here; turbomqtt's socket lives in Rust."""
        return None

    def loop_forever(
        self, timeout: float = 1.0, retry_first_connection: bool = False
    ) -> MQTTErrorCode:
        """Run the network loop on this thread until :meth:`disconnect` or :meth:`loop_stop`,
        reconnecting with backoff (``reconnect_delay_set``) unless
        ``reconnect_on_failure=False``."""
        run = True
        while run:
            if self._thread_terminate:
                break
            if self._state == _ConnectionState.MQTT_CS_CONNECT_ASYNC:
                try:
                    self.reconnect()
                except OSError:
                    self._handle_on_connect_fail()
                    if not retry_first_connection:
                        raise
                    self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying")
                    self._reconnect_wait()
            else:
                break

        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while run:
            rc = MQTTErrorCode.MQTT_ERR_SUCCESS
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                rc = self._loop(timeout)
                if self._thread_terminate and not self._wait_before_stopping():
                    # The last ack can land between _loop() and that check: deliver it too.
                    self._loop(0.0)
                    rc = MQTTErrorCode.MQTT_ERR_NOMEM
                    run = False

            if self._should_exit(run) or not self._reconnect_on_failure:
                run = False
            else:
                self._reconnect_wait()
                if self._should_exit(run):
                    run = False
                else:
                    try:
                        self.reconnect()
                    except OSError:
                        self._handle_on_connect_fail()
                        self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying")
        return rc

    def _should_exit(self, run: bool) -> bool:
        return (
            self._state
            in (_ConnectionState.MQTT_CS_DISCONNECTING, _ConnectionState.MQTT_CS_DISCONNECTED)
            or not run
            or self._thread_terminate
        )

    def loop_start(self) -> MQTTErrorCode:
        """Run the network loop in the background; returns at once.

        Unlike paho, this starts no thread per client: the client is attached to a small
        process-wide pool of daemon threads ("turbomqtt-loop-N", at most 8) shared by every
        ``loop_start()`` client. Callbacks still run off the caller's thread, one at a time and
        in order, on the thread of the lane the client is pinned to; a client moves to another
        lane only when its lane has been stuck for over 0.1 s in another client's callback, so a
        blocking callback stalls no other client for long. Reconnects (with
        ``reconnect_delay_set`` backoff) never block a lane.

        Set the environment variable ``TURBOMQTT_LOOP_THREAD_PER_CLIENT=1`` for paho's exact
        behaviour instead: one thread per client, named ``paho-mqtt-client-<client id>``, running
        ``loop_forever()``.
        """
        # Under the lock until the thread has started, so that a loop_stop() in another thread
        # never finds a thread it cannot join yet.
        with self._loop_start_lock:
            if self._thread is not None or self._lane is not None:
                return MQTTErrorCode.MQTT_ERR_INVAL
            self._thread_terminate = False
            if os.environ.get(_THREAD_PER_CLIENT_ENV, "") not in ("", "0"):
                self._thread = threading.Thread(
                    target=self._thread_main,
                    name=f"paho-mqtt-client-{self._client_id.decode(errors='replace')}",
                    daemon=True,
                )
                self._thread.start()
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            self._lane_failed = False
            _shared_loop.shared_loop().attach(self)
            return MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_stop(self) -> MQTTErrorCode:
        """Stop the ``loop_start`` loop for this client and wait until its callbacks in
        progress have finished (not when called from a callback); it does not disconnect.

        Like paho's, the loop first waits for the acknowledgements of QoS 1/2 messages in
        flight, so that their ``on_publish`` runs; unlike paho's, it waits only while they keep
        arriving: after ``_STOP_GRACE`` seconds (1 s) without one, on a dead or black-holed
        connection, it stops anyway instead of waiting for keepalive to declare the connection
        lost. The unacknowledged messages stay stored: they are re-sent, and their
        ``on_publish`` called, once a loop runs again and the connection is back."""
        with self._loop_start_lock:
            self._stop_wait = None
            lane = self._lane
            thread = self._thread  # the thread clears self._thread itself when it ends
            if lane is not None or thread is not None:
                self._thread_terminate = True
        if lane is not None:
            loop = _shared_loop.shared_loop()
            if threading.current_thread() is lane.thread:
                loop.detach(self)  # from a callback: the rest of this batch still runs
            else:
                loop.poke(self)
                self._lane_stopped.wait()
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        if thread is None:
            return MQTTErrorCode.MQTT_ERR_INVAL
        self._core.wakeup()
        if threading.current_thread() != thread:
            thread.join()
        with self._loop_start_lock:
            if self._thread is thread:
                self._thread = None
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _wait_before_stopping(self) -> bool:
        """After ``loop_stop()``: whether the loop should go on waiting for the acks of
        pending QoS 1/2 messages. Yes while there are some and one arrived in the last
        ``_STOP_GRACE`` seconds (the count of unacknowledged messages went down)."""
        if not (self._core.is_open() and self._core.has_pending()):
            return False
        pending = self._core.stored()
        now = time.monotonic()
        wait = self._stop_wait
        if wait is None or pending < wait[0]:
            self._stop_wait = (pending, now + _STOP_GRACE)
            return True
        return now < wait[1]

    def _thread_main(self) -> None:
        try:
            self.loop_forever(retry_first_connection=True)
        finally:
            with self._loop_start_lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _next_reconnect_delay(self) -> float:
        """The wait before the next reconnect attempt: ``min_delay``, doubling up to
        ``max_delay`` until a CONNACK accepts the connection."""
        with self._reconnect_delay_mutex:
            if self._reconnect_delay is None:
                self._reconnect_delay = self._reconnect_min_delay
            else:
                self._reconnect_delay = min(self._reconnect_delay * 2, self._reconnect_max_delay)
            return float(self._reconnect_delay)

    def _reconnect_wait(self) -> None:
        now = time.monotonic()
        target = now + self._next_reconnect_delay()
        remaining = target - now
        while (
            self._state
            not in (_ConnectionState.MQTT_CS_DISCONNECTING, _ConnectionState.MQTT_CS_DISCONNECTED)
            and not self._thread_terminate
            and remaining > 0
        ):
            self._core.sleep(min(remaining, 1.0))
            remaining = target - time.monotonic()

    # --- events from the core -------------------------------------------------------------------

    def _dispatch(self, events: list[tuple[Any, ...]]) -> MQTTErrorCode:
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        for event in events:
            kind = event[0]
            if kind == _EV_MESSAGE:
                if event[7] is None:
                    message = MQTTMessage._received(*event[1:])
                else:
                    message = MQTTMessage._received(
                        event[1],
                        event[2],
                        event[3],
                        event[4],
                        event[5],
                        event[6],
                        _properties(PacketTypes.PUBLISH, event[7]),
                    )
                if self._on_log is not None or self._logger is not None:
                    self._log_received_publish(message)
                self._handle_on_message(message)
            elif kind == _EV_PUBLISHED:
                self._handle_published(event[1], event[2], event[3], event[4])
            elif kind == _EV_CONNACK:
                self._handle_connack(event[1], event[2], event[3])
            elif kind == _EV_SUBACK:
                self._handle_suback(event[1], event[2], event[3])
            elif kind == _EV_UNSUBACK:
                self._handle_unsuback(event[1], event[2], event[3])
            elif kind == _EV_DISCONNECTED:
                rc = self._handle_disconnected(MQTTErrorCode(event[1]), event[2])
            elif kind == _EV_LOG:
                self._easy_log(LogLevel(event[1]), "%s", event[2])
            elif kind == _EV_RETRY:
                self._handle_retry(event[1])
            elif kind == _EV_CONNECT_RESULT:
                self._handle_connect_result(event[1], event[2])
        return rc

    def _log_received_publish(self, message: MQTTMessage) -> None:
        try:
            topic: Any = message.topic
        except UnicodeDecodeError:
            topic = f"TOPIC WITH INVALID UTF-8: {message._topic!r}"
        if message.properties is None:
            self._easy_log(
                MQTT_LOG_DEBUG,
                "Received PUBLISH (d%d, q%d, r%d, m%d), '%s', ...  (%d bytes)",
                int(message.dup),
                message.qos,
                int(message.retain),
                message.mid,
                topic,
                len(message.payload),
            )
        else:
            self._easy_log(
                MQTT_LOG_DEBUG,
                "Received PUBLISH (d%d, q%d, r%d, m%d), '%s', properties=%s, ...  (%d bytes)",
                int(message.dup),
                message.qos,
                int(message.retain),
                message.mid,
                topic,
                message.properties,
                len(message.payload),
            )

    def _handle_connect_result(self, ok: bool, error: Optional[BaseException]) -> None:
        # The end of a shared-loop attempt (start_connect): what reconnect() returning or
        # raising is to loop_forever.
        self._lane_connecting = False
        if ok:
            self._call_socket_open()
            return
        self._lane_failed = True
        self._handle_on_connect_fail()
        self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying: %s", error)

    def _handle_connack(self, rc: int, session_present: bool, raw: Optional[bytes]) -> None:
        reason: Optional[ReasonCode] = None
        properties: Optional[Properties] = None
        if raw is not None:
            reason = _reason(PacketTypes.CONNACK, rc)
            # A 3.x broker's refusal of the MQTT 5 CONNECT (reported as 0x84) has no properties,
            # and paho passes None for them.
            if rc != 0x84 or raw:
                properties = _properties(PacketTypes.CONNACK, raw)
                if hasattr(properties, "ServerKeepAlive"):
                    # MQTT 5 §3.2.2.3.14: the broker's keep alive replaces ours (paho too).
                    self._keepalive = properties.ServerKeepAlive
            self._easy_log(
                MQTT_LOG_DEBUG,
                "Received CONNACK (%d, %s) properties=%s",
                int(session_present),
                reason,
                properties,
            )
        else:
            self._easy_log(MQTT_LOG_DEBUG, "Received CONNACK (%d, %d)", int(session_present), rc)
        if rc == 0:
            self._state = _ConnectionState.MQTT_CS_CONNECTED
            with self._reconnect_delay_mutex:
                self._reconnect_delay = None
        # Whatever the outcome, a later reconnect is no longer the first connect.
        self._mqttv5_first_connect = False
        self._do_on_connect(rc, session_present, reason, properties)

    def _handle_retry(self, reason: int) -> None:
        # The broker refused MQTT 3.1.1 (rc 1) or an empty client id (rc 2): paho switches to
        # MQTT 3.1, or makes up a client id, and reconnects at once without calling on_connect.
        level, client_id = self._core.connect_identity()
        self._protocol = MQTTProtocolVersion(level)
        self._client_id = bytes(client_id)
        self._easy_log(
            MQTT_LOG_DEBUG,
            "Received CONNACK, attempting %s",
            "downgrade to MQTT v3.1." if reason == 0 else "to use non-empty CID",
        )
        if self._lane is not None and threading.current_thread() is self._lane.thread:
            self._lane_begin_connect()
            return
        try:
            self.reconnect()
        except OSError:
            self._handle_on_connect_fail()

    def _handle_published(
        self, mid: int, rc: int, reason_code: int = 0, raw: Optional[bytes] = None
    ) -> None:
        if self._on_log is not None or self._logger is not None:
            self._easy_log(MQTT_LOG_DEBUG, "Received PUBACK/PUBCOMP or sent QoS 0 (Mid: %d)", mid)
        with self._pending_lock:
            info = self._pending_infos.pop(mid, None)
        if rc:
            # A QoS 0 message dropped with the connection before it reached the socket.
            if info is not None:
                info.rc = MQTTErrorCode(rc)
                info._set_as_published()
            return
        self._do_on_publish(mid, 0 if info is None else info._qos, reason_code, raw)
        if info is not None:
            info._set_as_published()

    def _handle_disconnected(
        self, rc: MQTTErrorCode, server: Optional[tuple[Optional[int], bytes]] = None
    ) -> MQTTErrorCode:
        server_reason: Optional[ReasonCode] = None
        server_properties: Optional[Properties] = None
        if server is not None:
            # A broker's MQTT 5 DISCONNECT: paho passes None for a reason code or properties
            # the packet did not have.
            code, raw = server
            if code is not None:
                server_reason = _reason(PacketTypes.DISCONNECT, code)
            if raw:
                server_properties = _properties(PacketTypes.DISCONNECT, raw)
            self._easy_log(
                MQTT_LOG_DEBUG, "Received DISCONNECT %s %s", server_reason, server_properties
            )
        if self._state in (
            _ConnectionState.MQTT_CS_DISCONNECTING,
            _ConnectionState.MQTT_CS_DISCONNECTED,
        ):
            self._state = _ConnectionState.MQTT_CS_DISCONNECTED
        else:
            self._state = _ConnectionState.MQTT_CS_CONNECTION_LOST
        self._do_on_disconnect(rc, server is not None, server_reason, server_properties)
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        return rc


def _stop_all_at_exit() -> None:
    # Loop threads are daemon threads waiting in Rust; stop them and let queued bytes reach the
    # socket before the interpreter goes away (a script may publish and exit without a loop).
    _shared_loop.shutdown()
    for client in list(_LIVE_CLIENTS):
        try:
            client._thread_terminate = True
            client._core.wakeup()
            client._core.flush(1.0)
        except Exception:  # noqa: S112 - best effort at exit
            continue


atexit.register(_stop_all_at_exit)

__all__ += [
    "MQTTException",
    "MQTTMatcher",
    "MalformedPacket",
    "PacketTypes",
    "Properties",
    "ReasonCode",
    "ReasonCodes",
    "SubscribeOptions",
]
