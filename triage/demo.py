"""The whole story on the embedded defaults: what `make demo` and `triage demo` run.

Simulates referrals (calibrated to national figures) and the journeys that follow them, routes
and decides them with the Kent rulebook on durable_rules into an SQLite decision log, verifies and
replays the log, and writes the KPI report (terminal and HTML) and a picture of the pathway.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.audit.log import DecisionLog
from triage.audit.replay import replay_log
from triage.audit.verify import verify_log
from triage.decision import Decision
from triage.engine import FrontDoor
from triage.errors import GraphvizMissing
from triage.journey import Journeys
from triage.pathway import drawing
from triage.report import kpi_report, render_table, to_html
from triage.simulation import simulate, simulate_journeys

BATCH = 500
# Kent's 0-19 population in the 2011 census, as the plans use it for rates per 10,000.
KENT_POPULATION = 360_605
DEMO_KEY = "triage-demo-key: synthetic data only, never use for real logs"

Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@dataclass
class DemoResult:
    folder: Path
    log: Path
    referrals: int = 0
    decisions: int = 0
    events: int = 0
    html: Path | None = None
    picture: Path | None = None
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_demo(
    folder: Path,
    n: int = 10_000,
    seed: int = 1,
    workers: int = 2,
    progress: Progress | None = None,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Run the whole story into `folder`; `progress(label, total)` gives a bar's update function."""
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "decisions.sqlite"
    log_path.unlink(missing_ok=True)
    result = DemoResult(folder, log_path)
    door = FrontDoor()  # durable where durable_rules imports, else reference
    journeys = Journeys(door.rulebook, pathway=None)

    def bar(label: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
        if progress is None:
            from contextlib import nullcontext

            return nullcontext(lambda _: None)
        return progress(label, total)

    referrals = list(simulate(n, seed, door.rulebook))
    routed: list[tuple[dict[str, Any], tuple[Decision, ...]]] = []
    with DecisionLog(log_path, key=DEMO_KEY) as log, bar("routing referrals", n) as update:
        for batch in _batches(referrals, BATCH):
            checked = [door.validate(item) for item in batch]
            decided = [door.route(item) for item in checked]
            log.record(door, checked, decided)
            routed.extend(zip(batch, decided, strict=True))
            update(len(batch))
        result.referrals = len(referrals)
        result.decisions = sum(len(d) for _, d in routed)
        events = list(simulate_journeys(routed, seed, door.rulebook))
        with bar("deciding journeys", len(events)) as update_events:
            for batch in _batches(events, BATCH):
                valid = [journeys.validate(item) for item in batch]
                log.record_transitions(journeys, valid, [journeys.decide(e) for e in valid])
                update_events(len(batch))
        result.events = len(events)
    say(
        f"routed {result.referrals} referrals ({result.decisions} children) and decided "
        f"{result.events} journey events into {log_path}"
    )

    verified = verify_log(log_path)
    say(str(verified))
    with bar("replaying", verified.records) as update:
        replayed = replay_log(log_path, workers=workers, progress=update)
    say(
        f"replay: {replayed.identical} of {replayed.decisions} decisions identical, "
        f"{replayed.different} different"
    )

    report = kpi_report(log_path, population=KENT_POPULATION)
    say("")
    say(render_table(report))
    result.html = folder / "report.html"
    result.html.write_text(to_html(report), encoding="utf-8")
    result.picture = _picture(journeys, folder)
    result.seconds = time.perf_counter() - started
    say("")
    say(f"HTML report:     {result.html}")
    say(f"pathway picture: {result.picture}")
    say(f"decision log:    {log_path}  (try: triage verify {log_path})")
    say(f"done in {result.seconds:.1f} s")
    return result


def _picture(journeys: Journeys, folder: Path) -> Path:
    """An SVG drawn by Graphviz when it is installed, else the Mermaid text (no install)."""
    if shutil.which("dot") is not None:
        target = folder / "pathway.svg"
        try:
            target.write_bytes(drawing.render(drawing.to_dot(journeys.pathway), "svg"))
            return target
        except GraphvizMissing:  # a dot that cannot draw: fall back to the text form
            pass
    target = folder / "pathway.mmd"
    target.write_text(drawing.to_mermaid(journeys.pathway), encoding="utf-8")
    return target
