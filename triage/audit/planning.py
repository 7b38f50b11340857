"""The planning what-if: what a revised rulebook, whose routes may differ from the log's, would
have decided for every logged decision, counted the way a council plans its teams.

`replay --against` compares like with like (the same routes, a changed threshold). A council
that reshapes its front door (routes merged, renamed or new) asks other questions of the same
log: where would each old route's children go (the route and level matrices), how many children
would each new route or team take in each month of receipt, what share would be section 47
work, and how many offers (flags such as family group decision making) would be made. What
counts as section 47 work, which flags are offers and which routes make a team is the
revision's data (`report: planning:`, `triage.council.PlanningSection`), never an id in code.

Each decision record's minimised referral is validated and routed by the revision (on the
record's engine and as-of date, unless overridden), exactly as `replay --against` does, except
that a child open to a service the revision retires is planned as open to its successor (as the
go-live move leaves every such child: `successors`); a referral the revision still refuses
stops the what-if with the record's seq. Journey records are not
decided again: the old and new pathways name different services. The log is verified first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic_core import from_json

from triage.audit.chain import SNAPSHOT_KIND
from triage.audit.replay import (
    DECISION_KIND,
    _Log,
    _snapshot_rulebook,
    _worker_log,
    spread,
)
from triage.audit.stores import Span, Store, open_store
from triage.audit.verify import verify_store
from triage.council import PlanningSection
from triage.editions import load_editions
from triage.engine import FrontDoor
from triage.errors import LogError, ReferralInvalid
from triage.loader import load_rulebook
from triage.rulebook import Rulebook


@dataclass(frozen=True, slots=True)
class PlannedChild:
    """One child of one logged decision: what was decided, and what the revision decides."""

    seq: int
    child: str  # the pseudonymised child id
    month: str  # the month the referral was received, YYYY-MM
    old_level: int | None
    old_route: str
    old_flags: tuple[str, ...]
    new_level: int | None
    new_route: str
    new_flags: tuple[str, ...]
    # What the KPI report reads of a decision besides its outcome (triage.report.planning).
    source: str
    received: datetime
    recorded: datetime
    open_service: str | None
    old_section_47: bool  # the old route is section 47 work, as `old_section_47_routes` says
    carried_over: bool = False  # open to a retired service: planned as open to its successor

    @property
    def identical(self) -> bool:
        return (self.old_level, self.old_route) == (self.new_level, self.new_route)


@dataclass
class PlanningReport:
    """The planning what-if's counts, kept as it goes (each child too, unless `keep_children`
    is off); every total is over the same children, so each sums to `decisions`."""

    target: str
    against: str
    revision: Rulebook
    records: int = 0  # decision records replayed
    decisions: int = 0  # children decided
    routes: Counter[tuple[str, str]] = field(default_factory=Counter)
    levels: Counter[tuple[int | None, int | None]] = field(default_factory=Counter)
    months: Counter[tuple[str, str]] = field(default_factory=Counter)  # (month, new team)
    old_months: Counter[tuple[str, str]] = field(default_factory=Counter)  # (month, old route)
    old_section_47: int = 0
    new_section_47: int = 0
    # Whether the log's section 47 routes are known: marked by its own rulebooks, or by the
    # revision's `earlier_section_47`. Without either, the share before is not reported.
    old_section_47_marked: bool = False
    # Decisions carrying each flag the revision counts (its offers and other flags).
    flags_before: Counter[str] = field(default_factory=Counter)
    flags_after: Counter[str] = field(default_factory=Counter)
    identical: int = 0
    carried_over: int = 0  # children open to a retired service, planned on its successor
    children: list[PlannedChild] = field(default_factory=list)
    keep_children: bool = True
    # The log's rulebooks, by fingerprint, as their snapshots hold them (in log order).
    old_rulebooks: dict[str, Rulebook] = field(default_factory=dict)

    @property
    def planning(self) -> PlanningSection:
        report = self.revision.report
        return PlanningSection() if report is None or report.planning is None else report.planning

    @property
    def counted_flags(self) -> tuple[str, ...]:
        return (*self.planning.offers, *self.planning.flags)

    @property
    def different(self) -> int:
        return self.decisions - self.identical

    def team_of(self, route: str) -> str:
        """The revision's team that takes a route (the route itself when no team names it)."""
        for team, members in self.planning.teams.items():
            if route in members:
                return team
        return route

    def add(self, child: PlannedChild) -> None:
        self.decisions += 1
        self.identical += child.identical
        self.carried_over += child.carried_over
        self.routes[(child.old_route, child.new_route)] += 1
        self.levels[(child.old_level, child.new_level)] += 1
        self.months[(child.month, self.team_of(child.new_route))] += 1
        self.old_months[(child.month, child.old_route)] += 1
        self.new_section_47 += child.new_route in self.planning.section_47
        self.old_section_47 += child.old_section_47
        counted = self.counted_flags
        self.flags_before.update(flag for flag in child.old_flags if flag in counted)
        self.flags_after.update(flag for flag in child.new_flags if flag in counted)
        if self.keep_children:
            self.children.append(child)

    def old_order(self) -> tuple[str, ...]:
        """The log's routes in its rulebooks' order (the continuum), the newest rulebook last."""
        seen: dict[str, None] = {}
        for rulebook in self.old_rulebooks.values():
            seen.update((route.id, None) for route in rulebook.routes)
        return tuple(seen)

    def new_order(self) -> tuple[str, ...]:
        return tuple(route.id for route in self.revision.routes)

    def team_order(self) -> tuple[str, ...]:
        teams: dict[str, None] = {}
        for route in self.new_order():
            teams[self.team_of(route)] = None
        return tuple(teams)


