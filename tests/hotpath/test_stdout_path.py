"""The session's stdout hot path through a real runner: big reads cut into pieces,
chunks routed whole or line by line, costs picked out of each batch. Nothing may be
lost, reordered or miscounted whatever the chunk and piece boundaries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sidecar_sync import SidecarManager
from sidecar_sync.pipeline import PIECE_SIZE
from sidecar_sync.session import READ_SIZE
from tests.hotpath.conftest import delta, result
from tests.manager.conftest import TIMEOUT, Recorder

#: Enough ~300 B lines for several reads and many pieces.
N = 3 * READ_SIZE // 250


def run(manager: SidecarManager, recorder: Recorder, argv: list[str]) -> Any:
    manager.register_provider("lines", argv, adapter="claude")
    manager.start_session("s", "lines", "go", on_message=recorder.on_message)
    return manager.wait("s", timeout=TIMEOUT)


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "agent_event"])
def test_every_line_arrives_in_order_across_reads_and_pieces(
    manager: SidecarManager, recorder: Recorder, lines_provider: Callable[..., list[str]], wrapped: bool
) -> None:
    assert N * 250 > 2 * READ_SIZE > 2 * PIECE_SIZE
    half = N // 2
    lines: list[Any] = [{"type": "agent_started"}]
    lines += [delta(i, wrapped=wrapped) for i in range(half)]
    lines.append({"type": "error", "message": "a protocol error mid-stream"})  # routed line by line
    lines += [delta(i, wrapped=wrapped) for i in range(half, N)]
    lines += [result(0.5, 10, 3), result(0.75, 20, 4), {"type": "agent_stopped"}]
    state = run(manager, recorder, lines_provider(lines))
    assert state.status == "idle"
    types = [m.type for m in recorder.messages]
    assert types == ["text"] * half + ["error"] + ["text"] * (N - half) + ["cost", "cost"]
    assert recorder.texts == [str(i) for i in range(N)]
    assert recorder.messages[half].content.message == "a protocol error mid-stream"
    assert [m.id for m in recorder.messages[:3]] == [f"00000000-0000-4000-8000-{i:012d}" for i in range(3)]
    assert state.messages == N + 3 and state.invalid_lines == 0
    assert state.cost_usd == 0.75  # the latest running total
    assert (state.input_tokens, state.output_tokens) == (30, 7)  # each summed, in and out apart


def test_a_line_with_an_unhashable_type_is_an_event_and_costs_nothing_else(
    manager: SidecarManager, recorder: Recorder, lines_provider: Callable[..., list[str]]
) -> None:
    odd = {"type": ["not", "a", "string"], "uuid": "odd-1"}
    odd_dict = {"type": {"nested": True}, "uuid": "odd-2"}
    lines: list[Any] = [delta(0), odd, delta(1), odd_dict, delta(2), {"type": "agent_stopped"}]
    state = run(manager, recorder, lines_provider(lines))
    assert state.status == "idle"
    assert [(m.type, m.id) for m in recorder.messages] == [
        ("text", delta(0)["uuid"]),
        ("unknown", "odd-1"),
        ("text", delta(1)["uuid"]),
        ("unknown", "odd-2"),
        ("text", delta(2)["uuid"]),
    ]
    assert recorder.messages[1].content == odd and recorder.messages[3].content == odd_dict
    assert state.messages == 5 and state.invalid_lines == 0


def test_a_bad_envelope_among_envelopes_is_counted_and_the_rest_delivered(
    manager: SidecarManager, recorder: Recorder, lines_provider: Callable[..., list[str]]
) -> None:
    lines: list[Any] = [delta(i, wrapped=True) for i in range(50)]
    lines[20] = {"type": "agent_event", "event": [1, 2]}
    lines[30] = {"type": "agent_event"}
    lines.append({"type": "agent_stopped"})
    state = run(manager, recorder, lines_provider(lines))
    assert recorder.texts == [str(i) for i in range(50) if i not in (20, 30)]
    assert state.invalid_lines == 2 and state.messages == 48


def test_pong_and_ready_between_events_are_not_messages(
    manager: SidecarManager, recorder: Recorder, lines_provider: Callable[..., list[str]]
) -> None:
    lines: list[Any] = [delta(0), {"type": "pong"}, delta(1, wrapped=True), {"type": "ready"}, delta(2)]
    lines.append({"type": "agent_stopped"})
    state = run(manager, recorder, lines_provider(lines))
    assert recorder.texts == ["0", "1", "2"] and state.messages == 3
