"""The sans-IO core: a runner's stdout bytes in; messages and turn signals out.

One :class:`Pipeline` per stream (a live session's stdout, a replayed file). Like
h11's ``Connection`` it does no I/O of its own: no threads, processes, files or
clocks (the adapter stamps messages). Whoever owns the bytes feeds them in with
:meth:`Pipeline.receive_data` and :meth:`Pipeline.receive_eof`, and gets back, in
stream order:

* ``(list[AgentMessage], nbytes)`` — a batch of messages (adapted provider events,
  and ``error`` messages for the runner's complaints and failed turns) and the bytes
  of input it was made from (what holding it costs, roughly: consumers bound their
  buffers with it);
* :class:`TurnSignal` — a turn started, ended, or failed (runner protocol lines);
* :class:`PermissionSignal` — the runner asks whether a tool may run, or withdraws
  such a request (answering is the session's business, see
  :mod:`sidecar_sync.permissions`).

Every step of the stdout path lives here, once:

1. **frame and parse** — :class:`~sidecar_sync.decoder.EventDecoder` (C framer +
   orjson): lines over the cap are dropped whole, lines that are not JSON objects
   are counted invalid and skipped; nothing stops the stream.
2. **route** — the runner protocol, one JSON object per line:

   ==============================  ==============================================
   ``agent_event`` ``{"event":..}``  the provider event is unwrapped and adapted;
                                     an ``event`` that is not an object is invalid
   ``ready``, ``pong``               liveness; nothing comes out
   ``agent_started``                 ``TurnSignal(STARTED)``
   ``agent_stopped``                 ``TurnSignal(STOPPED)``
   ``agent_error`` ``{"message"}``   an ``error`` message with the reason, unless the
                                     turn's provider events already reported one,
                                     then ``TurnSignal(FAILED, reason)``
   ``error`` ``{"message"}``         an ``error`` message (a complaint about a bad
                                     command); only once another protocol line was
                                     seen: before that it is a provider event (Codex
                                     prints ``{"type": "error"}`` events of its own)
   ``permission_request``,           ``PermissionSignal`` with the line, after the
   ``permission_cancel``             messages before it
   ``sidecar.*``                     a recording's own marker lines
                                     (:mod:`sidecar_sync.recording`); skipped
   anything else                     a bare provider event (a CLI printing its own
                                     stream can run directly as a runner)
   ==============================  ==============================================

3. **adapt** — the stream adapter, one call per run of provider events.
4. **account** — messages, and cost and tokens per agent session
   (:class:`~sidecar_sync.accounting.Usage`).

Input is framed once per call and handled in pieces of about :data:`PIECE_SIZE`
bytes of lines, and :meth:`receive_data` yields each piece's outputs before it
parses the next, so that a piece's parsed objects and messages are still in the
CPU caches when the consumer delivers them (bench/README.md, "Hot path").
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from itertools import repeat
from typing import Any, Final, NamedTuple

from . import protocol
from .accounting import Usage
from .decoder import EventDecoder
from .framer import MAX_LINE_SIZE, MAX_PENDING, Buffer
from .messages import COST, ERROR, INIT, UNKNOWN, AgentMessage, ErrorContent, StreamAdapter, new_message_id, now_ms
from .turns import TurnEvidence

__all__ = [
    "PIECE_SIZE",
    "STARTED",
    "STOPPED",
    "FAILED",
    "TurnSignal",
    "PermissionSignal",
    "Batch",
    "Output",
    "PipelineStats",
    "Pipeline",
]

log = logging.getLogger(__name__)

#: Bytes decoded, adapted and handed out at a time (see the module docstring).
PIECE_SIZE: Final = 16 << 10
#: Malformed ``agent_event`` wrappers logged at WARNING per stream; later ones at DEBUG.
BAD_ENVELOPE_LOG_LIMIT: Final = 20

STARTED: Final = "started"
STOPPED: Final = "stopped"
FAILED: Final = "failed"


class TurnSignal(NamedTuple):
    """A turn boundary the runner announced (``agent_started``/``agent_stopped``/``agent_error``)."""

    kind: str
    """:data:`STARTED`, :data:`STOPPED` or :data:`FAILED`."""
    message: str | None = None
    """For :data:`FAILED`: why the turn failed."""
    outcome: str | None = None
    """For :data:`FAILED`: the outcome the runner named (``agent_error`` ``"outcome"``), if any."""
    evidence: TurnEvidence | None = None
    """For :data:`STOPPED` and :data:`FAILED`: what the turn's messages said."""


