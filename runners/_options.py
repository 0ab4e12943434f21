"""Session options as a runner sees them, checked once, with clear errors.

The first ``query`` of a session carries its options (camelCase on the wire,
mapped to Python names by :func:`sidecar_sync.protocol.options_from_wire`). They
are caller data: every value is type-checked here before a runner uses it, and a
bad one becomes an :class:`~sidecar_sync.errors.InvalidOptionError` naming the
option, what was expected and what came.

``providerConfig`` is the provider's own dict; :class:`ProviderConfig` reads it
with typed getters and warns (on stderr) about keys the runner never read, so a
typo does not pass silently.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from sidecar_sync.errors import InvalidOptionError
from sidecar_sync.protocol import OPTION_WIRE_NAMES, options_from_wire

__all__ = ["SessionOptions", "ProviderConfig", "InvalidOptionError", "existing_directory"]

log = logging.getLogger(__name__)

_MISSING: Any = object()


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(name: str, expected: str, value: Any) -> InvalidOptionError:
    return InvalidOptionError(f"invalid option {name}: expected {expected}, got {_describe(value)}")


def _optional_str(command: Mapping[str, Any], name: str) -> str | None:
    value = command.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise _bad(name, "a string without NUL", value)
    return value


@dataclass(frozen=True)
class SessionOptions:
    """The validated options of a session (from its first ``query``).

    Every field is ``None`` (or empty) when the query did not carry it.
    """

    session_id: str
    cwd: str | None = None
    model: str | None = None
    system_prompt: str | None = None
    max_turns: int | None = None
    permission_mode: str | None = None
    claude_config_dir: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    additional_directories: tuple[str, ...] = ()
    worktree_name: str | None = None
    resume_session_id: str | None = None
    provider_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_query(cls, command: Mapping[str, Any]) -> SessionOptions:
        """Validate the options carried by a first ``query`` command.

        Raises:
            InvalidOptionError: an option has the wrong type or shape.
        """
        opts = options_from_wire(command)
        strings = {
            name: _optional_str(opts, name)
            for name in (
                "cwd",
                "model",
                "system_prompt",
                "permission_mode",
                "claude_config_dir",
                "worktree_name",
                "resume_session_id",
            )
        }
        max_turns = opts.get("max_turns")
        if max_turns is not None and (isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1):
            raise _bad("max_turns", "a positive integer", max_turns)
        extra_env = opts.get("extra_env") or {}
        if not isinstance(extra_env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra_env.items()
        ):
            raise _bad("extra_env", "an object of string values", extra_env)
        dirs = opts.get("additional_directories") or []
        if not isinstance(dirs, list) or not all(isinstance(d, str) and "\x00" not in d for d in dirs):
            raise _bad("additional_directories", "a list of strings", dirs)
        provider_config = opts.get("provider_config") or {}
        if not isinstance(provider_config, dict):
            raise _bad("provider_config", "an object", provider_config)
        return cls(
            session_id=str(command.get("sessionId", "")),
            max_turns=max_turns,
            extra_env=dict(extra_env),
            additional_directories=tuple(dirs),
            provider_config=dict(provider_config),
            **strings,
        )

    @staticmethod
    def wire_name(name: str) -> str:
        """The wire (camelCase) key of a Python option name."""
        return OPTION_WIRE_NAMES.get(name, name)


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
