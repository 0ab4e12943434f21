"""What ``start_session`` checks and derives before a runner is spawned.

:func:`prepare_start` turns the caller's arguments into a :class:`StartRequest`:
checked options and limits, the provider's argv and a fresh stream adapter, the
first query line and the runner's environment. It spawns and registers nothing, so
a bad argument leaves nothing to undo. :func:`check_prompt` is the prompt rule that
``write_prompt`` shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import protocol
from .adapters import adapter_names, new_stream_adapter
from .env import build_runner_env, check_directory, validate_extra_env
from .errors import InvalidOptionError, PromptTooLargeError, UnknownProviderError
from .limits import Limits
from .messages import StreamAdapter
from .options import SessionOptions
from .permissions import PermissionCallback
from .providers import AdapterSpec, LaunchSettings, Provider
from .validation import check_callable, check_seconds, check_text

__all__ = ["MAX_COMMAND_LINE", "StartRequest", "check_prompt", "prepare_start", "stream_adapter"]

#: The longest line a built-in runner accepts on its stdin (a query carries the prompt).
MAX_COMMAND_LINE = 64 * 2**20


@dataclass(frozen=True)
class StartRequest:
    """A checked ``start_session`` call, ready to launch."""

    options: SessionOptions
    limits: Limits
    argv: list[str]
    adapter: StreamAdapter
    first_line: bytes
    env: dict[str, str]
    permission_timeout: float | None


def prepare_start(
    session_id: str,
    provider: str,
    prompt: str,
    *,
    providers: Mapping[str, Provider],
    settings: LaunchSettings,
    max_prompt: int,
    limits: tuple[float | None, float | None, float | None, int | None],
    on_permission: PermissionCallback | None,
    permission_timeout: float | None,
    options: dict[str, Any],
) -> StartRequest:
    """Check every argument of a new session and derive how to launch it.

    ``options`` holds the session options by their Python names; ``cwd`` and
    ``claude_config_dir`` must be existing directories, ``extra_env`` passes the env
    rules, and ``on_permission`` turns the permission prompt on (``permission_mode``
    then defaults to ``default``, since ``bypassPermissions`` would never ask).

    Raises:
        UnknownProviderError, ProviderUnavailableError, ExtraEnvRejectedError,
        PromptTooLargeError, InvalidOptionError: as ``start_session`` documents.
    """
    check_text("session_id", session_id, empty_ok=False)
    check_text("provider", provider)
    check_prompt(prompt, max_prompt)
    check_callable("on_permission", on_permission)
    if permission_timeout is not None:
        permission_timeout = check_seconds(permission_timeout, "permission_timeout", positive=True)
        if on_permission is None:
            raise InvalidOptionError("permission_timeout needs on_permission (nothing would ask)")
    checked_limits = Limits(*limits)
    values = dict(options)
    if on_permission is not None:
        values["permission_prompt"] = True
        if values.get("permission_mode") is None:
            values["permission_mode"] = "default"
    for name in ("cwd", "claude_config_dir"):
        if values.get(name) is not None:
            values[name] = check_directory(name, values[name])
    values["extra_env"] = validate_extra_env(values.get("extra_env"))
    session_options = SessionOptions.create(**values)
    entry = providers.get(provider)
    if entry is None:
        raise UnknownProviderError(provider, list(providers))
    if on_permission is not None:
        entry.check_approvals()
    config = dict(session_options.provider_config) or None
    entry.check_config(config)
    launch = entry.launch(settings, config)
    adapter = stream_adapter(launch.adapter)
    first_line = protocol.encode(protocol.query_command(session_id, prompt, session_options))
    if len(first_line) > MAX_COMMAND_LINE:
        raise PromptTooLargeError(
            f"the first query is {len(first_line)} bytes; runners take at most {MAX_COMMAND_LINE}"
        )
    return StartRequest(
        options=session_options,
        limits=checked_limits,
        argv=launch.argv,
        adapter=adapter,
        first_line=first_line,
        env=build_runner_env(session_options.extra_env, values.get("claude_config_dir")),
        permission_timeout=permission_timeout,
    )


def check_prompt(prompt: Any, max_prompt: int) -> None:
    """A prompt is text of at most ``max_prompt`` UTF-8 bytes.

    Raises:
        InvalidOptionError: not text (or a lone surrogate in it).
        PromptTooLargeError: over the size.
    """
    check_text("prompt", prompt, nul_ok=True)
    size = len(prompt.encode("utf-8"))
    if size > max_prompt:
        raise PromptTooLargeError(
            f"the prompt is {size} bytes (UTF-8); this manager takes at most max_prompt_size={max_prompt}"
        )


def stream_adapter(spec: AdapterSpec) -> StreamAdapter:
    """A fresh stream adapter; an unknown adapter name is the caller's mistake."""
    try:
        return new_stream_adapter(spec)
    except UnknownProviderError as exc:
        raise InvalidOptionError(
            f"unknown adapter {spec!r}; registered adapters: {', '.join(adapter_names())}"
        ) from exc
