"""``sidecar-sync run`` as a subprocess: output, --json, exit codes, errors, -i."""

from __future__ import annotations

import argparse
import logging
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync.cli import build_parser, main
from tests.cli.conftest import cli, cli_env, popen_cli

ANSI = b"\x1b["

#: Every key of ``AgentMessage.to_dict()`` content, per message type (as documented).
CONTENT_KEYS = {
    "init": {"session_id", "model", "cwd", "tools", "agent_version"},
    "text": {"text", "delta", "message_id", "index"},
    "thinking": {"text", "delta", "message_id", "index"},
    "tool_call": {"tool_use_id", "name", "input"},
    "tool_result": {"tool_use_id", "output", "is_error", "structured"},
    "status": {"subtype", "message", "data"},
    "compaction": {"trigger", "pre_tokens"},
    "cost": {
        "total_cost_usd",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "num_turns",
        "is_error",
        "result",
        "errors",
        "subtype",
        "terminal_reason",
        "api_error_status",
        "usage",
        "unusable_values",
    },
    "error": {"message"},
}


def json_lines(stdout: bytes) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in stdout.splitlines()]
    for line in lines:
        assert set(line) == {"id", "type", "parent_id", "timestamp", "content"}
        assert isinstance(line["id"], str) and isinstance(line["timestamp"], int)
        if line["type"] in CONTENT_KEYS:
            assert set(line["content"]) == CONTENT_KEYS[line["type"]], line
    return lines


def test_run_echo_renders_text() -> None:
    done = cli("run", "hello from the test")
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "hello from the test\n" in out
    assert "● session cli-" in out and "· echo · " in out
    assert (
        out.rstrip()
        .splitlines()[-1]
        .startswith("✓ done · $0.00 · 0 in / 0 out tokens · ")
    )
    assert "· status: running" in out and "· status: idle" in out
    assert ANSI.decode() not in out  # not a terminal: no colours
    assert done.stderr == b""


def test_run_json_is_complete() -> None:
    done = cli("run", "--json", "-c", "chunks=50", "many chunks")
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    assert [m["type"] for m in lines] == ["init"] + ["text"] * 50 + ["cost"]
    assert all(m["content"]["text"] == "many chunks" for m in lines[1:-1])
    assert lines[0]["content"]["model"] == "echo"
    assert (
        lines[-1]["content"]["result"] == "many chunks"
        and lines[-1]["content"]["is_error"] is False
    )
    assert len({m["id"] for m in lines}) == len(lines)


def test_run_options_reach_the_runner(tmp_path: Path) -> None:
    done = cli(
        "run",
        "--json",
        "--cwd",
        str(tmp_path),
        "--model",
        "m1",
        "--permission-mode",
        "default",
        "x",
    )
    assert done.returncode == 0, done.stderr
    init = json_lines(done.stdout)[0]
    assert init["content"]["cwd"] == str(tmp_path)


def last_line(stdout: bytes) -> str:
    return stdout.decode().rstrip("\n").splitlines()[-1]


def test_failed_turn_says_it_failed_with_the_reason() -> None:
    """A failed turn ends with "✗ turn failed: <reason>", never "✗ done"; exit 1."""
    done = cli("run", "-c", "fail=the model fell over", "x")
    assert done.returncode == 1
    assert done.stderr == b"sidecar-sync: the turn failed: the model fell over\n"
    assert last_line(done.stdout).startswith(
        "✗ turn failed: the model fell over · $- · 0 in / 0 out tokens · "
    )
    assert "done" not in last_line(done.stdout)


def test_crashed_runner_exits_1_with_the_reason() -> None:
    done = cli("run", "--json", "-c", "exitCode=3", "-c", "stderr=disk on fire", "x")
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "session failed: runner exited with code 3" in err and "disk on fire" in err
    # said once, not also by the library's log
    assert err.count("exited with code 3") == 1
    assert [m["type"] for m in json_lines(done.stdout)] == ["init"]


