"""Every error `triage` raises on purpose.

```
TriageError                 (code: ErrorCode; message built from structured fields)
├── InputError              the caller's input cannot be used; nothing was routed
│   ├── InputNotJson        text that is not JSON (or a JSON Lines line that is not)
│   └── ReferralInvalid     a referral that fails validation; lists every problem
├── RulebookError           a rulebook that cannot be used
│   ├── RulebookNotFound    no rulebook at the path given
│   └── RulebookInvalid     a rulebook that fails validation; file, line, rule id, field path
├── PathwayInvalid          a pathway file that fails validation; file, line, node or edge
├── ScenarioInvalid         a scenario file that does not fit the scenario format
├── MoveRefused             a journey move the pathway does not allow, or forbids outright
├── OutcomeRefused          a manager's outcome the log cannot take (unknown decision, ...)
├── GraphvizMissing         the Graphviz `dot` program is missing or cannot draw (svg, png)
├── EngineFault             an evaluator failed; the FrontDoor turns it into manual_review
├── LogError                a decision log that cannot be written or read as it stands
└── UsageError              a call the library does not support (e.g. an unknown engine name)
```

Messages never contain case data: field paths, codes and counts only. An offending value is
echoed only when it is a code from a closed vocabulary (an indicator id, a consent value), never
when it could be personal data (a date of birth, an identifier, free text).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

ErrorCode = Literal[
    "input_not_json",
    "referral_invalid",
    "rulebook_not_found",
    "rulebook_invalid",
    "pathway_invalid",
    "graphviz_missing",
    "move_refused",
    "outcome_refused",
    "scenario_invalid",
    "engine_fault",
    "log_unusable",
    "usage_error",
]


LISTED_MAX = 30
"""Valid values listed in full up to this many; a longer vocabulary is named by its size."""
PROBLEMS_LISTED = 50
"""Problems listed in an error's message; `problems` keeps them all."""
PROBLEM_MAX = 4096
"""The longest one problem's text can be, in characters."""
_VALUE_MAX = 60


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, located by a field path such as `children[0].consent`."""

    location: str
    message: str
    value: str | None = None
    valid: tuple[str, ...] = ()
    file: str | None = None
    line: int | None = None
    rule_id: str | None = None
    subject: str | None = None  # what the problem is about, e.g. `node front_door`, `edge a -> b`
    see: str | None = None  # where a long list of valid values is shown, e.g. `triage vocabulary`

    def __str__(self) -> str:
        where = self.location or "(top level)"
        if self.file is not None:
            at = f"{self.file}:{self.line}" if self.line is not None else self.file
            where = f"{at}: {where}"
        if self.rule_id is not None:
            where = f"{where} (rule {self.rule_id})"
        if self.subject is not None:
            where = f"{where} ({self.subject})"
        text = f"{where}: {self.message}"
        if self.value is not None:
            shown = self.value if len(self.value) <= _VALUE_MAX else self.value[:_VALUE_MAX] + "..."
            text += f" (got {shown!r})"
        if len(self.valid) <= LISTED_MAX:
            text += f"; valid values: {', '.join(self.valid)}" if self.valid else ""
        else:
            # A long vocabulary is named once, by its size, with the nearest few ids: listing
            # all 63 indicators in each of 10^5 problems made 164 MB of stderr (review D8).
            near = difflib.get_close_matches(self.value, self.valid, n=3) if self.value else []
            see = f": {self.see}" if self.see else ""
            count = f"one of {len(self.valid)} valid values{see}"
            text += f"; did you mean {' or '.join(near)}? ({count})" if near else f"; {count}"
        return text if len(text) <= PROBLEM_MAX else text[: PROBLEM_MAX - 3] + "..."


class TriageError(Exception):
    """Base class of every error `triage` raises on purpose."""

    code: ErrorCode = "usage_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its class, message and fields, so that it crosses from a worker process
        to its parent whole: the default would call `__init__` with the message alone, which
        most subclasses do not take, and a pool whose worker sends an error that cannot be
        unpickled hangs (measured in replay)."""
        return (_restore, (type(self), self.args, dict(self.__dict__)))


def _restore(cls: type[TriageError], args: tuple[Any, ...], fields: dict[str, Any]) -> TriageError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(fields)
    return error


