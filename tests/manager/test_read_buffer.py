"""The stdout thread reads into one reused buffer and parses arrays of lines where they lie:
with a real runner writing in awkward sizes, both framer twins deliver exactly the messages
of parsing the stream one line at a time, bad and oversized lines included, and the
recording holds every byte as it arrived."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest

from sidecar_sync import SidecarManager, decoder
from sidecar_sync.adapters import new_stream_adapter
from sidecar_sync.framer import MAX_LINE_SIZE, Framer
from sidecar_sync.pipeline import Pipeline, TurnSignal
from sidecar_sync.process import READ_SIZE
from tests.framer.twins import TWINS
from tests.manager.conftest import RUNNERS, TIMEOUT, Recorder

CAT = str(RUNNERS / "cat.py")


def _stream() -> bytes:
    """Small events, wrapped and bare; lines longer than one read; bad lines; one line
    over the default 10 MiB cap."""
    lines: list[bytes] = []
    for i in range(3000):
        delta = {"type": "text_delta", "text": f"délta {i} " + "✓" * (i % 13)}
        event = {"type": "stream_event", "uuid": f"s{i}", "event": {"type": "content_block_delta", "delta": delta}}
        lines.append(orjson.dumps(event if i % 2 else {"type": "agent_event", "event": event}))
        if i % 500 == 7:
            text = "x" * (READ_SIZE * 2 + i)  # spans three reads
            lines.append(orjson.dumps({"type": "assistant", "uuid": f"big{i}",
                                       "message": {"content": [{"type": "text", "text": text}]}}))  # fmt: skip
        if i % 400 == 3:
            lines += [b'{"type":"assistant",', b'{"a":"\xff\xfe"}', b"null", b"[1,2]", b"", b"   ", b"42"]
        if i == 1234:
            lines.append(b'{"type":"user","pad":"' + b"y" * MAX_LINE_SIZE + b'"}')  # dropped, counted
    return b"\n".join(lines) + b"\n"


def _per_line(stream: bytes) -> tuple[list[dict[str, Any]], Any]:
    """The messages of feeding the same pipeline one line at a time, timestamps aside."""
    pipeline = Pipeline(new_stream_adapter("claude"))
    out: list[Any] = []
    for line in stream.split(b"\n")[:-1]:
        out += pipeline.receive_data(line + b"\n")
    out += pipeline.receive_eof()
    messages = [m for item in out if not isinstance(item, TurnSignal) for m in item[0]]
    return [{**m.to_dict(), "timestamp": None} for m in messages], pipeline.stats


@pytest.fixture(scope="module")
def stream_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], Any]:
    stream = _stream()
    path = tmp_path_factory.mktemp("stream") / "stream.ndjson"
    path.write_bytes(stream)
    messages, stats = _per_line(stream)
    return path, messages, stats


@pytest.mark.parametrize(
    ("twin", "sizes"),
    [(twin, sizes) for sizes in ("1,7,4093,65536,300000", "262144") for twin in sorted(TWINS)] + [("c", "13")],
)
def test_a_real_runner_gives_the_messages_of_one_line_at_a_time(
    manager: SidecarManager,
    tmp_path: Path,
    stream_file: tuple[Path, list[dict[str, Any]], Any],
    twin: str,
    sizes: str,
) -> None:
    cls: type[Framer] | None = TWINS[twin]
    if cls is None:
        pytest.skip("the C framer is not built")
    path, want, want_stats = stream_file
    recorder = Recorder()
    record = tmp_path / "session.jsonl"
    manager.register_provider("cat", [sys.executable, CAT, str(path), sizes], adapter="claude")
    with mock.patch.object(decoder, "LineFramer", cls):
        manager.start_session("s", "cat", "go", on_message=recorder.on_message, record=record)
    state = manager.wait("s", timeout=TIMEOUT * 4)
    assert state.status == "idle", state.error
    got = [{**m.to_dict(), "timestamp": None} for m in recorder.messages]
    assert got == want
    assert state.invalid_lines == want_stats.invalid_lines
    assert state.dropped_lines == want_stats.oversized_lines == 1
    manager.stop_session("s")
    manager.wait("s", timeout=TIMEOUT, until="final")
    recorded = [line for line in record.read_bytes().split(b"\n") if not line.startswith(b'{"type":"sidecar.')]
    start, stop = recorded.index(b'{"type":"agent_started"}'), recorded.index(b'{"type":"agent_stopped"}')
    assert recorded[start + 1 : stop] == path.read_bytes().split(b"\n")[:-1]
