"""A decision for one child: level, route, urgency and due date, the rules that fired and why."""

from __future__ import annotations

from pydantic import Field

from triage._base import IsoDate, Level, Model


class RulebookRef(Model):
    id: str
    version: str
    fingerprint: str = Field(description="SHA-256 of the canonical JSON of the rulebook.")


class Decision(Model):
    """What the Front Door should do for one child, and why. Same inputs, same decision."""

    decision_id: str = Field(description="Derived from referral, child, rulebook and as-of date.")
    referral_id: str
    child_id: str
    level: Level | None = Field(description="Kent continuum level 1-4; null when undecidable.")
    level_name: str | None
    route: str
    urgency: str
    due_by: IsoDate = Field(
        description="Receipt date plus the urgency's timescale in working days."
    )
    rules_fired: tuple[str, ...] = Field(
        description="Level rules, the deciding route rule, flag rules."
    )
    reasons: tuple[str, ...] = Field(description="One plain-English sentence per rule fired.")
    flags: tuple[str, ...] = ()
    as_of: IsoDate = Field(description="The date whose rules and timescales were applied.")
    engine: str
    rulebook: RulebookRef
    library_version: str
