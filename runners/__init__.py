"""Provider runner programs, installed as the package ``sidecar_sync.runners``.

Each runner is started as ``python -m sidecar_sync.runners.<name>`` and speaks the
NDJSON protocol of :mod:`sidecar_sync.protocol` on its stdin and stdout.
"""
