"""Shared machinery of the built-in adapters: type-safe field readers and the dispatch loop.

Every reader takes whatever JSON value it is given and returns the expected
type or a default, so a handler never raises on a wrong type, a null or a
missing key. They are small on purpose: the hot path inlines the common checks
(``type(x) is str``) and calls these only for the rarer fields.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any, Final

from ..messages import AgentMessage, StreamAdapter, now_ms, unknown_message

log = logging.getLogger("sidecar_sync.adapters")

#: A read-only empty mapping to stand in for a missing or mistyped object.
#: Handlers only ever call ``.get`` on it.
EMPTY: Final[dict[str, Any]] = {}

#: A handler appends the messages of one event to ``out``.
Handler = Callable[[dict[str, Any], list[AgentMessage], int], None]


def as_str(value: Any, default: str = "") -> str:
    """``value`` if it is a string, else ``default``."""
    return value if type(value) is str else default


def str_or_none(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else ``None``."""
    return value if type(value) is str and value else None


# Floats are accepted as ints only inside the signed 64-bit range, so that every
# count an adapter produces can be serialised again (orjson refuses wider ints).
_FLOAT_INT_MIN: Final = -(2.0**63)
_FLOAT_INT_MAX: Final = 2.0**63


def int_or_none(value: Any) -> int | None:
    """``value`` as an int if it is a JSON integer, or a float within the int64 range; else ``None``."""
    if type(value) is int:
        return value
    if type(value) is float and _FLOAT_INT_MIN <= value < _FLOAT_INT_MAX:
        return int(value)
    return None


def count_or_none(value: Any) -> int | None:
    """``value`` if it is a whole number (a JSON integer, or a float of integral value within
    the int64 range) as an int, else ``None``: a token count of 5.5 is not a count."""
    if type(value) is float and not value.is_integer():
        return None
    return int_or_none(value)


def as_count(value: Any) -> int:
    """``value`` as a whole number (see :func:`count_or_none`), else 0."""
    count = count_or_none(value)
    return 0 if count is None else count


def float_or_none(value: Any) -> float | None:
    """``value`` as a float if it is a finite JSON number (not a bool), else ``None``."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int:
        return float(value)
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict, else :data:`EMPTY`."""
    return value if type(value) is dict else EMPTY


def str_list(value: Any) -> list[str]:
    """The strings of ``value`` if it is a list, else ``[]``; other items are dropped."""
    if type(value) is not list:
        return []
    return [item for item in value if type(item) is str]


def text_list(value: Any) -> list[str]:
    """The items of ``value`` as strings (non-strings rendered with ``str``), or ``[]``."""
    if type(value) is not list:
        return []
    return [item if type(item) is str else str(item) for item in value]


class DispatchStreamAdapter(StreamAdapter):
    """A stream adapter driven by a table ``event["type"] -> handler``.

    Events whose type has no handler (or that are not dicts) become ``unknown``
    messages. A handler that raises despite the defensive readers is a bug: it
    is logged with its traceback and the event is passed on as ``unknown``, so
    the stream goes on.
    """

    __slots__ = ("_handlers",)

    def __init__(self, provider: str, handlers: dict[str, Handler]) -> None:
        super().__init__(provider)
        self._handlers = handlers

    def adapt_batch(self, events: Iterable[dict[str, Any]]) -> list[AgentMessage]:
        out: list[AgentMessage] = []
        timestamp = now_ms()
        handlers = self._handlers
        for event in events:
            try:
                handler = handlers[event["type"]]
            except Exception:  # not a dict, no type, an unhashable or unknown type: odd input, no bug
                out.append(unknown_message(event, timestamp))
                continue
            try:
                handler(event, out, timestamp)
            except Exception:  # a bug, not bad input: keep the reader alive
                self._failed(event, out, timestamp)
        return out

    def _dispatch(self, event: dict[str, Any], out: list[AgentMessage], timestamp: int) -> None:
        """Adapt one event as :meth:`adapt_batch` does (for subclasses' own loops)."""
        try:
            handler = self._handlers[event["type"]]
        except Exception:  # odd input, as in adapt_batch
            out.append(unknown_message(event, timestamp))
            return
        try:
            handler(event, out, timestamp)
        except Exception:  # a bug, not bad input: keep the reader alive
            self._failed(event, out, timestamp)

    def _failed(self, event: dict[str, Any], out: list[AgentMessage], timestamp: int) -> None:
        kind = event.get("type")
        log.exception("%s adapter failed on a %r event; passing it on as 'unknown'", self.provider, kind)
        out.append(unknown_message(event, timestamp))

    def stateless(self, event: dict[str, Any]) -> list[AgentMessage]:
        """Adapt one event (for :func:`sidecar_sync.adapters.parse_message`)."""
        return self.adapt_batch((event,))
