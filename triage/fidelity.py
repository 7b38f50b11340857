"""Fidelity: whether a child is routed where published practice puts them.

A fidelity case (`examples/fidelity/<source>/<case>.yaml`, format in `docs/fidelity.md`) is a
published indicator statement or worked example from a source other than Kent's guidance: its
citation, the source's own words for the level or route, the mapping to Kent's continuum
(`kent_level`, `kent_route_class`, with the reason), and the referral as a Front Door
practitioner would enter it. Concerns no indicator expresses are listed under `unlisted`,
never forced into the nearest indicator.

`run_fidelity` routes every case's referral with a `FrontDoor` and counts, over all cases:

- exact: the decided level equals `kent_level`;
- within one: a decided level at most one level from `kent_level`;
- under-triage: `kent_level` is 4, or `kent_route_class` is child protection or immediate
  protection, and the decision is lower (a decided level below 4, or a route of a lower
  class); a manual review is not counted here (it is never a lower route by default) but is
  counted among the manual reviews;
- severe under-triage: `kent_route_class` is child protection or immediate protection and
  the route's class is universal or early help (below an assessment);
- over-triage to statutory routes: the route's class is assessment or above and higher than
  `kent_route_class`;
- manual reviews, and manual reviews for want of an indicator: a manual review of a case
  with `unlisted` concerns.

The Kent rulebook's routes map to classes in `ROUTE_CLASSES`; a rulebook with other route ids
passes its own mapping.

Cases are never edited once encoded. When the vocabulary gains an indicator for an `unlisted`
concern, the suite's `remappings.yaml` records it (case, concern, indicator, date, why); the
loader applies it, moving the concern from `unlisted` into the referral's concerns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, JsonValue, StringConstraints, ValidationError, model_validator

from triage._base import IsoDate, Level, M, Model
from triage.engine import EngineName, FrontDoor
from triage.errors import Problem, ReferralInvalid, ScenarioInvalid, UsageError
from triage.loader import read_yaml
from triage.referral import About, field_path
from triage.rulebook import Rulebook
from triage.scenarios import Form

Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class RouteClass(StrEnum):
    """Kinds of response, lowest first; a route's class is what the figures compare."""

    UNIVERSAL = "universal"
    EARLY_HELP = "early_help"
    ASSESSMENT = "assessment"
    CHILD_PROTECTION = "child_protection"
    IMMEDIATE_PROTECTION = "immediate_protection"

    @property
    def rank(self) -> int:
        return list(RouteClass).index(self)


STATUTORY = frozenset(
    {RouteClass.ASSESSMENT, RouteClass.CHILD_PROTECTION, RouteClass.IMMEDIATE_PROTECTION}
)
PROTECTION = frozenset({RouteClass.CHILD_PROTECTION, RouteClass.IMMEDIATE_PROTECTION})

ROUTE_CLASSES: Mapping[str, RouteClass] = {
    "universal_services": RouteClass.UNIVERSAL,
    "single_agency_support": RouteClass.EARLY_HELP,
    "team_around_the_family": RouteClass.EARLY_HELP,
    "intensive_early_help": RouteClass.EARLY_HELP,
    "child_and_family_assessment": RouteClass.ASSESSMENT,
    # The allocated social worker of an open case acts on the new information: social care
    # holds the child, as after an assessment.
    "allocated_worker": RouteClass.ASSESSMENT,
    "strategy_discussion": RouteClass.CHILD_PROTECTION,
    "emergency_protection": RouteClass.IMMEDIATE_PROTECTION,
}
"""The Kent rulebook's routes by class; `manual_review` has none."""

MANUAL_REVIEW = "manual_review"

CLASSES_OF_LEVEL: Mapping[int, frozenset[RouteClass]] = {
    1: frozenset({RouteClass.UNIVERSAL}),
    2: frozenset({RouteClass.EARLY_HELP}),
    3: frozenset({RouteClass.EARLY_HELP, RouteClass.ASSESSMENT}),
    4: STATUTORY,
}
"""Which route classes each Kent level allows: level 3 is intensive early help or child in
need work, level 4 is statutory (Kent Support Levels Guidance, domain reference section 1)."""


class Feature(StrEnum):
    """What a case is an instance of, for sorting disagreements into the issue's classes."""

    UNBORN = "unborn"
    BABY_UNDER_ONE = "baby_under_one"
    ACCUMULATION = "accumulation"
    HISTORY = "history"
    OPEN_CASE = "open_case"


