"""China Mobile OneNET topics and payloads, so device scripts stop hand-writing them.

    from turbomqtt import auth, onenet
    dev = onenet.Device("469948", "Chic_D")
    client.subscribe(dev.dp_post_json_replies)                  # $sys/469948/Chic_D/dp/post/json/+
    client.publish(dev.dp_post_json, onenet.dp_payload({"temperature": 22.5}))

    studio = onenet.Device("oA8jn8R554", "first")                # OneNET Studio (thing model)
    client.publish(studio.property_post, onenet.property_post({"consumption": 3}))

Two product lines share the ``$sys/{product_id}/{device_name}/`` prefix: the MQTT suite's
data-stream topics (``dp/...``, ``cmd/...``, ``image/...``) and OneNET Studio's thing-model
topics (``thing/...``, payloads in OneJSON). Only a device's own subtree may be used; the
platform disconnects a client that publishes elsewhere.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from typing import Any, Optional

__all__ = [
    "Device",
    "dp_payload",
    "event_post",
    "onejson_reply",
    "property_post",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.$-]{1,64}$")
_ids = itertools.count(1)
_ids_lock = threading.Lock()


def _next_id() -> int:
    with _ids_lock:
        return next(_ids) % 2_147_483_647 or 1


def _check(arg: str, value: str, pattern: re.Pattern[str] = _NAME) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"{arg}: {value!r} is not a valid OneNET name ({pattern.pattern})")
    return value


class Device:
    """The ``$sys`` topics of one OneNET device (``gateway=True``: a sub-device's
    ``$subdev`` topics)."""

    def __init__(self, product_id: str, device_name: str, *, gateway: bool = False) -> None:
        self.product_id = _check("product_id", product_id)
        self.device_name = _check("device_name", device_name)
        root = "$subdev" if gateway else "$sys"
        self.prefix = f"{root}/{product_id}/{device_name}"

    def __repr__(self) -> str:
        return f"Device({self.product_id!r}, {self.device_name!r})"

    def topic(self, suffix: str) -> str:
        """``{prefix}/{suffix}`` for a topic not named below."""
        return f"{self.prefix}/{suffix.strip('/')}"

    # --- MQTT suite: data points, commands, device image -------------------------------------

    @property
    def dp_post_json(self) -> str:
        """Publish data points here (payload: :func:`dp_payload`)."""
        return self.topic("dp/post/json")

    @property
    def dp_post_json_replies(self) -> str:
        """Subscribe here for ``.../accepted`` and ``.../rejected`` replies to data points."""
        return self.topic("dp/post/json/+")

    @property
    def cmd_requests(self) -> str:
        """Subscribe here for commands; the last level of a received topic is the command id."""
        return self.topic("cmd/request/+")

    def cmd_response(self, cmd_id: str) -> str:
        """Publish the answer to command ``cmd_id`` here (payload under 1 KB)."""
        return self.topic(f"cmd/response/{_check('cmd_id', cmd_id, _IDENTIFIER)}")

    @property
    def cmd_response_replies(self) -> str:
        """Subscribe here for the platform's accepted/rejected replies to command answers."""
        return self.topic("cmd/response/+/+")

    @property
    def image_update(self) -> str:
        """Publish device-image (shadow) updates here."""
        return self.topic("image/update")

    @property
    def image_get(self) -> str:
        """Publish an empty payload here to read the device image."""
        return self.topic("image/get")

    @property
    def all_topics(self) -> str:
        """Every topic of the device: ``{prefix}/#``."""
        return self.topic("#")

    # --- OneNET Studio: thing model ------------------------------------------------------------

    @property
    def property_post(self) -> str:
        """Report properties here (payload: :func:`property_post`)."""
        return self.topic("thing/property/post")

    @property
    def property_post_reply(self) -> str:
        """Subscribe here for the answer to property reports."""
        return self.topic("thing/property/post/reply")

    @property
    def property_set(self) -> str:
        """Subscribe here for property writes from the platform."""
        return self.topic("thing/property/set")

    @property
    def property_set_reply(self) -> str:
        """Answer property writes here (payload: :func:`onejson_reply`)."""
        return self.topic("thing/property/set_reply")

    @property
    def property_get(self) -> str:
        """Subscribe here for property reads from the platform."""
        return self.topic("thing/property/get")

    @property
    def property_get_reply(self) -> str:
        """Answer property reads here (payload: :func:`onejson_reply` with ``data``)."""
        return self.topic("thing/property/get_reply")

    @property
    def event_post(self) -> str:
        """Report events here (payload: :func:`event_post`)."""
        return self.topic("thing/event/post")

    @property
    def event_post_reply(self) -> str:
        """Subscribe here for the answer to event reports."""
        return self.topic("thing/event/post/reply")

    def service_invoke(self, identifier: str = "+") -> str:
        """Subscribe here for service calls (``+``: every service)."""
        ident = identifier if identifier == "+" else _check("identifier", identifier, _IDENTIFIER)
        return self.topic(f"thing/service/{ident}/invoke")

    def service_invoke_reply(self, identifier: str) -> str:
        """Answer a call of service ``identifier`` here."""
        return self.topic(
            f"thing/service/{_check('identifier', identifier, _IDENTIFIER)}/invoke_reply"
        )

    @property
    def thing_topics(self) -> str:
        """Every thing-model topic: ``{prefix}/thing/#``."""
        return self.topic("thing/#")


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def dp_payload(values: dict[str, Any], *, id: Optional[int] = None, t: Optional[int] = None) -> str:
    """A data-point upload for ``dp/post/json``: ``{"id":..,"dp":{name:[{"v":..,"t":..}]}}``.

    :param values: data stream id -> value, or -> list of values / ``(value, t)`` pairs.
    :param id: message id (1 .. 2**31-1), echoed in the reply; default a counter.
    :param t: Unix seconds for single values; default: none (the platform's time).
    """
    msg_id = _next_id() if id is None else id
    if isinstance(msg_id, bool) or not isinstance(msg_id, int) or not 0 < msg_id < 2**31:
        raise ValueError(f"id: must be an int from 1 to 2**31-1, not {msg_id!r}")
    if not values:
        raise ValueError("values: at least one data stream is needed")
    dp: dict[str, list[dict[str, Any]]] = {}
    for name, value in values.items():
        _check("data stream id", name, re.compile(r"^\$?[A-Za-z0-9_.]{1,30}$"))
        points = value if isinstance(value, list) else [value]
        out = []
        for point in points:
            if isinstance(point, tuple):
                v, pt = point
                out.append({"v": v, "t": pt})
            else:
                out.append({"v": point} if t is None else {"v": point, "t": t})
        dp[name] = out
    return _compact({"id": msg_id, "dp": dp})


