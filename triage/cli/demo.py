"""Try it out: `triage demo` and `triage simulate`."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from triage.cli.options import progress_bar, rules_option
from triage.demo import run_demo
from triage.engine import FrontDoor
from triage.errors import UsageError
from triage.loader import load_rulebook
from triage.simulation import simulate, simulate_journeys


@click.command()
@click.option(
    "--n",
    "count",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="How many synthetic referrals.",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Random seed."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the log, the HTML report and the picture. Default: a new temporary folder.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes for the replay.",
)
def demo(count: int, seed: int, out: Path | None, workers: int) -> None:
    """The whole story on the embedded defaults: simulate referrals and journeys, route and
    decide them with the Kent rulebook on durable_rules into an SQLite decision log, verify and
    replay it, print the KPI report and write the HTML report and a pathway picture."""
    folder = out if out is not None else Path(tempfile.mkdtemp(prefix="triage-demo-"))
    run_demo(folder, n=count, seed=seed, workers=workers, progress=progress_bar, say=click.echo)


@click.command("simulate")
@click.option(
    "--n", "count", type=click.IntRange(min=0), required=True, help="How many referrals to write."
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    required=True,
    help="The same seed (and options) gives the same referrals, byte for byte.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to FILE, with a progress bar on a terminal. Default: standard output.",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2025-04-01",
    show_default=True,
    help="The first day referrals can arrive (YYYY-MM-DD).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=365,
    show_default=True,
    help="Calendar days from --start; referrals arrive on their working days.",
)
@click.option(
    "--journeys",
    "journeys_out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the journey events that follow these referrals (reviews, plan ends, "
    "closures; each referral routed by the reference evaluator) to FILE as JSON Lines.",
)
@rules_option
def simulate_command(
    count: int,
    seed: int,
    out: Path | None,
    start: Any,
    days: int,
    journeys_out: Path | None,
    rules_dir: Path | None,
) -> None:
    """Write N synthetic referrals as JSON Lines, calibrated to national figures for England
    (docs/simulation.md). Nothing is real: synthetic ids, no names, no free text."""
    rulebook = load_rulebook(rules_dir)
    referrals = simulate(count, seed, rulebook, start=start.date(), days=days)
    if journeys_out is not None:
        kept = list(referrals)
        referrals = iter(kept)
        door = FrontDoor(rulebook, engine="reference")
        events = simulate_journeys(((r, door.route(r)) for r in kept), seed, rulebook)
        with journeys_out.open("w", encoding="utf-8", newline="\n") as file:
            file.writelines(json.dumps(event, separators=(",", ":")) + "\n" for event in events)
    lines = (json.dumps(referral, separators=(",", ":")) + "\n" for referral in referrals)
    if out is None:
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    step = 500  # redrawing the bar for every line would cost more than writing it
    try:
        with (
            out.open("w", encoding="utf-8", newline="\n") as file,
            progress_bar("simulating", count) as progress,
        ):
            for number, line in enumerate(lines, start=1):
                file.write(line)
                if number % step == 0:
                    progress(step)
            progress(count % step)
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from error
