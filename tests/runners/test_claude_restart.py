"""The claude runner restarting a CLI that died between turns, on a stand-in CLI.

The real-CLI test (test_claude_cli.py) kills the real Claude Code between turns; this
one needs no npm install: a small Python program speaks just enough stream-json (init,
assistant, result per user line), writes each argv it was started with to a file, and
exits after answering one turn, as a CLI that died while idle would. The runner must
start a new one with ``--resume=<the session id the first one reported>``.
"""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.runners.cli_fixtures import CliRunner
from tests.runners.client import events, types

SESSION = "6b0c1c1e-5d1a-4c55-9a3e-0e1f2a3b4c5d"

STUB = """\
import json, sys
argv_log, session = {argv_log!r}, {session!r}
with open(argv_log, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
for arg in sys.argv[1:]:
    if arg.startswith("--resume="):
        session = arg.split("=", 1)[1]
for n, line in enumerate(sys.stdin):
    if json.loads(line).get("type") != "user":
        continue
    for event in (
        {{"type": "system", "subtype": "init", "session_id": session, "model": "stub", "cwd": "/", "tools": []}},
        {{"type": "assistant", "session_id": session,
          "message": {{"content": [{{"type": "text", "text": "answer from " + str(len(sys.argv))}}]}}}},
        {{"type": "result", "subtype": "success", "is_error": False, "session_id": session,
          "total_cost_usd": 0.25, "usage": {{"input_tokens": 3, "output_tokens": 1}}, "result": "ok"}},
    ):
        print(json.dumps(event), flush=True)
    sys.exit(0)  # answered one turn, then gone: the next turn finds no CLI
"""


def make_stub(tmp_path: Path) -> tuple[Path, Path]:
    argv_log = tmp_path / "argv.jsonl"
    stub = tmp_path / "claude"
    stub.write_text(f"#!{sys.executable}\n" + STUB.format(argv_log=str(argv_log), session=SESSION))
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return stub, argv_log


def ok_turn(lines: list[Any]) -> list[dict[str, Any]]:
    assert types(lines)[0] == "agent_started" and types(lines)[-1] == "agent_stopped", lines
    return events(lines)


def test_a_cli_gone_between_turns_is_restarted_with_resume(
    cli_runner: Callable[..., CliRunner], tmp_path: Path
) -> None:
    stub, argv_log = make_stub(tmp_path)
    runner = cli_runner("claude", str(stub))
    first = ok_turn(runner.turn({"type": "query", "sessionId": "s1", "prompt": "one"}))
    second = ok_turn(runner.turn({"type": "query", "sessionId": "s1", "prompt": "two"}))
    third = ok_turn(runner.turn({"type": "query", "sessionId": "s1", "prompt": "three"}))

    starts = [json.loads(line) for line in argv_log.read_text().splitlines()]
    assert len(starts) == 3  # one CLI per turn: each exited after answering
    assert not [a for a in starts[0] if a.startswith("--resume")]  # a fresh conversation first
    assert [a for a in starts[1] if a.startswith("--resume")] == [f"--resume={SESSION}"]
    assert [a for a in starts[2] if a.startswith("--resume")] == [f"--resume={SESSION}"]
    assert starts[1][: starts[1].index(f"--resume={SESSION}")] == starts[0]  # same flags, then --resume
    assert [e["session_id"] for e in first + second + third if e["type"] == "system"] == [SESSION] * 3
    assert "restarting it with --resume" in runner.stderr()
