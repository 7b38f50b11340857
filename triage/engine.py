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
from typing import Any, Literal, NamedTuple

from triage._base import LEVEL_NAMES, trusted
from triage._install import VERSION, default_engine, durable_missing
from triage._logging import get_logger
from triage.conditions import concern_filters
from triage.decision import Decision, RulebookRef
from triage.errors import EngineFault, UsageError
from triage.evaluator import Evaluator, ReferenceEvaluator, selected
from triage.facts import ChildFacts, ConcernFact, child_facts, shared_concerns
from triage.loader import load_rulebook
from triage.referral import About, Child, Referral, parse_referral
from triage.rulebook import (
    CURRENT_SERVICE,
    LOCAL_CHOICE,
    MANUAL_REVIEW,
    LevelOutcome,
    RouteOutcome,
    Rule,
    Rulebook,
    Timescale,
    cite,
    concern_words,
)
from triage.workdays import add_working_days

EngineName = Literal["durable", "reference"]
ENGINES: tuple[EngineName, ...] = ("durable", "reference")

LIBRARY_VERSION = VERSION

_log = get_logger("triage")


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


_CACHED_DAYS = 4096  # per-date caches keep at most this many entries (ten years is 3,653 days)
# The hit policies' results per combination of rules that held: a few hundred in practice.
_CACHED_POLICIES = 4096
# Reason texts kept per rule, per set of concerns: the most repeated sets. Measured: 4,096 per
# rule held about 6 MB after 30,000 referrals; 512 hold under 1 MB.
_CACHED_TEXTS = 512


class _ReasonText:
    """The reason sentence of one rule: its title, the labels of the concerns it selected (in
    the order of its filters, then of the concerns), its source and id.

    Which concerns a filter selects depends only on the concern's indicator (whose level and
    domain the rulebook fixes) and whom it is about, so each filter becomes a set of
    (indicator, about) pairs once; the text is what `selected` over the facts gave before."""

    def __init__(self, rule: Rule, rulebook: Rulebook) -> None:
        self.rule = rule
        # A plain reference cites the same text on every date; dated editions are cited per
        # as-of date (`cite`), and so are part of the cache key below.
        self.fixed = isinstance(rule.reference, str)
        self.suffix = f". Source: {cite(rule, date.min)} [rule {rule.id}]"
        self.title = rule.title
        self.labels = {i.id: concern_words(i) for i in rulebook.indicators}
        self.filters = tuple(
            frozenset(
                (i.id, about.value)
                for i in rulebook.indicators
                for about in About
                if selected(ConcernFact(i.id, i.level, i.domain.value, about.value), f)
            )
            for f in concern_filters(rule.when)
        )
        # The text per distinct set of concerns: it depends on nothing else.
        self.known: dict[tuple[tuple[ConcernFact, ...], str | None], str] = {}

    def __call__(self, facts: ChildFacts, as_of: date) -> str:
        suffix = (
            self.suffix
            if self.fixed
            else f". Source: {cite(self.rule, as_of)} [rule {self.rule.id}]"
        )
        if not self.filters or not facts.concerns:
            return f"{self.title}{suffix}"
        key = (facts.concerns, None if self.fixed else suffix)
        text = self.known.get(key)
        if text is None:
            if len(self.known) >= _CACHED_TEXTS:
                self.known.clear()
            text = self.known[key] = self._text(facts, suffix)
        return text

    def _text(self, facts: ChildFacts, suffix: str) -> str:
        labels: dict[str, None] = {}
        for pairs in self.filters:
            for concern in facts.concerns:
                if (concern.indicator, concern.about) in pairs:
                    labels.setdefault(self.labels[concern.indicator], None)
        if not labels:
            return f"{self.title}{suffix}"
        return f"{self.title}: {'; '.join(labels)}{suffix}"


