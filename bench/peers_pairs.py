"""Before/after figures from a ``bench/peers.py --compare CHECKOUT --json FILE`` run.

``python bench/peers_pairs.py FILE`` prints, per scenario and metric, each build's median
and range over the runs, and the ratio this build / the other checkout taken run by run
(the two ran back to back in each run, in alternating order), as median and range.
Only runs that passed their correctness check are used; a run whose partner failed is left
out of the ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CURRENT = "sidecar_c"
REFERENCE = "sidecar_ref"

Metric = Callable[[dict[str, Any], float], "float | None"]

#: (title, digits, function of (raw run, bytes delivered per run)).
METRICS: list[tuple[str, int, Metric]] = [
    ("k msg/s", 0, lambda r, _b: sum(r["messages"]) / r["wall_s"] / 1e3),
    ("MB/s", 0, lambda r, b: b / r["wall_s"] / 1e6),
    ("CPU s/GB", 2, lambda r, b: r["cpu_s"] / (b / 1e9)),
    ("peak RSS MiB", 0, lambda r, _b: r["hwm_kb"] / 1024 if r.get("hwm_kb", -1) > 0 else None),
]


def spread(values: list[float], digits: int) -> str:
    if not values:
        return "—"
    med = statistics.median(values)
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def table(data: dict[str, Any]) -> str:
    nbytes = {
        s["name"]: data["transcripts"][s["name"]]["bytes"] * s["repeat"] * s["sessions"]
        for s in data["scenarios"]
        if s["mode"] == "tput"
    }
    ok: dict[tuple[str, str, int], dict[str, Any]] = {
        (r["scenario"], r["peer"], r["run"]): r for r in data["raw"] if r["verdict"] == "ok"
    }
    runs = sorted({r["run"] for r in data["raw"]})
    lines = [
        "| scenario | metric | current, median (range) | reference, median (range) "
        "| current / reference, per run: median (range) | runs |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario, b in nbytes.items():
        for title, digits, fn in METRICS:
            cur = [v for i in runs if (r := ok.get((scenario, CURRENT, i))) and (v := fn(r, b)) is not None]
            ref = [v for i in runs if (r := ok.get((scenario, REFERENCE, i))) and (v := fn(r, b)) is not None]
            ratios = []
            for i in runs:
                a, z = ok.get((scenario, CURRENT, i)), ok.get((scenario, REFERENCE, i))
                if a and z and (va := fn(a, b)) is not None and (vz := fn(z, b)):
                    ratios.append(va / vz)
            lines.append(
                f"| {scenario} | {title} | {spread(cur, digits)} | {spread(ref, digits)} "
                f"| {spread(ratios, 3)} | {len(ratios)} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json_file", type=Path, help="the --json output of bench/peers.py --compare")
    args = p.parse_args(argv)
    data = json.loads(args.json_file.read_text())
    if not any(r["peer"] == REFERENCE for r in data["raw"]):
        p.error(f"{args.json_file} has no {REFERENCE} runs (was peers.py run with --compare?)")
    print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
