"""The ``replay`` runner: re-emit a recorded NDJSON transcript as a turn.

For log replays and benchmarks: each query replays the file named by
``providerConfig.transcript`` once, then ends the turn with ``agent_stopped``
(a follow-up query replays it again).

A transcript may be

* a **raw provider stream**: Claude Code ``--output-format stream-json`` lines,
  Codex ``exec --json`` lines, Ollama chunks, ... Lines pass through unchanged
  (the manager takes any non-protocol object as a bare provider event), except a
  line whose top-level ``type`` is a protocol type (Codex's top-level ``error``
  event!), which is wrapped in ``agent_event`` so it still reaches the adapter;
* **runner output** (what a runner wrote, ``agent_event`` wrappers and all):
  ``agent_event`` lines pass through unchanged; the recording's own protocol
  framing -- ``ready``, ``pong``, ``agent_started``, ``agent_stopped``,
  ``agent_error``, ``error`` -- is dropped (counted and logged on stderr), since
  the replay brackets the whole transcript in its own one turn. A recorded
  ``agent_error`` therefore does not fail the replayed turn.

Either may be gzip-compressed (detected by its magic bytes, whatever the name).
With ``format`` ``"auto"`` the kind is decided by the first JSON object line:
runner output if its type is one of ``ready``, ``pong``, ``agent_started``,
``agent_event``, ``agent_stopped``, ``agent_error``; raw otherwise.
Lines that are not JSON objects are passed through as they are: the manager counts
and skips them, exactly as it would have live.

``providerConfig`` keys:

``transcript`` (string, required)
    The file to replay. A relative path is taken from the session's ``cwd``
    (else the runner's working directory). It must be a regular file (not a
    FIFO or a device, which could block forever); a missing or unreadable one
    fails the turn with ``agent_error`` naming the path. Note that the runner
    can read any file its user can: the path is caller data, so do not pass
    one from an untrusted source unchecked.
``pace`` (``"full"`` | ``"recorded"``, default ``"full"``)
    ``full``: as fast as possible. The file is read in 4 MiB blocks (decompressed
    when gzipped), each scanned with one regex for protocol types and written
    whole; only lines with a hit are parsed.
    ``recorded``: each line carrying a timestamp is written when its time comes,
    relative to the first timestamped line. A timestamp is the line's (or, for
    ``agent_event``, its event's) ``timestamp`` or ``created_at``: an ISO 8601
    string, or a number of epoch seconds (milliseconds if above 1e11). Lines
    without one are written right after the line before them, so a transcript
    with no timestamps at all (Codex JSONL) replays at full speed. Timestamps
    that go backwards cause no wait.
``speed`` (number > 0, default 1)
    Recorded pace only: 2 plays twice as fast, 0.5 half as fast.
``maxGap`` (number of seconds >= 0, default none)
    Recorded pace only: the longest single wait between two lines (after ``speed``).
``format`` (``"auto"`` | ``"raw"`` | ``"runner"`` | ``"recording"``, default ``"auto"``)
    How to treat protocol-typed lines, as described above. A session recording
    (``start_session(..., record=path)``; its first line is ``sidecar.recording``)
    is replayed one recorded turn per query, exactly as it was received, with its
    own pacing marks (see ``runners/_recording.py``).
``adapter`` (string)
    Read by the manager (which message adapter parses the events); the runner
    only accepts it.

A line longer than 64 MiB is dropped (and counted): the runner does not buffer
more, and the manager's own line cap is lower anyway.
"""

from __future__ import annotations

import calendar
import io
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Iterator
from typing import Any, Final

import orjson

from sidecar_sync.protocol import AGENT_EVENT, CONTROL_TYPES

from ._base import ProviderConfig, Runner, SessionOptions, Turn, TurnError, run
from ._recording import RecordingPlayer, is_recording

__all__ = ["ReplayRunner", "PaceClock", "parse_timestamp", "detect_format"]

log = logging.getLogger(__name__)

