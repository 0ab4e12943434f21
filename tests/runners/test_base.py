"""The runner contract of runners/_base.py, driven through real runner processes.

Most cases use the echo runner (the simplest real runner); framework corners
(children, stray prints, a turn that ignores stop, exceptions) use the probe
runner in tests/runners/probe_runner.py.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync.protocol import encode, ping_command, query_command, stop_command
from sidecar_sync.runners._base import Runner, RunnerHost, Turn
from sidecar_sync.runners._output import CommandReader
from tests._proc import is_alive, wait_gone, wait_until
from tests.runners.client import RunnerClient, events, types

REPO = Path(__file__).resolve().parents[2]
PROBE = [sys.executable, "-m", "tests.runners.probe_runner"]
SpawnRunner = Callable[..., RunnerClient]


def probe(spawn_runner: SpawnRunner, **kwargs: object) -> RunnerClient:
    return spawn_runner(argv=PROBE, cwd=REPO, **kwargs)


def assert_quiet_stderr(client: RunnerClient) -> None:
    text = client.stderr()
    assert "Traceback" not in text, text
    assert "Exception ignored" not in text, text


# -- liveness and bad commands ------------------------------------------------------


def test_ready_then_pong(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send(ping_command())
    assert runner.read() == {"type": "pong"}
    runner.send(ping_command())
    assert runner.read() == {"type": "pong"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"this is not json\n", "invalid JSON"),
        (b'{"type": "query", "prompt": \n', "invalid JSON"),
        (b"[1, 2]\n", "JSON object"),
        (b"null\n", "JSON object"),
        (b"42\n", "JSON object"),
        (b'{"no_type": 1}\n', "no string 'type'"),
        (b'{"type": 7}\n', "no string 'type'"),
        (b'{"type": "bogus"}\n', "unknown command type 'bogus'"),
        (b'{"type": "query", "sessionId": "s"}\n', "string 'prompt'"),
        (b'{"type": "query", "sessionId": "s", "prompt": 3}\n', "string 'prompt'"),
        (b'{"type": "query", "prompt": "hi"}\n', "string 'sessionId'"),
        (b'{"type": "query", "sessionId": 1, "prompt": "hi"}\n', "string 'sessionId'"),
        (b'{"type": "ping", "x": "\xff\xfe"}\n', "invalid JSON"),  # invalid UTF-8
    ],
)
def test_bad_command_is_an_error_line_and_the_runner_goes_on(
    spawn_runner: SpawnRunner, raw: bytes, fragment: str
) -> None:
    runner = spawn_runner("echo")
    runner.send_raw(raw)
    line = runner.read()
    assert line["type"] == "error"
    assert fragment in line["message"]
    runner.send(query_command("s1", "still alive"))
    turn = runner.read_turn()
    assert types(turn)[0] == "agent_started"
    assert turn[-1] == {"type": "agent_stopped"}
    runner.send(ping_command())
    assert runner.read() == {"type": "pong"}


def test_blank_and_crlf_lines_are_fine(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send_raw(b"\n   \n\r\n" + b'{"type":"ping"}\r\n')
    assert runner.read() == {"type": "pong"}


def test_commands_split_across_writes(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    data = encode(ping_command()) + encode(query_command("s", "split"))
    for i in range(0, len(data), 3):
        runner.send_raw(data[i : i + 3])
    assert runner.read() == {"type": "pong"}
    assert runner.read_turn()[-1] == {"type": "agent_stopped"}


# -- turns ------------------------------------------------------------------------


def test_turn_is_bracketed_and_events_are_wrapped(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send(query_command("s1", "hi"))
    turn = runner.read_turn()
    assert types(turn) == ["agent_started", "agent_event", "agent_event", "agent_event", "agent_stopped"]
    assert [e["type"] for e in events(turn)] == ["system", "assistant", "result"]


def test_follow_ups_keep_the_first_querys_options(spawn_runner: SpawnRunner, tmp_path: Path) -> None:
    runner = spawn_runner("echo")
    runner.send(query_command("s1", "one", {"cwd": str(tmp_path), "provider_config": {"chunks": 2}}))
    first = events(runner.read_turn())
    runner.send(query_command("s1", "two"))
    second = events(runner.read_turn())
    # a follow-up carrying options does not change them (they are logged and ignored)
    runner.send({**query_command("s1", "three"), "cwd": "/elsewhere", "providerConfig": {"chunks": 5}})
    third = events(runner.read_turn())
    for evs, prompt in ((first, "one"), (second, "two"), (third, "three")):
        assert evs[0]["cwd"] == str(tmp_path)
        assert [e["message"]["content"][0]["text"] for e in evs if e["type"] == "assistant"] == [prompt, prompt]
    assert len({evs[0]["uuid"] for evs in (first, second, third)}) == 3  # one id set per turn


def test_queries_during_a_turn_are_queued_in_order(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send(query_command("s1", "q1", {"provider_config": {"delay": 0.05}}))
    runner.send(query_command("s1", "q2"))
    runner.send(query_command("s1", "q3"))
    runner.send(ping_command())  # answered at once, even while turns run
    lines = []
    for _ in range(3):
        lines += runner.read_turn()
    assert {"type": "pong"} in lines
    lines.remove({"type": "pong"})
    # no interleaving: each turn is started, has its events, and ends before the next
    assert types(lines) == (["agent_started"] + ["agent_event"] * 3 + ["agent_stopped"]) * 3
    results = [e["result"] for e in events(lines) if e["type"] == "result"]
    assert results == ["q1", "q2", "q3"]


def test_exception_in_a_turn_is_agent_error_and_the_runner_survives(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "raise"))
    turn = runner.read_turn()
    assert turn[-1] == {"type": "agent_error", "message": "ValueError: probe failure"}
    runner.send(query_command("s1", "after"))
    turn = runner.read_turn()
    assert events(turn) == [{"type": "said", "prompt": "after"}]
    assert turn[-1] == {"type": "agent_stopped"}


def test_sys_exit_in_a_turn_is_an_agent_error_too(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "exit"))
    assert runner.read_turn()[-1] == {"type": "agent_error", "message": "SystemExit: 3"}
    runner.send(query_command("s1", "after"))
    assert runner.read_turn()[-1] == {"type": "agent_stopped"}


def test_invalid_session_options_fail_every_turn(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send({**query_command("s1", "hi"), "maxTurns": "many"})
    turn = runner.read_turn()
    assert types(turn) == ["agent_started", "agent_error"]
    assert "max_turns" in turn[-1]["message"] and "'many'" in turn[-1]["message"]
    runner.send(query_command("s1", "again"))
    assert runner.read_turn()[-1] == turn[-1]


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("cwd", 5, "cwd"),
        ("providerConfig", [1], "provider_config"),
        ("extraEnv", {"A": 1}, "extra_env"),
        ("additionalDirectories", "/tmp", "additional_directories"),
        ("maxTurns", True, "max_turns"),
        ("systemPrompt", "a\x00b", "system_prompt"),
    ],
)
def test_each_bad_option_is_named(spawn_runner: SpawnRunner, key: str, value: object, fragment: str) -> None:
    runner = spawn_runner("echo")
    runner.send({**query_command("s1", "hi"), key: value})
    turn = runner.read_turn()
    assert turn[-1]["type"] == "agent_error"
    assert fragment in turn[-1]["message"]


# -- stop ---------------------------------------------------------------------------


def test_stop_interrupts_a_slow_turn_and_exits_0(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send(query_command("s1", "slow", {"provider_config": {"delay": 30}}))
    assert runner.read()["type"] == "agent_started"
    assert runner.read()["event"]["subtype"] == "init"
    runner.send(stop_command("s1"))
    rest = runner.read_all(timeout=5)
    assert rest[-1] == {"type": "agent_stopped"}
    assert runner.wait(5) == 0
    assert_quiet_stderr(runner)


def test_stop_drops_queued_queries(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send(query_command("s1", "slow", {"provider_config": {"delay": 30}}))
    runner.send(query_command("s1", "queued"))
    runner.read_until("agent_event")
    runner.send(stop_command("s1"))
    rest = runner.read_all(timeout=5)
    assert types(rest).count("agent_started") == 0
    assert rest[-1] == {"type": "agent_stopped"}
    assert runner.wait(5) == 0


def test_stop_when_idle_exits_0_without_output(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send(stop_command("s1"))
    assert runner.read_all(timeout=5) == []
    assert runner.wait(5) == 0


def test_stop_ends_a_turn_that_ignores_it(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "hang"))
    runner.read_until("agent_event")
    runner.send(stop_command("s1"))
    assert runner.read_all(timeout=5) == [{"type": "agent_stopped"}]
    assert runner.wait(5) == 0


def test_stop_ends_the_runners_children(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "child"))
    info = runner.read_until("agent_event")[-1]["event"]
    assert info["first"] == "child-up"
    assert info["pgid"] == os.getpgid(runner.pid)  # same process group as the runner
    assert is_alive(info["pid"])
    runner.send(stop_command("s1"))
    assert runner.read_all(timeout=5)[-1] == {"type": "agent_stopped"}
    assert runner.wait(5) == 0
    assert not wait_gone({info["pid"]}, timeout=5)
    # the child's stderr was forwarded to the runner's stderr, labelled
    assert "[probe] child-stderr" in runner.stderr()


# -- stdin EOF (the host is gone), EPIPE, signals ----------------------------------


def test_stdin_eof_ends_the_running_turn_drops_queued_ones_and_exits_0(spawn_runner: SpawnRunner) -> None:
    """EOF means the host is gone: the slow turn is cut short, the queued one never starts."""
    runner = spawn_runner("echo")
    runner.send(query_command("s1", "first", {"provider_config": {"delay": 30}}))
    runner.send(query_command("s1", "queued"))
    runner.read_until("agent_event")
    runner.close_stdin()
    rest = runner.read_all(timeout=5)
    assert "agent_started" not in types(rest)
    assert rest[-1] == {"type": "agent_stopped"}
    assert [e["subtype"] for e in events(rest) if e["type"] == "result"] == ["error_during_execution"]
    assert runner.wait(5) == 0
    assert runner.stderr() == ""


def test_stdin_eof_when_idle_exits_0_quietly(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.close_stdin()
    assert runner.read_all() == []
    assert runner.wait() == 0
    assert runner.stderr() == ""


def test_unterminated_last_command_is_still_read_at_eof(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.send_raw(orjson.dumps(ping_command()))
    runner.close_stdin()
    assert runner.read_all() == [{"type": "pong"}]
    assert runner.wait() == 0


def test_stdin_eof_ends_children_that_ignore_sigterm(spawn_runner: SpawnRunner) -> None:
    """A child that ignores SIGTERM is killed, and so is its grandchild in a session of its own."""
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "stubborn"))
    info = runner.read_until("agent_event")[-1]["event"]
    pids = {info["pid"], info["grandchild"]}
    try:
        assert all(is_alive(pid) for pid in pids)
        runner.close_stdin()
        assert runner.read_all(timeout=5)[-1] == {"type": "agent_stopped"}
        assert runner.wait(5) == 0
        assert not wait_gone(pids, timeout=5)
    finally:
        for pid in pids:  # the grandchild is out of the runner's group: the fixture cannot reach it
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)


def _spawn_raw(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        **kwargs,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "mid-turn"])
def test_epipe_exits_0_quietly(busy: bool) -> None:
    proc = _spawn_raw([sys.executable, "-m", "sidecar_sync.runners.echo"])
    try:
        assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
        assert orjson.loads(proc.stdout.readline()) == {"type": "ready"}
        if busy:  # a long fast turn: the runner is writing when the pipe breaks
            proc.stdin.write(encode(query_command("s1", "x" * 100, {"provider_config": {"chunks": 10_000_000}})))
            proc.stdin.flush()
            proc.stdout.read(100_000)
        proc.stdout.close()  # the manager is gone
        if not busy:
            proc.stdin.write(encode(ping_command()))  # the pong meets EPIPE
            proc.stdin.flush()
        assert proc.wait(10) == 0
        err = proc.stderr.read().decode()
        assert "Traceback" not in err and "Exception ignored" not in err, err
    finally:
        _kill(proc)


def test_sigterm_mid_turn_reports_ends_children_and_exits_143(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "child"))
    child_pid = runner.read_until("agent_event")[-1]["event"]["pid"]
    runner.signal(signal.SIGTERM)
    rest = runner.read_all(timeout=5)
    assert rest == [{"type": "agent_error", "message": "runner terminated by SIGTERM"}]
    assert runner.wait(5) == 128 + signal.SIGTERM
    assert not wait_gone({child_pid}, timeout=5)


def test_sigterm_when_idle_exits_143(spawn_runner: SpawnRunner) -> None:
    runner = spawn_runner("echo")
    runner.signal(signal.SIGTERM)
    assert runner.read_all(timeout=5) == []
    assert runner.wait(5) == 128 + signal.SIGTERM
    assert_quiet_stderr(runner)


# -- isolation of the protocol stream ---------------------------------------------


def test_stray_prints_never_reach_the_protocol_stream(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "print"))
    turn = runner.read_turn()
    assert events(turn) == [{"type": "printed"}]
    runner.close_stdin()
    runner.read_all()
    runner.wait()
    assert all(not isinstance(line, tuple) for line in turn)
    assert all(b"stray" not in raw for raw in runner.raw_lines)
    assert "stray print" in runner.stderr() and "stray fd1 write" in runner.stderr()


def test_children_inheriting_stdio_get_dev_null_and_stderr(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "inherit"))
    turn = runner.read_turn()
    assert events(turn) == [{"type": "inherit", "code": 0}]
    runner.close_stdin()
    runner.read_all()
    runner.wait()
    assert all(b"inherited" not in raw for raw in runner.raw_lines)
    assert "inherited-stdout" in runner.stderr()
    assert "''" in runner.stderr()  # the child's stdin was /dev/null, not our command pipe


def test_every_thread_is_named(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "threads"))
    names = events(runner.read_turn())[0]["names"]
    assert "MainThread" in names and "probe-turns" in names
    assert not [n for n in names if n.startswith("Thread-")], names


def test_emit_many_writes_every_event_in_order(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "big:50000"))
    evs = events(runner.read_turn())
    assert [e["i"] for e in evs] == list(range(50000))


def test_emit_lines_wraps_objects_and_skips_the_rest(spawn_runner: SpawnRunner) -> None:
    runner = probe(spawn_runner)
    runner.send(query_command("s1", "lines"))
    turn = runner.read_turn()
    assert events(turn) == [{"type": "a"}, {"type": "b", "x": [1]}]
    assert "skipping a non-object output line" in runner.stderr()


# -- in-process: the host over plain pipes, and the command reader ------------------


class _Recorder(Runner):
    name = "recorder"

    def run_turn(self, turn: Turn) -> None:
        turn.emit({"type": "got", "prompt": turn.prompt})


def test_host_rejects_oversized_command_lines_and_continues() -> None:
    cmd_r, cmd_w = os.pipe()
    out_r, out_w = os.pipe()
    host = RunnerHost(_Recorder(), cmd_r, out_w, handle_signals=False, max_command_line=100)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(host.serve()), name="test-host")
    thread.start()
    output = b""
    try:
        os.write(cmd_w, b'{"type":"ping","pad":"' + b"x" * 500 + b'"}\n')
        os.write(cmd_w, encode(query_command("s", "ok")))
        while b'"agent_stopped"' not in output:
            readable, _, _ = select.select([out_r], [], [], 10)
            assert readable, f"no agent_stopped within 10 s: {output!r}"
            output += os.read(out_r, 65536)
    finally:
        os.close(cmd_w)  # EOF: the host ends
        thread.join(10)
        os.close(out_w)
        os.close(out_r)
        os.close(cmd_r)
    assert not thread.is_alive() and codes == [0]
    lines = [orjson.loads(line) for line in output.splitlines()]
    assert lines[0] == {"type": "ready"}
    assert lines[1]["type"] == "error" and "too long" in lines[1]["message"]
    assert lines[2:] == [
        {"type": "agent_started"},
        {"type": "agent_event", "event": {"type": "got", "prompt": "ok"}},
        {"type": "agent_stopped"},
    ]


def test_command_reader_framing() -> None:
    reader = CommandReader(max_line=10)
    assert reader.feed(b"ab") == []
    assert reader.feed(b"c\n  \nde") == [b"abc"]
    assert reader.feed(b"f\r\n0123456789ab") == [b"def", None]  # oversized: reported once
    assert reader.feed(b"cdef") == []
    assert reader.feed(b"gh\nok\n") == [b"ok"]  # framing resumes after the long line's newline
    assert reader.feed(b"12345678901\n") == [None]
    assert reader.feed(b"tail") == []
    assert reader.finish() == [b"tail"]
    assert reader.finish() == []


@pytest.mark.parametrize("how", ["stop", "sigterm"])
def test_exit_even_when_the_output_pipe_is_full(how: str) -> None:
    """A manager that stopped reading must not keep the runner alive past stop or SIGTERM."""
    proc = _spawn_raw([sys.executable, "-m", "sidecar_sync.runners.echo"])
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert orjson.loads(proc.stdout.readline()) == {"type": "ready"}
        proc.stdin.write(encode(query_command("s1", "x" * 1000, {"provider_config": {"chunks": 10_000_000}})))
        proc.stdin.flush()
        proc.stdout.read(10_000)  # the turn is running; from now on nobody reads: the pipe fills up
        stdout = proc.stdout.fileno()
        wait_until(lambda: pipe_is_full(stdout), "the runner's stdout pipe full", timeout=30)
        if how == "stop":
            proc.stdin.write(encode(stop_command("s1")))
            proc.stdin.flush()
            assert proc.wait(10) == 0
        else:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 128 + signal.SIGTERM
    finally:
        _kill(proc)


def pipe_is_full(fd: int) -> bool:
    """True when the pipe ``fd`` holds as many bytes as it can (FIONREAD == F_GETPIPE_SZ)."""
    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0] >= fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def test_unexpected_arguments_are_refused_before_ready() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar_sync.runners.echo", "--bogus"],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert b"unexpected arguments ['--bogus']" in proc.stderr
