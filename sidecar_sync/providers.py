"""The provider registry: provider name -> how to start its runner and read its events.

A provider is looked up by name in a registry, never pasted into a path, so a name
like ``../../x`` simply is not found. Each :class:`Provider` knows how to build the
runner's argv (a runner module or a custom command, and the agent CLI it
drives), which message adapter reads its events, and what it needs before
anything is spawned (a runner module, an agent CLI).

Built-in providers run ``[python, "-I", "-m", "sidecar_sync.runners.<name>"]``.
``-I`` (isolated mode) keeps the session's working directory off ``sys.path``: the
runner imports the installed package, never a ``sidecar_sync/`` or a module named
like one of its imports (``orjson.py``, ``json.py``) that happens to sit in the
project the agent works in. Isolated mode also hides the user site-packages, so
when this very interpreter has sidecar_sync installed there (``pip install
--user``), runners get ``-P`` instead (Python 3.11+: only the cwd is kept off
``sys.path``). (``PYTHON*`` variables never reach a runner, see :mod:`sidecar_sync.env`.)



=========  ===========================================  ==================================  =========
provider   runner arguments                             adapter                             approvals
=========  ===========================================  ==================================  =========
claude     ``--cli <path of the Claude Code CLI>``      claude                              yes
codex      ``--cli <path of the Codex CLI>``            codex                               no
ollama     (none)                                       ollama                              no
echo       (none)                                       claude                              no
replay     (none)                                       ``providerConfig.adapter`` or auto  no
custom     the registered command                       the registered adapter              yes
=========  ===========================================  ==================================  =========

*Approvals*: whether the runner can ask ``on_permission`` before a tool runs (the
``permission_request`` pair of the runner protocol). A provider without that channel
refuses ``on_permission`` at ``start_session``, before anything is spawned, rather
than silently never asking. Custom runners are trusted to speak the protocol when
the first query carries ``permissionPrompt`` (see ``runners/README.md``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import site
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .errors import InvalidOptionError, ProviderUnavailableError, RunnerNotFoundError
from .messages import AgentMessage

__all__ = [
    "AdapterSpec",
    "LaunchSettings",
    "Launch",
    "Provider",
    "BUILTIN_PROVIDERS",
    "RUNNER_PACKAGE",
    "check_interpreter",
    "custom_provider",
    "validate_provider_name",
]

#: An adapter: a built-in provider name (``"claude"``, ``"codex"``, ...) or a callable
#: ``(event: dict) -> list[AgentMessage]``.
AdapterSpec = str | Callable[[dict[str, Any]], "list[AgentMessage]"]

#: The package holding the built-in runners.
RUNNER_PACKAGE: Final = "sidecar_sync.runners"

log = logging.getLogger(__name__)

_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


@dataclass(frozen=True)
class LaunchSettings:
    """Manager-wide settings a provider needs to build its argv."""

    python: str
    claude_path: str | None = None
    codex_path: str | None = None


@dataclass(frozen=True)
class Launch:
    """What to spawn for one session, and how to read it."""

    argv: list[str]
    adapter: AdapterSpec


@dataclass(frozen=True)
class Provider:
    """A registered provider.

    Attributes:
        name: the registry key.
        adapter: the adapter for its events (see :data:`AdapterSpec`).
        command: a fixed argv (custom providers), or ``None`` for a built-in runner.
        cli: for claude/codex, which agent CLI the runner drives (``"claude"``/``"codex"``).
    """

    name: str
    adapter: AdapterSpec
    command: tuple[str, ...] | None = None
    cli: str | None = None
    config_adapter: bool = field(default=False)  # replay: providerConfig may name the adapter
    config_keys: frozenset[str] | None = None
    """The ``provider_config`` keys its runner reads (built-ins); None: any (custom runners)."""
    approvals: bool = True
    """Its runner can ask ``on_permission`` before a tool runs (see the module docstring)."""
    approvals_note: str = ""
    """Why not, when it cannot: the end of the error raised for ``on_permission``."""

    def check_approvals(self) -> None:
        """Refuse ``on_permission`` for a provider whose runner has no way to ask.

        Raises:
            InvalidOptionError: the provider has no approval channel (the message says why).
        """
        if not self.approvals:
            raise InvalidOptionError(
                f"on_permission cannot be used with provider {self.name!r}: it has no tool approval channel"
                + (f" ({self.approvals_note})" if self.approvals_note else "")
            )

    def check_config(self, config: Mapping[str, Any] | None) -> None:
        """Refuse ``provider_config`` keys the provider's runner does not know (a typo is never silent).

        Raises:
            InvalidOptionError: an unknown key; the message lists the known ones.
        """
        if config is None or self.config_keys is None:
            return
        unknown = sorted(str(key) for key in config if key not in self.config_keys)
        if unknown:
            raise InvalidOptionError(
                f"provider_config of provider {self.name!r}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(self.config_keys))}"
            )

    def launch(self, settings: LaunchSettings, provider_config: Mapping[str, Any] | None) -> Launch:
        """Resolve the argv and adapter for one session; check what must exist.

        Raises:
            RunnerNotFoundError: the interpreter, the runner module or the custom
                command is missing (the message names what was looked for).
            ProviderUnavailableError: the agent CLI the provider drives is missing
                (the message says where it was looked for).
            InvalidOptionError: ``provider_config`` names an unusable adapter.
        """
        adapter = self.adapter
        if self.config_adapter and provider_config and provider_config.get("adapter") is not None:
            adapter = provider_config["adapter"]
            if not isinstance(adapter, str) or not adapter:
                raise InvalidOptionError(f"provider_config['adapter'] must be an adapter name, got {adapter!r}")
        if self.command is not None:
            program = check_program(self.command[0], f"provider {self.name!r}")
            return Launch([program, *self.command[1:]], adapter)
        python = check_interpreter(settings.python)
        cli_args = ["--cli", _find_cli(self.cli, settings)] if self.cli is not None else []
        module = f"{RUNNER_PACKAGE}.{self.name}"
        isolation = "-I"
        if os.path.realpath(python) == os.path.realpath(sys.executable):
            spec = _find_module(module)
            if spec is None:
                raise RunnerNotFoundError(
                    f"runner module {module!r} for provider {self.name!r} not found in {sys.executable}; "
                    "is sidecar_sync installed with its runners?"
                )
            isolation = _isolation_flag(getattr(spec, "origin", None))
        return Launch([python, isolation, "-m", module, *cli_args], adapter)


def _isolation_flag(origin: str | None) -> str:
    """``-I``, unless the runner module lives in the user site-packages, which ``-I`` hides."""
    user_site = _user_site()
    if origin is None or user_site is None or not os.path.realpath(origin).startswith(user_site + os.sep):
        return "-I"
    if sys.version_info >= (3, 11):
        return "-P"
    log.warning(
        "sidecar_sync is installed in the user site-packages (%s) and Python %d.%d has no -P: runners start "
        "with the session cwd on sys.path; install into a virtualenv to avoid that",
        user_site, *sys.version_info[:2],
    )  # fmt: skip
    return "-E"


def _user_site() -> str | None:
    """The user site-packages directory this interpreter reads, or None."""
    if not site.ENABLE_USER_SITE:
        return None
    return os.path.realpath(site.getusersitepackages())


def _find_module(module: str) -> object | None:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _find_cli(cli: str, settings: LaunchSettings) -> str:
    """The agent CLI a claude/codex runner drives: the explicit path, or found by :mod:`.discovery`."""
    from . import discovery  # noqa: PLC0415 - only claude/codex sessions need it

    explicit = settings.claude_path if cli == "claude" else settings.codex_path
    search = discovery.search_claude_cli if cli == "claude" else discovery.search_codex_cli
    result = search(os.fspath(explicit) if explicit is not None else None)
    if result.path is None:
        if explicit is not None:
            raise ProviderUnavailableError(f"{cli}_path={os.fspath(explicit)!r}: {result.describe_failure()}")
        raise ProviderUnavailableError(
            f"{result.describe_failure()}; install it or pass SidecarManager({cli}_path=...)"
        )
    return os.path.abspath(result.path)


def check_program(program: str, what: str) -> str:
    """Return the path ``program`` resolves to (via PATH if it has no slash).

    Raises:
        RunnerNotFoundError: not found or not executable.
    """
    if os.sep in program:
        if os.path.isfile(program) and os.access(program, os.X_OK):
            return program
        raise RunnerNotFoundError(f"{what}: program {program!r} not found or not executable")
    found = shutil.which(program)
    if found is None:
        raise RunnerNotFoundError(f"{what}: program {program!r} not found on PATH")
    return found


def check_interpreter(python: str) -> str:
    """Resolve the Python interpreter runners are started with.

    Raises:
        RunnerNotFoundError: it does not exist or is not executable.
    """
    if os.sep in python:
        if os.path.isfile(python) and os.access(python, os.X_OK):
            return python
        raise RunnerNotFoundError(
            f"Python interpreter {python!r} not found or not executable; set SidecarManager(python=...)"
        )
    found = shutil.which(python)
    if found is None:
        raise RunnerNotFoundError(f"Python interpreter {python!r} not found on PATH; set SidecarManager(python=...)")
    return found


def validate_provider_name(name: object) -> str:
    """Check a name for :func:`custom_provider`: letters, digits, ``_.-``, at most 64 chars."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidOptionError(
            f"provider name must be 1-64 letters, digits, '_', '.' or '-' (not starting with a symbol), got {name!r}"
        )
    return name


