"""turbomqtt's MQTT 5 data modules behave like paho-mqtt 2.2.0's, checked side by side.

Each test runs the same operation against ``paho.mqtt.<module>`` and ``turbomqtt.<module>`` and
compares the results, or the exception type name and message. The few places where turbomqtt
deliberately differs (paho raising IndexError/KeyError/struct.error on bad input instead of an
MQTT exception) have their own tests, named ``*_stricter_than_paho`` or ``*_not_indexerror``.
"""

# The loops below build lambdas that `outcome()` calls at once, so late binding cannot bite.
# ruff: noqa: B023

from __future__ import annotations

import ast
import collections
import copy
import inspect
import pathlib
import pickle
import random
import struct
from collections.abc import Callable
from typing import Any

import paho.mqtt.exception as paho_exception
import paho.mqtt.packettypes as paho_packettypes
import paho.mqtt.properties as paho_properties
import paho.mqtt.reasoncodes as paho_reasoncodes
import paho.mqtt.subscribeoptions as paho_subscribeoptions
import pytest
from turbomqtt import exception, packettypes, properties, reasoncodes, subscribeoptions
from turbomqtt.enums import MQTTErrorCode

PT = packettypes.PacketTypes
# Every real packet type, the will pseudo-type, and a few out-of-table numbers.
PACKET_TYPES = [-1, *range(17), PT.WILLMESSAGE]
TABLE_PACKET_TYPES = [pt for pt in PACKET_TYPES if 0 <= pt < len(PT.Names)]

MODULE_PAIRS = [
    (paho_exception, exception),
    (paho_packettypes, packettypes),
    (paho_properties, properties),
    (paho_reasoncodes, reasoncodes),
    (paho_subscribeoptions, subscribeoptions),
]


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """("ok", result) or ("raise", exception type name, message): comparable across libraries."""
    try:
        return ("ok", call())
    except Exception as err:
        return ("raise", type(err).__name__, str(err))


# --------------------------------------------------------------------------------------------
# Module surface


def _paho_public(module: Any) -> dict[str, Any]:
    """paho's own public classes and functions in ``module`` (not stdlib re-imports)."""
    found = {}
    for name in dir(module):
        obj = getattr(module, name)
        if not name.startswith("_") and getattr(obj, "__module__", "").startswith("paho.mqtt"):
            found[name] = obj
    return found


@pytest.mark.parametrize(("paho_mod", "ours"), MODULE_PAIRS, ids=lambda m: m.__name__)
def test_module_has_pahos_public_names(paho_mod: Any, ours: Any) -> None:
    missing = [name for name in _paho_public(paho_mod) if not hasattr(ours, name)]
    assert missing == []


def _shape(obj: Any) -> list[tuple[str, Any, Any]]:
    """Parameter names, kinds and defaults (annotations differ on purpose)."""
    sig = inspect.signature(obj)
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def _callables() -> list[Any]:
    """(paho's, ours) for every public class, function and method, with readable test ids."""
    pairs = []
    for paho_mod, ours in MODULE_PAIRS:
        for name, theirs in _paho_public(paho_mod).items():
            mine = getattr(ours, name)
            label = f"{ours.__name__.split('.')[-1]}.{name}"
            pairs.append(pytest.param(theirs, mine, id=label))
            if inspect.isclass(theirs):
                for attr, member in vars(theirs).items():
                    if callable(member) and not (attr.startswith("_") and attr != "__init__"):
                        pairs.append(pytest.param(member, vars(mine)[attr], id=f"{label}.{attr}"))
    return pairs


@pytest.mark.parametrize(("theirs", "mine"), _callables())
def test_signatures_match_paho(theirs: Any, mine: Any) -> None:
    if inspect.isclass(theirs) and issubclass(theirs, BaseException):
        return  # exception classes take *args in both
    assert _shape(mine) == _shape(theirs)


def test_exceptions_are_defined_once() -> None:
    assert properties.MQTTException is exception.MQTTException
    assert properties.MalformedPacket is exception.MalformedPacket
    assert subscribeoptions.MQTTException is exception.MQTTException
    assert issubclass(exception.MalformedPacket, exception.MQTTException)
    assert issubclass(exception.MQTTException, Exception)
    assert properties.PacketTypes is PT
    assert reasoncodes.PacketTypes is PT
    # paho's subscribeoptions defines a second, unrelated MQTTException; turbomqtt has one class,
    # so `except MQTTException` also catches SubscribeOptions' errors.
    assert paho_subscribeoptions.MQTTException is not paho_exception.MQTTException


