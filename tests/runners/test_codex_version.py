"""The codex runner learns its CLI's version from ``<cli> --version`` and adds it to ``thread.started``.

Against the real Codex CLI (pinned npm install, fake Responses API) and against
``tests/runners/standin_codex.py``, a stand-in whose ``--version`` answers, fails
or hangs.
"""

from __future__ import annotations

import time

import orjson
import pytest

from sidecar_sync.runners._cli_version import VERSION_TIMEOUT
from sidecar_sync.runners.codex import codex_version, with_agent_version
from tests import realcli
from tests.fakes import openai_responses as fo
from tests.runners.cli_fixtures import cmdline
from tests.runners.client import events, types
from tests.runners.standin_codex import NEW_THREAD, version_calls, write_standin_codex

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(
    ("output", "version"),
    [
        (b"codex-cli 0.169.0\n", "Codex 0.169.0"),
        (b"codex-cli 0.0.1-standin\n", "Codex 0.0.1-standin"),
        (b"codex 1.2.3-alpha.4", "Codex 1.2.3-alpha.4"),
        (b"Codex-CLI v0.50.0\r\n", "Codex 0.50.0"),
        (b"0.170.0\n", "Codex 0.170.0"),
        (b"\n  a development build  \nsecond line\n", "a development build"),
        (b"codex-cli 0.169.0 (built from source)\n", "codex-cli 0.169.0 (built from source)"),
        (b"x" * 500, "x" * 200),
        (b"", None),
        (b" \n\t\n", None),
    ],
)
def test_version_output_becomes_the_agent_version(output, version):
    """`codex-cli 0.x.y` -> `Codex 0.x.y`; anything else: its trimmed first line; nothing: None."""
    assert codex_version(output) == version


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"thread.started","thread_id":"0199a213"}',
        b'{ "type" : "thread.started" , "thread_id" : "\\u00e9" }',
        b'{"type":"thread.started","nested":{"a":[1,2,{}]}}',
        b"{}",
        b"{ }",
    ],
)
def test_the_version_is_appended_and_nothing_else_changes(line):
    added = with_agent_version(line, 'Codex 0.169.0 "q"')
    assert added.startswith(line[:-1]) and added.endswith(b'"agent_version":"Codex 0.169.0 \\"q\\""}')
    assert orjson.loads(added) == {**orjson.loads(line), "agent_version": 'Codex 0.169.0 "q"'}


def _thread_started(lines: list) -> dict:
    started = [e for e in events(lines) if e["type"] == "thread.started"]
    assert len(started) == 1, lines
    return started[0]


def test_the_real_cli_reports_its_version(codex_cli, codex_setup, cli_runner):
    codex_setup.api.script(fo.text("one"), fo.text("two"))
    runner = cli_runner("codex", codex_cli, env=codex_setup.env)

    first = runner.turn(codex_setup.query("say hi"))
    runner.send({"type": "query", "sessionId": "s1", "prompt": "again"})
    second = runner.read_turn(30.0)

    assert types(first)[-1] == types(second)[-1] == "agent_stopped", (first, second)
    for turn in (first, second):
        started = _thread_started(turn)
        assert started["agent_version"] == f"Codex {realcli.CODEX.version}"
        assert set(started) == {"type", "thread_id", "agent_version"}
    # the line reached the manager as Codex wrote it, the key appended at its end
    raw = next(line for line in runner.raw_lines if b'"thread.started"' in line)
    assert raw.rstrip().endswith(b',"agent_version":"Codex ' + realcli.CODEX.version.encode() + b'"}}')


def test_a_standin_cli_is_asked_once_per_runner(tmp_path, cli_runner):
    cli = write_standin_codex(tmp_path / "bin", "ok")
    runner = cli_runner("codex", str(cli), env={"HOME": str(tmp_path)})
    query = {"type": "query", "sessionId": "s1", "prompt": "hi", "cwd": str(tmp_path)}

    first = runner.turn(query)
    second = runner.turn({"type": "query", "sessionId": "s1", "prompt": "again"})

    assert types(first)[-1] == types(second)[-1] == "agent_stopped", (first, second)
    assert _thread_started(first) == {
        "type": "thread.started",
        "thread_id": NEW_THREAD,
        "agent_version": "Codex 0.0.1-standin",
    }
    assert _thread_started(second)["agent_version"] == "Codex 0.0.1-standin"
    assert version_calls(cli) == 1


def test_an_answer_that_is_no_version_number_is_reported_as_is(tmp_path, cli_runner):
    cli = write_standin_codex(tmp_path / "bin", "text")
    runner = cli_runner("codex", str(cli), env={"HOME": str(tmp_path)})
    lines = runner.turn({"type": "query", "sessionId": "s1", "prompt": "hi", "cwd": str(tmp_path)})
    assert _thread_started(lines)["agent_version"] == "a development build"


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_no_version_when_version_fails_or_hangs(tmp_path, cli_runner, mode):
    """The turn goes on without the key; a hanging --version delays it by the bound at most, and only once."""
    cli = write_standin_codex(tmp_path / "bin", mode)
    runner = cli_runner("codex", str(cli), env={"HOME": str(tmp_path)})

    began = time.monotonic()
    first = runner.turn({"type": "query", "sessionId": "s1", "prompt": "hi", "cwd": str(tmp_path)}, timeout=30.0)
    took = time.monotonic() - began
    began = time.monotonic()
    second = runner.turn({"type": "query", "sessionId": "s1", "prompt": "again"}, timeout=30.0)
    took_again = time.monotonic() - began

    assert types(first)[-1] == types(second)[-1] == "agent_stopped", (first, second)
    assert "agent_version" not in _thread_started(first) and "agent_version" not in _thread_started(second)
    assert took < VERSION_TIMEOUT + 3.0
    assert took_again < 3.0  # the answer is known (None) by now: no second wait
    assert version_calls(cli) == 1
    if mode == "hang":  # killed at the bound, not left behind
        assert not [pid for pid in runner.tree() if b"--version" in cmdline(pid)]


def test_stop_while_version_hangs_ends_the_turn_promptly(tmp_path, cli_runner):
    cli = write_standin_codex(tmp_path / "bin", "hang")
    runner = cli_runner("codex", str(cli), env={"HOME": str(tmp_path)})
    runner.send({"type": "query", "sessionId": "s1", "prompt": "hi", "cwd": str(tmp_path)})
    assert runner.read()["type"] == "agent_started"
    time.sleep(0.5)  # thread.started is being held for the version now

    began = time.monotonic()
    runner.send({"type": "stop", "sessionId": "s1"})
    rest = runner.read_all(timeout=10)

    assert types(rest)[-1] == "agent_stopped", rest
    assert time.monotonic() - began < VERSION_TIMEOUT - 1.0
    assert runner.wait(10) == 0
