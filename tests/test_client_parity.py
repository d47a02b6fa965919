"""The same scenario under paho and under the implementation being tested must produce
the same callback sequence (names + normalised arguments), and every public callable of
``paho.mqtt.client`` must exist with a compatible signature (STYLE.md §2.10).

paho is always the reference; the ``mqtt`` fixture is the candidate. With
``TURBOMQTT_TEST_IMPLS=paho`` paho is compared with itself, which still checks that the
scenarios are deterministic; each test also pins paho's sequence literally.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import paho.mqtt.client as paho
import pytest
from support.broker import MosquittoBroker
from support.clientkit import Recorder, normalise

CALLBACKS = ("connect", "disconnect", "subscribe", "unsubscribe", "publish", "message")


class Trace:
    """Callbacks recorded step by step; events inside one step are sorted, because
    e.g. on_publish and on_message of the same QoS 1 publish may legally swap."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.rec = Recorder()
        self.steps: list[list[Any]] = []
        self._taken = 0

    def attach(self, client: Any) -> None:
        self.rec.attach(client, *CALLBACKS)

    def step(self, label: str, *waits: tuple[str, int]) -> None:
        """Wait until the given callbacks arrived (cumulative counts), then close the step."""
        for name, count in waits:
            self.rec.wait(name, count)
        calls = self.rec.calls[self._taken :]
        self._taken += len(calls)
        events = [(c.name, *(self._norm(a) for a in c.args)) for c in calls]
        self.steps.append([label, *sorted(events, key=repr)])

    def _norm(self, value: Any) -> Any:
        value = normalise(value)
        if isinstance(value, tuple) and value and value[0] == "MSG":
            return (value[0], value[1].replace(self.topic, "T"), *value[2:])
        return value


def run_flow(module: ModuleType, version: int, broker: MosquittoBroker) -> list[list[Any]]:
    topic = f"parity/{uuid.uuid4().hex}"
    api = module.CallbackAPIVersion.VERSION1 if version == 1 else module.CallbackAPIVersion.VERSION2
    with pytest.warns(DeprecationWarning) if version == 1 else _nothing():
        client = module.Client(api, client_id=f"parity-{uuid.uuid4().hex[:8]}")
    trace = Trace(topic)
    trace.attach(client)
    try:
        client.connect(broker.host, broker.port, keepalive=30)
        client.loop_start()
        trace.step("connect", ("connect", 1))
        client.subscribe(topic, 2)
        trace.step("subscribe", ("subscribe", 1))
        for qos in (0, 1, 2):
            client.publish(topic, f"q{qos}", qos=qos)
            trace.step(f"publish q{qos}", ("publish", qos + 1), ("message", qos + 1))
        client.unsubscribe(topic)
        trace.step("unsubscribe", ("unsubscribe", 1))
        client.disconnect()
        trace.step("disconnect", ("disconnect", 1))
    finally:
        client.disconnect()
        client.loop_stop()
    return trace.steps


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


PROPS = {
    "connect": ("PROPS", 2, {}),
    "suback": ("PROPS", 9, {}),
    "unsuback": ("PROPS", 11, {}),
    "disconnect": ("PROPS", 14, {}),
}

