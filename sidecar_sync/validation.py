"""Checks of caller input, done before anything is spawned.

Prompts, ids, options and ``extra_env`` are caller data, often from a user or a
request: every string must be encodable as UTF-8 (a lone surrogate cannot travel in
JSON to a runner or in argv to a CLI), and strings that reach argv or the
environment must not hold NUL bytes. Each check raises
:class:`~sidecar_sync.errors.InvalidOptionError` naming the argument and saying what
was wrong, so a bad call fails before a runner exists, not halfway through.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import InvalidOptionError

__all__ = [
    "check_text",
    "check_timeout",
    "check_seconds",
    "check_positive_int",
    "check_callable",
]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_text(name: str, value: Any, *, nul_ok: bool = False, empty_ok: bool = True) -> str:
    """A ``str`` that encodes as UTF-8 (and has no NUL unless ``nul_ok``)."""
    if not isinstance(value, str):
        raise InvalidOptionError(f"{name} must be a str, got {type(value).__name__}")
    if not value and not empty_ok:
        raise InvalidOptionError(f"{name} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidOptionError(
            f"{name} is not valid text: {exc.reason} at index {exc.start} "
            f"({value[exc.start : exc.end]!r}); pass real Unicode text, not undecoded bytes"
        ) from None
    if not nul_ok and "\0" in value:
        raise InvalidOptionError(f"{name} must not contain a NUL byte (index {value.index(chr(0))})")
    return value


def check_timeout(value: Any, name: str = "timeout") -> float | None:
    """A blocking call's timeout: ``None`` (wait for ever) or a number of seconds >= 0."""
    if value is None:
        return None
    return check_seconds(value, name)


def check_seconds(value: Any, name: str, *, positive: bool = False) -> float:
    """A finite number of seconds, >= 0 (> 0 with ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidOptionError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise InvalidOptionError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """An ``int`` (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidOptionError(f"{name} must be an int >= {minimum}, got {_describe(value)}")
    return value


def check_callable(name: str, value: Any) -> Callable[..., Any] | None:
    """``None`` or a callable."""
    if value is None:
        return None
    if not callable(value):
        raise InvalidOptionError(f"{name} must be callable, got {_describe(value)}")
    function: Callable[..., Any] = value
    return function
