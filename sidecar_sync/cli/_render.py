"""Terminal output of ``sidecar-sync``: messages as text or JSONL, a progress bar.

Human output marks each kind of message so a transcript reads at a glance::

    ● session 5c1b5c56 · claude-opus-5-5 · /home/dev/project
    ✻ thinking: The user wants a greeting.
    Hello!
    → Bash {"command": "echo hi"}
    ← hi
    · api_retry: retrying in 600 ms
    ✗ error: the model is overloaded
    ─ turn: $0.000376 · 24 in / 10 out tokens · 1 turn · 49 ms

Colours (thinking dimmed, tools cyan, errors red) are used only when the output
is a terminal and ``NO_COLOR`` is unset (https://no-color.org) and ``TERM`` is
not ``dumb``. Without colour, the markers alone carry the meaning.
"""

from __future__ import annotations

import io
import math
import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, Any, Final

import orjson

from ..messages import AgentMessage

__all__ = [
    "Renderer",
    "JsonWriter",
    "ProgressBar",
    "use_color",
    "write_all",
    "write_text",
    "format_cost",
    "format_cost_line",
    "format_duration",
    "format_tokens",
    "one_line",
    "shorten",
]

#: Longest tool input shown, in characters, before it is cut with an ellipsis.
TOOL_INPUT_LIMIT: Final = 300
#: The smallest amount of money shown as a number; less reads ``<$0.000001``.
MIN_COST: Final = 1e-6
#: Tool results are cut to this many lines and characters.
TOOL_RESULT_LINES: Final = 6
TOOL_RESULT_CHARS: Final = 400

_DIM, _RED, _CYAN, _GREEN, _YELLOW, _BOLD, _RESET = (
    "\x1b[2m",
    "\x1b[31m",
    "\x1b[36m",
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[1m",
    "\x1b[0m",
)


def write_all(out: IO[bytes], data: bytes) -> None:
    """Write ``data`` completely to a binary stream, raising if the reader went away.

    A large write to a pipe whose reader exits midway comes back short from the
    OS, and :class:`io.BufferedWriter` may then lose the rest without an error;
    writing to the raw file in a loop turns that into a :class:`BrokenPipeError`.
    """
    raw: io.RawIOBase | None
    if isinstance(out, io.RawIOBase):
        # e.g. sys.stdout.buffer under python -u: one short write and no error
        raw = out
    else:
        raw = getattr(out, "raw", None)
        if raw is None:
            out.write(data)
            out.flush()
            return
        out.flush()
    view = memoryview(data)
    while view:
        written = raw.write(view)
        if written is None:  # a non-blocking stream: let the buffered layer cope
            out.write(view)
            out.flush()
            return
        view = view[written:]


def write_text(out: IO[str], text: str) -> None:
    """Write ``text`` to a text stream; through :func:`write_all` if it has a buffer."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(text)
        out.flush()
        return
    out.flush()
    write_all(buffer, text.encode(getattr(out, "encoding", None) or "utf-8", "replace"))


def use_color(stream: IO[str]) -> bool:
    """True when ``stream`` is a terminal that should get ANSI colours."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def shorten(text: str, max_chars: int, max_lines: int | None = None) -> str:
    """Cut ``text`` to ``max_chars`` chars and ``max_lines`` lines, saying how much."""
    cut_lines = 0
    if max_lines is not None:
        lines = text.split("\n")
        if len(lines) > max_lines:
            cut_lines = len(lines) - max_lines
            text = "\n".join(lines[:max_lines])
    cut_chars = 0
    if len(text) > max_chars:
        cut_chars = len(text) - max_chars
        text = text[:max_chars]
    if cut_lines:
        return f"{text}… (+{cut_lines} more lines)"
    if cut_chars:
        return f"{text}… (+{cut_chars} chars)"
    return text


def _compact_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, default=repr).decode()
    except TypeError:
        return repr(value)


def _output_text(output: Any) -> str:
    """Flatten a tool result (a string or a list of content blocks) into text."""
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        parts = []
        for block in output:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif isinstance(block, dict) and block.get("type") == "image":
                parts.append("[image]")
            else:
                parts.append(_compact_json(block))
        return "\n".join(parts)
    return _compact_json(output)


def format_tokens(input_tokens: int | None, output_tokens: int | None) -> str:
    """``"24 in / 10 out tokens"``."""
    return f"{input_tokens or 0:,} in / {output_tokens or 0:,} out tokens"