@pytest.mark.parametrize(
    "module", [exception, packettypes, properties, reasoncodes, subscribeoptions]
)
def test_module_does_not_import_core(module: Any) -> None:
    tree = ast.parse(pathlib.Path(module.__file__).read_text(encoding="utf-8"))
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported += [f"{node.module}.{alias.name}" for alias in node.names]
    assert not [name for name in imported if "_core" in name]


# --------------------------------------------------------------------------------------------
# PacketTypes


def test_packettypes_attributes_match() -> None:
    theirs = paho_packettypes.PacketTypes
    public = [name for name in vars(theirs) if not name.startswith("_")]
    assert public
    for name in public:
        assert getattr(PT, name) == getattr(theirs, name), name
    assert PT.CONNECT == 1
    assert PT.AUTH == 15
    assert PT.WILLMESSAGE == 99
    assert PT.Names[PT.PUBLISH] == "Publish"
    assert list(PT.indexes) == list(range(1, 16))


# --------------------------------------------------------------------------------------------
# ReasonCode

RC = reasoncodes.ReasonCode
PRC = paho_reasoncodes.ReasonCode
ALL_NAMES = sorted({name for by_name in PRC.names.values() for name in by_name})


def _rc_view(rc: Any) -> tuple[Any, ...]:
    return (
        rc.value,
        rc.packetType,
        rc.getName(),
        str(rc),
        repr(rc),
        rc.json(),
        rc.pack(),
        type(rc.pack()),
        rc.is_failure,
        rc.names,
    )


def test_reasoncode_table_matches() -> None:
    assert dict(RC.names) == dict(PRC.names)
    assert RC(PT.CONNACK).names == PRC(PT.CONNACK).names


@pytest.mark.parametrize("packet_type", PACKET_TYPES)
def test_reasoncode_by_identifier(packet_type: int) -> None:
    for code in [-2, *range(256), 300]:
        ours = outcome(lambda: _rc_view(RC(packet_type, identifier=code)))
        theirs = outcome(lambda: _rc_view(PRC(packet_type, identifier=code)))
        assert ours == theirs, (packet_type, code)


@pytest.mark.parametrize("packet_type", PACKET_TYPES)
def test_reasoncode_by_name(packet_type: int) -> None:
    for name in [*ALL_NAMES, "Bogus", "success", ""]:
        ours = outcome(lambda: _rc_view(RC(packet_type, name)))
        theirs = outcome(lambda: _rc_view(PRC(packet_type, name)))
        assert ours == theirs, (packet_type, name)
    ours = outcome(lambda: _rc_view(RC(packet_type)))
    theirs = outcome(lambda: _rc_view(PRC(packet_type)))
    assert ours == theirs


def test_reasoncode_known_values() -> None:
    rc = RC(PT.CONNACK, "Not authorized")
    assert repr(rc) == "ReasonCode(Connack, 'Not authorized')"
    assert rc.value == 135
    assert rc.is_failure
    assert RC(PT.DISCONNECT).getName() == "Normal disconnection"
    assert RC(PT.DISCONNECT, "Success").value == 0
    assert str(RC(PT.SUBACK, identifier=1)) == "Granted QoS 1"
    with pytest.raises(KeyError, match="Reason code name not found: Nope"):
        RC(PT.CONNACK, "Nope")
    with pytest.raises(KeyError) as info:
        RC(PT.CONNACK, identifier=3)
    assert info.value.args == (3,)
    with pytest.raises(ValueError, match=r"Expected exactly one name, found \[\]"):
        RC(PT.CONNECT, identifier=0)


@pytest.mark.parametrize("packet_type", TABLE_PACKET_TYPES)
def test_reasoncode_getid_set_unpack(packet_type: int) -> None:
    valid = [
        code for code in RC.names if outcome(lambda: RC(packet_type, identifier=code))[0] == "ok"
    ]
    if not valid:
        return
    for name in [*ALL_NAMES, "Bogus"]:
        ours, theirs = RC(packet_type, identifier=valid[0]), PRC(packet_type, identifier=valid[0])
        assert outcome(lambda: ours.getId(name)) == outcome(lambda: theirs.getId(name))
        assert outcome(lambda: ours.set(name)) == outcome(lambda: theirs.set(name))
        assert ours.value == theirs.value
    for byte in range(256):
        ours, theirs = RC(packet_type, identifier=valid[0]), PRC(packet_type, identifier=valid[0])
        data = bytes([byte, 0xFF])
        assert outcome(lambda: ours.unpack(data)) == outcome(lambda: theirs.unpack(data)), byte
        assert ours.value == theirs.value
    ours, theirs = RC(packet_type, identifier=valid[0]), PRC(packet_type, identifier=valid[0])
    assert outcome(lambda: ours.unpack(b"")) == outcome(lambda: theirs.unpack(b""))