class PermissionSignal(NamedTuple):
    """A tool-approval line of the runner (``permission_request`` / ``permission_cancel``), unread."""

    kind: str
    """``protocol.PERMISSION_REQUEST`` or ``protocol.PERMISSION_CANCEL``."""
    line: dict[str, Any]
    """The whole line, for :mod:`sidecar_sync.permissions` to read."""


#: A batch of messages and the bytes of input it was made from.
Batch = tuple[list[AgentMessage], int]
#: One unit of pipeline output: a :data:`Batch`, a :class:`TurnSignal` or a :class:`PermissionSignal`.
Output = Batch | TurnSignal | PermissionSignal


class PipelineStats(NamedTuple):
    """Counters of one pipeline since it was created."""

    bytes: int
    """Bytes received."""
    lines: int
    """Complete non-blank lines framed (oversized lines excluded)."""
    events: int
    """Lines that were JSON objects (a recording's ``sidecar.*`` marker lines included)."""
    control_lines: int
    """Runner protocol lines other than ``agent_event`` (``ready``, ``agent_stopped``, ...)."""
    invalid_lines: int
    """Lines that were not JSON objects, and ``agent_event`` lines without an object ``event``."""
    oversized_lines: int
    """Lines dropped whole for exceeding ``max_line_size``."""
    dropped_bytes: int
    """Raw bytes of those lines."""
    messages: int
    """Messages handed out."""
    pending: int
    """Bytes of an unterminated line held right now."""


_MARKERS: Final = protocol.RECORD_MARKERS
_CONTROL: Final = protocol.CONTROL_TYPES | _MARKERS
_AGENT_EVENT: Final = protocol.AGENT_EVENT
_READY: Final = protocol.READY
_PONG: Final = protocol.PONG
_AGENT_STARTED: Final = protocol.AGENT_STARTED
_AGENT_STOPPED: Final = protocol.AGENT_STOPPED
_AGENT_ERROR: Final = protocol.AGENT_ERROR
_PROTOCOL_ERROR: Final = protocol.ERROR
_PERMISSION: Final = frozenset({protocol.PERMISSION_REQUEST, protocol.PERMISSION_CANCEL})
#: Message types the accountant looks at; every other type passes untouched.
_ACCOUNTED: Final = frozenset({INIT, COST, ERROR})
_dict_get = dict.get


