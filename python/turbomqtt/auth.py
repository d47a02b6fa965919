"""MQTT credentials for IoT clouds: China Mobile OneNET, Aliyun, Huawei, Tencent and Baidu.

Every function returns a :class:`Credentials` named tuple ready for paho-style clients::

    from turbomqtt import auth

    creds = auth.onenet("469948", "Chic_D", "rs2FaE5BuygJZkWKDA5okKt1RFpwOx53hbu6hwyCS4U=")
    client = mqtt.Client(client_id=creds.client_id)
    client.username_pw_set(creds.username, creds.password)

The signing runs in Rust. Every value that the clock or a random source would fill (expiry,
timestamps, connection ids) can be passed explicitly, so results are reproducible. Bad input
raises :class:`ValueError` naming the argument; secrets never appear in a ``repr``, a log line or
an error message.
"""

from __future__ import annotations

import datetime as _dt
import secrets as _secrets
import string as _string
import time as _time
from typing import NamedTuple, Optional, Union

from turbomqtt import _core

__all__ = [
    "DEFAULT_ONENET_EXPIRES_IN",
    "Credentials",
    "OneNetToken",
    "aliyun",
    "baidu",
    "huawei",
    "onenet",
    "onenet_token",
    "parse_onenet_token",
    "tencent",
    "verify_onenet_token",
]

#: Lifetime of a OneNET token made by :func:`onenet` when neither ``et`` nor ``expires_in`` is
#: given: one year. A device keeps using its password for every reconnect, so a short default
#: would lock it out silently; pass ``expires_in`` for a shorter one.
DEFAULT_ONENET_EXPIRES_IN = 365 * 24 * 3600

_U64_MAX = 2**64 - 1


class Credentials(NamedTuple):
    """The three strings an MQTT CONNECT needs: ``Client(client_id=...)`` and
    ``username_pw_set(username, password)``. The password is hidden in the ``repr``."""

    client_id: str
    username: str
    password: str

    def __repr__(self) -> str:
        return (
            f"Credentials(client_id={self.client_id!r}, username={self.username!r}, password='***')"
        )


class OneNetToken(NamedTuple):
    """A OneNET token taken apart; ``res`` and ``sign`` are percent-decoded."""

    version: str
    res: str
    et: int
    method: str
    sign: str


