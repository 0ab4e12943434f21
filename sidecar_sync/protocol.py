"""The runner wire protocol: one JSON object per line on the runner's stdin and stdout.

Manager -> runner (stdin)::

    {"type": "query", "sessionId": .., "prompt": .., <options of the first query>}
    {"type": "stop", "sessionId": ..}
    {"type": "ping"}

Runner -> manager (stdout)::

    ready | pong                      liveness only, never forwarded
    agent_started                     a turn began (status -> running)
    agent_event {"event": {...}}      one provider event, for the provider's adapter
    agent_stopped                     the turn ended normally (status -> idle)
    agent_error {"message": ..}       the turn failed
    error {"message": ..}             a complaint about a bad command; not fatal
    any other object                  a bare provider event

Keys are camelCase on the wire and snake_case in Python. The session options (their
wire keys, rules and defaults) are defined once, in :mod:`sidecar_sync.options`; this
module builds and reads commands with it. Both the manager and the runners import
these two modules, so the two sides cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from .options import DEFAULT_PERMISSION_MODE, WIRE_NAMES, SessionOptions

__all__ = [
    "QUERY",
    "STOP",
    "PING",
    "READY",
    "PONG",
    "AGENT_STARTED",
    "AGENT_EVENT",
    "AGENT_STOPPED",
    "AGENT_ERROR",
    "ERROR",
    "CONTROL_TYPES",
    "RECORD_START",
    "RECORD_TIME",
    "RECORD_PROMPT",
    "RECORD_END",
    "RECORD_MARKERS",
    "OPTION_WIRE_NAMES",
    "DEFAULT_PERMISSION_MODE",
    "encode",
    "query_command",
    "stop_command",
    "ping_command",
    "options_from_wire",
]

# Manager -> runner command types.
QUERY: Final = "query"
STOP: Final = "stop"
PING: Final = "ping"

# Runner -> manager message types.
READY: Final = "ready"
PONG: Final = "pong"
AGENT_STARTED: Final = "agent_started"
AGENT_EVENT: Final = "agent_event"
AGENT_STOPPED: Final = "agent_stopped"
AGENT_ERROR: Final = "agent_error"
ERROR: Final = "error"

# Marker lines a recording interleaves with the runner's output (see sidecar_sync.recording).
RECORD_START: Final = "sidecar.recording"
RECORD_TIME: Final = "sidecar.time"
RECORD_PROMPT: Final = "sidecar.prompt"
RECORD_END: Final = "sidecar.end"
#: A recording's own line types; never a runner's.
RECORD_MARKERS: Final = frozenset({RECORD_START, RECORD_TIME, RECORD_PROMPT, RECORD_END})

#: Runner output types that are protocol control rather than provider events.
CONTROL_TYPES: Final = frozenset({READY, PONG, AGENT_STARTED, AGENT_EVENT, AGENT_STOPPED, AGENT_ERROR, ERROR})

#: Python option name -> wire key (defined by :class:`~sidecar_sync.options.SessionOptions`).
OPTION_WIRE_NAMES: Final[Mapping[str, str]] = WIRE_NAMES
_PYTHON_NAMES: Final[Mapping[str, str]] = {wire: py for py, wire in WIRE_NAMES.items()}


def encode(message: Mapping[str, Any]) -> bytes:
    """Serialise one protocol message as a single NDJSON line (with its ``\\n``).

    orjson never emits a raw newline inside a JSON document (newlines in strings
    are escaped), so the result is always exactly one line.
    """
    return orjson.dumps(message) + b"\n"


def query_command(
    session_id: str, prompt: str, options: SessionOptions | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Build a ``query`` command.

    Args:
        session_id: the session the query belongs to.
        prompt: the user's prompt.
        options: for the first query only, the session's
            :class:`~sidecar_sync.options.SessionOptions`, or a mapping of option
            values by Python name (checked with ``SessionOptions.create``). Unset
            (``None``) options and empty lists/mappings are omitted;
            ``permissionMode`` defaults to ``"bypassPermissions"``. Follow-ups
            pass ``None``.

    Raises:
        InvalidOptionError: an unknown option name or a bad value (named).
    """
    command: dict[str, Any] = {"type": QUERY, "sessionId": session_id, "prompt": prompt}
    if options is None:
        return command
    if not isinstance(options, SessionOptions):
        options = SessionOptions.create(**options)
    command.update(options.to_wire())
    return command


def stop_command(session_id: str) -> dict[str, Any]:
    """Build a ``stop`` command: end the current turn and exit."""
    return {"type": STOP, "sessionId": session_id}


def ping_command() -> dict[str, Any]:
    """Build a ``ping`` command; the runner answers ``pong``."""
    return {"type": PING}


def options_from_wire(command: Mapping[str, Any]) -> dict[str, Any]:
    """Return the session options carried by a ``query`` command, by Python name, unchecked.

    Unknown keys are ignored, so newer managers can talk to older runners. For
    checked values use ``SessionOptions.from_wire``.
    """
    return {_PYTHON_NAMES[key]: value for key, value in command.items() if key in _PYTHON_NAMES}
