"""The ``echo`` runner: a deterministic local agent, the embedded default provider.

It needs no external program and no network, so every feature of the manager can
be exercised on a fresh machine. Each query is answered in Claude Code
``--output-format stream-json`` shape (see tests/data/claude/claude_plain.jsonl),
so the claude adapter reads it::

    {"type":"system","subtype":"init","session_id":S,"model":"echo","cwd":..,"tools":[],..}
    {"type":"assistant","message":{"content":[{"type":"text","text":PROMPT}],..},..}   (x chunks)
    {"type":"result","subtype":"success","is_error":false,"total_cost_usd":0,"result":PROMPT,..}

each wrapped in ``agent_event``. The session id is the query's ``sessionId`` (or
``resumeSessionId`` when given); uuids and message ids derive from the session id
and the turn number, and durations are nominal (from ``delay``), so the same
queries always give byte-identical output.

A stopped turn ends like an interrupted Claude turn: a ``user`` line
``[Request interrupted by user]`` and a ``result`` with subtype
``error_during_execution``, ``is_error`` true, ``terminal_reason``
``aborted_streaming``.

``providerConfig`` keys (all optional):

``delay`` (number, seconds, 0-60, default 0)
    Pause before each assistant chunk and before the result: a slow turn that
    ``stop`` can interrupt.
``chunks`` (integer, 1-10_000_000, default 1)
    How many assistant lines (the same message id, one per "content block").
    With ``delay`` 0 they are written in large blocks: a throughput source.
``fail`` (string)
    After the init line, fail the turn with ``agent_error`` carrying this message.
``exitCode`` (integer, 0-255)
    After the init line, exit the runner process at once with this code (no
    final line): a crashing runner.
``stderr`` (string)
    Written to the runner's stderr (one line) at the start of each turn.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

import orjson

from sidecar_sync import __version__

from ._base import ProviderConfig, Runner, SessionOptions, Turn, TurnError, run

__all__ = ["EchoRunner", "turn_ids"]

MODEL = "echo"
#: What a session run on this runner reports as its agent (``SessionState.agent_version``).
AGENT_VERSION = f"sidecar_sync echo {__version__}"
_EVENT_HEAD = b'{"type":"agent_event","event":'
_EVENT_TAIL = b"}\n"
_UUID_SLOT = "u" * 36


def turn_ids(session_id: str, turn: int) -> tuple[str, str]:
    """The deterministic id material of a turn: ``(uuid_prefix, message_id)``.

    ``uuid_prefix + f"{n:012x}"`` is the uuid of the turn's n-th line.
    """
    digest = hashlib.sha1(f"echo\0{session_id}\0{turn}".encode()).hexdigest()
    prefix = f"{digest[0:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-"
    return prefix, f"msg_echo_{digest[20:40]}"


class EchoRunner(Runner):
    """Answers every query by echoing its prompt, in Claude stream-json shape."""

    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0
        self.chunks = 1
        self.fail: str | None = None
        self.exit_code: int | None = None
        self.stderr_line: str | None = None

    def configure(self, options: SessionOptions) -> None:
        config = ProviderConfig(options.provider_config, self.name)
        self.delay = config.get_float("delay", 0.0, minimum=0.0, maximum=60.0)
        self.chunks = config.get_int("chunks", 1, minimum=1, maximum=10_000_000)
        self.fail = config.get_str("fail")
        self.exit_code = config.get_int("exitCode", None, minimum=0, maximum=255)
        self.stderr_line = config.get_str("stderr")
        config.warn_unused()

    def run_turn(self, turn: Turn) -> None:
        options = turn.options
        session_id = options.resume_session_id or turn.session_id
        prefix, message_id = turn_ids(session_id, turn.number)
        seq = 0

        def next_uuid() -> str:
            nonlocal seq
            seq += 1
            return f"{prefix}{seq:012x}"

        if self.stderr_line is not None:
            sys.stderr.write(self.stderr_line + "\n")
            sys.stderr.flush()

        turn.emit(
            {
                "type": "system",
                "subtype": "init",
                "cwd": options.cwd or os.getcwd(),
                "session_id": session_id,
                "tools": [],
                "mcp_servers": [],
                "model": MODEL,
                "permissionMode": options.permission_mode or "default",
                "apiKeySource": "none",
                "agent_version": AGENT_VERSION,
                "uuid": next_uuid(),
            }
        )
        if self.exit_code is not None:
            os._exit(self.exit_code)  # a crash on purpose: no final line, no cleanup
        if self.fail is not None:
            raise TurnError(self.fail)

        assistant = {
            "type": "assistant",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [{"type": "text", "text": turn.prompt}],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            },
            "parent_tool_use_id": None,
            "session_id": session_id,
            "uuid": _UUID_SLOT,
        }
        # Encode once, then splice each chunk's uuid in: no per-line serialisation.
        head, tail = (_EVENT_HEAD + orjson.dumps(assistant) + _EVENT_TAIL).split(_UUID_SLOT.encode())
        if self.delay > 0:
            for _ in range(self.chunks):
                if turn.sleep(self.delay):
                    return self._interrupted(turn, session_id, next_uuid)
                turn.write(head + next_uuid().encode() + tail)
            if turn.sleep(self.delay):
                return self._interrupted(turn, session_id, next_uuid)
        else:
            remaining = self.chunks
            while remaining:
                count = min(remaining, 2048)
                block = b"".join([head + next_uuid().encode() + tail for _ in range(count)])
                remaining -= count
                if not turn.write(block) or turn.stopped:
                    return self._interrupted(turn, session_id, next_uuid)
        turn.emit(self._result(turn, session_id, next_uuid(), interrupted=False))

    def _interrupted(self, turn: Turn, session_id: str, next_uuid: Any) -> None:
        turn.emit(
            {
                "type": "user",
                "message": {"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user]"}]},
                "parent_tool_use_id": None,
                "session_id": session_id,
                "uuid": next_uuid(),
            }
        )
        turn.emit(self._result(turn, session_id, next_uuid(), interrupted=True))

    def _result(self, turn: Turn, session_id: str, uuid: str, *, interrupted: bool) -> dict[str, Any]:
        return {
            "type": "result",
            "subtype": "error_during_execution" if interrupted else "success",
            "is_error": interrupted,
            "duration_ms": round(self.delay * (self.chunks + 1) * 1000),
            "duration_api_ms": 0,
            "num_turns": 1,
            "result": "" if interrupted else turn.prompt,
            "session_id": session_id,
            "total_cost_usd": 0,
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
            "permission_denials": [],
            "stop_reason": None if interrupted else "end_turn",
            "terminal_reason": "aborted_streaming" if interrupted else "completed",
            "uuid": uuid,
        }


if __name__ == "__main__":
    run(EchoRunner, sys.argv[1:])
