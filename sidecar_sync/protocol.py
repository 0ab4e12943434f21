"""The runner wire protocol: one JSON object per line on the runner's stdin and stdout.

Manager -> runner (stdin)::

    {"type": "query", "sessionId": .., "prompt": .., <options of the first query>}
    {"type": "stop", "sessionId": ..}
    {"type": "ping"}
    {"type": "permission_response", "requestId": .., "behavior": "allow", "updatedInput": {..}}
    {"type": "permission_response", "requestId": .., "behavior": "deny", "message": ..}

Runner -> manager (stdout)::

    ready | pong                      liveness only, never forwarded
    agent_started                     a turn began (status -> running)
    agent_event {"event": {...}}      one provider event, for the provider's adapter
    agent_stopped                     the turn ended normally (status -> idle)
    agent_error {"message": ..}       the turn failed
    error {"message": ..}             a complaint about a bad command; not fatal
    permission_request {..}           may a tool run? (below)
    permission_cancel {"requestId"}   the runner no longer waits for that answer
    any other object                  a bare provider event

Tool approval is one request/response pair. A runner whose first query carried
``"permissionPrompt": true`` (the caller gave ``on_permission``) may ask before its
agent runs a tool::

    {"type": "permission_request", "requestId": "r1", "toolName": "Write",
     "input": {...}, "toolUseId": "toolu_1", "suggestions": [...], "raw": {...}}

``requestId`` (a non-empty string, unique in the session) and ``toolName`` and
``input`` (an object) are required; ``toolUseId``, ``suggestions`` (the agent's own
permission suggestions) and ``raw`` (the agent's request as it came) are optional.
The manager answers each request at most once, later (the caller may take minutes;
the runner keeps reading commands and writing output meanwhile), with
``permission_response``: ``"behavior": "allow"`` (with
``"updatedInput"`` when the caller replaced the input; absent: run it as asked)
or ``"behavior": "deny"`` with a ``"message"`` for the model. A stopped session,
a callback that raised, an expired ``permission_timeout`` and a request that is
malformed (but has a ``requestId``) are all answered ``deny``. ``permission_cancel``
withdraws a request (the agent gave up waiting, e.g. on interrupt): the manager then
sends no answer for it; an answer that crosses the cancel on the wire, or any answer
to an id the runner does not know, is ignored by the runner. A turn that ends
withdraws whatever it left unanswered.

Keys are camelCase on the wire and snake_case in Python. The session options (their
wire keys, rules and defaults) are defined once, in :mod:`sidecar_sync.options`; this
module builds and reads commands with it. Both the manager and the runners import
these two modules, so the two sides cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

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
    "PERMISSION_REQUEST",
    "PERMISSION_CANCEL",
    "PERMISSION_RESPONSE",
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
    "ALLOW",
    "DENY",
    "PermissionAsk",
    "PermissionResponse",
    "PermissionWireError",
    "permission_request_line",
    "permission_cancel_line",
    "permission_response_command",
    "read_permission_request",
    "read_permission_cancel",
    "read_permission_response",
]

# Manager -> runner command types.
QUERY: Final = "query"
STOP: Final = "stop"
PING: Final = "ping"
PERMISSION_RESPONSE: Final = "permission_response"

# Runner -> manager message types.
READY: Final = "ready"
PONG: Final = "pong"
AGENT_STARTED: Final = "agent_started"
AGENT_EVENT: Final = "agent_event"
AGENT_STOPPED: Final = "agent_stopped"
AGENT_ERROR: Final = "agent_error"
ERROR: Final = "error"
PERMISSION_REQUEST: Final = "permission_request"
PERMISSION_CANCEL: Final = "permission_cancel"

# Marker lines a recording interleaves with the runner's output (see sidecar_sync.recording).
RECORD_START: Final = "sidecar.recording"
RECORD_TIME: Final = "sidecar.time"
RECORD_PROMPT: Final = "sidecar.prompt"
RECORD_END: Final = "sidecar.end"
#: A recording's own line types; never a runner's.
RECORD_MARKERS: Final = frozenset({RECORD_START, RECORD_TIME, RECORD_PROMPT, RECORD_END})

#: Runner output types that are protocol control rather than provider events.
CONTROL_TYPES: Final = frozenset(
    {READY, PONG, AGENT_STARTED, AGENT_EVENT, AGENT_STOPPED, AGENT_ERROR, ERROR, PERMISSION_REQUEST, PERMISSION_CANCEL}
)

#: ``permission_response`` behaviours.
ALLOW: Final = "allow"
DENY: Final = "deny"

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


# -- tool approval ----------------------------------------------------------------------


class PermissionWireError(ValueError):
    """A permission line or command that does not have the documented shape.

    Attributes:
        request_id: the request it is about, when that much could be read (then it
            can still be answered), else None.
    """

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class PermissionAsk(NamedTuple):
    """A ``permission_request`` line as read by :func:`read_permission_request` (snake_case)."""

    request_id: str
    tool_name: str
    input: dict[str, Any]
    tool_use_id: str | None
    suggestions: list[Any] | None
    raw: dict[str, Any] | None


class PermissionResponse(NamedTuple):
    """A ``permission_response`` command as read by :func:`read_permission_response`."""

    request_id: str
    allow: bool
    updated_input: dict[str, Any] | None
    """For ``allow``: the input to run the tool with instead, or None (run it as asked)."""
    message: str | None
    """For ``deny``: why, for the model."""


def _request_id(line: Mapping[str, Any], what: str) -> str:
    request_id = line.get("requestId")
    if not isinstance(request_id, str) or not request_id:
        raise PermissionWireError(f"{what} needs a non-empty string 'requestId'")
    return request_id


def permission_request_line(
    request_id: str,
    tool_name: str,
    tool_input: Mapping[str, Any],
    *,
    tool_use_id: str | None = None,
    suggestions: list[Any] | None = None,
    raw: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a ``permission_request`` line (runner -> manager); unset optional keys are omitted."""
    line: dict[str, Any] = {
        "type": PERMISSION_REQUEST,
        "requestId": request_id,
        "toolName": tool_name,
        "input": dict(tool_input),
    }
    if tool_use_id is not None:
        line["toolUseId"] = tool_use_id
    if suggestions is not None:
        line["suggestions"] = suggestions
    if raw is not None:
        line["raw"] = dict(raw)
    return line


