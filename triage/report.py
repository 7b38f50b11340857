"""The KPI report: the indicators of Kent's children's services plans that a decision log supports.

```python
from triage.report import kpi_report, render_table, to_html, to_json

report = kpi_report("sqlite:///decisions.sqlite", population=330_000, start=date(2026, 4, 1))
print(render_table(report))                 # a terminal table
Path("kpi.html").write_text(to_html(report))  # one self-contained page with SVG charts
```

Every figure carries its written definition, and every output shows it. The report reads the
records as they are stored (run `triage verify` first when the log's integrity matters); it
counts pseudonymised ids, so it never needs the key. What a decision log cannot support, and
why, is in docs/report.md.
"""

from __future__ import annotations

import calendar
import html
import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from triage.audit.stores import Store, open_store
from triage.errors import LogError, UsageError
from triage.workdays import add_working_days

RE_REFERRAL_FLAG = "re_referral_within_12_months"
TAF = "team_around_the_family"
INTENSIVE_EARLY_HELP = "intensive_early_help"
ASSESSMENT_ROUTES = ("child_and_family_assessment", "strategy_discussion")
PLANS = ("child_in_need_plan", "child_protection_plan")
SOCIAL_CARE = (
    "child_in_need_plan",
    "child_protection_plan",
    "children_in_care",
    "child_and_family_assessment",
)
EARLY_HELP = (
    "intensive_early_help",
    "team_around_the_family",
    "single_agency_support",
    "adolescent_support",
)
UNIVERSAL = "universal_services"

# The national referral-source categories (DfE CIN census codes; shared/domain.md sections 6-7).
AGENCY_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("police", "Police", ("6",)),
    ("schools", "Schools", ("2A",)),
    ("education_services", "Education services", ("2B",)),
    ("health", "Health", ("3A", "3B", "3C", "3D", "3E", "3F")),
    ("housing", "Housing", ("4",)),
    ("la_services", "LA services", ("5A", "5B", "5C", "5D")),
    ("individuals", "Individuals", ("1A", "1B", "1C", "1D")),
    ("other_legal_agency", "Other legal agency", ("7",)),
    ("other", "Other", ("8",)),
    ("anonymous", "Anonymous", ("9",)),
    ("unknown", "Unknown", ("10",)),
)
_GROUP_OF = {code: key for key, _, codes in AGENCY_GROUPS for code in codes}

LEVEL_LABELS = {
    1: "Level 1 Universal",
    2: "Level 2 Additional",
    3: "Level 3 Intensive",
    4: "Level 4 Specialist",
}
ROUTE_LABELS = {
    "universal_services": "Universal services",
    "single_agency_support": "Single-agency support",
    "team_around_the_family": "Team around the family",
    "intensive_early_help": "Intensive early help",
    "child_and_family_assessment": "Child and family assessment (s17)",
    "strategy_discussion": "Strategy discussion (s47)",
    "emergency_protection": "Immediate protection",
    "allocated_worker": "Allocated worker (open case)",
    "manual_review": "Manual review",
}
_ROUTE_LEVEL = {
    "universal_services": 1,
    "single_agency_support": 2,
    "team_around_the_family": 2,
    "intensive_early_help": 3,
    "child_and_family_assessment": 3,
    "strategy_discussion": 4,
    "emergency_protection": 4,
}

BACKFILL_DAYS = 30
NEEDS_POPULATION = "needs --population (the number of children under 18 in the area)"

# -- the report's shape --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a figure: a category, a part of a ratio, or a funnel stage."""

    key: str
    label: str
    count: int
    percent: float | None = None