def test_crashed_runner_final_line_and_unknown_cost() -> None:
    """No cost message came: the cost is unknown ($-), not zero."""
    done = cli("run", "-c", "exitCode=3", "-c", "stderr=disk on fire", "x")
    assert done.returncode == 1
    assert last_line(done.stdout).startswith(
        "✗ session failed: runner exited with code 3; stderr: disk on fire"
        " · $- · 0 in / 0 out tokens · "
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--provider", "nope", "x"], "unknown provider 'nope'"),
        (["run", "-c", "novalue", "x"], "--config takes KEY=VALUE"),
        (["run"], "run needs a PROMPT"),
        (["run", "--cwd", "/nonexistent/dir", "x"], "/nonexistent/dir"),
        (["run", "--max-turns", "0", "x"], "--max-turns"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
        (
            ["run", "ab" + os.fsdecode(b"\xff")],
            "sidecar-sync: PROMPT is not valid UTF-8 (byte 0xff at offset 2)\n",
        ),
        (
            ["run", "-m", os.fsdecode(b"\xc3"), "x"],
            "sidecar-sync: --model is not valid UTF-8 (byte 0xc3 at offset 0)\n",
        ),
        (
            ["run", "-c", "k=" + os.fsdecode(b"\xfe"), "x"],
            "sidecar-sync: --config is not valid UTF-8 (byte 0xfe",
        ),
        (
            ["run", "--cwd", os.fsdecode(b"/tmp/\xff"), "x"],
            "sidecar-sync: --cwd is not valid UTF-8 (byte 0xff",
        ),
        (
            ["run", "--system-prompt", os.fsdecode(b"\x80"), "x"],
            "--system-prompt is not valid UTF-8",
        ),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr and b"Error:" not in done.stderr


def test_verbose_after_the_subcommand() -> None:
    """``-v`` works after the command as before it; the counts add up."""
    done = cli("run", "-v", "hi")
    assert done.returncode == 0, done.stderr
    assert (
        b"sidecar-sync: INFO: session 'cli-" in done.stderr
        and b"started echo runner, pid " in done.stderr
    )
    assert b"DEBUG" not in done.stderr
    done = cli("-v", "run", "-v", "hi")
    assert done.returncode == 0, done.stderr
    assert b"sidecar-sync: DEBUG: " in done.stderr
    args = build_parser().parse_args(["-v", "doctor", "-vv"])
    assert (args.verbose, args.verbose_after) == (1, 2)


def test_library_errors_have_no_class_name_or_traceback(tmp_path: Path) -> None:
    """The Claude provider without its CLI: one clear line, exit status 1."""
    home = tmp_path / "home"
    home.mkdir()
    done = cli(
        "run", "-p", "claude", "x", env=cli_env(PATH="/usr/bin:/bin", HOME=str(home))
    )
    assert done.returncode == 1
    assert done.stderr.startswith(
        b"sidecar-sync: Claude Code CLI not found; looked in: "
    )
    assert done.stderr.count(b"\n") == 1
    assert (
        b"ProviderUnavailableError" not in done.stderr
        and b"Traceback" not in done.stderr
    )


@pytest.mark.parametrize("command", [["run", "x"], ["replay", "-"]])
def test_a_library_that_cannot_load_is_a_clear_error(command: list[str]) -> None:
    done = cli(*command, env=cli_env(SIDECAR_SYNC_FRAMER="bogus"))
    assert done.returncode == 1
    assert done.stderr.startswith(b"sidecar-sync: SIDECAR_SYNC_FRAMER='bogus'")
    assert done.stderr.count(b"\n") == 1
    assert b"Traceback" not in done.stderr and b"ImportError" not in done.stderr


def test_an_internal_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug is reported in one line; -vv adds the traceback for whoever asks."""
    import sidecar_sync.cli

    def broken(args: object) -> int:
        raise KeyError("boom")

    monkeypatch.setitem(sidecar_sync.cli._COMMANDS, "doctor", broken)
    assert main(["doctor"]) == 1
    assert (
        capsys.readouterr().err
        == "sidecar-sync: internal error: 'boom' (-vv shows where)\n"
    )
    assert main(["doctor", "-vv"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith(
        "sidecar-sync: internal error: 'boom' (-vv shows where)\n"
    )


def test_main_leaves_logging_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() called in a process leaves no handler or logger level behind."""
    import sidecar_sync.cli

    def quiet(args: argparse.Namespace) -> int:
        logging.getLogger("sidecar_sync.replay").setLevel(logging.CRITICAL)
        return 0

    monkeypatch.setitem(sidecar_sync.cli._COMMANDS, "doctor", quiet)
    names = ("sidecar_sync", "sidecar_sync.replay", "sidecar_sync.session")
    before = [
        (logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names
    ]
    assert main(["-vv", "doctor"]) == 0
    after = [
        (logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names
    ]
    assert after == before


def test_interactive_follow_ups() -> None:
    done = cli("run", "--json", "-i", "first", input=b"second\n\nnot sent\n")
    assert done.returncode == 0, done.stderr
    texts = [
        m["content"]["text"] for m in json_lines(done.stdout) if m["type"] == "text"
    ]
    assert texts == ["first", "second"]  # an empty line ends the session


def test_interactive_reads_the_first_prompt_too() -> None:
    done = cli("run", "--json", "--interactive", input=b"one\ntwo\nthree\n")
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    assert [m["content"]["text"] for m in lines if m["type"] == "text"] == [
        "one",
        "two",
        "three",
    ]
    assert [m["type"] for m in lines].count("cost") == 3


def test_interactive_eof_before_any_prompt() -> None:
    done = cli("run", "-i")
    assert done.returncode == 0 and done.stdout == b""


def test_a_first_prompt_on_stdin_that_is_not_utf8() -> None:
    done = cli("run", "-i", input=b"\xffhello\n")
    assert done.returncode == 1
    assert (
        done.stderr
        == b"sidecar-sync: line 1 of stdin is not valid UTF-8 (byte 0xff at offset 0)\n"
    )
    assert done.stdout == b""


def test_a_follow_up_on_stdin_that_is_not_utf8_stops_the_session() -> None:
    done = cli("run", "-i", "first", input=b"second\nab\xfe\nnot sent\n")
    assert done.returncode == 1
    assert (
        done.stderr
        == b"sidecar-sync: line 2 of stdin is not valid UTF-8 (byte 0xfe at offset 2)\n"
    )
    out = done.stdout.decode()
    assert "first\n" in out and "second\n" in out and "not sent" not in out
    assert last_line(done.stdout).startswith(
        "✗ stopped: line 2 of stdin is not valid UTF-8 (byte 0xfe at offset 2)"
        " · $0.00 · 0 in / 0 out tokens · "
    )


def _run_on_pty(*args: str, env: dict[str, str], status: int = 0) -> bytes:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return its output."""
    master, slave = pty.openpty()
    try:
        proc = popen_cli(*args, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        slave = -1
        out = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side closed
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=30) == status, out
        return out
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_colours_only_on_a_terminal_and_never_with_no_color() -> None:
    coloured = _run_on_pty("run", "hi", env=cli_env(TERM="xterm"))
    assert b"\x1b[31m" in _run_on_pty(
        "run", "-c", "fail=x", "hi", env=cli_env(TERM="xterm"), status=1
    )
    assert ANSI in coloured and b"hi" in coloured
    plain = _run_on_pty("run", "hi", env=cli_env(TERM="xterm", NO_COLOR="1"))
    assert ANSI not in plain and b"hi" in plain


def test_console_script_and_version() -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.startswith(b"sidecar-sync ")


def test_closed_stdout_stops_the_session() -> None:
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.buffer.readline()"],
        stdin=subprocess.PIPE,
    )
    assert reader.stdin is not None
    proc = popen_cli(
        "run", "--json", "-c", "chunks=5000000", "flood", stdout=reader.stdin
    )
    reader.stdin.close()
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        reader.wait(timeout=60)
    assert proc.returncode == 141, err
    assert b"Traceback" not in err and b"Exception ignored" not in err
