"""Each speed-up of issue 6 gives exactly what the plain definition gives."""

from __future__ import annotations

import pickle
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from triage import FrontDoor, Rulebook, simulate
from triage._durable import compile_rulebook
from triage.audit import DecisionLog, DecisionRecordV1, open_store, read_records
from triage.audit.record import (
    CHAIN_FIELDS,
    Pseudonymiser,
    birth_date_for_age,
    body_fields,
    body_of,
    canonical,
    canonical_sorted,
    minimise_decision,
    minimise_referral,
    sorted_keys,
)
from triage.compiled import CompiledEvaluator
from triage.conditions import Condition, concern_filters
from triage.decision import Decision
from triage.facts import ChildFacts, age_in_years, child_facts, selected
from triage.prepared import specialise
from triage.reference import ReferenceEvaluator, holds
from triage.referral import Referral
from triage.rulebook import Rule, cite, concern_words

from .strategies import referrals

KEY = "synthetic-test-key-0001"


def _children(door: FrontDoor, referral: dict[str, Any]) -> list[tuple[ChildFacts, Any]]:
    parsed = door.validate(referral)
    return [
        (child_facts(parsed, child, door.rulebook), parsed.received_on) for child in parsed.children
    ]


@settings(max_examples=500)
@given(referral=referrals())
def test_the_compiled_evaluator_finds_exactly_the_rules_that_hold(
    referral: dict[str, Any], kent: Rulebook, reference: FrontDoor
) -> None:
    """Compiled closures and shared counts agree with `holds`, the meaning, at every level."""
    evaluator = CompiledEvaluator(kent)
    level_rules = kent.rules_of("level")
    route_rules = [rule for rule in kent.rules if rule.kind in ("route", "flag")]
    for facts, as_of in _children(reference, referral):
        expected = tuple(r.id for r in level_rules if r.in_force(as_of) and holds(r.when, facts))
        assert evaluator.level_rules(facts, as_of) == expected
        for level in (1, 2, 3, 4):
            expected = tuple(
                r.id for r in route_rules if r.in_force(as_of) and holds(r.when, facts, level)
            )
            assert evaluator.route_rules(facts, level, as_of) == expected


@settings(max_examples=300)
@given(referral=referrals())
def test_flat_facts_count_what_each_concern_filter_selects(
    referral: dict[str, Any], kent: Rulebook, reference: FrontDoor
) -> None:
    """The engine's count fields are the distinct indicators and domains a filter selects."""
    compiled = compile_rulebook(kent)
    for facts, as_of in _children(reference, referral):
        fact = compiled.flatten(facts, as_of, level=3)
        for field, _ in compiled.count_fields:
            chosen = [c for c in facts.concerns if selected(c, compiled.filter_of[field])]
            assert fact[field] == len({c.indicator for c in chosen})
        for field, _ in compiled.domain_fields:
            chosen = [c for c in facts.concerns if selected(c, compiled.filter_of[field])]
            assert fact[field] == len({c.domain for c in chosen})
        assert fact["level"] == 3
        assert fact["step_up"] == (facts.open_level is not None and facts.open_level < 3)


def _reason(door: FrontDoor, rule: Rule, facts: ChildFacts, as_of: date) -> str:
    """The reason sentence as first written: labels of the concerns each filter selects (with
    their local choices), and the rule's source in force on the as-of date."""
    labels: dict[str, None] = {}
    for concern_filter in concern_filters(rule.when):
        for concern in facts.concerns:
            if selected(concern, concern_filter):
                indicator = door.rulebook.indicator_by_id[concern.indicator]
                labels.setdefault(concern_words(indicator), None)
    matched = f": {'; '.join(labels)}" if labels else ""
    return f"{rule.title}{matched}. Source: {cite(rule, as_of)} [rule {rule.id}]"


@settings(max_examples=300)
@given(referral=referrals())
def test_decisions_built_without_validation_equal_validated_ones(
    referral: dict[str, Any], reference: FrontDoor
) -> None:
    """Decisions are built from validated values; validating them again changes nothing, and
    the reasons are the sentences each fired rule gives for the child's concerns."""
    decisions = reference.route(referral)
    settled = reference.outcomes(reference.validate(referral))  # what-if's shortcut
    assert settled == tuple((d.level, d.route, d.flags) for d in decisions)
    for decision, (facts, as_of) in zip(decisions, _children(reference, referral), strict=True):
        again = Decision.model_validate(decision.model_dump())
        assert again == decision
        assert again.model_fields_set == decision.model_fields_set
        assert Decision.model_validate_json(decision.model_dump_json()) == decision
        rules = [reference.rulebook.rule_by_id[rule_id] for rule_id in decision.rules_fired]
        given_reasons = decision.reasons[len(decision.reasons) - len(rules) :]
        assert list(given_reasons) == [_reason(reference, rule, facts, as_of) for rule in rules]


