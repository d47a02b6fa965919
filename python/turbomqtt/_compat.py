"""``install_as_paho()``: make ``import paho.mqtt.client`` (and every other ``paho.mqtt``
module) give turbomqtt's, for code that cannot be edited (third-party libraries included)."""

from __future__ import annotations

import importlib
import sys
import types

_MODULES = (
    "client",
    "enums",
    "exception",
    "matcher",
    "packettypes",
    "properties",
    "publish",
    "reasoncodes",
    "subscribe",
    "subscribeoptions",
)

#: The paho-mqtt version whose API turbomqtt reproduces; ``paho.mqtt.__version__`` reports it.
PAHO_API_VERSION = "2.2.0"


def install_as_paho() -> None:
    """Make ``paho``, ``paho.mqtt`` and ``paho.mqtt.<module>`` resolve to turbomqtt's modules
    for the rest of the process.

    Call it before the code that imports paho runs: a module that already did
    ``import paho.mqtt.client`` keeps the object it got. Calling it twice is harmless.
    """
    paho = types.ModuleType("paho", "turbomqtt standing in for paho-mqtt")
    paho.__path__ = []  # a package, so `import paho.mqtt` looks for the submodule
    mqtt = types.ModuleType("paho.mqtt", "turbomqtt standing in for paho.mqtt")
    mqtt.__path__ = []
    mqtt.__version__ = PAHO_API_VERSION  # type: ignore[attr-defined]
    paho.mqtt = mqtt  # type: ignore[attr-defined]
    sys.modules["paho"] = paho
    sys.modules["paho.mqtt"] = mqtt
    for name in _MODULES:
        module = importlib.import_module(f"turbomqtt.{name}")
        sys.modules[f"paho.mqtt.{name}"] = module
        setattr(mqtt, name, module)
    mqtt.MQTTException = sys.modules["turbomqtt.exception"].MQTTException  # type: ignore[attr-defined]
