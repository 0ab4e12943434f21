"""The ``codex`` runner: drives the real Codex CLI, one ``codex exec --json`` per turn.

Started by the manager as ``python -m sidecar_sync.runners.codex --cli PATH``
(without ``--cli`` the CLI is found by :mod:`sidecar_sync.discovery`).

Turns
-----
``codex exec`` has no NDJSON input mode, so each query runs one process::

    first turn:   codex exec --json --skip-git-repo-check <flags> -           (prompt on stdin)
    follow-ups:   codex exec --json --skip-git-repo-check <flags> resume <thread_id> -

The prompt is written to the process's stdin, which is then closed (the ``-``
prompt argument; Codex reads stdin to EOF, and on a pipe left open it would wait
forever). So a prompt is never on the command line: no 128 KiB argv limit, no
prompt in ``ps``, and a prompt starting with ``-`` cannot be read as a flag. The
thread id comes from the ``thread.started`` event of the first turn (or from the
``resumeSessionId`` option); the conversation lives in ``CODEX_HOME``.

Every stdout line that is a JSON object is forwarded unchanged **always wrapped**
in ``agent_event``: Codex has a top-level ``error`` event type that would
otherwise collide with the protocol's ``error``. The turn ends when the process
exits: exit 0 after ``turn.completed`` -> ``agent_stopped``; ``turn.failed``, a
non-zero exit or no ``turn.completed`` -> ``agent_error`` with Codex's own error
message, or its last stderr lines (without the noise it prints on every run,
"could not create PATH aliases" and "Reading additional input from stdin", and
without backtrace frames).

Version
-------
When the session is configured the runner starts ``<cli> --version`` in the
background (once per runner process, bounded by 5 s; see
:mod:`runners._cli_version`). Its ``codex-cli 0.169.0`` becomes ``Codex 0.169.0``
(another answer: its trimmed first line), added as ``"agent_version"`` to each
forwarded ``thread.started`` event (the raw line gets the key appended, nothing
else of it changes), which the codex adapter reads into
``SessionState.agent_version``. ``thread.started`` waits for the answer only while
``--version`` is still within its bound; a CLI whose ``--version`` fails or hangs
gives no ``agent_version`` key (logged at debug level).

``stop`` sends SIGTERM to the running ``codex`` (the npm shim forwards it to the
native binary, which ends the commands it started); whatever of its process tree
is still alive after a grace is SIGKILLed, then the runner exits. Codex runs each
shell command in a process group of its own, so the tree is tracked explicitly
(see :mod:`runners._cli_process`).

Session options -> CLI
----------------------
``model`` ``--model``; ``systemPrompt`` ``-c developer_instructions=...``; ``cwd`` the
process's working directory (must exist; keep it fixed, Codex files sessions by
cwd); ``additionalDirectories`` ``--add-dir`` each (must exist); ``resumeSessionId``
the thread to resume at the first turn. ``maxTurns``, ``worktreeName`` and
``claudeConfigDir`` have no Codex equivalent and are ignored (with a warning for
the first two).

Sandbox and approval, from ``permissionMode``::

    bypassPermissions (the default)   sandbox_mode="danger-full-access"
    acceptEdits                       sandbox_mode="workspace-write"
    default, plan, anything else      sandbox_mode="read-only"
    approval_policy                   "never" in every mode: ``exec`` is headless,
                                      nobody could answer an approval request

``providerConfig.sandbox`` (``read-only|workspace-write|danger-full-access``) and
``providerConfig.approvalPolicy`` (``untrusted|on-failure|on-request|never``)
override the mapping.

``providerConfig`` keys (all optional):

``codexHome`` (string)
    An existing directory used as ``CODEX_HOME`` (config.toml, sessions). The
    manager strips ``CODEX*`` from the runner's environment, so this is how a
    session picks its Codex configuration; without it Codex uses ``~/.codex``.
``config`` (object)
    Config overrides ``{"dotted.key": value}``; each becomes ``-c key=<TOML value>``
    (strings, numbers, booleans, lists and objects are encoded as TOML).
``configOverrides`` (list of strings)
    Raw ``"key=value"`` overrides, passed as ``-c key=value`` (Codex parses the
    value as TOML, or takes it as a string).
``sandbox``, ``approvalPolicy``: see above.

Configuring Codex for the library
---------------------------------
Point Codex at a model with a ``[model_providers.<name>]`` entry (``base_url``,
``wire_api = "responses"``, ``env_key`` if it needs a key) and ``model_provider =
"<name>"``, in ``<codexHome>/config.toml`` or as ``config`` overrides. Bound its
retries with the provider's ``request_max_retries`` / ``stream_max_retries``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from sidecar_sync.discovery import search_codex_cli

from ._base import InvalidOptionError, ProviderConfig, SessionOptions, Turn, TurnError, run
from ._children import PIPE, ChildProcess
from ._cli_process import CliOutput, CliRunner, ProcessTree, stderr_summary, wait_exit
from ._cli_version import CliVersion, first_line
from ._options import existing_directory

__all__ = [
    "CodexRunner",
    "CodexPlan",
    "plan_codex",
    "codex_argv",
    "toml_value",
    "codex_version",
    "with_agent_version",
    "SANDBOX_BY_PERMISSION",
    "main",
]

log = logging.getLogger(__name__)

#: The sandbox each permission mode maps to (any other mode: read-only).
SANDBOX_BY_PERMISSION: Final[Mapping[str, str]] = {
    "bypassPermissions": "danger-full-access",
    "acceptEdits": "workspace-write",
    "default": "read-only",
    "plan": "read-only",
}
SANDBOX_MODES: Final = ("read-only", "workspace-write", "danger-full-access")
APPROVAL_POLICIES: Final = ("untrusted", "on-failure", "on-request", "never")
#: Seconds between SIGTERM and SIGKILL when a turn is stopped or the runner exits.
STOP_GRACE: Final = 1.5
#: Seconds to wait for the exit code once Codex closed its stdout.
EXIT_WAIT: Final = 5.0

#: stderr lines Codex prints on every run; not worth an error message.
STDERR_NOISE: Final = (
    re.compile(r"could not create PATH aliases"),
    re.compile(r"^Reading (additional input|prompt) from stdin"),
    # an error's Rust backtrace: its frames say nothing without symbols
    re.compile(r"^(Stack backtrace:|\s*\d+: |\s+at )"),
)
_KEY_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*\Z")
_THREAD_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
_VERSION_RE: Final = re.compile(r"(?:codex(?:-cli)?\s+)?v?(\d+\.\d+\S*)\Z", re.IGNORECASE)


def toml_value(value: Any, where: str = "value") -> str:
    """Encode a JSON value as a TOML value (for ``-c key=value``).

    Strings use JSON escapes, which are all valid TOML basic-string escapes.

    Raises:
        InvalidOptionError: a value TOML cannot hold (null, NaN, a non-string key).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidOptionError(f"invalid option {where}: TOML has no {value!r}")
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidOptionError(f"invalid option {where}: NUL in a string")
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v, where) for v in value) + "]"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str) or not _KEY_RE.match(key):
                raise InvalidOptionError(f"invalid option {where}: bad TOML key {key!r}")
            parts.append(f"{key} = {toml_value(item, where)}")
        return "{" + ", ".join(parts) + "}"
    raise InvalidOptionError(f"invalid option {where}: cannot encode {type(value).__name__} as TOML")


