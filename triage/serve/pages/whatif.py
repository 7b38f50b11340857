"""The what-if page (`/what-if`): one change to the loaded rulebook, tried on the server's log.

A practitioner changes an indicator's level or one count threshold of a rule (a `min` or `max`
of a `concerns`, `domains` or `referrals_last_12_months` condition). The revised rulebook is
data: the loaded rulebook's JSON with that one value changed, validated as any rulebook is
(the models, then `Rulebook.problems`), a version of its own; nothing on disk is written. Every
logged referral is then decided again under it by `triage.audit.replay_log(against=...)`, and
the page shows the level and route transition matrices and the children who move, by the
pseudonyms and the facts replay reports (seq, level, route), as `triage replay --against` does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from triage._base import LEVEL_NAMES
from triage.audit import ReplayReport, replay_log
from triage.demo import DEMO_KEY
from triage.errors import Problem, RulebookInvalid, TriageError
from triage.referral import field_path
from triage.rulebook import Rulebook
from triage.serve.pages._rendering import ServiceOf, common, page

COUNTED = {
    "concerns": "distinct concerns",
    "domains": "domains among the concerns",
    "referrals_last_12_months": "referrals in the last 12 months",
}
DEMO_COMMAND = (
    f"triage demo --out triage-demo && TRIAGE_LOG_KEY='{DEMO_KEY}' "
    "triage serve --log triage-demo/decisions.sqlite"
)


@dataclass(frozen=True)
class Threshold:
    id: str  # rule id, the count's number in the rule, the bound: `rule/0/min`
    rule: str
    words: str
    value: int


def _filter_words(bounds: dict[str, Any]) -> str:
    """What a count selects, short enough for a list to choose from."""
    parts = []
    for key in ("indicator", "level", "domain", "about"):
        values = bounds.get(key)
        if values:
            listed = "/".join(map(str, values)) if len(values) <= 3 else f"one of {len(values)}"
            parts.append(f"{key} {listed}")
    return f" ({', '.join(parts)})" if parts else ""


def _counts(when: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each count condition of a rule's `when` (as JSON), in order: its kind and its bounds
    (the very mapping, so that a copy's bound can be changed in place)."""
    ((kind, value),) = when.items()
    if kind in ("all", "any"):
        for child in value:
            yield from _counts(child)
    elif kind in COUNTED:
        yield kind, value


def thresholds(rulebook: Rulebook) -> list[Threshold]:
    found = []
    for rule in rulebook.rules:
        when = rule.model_dump(mode="json")["when"]
        for number, (kind, bounds) in enumerate(_counts(when)):
            for bound in ("min", "max"):
                if bounds.get(bound) is None:
                    continue
                word = "at least" if bound == "min" else "at most"
                words = f"{rule.id}: {word} {bounds[bound]} {COUNTED[kind]}{_filter_words(bounds)}"
                found.append(
                    Threshold(f"{rule.id}/{number}/{bound}", rule.id, words, bounds[bound])
                )
    return found


