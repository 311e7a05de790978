#!/usr/bin/env python3
"""Sums a mod_bench_profile dump by module: Lua instruction samples whose stack passes through
each mod_*.lua, and the hottest lines of the push modules. Usage: prosody-profile.py FILE..."""
import collections
import re
import sys

for path in sys.argv[1:]:
    lines = open(path).read().split("\n")
    start = [i for i, l in enumerate(lines) if l.startswith("total")][1]
    modules, push_lines, total = collections.Counter(), collections.Counter(), 0
    for line in lines[start + 1:]:
        m = re.match(r"\s*(\d+)\s+[\d.]+%\s+(.*)", line)
        if not m:
            continue
        n, frames = int(m.group(1)), m.group(2).split(" < ")
        total += n
        for module in {re.sub(r":\d+", "", f) for f in frames if f.startswith("mod_")}:
            modules[module] += n
        for frame in set(frames):
            if frame.startswith("mod_cloud_notify"):
                push_lines[frame] += n
    print(f"{path}: {total} samples")
    for module, n in modules.most_common(12):
        print(f"  {n:7d} {100 * n / total:5.1f}%  {module}")
    for frame, n in push_lines.most_common(10):
        print(f"  {n:7d}         {frame}")
