"""A path is read into one reused buffer: any chunk size, either framer twin, gives the
messages and counts of the same bytes read from a stream (fresh ``bytes`` per read)."""

from __future__ import annotations

import io
from pathlib import Path
from unittest import mock

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar_sync import decoder
from sidecar_sync.replay import Replay
from tests.framer.twins import TWINS
from tests.replay.conftest import shape

_LINES = st.one_of(
    st.builds(
        lambda i, text: orjson.dumps({"type": "assistant", "uuid": f"a{i}",
                                      "message": {"content": [{"type": "text", "text": text}]}}),  # fmt: skip
        st.integers(0, 999),
        st.text(max_size=300),
    ),
    st.sampled_from([b'{"type":"assistant",', b'{"a":"\xff"}', b"null", b"", b"  ", b"x" * 500]),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    raw=st.lists(_LINES, max_size=40),
    chunk_size=st.integers(1, 2048),
    twin=st.sampled_from(sorted(name for name, cls in TWINS.items() if cls is not None)),
)
def test_a_path_replays_like_a_stream(tmp_path: Path, raw: list[bytes], chunk_size: int, twin: str) -> None:
    data = b"".join(line + b"\n" for line in raw) + b'{"type":"result","subtype":"success","uuid":"end"}'
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    with mock.patch.object(decoder, "LineFramer", TWINS[twin]):
        by_path = Replay(path, provider="claude", max_line_size=400, max_pending=400, chunk_size=chunk_size)
        by_stream = Replay(io.BytesIO(data), provider="claude", max_line_size=400, max_pending=400)
        got, want = list(by_path), list(by_stream)
    assert shape(got) == shape(want)
    a, b = by_path.summary, by_stream.summary
    assert (a.bytes, a.lines, a.events, a.invalid_lines, a.oversized_lines, a.dropped_bytes, a.messages) == (
        b.bytes, b.lines, b.events, b.invalid_lines, b.oversized_lines, b.dropped_bytes, b.messages,
    )  # fmt: skip
