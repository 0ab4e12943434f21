"""``sidecar-sync run --ask``: tool approval on the terminal.

End to end with the real Claude Code CLI (found in a usual install place of the
command's HOME, configured by that HOME's settings) and the fake Messages API:
``y`` lets the tool run, anything else refuses it, Ctrl-C during the question
stops the session like anywhere else. The question's wording and the
AskUserQuestion answers are tested in process.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sidecar_sync import Allow, Deny, PermissionRequest
from sidecar_sync.cli._ask import Questions, ask_on_terminal, describe
from tests import realcli
from tests._proc import descendants, wait_gone
from tests.cli.conftest import TIMEOUT, cli, cli_env, popen_cli
from tests.fakes import anthropic as fa
from tests.runners.cli_fixtures import claude_cli, stripped_env  # noqa: F401

QUESTION = b"allow? [y/N] "


@dataclass
class AskSetup:
    api: fa.FakeAnthropic
    work: Path
    env: dict[str, str]
    target: Path

    def run_args(self) -> list[str]:
        return ["run", "--provider", "claude", "--ask", "--cwd", str(self.work), "write the file"]


@pytest.fixture
def ask_setup(
    tmp_path: Path, claude_cli: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> Iterator[AskSetup]:
    """A HOME with Claude Code in ~/.local/bin and settings pointing at a fake API that asks for a Write."""
    stripped_env(monkeypatch)
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "claude").symlink_to(claude_cli)
    work.mkdir()
    api = fa.FakeAnthropic()
    with api:
        realcli.write_claude_config(home / ".claude", api.base_url)
        target = work / "out.txt"
        api.script(fa.tool_call("Write", {"file_path": str(target), "content": "hello\n"}), fa.text("done"))
        yield AskSetup(api, work, cli_env(HOME=str(home)), target)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("answer", "written"), [(b"y\n", True), (b"n\n", False), (b"\n", False), (b"", False)])
def test_the_answer_decides(ask_setup: AskSetup, answer: bytes, written: bool) -> None:
    done = cli(*ask_setup.run_args(), input=answer, env=ask_setup.env)
    assert done.returncode == 0, done.stderr
    assert ask_setup.target.exists() is written
    stderr = done.stderr.decode()
    assert "? Write wants to run: " in stderr and str(ask_setup.target) in stderr
    assert QUESTION.decode() in stderr


def _read_stderr_until(proc: subprocess.Popen[bytes], marker: bytes) -> bytes:
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, f"stderr closed before {marker!r}: {seen!r}"
            seen += chunk
    return seen


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ctrl_c_during_the_question_stops_the_session(ask_setup: AskSetup) -> None:
    before = descendants()
    proc = popen_cli(*ask_setup.run_args(), stdin=subprocess.PIPE, env=ask_setup.env)
    try:
        _read_stderr_until(proc, QUESTION)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
    assert proc.returncode == 130, stderr
    assert b"interrupted; stopping the session" in stderr
    assert "✗ interrupted" in stdout.decode()
    assert not ask_setup.target.exists()
    assert not wait_gone(descendants() - before, timeout=5.0)


def test_ask_with_a_provider_that_cannot_ask_is_a_usage_error() -> None:
    done = cli("run", "--ask", "hello")
    assert done.returncode == 2
    assert b"on_permission cannot be used with provider 'echo'" in done.stderr


# -- in process: the question and the hand-over ----------------------------------------------


class Terminal:
    """Scripted answers and what was shown."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.shown: list[str] = []

    def read(self, prompt: str) -> str | None:
        self.shown.append(prompt)
        return self.answers.pop(0)

    def say(self, text: str) -> None:
        self.shown.append(text)


@pytest.mark.parametrize(("reply", "allowed"), [("y", True), ("YES", True), ("n", False), ("", False), (None, False)])
def test_yes_allows_and_anything_else_denies(reply: str | None, allowed: bool) -> None:
    terminal = Terminal(reply)
    decision = ask_on_terminal(PermissionRequest("Bash", {"command": "rm -rf build"}), terminal.read, terminal.say)
    assert isinstance(decision, Allow if allowed else Deny)
    assert terminal.shown == ["? Bash wants to run: rm -rf build", "  allow? [y/N] "]


def test_the_input_summary_is_short() -> None:
    line = describe(PermissionRequest("Write", {"file_path": "/x", "content": "a" * 5000}))
    assert line.startswith('? Write wants to run: {"file_path":"/x","content":"aaa')
    assert len(line) < 500 and "chars)" in line


def test_ask_user_question_answers_go_in_updated_input() -> None:
    questions = {
        "questions": [
            {"question": "Which colour?", "header": "Colour", "multiSelect": False,
             "options": [{"label": "red", "description": "warm"}, {"label": "blue", "description": "cool"}]},
            {"question": "Which sizes?", "header": "Size", "multiSelect": True,
             "options": [{"label": "S"}, {"label": "M"}, {"label": "L"}]},
            {"question": "Anything else?", "header": "Notes", "options": []},
        ]
    }  # fmt: skip
    terminal = Terminal("2", "1, 3", "ship it friday")
    decision = ask_on_terminal(PermissionRequest("AskUserQuestion", questions), terminal.read, terminal.say)
    assert decision == Allow(
        {**questions, "answers": {"Which colour?": "blue", "Which sizes?": "S, L", "Anything else?": "ship it friday"}}
    )
    assert "? Colour: Which colour?" in terminal.shown and "  2) blue — cool" in terminal.shown
    refused = ask_on_terminal(PermissionRequest("AskUserQuestion", questions), Terminal("").read, terminal.say)
    assert isinstance(refused, Deny)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_questions_hand_requests_to_the_main_thread_and_close_releases_them() -> None:
    questions = Questions()
    results: list[Allow | Deny] = []
    request = PermissionRequest("Write", {})

    def ask() -> None:
        results.append(questions("s", request))

    asker = threading.Thread(target=ask, name="test-asker")
    asker.start()
    _wait_for(lambda: questions.waiting == 1, "the question never arrived")
    question = questions.next()
    assert question is not None and question.request is request
    question.answer(Allow())
    asker.join(TIMEOUT)
    assert results == [Allow()]

    late = threading.Thread(target=ask, name="test-asker-2")
    late.start()
    _wait_for(lambda: questions.waiting == 1, "the second question never arrived")
    questions.close()
    late.join(TIMEOUT)
    assert not late.is_alive() and isinstance(results[-1], Deny)
    assert isinstance(questions("s", request), Deny)  # once closed, at once
