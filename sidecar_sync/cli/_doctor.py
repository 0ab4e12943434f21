"""``sidecar-sync doctor``: what this machine has, and how to get what it lacks.

Each check returns a :class:`Check`. Only the Python side (the package, orjson,
cffi) is required; the agent CLIs and an Ollama server are optional, each needed
only by its provider, and the C framer only for speed.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import importlib.util
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from .. import __version__
from ._exit import EXIT_FAILED, EXIT_OK
from ._render import use_color

__all__ = ["Check", "add_parser", "doctor_command", "run_checks", "check_ollama"]

#: Where ``doctor`` looks for Ollama unless told otherwise.
DEFAULT_OLLAMA_HOST: Final = "http://127.0.0.1:11434"
#: Seconds to wait for Ollama to answer.
OLLAMA_TIMEOUT: Final = 2.0


@dataclass
class Check:
    """One line of the doctor's report.

    Attributes:
        name: what was checked.
        state: ``ok``, ``warn`` (works, but not at its best), ``missing`` or ``error``.
        detail: what was found (a version, a path, a reason).
        hint: how to get what is missing.
        required: whether sidecar_sync needs it at all (otherwise one provider does).
    """

    name: str
    state: str
    detail: str
    hint: str = ""
    required: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (what ``doctor --json`` prints per check)."""
        return asdict(self)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def check_framer() -> Check:
    """Which NDJSON framer backs the reader threads: C (fast) or the Python twin.

    A ``SIDECAR_SYNC_FRAMER`` the framer refuses (an unknown name, or ``c`` where
    the C framer is not built) stops the library from loading: that is an error.
    """
    try:
        from .. import framer
    except ImportError as exc:
        return Check(
            "framer",
            "error",
            str(exc),
            "unset SIDECAR_SYNC_FRAMER, or set it to auto, c or python",
            required=True,
        )
    if framer.BACKEND == "c":
        return Check(
            "framer",
            "ok",
            "C framer (csrc/ndjson_framer.c, built with cffi)",
            required=True,
        )
    return Check(
        "framer",
        "warn",
        "pure-Python twin (the C framer is not built; everything works, "
        "several times slower)",
        "install a C compiler (e.g. apt-get install build-essential python3-dev) "
        "and reinstall sidecar-sync",
        required=True,
    )


def check_python() -> Check:
    """The interpreter and its version."""
    ok = sys.version_info >= (3, 10)
    return Check(
        "python",
        "ok" if ok else "error",
        f"{platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        "" if ok else "sidecar_sync needs Python 3.10 or newer",
        required=True,
    )


def check_libraries() -> list[Check]:
    """The runtime dependencies (orjson, cffi)."""
    return [
        Check("orjson", "ok", orjson.__version__, required=True),
        Check(
            "cffi",
            "ok" if importlib.util.find_spec("cffi") else "missing",
            _version("cffi"),
            "pip install cffi",
            required=True,
        ),
    ]


def _check_cli(
    name: str,
    label: str,
    find: Callable[[], str | None],
    version: Callable[[str], str | None],
    hint: str,
) -> Check:
    path = find()
    if path is None:
        return Check(
            name,
            "missing",
            f"{label} not found (looked in the usual install places and PATH)",
            hint,
        )
    found = version(path)
    if found is None:
        return Check(
            name,
            "warn",
            f"{path} (does not answer --version)",
            f"check that {path} runs; reinstall it if not",
        )
    return Check(name, "ok", f"{found} ({path})")


def check_agent_clis() -> list[Check]:
    """The Claude Code and Codex CLIs and their versions."""
    from ..discovery import cli_version, find_claude_cli, find_codex_cli

    return [
        _check_cli(
            "claude CLI",
            "Claude Code CLI",
            find_claude_cli,
            cli_version,
            "needed only for --provider claude: "
            "npm install -g @anthropic-ai/claude-code "
            "(or pip install claude-agent-sdk, which bundles it), "
            "or pass the path to SidecarManager(claude_path=...)",
        ),
        _check_cli(
            "codex CLI",
            "Codex CLI",
            find_codex_cli,
            cli_version,
            "needed only for --provider codex: npm install -g @openai/codex, "
            "or pass SidecarManager(codex_path=...)",
        ),
    ]


def normalize_host(host: str) -> str:
    """``127.0.0.1:11434`` -> ``http://127.0.0.1:11434`` (adds a missing scheme)."""
    host = host.strip()
    if "://" not in host:
        host = f"http://{host}"
    return host.rstrip("/")


