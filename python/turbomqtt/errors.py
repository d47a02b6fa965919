"""Exception classes of turbomqtt, defined once.

The Rust core raises these same classes (it binds them by name), so ``except`` clauses work
whether an error came from Rust or from Python. This module must never import ``_core``.
"""

from __future__ import annotations

__all__ = [
    "TokenError",
    "TokenExpiredError",
    "TokenMalformedError",
    "TokenSignatureError",
    "WebsocketConnectionError",
]


class TokenError(ValueError):
    """A OneNET token is malformed, expired, or not signed with the given key.

    A subclass of :class:`ValueError`, so code that catches bad input in general catches it too.
    """


class TokenMalformedError(TokenError):
    """A token cannot be read. ``field`` names the part that is wrong (``version``, ``res``,
    ``et``, ``method``, ``sign``, or ``token`` for the string as a whole)."""

    def __init__(self, message: str, field: str = "token") -> None:
        super().__init__(message)
        self.field = field


class TokenExpiredError(TokenError):
    """A token's ``et`` lies before the time it was checked at (``now``)."""

    def __init__(self, message: str, et: int = 0, now: int = 0) -> None:
        super().__init__(message)
        self.et = et
        self.now = now


class TokenSignatureError(TokenError):
    """A token's ``sign`` does not match: another access key signed it, or one of its signed
    fields (``version``, ``res``, ``et``, ``method``) was changed afterwards."""


class WebsocketConnectionError(ConnectionError):
    """The WebSocket handshake with the broker failed (paho's class of the same name)."""