def test_record_bodies_are_the_canonical_json_of_the_record(
    tmp_path: Path, durable: FrontDoor
) -> None:
    """The hand-built body is the canonical JSON of the model's own dump, for every kind."""
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    samples = list(simulate(20, seed=6))
    with DecisionLog(target, key=KEY) as log:
        returned = log.route_batch(durable, samples)
        written = log.record(
            durable, [durable.validate(s) for s in samples], returned, decided_by="tester"
        )
    store = open_store(target)
    try:
        stored = list(read_records(store))
    finally:
        store.close()
    assert [r.kind for r in stored[:2]] == ["rulebook_snapshot", "triage_decision"]
    # (`record` returns each record with the genesis `prev_hash`: the stores return no links.)
    read_back = [r.model_dump(exclude={"prev_hash"}) for r in stored[-len(written) :]]
    assert read_back == [r.model_dump(exclude={"prev_hash"}) for r in written]
    fields = set(DecisionRecordV1.model_fields)
    for record in [*stored, *written]:
        assert set(body_fields(record.__dict__)) | CHAIN_FIELDS == fields
        assert body_of(record) == canonical(
            record.model_dump(mode="json", exclude=set(CHAIN_FIELDS))
        )
        assert DecisionRecordV1.model_validate(record.model_dump()) == record


def _minimised_as_first_written(referral: Referral, pseudonym: Pseudonymiser) -> dict[str, Any]:
    """The minimised referral as first written: from the model's own dumps."""
    data = referral.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    data["concerns"] = referral.model_dump(mode="json")["concerns"]
    data["immediate_danger"] = referral.model_dump(mode="json")["immediate_danger"]
    data["referral_id"] = pseudonym(referral.referral_id)
    received = referral.received_on
    midnight = referral.received_at.replace(hour=0, minute=0, second=0, microsecond=0)
    data["received_at"] = referral.model_copy(update={"received_at": midnight}).model_dump(
        mode="json"
    )["received_at"]
    try:
        window = received.replace(year=received.year - 1)
    except ValueError:  # 29 February
        window = received.replace(year=received.year - 1, day=28)
    for child, original in zip(data["children"], referral.children, strict=True):
        child["child_id"] = pseudonym(original.child_id)
        if original.date_of_birth is not None:
            age = age_in_years(original.date_of_birth, referral.received_on)
            child["date_of_birth"] = birth_date_for_age(age, referral.received_on)
        if original.expected_date_of_birth is not None:
            child["expected_date_of_birth"] = received.isoformat()
        recent = [d for d in original.previous_referrals if window <= d <= received]
        child.pop("previous_referrals", None)
        if recent:
            child["previous_referrals"] = [received.isoformat()] * len(recent)
        if "open_involvement" in child:
            child["open_involvement"].pop("since", None)
    for concern in data["concerns"]:
        if concern.get("child_ids"):
            concern["child_ids"] = [pseudonym(child_id) for child_id in concern["child_ids"]]
    data.pop("detail", None)
    return data


@settings(max_examples=300)
@given(referral=referrals())
def test_minimised_referrals_and_decisions_equal_the_models_own_dumps(
    referral: dict[str, Any], reference: FrontDoor
) -> None:
    """The log's minimisation, written field by field, gives what the model dumps gave."""
    pseudonym = Pseudonymiser(KEY.encode())
    parsed = reference.validate({**referral, "detail": "synthetic free text"})
    expected = _minimised_as_first_written(parsed, pseudonym)
    assert minimise_referral(parsed, pseudonym)[0] == expected
    for decision in reference.route(parsed):
        dumped = decision.model_dump(mode="json")
        for key in ("decision_id", "referral_id", "child_id"):
            dumped[key] = pseudonym(dumped[key])
        assert minimise_decision(decision, pseudonym) == dumped


