"""Session options: defined once, checked once, mapped to the wire once.

A session's options travel from the caller (``SidecarManager.start_session``
keyword arguments) to the runner (the first ``query`` command, camelCase keys).
:class:`SessionOptions` is the one definition of them: each field carries its wire
name and its validation rule, so both sides of the pipe build the same frozen,
checked value:

* the manager: ``SessionOptions.create(cwd=..., model=..., ...)`` (``None`` means
  "not set"), then :meth:`SessionOptions.to_wire` for the first query;
* a runner: ``SessionOptions.from_wire(query)`` on the first query it receives.

Every value is caller data, so every rule applies on both sides, and a bad value
raises :class:`~sidecar_sync.errors.InvalidOptionError` naming the option (by its
Python name), what was expected and what came. The rules are about shape (types,
NUL bytes, a positive ``max_turns``, lists of strings); policy lives where it is
enforced: the existence of ``cwd`` / ``claude_config_dir`` and the refused
``extra_env`` keys are the manager's checks (:mod:`sidecar_sync.env`), and each
runner checks what its agent CLI can take.

Runners import this module at start-up: it imports nothing heavier than
:mod:`dataclasses` and orjson.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

import orjson

from .errors import InvalidOptionError

__all__ = [
    "SessionOptions",
    "OptionSpec",
    "OPTIONS",
    "WIRE_NAMES",
    "DEFAULT_PERMISSION_MODE",
    "InvalidOptionError",
    "invalid_option",
]

#: ``permissionMode`` sent when the caller did not choose one.
DEFAULT_PERMISSION_MODE: Final = "bypassPermissions"

#: A validation rule: ``rule(option name, value) -> normalised value``; raises InvalidOptionError.
Rule = Callable[[str, Any], Any]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def invalid_option(name: str, expected: str, value: Any) -> InvalidOptionError:
    """The error for option ``name``: ``invalid option NAME: expected EXPECTED, got VALUE``."""
    return InvalidOptionError(f"invalid option {name}: expected {expected}, got {_describe(value)}")


# -- the rules -------------------------------------------------------------------------


def _encodable(value: str) -> bool:
    """True if ``value`` is real text (a lone surrogate cannot travel as UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or "\x00" in value or not _encodable(value):
        raise invalid_option(name, "valid text without NUL bytes", value)
    return value


def _path(name: str, value: Any) -> str:
    """A path as a string (a path-like object is converted); existence is not checked here."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\x00" in value or not _encodable(value):
        raise invalid_option(name, "a non-empty path string without NUL bytes", value)
    return value


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_option(name, "a positive integer", value)
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid_option(name, "true or false", value)
    return value


def _environment(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and "\x00" not in k + v and _encodable(k + v)
        for k, v in value.items()
    ):
        raise invalid_option(name, "a mapping of strings to strings without NUL bytes", value)
    return dict(value)


def _path_list(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise invalid_option(name, "a list of path strings", value)
    for item in value:
        if isinstance(item, os.PathLike):
            item = os.fspath(item)
        if not isinstance(item, str) or not item or "\x00" in item or not _encodable(item):
            raise invalid_option(name, "a list of non-empty path strings without NUL bytes", item)
    return tuple(os.fspath(item) for item in value)


def _json_object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid_option(name, "a mapping (a JSON object)", value)
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise InvalidOptionError(
            f"invalid option {name}: expected JSON-serialisable values and str keys: {exc}"
        ) from None
    return dict(value)


def _option(wire: str, rule: Rule, **kwargs: Any) -> Any:
    """A :class:`SessionOptions` field with its wire name and rule (defaults to ``None``)."""
    if "default_factory" not in kwargs:
        kwargs.setdefault("default", None)
    return field(metadata={"wire": wire, "rule": rule}, **kwargs)


# -- the definition --------------------------------------------------------------------


@dataclass(frozen=True)
class SessionOptions:
    """The validated options of one session (sent with its first query).

    Construct it with keyword arguments (every field is checked and normalised,
    ``InvalidOptionError`` names the first bad one), with :meth:`create` (``None``
    means "not set"), or from a query command with :meth:`from_wire`. It is
    immutable; ``dataclasses.replace`` makes a checked copy.

    Attributes:
        cwd: the working directory of the agent (``cwd``).
        model: the model name (``model``).
        system_prompt: the system prompt (``systemPrompt``).
        max_turns: the most agent turns per query, a positive int (``maxTurns``).
        permission_mode: the agent's permission mode (``permissionMode``; sent as
            ``bypassPermissions`` when unset).
        claude_config_dir: Claude Code's config dir (``claudeConfigDir``).
        extra_env: extra environment variables (``extraEnv``); values hidden from repr.
        additional_directories: more directories the agent may use (``additionalDirectories``).
        worktree_name: a git worktree to work in (``worktreeName``).
        resume_session_id: the agent conversation to resume (``resumeSessionId``).
        provider_config: provider-specific settings, a JSON object (``providerConfig``).
        permission_prompt: the manager answers ``permission_request`` lines (the
            caller gave ``on_permission``); a runner asks only then
            (``permissionPrompt``; sent only when true).
    """

    cwd: str | None = _option("cwd", _path)
    model: str | None = _option("model", _text)
    system_prompt: str | None = _option("systemPrompt", _text)
    max_turns: int | None = _option("maxTurns", _positive_int)
    permission_mode: str | None = _option("permissionMode", _text)
    claude_config_dir: str | None = _option("claudeConfigDir", _path)
    extra_env: Mapping[str, str] = _option("extraEnv", _environment, default_factory=dict, repr=False)
    additional_directories: tuple[str, ...] = _option("additionalDirectories", _path_list, default=())
    worktree_name: str | None = _option("worktreeName", _text)
    resume_session_id: str | None = _option("resumeSessionId", _text)
    provider_config: Mapping[str, Any] = _option("providerConfig", _json_object, default_factory=dict)
    permission_prompt: bool | None = _option("permissionPrompt", _flag)

    def __post_init__(self) -> None:
        for spec in OPTIONS:
            value = getattr(self, spec.name)
            if value is None:
                continue
            object.__setattr__(self, spec.name, spec.rule(spec.name, value))

    @classmethod
    def create(cls, **values: Any) -> SessionOptions:
        """Build checked options from Python values; ``None`` (or an empty list or mapping) means unset.

        This is the form for passing keyword arguments through, e.g. from
        ``start_session``::

            SessionOptions.create(cwd=cwd, model=model, max_turns=max_turns, ...)

        Raises:
            InvalidOptionError: an unknown option name, or a bad value (named).
        """
        unknown = sorted(set(values) - _NAMES)
        if unknown:
            raise InvalidOptionError(f"unknown session option(s): {', '.join(unknown)}")
        return cls(**{name: value for name, value in values.items() if not _unset(value)})

    @classmethod
    def from_wire(cls, command: Mapping[str, Any]) -> SessionOptions:
        """Read the options carried by a first ``query`` command (camelCase keys).

        Keys that are not options (``type``, ``sessionId``, ``prompt``, and keys a
        newer manager may add) are ignored; a JSON ``null`` is an unset option.

        Raises:
            InvalidOptionError: a value of the wrong type or shape (named by its Python name).
        """
        values = {spec.name: command[spec.wire] for spec in OPTIONS if command.get(spec.wire) is not None}
        return cls(**values)

    def to_wire(self) -> dict[str, Any]:
        """The options as the first query's camelCase keys.

        Unset options (``None``, empty lists and mappings) are omitted;
        ``permissionMode`` is always present (``bypassPermissions`` by default).
        The result is a new dict, safe to change.
        """
        wire: dict[str, Any] = {}
        for spec in OPTIONS:
            value = getattr(self, spec.name)
            if _unset(value):
                continue
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            wire[spec.wire] = value
        wire.setdefault(WIRE_NAMES["permission_mode"], DEFAULT_PERMISSION_MODE)
        return wire

    def to_dict(self) -> dict[str, Any]:
        """The set options by their Python names (what :meth:`create` takes)."""
        return {spec.name: getattr(self, spec.name) for spec in OPTIONS if not _unset(getattr(self, spec.name))}


def _unset(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, (list, tuple, Mapping)) and not value)


@dataclass(frozen=True)
class OptionSpec:
    """One session option: its Python name, its wire (camelCase) key and its rule."""

    name: str
    wire: str
    rule: Rule


#: Every session option, in definition order, derived from :class:`SessionOptions`'s fields.
OPTIONS: Final[tuple[OptionSpec, ...]] = tuple(
    OptionSpec(f.name, f.metadata["wire"], f.metadata["rule"]) for f in fields(SessionOptions)
)
#: Python option name -> wire key.
WIRE_NAMES: Final[Mapping[str, str]] = {spec.name: spec.wire for spec in OPTIONS}
_NAMES: Final = frozenset(WIRE_NAMES)
