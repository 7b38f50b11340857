"""What a replay or a what-if found, and how it prints: `ReplayReport`, its running totals kept
as the children come (the same memory for any size of log), and the report as a terminal table,
JSON, or CSV rows (`csv_row`, which `--rows FILE` streams).

`triage.audit.replay` does the replaying and fills the report; this module decides nothing.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage._base import LEVEL_NAMES
from triage._table import matrix
from triage.audit.outcome import OutcomeTally
from triage.loader import load_rulebook

# A journey record replayed: its seq, whether it came out identical, and the move before and
# after (kind and target service; the kind "refused" when the pathway now refuses the move).
JourneyOutcome = tuple[int, bool, str, str, str, str]


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    seq: int
    child: str  # the pseudonymised child id
    old_level: int | None
    old_route: str
    new_level: int | None
    new_route: str
    identical: bool
    old_step_up: bool
    new_step_up: bool


CHANGED_SHOWN = 50  # changed children a report keeps for printing, even with its rows streamed


@dataclass
class ReplayReport:
    """What a replay or a what-if found. The matrices and counts are kept as it goes, so they
    cost the same memory for any size of log; each child's outcome is kept in `outcomes` only
    when asked (`keep_outcomes`), else streamed to `replay_log`'s `rows` callback."""

    target: str
    records: int = 0
    decisions: int = 0
    different: int = 0
    outcomes: list[ChildOutcome] = field(default_factory=list)
    against: str | None = None
    levels: Counter[tuple[int | None, int | None]] = field(default_factory=Counter)
    routes: Counter[tuple[str, str]] = field(default_factory=Counter)
    up: int = 0
    down: int = 0
    step_ups: int = 0
    changed: list[ChildOutcome] = field(default_factory=list)  # the first CHANGED_SHOWN
    keep_outcomes: bool = True
    journeys: int = 0  # journey records decided again
    journeys_different: int = 0
    journey_changes: list[JourneyOutcome] = field(default_factory=list)  # the first shown
    manager: OutcomeTally | None = None  # the managers' outcomes, when the log holds any
    continuum: tuple[str, ...] = ()  # what-if: the revised rulebook's routes, lowest first

    def add_journey(self, outcome: JourneyOutcome) -> None:
        self.journeys += 1
        if not outcome[1]:
            self.journeys_different += 1
            if len(self.journey_changes) < CHANGED_SHOWN:
                self.journey_changes.append(outcome)

    def add(self, outcome: ChildOutcome) -> None:
        self.decisions += 1
        self.levels[(outcome.old_level, outcome.new_level)] += 1
        self.routes[(outcome.old_route, outcome.new_route)] += 1
        old, new = outcome.old_level or 0, outcome.new_level or 0
        self.up += old <= 2 and new >= 3
        self.down += old >= 3 and outcome.new_level is not None and new <= 2
        self.step_ups += outcome.new_step_up and not outcome.old_step_up
        if not outcome.identical:
            self.different += 1
            if len(self.changed) < CHANGED_SHOWN:
                self.changed.append(outcome)
        if self.keep_outcomes:
            self.outcomes.append(outcome)
        if self.manager is not None:
            self.manager.add(outcome)

    @property
    def identical(self) -> int:
        return self.decisions - self.different

    def level_matrix(self) -> Counter[tuple[int | None, int | None]]:
        return self.levels

    def route_matrix(self) -> Counter[tuple[str, str]]:
        return self.routes

    def crossing_up(self) -> int:
        """Children below the Front Door threshold before (level 1-2) and at or above it now."""
        return self.up

    def crossing_down(self) -> int:
        return self.down

    def new_step_ups(self) -> int:
        """Children now decided above the level of the service they are open to, who were not."""
        return self.step_ups


def _continuum(rules_dir: str) -> tuple[str, ...]:
    """Route ids in the order the rulebook lists them: the continuum, lowest level first."""
    return tuple(route.id for route in load_rulebook(Path(rules_dir)).routes)