class CodexPlan:
    """How to run Codex for one session.

    Attributes:
        flags: the flags after ``exec --json --skip-git-repo-check`` (before ``resume``).
        thread_id: the thread to resume at the first turn, or None.
        cwd: the working directory (None: the runner's).
        env: the complete environment of each ``codex exec``.
    """

    __slots__ = ("flags", "thread_id", "cwd", "env")

    def __init__(self, flags: list[str], thread_id: str | None, cwd: str | None, env: dict[str, str]) -> None:
        self.flags = flags
        self.thread_id = thread_id
        self.cwd = cwd
        self.env = env


def plan_codex(options: SessionOptions, base_env: Mapping[str, str] | None = None) -> CodexPlan:
    """Map the session options to Codex flags, cwd and environment.

    Args:
        options: the validated options of the session's first query.
        base_env: the environment to start from (default: the runner's).

    Raises:
        InvalidOptionError: an option Codex cannot take.
    """
    config = ProviderConfig(options.provider_config, "codex")
    flags = []
    if options.model:
        flags.append(f"--model={options.model}")

    sandbox = config.get_str("sandbox", choices=SANDBOX_MODES) or SANDBOX_BY_PERMISSION.get(
        options.permission_mode or "bypassPermissions", "read-only"
    )
    approval = config.get_str("approvalPolicy", choices=APPROVAL_POLICIES) or "never"
    # As config overrides: `exec resume` has no --sandbox flag, -c works for both.
    flags.append(f"--config=sandbox_mode={toml_value(sandbox)}")
    flags.append(f"--config=approval_policy={toml_value(approval)}")
    if options.system_prompt is not None:
        flags.append(f"--config=developer_instructions={toml_value(options.system_prompt, 'system_prompt')}")
    for directory in options.additional_directories:
        flags.append(f"--add-dir={existing_directory('additional_directories', directory)}")

    overrides = config.get_any("config", {})
    if not isinstance(overrides, dict):
        raise config.invalid("config", "an object of dotted keys to values", overrides)
    for key, value in overrides.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise config.invalid("config", "dotted keys of letters, digits, '_' and '-'", key)
        flags.append(f"--config={key}={toml_value(value, f'providerConfig.config[{key!r}]')}")
    raw = config.get_any("configOverrides", [])
    if not isinstance(raw, list):
        raise config.invalid("configOverrides", 'a list of "key=value" strings', raw)
    for item in raw:
        if not isinstance(item, str) or "\x00" in item or "=" not in item or not _KEY_RE.match(item.split("=", 1)[0]):
            raise config.invalid("configOverrides", 'a list of "key=value" strings', item)
        flags.append(f"--config={item}")

    env = dict(os.environ) if base_env is None else dict(base_env)
    home = config.get_str("codexHome")
    if home:
        env["CODEX_HOME"] = existing_directory("providerConfig.codexHome", home)
    config.warn_unused()

    thread_id = options.resume_session_id
    if thread_id is not None and not _THREAD_RE.match(thread_id):
        raise InvalidOptionError(f"invalid option resume_session_id: {thread_id!r} is not a Codex thread id")
    for name, value in (("max_turns", options.max_turns), ("worktree_name", options.worktree_name)):
        if value is not None:
            log.warning("codex runner: option %s has no Codex equivalent; ignored", name)
    cwd = existing_directory("cwd", options.cwd) if options.cwd else None
    return CodexPlan(flags, thread_id, cwd, env)