json_without_floats = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1000)
@given(value=json_without_floats)
def test_sorted_values_are_written_exactly_as_canonical_json(value: Any) -> None:
    """The record body's fast writer gives the canonical text, every escape included."""
    assert canonical_sorted(sorted_keys(value)) == canonical(value)


_LEAVES = st.sampled_from(
    [
        {"level": [1, 2]},
        {"level": 3},
        {"level": [3, 4]},
        {"concerns": {"level": 2, "min": 2}},
        {"concerns": {"level": 3}},
        {"domains": {"level": [2, 3], "min": 2}},
        {"age": {"min_years": 10}},
        {"consent": "refused"},
        {"immediate_danger": True},
        {"unborn": False},
        {"open_involvement": {"step_up": True}},
        {"open_involvement": {"open": False}},
        {"child_flags": ["disability", "send"]},
        {"referrals_last_12_months": {"min": 1}},
    ]
)
conditions = st.recursive(
    _LEAVES,
    lambda inner: (
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3))
        | st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3))
    ),
    max_leaves=8,
)
_CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


@settings(max_examples=300)
@given(data=conditions, referral=referrals())
def test_a_condition_specialised_to_a_level_means_what_it_meant_at_that_level(
    data: dict[str, Any], referral: dict[str, Any], reference: FrontDoor
) -> None:
    """`specialise` takes the decided level out of a condition without changing its meaning."""
    condition = _CONDITION.validate_python(data)
    for facts, _ in _children(reference, referral):
        for level in (1, 2, 3, 4):
            left = specialise(condition, level)
            meant = holds(condition, facts, level)
            assert (left if isinstance(left, bool) else holds(left, facts, level)) == meant


def _dated(kent: Rulebook) -> Rulebook:
    """Kent with its rules' dates spread out: rules start on five different days, and every
    third rule ends (Kent's own rules all start on one day and never end)."""
    data = kent.model_dump(mode="json")
    for index, rule in enumerate(data["rules"]):
        start = date(2018, 10, 1) + timedelta(days=400 * (index % 5))
        rule["effective_from"] = start.isoformat()
        if index % 3 == 0:
            rule["effective_to"] = (start + timedelta(days=900 + index)).isoformat()
    return Rulebook.model_validate(data)


@settings(max_examples=300)
@given(day=st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)))
def test_the_rules_in_force_by_period_are_the_rules_in_force_that_day(
    day: date, kent: Rulebook
) -> None:
    """The prepared rulebook's periods of constant rules in force give, for any day (and for
    each day on either side of every change), exactly the rules whose dates cover it."""
    for rulebook in (kent, _dated(kent)):
        prepared = rulebook.prepared
        rules = rulebook.rules
        edges = {r.effective_from for r in rules} | {
            r.effective_to for r in rules if r.effective_to is not None
        }
        for on in {day, *(e + timedelta(days=d) for e in edges for d in (-1, 0, 1))}:
            assert prepared.in_force(prepared.period(on)) == {r.id for r in rules if r.in_force(on)}


@settings(max_examples=200)
@given(referral=referrals(), day=st.dates(min_value=date(2018, 1, 1), max_value=date(2030, 1, 1)))
def test_the_compiled_evaluator_reads_the_rules_in_force_on_any_date(
    referral: dict[str, Any], day: date, kent: Rulebook, reference: FrontDoor
) -> None:
    """On a rulebook whose rules start and end on many days, the compiled evaluator finds the
    rules the reference finds, on any as-of date."""
    dated = _dated(kent)
    compiled, plain = CompiledEvaluator(dated), ReferenceEvaluator(dated)
    for facts, _ in _children(reference, referral):
        assert compiled.level_rules(facts, day) == plain.level_rules(facts, day)
        for level in (1, 2, 3, 4):
            assert compiled.route_rules(facts, level, day) == plain.route_rules(facts, level, day)


def test_a_prepared_rulebook_is_built_once_and_left_out_of_pickles(kent: Rulebook) -> None:
    """Every door and evaluator of one rulebook shares its one prepared form; a pickled
    rulebook (sent to a worker process) prepares itself again there."""
    assert FrontDoor(kent, engine="reference").prepared is kent.prepared
    assert CompiledEvaluator(kent).rulebook.prepared is kent.prepared
    again = pickle.loads(pickle.dumps(kent))
    assert again == kent
    assert "prepared" not in again.__dict__
    assert again.prepared is not kent.prepared
    assert again.prepared.level_of == kent.prepared.level_of
