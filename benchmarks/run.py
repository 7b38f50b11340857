"""One benchmark run: every figure of issue 6, the table, the JSON.

python -m benchmarks                      # 100,000 referrals, a 1,000,000-record log
python -m benchmarks --n 20000 --records 200000 --out /tmp/bench.json
python -m benchmarks --smoke              # tiny sizes, seconds: what CI runs
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from benchmarks import audit, memory, routing, serve
from benchmarks.lines import Line, table, with_ratios
from triage.engine import LIBRARY_VERSION
from triage.loader import load_rulebook
from triage.simulation import simulate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latest.json"
SMOKE = {
    "n": 200,
    "records": 2_000,
    "memory_small": 200,
    "memory_large": 2_000,
    "serve_n": 128,
}


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="referrals routed by (a)-(d)")
    parser.add_argument("--records", type=int, default=1_000_000, help="records verified by (e)")
    parser.add_argument("--memory-small", type=int, default=100_000)
    parser.add_argument("--memory-large", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500, help="referrals per log batch in (d)")
    parser.add_argument(
        "--serve-n", type=int, default=4_000, help="referrals routed over HTTP per run of (h)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON results file")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument(
        "--rules",
        type=Path,
        default=None,
        help="a rulebook directory (default: the bundled Kent rulebook); the what-if lowers "
        "Kent's accumulated level-2 threshold, so it must be an edition of Kent",
    )
    options = parser.parse_args(argv)
    if options.smoke:
        for name, value in SMOKE.items():
            setattr(options, name, value)
    return options


def judge(lines: dict[str, Line]) -> None:
    """Set each line's target and whether it was met (ratios within this one run)."""
    floor, durable = lines["a_floor"], lines["b_durable"]
    b = durable.rate / floor.rate
    durable.target, durable.achieved, durable.met = ">= 0.50 x (a)", f"{b:.2f} x (a)", b >= 0.5
    logged = lines["d_durable_logged"]
    d = logged.rate / durable.rate
    logged.target, logged.achieved, logged.met = ">= 0.75 x (b)", f"{d:.2f} x (b)", d >= 0.75
    fast = lines["c_compiled"]
    c = fast.rate / floor.rate
    fast.target, fast.achieved, fast.met = ">= 4 x (a)", f"{c:.2f} x (a)", c >= 4
    checked = lines["e_verify"]
    checked.target, checked.met = ">= 100,000 records/s", checked.rate >= 100_000
    one, two = lines["g_what_if_1w"], lines["g_what_if_2w"]
    scale, steady = two.rate / one.rate, lines["g_national_projection"].rate / one.rate
    two.target, two.met = ">= 1.5 x 1 worker", scale >= 1.5  # judged on the rates measured
    two.achieved = f"{scale:.2f} x ({steady:.2f} x after start-up)"
    replay_scale = lines["f_replay_2w"].rate / lines["f_replay_1w"].rate
    lines["f_replay_2w"].achieved = f"{replay_scale:.2f} x 1 worker"
    national = lines["g_national_projection"]
    assert national.value is not None
    national.target, national.met = "<= 10 min", national.value <= 10
    small, large = lines["memory_small"], lines["memory_large"]
    assert small.value is not None
    assert large.value is not None
    growth = large.value / small.value
    large.target, large.achieved = "<= 1.10 x the smaller run", f"{growth:.2f} x"
    large.met = growth <= 1.10
    kept, streamed = lines["memory_what_if_kept"], lines["memory_what_if_rows"]
    assert kept.value is not None
    assert streamed.value is not None
    streamed.target = "<= 1.10 x the smaller routing run (flat: no list of children)"
    streamed.achieved = (
        f"{streamed.value / small.value:.2f} x; kept: {kept.value / small.value:.2f} x"
    )
    streamed.met = streamed.value / small.value <= 1.10


def run(options: argparse.Namespace, work: Path) -> tuple[list[Line], dict[str, Any]]:
    say = _progress
    rulebook = load_rulebook(options.rules)
    say(f"simulating {options.n:,} referrals (seed {options.seed})")
    population = list(simulate(options.n, options.seed, rulebook))
    population_file = work / "population.jsonl"
    with population_file.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(referral) + "\n" for referral in population)
    gc.freeze()  # the population is test data: keep the collector from rescanning it
    log = work / "routed.sqlite"
    found: list[Line] = routing.engine_lines(rulebook, population, log, options.batch, say)
    # (h) right after (b), so that the machine's load is alike for the ratio between them.
    bodies = [json.dumps(referral) for referral in population[: options.serve_n]]
    served, latency = serve.under_load(work, bodies, say, options.rules)
    served.append(serve.crash_line(work, bodies, say, options.rules))
    del population, bodies
    gc.unfreeze()
    gc.collect()
    say(f"(e) building a {options.records:,}-record log")
    large = work / "large.sqlite"
    build_seconds = audit.build_large_log(log, large, options.records)
    say("(e) verify")
    found.append(audit.verify(large))
    large.unlink()
    rules = audit.what_if_rules(work, options.rules)
    for against in (None, rules):
        for workers in (1, 2):
            say(f"({'f' if against is None else 'g'}) {workers} worker(s)")
            found.append(audit.replay(log, workers, against))
    say("(g) 2 workers, one chunk: the start-up")
    tiny = work / "one-chunk.sqlite"
    audit.build_large_log(log, tiny, min(audit.START_UP_RECORDS, max(1, options.n // 4)))
    start_up = audit.replay(tiny, 2, rules)
    found.append(audit.projection(found[-1], start_up))
    for key, count in (
        ("memory_small", options.memory_small),
        ("memory_large", options.memory_large),
    ):
        say(f"memory after {count:,}")
        found.append(memory.measure(population_file, count, key, options.rules))
    for key, stream in (("memory_what_if_kept", False), ("memory_what_if_rows", True)):
        say(f"memory of a what-if, {'rows streamed' if stream else 'children kept'}")
        found.append(memory.measure_what_if(log, rules, stream, key))
    found += served
    extra = {
        "rulebook": f"{rulebook.rulebook.id} {rulebook.rulebook.version}",
        "serve_latency_by_clients": latency,
        "engine_faults_in_log": routing.ENGINE_FAULTS[0],
        "large_log_build_seconds": build_seconds,
        "what_if_start_up": {"records": start_up.count, "seconds": start_up.seconds},
    }
    return found, extra


def _progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    # As an application would: the library never configures structlog, and its default prints
    # every info event.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    options = arguments(argv)
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()  # other work on the machine shows here: the run is not alone
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as work:
        lines, extra = run(options, Path(work))
    with_ratios(lines)
    judge({item.key: item for item in lines})
    serve.judge({item.key: item for item in lines}, extra["serve_latency_by_clients"])
    print(table(lines))
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "triage": LIBRARY_VERSION,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "params": {
            "n": options.n,
            "records": options.records,
            "memory_small": options.memory_small,
            "memory_large": options.memory_large,
            "batch": options.batch,
            "serve_n": options.serve_n,
            "serve_workers": 1,
            "seed": options.seed,
            "smoke": options.smoke,
            "rulebook": extra.pop("rulebook"),
            "memory_engine": memory.ENGINE,
            "replay_engine": audit.ENGINE,
        },
        "lines": [item.as_json() for item in lines],
        **extra,
    }
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {options.out}")
    return 0