class RevisionRefused(Exception):
    """A change the page cannot make: `field` is the form field to show `message` beside."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _validated(data: dict[str, Any]) -> Rulebook:
    """The revised rulebook, checked as the loader checks one (its models, its cross-checks)."""
    try:
        rulebook = Rulebook.model_validate(data)
    except ValidationError as error:
        raise RulebookInvalid(
            [
                Problem(field_path(tuple(e["loc"])), e["msg"])
                for e in error.errors(include_url=False)
            ],
            "the revised rulebook",
        ) from None
    found = rulebook.problems()
    if found:
        raise RulebookInvalid(
            [Problem(field_path(loc), why, value, valid) for loc, why, value, valid in found],
            "the revised rulebook",
        )
    return rulebook


def revise(rulebook: Rulebook, change: dict[str, str]) -> tuple[Rulebook, str]:
    """A copy of `rulebook` with the one change the form asks for, and the change in words."""
    data = rulebook.model_dump(mode="json")
    data["rulebook"]["version"] = f"{rulebook.version}+what-if"
    if change.get("change") == "indicator":
        ids = [indicator["id"] for indicator in data["indicators"]]
        if change.get("indicator") not in ids:
            raise RevisionRefused("indicator", "choose an indicator of the rulebook")
        level = change.get("level", "")
        if level not in ("1", "2", "3", "4"):
            raise RevisionRefused("level", "choose a level from 1 to 4")
        item = data["indicators"][ids.index(change["indicator"])]
        words = f"indicator {item['id']}: level {item['level']} -> {level}"
        item["level"] = int(level)
    else:
        wanted = change.get("threshold", "")
        known = {t.id: t for t in thresholds(rulebook)}
        if wanted not in known:
            raise RevisionRefused("threshold", "choose a threshold of the rulebook")
        value = change.get("value", "").strip()
        if not value.isdigit() or int(value) > 99:
            raise RevisionRefused("value", "give a whole number from 0 to 99")
        rule_id, number, bound = wanted.split("/")
        index = next(i for i, rule in enumerate(data["rules"]) if rule["id"] == rule_id)
        _, bounds = list(_counts(data["rules"][index]["when"]))[int(number)]
        bounds[bound] = int(value)
        words = f"{rule_id}: {bound} {known[wanted].value} -> {value}"
    try:
        return _validated(data), words
    except RulebookInvalid as invalid:
        field = "level" if change.get("change") == "indicator" else "value"
        raise RevisionRefused(field, "; ".join(str(p) for p in invalid.problems)) from None


@dataclass(frozen=True)
class Matrix:
    caption: str
    rows: tuple[str, ...]  # the old values
    columns: tuple[str, ...]  # the new values
    cells: dict[tuple[str, str], int]


def _matrix(counts: Counter[tuple[Any, Any]], order: tuple[Any, ...], caption: str) -> Matrix:
    def shown(value: Any) -> str:
        return "not decided" if value is None else str(value)

    present_old = {old for old, _ in counts}
    present_new = {new for _, new in counts}
    ranked = {value: index for index, value in enumerate(order)}
    rows = tuple(shown(v) for v in sorted(present_old, key=lambda v: ranked.get(v, len(order))))
    columns = tuple(shown(v) for v in sorted(present_new, key=lambda v: ranked.get(v, len(order))))
    cells = {(shown(old), shown(new)): n for (old, new), n in counts.items()}
    return Matrix(caption, rows, columns, cells)


def matrices(report: ReplayReport) -> tuple[Matrix, Matrix]:
    levels = _matrix(
        report.levels,
        (*LEVEL_NAMES, None),
        "Levels: a row is the level the log holds, a column the level under the change",
    )
    routes = _matrix(
        report.routes,
        (*report.continuum, "manual_review"),
        "Routes: a row is the route the log holds, a column the route under the change",
    )
    return levels, routes


def install(app: FastAPI, service_of: ServiceOf) -> None:
    @app.get("/what-if", include_in_schema=False)
    async def whatif(request: Request) -> HTMLResponse:
        service = service_of(request)
        asked = dict(request.query_params)
        context: dict[str, Any] = {
            "asked": asked,
            "thresholds": thresholds(service.rulebook),
            "indicators": sorted(service.rulebook.indicators, key=lambda i: i.label.lower()),
            "errors": {},
            "report": None,
            "demo_command": DEMO_COMMAND,
            "log_target": service.settings.log,
        }
        if service.settings.log is None or "change" not in asked:
            return page("whatif.html", **context, **common(service))
        try:
            revised, words = revise(service.rulebook, asked)
        except RevisionRefused as refused:
            context["errors"] = {refused.field: refused.message}
            return page("whatif.html", 422, **context, **common(service))

        def work() -> ReplayReport:
            # Not under the service's lock: replay reads through its own connection and decides
            # on its own door, so routing goes on meanwhile (a log of 10,000 takes seconds).
            return replay_log(service.settings.log, against=revised, engine="compiled")

        try:
            report = await run_in_threadpool(work)
        except TriageError as error:
            context["errors"] = {"log": error.message}
            return page("whatif.html", 503, **context, **common(service))
        context |= {"report": report, "words": words, "matrices": matrices(report)}
        return page("whatif.html", **context, **common(service))
