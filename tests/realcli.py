"""The real agent CLIs for tests: pinned npm installs, cached, plus offline configs.

:func:`install` puts ``@anthropic-ai/claude-code`` or ``@openai/codex`` (exact
pinned versions: an unpinned install once gave an older Claude Code) into
``${XDG_CACHE_HOME:-~/.cache}/sidecar_sync-tests/npm/<package>-<version>/``, once
per cache. An ``flock`` on a lock file beside it serialises parallel test runs; the
install goes to a temporary prefix that is renamed into place only when complete,
so a crashed install never looks finished. Set ``SIDECAR_SYNC_TEST_CACHE`` to use
another cache directory.

The config writers set the CLIs up the way a real user would, with no
``CLAUDE*``/``ANTHROPIC_*``/``CODEX*`` environment variable (the manager strips
those): Claude Code reads a config dir whose ``settings.json`` has an ``env`` block
and an ``apiKeyHelper``; Codex reads ``config.toml`` with a custom
``model_providers`` entry. Both point at a fake model server on 127.0.0.1 and turn
off every other network use (telemetry, update checks, plugin sync), so the tests
run offline.

Pytest fixtures built on these live in ``tests/runners/cli_fixtures.py``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "CLAUDE",
    "CODEX",
    "NpmCli",
    "NpmUnavailable",
    "cache_dir",
    "install",
    "write_claude_config",
    "write_codex_home",
    "codex_provider_overrides",
]

INSTALL_TIMEOUT: Final = 600.0


@dataclass(frozen=True)
class NpmCli:
    """A pinned npm package holding an agent CLI."""

    package: str
    version: str
    bin_name: str

    @property
    def slug(self) -> str:
        return f"{self.package.rsplit('/', 1)[-1]}-{self.version}"


CLAUDE: Final = NpmCli("@anthropic-ai/claude-code", "2.1.330", "claude")
CODEX: Final = NpmCli("@openai/codex", "0.169.0", "codex")


class NpmUnavailable(RuntimeError):
    """npm is not installed, so the real CLIs cannot be fetched (tests skip, loudly)."""


def cache_dir() -> Path:
    """Where the CLI installs are cached (outside the repository)."""
    explicit = os.environ.get("SIDECAR_SYNC_TEST_CACHE")
    if explicit:
        return Path(explicit) / "npm"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sidecar_sync-tests" / "npm"


def _bin_path(prefix: Path, cli: NpmCli) -> Path:
    return prefix / "node_modules" / ".bin" / cli.bin_name


def _version_ok(binary: Path, cli: NpmCli) -> bool:
    try:
        done = subprocess.run(
            [str(binary), "--version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and cli.version in done.stdout.decode("utf-8", "replace")


def install(cli: NpmCli) -> Path:
    """Return the path of ``cli``'s executable, installing it into the cache first if needed.

    Raises:
        NpmUnavailable: npm is not on PATH.
        RuntimeError: the install failed (with npm's output) or gave the wrong version.
    """
    root = cache_dir()
    prefix = root / cli.slug
    binary = _bin_path(prefix, cli)
    marker = prefix / ".sidecar_sync-installed"
    if marker.exists() and binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailable(
            f"npm is not installed, so the real {cli.package}@{cli.version} cannot be fetched; "
            "install Node.js + npm to run the real-CLI tests"
        )
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{cli.slug}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel runs wait here for the first one
        if marker.exists() and binary.exists():
            return binary
        # Holding the lock, no other installer of this package is running: what a
        # crashed one left behind (a staging dir, an unmarked prefix) can go.
        for stale in root.glob(f"{cli.slug}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(prefix, ignore_errors=True)
        staging = root / f"{cli.slug}.tmp-{os.getpid()}"
        staging.mkdir()
        started = time.monotonic()
        done = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(staging),
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                f"{cli.package}@{cli.version}",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(
                f"npm install {cli.package}@{cli.version} failed (exit {done.returncode}):\n"
                f"{done.stdout.decode(errors='replace')}\n{done.stderr.decode(errors='replace')}"
            )
        if not _version_ok(_bin_path(staging, cli), cli):
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(f"npm installed {cli.package} but `{cli.bin_name} --version` is not {cli.version}")
        (staging / ".sidecar_sync-installed").write_text(
            f"{cli.package}@{cli.version} installed in {time.monotonic() - started:.1f}s\n"
        )
        staging.rename(prefix)
    return binary


# -- offline configuration, as a user would write it ------------------------------------

QUIET_CLAUDE_ENV: Final = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    # no /api/hello, no DNS lookups of api.anthropic.com
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}


def write_claude_config(
    config_dir: Path,
    base_url: str,
    *,
    max_retries: int = 0,
    api_key: str = "fake-key-from-helper",
    env: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Write a Claude Code config dir whose ``settings.json`` points at ``base_url``.

    The key comes from ``apiKeyHelper`` (a command printing it), everything else
    from the settings ``env`` block: the base URL, the quiet variables and
    ``CLAUDE_CODE_MAX_RETRIES`` (the CLI otherwise retries 401/5xx up to 10 times
    with backoff).

    Args:
        config_dir: created if missing; pass it as ``claude_config_dir``.
        base_url: the fake Messages API origin (``http://127.0.0.1:PORT``).
        max_retries: ``CLAUDE_CODE_MAX_RETRIES``.
        api_key: what ``apiKeyHelper`` prints.
        env: more entries for the ``env`` block.
        settings: more top-level settings keys.

    Returns:
        ``config_dir``.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    block = {"ANTHROPIC_BASE_URL": base_url, **QUIET_CLAUDE_ENV, "CLAUDE_CODE_MAX_RETRIES": str(max_retries)}
    block.update(env or {})
    document: dict[str, Any] = {"env": block, "apiKeyHelper": f"echo {api_key}"}
    document.update(settings or {})
    (config_dir / "settings.json").write_text(json.dumps(document, indent=2))
    return config_dir


def _toml_value(value: Any) -> str:
    """Render a value as TOML (strings as JSON strings: a subset of TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")


def _provider_table(base_url: str, retries: int) -> dict[str, Any]:
    return {
        "name": "fake",
        "base_url": base_url,
        "wire_api": "responses",
        # bounded retries: the defaults turn a 401 into ~6 s of reconnecting
        "request_max_retries": retries,
        "stream_max_retries": retries,
    }


def write_codex_home(codex_home: Path, base_url: str, *, model: str = "gpt-5.5", retries: int = 0) -> Path:
    """Write a ``CODEX_HOME`` whose ``config.toml`` uses a custom provider at ``base_url``.

    ``OPENAI_BASE_URL`` does not redirect Codex's built-in provider (it still goes
    to api.openai.com over WebSockets), so a custom ``model_providers`` entry is the
    way; it needs no API key. Plugins and analytics are off (their network calls).

    Args:
        codex_home: created if missing; pass it as ``provider_config["codexHome"]``.
        base_url: the fake Responses API base (``http://127.0.0.1:PORT/v1``).
        model: a model slug Codex knows (unknown slugs add a warning item).
        retries: ``request_max_retries`` and ``stream_max_retries`` of the provider.

    Returns:
        ``codex_home``.
    """
    codex_home.mkdir(parents=True, exist_ok=True)
    table = _provider_table(base_url, retries)
    lines = [
        f"model = {_toml_value(model)}",
        'model_provider = "fake"',
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[features]",
        "plugins = false",
        "",
        "[model_providers.fake]",
        *(f"{key} = {_toml_value(value)}" for key, value in table.items()),
        "",
    ]
    (codex_home / "config.toml").write_text("\n".join(lines))
    return codex_home


def codex_provider_overrides(base_url: str, *, model: str = "gpt-5.5", retries: int = 0) -> dict[str, Any]:
    """The same configuration as :func:`write_codex_home`, as ``providerConfig["config"]``."""
    return {
        "model": model,
        "model_provider": "fake",
        "model_providers.fake": _provider_table(base_url, retries),
        "analytics.enabled": False,
        "features.plugins": False,
    }
