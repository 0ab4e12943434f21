"""Print the framer benchmark results as a markdown table of median-time ratios.

Usage: ``python bench/framer_table.py bench/results/framer.json``

Each cell is the median, over rounds, of the contender's time divided by the time
of a baseline run made right before it in the same round (``bytes_split`` when
framing, ``split_loads`` when decoding; below 1.00 is faster than the baseline),
then the contender's median time. A contender whose output was wrong is marked.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

TABLES = {
    "framing": ["c_feed", "c_feed_segments", "py_framer", "bytes_split", "readline"],
    "decoding": ["decoder_c", "decoder_py", "c_feed_loads", "split_loads"],
}


def main(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    groups: dict[str, dict[str, dict]] = defaultdict(dict)
    for bench in run["benchmarks"]:
        groups[bench["group"]][bench["extra_info"]["contender"]] = bench
    machine = run["machine_info"]
    print(f"Python {machine['python_version']}, {machine['cpu'].get('brand_raw', '?')}, "
          f"{machine['system']} {machine['release']}, {run['datetime']}\n")
    for title, order in TABLES.items():
        rows = {group: row for group, row in sorted(groups.items()) if order[0] in row}
        if not rows:
            continue
        print(f"{title}:\n")
        print("| input | " + " | ".join(order) + " |")
        print("|---" * (len(order) + 1) + "|")
        for group, row in rows.items():
            cells = []
            for name in order:
                bench = row.get(name)
                if bench is None:
                    cells.append("-")
                    continue
                info = bench["extra_info"]
                mark = "" if info.get("correct") else " WRONG"
                cells.append(f"{info['paired_ratio']:.2f} ({bench['stats']['median'] * 1e3:.1f} ms){mark}")
            print(f"| {group} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main(sys.argv[1])
