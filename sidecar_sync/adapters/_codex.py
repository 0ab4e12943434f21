"""Codex ``codex exec --json`` events -> AgentMessages.

Shapes are those of the real CLI (recordings of Codex 0.169.0 in
``tests/data/codex``) and of its published schema: ``ThreadEvent`` /
``ThreadItemDetails`` in ``codex-rs/exec/src/exec_events.rs`` and the SDK's
``sdk/typescript/src/{events,items}.ts`` (openai/codex).

Mapping (message ids are generated: Codex item ids ``item_0, item_1, ...``
restart in every process, so they are not unique across ``exec resume``):

- ``thread.started`` -> init (``session_id`` = ``thread_id``).
- ``turn.started`` -> status ``turn_started``.
- ``turn.completed`` -> cost from ``usage`` (no USD cost: ``total_cost_usd`` is
  None). Codex usage is **cumulative for the thread** and keeps growing across
  ``codex exec resume`` (20 after turn 1, 60 after the resumed turn in the
  recordings). A stream adapter remembers the last totals per ``thread_id`` and
  reports this turn's delta in ``input_tokens``/``output_tokens``/
  ``cached_input_tokens`` (a counter that goes down starts a new base), so a
  manager adding tokens per cost message gets the thread's true total. The raw
  cumulative object stays in ``usage``. Limits: the first ``turn.completed``
  of a thread seen by a stream counts everything the thread used before (a
  session that starts by resuming an older thread has no earlier baseline);
  stateless :func:`~sidecar_sync.adapters.parse_message` reports the cumulative
  figures as they are.
- ``turn.failed`` (``error.message``) and top-level ``error`` (``message``; also
  the ``Reconnecting... n/5`` retry notices) -> error.
- ``item.*`` by ``item.type``:

  - ``agent_message`` -> text, ``reasoning`` -> thinking, ``plan`` -> text
    (completed only).
  - ``command_execution`` -> tool_call ``Bash`` ``{"command": ...}`` when it
    starts, and on completion tool_result (``aggregated_output``; ``is_error``
    when the status is ``failed``/``declined`` or the exit code is not 0;
    ``structured`` = the item, with ``exit_code`` and ``status``). A stream
    adapter emits the tool_call once per item (on completion only if it never
    saw the start); stateless parsing emits it on both.
  - ``file_change`` (completed) -> per change a tool_call (``Write`` for
    ``add``, ``Edit`` for ``update``, ``Delete`` for ``delete``; input
    ``{"file_path", "kind"}``) and a tool_result ("added <path>", ...;
    ``is_error`` when the patch failed). ``tool_use_id`` is ``<item id>:<n>``.
  - ``mcp_tool_call`` -> tool_call ``<server>:<tool>`` with ``arguments``, and
    on completion a tool_result: ``result.content`` (MCP content blocks) or
    ``error.message``, ``structured`` = ``result.structured_content``.
  - ``web_search`` -> tool_call ``WebSearch`` ``{"query", "action"?}`` (on start
    when the query is known, else on completion) and on completion a
    tool_result with no output (``structured`` = the item): the search is done.
  - ``todo_list`` -> status ``todo_list`` ("To-do list: 1/3 done"), ``data`` =
    the item with its ``items``.
  - ``error`` -> error.
  - any other item type -> unknown.
- anything else (``request_user_input``, ``item.plan.delta``, future types) -> unknown.
"""

from __future__ import annotations

from typing import Any, Final

from ..messages import (
    COST,
    ERROR,
    INIT,
    STATUS,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    AgentMessage,
    CostContent,
    ErrorContent,
    InitContent,
    StatusContent,
    TextContent,
    ThinkingContent,
    ToolCallContent,
    ToolResultContent,
    new_message_id,
    unknown_message,
)
from ._common import EMPTY, DispatchStreamAdapter, as_count, as_dict, as_str, str_or_none

__all__ = ["CodexStreamAdapter"]

_STARTED, _UPDATED, _COMPLETED = 0, 1, 2
_PHASES: Final = {"item.started": _STARTED, "item.updated": _UPDATED, "item.completed": _COMPLETED}
_FILE_TOOLS: Final = {"add": ("Write", "added"), "update": ("Edit", "updated"), "delete": ("Delete", "deleted")}
_FAILED_STATUSES: Final = frozenset({"failed", "declined"})


def _failed(item: dict[str, Any]) -> bool:
    status = item.get("status")
    return type(status) is str and status in _FAILED_STATUSES


