"""Scenario files: practitioners' worked examples, run by `triage scenarios` and by pytest alike.

A scenario file holds one scenario, or a list under `scenarios:`. A scenario has a `name`, a
`description`, an optional `as_of` date, and either a `referral` with `expect` (for every child,
or per child under `expect.children`), or a `journey`: a list of events, each with its own
`expect`. Only the expectations written down are checked; unknown keys are refused.

```yaml
name: A 15-year-old regularly missing whose mother refuses early help
description: Refused consent below level 4 cannot open early help.
referral:
  referral_id: R-SC-1
  received_at: 2026-03-02T09:30:00+00:00
  ...
expect:
  level: 3
  route: single_agency_support
  rules_fired: [refused_consent_below_level_4]
```
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, JsonValue, ValidationError, model_validator

from triage._base import IsoDate, Level, Model
from triage.decision import Decision
from triage.engine import EngineName, FrontDoor
from triage.errors import Problem, ScenarioInvalid, TriageError
from triage.loader import YamlDocument, read_yaml
from triage.referral import field_path
from triage.rulebook import Rulebook


def _iso_dates(value: Any) -> Any:
    """YAML reads unquoted dates and times as objects; the referral form takes ISO text."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _iso_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_iso_dates(item) for item in value]
    return value


Form = Annotated[dict[str, JsonValue], BeforeValidator(_iso_dates)]


class ChildExpectation(Model):
    """What the decision for a child must say; only the keys written are checked."""

    level: Level | None = None
    route: str | None = None
    urgency: str | None = None
    due_by: IsoDate | None = None
    rules_fired: tuple[str, ...] = Field(default=(), description="Each of these must fire.")
    rules_not_fired: tuple[str, ...] = Field(default=(), description="None of these may fire.")
    flags: tuple[str, ...] = Field(default=(), description="Each of these flags must be set.")
    no_flags: tuple[str, ...] = Field(default=(), description="None of these flags may be set.")


class ReferralExpectation(ChildExpectation):
    children: dict[str, ChildExpectation] = Field(
        default_factory=dict, description="Per child id, checked in addition to the common keys."
    )


class StepExpectation(Model):
    kind: str | None = None
    to: str | None = None
    closure_reason: str | None = None
    overridden: bool | None = None
    rules_fired: tuple[str, ...] = ()


class JourneyStep(Model):
    event: Form
    expect: StepExpectation


