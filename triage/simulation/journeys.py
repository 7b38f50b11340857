"""Journey events that follow simulated referrals, for the demo and for what-ifs on journeys.

Each child's route gets the follow-up the rulebook's `simulation:` section names for it
(`follow_ups`: a review after some months, an assessment that ends in no further action, a plan
that starts and ends), drawn from a `random.Random` stream of its own, so that asking for
journeys never changes the referrals a seed gives. A route with no follow-up gets no event, and
neither does an unborn child, whose journey starts at birth.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from triage.council import AssessmentFollowUp, FollowUp, PlanFollowUp, ReviewFollowUp
from triage.decision import Decision
from triage.loader import load_rulebook
from triage.rulebook import Rulebook
from triage.simulation.calibration import uk_offset
from triage.workdays import add_working_days

# A month of a follow-up, in days: the events need a plausible date, not a calendar month.
MONTH_DAYS = 30


def simulate_journeys(
    routed: Iterable[tuple[Mapping[str, Any], Sequence[Decision]]],
    seed: int,
    rulebook: Rulebook | None = None,
) -> Iterator[dict[str, Any]]:
    """Journey events that follow routed referrals, as the rulebook's `simulation.follow_ups`
    say (without `rulebook`, the bundled Kent rulebook's).

    Deterministic for a seed, on its own random stream (the referrals a seed gives never
    change). Events are JSON-ready dicts for `triage.journey.Journeys.decide`.
    """
    section = (load_rulebook() if rulebook is None else rulebook).simulation
    follow_ups = {} if section is None else section.follow_ups
    rng = random.Random(f"journeys:{seed}")  # noqa: S311 - synthetic data, not secrets
    for referral, decisions in routed:
        children = {child["child_id"]: child for child in referral["children"]}
        received = date.fromisoformat(str(referral["received_at"])[:10])
        for decision in decisions:
            child = children[decision.child_id]
            follow_up = follow_ups.get(decision.route)
            if follow_up is None or "date_of_birth" not in child:
                continue
            for number, event in enumerate(
                _follow_ups(rng, follow_up, decision.route, child, received)
            ):
                event["event_id"] = f"E-{decision.referral_id}-{decision.child_id}-{number}"
                yield event


def _event(
    child: Mapping[str, Any],
    day: date,
    kind: str,
    service: str,
    since: date,
    findings: list[str],
    consent: str = "given",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "child_id": child["child_id"],
        "occurred_at": datetime(
            day.year, day.month, day.day, 11, 0, tzinfo=uk_offset(day)
        ).isoformat(),
        "event": kind,
        "service": service,
        "service_since": since.isoformat(),
        "findings": findings,
        "consent": consent,
    }
    for key in ("date_of_birth", "expected_date_of_birth"):
        if key in child:
            event[key] = child[key]
    if "flags" in child:
        event["flags"] = child["flags"]
    return event


def _follow_ups(
    rng: random.Random,
    follow_up: FollowUp,
    route: str,
    child: Mapping[str, Any],
    received: date,
) -> Iterator[dict[str, Any]]:
    # The draws are made in the same order for every kind as they always were: a seed's events
    # stay the same when the figures move into data.
    if isinstance(follow_up, ReviewFollowUp):
        months = rng.randint(*follow_up.months)
        draw = rng.random()
        good = follow_up.outcomes_achieved
        finding = (
            "outcomes_achieved"
            if draw < good
            else "concerns_escalated"
            if draw < good + follow_up.escalated
            else "concerns_unchanged"
        )
        day = received + timedelta(days=MONTH_DAYS * months)
        yield _event(child, day, "review", route, received, [finding])
    elif isinstance(follow_up, AssessmentFollowUp):
        if rng.random() < follow_up.no_further_action:
            longest = 2 * follow_up.median_working_days
            day = add_working_days(received, rng.randint(10, longest))
            yield _event(child, day, "review", route, received, ["no_further_action"])
    elif isinstance(follow_up, PlanFollowUp):
        since = add_working_days(received, follow_up.starts_after_working_days)
        reduced = rng.random() < follow_up.concerns_reduced
        finding = "concerns_reduced" if reduced else "concerns_unchanged"
        consent = "given" if rng.random() < follow_up.consent_to_early_help else "refused"
        ended = since + timedelta(days=MONTH_DAYS * rng.randint(*follow_up.months))
        yield _event(child, ended, "plan_ended", follow_up.plan, since, [finding], consent)