class CodexStreamAdapter(DispatchStreamAdapter):
    """Stream adapter for ``codex exec --json`` output.

    Args:
        provider: the name to report in logs.
        stateful: keep per-stream state (per-turn token deltas, one tool_call
            per item). ``False`` gives the stateless behaviour of
            :func:`~sidecar_sync.adapters.parse_message`; such an instance never
            mutates itself, so one can be shared between threads.
    """

    __slots__ = ("_stateful", "_thread_id", "_totals", "_announced", "_items")

    def __init__(self, provider: str = "codex", *, stateful: bool = True) -> None:
        super().__init__(
            provider,
            {
                "thread.started": self._thread_started,
                "turn.started": self._turn_started,
                "turn.completed": self._turn_completed,
                "turn.failed": self._turn_failed,
                "error": self._error,
                "item.started": self._item,
                "item.updated": self._item,
                "item.completed": self._item,
            },
        )
        self._stateful = stateful
        self._thread_id: str | None = None
        # thread id -> last cumulative (input, cached input, output) tokens
        self._totals: dict[str | None, tuple[int, int, int]] = {}
        # ids of the items of this turn whose tool_call was already emitted
        self._announced: set[str] = set()
        self._items = {
            "agent_message": self._agent_message,
            "reasoning": self._reasoning,
            "plan": self._agent_message,
            "command_execution": self._command_execution,
            "file_change": self._file_change,
            "mcp_tool_call": self._mcp_tool_call,
            "web_search": self._web_search,
            "todo_list": self._todo_list,
            "error": self._item_error,
        }

    # -- thread and turn events --------------------------------------------------------

    def _thread_started(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        thread_id = str_or_none(event.get("thread_id"))
        if self._stateful:
            self._thread_id = thread_id
            self._announced.clear()
        content = InitContent(thread_id, agent_version=str_or_none(event.get("agent_version")))
        out.append(AgentMessage(new_message_id(), INIT, content, None, ts))

    def _turn_started(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        if self._stateful:
            self._announced.clear()
        out.append(AgentMessage(new_message_id(), STATUS, StatusContent("turn_started", "Turn started"), None, ts))

    def _turn_completed(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        usage = event.get("usage")
        if type(usage) is not dict:
            usage = EMPTY
        total_in = as_count(usage.get("input_tokens"))
        total_cached = as_count(usage.get("cached_input_tokens"))
        total_out = as_count(usage.get("output_tokens"))
        tokens_in, tokens_cached, tokens_out = total_in, total_cached, total_out
        if self._stateful:
            previous = self._totals.get(self._thread_id)
            self._totals[self._thread_id] = (total_in, total_cached, total_out)
            if previous is not None:
                # A counter that went down is a new base (a new thread under the same id).
                if total_in >= previous[0]:
                    tokens_in = total_in - previous[0]
                if total_cached >= previous[1]:
                    tokens_cached = total_cached - previous[1]
                if total_out >= previous[2]:
                    tokens_out = total_out - previous[2]
        content = CostContent(
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cached_input_tokens=tokens_cached,
            usage=usage if usage is not EMPTY else None,
        )
        out.append(AgentMessage(new_message_id(), COST, content, None, ts))

    def _turn_failed(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        error = event.get("error")
        message = error.get("message") if type(error) is dict else error
        text = message if type(message) is str and message else "turn failed"
        out.append(AgentMessage(new_message_id(), ERROR, ErrorContent(text), None, ts))

    def _error(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        message = event.get("message")
        text = message if type(message) is str and message else "error"
        out.append(AgentMessage(new_message_id(), ERROR, ErrorContent(text), None, ts))

    # -- items -------------------------------------------------------------------------

    def _item(self, event: dict[str, Any], out: list[AgentMessage], ts: int) -> None:
        item = event.get("item")
        kind = item.get("type") if type(item) is dict else None
        handler = self._items.get(kind) if type(kind) is str else None
        if handler is None or type(item) is not dict:
            out.append(unknown_message(event, ts))
            return
        handler(item, _PHASES[event["type"]], out, ts)

    def _call_due(self, item_id: str | None, phase: int) -> bool:
        """Whether to emit this item's tool_call now.

        A stream adapter emits it once per item, at the first event it sees of
        the item; stateless parsing emits it on ``item.started`` and again on
        ``item.completed`` (it cannot know whether the start was seen).
        """
        if not self._stateful or item_id is None:
            return phase != _UPDATED
        if item_id in self._announced:
            return False
        self._announced.add(item_id)
        return True

    def _agent_message(self, item: dict[str, Any], phase: int, out: list[AgentMessage], ts: int) -> None:
        if phase == _COMPLETED:
            out.append(AgentMessage(new_message_id(), TEXT, TextContent(as_str(item.get("text"))), None, ts))

    def _reasoning(self, item: dict[str, Any], phase: int, out: list[AgentMessage], ts: int) -> None:
        if phase == _COMPLETED:
            out.append(AgentMessage(new_message_id(), THINKING, ThinkingContent(as_str(item.get("text"))), None, ts))

    def _command_execution(self, item: dict[str, Any], phase: int, out: list[AgentMessage], ts: int) -> None:
        item_id = str_or_none(item.get("id"))
        if self._call_due(item_id, phase):
            call = ToolCallContent(item_id, "Bash", {"command": as_str(item.get("command"))})
            out.append(AgentMessage(new_message_id(), TOOL_CALL, call, None, ts))
        if phase == _COMPLETED:
            exit_code = item.get("exit_code")
            failed = _failed(item) or (type(exit_code) is int and exit_code != 0)
            result = ToolResultContent(item_id, as_str(item.get("aggregated_output")), failed, item)
            out.append(AgentMessage(new_message_id(), TOOL_RESULT, result, None, ts))

    def _file_change(self, item: dict[str, Any], phase: int, out: list[AgentMessage], ts: int) -> None:
        if phase != _COMPLETED:
            return
        changes = item.get("changes")
        if type(changes) is not list:
            return
        item_id = as_str(item.get("id"), "file_change")
        failed = _failed(item)
        for n, change in enumerate(changes):
            change = as_dict(change)
            path = as_str(change.get("path"))
            kind = as_str(change.get("kind"), "update")
            tool, verb = _FILE_TOOLS.get(kind, ("Edit", kind or "changed"))
            tool_use_id = f"{item_id}:{n}"
            call = ToolCallContent(tool_use_id, tool, {"file_path": path, "kind": kind})
            out.append(AgentMessage(new_message_id(), TOOL_CALL, call, None, ts))
            result = ToolResultContent(tool_use_id, f"{'failed: ' if failed else ''}{verb} {path}", failed, change)
            out.append(AgentMessage(new_message_id(), TOOL_RESULT, result, None, ts))

    def _mcp_tool_call(self, item: dict[str, Any], phase: int, out: list[AgentMessage], ts: int) -> None:
        item_id = str_or_none(item.get("id"))
        if self._call_due(item_id, phase):
            name = f"{as_str(item.get('server'))}:{as_str(item.get('tool'))}"
            call = ToolCallContent(item_id, name, item.get("arguments"))
            out.append(AgentMessage(new_message_id(), TOOL_CALL, call, None, ts))
        if phase == _COMPLETED:
            result = item.get("result")
            error = item.get("error")
            if type(result) is dict:
                output: Any = result.get("content")
                structured = result.get("structured_content")
            else:
                output = error.get("message") if type(error) is dict else None
                structured = None
            failed = _failed(item) or type(error) is dict
            content = ToolResultContent(item_id, output, failed, structured)
            out.append(AgentMessage(new_message_id(), TOOL_RESULT, content, None, ts))

    def _web_search(self, item: dict[str, Any], phase: int, out: list[AgentMessage], ts: int) -> None:
        item_id = str_or_none(item.get("id"))
        query = as_str(item.get("query"))
        if (phase == _COMPLETED or query) and self._call_due(item_id, phase):
            tool_input: dict[str, Any] = {"query": query}
            action = item.get("action")
            if action is not None:
                tool_input["action"] = action
            call = ToolCallContent(item_id, "WebSearch", tool_input)
            out.append(AgentMessage(new_message_id(), TOOL_CALL, call, None, ts))
        if phase == _COMPLETED:
            content = ToolResultContent(item_id, None, False, item)
            out.append(AgentMessage(new_message_id(), TOOL_RESULT, content, None, ts))

    def _todo_list(self, item: dict[str, Any], phase: int, out: list[AgentMessage], ts: int) -> None:
        items = item.get("items")
        entries = items if type(items) is list else []
        done = sum(1 for entry in entries if type(entry) is dict and entry.get("completed") is True)
        text = f"To-do list: {done}/{len(entries)} done"
        out.append(AgentMessage(new_message_id(), STATUS, StatusContent("todo_list", text, item), None, ts))

    def _item_error(self, item: dict[str, Any], phase: int, out: list[AgentMessage], ts: int) -> None:
        message = item.get("message")
        text = message if type(message) is str and message else "error"
        out.append(AgentMessage(new_message_id(), ERROR, ErrorContent(text), None, ts))