def _comparisons(a: Any, b: Any) -> list[tuple[Any, ...]]:
    ops: list[Callable[[], Any]] = [
        lambda: a == b,
        lambda: a != b,
        lambda: a < b,
        lambda: a <= b,
        lambda: a > b,
        lambda: a >= b,
        lambda: b == a,
        lambda: b < a,
        lambda: b >= a,
    ]
    return [outcome(op) for op in ops]


def test_reasoncode_comparisons_match() -> None:
    rng = random.Random(20261122)
    pool = [(pt, code) for pt in TABLE_PACKET_TYPES for code in RC.names]
    pool = [(pt, code) for pt, code in pool if outcome(lambda: RC(pt, identifier=code))[0] == "ok"]
    others: list[Any] = [
        -1,
        0,
        1,
        2,
        0x80,
        0x87,
        255,
        256,
        True,
        False,
        0.0,
        0.5,
        None,
        "",
        b"\x00",
    ]
    others += ALL_NAMES
    others += [MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN]
    for pt, code in pool:
        ours, theirs = RC(pt, identifier=code), PRC(pt, identifier=code)
        for other in others:
            assert _comparisons(ours, other) == _comparisons(theirs, other), (pt, code, other)
    for _ in range(500):
        (pt1, c1), (pt2, c2) = rng.choice(pool), rng.choice(pool)
        ours = _comparisons(RC(pt1, identifier=c1), RC(pt2, identifier=c2))
        theirs = _comparisons(PRC(pt1, identifier=c1), PRC(pt2, identifier=c2))
        assert ours == theirs


def test_reasoncode_common_idioms() -> None:
    ok = RC(PT.CONNACK)
    refused = RC(PT.CONNACK, identifier=0x87)
    assert ok == 0
    assert ok == "Success"
    assert refused > 0
    assert refused == RC(PT.PUBACK, "Not authorized")
    assert not ok.is_failure
    assert sorted([refused, ok]) == [ok, refused]
    assert ok == MQTTErrorCode.MQTT_ERR_SUCCESS
    with pytest.raises(TypeError):
        _ = ok < "Success"


def test_reasoncode_is_not_an_int_and_not_hashable() -> None:
    for rc in (RC(PT.CONNACK), PRC(PT.CONNACK)):
        with pytest.raises(TypeError):
            int(rc)  # type: ignore[call-overload]
        with pytest.raises(TypeError):
            hash(rc)
        assert bool(rc) is True  # no __bool__: even Success is truthy, as in paho
    assert RC.__hash__ is None
    assert reasoncodes.ReasonCodes.__hash__ is None


def test_reasoncodes_alias_is_deprecated() -> None:
    with pytest.deprecated_call(match=r"ReasonCodes is deprecated, use ReasonCode \(singular\)"):
        old = reasoncodes.ReasonCodes(PT.CONNACK, "Banned")
    assert isinstance(old, RC)
    assert isinstance(RC(PT.CONNACK), reasoncodes.ReasonCodes)
    assert issubclass(reasoncodes.ReasonCodes, RC)
    assert not isinstance(0, reasoncodes.ReasonCodes)
    assert repr(old) == "ReasonCode(Connack, 'Banned')"
    with pytest.deprecated_call():
        theirs = paho_reasoncodes.ReasonCodes(PT.CONNACK, "Banned")
    assert _rc_view(old) == _rc_view(theirs)


# --------------------------------------------------------------------------------------------
# Properties

Props = properties.Properties
PProps = paho_properties.Properties
PROPERTY_NAMES = [name.replace(" ", "") for name in PProps(PT.CONNECT).names]

# A few valid values per property, by its encoding.
VALID: dict[str, list[Any]] = {
    "PayloadFormatIndicator": [0, 1, True],
    "MessageExpiryInterval": [0, 1, 3600, 2**32 - 1],
    "ContentType": ["text/plain", "", "ünï©ødé", b"raw"],
    "ResponseTopic": ["reply/to", "a/+/b"],
    "CorrelationData": [b"\x00\x01", b"", bytearray(b"xy")],
    "SubscriptionIdentifier": [1, 127, 128, 16383, 16384, 268435455, [5, 6]],
    "SessionExpiryInterval": [0, 60, 0xFFFFFFFF],
    "AssignedClientIdentifier": ["auto-1234"],
    "ServerKeepAlive": [0, 60, 65535],
    "AuthenticationMethod": ["SCRAM-SHA-1"],
    "AuthenticationData": [b"\xff" * 40],
    "RequestProblemInformation": [0, 1],
    "WillDelayInterval": [0, 10],
    "RequestResponseInformation": [0, 1],
    "ResponseInformation": ["resp"],
    "ServerReference": ["other:1883"],
    "ReasonString": ["because", ""],
    "ReceiveMaximum": [1, 100, 65535],
    "TopicAliasMaximum": [0, 10, 65535],
    "TopicAlias": [1, 65535],
    "MaximumQoS": [0, 1],
    "RetainAvailable": [0, 1],
    "UserProperty": [("k", "v"), ("", ""), ("ключ", "значение"), [("a", "1"), ("b", "2")]],
    "MaximumPacketSize": [1, 1024, 268435455],
    "WildcardSubscriptionAvailable": [0, 1],
    "SubscriptionIdentifierAvailable": [0, 1],
    "SharedSubscriptionAvailable": [0, 1],
}