class Pipeline:
    """Turns one stream of runner stdout bytes into messages and turn signals.

    Args:
        adapter: the stream's adapter (one per stream: adapters keep state).
        max_line_size: lines longer than this many bytes are dropped whole.
        max_pending: the most bytes held between feeds.
        label: names the stream in log messages (a session id, a file name).
        tally: for a summary that needs no messages: the adapter may count messages
            here by type instead of building them (:meth:`StreamAdapter.tally_batch
            <sidecar_sync.messages.StreamAdapter.tally_batch>`); batches then hold only
            the others, and every count and total is as without it.

    Not thread-safe: a pipeline belongs to the thread that reads its stream. Other
    threads may read :attr:`usage`, :attr:`stats` and :attr:`recognized`.
    """

    __slots__ = (
        "label",
        "usage",
        "recognized",
        "_decoder",
        "_pieces",
        "_adapt",
        "_bytes",
        "_unbilled",
        "_messages",
        "_control_lines",
        "_bad_envelopes",
        "_runner_output",
        "_turn_reported_error",
        "_evidence",
        "agent_version",
        "_max_line_size",
        "_drop_logged",
        "_tally",
        "_tally_batch",
    )

    def __init__(
        self,
        adapter: StreamAdapter,
        *,
        max_line_size: int = MAX_LINE_SIZE,
        max_pending: int = MAX_PENDING,
        label: str = "stream",
        tally: Counter[str] | None = None,
    ) -> None:
        self.label = label
        self.usage = Usage()
        #: True once a line this pipeline understood arrived: a protocol line, or a
        #: provider event its adapter could map (anything but ``unknown``).
        self.recognized = False
        self._decoder = EventDecoder(max_line_size, max_pending, label=label)
        self._max_line_size = max_line_size
        self._drop_logged = False  # the first oversized line is logged with its size
        self._pieces = self._decoder.feed_pieces
        self._tally = tally
        self._tally_batch = adapter.tally_batch
        self._adapt = adapter.adapt_batch if tally is None else self._adapt_tallying
        self._bytes = 0
        self._unbilled = 0  # bytes received that no batch was charged with yet
        self._messages = 0
        self._control_lines = 0
        self._bad_envelopes = 0
        # A protocol line was seen: from then on a bare {"type":"error"} is the
        # runner's complaint, not a provider event.
        self._runner_output = False
        # The current turn's provider events produced an error message.
        self._turn_reported_error = False
        self._evidence = TurnEvidence()  # what the current turn's messages said
        #: The agent program and version the latest ``init`` message named, if any.
        self.agent_version: str | None = None

    # -- input ------------------------------------------------------------------------

    def receive_data(self, data: Buffer) -> Iterator[Output]:
        """Feed stdout bytes; yield the outputs of every line they complete, piece by piece.

        ``data`` is only read while the iterator runs (it may be a view of a buffer that
        the caller fills again once the iterator is exhausted).
        """
        size = len(data)
        self._bytes += size
        process = self._process
        for events, nbytes in self._pieces(data, PIECE_SIZE):
            if nbytes > size:  # a line begun in an earlier call: that part was billed already
                nbytes = size
            size -= nbytes
            self._unbilled += nbytes
            if events:
                yield from process(events)
        if size > 0:  # blank lines, the start of a line, dropped lines: billed with the next batch
            self._unbilled += size
            if not self._drop_logged:
                self._log_first_drop()

    def receive_eof(self) -> list[Output]:
        """End of stream: the outputs of an unterminated last line, if any."""
        events = self._decoder.finish()
        if not self._drop_logged:
            self._log_first_drop()
        return self._process(events) if events else []

    def _log_first_drop(self) -> None:
        """Log the first line dropped for its size, with that size; later ones are only counted."""
        stats = self._decoder.stats
        if stats.oversized_lines:
            self._drop_logged = True
            lines = "a line" if stats.oversized_lines == 1 else f"{stats.oversized_lines} lines"
            log.warning(
                "%s: dropped %s of %d bytes (max_line_size is %d); further oversized lines are only counted",
                self.label,
                lines,
                stats.dropped_bytes,
                self._max_line_size,
            )

    # -- routing ----------------------------------------------------------------------

    def _process(self, events: list[dict[str, Any]]) -> list[Output]:
        """Route, adapt and account one piece's events."""
        try:  # stops at the first control line: an enveloped piece costs almost nothing here
            plain = _CONTROL.isdisjoint(map(_dict_get, events, repeat("type")))
        except TypeError:  # an unhashable "type": not a control line; _route sorts it out
            plain = False
        if not plain:
            return self._route(events)
        messages = self._adapt(events)
        if not messages:
            return []
        self._account(messages)
        bill, self._unbilled = self._unbilled, 0
        return [(messages, bill)]

    def _route(self, events: list[dict[str, Any]]) -> list[Output]:
        """:meth:`_process` line by line: control lines split the piece into runs of events."""
        out: list[Output] = []
        batch: list[dict[str, Any]] = []  # provider events not yet adapted
        messages: list[AgentMessage] = []  # messages not yet handed out
        for event in events:
            kind = event.get("type")
            if kind == _AGENT_EVENT:
                inner = event.get("event")
                if type(inner) is dict:
                    batch.append(inner)
                else:
                    self._bad_envelope(event)
                continue
            if type(kind) is not str or kind not in _CONTROL or (kind == _PROTOCOL_ERROR and not self._runner_output):
                batch.append(event)
                continue
            if kind in _MARKERS:
                continue
            self._runner_output = self.recognized = True
            self._control_lines += 1
            if kind in (_READY, _PONG):
                continue
            if batch:
                adapted = self._adapt(batch)
                batch = []
                if adapted:
                    self._account(adapted)
                    messages += adapted
            if kind in _PERMISSION:  # after the messages before it (the tool call it is about)
                if messages:
                    out.append((messages, self._bill()))
                    messages = []
                out.append(PermissionSignal(kind, event))
                continue
            if kind == _PROTOCOL_ERROR:
                messages.append(self._error_message(event.get("message"), "the runner reported an error"))
                self._messages += 1
                self._evidence.messages += 1
                continue
            if kind == _AGENT_ERROR and not self._turn_reported_error:
                text = event.get("message")
                messages.append(self._error_message(text, ""))
                self._messages += 1
                self._evidence.messages += 1
            signal = self._signal(kind, event)
            self._turn_reported_error = False
            if messages:  # a turn boundary follows the messages before it
                out.append((messages, self._bill()))
                messages = []
            out.append(signal)
        if batch:
            adapted = self._adapt(batch)
            if adapted:
                self._account(adapted)
                messages += adapted
        if messages:
            out.append((messages, self._bill()))
        return out

    def _bill(self) -> int:
        """The bytes to charge the next batch with: all received since the last one."""
        bill, self._unbilled = self._unbilled, 0
        return bill

    def _signal(self, kind: str, event: dict[str, Any]) -> TurnSignal:
        if not self._drop_logged:  # before the turn signal: who waits for the turn sees the log
            self._log_first_drop()
        if kind == _AGENT_STARTED:
            return TurnSignal(STARTED)
        evidence = self.take_evidence()
        if kind == _AGENT_STOPPED:
            return TurnSignal(STOPPED, evidence=evidence)
        message = event.get("message")
        outcome = event.get("outcome")
        return TurnSignal(
            FAILED,
            message if isinstance(message, str) and message else _TURN_FAILED,
            outcome if isinstance(outcome, str) else None,
            evidence,
        )

    def take_evidence(self) -> TurnEvidence:
        """What the messages since the last turn boundary said; the next turn starts afresh."""
        evidence, self._evidence = self._evidence, TurnEvidence()
        return evidence

    def _error_message(self, text: Any, default: str) -> AgentMessage:
        if not isinstance(text, str) or not text:
            text = default or _TURN_FAILED
        return AgentMessage(new_message_id(), ERROR, ErrorContent(text), None, now_ms())

    def _bad_envelope(self, event: dict[str, Any]) -> None:
        self._bad_envelopes += 1
        self._runner_output = self.recognized = True
        level = logging.WARNING if self._bad_envelopes <= BAD_ENVELOPE_LOG_LIMIT else logging.DEBUG
        log.log(level, "%s: skipped agent_event without an object 'event': %.120r", self.label, event)

    # -- accounting -------------------------------------------------------------------

    def _adapt_tallying(self, events: list[dict[str, Any]]) -> list[AgentMessage]:
        """Adapt, letting the adapter count messages by type in the tally instead of building them."""
        tally = self._tally
        assert tally is not None
        before = tally.total()
        messages = self._tally_batch(events, tally)
        counted = tally.total() - before
        if counted:
            self._messages += counted
            self._evidence.messages += counted
            if not self.recognized:
                self.recognized = any(count and kind != UNKNOWN for kind, count in tally.items())
        return messages

    def _account(self, messages: list[AgentMessage]) -> None:
        self._messages += len(messages)
        self._evidence.messages += len(messages)
        for message in messages:
            if message.type in _ACCOUNTED:
                self._note(message)
        if not self.recognized:
            self.recognized = any(message.type != UNKNOWN for message in messages)

    def _note(self, message: AgentMessage) -> None:
        kind = message.type
        content = message.content
        if kind == COST:
            self.usage.note_cost(content)
            self._evidence.note_cost(content)
        elif kind == INIT:
            self.usage.note_init(content)
            version = getattr(content, "agent_version", None)
            if isinstance(version, str) and version:
                self.agent_version = version
        else:
            self._turn_reported_error = True
            self._evidence.note_error(content)

    # -- counters ---------------------------------------------------------------------

    @property
    def stats(self) -> PipelineStats:
        """A snapshot of the counters."""
        decoded = self._decoder.stats
        return PipelineStats(
            bytes=self._bytes,
            lines=decoded.lines,
            events=decoded.events,
            control_lines=self._control_lines,
            invalid_lines=decoded.invalid_lines + self._bad_envelopes,
            oversized_lines=decoded.oversized_lines,
            dropped_bytes=decoded.dropped_bytes,
            messages=self._messages,
            pending=decoded.pending,
        )


_TURN_FAILED: Final = "the turn failed"
