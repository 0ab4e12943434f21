"""A host that reaps children behind the manager's back never turns a crash into a clean exit.

Each case runs in a subprocess of its own (ignoring SIGCHLD or reaping with
``waitpid(-1)`` would disturb every other test of this process).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.manager.conftest import TIMEOUT

HOST = r"""
import json, os, signal, sys, threading, time
from sidecar_sync import SidecarManager

mode = sys.argv[1]
if mode == "ignore":
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps every child at once
elif mode == "reaper":
    def reap():
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                time.sleep(0.001)
    threading.Thread(target=reap, name="foreign-reaper", daemon=True).start()

with SidecarManager(stop_grace=0.5, kill_grace=0.5) as manager:
    manager.start_session("s", "echo", "x", provider_config={"exitCode": 3})
    state = manager.wait("s", 30, until="final")
    print(json.dumps({"status": state.status, "exit_code": state.exit_code, "error": state.error,
                      "stop_step": str(state.stop_step)}))
"""


def host(mode: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", HOST, mode], capture_output=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result: dict[str, object] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def test_the_plain_case_reports_the_exit_code() -> None:
    assert host("plain") == {
        "status": "error",
        "exit_code": 3,
        "error": "runner exited with code 3",
        "stop_step": "exited",
    }


@pytest.mark.parametrize("mode", ["ignore", "reaper"])
def test_a_crash_is_never_done_when_someone_else_reaps(mode: str) -> None:
    state = host(mode)
    assert state["status"] == "error", state
    error = str(state["error"])
    # The status was seen before the foreign reap (the code is right), or it was lost (and says so).
    if state["exit_code"] is None:
        assert "exit status lost: another handler reaped the runner" in error, state
    else:
        assert state["exit_code"] == 3 and "exited with code 3" in error, state
    if mode == "ignore":
        assert state["exit_code"] is None  # with SIGCHLD ignored no one can see the status