# Values that the assignment checks reject (or let through) in paho.
EDGE: dict[str, list[Any]] = {
    "ReceiveMaximum": [0, 65536, -1, "5", None, [0]],
    "TopicAlias": [0, 65536, 1.5],
    "TopicAliasMaximum": [-1, 65536],
    "MaximumPacketSize": [0, 268435456],
    "SubscriptionIdentifier": [0, 268435456, [0]],
    "RequestProblemInformation": [2, -1, "1", None],
    "RequestResponseInformation": [2],
    "PayloadFormatIndicator": [2, False],
    "MaximumQoS": [5],
    "ContentType": [5],
}


def _props_view(props: Any) -> tuple[Any, ...]:
    return (str(props), props.json(), outcome(props.pack), props.isEmpty())


def _set(props: Any, name: str, value: Any) -> Any:
    setattr(props, name, value)
    return _props_view(props)


def _unpacked_view(props: Any, data: bytes) -> tuple[Any, ...]:
    _, used = props.unpack(data)
    return used, props.json(), str(props)


def test_properties_tables_match() -> None:
    ours, theirs = Props(PT.PUBLISH), PProps(PT.PUBLISH)
    assert ours.names == theirs.names
    assert ours.properties == theirs.properties
    assert ours.types == theirs.types
    assert set(VALID) == set(PROPERTY_NAMES)
    assert ours.isEmpty()
    assert str(ours) == "[]"
    assert ours.pack() == b"\x00"


@pytest.mark.parametrize("name", PROPERTY_NAMES)
def test_properties_set_pack_unpack_match(name: str) -> None:
    for packet_type in PACKET_TYPES:
        for value in VALID[name] + EDGE.get(name, []):
            ours, theirs = Props(packet_type), PProps(packet_type)
            mine, paho = (
                outcome(lambda: _set(ours, name, value)),
                outcome(lambda: _set(theirs, name, value)),
            )
            if paho[:2] == ("raise", "IndexError"):
                # paho indexes PacketTypes.Names with 99 or 16 to build its message.
                assert mine[:2] == ("raise", "MQTTException"), (packet_type, value)
                assert "does not apply to packet type" in mine[2]
                continue
            assert mine == paho, (packet_type, value)
            if mine[0] == "raise" or mine[1][2][0] == "raise":
                continue
            packed = theirs.pack()
            assert ours.pack() == packed
            # Values that skipped the checks (lists) may not read back: same outcome in both.
            mine_back = outcome(lambda: _unpacked_view(Props(packet_type), packed + b"tail"))
            paho_back = outcome(lambda: _unpacked_view(PProps(packet_type), packed + b"tail"))
            assert mine_back == paho_back, (packet_type, value)
            if mine_back[0] == "ok":
                assert mine_back[1][0] == len(packed)


def test_properties_unknown_name_message() -> None:
    for packet_type in (PT.CONNECT, PT.PUBLISH, PT.WILLMESSAGE):
        for name in ("Foo", "receiveMaximum", "Receive_Maximum", "_x"):
            mine = outcome(lambda: setattr(Props(packet_type), name, 1))
            theirs = outcome(lambda: setattr(PProps(packet_type), name, 1))
            assert mine == theirs
            assert mine[1] == "MQTTException"
            assert mine[2].startswith("Property name must be one of dict_keys(['Payload Format")
    with pytest.raises(exception.MQTTException, match="does not apply to packet type Publish"):
        Props(PT.PUBLISH).ReceiveMaximum = 10


def test_properties_not_applicable_to_will_is_mqttexception_not_indexerror() -> None:
    with pytest.raises(IndexError):
        PProps(PT.WILLMESSAGE).TopicAlias = 1
    with pytest.raises(
        exception.MQTTException,
        match="Property TopicAlias does not apply to packet type WillMessage",
    ):
        Props(PT.WILLMESSAGE).TopicAlias = 1
    will = Props(PT.WILLMESSAGE)
    will.WillDelayInterval = 30
    will.UserProperty = ("a", "b")
    assert will.pack() == b"\x0c\x18\x00\x00\x00\x1e&\x00\x01a\x00\x01b"


