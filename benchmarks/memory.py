"""Peak memory after routing many referrals, measured in a fresh process each time.

`python -m benchmarks.memory POPULATION COUNT [RULES]` routes COUNT referrals with one compiled
`FrontDoor`, reading the JSON Lines population file in turn (again from the top when it runs
out, each pass with new referral ids), discards the decisions, and prints one JSON object:
the count, the seconds, and the peak resident set size (VmHWM) in kB. The file is streamed, so
the population itself takes no memory that grows with COUNT.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import structlog

from benchmarks.lines import Line

ENGINE: Final = "compiled"


def peak_rss_kb() -> int:
    """The process's peak resident set size in kB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for text in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if text.startswith("VmHWM:"):
                return int(text.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def route_many(population: Path, count: int, rules: Path | None = None) -> dict[str, Any]:
    from triage.engine import FrontDoor
    from triage.loader import load_rulebook

    door = FrontDoor(None if rules is None else load_rulebook(rules), engine=ENGINE)
    routed = passes = 0
    start = time.perf_counter()
    while routed < count:
        with population.open(encoding="utf-8") as lines:
            for text in lines:
                referral = json.loads(text)
                if passes:
                    referral["referral_id"] = f"{referral['referral_id']}-P{passes}"
                door.route(referral)
                routed += 1
                if routed == count:
                    break
        passes += 1
    return {"count": routed, "seconds": time.perf_counter() - start, "peak_rss_kb": peak_rss_kb()}


def _in_fresh_process(args: list[str], key: str, what: str, unit: str) -> Line:
    """Run this module with `args` in a fresh interpreter; the line's value is its peak RSS."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", *args],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = float(result["seconds"])
    return Line(
        key,
        what,
        result["count"] / seconds if seconds > 0 else 0.0,
        unit,
        int(result["count"]),
        seconds,
        value=int(result["peak_rss_kb"]) / 1024,
        value_unit="MB",
    )


def measure(population: Path, count: int, key: str, rules: Path | None = None) -> Line:
    """Peak RSS in MB after routing `count` referrals, in a fresh interpreter."""
    what = f"peak RSS after {count:,} routed referrals ({ENGINE}, fresh process)"
    args = [str(population), str(count), *([] if rules is None else [str(rules)])]
    return _in_fresh_process(args, key, what, "referrals/s")


def what_if(log: Path, against: Path, stream: bool) -> dict[str, Any]:
    """A what-if of the whole log, one worker: every child kept in the report, or streamed to a
    row sink (`replay --rows FILE`) and kept nowhere."""
    from triage.audit.replay import csv_row, replay_log

    with open(os.devnull, "w", encoding="utf-8", newline="") as sink:
        rows = csv.writer(sink)
        start = time.perf_counter()
        report = replay_log(
            f"sqlite:///{log}",
            against=against,
            engine=ENGINE,
            rows=(lambda outcome: rows.writerow(csv_row(outcome))) if stream else None,
        )
    return {
        "count": report.decisions,
        "seconds": time.perf_counter() - start,
        "peak_rss_kb": peak_rss_kb(),
    }


def measure_what_if(log: Path, against: Path, stream: bool, key: str) -> Line:
    """Peak RSS in MB of one what-if of `log`, every child kept or streamed, in a fresh
    interpreter."""
    how = "children streamed to a row file (--rows)" if stream else "every child kept in the report"
    args = ["--what-if", str(log), str(against), *(["--rows"] if stream else [])]
    what = f"peak RSS of a what-if, {how} ({ENGINE}, fresh process)"
    return _in_fresh_process(args, key, what, "children/s")


def main(argv: list[str]) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if argv[0] == "--what-if":
        print(json.dumps(what_if(Path(argv[1]), Path(argv[2]), "--rows" in argv[3:])))
        return 0
    rules = Path(argv[2]) if len(argv) > 2 else None
    print(json.dumps(route_many(Path(argv[0]), int(argv[1]), rules)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
