"""A forked child never touches its parent's runners; Ctrl-C anywhere leaves nothing behind.

All run in a host process of their own: forking pytest, or sending it SIGINT, would
disturb every other test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.manager.conftest import TIMEOUT

#: The repository root: the fork fuzz host runs from it, to import tests._proc.
ROOT = Path(__file__).resolve().parents[2]
#: Forks per seed in the fork fuzz.
FORK_ROUNDS = 15

FORK_HOST = r"""
import json, os, signal, sys, threading
from sidecar_sync import SidecarError, SidecarManager
from sidecar_sync.messages import new_message_id

how = sys.argv[1]
report = {}
with SidecarManager(stop_grace=0.5, kill_grace=0.5) as manager:
    manager.start_session("s", "echo", "before the fork")
    manager.wait("s", 30)
    parent_id = new_message_id()
    # open across the fork: the child runs its finalizer at exit
    iterator = manager.iter_messages("s", timeout=30) if how == "consumers lock held" else None
    if how.endswith("lock held"):  # another thread holds one of the manager's locks across the fork
        registry = manager._registry
        lock = registry._lock if how == "registry lock held" else registry.get("s").consumers._lock
        held, release = threading.Event(), threading.Event()

        def hold():
            with lock:
                held.set()
                release.wait(30)

        holder = threading.Thread(target=hold, name="lock-holder")
        holder.start()
        held.wait(30)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        signal.alarm(5)  # a child stuck for ever dies here (SIGALRM) instead of hanging the test
        os.close(read)
        result = {"id": new_message_id()}
        try:
            manager.write_prompt("s", "from the child")
            result["write"] = "accepted"
        except SidecarError as exc:
            result["write"] = str(exc)
        if how in ("shutdown", "registry lock held"):
            manager.shutdown()
        os.write(write, json.dumps(result).encode())
        sys.exit(0)  # a normal exit: finalizers and atexit hooks run in the child
    os.close(write)
    data = os.read(read, 65536)
    _, status = os.waitpid(pid, 0)
    if how.endswith("lock held"):
        release.set()
        holder.join(30)
    if iterator is not None:
        iterator.close()
    report["child"] = json.loads(data) if data else None
    report["child_exit"] = os.waitstatus_to_exitcode(status)
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
    assert report["child_exit"] == 0, report
    child = report["child"]
    assert isinstance(child, dict)
    assert "belongs to process" in str(child["write"])  # the child cannot write into the parent's runner
    assert report["alive_after_fork"] == "idle" and report["next_turn"] == "idle"
    # ids stay unique: the child drew a new prefix
    assert str(child["id"]).split("-")[0] != str(report["parent_id"]).split("-")[0]


def test_a_forked_child_calling_shutdown_stops_nothing_of_the_parent() -> None:
    report = fork_host("shutdown")
    assert report["child_exit"] == 0, report
    assert report["alive_after_fork"] == "idle" and report["next_turn"] == "idle"


@pytest.mark.parametrize("lock", ["registry", "consumers"])
def test_a_forked_child_exits_even_if_another_thread_held_a_lock_of_the_manager_at_the_fork(lock: str) -> None:
    """A lock held by another thread at the fork is never released in the child, so
    nothing the child runs on its way out may take one: its ``shutdown()`` (also run by
    leaving a ``with SidecarManager()`` block) once closed the registry under the
    registry's lock, and the finalizer of an iterator left open unsubscribed under the
    session's consumers lock at exit. Either hung the child for ever (the first was
    found by the fork fuzz below, the second by looking for more of its kind)."""
    report = fork_host(f"{lock} lock held")
    assert report["child_exit"] == 0, report  # -14 (SIGALRM): the child hung
    assert report["child"] is not None
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