#: Bytes scanned and written per step at full pace.
WINDOW: Final = 4 * 2**20
#: Lines longer than this are dropped.
MAX_LINE: Final = 64 * 2**20
#: Lines examined by format detection before giving up (and assuming "raw").
DETECT_LINES: Final = 100
PACES: Final = ("full", "recorded")
FORMATS: Final = ("auto", "raw", "runner", "recording")

_EVENT_HEAD: Final = b'{"type":"agent_event","event":'
_EVENT_TAIL: Final = b"}"
#: Types that mark runner output when they come first.
_RUNNER_MARKERS: Final = frozenset(CONTROL_TYPES - {"error"})


def _type_pattern(types: frozenset[str]) -> re.Pattern[bytes]:
    names = b"|".join(re.escape(t.encode()) for t in sorted(types))
    return re.compile(rb'"type"\s*:\s*"(?:' + names + rb')"')


#: Raw format: any protocol type needs a look (to be wrapped).
_RAW_HITS: Final = _type_pattern(CONTROL_TYPES)
#: Runner format: only the framing types to drop (agent_event lines pass untouched).
_RUNNER_HITS: Final = _type_pattern(frozenset(CONTROL_TYPES - {AGENT_EVENT}))

_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*(Z|z|[+-]\d\d(?::?\d\d)?)?$"
)


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds of a recorded timestamp, or ``None`` if it is not one.

    Accepts ISO 8601 strings (``2026-11-24T01:34:06.087Z``, any number of
    fraction digits, ``Z`` or an offset; no zone means UTC) and numbers (epoch
    seconds, or milliseconds when above 1e11).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > 1e11 else float(value)
    if not isinstance(value, str):
        return None
    match = _ISO.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if fraction:
        seconds += int(fraction[:9]) / 10 ** len(fraction[:9])
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) >= 4 else 0)
        seconds -= sign * offset
    return float(seconds)


def _line_timestamp(obj: dict[str, Any]) -> float | None:
    for holder in (obj, obj.get("event") if obj.get("type") == AGENT_EVENT else None):
        if isinstance(holder, dict):
            for key in ("timestamp", "created_at"):
                if key in holder:
                    ts = parse_timestamp(holder[key])
                    if ts is not None:
                        return ts
    return None


class PaceClock:
    """When each timestamped line is due, relative to the first one.

    Args:
        speed: playback speed factor (> 0).
        max_gap: the longest wait between two consecutive lines, in seconds
            of playback (``None``: no limit).
    """

    def __init__(self, speed: float = 1.0, max_gap: float | None = None) -> None:
        self.speed = speed
        self.max_gap = max_gap
        self._last: float | None = None
        self._offset = 0.0

    def offset(self, ts: float | None) -> float:
        """Seconds after the start at which a line with timestamp ``ts`` is due.

        A line without a timestamp (``None``) is due with the line before it.
        """
        if ts is None:
            return self._offset
        if self._last is None:
            self._last = ts
            return self._offset
        gap = max(0.0, ts - self._last) / self.speed
        if self.max_gap is not None:
            gap = min(gap, self.max_gap)
        self._offset += gap
        self._last = max(self._last, ts)
        return self._offset


def detect_format(lines: Iterator[bytes]) -> str:
    """``"recording"`` for a session recording, ``"runner"`` if the first JSON object line
    has a runner-output type, else ``"raw"``."""
    for count, line in enumerate(lines):
        if count >= DETECT_LINES:
            break
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            if is_recording(obj):
                return "recording"
            return "runner" if obj.get("type") in _RUNNER_MARKERS else "raw"
    return "raw"


class _Counts:
    __slots__ = ("lines_wrapped", "lines_dropped", "oversized", "dropped_types")

    def __init__(self) -> None:
        self.lines_wrapped = 0
        self.lines_dropped = 0
        self.oversized = 0
        self.dropped_types: dict[str, int] = {}


