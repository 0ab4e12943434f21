"""``sidecar-sync run``: one session rendered live, and the signals that stop it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import uuid
from typing import Any, Final

import orjson

from ..errors import SidecarError
from ._exit import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    error,
    silence_stdout,
)
from ._render import JsonWriter, Renderer, format_cost_line

__all__ = ["add_parser", "run_command"]


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand to ``sub`` (the parser's subparsers)."""
    run = sub.add_parser(
        "run",
        parents=parents,
        help="run one agent session and show it live",
        description="Run one session and render it live: text, thinking, tool calls and results, "
        "status changes, and a final line with cost, tokens and duration. Ctrl-C stops the session "
        "cleanly (exit 130).",
    )
    run.add_argument(
        "prompt", nargs="?", metavar="PROMPT", help="the prompt (with --interactive, read from stdin if omitted)"
    )
    run.add_argument(
        "--provider", "-p", default="echo", help="provider: echo (default, built in), claude, codex, ollama, ..."
    )
    run.add_argument("--model", "-m", help="model name passed to the provider")
    run.add_argument("--cwd", help="working directory of the agent")
    run.add_argument("--system-prompt", help="system prompt for the session")
    run.add_argument("--permission-mode", help="Claude permission mode (default bypassPermissions)")
    run.add_argument("--max-turns", type=int, help="maximum agent turns")
    run.add_argument(
        "--config",
        "-c",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="provider setting sent as providerConfig (repeatable; VALUE is JSON if it parses, "
        "else a string), e.g. -c host=http://127.0.0.1:11434 -c num_ctx=8192",
    )
    run.add_argument("--json", action="store_true", help="print one AgentMessage JSON object per line instead of text")
    run.add_argument(
        "--interactive",
        "-i",
        action="store_true",
        help="after each turn, read a follow-up prompt from stdin (empty line or EOF ends)",
    )
    run.add_argument("--show-unknown", action="store_true", help="also show events no adapter mapping fits")



def _parse_config(items: list[str]) -> dict[str, Any] | None:
    config: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config takes KEY=VALUE, got {item!r}")
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        config[key.strip()] = value
    return config or None