def old_section_47_routes(old: Rulebook, revision: Rulebook) -> frozenset[str]:
    """The section 47 routes of a log's rulebook: as it marks them itself, else as the
    revision says they were (`earlier_section_47`); empty when neither marks any."""
    for rulebook, name in ((old, "section_47"), (revision, "earlier_section_47")):
        if rulebook.report is not None and rulebook.report.planning is not None:
            marked: tuple[str, ...] = getattr(rulebook.report.planning, name)
            if marked:
                return frozenset(marked)
    return frozenset()


def log_route_ids(target: str | Path) -> frozenset[str]:
    """Every route of every rulebook snapshot in the log (the routes its decisions could have)."""
    store = open_store(target)
    try:
        found: set[str] = set()
        for row in store.rows():
            if row.kind == SNAPSHOT_KIND:
                found.update(route.id for route in _snapshot_rulebook(row.body).routes)
        return frozenset(found)
    finally:
        store.close()


def needs_planning(target: str | Path, against: str | Path) -> bool:
    """Whether a what-if of the log under `against` crosses two route sets (a route of either
    that the other lacks): then `replay --against` is the planning what-if."""
    return log_route_ids(target) != load_rulebook(Path(against)).route_ids


def plan_log(
    target: str | Path,
    against: str | Path,
    *,
    workers: int = 1,
    engine: str | None = None,
    as_of: date | None = None,
    verify: bool = True,
    allow_unanchored_tail: bool = False,
    keep_children: bool = True,
    progress: Callable[[int], None] | None = None,
    rows: Callable[[PlannedChild], None] | None = None,
) -> PlanningReport:
    """The planning what-if of every decision in the log at `target` under the rulebook
    directory `against`, over `workers` processes as `replay_log` spreads a log (each reads its
    own spans; the report is the same for any number). `as_of` applies the revision's rules in
    force on that date instead of each record's own (ages and the 12-month window stay as at
    receipt); `engine` overrides the recorded one. `rows(child)` is told of each child as it
    comes, in log order; `progress(n)` of every `n` records read. A log that does not verify
    is refused (`LogError`)."""
    revision = load_rulebook(Path(against))  # the loader's errors, before any work
    store = open_store(target)
    report = PlanningReport(store.target, str(against), revision, keep_children=keep_children)
    try:
        if verify:
            checked = verify_store(store, allow_unanchored_tail=allow_unanchored_tail)
            if not checked.chain_ok:
                raise LogError(
                    store.target,
                    "the log does not verify, so it is not replayed: " + checked.problems()[0],
                )
        rules_dir = str(against)
        as_of_text = None if as_of is None else as_of.isoformat()
        with spread(store, _plan_span, _plan_job, (rules_dir, engine, as_of_text), workers) as done:
            _collect(store, report, done, progress, rows)
        return report
    finally:
        store.close()


# A job: the log's target, a span of it, the revision's directory, and the engine and as-of
# date that override the records' own (None: the record's).
Job = tuple[str, Span, str, str | None, str | None]
# What a job returns: the records of the span read (of every kind), the decision records
# planned, their children, and the fingerprints of the log's rulebooks those decisions name.
Result = tuple[int, int, list[PlannedChild], list[str]]


def _plan_job(job: Job) -> Result:
    """Runs in a worker: plan one span of the log, read through this worker's connection."""
    target, span, rules_dir, engine, as_of = job
    return _plan_span(_worker_log(target), span, rules_dir, engine, as_of)


@lru_cache(maxsize=8)
def _revision_door(rules_dir: str, engine: str) -> FrontDoor:
    return FrontDoor(load_rulebook(Path(rules_dir)), engine=engine)  # type: ignore[arg-type]