def make_evaluator(engine: EngineName | str | None, rulebook: Rulebook) -> Evaluator:
    """An evaluator by name: `durable` (production) or `reference` (pure Python); None for the
    default, `durable` where durable_rules imports and `reference` where it does not."""
    engine = default_engine() if engine is None else engine
    if engine == "durable":
        if (missing := durable_missing()) is not None:
            raise UsageError(
                f"the durable engine cannot run here: {missing}; choose the engine 'reference' "
                "(the same rules in pure Python)"
            )
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
        self, rulebook: Rulebook | None = None, engine: EngineName | Evaluator | None = None
    ) -> None:
        self.rulebook = load_rulebook() if rulebook is None else rulebook
        self.evaluator = (
            make_evaluator(engine, self.rulebook)
            if engine is None or isinstance(engine, str)
            else engine
        )
        self._ref = RulebookRef(
            id=self.rulebook.id,
            version=self.rulebook.version,
            fingerprint=self.rulebook.fingerprint,
        )
        # Everything a decision needs that depends only on the rulebook, worked out once.
        self._reasons = {rule.id: _ReasonText(rule, self.rulebook) for rule in self.rulebook.rules}
        self._timescales: dict[tuple[str, date], Timescale | None] = {}
        rules = self.rulebook.rules
        self._kind = {rule.id: rule.kind for rule in rules}
        self._level_of = {r.id: r.then.level for r in rules if isinstance(r.then, LevelOutcome)}
        self._engine = self.evaluator.name
        self._levels: dict[tuple[str, ...], int] = {}
        self._routes: dict[
            tuple[str, ...], tuple[Rule | None, tuple[str, ...], tuple[str, ...]]
        ] = {}

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
        return self._route_checked(self.validate(data), as_of)

    def _route_checked(self, referral: Referral, as_of: date | None) -> tuple[Decision, ...]:
        """`route` of a referral this door's `validate` returned (the decision log's batches
        validate first, so that nothing of a batch is written when one referral is invalid)."""
        on = referral.received_on if as_of is None else as_of
        # structlog's lazy proxy assembles a logger for every event; one per referral is enough
        # (the logger factory is still asked each time, so a changed destination is obeyed).
        log = _log.bind()
        concerns = shared_concerns(referral, self.rulebook)
        return tuple(
            self._decision(referral, child, on, self._settle(referral, child, on, concerns), log)
            for child in referral.children
        )

    def _outcomes(
        self, referral: Referral, as_of: date | None
    ) -> tuple[tuple[int | None, str, tuple[str, ...]], ...]:
        """Level, route and flags per child of a referral this door validated: what `route`
        decides, without building (or logging) the decisions. For what-if, which compares
        only these."""
        on = referral.received_on if as_of is None else as_of
        concerns = shared_concerns(referral, self.rulebook)
        return tuple(
            (settled.level, settled.route, settled.flags)
            for settled in (
                self._settle(referral, child, on, concerns) for child in referral.children
            )
        )

    def _settle(
        self,
        referral: Referral,
        child: Child,
        as_of: date,
        concerns: tuple[ConcernFact, ...] | None = None,
    ) -> _Settled:
        facts = child_facts(referral, child, self.rulebook, concerns)
        try:
            level_ids = tuple(self.evaluator.level_rules(facts, as_of))  # keys: hashable
            if not level_ids:
                return self._manual(
                    referral, facts, as_of, None, (), "No level rule applies to these facts."
                )
            level = self._level_policy(level_ids)
            route_ids = tuple(self.evaluator.route_rules(facts, level, as_of))
        except EngineFault as fault:
            _log.error(
                "engine_fault", engine=fault.engine, what=fault.what, rulebook=self.rulebook.id
            )
            return self._manual(
                referral,
                facts,
                as_of,
                None,
                (),
                f"The {fault.engine} evaluator failed ({fault.what}).",
            )
        winner, flag_ids, flags = self._route_policy(route_ids)
        if winner is None:
            return self._manual(
                referral,
                facts,
                as_of,
                level,
                (*level_ids, *flag_ids),
                "No route rule applies at this level.",
                flags,
            )
        outcome = winner.then
        assert isinstance(outcome, RouteOutcome)
        route = outcome.route
        fired = (*level_ids, winner.id, *flag_ids)
        if route == CURRENT_SERVICE:
            if facts.open_service is None:
                return self._manual(
                    referral,
                    facts,
                    as_of,
                    level,
                    fired,
                    "A rule routes to the current service, but the child is open to none.",
                    flags,
                )
            route = self.rulebook.service_by_id[facts.open_service].route
        timescale = self._timescale(outcome.urgency, as_of)
        if timescale is None:
            return self._manual(
                referral,
                facts,
                as_of,
                level,
                fired,
                f"No timescale for urgency {outcome.urgency} is in force.",
                flags,
            )
        due_by = add_working_days(referral.received_on, timescale.working_days)
        return _Settled(facts, level, route, outcome.urgency, due_by, fired, (), flags)

    def _level_policy(self, level_ids: tuple[str, ...]) -> int:
        """Hit policy *max*: the highest level of the level rules that held."""
        found = self._levels.get(level_ids)
        if found is None:
            if len(self._levels) >= _CACHED_POLICIES:
                self._levels.clear()
            found = self._levels[level_ids] = max(self._level_of[i] for i in level_ids)
        return found

    def _route_policy(
        self, route_ids: tuple[str, ...]
    ) -> tuple[Rule | None, tuple[str, ...], tuple[str, ...]]:
        """Hit policy *priority* for route rules and *collect* for flag rules: the winning
        route rule (None when no route rule held), the ids of the flag rules that held, and
        their flags."""
        found = self._routes.get(route_ids)
        if found is None:
            if len(self._routes) >= _CACHED_POLICIES:
                self._routes.clear()
            rules, kind = self.rulebook.rule_by_id, self._kind
            route_rules = [rules[i] for i in route_ids if kind[i] == "route"]
            flag_rules = [rules[i] for i in route_ids if kind[i] == "flag"]
            flags = tuple(dict.fromkeys(r.then.flag for r in flag_rules))  # type: ignore[union-attr]
            winner = max(route_rules, key=lambda r: r.priority) if route_rules else None
            found = (winner, tuple(r.id for r in flag_rules), flags)
            self._routes[route_ids] = found
        return found

    def _timescale(self, urgency: str, on: date) -> Timescale | None:
        key = (urgency, on)
        if key not in self._timescales:
            if len(self._timescales) >= _CACHED_DAYS:
                self._timescales.clear()
            self._timescales[key] = self.rulebook.timescale(urgency, on)
        return self._timescales[key]

    def _manual(
        self,
        referral: Referral,
        facts: ChildFacts,
        as_of: date,
        level: int | None,
        fired: tuple[str, ...],
        why: str,
        flags: tuple[str, ...] = (),
    ) -> _Settled:
        urgency = self.rulebook.rulebook.manual_review_urgency
        timescale = self._timescale(urgency, as_of)
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
        seed = "\x1f".join(
            (referral.referral_id, child.child_id, self._ref.fingerprint, as_of.isoformat())
        )
        reasons = self._reasons
        # Every value below comes from the validated referral and rulebook: built, not validated.
        decision = trusted(
            Decision,
            {
                "decision_id": "D-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:20],
                "referral_id": referral.referral_id,
                "child_id": child.child_id,
                "level": level,
                "level_name": None if level is None else LEVEL_NAMES[level],
                "route": route,
                "urgency": urgency,
                "due_by": due_by,
                "rules_fired": fired,
                "reasons": (*extra_reasons, *(reasons[rule_id](facts, as_of) for rule_id in fired)),
                "flags": flags,
                "as_of": as_of,
                "engine": self._engine,
                "rulebook": self._ref,
                "library_version": LIBRARY_VERSION,
            },
        )
        log.info(
            "referral_triaged",
            decision_id=decision.decision_id,
            level=decision.level,
            route=decision.route,
            urgency=decision.urgency,
            rules_fired=decision.rules_fired,
            flags=decision.flags,
            rulebook=self._ref.id,
            rulebook_version=self._ref.version,
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
