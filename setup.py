"""Build hook: compiles the C NDJSON framer with cffi. Metadata lives in pyproject.toml.

Without a working C compiler the install still succeeds: the build prints a banner
and ``sidecar_sync.framer`` falls back to its pure-Python twin, logging a warning at
import. The test suite refuses to run on that fallback, so CI fails if C is not built.
"""

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.editable_wheel import editable_wheel
from setuptools.errors import CCompilerError, ExecError, PlatformError

BANNER = """
{rule}
WARNING: the C NDJSON framer could not be compiled ({error}).
sidecar-sync will use its pure-Python framer, which is slower. Install a C
compiler and the Python headers, then reinstall sidecar-sync to build it.
{rule}
"""


class ForgivingBuildExt(build_ext):
    """build_ext that reports a failed C build instead of failing the install."""

    def run(self) -> None:
        # Caught here rather than per extension, so that the steps after a failed
        # compile (copying the module into the tree, for editable installs) are skipped.
        try:
            super().run()
        except (CCompilerError, ExecError, PlatformError) as exc:
            self.warn(BANNER.format(rule="=" * 76, error=exc))


class PathEditableWheel(editable_wheel):
    """Editable installs as a path entry ("compat" mode) unless another mode is asked for.

    Setuptools' default editable install for this flat layout is an import hook,
    which static analysers (mypy) cannot see: with a path entry they find the
    package and its ``py.typed``.
    """

    def finalize_options(self) -> None:
        if not self.mode:
            self.mode = "compat"
        super().finalize_options()


setup(
    cffi_modules=["csrc/framer_build.py:ffibuilder"],
    cmdclass={"build_ext": ForgivingBuildExt, "editable_wheel": PathEditableWheel},
)