@lru_cache(maxsize=8)
def successors(rules_dir: str) -> dict[str, str]:
    """Each service that the revision (or a rulebook it revises) retires -> its successor,
    followed to the last. A child the log shows open to a retired service is planned as open
    to its successor, as the go-live move (`service_redesign`) leaves every such child."""
    retired = load_editions(rules_dir).retired_on(date.max)
    return {old: new for old, (new, _) in retired.items()}


@lru_cache(maxsize=16)
def _section_47_of(snapshot_body: str, rules_dir: str) -> frozenset[str]:
    return old_section_47_routes(_snapshot_rulebook(snapshot_body), load_rulebook(Path(rules_dir)))


def _plan_span(
    log: _Log, span: Span, rules_dir: str, engine: str | None, as_of_text: str | None
) -> Result:
    # Read whole before any snapshot is fetched (on PostgreSQL that query would end the
    # transaction that holds the span's cursor), as replay does.
    rows = [(row.seq, row.kind, row.body) for row in log.store.span_rows(span)]
    as_of = None if as_of_text is None else date.fromisoformat(as_of_text)
    children: list[PlannedChild] = []
    fingerprints: dict[str, None] = {}
    records = 0
    for seq, kind, body in rows:
        if kind != DECISION_KIND:
            continue  # the genesis, snapshots, journey moves, managers' outcomes
        record = from_json(body)
        door = _revision_door(rules_dir, engine or record["input"]["engine"])
        fingerprint = record["rulebook"]["fingerprint"]
        marked = _section_47_of(log.needed(seq, fingerprint), rules_dir)
        fingerprints[fingerprint] = None
        children += _planned(seq, record, door, as_of, marked, successors(rules_dir))
        records += 1
    return len(rows), records, children, list(fingerprints)


def _collect(
    store: Store,
    report: PlanningReport,
    results: Iterator[Result],
    progress: Callable[[int], None] | None,
    rows: Callable[[PlannedChild], None] | None,
) -> None:
    for read, records, children, fingerprints in results:
        for fingerprint in fingerprints:
            if fingerprint not in report.old_rulebooks:
                body = store.snapshot(fingerprint)
                assert body is not None  # the span that named it found it
                rulebook = report.old_rulebooks[fingerprint] = _snapshot_rulebook(body)
                marked = old_section_47_routes(rulebook, report.revision)
                report.old_section_47_marked |= bool(marked)
        for child in children:
            report.add(child)
            if rows is not None:
                rows(child)
        report.records += records
        if progress is not None and read:
            progress(read)


def _planned(
    seq: int,
    record: dict[str, Any],
    door: FrontDoor,
    as_of: date | None,
    section_47: frozenset[str],
    moved: dict[str, str],
) -> list[PlannedChild]:
    given: dict[str, Any] = record["input"]
    carried = []
    for child in given["referral"]["children"]:
        involvement = child.get("open_involvement")
        service = None if involvement is None else involvement.get("service")
        carried.append(service in moved)
        if service in moved:
            involvement["service"] = moved[service]
    try:
        referral = door.validate(given["referral"])
    except ReferralInvalid as invalid:
        problems = "; ".join(
            f"{p.location}: {p.message}" + ("" if p.value is None else f" (got {p.value!r})")
            for p in invalid.problems
        )
        raise LogError(
            "replay", f"record seq {seq}: its referral is not valid under the revision: {problems}"
        ) from None
    recorded_as_of = given.get("as_of")
    on = as_of or (None if recorded_as_of is None else date.fromisoformat(str(recorded_as_of)))
    new = door.outcomes(referral, on)
    old: list[dict[str, Any]] = record["output"]
    if len(new) != len(old):
        raise LogError(
            "replay", f"record seq {seq} has {len(old)} decisions but the revision made {len(new)}"
        )
    recorded = datetime.fromisoformat(str(record["recorded_at"]))
    return [
        PlannedChild(
            seq=seq,
            child=str(before["child_id"]),
            month=referral.received_at.strftime("%Y-%m"),
            old_level=before["level"],
            old_route=str(before["route"]),
            old_flags=tuple(before.get("flags") or ()),
            new_level=level,
            new_route=route,
            new_flags=flags,
            source=referral.source.value,
            received=referral.received_at,
            recorded=recorded,
            open_service=None if child.open_involvement is None else child.open_involvement.service,
            old_section_47=before["route"] in section_47,
            carried_over=moved_here,
        )
        for before, (level, route, flags), child, moved_here in zip(
            old, new, referral.children, carried, strict=True
        )
    ]
