"""A runner for testing the framework itself, driven by its prompts.

Run as ``python -m tests.runners.probe_runner`` from the repository root. The
prompt picks the behaviour:

``child``      start a sleeping child (via :meth:`Runner.spawn`), report its pid, wait for stop
``stubborn``   start a child that ignores SIGTERM and has a grandchild that ignores it too,
               in a session of its own; report both pids, wait for stop
``inherit``    start a child that inherits stdout/stdin and writes to stdout
``print``      ``print()`` to stdout and write to fd 1 directly, then end
``hang``       ignore stop: sleep 30 s without looking at the stop flag
``raise``      raise ValueError
``exit``       call sys.exit(3) inside the turn
``threads``    report the names of the live threads
``big:N``      emit N small events with :meth:`Turn.emit_many`
``lines``      emit pre-serialised lines with :meth:`Turn.emit_lines`, including bad ones
"""

from __future__ import annotations

import os
import sys
import threading
import time

from sidecar_sync.runners._base import Runner, Turn, run

CHILD_CODE = (
    "import sys, time; sys.stderr.write('child-stderr\\n'); sys.stderr.flush(); "
    "print('child-up', flush=True); time.sleep(60)"
)
#: A grandchild that ignores SIGTERM and says when it is up.
STUBBORN_GRANDCHILD = (
    "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); signal.pause()"
)
#: A child that ignores SIGTERM, starts the grandchild given as argv[1] in a session of its own, prints its pid.
STUBBORN_CHILD = """
import signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, start_new_session=True)
grandchild.stdout.readline()
print(grandchild.pid, flush=True)
signal.pause()
"""


class ProbeRunner(Runner):
    name = "probe"

    def run_turn(self, turn: Turn) -> None:
        prompt = turn.prompt
        if prompt == "child":
            child = self.spawn([sys.executable, "-c", CHILD_CODE])
            assert child.stdout is not None
            first = child.stdout.readline().decode().strip()
            turn.emit({"type": "child", "pid": child.pid, "first": first, "pgid": os.getpgid(child.pid)})
            while not turn.sleep(0.05):
                pass
        elif prompt == "stubborn":
            child = self.spawn([sys.executable, "-c", STUBBORN_CHILD, STUBBORN_GRANDCHILD])
            assert child.stdout is not None
            grandchild = int(child.stdout.readline())
            turn.emit({"type": "stubborn", "pid": child.pid, "grandchild": grandchild})
            turn.sleep(600)  # wakes at once when the turn is asked to stop
        elif prompt == "inherit":
            child = self.spawn(
                [sys.executable, "-c", "import sys; print('inherited-stdout'); print(repr(sys.stdin.read()))"],
                stdout=None,
                stdin=None,
            )
            child.wait(10)
            turn.emit({"type": "inherit", "code": child.popen.returncode})
        elif prompt == "print":
            print("stray print")
            os.write(1, b"stray fd1 write\n")
            turn.emit({"type": "printed"})
        elif prompt == "hang":
            turn.emit({"type": "hanging"})
            time.sleep(30)
        elif prompt == "raise":
            raise ValueError("probe failure")
        elif prompt == "exit":
            sys.exit(3)
        elif prompt == "threads":
            turn.emit({"type": "threads", "names": sorted(t.name for t in threading.enumerate())})
        elif prompt.startswith("big:"):
            count = int(prompt[4:])
            turn.emit_many({"type": "n", "i": i} for i in range(count))
        elif prompt == "lines":
            turn.emit_lines([b'{"type":"a"}', b"not json", b"[1,2]", b'{"type":"b","x":[1]}', b""])
        else:
            turn.emit({"type": "said", "prompt": prompt})


if __name__ == "__main__":
    run(ProbeRunner)
