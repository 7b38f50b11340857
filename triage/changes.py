"""What would change this decision: per child, the single changes to the facts that move the
level or the route, found by deciding nearby referrals with the same door.

A nearby referral differs from the one decided by one change a practitioner could find out was
wrong or missing: a concern taken away, one concern more (each indicator of the vocabulary in
turn), another consent answer, immediate danger the other way, no open involvement. Each is
routed by the same rulebook and evaluator on the same as-of date, through `FrontDoor.outcomes` alone
(no decision is built, nothing is logged: these are not decisions). A change is reported when
it moves a child's level or route; of the concerns that could be added, one per outcome is
named (the lowest level first, then vocabulary order) with how many others give the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import Field

from triage._base import Model
from triage.engine import FrontDoor
from triage.referral import Consent, Referral


class ChangeKind(StrEnum):
    REMOVE_CONCERN = "remove_concern"
    ADD_CONCERN = "add_concern"
    CONSENT = "consent"
    IMMEDIATE_DANGER = "immediate_danger"
    NO_OPEN_INVOLVEMENT = "no_open_involvement"


class Change(Model):
    """One change to the referral's facts and the level and route it would give the child."""

    kind: ChangeKind
    change: str = Field(description="The change in words, e.g. `without domestic_abuse`.")
    indicator: str | None = None
    consent: Consent | None = None
    level: int | None
    route: str
    direction: str = Field(
        description="`up`, `down` or `across` the continuum, by level; `undecided`: manual review."
    )
    alternatives: int = Field(
        default=0, description="Added concerns: how many other indicators give the same."
    )


class ChildChanges(Model):
    child_id: str
    level: int | None
    route: str
    changes: tuple[Change, ...]


def _direction(before: int | None, after: int | None) -> str:
    if after is None:
        return "undecided"  # manual review: fail safe, neither up nor down
    old, new = before or 0, after
    return "up" if new > old else "down" if new < old else "across"


def _nearby(
    data: dict[str, Any], door: FrontDoor
) -> Iterator[tuple[ChangeKind, str, dict[str, Any], str | None, Consent | None]]:
    """(kind, words, the nearby referral's data, indicator, consent) for every single change."""
    concerns = data.get("concerns", [])
    for index, concern in enumerate(concerns):
        indicator = concern["indicator"]
        rest = concerns[:index] + concerns[index + 1 :]
        yield (
            ChangeKind.REMOVE_CONCERN,
            f"without {indicator}",
            {**data, "concerns": rest},
            indicator,
            None,
        )
    present = {concern["indicator"] for concern in concerns}
    ordered = sorted(door.rulebook.indicators, key=lambda item: item.level)  # stable: file order
    for item in ordered:
        if item.id not in present:
            added = [*concerns, {"indicator": item.id, "about": "child"}]
            yield (
                ChangeKind.ADD_CONCERN,
                f"with {item.id} too",
                {**data, "concerns": added},
                item.id,
                None,
            )
    for consent in Consent:
        if consent.value != data["consent"]:
            yield (
                ChangeKind.CONSENT,
                f"with consent {consent.value}",
                {**data, "consent": consent.value},
                None,
                consent,
            )
    danger = not data["immediate_danger"]
    words = "with immediate danger" if danger else "without immediate danger"
    yield ChangeKind.IMMEDIATE_DANGER, words, {**data, "immediate_danger": danger}, None, None
    if any(child.get("open_involvement") for child in data["children"]):
        children = [
            {k: v for k, v in c.items() if k != "open_involvement"} for c in data["children"]
        ]
        yield (
            ChangeKind.NO_OPEN_INVOLVEMENT,
            "if no child were open to a service",
            {**data, "children": children},
            None,
            None,
        )


def what_would_change(
    door: FrontDoor, referral: Referral | dict[str, Any] | str | bytes, as_of: date | None = None
) -> tuple[ChildChanges, ...]:
    """Per child (in the referral's order), the single changes that move its level or route."""
    checked = door.validate(referral)
    data = checked.model_dump(mode="json", exclude_none=True)
    decided = door.outcomes(checked, as_of)
    found: list[list[Change]] = [[] for _ in decided]
    added: list[dict[tuple[int | None, str], int]] = [{} for _ in decided]
    for kind, words, nearby, indicator, consent in _nearby(data, door):
        outcomes = door.outcomes(door.validate(nearby), as_of)
        for index, ((level, route, _), (new_level, new_route, _)) in enumerate(
            zip(decided, outcomes, strict=True)
        ):
            if (level, route) == (new_level, new_route):
                continue
            if kind is ChangeKind.ADD_CONCERN:
                seen = added[index]
                if (new_level, new_route) in seen:
                    position = seen[(new_level, new_route)]
                    first = found[index][position]
                    found[index][position] = first.model_copy(
                        update={"alternatives": first.alternatives + 1}
                    )
                    continue
                seen[(new_level, new_route)] = len(found[index])
            found[index].append(
                Change(
                    kind=kind,
                    change=words,
                    indicator=indicator,
                    consent=consent,
                    level=new_level,
                    route=new_route,
                    direction=_direction(level, new_level),
                )
            )
    return tuple(
        ChildChanges(child_id=child.child_id, level=level, route=route, changes=tuple(changes))
        for child, (level, route, _), changes in zip(checked.children, decided, found, strict=True)
    )


def render_changes(changes: ChildChanges) -> str:
    """The changes in words, as `triage explain --changes` prints them under a decision."""
    if not changes.changes:
        return "What would change this decision: no single change to the facts tried."
    lines = ["What would change this decision (each a single change; not decisions):"]
    for item in changes.changes:
        level = "level not decided" if item.level is None else f"level {item.level}"
        more = f" (or {item.alternatives} other concern(s) like it)" if item.alternatives else ""
        lines.append(f"  - {item.change}{more}: {level}, {item.route} ({item.direction})")
    return "\n".join(lines)
