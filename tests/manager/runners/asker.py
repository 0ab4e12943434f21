"""A runner that asks for tool approval as its prompt says: the manager side of the permission pair, tested.

Run as ``python asker.py`` (the manager registers it as a custom provider). Built
on the runner framework, so :meth:`Turn.ask_permission` and
:meth:`Runner.permission_response` are exercised as a custom runner would use them.

The prompt is a JSON object (keys optional):

``ask``       list of ``{"tool": name, "input": {...}}``: permission requests, all sent
              at once (ids ``t<turn>-<i>``), each after a ``tool_use`` event for it
``between``   text of an assistant event written after the requests, before any answer
``cancel``    indexes of requests withdrawn (``permission_cancel``) right after sending
``end``       true: end the turn at once, without waiting for answers
``raw``       list of lines written as they are, before the requests (malformed ones)
``options``   true: first, a bare event ``{"type": "options", ...}`` with the session options

Every answer becomes an assistant text event ``answer <json>`` (requestId, allow,
updatedInput, message), in the order the answers came; the turn ends once every
request not withdrawn was answered, or at stop.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import orjson

from sidecar_sync.runners._base import PermissionResponse, Runner, Turn, run


def assistant(turn: Turn, text: str) -> dict[str, Any]:
    """A Claude-shaped assistant event holding one text block."""
    return {
        "type": "assistant",
        "message": {"id": f"m{turn.number}", "role": "assistant", "content": [{"type": "text", "text": text}]},
        "session_id": turn.session_id,
    }


def tool_use(turn: Turn, tool_use_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    """A Claude-shaped assistant event holding one tool_use block."""
    block = {"type": "tool_use", "id": tool_use_id, "name": name, "input": tool_input}
    return {
        "type": "assistant",
        "message": {"id": f"m{turn.number}", "role": "assistant", "content": [block]},
        "session_id": turn.session_id,
    }


class AskerRunner(Runner):
    name = "asker"

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()
        self._answers: list[PermissionResponse] = []

    def permission_response(self, response: PermissionResponse) -> None:
        with self._cond:
            self._answers.append(response)
            self._cond.notify_all()

    def interrupt(self, turn: Turn) -> None:
        with self._cond:
            self._cond.notify_all()

    def run_turn(self, turn: Turn) -> None:
        script = json.loads(turn.prompt)
        if script.get("options"):
            options = turn.options
            turn.emit({
                "type": "options",
                "permissionMode": options.permission_mode,
                "permissionPrompt": options.permission_prompt,
            })  # fmt: skip
        for line in script.get("raw", []):
            turn.write(orjson.dumps(line) + b"\n")
        asked: list[str] = []
        for index, ask in enumerate(script.get("ask", [])):
            request_id = f"t{turn.number}-{index}"
            tool_use_id = f"toolu_{turn.number}_{index}"
            turn.emit(tool_use(turn, tool_use_id, ask["tool"], ask["input"]))
            turn.ask_permission(
                request_id, ask["tool"], ask["input"], tool_use_id=tool_use_id,
                suggestions=[{"type": "setMode", "mode": "acceptEdits"}], raw={"asked": index},
            )  # fmt: skip
            asked.append(request_id)
        withdrawn = {asked[i] for i in script.get("cancel", [])}
        for request_id in withdrawn:
            turn.withdraw_permission(request_id)
        if "between" in script:
            turn.emit(assistant(turn, script["between"]))
        if script.get("end"):
            return
        waiting = set(asked) - withdrawn
        while waiting and not turn.stopped:
            with self._cond:
                while not self._answers and not turn.stopped:
                    self._cond.wait()
                answers, self._answers = self._answers, []
            for answer in answers:
                waiting.discard(answer.request_id)
                record = {
                    "requestId": answer.request_id,
                    "allow": answer.allow,
                    "updatedInput": answer.updated_input,
                    "message": answer.message,
                }
                turn.emit(assistant(turn, "answer " + json.dumps(record, sort_keys=True)))


if __name__ == "__main__":
    run(AskerRunner)
