"""The environment a runner process gets (DESIGN §5).

A runner inherits the parent's environment minus the keys that would hand it the
parent's agent credentials or configuration (``CLAUDE*``, ``CODEX*``, ``OLLAMA*``,
``ANTHROPIC_*``), keeping ``CLAUDE_CODE_EXPERIMENTAL_*`` feature flags. On top of that
come ``CLAUDE_CONFIG_DIR`` (when the session names a config dir) and the caller's
``extra_env``.

``extra_env`` is caller data, not trusted configuration: it often comes from a user
or a request. Keys that could change *which* code runs or how it is loaded
(``LD_PRELOAD``, ``PYTHONPATH``, ``NODE_OPTIONS``, ``PATH``, ``BASH_ENV``, ...) or that
would smuggle in provider credentials are rejected, as are non-strings, NUL bytes
and ``=`` in keys. A rejection is not silent and not partial: :func:`validate_extra_env`
raises :class:`~sidecar_sync.errors.ExtraEnvRejectedError` listing every rejected key
with its reason (and logs a warning), so nothing is spawned with half of what the
caller asked for.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Final, Mapping

from .errors import ExtraEnvRejectedError, InvalidOptionError

__all__ = [
    "STRIP_PREFIXES",
    "KEEP_PREFIXES",
    "build_runner_env",
    "validate_extra_env",
    "extra_env_rejection",
    "check_directory",
]

log = logging.getLogger(__name__)

#: Parent environment keys with these prefixes never reach a runner.
STRIP_PREFIXES: Final = ("CLAUDE", "CODEX", "OLLAMA", "ANTHROPIC_")
#: ... except these (Claude Code feature flags), which are passed through.
KEEP_PREFIXES: Final = ("CLAUDE_CODE_EXPERIMENTAL_",)

#: ``extra_env`` keys refused outright (compared upper-cased). Each one changes how
#: a program is found, loaded or started, or which shell start-up file runs.
_DENIED_KEYS: Final = frozenset(
    {
        "PATH",  # which programs run
        "BASH_ENV",  # bash sources it at start-up
        "ENV",  # sh/dash/ksh source it at start-up
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",  # expanded (command substitution) under `set -x`
        "IFS",
        "CDPATH",
        "SHELL",  # the shell agent CLIs run their Bash tool with
        "HOME",  # where CLIs load settings, which can run helper commands
        "XDG_CONFIG_HOME",
        "NODE_OPTIONS",  # --require/--import preloads code into node
        "NODE_PATH",
        "BUN_OPTIONS",  # the same for bun-compiled CLIs
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "PERL5DB",
        "RUBYOPT",
        "RUBYLIB",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "CLASSPATH",
        "GCONV_PATH",  # glibc loads charset converters from there
        "GLIBC_TUNABLES",
        "LOCPATH",
        "NLSPATH",
        "HOSTALIASES",
        "EDITOR",  # programs that CLIs and git start on their own
        "VISUAL",
        "PAGER",
    }
)

#: ``extra_env`` key prefixes refused (compared upper-cased), with the reason.
_DENIED_PREFIXES: Final = (
    ("LD_", "dynamic loader variable"),
    ("DYLD_", "dynamic loader variable"),
    ("PYTHON", "Python interpreter variable"),
    ("GIT_", "git variable (can name programs git runs)"),
    ("BASH_FUNC_", "exported bash function"),
    ("NPM_CONFIG_", "npm configuration"),
)

# A portable, shell-safe environment variable name.
_KEY_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def extra_env_rejection(key: object, value: object) -> str | None:
    """Why the ``extra_env`` entry ``key=value`` is refused, or ``None`` if it is allowed."""
    if not isinstance(key, str):
        return f"key is {type(key).__name__}, not str"
    if not isinstance(value, str):
        return f"value is {type(value).__name__}, not str"
    if not key:
        return "empty key"
    if "\0" in key or "\0" in value:
        return "contains a NUL byte"
    if "=" in key:
        return "'=' in key"
    if not _KEY_RE.match(key):
        return "not a plain variable name (letters, digits and '_', not starting with a digit)"
    upper = key.upper()
    if upper.startswith(STRIP_PREFIXES):
        return "provider-prefixed keys (CLAUDE*, CODEX*, OLLAMA*, ANTHROPIC_*) are not allowed"
    if upper in _DENIED_KEYS:
        return "changes which programs run or how they start"
    for prefix, what in _DENIED_PREFIXES:
        if upper.startswith(prefix):
            return f"{what}; {prefix}* keys are not allowed"
    return None


def validate_extra_env(extra_env: Mapping[str, str] | None) -> dict[str, str]:
    """Check caller-supplied environment additions.

    Args:
        extra_env: the mapping given to ``start_session`` (or ``None``).

    Returns:
        A plain ``dict`` copy of ``extra_env`` (empty for ``None``).

    Raises:
        InvalidOptionError: ``extra_env`` is not a mapping.
        ExtraEnvRejectedError: one or more keys are refused; its ``rejected``
            attribute maps each refused key to the reason. Nothing is accepted
            partially.
    """
    if extra_env is None:
        return {}
    if not isinstance(extra_env, Mapping):
        raise InvalidOptionError(f"extra_env must be a mapping of str to str, got {type(extra_env).__name__}")
    rejected: dict[str, str] = {}
    for key, value in extra_env.items():
        reason = extra_env_rejection(key, value)
        if reason is not None:
            rejected[repr(key) if not isinstance(key, str) else key] = reason
    if rejected:
        log.warning("rejected extra_env keys: %s", "; ".join(f"{k!r}: {r}" for k, r in rejected.items()))
        raise ExtraEnvRejectedError(rejected)
    return dict(extra_env)


def build_runner_env(
    extra_env: Mapping[str, str] | None = None,
    claude_config_dir: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment of a runner process.

    Args:
        extra_env: additions, already validated by :func:`validate_extra_env`.
        claude_config_dir: becomes ``CLAUDE_CONFIG_DIR`` when given.
        base: the environment to start from (default: ``os.environ``).

    Returns:
        A new dict; ``base`` is not modified.
    """
    source = os.environ if base is None else base
    env = {
        key: value
        for key, value in source.items()
        if not key.startswith(STRIP_PREFIXES) or key.startswith(KEEP_PREFIXES)
    }
    if claude_config_dir:
        env["CLAUDE_CONFIG_DIR"] = claude_config_dir
    if extra_env:
        env.update(extra_env)
    return env


def check_directory(option: str, value: Any) -> str:
    """Validate a directory option (``cwd``, ``claude_config_dir``) before spawning.

    Args:
        option: the option's name, for the error message.
        value: a ``str`` or path-like naming an existing directory.

    Returns:
        The directory as an absolute path string.

    Raises:
        InvalidOptionError: not a path, contains NUL, or not an existing directory.
    """
    try:
        path = os.fspath(value)
    except TypeError:
        raise InvalidOptionError(f"{option} must be a str or path-like, got {type(value).__name__}") from None
    if isinstance(path, bytes):
        raise InvalidOptionError(f"{option} must be a str path, got bytes")
    if not path or "\0" in path:
        raise InvalidOptionError(f"{option} must be a non-empty path without NUL bytes, got {path!r}")
    absolute = os.path.abspath(path)
    if not os.path.isdir(absolute):
        what = "does not exist" if not os.path.exists(absolute) else "is not a directory"
        raise InvalidOptionError(f"{option} {absolute!r} {what}; give an existing directory")
    return absolute
