"""How a runner notices that its host is gone, and what it leaves behind when it exits.

A runner must not outlive the process that started it: an orphaned agent CLI can
go on editing a repository for as long as its turn lasts. The host (the process
running the manager) can die without a word (SIGKILL, a crash, ``docker stop``),
so the runner watches for it three ways, all read by the control loop of
:class:`runners._host.RunnerHost`:

* **stdin EOF**: the host held the write end of the runner's stdin; when its last
  holder exits the runner reads EOF at once. This is the portable signal, and
  the first one a custom runner should use.
* **the parent-death signal** (Linux): :func:`set_parent_death_signal` asks the
  kernel (``prctl(PR_SET_PDEATHSIG)``) to send :data:`PARENT_DEATH_SIGNAL` when
  the parent goes, for the case where a copy of the stdin pipe survives in
  another process. Caveat: the kernel sends it when the *thread* that spawned
  the runner exits, not the host process; a host that starts runners from a
  short-lived thread would kill them all. So the signal only wakes the loop,
  which then compares ``os.getppid()`` with the parent recorded at start-up: the
  same pid means the host lives (another of its threads adopted the runner) and
  the signal is ignored.
* **a parent change**, polled every :data:`PARENT_POLL` seconds: the fallback
  where there is no ``prctl`` (macOS, BSD).

The parent pid is recorded as early as the runner can; if it already differs
when the signal is armed, the host died during start-up.

At exit, :func:`snapshot_strays` (taken before the runner ends its children) and
:func:`kill_strays` SIGKILL whatever the runner started that is still alive: its
descendants, even those that moved to process groups of their own, and the
members of the runner's own process group when the runner leads it. Processes
are identified by pid and start time, so a recycled pid is never hit. Both read
``/proc`` and do nothing without it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Final

from sidecar_sync._proctree import descendants, kill_known

__all__ = [
    "PARENT_DEATH_SIGNAL",
    "PARENT_POLL",
    "set_parent_death_signal",
    "snapshot_strays",
    "kill_strays",
    "parent_alive",
]

log = logging.getLogger(__name__)

#: The signal the kernel sends when the runner's parent (thread) exits. Not one
#: with another meaning for the runner (SIGTERM, SIGHUP end it), since it fires
#: spuriously when only the spawning thread of a living host ended.
PARENT_DEATH_SIGNAL: Final = signal.SIGUSR1
#: Seconds between two looks at ``os.getppid()`` in the control loop.
PARENT_POLL: Final = 0.5

_PR_SET_PDEATHSIG: Final = 1


def set_parent_death_signal(signum: int) -> bool:
    """Ask the kernel to send ``signum`` when the parent thread exits (Linux only).

    Install a handler for ``signum`` first: its default action ends the process.

    Returns:
        True if it is armed; False on other systems or if ``prctl`` failed.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # only here: a runner on another system never pays for it

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    if prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        log.info("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


def _group_members(pgid: int) -> dict[int, int]:
    """``{pid: start time}`` of the live processes in process group ``pgid``."""
    members: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 19 and fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid:
            members[int(entry)] = int(fields[19])
    return members


def snapshot_strays() -> dict[int, int]:
    """Every process the runner may leave behind, as ``{pid: start time}`` (not the runner itself).

    Its descendants now, plus the members of its process group if the runner
    leads that group (then the group is its own: the manager started it with a
    new session). A runner in someone else's group never touches that group.
    """
    me = os.getpid()
    found = descendants(me)
    if os.getpgrp() == me:
        found.update(_group_members(me))
    found.pop(me, None)
    return found


def kill_strays(known: dict[int, int]) -> list[int]:
    """SIGKILL the processes of ``known`` still alive, and whatever :func:`snapshot_strays` finds now.

    Returns:
        The pids signalled.
    """
    targets = dict(known)
    targets.update(snapshot_strays())
    killed = kill_known(targets)
    if killed:
        log.info("killed %d process(es) left behind by the runner: %s", len(killed), killed)
    return killed


def parent_alive(host_pid: int) -> bool:
    """True while the runner's parent is still ``host_pid``.

    A process whose parent exits is adopted at once (by init or a subreaper), so
    a different ``os.getppid()`` means the host is gone.
    """
    return os.getppid() == host_pid