class _Transcript:
    """An open transcript (plain or gzip), read in windows of whole lines.

    Plain files are read with plain ``read`` calls rather than memory-mapped: a
    mapped file that is truncated under the reader (a rotated log) kills the
    process with SIGBUS, while a read just sees the shorter file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            # O_NONBLOCK: opening a FIFO must not hang; it is rejected just below.
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise TurnError(f"cannot open transcript {path!r}: {exc.strerror or exc}") from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise TurnError(f"transcript {path!r} is not a regular file")
            os.set_blocking(fd, True)
            try:
                magic = os.pread(fd, 2, 0)
            except OSError as exc:
                raise TurnError(f"cannot read transcript {path!r}: {exc.strerror or exc}") from exc
            raw = io.FileIO(fd, "rb", closefd=True)
        except BaseException:
            os.close(fd)
            raise
        if magic == b"\x1f\x8b":
            import gzip  # only for compressed transcripts

            self.stream: io.BufferedIOBase | io.RawIOBase = gzip.GzipFile(fileobj=raw, mode="rb")
            self._raw: io.RawIOBase | None = raw  # GzipFile does not close a fileobj it was given
        else:
            self.stream = raw
            self._raw = None

    def close(self) -> None:
        self.stream.close()
        if self._raw is not None:
            self._raw.close()

    def windows(self, counts: _Counts) -> Iterator[tuple[bytes, int, int]]:
        """Yield ``(buffer, start, end)`` spans of whole lines, each ending with ``\\n``.

        A line that crosses a read boundary comes out as a small span of its
        own, so the big reads are never copied to join them.
        """
        read = self.stream.read
        carry = b""
        skipping = False  # inside a line over MAX_LINE: drop bytes up to its newline
        try:
            while True:
                block = read(WINDOW)
                if not block:
                    break
                start = 0
                if skipping or carry:
                    nl = block.find(b"\n")
                    if nl < 0:
                        if not skipping:
                            carry += block
                            if len(carry) > MAX_LINE:
                                counts.oversized += 1
                                carry = b""
                                skipping = True
                        continue
                    if skipping:
                        skipping = False
                    else:
                        head = carry + block[: nl + 1]
                        carry = b""
                        yield head, 0, len(head)
                    start = nl + 1
                cut = block.rfind(b"\n", start) + 1
                if cut > start:
                    yield block, start, cut
                else:
                    cut = start
                carry = block[cut:]
            if carry:
                yield carry + b"\n", 0, len(carry) + 1
        except (OSError, EOFError, ValueError) as exc:  # gzip.BadGzipFile is an OSError
            raise TurnError(f"cannot read transcript {self.path!r}: {exc}") from exc

    def lines(self, counts: _Counts) -> Iterator[bytes]:
        """Every line (without its newline)."""
        for buf, start, end in self.windows(counts):
            yield from buf[start:end].split(b"\n")[:-1]  # every span ends with a newline


class ReplayRunner(Runner):
    """Replays a recorded transcript once per query (a session recording: one turn per query)."""

    name = "replay"

    def __init__(self) -> None:
        super().__init__()
        self.path = ""
        self.pace = "full"
        self.speed = 1.0
        self.max_gap: float | None = None
        self.format = "auto"
        self._recording: tuple[_Transcript, RecordingPlayer] | None = None  # kept across turns

    def configure(self, options: SessionOptions) -> None:
        config = ProviderConfig(options.provider_config, self.name)
        path = config.get_str("transcript")
        if not path:
            raise config.invalid("transcript", "the path of a transcript file", path)
        if len(path) > 4096:
            raise config.invalid("transcript", "a path of at most 4096 characters", path)
        self.path = os.path.join(options.cwd or os.getcwd(), os.path.expanduser(path))
        self.pace = config.get_str("pace", "full", choices=PACES)
        self.speed = config.get_float("speed", 1.0, minimum=1e-6, maximum=1e6)
        self.max_gap = config.get_float("maxGap", None, minimum=0.0)
        self.format = config.get_str("format", "auto", choices=FORMATS)
        config.get_str("adapter")  # the manager's key (which adapter reads the events), not ours
        config.warn_unused()

    def run_turn(self, turn: Turn) -> None:
        fmt = self.format
        if fmt == "auto" and self._recording is None:
            probe = _Transcript(self.path)
            try:
                fmt = self.format = detect_format(probe.lines(_Counts()))
            finally:
                probe.close()
        if fmt == "recording":
            if self._recording is None:
                source = _Transcript(self.path)
                player = RecordingPlayer(source.lines(_Counts()), self.pace, self.speed, self.max_gap)
                self._recording = (source, player)
            self._recording[1].play_turn(turn)
            return
        counts = _Counts()
        transcript = _Transcript(self.path)
        try:
            if self.pace == "full":
                self._full(turn, transcript, fmt, counts)
            else:
                self._recorded(turn, transcript, fmt, counts)
        finally:
            transcript.close()
        if counts.lines_dropped or counts.lines_wrapped or counts.oversized:
            log.info(
                "replayed %s as %s: wrapped %d protocol-typed lines, dropped %d framing lines %s, %d oversized",
                self.path,
                fmt,
                counts.lines_wrapped,
                counts.lines_dropped,
                counts.dropped_types,
                counts.oversized,
            )

    def close(self) -> None:
        if self._recording is not None:
            self._recording[0].close()
            self._recording = None
        super().close()

    # -- per-line rule ---------------------------------------------------------

    @staticmethod
    def _rewrite(line: bytes, obj: Any, fmt: str, counts: _Counts) -> bytes | None:
        """The output for a line: itself, wrapped, or ``None`` (dropped)."""
        if not isinstance(obj, dict):
            return line
        kind = obj.get("type")
        if kind not in CONTROL_TYPES:
            return line
        if fmt == "raw":
            counts.lines_wrapped += 1
            return _EVENT_HEAD + line.strip() + _EVENT_TAIL
        if kind == AGENT_EVENT:
            return line
        counts.lines_dropped += 1
        counts.dropped_types[kind] = counts.dropped_types.get(kind, 0) + 1
        return None

    # -- full pace -------------------------------------------------------------

    def _full(self, turn: Turn, transcript: _Transcript, fmt: str, counts: _Counts) -> None:
        hits = _RAW_HITS if fmt == "raw" else _RUNNER_HITS
        rewrite = self._rewrite
        loads = orjson.loads
        for buf, start, end in transcript.windows(counts):
            if turn.stopped:
                return
            view = memoryview(buf)
            try:
                match = hits.search(buf, start, end)
                if match is None:  # the common case: the whole window goes out as it is
                    if not turn.write(view[start:end]):
                        return
                    continue
                parts: list[Any] = []
                pos = start
                while match is not None:
                    line_start = buf.rfind(b"\n", start, match.start()) + 1
                    line_end = buf.find(b"\n", match.end(), end)
                    line = bytes(buf[line_start:line_end])
                    try:
                        obj = loads(line)
                    except orjson.JSONDecodeError:
                        obj = None
                    out = rewrite(line, obj, fmt, counts)
                    if out is not line:
                        parts.append(view[pos:line_start])
                        if out is not None:
                            parts.append(out + b"\n")
                        pos = line_end + 1
                    match = hits.search(buf, line_end + 1, end)
                parts.append(view[pos:end])
                if not turn.write(b"".join(parts)):
                    return
            finally:
                view.release()

    # -- recorded pace ---------------------------------------------------------

    def _recorded(self, turn: Turn, transcript: _Transcript, fmt: str, counts: _Counts) -> None:
        clock = PaceClock(self.speed, self.max_gap)
        started = time.monotonic()
        pending: list[bytes] = []
        loads = orjson.loads
        for line in transcript.lines(counts):
            if not line.strip():
                continue
            try:
                obj = loads(line)
            except orjson.JSONDecodeError:
                obj = None
            ts = _line_timestamp(obj) if isinstance(obj, dict) else None
            if ts is not None:
                due = started + clock.offset(ts)
                wait = due - time.monotonic()
                if wait > 0:
                    if pending:  # what is due now goes out before the wait
                        if not turn.write(b"".join(pending)):
                            return
                        pending.clear()
                    if turn.sleep(wait):
                        return
            out = self._rewrite(line, obj, fmt, counts)
            if out is not None:
                pending.append(out + b"\n")
            if turn.stopped:
                return
        if pending:
            turn.write(b"".join(pending))


if __name__ == "__main__":
    run(ReplayRunner, sys.argv[1:])