def custom_provider(name: str, command: Sequence[str], adapter: AdapterSpec) -> Provider:
    """Build a provider that runs a fixed argv.

    Args:
        name: the registry key (see :func:`validate_provider_name`).
        command: the argv to spawn; a string is refused (no shell, no splitting).
        adapter: a built-in adapter name or a callable.

    Raises:
        InvalidOptionError: a bad name, command or adapter.
    """
    validate_provider_name(name)
    if isinstance(command, (str, bytes)) or not isinstance(command, Sequence) or not command:
        raise InvalidOptionError(f"command must be a non-empty argv list of str (no shell), got {command!r}")
    argv = []
    for arg in command:
        try:
            arg = os.fspath(arg)
        except TypeError:
            raise InvalidOptionError(f"command arguments must be str, got {arg!r}") from None
        if not isinstance(arg, str) or "\0" in arg:
            raise InvalidOptionError(f"command arguments must be str without NUL bytes, got {arg!r}")
        argv.append(arg)
    if not argv[0]:
        raise InvalidOptionError("command[0] (the program) is empty")
    if not callable(adapter) and not (isinstance(adapter, str) and adapter):
        raise InvalidOptionError(f"adapter must be a provider name or a callable, got {adapter!r}")
    return Provider(name=name, adapter=adapter, command=tuple(argv))


