"""``sidecar-sync replay`` as a subprocess: the API's counts, JSONL, stdin."""

from __future__ import annotations

import contextlib
import gzip
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_sync.replay import Replay, replay
from tests.cli.conftest import DATA, REPO, cli, cli_env, popen_cli

FILES = sorted(str(p) for p in DATA.glob("*.jsonl"))


def api_summary(sources: list[str], **kwargs: Any) -> dict[str, Any]:
    """``ReplaySummary.to_dict()`` without the time it took: what the CLI prints."""
    data = replay(sources, **kwargs).to_dict()
    data.pop("elapsed")
    return data


def cli_summary(
    *args: str, input: bytes | None = None
) -> tuple[int, dict[str, Any], bytes]:
    done = cli("replay", "--summary", "--json", *args, input=input)
    data = orjson.loads(done.stdout) if done.stdout else {}
    data.pop("elapsed", None)
    return done.returncode, data, done.stderr


def test_summary_counts_equal_the_api() -> None:
    code, data, err = cli_summary(*FILES)
    assert code == 0, err
    assert data == api_summary(FILES)
    assert data["messages"] > 0
    # the inputs are "files" in the JSON as in the text: a count and a list
    assert data["file_count"] == len(data["files"]) == len(FILES)
    assert "sources" not in data


def test_summary_with_jobs_equals_one_process() -> None:
    code, data, err = cli_summary("--jobs", "2", *FILES)
    assert code == 0, err
    assert data == api_summary(FILES)


def test_json_lines_are_every_message() -> None:
    done = cli("replay", "--json", *FILES)
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    expected = list(Replay(FILES))
    assert [m["type"] for m in lines] == [m.type for m in expected]
    assert [m["content"] for m in lines] == [
        orjson.loads(orjson.dumps(m.to_dict()))["content"] for m in expected
    ]
    assert done.stderr == b""


def test_text_rendering_and_summary_line() -> None:
    path = str(DATA / "claude_tool_bash.jsonl")
    done = cli("replay", path)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert '→ Bash {"command":"echo hi"' in out
    assert "← hi" in out and "Tool said: hi" in out
    assert "─ turn: $0.000376" in out
    assert done.stderr.decode().startswith(
        "replay: 5 messages from 5 lines in 1 file · $0.000376 · "
    )


def test_text_summary() -> None:
    done = cli("replay", "--summary", *FILES)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    expected = replay(FILES)
    assert f"files            {len(FILES)}\n" in out
    assert f"messages         {expected.messages:,}" in out
    for kind, count in expected.by_type.items():
        assert f"  {kind}" in out and f"{count:,}" in out


@pytest.mark.parametrize(
    ("name", "cost", "text"),
    [
        ("codex_api_error_401.jsonl", None, "$-"),  # no cost message at all: unknown
        ("codex_command.jsonl", None, "$-"),  # cost messages with tokens, never a price: unknown
        ("claude_api_error_500.jsonl", 0.0, "$0.00"),  # a cost message that says zero
        ("claude_tool_bash.jsonl", 0.000376, "$0.000376"),
    ],
)
def test_unknown_cost_is_not_zero(name: str, cost: float | None, text: str) -> None:
    path = str(DATA / name)
    code, data, err = cli_summary(path)
    assert code == 0, err
    assert data["cost_usd"] == cost and data["files"][0]["cost_usd"] == cost
    done = cli("replay", "--summary", path)
    assert f"cost             {text} (1 session)\n" in done.stdout.decode()
    done = cli("replay", path)
    assert f" in 1 file · {text} · ".encode() in done.stderr


def test_stdin_plain_and_gzip() -> None:
    raw = (DATA / "claude_partial_messages.jsonl").read_bytes()
    expected = api_summary([str(DATA / "claude_partial_messages.jsonl")])
    for body in (raw, gzip.compress(raw)):
        code, data, err = cli_summary("-", input=body)
        assert code == 0, err
        assert data["files"][0]["source"] == "<stdin>"
        data["files"][0]["source"] = expected["files"][0]["source"]
        assert data == expected