@dataclass(frozen=True)
class Figure:
    """One indicator: its value, what it counts (`definition`) and where the plans ask for it."""

    key: str
    title: str
    definition: str
    source: str
    caption: str
    unit: str = ""
    value: float | None = None
    missing: str | None = None
    numerator: int | None = None
    denominator: int | None = None
    rows: tuple[Row, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def value_text(self) -> str:
        if self.value is None:
            return self.missing or "no data"
        number = f"{self.value:,.1f}"
        return f"{number}%" if self.unit == "%" else f"{number} {self.unit}".strip()


@dataclass(frozen=True)
class KpiReport:
    log: str
    start: date | None
    end: date | None
    population: int | None
    records: int
    head: tuple[int, str] | None
    decisions: int
    referrals: int
    transitions: int
    skipped: int
    figures: tuple[Figure, ...] = field(default=())

    def figure(self, key: str) -> Figure:
        for item in self.figures:
            if item.key == key:
                return item
        raise KeyError(key)

    @property
    def period(self) -> str:
        if self.start is None and self.end is None:
            return "every record in the log"
        first = "the first record" if self.start is None else self.start.isoformat()
        last = "the last record" if self.end is None else self.end.isoformat()
        return f"{first} to {last} (inclusive)"


# -- reading the log -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decision:
    child: str
    level: int | None
    route: str
    flags: tuple[str, ...]
    source: str
    received: datetime
    recorded: datetime
    open_service: str | None


@dataclass(frozen=True)
class _Move:
    child: str
    source: str
    target: str
    kind: str
    closure_reason: str | None
    occurred: datetime
    since: date | None
    findings: tuple[str, ...]


def _when(text: Any) -> datetime:
    return datetime.fromisoformat(str(text))


def _within(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def _local_path(target: str) -> Path | None:
    if target.startswith(("postgresql://", "postgres://")):
        return None
    if target.startswith("sqlite:///"):
        return Path(target.removeprefix("sqlite:///"))
    return Path(target)


def _open(target: str | Path | Store) -> Store:
    if not isinstance(target, str | Path):
        return target
    path = _local_path(str(target))
    known = str(target).startswith("sqlite:///") or (
        path is not None and path.suffix in {".jsonl", ".sqlite", ".sqlite3", ".db"}
    )
    if known and path is not None and not path.exists():
        # Checked first: opening an SQLite store would create an empty log.
        raise LogError(str(target), "there is no log here")
    return open_store(target)  # a UsageError for a target of no known kind


@dataclass
class _Scan:
    records: int = 0
    skipped: int = 0
    referrals: int = 0
    decisions: list[_Decision] = field(default_factory=list)
    moves: list[_Move] = field(default_factory=list)
    routes: dict[str, str] = field(default_factory=dict)


def _scan(store: Store, start: date | None, end: date | None) -> _Scan:
    scan = _Scan()
    for row in store.rows():
        scan.records += 1
        try:
            if row.seq < 1:
                raise ValueError("not a record")
            body = json.loads(row.body)
            kind = body["kind"]
            if kind == "rulebook_snapshot":
                for route in body["snapshot"].get("routes", ()):
                    scan.routes.setdefault(str(route["id"]), str(route.get("label", "")))
            elif kind == "triage_decision":
                _read_decision(scan, body, start, end)
            elif kind == "journey_transition":
                _read_move(scan, body, start, end)
        except (ValueError, KeyError, TypeError, IndexError):
            scan.skipped += 1
    return scan


def _read_decision(scan: _Scan, body: dict[str, Any], start: date | None, end: date | None) -> None:
    referral = body["input"]["referral"]
    received = _when(referral["received_at"])
    if not _within(received.date(), start, end):
        return
    recorded = _when(body["recorded_at"])
    open_services = {
        str(child["child_id"]): child.get("open_involvement", {}).get("service")
        for child in referral["children"]
    }
    decisions = []
    for output in body["output"]:
        child = str(output["child_id"])
        level = output.get("level")
        decisions.append(
            _Decision(
                child=child,
                level=None if level is None else int(level),
                route=str(output["route"]),
                flags=tuple(str(f) for f in output.get("flags", ())),
                source=str(referral["source"]),
                received=received,
                recorded=recorded,
                open_service=open_services.get(child),
            )
        )
    # Only a record read whole counts: a record that fails above is skipped, not half-read.
    scan.referrals += 1
    scan.decisions.extend(decisions)


def _read_move(scan: _Scan, body: dict[str, Any], start: date | None, end: date | None) -> None:
    event = body["input"]["event"]
    occurred = _when(event["occurred_at"])
    if not _within(occurred.date(), start, end):
        return
    output = body["output"][0]
    since = event.get("service_since")
    scan.moves.append(
        _Move(
            child=str(output["child_id"]),
            source=str(output["from_service"]),
            target=str(output["to_service"]),
            kind=str(output["kind"]),
            closure_reason=output.get("closure_reason"),
            occurred=occurred,
            since=None if since is None else date.fromisoformat(str(since)),
            findings=tuple(str(f) for f in event.get("findings", ())),
        )
    )


# -- the figures ---------------------------------------------------------------------------------


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def kpi_report(
    target: str | Path | Store,
    population: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> KpiReport:
    """Read every record of the log at `target` and compute the indicators it can support.

    `population` is the number of children under 18 in the area (for the per-10,000 rates);
    `start` and `end` keep referrals received and journey events that occurred on those days,
    both inclusive.
    """
    if population is not None and population <= 0:
        raise UsageError("--population must be a positive number of children under 18")
    if start is not None and end is not None and start > end:
        raise UsageError(f"the period is empty: --from {start} is after --to {end}")
    store = _open(target)
    try:
        head = store.head()
        scan = _scan(store, start, end)
        name = store.target
    finally:
        if isinstance(target, str | Path):
            store.close()
    decisions, moves = scan.decisions, scan.moves
    figures = (
        _by_agency(decisions),
        _by_level(decisions),
        _by_route(decisions, scan.routes),
        _starts(
            TAF,
            "Team around the family starts",
            "team around the family starts",
            "Every Day Matters (2013-16): CAFs completed per 10,000 population under 18 "
            "(a team around the family is the CAF/TAF of the plans)",
            decisions,
            moves,
            population,
        ),
        _starts(
            INTENSIVE_EARLY_HELP,
            "Early help starts",
            "intensive early help starts",
            "Directorate business plans: early help activity per 10,000 population under 18",
            decisions,
            moves,
            population,
        ),
        _stepped_down(moves),
        _taf_duration(moves),
        _re_referrals(decisions),
        _timeliness(decisions),
        _funnel(decisions, moves),
    )
    return KpiReport(
        log=name,
        start=start,
        end=end,
        population=population,
        records=scan.records,
        head=head,
        decisions=len(decisions),
        referrals=scan.referrals,
        transitions=len(moves),
        skipped=scan.skipped,
        figures=figures,
    )


def _codes(codes: Sequence[str]) -> str:
    return codes[0] if len(codes) == 1 else f"{codes[0]}-{codes[-1]}"


def _by_agency(decisions: Sequence[_Decision]) -> Figure:
    counts = Counter(_GROUP_OF.get(d.source, "unknown") for d in decisions)
    total = len(decisions)
    rows = tuple(
        Row(key, f"{label} ({_codes(codes)})", counts[key], _pct(counts[key], total))
        for key, label, codes in AGENCY_GROUPS
    )
    return Figure(
        key="referrals_by_agency",
        title="Referrals by referring agency",
        caption="children referred, by who referred them",
        definition=(
            "Each child of each referral received in the period counts once (as the census "
            "counts referrals: one per child), by the referral's census source code, grouped "
            "into the national categories: police 6; schools 2A; education services 2B; health "
            "3A-3F; housing 4; LA services 5A-5D; individuals 1A-1D; other legal agency 7; "
            "other 8; anonymous 9; unknown 10. Percent of all children referred."
        ),
        source="Every Day Matters (2013-16): referrals to Specialist Children's Services by "
        "referring agency (%); DfE CIN census referral source",
        denominator=total,
        rows=rows,
    )


def _by_level(decisions: Sequence[_Decision]) -> Figure:
    counts = Counter(d.level for d in decisions)
    total = len(decisions)
    rows = [Row(str(n), LEVEL_LABELS[n], counts[n], _pct(counts[n], total)) for n in (1, 2, 3, 4)]
    if counts[None]:
        rows.append(
            Row("none", "No level (manual review)", counts[None], _pct(counts[None], total))
        )
    return Figure(
        key="decisions_by_level",
        title="Decisions by level of need",
        caption="decisions, by level on the continuum of need",
        definition=(
            "One decision per child per referral received in the period, by the level the "
            "rules decided on Kent's continuum of need (1 Universal to 4 Specialist); a child "
            "the rules could not place has no level and goes to manual review. Count and "
            "percent of all decisions."
        ),
        source="Kent Support Levels Guidance (KSCMP, 2018); Every Day Matters (2013-16): "
        "decisions checked for consistency across agencies",
        denominator=total,
        rows=tuple(rows),
    )


def _by_route(decisions: Sequence[_Decision], known: dict[str, str]) -> Figure:
    counts = Counter(d.route for d in decisions)
    order = list(known) or list(ROUTE_LABELS)
    order += sorted(set(counts) - set(order))
    total = len(decisions)
    rows = tuple(
        Row(
            route,
            ROUTE_LABELS.get(route) or known.get(route) or route.replace("_", " ").capitalize(),
            counts[route],
            _pct(counts[route], total),
        )
        for route in order
    )
    return Figure(
        key="decisions_by_route",
        title="Decisions by route",
        caption="decisions, by what the Front Door does next",
        definition=(
            "One decision per child per referral received in the period, by the route the rules "
            "chose (a referral on an open case is counted under the route of the service the "
            "child is open to). Count and percent of all decisions."
        ),
        source="Kent Front Door procedures: information and advice, early help, child and "
        "family assessment, strategy discussion and s47 enquiry, immediate protection",
        denominator=total,
        rows=rows,
    )


def _starts(
    service: str,
    title: str,
    caption: str,
    source: str,
    decisions: Sequence[_Decision],
    moves: Sequence[_Move],
    population: int | None,
) -> Figure:
    routed = sum(1 for d in decisions if d.route == service and d.open_service != service)
    moved = sum(1 for m in moves if m.target == service and m.source != service)
    starts = routed + moved
    name = ROUTE_LABELS.get(service, service).lower()
    value = None if population is None else round(starts * 10_000 / population, 1)
    return Figure(
        key=f"{service}_starts",
        title=title,
        caption=caption,
        definition=(
            f"Starts of {name} in the period: decisions routing a child to {service} (not "
            f"counting a new referral on a case already open to it) plus journey moves into "
            f"{service} from another service (step-ups and step-downs), per 10,000 children "
            f"under 18 in the area (the population given to the report). Each start counts, so "
            "one child can start twice."
        ),
        source=source,
        unit="per 10,000 under-18s",
        value=value,
        missing=NEEDS_POPULATION if population is None else None,
        numerator=starts,
        denominator=population,
        rows=(
            Row("front_door", "Routed by the Front Door", routed),
            Row("journey", "Moved in on a journey", moved),
        ),
    )


def _stepped_down(moves: Sequence[_Move]) -> Figure:
    closing = [m for m in moves if m.source in SOCIAL_CARE]
    to_early_help = [m for m in closing if m.target in EARLY_HELP]
    to_universal = [m for m in closing if m.target == UNIVERSAL]
    closed = [m for m in closing if m.kind == "close" and m.target not in (*EARLY_HELP, UNIVERSAL)]
    total = len(to_early_help) + len(to_universal) + len(closed)
    rc9 = sum(1 for m in to_early_help if m.closure_reason == "RC9")
    return Figure(
        key="closures_stepped_down_to_early_help",
        title="Social care closures stepped down to early help",
        caption="of social care closures were stepped down to early help",
        definition=(
            "Journey moves in the period that take a child out of social care (from a child in "
            "need plan, a child protection plan, children in care or a child and family "
            "assessment): those stepped down to an early help service (intensive early help, "
            "team around the family, single-agency support, adolescent support) as a percent "
            "of all such closures (stepped down to early help, stepped down to universal "
            "services, or closed: any exit, adoption and special guardianship included). "
            "The census marks the step-down to early help as closure "
            "reason RC9."
        ),
        source="Every Day Matters (2013-16): % of social care cases closed that were stepped "
        "down to CAF / early help (Kent 2016-17: 23%); DfE CIN census RC9",
        unit="%",
        value=_pct(len(to_early_help), total),
        missing="no social care closures in the period" if total == 0 else None,
        numerator=len(to_early_help),
        denominator=total,
        rows=(
            Row(
                "early_help",
                "Stepped down to early help",
                len(to_early_help),
                _pct(len(to_early_help), total),
            ),
            Row(
                "universal_services",
                "Stepped down to universal services",
                len(to_universal),
                _pct(len(to_universal), total),
            ),
            Row("closed", "Closed", len(closed), _pct(len(closed), total)),
        ),
        notes=(f"{rc9} of the {len(to_early_help)} step-down(s) to early help carry RC9.",)
        if to_early_help
        else (),
    )


def _taf_duration(moves: Sequence[_Move]) -> Figure:
    achieved = [m for m in moves if m.source == TAF and "outcomes_achieved" in m.findings]
    open_since = [(m.since, m.occurred.date()) for m in achieved]
    known = [(since, on) for since, on in open_since if since is not None and since <= on]
    unknown = len(achieved) - len(known)
    short = sum(1 for since, on in known if on <= _add_months(since, 12))
    notes: tuple[str, ...] = ()
    if unknown:
        notes = (
            f"{unknown} record(s) without a usable service_since are counted as unknown "
            "and left out of the percentage.",
        )
    return Figure(
        key="tafs_open_12_months_or_less",
        title="Teams around the family open 12 months or less when outcomes were achieved",
        caption="of teams around the family achieving outcomes did so within 12 months",
        definition=(
            "Journey events in the period on a team around the family whose findings include "
            "outcomes_achieved. Open time is the event's occurred_at date minus its "
            "service_since date (when the team around the family began); 12 months or less "
            "means on or before the same day 12 months later. Percent of those whose open "
            "time is known; events without service_since are counted as unknown and reported."
        ),
        source="Every Day Matters (2013-16): % of TAFs open 12 months or less when outcomes "
        "were achieved",
        unit="%",
        value=_pct(short, len(known)),
        missing="no known open times in the period" if not known else None,
        numerator=short,
        denominator=len(known),
        rows=(
            Row("12_months_or_less", "Open 12 months or less", short, _pct(short, len(known))),
            Row(
                "over_12_months",
                "Open more than 12 months",
                len(known) - short,
                _pct(len(known) - short, len(known)),
            ),
            Row("unknown", "Unknown (no service_since)", unknown),
        ),
        notes=notes,
    )


def _re_referrals(decisions: Sequence[_Decision]) -> Figure:
    children = {d.child for d in decisions}
    flagged = [d for d in decisions if RE_REFERRAL_FLAG in d.flags]
    again = {d.child for d in flagged}
    return Figure(
        key="re_referrals_within_12_months",
        title="Re-referrals within 12 months",
        caption="of children referred had been referred in the previous 12 months",
        definition=(
            "Distinct children referred in the period with at least one decision flagged "
            "re_referral_within_12_months (a referral within 12 months of a previous referral, "
            "the national measure), as a percent of distinct children referred in the period. "
            "Children are told apart by their pseudonymised ids."
        ),
        source="DfE Children in Need census: re-referral within 12 months of a previous "
        "referral (England 2024: 22%)",
        unit="%",
        value=_pct(len(again), len(children)),
        missing="no referrals in the period" if not children else None,
        numerator=len(again),
        denominator=len(children),
        rows=(
            Row(
                "re_referred",
                "Re-referred within 12 months",
                len(again),
                _pct(len(again), len(children)),
            ),
            Row(
                "not_re_referred",
                "Not referred in the previous 12 months",
                len(children) - len(again),
                _pct(len(children) - len(again), len(children)),
            ),
        ),
        notes=(f"{len(flagged)} of {len(decisions)} decision(s) carry the flag.",),
    )


def _working_days(decision: _Decision) -> int | None:
    """Working days from receipt to the record: 0, 1 or 2 (two or more); None if before it."""
    if decision.recorded < decision.received:
        return None
    received = decision.received.date()
    recorded = decision.recorded.astimezone(decision.received.tzinfo).date()
    if recorded < add_working_days(received, 1):
        return 0
    return 1 if recorded < add_working_days(received, 2) else 2


def _timeliness(decisions: Sequence[_Decision]) -> Figure:
    counts = Counter(_working_days(d) for d in decisions)
    valid = counts[0] + counts[1] + counts[2]
    within = counts[0] + counts[1]
    notes: list[str] = []
    if counts[None]:
        notes.append(
            f"{counts[None]} decision(s) recorded before the referral's received_at (a clock "
            "error or a back-dated referral) are left out."
        )
    stale = sum(1 for d in decisions if (d.recorded - d.received).days > BACKFILL_DAYS)
    if stale:
        notes.append(
            f"{stale} decision(s) were recorded more than {BACKFILL_DAYS} days after receipt: "
            "the log was probably written after the fact, so this figure says little."
        )
    return Figure(
        key="decided_within_1_working_day",
        title="Decisions made within one working day",
        caption="of decisions were made within one working day of receipt",
        definition=(
            "Decisions on referrals received in the period whose record was written "
            "(recorded_at, on the receipt's clock) no later than the first working day after "
            "the day of receipt (weekends and England and Wales bank holidays excluded), as a "
            "percent of those decisions. A log written after the fact (a backfill, a replay, "
            "the demo) measures when it was written, not when the Front Door decided."
        ),
        source="Working Together to Safeguard Children (2018), as restated in local "
        "procedures: a decision on a referral within one working day; Every Day Matters",
        unit="%",
        value=_pct(within, valid),
        missing="no decisions in the period" if not valid else None,
        numerator=within,
        denominator=valid,
        rows=(
            Row("same_working_day", "The same working day", counts[0], _pct(counts[0], valid)),
            Row("next_working_day", "The next working day", counts[1], _pct(counts[1], valid)),
            Row("later", "Later", counts[2], _pct(counts[2], valid)),
        ),
        notes=tuple(notes),
    )


def _funnel(decisions: Sequence[_Decision], moves: Sequence[_Move]) -> Figure:
    referred = {d.child for d in decisions}
    assessed = {d.child for d in decisions if d.route in ASSESSMENT_ROUTES}
    planned = {m.child for m in moves if m.target in PLANS and m.source != m.target}
    reached = assessed & planned
    outside = planned - assessed
    notes: tuple[str, ...] = ()
    if outside:
        notes = (
            f"{len(outside)} child(ren) moved onto a plan in the period without being routed "
            "to an assessment in it (referred earlier) are not in the funnel.",
        )
    return Figure(
        key="contact_assessment_plan_funnel",
        title="From contact to assessment to plan",
        caption="of children referred reached a child in need or child protection plan",
        definition=(
            "Distinct children referred in the period (contact); of them, those routed to a "
            "child and family assessment or a strategy discussion (assessment); of them, those "
            "with a journey move in the period into a child in need plan or a child protection "
            "plan (plan). Each stage's percent is of the stage before; the headline is plans "
            "as a percent of children referred."
        ),
        source="Every Day Matters (2013-16): contact-to-assessment and assessment-to-ongoing-"
        "case conversion",
        unit="%",
        value=_pct(len(reached), len(referred)),
        missing="no referrals in the period" if not referred else None,
        numerator=len(reached),
        denominator=len(referred),
        rows=(
            Row("referred", "Children referred", len(referred), None if not referred else 100.0),
            Row(
                "assessment",
                "Routed to assessment or strategy discussion",
                len(assessed),
                _pct(len(assessed), len(referred)),
            ),
            Row(
                "plan",
                "Moved onto a child in need or protection plan",
                len(reached),
                _pct(len(reached), len(assessed)),
            ),
        ),
        notes=notes,
    )


# -- outputs -------------------------------------------------------------------------------------

WIDTH = 100


def _count_text(figure: Figure) -> str:
    if figure.key.endswith("_starts"):
        base = f"{figure.numerator or 0:,} start(s)"
        if figure.denominator is not None:
            base += f" in a population of {figure.denominator:,} under-18s"
        return base
    if figure.numerator is not None:
        return f"{figure.numerator:,} of {figure.denominator or 0:,}"
    return f"{figure.denominator} in all"


def _wrap(text: str, label: str) -> list[str]:
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=f"  {label}: ",
        subsequent_indent=" " * (len(label) + 4),
        break_on_hyphens=False,
        break_long_words=False,
    )


def render_table(report: KpiReport) -> str:
    """The report as a plain-text table for a terminal, each figure with its definition."""
    lines = [
        "Front Door KPI report",
        f"log: {report.log}",
        f"period: {report.period}",
        f"read: {report.records} record(s); {report.referrals} referral(s), "
        f"{report.decisions} decision(s), {report.transitions} journey move(s) in the period"
        + (f"; {report.skipped} unreadable record(s) skipped" if report.skipped else ""),
    ]
    if report.head is not None:
        lines.append(f"head: seq {report.head[0]}, hash {report.head[1]}")
    for figure in report.figures:
        lines += ["", "=" * WIDTH, figure.title.upper()]
        if figure.numerator is not None or figure.value is not None or figure.missing:
            lines.append(f"  {figure.value_text}   ({_count_text(figure)})")
        label_width = max((len(row.label) for row in figure.rows), default=10)
        for row in figure.rows:
            percent = "" if row.percent is None else f"{row.percent:6.1f}%"
            lines.append(f"  {row.label:<{label_width}}  {row.count:>8,}  {percent}")
        for note in figure.notes:
            lines += _wrap(note, "note")
        lines += _wrap(figure.definition, "definition")
        lines += _wrap(figure.source, "source")
    return "\n".join(lines)


def to_dict(report: KpiReport) -> dict[str, Any]:
    data = asdict(report)
    data["start"] = None if report.start is None else report.start.isoformat()
    data["end"] = None if report.end is None else report.end.isoformat()
    data["head"] = None if report.head is None else {"seq": report.head[0], "hash": report.head[1]}
    for item, figure in zip(data["figures"], report.figures, strict=True):
        item["value_text"] = figure.value_text
    return data


def to_json(report: KpiReport) -> str:
    """The report as JSON: every figure with its definition, source, value, rows and notes."""
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False)


# -- HTML ----------------------------------------------------------------------------------------

_LEVEL_COLOURS = {1: "#3f8f5e", 2: "#d9a520", 3: "#e07b39", 4: "#c0392b"}
_NEUTRAL = "#2f6f9f"
_GREY = "#9aa3ab"
_INK = "#1f2933"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _bar_chart(rows: Sequence[Row], colours: Sequence[str], title: str) -> str:
    """Horizontal bars, one per row: label on the left, count and percent on the right."""
    label_w, bar_w, value_w, step = 250, 300, 110, 30
    height = step * len(rows) + 10
    width = label_w + bar_w + value_w
    most = max((row.count for row in rows), default=0) or 1
    parts = [
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
    ]
    for index, (row, colour) in enumerate(zip(rows, colours, strict=True)):
        y = 5 + index * step
        length = round(bar_w * row.count / most)
        percent = "" if row.percent is None else f" · {row.percent:.1f}%"
        parts += [
            f'<text x="{label_w - 10}" y="{y + 19}" text-anchor="end" class="label">'
            f"{_e(row.label)}</text>",
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="20" rx="3" fill="#eef1f4"/>',
            f'<rect x="{label_w}" y="{y + 4}" width="{max(length, 2 if row.count else 0)}" '
            f'height="20" rx="3" fill="{colour}"/>',
            f'<text x="{label_w + bar_w + 8}" y="{y + 19}" class="value">'
            f"{row.count:,}{_e(percent)}</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def _ink_on(colour: str) -> str:
    """Dark text on a light segment, white (the class default) on a dark one."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    light = 0.299 * red + 0.587 * green + 0.114 * blue > 160
    return f' style="fill:{_INK}"' if light else ""


def _stacked_bar(rows: Sequence[Row], colours: Sequence[str], title: str) -> str:
    """One 100% bar split by the rows (rows without a percent are left out), with a legend."""
    shown = [(row, colour) for row, colour in zip(rows, colours, strict=True) if row.percent]
    width, bar_h = 660, 34
    legend_y = bar_h + 26
    height = legend_y + 26 * (len(rows) - 1) + 8
    parts = [
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{bar_h}" rx="4" fill="#eef1f4"/>',
    ]
    x = 0.0
    for row, colour in shown:
        part = width * (row.percent or 0) / 100
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{part:.1f}" height="{bar_h}" fill="{colour}"/>'
        )
        if part > 48:
            parts.append(
                f'<text x="{x + part / 2:.1f}" y="{bar_h / 2 + 5:.1f}" text-anchor="middle" '
                f'class="inbar"{_ink_on(colour)}>{row.percent:.0f}%</text>'
            )
        x += part
    for index, (row, colour) in enumerate(zip(rows, colours, strict=True)):
        y = legend_y + index * 26
        percent = "" if row.percent is None else f" ({row.percent:.1f}%)"
        parts += [
            f'<rect x="0" y="{y - 12}" width="14" height="14" rx="2" fill="{colour}"/>',
            f'<text x="22" y="{y}" class="label-left">{_e(row.label)}: '
            f"{row.count:,}{_e(percent)}</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def _text_lines(x: float, y: float, text: str, cls: str, anchor: str, width: int) -> str:
    """SVG text wrapped to `width` characters a line, centred on `y`."""
    lines = textwrap.wrap(text, width) or [""]
    top = y - (len(lines) - 1) * 8
    spans = "".join(
        f'<tspan x="{x:.1f}" y="{top + 16 * n:.1f}">{_e(line)}</tspan>'
        for n, line in enumerate(lines)
    )
    return f'<text text-anchor="{anchor}" class="{cls}">{spans}</text>'


def _funnel_chart(rows: Sequence[Row], title: str) -> str:
    """Stage labels on the left; centred bars narrowing from stage to stage, joined by
    trapezoids, each with its conversion from the stage above."""
    width, label_w, bar_h, gap = 660, 230, 44, 34
    area = width - label_w - 10
    centre = label_w + 10 + area / 2
    height = len(rows) * bar_h + (len(rows) - 1) * gap + 4
    most = max((row.count for row in rows), default=0) or 1
    colours = ("#2f6f9f", "#e07b39", "#c0392b")
    parts = [
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
    ]
    previous: tuple[float, float, float] | None = None
    for index, row in enumerate(rows):
        y = 2 + index * (bar_h + gap)
        w = max(area * row.count / most, 56.0)
        x = centre - w / 2
        if previous is not None:
            px, pw, py = previous
            parts.append(
                f'<polygon points="{px:.1f},{py + bar_h:.1f} {px + pw:.1f},{py + bar_h:.1f} '
                f'{x + w:.1f},{y:.1f} {x:.1f},{y:.1f}" fill="#dfe6ec"/>'
            )
            if row.percent is not None:
                parts.append(
                    f'<text x="{centre:.1f}" y="{y - gap / 2 + 5:.1f}" text-anchor="middle" '
                    f'class="conv">{row.percent:.1f}% of the stage above</text>'
                )
        colour = colours[index % len(colours)]
        parts += [
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" rx="5" '
            f'fill="{colour}"/>',
            f'<text x="{centre:.1f}" y="{y + bar_h / 2 + 6:.1f}" text-anchor="middle" '
            f'class="stage">{row.count:,}</text>',
            _text_lines(label_w, y + bar_h / 2 + 4, row.label, "label", "end", 28),
        ]
        previous = (x, w, y)
    parts.append("</svg>")
    return "".join(parts)


_PALETTES = {
    "closures_stepped_down_to_early_help": ("#3f8f5e", "#8fbf6f", _GREY),
    "tafs_open_12_months_or_less": ("#3f8f5e", "#d9a520", _GREY),
    "re_referrals_within_12_months": ("#d9a520", "#c5d3df"),
    "decided_within_1_working_day": ("#3f8f5e", "#8fbf6f", "#c0392b"),
}


def _chart(figure: Figure) -> str:
    rows = figure.rows
    if figure.key == "referrals_by_agency":
        return _bar_chart(rows, [_NEUTRAL] * len(rows), figure.title)
    if figure.key == "decisions_by_level":
        colours = [
            _LEVEL_COLOURS.get(int(r.key), _GREY) if r.key.isdigit() else _GREY for r in rows
        ]
        return _bar_chart(rows, colours, figure.title)
    if figure.key == "decisions_by_route":
        colours = [_LEVEL_COLOURS.get(_ROUTE_LEVEL.get(r.key, 0), _GREY) for r in rows]
        return _bar_chart(rows, colours, figure.title)
    if figure.key == "contact_assessment_plan_funnel":
        return _funnel_chart(rows, figure.title)
    if figure.key.endswith("_starts"):
        return _bar_chart(rows, [_NEUTRAL, "#5b8fb9"], figure.title)
    palette = _PALETTES.get(figure.key, ("#3f8f5e", "#d9a520", _GREY))
    return _stacked_bar(rows, palette[: len(rows)], figure.title)


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f6f8;color:#1f2933;
 font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 font-size:15px;line-height:1.45}
header{background:#1d3b53;color:#fff;padding:26px 40px 22px}
header h1{margin:0 0 6px;font-size:26px;font-weight:650}
header p{margin:2px 0;color:#c9d6e2;font-size:14px}
main{max-width:1140px;margin:0 auto;padding:24px 30px 40px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:14px;
 margin-bottom:26px}
.tile{background:#fff;border-radius:8px;padding:16px 18px;border-top:5px solid #2f6f9f;
 box-shadow:0 1px 3px rgba(0,0,0,.08);text-decoration:none;color:inherit;display:block}
.tile .big{font-size:32px;font-weight:700;line-height:1.1;color:#1d3b53}
.tile .big.missing{font-size:16px;font-weight:600;color:#8a5a00;padding:8px 0}
.tile .unit{display:block;white-space:nowrap;font-size:14px;font-weight:600;color:#3e4c59;
 margin-top:2px}
.tile .cap{font-size:13.5px;color:#3e4c59;margin-top:6px}
.tile .def{font-size:12px;color:#616e7c;margin-top:8px}
section.card{background:#fff;border-radius:8px;padding:20px 24px;margin-bottom:18px;
 box-shadow:0 1px 3px rgba(0,0,0,.08);display:grid;grid-template-columns:minmax(0,680px) 1fr;
 gap:24px;page-break-inside:avoid}
section.card h2{grid-column:1/-1;margin:0;font-size:19px;color:#1d3b53}
.headline{font-size:15px;margin:0 0 10px;color:#3e4c59}
.headline b{font-size:24px;color:#1d3b53;margin-right:6px}
.headline b.missing{font-size:15px;color:#8a5a00}
aside{background:#f7f9fb;border-left:4px solid #c5d3df;padding:12px 14px;font-size:13.5px;
 color:#323f4b;align-self:start}
aside h3{margin:0 0 4px;font-size:12px;text-transform:uppercase;letter-spacing:.06em;
 color:#616e7c}
aside p{margin:0 0 10px}
aside p.src{font-size:12.5px;color:#616e7c;margin:0}
.note{font-size:13px;color:#8a5a00;margin:8px 0 0}
svg text{font-family:inherit}
svg .label{font-size:13px;fill:#323f4b}
svg .label-left{font-size:13px;fill:#323f4b}
svg .value{font-size:13px;fill:#1f2933;font-weight:600}
svg .inbar{font-size:13px;fill:#fff;font-weight:700}
svg .stage{font-size:17px;fill:#fff;font-weight:700}
svg .stagel{font-size:12.5px;fill:#fff}
svg .conv{font-size:12.5px;fill:#52606d;font-style:italic}
footer{max-width:1140px;margin:0 auto;padding:0 30px 40px;font-size:13px;color:#52606d}
footer h2{font-size:16px;color:#1d3b53}
@media print{body{background:#fff}section.card,.tile{box-shadow:none;border:1px solid #ddd}}
"""

_CANNOT = (
    (
        "CAFs completed per 10,000",
        "needs CAF completion dates; the log shows team around the family starts instead",
    ),
    (
        "Children in need and child protection plans at a date (per 10,000)",
        "needs every open case on that date, including cases opened before the log began",
    ),
    (
        "Repeat child protection plans; plans lasting 2 years or more",
        "need each child's plan history, before and beyond the log",
    ),
    (
        "No further action after assessment; assessment duration",
        "need assessment outcomes and completion dates, recorded in the case system",
    ),
    (
        "Breakdown by district or vulnerable group",
        "the log keeps no address, district or protected characteristics (data minimisation)",
    ),
)


def _number(figure: Figure) -> tuple[str, str]:
    """The headline number and its unit, apart (for a big number and a small unit)."""
    if figure.value is None:
        return figure.missing or "no data", ""
    if figure.unit == "%":
        return f"{figure.value:,.1f}%", ""
    return f"{figure.value:,.1f}", figure.unit


def _headline(figure: Figure) -> str:
    number, unit = _number(figure)
    count = _count_text(figure)
    if not figure.unit:
        return f'<p class="headline"><b>{figure.denominator or 0:,}</b>{_e(figure.caption)}</p>'
    if figure.value is None:
        return (
            f'<p class="headline"><b class="missing">{_e(number)}</b><br>'
            f"{_e(figure.caption)}: {_e(count)}</p>"
        )
    unit_text = f"{_e(unit)}: " if unit else ""
    return (
        f'<p class="headline"><b>{_e(number)}</b>{unit_text}{_e(figure.caption)} ({_e(count)})</p>'
    )


def _tile(figure: Figure) -> str:
    number, unit = _number(figure)
    big = "big" if figure.value is not None else "big missing"
    unit_html = f' <span class="unit">{_e(unit)}</span>' if unit else ""
    return (
        f'<a class="tile" href="#{figure.key}"><div class="{big}">{_e(number)}{unit_html}</div>'
        f'<div class="cap">{_e(figure.caption)}</div>'
        f'<div class="def">{_e(_count_text(figure))}. How it is counted: see '
        f"{_e(figure.title.lower())}, below.</div></a>"
    )


def to_html(report: KpiReport) -> str:
    """One self-contained HTML page: inline CSS and SVG, no scripts, fonts or links out."""
    tiles = [_tile(figure) for figure in report.figures if figure.unit]
    total_tile = (
        f'<a class="tile" href="#decisions_by_level"><div class="big">{report.decisions:,}</div>'
        f'<div class="cap">decisions on {report.referrals:,} referral(s) received in the period'
        f'</div><div class="def">One decision per child per referral.</div></a>'
    )
    cards = []
    for figure in report.figures:
        headline = _headline(figure)
        notes = "".join(f'<p class="note">{_e(note)}</p>' for note in figure.notes)
        cards.append(
            f'<section class="card" id="{figure.key}"><h2>{_e(figure.title)}</h2>'
            f"<div>{headline}{_chart(figure)}{notes}</div>"
            f"<aside><h3>Definition</h3><p>{_e(figure.definition)}</p>"
            f'<h3>Source in the plans</h3><p class="src">{_e(figure.source)}</p></aside>'
            "</section>"
        )
    head = (
        ""
        if report.head is None
        else f"<p>Log head: seq {report.head[0]}, hash {_e(report.head[1][:16])}…</p>"
    )
    skipped = f"<p>{report.skipped} unreadable record(s) skipped.</p>" if report.skipped else ""
    cannot = "".join(f"<li><b>{_e(what)}</b>: {_e(why)}.</li>" for what, why in _CANNOT)
    population = (
        "not given (rates need --population)"
        if report.population is None
        else f"{report.population:,} children under 18"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Front Door KPI report</title><style>{_CSS}</style></head><body>"
        "<header><h1>Front Door KPI report</h1>"
        f"<p>Period: {_e(report.period)} · Population: {_e(population)}</p>"
        f"<p>From the decision log {_e(report.log)}: {report.records} record(s) read; "
        f"{report.referrals} referral(s), {report.decisions} decision(s) and "
        f"{report.transitions} journey move(s) in the period.</p>{head}{skipped}</header>"
        f'<main><div class="tiles">{total_tile}{"".join(tiles)}</div>{"".join(cards)}</main>'
        "<footer><h2>What a decision log cannot show</h2><ul>"
        f"{cannot}</ul><p>Children are counted by pseudonymised ids; no personal data is "
        "shown. Figures read the records as stored: run <code>triage verify</code> on the log "
        "to prove them untouched.</p></footer></body></html>\n"
    )


def write_html(report: KpiReport, path: Path) -> None:
    path.write_text(to_html(report), encoding="utf-8")
