"""Seeded, realistic agent stdout for the framer benchmarks.

Two inputs, both compact NDJSON as the agent CLIs print it (shapes taken from the
Claude Code stream-json recordings in tests/data/claude/):

* ``small``: ~300 B lines, mostly ``stream_event`` text/thinking deltas with some
  status, assistant and short tool-result lines: a streaming turn.
* ``big``: the same small lines with 50 KB - 5 MB lines between them: ``Read`` tool
  results carrying a whole source file, base64 screenshots, long assistant texts.

The text is JSON-escaped prose and code, not random bytes, so escapes, quotes and
braces appear where real output has them. Every line is clean (no surrounding
whitespace, no blank lines, all under the 10 MiB cap), so a plain ``split`` gives
the same lines as the framer and every contender can be checked against it.
"""

from __future__ import annotations

import base64
import math
import random
import uuid

import orjson

__all__ = ["small_lines", "big_mix", "INPUTS"]

_WORD_TEXT = (
    "the a to of and in is for that with on this it as be are by file function return value "
    "error test session line buffer stream chunk parse json object event tool result message "
    "read write path config option default thread lock process signal exit status output input "
    "import from class def self None True False raise except try while if else elif for range "
    "len list dict str bytes int print log warning info debug data index count size limit cap "
    "framer decoder reader writer manager runner provider adapter callback timeout retry close"
)
_WORDS = _WORD_TEXT.split()

_CODE_LINES = [
    "def {w}_{v}(self, {x}: int) -> list[bytes]:",
    '    """{W} the {x} and return the {v} lines."""',
    "    if {x} > self.max_{v}:",
    '        raise ValueError(f"{x} too large: {{{x}}}")',
    "    for i in range(len(self._{w})):",
    "        out.append(self._{w}[i].strip())",
    "    return [{v} for {v} in out if {v}]",
    "",
    "class {W}{V}:",
    "    __slots__ = (\"_{w}\", \"_{v}\")",
    "    # {w} {v} {x}: keep the {x} bounded\t(see #{n})",
]


def _uuid(rnd: random.Random) -> str:
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def _words(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(_WORDS) for _ in range(n))


def _small_event(rnd: random.Random, session: str, msg: str) -> bytes:
    kind = rnd.random()
    if kind < 0.75:
        delta_type, field = ("text_delta", "text") if rnd.random() < 0.8 else ("thinking_delta", "thinking")
        event = {
            "type": "stream_event",
            "event": {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": delta_type, field: _words(rnd, rnd.randint(1, 12))},
            },
            "session_id": session,
            "parent_tool_use_id": None,
            "uuid": _uuid(rnd),
            "api_message_id": msg,
        }
    elif kind < 0.85:
        event = {
            "type": "system",
            "subtype": "status",
            "status": "requesting",
            "session_id": session,
            "uuid": _uuid(rnd),
        }
    elif kind < 0.95:
        event = {
            "type": "user",
            "message": {
                "role": "user",
                "content": [
                    {
                        "tool_use_id": "toolu_" + _uuid(rnd)[:20],
                        "type": "tool_result",
                        "content": _words(rnd, 6),
                        "is_error": False,
                    }
                ],
            },
            "parent_tool_use_id": None,
            "session_id": session,
            "uuid": _uuid(rnd),
        }
    else:
        event = {
            "type": "stream_event",
            "event": {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": rnd.randint(1, 900)},
            },
            "session_id": session,
            "parent_tool_use_id": None,
            "uuid": _uuid(rnd),
        }
    return orjson.dumps(event)


def _source_file(rnd: random.Random, size: int) -> str:
    parts: list[str] = []
    total = 0
    while total < size:
        w, v, x = rnd.choice(_WORDS), rnd.choice(_WORDS), rnd.choice(_WORDS)
        line = rnd.choice(_CODE_LINES).format(w=w, v=v, x=x, W=w.title(), V=v.title(), n=rnd.randint(1, 9999))
        parts.append(f"{len(parts) + 1:>6}\t{line}")
        total += len(parts[-1]) + 1
    return "\n".join(parts)


def _big_event(rnd: random.Random, session: str, size: int) -> bytes:
    kind = rnd.choice(["read", "image", "text"])
    if kind == "read":
        content: object = _source_file(rnd, size)
    elif kind == "image":
        raw = rnd.randbytes(size * 3 // 4)
        source = {"type": "base64", "media_type": "image/png", "data": base64.b64encode(raw).decode()}
        content = [{"type": "image", "source": source}]
    else:
        content = _words(rnd, size // 6)
    event = {
        "type": "user",
        "message": {
            "role": "user",
            "content": [{"tool_use_id": "toolu_" + _uuid(rnd)[:20], "type": "tool_result", "content": content}],
        },
        "parent_tool_use_id": None,
        "session_id": session,
        "uuid": _uuid(rnd),
    }
    return orjson.dumps(event)


def small_lines(total: int = 8 * 2**20, seed: int = 1) -> bytes:
    """About ``total`` bytes of ~300 B stream-json lines."""
    rnd = random.Random(seed)
    session, msg = _uuid(rnd), "msg_" + _uuid(rnd)[:20]
    out: list[bytes] = []
    size = 0
    while size < total:
        line = _small_event(rnd, session, msg)
        out.append(line)
        size += len(line) + 1
    return b"\n".join(out) + b"\n"


def big_mix(count: int = 14, seed: int = 2) -> bytes:
    """``count`` lines of 50 KB to 5 MB (log-uniform, both ends included), each after 1-60 small lines."""
    rnd = random.Random(seed)
    session, msg = _uuid(rnd), "msg_" + _uuid(rnd)[:20]
    low, high = math.log(50_000), math.log(5_000_000)
    sizes = [50_000, 5_000_000] + [int(math.exp(rnd.uniform(low, high))) for _ in range(count - 2)]
    rnd.shuffle(sizes)
    out: list[bytes] = []
    for size in sizes:
        out += [_small_event(rnd, session, msg) for _ in range(rnd.randint(1, 60))]
        out.append(_big_event(rnd, session, size))
    out += [_small_event(rnd, session, msg) for _ in range(20)]
    return b"\n".join(out) + b"\n"


INPUTS = {"small": small_lines, "big": big_mix}