def codex_argv(cli: str, plan: CodexPlan, thread_id: str | None = None) -> list[str]:
    """The argv of one turn: a new thread, or ``resume <thread_id>``; the prompt comes on stdin (``-``)."""
    argv = [cli, "exec", "--json", "--skip-git-repo-check", *plan.flags]
    if thread_id:
        argv += ["resume", thread_id]
    return [*argv, "-"]


def codex_version(output: bytes) -> str | None:
    """What ``codex --version`` printed, as an agent version: ``codex-cli 0.169.0`` -> ``Codex 0.169.0``.

    Output that does not look like that is reported as its trimmed first line; blank output is None.
    """
    line = first_line(output)
    if line is None:
        return None
    match = _VERSION_RE.match(line)
    return f"Codex {match.group(1)}" if match else line


def with_agent_version(raw: bytes, version: str) -> bytes:
    """A JSON object line with ``"agent_version": version`` appended; nothing else of it changes."""
    body = raw.rstrip()
    if not body.endswith(b"}"):
        return raw
    head = body[:-1]
    separator = b"" if head.strip() == b"{" else b","
    return head + separator + b'"agent_version":' + orjson.dumps(version) + b"}"


def _send_prompt(proc: ChildProcess, prompt: str) -> None:
    """Write the prompt to Codex's stdin and close it (EOF ends the prompt)."""
    stdin = proc.stdin
    if stdin is None:
        return
    try:
        stdin.write(prompt.encode("utf-8", "replace"))
    except (BrokenPipeError, OSError) as exc:
        log.info("codex did not read its prompt (%s); its exit status will tell why", exc)
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


class _TurnState:
    """What one ``codex exec`` said about its turn."""

    __slots__ = ("completed", "failure", "last_error")

    def __init__(self) -> None:
        self.completed = False
        self.failure: str | None = None
        self.last_error: str | None = None


def _message_of(event: dict[str, Any]) -> str | None:
    error = event.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str):
        return message
    message = event.get("message")
    return message if isinstance(message, str) else None


