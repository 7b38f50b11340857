"""The shape of a pathway file: nodes, edges and forbidden edges, as frozen pydantic models.

These check each item on its own (types, kinds, unknown keys, age ranges); whether the items
hang together (edges name nodes, every walk of step-downs ends at a ground node, ...) is checked
by `PathwayGraph` when it is built (`_checks.py`).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from triage._base import Level, Model
from triage.rulebook import SnakeId


class NodeKind(StrEnum):
    ENTRY = "entry"
    ROUTE = "route"
    SERVICE = "service"
    EXIT = "exit"
    # A node a revision retired: kept so that a child still open to it can move, by its one
    # `redesign` edge, to its successor (docs/pathways.md, "Revisions").
    RETIRED = "retired"


class EdgeKind(StrEnum):
    ROUTE = "route"
    STEP_UP = "step_up"
    STEP_DOWN = "step_down"
    TRANSITION = "transition"
    EXIT = "exit"
    REDESIGN = "redesign"


class AgeRange(Model):
    """Ages served in whole years, both ends inclusive; `unborn` adds children not yet born."""

    min_years: int = Field(ge=0, le=130)
    max_years: int | None = Field(ge=0, le=130, description="null: no upper limit.")
    unborn: bool

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.max_years is not None and self.max_years < self.min_years:
            raise ValueError("max_years is below min_years")
        if self.unborn and self.min_years > 0:
            raise ValueError("a range that serves unborn children must start at min_years 0")
        return self

    def follows_on(self, before: AgeRange) -> bool:
        """True when this range overlaps `before` or starts the year after `before` ends."""
        # An unborn child is a year below 0, so "unborn only" ranges follow on into age 0.
        starts = -1 if self.unborn else self.min_years
        before_starts = -1 if before.unborn else before.min_years
        ends_late_enough = self.max_years is None or self.max_years >= before_starts
        starts_early_enough = before.max_years is None or starts <= before.max_years + 1
        return ends_late_enough and starts_early_enough

    def covers(self, other: AgeRange) -> bool:
        """True when every child `other` serves is served here too."""
        return (
            (self.unborn or not other.unborn)
            and self.min_years <= other.min_years
            and (
                self.max_years is None
                or (other.max_years is not None and other.max_years <= self.max_years)
            )
        )

    def serves(self, age_years: int | None) -> bool:
        """True when a child of this age (None: not yet born) is inside the range."""
        if age_years is None:
            return self.unborn
        return self.min_years <= age_years and (
            self.max_years is None or age_years <= self.max_years
        )

    def __str__(self) -> str:
        ages = (
            f"{self.min_years}+" if self.max_years is None else f"{self.min_years}-{self.max_years}"
        )
        return f"{'unborn, ' if self.unborn else ''}{ages}"


class Node(Model):
    id: SnakeId
    label: str = Field(min_length=1)
    level: Level | None = Field(description="1-4 on the continuum; null for off-continuum nodes.")
    kind: NodeKind
    age_range: AgeRange
    ground: bool = Field(
        default=False,
        description="Where a walk of step-downs may end (the universal level, or the case closed).",
    )


class Edge(Model):
    """An allowed move. In YAML its ends are `from` and `to`."""

    source: SnakeId = Field(alias="from")
    target: SnakeId = Field(alias="to")
    kind: EdgeKind
    reference: str = Field(
        min_length=1,
        description="The guidance (name and section) that allows the move, or "
        "`local choice: ...` saying why the council chose it.",
    )
    guard: SnakeId | None = Field(default=None, description="The rule whose firing takes it.")
    label: str | None = None

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class ForbiddenEdge(Model):
    """A move that must never be on the pathway, with the reason."""

    source: SnakeId = Field(alias="from")
    target: SnakeId = Field(alias="to")
    reason: str = Field(min_length=1)
    reference: str = Field(
        min_length=1,
        description="The guidance that forbids the move, or `local choice: ...`.",
    )

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class PathwayInfo(Model):
    id: SnakeId
    version: str = Field(min_length=1)
    title: str = Field(min_length=1)
    reference: str = Field(min_length=1)


class Pathway(Model):
    """A pathway file's content, shape-checked; `PathwayGraph` checks that it hangs together."""

    pathway: PathwayInfo
    nodes: tuple[Node, ...] = Field(min_length=1)
    edges: tuple[Edge, ...] = ()
    forbidden: tuple[ForbiddenEdge, ...] = ()

    @property
    def ground(self) -> tuple[str, ...]:
        """The ids of the ground nodes, in file order."""
        return tuple(node.id for node in self.nodes if node.ground)