class Scenario(Model):
    name: str = Field(min_length=1)
    description: str = ""
    as_of: IsoDate | None = None
    referral: Form | None = None
    expect: ReferralExpectation | None = None
    journey: tuple[JourneyStep, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> Scenario:
        if (self.referral is None) == (not self.journey):
            raise ValueError(
                "give either a referral (with expect) or a journey, not both or neither"
            )
        if self.referral is not None and self.expect is None:
            raise ValueError("a referral scenario needs expect")
        return self


@dataclass(frozen=True)
class Located:
    file: Path
    scenario: Scenario


@dataclass
class Outcome:
    file: Path
    name: str
    failures: list[str] = field(default_factory=list)
    explanation: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures


def _files(paths: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"}))
        else:
            found.append(path)
    return found


def load_scenarios(paths: Iterable[str | Path]) -> list[Located]:
    """Every scenario in the files and folders given; `ScenarioInvalid` lists every problem."""
    located: list[Located] = []
    problems: list[Problem] = []
    files = _files(paths)
    if not files:
        raise ScenarioInvalid(
            [Problem("", "no scenario files (*.yaml) found")], ", ".join(map(str, paths))
        )
    for file in files:
        if not file.exists():
            problems.append(Problem("", "does not exist", file=str(file)))
            continue
        document = read_yaml(file)
        if isinstance(document, Problem):
            problems.append(document)
            continue
        items, prefix = _items(document)
        for index, item in enumerate(items):
            try:
                located.append(Located(file, Scenario.model_validate(item)))
            except ValidationError as error:
                for e in error.errors(include_url=False):
                    loc = (*prefix(index), *e["loc"])
                    problems.append(
                        Problem(
                            field_path(loc),
                            e["msg"].removeprefix("Value error, "),
                            file=str(file),
                            line=document.line(loc),
                        )
                    )
    if problems:
        raise ScenarioInvalid(problems, "the scenarios")
    return located


def _items(document: YamlDocument) -> tuple[list[Any], Any]:
    data = document.data
    if (
        isinstance(data, dict)
        and set(data) == {"scenarios"}
        and isinstance(data["scenarios"], list)
    ):
        return list(data["scenarios"]), lambda i: ("scenarios", i)
    return [data], lambda i: ()


def _check_child(expect: ChildExpectation, decision: Decision, who: str) -> list[str]:
    failures = []
    given = expect.model_fields_set
    for key in ("level", "route", "urgency", "due_by"):
        if key in given and getattr(expect, key) != getattr(decision, key):
            failures.append(
                f"{who}{key}: expected {getattr(expect, key)}, got {getattr(decision, key)}"
            )
    for rule in expect.rules_fired:
        if rule not in decision.rules_fired:
            failures.append(
                f"{who}rule {rule} should fire; fired: {', '.join(decision.rules_fired) or 'none'}"
            )
    for rule in expect.rules_not_fired:
        if rule in decision.rules_fired:
            failures.append(f"{who}rule {rule} should not fire")
    for flag in expect.flags:
        if flag not in decision.flags:
            failures.append(
                f"{who}flag {flag} should be set; flags: {', '.join(decision.flags) or 'none'}"
            )
    for flag in expect.no_flags:
        if flag in decision.flags:
            failures.append(f"{who}flag {flag} should not be set")
    return failures


class ScenarioRunner:
    """Runs scenarios on one rulebook and one engine."""

    def __init__(self, rulebook: Rulebook | None = None, engine: EngineName | None = None) -> None:
        self.door = FrontDoor(rulebook, engine=engine)
        self._engine = engine
        self._journeys: Any = None

    def run(self, located: Located) -> Outcome:
        scenario = located.scenario
        outcome = Outcome(located.file, scenario.name)
        try:
            if scenario.referral is not None:
                self._run_referral(scenario, outcome)
            else:
                self._run_journey(scenario, outcome)
        except TriageError as error:
            outcome.failures.append(f"error [{error.code}]: {error.message}")
        return outcome

    def run_all(self, scenarios: Sequence[Located]) -> list[Outcome]:
        return [self.run(item) for item in scenarios]

    def _run_referral(self, scenario: Scenario, outcome: Outcome) -> None:
        assert scenario.expect is not None
        assert scenario.referral is not None
        decisions = self.door.route(scenario.referral, as_of=scenario.as_of)
        by_child = {d.child_id: d for d in decisions}
        for child in scenario.expect.children:
            if child not in by_child:
                outcome.failures.append(
                    f"no child {child} in the referral; children: {', '.join(by_child)}"
                )
        for decision in decisions:
            who = f"child {decision.child_id}: " if len(decisions) > 1 else ""
            outcome.failures += _check_child(scenario.expect, decision, who)
            specific = scenario.expect.children.get(decision.child_id)
            if specific is not None:
                outcome.failures += _check_child(specific, decision, f"child {decision.child_id}: ")
        outcome.explanation = "\n\n".join(self.door.explain(d) for d in decisions)

    def _run_journey(self, scenario: Scenario, outcome: Outcome) -> None:
        if self._journeys is None:
            from triage.journey import Journeys

            self._journeys = Journeys(self.door.rulebook, engine=self._engine)
        lines = []
        for number, step in enumerate(scenario.journey, start=1):
            decision = self._journeys.decide(step.event, as_of=scenario.as_of)
            expect = step.expect
            given = expect.model_fields_set
            actual = {
                "kind": decision.kind,
                "to": decision.to_service,
                "closure_reason": decision.closure_reason,
                "overridden": decision.overridden,
            }
            for key, value in actual.items():
                if key in given and getattr(expect, key) != value:
                    outcome.failures.append(
                        f"event {number}: {key}: expected {getattr(expect, key)}, got {value}"
                    )
            for rule in expect.rules_fired:
                if rule not in decision.rules_fired:
                    outcome.failures.append(f"event {number}: rule {rule} should fire")
            lines.append(
                f"event {number}: {decision.from_service} -> {decision.to_service} "
                f"({decision.kind})"
            )
            lines += [f"    - {reason}" for reason in decision.reasons]
        outcome.explanation = "\n".join(lines)


def report_line(outcomes: Sequence[Outcome]) -> str:
    passed = sum(o.passed for o in outcomes)
    return f"{passed} passed, {len(outcomes) - passed} failed"