def test_properties_names_with_spaces_and_accumulation() -> None:
    for cls in (Props, PProps):
        props = cls(PT.PUBLISH)
        setattr(props, "User Property", ("a", "1"))
        props.UserProperty = ("b", "2")
        props.UserProperty = [("c", "3"), ("d", "4")]
        props.SubscriptionIdentifier = 7
        props.SubscriptionIdentifier = 8
        assert props.UserProperty == [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]
        assert props.SubscriptionIdentifier == [7, 8]
        assert props.getIdentFromName("UserProperty") == 38
        assert props.getIdentFromName("User Property") == -1
        assert props.getNameFromIdent(38) == "User Property"
        assert props.getNameFromIdent(99) is None
        assert props.allowsMultiple("SubscriptionIdentifier")
        assert not props.allowsMultiple("TopicAlias")
        assert not hasattr(props, "TopicAlias")
        props.TopicAlias = 3
        del props.TopicAlias
        assert not props.isEmpty()
        props.clear()
        assert props.isEmpty()
        assert not hasattr(props, "UserProperty")
        assert props.packetType == PT.PUBLISH


def _random_value(rng: random.Random, name: str, kind: int) -> Any:
    alphabet = "abcXYZ/+#-é€😀 "
    if name == "UserProperty":
        return tuple("".join(rng.choices(alphabet, k=rng.randint(0, 8))) for _ in range(2))
    if name in ("ReceiveMaximum", "TopicAlias"):
        return rng.randint(1, 65535)
    if name == "TopicAliasMaximum":
        return rng.randint(0, 65535)
    if name in ("MaximumPacketSize", "SubscriptionIdentifier"):
        return rng.choice(
            [1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, rng.randint(1, 268435455)]
        )
    if name in (
        "PayloadFormatIndicator",
        "RequestProblemInformation",
        "RequestResponseInformation",
    ):
        return rng.randint(0, 1)
    if kind == 0:
        return rng.randint(0, 255)
    if kind == 1:
        return rng.randint(0, 65535)
    if kind == 2:
        return rng.randint(0, 2**32 - 1)
    if kind == 4:
        return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 20)))
    return "".join(rng.choices(alphabet, k=rng.randint(0, 30)))


def test_properties_random_bags_match() -> None:
    rng = random.Random(5)
    table = Props(PT.CONNECT).properties
    for _ in range(400):
        packet_type = rng.choice([*TABLE_PACKET_TYPES, PT.WILLMESSAGE])
        ours, theirs = Props(packet_type), PProps(packet_type)
        allowed = [n for n in PROPERTY_NAMES if packet_type in table[ours.getIdentFromName(n)][1]]
        for name in rng.sample(allowed, k=rng.randint(0, len(allowed))):
            for _ in range(rng.randint(1, 3) if ours.allowsMultiple(name) else 1):
                value = _random_value(rng, name, table[ours.getIdentFromName(name)][0])
                setattr(ours, name, value)
                setattr(theirs, name, value)
        assert str(ours) == str(theirs)
        assert ours.json() == theirs.json()
        assert ours.isEmpty() == theirs.isEmpty()
        packed = ours.pack()
        assert packed == theirs.pack()
        mine, used = Props(packet_type).unpack(packed)
        paho, paho_used = PProps(packet_type).unpack(packed)
        assert (mine.json(), str(mine), used) == (paho.json(), str(paho), paho_used)
        assert used == len(packed)
        assert mine.pack() == packed