class _Interrupts:
    """SIGINT handling for ``run``: the first Ctrl-C asks for a clean stop, the second forces it.

    While the main thread waits for the session it polls :attr:`requested` and
    :attr:`count`. Only while it blocks reading a prompt from stdin does the handler
    raise KeyboardInterrupt (so the read ends): raised anywhere else it could land
    inside the manager (halfway through ``stop_session`` or ``shutdown``) and leave
    a runner behind.
    """

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.count = 0
        self.reading_input = False
        self.broken_pipe = False  # set by the output callbacks when stdout's reader left
        self.finishing = False  # the stop is handled: later presses only count
        self._previous: Any = None

    def __enter__(self) -> _Interrupts:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        # Once interrupted, the command is on its way out with status 130: a late
        # Ctrl-C must not turn that into death by SIGINT.
        signal.signal(signal.SIGINT, signal.SIG_IGN if self.count else self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.requested.set()
        if self.reading_input and not self.finishing:
            raise KeyboardInterrupt


_TURN_OVER: Final = frozenset({"idle", "done", "error"})
#: Seconds to wait for a stopped session to end: the manager's ladder sends SIGTERM
#: after 3 s and SIGKILL 2 s later, so this is a bound that should never be reached.
_STOP_WAIT: Final = 10.0
_ENDED: Final = frozenset({"done", "error"})


def _wait_until(manager: Any, session_id: str, statuses: frozenset[str], interrupts: _Interrupts) -> Any:
    """Wait for the session to reach one of ``statuses``; return its state, or None on Ctrl-C.

    Waits in short slices so that a Ctrl-C (which only sets a flag) is seen promptly.
    """
    while not interrupts.requested.is_set():
        if statuses is _TURN_OVER:
            try:
                return manager.wait(session_id, timeout=0.1)
            except TimeoutError:
                continue
        state = manager.get_session(session_id)
        if state.status in statuses:
            return state
        interrupts.requested.wait(0.05)
    return None


def _read_prompt(interrupts: _Interrupts, tty: bool) -> str | None:
    """Read one follow-up prompt from stdin; None on EOF or an empty line."""
    if tty:
        sys.stderr.write("> ")
        sys.stderr.flush()
    interrupts.reading_input = True
    try:
        line = sys.stdin.readline()
    finally:
        interrupts.reading_input = False
    text = line.strip()
    return text or None


def run_command(args: argparse.Namespace) -> int:
    from ..manager import SidecarManager

    prompt = args.prompt
    interactive = args.interactive
    stdin_tty = sys.stdin.isatty()
    if args.max_turns is not None and args.max_turns < 1:
        raise UsageError("--max-turns must be at least 1")
    config = _parse_config(args.config)
    writer: Any = JsonWriter(sys.stdout.buffer) if args.json else Renderer(sys.stdout, show_unknown=args.show_unknown)
    session_id = f"cli-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    turn_cost: list[Any] = []  # the cost content of the current turn, if any

    def on_message(sid: str, messages: list[Any]) -> None:
        for message in messages:
            if message.type == "cost":
                turn_cost[:] = [message.content]
        if interrupts.broken_pipe:
            return
        try:
            writer(sid, messages)
        except BrokenPipeError:
            # The reader of our output went away (`| head`): stop the session.
            interrupts.broken_pipe = True
            interrupts.requested.set()

    def on_status(sid: str, status: str, error: str | None) -> None:
        if status not in _ENDED and not interrupts.broken_pipe:  # the final line reports the end
            try:
                writer.status(sid, status, error)
            except BrokenPipeError:
                interrupts.broken_pipe = True
                interrupts.requested.set()

    if not args.verbose:
        # The session logs its failure reason; the command reports it itself, once.
        logging.getLogger("sidecar_sync.session").setLevel(logging.ERROR)

    with _Interrupts() as interrupts, SidecarManager() as manager:
        try:
            if prompt is None:
                if not interactive:
                    raise UsageError("run needs a PROMPT (or --interactive to read prompts from stdin)")
                prompt = _read_prompt(interrupts, stdin_tty)
                if prompt is None:
                    return EXIT_OK
            manager.start_session(
                session_id,
                args.provider,
                prompt,
                cwd=args.cwd,
                model=args.model,
                system_prompt=args.system_prompt,
                max_turns=args.max_turns,
                permission_mode=args.permission_mode,
                provider_config=config,
                on_message=on_message,
                on_status=None if args.json else on_status,
            )
            state = _wait_until(manager, session_id, _TURN_OVER, interrupts)
            turn_failure = _turn_failure(state, turn_cost)
            while state is not None and interactive and state.status == "idle":
                follow_up = _read_prompt(interrupts, stdin_tty)
                if follow_up is None:
                    break
                turn_cost.clear()
                manager.write_prompt(session_id, follow_up)
                state = _wait_until(manager, session_id, _TURN_OVER, interrupts)
                turn_failure = _turn_failure(state, turn_cost)
            if state is not None and state.status not in _ENDED:
                manager.stop_session(session_id)
                state = _wait_until(manager, session_id, _ENDED, interrupts)
            if state is None:
                return _interrupted(manager, session_id, interrupts)
        except KeyboardInterrupt:
            return _interrupted(manager, session_id, interrupts)
        return _finish_run(args, writer, state, turn_failure, time.monotonic() - started)


def _turn_failure(state: Any, turn_cost: list[Any]) -> str | None:
    """Why the turn that just ended failed, or None if it did not."""
    if state is None:
        return None
    if state.status == "idle" and state.error:
        return state.error  # the runner reported agent_error
    if turn_cost and getattr(turn_cost[0], "is_error", False):
        content = turn_cost[0]
        return (
            getattr(content, "result", None)
            or "; ".join(getattr(content, "errors", None) or [])
            or getattr(content, "terminal_reason", None)
            or "the provider reported an error"
        )
    return None


def _interrupted(manager: Any, session_id: str, interrupts: _Interrupts) -> int:
    """Ctrl-C (or a closed stdout): stop the session (stop, grace, kill); a second Ctrl-C hurries."""
    if interrupts.broken_pipe:
        silence_stdout()
    else:
        error("interrupted; stopping the session (Ctrl-C again to kill it now)")
    try:
        manager.stop_session(session_id)
    except SidecarError:
        pass  # never started, or already over
    # The press that hurries: the second Ctrl-C (perhaps already in), or after a
    # closed stdout the first one.
    hurry = min(interrupts.count + 1, 2)
    deadline = time.monotonic() + _STOP_WAIT
    while time.monotonic() < deadline and interrupts.count < hurry:
        try:
            if manager.get_session(session_id).status in _ENDED:
                break
        except SidecarError:
            break
        time.sleep(0.05)
    interrupts.finishing = True
    if interrupts.count >= hurry:
        _kill_now(manager, session_id)
    return EXIT_BROKEN_PIPE if interrupts.broken_pipe and interrupts.count == 0 else EXIT_INTERRUPTED


def _kill_now(manager: Any, session_id: str) -> None:
    """Second Ctrl-C: kill the runner's process group now instead of waiting out the grace."""
    try:
        manager.remove_session(session_id)
    except (SidecarError, KeyboardInterrupt):
        pass  # already gone; leaving the manager's `with` kills whatever is left


def _finish_run(args: argparse.Namespace, writer: Any, state: Any, turn_failure: str | None, seconds: float) -> int:
    failed = state.status == "error" or turn_failure is not None
    if not args.json:
        line = format_cost_line(state.status, state.cost_usd, state.input_tokens, state.output_tokens, seconds)
        writer.final(line, ok=not failed)
    if state.status == "error":
        error(f"session failed: {state.error or 'unknown reason'}")
        return EXIT_FAILED
    if turn_failure is not None:
        error(f"the turn failed: {turn_failure}")
        return EXIT_FAILED
    return EXIT_OK
