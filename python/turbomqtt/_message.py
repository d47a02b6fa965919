"""``MQTTMessage`` (what ``on_message`` receives) and ``MQTTMessageInfo`` (what ``publish``
returns), with paho-mqtt's attributes and behaviour."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional, Union

from turbomqtt.enums import MessageState, MQTTErrorCode

if TYPE_CHECKING:
    from turbomqtt.properties import Properties

__all__ = ["MQTTMessage", "MQTTMessageInfo", "error_string"]

_ERROR_STRINGS = {
    MQTTErrorCode.MQTT_ERR_SUCCESS: "No error.",
    MQTTErrorCode.MQTT_ERR_NOMEM: "Out of memory.",
    MQTTErrorCode.MQTT_ERR_PROTOCOL: "A network protocol error occurred when communicating with the broker.",
    MQTTErrorCode.MQTT_ERR_INVAL: "Invalid function arguments provided.",
    MQTTErrorCode.MQTT_ERR_NO_CONN: "The client is not currently connected.",
    MQTTErrorCode.MQTT_ERR_CONN_REFUSED: "The connection was refused.",
    MQTTErrorCode.MQTT_ERR_NOT_FOUND: "Message not found (internal error).",
    MQTTErrorCode.MQTT_ERR_CONN_LOST: "The connection was lost.",
    MQTTErrorCode.MQTT_ERR_TLS: "A TLS error occurred.",
    MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE: "Payload too large.",
    MQTTErrorCode.MQTT_ERR_NOT_SUPPORTED: "This feature is not supported.",
    MQTTErrorCode.MQTT_ERR_AUTH: "Authorisation failed.",
    MQTTErrorCode.MQTT_ERR_ACL_DENIED: "Access denied by ACL.",
    MQTTErrorCode.MQTT_ERR_UNKNOWN: "Unknown error.",
    MQTTErrorCode.MQTT_ERR_ERRNO: "Error defined by errno.",
    MQTTErrorCode.MQTT_ERR_QUEUE_SIZE: "Message queue full.",
    MQTTErrorCode.MQTT_ERR_KEEPALIVE: "Client or broker did not communicate in the keepalive interval.",
}


def error_string(mqtt_errno: Union[MQTTErrorCode, int]) -> str:
    """The English description of an ``MQTT_ERR_*`` code."""
    try:
        return _ERROR_STRINGS[MQTTErrorCode(mqtt_errno)]
    except (ValueError, KeyError):
        return "Unknown error."


class MQTTMessageInfo:
    """What :meth:`Client.publish` returns: the message id (``mid``), the result code (``rc``),
    and a way to wait until the message is published.

    It also unpacks like paho's tuple, ``rc, mid = client.publish(...)``.

    The message is followed without an event per message: the info keeps the client core
    and the message's ticket and asks the core (``rc``, :meth:`is_published`,
    :meth:`wait_for_publish`) how far it got.
    """

    __slots__ = ("_condition", "_core", "_iterpos", "_published", "_qos", "_rc", "_seq", "mid")

    def __init__(self, mid: int) -> None:
        self.mid = mid
        self._qos = 0
        self._rc: MQTTErrorCode = MQTTErrorCode.MQTT_ERR_SUCCESS
        self._published = False
        self._condition: Optional[threading.Condition] = None
        self._iterpos = 0
        self._core: Any = None
        self._seq = 0

    @classmethod
    def _queued(cls, mid: int, rc: MQTTErrorCode, qos: int, core: Any, seq: int) -> MQTTMessageInfo:
        """The info ``publish()`` returns (no ``__init__`` call: this is the hot path)."""
        info = cls.__new__(cls)
        info.mid = mid
        info._qos = qos
        info._rc = rc
        info._published = False
        info._condition = None
        info._iterpos = 0
        info._core = core
        info._seq = seq
        return info

    @property
    def rc(self) -> MQTTErrorCode:
        """``MQTT_ERR_SUCCESS``, or why the message was not (or will not be) published."""
        if self._seq:
            self._poll(0.0)
        return self._rc

    @rc.setter
    def rc(self, value: MQTTErrorCode) -> None:
        self._rc = value

    def _poll(self, timeout: Optional[float]) -> None:
        """For a followed message: ask the core (waiting up to ``timeout`` seconds, None: until
        it is done) and take its answer once it is final."""
        core, seq = self._core, self._seq
        if core is None or not seq:
            return
        status = core.publish_status(seq) if timeout == 0.0 else core.wait_published(seq, timeout)
        if status is None:
            return
        self._core = None
        self._seq = 0
        if status:
            # Dropped unsent with its connection, as paho reports it.
            self._rc = MQTTErrorCode.MQTT_ERR_CONN_LOST
        self._set_as_published()

    def __str__(self) -> str:
        return str((self.rc, self.mid))

    def __repr__(self) -> str:
        rc = int(self.rc)
        return f"<MQTTMessageInfo mid={self.mid} rc={rc} published={self._published}>"

    def __iter__(self) -> Iterator[Union[MQTTErrorCode, int]]:
        self._iterpos = 0
        return self

    def __next__(self) -> Union[MQTTErrorCode, int]:
        return self.next()

    def next(self) -> Union[MQTTErrorCode, int]:
        """The next item of the ``(rc, mid)`` pair."""
        pos = self._iterpos
        if pos > 1:
            raise StopIteration
        self._iterpos = pos + 1
        return self.rc if pos == 0 else self.mid

    def __getitem__(self, index: int) -> Union[MQTTErrorCode, int]:
        if index == 0:
            return self.rc
        if index == 1:
            return self.mid
        raise IndexError("index out of range")

    def _cond(self) -> threading.Condition:
        # Created on first use: most messages are never waited for.
        cond = self._condition
        if cond is None:
            cond = self._condition = threading.Condition()
        return cond

    def _set_as_published(self) -> None:
        self._published = True
        cond = self._condition
        if cond is not None:
            with cond:
                cond.notify_all()

    def _check_rc(self) -> None:
        if self.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            raise ValueError("Message is not queued due to ERR_QUEUE_SIZE")
        if self.rc > 0:
            raise RuntimeError(f"Message publish failed: {error_string(self.rc)}")

    def wait_for_publish(self, timeout: Optional[float] = None) -> None:
        """Block until the message is published (``on_publish`` has run), or ``timeout``
        seconds have passed. A timeout returns quietly: check :meth:`is_published`.

        :raises ValueError: the message was not queued (``MQTT_ERR_QUEUE_SIZE``).
        :raises RuntimeError: the message was not published for another reason (its ``rc``).
        """
        self._check_rc()
        if self._seq:
            # A followed message: the core waits (GIL released, Ctrl-C honoured).
            self._poll(timeout)
            self._check_rc()
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        cond = self._cond()
        with cond:
            while not self._published:
                if deadline is None:
                    # Wake now and then so Ctrl-C reaches the main thread.
                    cond.wait(0.1)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                cond.wait(min(remaining, 0.1))
        self._check_rc()

    def is_published(self) -> bool:
        """Whether the message has been published. False means *not yet*, not *failed*.

        :raises ValueError: the message was not queued (``MQTT_ERR_QUEUE_SIZE``).
        :raises RuntimeError: the message was not published for another reason (its ``rc``).
        """
        self._check_rc()
        return self._published


class MQTTMessage:
    """A message received from the broker, as ``on_message`` receives it.

    ``topic`` is decoded from UTF-8 on each access (a topic that is not UTF-8 raises
    ``UnicodeDecodeError`` then, not when the message arrives); ``payload`` is ``bytes``.
    """

    __slots__ = (
        "_info",
        "_topic",
        "dup",
        "mid",
        "payload",
        "properties",
        "qos",
        "retain",
        "state",
        "timestamp",
    )

    def __init__(self, mid: int = 0, topic: bytes = b"") -> None:
        self.timestamp = 0.0
        self.state = MessageState.MQTT_MS_INVALID
        self.dup = False
        self.mid = mid
        self._topic = topic
        self.payload: Union[bytes, bytearray] = b""
        self.qos = 0
        self.retain = False
        self._info: Optional[MQTTMessageInfo] = None
        self.properties: Optional[Properties] = None

    @classmethod
    def _received(
        cls,
        topic: bytes,
        payload: bytes,
        qos: int,
        retain: bool,
        mid: int,
        dup: bool,
        properties: Optional[Properties] = None,
    ) -> MQTTMessage:
        msg = cls.__new__(cls)
        msg.timestamp = time.monotonic()
        msg.state = MessageState.MQTT_MS_INVALID
        msg.dup = dup
        msg.mid = mid
        msg._topic = topic
        msg.payload = payload
        msg.qos = qos
        msg.retain = retain
        msg._info = None
        msg.properties = properties
        return msg

    @property
    def info(self) -> MQTTMessageInfo:
        """An :class:`MQTTMessageInfo` for this message's ``mid``."""
        info = self._info
        if info is None:
            info = self._info = MQTTMessageInfo(self.mid)
        return info

    @info.setter
    def info(self, value: MQTTMessageInfo) -> None:
        self._info = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, self.__class__):
            return self.mid == other.mid
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    @property
    def topic(self) -> str:
        """The topic the message was published on, decoded from UTF-8."""
        return self._topic.decode("utf-8")

    @topic.setter
    def topic(self, value: bytes) -> None:
        self._topic = value

    def __repr__(self) -> str:
        return (
            f"<MQTTMessage topic={self._topic!r} qos={self.qos} retain={self.retain} "
            f"mid={self.mid} payload={bytes(self.payload[:64])!r}>"
        )