def permission_cancel_line(request_id: str) -> dict[str, Any]:
    """Build a ``permission_cancel`` line (runner -> manager): the runner no longer waits for the answer."""
    return {"type": PERMISSION_CANCEL, "requestId": request_id}


def permission_response_command(
    request_id: str, *, allow: bool, updated_input: Mapping[str, Any] | None = None, message: str | None = None
) -> dict[str, Any]:
    """Build a ``permission_response`` command (manager -> runner).

    Args:
        request_id: the ``requestId`` of the request answered.
        allow: run the tool (``"behavior": "allow"``) or refuse it (``"deny"``).
        updated_input: with ``allow``, the input to run the tool with instead.
        message: with deny, the reason given to the model.
    """
    command: dict[str, Any] = {"type": PERMISSION_RESPONSE, "requestId": request_id}
    if allow:
        command["behavior"] = ALLOW
        if updated_input is not None:
            command["updatedInput"] = dict(updated_input)
    else:
        command["behavior"] = DENY
        command["message"] = message or "denied"
    return command


def read_permission_request(line: Mapping[str, Any]) -> PermissionAsk:
    """Read a ``permission_request`` line.

    Raises:
        PermissionWireError: a required key is missing or of the wrong type; its
            ``request_id`` is set when the line had a usable one.
    """
    request_id = _request_id(line, "permission_request")
    tool_name = line.get("toolName")
    if not isinstance(tool_name, str) or not tool_name:
        raise PermissionWireError("permission_request needs a non-empty string 'toolName'", request_id)
    tool_input = line.get("input")
    if not isinstance(tool_input, dict):
        raise PermissionWireError("permission_request needs an object 'input'", request_id)
    tool_use_id = line.get("toolUseId")
    suggestions = line.get("suggestions")
    raw = line.get("raw")
    return PermissionAsk(
        request_id,
        tool_name,
        tool_input,
        tool_use_id if isinstance(tool_use_id, str) else None,
        suggestions if isinstance(suggestions, list) else None,
        raw if isinstance(raw, dict) else None,
    )


def read_permission_cancel(line: Mapping[str, Any]) -> str:
    """The ``requestId`` a ``permission_cancel`` line withdraws.

    Raises:
        PermissionWireError: no usable ``requestId``.
    """
    return _request_id(line, "permission_cancel")


def read_permission_response(command: Mapping[str, Any]) -> PermissionResponse:
    """Read a ``permission_response`` command.

    Raises:
        PermissionWireError: no ``requestId``, an unknown ``behavior``, an
            ``updatedInput`` that is not an object, or a ``message`` that is not a string.
    """
    request_id = _request_id(command, "permission_response")
    behavior = command.get("behavior")
    if behavior == ALLOW:
        updated = command.get("updatedInput")
        if updated is not None and not isinstance(updated, dict):
            raise PermissionWireError("permission_response 'updatedInput' must be an object", request_id)
        return PermissionResponse(request_id, True, updated, None)
    if behavior == DENY:
        message = command.get("message")
        if message is not None and not isinstance(message, str):
            raise PermissionWireError("permission_response 'message' must be a string", request_id)
        return PermissionResponse(request_id, False, None, message or "denied")
    raise PermissionWireError(
        f"permission_response 'behavior' must be {ALLOW!r} or {DENY!r}, got {str(behavior)[:40]!r}", request_id
    )
