"""Scenario files: practitioners' worked examples, run by `triage scenarios` and by pytest alike.

The format is documented in `docs/scenarios.md`; its JSON Schema is `triage schema scenario`.
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

import difflib
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, Field, JsonValue, ValidationError, model_validator

from triage._base import IsoDate, Level, Model
from triage.decision import Decision
from triage.engine import EngineName, FrontDoor
from triage.errors import Problem, ScenarioInvalid, TriageError, error_json
from triage.journey import Journeys
from triage.loader import YamlDocument, read_yaml
from triage.referral import field_path
from triage.rulebook import FlagOutcome, Rulebook


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
    """One worked example: a referral with what its decision must say, or a journey whose
    events each say what their decision must be (docs/scenarios.md)."""

    name: str = Field(min_length=1, description="One line: what the case is.")
    description: str = Field(default="", description="Why the rules should decide so.")
    as_of: IsoDate | None = Field(
        default=None, description="Apply the rules in force on this date; default: the receipt."
    )
    referral: Form | None = Field(
        default=None, description="A referral as the Front Door's form sends it."
    )
    expect: ReferralExpectation | None = Field(
        default=None, description="What the referral's decisions must say."
    )
    journey: tuple[JourneyStep, ...] = Field(
        default=(), description="Journey events in order, each with its own expect."
    )

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
    """One scenario run: the expectations it missed, or the error that stopped it."""

    file: Path
    name: str
    failures: list[str] = field(default_factory=list)
    explanation: str = ""
    error: TriageError | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclass
class Loaded:
    """The scenarios of the files that fit the format, and one error per file that does not."""

    scenarios: list[Located] = field(default_factory=list)
    invalid: list[ScenarioInvalid] = field(default_factory=list)


def _files(paths: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"}))
        else:
            found.append(path)
    return found


def read_scenarios(paths: Iterable[str | Path]) -> Loaded:
    """The scenarios of the files and folders given, file by file: a file that does not fit the
    format is one `ScenarioInvalid` in `invalid`, and the other files' scenarios still load.
    Raises `ScenarioInvalid` only when no scenario file is found at all."""
    paths = list(paths)
    files = _files(paths)
    if not files:
        raise ScenarioInvalid(
            [Problem("", "no scenario files (*.yaml) found")], ", ".join(map(str, paths))
        )
    loaded = Loaded()
    for file in files:
        located, problems = _read_file(file)
        if problems:
            loaded.invalid.append(ScenarioInvalid(problems, str(file)))
        else:
            loaded.scenarios += located
    return loaded


def load_scenarios(paths: Iterable[str | Path]) -> list[Located]:
    """Every scenario in the files and folders given; `ScenarioInvalid` lists every problem of
    every file that does not fit the format."""
    loaded = read_scenarios(paths)
    if loaded.invalid:
        raise ScenarioInvalid(
            [problem for error in loaded.invalid for problem in error.problems], "the scenario run"
        )
    return loaded.scenarios


def _read_file(file: Path) -> tuple[list[Located], list[Problem]]:
    if not file.exists():
        return [], [Problem("", "does not exist", file=str(file))]
    document = read_yaml(file)
    if isinstance(document, Problem):
        return [], [document]
    located: list[Located] = []
    problems: list[Problem] = []
    items, prefix = _items(document)
    for index, item in enumerate(items):
        found = list(_times_without_offset(item))
        try:
            located.append(Located(file, Scenario.model_validate(item)))
        except ValidationError as error:
            found += [
                (tuple(e["loc"]), e["msg"].removeprefix("Value error, "))
                for e in error.errors(include_url=False)
            ]
        for loc, why in found:
            at = (*prefix(index), *loc)
            problems.append(Problem(field_path(at), why, file=str(file), line=document.line(at)))
    return located, problems


# The example shows England's clock: the bundled rulebook, its bank holidays and working days
# are England's. A time without an offset is refused rather than guessed, so a receipt is never
# dated an hour out and a due date never moved by it.
_EXAMPLE_ZONE = "Europe/London"


def _times_without_offset(item: Any) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """`received_at` and `occurred_at` written as a date, or as a time with no UTC offset."""
    if not isinstance(item, dict):
        return
    places: list[tuple[tuple[str | int, ...], Any]] = []
    if isinstance(item.get("referral"), dict):
        places.append((("referral", "received_at"), item["referral"].get("received_at")))
    for number, step in enumerate(item.get("journey") or ()):
        if isinstance(step, dict) and isinstance(step.get("event"), dict):
            places.append(
                (("journey", number, "event", "occurred_at"), step["event"].get("occurred_at"))
            )
    for loc, value in places:
        naive = _naive(value)
        if naive is not None:
            moment, what = naive
            yield (
                loc,
                (
                    f"needs a time and its UTC offset, not just {what}; "
                    f"write for example {loc[-1]}: {_example(moment)}"
                ),
            )


def _naive(value: Any) -> tuple[datetime, str] | None:
    """The moment a date, or a date and time without an offset, names; None otherwise."""
    if isinstance(value, str):
        try:
            value = (
                date.fromisoformat(value.strip())
                if len(value.strip()) == 10
                else datetime.fromisoformat(value.strip())
            )
        except ValueError:
            return None  # not a date at all: the referral's own check says what is wrong
    if isinstance(value, datetime):
        return None if value.tzinfo is not None else (value, "a time")
    if isinstance(value, date):
        return datetime.combine(value, time(9)), "a date"
    return None


def _example(moment: datetime) -> str:
    try:
        return moment.replace(tzinfo=ZoneInfo(_EXAMPLE_ZONE)).isoformat()
    except ZoneInfoNotFoundError:
        return moment.isoformat() + "+00:00"


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


def _unknown_ids(scenario: Scenario, rulebook: Rulebook) -> list[Problem]:
    """Expectations naming a route, urgency, rule or flag this rulebook does not have: a typo
    there would otherwise read as the rulebook deciding wrongly."""
    rules = tuple(rule.id for rule in rulebook.rules)
    flags = tuple(
        dict.fromkeys(r.then.flag for r in rulebook.rules if isinstance(r.then, FlagOutcome))
    )
    known: dict[str, tuple[str, tuple[str, ...]]] = {  # key: (what it names, the valid ids)
        "route": ("route", tuple(route.id for route in rulebook.routes)),
        "urgency": ("urgency", tuple(dict.fromkeys(t.urgency for t in rulebook.timescales))),
        "rules_fired": ("rule", rules),
        "rules_not_fired": ("rule", rules),
        "flags": ("flag", flags),
        "no_flags": ("flag", flags),
    }
    expectations: list[tuple[tuple[str | int, ...], BaseModel]] = []
    if scenario.expect is not None:
        expectations.append((("expect",), scenario.expect))
        expectations += [
            (("expect", "children", child), each)
            for child, each in scenario.expect.children.items()
        ]
    expectations += [
        (("journey", number, "expect"), step.expect) for number, step in enumerate(scenario.journey)
    ]
    problems = []
    for prefix, expect in expectations:
        for key, (noun, valid) in known.items():
            if key not in type(expect).model_fields or key not in expect.model_fields_set:
                continue
            value = getattr(expect, key)
            listed = isinstance(value, tuple)
            for index, code in enumerate(value if listed else (value,)):
                if code is None or code in valid:
                    continue
                near = difflib.get_close_matches(code, valid, n=1)
                problems.append(
                    Problem(
                        field_path((*prefix, key, index) if listed else (*prefix, key)),
                        f"is not a {noun} of the rulebook"
                        + (f"; did you mean {near[0]}?" if near else ""),
                        value=code,
                        valid=valid,
                    )
                )
    return problems


class ScenarioRunner:
    """Runs scenarios on one rulebook and one engine."""

    def __init__(self, rulebook: Rulebook | None = None, engine: EngineName | None = None) -> None:
        self.door = FrontDoor(rulebook, engine=engine)
        self._engine = engine
        self._journeys: Journeys | None = None  # built on the first journey scenario

    def run(self, located: Located) -> Outcome:
        scenario = located.scenario
        outcome = Outcome(located.file, scenario.name)
        try:
            unknown = _unknown_ids(scenario, self.door.rulebook)
            if unknown:
                raise ScenarioInvalid(unknown, str(located.file))
            if scenario.referral is not None:
                self._run_referral(scenario, outcome)
            else:
                self._run_journey(scenario, outcome)
        except TriageError as error:
            outcome.error = error
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


def report_line(outcomes: Sequence[Outcome], invalid: Sequence[ScenarioInvalid] = ()) -> str:
    """`N passed, N failed`, and `, N file(s) invalid` when some files did not load."""
    passed = sum(o.passed for o in outcomes)
    line = f"{passed} passed, {len(outcomes) - passed} failed"
    return f"{line}, {len(invalid)} file(s) invalid" if invalid else line


def run_json(
    outcomes: Sequence[Outcome], invalid: Sequence[ScenarioInvalid] = ()
) -> dict[str, Any]:
    """The run as data: counts, each scenario's outcome, each file that did not load."""
    return {
        "passed": sum(o.passed for o in outcomes),
        "failed": sum(not o.passed for o in outcomes),
        "invalid_files": [
            {"file": error.problems[0].file, **error_json(error)} for error in invalid
        ],
        "scenarios": [
            {
                "file": str(o.file),
                "name": o.name,
                "passed": o.passed,
                "failures": o.failures,
                "error": None if o.error is None else error_json(o.error),
            }
            for o in outcomes
        ],
    }


def run_junit(outcomes: Sequence[Outcome], invalid: Sequence[ScenarioInvalid] = ()) -> str:
    """The run as JUnit XML, as CI systems read it: one test case per scenario (class name: the
    file), a `failure` for missed expectations, an `error` for a scenario or file that could not
    run."""
    suite = ET.Element(
        "testsuite",
        name="triage scenarios",
        tests=str(len(outcomes) + len(invalid)),
        failures=str(sum(bool(o.failures) and o.error is None for o in outcomes)),
        errors=str(sum(o.error is not None for o in outcomes) + len(invalid)),
    )
    for error in invalid:
        case = ET.SubElement(
            suite, "testcase", classname=str(error.problems[0].file), name="(file)"
        )
        ET.SubElement(
            case, "error", type=error.code, message=error.message.splitlines()[0]
        ).text = error.message
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=str(o.file), name=o.name)
        if o.error is not None:
            ET.SubElement(
                case, "error", type=o.error.code, message=o.error.message.splitlines()[0]
            ).text = o.error.message
        elif o.failures:
            ET.SubElement(case, "failure", message=o.failures[0]).text = "\n".join(
                [*o.failures, "", o.explanation]
            )
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
