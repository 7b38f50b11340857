"""The whole story on the embedded defaults: what `make demo` and `triage demo` run.

Simulates referrals (calibrated to national figures) and the journeys that follow them, routes
and decides them with the Kent rulebook on durable_rules into an SQLite decision log, verifies and
replays the log, writes the KPI report (terminal and HTML), the planning what-if of the log
under Kent's Families First revision (terminal and HTML) and a picture of the pathway, and ends
with the one command that serves the playground (`triage serve`) on the demo's log.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from triage.audit.log import KEY_VARIABLE, DecisionLog
from triage.audit.replay import replay_log
from triage.audit.verify import verify_log
from triage.decision import Decision
from triage.engine import FrontDoor
from triage.errors import GraphvizMissing
from triage.journey import Journeys
from triage.loader import bundled_rules_dir
from triage.pathway import drawing
from triage.report import kpi_report, render_table, to_html
from triage.report.planning_page import show_planning
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
    playground: str = ""  # the command that serves the playground on the log
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def playground_command(log: Path) -> str:
    """The one shell command that serves the playground on the demo's log, with its key."""
    beside = Path(sys.executable).with_name("triage")  # the triage of this environment
    program = (
        shlex.quote(str(beside))
        if beside.exists()
        else f"{shlex.quote(sys.executable)} -m triage.cli"
    )
    target = shlex.quote(str(log.resolve()))  # from any folder
    return f"{KEY_VARIABLE}={shlex.quote(DEMO_KEY)} {program} serve --log {target}"


@dataclass
class _Run:
    """What the steps of one demo share."""

    result: DemoResult
    door: FrontDoor
    journeys: Journeys
    seed: int
    workers: int
    bar: Progress
    say: Callable[[str], None]


def run_demo(
    folder: Path,
    n: int = 10_000,
    seed: int = 1,
    workers: int = 2,
    progress: Progress | None = None,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Run the whole story into `folder`; `progress(label, total)` gives a bar's update function.

    Each step is one call on the shared `_Run`: a new step is one more call, in its place."""
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "decisions.sqlite"
    log_path.unlink(missing_ok=True)
    door = FrontDoor()  # durable where durable_rules imports, else reference
    run = _Run(
        DemoResult(folder, log_path),
        door,
        Journeys(door.rulebook, pathway=None),
        seed,
        workers,
        progress or _no_bar,
        say,
    )
    _route_and_decide(run, n)
    _verify_and_replay(run)
    _report(run)
    _plan(run)
    run.result.picture = _picture(run.journeys, folder)
    run.result.seconds = time.perf_counter() - started
    _summary(run)
    return run.result


def _no_bar(label: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
    return nullcontext(lambda _: None)


def _route_and_decide(run: _Run, n: int) -> None:
    """Simulate referrals, route them, decide the journeys that follow: all into the log."""
    result, door, journeys = run.result, run.door, run.journeys
    referrals = list(simulate(n, run.seed, door.rulebook))
    routed: list[tuple[dict[str, Any], tuple[Decision, ...]]] = []
    with DecisionLog(result.log, key=DEMO_KEY) as log, run.bar("routing referrals", n) as update:
        for batch in _batches(referrals, BATCH):
            checked = [door.validate(item) for item in batch]
            decided = [door.route(item) for item in checked]
            log.record(door, checked, decided)
            routed.extend(zip(batch, decided, strict=True))
            update(len(batch))
        result.referrals = len(referrals)
        result.decisions = sum(len(d) for _, d in routed)
        events = list(simulate_journeys(routed, run.seed, door.rulebook))
        with run.bar("deciding journeys", len(events)) as update_events:
            for batch in _batches(events, BATCH):
                valid = [journeys.validate(item) for item in batch]
                log.record_transitions(journeys, valid, [journeys.decide(e) for e in valid])
                update_events(len(batch))
        result.events = len(events)
    run.say(
        f"routed {result.referrals} referrals ({result.decisions} children) and decided "
        f"{result.events} journey events into {result.log}"
    )


def _verify_and_replay(run: _Run) -> None:
    log = run.result.log
    verified = verify_log(log)
    run.say(str(verified))
    with run.bar("replaying", verified.records) as update:
        replayed = replay_log(log, workers=run.workers, progress=update)
    run.say(
        f"replay: {replayed.identical} of {replayed.decisions} decisions identical, "
        f"{replayed.different} different"
    )


def _report(run: _Run) -> None:
    report = kpi_report(run.result.log, population=KENT_POPULATION)
    run.say("")
    run.say(render_table(report))
    run.result.html = run.result.folder / "report.html"
    run.result.html.write_text(to_html(report), encoding="utf-8")


def _plan(run: _Run) -> None:
    """The planning what-if of the log under Kent's Families First revision."""
    run.say("")
    show_planning(
        run.result.log,
        bundled_rules_dir("kent-families-first"),
        run.result.folder / "planning.html",
        workers=run.workers,
        engine="compiled",
        population=KENT_POPULATION,
        say=run.say,
    )


def _summary(run: _Run) -> None:
    """Where everything is, and last the command that opens the playground on the log."""
    result, say = run.result, run.say
    result.playground = playground_command(result.log)
    say("")
    say(f"HTML report:     {result.html}")
    say(f"pathway picture: {result.picture}")
    say(f"decision log:    {result.log}  (try: triage verify {result.log})")
    say(f"done in {result.seconds:.1f} s")
    say("")
    if not all(find_spec(name) for name in ("fastapi", "uvicorn")):
        say("the playground needs the serve extra of frontdoor-triage: pip install '.[serve]'")
    say("the playground on this log (then open http://127.0.0.1:8000/; Ctrl-C stops it):")
    say(result.playground)


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
