"""`python -m tests.adversarial --report [--copies N] [--big N]`: the per-class table."""

from __future__ import annotations

import argparse
import logging
import sys
import time

import structlog
from click.testing import CliRunner

from triage import FrontDoor, load_rulebook

from . import generate
from .run import counts, render, run_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.adversarial")
    parser.add_argument("--report", action="store_true", help="Print the per-class table.")
    parser.add_argument("--copies", type=int, default=1, help="Each case this many times.")
    parser.add_argument("--big", type=int, default=100, help="Size of the large cases.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-cli", action="store_true", help="The API only (faster).")
    parser.add_argument("--list", action="store_true", help="Also list every failing case.")
    args = parser.parse_args(argv)
    cases = generate(args.copies, args.big, args.seed)
    kent = load_rulebook()
    doors = [FrontDoor(kent, engine="durable"), FrontDoor(kent, engine="reference")]
    runner = None if args.no_cli else CliRunner()
    started = time.monotonic()
    saved = structlog.get_config()
    if runner is None:  # the API's log lines are not read without the CLI: keep them quiet
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    outcomes = []
    try:
        for case in cases:
            outcomes.append(run_case(case, doors, runner))
    finally:
        structlog.configure(**saved)
    print(render(counts(outcomes)))
    print(
        f"\n{len(cases)} inputs (copies {args.copies}, big {args.big}, seed {args.seed}) in "
        f"{time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    bad = [
        o
        for o in outcomes
        if o.traceback or o.pii or o.api_problem or (o.case.garbage and o.accepted)
    ]
    if args.list:
        for o in bad:
            print(
                f"{o.case.cls}: {o.case.name}: exit {o.exit_code}, routes {o.routes}, "
                f"pii {len(o.pii)}, api {o.api_problem}",
                file=sys.stderr,
            )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