MALFORMED_SAME_MESSAGE = [
    (b"", "Not enough data to decode Variable Byte Integer"),
    (b"\x80", "Not enough data to decode Variable Byte Integer"),
    (b"\x80\x80\x80\x80\x01", "Variable Byte Integer is more than four bytes long"),
    (b"\x05\x03\x00\x05abcdef", "Length delimited string too long"),
    (b"\x04\x09\x00\x05abcdef", "Length delimited binary data too long"),
    (b"\x02\x03\x00", "Not enough data to read string length"),
    (b"\x02\x09\x00", "Not enough data to read binary data length"),
    (b"\x06\x26\x00\x01a\x00\x01", "Length delimited string too long"),
    (b"\x04\x03\x00\x01\x00", "[MQTT-1.5.4-2] Null found in UTF-8 data"),
    (b"\x06\x03\x00\x03\xef\xbb\xbf", "[MQTT-1.5.4-3] U+FEFF in UTF-8 data"),
    (b"\x07\x03\x00\x04\xef\xbb\xbf\x00", "[MQTT-1.5.4-3] U+FEFF in UTF-8 data"),
    (b"\x07\x03\x00\x04\x00\xef\xbb\xbf", "[MQTT-1.5.4-2] Null found in UTF-8 data"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED_SAME_MESSAGE)
def test_properties_malformed_like_paho(data: bytes, message: str) -> None:
    with pytest.raises(paho_exception.MalformedPacket) as theirs:
        PProps(PT.PUBLISH).unpack(data)
    with pytest.raises(exception.MalformedPacket) as ours:
        Props(PT.PUBLISH).unpack(data)
    assert str(ours.value) == str(theirs.value) == message


# Where paho lets a non-MQTT exception escape (or reads past the property length), turbomqtt
# raises MalformedPacket, which paho's own packet decoder turns those errors into anyway.
STRICTER = [
    (b"\x02\x07\x00", KeyError),  # unknown property identifier 7
    (b"\x01\x01", IndexError),  # Byte value missing
    (b"\x02\x23\x01", struct.error),  # Two Byte Integer truncated
    (b"\x03\x02\x00\x00", struct.error),  # Four Byte Integer truncated
    (b"\x05\x03\x00\x02\xc3\x28", UnicodeDecodeError),  # invalid UTF-8
    (b"\x02\x03\x00\x05ab", None),  # declared length beyond the buffer
    (b"\x02\x02\x00\x00\x00\x01", None),  # Four Byte Integer overruns the property length
]


@pytest.mark.parametrize(("data", "paho_error"), STRICTER)
def test_properties_unpack_stricter_than_paho(data: bytes, paho_error: Any) -> None:
    if paho_error is not None:
        with pytest.raises(paho_error):
            PProps(PT.PUBLISH).unpack(data)
    with pytest.raises(exception.MalformedPacket):
        Props(PT.PUBLISH).unpack(data)


def test_properties_unpack_validates_like_paho() -> None:
    # Decodable, but not allowed for the packet type or out of range: MQTTException in both.
    cases = [
        (PT.PUBLISH, b"\x03\x21\x00\x05"),  # ReceiveMaximum in a PUBLISH
        (PT.CONNECT, b"\x03\x21\x00\x00"),  # ReceiveMaximum 0
        (PT.PUBLISH, b"\x02\x01\x02"),  # PayloadFormatIndicator 2
        (PT.PUBLISH, b"\x02\x0b\x00"),  # SubscriptionIdentifier 0
    ]
    for packet_type, data in cases:
        mine = outcome(lambda: Props(packet_type).unpack(data))
        theirs = outcome(lambda: PProps(packet_type).unpack(data))
        assert mine == theirs
        assert mine[1] == "MQTTException"
    # A single-valued property twice: paho's message names the builtin `property` by mistake.
    twice = b"\x06\x23\x00\x01\x23\x00\x02"
    with pytest.raises(paho_exception.MQTTException, match="must not exist more than once"):
        PProps(PT.PUBLISH).unpack(twice)
    with pytest.raises(
        exception.MQTTException, match="Property 'TopicAlias' must not exist more than once"
    ) as info:
        Props(PT.PUBLISH).unpack(twice)
    assert type(info.value) is exception.MQTTException


def test_properties_unpack_fuzz() -> None:
    rng = random.Random(1122)
    outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
    seeds = []
    for packet_type in (PT.CONNECT, PT.CONNACK, PT.PUBLISH, PT.WILLMESSAGE, PT.DISCONNECT):
        props = Props(packet_type)
        table = props.properties
        for name in PROPERTY_NAMES:
            if packet_type in table[props.getIdentFromName(name)][1]:
                setattr(props, name, VALID[name][0])
        seeds.append((packet_type, props.pack()))
    for _ in range(3000):
        packet_type, data = rng.choice(seeds)
        buf = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            choice = rng.random()
            if choice < 0.4 and buf:
                buf[rng.randrange(len(buf))] = rng.randint(0, 255)
            elif choice < 0.7:
                del buf[rng.randrange(len(buf) + 1) :]
            else:
                buf.insert(rng.randrange(len(buf) + 1), rng.randint(0, 255))
        blob = bytes(buf)
        mine = outcome(lambda: _unpacked_view(Props(packet_type), blob))
        theirs = outcome(lambda: _unpacked_view(PProps(packet_type), blob))
        if mine[0] == "ok":
            # Whatever turbomqtt accepts, paho accepts with the same result.
            assert mine == theirs, blob
            continue
        # turbomqtt only ever raises MQTT exceptions, and MalformedPacket where paho does (the
        # message can differ: paho may notice a short buffer only at the next identifier).
        assert mine[1] in ("MQTTException", "MalformedPacket"), (blob, mine)
        if theirs[1] == "MalformedPacket":
            assert mine[1] == "MalformedPacket", blob
        outcomes[(mine[1], theirs[0] if theirs[0] == "ok" else theirs[1])] += 1
    # The cases where paho does not raise an MQTT exception are the ones turbomqtt tightens.
    assert set(outcomes) <= {
        ("MalformedPacket", "ok"),  # a value overrunning the property length
        ("MalformedPacket", "KeyError"),  # unknown property identifier
        ("MalformedPacket", "IndexError"),  # Byte value missing
        ("MalformedPacket", "error"),  # struct.error: integer truncated
        ("MalformedPacket", "UnicodeDecodeError"),
        ("MalformedPacket", "MalformedPacket"),
        ("MQTTException", "MQTTException"),  # out of range, not allowed, or repeated
        ("MQTTException", "IndexError"),  # paho's message lookup for WILLMESSAGE
        ("MalformedPacket", "MQTTException"),  # an overrunning value that paho then rejects
    }, outcomes


def test_properties_unpack_keeps_buffer_type() -> None:
    props = Props(PT.PUBLISH)
    props.CorrelationData = b"id"
    for buffer_type in (bytes, bytearray):
        packed = buffer_type(props.pack())
        mine = Props(PT.PUBLISH).unpack(packed)[0]
        theirs = PProps(PT.PUBLISH).unpack(packed)[0]
        assert type(mine.CorrelationData) is type(theirs.CorrelationData) is buffer_type
        assert mine.json() == theirs.json()


# --------------------------------------------------------------------------------------------
# Wire helpers


def test_int_helpers_match() -> None:
    rng = random.Random(16)
    for value in [0, 1, 255, 256, 65535, *(rng.randint(0, 65535) for _ in range(200))]:
        assert properties.writeInt16(value) == paho_properties.writeInt16(value)
        assert type(properties.writeInt16(value)) is bytearray
        assert properties.readInt16(paho_properties.writeInt16(value) + b"x") == value
    for value in [0, 2**32 - 1, *(rng.randint(0, 2**32 - 1) for _ in range(200))]:
        assert properties.writeInt32(value) == paho_properties.writeInt32(value)
        assert properties.readInt32(paho_properties.writeInt32(value)) == value
    for bad in (-1, 65536):
        assert outcome(lambda: properties.writeInt16(bad)) == outcome(
            lambda: paho_properties.writeInt16(bad)
        )
    assert outcome(lambda: properties.readInt32(b"\x00")) == outcome(
        lambda: paho_properties.readInt32(b"\x00")
    )


def test_string_and_bytes_helpers_match() -> None:
    for data in ["", "abc", "ünï©ødé😀", b"raw", b""]:
        assert properties.writeUTF(data) == paho_properties.writeUTF(data)
        encoded = bytes(paho_properties.writeUTF(data))
        assert properties.readUTF(encoded, len(encoded)) == paho_properties.readUTF(
            encoded, len(encoded)
        )
    for blob in [b"", b"\x00\xff", bytearray(b"xyz")]:
        assert properties.writeBytes(blob) == paho_properties.writeBytes(blob)
        encoded = bytes(paho_properties.writeBytes(blob))
        assert properties.readBytes(encoded, 100) == paho_properties.readBytes(encoded, 100)
    for maxlen in range(5):
        for reader in ("readUTF", "readBytes"):
            mine = outcome(lambda: getattr(properties, reader)(b"\x00\x02ab", maxlen))
            theirs = outcome(lambda: getattr(paho_properties, reader)(b"\x00\x02ab", maxlen))
            assert mine == theirs
    assert outcome(lambda: properties.writeUTF(5))[:2] == ("raise", "TypeError")  # type: ignore[arg-type]


VBI_EDGES = [0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455]


def test_variable_byte_integers_match() -> None:
    rng = random.Random(1234)
    vbi, pvbi = properties.VariableByteIntegers, paho_properties.VariableByteIntegers
    for value in VBI_EDGES + [rng.randint(0, 268435455) for _ in range(2000)]:
        encoded = vbi.encode(value)
        assert encoded == pvbi.encode(value)
        assert type(encoded) is bytes
        assert vbi.decode(encoded + b"\xff") == (value, len(encoded)) == pvbi.decode(encoded)
    assert [len(vbi.encode(v)) for v in VBI_EDGES] == [1, 1, 1, 2, 2, 3, 3, 4, 4]
    for bad in (-1, 268435456, 2**40):
        assert outcome(lambda: vbi.encode(bad)) == outcome(lambda: pvbi.encode(bad))
        with pytest.raises(ValueError, match=r"must be in range 0-268435455"):
            vbi.encode(bad)
    for blob in [
        b"",
        b"\x80",
        b"\xff\xff\xff",
        b"\x80\x80\x80\x80",
        b"\xff\xff\xff\xff\x7f",
        b"\x80\x00",
        bytearray(b"\x81\x01"),
    ]:
        assert outcome(lambda: vbi.decode(blob)) == outcome(lambda: pvbi.decode(blob))
    with pytest.raises(exception.MalformedPacket):
        vbi.decode(b"\x80\x80\x80\x80\x01")
    for _ in range(2000):
        blob = bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 6)))
        assert outcome(lambda: vbi.decode(blob)) == outcome(lambda: pvbi.decode(blob)), blob


