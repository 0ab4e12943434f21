"""Recordings: one file per session with everything needed to replay it faithfully.

``start_session(..., record=path)`` writes the runner's stdout exactly as it was
received (every byte, bad lines included), interleaved with marker lines of our own,
each a JSON object whose ``type`` starts with ``sidecar.``:

* ``sidecar.recording`` — the first line: format version, provider, session id,
  start time, the session's options (``extra_env`` values left out), sidecar_sync's
  version;
* ``sidecar.time`` ``{"t": seconds since the start}`` — before output that arrived at
  that moment (markers are only written between complete lines, and at most every
  :data:`TIME_RESOLUTION` seconds, so a burst stays one block);
* ``sidecar.prompt`` ``{"t": .., "prompt": ..}`` — a prompt sent to the runner;
* ``sidecar.end`` — the last line: final status, exit code, error, agent version, and
  the turns with their outcomes.

The recording is runner output, so :class:`~sidecar_sync.replay.Replay` reads it
like any transcript (the pipeline skips marker lines) and yields the same messages
the live session delivered (ids aside); the ``replay`` provider replays it turn by
turn, at recorded pace if asked. A name ending in ``.gz`` writes gzip. Writing never
stops the session: an error (disk full) is logged once and recording stops.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import logging
import os
import threading
import time
from typing import IO, Any, Final

import orjson

from .errors import InvalidOptionError
from .protocol import RECORD_END, RECORD_MARKERS, RECORD_PROMPT, RECORD_START, RECORD_TIME
from .state import SessionState

__all__ = [
    "FORMAT_VERSION",
    "RECORDING",
    "TIME",
    "PROMPT",
    "END",
    "MARKER_TYPES",
    "TIME_RESOLUTION",
    "Recorder",
    "open_recording",
    "trailer",
]

log = logging.getLogger(__name__)

FORMAT_VERSION: Final = 1
RECORDING: Final = RECORD_START
TIME: Final = RECORD_TIME
PROMPT: Final = RECORD_PROMPT
END: Final = RECORD_END
#: The marker line types a recording adds to the runner's output.
MARKER_TYPES: Final = RECORD_MARKERS
#: Seconds between two time markers at the most fine.
TIME_RESOLUTION: Final = 0.01
#: Bytes buffered before the file is written.
BUFFER_SIZE: Final = 1 << 20


def open_recording(path: Any) -> IO[bytes]:
    """Create (or truncate) the recording file; gzip when the name ends in ``.gz``.

    Raises:
        InvalidOptionError: the path is not usable (the message says why).
    """
    try:
        name = os.fspath(path)
    except TypeError:
        raise InvalidOptionError(f"record must be a path, got {type(path).__name__}") from None
    if not isinstance(name, str) or not name or "\0" in name:
        raise InvalidOptionError(f"record must be a non-empty path without NUL bytes, got {name!r}")
    stream: io.RawIOBase | gzip.GzipFile
    try:
        if name.endswith(".gz"):
            stream = gzip.open(name, "wb", compresslevel=1)  # noqa: SIM115 - owned by the Recorder
        else:
            stream = open(name, "wb", buffering=0)  # noqa: SIM115 - owned by the Recorder
    except OSError as exc:
        raise InvalidOptionError(f"record: cannot create {name!r}: {exc.strerror or exc}") from None
    return io.BufferedWriter(stream, BUFFER_SIZE)


class Recorder:
    """Writes one session's recording; thread-safe (stdout thread, prompt writers, the end).

    Args:
        stream: where to write (see :func:`open_recording`).
        header: the fields of the ``sidecar.recording`` line.
    """

    def __init__(self, stream: IO[bytes], header: dict[str, Any]) -> None:
        self._stream: IO[bytes] | None = stream
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_mark = -1.0
        self._partial = b""  # output after the last newline: a line still arriving
        self._queued: list[bytes] = []  # markers waiting for a line boundary
        self._write(_line({"type": RECORDING, "version": FORMAT_VERSION, **header}))

    def output(self, data: bytes) -> None:
        """Runner stdout as it arrived."""
        with self._lock:
            if self._stream is None:
                return
            now = time.monotonic() - self._started
            if self._partial:
                data = self._partial + data
            cut = data.rfind(b"\n") + 1
            if not cut:
                self._partial = data
                return
            head = b""
            if now - self._last_mark >= TIME_RESOLUTION:
                self._last_mark = now
                head = _line({"type": TIME, "t": round(now, 4)})
            self._write(head + data[:cut] + b"".join(self._queued))
            self._queued.clear()
            self._partial = data[cut:]

    def prompt(self, text: str) -> None:
        """A prompt was sent to the runner."""
        with self._lock:
            if self._stream is None:
                return
            marker = _line({"type": PROMPT, "t": round(time.monotonic() - self._started, 4), "prompt": text})
            if self._partial:  # never inside a line: after the one now arriving
                self._queued.append(marker)
            else:
                self._write(marker)

    def close(self, trailer: dict[str, Any]) -> None:
        """The session ended: the last bytes, the ``sidecar.end`` line, and the file closed."""
        with self._lock:
            stream, self._stream = self._stream, None
            if stream is None:
                return
            try:
                if self._partial:  # an unterminated last line stays as the runner left it
                    stream.write(self._partial)
                else:
                    stream.write(b"".join(self._queued))
                    stream.write(_line({"type": END, "t": round(time.monotonic() - self._started, 4), **trailer}))
                stream.close()
            except OSError as exc:
                log.error("recording: could not finish the file: %s", exc)

    def _write(self, data: bytes) -> None:
        """Write with the lock held; on failure log once and stop recording."""
        stream = self._stream
        if stream is None:
            return
        try:
            stream.write(data)
        except OSError as exc:
            log.error("recording stopped: %s", exc)
            self._stream = None
            try:
                stream.close()
            except OSError:
                pass


def trailer(state: SessionState) -> dict[str, Any]:
    """The fields of a recording's ``sidecar.end`` line: how the session ended."""
    return {
        "status": state.status,
        "exit_code": state.exit_code,
        "error": state.error,
        "stop_step": str(state.stop_step) if state.stop_step else None,
        "agent_version": state.agent_version,
        "turns": [dataclasses.asdict(turn) for turn in state.turns],
    }


def _line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj, default=str) + b"\n"
