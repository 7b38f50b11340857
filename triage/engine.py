"""The Front Door: validate a referral, evaluate each child, apply the hit policies, never fail low.

For each child: the level rules that hold give the level (hit policy *max*); the route rules that
hold at that level give the route (hit policy *priority*); every flag rule that holds adds a flag
(`policies.py`). Anything undecidable (no level rule, no route rule, an engine fault, a route to
the current service of a child open to none, a timescale not in force) routes to
`manual_review`, with the reason, for a Front Door manager. So does a route to the current
service when that service's route serves open cases only below the decided level: an engine
invariant, whatever the rulebook says. Nothing falls to a lower route by default.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import date
from typing import Any, NamedTuple

from triage._base import trusted
from triage._logging import get_logger
from triage.decision import LIBRARY_VERSION as LIBRARY_VERSION
from triage.decision import Decision, IdKey
from triage.errors import EngineFault
from triage.evaluator import ENGINES as ENGINES
from triage.evaluator import EngineName as EngineName
from triage.evaluator import Evaluator, make_evaluator
from triage.facts import ChildFacts, ConcernFact, child_facts, shared_concerns
from triage.loader import load_rulebook
from triage.policies import level_policy, route_policy
from triage.prepared import LEVELS
from triage.referral import Child, Referral, parse_referral
from triage.rulebook import CURRENT_SERVICE, LOCAL_CHOICE, MANUAL_REVIEW, Rulebook
from triage.workdays import add_working_days

__all__ = ["ENGINES", "LIBRARY_VERSION", "EngineName", "FrontDoor", "make_evaluator"]

_log = get_logger(__name__)
Outcome = tuple[int | None, str, tuple[str, ...]]  # level, route, flags


class _Settled(NamedTuple):
    """What the hit policies settled for one child, before it is made a `Decision`."""

    facts: ChildFacts
    level: int | None
    route: str
    urgency: str
    due_by: date
    fired: tuple[str, ...]  # ids of the rules that decided, in the order of the reasons
    extra_reasons: tuple[str, ...]
    flags: tuple[str, ...]


class FrontDoor:
    """Routes referrals with one rulebook and one evaluator.

    >>> door = FrontDoor()                      # the bundled Kent rulebook on durable_rules
    >>> decisions = door.route(referral_json)   # one Decision per child

    `id_key` keys the decision ids (HMAC-SHA256). Without one, the door draws a random key: its
    ids are stable for the door's lifetime but differ from another door's. Give the same key to
    doors whose decision ids must agree (a case system that re-routes, a replay).
    """

    def __init__(
        self,
        rulebook: Rulebook | None = None,
        engine: EngineName | Evaluator | None = None,
        *,
        id_key: bytes | None = None,
    ) -> None:
        self.rulebook = load_rulebook() if rulebook is None else rulebook
        self.evaluator = (
            make_evaluator(engine, self.rulebook)
            if engine is None or isinstance(engine, str)
            else engine
        )
        self.prepared = self.rulebook.prepared
        # The levels a referral's open service may be at: None when the rulebook counts all four
        # of the form, which the form already checks (`validate` is on every referral's path).
        names = self.prepared.level_names
        self._levels = None if len(names) == len(LEVELS) else frozenset(names)
        self._ids = IdKey(secrets.token_bytes(32) if id_key is None else id_key)

    # -- input ------------------------------------------------------------------------------

    def validate(self, data: Referral | str | bytes | Mapping[str, Any]) -> Referral:
        """A referral checked against the form and against this rulebook's vocabulary."""
        indicators, services = self.rulebook.indicator_by_id, self.rulebook.service_by_id
        if isinstance(data, Referral):
            data = data.model_dump(mode="json")  # re-checked: the vocabulary is this rulebook's
        return parse_referral(data, indicators=indicators, services=services, levels=self._levels)

    # -- deciding ---------------------------------------------------------------------------

    def route(
        self, data: Referral | str | bytes | Mapping[str, Any], as_of: date | None = None
    ) -> tuple[Decision, ...]:
        """One decision per child, in the order of the referral's children."""
        return self.route_validated(self.validate(data), as_of)

    def route_validated(
        self, referral: Referral, as_of: date | None = None
    ) -> tuple[Decision, ...]:
        """`route` of a referral that this door's `validate` returned, without validating it
        again: the decision log validates a whole batch first, so that nothing of a batch is
        written when one referral is invalid, and replay validates against the record's
        rulebook. A referral validated against another rulebook's vocabulary is not safe here."""
        on = referral.received_on if as_of is None else as_of
        # structlog's lazy proxy assembles a logger for every event; one per referral is enough
        # (the logger factory is still asked each time, so a changed destination is obeyed).
        log = _log.bind()
        settled = self._settle_all(referral, on)
        return tuple(
            self._decision(referral, child, on, one, log)
            for child, one in zip(referral.children, settled, strict=True)
        )

    def outcomes(self, referral: Referral, as_of: date | None = None) -> tuple[Outcome, ...]:
        """Level, route and flags per child of a referral this door validated: what `route`
        decides, without building (or logging) the decisions. What-if compares only these."""
        on = referral.received_on if as_of is None else as_of
        return tuple((s.level, s.route, s.flags) for s in self._settle_all(referral, on))

    def _settle_all(self, referral: Referral, on: date) -> list[_Settled]:
        concerns = shared_concerns(referral, self.rulebook)
        return [self._settle(referral, child, on, concerns) for child in referral.children]

    def _settle(
        self,
        referral: Referral,
        child: Child,
        as_of: date,
        concerns: tuple[ConcernFact, ...] | None = None,
    ) -> _Settled:
        facts = child_facts(referral, child, self.rulebook, concerns)
        try:
            level_ids = tuple(self.evaluator.level_rules(facts, as_of))
            if not level_ids:
                return self._manual(
                    referral, facts, as_of, None, (), "No level rule applies to these facts."
                )
            level = level_policy(self.prepared, level_ids)
            route_ids = tuple(self.evaluator.route_rules(facts, level, as_of))
        except EngineFault as fault:
            _log.error(
                "engine_fault", engine=fault.engine, what=fault.what, rulebook=self.rulebook.id
            )
            why = f"The {fault.engine} evaluator failed ({fault.what})."
            return self._manual(referral, facts, as_of, None, (), why)
        winner, flag_ids, flags = route_policy(self.prepared, route_ids)
        if winner is None:
            why = "No route rule applies at this level."
            return self._manual(referral, facts, as_of, level, (*level_ids, *flag_ids), why, flags)
        outcome = winner.outcome
        route = outcome.route
        fired = (*level_ids, winner.rule_id, *flag_ids)
        if route == CURRENT_SERVICE:
            refused = self._not_current_service(facts, level)
            if refused is not None:
                return self._manual(
                    referral, facts, as_of, level, fired, refused, flags, outcome.urgency
                )
            assert facts.open_service is not None  # checked just above
            route = self.rulebook.service_by_id[facts.open_service].route
        timescale = self.prepared.timescale(outcome.urgency, as_of)
        if timescale is None:
            why = f"No timescale for urgency {outcome.urgency} is in force."
            return self._manual(referral, facts, as_of, level, fired, why, flags)
        due_by = add_working_days(referral.received_on, timescale.working_days)
        return _Settled(facts, level, route, outcome.urgency, due_by, fired, (), flags)

    def _not_current_service(self, facts: ChildFacts, level: int) -> str | None:
        """Why a route to the child's current service cannot stand (None: it can). The engine's
        own invariant, whatever the rulebook says: a child at the highest level of need is
        never passed to a service whose route serves open cases only at lower levels (an early
        help service for a level-4 young adult in danger, say); the highest level is the
        rulebook's (level 3 of a council that counts three). Below the highest level a
        rulebook may keep a case with its service and flag a step-up, as Kent's guidance does
        for early help: that stays the rulebook's choice."""
        if facts.open_service is None:
            return "A rule routes to the current service, but the child is open to none."
        route = self.rulebook.service_by_id[facts.open_service].route
        serves = self.prepared.route_level(route)
        if level >= self.prepared.highest_level and serves is not None and serves < level:
            return (
                f"A rule routes to the current service, {facts.open_service}, whose route "
                f"{route} serves open cases up to level {serves}, below the decided level {level}."
            )
        return None

    def _manual(
        self,
        referral: Referral,
        facts: ChildFacts,
        as_of: date,
        level: int | None,
        fired: tuple[str, ...],
        why: str,
        flags: tuple[str, ...] = (),
        asked: str | None = None,
    ) -> _Settled:
        """Manual review, as soon as the rulebook's manual-review urgency asks, or as the
        urgency the rules `asked` for when that is sooner: a review is never later."""
        urgency = self.rulebook.rulebook.manual_review_urgency
        timescale = self.prepared.timescale(urgency, as_of)
        sooner = None if asked is None else self.prepared.timescale(asked, as_of)
        if (
            asked
            and sooner
            and (timescale is None or sooner.working_days <= timescale.working_days)
        ):
            urgency, timescale = asked, sooner
        # No timescale in force: due the day it arrived, never later.
        due = add_working_days(referral.received_on, timescale.working_days if timescale else 0)
        extra = (
            f"Manual review by a Front Door manager: {why} The rules did not decide this referral, "
            "so it is not routed lower by default.",
        )
        return _Settled(facts, level, MANUAL_REVIEW, urgency, due, fired, extra, flags)

    def _decision(
        self, referral: Referral, child: Child, as_of: date, settled: _Settled, log: Any
    ) -> Decision:
        facts, level, route, urgency, due_by, fired, extra_reasons, flags = settled
        ref, reasons = self.prepared.ref, self.prepared.reasons
        decision_id = self._ids.derive(
            "D-",
            referral.referral_id,
            child.child_id,
            ref.fingerprint,
            as_of.isoformat(),
        )
        # Every value below comes from the validated referral and rulebook: built, not validated.
        decision = trusted(
            Decision,
            {
                "decision_id": decision_id,
                "referral_id": referral.referral_id,
                "child_id": child.child_id,
                "level": level,
                "level_name": None if level is None else self.prepared.level_names[level],
                "route": route,
                "urgency": urgency,
                "due_by": due_by,
                "rules_fired": fired,
                "reasons": (*extra_reasons, *(reasons[i](facts.concerns, as_of) for i in fired)),
                "flags": flags,
                "as_of": as_of,
                "engine": self.evaluator.name,
                "rulebook": ref,
                "library_version": LIBRARY_VERSION,
            },
        )
        log.info(
            "referral_triaged",
            decision_id=decision_id,
            level=level,
            route=route,
            urgency=urgency,
            rules_fired=fired,
            flags=flags,
            rulebook=ref.id,
            rulebook_version=ref.version,
            engine=decision.engine,
        )
        return decision

    # -- explaining -------------------------------------------------------------------------

    def explain(self, decision: Decision) -> str:
        """The decision as a practitioner reads it."""
        routes = {route.id: route.label for route in self.rulebook.routes}
        level = (
            "not decided" if decision.level is None else f"{decision.level} ({decision.level_name})"
        )
        timescale = self.rulebook.timescale(decision.urgency, decision.as_of)
        when = timescale.label if timescale else decision.urgency
        if timescale is not None and timescale.local_choice is not None:
            when = f"{when} ({LOCAL_CHOICE}: {timescale.local_choice})"
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
