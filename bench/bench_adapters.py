"""Adapter speed: Claude stream-json events -> AgentMessages, against orjson.loads on the same lines.

The adapters run on every line a session prints, right after ``orjson.loads``.
Aim: adapting an event costs no more than parsing it (~300 B events).

Data: a seeded, realistic Claude Code transcript (``claude_transcript``): turns
of assistant text, assistant tool_use, user tool_result (with the structured
``tool_use_result``), an occasional ``system`` status/api_retry line and one
``result`` per turn, in the shapes of the recordings in ``tests/data/claude``
(keys the adapters never read trimmed so that lines average ~300 bytes).

Run as pytest-benchmark (groups per input; compare within a group)::

    pytest bench/bench_adapters.py --benchmark-only --benchmark-group-by=group \
        --benchmark-timer=time.thread_time --benchmark-disable-gc

or as a script, which prints the ratios of one run::

    python bench/bench_adapters.py [--events N] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from sidecar_sync.adapters import new_stream_adapter, parse_message
from sidecar_sync.messages import new_message_id

SEED = 20261124
SESSION = "c578162f-ee30-4635-b908-85f52dd777d4"
WORDS = [
    "the", "framer", "cuts", "lines", "under", "its", "caps", "and",
    "orjson", "parses", "them", "into", "objects", "for", "the", "adapters",
]  # fmt: skip


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def claude_transcript(n_events: int, seed: int = SEED) -> list[bytes]:
    """A seeded Claude stream-json transcript of about ``n_events`` lines (bytes, no newline)."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    dumps = orjson.dumps
    while len(lines) < n_events:
        msg_id = f"msg_{rng.getrandbits(64):016x}"
        usage = {"input_tokens": rng.randint(5, 900), "output_tokens": rng.randint(1, 300)}
        for _ in range(rng.randint(1, 4)):  # tool rounds
            tool_id = f"toolu_{rng.getrandbits(64):016x}"
            command = f"echo {_words(rng, 3)}"
            lines.append(dumps({
                "type": "assistant",
                "message": {"id": msg_id, "role": "assistant", "content": [
                    {"type": "tool_use", "id": tool_id, "name": "Bash",
                     "input": {"command": command, "description": _words(rng, 2)}}]},
                "parent_tool_use_id": None, "session_id": SESSION, "uuid": _uuid(rng),
            }))
            output = _words(rng, rng.randint(1, 4))
            lines.append(dumps({
                "type": "user",
                "message": {"role": "user", "content": [
                    {"tool_use_id": tool_id, "type": "tool_result", "content": output, "is_error": False}]},
                "parent_tool_use_id": None, "session_id": SESSION, "uuid": _uuid(rng),
                "tool_use_result": {"stdout": output, "stderr": "", "interrupted": False},
            }))
            if rng.random() < 0.1:
                lines.append(dumps({
                    "type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10,
                    "retry_delay_ms": rng.randint(500, 9000), "error_status": 529, "error": "server_error",
                    "session_id": SESSION, "uuid": _uuid(rng),
                }))
        lines.append(dumps({
            "type": "assistant",
            "message": {"id": msg_id, "role": "assistant", "content": [
                {"type": "text", "text": _words(rng, rng.randint(2, 10))}]},
            "parent_tool_use_id": None, "session_id": SESSION, "uuid": _uuid(rng),
        }))
        lines.append(dumps({
            "type": "result", "subtype": "success", "is_error": False, "duration_ms": rng.randint(200, 9000),
            "num_turns": rng.randint(1, 5), "result": _words(rng, 4), "session_id": SESSION,
            "total_cost_usd": rng.random() / 100, "usage": usage, "terminal_reason": "completed", "uuid": _uuid(rng),
        }))
    return lines[:n_events]


N_EVENTS = 10_000
LINES = claude_transcript(N_EVENTS)
EVENTS = [orjson.loads(line) for line in LINES]
MEAN_BYTES = sum(map(len, LINES)) / len(LINES)
BATCH = 64  # events per adapt_batch call (the manager passes one read chunk at a time)


def _batches(events: list[Any], size: int = BATCH) -> list[list[Any]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


BATCHES = _batches(EVENTS)
LINE_BATCHES = _batches(LINES)


# -- the measured operations ---------------------------------------------------------------


def loads_only() -> int:
    # batch by batch like the others, so no run holds more parsed objects than another
    loads = orjson.loads
    return sum(len([loads(line) for line in batch]) for batch in LINE_BATCHES)


def adapt_only() -> int:
    adapt = new_stream_adapter("claude").adapt_batch
    return sum(len(adapt(batch)) for batch in BATCHES)


def loads_and_adapt() -> int:
    loads = orjson.loads
    adapt = new_stream_adapter("claude").adapt_batch
    return sum(len(adapt([loads(line) for line in batch])) for batch in LINE_BATCHES)


def parse_message_each() -> int:
    return sum(len(parse_message("claude", event)) for event in EVENTS)


def adapt_one_by_one() -> int:
    adapt = new_stream_adapter("claude").adapt
    return sum(len(adapt(event)) for event in EVENTS)


def ids_counter() -> int:
    return len([new_message_id() for _ in range(N_EVENTS)])


def ids_uuid4() -> int:
    return len([str(uuid.uuid4()) for _ in range(N_EVENTS)])


MESSAGES = adapt_only()


# -- pytest-benchmark ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fn",
    [
        ("orjson.loads (baseline)", loads_only),
        ("adapt_batch", adapt_only),
        ("orjson.loads + adapt_batch", loads_and_adapt),
        ("adapt (one event per call)", adapt_one_by_one),
        ("parse_message (stateless)", parse_message_each),
    ],
)
def test_claude_transcript(benchmark: Any, name: str, fn: Callable[[], int]) -> None:
    benchmark.group = f"claude transcript: {N_EVENTS} events, mean {MEAN_BYTES:.0f} B"
    benchmark.extra_info.update(events=N_EVENTS, messages=MESSAGES, mean_bytes=round(MEAN_BYTES))
    result = benchmark(fn)
    assert result == (N_EVENTS if fn is loads_only else MESSAGES)  # fast and wrong is worthless


