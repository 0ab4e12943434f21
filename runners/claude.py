"""The ``claude`` runner: drives the real Claude Code CLI in stream-json mode.

Started by the manager as ``python -m sidecar_sync.runners.claude --cli PATH``
(without ``--cli`` the CLI is found by :mod:`sidecar_sync.discovery`).

Follow-up strategy: one long-lived CLI per session
-----------------------------------------------------
The runner starts **one** ``claude -p --input-format stream-json --output-format
stream-json --verbose <flags>`` at the first query and keeps it for the whole
session; each query is one ``{"type":"user",...}`` line on the CLI's stdin, and
the turn ends at the CLI's ``result`` line. The alternative, a new
``claude -p --resume <session_id> PROMPT`` process per turn with stdin at
``/dev/null``, was rejected because it is the less robust of the two (the CLI's
behaviour behind each point is written down in ``docs/real-clis.md``):

* **Stop is clean.** A ``control_request`` ``interrupt`` is answered at once; the
  CLI aborts the model stream, records the interruption in the conversation and
  writes a ``result`` (``error_during_execution`` / ``aborted_streaming``), so the
  transcript on disk stays consistent. With a process per turn the only way to
  stop is a signal in the middle of a write to the session file.
* **No resume fragility.** Resume depends on the same config dir *and* the same
  cwd (sessions are filed under the cwd) and on the previous process having
  flushed its session file; a long-lived process has the conversation in memory.
* **Fast follow-ups.** A later turn is one line on a running process, not a new
  CLI start.
* **One process to supervise**, whose stderr tail explains a failure.

``--resume`` is still used where it is the right tool: for the session option
``resumeSessionId``, and to restart the CLI transparently if it dies between
turns: the next query starts a new CLI with ``--resume <the session id it
reported>`` (and if the death is only noticed when the prompt is written, the
prompt is sent once more to the new CLI, since the old one never saw it).

Protocol mapping
----------------
* Every CLI stdout line that is a JSON object is forwarded unchanged (no
  re-encoding) as ``agent_event``, except ``control_response`` lines, which answer
  the runner's own control requests. Lines that are not JSON objects are logged
  on stderr and skipped. The CLI's stderr is copied to the runner's stderr.
* A turn ends at its ``result`` line. ``is_error: false`` -> ``agent_stopped``.
  ``is_error: true`` -> ``agent_error`` whose message is the CLI's own text (e.g.
  ``API Error: 500 ...``) plus the subtype / HTTP status, because the turn did
  fail (API error after retries, max turns reached, not logged in) and the
  manager's status should say so; the ``result`` event itself still reaches the
  adapter (cost, ``is_error``) before that. Exception: a turn interrupted by
  ``stop`` ends with ``agent_stopped``.
* The CLI exiting before the ``result`` -> ``agent_error`` with its exit code and
  last stderr lines. As root, Claude Code refuses ``bypassPermissions`` (the
  default permission mode) unless ``IS_SANDBOX=1`` is in its environment; the
  message then says so (pass ``extra_env={"IS_SANDBOX": "1"}`` on a sandboxed
  machine, or pick another permission mode).
* ``stop``: the runner sends ``interrupt``, the turn ends, the runner closes the
  CLI's stdin (the CLI exits), ends anything left of its process tree, and exits.
  (An interrupt that overtakes a prompt the CLI has not started makes it drop
  the prompt silently; the runner sees the bare ``control_response`` and ends the
  turn at once.) The host gone (stdin EOF, EPIPE, a parent change): the same
  interrupt, but the turn gets only a short grace, as does the CLI after its
  stdin is closed, before the runner ends its whole process tree and exits.

Tool approval
-------------
When the caller gave ``on_permission`` (the first query carries
``permissionPrompt: true``), the CLI runs with ``--permission-prompt-tool stdio``:
before a tool that its permission mode does not already allow, it writes a
``control_request`` ``can_use_tool`` (``tool_name``, ``input``, ``tool_use_id``,
``permission_suggestions``) on stdout and waits for a ``control_response`` on stdin.
The turn thread turns that into a ``permission_request`` line (``requestId`` = the
CLI's ``request_id``, ``raw`` = the CLI's line) and goes on forwarding output (the
CLI keeps running tools that need no approval meanwhile); the manager's
``permission_response`` arrives on the control thread
(:meth:`ClaudeRunner.permission_response`), which writes the CLI's
``control_response``: ``{"behavior": "allow", "updatedInput": ...}`` (the original
input when the caller did not replace it) or ``{"behavior": "deny", "message":
...}``. ``AskUserQuestion`` arrives the same way; its answers travel in
``updatedInput``. A ``control_cancel_request`` (the CLI gave up waiting, e.g. on
interrupt) becomes ``permission_cancel``, and an answer that comes after it is
dropped. Any other control request from the CLI is answered with an error, so it
never waits for an answer that cannot come.

Session options -> CLI
----------------------
:mod:`sidecar_sync.runners._claude_cli` maps the session options and the
``providerConfig`` keys to the CLI's flags, working directory and environment.

Configuring Claude Code for the library
---------------------------------------
The manager strips ``CLAUDE*`` and ``ANTHROPIC_*`` from the runner's environment,
so configuration lives in the config dir, exactly as for an interactive user:
``<claude_config_dir>/settings.json`` with an ``env`` block (``ANTHROPIC_BASE_URL``,
``DISABLE_TELEMETRY``, ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC``, ...) and an
``apiKeyHelper`` command (or ``env.ANTHROPIC_API_KEY``). Claude Code retries
401/5xx answers up to 10 times with exponential backoff (over a minute); set
``"CLAUDE_CODE_MAX_RETRIES"`` in that ``env`` block to bound it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import sys
import threading
from collections.abc import Sequence
from typing import Any, Final

import orjson

from sidecar_sync.discovery import search_claude_cli

from ._base import PermissionResponse, SessionOptions, Turn, TurnError, run
from ._children import PIPE, ChildProcess
from ._claude_cli import ClaudePlan, claude_argv, plan_claude, result_error, user_line
from ._cli_process import CliOutput, CliRunner, ProcessTree, stderr_summary, wait_exit

__all__ = ["ClaudeRunner", "ClaudePlan", "plan_claude", "claude_argv", "main"]

log = logging.getLogger(__name__)

#: Seconds the CLI gets to exit after its stdin is closed, before it is signalled.
CLOSE_GRACE: Final = 1.0
#: Seconds to wait for a CLI that closed its stdout to exit, for its exit code.
EXIT_WAIT: Final = 2.0

_ROOT_REFUSAL: Final = re.compile(r"root/sudo|as root", re.IGNORECASE)

_RESULT: Final = "result"
_CONTROL_RESPONSE: Final = "control_response"
_CONTROL_REQUEST: Final = "control_request"
_CONTROL_CANCEL: Final = "control_cancel_request"
_CAN_USE_TOOL: Final = "can_use_tool"


class ClaudeRunner(CliRunner):
    """Runs one long-lived Claude Code CLI per session (see the module docstring)."""

    name = "claude"
    cli_label = "the Claude Code CLI"
    search_cli = staticmethod(search_claude_cli)

    def __init__(self, cli_path: str | None = None) -> None:
        super().__init__(cli_path)
        self._plan: ClaudePlan | None = None
        self._proc: ChildProcess | None = None
        self._tree: ProcessTree | None = None
        self._out: CliOutput | None = None
        self._stdin_lock = threading.Lock()  # user lines (turn thread) vs interrupts (control thread)
        self._session_id: str | None = None  # reported by the CLI; used to restart with --resume
        self._started_once = False
        self._answered_on_proc = 0  # turns the current CLI process answered
        self._backlog: list[tuple[bytes, dict[str, Any]]] = []  # lines read past a result
        self._request_ids = itertools.count(1)
        # Tool requests asked of the manager and not answered yet: request id -> the
        # tool's original input. The turn thread adds, the control thread answers.
        self._asked: dict[str, dict[str, Any]] = {}
        self._asked_lock = threading.Lock()

    # -- set-up ------------------------------------------------------------------

    def configure(self, options: SessionOptions) -> None:
        self.find_cli()
        self._plan = plan_claude(options)

    def _start_cli(self) -> ChildProcess:
        assert self._cli is not None and self._plan is not None
        # First start: the caller's resume option. A restart after the CLI died:
        # resume the conversation it reported.
        resume = (self._session_id or self._plan.resume) if self._started_once else self._plan.resume
        argv = claude_argv(self._cli, self._plan, resume)
        log.info("starting %s", " ".join(argv[:1] + [a.split("=", 1)[0] for a in argv[1:]]))
        try:
            proc = self.spawn(argv, cwd=self._plan.cwd, env=self._plan.env, stdin=PIPE, stdout=PIPE)
        except OSError as exc:
            raise TurnError(f"cannot start the Claude Code CLI {self._cli!r}: {exc}") from exc
        self._started_once = True
        self._answered_on_proc = 0
        self._proc, self._tree, self._out = proc, ProcessTree(proc), CliOutput(proc, "claude")
        self._backlog.clear()
        with self._asked_lock:
            self._asked.clear()  # a new CLI: nothing it could still wait for
        return proc

    # -- turns -------------------------------------------------------------------

    def run_turn(self, turn: Turn) -> None:
        result: dict[str, Any] | None = None
        for attempt in (1, 2):
            proc = self._proc
            if proc is None or proc.poll() is not None:
                if proc is not None:
                    log.warning("%s; restarting it with --resume", self._exit_message(proc, "between turns"))
                proc = self._start_cli()
            said_anything = False
            if self._write(proc, user_line(turn.prompt)):
                if turn.stopped:
                    # stop came while the CLI was starting: its interrupt may have gone
                    # out before the prompt, where the CLI ignores it. Interrupt now.
                    self.interrupt(turn)
                result, said_anything = self._forward_until_result(turn)
            if result is not None or turn.stopped:
                break
            # The CLI ended without answering: it refused its flags, crashed, or was
            # killed. If it had been working (it answered an earlier turn) and said
            # nothing about this one, it died while idle: restart it once with
            # --resume and send the prompt again, as nothing of this turn was lost.
            message = self._exit_message(proc)
            if attempt == 1 and not said_anything and self._answered_on_proc > 0:
                log.warning("%s; restarting it with --resume and sending the prompt again", message)
                continue
            raise TurnError(message)
        if result is None:
            return  # stopped
        self._answered_on_proc += 1
        if result.get("is_error") is True and not turn.stopped:
            raise TurnError(result_error(result))

    def _forward_until_result(self, turn: Turn) -> tuple[dict[str, Any] | None, bool]:
        """Forward CLI lines until this turn's ``result`` or the end of the CLI's output.

        Returns:
            ``(result event or None, whether the CLI printed anything for this turn)``.
        """
        out = self._out
        assert out is not None
        started = False  # has the CLI said anything about this turn yet?
        while True:
            batch, self._backlog = (self._backlog, []) if self._backlog else (out.read(), [])
            if not batch:
                return None, started
            forward: list[bytes] = []
            result: dict[str, Any] | None = None
            for index, (raw, event) in enumerate(batch):
                kind = event.get("type")
                if kind in (_CONTROL_REQUEST, _CONTROL_CANCEL):
                    started = True
                    if forward:  # in stream order: the tool call before the request about it
                        turn.emit_lines(forward)
                        forward = []
                    if kind == _CONTROL_REQUEST:
                        self._on_control_request(turn, event)
                    else:
                        self._on_control_cancel(turn, event)
                    continue
                if kind == _CONTROL_RESPONSE:
                    log.debug("control response: %s", raw[:200])
                    if turn.stopped and not started:
                        # The interrupt overtook the prompt: the CLI dropped it and
                        # will print nothing for this turn.
                        self._backlog = batch[index + 1 :]
                        return None, False
                    continue
                started = True
                session_id = event.get("session_id")
                if isinstance(session_id, str) and session_id:
                    self._session_id = session_id
                forward.append(raw)
                if kind == _RESULT:
                    result = event
                    self._backlog = batch[index + 1 :]
                    break
            if forward:
                turn.emit_lines(forward)
            if result is not None:
                return result, True

    # -- tool approval -------------------------------------------------------------

    def _on_control_request(self, turn: Turn, event: dict[str, Any]) -> None:
        """A control request from the CLI (turn thread): ask the manager about a tool, or refuse."""
        request_id = event.get("request_id")
        request = event.get("request")
        if not isinstance(request_id, str) or not request_id or not isinstance(request, dict):
            log.warning("malformed control request from the CLI: %.200r", event)
            return
        subtype = request.get("subtype")
        tool_name = request.get("tool_name")
        tool_input = request.get("input")
        if subtype != _CAN_USE_TOOL:
            log.warning("the CLI sent an unsupported control request %.40r; refusing it", subtype)
            self._control_reply(request_id, {"subtype": "error", "request_id": request_id,
                                             "error": f"unsupported control request: {subtype!r}"})  # fmt: skip
            return
        if not isinstance(tool_name, str) or not tool_name or not isinstance(tool_input, dict):
            self._answer_tool(request_id, {"behavior": "deny", "message": "Malformed permission request; denied."})
            return
        if not turn.options.permission_prompt:
            # Not asked for (no --permission-prompt-tool); nobody would answer.
            self._answer_tool(request_id, {"behavior": "deny", "message": "No permission handler; denied."})
            return
        with self._asked_lock:
            self._asked[request_id] = tool_input
        tool_use_id = request.get("tool_use_id")
        suggestions = request.get("permission_suggestions")
        asked = turn.ask_permission(
            request_id,
            tool_name,
            tool_input,
            tool_use_id=tool_use_id if isinstance(tool_use_id, str) else None,
            suggestions=suggestions if isinstance(suggestions, list) else None,
            raw=event,
        )
        if not asked:  # the turn already ended: no answer will come
            with self._asked_lock:
                self._asked.pop(request_id, None)
            self._answer_tool(request_id, {"behavior": "deny", "message": "The turn has ended; denied."})

    def _on_control_cancel(self, turn: Turn, event: dict[str, Any]) -> None:
        """The CLI no longer waits for an answer (turn thread): tell the manager."""
        request_id = event.get("request_id")
        if not isinstance(request_id, str):
            return
        with self._asked_lock:
            asked = self._asked.pop(request_id, None) is not None
        if asked:
            turn.withdraw_permission(request_id)

    def permission_response(self, response: PermissionResponse) -> None:
        """The manager's answer (control thread): the CLI's ``control_response``."""
        with self._asked_lock:
            original = self._asked.pop(response.request_id, None)
        if original is None:
            log.info("permission answer for %r, which the CLI no longer waits for; dropped", response.request_id)
            return
        if response.allow:
            updated = response.updated_input if response.updated_input is not None else original
            self._answer_tool(response.request_id, {"behavior": "allow", "updatedInput": updated})
        else:
            self._answer_tool(response.request_id, {"behavior": "deny", "message": response.message or "denied"})

    def _answer_tool(self, request_id: str, decision: dict[str, Any]) -> None:
        self._control_reply(request_id, {"subtype": "success", "request_id": request_id, "response": decision})

    def _control_reply(self, request_id: str, response: dict[str, Any]) -> None:
        proc = self._proc
        line = orjson.dumps({"type": _CONTROL_RESPONSE, "response": response}) + b"\n"
        if proc is None or not self._write(proc, line):
            log.info("control response %r not delivered: the CLI's stdin is closed", request_id)

    def _write(self, proc: ChildProcess, data: bytes) -> bool:
        """Write to the CLI's stdin; False if it is closed (the CLI exited)."""
        stdin = proc.stdin
        if stdin is None:
            return False
        with self._stdin_lock:
            try:
                stdin.write(data)
                stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return False
        return True

    def _exit_message(self, proc: ChildProcess, when: str = "before the turn ended") -> str:
        """Reap a CLI that ended (or closed its output) and say why, from its stderr."""
        code = wait_exit(proc, EXIT_WAIT)
        if self._tree is not None and self._tree.child is proc:
            self._tree.retire(0.0)  # reap it and anything it left behind
        self._proc = None  # the next turn starts a new CLI (resuming the conversation)
        stderr = stderr_summary(proc)
        status = "is still running but closed its output" if code is None else f"exited with code {code}"
        message = f"Claude Code CLI {status} {when}"
        if stderr:
            message += f": {stderr}"
        if _ROOT_REFUSAL.search(stderr):
            message += (
                ". Claude Code refuses permission_mode 'bypassPermissions' (the default) as root: "
                "on a sandboxed machine pass extra_env={'IS_SANDBOX': '1'}, or choose another permission_mode"
            )
        return message

    # -- stop and exit -------------------------------------------------------------

    def interrupt(self, turn: Turn) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        request = {
            "type": "control_request",
            "request_id": f"sidecar-interrupt-{next(self._request_ids)}",
            "request": {"subtype": "interrupt"},
        }
        if not self._write(proc, orjson.dumps(request) + b"\n"):
            log.info("interrupt: the CLI's stdin is closed")

    def close(self) -> None:
        proc, tree = self._proc, self._tree
        if proc is not None and tree is not None:

            def close_stdin() -> None:
                with self._stdin_lock:
                    if proc.stdin is not None:
                        with contextlib.suppress(OSError):
                            proc.stdin.close()

            # EOF lets the CLI finish cleanly; anything left after the grace is killed.
            tree.retire(self.exit_grace(CLOSE_GRACE), polite=close_stdin)
        super().close()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``python -m sidecar_sync.runners.claude [--cli PATH]``."""
    run(ClaudeRunner, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
