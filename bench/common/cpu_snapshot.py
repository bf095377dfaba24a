"""Print a snapshot of CPU time, per process and for the whole machine, as JSON.

The benchmarks take one before and one after each measured run, so that the
summary can say how much CPU *other* processes used meanwhile: on a small
machine shared with other work (a test suite, an editor's language server),
that is what makes one run much slower than the next. Linux only (/proc).

Output: ``{"clock_ticks": 100, "machine": {"busy": ..., "idle": ...},
"processes": {"<pid>": {"comm": ..., "ppid": ..., "ticks": ...}}}``, where
ticks are user + system CPU time in clock ticks.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def machine_ticks() -> dict[str, int]:
    # First line of /proc/stat: "cpu user nice system idle iowait irq softirq steal ..."
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return {"busy": user + nice + system + irq + softirq + steal, "idle": idle + iowait, "steal": steal}


def process_ticks() -> dict[str, dict[str, Any]]:
    processes: dict[str, dict[str, Any]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        # The command name sits between the first "(" and the LAST ")": it may
        # itself contain spaces and parentheses. After it: state, ppid, ...
        # utime and stime are fields 14 and 15 of the line (man 5 proc).
        close = text.rindex(")")
        rest = text[close + 2 :].split()
        processes[entry.name] = {
            "comm": text[text.index("(") + 1 : close],
            "ppid": int(rest[1]),
            "ticks": int(rest[11]) + int(rest[12]),
        }
    return processes


def main() -> int:
    snapshot = {"clock_ticks": os.sysconf("SC_CLK_TCK"), "machine": machine_ticks(), "processes": process_ticks()}
    json.dump(snapshot, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
