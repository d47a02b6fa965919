"""``MQTTMatcher``: values stored under topic filters, looked up by topic (paho's
``paho.mqtt.matcher``). Matching is ``topic_matches_sub``'s, done in Rust."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from turbomqtt import _core

__all__ = ["MQTTMatcher"]


class MQTTMatcher:
    """A mapping from subscription filters to values: ``m["a/+"] = v``, ``m["a/+"]``,
    ``del m["a/+"]``, and ``m.iter_match("a/b")`` yields the values of every matching filter."""

    def __init__(self) -> None:
        self._filters: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self._filters[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._filters[key]

    def __delitem__(self, key: str) -> None:
        del self._filters[key]

    def __len__(self) -> int:
        return len(self._filters)

    def iter_match(self, topic: str) -> Iterator[Any]:
        """The values of the filters that ``topic`` matches, in insertion order."""
        matches = _core.topic_matches_sub
        return iter([value for sub, value in list(self._filters.items()) if matches(sub, topic)])
