"""The exception hierarchy of sidecar_sync.

Every error the library raises on purpose derives from :class:`SidecarError`.
Each subclass also inherits the builtin exception it means, so callers can catch
either the library's type or the familiar builtin (``except LookupError`` still
catches an unknown session, ``except TimeoutError`` a wait that timed out).

Caller mistakes (a bad option, an unknown session) are split from the
misbehaviour of the other side (a runner that cannot be started or went away).
"""

from __future__ import annotations

import errno
import os
from typing import Any

__all__ = [
    "SidecarError",
    "InvalidOptionError",
    "ExtraEnvRejectedError",
    "PromptTooLargeError",
    "SessionExistsError",
    "SessionNotFoundError",
    "SessionNotActiveError",
    "UnknownProviderError",
    "ProviderUnavailableError",
    "RunnerNotFoundError",
    "RunnerStartError",
    "RunnerGoneError",
    "WaitTimeoutError",
    "FramerError",
    "FramerBusyError",
    "ReplayError",
    "ReplaySourceMissingError",
]


class SidecarError(Exception):
    """Root of every error raised by sidecar_sync."""


# -- the caller's mistakes ---------------------------------------------------------


class InvalidOptionError(SidecarError, ValueError):
    """An argument or session option is invalid (bad type, bad path, rejected key)."""


class ExtraEnvRejectedError(InvalidOptionError):
    """``extra_env`` holds keys a runner must not get (see :mod:`sidecar_sync.env`); nothing was spawned.

    Attributes:
        rejected: each refused key (``repr`` for a non-str key) -> why it was refused.
    """

    def __init__(self, rejected: dict[str, str]) -> None:
        detail = "; ".join(f"{key!r}: {reason}" for key, reason in rejected.items())
        super().__init__(f"extra_env rejected ({len(rejected)} key(s)): {detail}")
        self.rejected = dict(rejected)


class PromptTooLargeError(InvalidOptionError):
    """A prompt is larger than the manager's ``max_prompt_size`` (or than a runner accepts); nothing was sent."""


class SessionExistsError(SidecarError, ValueError):
    """A session with this id is already registered."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} already exists; pick another id or remove it first")
        self.session_id = session_id


class SessionNotFoundError(SidecarError, LookupError):
    """No session with this id is registered (never started, or already removed)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} not found")
        self.session_id = session_id

    def __str__(self) -> str:  # LookupError/KeyError would repr() the message
        return str(self.args[0])


class SessionNotActiveError(SidecarError, RuntimeError):
    """The session exists but can no longer take this request (it is done or failed)."""

    def __init__(self, session_id: str, status: str, reason: str | None = None) -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"session {session_id!r} is {status}{detail}")
        self.session_id = session_id
        self.status = status
        self.reason = reason


class UnknownProviderError(SidecarError, LookupError):
    """The provider name is not in the registry."""

    def __init__(self, provider: str, known: list[str]) -> None:
        super().__init__(f"unknown provider {provider!r}; known providers: {', '.join(sorted(known))}")
        self.provider = provider
        self.known = sorted(known)

    def __str__(self) -> str:
        return str(self.args[0])


# -- the other side's failures -----------------------------------------------------


class ProviderUnavailableError(SidecarError, RuntimeError):
    """The provider is registered but what it needs (an agent CLI, a server) is missing."""


class RunnerNotFoundError(SidecarError, FileNotFoundError):
    """The runner program or its interpreter could not be found."""


class RunnerStartError(SidecarError, OSError):
    """The runner process could not be spawned."""


class RunnerGoneError(SidecarError, BrokenPipeError):
    """The runner stopped reading its stdin (it exited or closed the pipe)."""


class WaitTimeoutError(SidecarError, TimeoutError):
    """A blocking wait ran out of time before the condition held."""


class FramerError(SidecarError, ValueError):
    """The line framer was misused or given inconsistent limits."""


class FramerBusyError(FramerError):
    """Two threads fed the same framer at once; a framer belongs to one reader thread."""


class ReplayError(SidecarError, OSError):
    """A replay source could not be opened, read or decompressed; the message names it.

    ``source`` is the path or stream name (``None`` if unknown).
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source

    def __str__(self) -> str:  # OSError would format (errno, strerror) otherwise
        return str(self.args[0])


class ReplaySourceMissingError(ReplayError, FileNotFoundError):
    """A replay source path does not exist.

    Also a :class:`FileNotFoundError` with ``filename`` (and ``errno``, ``strerror``)
    set, so ``except FileNotFoundError`` catches it as it would an ``open`` failure.
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        super().__init__(message, source)
        self.errno = errno.ENOENT
        self.strerror = os.strerror(errno.ENOENT)
        self.filename = source

    def __reduce__(self) -> tuple[Any, ...]:
        # OSError pickles (errno, strerror, filename) as the arguments once
        # ``filename`` is set; rebuild from (message, source) instead.
        return (type(self), (str(self.args[0]), self.source))