class CodexRunner(CliRunner):
    """Runs ``codex exec`` once per turn, resuming the session's thread (see the module docstring)."""

    name = "codex"
    cli_label = "the Codex CLI"
    search_cli = staticmethod(search_codex_cli)

    def __init__(self, cli_path: str | None = None) -> None:
        super().__init__(cli_path)
        self._plan: CodexPlan | None = None
        self._thread_id: str | None = None
        self._lock = threading.Lock()  # guards _tree between the turn and control threads
        self._tree: ProcessTree | None = None
        self._version: CliVersion | None = None

    def configure(self, options: SessionOptions) -> None:
        cli = self.find_cli()
        self._plan = plan_codex(options)
        self._thread_id = self._plan.thread_id
        if self._version is None:  # once per runner process, in the background
            self._version = CliVersion(self, [cli, "--version"], codex_version, cwd=self._plan.cwd, env=self._plan.env)

    def run_turn(self, turn: Turn) -> None:
        assert self._cli is not None and self._plan is not None
        if turn.stopped:
            return
        argv = codex_argv(self._cli, self._plan, self._thread_id)
        try:
            proc = self.spawn(argv, cwd=self._plan.cwd, env=self._plan.env, stdin=PIPE, stdout=PIPE)
        except OSError as exc:
            raise TurnError(f"cannot start the Codex CLI {self._cli!r}: {exc}") from exc
        tree = ProcessTree(proc)
        with self._lock:
            self._tree = tree
        if turn.stopped:  # stop came while it was being spawned: interrupt() missed it
            tree.signal(signal.SIGTERM)
        _send_prompt(proc, turn.prompt)
        try:
            state = self._forward(turn, CliOutput(proc, "codex"), tree)
            code = wait_exit(proc, EXIT_WAIT)
        finally:
            tree.retire(self.exit_grace(STOP_GRACE))  # reaps it; ends anything it left behind
            with self._lock:
                self._tree = None
        if turn.stopped:
            return
        if state.failure is not None or code != 0 or not state.completed:
            raise TurnError(self._failure_message(proc, state, code))

    def _forward(self, turn: Turn, out: CliOutput, tree: ProcessTree) -> _TurnState:
        state = _TurnState()
        while True:
            batch = out.read()
            if not batch:
                return state
            tree.refresh()  # remember its helpers while they are still its descendants
            lines = [raw for raw, _event in batch]
            for index, (raw, event) in enumerate(batch):
                kind = event.get("type")
                if kind == "thread.started":
                    thread_id = event.get("thread_id")
                    if isinstance(thread_id, str) and thread_id:
                        self._thread_id = thread_id
                    lines[index] = self._versioned(turn, raw, event)
                elif kind == "turn.completed":
                    state.completed = True
                elif kind == "turn.failed":
                    state.failure = _message_of(event) or "turn.failed"
                elif kind == "error":
                    state.last_error = _message_of(event)
            # always wrapped: Codex's own "error" events must not read as protocol errors
            turn.emit_lines(lines)

    def _versioned(self, turn: Turn, raw: bytes, event: dict[str, Any]) -> bytes:
        """``thread.started`` with the CLI's version added, when it is known (and the event has none)."""
        if self._version is None or "agent_version" in event:
            return raw
        version = self._version.result(lambda: turn.stopped)
        return raw if version is None else with_agent_version(raw, version)

    def _failure_message(self, proc: ChildProcess, state: _TurnState, code: int | None) -> str:
        reason = state.failure or state.last_error
        exit_text = "still running" if code is None else f"exit code {code}"
        if reason:
            return f"Codex turn failed ({exit_text}): {reason}"
        stderr = stderr_summary(proc, STDERR_NOISE)
        message = f"Codex CLI ended without completing the turn ({exit_text})"
        return f"{message}: {stderr}" if stderr else message

    def interrupt(self, turn: Turn) -> None:
        with self._lock:
            tree = self._tree
        if tree is not None:
            tree.signal(signal.SIGTERM)  # the turn thread sees EOF and retires the tree

    def close(self) -> None:
        with self._lock:
            tree = self._tree
        if tree is not None:
            tree.retire(self.exit_grace(STOP_GRACE))
        super().close()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``python -m sidecar_sync.runners.codex [--cli PATH]``."""
    run(CodexRunner, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
