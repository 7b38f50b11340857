"""Every Hypothesis strategy of the test suite. Synthetic referrals only: no real child."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from triage import load_rulebook
from triage.fidelity import CLASSES_OF_LEVEL, ROUTE_CLASSES, CaseResult, FidelityCase
from triage.referral import SOURCE_ALIASES, About, ChildFlag, Consent, Notification

KENT = load_rulebook()
INDICATORS = tuple(sorted(KENT.indicator_by_id))
SERVICES = tuple(sorted(KENT.service_by_id))
SOURCES = tuple(sorted({*SOURCE_ALIASES, *(s.value for s in SOURCE_ALIASES.values())}))

UNBORN_FLAGS = frozenset(
    {
        ChildFlag.DISABILITY,
        ChildFlag.SEND,
        ChildFlag.YOUNG_CARER,
        ChildFlag.PREVIOUS_CHILD_PROTECTION_PLAN,  # a pre-birth plan
    }
)
received_dates = st.dates(min_value=date(2018, 10, 1), max_value=date(2030, 12, 31))


def _iso(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour, 30, tzinfo=UTC).isoformat()


concerns: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"indicator": st.sampled_from(INDICATORS), "about": st.sampled_from([a.value for a in About])}
)


@st.composite
def children(
    draw: st.DrawFn, received: date, index: int, services: tuple[str, ...] = SERVICES
) -> dict[str, Any]:
    child: dict[str, Any] = {"child_id": f"C-{index}"}
    unborn = draw(st.integers(0, 9)) == 0
    # How far back a previous referral may go: a pre-birth referral is at most ~9 months early.
    history = 800
    if unborn:
        child["expected_date_of_birth"] = (
            received + timedelta(days=draw(st.integers(1, 270)))
        ).isoformat()
    else:
        age_days = draw(st.integers(0, 19 * 366))
        history = min(history, age_days + 270)
        child["date_of_birth"] = (received - timedelta(days=age_days)).isoformat()
    if draw(st.booleans()):
        # An unborn child is never looked after, a care leaver or an asylum seeker.
        allowed = [f.value for f in ChildFlag if not unborn or f in UNBORN_FLAGS]
        child["flags"] = draw(st.lists(st.sampled_from(allowed), max_size=2, unique=True))
    if draw(st.integers(0, 3)) == 0:
        involvement: dict[str, Any] = {"service": draw(st.sampled_from(services))}
        if draw(st.booleans()):
            involvement["level"] = draw(st.integers(1, 4))
        child["open_involvement"] = involvement
    if draw(st.integers(0, 3)) == 0:
        child["previous_referrals"] = [
            (received - timedelta(days=d)).isoformat()
            for d in draw(st.lists(st.integers(0, history), max_size=3))
        ]
    return child


@st.composite
def referrals(
    draw: st.DrawFn, max_concerns: int = 8, services: tuple[str, ...] = SERVICES
) -> dict[str, Any]:
    """A valid referral form, as the JSON-ready mapping a case system would send (open only to
    `services`: by default every service of the Kent rulebook)."""
    received = draw(received_dates)
    kids = [draw(children(received, i, services)) for i in range(draw(st.integers(1, 3)))]
    found = draw(st.lists(concerns, max_size=max_concerns))
    for concern in found:
        if len(kids) > 1 and draw(st.integers(0, 4)) == 0:
            concern["child_ids"] = [draw(st.sampled_from([k["child_id"] for k in kids]))]
    return {
        "referral_id": f"R-{draw(st.integers(1, 10**6))}",
        "received_at": _iso(received, draw(st.integers(0, 23))),
        "source": draw(st.sampled_from(SOURCES)),
        "notification": draw(st.sampled_from([n.value for n in Notification])),
        "children": kids,
        "concerns": found,
        "consent": draw(st.sampled_from([c.value for c in Consent])),
        "immediate_danger": draw(st.integers(0, 9)) == 0,
    }


@st.composite
def open_case_referrals(draw: st.DrawFn) -> dict[str, Any]:
    """A referral whose every child is open to a service of the rulebook, young adults (18 to
    25) and immediate danger drawn often: the referrals a `current_service` route decides."""
    referral = draw(referrals())
    received = date.fromisoformat(referral["received_at"][:10])
    for kid in referral["children"]:
        kid["open_involvement"] = {"service": draw(st.sampled_from(SERVICES))}
        if draw(st.booleans()):
            kid.pop("expected_date_of_birth", None)
            years = draw(st.integers(18, 25))
            kid["date_of_birth"] = (received - timedelta(days=years * 366)).isoformat()
    referral["immediate_danger"] = draw(st.booleans())
    return referral


# Fenwold, the made-up three-level council of tests/councils/fenwold/.
FENWOLD = load_rulebook(Path(__file__).resolve().parent / "councils" / "fenwold" / "rules")
FENWOLD_INDICATORS = tuple(sorted(FENWOLD.indicator_by_id))
FENWOLD_SERVICES = tuple(sorted(FENWOLD.service_by_id))


@st.composite
def fenwold_referrals(draw: st.DrawFn) -> dict[str, Any]:
    """A valid referral in Fenwold's vocabulary: its indicators and services, an open service's
    level one of its three; every child open to a service half the time."""
    referral = draw(referrals(max_concerns=5))
    for concern in referral["concerns"]:
        concern["indicator"] = draw(st.sampled_from(FENWOLD_INDICATORS))
    for kid in referral["children"]:
        if "open_involvement" in kid or draw(st.booleans()):
            involvement: dict[str, Any] = {"service": draw(st.sampled_from(FENWOLD_SERVICES))}
            if draw(st.booleans()):
                involvement["level"] = draw(st.integers(1, 3))
            kid["open_involvement"] = involvement
    return referral


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def malformed_referrals(draw: st.DrawFn) -> dict[str, Any]:
    """A valid referral with one field replaced by an arbitrary JSON value, or removed."""
    referral = draw(referrals(max_concerns=3))
    key = draw(st.sampled_from(sorted(referral)))
    if draw(st.booleans()):
        del referral[key]
    else:
        referral[key] = draw(json_values)
    return referral


# --- Pathway graph ---------------------------------------------------------------------------


@st.composite
def walks(
    draw: st.DrawFn, moves: dict[str, tuple[str, ...]], starts: tuple[str, ...]
) -> tuple[str, ...]:
    """A walk from one of `starts`, taking any of `moves[node]` at each node until none remain.

    Stops after one step more than there are nodes with moves, so a cycle shows up as a walk
    that did not end instead of a test that never does.
    """
    node = draw(st.sampled_from(starts))
    walk = [node]
    while moves.get(node) and len(walk) <= len(moves) + 1:
        node = draw(st.sampled_from(moves[node]))
        walk.append(node)
    return tuple(walk)


def node_pairs(ids: tuple[str, ...]) -> st.SearchStrategy[tuple[str, str]]:
    """Two node ids of a pathway (possibly the same one)."""
    return st.tuples(st.sampled_from(ids), st.sampled_from(ids))


# -- journey events (issue 3) -------------------------------------------------------------------

from triage.conditions import EventKind, ReviewFinding  # noqa: E402
from triage.pathway import load_pathway  # noqa: E402

PATHWAY_NODES = tuple(sorted(node.id for node in load_pathway(rulebook=KENT).nodes))


@st.composite
def journey_events(draw: st.DrawFn, override: bool = False) -> dict[str, Any]:
    """A journey event on any node of the Kent pathway, optionally with a practitioner override."""
    occurred = draw(received_dates)
    event: dict[str, Any] = {
        "event_id": f"E-{draw(st.integers(1, 10**6))}",
        "child_id": "C-J-1",
        "occurred_at": _iso(occurred, draw(st.integers(0, 23))),
        "event": draw(st.sampled_from([k.value for k in EventKind])),
        "service": draw(st.sampled_from(PATHWAY_NODES)),
        "date_of_birth": (occurred - timedelta(days=draw(st.integers(0, 26 * 366)))).isoformat(),
        "findings": draw(
            st.lists(st.sampled_from([f.value for f in ReviewFinding]), max_size=2, unique=True)
        ),
        "consent": draw(st.sampled_from([c.value for c in Consent])),
    }
    if draw(st.booleans()):
        event["level"] = draw(st.integers(1, 4))
    if override:
        event["override"] = {
            "to": draw(st.sampled_from(PATHWAY_NODES)),
            "reason": "synthetic practitioner reason",
        }
        event["decided_by"] = "team manager"
    return event


@st.composite
def redesign_events(draw: st.DrawFn, nodes: tuple[str, ...], go_live: date) -> dict[str, Any]:
    """A `service_redesign` event on or after a revision's go-live, on any node of its pathway
    (retired or not), with any other facts a journey event can carry (issue 15)."""
    event = draw(journey_events())
    occurred = go_live + timedelta(days=draw(st.sampled_from([0, 0, 0, 1, 30, 400])))
    born = occurred - timedelta(days=draw(st.integers(0, 26 * 366)))
    event |= {
        "event": "service_redesign",
        "service": draw(st.sampled_from(nodes)),
        "occurred_at": _iso(occurred, draw(st.integers(0, 23))),
        "date_of_birth": born.isoformat(),
    }
    if draw(st.booleans()):
        event["flags"] = draw(
            st.lists(st.sampled_from([f.value for f in ChildFlag]), max_size=2, unique=True)
        )
    return event


@st.composite
def recorded_decisions(draw: st.DrawFn) -> list[tuple[datetime, datetime]]:
    """(received_at, recorded_at) of decisions for the report's timeliness figure: some
    recorded before receipt (a clock error), some the same day, some weeks or months later."""
    pairs = []
    for _ in range(draw(st.integers(0, 12))):
        received = datetime.combine(draw(received_dates), datetime.min.time(), UTC)
        received += timedelta(minutes=draw(st.integers(8 * 60, 18 * 60)))
        late = draw(st.sampled_from([-1, 0, 0, 1, 2, 5, 31, 90]))
        pairs.append((received, received + timedelta(days=late, minutes=draw(st.integers(0, 60)))))
    return pairs


@st.composite
def fidelity_results(draw: st.DrawFn) -> CaseResult:
    """A fidelity case's mapping (any level, a route class that level allows, maybe unlisted
    concerns) beside any decision the rules could give: a level and route, or manual review."""
    kent_level = draw(st.integers(1, 4))
    case = FidelityCase.model_validate(
        {
            "name": "a drawn case",
            "source": {
                "title": "t",
                "publisher": "p",
                "year": None,
                "section": "s",
                "where_found": "w",
            },
            "source_level": "Level X",
            "kent_level": kent_level,
            "kent_route_class": draw(st.sampled_from(sorted(CLASSES_OF_LEVEL[kent_level]))),
            "mapping_note": "drawn",
            "as_of": "2026-03-02",
            "referral": {"children": [{"child_id": "C-1"}]},
            "unlisted": draw(st.lists(st.just({"concern": "x"}), max_size=1)),
        }
    )
    route = draw(st.sampled_from([*sorted(ROUTE_CLASSES), "manual_review"]))
    level = None if route == "manual_review" else draw(st.integers(1, 4))
    return CaseResult(Path("drawn.yaml"), case, level, route, ROUTE_CLASSES.get(route), ())


# -- plain-text tables and scenario times (h-cli) --------------------------------------------

snake_names = st.lists(
    st.text(alphabet="abcdest", min_size=1, max_size=8), min_size=1, max_size=4
).map("_".join)
count_matrices: st.SearchStrategy[dict[tuple[str, str], int]] = st.dictionaries(
    st.tuples(snake_names, snake_names), st.integers(min_value=0, max_value=99_999), max_size=40
)
naive_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
aware_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.timezones()
)


# --- Bad referrals with planted personal data -------------------------------------------------

# Synthetic names and text: every name has a space and every text punctuation, so neither is
# shaped like a code (which an error may echo); dates avoid the examples messages quote.
PLANTED_NAMES = ("Zorya Pellingham", "Odile Fenwright", "Kasimir Thornbury", "Ines Waverley-Cole")
PLANTED_TEXTS = (
    "Zorya told the teacher, on the stairs, that her uncle hits her",
    "neighbour reports shouting at flat 12, Marsh Lane, most nights",
)
planted_dates = st.dates(min_value=date(2001, 1, 1), max_value=date(2025, 12, 31)).filter(
    lambda day: day not in {date(2019, 5, 1), date(2026, 3, 2)}
)
CODE_FIELD_PATHS = (
    ("consent",),
    ("source",),
    ("notification",),
    ("immediate_danger",),
    ("children", 0, "flags"),
    ("concerns", 0, "indicator"),
    ("concerns", 0, "about"),
    ("children", 0, "open_involvement", "service"),
    ("children", 0, "open_involvement", "level"),
)
UNKNOWN_KEY_PLACES = ((), ("children", 0), ("concerns", 0), ("children", 0, "open_involvement"))


@st.composite
def referrals_with_planted_data(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A referral made invalid in one to four ways, each carrying a planted name, date of birth
    or free text; returns it with the planted strings that must never appear in an error."""
    referral = draw(referrals(max_concerns=3))
    referral["concerns"] = referral["concerns"] or [{"indicator": "neglect", "about": "child"}]
    child = referral["children"][0]
    child.setdefault("open_involvement", {"service": "intensive_early_help"})
    name, text, born = (
        draw(st.sampled_from(PLANTED_NAMES)),
        draw(st.sampled_from(PLANTED_TEXTS)),
        draw(planted_dates).isoformat(),
    )
    child.pop("expected_date_of_birth", None)
    child["date_of_birth"] = born
    referral["detail"] = text
    planted = (name, text, born)
    pii = st.sampled_from(
        [name, text, born, f"{name}, born {born}", f"mother {name} {born}", text * 2000]
    )
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            *parents, last = draw(st.sampled_from(CODE_FIELD_PATHS))
            target: Any = referral
            for part in parents:
                target = target[part]
            value = draw(pii)
            target[last] = [value] if last == "flags" else value
        else:
            place = draw(st.sampled_from(UNKNOWN_KEY_PLACES))
            target = referral
            for part in place:
                target = target[part]
            key = draw(st.sampled_from(["consent", "source", "level", "about", "note", "name"]))
            target[key if key not in target else f"{key}_extra"] = draw(pii)
    if draw(st.integers(0, 4)) == 0:  # many problems at once
        referral["concerns"] = referral["concerns"] * draw(st.integers(50, 300))
    return referral, planted


