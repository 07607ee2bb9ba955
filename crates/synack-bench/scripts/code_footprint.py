#!/usr/bin/env python3
"""How much code a workload executes per unit of work: the distinct 64-byte lines of machine
code run at least once per unit (per lifecycle, per segment), and the functions they belong
to. Reads a callgrind profile taken with per-instruction counts:

    cargo build --release -p synack-bench --examples
    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=cg.out \\
        target/release/examples/workload lifecycle synack 20000
    python3 crates/synack-bench/scripts/code_footprint.py cg.out 20000 [TOP]

A line counts if some instruction in it ran at least UNITS times (every unit touched it); a
loop that fits the L1 instruction cache (32 KiB, 512 lines, on most x86 cores) runs from it,
one that does not refetches its lines every time round.
"""

import collections
import re
import sys


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, units = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    names: dict[str, str] = {}
    runs: collections.Counter = collections.Counter()
    owner: dict[tuple[str, int], str] = {}
    obj, fn, addr, after_call = "", "", 0, False
    cost_line = re.compile(r"^(0x[0-9a-f]+|[+-]\d+|\*)\s+\S+\s+(\d+)$")
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            named = re.match(r"c?fn=\((\d+)\)\s+(.+)", line)
            if named:
                names[named.group(1)] = named.group(2).strip()
            if line.startswith("ob="):
                obj = line
            elif line.startswith("fn="):
                fn = line[3:]
            elif line.startswith("calls="):
                after_call = True  # the next cost line is the callee's inclusive cost
            else:
                m = cost_line.match(line)
                if not m:
                    continue
                pos = m.group(1)
                if pos.startswith("0x"):
                    addr = int(pos, 16)
                elif pos[0] in "+-":
                    addr += int(pos)
                if after_call:
                    after_call = False
                    continue
                runs[(obj, addr)] += int(m.group(2))
                owner[(obj, addr)] = fn

    def name(fn: str) -> str:
        m = re.match(r"\((\d+)\)\s*(.*)", fn)
        return (names.get(m.group(1)) or m.group(2)) if m else fn

    lines: dict[tuple[str, int], set[str]] = {}
    for (obj, a), n in runs.items():
        if n >= units:
            lines.setdefault((obj, a // 64), set()).add(name(owner[(obj, a)]))
    per_fn: collections.Counter = collections.Counter()
    for fns in lines.values():
        for f in fns:
            per_fn[f] += 1 / len(fns)
    print(f"{len(lines)} lines of code ({len(lines) * 64 / 1024:.1f} KiB) run at least once per unit")
    for f, n in per_fn.most_common(top):
        print(f"{n:7.1f}  {f[:150]}")


if __name__ == "__main__":
    main()