def _uint(name: str, value: object, maximum: int = _U64_MAX) -> int:
    """Checks an integer argument and says which one is wrong."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ValueError(f"{name}: must be between 0 and {maximum}, not {value}")
    return value


def _now() -> int:
    return int(_time.time())


def onenet_token(
    res: str,
    access_key: str,
    *,
    et: int,
    method: str = "sha1",
    version: str = "2018-10-31",
) -> str:
    """Sign a OneNET token (the MQTT password, or an HTTP ``Authorization`` value).

    :param res: the resource, e.g. ``products/{pid}/devices/{name}`` or ``products/{pid}``.
    :param access_key: the base64 device key or product access key, as the console shows it.
    :param et: expiry, Unix seconds (64-bit).
    :param method: ``md5``, ``sha1`` or ``sha256`` in any case; signed and written in lower case.
    :param version: the parameter-set version, signed verbatim.
    :raises ValueError: an argument is empty, out of range or not base64 (named in the message).
    """
    return _core.onenet_token(res, access_key, _uint("et", et), method, version)


def onenet(
    product_id: str,
    device_name: str,
    access_key: str,
    *,
    et: Optional[int] = None,
    expires_in: Optional[int] = None,
    method: str = "sha1",
    product_level: bool = False,
) -> Credentials:
    """Credentials for a OneNET device: client id = device name, user name = product id,
    password = a token for ``products/{product_id}/devices/{device_name}``.

    :param access_key: the device key, or with ``product_level=True`` the product's access key
        (the token's ``res`` is then ``products/{product_id}``).
    :param et: expiry, Unix seconds. Give this or ``expires_in``, not both.
    :param expires_in: seconds from now until expiry; default :data:`DEFAULT_ONENET_EXPIRES_IN`.
    :param method: ``md5``, ``sha1`` or ``sha256``.
    """
    if et is not None and expires_in is not None:
        raise ValueError("et, expires_in: give one of them, not both")
    if et is None:
        lifetime = DEFAULT_ONENET_EXPIRES_IN if expires_in is None else expires_in
        et = _now() + _uint("expires_in", lifetime)
    client_id, username, password = _core.onenet_credentials(
        product_id, device_name, access_key, _uint("et", et), method, bool(product_level)
    )
    return Credentials(client_id, username, password)


def parse_onenet_token(token: str) -> OneNetToken:
    """Take a token apart without checking its signature.

    :raises turbomqtt.errors.TokenMalformedError: a field is missing, repeated or unreadable;
        its ``field`` attribute names it.
    """
    return OneNetToken(*_core.parse_onenet_token(token))


def verify_onenet_token(token: str, access_key: str, *, now: Optional[int] = None) -> OneNetToken:
    """Check a token against an access key: the answer to "why is my password refused?".

    :param now: the time to check the expiry against, Unix seconds; default the clock.
    :returns: the parsed token when it is well formed, correctly signed and not expired.
    :raises turbomqtt.errors.TokenMalformedError: a field is missing or unreadable (``field``).
    :raises turbomqtt.errors.TokenSignatureError: the key did not sign it, or a field was edited.
    :raises turbomqtt.errors.TokenExpiredError: ``et`` is before ``now`` (``et``, ``now``).
    :raises ValueError: ``access_key`` is not base64.
    """
    checked_at = _now() if now is None else _uint("now", now)
    return OneNetToken(*_core.verify_onenet_token(token, access_key, checked_at))


def aliyun(
    product_key: str,
    device_name: str,
    device_secret: str,
    *,
    client_id: Optional[str] = None,
    timestamp: Optional[int] = None,
    sign_method: str = "hmacsha256",
    secure_mode: int = 3,
) -> Credentials:
    """Credentials for Alibaba Cloud IoT Platform.

    :param client_id: your device's id (MAC, serial number); default ``{product_key}.{device_name}``.
    :param timestamp: Unix **milliseconds**; default the clock.
    :param sign_method: ``hmacmd5``, ``hmacsha1`` or ``hmacsha256``.
    :param secure_mode: 3 for plain TCP, 2 for TLS.
    """
    cid = f"{product_key}.{device_name}" if client_id is None else client_id
    ts = int(_time.time() * 1000) if timestamp is None else _uint("timestamp", timestamp)
    mode = _uint("secure_mode", secure_mode, 255)
    return Credentials(
        *_core.aliyun(product_key, device_name, device_secret, cid, ts, sign_method, mode)
    )


def huawei(
    device_id: str,
    secret: str,
    *,
    timestamp: Union[str, _dt.datetime, None] = None,
    sign_type: int = 0,
) -> Credentials:
    """Credentials for Huawei Cloud IoTDA.

    :param device_id: ``{product_id}_{node_id}``.
    :param timestamp: the UTC hour as ``YYYYMMDDHH``, or a :class:`datetime.datetime` (naive
        values are taken as UTC); default the current UTC hour.
    :param sign_type: 0 (the platform does not check the timestamp) or 1 (it does).
    """
    if timestamp is None:
        ts = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d%H")
    elif isinstance(timestamp, _dt.datetime):
        if timestamp.tzinfo is not None:
            timestamp = timestamp.astimezone(_dt.timezone.utc)
        ts = timestamp.strftime("%Y%m%d%H")
    elif isinstance(timestamp, str):
        ts = timestamp
    else:
        raise TypeError(f"timestamp must be a str or datetime, not {type(timestamp).__name__}")
    return Credentials(*_core.huawei(device_id, secret, ts, _uint("sign_type", sign_type, 255)))


_CONN_ID_ALPHABET = _string.ascii_letters + _string.digits


def tencent(
    product_id: str,
    device_name: str,
    device_psk: str,
    *,
    expiry: Optional[int] = None,
    conn_id: Optional[str] = None,
    sdkappid: str = "12010126",
    sign_method: str = "hmacsha256",
) -> Credentials:
    """Credentials for Tencent Cloud IoT Hub / IoT Explorer (key authentication).

    :param device_psk: the base64 device key.
    :param expiry: Unix seconds when the signature expires; default one hour from now.
    :param conn_id: a random 5-character string; default a fresh one.
    :param sign_method: ``hmacsha1`` or ``hmacsha256``.
    """
    exp = _now() + 3600 if expiry is None else _uint("expiry", expiry)
    cid = (
        "".join(_secrets.choice(_CONN_ID_ALPHABET) for _ in range(5))
        if conn_id is None
        else conn_id
    )
    return Credentials(
        *_core.tencent(product_id, device_name, device_psk, exp, cid, sdkappid, sign_method)
    )


def baidu(
    iot_core_id: str,
    device_key: str,
    device_secret: str,
    *,
    timestamp: Optional[int] = None,
    algorithm: str = "MD5",
    client_id: Optional[str] = None,
) -> Credentials:
    """Credentials for Baidu IoT Core.

    :param timestamp: Unix seconds; default the clock (the platform allows +-10 minutes).
    :param algorithm: ``MD5`` or ``SHA256``.
    :param client_id: any unique id; default ``device_key``.
    """
    ts = _now() if timestamp is None else _uint("timestamp", timestamp)
    cid = device_key if client_id is None else client_id
    return Credentials(*_core.baidu(iot_core_id, device_key, device_secret, ts, algorithm, cid))
