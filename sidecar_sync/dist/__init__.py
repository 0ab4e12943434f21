"""Past one machine: replays and agent sessions on a dask.distributed cluster.

Needs the ``dask`` extra (``pip install 'sidecar-sync[dask]'``) here and on every
worker, where the package must be *installed*: runners start as ``python -I -m
sidecar_sync.runners.<name>`` and see nothing that was shipped to the worker
process alone. See ``docs/dist.md`` for pointing it at a real cluster.

* :func:`replay` — many transcript files, grouped into tasks of about
  ``batch_bytes``, replayed and reduced on the workers; equal to
  :func:`sidecar_sync.replay.replay` on the same paths.
* :func:`run_sessions` — agent sessions from ``start_session`` specs, one manager
  per worker process, ``per_worker`` at once; a :class:`SessionResult` per spec.
  A session never runs twice: if its worker dies, its result is an error.
  Cancelling (an interrupt, an error, the timeout) stops the runners.
* :func:`preflight` — every worker has the package (importable by ``python -I``),
  the C framer and this version; :class:`PreflightError` names those that do not.

Without a client, each call connects to ``DASK_SCHEDULER_ADDRESS`` if it is set,
else starts a local cluster of worker processes for the call and closes it, with
everything it started, before returning. Only :mod:`._engine` talks to dask; this
package imports without dask installed; its calls raise ImportError then, saying what to install.
"""

from __future__ import annotations

from ._preflight import PreflightError, WorkerReport, preflight
from ._replay import replay
from ._sessions import SessionResult, run_sessions

__all__ = ["replay", "run_sessions", "preflight", "SessionResult", "PreflightError", "WorkerReport"]
