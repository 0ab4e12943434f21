"""``sidecar-sync replay``: recorded transcripts as messages, or as a summary.

The summary names the inputs "files" in its text and its JSON alike (the text's
``files`` row is the JSON's ``file_count``, and ``files`` there lists them), and
tells a cost nobody reported (``$-``, ``null``) from a cost of zero: a transcript
whose cost messages never carried a price (Codex, Ollama) has no known cost.

Directory arguments stand for the transcripts below them (:mod:`._sources`).
``--engine dask`` replays on a dask cluster (:func:`sidecar_sync.dist.replay`):
``--scheduler ADDR``, else ``DASK_SCHEDULER_ADDRESS``, else a local cluster for
the run; it prints the same summary as the local engine.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Final

import orjson

from . import _sources
from ._exit import EXIT_FAILED, EXIT_OK, UsageError, error
from ._render import (
    JsonWriter,
    ProgressBar,
    Renderer,
    format_cost,
    format_duration,
    format_tokens,
    use_color,
)

if TYPE_CHECKING:
    from ..messages import AgentMessage
    from ..replay import FileSummary, Replay, ReplaySummary

__all__ = ["add_parser", "replay_command", "format_summary", "summary_json"]

#: Inputs at least this large get a progress bar (when stderr is a terminal).
PROGRESS_MIN_BYTES: Final = 8 * 2**20


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``replay`` subcommand to ``sub`` (the parser's subparsers)."""
    rep = sub.add_parser(
        "replay",
        parents=parents,
        help="turn recorded NDJSON transcripts into messages",
        description="Replay recorded NDJSON (Claude stream-json, Codex JSONL, "
        "runner output; .gz too; "
        "'-' reads stdin) through the same framer and adapters as a live session.",
    )
    rep.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="transcript files ('-' for stdin); a directory stands for every "
        "*.jsonl, *.ndjson (and .gz) file below it",
    )
    rep.add_argument(
        "--provider",
        "-p",
        default=None,
        help="adapter to use (default: detect per file)",
    )
    rep.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="worker processes for many files (with --summary)",
    )
    rep.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="where to replay: this machine (default), or a dask cluster "
        "(with --summary; needs the dask extra)",
    )
    rep.add_argument(
        "--scheduler",
        metavar="ADDR",
        default=None,
        help="the dask scheduler for --engine dask (default: DASK_SCHEDULER_ADDRESS, "
        "else a local cluster)",
    )
    rep.add_argument(
        "--json",
        action="store_true",
        help="print one AgentMessage JSON object per line "
        "(with --summary: the summary as JSON)",
    )
    rep.add_argument(
        "--summary",
        action="store_true",
        help="print only the summary: counts per type, cost, tokens, bad lines",
    )
    rep.add_argument(
        "--max-line-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="drop longer lines (default 10 MiB)",
    )
    rep.add_argument(
        "--no-progress", action="store_true", help="never draw a progress bar"
    )
    rep.add_argument(
        "--show-unknown",
        action="store_true",
        help="also show events no adapter mapping fits",
    )


class _LazyProgress:
    """Draws a :class:`ProgressBar` once the input is big enough to be worth one."""

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
        """Erase the bar, if it was drawn."""
        self.bar.close()


def replay_command(args: argparse.Namespace) -> int:
    """Replay the files the command line names; return the exit status.

    Returns:
        0, or 1 when a file could not be read to its end (the others are replayed).
    """
    from ..replay import Replay

    if args.files.count("-") > 1:
        raise UsageError("'-' (stdin) can be given only once")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.jobs > 1 and not args.summary:
        raise UsageError(
            "--jobs applies to --summary "
            "(message output is written in order by one process)"
        )
    _check_engine(args)
    expanded = _sources.expand(args.files)
    sources = [
        sys.stdin.buffer if name == "-" else name
        for name in expanded
        if isinstance(name, str)
    ]
    if not args.verbose:
        # Unreadable sources are reported once, at the end, by this command.
        logging.getLogger("sidecar_sync.replay").setLevel(logging.CRITICAL)
    progress: _LazyProgress | None = None
    # A bar on stderr would tangle with messages printed to the same terminal.
    quiet_stdout = args.summary or not sys.stdout.isatty()
    if (
        not args.no_progress
        and quiet_stdout
        and sys.stderr.isatty()
        and os.environ.get("TERM") != "dumb"
    ):
        progress = _LazyProgress(sys.stderr)
    options: dict[str, Any] = {}
    if args.max_line_size is not None:
        options["max_line_size"] = args.max_line_size
        options["max_pending"] = max(args.max_line_size, 50 * 2**20)
    try:
        if args.engine == "dask":
            from ..dist import replay as dist_replay

            summary = dist_replay(
                [name for name in expanded if isinstance(name, str)],
                client=args.scheduler,
                errors="skip",
                progress=progress,
                provider=args.provider,
                **options,
            )
        else:
            rep = Replay(
                sources,
                provider=args.provider,
                progress=progress,
                errors="skip",
                **options,
            )
            summary = (
                rep.run(args.jobs) if args.summary else _stream_messages(rep, args)
            )
    finally:
        if progress is not None:
            progress.close()
    summary = _sources.with_failures(summary, expanded)
    if args.summary and args.json:
        sys.stdout.buffer.write(
            orjson.dumps(summary_json(summary), option=orjson.OPT_INDENT_2) + b"\n"
        )
        sys.stdout.flush()
    elif args.summary:
        sys.stdout.write(format_summary(summary, color=use_color(sys.stdout)))
        sys.stdout.flush()
    elif not args.json:
        sys.stderr.write(_summary_line(summary) + "\n")
    for failure in summary.errors:
        error(f"error: {failure}")
    return EXIT_FAILED if summary.errors else EXIT_OK


