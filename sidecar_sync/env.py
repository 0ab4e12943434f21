"""The environment a runner process gets, and what a caller may add to it.

A runner inherits the parent's environment minus the keys that would hand it the
parent's agent credentials or configuration (``CLAUDE*``, ``CODEX*``, ``OLLAMA*``,
``ANTHROPIC_*``, ``OPENAI_*``), keeping ``CLAUDE_CODE_EXPERIMENTAL_*`` feature flags.
On top of that come ``CLAUDE_CONFIG_DIR`` (when the session names a config dir) and
the caller's ``extra_env``.

``extra_env`` is caller data, not trusted configuration: it often comes from a user or
a request. It is checked against a wide *denylist* rather than an allowlist, because
custom runners and the tools agents start legitimately take variables nobody can list
in advance (``IS_SANDBOX``, a gateway's API key, an app's own settings). Refused,
each with its reason (the table in ``docs/environment.md`` lists them all):

* provider credentials and endpoints: ``CLAUDE*``, ``CODEX*``, ``OLLAMA*``,
  ``ANTHROPIC_*``, ``OPENAI_*``;
* what changes which code runs or how it loads: dynamic loaders (``LD_*``,
  ``DYLD_*``), interpreters and their start-up hooks (``PYTHON*``, ``NODE_*``,
  ``PERL*``, ``RUBY*``, ``LUA_*``, ``JAVA``/``JDK`` options, ``DOTNET_*``,
  ``ELECTRON_*``, ``BUN_*``, Go's ``GOFLAGS``/``GOPROXY``/..., ``RUSTC*``/``CARGO_*``), shells and their
  start-up files (``BASH_ENV``, ``ENV``, ``ZDOTDIR``, ``PROMPT_COMMAND``, ...),
  ``PATH``, ``HOME``, programs other programs start (``EDITOR``, ``PAGER``,
  ``BROWSER``, ``SSH_ASKPASS``, ``LESSOPEN``, compilers and ``MAKEFLAGS``, ...),
  ``OPENSSL_*`` (OpenSSL loads modules and config files named there), ``GIT_*``,
  package-manager configuration (``NPM_CONFIG_*``, ``PIP_*``, ...);
* what redirects or weakens network trust: proxies (``*_PROXY``), CA bundles and
  TLS switches (``SSL_CERT_*``, ``*_CA_BUNDLE``, ``NODE_TLS_REJECT_UNAUTHORIZED``,
  ...).

To use a proxy or a CA bundle on purpose, set it in the parent's environment: the
runner inherits it. Non-strings, text that is not valid Unicode, NUL bytes and ``=``
in keys are refused too. A rejection is not silent and not partial:
:func:`validate_extra_env` raises :class:`~sidecar_sync.errors.ExtraEnvRejectedError`
listing every refused key with its reason (and logs a warning), so nothing is spawned
with half of what the caller asked for.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any, Final

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
STRIP_PREFIXES: Final = ("CLAUDE", "CODEX", "OLLAMA", "ANTHROPIC_", "OPENAI_")
#: ... except these (Claude Code feature flags), which are passed through.
KEEP_PREFIXES: Final = ("CLAUDE_CODE_EXPERIMENTAL_",)

#: ``extra_env`` keys refused outright (compared upper-cased), with the reason.
_DENIED_KEYS: Final[dict[str, str]] = {
    **dict.fromkeys(
        ("PATH", "HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "TMPDIR"),
        "changes where programs and their settings are found",
    ),
    **dict.fromkeys(
        ("BASH_ENV", "ENV", "ZDOTDIR", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "CDPATH", "SHELL",
         "INPUTRC", "HISTFILE"),
        "shell start-up or behaviour variable",
    ),  # fmt: skip
    **dict.fromkeys(
        ("EDITOR", "VISUAL", "PAGER", "MANPAGER", "GIT_PAGER", "BROWSER", "SSH_ASKPASS", "SUDO_ASKPASS",
         "LESSOPEN", "LESSCLOSE", "TERMINAL"),
        "names a program that other programs start",
    ),  # fmt: skip
    **dict.fromkeys(
        ("CC", "CXX", "CPP", "LD", "AR", "AS", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "MAKEFLAGS", "MAKE",
         "MFLAGS", "GNUMAKEFLAGS"),
        "compiler or build tool setting (names programs and their flags)",
    ),  # fmt: skip
    **dict.fromkeys(
        ("CLASSPATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GCONV_PATH", "GLIBC_TUNABLES",
         "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "MALLOC_CONF", "TZDIR"),
        "changes how programs load code or data",
    ),  # fmt: skip
    **dict.fromkeys(
        ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
         "NODE_TLS_REJECT_UNAUTHORIZED", "GIT_SSL_NO_VERIFY", "PYTHONHTTPSVERIFY"),
        "changes which TLS certificates are trusted; set it in the parent's environment instead",
    ),  # fmt: skip
}

#: ``extra_env`` key prefixes refused (compared upper-cased), with the reason.
_DENIED_PREFIXES: Final = (
    ("LD_", "dynamic loader variable"),
    ("DYLD_", "dynamic loader variable"),
    ("PYTHON", "Python interpreter variable"),
    ("NODE_", "Node.js variable (preloads code, changes module paths or TLS)"),
    ("NPM_CONFIG_", "npm configuration"),
    ("YARN_", "package manager configuration"),
    ("PNPM_", "package manager configuration"),
    ("PIP_", "pip configuration (package indexes)"),
    ("UV_", "package manager configuration"),
    ("BUN_", "Bun variable (preloads code)"),
    ("DENO_", "Deno variable"),
    ("PERL", "Perl interpreter variable"),
    ("RUBY", "Ruby interpreter variable"),
    ("GEM_", "Ruby gems variable"),
    ("LUA_", "Lua variable (LUA_INIT runs code)"),
    ("DOTNET_", ".NET variable (start-up hooks)"),
    ("COREHOST_", ".NET host variable"),
    ("ELECTRON_", "Electron variable (ELECTRON_RUN_AS_NODE turns apps into node)"),
    ("CGO_", "Go toolchain variable (names compilers and flags)"),
    ("RUSTC", "Rust compiler variable (RUSTC_WRAPPER runs a program)"),
    ("CARGO_", "Cargo variable (names programs it runs)"),
    ("OPENSSL_", "OpenSSL variable (loads modules and config files)"),
    ("GIT_", "git variable (can name programs git runs)"),
    ("BASH_FUNC_", "exported bash function"),
    ("JAVA_", "Java variable"),
)

#: Suffixes refused (compared upper-cased): proxies redirect every request an agent makes.
_DENIED_SUFFIXES: Final = (("_PROXY", "network proxy; set it in the parent's environment instead"),)

#: Go's own variables (the go command runs programs and downloads code they name).
_GO_VARIABLES: Final = frozenset(
    (
        "GOFLAGS", "GOPROXY", "GONOPROXY", "GOPRIVATE", "GOSUMDB", "GONOSUMDB", "GOINSECURE", "GOVCS",
        "GOPATH", "GOROOT", "GOBIN", "GOENV", "GOTOOLCHAIN", "GOTOOLDIR", "GOEXPERIMENT", "GOCACHE",
        "GOMODCACHE", "GOWORK", "GO111MODULE", "GODEBUG", "GOTMPDIR", "GOEXE",
    )
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
    try:
        (key + value).encode("utf-8")
    except UnicodeEncodeError:
        return "not valid text (a lone surrogate?)"
    if "=" in key:
        return "'=' in key"
    if not _KEY_RE.match(key):
        return "not a plain variable name (letters, digits and '_', not starting with a digit)"
    upper = key.upper()
    if upper.startswith(STRIP_PREFIXES):
        return "provider credentials and endpoints (CLAUDE*, CODEX*, OLLAMA*, ANTHROPIC_*, OPENAI_*) are not allowed"
    reason = _DENIED_KEYS.get(upper)
    if reason is not None:
        return reason
    for prefix, what in _DENIED_PREFIXES:
        if upper.startswith(prefix):
            return f"{what}; {prefix}* keys are not allowed"
    for suffix, what in _DENIED_SUFFIXES:
        if upper.endswith(suffix):
            return what
    if upper in _GO_VARIABLES:
        return "Go toolchain variable (names programs and code sources)"
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
    absolute: str = os.path.abspath(path)
    if not os.path.isdir(absolute):
        what = "does not exist" if not os.path.exists(absolute) else "is not a directory"
        raise InvalidOptionError(f"{option} {absolute!r} {what}; give an existing directory")
    return absolute