def error_json(error: TriageError) -> dict[str, Any]:
    """An error as data, as `--json` commands print it: its code, its message and each
    problem's location, message and valid values."""
    problems: Sequence[Problem] = getattr(error, "problems", ())
    return {
        "code": error.code,
        "message": error.message,
        "problems": [
            {"location": p.location, "message": p.message, "valid": list(p.valid)} for p in problems
        ],
    }


class InputError(TriageError):
    """The caller's input cannot be used; nothing was routed."""


class InputNotJson(InputError):
    code: ErrorCode = "input_not_json"

    def __init__(self, where: str, line: int | None, column: int | None, reason: str) -> None:
        self.where = where
        self.line = line
        self.column = column
        at = "" if line is None else f" at line {line}, column {column}"
        super().__init__(
            f"{where} is not valid JSON{at}: {reason}. "
            "Send one JSON object (or JSON Lines with --batch)."
        )


class _ProblemsError(TriageError):
    summary: str = ""

    def __init__(self, problems: Sequence[Problem], subject: str = "") -> None:
        self.problems = tuple(problems)
        head = self.summary.format(n=len(self.problems), s="" if len(self.problems) == 1 else "s")
        head = f"{subject or 'the input'} {head}"
        lines = [head, *(f"  - {p}" for p in self.problems[:PROBLEMS_LISTED])]
        if len(self.problems) > PROBLEMS_LISTED:
            lines.append(f"  - and {len(self.problems) - PROBLEMS_LISTED} more")
        super().__init__("\n".join(lines))


class ReferralInvalid(InputError, _ProblemsError):
    code: ErrorCode = "referral_invalid"
    summary = "has {n} problem{s} and was not routed"


class RulebookError(TriageError):
    """A rulebook that cannot be used."""


class RulebookNotFound(RulebookError):
    code: ErrorCode = "rulebook_not_found"

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"no rulebook at {path}: {reason}")


class RulebookInvalid(RulebookError, _ProblemsError):
    code: ErrorCode = "rulebook_invalid"
    summary = "has {n} problem{s}"


class PathwayInvalid(_ProblemsError):
    """A pathway file that cannot be used; each problem names file, line, field path and the node
    or edge it is about."""

    code: ErrorCode = "pathway_invalid"
    summary = "has {n} problem{s}"


class GraphvizMissing(TriageError):
    """The Graphviz `dot` program, needed for svg and png pictures, is missing or cannot draw."""

    code: ErrorCode = "graphviz_missing"

    def __init__(self, fmt: str, reason: str) -> None:
        self.fmt = fmt
        self.reason = reason
        super().__init__(
            f"cannot draw {fmt}: {reason}. Install Graphviz: `apt-get install graphviz` on "
            "Debian or Ubuntu, `brew install graphviz` on macOS (other systems: "
            "https://graphviz.org/download/). Mermaid and dot text need nothing installed."
        )


class EngineFault(TriageError):
    """An evaluator failed. Carries no case data: the engine's own text stays out."""

    code: ErrorCode = "engine_fault"

    def __init__(self, engine: str, what: str) -> None:
        self.engine = engine
        self.what = what
        super().__init__(f"the {engine} evaluator failed: {what}")


class UsageError(TriageError):
    code: ErrorCode = "usage_error"


class LogError(TriageError):
    """A decision log that cannot be used as it stands (a torn tail, a missing key, ...)."""

    code: ErrorCode = "log_unusable"

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        super().__init__(f"decision log {target}: {reason}")


class MoveRefused(TriageError):
    """A journey move the pathway does not allow (or forbids outright, even by override)."""

    code: ErrorCode = "move_refused"

    def __init__(self, source: str, target: str, why: str, allowed: tuple[str, ...]) -> None:
        self.source, self.target = source, target
        hint = f"; allowed next steps from {source}: {', '.join(allowed)}" if allowed else ""
        super().__init__(f"move {source} -> {target} refused: {why}{hint}")


class OutcomeRefused(TriageError):
    """A Front Door manager's outcome that cannot be recorded: no such decision in the log, a
    second outcome for one decision, or an override the rulebook does not allow."""

    code: ErrorCode = "outcome_refused"

    def __init__(self, why: str, valid: tuple[str, ...] = ()) -> None:
        self.why, self.valid = why, valid
        super().__init__(
            f"outcome refused: {why}" + (f"; valid values: {', '.join(valid)}" if valid else "")
        )


class ScenarioInvalid(_ProblemsError):
    """A scenario file that does not fit the format: file, line and field path per problem."""

    code: ErrorCode = "scenario_invalid"
    summary = "has {n} problem{s}"
