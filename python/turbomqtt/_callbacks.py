"""The callback half of :class:`turbomqtt.client.Client`: the ``on_*`` properties, their
decorator forms, and how each event is handed to user code with paho's exact arguments.

Callbacks are looked up through normal attribute access (``self.on_connect``), so a subclass
that defines ``on_connect`` as a method is honoured, as in paho.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from turbomqtt.enums import CallbackAPIVersion, LogLevel, MQTTErrorCode, MQTTProtocolVersion
from turbomqtt.packettypes import PacketTypes
from turbomqtt.properties import Properties
from turbomqtt.reasoncodes import _TABLE, ReasonCode

if TYPE_CHECKING:
    from turbomqtt._message import MQTTMessage
    from turbomqtt.matcher import MQTTMatcher

F = TypeVar("F", bound=Callable[..., Any])

_LOGGING_LEVEL = {
    LogLevel.MQTT_LOG_DEBUG: logging.DEBUG,
    LogLevel.MQTT_LOG_INFO: logging.INFO,
    LogLevel.MQTT_LOG_NOTICE: logging.INFO,
    LogLevel.MQTT_LOG_WARNING: logging.WARNING,
    LogLevel.MQTT_LOG_ERR: logging.ERROR,
}

_CALLBACKS = (
    "on_log",
    "on_pre_connect",
    "on_connect",
    "on_connect_fail",
    "on_subscribe",
    "on_message",
    "on_publish",
    "on_unsubscribe",
    "on_disconnect",
    "on_socket_open",
    "on_socket_close",
    "on_socket_register_write",
    "on_socket_unregister_write",
)


def _properties(packet_type: int, raw: bytes) -> Properties:
    """The ``Properties`` of a raw MQTT 5 property block from the core (``b""``: none).

    The core has already checked the block against the packet type, so this cannot fail on
    what a broker sends; if it ever did, the callback still gets an (empty) ``Properties``
    rather than the loop dying on a broker's bytes.
    """
    props = Properties(packet_type)
    if raw:
        try:
            props.unpack(raw)
        except Exception:
            props.clear()
    return props


def _reason(packet_type: int, code: int) -> ReasonCode:
    """``ReasonCode(packet_type, identifier=code)``, or, for a code that packet type cannot
    carry (a broker's mistake, or 0x95 "Packet too large" that the core reports for a message
    it refused to send), the same number under the first packet type that has it."""
    try:
        return ReasonCode(packet_type, identifier=code)
    except Exception:
        for value, _name, packet_types in _TABLE:
            if value == code:
                return ReasonCode(packet_types[0], identifier=code)
        return ReasonCode(packet_type, identifier=0x80)


# Callbacks that need an event for every finished publish (see _published_events_update).
_NEED_PUBLISHED_EVENTS = ("on_publish", "on_log")


def _callback_property(name: str, doc: str) -> property:
    attr = "_" + name

    def getter(self: Any) -> Optional[Callable[..., Any]]:
        return getattr(self, attr)  # type: ignore[no-any-return]

    def setter(self: Any, func: Optional[Callable[..., Any]]) -> None:
        with self._callback_mutex:
            setattr(self, attr, func)
        if name in _NEED_PUBLISHED_EVENTS:
            self._published_events_update()

    return property(getter, setter, doc=doc)


def _decorator(name: str) -> Callable[[Any], Callable[[F], F]]:
    def make(self: Any) -> Callable[[F], F]:
        def decorator(func: F) -> F:
            setattr(self, name, func)
            return func

        return decorator

    make.__name__ = name[3:] + "_callback"
    make.__doc__ = f"Decorator form of ``{name}``: ``@client.{make.__name__}()``."
    return make


class _CallbackMixin:
    """Callback storage and dispatch; mixed into ``Client``."""

    # Provided by Client.
    _callback_api_version: CallbackAPIVersion
    _protocol: MQTTProtocolVersion
    _userdata: Any
    _logger: Optional[logging.Logger]
    _callback_mutex: threading.RLock
    _in_callback_mutex: threading.Lock
    _on_message_filtered: MQTTMatcher
    suppress_exceptions: bool
    _on_log: Optional[Callable[..., Any]]
    _on_publish: Optional[Callable[..., Any]]
    _published_events_always: bool
    _published_events: bool

    def _init_callbacks(self) -> None:
        for name in _CALLBACKS:
            setattr(self, "_" + name, None)
        # A subclass that defines on_publish/on_log as methods always wants the events.
        self._published_events_always = any(
            not isinstance(getattr(type(self), name, None), property)
            for name in _NEED_PUBLISHED_EVENTS
        )
        self._published_events = self._published_events_always

    def _published_events_update(self) -> None:
        """Tell the core whether finished publishes must be reported one by one: only
        ``on_publish`` and the log (``on_log``, ``enable_logger``) need that; otherwise each
        ``MQTTMessageInfo`` asks the core instead, and publishing costs no event (no loop
        wake-up, no Python call) per message."""
        want = bool(
            self._published_events_always
            or self._on_publish is not None
            or self._on_log is not None
            or self._logger is not None
        )
        self._published_events = want
        core = getattr(self, "_core", None)
        if core is not None:
            core.set_report_published(want)

    on_log = _callback_property("on_log", "``on_log(client, userdata, level, buf)``: a log line.")
    on_pre_connect = _callback_property(
        "on_pre_connect", "``on_pre_connect(client, userdata)``: just before connecting."
    )
    on_connect = _callback_property(
        "on_connect",
        "``on_connect(client, userdata, flags, reason_code, properties)`` (VERSION2) or "
        "``on_connect(client, userdata, flags, rc)`` (VERSION1): the CONNACK arrived.",
    )
    on_connect_fail = _callback_property(
        "on_connect_fail",
        "``on_connect_fail(client, userdata)``: a (re)connect in the loop failed.",
    )
    on_subscribe = _callback_property(
        "on_subscribe",
        "``on_subscribe(client, userdata, mid, reason_code_list, properties)`` (VERSION2) or "
        "``on_subscribe(client, userdata, mid, granted_qos)`` (VERSION1): SUBACK.",
    )
    on_message = _callback_property(
        "on_message", "``on_message(client, userdata, message)``: a message arrived."
    )
    on_publish = _callback_property(
        "on_publish",
        "``on_publish(client, userdata, mid, reason_code, properties)`` (VERSION2) or "
        "``on_publish(client, userdata, mid)`` (VERSION1): a message was published.",
    )
    on_unsubscribe = _callback_property(
        "on_unsubscribe",
        "``on_unsubscribe(client, userdata, mid, reason_code_list, properties)`` (VERSION2) or "
        "``on_unsubscribe(client, userdata, mid)`` (VERSION1): UNSUBACK.",
    )
    on_disconnect = _callback_property(
        "on_disconnect",
        "``on_disconnect(client, userdata, flags, reason_code, properties)`` (VERSION2) or "
        "``on_disconnect(client, userdata, rc)`` (VERSION1): the connection closed.",
    )
    on_socket_open = _callback_property(
        "on_socket_open",
        "``on_socket_open(client, userdata, sock)``: the connection opened (``sock`` is None: "
        "the socket lives in Rust).",
    )
    on_socket_close = _callback_property(
        "on_socket_close", "``on_socket_close(client, userdata, sock)``: the connection closed."
    )
    on_socket_register_write = _callback_property(
        "on_socket_register_write", "Accepted for compatibility; never called (writes are in Rust)."
    )
    on_socket_unregister_write = _callback_property(
        "on_socket_unregister_write",
        "Accepted for compatibility; never called (writes are in Rust).",
    )

    log_callback = _decorator("on_log")
    pre_connect_callback = _decorator("on_pre_connect")
    connect_callback = _decorator("on_connect")
    connect_fail_callback = _decorator("on_connect_fail")
    subscribe_callback = _decorator("on_subscribe")
    message_callback = _decorator("on_message")
    publish_callback = _decorator("on_publish")
    unsubscribe_callback = _decorator("on_unsubscribe")
    disconnect_callback = _decorator("on_disconnect")
    socket_open_callback = _decorator("on_socket_open")
    socket_close_callback = _decorator("on_socket_close")
    socket_register_write_callback = _decorator("on_socket_register_write")
    socket_unregister_write_callback = _decorator("on_socket_unregister_write")

    def message_callback_add(self, sub: str, callback: Callable[..., Any]) -> None:
        """Call ``callback(client, userdata, message)`` for messages matching ``sub`` instead
        of ``on_message``. Several filters may match one message; each callback runs."""
        if callback is None or sub is None:
            raise ValueError("sub and callback must both be defined.")
        with self._callback_mutex:
            self._on_message_filtered[sub] = callback

    def topic_callback(self, sub: str) -> Callable[[F], F]:
        """Decorator form of :meth:`message_callback_add`."""

        def decorator(func: F) -> F:
            self.message_callback_add(sub, func)
            return func

        return decorator

    def message_callback_remove(self, sub: str) -> None:
        """Remove a filter added with :meth:`message_callback_add` (unknown ones are ignored)."""
        if sub is None:
            raise ValueError("sub must defined.")
        with self._callback_mutex:
            try:
                del self._on_message_filtered[sub]
            except KeyError:
                pass

    # --- dispatch -------------------------------------------------------------------------------

    def _easy_log(self, level: LogLevel, fmt: str, *args: Any) -> None:
        on_log = self.on_log
        if on_log is not None:
            buf = fmt % args
            try:
                on_log(self, self._userdata, level, buf)
            except Exception:  # noqa: S110 - paho swallows on_log errors (it cannot log them)
                pass
        logger = self._logger
        if logger is not None:
            logger.log(_LOGGING_LEVEL[level], fmt, *args)

    def _run(self, name: str, func: Callable[..., Any], *args: Any) -> None:
        with self._in_callback_mutex:
            try:
                func(self, self._userdata, *args)
            except Exception as err:
                self._easy_log(LogLevel.MQTT_LOG_ERR, "Caught exception in %s: %s", name, err)
                if not self.suppress_exceptions:
                    raise

    def _v2(self) -> bool:
        return self._callback_api_version == CallbackAPIVersion.VERSION2

    def _call_pre_connect(self) -> None:
        with self._callback_mutex:
            func = self.on_pre_connect
        if func:
            self._run("on_pre_connect", func)

    def _call_socket_open(self) -> None:
        with self._callback_mutex:
            func = self.on_socket_open
        if func:
            self._run("on_socket_open", func, None)

    def _call_socket_close(self) -> None:
        with self._callback_mutex:
            func = self.on_socket_close
        if func:
            self._run("on_socket_close", func, None)

    def _handle_on_connect_fail(self) -> None:
        with self._callback_mutex:
            func = self.on_connect_fail
        if func:
            with self._in_callback_mutex:
                try:
                    func(self, self._userdata)
                except Exception as err:
                    self._easy_log(
                        LogLevel.MQTT_LOG_ERR, "Caught exception in on_connect_fail: %s", err
                    )

    def _do_on_connect(
        self,
        rc: int,
        session_present: bool,
        reason: Optional[ReasonCode] = None,
        properties: Optional[Properties] = None,
    ) -> None:
        """``on_connect``; ``reason``/``properties`` are the MQTT 5 CONNACK's (``properties``
        None when a 3.x broker refused the MQTT 5 CONNECT), both None under MQTT 3."""
        with self._callback_mutex:
            func = self.on_connect
        if not func:
            return
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        if self._v2():
            from turbomqtt.client import ConnectFlags, convert_connack_rc_to_reason_code

            self._run(
                "on_connect",
                func,
                ConnectFlags(session_present=bool(session_present)),
                reason if v5 and reason is not None else convert_connack_rc_to_reason_code(rc),
                properties if properties is not None else Properties(PacketTypes.CONNACK),
            )
        elif v5:
            self._run(
                "on_connect",
                func,
                {"session present": int(session_present)},
                reason if reason is not None else _reason(PacketTypes.CONNACK, rc),
                properties,
            )
        else:
            self._run("on_connect", func, {"session present": int(session_present)}, rc)

    def _do_on_disconnect(
        self,
        rc: MQTTErrorCode,
        from_server: bool = False,
        server_reason: Optional[ReasonCode] = None,
        server_properties: Optional[Properties] = None,
    ) -> None:
        """``on_disconnect``; ``from_server`` when a broker's MQTT 5 DISCONNECT ended the
        connection, with its reason and properties (None where the packet had none)."""
        self._call_socket_close()
        with self._callback_mutex:
            func = self.on_disconnect
        if not func:
            return
        if self._v2():
            from turbomqtt.client import (
                DisconnectFlags,
                convert_disconnect_error_code_to_reason_code,
            )

            if server_reason is None:
                # An empty DISCONNECT from the broker is a normal disconnection.
                server_reason = convert_disconnect_error_code_to_reason_code(
                    MQTTErrorCode.MQTT_ERR_SUCCESS if from_server else rc
                )
            self._run(
                "on_disconnect",
                func,
                DisconnectFlags(is_disconnect_packet_from_server=from_server),
                server_reason,
                server_properties
                if server_properties is not None
                else Properties(PacketTypes.DISCONNECT),
            )
        elif self._protocol == MQTTProtocolVersion.MQTTv5:
            if from_server:
                self._run("on_disconnect", func, server_reason, server_properties)
            else:
                self._run("on_disconnect", func, rc, None)
        else:
            self._run("on_disconnect", func, rc)

    def _do_on_publish(
        self, mid: int, qos: int, reason_code: int = 0, raw_properties: Optional[bytes] = None
    ) -> None:
        func = self.on_publish
        if not func:
            return
        if self._v2():
            # paho reports a QoS 2 completion with PUBCOMP's packet type, QoS 0/1 with PUBACK's;
            # an MQTT 5 QoS 2 flow that a PUBREC refused ends there, with PUBREC's.
            if qos == 2:
                packet = PacketTypes.PUBREC if reason_code >= 0x80 else PacketTypes.PUBCOMP
            else:
                packet = PacketTypes.PUBACK
            self._run(
                "on_publish",
                func,
                mid,
                _reason(packet, reason_code),
                _properties(packet, raw_properties or b""),
            )
        else:
            self._run("on_publish", func, mid)

    def _handle_suback(
        self, mid: int, granted: tuple[int, ...], raw_properties: Optional[bytes] = None
    ) -> None:
        self._easy_log(LogLevel.MQTT_LOG_DEBUG, "Received SUBACK")
        with self._callback_mutex:
            func = self.on_subscribe
        if not func:
            return
        v5 = raw_properties is not None
        if self._v2() or v5:
            codes = [_reason(PacketTypes.SUBACK, g) for g in granted]
            props = _properties(PacketTypes.SUBACK, raw_properties or b"")
            self._run("on_subscribe", func, mid, codes, props)
        else:
            self._run("on_subscribe", func, mid, tuple(granted))

    def _handle_unsuback(
        self, mid: int, codes: tuple[int, ...] = (), raw_properties: Optional[bytes] = None
    ) -> None:
        self._easy_log(LogLevel.MQTT_LOG_DEBUG, "Received UNSUBACK (Mid: %d)", mid)
        with self._callback_mutex:
            func = self.on_unsubscribe
        if not func:
            return
        reasons = [_reason(PacketTypes.UNSUBACK, c) for c in codes]
        props = _properties(PacketTypes.UNSUBACK, raw_properties or b"")
        if self._v2():
            self._run("on_unsubscribe", func, mid, reasons, props)
        elif raw_properties is not None:
            # paho's VERSION1 MQTT 5 shape: properties first, one ReasonCode for one topic.
            self._run(
                "on_unsubscribe", func, mid, props, reasons[0] if len(reasons) == 1 else reasons
            )
        else:
            self._run("on_unsubscribe", func, mid)

    def _handle_on_message(self, message: MQTTMessage) -> None:
        filtered: list[Callable[..., Any]] = []
        if self._on_message_filtered:
            # Decoded only when there are filters to match (a topic that is not UTF-8 matches
            # none of them, as in paho).
            try:
                topic: Optional[str] = message.topic
            except UnicodeDecodeError:
                topic = None
            if topic is not None:
                with self._callback_mutex:
                    filtered = list(self._on_message_filtered.iter_match(topic))
        if not filtered:
            func = self.on_message
            if func:
                with self._in_callback_mutex:
                    try:
                        func(self, self._userdata, message)
                    except Exception as err:
                        self._easy_log(
                            LogLevel.MQTT_LOG_ERR, "Caught exception in on_message: %s", err
                        )
                        if not self.suppress_exceptions:
                            raise
            return
        for callback in filtered:
            with self._in_callback_mutex:
                try:
                    callback(self, self._userdata, message)
                except Exception as err:
                    self._easy_log(
                        LogLevel.MQTT_LOG_ERR,
                        "Caught exception in user defined callback function %s: %s",
                        getattr(callback, "__name__", repr(callback)),
                        err,
                    )
                    if not self.suppress_exceptions:
                        raise
