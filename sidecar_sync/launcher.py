"""Starting a session: spawn the runner and register the session, all or nothing.

:func:`launch_session` reserves the id, spawns the runner in its own process group,
builds the :class:`~sidecar_sync.session.Session` (which starts its threads) and
registers it, inside one section that a Ctrl-C cannot cut in two. Whatever fails
on the way leaves nothing registered and nothing running: a runner no session took
over is killed and reaped, the id is released. :func:`open_recorder` opens a
session's recording with its header; :func:`weak_method` is how a session reports
its end to a manager without keeping it alive.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

from . import __version__
from ._interrupts import deferred_interrupts
from .consumers import Consumers
from .errors import SidecarError
from .limits import Limits
from .messages import StreamAdapter
from .options import SessionOptions
from .permissions import PermissionCallback
from .process import spawn
from .recording import Recorder, open_recording
from .registry import SessionRegistry
from .session import Session
from .session_threads import SessionThreads
from .settings import SessionSettings

__all__ = ["launch_session", "open_recorder", "weak_method"]

log = logging.getLogger("sidecar_sync.manager")


def launch_session(
    registry: SessionRegistry,
    settings: SessionSettings,
    *,
    session_id: str,
    provider: str,
    argv: list[str],
    env: dict[str, str],
    cwd: str | None,
    adapter: StreamAdapter,
    consumers: Consumers,
    limits: Limits,
    recorder: Recorder | None,
    on_permission: PermissionCallback | None,
    permission_timeout: float | None,
    on_final: Callable[[Session], None],
) -> Session:
    """Reserve the id, spawn, register: all or nothing, and never cut by Ctrl-C.

    Raises:
        SessionExistsError: the id is taken.
        RunnerNotFoundError, RunnerStartError: the runner could not be spawned.
        SidecarError: the manager was shut down meanwhile.
    """
    with deferred_interrupts():
        registry.reserve(session_id)
        process = session = None
        try:
            process = spawn(argv, env, cwd)
            registry.processes.add(process)
            log.info("session %r: started %s runner, pid %d", session_id, provider, process.pid)
            session = Session(  # on failure it kills and reaps the runner itself
                session_id=session_id,
                provider=provider,
                process=process,
                adapter=adapter,
                on_final=on_final,
                start_threads=SessionThreads,
                consumers=consumers,
                settings=settings,
                limits=limits,
                recorder=recorder,
                on_permission=on_permission,
                permission_timeout=permission_timeout,
            )
            registered = registry.add(session)
        except BaseException:
            registry.release(session_id)
            if process is not None and session is None:  # no session took it over
                registry.processes.discard(process)
                process.destroy()
            raise
    if not registered:  # shut down while we were spawning
        session.consumers.detach(0.0)
        session.kill()
        session.join(settings.stop_grace + settings.kill_grace + 1.0)
        raise SidecarError("the manager was shut down while the session was starting")
    return session


def open_recorder(record: Any, session_id: str, provider: str, options: SessionOptions) -> Recorder:
    """Open a session's recording and write its header (the options, without secrets).

    Raises:
        InvalidOptionError: the path cannot be created.
    """
    settings = options.to_dict()
    if "extra_env" in settings:  # caller data that may hold keys: names only
        settings["extra_env"] = sorted(settings["extra_env"])
    header = {
        "provider": provider,
        "session_id": session_id,
        "started_at": time.time(),
        "options": settings,
        "sidecar_sync": __version__,
    }
    return Recorder(open_recording(record), header)


def weak_method(obj: object, name: str) -> Callable[..., None]:
    """Calls ``obj.name(...)`` while ``obj`` lives, without keeping it alive (a dropped
    manager's sessions must not keep its registry arming cleanup timers)."""
    ref = weakref.ref(obj)

    def call(*args: Any) -> None:
        target = ref()
        if target is not None:
            getattr(target, name)(*args)

    return call

