"""Every error of triage survives pickling whole: a worker process can send it to its parent."""

from __future__ import annotations

import pickle

import pytest

from triage import errors
from triage.errors import Problem, TriageError

PROBLEM = Problem("children[0].consent", "not one of the valid values", "maybe", ("given",))
SAMPLES: list[TriageError] = [
    errors.TriageError("a message"),
    errors.InputError("a message"),
    errors.InputNotJson("the referral", 3, 7, "Expecting value"),
    errors.ReferralInvalid([PROBLEM], "the referral"),
    errors.RulebookError("a message"),
    errors.RulebookNotFound("/rules/none", "no rulebook.yaml"),
    errors.RulebookInvalid([PROBLEM], "rules/kent"),
    errors.PathwayInvalid([PROBLEM]),
    errors.ScenarioInvalid([PROBLEM, PROBLEM], "two scenarios"),
    errors.MoveRefused("early_help", "cp_plan", "no such edge", ("taf",)),
    errors.OutcomeRefused("the decision already has an outcome", ("accepted",)),
    errors.GraphvizMissing("svg", "dot not found"),
    errors.EngineFault("durable", "a rule action failed"),
    errors.LogError("sqlite:///log.sqlite", "torn tail at byte 12"),
    errors.UsageError("unknown engine 'fast'"),
]


def _every_error_class(base: type[TriageError] = TriageError) -> set[type[TriageError]]:
    found = {base}
    for child in base.__subclasses__():
        found |= _every_error_class(child)
    return {cls for cls in found if not cls.__name__.startswith("_")}


def test_every_error_class_has_a_sample() -> None:
    assert {type(error) for error in SAMPLES} == _every_error_class()


@pytest.mark.parametrize("error", SAMPLES, ids=lambda error: type(error).__name__)
def test_an_error_is_the_same_after_pickling(error: TriageError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert copy.code == error.code
    assert copy.__dict__ == error.__dict__
