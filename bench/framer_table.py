"""Print the framer benchmark results as a markdown table of median-time ratios.

Usage: ``python bench/framer_table.py bench/results/framer.json``

Each cell is the median, over rounds, of the contender's time divided by the time
of a ``bytes_split`` run made right before it in the same round (below 1.00 is
faster than ``bytes_split``), then the contender's median time. A contender whose
output was wrong is marked.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

BASELINE = "bytes_split"
ORDER = ["c_feed", "c_feed_segments", "py_framer", "bytes_split", "readline"]


def main(path: str) -> None:
    run = json.loads(open(path, encoding="utf-8").read())
    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for bench in run["benchmarks"]:
        groups[bench["group"]][bench["extra_info"]["contender"]] = bench
    machine = run["machine_info"]
    print(f"Python {machine['python_version']}, {machine['cpu'].get('brand_raw', '?')}, "
          f"{machine['system']} {machine['release']}, {run['datetime']}\n")
    print("| input | " + " | ".join(ORDER) + " |")
    print("|---" * (len(ORDER) + 1) + "|")
    for group in sorted(groups):
        row = groups[group]
        cells = []
        for name in ORDER:
            bench = row.get(name)
            if bench is None:
                cells.append("-")
                continue
            info = bench["extra_info"]
            mark = "" if info.get("correct") else " WRONG"
            cells.append(f"{info['paired_ratio']:.2f} ({bench['stats']['median'] * 1e3:.1f} ms){mark}")
        print(f"| {group} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
