"""The built-in replay provider through the manager, on the recorded real-CLI transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar_sync import SidecarManager, parse_message
from tests.manager.conftest import TIMEOUT, Recorder

DATA = Path(__file__).parent.parent / "data"


def _transcript(provider: str, name: str) -> Path:
    path = DATA / provider / name
    if not path.exists():
        pytest.fail(f"missing test data {path}")
    return path


@pytest.mark.parametrize(
    ("provider", "name", "adapter"),
    [
        ("claude", "claude_tool_bash.jsonl", None),  # auto-detected
        ("codex", "codex_command.jsonl", None),
        ("codex", "codex_command.jsonl", "codex"),  # named in provider_config
    ],
)
def test_replay_recorded_transcript(
    manager: SidecarManager, recorder: Recorder, provider: str, name: str, adapter: str | None
) -> None:
    path = _transcript(provider, name)
    config = {"transcript": str(path)}
    if adapter:
        config["adapter"] = adapter
    manager.start_session("r", "replay", "replay it", provider_config=config, on_message=recorder.on_message)
    state = manager.wait("r", timeout=TIMEOUT)
    assert state.status == "idle", state.error
    import orjson

    events = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    assert recorder.messages, "nothing replayed"
    assert state.invalid_lines == 0
    # the same types, in the same order, as the stateless adapter gives line by line
    # (codex tool calls come once per item through a stream adapter, so compare sets there)
    expected = [m.type for e in events for m in parse_message(provider, e)]
    got = [m.type for m in recorder.messages]
    if provider == "claude":
        assert got == expected
    else:
        assert set(got) <= set(expected) and got[0] == "init" and "cost" in got
    assert sum(1 for m in recorder.messages if m.type == "cost") == sum(1 for t in expected if t == "cost")
    # a follow-up replays the file again
    manager.write_prompt("r", "again")
    manager.wait("r", timeout=TIMEOUT)
    assert len(recorder.messages) == 2 * len(got)
