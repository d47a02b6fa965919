"""turbomqtt: a fast, paho-mqtt compatible MQTT client with a Rust core.

``import turbomqtt.client as mqtt`` replaces ``import paho.mqtt.client as mqtt``;
:func:`install_as_paho` makes even unmodified code that imports paho use turbomqtt.
``turbomqtt.auth`` signs MQTT credentials for IoT clouds (OneNET, Aliyun, Huawei, Tencent,
Baidu); :func:`topic_matches_sub` matches topics exactly as paho-mqtt does.
"""

from __future__ import annotations

from turbomqtt import _core
from turbomqtt._compat import install_as_paho
from turbomqtt.exception import MQTTException

__version__: str = _core.__version__

__all__ = ["MQTTException", "__version__", "install_as_paho", "topic_matches_sub"]


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Whether ``topic`` matches the subscription filter ``sub``, with paho-mqtt's rules.

    ``foo/bar`` matches ``foo/#`` and ``+/bar``; ``foo/#`` also matches ``foo``; wildcards in
    the first level do not match topics that start with ``$``.
    """
    return _core.topic_matches_sub(sub, topic)
