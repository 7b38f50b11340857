"""Running the corpus: each case through `FrontDoor().route` on both engines and through the
CLI (`triage -v route -`), and the per-class table of what happened."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from triage import FrontDoor, TriageError
from triage.cli import cli

from . import Case

LOW = frozenset({"universal_services", "single_agency_support", "team_around_the_family"})
COLUMNS = (
    "inputs",
    "clear error, exit 2",
    "traceback",
    "valid/edge accepted",
    "garbage accepted (not low)",
    "garbage accepted, LOW route",
    "PII in message",
    "API: non-TriageError",
)


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    exit_code: int
    traceback: bool
    routes: tuple[str, ...]  # empty when refused
    pii: tuple[str, ...]  # the planted strings found in any output
    api_problem: str | None  # a non-TriageError, or the engines or the CLI disagreeing

    @property
    def accepted(self) -> bool:
        return self.exit_code == 0

    @property
    def low(self) -> bool:
        return any(route in LOW for route in self.routes)


def _api(
    case: Case, doors: Sequence[FrontDoor]
) -> tuple[list[str], tuple[str, ...] | None, str | None]:
    texts: list[str] = []
    found: list[tuple[str, ...] | None] = []
    problem = None
    for door in doors:
        try:
            found.append(tuple(d.route for d in door.route(case.payload)))
        except TriageError as error:
            texts.append(str(error))
            found.append(None)
        except Exception as error:  # noqa: BLE001 - what the corpus is here to find
            problem = f"{door.evaluator.name}: {type(error).__name__}"
            found.append(None)
    if problem is None and len(set(found)) > 1:
        problem = "the engines disagree"
    return texts, found[0], problem or _other_forms(case, doors[0], texts)


def _other_forms(case: Case, door: FrontDoor, texts: list[str]) -> str | None:
    """The same input as `str` and, where plain `json.loads` reads it, as a mapping: the API
    must raise only `TriageError`s for these too (their messages are searched for PII)."""
    forms: list[Any] = [case.payload.decode("utf-8", "surrogateescape")]
    with contextlib.suppress(ValueError, RecursionError):  # not plain JSON: bytes and str only
        forms.append(json.loads(case.payload))
    for form in forms:
        try:
            door.route(form)
        except TriageError as error:
            texts.append(str(error))
        except Exception as error:  # noqa: BLE001 - what the corpus is here to find
            return f"{type(form).__name__} input: {type(error).__name__}"
    return None


def run_case(case: Case, doors: Sequence[FrontDoor], runner: CliRunner | None) -> Outcome:
    """One case through the API on every door and, with a runner, through the CLI."""
    texts, routes, problem = _api(case, doors)
    exit_code, traceback = (0 if routes is not None else 2), False
    if runner is not None:
        result = runner.invoke(cli, ["-v", "route", "-"], input=case.payload)
        exit_code = result.exit_code
        traceback = result.exception is not None and not isinstance(result.exception, SystemExit)
        texts.append(result.stderr)
        if (exit_code == 0) != (routes is not None) and problem is None:
            problem = "the CLI and the API disagree"
        decisions = result.stdout
    else:
        decisions = ""
    return Outcome(case, exit_code, traceback, routes or (), _pii(case, texts, decisions), problem)


def _pii(case: Case, texts: Sequence[str], decisions: str) -> tuple[str, ...]:
    """The planted strings found in errors and logs, or in decisions: a decision carries the
    referral and child ids back to the case system by design, nothing else of the referral."""
    ids = case.planted[3:]
    return tuple(
        secret
        for secret in case.planted
        if any(secret in out for out in texts) or (secret not in ids and secret in decisions)
    )


def run_subprocess(case: Case) -> Outcome:
    """One case through a real `triage route -` process (the console script's interpreter)."""
    run = subprocess.run(
        [sys.executable, "-m", "triage.cli", "-v", "route", "-"],
        input=case.payload,
        capture_output=True,
        timeout=120,
        check=False,
    )
    stdout, stderr = run.stdout.decode("utf-8", "replace"), run.stderr.decode("utf-8", "replace")
    routes = tuple(
        line.split('"route":"', 1)[1].split('"', 1)[0]
        for line in stdout.splitlines()
        if '"route":"' in line
    )
    return Outcome(
        case, run.returncode, "Traceback" in stderr, routes, _pii(case, [stderr], stdout), None
    )


def counts(outcomes: Iterable[Outcome]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = table.setdefault(o.case.cls, dict.fromkeys(COLUMNS, 0))
        row["inputs"] += 1
        row["clear error, exit 2"] += o.exit_code == 2 and not o.traceback
        row["traceback"] += o.traceback
        row["valid/edge accepted"] += o.accepted and not o.case.garbage
        row["garbage accepted (not low)"] += o.accepted and o.case.garbage and not o.low
        row["garbage accepted, LOW route"] += o.accepted and o.case.garbage and o.low
        row["PII in message"] += bool(o.pii)
        row["API: non-TriageError"] += o.api_problem is not None
    return table


def render(table: dict[str, dict[str, int]]) -> str:
    """A Markdown table, one row per class and a total, to paste into docs/reliability.md."""
    lines = ["| class | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    total = dict.fromkeys(COLUMNS, 0)
    for cls, row in table.items():
        lines.append(f"| {cls} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
        for column in COLUMNS:
            total[column] += row[column]
    lines.append("| **total** | " + " | ".join(f"**{total[c]}**" for c in COLUMNS) + " |")
    return "\n".join(lines)
