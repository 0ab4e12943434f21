"""A manager's settings, checked once when it is built.

:func:`check_settings` turns ``SidecarManager``'s keyword arguments into
:class:`ManagerSettings`; the part every session needs is :class:`SessionSettings`,
and the part that finds and starts runners is
:class:`~sidecar_sync.providers.LaunchSettings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import InvalidOptionError
from .providers import LaunchSettings
from .validation import check_positive_int, check_seconds, check_text

__all__ = ["ManagerSettings", "SessionSettings", "check_settings"]


@dataclass(frozen=True)
class SessionSettings:
    """The manager-wide settings every session gets: pipeline caps, stop ladder, start deadline."""

    max_line_size: int
    max_pending: int
    stop_grace: float
    kill_grace: float
    start_timeout: float | None


@dataclass(frozen=True)
class ManagerSettings:
    """Every ``SidecarManager`` argument, checked (see its docstring for their meaning)."""

    launch: LaunchSettings
    session: SessionSettings
    cleanup_grace: float
    write_timeout: float
    message_backlog: int
    max_buffered_bytes: int
    max_prompt_size: int


def check_settings(
    *,
    python: str | os.PathLike[str],
    stop_grace: float,
    cleanup_grace: float,
    max_line_size: int,
    max_pending: int,
    claude_path: str | None,
    codex_path: str | None,
    kill_grace: float,
    message_backlog: int,
    write_timeout: float,
    start_timeout: float | None,
    max_buffered_bytes: int,
    max_prompt_size: int,
) -> ManagerSettings:
    """Check a manager's arguments.

    Raises:
        InvalidOptionError: the first bad one, named.
    """
    try:
        interpreter = os.fspath(python)
    except TypeError:
        raise InvalidOptionError(f"python must be a path (str or path-like), got {python!r}") from None
    check_text("python", interpreter, empty_ok=False)
    stop = check_seconds(stop_grace, "stop_grace")
    kill = check_seconds(kill_grace, "kill_grace")
    write = check_seconds(write_timeout, "write_timeout")
    start = None if start_timeout is None else check_seconds(start_timeout, "start_timeout")
    cleanup = check_seconds(cleanup_grace, "cleanup_grace")
    check_positive_int("max_line_size", max_line_size)
    check_positive_int("max_pending", max_pending)
    if max_line_size > max_pending:
        raise InvalidOptionError(f"max_line_size ({max_line_size}) must not exceed max_pending ({max_pending})")
    backlog = check_positive_int("message_backlog", message_backlog, minimum=0)
    buffered = check_positive_int("max_buffered_bytes", max_buffered_bytes)
    prompt = check_positive_int("max_prompt_size", max_prompt_size)
    for name, path in (("claude_path", claude_path), ("codex_path", codex_path)):
        if path is not None:
            check_text(name, os.fspath(path), empty_ok=False)
    return ManagerSettings(
        launch=LaunchSettings(python=interpreter, claude_path=claude_path, codex_path=codex_path),
        session=SessionSettings(max_line_size, max_pending, stop, kill, start),
        cleanup_grace=cleanup,
        write_timeout=write,
        message_backlog=backlog,
        max_buffered_bytes=buffered,
        max_prompt_size=prompt,
    )