def test_gz_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(gzip.compress((DATA / "codex_command.jsonl").read_bytes()))
    code, data, err = cli_summary(str(path))
    assert code == 0, err
    assert data == api_summary([str(path)])


def test_bad_files_give_a_clear_error_and_the_rest_is_replayed(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"this is not gzip\n")
    good = str(DATA / "codex_command.jsonl")
    code, data, err = cli_summary(good, str(missing), str(broken))
    assert code == 1
    text = err.decode()
    assert f"{missing}: cannot open: No such file or directory" in text
    assert f"{broken}: not a gzip file" in text
    assert b"Traceback" not in err
    assert data["files"][0] == api_summary([good])["files"][0]
    assert len(data["errors"]) == 2


@pytest.mark.parametrize("mode", [[], ["--json"], ["--summary"]])
def test_a_directory_is_a_bad_file(tmp_path: Path, mode: list[str]) -> None:
    done = cli("replay", *mode, str(tmp_path))
    assert done.returncode == 1
    assert str(tmp_path).encode() in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "--jobs", "2", "x.jsonl"], "--jobs applies to --summary"),
        (
            ["replay", "--jobs", "0", "--summary", "x.jsonl"],
            "--jobs must be at least 1",
        ),
        (["replay", "-", "-"], "only once"),
        (["replay", "--provider", "nope", "x.jsonl"], "unknown provider 'nope'"),
        (["replay", "--max-line-size", "0", "x.jsonl"], "max_line_size"),
        (["replay"], "FILE"),
    ],
)
def test_replay_usage_errors(args: list[str], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert message in done.stderr.decode() and b"Traceback" not in done.stderr


def test_provider_option() -> None:
    path = str(DATA / "codex_command.jsonl")
    code, data, _ = cli_summary("--provider", "claude", path)
    assert code == 0 and set(data["by_type"]) == {"unknown"}


def test_closed_stdout_exits_quietly(tmp_path: Path) -> None:
    from bench.transcript import build_block

    data, _ = build_block("small", 4 * 2**20, seed=1)
    path = tmp_path / "big.ndjson"
    path.write_bytes(data)
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.buffer.readline()"],
        stdin=subprocess.PIPE,
    )
    proc = popen_cli("replay", "--json", str(path), stdout=reader.stdin)
    assert reader.stdin is not None
    reader.stdin.close()
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        reader.wait(timeout=60)
    assert proc.returncode == 141, err
    assert b"Traceback" not in err and b"Exception ignored" not in err


def _stderr_on_pty(*args: str) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    try:
        proc = popen_cli(*args, stderr=slave, env=cli_env(TERM="xterm"))
        os.close(slave)
        slave = -1
        err = b""
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, (
                f"the command's terminal stayed open for 60 s: {err[-500:]!r}"
            )
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                err += chunk
            elif proc.poll() is not None:
                break
        proc.communicate(timeout=60)
        return proc.returncode, err
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_progress_bar_on_a_terminal_for_big_inputs(tmp_path: Path) -> None:
    from bench.transcript import build_block

    data, _ = build_block("mixed", 48 * 2**20, seed=2)
    path = tmp_path / "big.ndjson"
    path.write_bytes(data)
    code, err = _stderr_on_pty("replay", "--summary", str(path))
    assert code == 0, err
    assert b"% " in err and b"MiB" in err and b"\x1b[2K" in err
    code, err = _stderr_on_pty("replay", "--summary", "--no-progress", str(path))
    assert code == 0 and b"MiB/s" not in err
    small = _stderr_on_pty("replay", "--summary", str(DATA / "codex_command.jsonl"))
    assert small[0] == 0 and b"\x1b[2K" not in small[1]
    # not a terminal: no bar
    done = cli("replay", "--summary", str(path))
    assert done.returncode == 0 and done.stderr == b""


