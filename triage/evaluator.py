"""The seam between the FrontDoor (and Journeys) and an engine, and the engines by name.

An evaluator is bound to one rulebook and answers three questions, in rulebook order: which
level rules hold for a child's facts; once the level is decided, which route and flag rules
hold; and which step rules hold for a journey event. The hit policies are applied by the
callers (`engine.py`, `journey.py`), once, for every evaluator.

Three evaluators implement it:

- `durable` (`_durable.py`): the rulebook compiled onto durable_rules, the production engine;
- `reference` (`reference.py`): the plain interpreter of the condition language, the oracle
  the other two are held to by property tests;
- `compiled` (`compiled.py`): the conditions as Python closures over the prepared rulebook,
  for bulk replay and what-if.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, Protocol

from triage._install import default_engine, durable_missing
from triage.compiled import CompiledEvaluator
from triage.errors import UsageError
from triage.facts import ChildFacts, JourneyFacts
from triage.reference import ReferenceEvaluator
from triage.rulebook import Rulebook

EngineName = Literal["durable", "reference", "compiled"]
ENGINES: tuple[EngineName, ...] = ("durable", "reference", "compiled")


class Evaluator(Protocol):
    """What the FrontDoor and Journeys need from an engine."""

    name: str
    rulebook: Rulebook

    def level_rules(self, facts: ChildFacts, as_of: date) -> tuple[str, ...]:
        """Ids of the level rules in force on `as_of` whose conditions hold, in rulebook order."""
        ...

    def route_rules(self, facts: ChildFacts, level: int, as_of: date) -> tuple[str, ...]:
        """Ids of the route and flag rules in force that hold at the decided level, in order."""
        ...

    def step_rules(self, facts: JourneyFacts, as_of: date) -> tuple[str, ...]:
        """Ids of the step rules in force that hold for a journey event, in rulebook order."""
        ...


def make_evaluator(engine: EngineName | str | None, rulebook: Rulebook) -> Evaluator:
    """An evaluator by name: `durable` (production), `reference` (the oracle, pure Python) or
    `compiled` (pure Python, for bulk work); None for the default, `durable` where durable_rules
    imports and `reference` where it does not."""
    engine = default_engine() if engine is None else engine
    if engine == "durable":
        if (missing := durable_missing()) is not None:
            raise UsageError(
                f"the durable engine cannot run here: {missing}; choose the engine 'reference' "
                "(the same rules in pure Python)"
            )
        from triage._durable import DurableEvaluator  # imports durable_rules: only when asked

        return DurableEvaluator(rulebook)
    if engine == "reference":
        return ReferenceEvaluator(rulebook)
    if engine == "compiled":
        return CompiledEvaluator(rulebook)
    raise UsageError(f"unknown engine {engine!r}; valid values: {', '.join(ENGINES)}")