# -- combination rules (issue 12, item 2) ------------------------------------------------------

CENSUS_CODES = tuple(sorted({code for i in KENT.indicators for code in i.census_factors}))
HISTORY_FLAGS = ("previous_child_protection_plan", "previously_looked_after")


@st.composite
def _one_child_referral(draw: st.DrawFn, child: dict[str, Any], received: date) -> dict[str, Any]:
    """One child's referral: any concerns (several indicators, history, flags), no child_ids."""
    referral = draw(referrals())
    referral["received_at"] = _iso(received, draw(st.integers(0, 23)))
    referral["children"] = [child]
    for concern in referral["concerns"]:
        concern.pop("child_ids", None)
    return referral


def _history(draw: st.DrawFn, received: date, born_days_ago: int | None) -> list[str]:
    """Earlier referral dates a form accepts: never after receipt, and for a born child at most
    305 days (a pregnancy) before birth."""
    furthest = 800 if born_days_ago is None else min(800, born_days_ago + 270)
    days = draw(st.lists(st.integers(0, furthest), max_size=3))
    return [(received - timedelta(days=d)).isoformat() for d in days]


@st.composite
def unborn_and_baby_referrals(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same referral twice: about an unborn child, and about a born baby under one (the same
    flags, open case, history and concerns)."""
    received = draw(received_dates)
    child: dict[str, Any] = draw(children(received, 0))
    child.pop("date_of_birth", None)
    child.pop("expected_date_of_birth", None)
    child["flags"] = [f for f in child.get("flags", ()) if ChildFlag(f) in UNBORN_FLAGS]
    # Under one at receipt: born 0 to 364 days before (a leap year cannot make it one).
    born_days_ago = draw(st.integers(0, 364))
    child["previous_referrals"] = _history(draw, received, born_days_ago)
    expected = received + timedelta(days=draw(st.integers(1, 270)))
    unborn = draw(
        _one_child_referral({**child, "expected_date_of_birth": expected.isoformat()}, received)
    )
    born = received - timedelta(days=born_days_ago)
    baby = {**copy.deepcopy(unborn), "children": [{**child, "date_of_birth": born.isoformat()}]}
    return unborn, baby


@st.composite
def census_referrals(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A census factor code of the vocabulary and a referral about one child under 18 (born or
    unborn, any flags, open case, history, consent) naming one indicator that carries it."""
    code = draw(st.sampled_from(CENSUS_CODES))
    indicator = draw(
        st.sampled_from(sorted(i.id for i in KENT.indicators if code in i.census_factors))
    )
    received = draw(received_dates)
    child = draw(children(received, 0))
    if "date_of_birth" in child:
        born_days_ago = draw(st.integers(0, 18 * 365))
        child["date_of_birth"] = (received - timedelta(days=born_days_ago)).isoformat()
        child["previous_referrals"] = _history(draw, received, born_days_ago)
    referral = draw(_one_child_referral(child, received))
    about = draw(st.sampled_from([a.value for a in About]))
    referral["concerns"] = [{"indicator": indicator, "about": about}]
    referral["immediate_danger"] = False
    return code, referral


VULNERABILITIES = (
    "disability",
    "looked_after",
    "care_leaver",
    "uasc",
    "previous_child_protection_plan",
    "previously_looked_after",
)


def vulnerabilities(child: dict[str, Any]) -> st.SearchStrategy[str]:
    """A vulnerability flag the child can carry (an unborn child was never in care)."""
    if "expected_date_of_birth" in child:
        return st.sampled_from([f for f in VULNERABILITIES if ChildFlag(f) in UNBORN_FLAGS])
    return st.sampled_from(VULNERABILITIES)


def recent_referral_dates(child: dict[str, Any], received: date) -> st.SearchStrategy[str]:
    """A date in the 12 months before `received` (a prior referral that counts) that the form
    accepts for this child (for a born child, at most 305 days before birth)."""
    furthest = 360
    if "date_of_birth" in child:
        born = date.fromisoformat(child["date_of_birth"])
        furthest = min(furthest, (received - born).days + 270)
    return st.integers(0, furthest).map(lambda d: (received - timedelta(days=d)).isoformat())


def whatif_changes(
    thresholds: Sequence[str], indicators: Sequence[str]
) -> st.SearchStrategy[dict[str, str]]:
    """A change the playground's what-if form can send: a threshold (`rule/N/min`) and a value,
    or an indicator and a level; values a little outside the form's range too."""
    threshold = st.fixed_dictionaries(
        {
            "change": st.just("threshold"),
            "threshold": st.sampled_from(list(thresholds)),
            "value": st.integers(0, 12).map(str),
        }
    )
    indicator = st.fixed_dictionaries(
        {
            "change": st.just("indicator"),
            "indicator": st.sampled_from(list(indicators)),
            "level": st.sampled_from(["1", "2", "3", "4"]),
        }
    )
    return threshold | indicator
