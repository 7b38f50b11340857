"""triage: route children's services referrals on declarative thresholds.

```python
from triage import FrontDoor

door = FrontDoor()                    # the bundled Kent rulebook on durable_rules
for decision in door.route(referral_json):
    print(decision.route, decision.due_by, decision.reasons)
```
"""

from triage.compiled import CompiledEvaluator
from triage.decision import LIBRARY_VERSION, Decision, RulebookRef
from triage.editions import Edition, Editions, EditionsDoor, EditionsJourneys, load_editions
from triage.engine import FrontDoor
from triage.errors import (
    EngineFault,
    GraphvizMissing,
    InputError,
    InputNotJson,
    LogError,
    MoveRefused,
    OutcomeRefused,
    PathwayInvalid,
    Problem,
    ReferralInvalid,
    RulebookError,
    RulebookInvalid,
    RulebookNotFound,
    ScenarioInvalid,
    TriageError,
    UsageError,
)
from triage.evaluator import ENGINES, EngineName, Evaluator, make_evaluator
from triage.journey import JourneyEvent, Journeys, Override, PathwayRef, TransitionDecision
from triage.lint import Finding, lint_rulebook
from triage.loader import bundled_rules_dir, load_rulebook
from triage.pathway import PathwayGraph, load_pathway
from triage.reference import ReferenceEvaluator
from triage.referral import Child, Concern, OpenInvolvement, Referral, parse_referral
from triage.rulebook import Rulebook
from triage.simulation import simulate
from triage.workdays import add_working_days

__version__ = LIBRARY_VERSION

__all__ = [
    "ENGINES",
    "LIBRARY_VERSION",
    "Child",
    "CompiledEvaluator",
    "Concern",
    "Decision",
    "Edition",
    "Editions",
    "EditionsDoor",
    "EditionsJourneys",
    "EngineFault",
    "EngineName",
    "Evaluator",
    "Finding",
    "FrontDoor",
    "GraphvizMissing",
    "InputError",
    "InputNotJson",
    "JourneyEvent",
    "Journeys",
    "LogError",
    "MoveRefused",
    "OpenInvolvement",
    "OutcomeRefused",
    "Override",
    "PathwayGraph",
    "PathwayInvalid",
    "PathwayRef",
    "Problem",
    "ReferenceEvaluator",
    "Referral",
    "ReferralInvalid",
    "Rulebook",
    "RulebookError",
    "RulebookInvalid",
    "RulebookNotFound",
    "RulebookRef",
    "ScenarioInvalid",
    "TransitionDecision",
    "TriageError",
    "UsageError",
    "__version__",
    "add_working_days",
    "bundled_rules_dir",
    "lint_rulebook",
    "load_editions",
    "load_pathway",
    "load_rulebook",
    "make_evaluator",
    "parse_referral",
    "simulate",
]
