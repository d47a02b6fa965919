"""Plain-Python reference implementations of the platforms' signing, written from
spec/iot_auth.md with the standard library only. The tests check the Rust core against these
on random inputs, and the benchmark measures the Rust core against them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote


def onenet_token(
    res: str, key: str, et: int, method: str = "sha1", version: str = "2018-10-31"
) -> str:
    text = f"{et}\n{method}\n{res}\n{version}"
    sign = base64.b64encode(
        hmac.new(base64.b64decode(key), text.encode(), method).digest()
    ).decode()
    return f"version={version}&res={quote(res, safe='')}&et={et}&method={method}&sign={quote(sign, safe='')}"


def aliyun_password(pk: str, dn: str, secret: str, cid: str, ts: int, digest: str) -> str:
    content = f"clientId{cid}deviceName{dn}productKey{pk}timestamp{ts}"
    return hmac.new(secret.encode(), content.encode(), digest).hexdigest()


def huawei_password(secret: str, ts: str) -> str:
    return hmac.new(ts.encode(), secret.encode(), "sha256").hexdigest()


def tencent_password(username: str, psk: str, digest: str) -> str:
    return hmac.new(base64.b64decode(psk), username.encode(), digest).hexdigest()


def baidu_password(key: str, secret: str, ts: int, alg: str) -> str:
    return hashlib.new(alg.lower(), f"{key}&{ts}&{alg}{secret}".encode()).hexdigest()
