"""The ``sidecar-sync`` command: ``run`` a session, ``replay`` transcripts, ``doctor`` the machine.

Usage::

    sidecar-sync run [--provider P] [--model M] [--cwd D] [--json] [--interactive] PROMPT
    sidecar-sync replay FILE... [--provider P] [--jobs N] [--json] [--summary]
    sidecar-sync doctor [--ollama-host URL] [--json]

Exit status: 0 success; 1 a failed session, an unreadable replay source or an
internal error; 2 a usage error (bad option, unknown provider); 130 interrupted
(Ctrl-C); 141 output closed early (``| head``).

``--json`` output (``run`` and ``replay``) is JSONL: one
``AgentMessage.to_dict()`` per line, ``{"id", "type", "parent_id",
"timestamp", "content"}``; ``content`` holds every field of the message type
(see :meth:`sidecar_sync.messages.AgentMessage.to_dict`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import uuid
from typing import IO, Any, Callable, Final, Sequence

import orjson

from . import __version__
from ._render import (
    JsonWriter,
    ProgressBar,
    Renderer,
    format_cost,
    format_cost_line,
    format_duration,
    format_tokens,
    use_color,
)
from .errors import InvalidOptionError, ReplayError, SidecarError, UnknownProviderError

__all__ = ["main", "build_parser"]

log = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141

#: Inputs at least this large get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES: Final = 8 * 2**20
#: Where ``doctor`` looks for Ollama unless told otherwise.
DEFAULT_OLLAMA_HOST: Final = "http://127.0.0.1:11434"


class _UsageError(Exception):
    """A bad command line that argparse could not catch; exit status 2."""


# -- argument parsing ----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sidecar-sync`` (also used to render ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="sidecar-sync",
        description="Run agent sidecar sessions, replay their transcripts, check this machine.",
    )
    parser.add_argument("--version", action="version", version=f"sidecar-sync {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser(
        "run",
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

    rep = sub.add_parser(
        "replay",
        help="turn recorded NDJSON transcripts into messages",
        description="Replay recorded NDJSON (Claude stream-json, Codex JSONL, runner output; .gz too; "
        "'-' reads stdin) through the same framer and adapters as a live session.",
    )
    rep.add_argument("files", nargs="+", metavar="FILE", help="transcript files ('-' for stdin)")
    rep.add_argument("--provider", "-p", default=None, help="adapter to use (default: detect per file)")
    rep.add_argument("--jobs", "-j", type=int, default=1, help="worker processes for many files (with --summary)")
    rep.add_argument(
        "--json",
        action="store_true",
        help="print one AgentMessage JSON object per line (with --summary: the summary as JSON)",
    )
    rep.add_argument(
        "--summary", action="store_true", help="print only the summary: counts per type, cost, tokens, bad lines"
    )
    rep.add_argument(
        "--max-line-size", type=int, default=None, metavar="BYTES", help="drop longer lines (default 10 MiB)"
    )
    rep.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    rep.add_argument("--show-unknown", action="store_true", help="also show events no adapter mapping fits")

    doc = sub.add_parser(
        "doctor",
        help="check the framer, Python, agent CLIs and Ollama",
        description="Report the framer backend, Python and orjson versions, the Claude and Codex CLIs, "
        "and whether Ollama answers. Exits 0 even when optional things are missing.",
    )
    doc.add_argument("--ollama-host", default=None, help=f"Ollama server URL (default {DEFAULT_OLLAMA_HOST})")
    doc.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    return parser


def _parse_config(items: list[str]) -> dict[str, Any] | None:
    config: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise _UsageError(f"--config takes KEY=VALUE, got {item!r}")
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        config[key.strip()] = value
    return config or None


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("sidecar-sync: %(levelname)s: %(message)s" if verbose else "sidecar-sync: %(message)s")
    )
    root = logging.getLogger("sidecar_sync")
    root.addHandler(handler)
    root.setLevel(level)


def _error(text: str) -> None:
    sys.stderr.write(f"sidecar-sync: {text}\n")
    sys.stderr.flush()


# -- run -------------------------------------------------------------------------------


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
        if state.finished:
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


def _cmd_run(args: argparse.Namespace) -> int:
    from .manager import SidecarManager

    prompt = args.prompt
    interactive = args.interactive
    stdin_tty = sys.stdin.isatty()
    if args.max_turns is not None and args.max_turns < 1:
        raise _UsageError("--max-turns must be at least 1")
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
                    raise _UsageError("run needs a PROMPT (or --interactive to read prompts from stdin)")
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
            while state is not None and interactive and not state.finished:
                follow_up = _read_prompt(interrupts, stdin_tty)
                if follow_up is None:
                    break
                turn_cost.clear()
                manager.write_prompt(session_id, follow_up)
                state = _wait_until(manager, session_id, _TURN_OVER, interrupts)
                turn_failure = _turn_failure(state, turn_cost)
            if state is not None and not state.finished:
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
    if state.status == "error" and not state.finished and state.error:
        return state.error  # the runner reported agent_error; the runner lives
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
        _silence_stdout()
    else:
        _error("interrupted; stopping the session (Ctrl-C again to kill it now)")
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
    if turn_failure is None and state.status == "error":
        _error(f"session failed: {state.error or 'unknown reason'}")
        return EXIT_FAILED
    if turn_failure is not None:
        _error(f"the turn failed: {turn_failure}")
        return EXIT_FAILED
    return EXIT_OK


# -- replay ----------------------------------------------------------------------------


class _LazyProgress:
    """Draws a :class:`ProgressBar` only once the input is big enough to be worth one."""

    def __init__(self, out: IO[str]) -> None:
        self.bar = ProgressBar(out)
        self.started = False

    def __call__(self, done: int, total: int | None) -> None:
        if not self.started:
            if (total or done) < PROGRESS_MIN_BYTES:
                return
            self.started = True
        self.bar(done, total)

    def close(self) -> None:
        self.bar.close()


def _cmd_replay(args: argparse.Namespace) -> int:
    from .replay import Replay

    if args.files.count("-") > 1:
        raise _UsageError("'-' (stdin) can be given only once")
    if args.jobs < 1:
        raise _UsageError("--jobs must be at least 1")
    if args.jobs > 1 and not args.summary:
        raise _UsageError("--jobs applies to --summary (message output is written in order by one process)")
    sources = [sys.stdin.buffer if name == "-" else name for name in args.files]
    if not args.verbose:
        # Unreadable sources are reported once, at the end, by this command.
        logging.getLogger("sidecar_sync.replay").setLevel(logging.CRITICAL)
    progress = None
    # A bar on stderr would tangle with messages printed to the same terminal.
    quiet_stdout = args.summary or not sys.stdout.isatty()
    if not args.no_progress and quiet_stdout and sys.stderr.isatty() and os.environ.get("TERM") != "dumb":
        progress = _LazyProgress(sys.stderr)
    options: dict[str, Any] = {}
    if args.max_line_size is not None:
        options["max_line_size"] = args.max_line_size
        options["max_pending"] = max(args.max_line_size, 50 * 2**20)
    rep = Replay(sources, provider=args.provider, progress=progress, errors="skip", **options)
    try:
        if args.summary:
            summary = rep.run(args.jobs)
        else:
            summary = _stream_messages(rep, args)
    finally:
        if progress is not None:
            progress.close()
    if args.summary and args.json:
        sys.stdout.buffer.write(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    elif args.summary:
        sys.stdout.write(format_summary(summary, color=use_color(sys.stdout)))
        sys.stdout.flush()
    elif not args.json:
        sys.stderr.write(_summary_line(summary) + "\n")
    for error in summary.errors:
        _error(f"error: {error}")
    return EXIT_FAILED if summary.errors else EXIT_OK


def _stream_messages(rep: Any, args: argparse.Namespace) -> Any:
    writer: Callable[[list[Any]], None]
    if args.json:
        writer = JsonWriter(sys.stdout.buffer).messages
    else:
        writer = Renderer(sys.stdout, show_unknown=args.show_unknown).messages
    started = time.perf_counter()
    for batch in rep.batches():
        writer(batch)
    summary = rep.summary
    summary.elapsed = time.perf_counter() - started
    return summary


def _summary_line(summary: Any) -> str:
    parts = [f"{summary.messages:,} messages from {summary.lines:,} lines in {len(summary.files)} file(s)"]
    if summary.invalid_lines or summary.oversized_lines:
        parts.append(f"{summary.invalid_lines:,} invalid, {summary.oversized_lines:,} oversized lines")
    parts.append(format_cost(summary.cost_usd if summary.cost_usd else None))
    parts.append(format_tokens(summary.input_tokens, summary.output_tokens))
    parts.append(format_duration(summary.elapsed))
    return "replay: " + " · ".join(parts)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{n} B"


def format_summary(summary: Any, *, color: bool = False) -> str:
    """The text form of a :class:`~sidecar_sync.replay.ReplaySummary` (``replay --summary``)."""
    rows = [
        ("files", f"{len(summary.files):,}" + (f" ({len(summary.errors)} failed)" if summary.errors else "")),
        ("bytes", f"{summary.bytes:,} ({_size(summary.bytes)})"),
        ("lines", f"{summary.lines:,}"),
        ("events", f"{summary.events:,}"),
        ("control lines", f"{summary.control_lines:,}"),
        ("invalid lines", f"{summary.invalid_lines:,}"),
        ("oversized lines", f"{summary.oversized_lines:,} ({_size(summary.dropped_bytes)} dropped)"),
        ("messages", f"{summary.messages:,}"),
    ]
    rows += [(f"  {kind}", f"{count:,}") for kind, count in summary.by_type.items()]
    rows += [
        (
            "cost",
            format_cost(summary.cost_usd) + f" ({summary.sessions:,} session{'s' if summary.sessions != 1 else ''})",
        ),
        ("tokens", format_tokens(summary.input_tokens, summary.output_tokens)),
        ("elapsed", f"{format_duration(summary.elapsed)} ({summary.rate / 2**20:,.0f} MiB/s)"),
    ]
    width = max(len(name) for name, _ in rows)
    bold, reset = ("\x1b[1m", "\x1b[0m") if color else ("", "")
    return "".join(f"{bold}{name:<{width}}{reset}  {value}\n" for name, value in rows)


# -- doctor ----------------------------------------------------------------------------


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ._doctor import run_checks

    host = args.ollama_host or DEFAULT_OLLAMA_HOST
    checks = run_checks(ollama_host=host)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps([c.to_dict() for c in checks], option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return EXIT_OK
    color = use_color(sys.stdout)
    paint = {"ok": "\x1b[32m", "missing": "\x1b[33m", "warn": "\x1b[33m", "error": "\x1b[31m"}
    out = [f"sidecar-sync {__version__} doctor\n"]
    for check in checks:
        mark = f"{check.state:<8}"
        if color:
            mark = f"{paint.get(check.state, '')}{mark}\x1b[0m"
        out.append(f"  {mark} {check.name}: {check.detail}\n")
        if check.hint and check.state != "ok":
            out.append(f"  {'':<8}   -> {check.hint}\n")
    required = [c for c in checks if c.required and c.state != "ok"]
    optional = [c for c in checks if not c.required and c.state != "ok"]
    if required:
        out.append(f"{len(required)} required check(s) failed: {', '.join(c.name for c in required)}.\n")
    else:
        out.append("Everything required is in place (the built-in echo provider works).\n")
    if optional:
        out.append(
            f"Optional, not available: {', '.join(c.name for c in optional)} "
            "(only needed for those providers; see the hints above).\n"
        )
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    return EXIT_OK


# -- entry point -------------------------------------------------------------------------


_COMMANDS: Final = {"run": _cmd_run, "replay": _cmd_replay, "doctor": _cmd_doctor}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sidecar-sync`` command line; return the exit status.

    Args:
        argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        0 on success, 1 on a failure, 2 on a usage error, 130 when interrupted,
        141 when stdout was closed early.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    _setup_logging(args.verbose)
    try:
        return _COMMANDS[args.command](args)
    except _UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except (InvalidOptionError, UnknownProviderError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ReplayError as exc:
        _error(f"error: {exc}")
        return EXIT_FAILED
    except SidecarError as exc:
        _error(f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # on the way out: no death by a second Ctrl-C
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """The reader of stdout went away (``| head``): point stdout at /dev/null.

    Python flushes stdout at exit; without this, that flush fails once more and
    prints a complaint on stderr.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
