"""Runners die with their host: a host killed mid-turn leaves nothing of the session running.

Each test starts ``tests/runners/host_process.py``, a stand-in for the process
that hosts a manager: it starts the runner as the manager does (pipes, a new
session) and relays the protocol lines, so a :class:`RunnerClient` drives the
runner through it. The test then kills the host with SIGKILL, as systemd, docker
or the OOM killer would, and checks that the runner and every process it started
are gone within :data:`GONE_WITHIN` seconds.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidecar_sync._proctree import descendants, kill_known, process_stat
from sidecar_sync.protocol import ping_command, query_command
from tests._proc import is_alive, wait_gone
from tests.fakes import anthropic as fa
from tests.runners.cli_fixtures import ClaudeSetup, processes_in
from tests.runners.client import RunnerClient, events, types

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
HOST = [sys.executable, "-m", "tests.runners.host_process"]
ECHO = [sys.executable, "-m", "sidecar_sync.runners.echo"]
PROBE = [sys.executable, "-m", "tests.runners.probe_runner"]
#: The runner and everything it started must be gone this many seconds after the host died.
GONE_WITHIN = 3.0


class Host(RunnerClient):
    """A host process relaying to its runner; remembers every process of the session for cleanup."""

    runner_pid: int
    known: dict[int, int]

    def start_runner(self) -> Host:
        """Read the host's report and the runner's ``ready``."""
        report = self.read()
        assert report["type"] == "runner", report
        self.runner_pid = report["pid"]
        self.known = {}
        self.remember()
        return self.start()

    def remember(self) -> set[int]:
        """Note the runner and its descendants now (with start times); return their pids."""
        stat = process_stat(self.runner_pid)
        if stat is not None:
            self.known[self.runner_pid] = stat[1]
        self.known.update(descendants(self.runner_pid))
        return set(self.known)

    def kill_host(self) -> None:
        """SIGKILL the host process only (not its group), and reap it."""
        self.signal(signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL


@pytest.fixture
def host() -> Iterator[Callable[..., Host]]:
    """A factory ``host(runner_argv, *host_options, env=...)`` -> a :class:`Host` whose runner is ready.

    At teardown the host's group is killed, and so is every process of the
    session still alive (a failed test must not leave them behind).
    """
    hosts: list[Host] = []

    def start(runner: list[str], *options: str, env: dict[str, str] | None = None) -> Host:
        client = Host("host", argv=[*HOST, *options, *runner], env=env, cwd=REPO)
        hosts.append(client)
        return client.start_runner()

    yield start
    for client in hosts:
        if hasattr(client, "known"):
            kill_known(client.known)
        client.close()


def _wait_for_stderr(client: RunnerClient, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in client.stderr_lines):
        assert time.monotonic() < deadline, f"{text!r} not on stderr within {timeout}s: {client.stderr()}"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("runner", "prompt", "config"),
    [
        (ECHO, "slow", {"delay": 30}),
        (PROBE, "stubborn", {}),  # a child and a grandchild (own session) that ignore SIGTERM
    ],
    ids=["echo-slow-turn", "children-ignoring-sigterm"],
)
def test_host_killed_mid_turn(host, runner, prompt, config):
    """SIGKILL of the host mid-turn: the runner and all it started are gone within 3 s."""
    session = host(runner)
    session.send(query_command("s1", prompt, {"provider_config": config}))
    event = session.read_until("agent_event")[-1]["event"]
    pids = session.remember()
    if prompt == "stubborn":
        assert {event["pid"], event["grandchild"]} <= pids
    assert all(is_alive(pid) for pid in pids)

    session.kill_host()

    assert not wait_gone(pids, timeout=GONE_WITHIN)


def test_host_killed_while_its_stdin_pipe_stays_open(host):
    """A copy of the runner's stdin survives the host (no EOF): the parent's death is noticed anyway."""
    session = host(ECHO, "--hold-stdin", env={"SIDECAR_SYNC_RUNNER_LOG": "INFO"})
    session.send(query_command("s1", "slow", {"provider_config": {"delay": 30}}))
    session.read_until("agent_event")
    pids = session.remember()

    session.kill_host()

    assert not wait_gone(pids, timeout=GONE_WITHIN)
    text = session.stderr()
    assert "the host is gone" in text and "stdin closed" not in text, text


def test_exit_of_the_spawning_thread_does_not_end_the_runner(host):
    """The parent-death signal fires when the host's spawning thread exits; the host lives, so the runner stays."""
    session = host(ECHO, "--thread", env={"SIDECAR_SYNC_RUNNER_LOG": "INFO"})
    _wait_for_stderr(session, "parent-death signal, but the host")

    session.send(ping_command())
    assert session.read() == {"type": "pong"}
    session.send(query_command("s1", "still here"))
    turn = session.read_turn()
    assert types(turn)[-1] == "agent_stopped"
    assert [e["result"] for e in events(turn) if e["type"] == "result"] == ["still here"]
    assert is_alive(session.runner_pid)

    session.close_stdin()  # the host closes the runner's stdin and waits for it
    assert session.proc.wait(10) == 0
    assert not wait_gone({session.runner_pid}, timeout=GONE_WITHIN)


def test_host_killed_while_claude_code_is_mid_turn(host, claude_cli: str, claude_setup: ClaudeSetup):
    """The real Claude Code CLI streaming a slow reply, the host SIGKILLed: no process of the session survives 3 s."""
    claude_setup.api.script(fa.slow_text("x" * 200, pieces=200, delay=0.05))
    session = host([sys.executable, "-m", "sidecar_sync.runners.claude", "--cli", claude_cli], env=claude_setup.env)
    session.send(claude_setup.query("take your time"))
    assert session.read()["type"] == "agent_started"
    claude_setup.api.wait_for_events(5)  # the model is streaming to the CLI
    pids = session.remember() | set(processes_in(claude_setup.work))
    assert len(pids) > 1, "the CLI should be running"

    session.kill_host()

    assert not wait_gone(pids, timeout=GONE_WITHIN)
    assert not processes_in(claude_setup.work)
    assert claude_setup.api.events_sent < 200  # the stream was cut short
