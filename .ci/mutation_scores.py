"""The mutation score per module, as a Markdown table, from mutmut's results (docs/mutation.md).

Usage: .venv/bin/python .ci/mutation_scores.py [MUTANTS_DIR ...]

Reads the ``*.meta`` files mutmut writes next to each mutated module under ``mutants/``
(the default). With several directories, a mutant's verdict is the last one found that is
not "not checked": a full run first, then a rerun of its survivors alone.

The score is killed / (killed + survived): a timeout counts as killed (the mutant hung a
test), mutants no test reaches are listed apart and left out of the score.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255, -9, -11}
SURVIVED = {0}
NO_TESTS = {5, 33}


def verdicts(dirs: list[Path]) -> dict[str, dict[str, int | None]]:
    """module path -> mutant name -> mutmut's exit code (None: not checked)."""
    out: dict[str, dict[str, int | None]] = {}
    for root in dirs:
        for meta in sorted(root.rglob("*.py.meta")):
            module = meta.relative_to(root).as_posix().removesuffix(".meta")
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            seen = out.setdefault(module, {})
            for name, code in codes.items():
                if code is not None or name not in seen:
                    seen[name] = code
    return out


def table(by_module: dict[str, dict[str, int | None]]) -> str:
    rows = [
        "| module | mutants | killed | survived | no tests | not run | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module, codes in sorted(by_module.items()):
        if not codes:
            continue
        values = list(codes.values())
        killed = sum(code in KILLED for code in values)
        survived = sum(code in SURVIVED for code in values)
        no_tests = sum(code in NO_TESTS for code in values)
        not_run = sum(code is None for code in values)
        checked = killed + survived
        score = f"{100 * killed / checked:.1f} %" if checked else "-"
        rows.append(f"| {module} | {len(values)} | {killed} | {survived} | {no_tests} | {not_run} | {score} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    dirs = [Path(arg) for arg in argv] or [Path("mutants")]
    missing = [d for d in dirs if not d.is_dir()]
    if missing:
        print(f"no such directory: {', '.join(map(str, missing))} (run `mutmut run` first)", file=sys.stderr)
        return 2
    print(table(verdicts(dirs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