EXPECTED_FLOW = {
    1: [
        ["connect", ("connect", {"session present": 0}, 0)],
        ["subscribe", ("subscribe", 1, ("tuple", 2))],
        ["publish q0", ("message", ("MSG", "T", b"q0", 0, False, 0, False)), ("publish", 2)],
        ["publish q1", ("message", ("MSG", "T", b"q1", 1, False, 1, False)), ("publish", 3)],
        ["publish q2", ("message", ("MSG", "T", b"q2", 2, False, 2, False)), ("publish", 4)],
        ["unsubscribe", ("unsubscribe", 5)],
        ["disconnect", ("disconnect", 0)],
    ],
    2: [
        [
            "connect",
            (
                "connect",
                ("ConnectFlags", False),
                ("RC", 2, 0, "Success"),
                PROPS["connect"],
            ),
        ],
        [
            "subscribe",
            ("subscribe", 1, ("list", ("RC", 9, 2, "Granted QoS 2")), PROPS["suback"]),
        ],
        *[
            [
                f"publish q{qos}",
                ("message", ("MSG", "T", f"q{qos}".encode(), qos, False, qos, False)),
                # the reason code comes from the acknowledging packet type: PUBACK (4)
                # for QoS 0/1, PUBCOMP (7) for QoS 2 -- even on MQTT 3.1.1
                ("publish", qos + 2, ("RC", pt, 0, "Success"), ("PROPS", pt, {})),
            ]
            for qos, pt in ((0, 4), (1, 4), (2, 7))
        ],
        ["unsubscribe", ("unsubscribe", 5, ("list",), PROPS["unsuback"])],
        [
            "disconnect",
            (
                "disconnect",
                ("DisconnectFlags", False),
                ("RC", 14, 0, "Normal disconnection"),
                PROPS["disconnect"],
            ),
        ],
    ],
}


@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
def test_flow_parity(mqtt: ModuleType, broker: MosquittoBroker, version: int) -> None:
    reference = run_flow(paho, version, broker)
    assert reference == EXPECTED_FLOW[version]
    assert run_flow(mqtt, version, broker) == reference


def run_until_disconnect(
    module: ModuleType, version: int, connect: Callable[[Any, Recorder], None]
) -> list[Any]:
    api = module.CallbackAPIVersion.VERSION1 if version == 1 else module.CallbackAPIVersion.VERSION2
    with pytest.warns(DeprecationWarning) if version == 1 else _nothing():
        client = module.Client(api, client_id=f"parity-{uuid.uuid4().hex[:8]}")
    client.reconnect_delay_set(30, 30)  # one attempt within the test
    rec = Recorder().attach(client, "connect", "disconnect")
    try:
        connect(client, rec)
        rec.wait("disconnect")
    finally:
        client.disconnect()  # first: ends paho's reconnect wait at once
        client.loop_stop()
    return [(c.name, *(normalise(a) for a in c.args)) for c in rec.calls]


@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
def test_refused_connection_parity(mqtt: ModuleType, broker: MosquittoBroker, version: int) -> None:
    def connect(client: Any, rec: Recorder) -> None:
        client.username_pw_set(broker.username, "wrong password")
        client.connect(broker.host, broker.auth_port)
        client.loop_start()

    reference = run_until_disconnect(paho, version, connect)
    if version == 1:
        assert reference == [("connect", {"session present": 0}, 5), ("disconnect", 5)]
    else:
        assert reference == [
            (
                "connect",
                ("ConnectFlags", False),
                ("RC", 2, 135, "Not authorized"),
                PROPS["connect"],
            ),
            (
                "disconnect",
                ("DisconnectFlags", False),
                ("RC", 14, 128, "Unspecified error"),
                PROPS["disconnect"],
            ),
        ]
    assert run_until_disconnect(mqtt, version, connect) == reference


@pytest.mark.parametrize("version", [1, 2], ids=["V1", "V2"])
def test_connection_lost_parity(
    mqtt: ModuleType, fresh_broker: MosquittoBroker, version: int
) -> None:
    def connect(client: Any, rec: Recorder) -> None:
        client.connect(fresh_broker.host, fresh_broker.port, keepalive=30)
        client.loop_start()
        rec.wait("connect")
        fresh_broker.kill()

    reference = run_until_disconnect(paho, version, connect)
    if version == 1:
        assert reference == [("connect", {"session present": 0}, 0), ("disconnect", 7)]
    else:
        assert reference == [
            ("connect", ("ConnectFlags", False), ("RC", 2, 0, "Success"), PROPS["connect"]),
            (
                "disconnect",
                ("DisconnectFlags", False),
                ("RC", 14, 128, "Unspecified error"),
                PROPS["disconnect"],
            ),
        ]
    fresh_broker.start()
    assert run_until_disconnect(mqtt, version, connect) == reference


# -- signatures -------------------------------------------------------------------


def _norm_default(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return "<required>"
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.name, value.value)
    return value


