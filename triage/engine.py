"""The Front Door: validate a referral, evaluate each child, apply the hit policies, never fail low.

For each child: the level rules that hold give the level (hit policy *max*); the route rules that
hold at that level give the route (hit policy *priority*); every flag rule that holds adds a flag.
Anything undecidable (no level rule, no route rule, an engine fault, a route to the current
service of a child open to none, a timescale not in force) routes to `manual_review`, with the
reason, for a Front Door manager. Nothing falls to a lower route by default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from importlib import metadata
from typing import Any, Literal

import structlog

from triage._base import LEVEL_NAMES
from triage.conditions import concern_filters
from triage.decision import Decision, RulebookRef
from triage.errors import EngineFault, UsageError
from triage.evaluator import Evaluator, ReferenceEvaluator, selected
from triage.facts import ChildFacts, child_facts
from triage.loader import load_rulebook
from triage.referral import Child, Referral, parse_referral
from triage.rulebook import (
    CURRENT_SERVICE,
    MANUAL_REVIEW,
    LevelOutcome,
    RouteOutcome,
    Rule,
    Rulebook,
)
from triage.workdays import add_working_days

EngineName = Literal["durable", "reference"]
ENGINES: tuple[EngineName, ...] = ("durable", "reference")

try:
    LIBRARY_VERSION = metadata.version("triage")
except metadata.PackageNotFoundError:  # pragma: no cover - running from an unbuilt tree
    LIBRARY_VERSION = "0+unknown"

_log = structlog.get_logger("triage")


def make_evaluator(engine: EngineName | str, rulebook: Rulebook) -> Evaluator:
    """An evaluator by name: `durable` (production) or `reference` (pure Python)."""
    if engine == "durable":
        from triage._durable import DurableEvaluator

        return DurableEvaluator(rulebook)
    if engine == "reference":
        return ReferenceEvaluator(rulebook)
    raise UsageError(f"unknown engine {engine!r}; valid values: {', '.join(ENGINES)}")


class FrontDoor:
    """Routes referrals with one rulebook and one evaluator.

    >>> door = FrontDoor()                      # the bundled Kent rulebook on durable_rules
    >>> decisions = door.route(referral_json)   # one Decision per child
    """

    def __init__(
        self, rulebook: Rulebook | None = None, engine: EngineName | Evaluator = "durable"
    ) -> None:
        self.rulebook = load_rulebook() if rulebook is None else rulebook
        self.evaluator = (
            make_evaluator(engine, self.rulebook) if isinstance(engine, str) else engine
        )
        self._ref = RulebookRef(
            id=self.rulebook.id,
            version=self.rulebook.version,
            fingerprint=self.rulebook.fingerprint,
        )

    # -- input ------------------------------------------------------------------------------

    def validate(self, data: Referral | str | bytes | Mapping[str, Any]) -> Referral:
        """A referral checked against the form and against this rulebook's vocabulary."""
        indicators, services = self.rulebook.indicator_by_id, self.rulebook.service_by_id
        if isinstance(data, Referral):
            data = data.model_dump(mode="json")  # re-checked: the vocabulary is this rulebook's
        return parse_referral(data, indicators=indicators, services=services)

    # -- deciding ---------------------------------------------------------------------------

    def route(
        self, data: Referral | str | bytes | Mapping[str, Any], as_of: date | None = None
    ) -> tuple[Decision, ...]:
        """One decision per child, in the order of the referral's children."""
        referral = self.validate(data)
        on = referral.received_on if as_of is None else as_of
        return tuple(self._decide(referral, child, on) for child in referral.children)

    def _decide(self, referral: Referral, child: Child, as_of: date) -> Decision:
        facts = child_facts(referral, child, self.rulebook)
        rules = self.rulebook.rule_by_id
        try:
            level_ids = self.evaluator.level_rules(facts, as_of)
            if not level_ids:
                return self._manual(
                    referral, child, facts, as_of, None, (), "No level rule applies to these facts."
                )
            level = max(self._outcome_level(rules[i]) for i in level_ids)
            route_ids = self.evaluator.route_rules(facts, level, as_of)
        except EngineFault as fault:
            _log.error(
                "engine_fault", engine=fault.engine, what=fault.what, rulebook=self.rulebook.id
            )
            return self._manual(
                referral,
                child,
                facts,
                as_of,
                None,
                (),
                f"The {fault.engine} evaluator failed ({fault.what}).",
            )
        route_rules = [rules[i] for i in route_ids if rules[i].kind == "route"]
        flag_rules = [rules[i] for i in route_ids if rules[i].kind == "flag"]
        flags = tuple(dict.fromkeys(r.then.flag for r in flag_rules))  # type: ignore[union-attr]
        fired = tuple(rules[i] for i in level_ids)
        if not route_rules:
            return self._manual(
                referral,
                child,
                facts,
                as_of,
                level,
                (*fired, *flag_rules),
                "No route rule applies at this level.",
                flags,
            )
        winner = max(route_rules, key=lambda r: r.priority)
        outcome = winner.then
        assert isinstance(outcome, RouteOutcome)
        route = outcome.route
        fired = (*fired, winner, *flag_rules)
        if route == CURRENT_SERVICE:
            if facts.open_service is None:
                return self._manual(
                    referral,
                    child,
                    facts,
                    as_of,
                    level,
                    fired,
                    "A rule routes to the current service, but the child is open to none.",
                    flags,
                )
            route = self.rulebook.service_by_id[facts.open_service].route
        timescale = self.rulebook.timescale(outcome.urgency, as_of)
        if timescale is None:
            return self._manual(
                referral,
                child,
                facts,
                as_of,
                level,
                fired,
                f"No timescale for urgency {outcome.urgency} is in force.",
                flags,
            )
        return self._decision(
            referral,
            child,
            facts,
            as_of,
            level,
            route,
            outcome.urgency,
            add_working_days(referral.received_on, timescale.working_days),
            fired,
            (),
            flags,
        )

    @staticmethod
    def _outcome_level(rule: Rule) -> int:
        assert isinstance(rule.then, LevelOutcome)
        return rule.then.level

    def _manual(
        self,
        referral: Referral,
        child: Child,
        facts: ChildFacts,
        as_of: date,
        level: int | None,
        fired: tuple[Rule, ...],
        why: str,
        flags: tuple[str, ...] = (),
    ) -> Decision:
        urgency = self.rulebook.rulebook.manual_review_urgency
        timescale = self.rulebook.timescale(urgency, as_of)
        # No timescale in force: due the day it arrived, never later.
        due = add_working_days(referral.received_on, timescale.working_days if timescale else 0)
        extra = (
            f"Manual review by a Front Door manager: {why} The rules did not decide this referral, "
            "so it is not routed lower by default.",
        )
        return self._decision(
            referral, child, facts, as_of, level, MANUAL_REVIEW, urgency, due, fired, extra, flags
        )

    def _decision(
        self,
        referral: Referral,
        child: Child,
        facts: ChildFacts,
        as_of: date,
        level: int | None,
        route: str,
        urgency: str,
        due_by: date,
        fired: tuple[Rule, ...],
        extra_reasons: tuple[str, ...],
        flags: tuple[str, ...],
    ) -> Decision:
        seed = "\x1f".join(
            (referral.referral_id, child.child_id, self.rulebook.fingerprint, as_of.isoformat())
        )
        decision = Decision(
            decision_id="D-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:20],
            referral_id=referral.referral_id,
            child_id=child.child_id,
            level=level,
            level_name=None if level is None else LEVEL_NAMES[level],
            route=route,
            urgency=urgency,
            due_by=due_by,
            rules_fired=tuple(rule.id for rule in fired),
            reasons=(*extra_reasons, *(self._reason(rule, facts) for rule in fired)),
            flags=flags,
            as_of=as_of,
            engine=self.evaluator.name,
            rulebook=self._ref,
            library_version=LIBRARY_VERSION,
        )
        _log.info(
            "referral_triaged",
            decision_id=decision.decision_id,
            level=decision.level,
            route=decision.route,
            urgency=decision.urgency,
            rules_fired=decision.rules_fired,
            flags=decision.flags,
            rulebook=self.rulebook.id,
            rulebook_version=self.rulebook.version,
            engine=decision.engine,
        )
        return decision

    def _reason(self, rule: Rule, facts: ChildFacts) -> str:
        labels: dict[str, None] = {}
        for concern_filter in concern_filters(rule.when):
            for concern in facts.concerns:
                if selected(concern, concern_filter):
                    labels.setdefault(
                        self.rulebook.indicator_by_id[concern.indicator].label.lower(), None
                    )
        matched = f": {'; '.join(labels)}" if labels else ""
        return f"{rule.title}{matched}. Source: {rule.reference} [rule {rule.id}]"

    # -- explaining -------------------------------------------------------------------------

    def explain(self, decision: Decision) -> str:
        """The decision as a practitioner reads it."""
        routes = {route.id: route.label for route in self.rulebook.routes}
        level = (
            "not decided" if decision.level is None else f"{decision.level} ({decision.level_name})"
        )
        timescale = self.rulebook.timescale(decision.urgency, decision.as_of)
        when = timescale.label if timescale else decision.urgency
        lines = [
            f"Child {decision.child_id}, referral {decision.referral_id}",
            f"  Level of need: {level}",
            f"  Route: {routes.get(decision.route, decision.route)} [{decision.route}]",
            f"  How soon: {when}, by {decision.due_by.isoformat()}",
            "  Why:",
            *(f"    - {reason}" for reason in decision.reasons),
        ]
        if decision.flags:
            lines.append(f"  Flags: {', '.join(decision.flags)}")
        lines.append(
            f"  Rulebook {decision.rulebook.id} {decision.rulebook.version} "
            f"({decision.rulebook.fingerprint[:12]}), "
            f"rules in force on {decision.as_of.isoformat()}, "
            f"{decision.engine} engine"
        )
        return "\n".join(lines)
