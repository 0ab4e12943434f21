"""What a worker can run: the probe :func:`sidecar_sync.dist.preflight` sends to every worker.

It travels as code (pickled by value), not as a reference to this module, so it
runs on a worker that lacks sidecar_sync altogether; hence it imports nothing but
the standard library. It asks a fresh ``python -I`` — the way runners are started,
with no ``PYTHONPATH``, no user site, no current directory on the path — to import
the package and report its version and framer backend, because code that only
the worker process can see (``Client.upload_file``, a zip, ``PYTHONPATH``) never
reaches a runner.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from typing import Any

__all__ = ["probe", "PROBE_TIMEOUT"]

#: Seconds the ``python -I`` import may take.
PROBE_TIMEOUT = 60.0

_SCRIPT = """\
import json, sys
try:
    import sidecar_sync, sidecar_sync.framer, sidecar_sync.runners
except BaseException as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
else:
    print(json.dumps({
        "version": sidecar_sync.__version__,
        "backend": sidecar_sync.framer.BACKEND,
        "file": sidecar_sync.__file__,
    }))
"""


def probe() -> dict[str, Any]:
    """Describe this worker: its interpreter, and what ``python -I`` imports of sidecar_sync.

    Returns:
        ``executable`` and ``python`` (the worker's interpreter), and either
        ``version``, ``backend`` and ``file`` of the package as ``python -I`` sees
        it, or ``error`` saying why that import failed.
    """
    out: dict[str, Any] = {"executable": sys.executable, "python": platform.python_version()}
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _SCRIPT],
            capture_output=True,
            timeout=PROBE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        out["error"] = f"cannot run {sys.executable} -I: {exc}"
        return out
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        out["error"] = f"{sys.executable} -I exited {done.returncode}: {' | '.join(tail) or 'no output'}"
        return out
    out.update(report)
    return out
