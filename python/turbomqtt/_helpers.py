"""What ``turbomqtt.publish`` and ``turbomqtt.subscribe`` share: building a client from paho's
helper arguments (``auth``, ``will`` and ``tls`` dicts)."""

from __future__ import annotations

import ssl
from typing import Any, Optional, Union

from turbomqtt import client as mqtt

AuthDict = dict[str, Any]
TlsArg = Union[dict[str, Any], ssl.SSLContext]


def configure(
    client: mqtt.Client,
    *,
    will: Optional[dict[str, Any]],
    auth: Optional[AuthDict],
    tls: Optional[TlsArg],
    proxy_args: Optional[dict[str, Any]],
) -> None:
    """Applies the helper arguments to ``client`` the way paho's helpers do."""
    client.enable_logger()
    if proxy_args is not None:
        client.proxy_set(**proxy_args)
    if auth:
        username = auth.get("username")
        if not username:
            raise KeyError("The 'username' key was not found, this is required for auth")
        client.username_pw_set(username, auth.get("password"))
    if will is not None:
        client.will_set(**will)
    if tls is None:
        return
    if isinstance(tls, dict):
        # paho pops "insecure" from the caller's dict; so do we, for scripts that rely on it.
        insecure = tls.pop("insecure", False)
        client.tls_set(**tls)
        if insecure:
            client.tls_insecure_set(insecure)
    else:
        client.tls_set_context(tls)