ROW_FIELDS = ("seq", "child", "old_level", "old_route", "new_level", "new_route", "identical")


def csv_row(outcome: ChildOutcome) -> list[Any]:
    """One child's row, as `--csv` prints it and `--rows FILE` streams it."""
    return [getattr(outcome, name) for name in ROW_FIELDS]


def render_replay(report: ReplayReport, fmt: str = "table", limit: int = 50) -> str:
    """The report as a terminal table, JSON, or CSV (one row per child; JSON lists every child
    too, when the report kept them)."""
    changed = report.changed
    if fmt == "json":
        return json.dumps(
            {
                "log": report.target,
                "against": report.against,
                "records": report.records,
                "decisions": report.decisions,
                "identical": report.identical,
                "different": report.different,
                "crossing_up": report.crossing_up(),
                "crossing_down": report.crossing_down(),
                "new_step_ups": report.new_step_ups(),
                "journeys": report.journeys,
                "journeys_different": report.journeys_different,
                "journey_changes": [
                    {"seq": s, "before": [ok, ot], "after": [nk, nt]}
                    for s, _, ok, ot, nk, nt in report.journey_changes
                ],
                "level_matrix": [
                    [a, b, n] for (a, b), n in sorted(report.level_matrix().items(), key=str)
                ],
                "route_matrix": [[a, b, n] for (a, b), n in sorted(report.route_matrix().items())],
                "manager_outcomes": None if report.manager is None else report.manager.to_json(),
                "children": [_row(o) for o in report.outcomes] if report.keep_outcomes else None,
            },
            indent=2,
        )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(ROW_FIELDS)
        for o in report.outcomes:
            writer.writerow(csv_row(o))
        return buffer.getvalue().rstrip("\n")
    if report.against is None:
        lines = [
            f"replayed {report.records} record(s), {report.decisions} decision(s) "
            f"from {report.target}",
            f"identical: {report.identical}   different: {report.different}",
            f"journey moves decided again: {report.journeys}   "
            f"identical: {report.journeys - report.journeys_different}   "
            f"different: {report.journeys_different}",
        ]
        lines += [
            f"  DIFFERENT seq {o.seq} child {o.child}: {o.old_level}/{o.old_route} -> "
            f"{o.new_level}/{o.new_route}"
            for o in changed[:limit]
        ]
    else:
        lines = [
            f"what-if: {report.decisions} decision(s) in {report.records} record(s) "
            f"of {report.target} "
            f"under {report.against}",
            f"unchanged: {report.identical}   changed: {report.different}",
            f"journey moves decided again: {report.journeys}   "
            f"changed: {report.journeys_different}",
            f"crossing the Front Door threshold upwards (level 1-2 -> 3-4): {report.crossing_up()}",
            f"crossing it downwards (level 3-4 -> 1-2): {report.crossing_down()}",
            f"new step-ups (above the open service's level): {report.new_step_ups()}",
            "",
            *matrix(report.level_matrix(), "levels", order=tuple(LEVEL_NAMES)),
            "",
            *matrix(
                report.route_matrix(),
                "routes",
                order=report.continuum or _continuum(report.against),
            ),
            "",
        ]
        lines += [
            f"  seq {o.seq} child {o.child}: level {o.old_level} -> {o.new_level}, "
            f"{o.old_route} -> {o.new_route}"
            for o in changed[:limit]
        ]
    if report.manager is not None:
        lines += report.manager.lines()
    lines += [
        f"  journey seq {seq}: {old_kind} to {old_to} -> {new_kind} to {new_to}"
        for seq, _, old_kind, old_to, new_kind, new_to in report.journey_changes[:limit]
    ]
    if report.different > min(limit, len(changed)):
        more = report.different - min(limit, len(changed))
        lines.append(f"  ... and {more} more (--csv, --json or --rows FILE list every child)")
    return "\n".join(lines)


def _row(outcome: ChildOutcome) -> dict[str, Any]:
    return {name: getattr(outcome, name) for name in ChildOutcome.__slots__}