def _onejson_id(id: Optional[str]) -> str:
    msg_id = str(_next_id()) if id is None else str(id)
    if not (msg_id.isdigit() and len(msg_id) <= 13):
        raise ValueError(f"id: must be up to 13 decimal digits, not {msg_id!r}")
    return msg_id


def property_post(
    values: dict[str, Any], *, id: Optional[str] = None, time_ms: Optional[int] = None
) -> str:
    """A OneJSON property report: ``{"id":..,"version":"1.0","params":{name:{"value":..}}}``.

    :param time_ms: milliseconds since the epoch for every value (``True``: now); default none.
    """
    if not values:
        raise ValueError("values: at least one property is needed")
    stamp = int(time.time() * 1000) if time_ms is True else time_ms
    params = {
        _check("property", k, _IDENTIFIER): (
            {"value": v} if stamp is None else {"value": v, "time": stamp}
        )
        for k, v in values.items()
    }
    return _compact({"id": _onejson_id(id), "version": "1.0", "params": params})


def event_post(
    events: dict[str, dict[str, Any]], *, id: Optional[str] = None, time_ms: Optional[int] = None
) -> str:
    """A OneJSON event report: event identifier -> its output parameters."""
    if not events:
        raise ValueError("events: at least one event is needed")
    stamp = int(time.time() * 1000) if time_ms is True else time_ms
    params = {
        _check("event", k, _IDENTIFIER): (
            {"value": v} if stamp is None else {"value": v, "time": stamp}
        )
        for k, v in events.items()
    }
    return _compact({"id": _onejson_id(id), "version": "1.0", "params": params})


def onejson_reply(
    request: Any, *, code: int = 200, msg: str = "success", data: Optional[Any] = None
) -> str:
    """The answer to a OneJSON request (property set/get, service call): echoes its id.

    :param request: the request's payload (bytes, str or the parsed dict) or its id.
    """
    if isinstance(request, (bytes, bytearray)):
        request = request.decode("utf-8")
    if isinstance(request, str) and request.lstrip().startswith("{"):
        request = json.loads(request)
    msg_id = request.get("id") if isinstance(request, dict) else request
    reply: dict[str, Any] = {"id": _onejson_id(msg_id), "code": code, "msg": msg}
    if data is not None:
        reply["data"] = data
    return _compact(reply)
