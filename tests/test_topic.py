"""topic_matches_sub against paho-mqtt's own function on every pair from a grid of filters and
topics, including the `$` and empty-level corner cases."""

from __future__ import annotations

import itertools
import random

import paho.mqtt.client as paho
import turbomqtt
from turbomqtt import _core

LEVELS = ["a", "b", "", "$SYS", "+", "#", "a+", "#b"]


def words(max_levels: int) -> list[str]:
    out = []
    for n in range(1, max_levels + 1):
        out += ["/".join(p) for p in itertools.product(LEVELS, repeat=n)]
    return out


def test_matches_paho_on_grid() -> None:
    filters = words(3)
    topics = [t for t in words(3) if "+" not in t and "#" not in t]
    assert len(filters) * len(topics) > 10_000
    mismatches = [
        (sub, topic)
        for sub in filters
        for topic in topics
        if turbomqtt.topic_matches_sub(sub, topic) != paho.topic_matches_sub(sub, topic)
    ]
    assert mismatches == []


def test_matches_paho_on_random_deep_topics() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        sub = "/".join(rng.choice(LEVELS) for _ in range(rng.randint(1, 6)))
        topic = "/".join(rng.choice(["a", "b", "", "$x"]) for _ in range(rng.randint(1, 6)))
        assert turbomqtt.topic_matches_sub(sub, topic) == paho.topic_matches_sub(sub, topic), (
            sub,
            topic,
        )


def test_known_cases() -> None:
    assert turbomqtt.topic_matches_sub("foo/#", "foo")
    assert turbomqtt.topic_matches_sub("$SYS/#", "$SYS/broker/uptime")
    assert not turbomqtt.topic_matches_sub("#", "$SYS/broker/uptime")
    assert not turbomqtt.topic_matches_sub("+/+", "$SYS/x")
    assert turbomqtt.topic_matches_sub("sport/+/player1", "sport/tennis/player1")


def test_validation() -> None:
    assert _core.valid_topic("a/b")
    assert not _core.valid_topic("a/+")
    assert not _core.valid_topic("")
    assert _core.valid_filter("a/+/#")
    assert not _core.valid_filter("a/#/b")
    assert not _core.valid_filter("a+")