def _check_engine(args: argparse.Namespace) -> None:
    """Usage errors of ``--engine``/``--scheduler``."""
    if args.engine == "local":
        if args.scheduler is not None:
            raise UsageError("--scheduler applies to --engine dask")
        return
    if not args.summary:
        raise UsageError(
            "--engine dask applies to --summary (the workers send back summaries, "
            "not messages)"
        )
    if "-" in args.files:
        raise UsageError("--engine dask reads files on the workers, not stdin ('-')")
    if args.jobs != 1:
        raise UsageError(
            "--jobs applies to --engine local (the dask cluster sets the parallelism)"
        )


def _stream_messages(rep: Replay, args: argparse.Namespace) -> ReplaySummary:
    writer: Callable[[list[AgentMessage]], None]
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


def summary_cost(summary: ReplaySummary | FileSummary) -> float | None:
    """The summary's cost, or None when no price was reported (the cost is unknown, not zero)."""
    return summary.cost_usd if summary.cost_reported else None


def summary_json(summary: ReplaySummary) -> dict[str, Any]:
    """The JSON form of a summary (``replay --summary --json``): :meth:`ReplaySummary.to_dict`.

    ``file_count`` is the text form's "files" row, ``files`` the per-file list,
    and ``cost_usd`` is null where no price was reported.
    """
    return summary.to_dict()


def _summary_line(summary: ReplaySummary) -> str:
    files = len(summary.files)
    parts = [
        f"{summary.messages:,} messages from {summary.lines:,} lines "
        f"in {files:,} file{'s' if files != 1 else ''}"
    ]
    if summary.invalid_lines or summary.oversized_lines:
        parts.append(
            f"{summary.invalid_lines:,} invalid, "
            f"{summary.oversized_lines:,} oversized lines"
        )
    parts.append(format_cost(summary_cost(summary)))
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


def format_summary(summary: ReplaySummary, *, color: bool = False) -> str:
    """The text form of a :class:`~sidecar_sync.replay.ReplaySummary`.

    What ``replay --summary`` prints: one ``name  value`` row per line.
    """
    rows = [
        (
            "files",
            f"{len(summary.files):,}"
            + (f" ({len(summary.errors)} failed)" if summary.errors else ""),
        ),
        ("bytes", f"{summary.bytes:,} ({_size(summary.bytes)})"),
        ("lines", f"{summary.lines:,}"),
        ("events", f"{summary.events:,}"),
        ("control lines", f"{summary.control_lines:,}"),
        ("invalid lines", f"{summary.invalid_lines:,}"),
        (
            "oversized lines",
            f"{summary.oversized_lines:,} ({_size(summary.dropped_bytes)} dropped)",
        ),
        ("messages", f"{summary.messages:,}"),
    ]
    rows += [(f"  {kind}", f"{count:,}") for kind, count in summary.by_type.items()]
    rows += [
        (
            "cost",
            format_cost(summary_cost(summary))
            + f" ({summary.sessions:,} session{'s' if summary.sessions != 1 else ''})",
        ),
        ("tokens", format_tokens(summary.input_tokens, summary.output_tokens)),
        (
            "elapsed",
            f"{format_duration(summary.elapsed)} ({summary.rate / 2**20:,.0f} MiB/s)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    bold, reset = ("\x1b[1m", "\x1b[0m") if color else ("", "")
    return "".join(f"{bold}{name:<{width}}{reset}  {value}\n" for name, value in rows)
