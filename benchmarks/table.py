"""Print a Markdown table of ratios from a pytest-benchmark JSON file.

Within each group every row is compared with the group's base row (gdcore, or the gdcore
configuration the benchmark marks): ratio = row's best time / base's best time, so 3.00 means the
base is 3x faster. Rows of one group that do different amounts of work (epochs) are compared by
items per second instead.
"% of bound" is the bytes a kernel must move divided by its best time and by the streaming
bandwidth the core measured in the same run; for bench_workloads.py it is the roofline time,
max(bytes / bandwidth, flops / FMA peak), over the best time, with the binding side named.

    python benchmarks/table.py bench.json
"""

import json
import sys
from collections import defaultdict


def fmt_time(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main(path):
    with open(path) as f:
        data = json.load(f)
    groups = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench["group"]].append(bench)
    cpu = data.get("machine_info", {}).get("cpu", {}).get("brand_raw", "?")
    print(f"{cpu}, {data.get('datetime', '')[:10]}")
    print()
    print("| workload | peer | best | median | time ÷ base | items/s | GB/s | % of bound |")
    print("|---|---|---|---|---|---|---|---|")
    for group in sorted(groups):
        rows = groups[group]
        base = next((b for b in rows if b["extra_info"].get("base")), rows[0])
        for b in sorted(rows, key=lambda b: b["stats"]["min"]):
            extra = b["extra_info"]
            ratio = b["stats"]["min"] / base["stats"]["min"]
            gbs = f"{extra['GB_per_s']:.1f}" if "GB_per_s" in extra else ""
            rate = f"{extra['items_per_s'] / 1e6:.3g} M" if "items_per_s" in extra else ""
            pct = f"{extra['pct_of_bound']:.0f}%" if "pct_of_bound" in extra else ""
            if pct and "bound" in extra:
                pct += f" ({extra['bound']})"
            print(
                f"| {group} | {extra.get('peer', b['name'])} | {fmt_time(b['stats']['min'])} | "
                f"{fmt_time(b['stats']['median'])} | {ratio:.2f} | {rate} | {gbs} | {pct} |"
            )


if __name__ == "__main__":
    main(sys.argv[1])