def _shape(func: Any) -> list[tuple[str, str, Any]]:
    sig = inspect.signature(func)
    return [(p.name, p.kind.name, _norm_default(p.default)) for p in sig.parameters.values()]


def _public_functions() -> list[str]:
    return sorted(
        name
        for name, obj in vars(paho).items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == paho.__name__
    )


def _public_methods(cls: type) -> list[str]:
    names = [n for n, obj in vars(cls).items() if n[0] != "_" and inspect.isfunction(obj)]
    return [*sorted(names), "__init__"]


def _public_properties(cls: type) -> list[str]:
    return sorted(
        name for name, obj in vars(cls).items() if isinstance(obj, property) and name[0] != "_"
    )


def test_module_functions_have_paho_signatures(mqtt: ModuleType) -> None:
    names = _public_functions()
    assert {"connack_string", "error_string", "topic_matches_sub"} <= set(names)
    missing = [name for name in names if not callable(getattr(mqtt, name, None))]
    assert missing == []
    different = {
        name: (_shape(getattr(paho, name)), _shape(getattr(mqtt, name)))
        for name in names
        if _shape(getattr(paho, name)) != _shape(getattr(mqtt, name))
    }
    assert different == {}


@pytest.mark.parametrize("cls_name", ["Client", "MQTTMessageInfo", "MQTTMessage"])
def test_class_methods_have_paho_signatures(mqtt: ModuleType, cls_name: str) -> None:
    reference, candidate = getattr(paho, cls_name), getattr(mqtt, cls_name)
    names = _public_methods(reference)
    if cls_name == "Client":
        assert {"connect", "publish", "subscribe", "loop_forever", "tls_set"} <= set(names)
    missing = [name for name in names if not callable(getattr(candidate, name, None))]
    assert missing == []
    different = {
        name: (_shape(getattr(reference, name)), _shape(getattr(candidate, name)))
        for name in names
        if _shape(getattr(reference, name)) != _shape(getattr(candidate, name))
    }
    assert different == {}


@pytest.mark.parametrize("cls_name", ["Client", "MQTTMessageInfo", "MQTTMessage"])
def test_class_properties_exist(mqtt: ModuleType, cls_name: str) -> None:
    reference, candidate = getattr(paho, cls_name), getattr(mqtt, cls_name)
    names = _public_properties(reference)
    if cls_name == "Client":
        assert {"on_connect", "on_message", "host", "port", "keepalive"} <= set(names)
    missing = [name for name in names if not hasattr(candidate, name)]
    assert missing == []


# Standard-library and typing names that paho's modules import for themselves: not API.
_NOT_API = {"Iterator", "Literal", "Sequence", "cast", "overload", "TYPE_CHECKING"}


@pytest.mark.parametrize(
    "name",
    [
        "client",
        "publish",
        "subscribe",
        "properties",
        "reasoncodes",
        "packettypes",
        "subscribeoptions",
        "enums",
        "matcher",
        "exception",
    ],
)
def test_every_public_paho_name_exists(name: str) -> None:
    """Every public name of ``paho.mqtt.<name>`` (constants, classes, functions, typing aliases
    and re-exports; not the standard-library modules it imports) is in ``turbomqtt.<name>``,
    and callables have paho's parameters."""
    theirs = importlib.import_module(f"paho.mqtt.{name}")
    ours = importlib.import_module(f"turbomqtt.{name}")
    names = [
        n
        for n, obj in vars(theirs).items()
        if not n.startswith("_")
        and n not in _NOT_API
        and not (inspect.ismodule(obj) and n not in ("socks", "ssl", "socket", "paho"))
    ]
    assert names  # the reference module was read
    missing = [n for n in names if not hasattr(ours, n)]
    assert missing == []
    different = {
        n: (_shape(getattr(theirs, n)), _shape(getattr(ours, n)))
        for n in names
        if inspect.isfunction(getattr(theirs, n))
        and _shape(getattr(theirs, n)) != _shape(getattr(ours, n))
    }
    assert different == {}
