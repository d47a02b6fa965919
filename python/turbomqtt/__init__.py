"""turbomqtt: a fast, paho-mqtt compatible MQTT client with a Rust core.

``turbomqtt.auth`` signs MQTT credentials for IoT clouds (OneNET, Aliyun, Huawei, Tencent,
Baidu); :func:`topic_matches_sub` matches topics exactly as paho-mqtt does.
"""

from __future__ import annotations

from turbomqtt import _core

__version__: str = _core.__version__

__all__ = ["__version__", "topic_matches_sub"]


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Whether ``topic`` matches the subscription filter ``sub``, with paho-mqtt's rules.

    ``foo/bar`` matches ``foo/#`` and ``+/bar``; ``foo/#`` also matches ``foo``; wildcards in
    the first level do not match topics that start with ``$``.
    """
    return _core.topic_matches_sub(sub, topic)