# --------------------------------------------------------------------------------------------
# SubscribeOptions

SO = subscribeoptions.SubscribeOptions
PSO = paho_subscribeoptions.SubscribeOptions


def _so_view(opts: Any) -> tuple[Any, ...]:
    return (str(opts), repr(opts), opts.json(), outcome(opts.pack), opts.names)


def test_subscribeoptions_construction_matches() -> None:
    for qos in (-1, 0, 1, 2, 3, True):
        for no_local in (False, True, 0, 1):
            for rap in (False, True):
                for handling in (-1, 0, 1, 2, 3):
                    mine = outcome(lambda: _so_view(SO(qos, no_local, rap, handling)))
                    theirs = outcome(lambda: _so_view(PSO(qos, no_local, rap, handling)))
                    assert mine == theirs, (qos, no_local, rap, handling)
    assert (
        str(SO(1, True, True, 2))
        == "{QoS=1, noLocal=True, retainAsPublished=True, retainHandling=2}"
    )
    with pytest.raises(AssertionError, match="QoS should be 0, 1 or 2, not 3"):
        SO(qos=3)
    kwargs = {
        "qos": 1,
        "noLocal": True,
        "retainAsPublished": False,
        "retainHandling": SO.RETAIN_DO_NOT_SEND,
    }
    assert _so_view(SO(**kwargs)) == _so_view(PSO(**kwargs))
    assert (SO.RETAIN_SEND_ON_SUBSCRIBE, SO.RETAIN_SEND_IF_NEW_SUB, SO.RETAIN_DO_NOT_SEND) == (
        0,
        1,
        2,
    )