def format_cost(cost: float | None) -> str:
    """Money as people read it: ``$1.23``, ``$0.0123``, ``$0.000376``, ``$0.00``.

    A dollar or more gets cents; less gets three significant digits (at least two
    decimals, at most six: below a millionth of a dollar it reads ``<$0.000001``).
    ``None`` means the provider reported no price, which is not the same as zero.
    """
    if cost is None or not math.isfinite(cost):
        return "$-"
    sign = "-" if cost < 0 else ""
    amount = abs(cost)
    if amount == 0:
        return "$0.00"
    if amount >= 1:
        return f"{sign}${amount:,.2f}"
    if amount < MIN_COST:
        return f"{sign}<${MIN_COST:.6f}"
    decimals = min(6, max(2, 2 - math.floor(math.log10(amount))))
    whole, _, fraction = f"{amount:.{decimals}f}".partition(".")
    return f"{sign}${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def format_duration(seconds: float) -> str:
    """``"49 ms"``, ``"3.2 s"`` or ``"2 min 5 s"``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def format_cost_line(
    outcome: str,
    cost: float | None,
    input_tokens: int,
    output_tokens: int,
    seconds: float,
) -> str:
    """The final line of ``sidecar-sync run``: outcome, cost, tokens and duration."""
    tokens = format_tokens(input_tokens, output_tokens)
    return f"{outcome} · {format_cost(cost)} · {tokens} · {format_duration(seconds)}"


def one_line(text: str, max_chars: int) -> str:
    """``text`` on one line: its first line, cut to ``max_chars`` characters (``…``)."""
    first, newline, _ = text.strip().partition("\n")
    if len(first) > max_chars:
        return first[:max_chars] + "…"
    return first + ("…" if newline else "")


class Renderer:
    """Writes messages and status changes as readable text.

    Thread-safe: a live session calls it from its reader thread while the main
    thread may print status lines. Streamed fragments (``delta`` text or thinking)
    are printed inline as they come; the complete message that follows them is
    then not printed again.

    Args:
        out: where to write (normally ``sys.stdout``).
        color: use ANSI colours; ``None`` decides with :func:`use_color`.
        show_unknown: also print ``unknown`` messages (one line naming the event type).
    """

    def __init__(
        self,
        out: IO[str] | None = None,
        *,
        color: bool | None = None,
        show_unknown: bool = False,
    ) -> None:
        self.out = out if out is not None else sys.stdout
        self.color = use_color(self.out) if color is None else color
        self.show_unknown = show_unknown
        self._lock = threading.Lock()
        # the kind of the fragment stream being printed inline
        self._inline: str | None = None
        # kinds whose fragments were shown since their last full message
        self._streamed: set[str] = set()

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def messages(self, messages: Iterable[AgentMessage]) -> None:
        """Render a batch of messages, in order."""
        with self._lock:
            parts = []
            for message in messages:
                text = self._format(message)
                if text is not None:
                    parts.append(text)
            if parts:
                write_text(self.out, "".join(parts))

    def __call__(self, session_id: str, messages: list[AgentMessage]) -> None:
        """The ``on_message`` callback form."""
        self.messages(messages)

    def status(self, session_id: str, status: str, error: str | None) -> None:
        """The ``on_status`` callback form: one line per status change."""
        line = f"· status: {status}" + (f" ({error})" if error else "")
        self.line(self._paint(_RED if status == "error" or error else _DIM, line))

    def final(self, text: str, ok: bool) -> None:
        """The closing line of a run: ``✓ ...`` in green, or ``✗ ...`` in red."""
        self.line(self._paint(_GREEN if ok else _RED, ("✓ " if ok else "✗ ") + text))

    def line(self, text: str) -> None:
        """Write one line, ending any inline fragment stream first."""
        with self._lock:
            write_text(self.out, self._end_inline() + text + "\n")

    def _end_inline(self) -> str:
        if self._inline is None:
            return ""
        self._inline = None
        return "\n"

    def _format(self, m: AgentMessage) -> str | None:
        kind = m.type
        c = m.content
        if kind in ("text", "thinking"):
            return self._format_text(kind, c)
        prefix = self._end_inline()
        self._streamed.clear()
        if kind == "tool_call":
            shown = shorten(_compact_json(getattr(c, "input", None)), TOOL_INPUT_LIMIT)
            return (
                prefix
                + self._paint(_CYAN, f"→ {getattr(c, 'name', '?')} {shown}".rstrip())
                + "\n"
            )
        if kind == "tool_result":
            body = shorten(
                _output_text(getattr(c, "output", None)).strip("\n"),
                TOOL_RESULT_CHARS,
                TOOL_RESULT_LINES,
            )
            if getattr(c, "is_error", False):
                return prefix + self._paint(_RED, "← error: " + _indent(body)) + "\n"
            return (
                prefix
                + self._paint(_DIM, "← " + (_indent(body) or "(no output)"))
                + "\n"
            )
        if kind == "init":
            parts = [f"session {getattr(c, 'session_id', None) or '?'}"]
            parts += [
                str(v)
                for v in (getattr(c, "model", None), getattr(c, "cwd", None))
                if v
            ]
            return prefix + self._paint(_BOLD, "● " + " · ".join(parts)) + "\n"
        if kind == "status":
            message = getattr(c, "message", "") or ""
            return (
                prefix
                + self._paint(
                    _DIM,
                    f"· {getattr(c, 'subtype', 'status')}"
                    + (f": {message}" if message else ""),
                )
                + "\n"
            )
        if kind == "compaction":
            return (
                prefix
                + self._paint(
                    _DIM,
                    f"· compacted ({getattr(c, 'trigger', '?')}, "
                    f"{getattr(c, 'pre_tokens', 0):,} tokens before)",
                )
                + "\n"
            )
        if kind == "cost":
            return prefix + self._format_cost(c) + "\n"
        if kind == "error":
            return (
                prefix
                + self._paint(_RED, f"✗ error: {getattr(c, 'message', c)}")
                + "\n"
            )
        if self.show_unknown:
            event_type = c.get("type") if isinstance(c, dict) else type(c).__name__
            return prefix + self._paint(_DIM, f"? unknown event {event_type!s}") + "\n"
        return prefix if prefix else None

    def _format_text(self, kind: str, c: Any) -> str | None:
        text = getattr(c, "text", "")
        if not isinstance(text, str):
            text = str(text)
        thinking = kind == "thinking"
        if getattr(c, "delta", False):
            out = ""
            if self._inline != kind:
                out = self._end_inline()
                if thinking:
                    out += self._paint(_DIM, "✻ thinking: ")
                self._inline = kind
            self._streamed.add(kind)
            return out + (self._paint(_DIM, text) if thinking else text)
        if kind in self._streamed:
            # Its fragments are on screen already; the full message closes them.
            self._streamed.discard(kind)
            return self._end_inline() if self._inline == kind else None
        prefix = self._end_inline()
        if not text:
            return prefix or None
        if thinking:
            return prefix + self._paint(_DIM, "✻ thinking: " + _indent(text)) + "\n"
        return prefix + text + ("" if text.endswith("\n") else "\n")

    def _format_cost(self, c: Any) -> str:
        parts = [
            format_cost(getattr(c, "total_cost_usd", None)),
            format_tokens(
                getattr(c, "input_tokens", 0), getattr(c, "output_tokens", 0)
            ),
        ]
        turns = getattr(c, "num_turns", None)
        if isinstance(turns, int):
            parts.append(f"{turns} turn" + ("" if turns == 1 else "s"))
        duration = getattr(c, "duration_ms", None)
        if isinstance(duration, (int, float)):
            parts.append(format_duration(duration / 1000))
        if getattr(c, "is_error", False):
            # The reason comes as the error message next to this one, in the
            # adapter's words.
            return self._paint(_RED, "─ turn failed · " + " · ".join(parts))
        return self._paint(_DIM, "─ turn: " + " · ".join(parts))


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


class JsonWriter:
    """Writes messages as JSONL, one ``AgentMessage.to_dict()`` per line, to bytes.

    Thread-safe. Values that JSON cannot hold (custom adapters may produce them)
    are written as their ``repr``, so one odd message never stops the output.
    """

    def __init__(self, out: IO[bytes] | None = None) -> None:
        self.out = out if out is not None else sys.stdout.buffer
        self._lock = threading.Lock()

    def messages(self, messages: Iterable[AgentMessage]) -> None:
        """Write a batch of messages, one JSON object per line, and flush."""
        dumps = orjson.dumps
        lines = [dumps(m.to_dict(), default=repr) for m in messages]
        if not lines:
            return
        lines.append(b"")
        with self._lock:
            write_all(self.out, b"\n".join(lines))

    def __call__(self, session_id: str, messages: list[AgentMessage]) -> None:
        """The ``on_message`` callback form."""
        self.messages(messages)


class ProgressBar:
    """A one-line progress bar on a terminal: percent, bytes, rate and time left.

    Hand-rolled rather than tqdm or rich: it is one line of output, and the
    project's runtime dependencies are cffi and orjson only. It redraws at most
    ``interval`` seconds apart and erases itself on :meth:`close`.

    Args:
        out: the terminal (normally ``sys.stderr``).
        label: text before the bar.
        interval: seconds between redraws.
    """

    WIDTH: Final = 24

    def __init__(
        self, out: IO[str], label: str = "replay", interval: float = 0.1
    ) -> None:
        self.out = out
        self.label = label
        self.interval = interval
        self._start = time.monotonic()
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int | None) -> None:
        """Update with ``done`` bytes of ``total`` (``None`` when unknown)."""
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = done / elapsed
        size = f"{done / 2**20:,.0f}"
        if total:
            frac = min(done / total, 1.0)
            filled = int(frac * self.WIDTH)
            bar = "█" * filled + "░" * (self.WIDTH - filled)
            left = (total - done) / rate if rate > 0 else 0.0
            text = (
                f"{self.label} {bar} {frac * 100:3.0f}% {size}/{total / 2**20:,.0f} MiB"
                f" · {rate / 2**20:,.0f} MiB/s · {format_duration(left)} left"
            )
        else:
            text = f"{self.label} {size} MiB · {rate / 2**20:,.0f} MiB/s"
        self.out.write("\r\x1b[2K" + text)
        self.out.flush()
        self._shown = True

    def close(self) -> None:
        """Erase the bar (if it was drawn)."""
        if self._shown:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self._shown = False