@pytest.mark.parametrize("name, fn", [("itertools.count id", ids_counter), ("str(uuid4())", ids_uuid4)])
def test_message_ids(benchmark: Any, name: str, fn: Callable[[], int]) -> None:
    benchmark.group = f"message ids: {N_EVENTS} ids"
    assert benchmark(fn) == N_EVENTS


# -- script mode: one run, ratios printed ------------------------------------------------------
# CPU time of this thread (time.thread_time), not wall time: on a shared 2-core
# machine the wall clock also counts the time other processes held the core.


def _cpu(fn: Callable[[], Any]) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def _by_type(repeat: int) -> list[tuple[str, int, float, float, float]]:
    """Per event type: count, mean bytes, loads and adapt ns/event (best of ``repeat``, interleaved)."""
    loads = orjson.loads
    cases = []
    for kind in sorted({event["type"] for event in EVENTS}):
        lines = [line for line, event in zip(LINES, EVENTS, strict=True) if event["type"] == kind]
        cases.append((kind, lines, _batches(lines), _batches([loads(line) for line in lines])))
    parse_times: dict[str, list[float]] = {kind: [] for kind, *_ in cases}
    adapt_times: dict[str, list[float]] = {kind: [] for kind, *_ in cases}
    for _ in range(repeat):
        for kind, _lines, line_batches, batches in cases:
            adapter = new_stream_adapter("claude")
            parse_times[kind].append(_cpu(lambda lb=line_batches: [[loads(line) for line in batch] for batch in lb]))
            adapt_times[kind].append(_cpu(lambda a=adapter, bs=batches: [a.adapt_batch(batch) for batch in bs]))
    rows = []
    for kind, lines, *_ in cases:
        n = len(lines)
        parse, adapt = min(parse_times[kind]) / n * 1e9, min(adapt_times[kind]) / n * 1e9
        rows.append((kind, n, sum(map(len, lines)) / n, parse, adapt))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per measurement; the best counts")
    args = parser.parse_args()
    rows = [
        ("orjson.loads (baseline)", loads_only),
        ("adapt_batch", adapt_only),
        ("orjson.loads + adapt_batch", loads_and_adapt),
        ("adapt (one event per call)", adapt_one_by_one),
        ("parse_message (stateless)", parse_message_each),
    ]
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        # interleave the repeats so drifting machine load hits every row alike
        times: dict[str, list[float]] = {name: [] for name, _ in rows}
        for _ in range(args.repeat):
            for name, fn in rows:
                times[name].append(_cpu(fn))
        per_type = _by_type(args.repeat)
        counter = min(_cpu(ids_counter) for _ in range(args.repeat))
        uuid4 = min(_cpu(ids_uuid4) for _ in range(args.repeat))
    finally:
        gc.enable()
    best = {name: min(ts) for name, ts in times.items()}
    median = {name: statistics.median(ts) for name, ts in times.items()}
    base = best["orjson.loads (baseline)"]
    print(f"{N_EVENTS} Claude events, mean {MEAN_BYTES:.0f} B/line -> {MESSAGES} messages; batches of {BATCH};")
    print(f"best of {args.repeat} (CPU time), median beside it; gc frozen and disabled")
    print(f"{'operation':30} {'ns/event':>9} {'median':>7} {'events/s':>10} {'messages/s':>11} {'x loads':>8}")
    for name, _ in rows:
        t = best[name]
        print(
            f"{name:30} {t / N_EVENTS * 1e9:9.0f} {median[name] / N_EVENTS * 1e9:7.0f} "
            f"{N_EVENTS / t:10,.0f} {MESSAGES / t:11,.0f} {t / base:8.2f}"
        )
    print(f"\n{'event type':12} {'events':>7} {'bytes':>6} {'loads ns':>9} {'adapt ns':>9} {'x loads':>8}")
    for kind, n, size, parse, adapt in per_type:
        print(f"{kind:12} {n:7} {size:6.0f} {parse:9.0f} {adapt:9.0f} {adapt / parse:8.2f}")
    print(f"\nmessage id: counter {counter / N_EVENTS * 1e9:.0f} ns, str(uuid4()) {uuid4 / N_EVENTS * 1e9:.0f} ns")


if __name__ == "__main__":
    main()