def test_subscribeoptions_unpack_every_byte() -> None:
    for byte in range(256):
        mine, theirs = SO(), PSO()
        data = bytes([byte])
        assert outcome(lambda: mine.unpack(data)) == outcome(lambda: theirs.unpack(data)), byte
        assert _so_view(mine) == _so_view(theirs), byte
        if outcome(lambda: mine.pack())[0] == "ok":
            assert mine.pack() == bytes([byte & 0x3F])  # bits 6-7 are reserved: dropped


def test_subscribeoptions_attribute_rules() -> None:
    for name in ("qos", "foo", "names", "_x"):
        mine = outcome(lambda: setattr(SO(), name, 1))
        theirs = outcome(lambda: setattr(PSO(), name, 1))
        assert mine == theirs
    with pytest.raises(exception.MQTTException, match=r"qos Attribute name must be one of \['QoS'"):
        SO().qos = 1  # type: ignore[attr-defined]
    for cls in (SO, PSO):
        opts = cls()
        opts.QoS = 3
        with pytest.raises(AssertionError, match="QoS should be 0, 1 or 2, not 3"):
            opts.pack()
        opts.QoS = 2
        opts.retainHandling = 7
        with pytest.raises(AssertionError, match="Retain handling should be 0, 1 or 2, not 7"):
            opts.pack()


# --------------------------------------------------------------------------------------------
# Copies, pickles and paho's odd helper name


def test_copy_and_pickle_like_paho() -> None:
    for props_cls, opts_cls, rc_cls in ((Props, SO, RC), (PProps, PSO, PRC)):
        props = props_cls(PT.PUBLISH)
        props.UserProperty = ("a", "b")
        props.TopicAlias = 4
        clone = copy.deepcopy(props)
        clone.UserProperty = ("c", "d")
        assert str(props) == "[TopicAlias : 4, UserProperty : [('a', 'b')]]"
        assert str(clone) == "[TopicAlias : 4, UserProperty : [('a', 'b'), ('c', 'd')]]"
        assert str(pickle.loads(pickle.dumps(props))) == str(props)
        opts = opts_cls(1, True)
        assert str(copy.copy(opts)) == str(pickle.loads(pickle.dumps(opts))) == str(opts)
        rc = rc_cls(PT.CONNACK, identifier=0x87)
        assert repr(pickle.loads(pickle.dumps(rc))) == "ReasonCode(Connack, 'Not authorized')"
        assert rc.__getName__(PT.SUBACK, 1) == "Granted QoS 1"