FORK_FUZZ_HOST = r'''
import faulthandler, json, os, random, select, signal, sys, threading, time, traceback
from sidecar_sync import SidecarError, SidecarManager
from sidecar_sync.messages import new_message_id
from tests._proc import descendants, is_alive, wait_gone

SEED, ROUNDS, WORKDIR = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
STEP_TIMEOUT = 5.0  # every wait, iterator and join
CHILD_TIMEOUT = 5.0  # a forked child still there after this hangs: it is killed and the round fails
# A protocol runner through /bin/sh (argv list, no shell=True) that starts in a few ms and
# answers query n with the texts "n:0", "n:1", "n:2" ($1 seconds apart), events without a
# uuid so the adapter draws the message ids: the ids then carry this process's prefix.
TINY = r"""
n=0
echo '{"type":"ready"}'
while read -r line; do
  case "$line" in *'"type":"stop"'*) exit 0;; esac
  n=$((n+1))
  echo '{"type":"agent_started"}'
  for i in 0 1 2; do
    [ "$1" = 0 ] || sleep "$1"
    text='{"type":"text","text":"'"$n:$i"'"}'
    echo '{"type":"agent_event","event":{"type":"assistant","message":{"role":"assistant","content":['"$text"']}}}'
  done
  echo '{"type":"agent_stopped"}'
done
"""
RUNNERS = {"fast": ["/bin/sh", "-c", TINY, "sh", "0"], "slow": ["/bin/sh", "-c", TINY, "sh", "0.02"]}
# What a forked child may try on the parent's manager, and what it may do on its own.
ON_PARENT = ["write_prompt", "stop_session", "remove_session", "start_session", "shutdown"]
CHILD_OPS = ON_PARENT + ["new_message_id", "own_manager"]
EXITS = ["sys.exit", "sys.exit in a with block", "uncaught exception"]
UNCAUGHT = "RuntimeError: the forked child ends with an uncaught exception"


def texts(turns):
    return [f"{turn}:{i}" for turn in range(1, turns + 1) for i in range(3)]


def prefix(message_id):
    return message_id.split("-", 1)[0]


class Log:
    """A session's text messages as on_message delivers them, in order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def __call__(self, session_id, messages):
        with self.lock:
            self.items.extend((m.id, m.content.text) for m in messages if m.type == "text")

    def ids(self):
        with self.lock:
            return [i for i, _ in self.items]

    def texts(self):
        with self.lock:
            return [t for _, t in self.items]


def new_manager():
    manager = SidecarManager(stop_grace=0.5, kill_grace=0.5)
    for name, argv in RUNNERS.items():
        manager.register_provider(name, argv)
    return manager


class Churn(threading.Thread):
    """Starts, prompts, iterates, stops and removes sessions of its own until told to halt,
    so that the fork lands inside those calls. ``doing`` names the call it is in."""

    def __init__(self, manager, round_no, seed):
        super().__init__(name=f"fuzz-churn-{round_no}", daemon=True)
        self.manager, self.round_no, self.rng = manager, round_no, random.Random(seed)
        self.halt = threading.Event()
        self.doing = "nothing yet"
        self.errors = []
        self.cycles = 0

    def run(self):
        manager = self.manager
        try:
            while not self.halt.is_set():
                session_id = f"c{self.round_no}-{self.cycles}"
                self.cycles += 1
                self.doing = "start_session"
                manager.start_session(session_id, self.rng.choice(["fast", "slow"]), "churn")
                self.doing = self.rng.choice(["write_prompt", "iter_messages", "stop_session", "wait"])
                if self.doing == "write_prompt":
                    manager.write_prompt(session_id, "more")
                    manager.wait(session_id, STEP_TIMEOUT)
                elif self.doing == "iter_messages":
                    with manager.iter_messages(session_id, timeout=STEP_TIMEOUT) as messages:
                        got = [m.content.text for m in messages if m.type == "text"]
                    if got != texts(1):
                        self.errors.append(f"churn session {session_id} iterated {got}")
                elif self.doing == "stop_session":
                    manager.stop_session(session_id)
                    manager.wait(session_id, STEP_TIMEOUT, until="final")
                else:
                    manager.wait(session_id, STEP_TIMEOUT)
                self.doing = "remove_session"
                manager.remove_session(session_id)
                self.doing = "between calls"
        except BaseException:
            self.errors.append(f"churn thread failed while in {self.doing}: {traceback.format_exc()}")


def child(manager, write_end, out_path, plan, target, ending):
    """The forked child: try ``plan``, one JSON line per step into the pipe, then end as ``ending`` says.

    Its stdout and stderr go to ``out_path``: nothing may be printed (no warning, no
    "Exception ignored"), except the traceback of an ``uncaught exception`` ending.
    """
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    faulthandler.dump_traceback_later(CHILD_TIMEOUT - 1.0)  # where a hang is, in the failure message

    def report(**fields):
        os.write(write_end, json.dumps(fields).encode() + b"\n")

    for op in plan:
        report(begin=op)
        result = {"op": op}
        began = time.monotonic()
        try:
            if op == "write_prompt":
                manager.write_prompt(target, "from the child")
            elif op == "stop_session":
                manager.stop_session(target)
            elif op == "remove_session":
                manager.remove_session(target)
            elif op == "start_session":
                manager.start_session("started-by-the-child", "fast", "from the child")
            elif op == "shutdown":
                manager.shutdown()
            elif op == "new_message_id":
                result["ids"] = [new_message_id()]
            else:  # own_manager: a manager of the child's own, reusing a parent's session id
                log = Log()
                own = new_manager()
                try:
                    own.start_session(target, "fast", "the child's own", on_message=log)
                    state = own.wait(target, STEP_TIMEOUT)
                    result.update(status=state.status, runner=state.pid)
                finally:
                    own.shutdown()
                result.update(ids=log.ids(), texts=log.texts(), runner_left=bool(wait_gone({state.pid}, 2.0)))
            result["outcome"] = "returned"
        except SidecarError as exc:
            result["outcome"] = f"{type(exc).__name__}: {exc}"
        except BaseException:
            result["outcome"] = "unexpected: " + traceback.format_exc()
        result["seconds"] = round(time.monotonic() - began, 3)
        report(**result)
    report(done=True)
    # Every ending is a normal interpreter exit: atexit hooks, weakref finalizers (the
    # manager's last-resort runner killer, open iterators) and garbage collection all run.
    if ending == "sys.exit in a with block":
        with manager:  # __exit__ calls shutdown() in the child
            sys.exit(0)
    if ending == "uncaught exception":
        raise RuntimeError(UNCAUGHT.split(": ", 1)[1])
    sys.exit(0)


def collect(pid, read_end):
    """The child's report lines and exit status; a child that hangs is killed (status None)."""
    deadline = time.monotonic() + CHILD_TIMEOUT
    data = b""
    poller = select.poll()
    poller.register(read_end, select.POLLIN)
    while (left := deadline - time.monotonic()) > 0:
        if poller.poll(left * 1000):
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
    os.close(read_end)
    status = None
    while status is None and time.monotonic() < deadline:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
        else:
            time.sleep(0.002)
    if status is None:  # hung: end it and whatever it started
        started = descendants(pid)
        os.kill(pid, signal.SIGKILL)
        for stray in started:
            try:
                os.kill(stray, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)
    return [json.loads(line) for line in data.splitlines()], status


class Fuzz:
    """The parent: three long-lived sessions (p1 slow, p2 recorded), the rounds, the checks."""

    def __init__(self):
        self.rng = random.Random(SEED)
        self.parent_prefix = prefix(new_message_id())
        self.child_prefixes = {}  # message-id prefix -> the round whose child drew it
        self.failures, self.landed, self.tried = [], {}, dict.fromkeys(CHILD_OPS + EXITS, 0)
        self.rounds = 0
        self.manager = new_manager()
        self.logs = {"p0": Log(), "p1": Log(), "p2": Log()}
        self.recording = os.path.join(WORKDIR, "p2.jsonl")
        for session_id, provider in (("p0", "fast"), ("p1", "slow"), ("p2", "fast")):
            record = self.recording if session_id == "p2" else None
            self.manager.start_session(session_id, provider, "turn 1", on_message=self.logs[session_id], record=record)
        self.turns = dict.fromkeys(self.logs, 1)
        self.pids = {session_id: self.manager.wait(session_id, STEP_TIMEOUT).pid for session_id in self.logs}

    def play(self, round_no):
        """One round: draw everything from the seed, set the parent in motion, fork, check."""
        rng, manager = self.rng, self.manager
        churn = Churn(manager, round_no, rng.randrange(2**32)) if rng.random() < 0.8 else None
        mid_turn = [session_id for session_id in self.logs if rng.random() < 0.5]
        iterated = rng.choice([*self.logs, None])  # an iterator left open across the fork
        delay = rng.uniform(0, 0.03)
        plan = rng.sample(CHILD_OPS, rng.randint(0, len(CHILD_OPS)))
        target = rng.choice([*self.logs, "no-such-session"])
        ending = rng.choice(EXITS)
        for step in (*plan, ending):
            self.tried[step] += 1
        self.rounds += 1
        if churn is not None:
            churn.start()
        for session_id in mid_turn:
            self.turns[session_id] += 1
            manager.write_prompt(session_id, f"turn {self.turns[session_id]}")
        iterator = manager.iter_messages(iterated, timeout=STEP_TIMEOUT) if iterated else None
        time.sleep(delay)
        out_path = os.path.join(WORKDIR, f"child-{round_no}.out")
        read_end, write_end = os.pipe()
        at_fork = churn.doing if churn is not None else "no churn thread"
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            child(manager, write_end, out_path, plan, target, ending)  # never returns
        os.close(write_end)
        self.landed[at_fork] = self.landed.get(at_fork, 0) + 1
        lines, status = collect(pid, read_end)
        where = f"(fork during {at_fork}; iterator on {iterated}; child plan {plan} on {target!r}; {ending})"
        if churn is not None:
            churn.halt.set()
            churn.join(STEP_TIMEOUT)
            if churn.is_alive():
                self.fail(round_no, f"the churn thread is stuck in {churn.doing} {where}")
            for error in churn.errors:
                self.fail(round_no, f"{error} {where}")
        if iterator is not None:
            iterator.close()
        try:
            self.check_child(round_no, lines, status, plan, ending, out_path, where)
            self.check_parent(round_no, where)
        except Exception:
            self.fail(round_no, f"the parent's checks raised {traceback.format_exc()} {where}")

    def fail(self, round_no, what):
        self.failures.append(f"seed {SEED} round {round_no}: {what}")

    def check_child(self, round_no, lines, status, plan, ending, out_path, where):
        """Each call on the parent's manager refused clearly (shutdown: a no-op), its own
        ids drawn afresh, its own session fine, ended as asked, nothing printed."""
        if status is None:
            begun = [line["begin"] for line in lines if "begin" in line]
            hung_in = "its exit" if {"done": True} in lines else begun[-1:]
            self.fail(round_no, f"the child hung (killed after {CHILD_TIMEOUT} s) in {hung_in} {where}")
        elif status != (1 if ending == "uncaught exception" else 0):
            self.fail(round_no, f"the child exited with {status} {where}")
        with open(out_path) as f:
            printed = f.read()
        if ending == "uncaught exception":
            clean = printed.count("Traceback") == 1 and printed.rstrip().endswith(UNCAUGHT)
        else:
            clean = printed == ""
        if not clean:
            self.fail(round_no, f"the child printed {printed[-3000:]!r} {where}")
        results = [line for line in lines if "op" in line]
        if status is not None and [r["op"] for r in results] != plan:
            self.fail(round_no, f"the child reported {lines} {where}")
        ids = []
        for result in results:
            op, outcome = result["op"], result["outcome"]
            if op in ON_PARENT and op != "shutdown":
                if not (outcome.startswith("SidecarError: ") and "belongs to process" in outcome):
                    self.fail(round_no, f"{op} in the child: {outcome} {where}")
            elif outcome != "returned":
                self.fail(round_no, f"{op} in the child: {outcome} {where}")
            elif op == "own_manager":
                if result["status"] != "idle" or result["texts"] != texts(1) or result["runner_left"]:
                    self.fail(round_no, f"the child's own session went wrong: {result} {where}")
            if result["seconds"] > 2.0:
                self.fail(round_no, f"{op} took {result['seconds']} s in the child {where}")
            ids += result.get("ids", [])
        drawn = {prefix(i) for i in ids}
        if self.parent_prefix in drawn or len(drawn) > 1 or drawn & self.child_prefixes.keys():
            self.fail(
                round_no,
                f"the child's message ids {ids} collide (parent prefix {self.parent_prefix}, "
                f"earlier children {self.child_prefixes}) {where}",
            )
        self.child_prefixes.update(dict.fromkeys(drawn, round_no))

    def check_parent(self, round_no, where):
        """Same runners in the same groups, nothing stopped, every message delivered in order,
        a follow-up prompt answered, the churn sessions all gone."""
        manager = self.manager
        for session_id, pid in self.pids.items():
            state = manager.wait(session_id, STEP_TIMEOUT)
            if (state.status, state.error, state.stopping, state.pid) != ("idle", None, False, pid):
                self.fail(round_no, f"{session_id} is {state} after the fork {where}")
            if not is_alive(pid) or os.getpgid(pid) != pid:
                self.fail(round_no, f"{session_id}'s runner {pid} is gone or left its process group {where}")
        for session_id in self.logs:
            self.turns[session_id] += 1
            manager.write_prompt(session_id, f"turn {self.turns[session_id]}")
        for session_id, log in self.logs.items():
            state = manager.wait(session_id, STEP_TIMEOUT)
            turns = self.turns[session_id]
            if state.status != "idle" or len(state.turns) != turns or log.texts() != texts(turns):
                self.fail(
                    round_no,
                    f"{session_id} after a follow-up prompt: {state.status}, {len(state.turns)} turns "
                    f"of {turns}, texts {log.texts()} {where}",
                )
            if {prefix(i) for i in log.ids()} != {self.parent_prefix}:
                self.fail(round_no, f"{session_id}'s message ids are not all the parent's: {log.ids()} {where}")
        left = sorted(s.session_id for s in manager.list_sessions())
        if left != sorted(self.logs):
            self.fail(round_no, f"sessions registered: {left} {where}")

    def finish(self):
        """Shut the parent down: no runner left, and a recording no child wrote into."""
        self.manager.shutdown()
        left = wait_gone(descendants(), 5.0)
        if left:
            self.failures.append(f"seed {SEED}: processes alive after shutdown: {sorted(left)}")
        with open(self.recording, "rb") as f:
            kinds = [json.loads(line)["type"] for line in f]
        turns = self.turns["p2"]
        counts = [kinds.count(kind) for kind in ("sidecar.recording", "sidecar.prompt", "agent_started", "sidecar.end")]
        if counts != [1, turns, turns, 1] or kinds[-1] != "sidecar.end":
            self.failures.append(f"seed {SEED}: the recording of p2 ({turns} turns) holds {kinds}")


fuzz = Fuzz()
for round_no in range(ROUNDS):
    fuzz.play(round_no)
    if fuzz.failures:
        break
fuzz.finish()
print(json.dumps({"failures": fuzz.failures, "rounds": fuzz.rounds, "landed": fuzz.landed, "tried": fuzz.tried}))
'''


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_fork_at_a_random_moment_never_touches_the_parents_runners(seed: int, tmp_path: Path) -> None:
    """A seeded fuzz of fork races: the parent keeps three sessions (some mid-turn) while a
    thread of its own churns sessions through start/prompt/iterate/stop/remove; it forks
    at a random moment. The child tries the parent's manager (each call refused with a
    clear error, shutdown a no-op), runs a manager of its own, and ends through a normal
    interpreter exit (atexit hooks and finalizers run). The parent's runners, groups,
    statuses and messages must be untouched, and no two processes share a message-id prefix.
    """
    done = subprocess.run(
        [sys.executable, "-c", FORK_FUZZ_HOST, str(seed), str(FORK_ROUNDS), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        timeout=TIMEOUT * 1.5,
        check=False,
    )
    assert done.returncode == 0, f"seed {seed}: " + done.stderr.decode()[-3000:]
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert report["failures"] == [], "\n".join(report["failures"])
    assert report["rounds"] == FORK_ROUNDS, report
    landed = report["landed"]
    assert sum(landed.values()) == FORK_ROUNDS, report
    assert len(set(landed) - {"no churn thread", "nothing yet", "between calls"}) >= 2, landed  # forks inside calls
    assert all(report["tried"].values()), report  # every child step and every ending ran
