"""A forked child never touches its parent's runners; Ctrl-C anywhere leaves nothing behind.

Both run in a host process of their own: forking pytest, or sending it SIGINT, would
disturb every other test.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.manager.conftest import TIMEOUT

FORK_HOST = r"""
import json, os, sys
from sidecar_sync import SidecarError, SidecarManager
from sidecar_sync.messages import new_message_id

how = sys.argv[1]
report = {}
with SidecarManager(stop_grace=0.5, kill_grace=0.5) as manager:
    manager.start_session("s", "echo", "before the fork")
    manager.wait("s", 30)
    parent_id = new_message_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        result = {"id": new_message_id()}
        try:
            manager.write_prompt("s", "from the child")
            result["write"] = "accepted"
        except SidecarError as exc:
            result["write"] = str(exc)
        if how == "shutdown":
            manager.shutdown()
        os.write(write, json.dumps(result).encode())
        sys.exit(0)  # a normal exit: finalizers and atexit hooks run in the child
    os.close(write)
    child = json.loads(os.read(read, 65536))
    os.waitpid(pid, 0)
    report["child"] = child
    report["parent_id"] = parent_id
    # the parent's session is untouched and still works
    state = manager.get_session("s")
    report["alive_after_fork"] = state.status
    manager.write_prompt("s", "after the fork")
    report["next_turn"] = manager.wait("s", 30).status
    report["messages"] = manager.get_session("s").messages
print(json.dumps(report))
"""


def fork_host(how: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", FORK_HOST, how], capture_output=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report: dict[str, object] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return report


def test_a_forked_child_that_exits_leaves_the_parents_runners_alone() -> None:
    report = fork_host("exit")
    child = report["child"]
    assert isinstance(child, dict)
    assert "belongs to process" in str(child["write"])  # the child cannot write into the parent's runner
    assert report["alive_after_fork"] == "idle" and report["next_turn"] == "idle"
    # ids stay unique: the child drew a new prefix
    assert str(child["id"]).split("-")[0] != str(report["parent_id"]).split("-")[0]


def test_a_forked_child_calling_shutdown_stops_nothing_of_the_parent() -> None:
    report = fork_host("shutdown")
    assert report["alive_after_fork"] == "idle" and report["next_turn"] == "idle"


INTERRUPT_HOST = r"""
import json, os, random, signal, sys, threading, time
from sidecar_sync import SessionExistsError, SessionNotFoundError, SidecarError, SidecarManager

class Interrupted(Exception):
    pass

def on_sigint(signum, frame):
    raise Interrupted()

signal.signal(signal.SIGINT, on_sigint)
# A tiny protocol runner through /bin/sh (argv list, no shell=True): starts in a few ms.
RUNNER = ["/bin/sh", "-c",
          'echo \'{"type":"ready"}\'; while read -r line; do '
          'echo \'{"type":"agent_started"}\'; echo \'{"type":"agent_stopped"}\'; done']
rng = random.Random(int(sys.argv[1]))
rounds = int(sys.argv[2])
landed = {"start": 0, "remove": 0, "wait": 0, "iter": 0, "stop": 0, "outside": 0}
manager = SidecarManager(stop_grace=0.5, kill_grace=0.5)
manager.register_provider("tiny", RUNNER)
ids = []
for i in range(rounds):
    session_id = f"r{i}"
    ids.append(session_id)
    step = "outside"
    timer = threading.Timer(rng.random() * 0.006, os.kill, (os.getpid(), signal.SIGINT))
    timer.name = "sigint"
    try:
        timer.start()
        step = "start"
        manager.start_session(session_id, "tiny", "x")
        step = rng.choice(["wait", "iter", "stop", "remove"])
        if step == "wait":
            manager.wait(session_id, 5)
        elif step == "iter":
            for _ in manager.iter_messages(session_id, timeout=5):
                pass
        elif step == "stop":
            manager.stop_session(session_id)
        else:
            manager.remove_session(session_id)
        step = "outside"
        timer.join()
    except Interrupted:
        landed[step] += 1
        try:
            timer.join()
        except Interrupted:
            pass
poisoned = []
for session_id in ids:
    try:
        manager.get_session(session_id)
    except SessionNotFoundError:
        try:
            manager.start_session(session_id, "tiny", "x")
        except SessionExistsError:
            poisoned.append(session_id)
manager.shutdown()
time.sleep(0.2)
children = []
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.append(int(entry))
print(json.dumps({"landed": landed, "poisoned": poisoned, "children": children}))
"""


def test_ctrl_c_anywhere_in_the_api_leaves_no_runner_and_no_poisoned_id() -> None:
    """A seeded fuzz: SIGINT lands at random moments in start/wait/iter/stop/remove."""
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPT_HOST, "7", "300"], capture_output=True, timeout=TIMEOUT * 4, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert report["children"] == [], report
    assert report["poisoned"] == [], report
    landed = report["landed"]
    assert landed["start"] > 10 and sum(landed.values()) > 100, landed  # the fuzz did reach the API
