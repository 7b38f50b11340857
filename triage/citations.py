"""Citations: every rule, indicator and timescale of a rulebook cites its source.

A reference is a plain text, or the editions of a source that changed, each with the dates it
was in force (`DatedReference`). An entry may also say that this rulebook, not the source, chose
its level or threshold (`local_choice`), and a reason then says so in words (`cite`).
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from typing import Annotated, Any

from pydantic import Field, SerializerFunctionWrapHandler, StringConstraints, model_serializer

from triage._base import IsoDate, Model

LOCAL_CHOICE = "local choice of this rulebook"


class DatedReference(Model):
    """One edition of a source, in force from `effective_from` to `effective_to` (inclusive;
    either open). A reference that changed between editions is a list of these."""

    text: str = Field(min_length=1)
    effective_from: IsoDate | None = None
    effective_to: IsoDate | None = None

    def in_force(self, on: date) -> bool:
        return (self.effective_from is None or self.effective_from <= on) and (
            self.effective_to is None or on <= self.effective_to
        )


Reference = (
    Annotated[str, StringConstraints(min_length=1)]
    | Annotated[tuple[DatedReference, ...], Field(min_length=1)]
)


class Cited(Model):
    """A rulebook entry that cites its source, and may say that this rulebook, not the source,
    chose its level or threshold (`local_choice`: why)."""

    reference: Reference = Field(description="The guidance, or its editions with dates.")
    local_choice: str | None = Field(
        default=None,
        min_length=1,
        description="Set when this rulebook chose the level or threshold: why.",
    )

    @model_serializer(mode="wrap")
    def _without_unset_choice(self, handler: SerializerFunctionWrapHandler) -> Any:
        # An entry without a local choice dumps as it did before the field existed, so a
        # rulebook that uses none keeps its fingerprint (and old decision logs replay).
        data = handler(self)
        if isinstance(data, dict) and data.get("local_choice") is None:
            data.pop("local_choice", None)
        return data

    def reference_on(self, on: date) -> str:
        """The reference text of the edition in force on a date (a plain reference: itself).
        Outside every edition, the nearest one: the first before it began, the last after."""
        if isinstance(self.reference, str):
            return self.reference
        for edition in self.reference:
            if edition.in_force(on):
                return edition.text
        first = self.reference[0]
        if first.effective_from is not None and on < first.effective_from:
            return first.text
        return self.reference[-1].text


def edition_gaps(
    reference: tuple[DatedReference, ...], start: date | None, end: date | None
) -> list[str]:
    """Why dated editions do not cite exactly one edition on every day from start to end (None:
    open): editions out of order, overlapping, with a gap between them, or ending too soon."""
    found: list[str] = []
    for before, after in pairwise(reference):
        if before.effective_to is None or after.effective_from is None:
            found.append("only the first edition may be open at the start, the last at the end")
        elif after.effective_from != before.effective_to + timedelta(days=1):
            found.append(
                f"the edition from {after.effective_from} does not start the day after the "
                f"edition before it ends ({before.effective_to})"
            )
    first, last = reference[0].effective_from, reference[-1].effective_to
    if first is not None and (start is None or start < first):
        found.append(f"no edition is in force before {first}")
    if last is not None and (end is None or end > last):
        found.append(f"no edition is in force after {last}")
    return found


def cite(item: Cited, as_of: date) -> str:
    """What a reason cites for a rule or an indicator on a date: the edition of its source in
    force then, and this rulebook's local choice in words where it made one."""
    text = item.reference_on(as_of)
    return text if item.local_choice is None else f"{text}; {LOCAL_CHOICE}: {item.local_choice}"


def in_force(effective_from: date, effective_to: date | None, on: date) -> bool:
    """In force on a date: from `effective_from` to `effective_to` (inclusive; None: open)."""
    return effective_from <= on and (effective_to is None or on <= effective_to)
