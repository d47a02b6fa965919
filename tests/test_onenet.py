"""OneNET topic and payload helpers: the exact strings of the platform's documentation and of
the users' own scripts (shared/seeds)."""

from __future__ import annotations

import json
import time

import pytest
from turbomqtt import onenet, topic_matches_sub


def test_mqtt_suite_topics_match_the_users_scripts() -> None:
    dev = onenet.Device("469948", "Chic_D")
    assert dev.dp_post_json == "$sys/469948/Chic_D/dp/post/json"
    assert dev.dp_post_json_replies == "$sys/469948/Chic_D/dp/post/json/+"
    assert topic_matches_sub(dev.dp_post_json_replies, dev.dp_post_json + "/accepted")
    assert dev.cmd_requests == "$sys/469948/Chic_D/cmd/request/+"
    assert dev.cmd_response("abc-1") == "$sys/469948/Chic_D/cmd/response/abc-1"
    assert dev.cmd_response_replies == "$sys/469948/Chic_D/cmd/response/+/+"
    assert dev.image_update == "$sys/469948/Chic_D/image/update"
    assert dev.all_topics == "$sys/469948/Chic_D/#"
    assert onenet.Device("1", "d", gateway=True).dp_post_json == "$subdev/1/d/dp/post/json"


def test_studio_topics() -> None:
    dev = onenet.Device("oA8jn8R554", "first")
    assert dev.property_post == "$sys/oA8jn8R554/first/thing/property/post"
    assert dev.property_post_reply == "$sys/oA8jn8R554/first/thing/property/post/reply"
    assert dev.property_set == "$sys/oA8jn8R554/first/thing/property/set"
    assert dev.property_set_reply == "$sys/oA8jn8R554/first/thing/property/set_reply"
    assert dev.property_get_reply == "$sys/oA8jn8R554/first/thing/property/get_reply"
    assert dev.event_post == "$sys/oA8jn8R554/first/thing/event/post"
    assert dev.service_invoke() == "$sys/oA8jn8R554/first/thing/service/+/invoke"
    assert (
        dev.service_invoke_reply("reboot")
        == "$sys/oA8jn8R554/first/thing/service/reboot/invoke_reply"
    )
    assert topic_matches_sub(dev.thing_topics, dev.property_set)


@pytest.mark.parametrize("bad", ["", "a/b", "a+b", "#", "x" * 65, "a b"])
def test_names_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="device_name"):
        onenet.Device("1", bad)


def test_dp_payload_as_documented() -> None:
    payload = onenet.dp_payload(
        {
            "temperatrue": [(30, 1552289676)],
            "power": 4.5,
            "status": [({"color": "blue"}, 1552289677)],
        },
        id=123,
    )
    assert json.loads(payload) == {
        "id": 123,
        "dp": {
            "temperatrue": [{"v": 30, "t": 1552289676}],
            "power": [{"v": 4.5}],
            "status": [{"v": {"color": "blue"}, "t": 1552289677}],
        },
    }
    assert json.loads(onenet.dp_payload({"a": 1}, id=5, t=9)) == {
        "id": 5,
        "dp": {"a": [{"v": 1, "t": 9}]},
    }
    first, second = (json.loads(onenet.dp_payload({"a": 1}))["id"] for _ in range(2))
    assert second == first + 1
    for bad_id in (0, -1, 2**31, True):
        with pytest.raises(ValueError, match=r"^id: "):
            onenet.dp_payload({"a": 1}, id=bad_id)
    with pytest.raises(ValueError, match="data stream id"):
        onenet.dp_payload({"bad name": 1}, id=1)
    with pytest.raises(ValueError, match=r"^values: "):
        onenet.dp_payload({}, id=1)


def test_onejson_property_post_matches_the_seed_script() -> None:
    # shared/seeds 001: '{"id": "123","version": "1.0","params": {"consumption": {"value": 5},...}}'
    payload = onenet.property_post({"consumption": 5, "lightIntensity": 233}, id="123")
    assert json.loads(payload) == {
        "id": "123",
        "version": "1.0",
        "params": {"consumption": {"value": 5}, "lightIntensity": {"value": 233}},
    }
    stamped = json.loads(onenet.property_post({"wendu": 12.6}, id="7", time_ms=True))
    assert abs(stamped["params"]["wendu"]["time"] - time.time() * 1000) < 5000
    with pytest.raises(ValueError, match=r"^id: "):
        onenet.property_post({"a": 1}, id="12345678901234")
    events = json.loads(
        onenet.event_post({"alarm": {"Power": "on"}}, id="9", time_ms=1524448722123)
    )
    assert events["params"] == {"alarm": {"value": {"Power": "on"}, "time": 1524448722123}}


def test_reply_echoes_the_request_id() -> None:
    request = b'{"id":"123","version":"1.0","params":{"temperature":"30.5"}}'
    assert json.loads(onenet.onejson_reply(request)) == {"id": "123", "code": 200, "msg": "success"}
    reply = json.loads(onenet.onejson_reply("42", data={"temperature": 39.5}))
    assert reply == {"id": "42", "code": 200, "msg": "success", "data": {"temperature": 39.5}}
    assert json.loads(onenet.onejson_reply({"id": "5"}, code=100, msg="busy"))["code"] == 100
