"""Options as a runner reads them: the session options, its providerConfig, directories.

The first ``query`` of a session carries its options; the host reads them with
:meth:`sidecar_sync.options.SessionOptions.from_wire`, the one definition the
manager uses too (re-exported here), so a bad value becomes an
:class:`~sidecar_sync.errors.InvalidOptionError` naming the option, what was
expected and what came.

``providerConfig`` is the provider's own dict; :class:`ProviderConfig` reads it
with typed getters and warns (on stderr) about keys the runner never read, so a
typo does not pass silently. :func:`existing_directory` is the runner-side check
of a directory an agent CLI is about to be given.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from sidecar_sync.errors import InvalidOptionError
from sidecar_sync.options import SessionOptions, invalid_option

__all__ = ["SessionOptions", "ProviderConfig", "InvalidOptionError", "existing_directory"]

log = logging.getLogger(__name__)

_MISSING: Any = object()
_bad = invalid_option


class ProviderConfig:
    """Typed, checked access to a runner's ``providerConfig`` dict.

    Each getter validates one key and remembers that it was read;
    :meth:`warn_unused` then logs the keys nobody read (likely typos).

    Args:
        config: the raw ``providerConfig`` object.
        provider: the runner name, for messages.
    """

    def __init__(self, config: Mapping[str, Any], provider: str) -> None:
        self._config = dict(config)
        self._provider = provider
        self._read: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._config

    def _get(self, key: str) -> Any:
        self._read.add(key)
        return self._config.get(key, _MISSING)

    def _name(self, key: str) -> str:
        return f"providerConfig.{key}"

    def get_str(self, key: str, default: Any = None, *, choices: Sequence[str] | None = None) -> Any:
        """A string (without NUL), one of ``choices`` when given."""
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, str) or "\x00" in value:
            raise _bad(self._name(key), "a string", value)
        if choices is not None and value not in choices:
            raise _bad(self._name(key), "one of " + ", ".join(repr(c) for c in choices), value)
        return value

    def get_bool(self, key: str, default: Any = None) -> Any:
        """A JSON boolean."""
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            raise _bad(self._name(key), "true or false", value)
        return value

    def get_int(self, key: str, default: Any = None, *, minimum: int | None = None, maximum: int | None = None) -> Any:
        """An integer (not a boolean) within ``[minimum, maximum]``."""
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(self._name(key), "an integer", value)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise _bad(self._name(key), f"an integer in [{minimum}, {maximum}]", value)
        return value

    def get_float(
        self, key: str, default: Any = None, *, minimum: float | None = None, maximum: float | None = None
    ) -> Any:
        """A finite number within ``[minimum, maximum]``, as float."""
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _bad(self._name(key), "a number", value)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise _bad(self._name(key), f"a number in [{minimum}, {maximum}]", value)
        return float(value)

    def get_any(self, key: str, default: Any = None) -> Any:
        """The raw value, for callers that validate it themselves."""
        value = self._get(key)
        return default if value is _MISSING or value is None else value

    def invalid(self, key: str, expected: str, value: Any) -> InvalidOptionError:
        """An error for a key whose value the caller found wrong."""
        return _bad(self._name(key), expected, value)

    def unused(self) -> list[str]:
        """The keys present in the config that no getter read."""
        return sorted(set(self._config) - self._read)

    def warn_unused(self) -> None:
        """Log (to the runner's stderr) every key that was never read."""
        for key in self.unused():
            log.warning("%s runner: ignoring unknown providerConfig key %r", self._provider, key)


def existing_directory(name: str, value: str) -> str:
    """Return ``value`` if it names an existing directory (checked before a CLI is started).

    Raises:
        InvalidOptionError: it does not; the message names the option.
    """
    if not os.path.isdir(value):
        raise InvalidOptionError(f"invalid option {name}: {value!r} is not an existing directory")
    return value
