"""Seeded, realistic Claude Code stream-json transcripts for benchmarks and flood tests.

The lines have the exact shapes the real CLI prints with ``--output-format stream-json
--verbose --include-partial-messages`` (see the recordings in
``tests/data/claude/``): ``system/init`` (~2.9 KB), ``system/status`` and the
occasional ``system/api_retry``; per model call a ``stream_event`` sequence
(message_start, content_block_start, many ~300 B deltas, content_block_stop,
message_delta, message_stop) with one ``assistant`` line per content block (thinking,
text, tool_use) sharing ``message.id``; ``user`` tool_result lines with a structured
``tool_use_result``; and a ``result`` line with ``usage`` and ``total_cost_usd`` closing
each turn. A transcript is one session of several turns (init ... result cycles, same
``session_id``, as in ``--input-format stream-json`` mode).

Variants (tool result sizes are whole-line sizes in bytes):

* ``small``: mostly ~300 B stream events; tool results 400 B - 2 KB.
* ``mixed``: the same mostly-small stream plus tool results log-uniform from 1 KB to
  5 MB (so most *bytes* are in big lines while most *lines* are small).
* ``flood``: tool-heavy turns, results log-uniform 16 KB - 1,000,000 B (every line
  stays under 1 MiB, so line-limited peers can run it too): a byte flood of valid lines.

``big_line=N`` adds one Bash tool result line of exactly ``N`` bytes early in the
transcript (e.g. 12 MiB, over the default 10 MiB line cap).

Speed: a pool of model-call blocks is rendered once (with orjson, so every string is
properly escaped) and then sampled; big tool results are cut from a pre-escaped text
corpus at line boundaries, so a 1 GB file takes seconds.

CLI::

    python bench/transcript.py --variant mixed --size 1G --seed 1 -o bench/.cache/mixed-1G.ndjson [--gzip]

Python::

    from bench.transcript import generate, build_block, ensure
    info = generate("out.ndjson", "mixed", 1 << 30, seed=1)   # also writes out.ndjson.meta.json
    data, info = build_block("small", 4 << 20, seed=7)         # bytes in memory
    path, info = ensure("flood", 64 << 20, seed=1)             # cached under bench/.cache/
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import gzip as _gzip
import math
import os
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final

import orjson

__all__ = [
    "VARIANTS",
    "KINDS",
    "STREAM_KINDS",
    "stream_kind",
    "TranscriptInfo",
    "build_block",
    "generate",
    "ensure",
    "iter_chunks",
    "parse_size",
    "CACHE_DIR",
    "main",
]

CACHE_DIR: Final = Path(__file__).resolve().parent / ".cache"

#: Line kinds counted in :class:`TranscriptInfo`; each line is exactly one of these.
KINDS: Final = (
    "system/init",
    "system/status",
    "system/api_retry",
    "stream_event",
    "assistant/thinking",
    "assistant/text",
    "assistant/tool_use",
    "user/tool_result",
    "result",
)
_K = {k: i for i, k in enumerate(KINDS)}

#: ``stream_event`` lines by inner event (deltas by delta type), for adapters that
#: treat them differently (e.g. text deltas -> text, the rest -> unknown).
STREAM_KINDS: Final = (
    "message_start",
    "content_block_start",
    "text_delta",
    "thinking_delta",
    "signature_delta",
    "input_json_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
)
_SK = {k: i for i, k in enumerate(STREAM_KINDS)}


def stream_kind(event: dict[str, Any]) -> str:
    """The :data:`STREAM_KINDS` entry of a ``stream_event`` line."""
    inner = event["event"]
    if inner["type"] == "content_block_delta":
        return str(inner["delta"]["type"])
    return str(inner["type"])

MODEL: Final = "claude-opus-5-5"
CWD: Final = "/home/dev/project-root/work"


@dataclasses.dataclass(frozen=True)
class _Variant:
    name: str
    result_min: int  # tool result line size range, bytes
    result_max: int
    calls: tuple[int, int]  # model calls per turn
    thinking_p: float
    text_p: float
    tool_p: float  # chance a (non-final) call uses a tool
    thinking_deltas: tuple[int, int]
    text_deltas: tuple[int, int]
    json_deltas: tuple[int, int]
    retry_p: float


_VARIANTS: Final = {
    "small": _Variant("small", 400, 2048, (1, 6), 0.3, 0.9, 0.7, (8, 40), (5, 60), (3, 12), 0.02),
    "mixed": _Variant("mixed", 1024, 5 * 2**20, (1, 6), 0.3, 0.9, 0.7, (8, 40), (5, 60), (3, 12), 0.02),
    "flood": _Variant("flood", 16 * 1024, 1_000_000, (2, 8), 0.1, 0.5, 1.0, (2, 8), (2, 10), (2, 4), 0.0),
}
VARIANTS: Final = tuple(_VARIANTS)


# ── Info ────────────────────────────────────────────────────────────────────


@dataclasses.dataclass
class TranscriptInfo:
    """What a generated transcript holds: enough to check a consumer's counts.

    ``counts`` maps each of :data:`KINDS` to its number of lines, ``stream_counts``
    splits the ``stream_event`` lines by :data:`STREAM_KINDS`. ``samples`` and
    ``stream_samples`` hold one small representative line (parsed) per kind present, so a
    harness can compute the messages any adapter should produce: see
    :meth:`expected_messages`.
    """

    variant: str
    seed: int
    target_size: int
    big_line: int | None
    bytes: int = 0
    lines: int = 0
    turns: int = 0
    max_line: int = 0
    lines_over_1mib: int = 0
    lines_over_10mib: int = 0
    counts: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    stream_counts: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(STREAM_KINDS, 0))
    samples: dict[str, Any] = dataclasses.field(default_factory=dict)
    stream_samples: dict[str, Any] = dataclasses.field(default_factory=dict)

    def expected_messages(
        self, parse: Callable[[dict[str, Any]], list[Any]], *, max_line: int | None = None, repeat: int = 1
    ) -> int:
        """Messages an adapter ``parse(event) -> list`` yields for the whole transcript.

        Args:
            parse: the adapter, e.g. ``lambda e: parse_message("claude", e)``.
            max_line: a consumer's line cap; lines longer than it (only ``user/tool_result``
                lines ever are) are assumed dropped. ``None`` means no cap.
            repeat: the transcript is emitted this many times back to back.

        Returns:
            The expected message count.
        """
        total = 0
        for kind, n in self.counts.items():
            if n and kind != "stream_event":
                total += n * len(parse(self.samples[kind]))
        for kind, n in self.stream_counts.items():
            if n:
                total += n * len(parse(self.stream_samples[kind]))
        if max_line is not None:
            dropped = self.lines_over(max_line)
            total -= dropped * len(parse(self.samples["user/tool_result"]))
        return total * repeat

    def lines_over(self, limit: int) -> int:
        """Number of lines longer than ``limit`` bytes (exact for the thresholds recorded)."""
        if limit >= self.max_line:
            return 0
        if limit == 2**20:
            return self.lines_over_1mib
        if limit == 10 * 2**20:
            return self.lines_over_10mib
        raise ValueError(f"line counts are recorded for 1 MiB and 10 MiB caps only, not {limit}")

    def to_json(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes | str) -> TranscriptInfo:
        return cls(**orjson.loads(data))

    @classmethod
    def load(cls, transcript_path: str | os.PathLike[str]) -> TranscriptInfo:
        """Read the ``.meta.json`` written beside a transcript by :func:`generate`."""
        return cls.from_json(Path(_meta_path(transcript_path)).read_bytes())


def _meta_path(path: str | os.PathLike[str]) -> str:
    return os.fspath(path) + ".meta.json"


# ── Text: prose for deltas, a pre-escaped corpus for tool results ──────────────

_WORD_TEXT: Final = (
    "the a an of to in for on with as by at from into over under between after before "
    "file files function functions module class method test tests error errors value values "
    "config parser buffer stream line lines event events session sessions runner process "
    "thread threads lock queue cache index path paths request response server client token "
    "tokens cost usage output input result results read write call calls return returns "
    "check checks fix fixes update updates change changes add adds remove removes run runs "
    "build builds pass passes fail fails missing invalid empty large small first last next "
    "previous current new old same different because so then now here there this that these "
    "those it its we I you they should could would will can may might must need needs looks "
    "seems probably clearly also only still just already again instead rather than and or but "
    "not no yes when while where which what why how let me see check the implementation "
    "handles edge case correctly timeout retry backoff signal exit code status message "
    "messages payload JSON NDJSON UTF-8 newline framing decoder adapter callback handler "
    "refactor rename extract inline simplify measure profile benchmark regression memory "
    "peak RSS latency throughput concurrency deadlock race condition cleanup shutdown"
)
_WORDS: Final = _WORD_TEXT.split()

_IDENT_TEXT: Final = (
    "session_id buffer framer decoder line_count max_line_size pending events chunk data "
    "result state status callback handler runner proc env path cwd options timeout retries "
    "total_cost input_tokens output_tokens message parent_id tool_use_id payload offset"
)
_IDENTS: Final = _IDENT_TEXT.split()

_ODD: Final = ('"quoted"', "C:\\\\temp\\\\x", "tab\there", "naïve", "café", "—", "✓", "日本語", "→", "€5", "\\n")


def _prose(rng: random.Random, n_words: int) -> str:
    words = rng.choices(_WORDS, k=n_words)
    if rng.random() < 0.3:
        words[rng.randrange(n_words)] = rng.choice(_ODD)
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", ":", "?", ".\n\n"))


def _code_line(rng: random.Random, n: int) -> str:
    a, b, c = rng.choice(_IDENTS), rng.choice(_IDENTS), rng.choice(_IDENTS)
    r = rng.random()
    if r < 0.12:
        body = f"def {a}_{b}(self, {c}: int = {n % 97}) -> dict[str, Any]:"
    elif r < 0.3:
        body = f"        {a} = self.{b}.get({c!r}, {n})"
    elif r < 0.42:
        body = f'        log.warning("%s: {a} {b} failed: %r", self.label, {c})'
    elif r < 0.52:
        body = f"        if {a} is None or len({b}) > {n * 7}:"
    elif r < 0.6:
        body = f"            raise ValueError(f\"bad {a}: {{{b}!r}} (\\\"{c}\\\")\")"
    elif r < 0.7:
        body = f"    # {_prose(rng, rng.randint(4, 12))}".rstrip("\n")
    elif r < 0.78:
        body = ""
    elif r < 0.86:
        body = f"        return {{\"{a}\": {b}, \"{c}\": [{n}, {n + 1}]}}"
    else:
        body = f"        {a}.append(orjson.loads({b}[{n}:]))  # {rng.choice(_ODD)}"
    return f"{n:6d}\t{body}"


def _log_line(rng: random.Random, n: int) -> str:
    r = rng.random()
    if r < 0.4:
        return (
            f"2026-11-24T01:{n // 60 % 60:02d}:{n % 60:02d}.{n % 1000:03d}Z "
            f"{rng.choice(('INFO', 'INFO', 'DEBUG', 'WARN'))} [worker-{n % 8}] "
            f"{_prose(rng, rng.randint(3, 14)).strip()}"
        )
    if r < 0.65:
        return (
            f"tests/test_{rng.choice(_IDENTS)}.py::test_{rng.choice(_IDENTS)}_{n % 50} "
            f"{rng.choice(('PASSED', 'PASSED', 'PASSED', 'FAILED', 'SKIPPED'))} [{n % 100:3d}%]"
        )
    if r < 0.8:
        return f"src/{rng.choice(_IDENTS)}/{rng.choice(_IDENTS)}.py:{n % 900 + 1}:    {rng.choice(_IDENTS)} = None"
    if r < 0.9:
        return f"\x1b[32m✓\x1b[0m {rng.choice(_IDENTS)} ({n % 300} ms)"
    name = f"{rng.choice(_IDENTS)}.{rng.choice(('py', 'ts', 'json', 'md'))}"
    return f"-rw-r--r-- 1 dev dev {n * 37 % 99999:6d} Nov 24 01:34 {name}"


class _Corpus:
    """A few MB of realistic tool output, JSON-escaped once, sliceable at line starts."""

    def __init__(self, rng: random.Random, size: int = 3 * 2**20) -> None:
        parts: list[bytes] = []
        offsets = [0]
        total = 0
        n = 1
        while total < size:
            # runs of code (Read) and of command output (Bash), like real tool results
            gen = _code_line if rng.random() < 0.5 else _log_line
            for _ in range(rng.randint(20, 200)):
                esc = orjson.dumps(gen(rng, n) + "\n")[1:-1]
                parts.append(esc)
                total += len(esc)
                offsets.append(total)
                n += 1
        self.data = b"".join(parts)
        self.offsets = offsets

    def take(self, rng: random.Random, size: int) -> bytes:
        """Escaped text of exactly ``size`` bytes: whole corpus lines, then spaces."""
        data, offsets = self.data, self.offsets
        out: list[bytes] = []
        while size >= len(data):  # tile for payloads bigger than the corpus
            out.append(data)
            size -= len(data)
        start_i = rng.randrange(len(offsets) - 1)
        start = offsets[start_i]
        if start + size > len(data):
            start_i = bisect.bisect_right(offsets, len(data) - size) - 1
            start = offsets[start_i]
        end = offsets[bisect.bisect_right(offsets, start + size) - 1]
        out.append(data[start:end])
        # pad to the exact size with plain spaces (never splits an escape)
        out.append(b" " * (size - (end - start)))
        return b"".join(out)


# ── Line rendering ──────────────────────────────────────────────────────────


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.clock = 1_795_000_000_000  # ms, 2026-11-18

    def uuid(self) -> str:
        h = f"{self._rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def hex20(self) -> str:
        return f"{self._rng.getrandbits(80):020x}"

    def hex12(self) -> str:
        return f"{self._rng.getrandbits(48):012x}"

    def ts(self) -> str:
        self.clock += self._rng.randint(1, 40)
        s, ms = divmod(self.clock, 1000)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return f"2026-11-24T{h % 24:02d}:{m:02d}:{s:02d}.{ms:03d}Z"


_TOOLS: Final = [
    "Task", "Bash", "CronCreate", "CronDelete", "CronList", "Edit", "EnterWorktree", "ExitWorktree",
    "ListAgents", "Monitor", "NotebookEdit", "Read", "ReportFindings", "ScheduleWakeup", "SendMessage",
    "Skill", "TaskStop", "ToolSearch", "WebFetch", "WebSearch", "Workflow", "Write",
]  # fmt: skip
_SKILLS: Final = [
    "deep-research", "dataviz", "update-config", "verify", "debug", "code-review", "simplify", "batch",
    "fewer-permission-prompts", "doctor", "loop", "claude-api", "workflow-authoring", "run",
    "run-skill-generator", "plugin-authoring",
]  # fmt: skip
_SLASH: Final = _SKILLS + [
    "agents", "auto-mode-setup", "autocompact", "clear", "color", "compact", "config", "output-style",
    "context", "effort", "fast", "focus", "heapdump", "init", "mcp", "model", "__remote-workflow",
    "workflow-launch-exec", "reload-plugins", "reload-skills", "rename", "security-review", "usage",
    "insights", "recap", "goal", "list-agents", "team-onboarding",
]  # fmt: skip
_CAPS: Final = [
    "interrupt_receipt_v1", "interrupt_cancel_queued_v1", "interrupt_send_now_v1", "interrupt_requeue_taken_v1",
    "msg_lifecycle_v1", "request_marker_lists_v1", "ask_user_question_unanswered_v1",
    "lifecycle_wakeup_source_v1", "sdk_mcp_tools_list_changed", "sdk_mcp_manifests", "mcp_read_resource_v1",
    "mcp_tool_ui_meta_v1", "ui_surface_v1", "mcp_call_result_not_for_model_v1",
    "mcp_call_check_permissions_v1", "voice_call_talk_line_v1", "withdrawn_files_note_v2", "withdrawn_tools_v1",
    "ui_pane_widget_v1", "reload_plugins_refuse_if_busy_v1", "get_usage_detached_v1", "silent_resend_files_v1",
]  # fmt: skip
_PLUGINS: Final = [
    {"name": f"cc-plugin-{p}", "path": "builtin", "source": f"cc-plugin-{p}@builtin"}
    for p in ("agents-md", "privacy", "plugin-authoring")
]
_MSG_USAGE: Final = {
    "input_tokens": 12,
    "output_tokens": 1,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}
_PAYLOAD: Final = "\x00PAYLOAD\x00"
_PAYLOAD_ESC: Final = orjson.dumps(_PAYLOAD)[1:-1]

_dumps = orjson.dumps


class _Renderer:
    """Renders single lines of one session, with the CLI's key order."""

    def __init__(self, rng: random.Random, session_id: str) -> None:
        self.rng = rng
        self.ids = _Ids(rng)
        self.sid = session_id

    def init(self) -> bytes:
        sid = self.sid
        return _dumps({
            "type": "system", "subtype": "init", "cwd": CWD, "session_id": sid, "tools": _TOOLS,
            "mcp_servers": [], "model": MODEL, "permissionMode": "default", "slash_commands": _SLASH,
            "terminal_slash_commands": ["doctor", "color", "focus", "reload-plugins"],
            "apiKeySource": "ANTHROPIC_API_KEY", "claude_code_version": "2.1.330", "output_style": "default",
            "agents": ["claude", "Explore", "general-purpose", "Plan", "statusline-setup"], "skills": _SKILLS,
            "plugins": _PLUGINS, "capabilities": _CAPS, "analytics_disabled": True,
            "product_feedback_disabled": True, "served_by_anthropic": False, "uuid": self.ids.uuid(),
            "memory_paths": {"auto": "/home/dev/project-root/cfg/projects/-home-dev-project-root-work/memory/"},
            "original_cwd": CWD, "additional_directories": [],
            "messaging_socket_path": "/tmp/cc-socks/3670.sock", "fast_mode_state": "off",
            "fast_mode_disabled_reason": "sdk_opt_in_required", "per_turn_effort_active": True,
            "ultrathink_available": False, "ultrathink_typed_raises": False, "view_mode": "default",
        })  # fmt: skip

    def status(self) -> bytes:
        return _dumps({"type": "system", "subtype": "status", "status": "requesting", "session_id": self.sid,
                       "uuid": self.ids.uuid()})  # fmt: skip

    def api_retry(self) -> bytes:
        attempt = self.rng.randint(1, 3)
        return _dumps({
            "type": "system", "subtype": "api_retry", "attempt": attempt, "max_retries": 10,
            "retry_delay_ms": int(550 * 2 ** (attempt - 1) + self.rng.randint(0, 99)), "error_status": 529,
            "error": "overloaded_error", "session_id": self.sid, "uuid": self.ids.uuid(),
        })  # fmt: skip

    def stream(self, msg_id: str, event: dict[str, Any], **extra: Any) -> bytes:
        line = {"type": "stream_event", "event": event, "session_id": self.sid, "parent_tool_use_id": None,
                "uuid": self.ids.uuid()}  # fmt: skip
        line.update(extra)
        line["api_message_id"] = msg_id
        return _dumps(line)

    def assistant(self, msg_id: str, block: dict[str, Any], request_id: str) -> bytes:
        return _dumps({
            "type": "assistant",
            "message": {"id": msg_id, "type": "message", "role": "assistant", "model": MODEL, "content": [block],
                        "stop_reason": None, "stop_sequence": None, "usage": _MSG_USAGE,
                        "context_management": None},
            "parent_tool_use_id": None, "session_id": self.sid, "uuid": self.ids.uuid(),
            "timestamp": self.ids.ts(), "request_id": request_id,
        })  # fmt: skip

    def tool_result(self, tool: str, tool_id: str, num_lines: int) -> tuple[bytes, bytes, bytes]:
        """A user tool_result line cut where its payload goes (twice: content and structured).

        Returns:
            ``(head, mid, tail)``: the line is ``head + payload + mid + payload + tail``, where
            ``payload`` is an escaped JSON string body.
        """
        if tool == "Read":
            structured: dict[str, Any] = {"type": "text", "file": {
                "filePath": f"{CWD}/src/{self.rng.choice(_IDENTS)}.py", "content": _PAYLOAD,
                "numLines": num_lines, "startLine": 1, "totalLines": num_lines}}
            reason = "mode"
        else:
            structured = {"stdout": _PAYLOAD, "stderr": "", "interrupted": False, "isImage": False,
                          "noOutputExpected": False}
            reason = "subcommandResults"
        line = _dumps({
            "type": "user",
            "message": {"role": "user", "content": [
                {"tool_use_id": tool_id, "type": "tool_result", "content": _PAYLOAD, "is_error": False}]},
            "parent_tool_use_id": None, "session_id": self.sid, "uuid": self.ids.uuid(),
            "timestamp": self.ids.ts(), "tool_use_result": structured,
            "tool_result_meta": [{"id": tool_id, "permission_decision": {
                "decision": "accept", "source": "config", "reason_type": reason}}],
        })  # fmt: skip
        head, mid, tail = line.split(_PAYLOAD_ESC)
        return head, mid, tail

    def result(self, num_turns: int, in_tok: int, out_tok: int, cost: float, text: str, index: int) -> bytes:
        usage_model = {
            "inputTokens": in_tok, "outputTokens": out_tok, "cacheReadInputTokens": 0, "cacheCreationInputTokens": 0,
            "webSearchRequests": 0, "costUSD": cost, "contextWindow": 1000000, "maxOutputTokens": 128000,
            "thinkingTokens": 0, "cacheCreationEphemeral5mInputTokens": 0, "cacheCreationEphemeral1hInputTokens": 0,
            "canonicalModel": MODEL, "provider": "firstParty", "costBasis": "list",
        }  # fmt: skip
        dur = self.rng.randint(400, 90_000)
        return _dumps({
            "duration_api_ms": dur - self.rng.randint(10, 300), "stop_reason": "end_turn", "session_id": self.sid,
            "total_cost_usd": cost,
            "usage": {"input_tokens": in_tok, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": out_tok, "output_tokens_details": {"thinking_tokens": 0},
                      "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                      "service_tier": "standard",
                      "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                      "inference_geo": "", "iterations": [], "speed": "standard", "fallback_credit": None},
            "modelUsage": {MODEL: usage_model}, "permission_denials": [], "terminal_reason": "completed",
            "fast_mode_state": "off", "fast_mode_disabled_reason": "sdk_opt_in_required",
            "subagent_stats": {"spawned": 0, "requested": {"background": 0, "foreground": 0, "unset": 0},
                               "started_in_background": 0, "max_depth": 0, "spawned_by_subagents": 0,
                               "completed": 0, "failed": 0, "killed": {"parent": 0, "user": 0, "system": 0},
                               "refused": {"depth_limit": 0, "concurrency_limit": 0, "budget": 0},
                               "by_type": {}},
            "safety_stops": 0, "is_error": False, "num_turns": num_turns, "subtype": "success",
            "api_error_status": None, "result": text, "ttft_ms": self.rng.randint(60, 900), "type": "result",
            "duration_ms": dur, "uuid": self.ids.uuid(), "ttft_stream_ms": self.rng.randint(60, 900),
            "time_to_request_ms": self.rng.randint(10, 120), "first_content_frame_ms": self.rng.randint(60, 900),
            "queued_turn_count": 0, "result_index": index, "model_usage_since_last_result": {MODEL: usage_model},
        })  # fmt: skip


# ── Model calls (pooled) ──────────────────────────────────────────────────────


@dataclasses.dataclass
class _Call:
    data: bytes  # every line of one model call, without the tool result
    counts: tuple[tuple[int, int], ...]  # (kind index, lines)
    stream_counts: tuple[tuple[int, int], ...]  # (stream kind index, lines)
    lines: int
    tool: str | None  # tool name if the call ends in a tool_use
    tool_id: str
    text: str  # the reply text (for the result line)
    out_tokens: int
    max_line: int


def _split_deltas(rng: random.Random, text: str, n: int) -> list[str]:
    """Cut ``text`` into ``n`` non-empty pieces at random points, like streamed deltas."""
    n = max(1, min(n, len(text)))
    cuts = sorted(rng.sample(range(1, len(text)), n - 1)) if n > 1 else []
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _render_call(r: _Renderer, v: _Variant, use_tool: bool) -> _Call:
    rng, ids = r.rng, r.ids
    msg_id = f"msg_{ids.hex20()}{ids.hex12()[:4]}"
    request_id = f"req_{ids.hex12()}"
    lines: list[bytes] = []
    counts = [0] * len(KINDS)
    scounts = [0] * len(STREAM_KINDS)
    se = _K["stream_event"]

    def stream(event: dict[str, Any], **extra: Any) -> None:
        lines.append(r.stream(msg_id, event, **extra))
        counts[se] += 1
        sub = event["delta"]["type"] if event["type"] == "content_block_delta" else event["type"]
        scounts[_SK[sub]] += 1

    counts[_K["system/status"]] += 1
    lines.append(r.status())
    stream(
        {"type": "message_start", "message": {"id": msg_id, "type": "message", "role": "assistant", "model": MODEL,
                                              "content": [], "stop_reason": None, "stop_sequence": None,
                                              "usage": _MSG_USAGE}},
        ttft_ms=rng.randint(8, 900), thinking_display="updates",
    )  # fmt: skip
    index = 0
    reply = ""
    out_tokens = 0

    def block(kind: str, start: dict[str, Any], deltas: list[dict[str, Any]], full: dict[str, Any]) -> None:
        nonlocal index
        stream({"type": "content_block_start", "index": index, "content_block": start})
        for d in deltas:
            stream({"type": "content_block_delta", "index": index, "delta": d})
        lines.append(r.assistant(msg_id, full, request_id))
        counts[_K[kind]] += 1
        stream({"type": "content_block_stop", "index": index})
        index += 1

    if rng.random() < v.thinking_p:
        n = rng.randint(*v.thinking_deltas)
        thought = " ".join(_prose(rng, rng.randint(6, 18)) for _ in range(max(1, n // 3)))
        pieces = _split_deltas(rng, thought, n)
        sig = f"Eq{ids.hex20()}{ids.hex20()}{ids.hex20()}=="
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces] + [
            {"type": "signature_delta", "signature": sig}
        ]
        block(
            "assistant/thinking",
            {"type": "thinking", "thinking": "", "signature": ""},
            deltas,
            {"type": "thinking", "thinking": thought, "signature": sig},
        )
        out_tokens += len(thought) // 4
    if rng.random() < v.text_p or not use_tool:
        n = rng.randint(*v.text_deltas)
        reply = " ".join(_prose(rng, rng.randint(5, 16)) for _ in range(max(1, n // 4)))
        pieces = _split_deltas(rng, reply, n)
        block(
            "assistant/text",
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": p} for p in pieces],
            {"type": "text", "text": reply},
        )
        out_tokens += len(reply) // 4
    tool = None
    tool_id = ""
    if use_tool:
        tool = rng.choice(("Bash", "Bash", "Read", "Read", "Grep"))
        tool_id = f"toolu_{ids.hex20()}{ids.hex12()[:4]}"
        if tool == "Bash":
            args = {"command": f"python -m pytest tests/{rng.choice(_IDENTS)} -q -k '{rng.choice(_IDENTS)}'",
                    "description": _prose(rng, rng.randint(3, 8)).rstrip(".\n")}  # fmt: skip
        elif tool == "Read":
            args = {"file_path": f"{CWD}/src/{rng.choice(_IDENTS)}/{rng.choice(_IDENTS)}.py"}
        else:
            args = {"pattern": f"def {rng.choice(_IDENTS)}\\(", "path": f"{CWD}/src", "output_mode": "content"}
        arg_text = orjson.dumps(args).decode()
        pieces = _split_deltas(rng, arg_text, rng.randint(*v.json_deltas))
        block(
            "assistant/tool_use",
            {"type": "tool_use", "id": tool_id, "name": tool, "input": {}},
            [{"type": "input_json_delta", "partial_json": p} for p in pieces],
            {"type": "tool_use", "id": tool_id, "name": tool, "input": args},
        )
        out_tokens += len(arg_text) // 4
    stream(
        {"type": "message_delta", "delta": {"stop_reason": "tool_use" if use_tool else "end_turn",
                                            "stop_sequence": None}, "usage": {"output_tokens": out_tokens}},
    )  # fmt: skip
    stream({"type": "message_stop"})
    data = b"\n".join(lines) + b"\n"
    return _Call(
        data=data,
        counts=tuple((k, c) for k, c in enumerate(counts) if c),
        stream_counts=tuple((k, c) for k, c in enumerate(scounts) if c),
        lines=len(lines),
        tool=tool,
        tool_id=tool_id,
        text=reply,
        out_tokens=out_tokens,
        max_line=max(map(len, lines)),
    )


# ── The generator ───────────────────────────────────────────────────────────

_POOL_SIZE: Final = 384
_CHUNK: Final = 8 * 2**20
#: Budget kept for an api_retry line and for a tool result line's fixed part (~600 B).
_RETRY_RESERVE: Final = 300
_TOOL_RESERVE: Final = 1024


class _Builder:
    """Streams one transcript as byte chunks and fills in its :class:`TranscriptInfo`."""

    def __init__(self, variant: str, size: int, seed: int, big_line: int | None) -> None:
        if variant not in _VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if size <= 0:
            raise ValueError(f"size must be positive, not {size}")
        self.v = _VARIANTS[variant]
        self.size = size
        self.big_line = big_line
        self.info = TranscriptInfo(variant=variant, seed=seed, target_size=size, big_line=big_line)
        rng = random.Random(f"sidecar_sync-bench:{variant}:{seed}")
        self.rng = rng
        self.corpus = _Corpus(random.Random(f"corpus:{seed}"))
        session_id = _Ids(rng).uuid()
        self.r = _Renderer(rng, session_id)
        self.pool_tool = [_render_call(self.r, self.v, True) for _ in range(_POOL_SIZE)]
        self.pool_final = [_render_call(self.r, self.v, False) for _ in range(_POOL_SIZE // 4)]
        self.smallest_final = min(self.pool_final, key=lambda c: len(c.data))
        self.min_final = len(self.smallest_final.data)
        # a result line is ~2.2 KB plus the (escaped) reply text it repeats
        self.result_reserve = 2400 + max(len(orjson.dumps(c.text)) for c in self.pool_tool + self.pool_final)
        for call in self.pool_tool + self.pool_final:
            for raw in call.data.splitlines():
                self._sample_pooled(raw)

    # one line accounted: kind index, byte length without "\n"
    def _account(self, kind: str, length: int) -> None:
        info = self.info
        info.counts[kind] += 1
        info.lines += 1
        if length > info.max_line:
            info.max_line = length
        if length > 2**20:
            info.lines_over_1mib += 1
        if length > 10 * 2**20:
            info.lines_over_10mib += 1

    def _sample(self, kind: str, line: bytes) -> None:
        if kind not in self.info.samples and len(line) < 64 * 1024:
            self.info.samples[kind] = orjson.loads(line)

    def _tool_result(self, call: _Call, line_size: int) -> bytes:
        """The tool result line for ``call``: exactly ``line_size`` bytes if that is above
        the line's fixed overhead (~500 B), else as short as it gets."""
        head, mid, tail = self.r.tool_result(call.tool or "Bash", call.tool_id, max(1, line_size // 60))
        room = max(0, line_size - len(head) - len(mid) - len(tail))
        b = self.corpus.take(self.rng, room // 2)
        a = b + b" " * (room % 2)  # the content copy: same text, one space longer when room is odd
        return b"".join((head, a, mid, b, tail))

    def chunks(self) -> Iterator[bytes]:
        v, rng, info, r = self.v, self.rng, self.info, self.r
        out: list[bytes] = []
        pending = 0
        written = 0
        remaining = self.size
        big_pending = self.big_line
        result_index = 0

        def emit(data: bytes) -> None:
            nonlocal pending
            out.append(data)
            pending += len(data)

        while True:
            init = r.init()
            if info.turns and remaining < len(init) + 1 + self.min_final + _RETRY_RESERVE + self.result_reserve:
                break
            emit(init + b"\n")
            self._account("system/init", len(init))
            self._sample("system/init", init)
            remaining -= len(init) + 1
            info.turns += 1
            calls = rng.randint(*v.calls)
            in_tok = out_tok = 0
            reply = ""
            made = 0
            for i in range(calls):
                last = i == calls - 1
                retry = rng.random() < v.retry_p
                pool = self.pool_final if last or rng.random() >= v.tool_p else self.pool_tool
                call = rng.choice(pool)
                need = len(call.data) + _RETRY_RESERVE + self.result_reserve + (_TOOL_RESERVE if call.tool else 0)
                if remaining < need:
                    if made:
                        break
                    call = self.smallest_final  # the first call of a turn always fits (checked above)
                if retry:
                    line = r.api_retry()
                    emit(line + b"\n")
                    self._account("system/api_retry", len(line))
                    self._sample("system/api_retry", line)
                    remaining -= len(line) + 1
                emit(call.data)
                made += 1
                remaining -= len(call.data)
                if call.max_line > info.max_line:
                    info.max_line = call.max_line
                for k, c in call.counts:
                    info.counts[KINDS[k]] += c
                for k, c in call.stream_counts:
                    info.stream_counts[STREAM_KINDS[k]] += c
                info.lines += call.lines
                in_tok += 12 * (i + 1)
                out_tok += call.out_tokens
                reply = call.text or reply
                if call.tool:
                    if big_pending is not None:
                        size = big_pending
                        big_pending = None
                    else:
                        size = int(math.exp(rng.uniform(math.log(v.result_min), math.log(v.result_max))))
                        size = min(size, remaining - self.result_reserve - 1)
                    line = self._tool_result(call, size)
                    emit(line + b"\n")
                    self._account("user/tool_result", len(line))
                    self._sample("user/tool_result", line)
                    remaining -= len(line) + 1
                if pending >= _CHUNK:
                    data = b"".join(out)
                    out.clear()
                    pending = 0
                    written += len(data)
                    yield data
            cost = round((in_tok * 15 + out_tok * 75) / 1e6, 6)
            line = r.result(made, in_tok, out_tok, cost, reply, result_index)
            result_index += 1
            emit(line + b"\n")
            self._account("result", len(line))
            self._sample("result", line)
            remaining -= len(line) + 1
        data = b"".join(out)
        written += len(data)
        info.bytes = written
        if data:
            yield data

    def _sample_pooled(self, raw: bytes) -> None:
        event = orjson.loads(raw)
        t = event["type"]
        if t == "stream_event":
            self.info.samples.setdefault("stream_event", event)
            self.info.stream_samples.setdefault(stream_kind(event), event)
            return
        if t == "system":
            kind = f"system/{event['subtype']}"
        elif t == "assistant":
            kind = f"assistant/{event['message']['content'][0]['type']}"
        else:
            return
        self.info.samples.setdefault(kind, event)


def iter_chunks(
    variant: str = "small", size: int = 64 * 2**20, seed: int = 0, *, big_line: int | None = None
) -> tuple[Iterator[bytes], TranscriptInfo]:
    """Stream a transcript as byte chunks (~8 MB each).

    Returns:
        ``(chunks, info)``; ``info`` is complete once ``chunks`` is exhausted.

    Raises:
        ValueError: unknown variant or a size that is not positive.
    """
    b = _Builder(variant, size, seed, big_line)
    return b.chunks(), b.info


def build_block(
    variant: str = "small", size: int = 4 * 2**20, seed: int = 0, *, big_line: int | None = None
) -> tuple[bytes, TranscriptInfo]:
    """Build a whole transcript in memory: for emitters and tests that want bytes.

    Args:
        variant: ``small``, ``mixed`` or ``flood``.
        size: target size in bytes; the result is at most this (whole turns, each ending in
            a ``result`` line), and within one turn's tail of it, except that at least one
            turn is always produced.
        seed: same seed, same bytes.
        big_line: add one tool result line of exactly this many bytes.

    Returns:
        ``(data, info)``.
    """
    chunks, info = iter_chunks(variant, size, seed, big_line=big_line)
    return b"".join(chunks), info


def generate(
    path: str | os.PathLike[str],
    variant: str = "small",
    size: int = 64 * 2**20,
    seed: int = 0,
    *,
    gzip: bool = False,
    big_line: int | None = None,
) -> TranscriptInfo:
    """Write a transcript to ``path`` (gzip level 1 if ``gzip``) and ``path + ".meta.json"``.

    The file is written under a temporary name and renamed, so a reader never sees half a file.

    Returns:
        The transcript's :class:`TranscriptInfo` (also stored in the ``.meta.json``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    chunks, info = iter_chunks(variant, size, seed, big_line=big_line)
    try:
        f: BinaryIO
        with (_gzip.open(tmp, "wb", compresslevel=1) if gzip else open(tmp, "wb")) as f:  # type: ignore[assignment]
            for chunk in chunks:
                f.write(chunk)
        Path(_meta_path(path)).write_bytes(info.to_json())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return info


def ensure(
    variant: str, size: int, seed: int = 1, *, big_line: int | None = None, cache_dir: Path = CACHE_DIR
) -> tuple[Path, TranscriptInfo]:
    """Return a cached transcript file (generating it if missing) and its info."""
    name = f"{variant}-{_fmt_size(size)}-s{seed}" + (f"-big{_fmt_size(big_line)}" if big_line else "") + ".ndjson"
    path = cache_dir / name
    if path.exists() and Path(_meta_path(path)).exists():
        info = TranscriptInfo.load(path)
        if info.bytes == path.stat().st_size:
            return path, info
    return path, generate(path, variant, size, seed, big_line=big_line)


_UNITS: Final = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


def parse_size(text: str) -> int:
    """``"1G"`` -> 1073741824; accepts K/M/G (binary) with an optional ``B``/``iB`` suffix."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in "KMG" else ""
    try:
        value = float(t[: len(t) - len(unit)])
    except ValueError:
        raise ValueError(f"bad size {text!r}: use e.g. 64M, 1G, 4096") from None
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return int(value * _UNITS[unit])


def _fmt_size(n: int) -> str:
    for unit in ("G", "M", "K"):
        if n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]}{unit}"
    return str(n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate a seeded Claude stream-json transcript for benchmarks.")
    p.add_argument("--variant", choices=VARIANTS, default="mixed")
    p.add_argument("--size", type=parse_size, default=parse_size("64M"), help="target size, e.g. 1G (default 64M)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--big-line", type=parse_size, default=None, help="add one tool result line of this size")
    p.add_argument("--gzip", action="store_true", help="gzip the output (level 1)")
    p.add_argument("-o", "--output", help="output file (default: bench/.cache/<variant>-<size>-s<seed>.ndjson)")
    args = p.parse_args(argv)
    out = args.output
    if out is None:
        out = CACHE_DIR / (f"{args.variant}-{_fmt_size(args.size)}-s{args.seed}.ndjson" + (".gz" if args.gzip else ""))
    info = generate(out, args.variant, args.size, args.seed, gzip=args.gzip, big_line=args.big_line)
    print(
        f"{out}: {info.bytes} bytes, {info.lines} lines, {info.turns} turns, "
        f"max line {info.max_line} B, {info.lines_over_1mib} lines > 1 MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
