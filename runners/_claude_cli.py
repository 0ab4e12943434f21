"""The Claude Code CLI's command line for one session, and the lines the runner writes to it.

:func:`plan_claude` maps a session's options to the CLI's flags, working directory
and environment (:class:`ClaudePlan`); :func:`claude_argv` is the whole command
line; :func:`user_line` is one prompt on the CLI's stdin; :func:`result_error` is
the text of a failed turn's ``result``.

Session options -> CLI
----------------------
``model`` ``--model``; ``systemPrompt`` ``--system-prompt`` (replaces Claude Code's
default prompt); ``maxTurns`` ``--max-turns``; ``permissionMode``
``--permission-mode`` (the CLI checks the value); ``permissionPrompt``
``--permission-prompt-tool stdio`` (tool approval: :mod:`sidecar_sync.runners.claude`); ``additionalDirectories``
``--add-dir`` each (must exist); ``worktreeName`` ``--worktree`` (needs a git
repository as cwd); ``resumeSessionId`` ``--resume``; ``cwd`` the CLI's working
directory (must exist); ``claudeConfigDir`` ``CLAUDE_CONFIG_DIR`` of the CLI (the
manager also puts it in the runner's environment). Values go as ``--flag=value``,
so a value starting with ``-`` can never be read as another flag; the prompt goes
on stdin, never on the command line. ``extraEnv`` is not re-applied here: the
manager already put the validated variables in the runner's environment, which
the CLI inherits.

``providerConfig`` keys (all optional): ``settings`` (a settings file path or JSON
string, ``--settings``), ``allowedTools`` / ``disallowedTools`` (lists of tool rules),
``appendSystemPrompt`` (text added to the default system prompt),
``includePartialMessages`` (bool: also forward ``stream_event`` deltas),
``effort`` (``low|medium|high|xhigh|max``), ``maxBudgetUsd`` (number).
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Final

import orjson

from ._base import InvalidOptionError, ProviderConfig, SessionOptions
from ._options import existing_directory

__all__ = ["STREAM_FLAGS", "ClaudePlan", "claude_argv", "plan_claude", "result_error", "user_line"]

#: The flags that put the CLI in long-lived stream-json mode.
STREAM_FLAGS: Final = ("-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose")

_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
_WORKTREE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_MODE_RE: Final = re.compile(r"[A-Za-z]{1,40}\Z")
_EFFORTS: Final = ("low", "medium", "high", "xhigh", "max")


class ClaudePlan:
    """How to start the CLI for one session: flags, working directory, environment.

    Attributes:
        flags: the session's flags, after :data:`STREAM_FLAGS` (no ``--resume``).
        resume: the session id to resume at the first start, or None.
        cwd: the CLI's working directory (None: the runner's).
        env: the CLI's complete environment.
    """

    __slots__ = ("flags", "resume", "cwd", "env")

    def __init__(self, flags: list[str], resume: str | None, cwd: str | None, env: dict[str, str]) -> None:
        self.flags = flags
        self.resume = resume
        self.cwd = cwd
        self.env = env


def _tool_list(config: ProviderConfig, key: str) -> str | None:
    value = config.get_any(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v and "\x00" not in v for v in value):
        raise config.invalid(key, "a list of non-empty strings", value)
    return ",".join(value)


def plan_claude(options: SessionOptions, base_env: dict[str, str] | None = None) -> ClaudePlan:
    """Map the session options to the CLI's flags, cwd and environment.

    Args:
        options: the validated options of the session's first query.
        base_env: the environment to start from (default: the runner's).

    Raises:
        InvalidOptionError: an option the CLI cannot take (missing directory, bad id...).
    """
    flags: list[str] = []
    if options.model:
        flags.append(f"--model={options.model}")
    if options.system_prompt is not None:
        flags.append(f"--system-prompt={options.system_prompt}")
    if options.max_turns is not None:
        flags.append(f"--max-turns={options.max_turns}")
    if options.permission_mode:
        if not _MODE_RE.match(options.permission_mode):
            raise InvalidOptionError(f"invalid option permission_mode: {options.permission_mode!r}")
        flags.append(f"--permission-mode={options.permission_mode}")
    if options.permission_prompt:
        flags.append("--permission-prompt-tool=stdio")
    for directory in options.additional_directories:
        flags.append(f"--add-dir={existing_directory('additional_directories', directory)}")
    if options.worktree_name:
        if not _WORKTREE_RE.match(options.worktree_name):
            raise InvalidOptionError(
                "invalid option worktree_name: expected letters, digits, '.', '_' or '-', "
                f"got {options.worktree_name!r}"
            )
        flags.append(f"--worktree={options.worktree_name}")
    resume = options.resume_session_id
    if resume is not None and not _ID_RE.match(resume):
        raise InvalidOptionError(f"invalid option resume_session_id: {resume!r} is not a session id")

    config = ProviderConfig(options.provider_config, "claude")
    settings = config.get_str("settings")
    if settings:
        flags.append(f"--settings={settings}")
    for key, flag in (("allowedTools", "--allowed-tools"), ("disallowedTools", "--disallowed-tools")):
        tools = _tool_list(config, key)
        if tools:
            flags.append(f"{flag}={tools}")
    append = config.get_str("appendSystemPrompt")
    if append:
        flags.append(f"--append-system-prompt={append}")
    if config.get_bool("includePartialMessages", False):
        flags.append("--include-partial-messages")
    effort = config.get_str("effort", choices=_EFFORTS)
    if effort:
        flags.append(f"--effort={effort}")
    budget = config.get_float("maxBudgetUsd", minimum=0.0)
    if budget is not None:
        if budget <= 0 or math.isinf(budget):
            raise config.invalid("maxBudgetUsd", "a positive number", budget)
        flags.append(f"--max-budget-usd={budget:g}")
    config.warn_unused()

    cwd = existing_directory("cwd", options.cwd) if options.cwd else None
    env = dict(os.environ) if base_env is None else dict(base_env)
    if options.claude_config_dir:
        env["CLAUDE_CONFIG_DIR"] = existing_directory("claude_config_dir", options.claude_config_dir)
    return ClaudePlan(flags, resume, cwd, env)


def claude_argv(cli: str, plan: ClaudePlan, resume: str | None = None) -> list[str]:
    """The full argv: the CLI, the stream-json flags, the session flags, ``--resume``."""
    argv = [cli, *STREAM_FLAGS, *plan.flags]
    if resume:
        argv.append(f"--resume={resume}")
    return argv


def user_line(prompt: str) -> bytes:
    """One stream-json input line carrying a user prompt."""
    message = {"type": "user", "message": {"role": "user", "content": prompt}, "parent_tool_use_id": None}
    return orjson.dumps(message) + b"\n"


def result_error(event: dict[str, Any]) -> str:
    """The agent_error message for a ``result`` with ``is_error`` true."""
    details = []
    subtype = event.get("subtype")
    if isinstance(subtype, str) and subtype != "success":
        details.append(subtype)
    for key, label in (("terminal_reason", ""), ("api_error_status", "HTTP ")):
        value = event.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value not in ("completed", ""):
            details.append(f"{label}{value}")
    text = event.get("result")
    errors = event.get("errors")
    if not (isinstance(text, str) and text.strip()) and isinstance(errors, list) and errors:
        text = "; ".join(str(e) for e in errors[:5])
    message = "Claude Code turn failed"
    if details:
        message += f" ({', '.join(details)})"
    if isinstance(text, str) and text.strip():
        message += f": {text.strip()}"
    if event.get("api_error_status") == 401 or (isinstance(text, str) and "Not logged in" in text):
        message += (
            " — check the API key: set apiKeyHelper (or env.ANTHROPIC_API_KEY) in settings.json "
            "of the claude_config_dir"
        )
    return message