class CaseSource(Model):
    title: Text
    publisher: Text
    year: int | None = Field(strict=True, description="Null for an undated page.")
    section: Text = Field(description="The section, page or heading the case comes from.")
    where_found: Text = Field(description="Where the document was read, and when.")


class Unlisted(Model):
    """A reported concern that no indicator of the vocabulary expresses."""

    concern: Text = Field(description="Plain words.")
    census_factor: str | None = Field(
        default=None, pattern=r"^[0-9]{1,2}[A-F]?$", description="A DfE CIN census factor code."
    )


class FidelityCase(Model):
    name: Text
    source: CaseSource
    source_level: Text = Field(description="The source's own short words for level or route.")
    source_route: Text | None = None
    kent_level: Level
    kent_route_class: RouteClass
    mapping_note: Text = Field(description="Why this level and class on Kent's continuum.")
    source_and_kent_differ: bool = Field(
        default=False, strict=True, description="Kent's guidance wins for the Kent rulebook."
    )
    features: tuple[Feature, ...] = ()
    as_of: IsoDate
    referral: Form
    unlisted: tuple[Unlisted, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> FidelityCase:
        if self.kent_route_class not in CLASSES_OF_LEVEL[self.kent_level]:
            allowed = ", ".join(sorted(c.value for c in CLASSES_OF_LEVEL[self.kent_level]))
            raise ValueError(
                f"kent_route_class {self.kent_route_class.value} does not fit kent_level "
                f"{self.kent_level} (it allows {allowed})"
            )
        children = self.referral.get("children")
        if not isinstance(children, list) or len(children) != 1:
            # One decision per case keeps every figure a count of cases.
            raise ValueError("a fidelity case's referral has exactly one child")
        return self


class Remapping(Model):
    """An `unlisted` concern of one case now expressed by an indicator: recorded, not edited in."""

    case: Text = Field(description="The case's path under the suite, without .yaml.")
    concern: Text = Field(description="The unlisted concern's words, exactly as in the case.")
    indicator: Text | tuple[Text, ...] = Field(
        description="The indicator id, or several where one concern needs a grade and a fact."
    )
    about: About
    vocabulary_version: Text = Field(
        description="The rulebook version whose vocabulary expresses the concern."
    )
    recorded: IsoDate
    note: Text = Field(description="Why this indicator expresses what the source says.")

    @property
    def indicators(self) -> tuple[str, ...]:
        return (self.indicator,) if isinstance(self.indicator, str) else self.indicator


class Remappings(Model):
    remappings: tuple[Remapping, ...] = ()


REMAPPINGS = "remappings.yaml"


@dataclass(frozen=True)
class LocatedCase:
    file: Path
    case: FidelityCase
    remapped: tuple[Remapping, ...] = ()


def _validated(file: Path, model: type[M], problems: list[Problem]) -> M | None:
    document = read_yaml(file)
    if isinstance(document, Problem):
        problems.append(document)
        return None
    try:
        return model.model_validate(document.data)
    except ValidationError as error:
        problems.extend(
            Problem(
                field_path(e["loc"]),
                e["msg"].removeprefix("Value error, "),
                file=str(file),
                line=document.line(e["loc"]),
            )
            for e in error.errors(include_url=False)
        )
        return None


def _remap(located: LocatedCase, remapping: Remapping) -> LocatedCase | None:
    case = located.case
    kept = tuple(u for u in case.unlisted if u.concern != remapping.concern)
    if len(kept) == len(case.unlisted):
        return None
    before = case.referral.get("concerns")
    concerns: list[JsonValue] = list(before) if isinstance(before, list) else []
    concerns.extend({"indicator": i, "about": remapping.about.value} for i in remapping.indicators)
    referral = {**case.referral, "concerns": concerns}
    # A copy, not an edit: the case file stays as it was encoded.
    moved = case.model_copy(update={"unlisted": kept, "referral": referral})
    return LocatedCase(located.file, moved, (*located.remapped, remapping))


def default_cases_dir() -> Path:
    """The published cases `triage fidelity` routes when given no folder: examples/fidelity of
    this checkout, else of the working directory."""
    checkout = Path(__file__).resolve().parent.parent / "examples" / "fidelity"
    cases_dir = checkout if checkout.is_dir() else Path("examples") / "fidelity"
    if not cases_dir.is_dir():
        raise UsageError("no examples/fidelity here: give the cases' DIR")
    return cases_dir


def load_cases(paths: Iterable[str | Path]) -> list[LocatedCase]:
    """Every case in the files and folders given, with each folder's `remappings.yaml` applied;
    `ScenarioInvalid` lists every problem, with file, line and field path (unknown keys
    included, and a remapping whose case or concern does not exist)."""
    problems: list[Problem] = []
    located: dict[str, LocatedCase] = {}
    remappings: list[tuple[Path, int, Remapping]] = []
    for path in map(Path, paths):
        files = sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            if file.name == REMAPPINGS:
                found = _validated(file, Remappings, problems)
                remappings.extend(
                    (file, i, r) for i, r in enumerate(found.remappings if found else ())
                )
                continue
            case = _validated(file, FidelityCase, problems)
            key = file.relative_to(path).with_suffix("").as_posix() if path.is_dir() else file.stem
            if case is not None:
                located[key] = LocatedCase(file, case)
    if not located and not problems:
        raise ScenarioInvalid(
            [Problem("", "no fidelity cases (*.yaml) found")], "the fidelity suite"
        )
    for file, index, remapping in remappings:
        target = located.get(remapping.case)
        moved = None if target is None else _remap(target, remapping)
        if moved is None:
            what = "case" if target is None else "concern"
            problems.append(
                Problem(
                    f"remappings[{index}].{what}",
                    f"no such {what} among the unlisted concerns of the cases",
                    file=str(file),
                )
            )
        else:
            located[remapping.case] = moved
    if problems:
        raise ScenarioInvalid(problems, "the fidelity suite")
    return list(located.values())


@dataclass(frozen=True)
class CaseResult:
    file: Path
    case: FidelityCase
    level: int | None
    route: str
    route_class: RouteClass | None
    rules_fired: tuple[str, ...]
    remapped: tuple[Remapping, ...] = ()

    @property
    def manual_review(self) -> bool:
        return self.route == MANUAL_REVIEW

    @property
    def exact(self) -> bool:
        return self.level == self.case.kent_level

    @property
    def within_one(self) -> bool:
        return self.level is not None and abs(self.level - self.case.kent_level) <= 1

    @property
    def under_triage(self) -> bool:
        case = self.case
        if self.manual_review or not (case.kent_level == 4 or case.kent_route_class in PROTECTION):
            return False
        lower_level = self.level is not None and self.level < case.kent_level
        lower_route = (
            self.route_class is not None and self.route_class.rank < case.kent_route_class.rank
        )
        return lower_level or lower_route

    @property
    def severe_under_triage(self) -> bool:
        return (
            self.case.kent_route_class in PROTECTION
            and self.route_class is not None
            and self.route_class.rank < RouteClass.ASSESSMENT.rank
        )

    @property
    def over_triage_statutory(self) -> bool:
        return (
            self.route_class in STATUTORY
            and self.route_class is not None
            and self.route_class.rank > self.case.kent_route_class.rank
        )

    @property
    def manual_review_for_want_of_indicator(self) -> bool:
        return self.manual_review and bool(self.case.unlisted)

    @property
    def agrees(self) -> bool:
        return self.exact and self.route_class == self.case.kent_route_class

    def disagreement_classes(self) -> tuple[str, ...]:
        """The issue's failure classes this disagreement belongs to (empty when it agrees)."""
        if self.agrees:
            return ()
        classes = [feature.value for feature in self.case.features]
        if self.case.unlisted:
            classes.append("missing_indicator")
        if self.case.source_and_kent_differ:
            classes.append("source_and_kent_differ")
        if self.exact:
            classes.append("route_only")
        return tuple(classes) or ("level_rule",)


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str
    met: bool


@dataclass(frozen=True)
class FidelityReport:
    results: tuple[CaseResult, ...]
    rulebook: Rulebook
    engine: str

    def count(self, figure: str) -> int:
        return sum(1 for result in self.results if getattr(result, figure))

    def percent(self, figure: str) -> float:
        return 100.0 * self.count(figure) / len(self.results) if self.results else 0.0

    def targets(self) -> tuple[Target, ...]:
        return (
            Target("under_triage", "0", self.count("under_triage") == 0),
            Target("exact", "at least 85%", self.percent("exact") >= 85.0),
            Target(
                "manual_review_for_want_of_indicator",
                "at most 5%",
                self.percent("manual_review_for_want_of_indicator") <= 5.0,
            ),
        )

    def disagreements(self) -> tuple[CaseResult, ...]:
        return tuple(result for result in self.results if not result.agrees)

    def as_json(self) -> dict[str, Any]:
        return {
            "rulebook": {
                "id": self.rulebook.id,
                "version": self.rulebook.version,
                "fingerprint": self.rulebook.fingerprint,
            },
            "engine": self.engine,
            "cases": len(self.results),
            "figures": {
                figure: {"count": self.count(figure), "percent": round(self.percent(figure), 1)}
                for figure in FIGURES
            },
            "targets": [
                {"figure": t.name, "wanted": t.wanted, "met": t.met} for t in self.targets()
            ],
            "results": [
                {
                    "file": str(r.file),
                    "name": r.case.name,
                    "kent_level": r.case.kent_level,
                    "kent_route_class": r.case.kent_route_class.value,
                    "level": r.level,
                    "route": r.route,
                    "route_class": None if r.route_class is None else r.route_class.value,
                    "rules_fired": list(r.rules_fired),
                    "figures": [figure for figure in FIGURES if getattr(r, figure)],
                    "disagreement_classes": list(r.disagreement_classes()),
                    "remapped": [i for m in r.remapped for i in m.indicators],
                }
                for r in self.results
            ],
        }


FIGURES: tuple[str, ...] = (
    "exact",
    "within_one",
    "under_triage",
    "severe_under_triage",
    "over_triage_statutory",
    "manual_review",
    "manual_review_for_want_of_indicator",
)
"""The figures, in the order they are printed; each is a `CaseResult` property."""


def run_fidelity(
    cases: Sequence[LocatedCase],
    rulebook: Rulebook | None = None,
    engine: EngineName = "durable",
    route_classes: Mapping[str, RouteClass] = ROUTE_CLASSES,
) -> FidelityReport:
    """Route every case's referral on its `as_of` date and measure it against its mapping.
    A referral the rulebook refuses raises `ReferralInvalid` naming the case's file: a case
    that cannot be routed is not counted as anything. The cases are mapped to Kent's four
    levels (`kent_level`): a rulebook that counts other levels is refused (`UsageError`), as
    its levels could not be compared with them."""
    door = FrontDoor(rulebook, engine=engine)
    if door.rulebook.level_names.keys() != CLASSES_OF_LEVEL.keys():
        raise UsageError(
            f"the fidelity cases are mapped to Kent's levels 1-4 (kent_level); rulebook "
            f"{door.rulebook.id} counts levels {', '.join(map(str, door.rulebook.level_names))}, "
            "which cannot be compared with them: its council needs cases mapped to its own"
        )
    results = []
    for item in cases:
        try:
            (decision,) = door.route(item.case.referral, as_of=item.case.as_of)
        except ReferralInvalid as error:
            raise ReferralInvalid(error.problems, f"the referral of {item.file}") from None
        results.append(
            CaseResult(
                file=item.file,
                case=item.case,
                level=decision.level,
                route=decision.route,
                route_class=route_classes.get(decision.route),
                rules_fired=decision.rules_fired,
                remapped=item.remapped,
            )
        )
    return FidelityReport(tuple(results), door.rulebook, door.evaluator.name)


def report_text(report: FidelityReport) -> str:
    """The figures, the targets, then every disagreement with its classes."""
    n = len(report.results)
    lines = [
        f"fidelity: {n} cases, rulebook {report.rulebook.id} {report.rulebook.version}, "
        f"engine {report.engine}",
        "",
    ]
    width = max(map(len, FIGURES))
    for figure in FIGURES:
        count = report.count(figure)
        lines.append(f"  {figure:<{width}}  {count:>4} / {n}  {report.percent(figure):5.1f}%")
    lines.append("")
    for target in report.targets():
        lines.append(
            f"  target {target.name}: {target.wanted}: {'met' if target.met else 'NOT met'}"
        )
    disagreements = report.disagreements()
    lines += ["", f"disagreements: {len(disagreements)}"]
    for r in disagreements:
        got = "manual review" if r.manual_review else f"level {r.level}, {r.route}"
        lines.append(
            f"  {r.file.parent.name}/{r.file.stem}: Kent level {r.case.kent_level} "
            f"{r.case.kent_route_class.value}; decided {got} "
            f"[{', '.join(r.disagreement_classes())}]"
        )
    return "\n".join(lines)