#: The providers every manager starts with.
BUILTIN_PROVIDERS: Final[Mapping[str, Provider]] = {
    "claude": Provider(
        "claude",
        adapter="claude",
        cli="claude",
        config_keys=frozenset(
            {
                "settings",
                "allowedTools",
                "disallowedTools",
                "appendSystemPrompt",
                "includePartialMessages",
                "effort",
                "maxBudgetUsd",
            }
        ),
    ),
    "codex": Provider(
        "codex",
        adapter="codex",
        cli="codex",
        config_keys=frozenset({"approvalPolicy", "codexHome", "config", "configOverrides", "sandbox"}),
        approvals=False,
        approvals_note="`codex exec` runs headless and never asks; bound what it may do with permission_mode, "
        "which picks its sandbox",
    ),
    "ollama": Provider(
        "ollama",
        adapter="ollama",
        config_keys=frozenset({"host", "keep_alive", "num_ctx", "options", "think", "timeout"}),
        approvals=False,
        approvals_note="the ollama runner runs no tools",
    ),
    "echo": Provider(
        "echo",
        adapter="claude",
        config_keys=frozenset({"chunks", "delay", "exitCode", "fail", "stderr"}),
        approvals=False,
        approvals_note="the echo runner runs no tools",
    ),
    "replay": Provider(
        "replay",
        adapter="auto",
        config_adapter=True,
        config_keys=frozenset({"adapter", "format", "maxGap", "pace", "speed", "transcript"}),
        approvals=False,
        approvals_note="a replay re-emits a recording and runs no tools",
    ),
}
