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

Keys are camelCase on the wire and snake_case in Python; :data:`OPTION_WIRE_NAMES`
is the one place that maps them. Both the manager and the runners import this module,
so the two sides cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Final, Mapping

import orjson

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
    "OPTION_WIRE_NAMES",
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

#: Runner output types that are protocol control rather than provider events.
CONTROL_TYPES: Final = frozenset({READY, PONG, AGENT_STARTED, AGENT_EVENT, AGENT_STOPPED, AGENT_ERROR, ERROR})

#: Python option name -> wire key, for the options of a session's first query.
OPTION_WIRE_NAMES: Final[Mapping[str, str]] = {
    "cwd": "cwd",
    "model": "model",
    "system_prompt": "systemPrompt",
    "max_turns": "maxTurns",
    "permission_mode": "permissionMode",
    "claude_config_dir": "claudeConfigDir",
    "extra_env": "extraEnv",
    "additional_directories": "additionalDirectories",
    "worktree_name": "worktreeName",
    "resume_session_id": "resumeSessionId",
    "provider_config": "providerConfig",
}
_PYTHON_NAMES: Final[Mapping[str, str]] = {wire: py for py, wire in OPTION_WIRE_NAMES.items()}

DEFAULT_PERMISSION_MODE: Final = "bypassPermissions"


def encode(message: Mapping[str, Any]) -> bytes:
    """Serialise one protocol message as a single NDJSON line (with its ``\\n``).

    orjson never emits a raw newline inside a JSON document (newlines in strings
    are escaped), so the result is always exactly one line.
    """
    return orjson.dumps(message) + b"\n"


def query_command(session_id: str, prompt: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build a ``query`` command.

    Args:
        session_id: the session the query belongs to.
        prompt: the user's prompt.
        options: for the first query only, the session options by their Python
            names (see :data:`OPTION_WIRE_NAMES`). Unset (``None``) options and
            empty lists/dicts are omitted; ``permission_mode`` defaults to
            ``"bypassPermissions"`` as in the seed. Follow-ups pass ``None``.

    Raises:
        KeyError: an option name that the protocol does not know.
    """
    command: dict[str, Any] = {"type": QUERY, "sessionId": session_id, "prompt": prompt}
    if options is None:
        return command
    for name, value in options.items():
        wire = OPTION_WIRE_NAMES[name]
        if value is None or (isinstance(value, (list, tuple, dict)) and not value):
            continue
        command[wire] = list(value) if isinstance(value, tuple) else value
    command.setdefault("permissionMode", DEFAULT_PERMISSION_MODE)
    return command


def stop_command(session_id: str) -> dict[str, Any]:
    """Build a ``stop`` command: end the current turn and exit."""
    return {"type": STOP, "sessionId": session_id}


def ping_command() -> dict[str, Any]:
    """Build a ``ping`` command; the runner answers ``pong``."""
    return {"type": PING}


def options_from_wire(command: Mapping[str, Any]) -> dict[str, Any]:
    """Return the session options carried by a ``query`` command, by Python name.

    Unknown keys are ignored, so newer managers can talk to older runners.
    """
    return {_PYTHON_NAMES[key]: value for key, value in command.items() if key in _PYTHON_NAMES}