def test_python_dash_m_and_console_script_agree() -> None:
    script = Path(sys.executable).parent / "sidecar-sync"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    path = str(DATA / "claude_tool_bash.jsonl")
    a = subprocess.run(
        [str(script), "replay", "--json", path],
        capture_output=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    b = cli("replay", "--json", path)
    assert a.returncode == b.returncode == 0
    assert [orjson.loads(x)["content"] for x in a.stdout.splitlines()] == [
        orjson.loads(x)["content"] for x in b.stdout.splitlines()
    ]


def test_slow_pipe_is_rendered_as_it_arrives() -> None:
    # stdin is read with read1: lines show up before the writer closes the pipe
    proc = popen_cli("replay", "--json", "-", stdin=subprocess.PIPE)
    assert (
        proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    )
    try:
        lines = (DATA / "codex_command.jsonl").read_bytes().splitlines(keepends=True)
        proc.stdin.write(lines[0])
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "nothing came out before EOF"
        first = proc.stdout.readline()
        assert orjson.loads(first)["type"] == "init"
        proc.stdin.writelines(lines[1:])
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert (
        len(rest.splitlines()) + 1 == replay(str(DATA / "codex_command.jsonl")).messages
    )


def _interrupt(*args: str, ready: Callable[[int], bool], stdin: int | None = None) -> None:
    """Start the CLI in its own process group; Ctrl-C the group once ``ready(pid)`` says
    the replay is under way (a Ctrl-C during Python's start-up is no replay's business)."""
    import signal

    from tests._proc import descendants, wait_gone, wait_until

    # its own process group, so SIGINT goes to all of it, as a terminal's Ctrl-C does
    proc = popen_cli(
        *args,
        start_new_session=True,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
    )
    workers_seen: set[int] = set()
    try:

        def running() -> bool:
            assert proc.poll() is None, "the CLI ended before Ctrl-C"
            return ready(proc.pid)

        wait_until(running, "the replay under way", timeout=60)
        workers_seen = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        left_behind = wait_gone(workers_seen, timeout=10)
    finally:
        if proc.poll() is None:  # the whole group: workers too, never left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        # Workers the CLI failed to end (the assert below says so) outlive it, blocked on
        # the FIFO: end them too, checking each is still in the CLI's process group.
        for pid in wait_gone(workers_seen, timeout=0):
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == proc.pid:
                    os.kill(pid, signal.SIGKILL)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    assert b"Traceback" not in err, err.decode()
    assert not left_behind, f"workers outlived the CLI: {sorted(left_behind)}"


def test_ctrl_c_while_reading_a_pipe() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, (DATA / "codex_command.jsonl").read_bytes())
        # stdin stays open: replay waits for more, once it has read what is there
        _interrupt("replay", "--json", "-", stdin=read_end, ready=lambda _pid: unread(read_end) == 0)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_ctrl_c_with_jobs(tmp_path: Path) -> None:
    # One source is a FIFO nobody writes to: its worker blocks, so the replay is
    # still running when Ctrl-C comes, however fast the machine.
    fifo = tmp_path / "never-written.fifo"
    os.mkfifo(fifo)
    files = [
        str(DATA / name) for name in ("claude_tool_bash.jsonl", "codex_command.jsonl")
    ]
    _interrupt("replay", "--summary", "--jobs", "2", *files, str(fifo), ready=workers_up(2))


def unread(fd: int) -> int:
    """Bytes waiting in the pipe ``fd`` (FIONREAD)."""
    import array
    import fcntl
    import termios

    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


def workers_up(count: int) -> Callable[[int], bool]:
    """True once ``count`` replay workers run: children that ignore SIGINT, as each
    worker does first thing (the parent ends them on Ctrl-C)."""
    import signal

    from tests._proc import descendants, ignores

    return lambda pid: len([p for p in descendants(pid) if ignores(p, signal.SIGINT)]) >= count
