"""The Claude adapter's ``system`` status lines, each text compared word for word.

Mutation testing found most of these texts unchecked: retries (status code or connection
error, reason, attempt count, delay), permission denials, the ``status`` line, and any
other subtype. Every case checks the whole :class:`StatusContent`, the raw event included.
An ``init`` line's agent version (the CLI's, or the runner's own), a compaction's trigger and a
line without a subtype are here too.
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import CompactionContent, InitContent, StatusContent

RETRY = "API connection error; retry"

CASES: list[tuple[dict[str, Any], str, str]] = [
    # api_retry: "<code>[ (<error>)]; retry[ <attempt>/<limit>][ in <s> s]"
    (
        {"error_status": 529, "error": "overloaded", "attempt": 2, "max_retries": 10, "retry_delay_ms": 1250},
        "api_retry",
        "API error 529 (overloaded); retry 2/10 in 1.2 s",
    ),
    ({"error_status": None, "error": "", "attempt": 1, "max_retries": None}, "api_retry", RETRY),
    ({"error_status": "529", "error": 7, "attempt": "1", "max_retries": 3}, "api_retry", RETRY),
    ({"attempt": 3, "max_retries": "10", "retry_delay_ms": 2500.0}, "api_retry", f"{RETRY} in 2.5 s"),
    ({"retry_delay_ms": 999}, "api_retry", "API connection error; retry in 1.0 s"),
    ({"retry_delay_ms": 1051}, "api_retry", "API connection error; retry in 1.1 s"),
    ({"retry_delay_ms": "soon"}, "api_retry", "API connection error; retry"),
    ({"retry_delay_ms": True}, "api_retry", "API connection error; retry"),
    ({"retry_delay_ms": float("inf")}, "api_retry", "API connection error; retry"),
    ({"retry_delay_ms": float("nan")}, "api_retry", "API connection error; retry"),
    # permission_denied: "Permission denied: <tool>[: <message>]"
    (
        {"tool_name": "Bash", "message": "not in allow list"},
        "permission_denied",
        "Permission denied: Bash: not in allow list",
    ),
    ({"tool_name": 5, "message": ""}, "permission_denied", "Permission denied: a tool"),
    ({"message": 3}, "permission_denied", "Permission denied: a tool"),
    # status: the known ones in words, others as they came, none at all "Ready"
    ({}, "status", "Ready"),
    ({"status": None}, "status", "Ready"),
    ({"status": "compacting"}, "status", "Compacting the conversation"),
    ({"status": "requesting"}, "status", "Requesting a model response"),
    ({"status": "thinking_hard"}, "status", "thinking_hard"),
    ({"status": 4}, "status", "status"),
    ({"status": ""}, "status", ""),  # an empty status stays empty (as_str keeps any string)
    # any other subtype: its name in words
    ({"detail": 1}, "hook_started", "hook started"),
]


@pytest.mark.parametrize(("fields", "subtype", "text"), CASES)
def test_a_status_line_in_words(fields: dict[str, Any], subtype: str, text: str) -> None:
    event = {"type": "system", "subtype": subtype, "uuid": "u-1", **fields}
    for messages in (parse_message("claude", event), new_stream_adapter("claude").adapt(event)):
        assert [(m.id, m.type, m.content) for m in messages] == [("u-1", "status", StatusContent(subtype, text, event))]


@pytest.mark.parametrize(
    ("fields", "version"),
    [
        ({"claude_code_version": "2.1.330", "agent_version": "my runner 1"}, "Claude Code 2.1.330"),
        ({"agent_version": "my runner 1"}, "my runner 1"),  # a runner that names its agent itself
        ({"claude_code_version": "", "agent_version": "my runner 1"}, "my runner 1"),
        ({"claude_code_version": 2, "agent_version": "my runner 1"}, "my runner 1"),
        ({"claude_code_version": 2}, None),
        ({"agent_version": 3}, None),
    ],
)
def test_an_init_lines_agent_version(fields: dict[str, Any], version: str | None) -> None:
    """``claude_code_version`` as "Claude Code <version>", else the runner's own ``agent_version``."""
    event = {"type": "system", "subtype": "init", "session_id": "s-1", "uuid": "u-1", **fields}
    init = InitContent("s-1", agent_version=version)
    for messages in (parse_message("claude", event), new_stream_adapter("claude").adapt(event)):
        assert [(m.id, m.type, m.content) for m in messages] == [("u-1", "init", init)]


@pytest.mark.parametrize(
    ("metadata", "content"),
    [
        ({"trigger": "auto", "pre_tokens": 180000}, CompactionContent("auto", 180000)),
        ({"trigger": 5, "pre_tokens": "many"}, CompactionContent("unknown", 0)),
        (None, CompactionContent("unknown", 0)),
    ],
)
def test_a_compact_boundary_names_its_trigger_or_unknown(metadata: Any, content: CompactionContent) -> None:
    event = {"type": "system", "subtype": "compact_boundary", "uuid": "u-1", "compact_metadata": metadata}
    for messages in (parse_message("claude", event), new_stream_adapter("claude").adapt(event)):
        assert [(m.id, m.type, m.content) for m in messages] == [("u-1", "compaction", content)]


@pytest.mark.parametrize("subtype", [None, "", 5])
def test_a_system_line_without_a_subtype_is_passed_on_whole(subtype: Any) -> None:
    event = {"type": "system", "subtype": subtype, "uuid": "u-1"}
    for messages in (parse_message("claude", event), new_stream_adapter("claude").adapt(event)):
        assert [(m.id, m.type, m.content) for m in messages] == [("u-1", "unknown", event)]
