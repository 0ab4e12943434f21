"""Instructions per line of the session hot path, counted by callgrind (immune to machine load).

``python bench/callgrind_hotpath.py [--stages] [bench_hotpath.py options, e.g. --wrapped --gc tuned]``

Runs ``bench_hotpath.py --passes 1`` and ``--passes 3`` under ``valgrind --tool=callgrind``
and prints ``(Ir(3) - Ir(1)) / 2 / lines``: start-up, transcript loading and the output
check cancel out, leaving one pass of frame + parse + route + adapt + deliver. Instruction
counts are not time (cache misses and branch mispredictions cost more than their
instructions), but they do not move with other processes' load, so two variants of the
code compare reliably on a busy machine. ``--stages`` runs the path up to each stage in
turn (``bench_hotpath.py --upto``) and prints the differences: instructions per stage.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
UPTO = ("frame", "parse", "route", "adapt", "deliver")


def instructions(passes: int, extra: list[str]) -> int:
    with tempfile.NamedTemporaryFile() as out:
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}", sys.executable,
               str(BENCH / "bench_hotpath.py"), "--passes", str(passes), *extra]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode:
            raise SystemExit(f"callgrind run failed:\n{r.stderr[-2000:]}")
        m = re.search(r"Collected\s*:\s*(\d+)", r.stderr)
        if not m:
            raise SystemExit(f"no instruction count in:\n{r.stderr[-2000:]}")
        return int(m.group(1))


def main() -> int:
    extra = sys.argv[1:]
    stages = "--stages" in extra
    if stages:
        extra.remove("--stages")
    info = subprocess.run([sys.executable, str(BENCH / "bench_hotpath.py"), "--rounds", "1", *extra],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    lines = int(re.search(r"([\d,]+) lines", info).group(1).replace(",", ""))  # type: ignore[union-attr]
    print(info.splitlines()[0])
    previous = 0.0
    for upto in UPTO if stages else ("deliver",):
        args = [*extra, "--upto", upto]
        per_line = (instructions(3, args) - instructions(1, args)) / 2 / lines
        if stages:
            print(f"  {upto:8} {per_line - previous:8,.0f} instructions per line")
        previous = per_line
    print(f"  {'total':8} {previous:8,.0f} instructions per line (callgrind, one pass)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