def check_ollama(host: str, timeout: float = OLLAMA_TIMEOUT) -> Check:
    """Ask the Ollama server at ``host`` for its version (``GET /api/version``)."""
    url = normalize_host(host)
    hint = (
        "needed only for --provider ollama: install Ollama "
        "(https://ollama.com/download) and run `ollama serve`, or point at your "
        "server with --ollama-host (the ollama provider takes it as -c host=URL)"
    )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check(
            "ollama",
            "error",
            f"{host!r} is not an http(s) URL",
            "pass --ollama-host http://HOST:PORT",
        )
    try:
        port = parts.port
    except ValueError:
        return Check(
            "ollama",
            "error",
            f"{host!r} has a bad port",
            "pass --ollama-host http://HOST:PORT",
        )
    conn_type = (
        http.client.HTTPSConnection
        if parts.scheme == "https"
        else http.client.HTTPConnection
    )
    # http.client directly, not urllib: proxies from the environment must not
    # reroute a local check.
    conn = conn_type(
        parts.hostname,
        port or (443 if parts.scheme == "https" else 11434),
        timeout=timeout,
    )
    try:
        conn.request("GET", (parts.path or "") + "/api/version")
        response = conn.getresponse()
        body = response.read(4096)
    except (OSError, http.client.HTTPException) as exc:  # socket timeouts are OSErrors
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Check("ollama", "missing", f"not reachable at {url} ({reason})", hint)
    finally:
        conn.close()
    if response.status != 200:
        return Check(
            "ollama",
            "warn",
            f"{url} answered HTTP {response.status} to /api/version (is it Ollama?)",
            hint,
        )
    try:
        version = orjson.loads(body).get("version", "?")
    except (orjson.JSONDecodeError, AttributeError):
        return Check(
            "ollama",
            "warn",
            f"{url} answered /api/version with something that is not Ollama's JSON",
            hint,
        )
    return Check("ollama", "ok", f"Ollama {version} at {url}")


def check_runners() -> list[Check]:
    """The runner programs of the built-in providers are importable."""
    checks = []
    for name in ("echo", "replay", "claude", "codex", "ollama"):
        module = f"sidecar_sync.runners.{name}"
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        checks.append(
            Check(
                f"{name} runner",
                "ok" if found else "error",
                module if found else f"{module} is not installed",
                ""
                if found
                else "reinstall sidecar-sync "
                "(pip install --force-reinstall sidecar-sync)",
                required=name == "echo",
            )
        )
    return checks


def run_checks(*, ollama_host: str) -> list[Check]:
    """Run every check, in report order."""
    return [
        check_framer(),
        check_python(),
        *check_libraries(),
        *check_runners(),
        *check_agent_clis(),
        check_ollama(ollama_host),
    ]


# -- the command -------------------------------------------------------------------


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``doctor`` subcommand to ``sub`` (the parser's subparsers)."""
    doc = sub.add_parser(
        "doctor",
        parents=parents,
        help="check the framer, Python, agent CLIs and Ollama",
        description="Report the framer backend, Python and orjson versions, the "
        "Claude and Codex CLIs, and whether Ollama answers. Exits 0 even when "
        "optional things are missing, 1 when "
        "something required is missing or broken.",
    )
    doc.add_argument(
        "--ollama-host",
        default=None,
        help=f"Ollama server URL (default {DEFAULT_OLLAMA_HOST})",
    )
    doc.add_argument(
        "--json", action="store_true", help="print the checks as one JSON object"
    )


def doctor_command(args: argparse.Namespace) -> int:
    """Run every check and print the report (a table, or JSON with ``--json``).

    Returns:
        0 when everything required works (a ``warn`` still works), else 1.
    """
    host = args.ollama_host or DEFAULT_OLLAMA_HOST
    checks = run_checks(ollama_host=host)
    broken = [c for c in checks if c.required and c.state in ("missing", "error")]
    status = EXIT_FAILED if broken else EXIT_OK
    if args.json:
        sys.stdout.buffer.write(
            orjson.dumps([c.to_dict() for c in checks], option=orjson.OPT_INDENT_2)
            + b"\n"
        )
        sys.stdout.flush()
        return status
    color = use_color(sys.stdout)
    paint = {
        "ok": "\x1b[32m",
        "missing": "\x1b[33m",
        "warn": "\x1b[33m",
        "error": "\x1b[31m",
    }
    out = [f"sidecar-sync {__version__} doctor\n"]
    for check in checks:
        mark = f"{check.state:<8}"
        if color:
            mark = f"{paint.get(check.state, '')}{mark}\x1b[0m"
        out.append(f"  {mark} {check.name}: {check.detail}\n")
        if check.hint and check.state != "ok":
            out.append(f"  {'':<8}   -> {check.hint}\n")
    optional = [c for c in checks if not c.required and c.state != "ok"]
    if broken:
        out.append(
            f"{len(broken)} required check(s) failed: "
            f"{', '.join(c.name for c in broken)}.\n"
        )
    else:
        out.append(
            "Everything required is in place (the built-in echo provider works).\n"
        )
    if optional:
        out.append(
            f"Optional, not available: {', '.join(c.name for c in optional)} "
            "(only needed for those providers; see the hints above).\n"
        )
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    return status
