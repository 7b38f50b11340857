"""The decision record (`DecisionRecordV1`), its canonical form and hash, and data minimisation.

A record is stored as three chain fields and a body:

    seq        1, 2, 3, ... with no gaps
    prev_hash  the previous record's hash (64 zeros before the first)
    hash       SHA-256 of  f"{seq}\\n{prev_hash}\\n{body}"  (UTF-8)
    body       the canonical JSON of everything else: keys sorted, no spaces, UTF-8

so verifying the chain needs no JSON parsing, and any edit, deletion, insertion or reordering
breaks the hash of that record or the link to the next one.

Minimisation: a referral is logged with `referral_id`, `child_id` and `child_ids`
pseudonymised by HMAC-SHA256 under the log's key; each `date_of_birth` replaced by the date
that gives the same age in whole years at receipt (all a rule can read); `detail` (free text)
removed unless the caller opts in. Replay needs nothing that was removed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from pydantic import AwareDatetime, Field, JsonValue, TypeAdapter
from pydantic_core import PydanticSerializationError, to_json

from triage._base import IsoDateTime, Model
from triage.decision import Decision, RulebookRef
from triage.facts import age_in_years, one_year_before
from triage.referral import Referral

GENESIS = "0" * 64


class RecordKind(StrEnum):
    RULEBOOK_SNAPSHOT = "rulebook_snapshot"
    PATHWAY_SNAPSHOT = "pathway_snapshot"
    TRIAGE_DECISION = "triage_decision"
    JOURNEY_TRANSITION = "journey_transition"
    TRIAGE_OUTCOME = "triage_outcome"  # a Front Door manager's outcome for one decision


class Privacy(Model):
    """What was done to personal data before the record was written."""

    pseudonymised: tuple[str, ...] = ()
    generalised: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class DecisionRecordV1(Model):
    """One entry of the decision log, as an auditor reads it."""

    v: Literal[1] = 1
    seq: int = Field(ge=1)
    record_id: str
    recorded_at: IsoDateTime
    kind: RecordKind
    input: dict[str, JsonValue] | None = Field(
        default=None, description="What replay needs: the minimised referral, as-of date, engine."
    )
    output: tuple[dict[str, JsonValue], ...] = Field(default=(), description="The decisions made.")
    rules_fired: tuple[tuple[str, ...], ...] = Field(default=(), description="Per decision.")
    rulebook: RulebookRef
    library_version: str
    decided_by: str | None = Field(
        default=None, description="Who decided, for practitioner actions."
    )
    privacy: Privacy = Privacy()
    snapshot: dict[str, JsonValue] | None = Field(
        default=None,
        description="For snapshot records: the whole rulebook, or the whole pathway.",
    )
    prev_hash: str
    hash: str


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text (not ASCII-escaped)."""
    # check_circular=False: the same text, without tracking every container (records are trees)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
    )


def canonical_sorted(value: Any) -> str:
    """`canonical(value)` for a value whose every dict already has its keys in sorted order and
    that holds no float (a decision record holds none; pydantic-core writes 1e-07 as 1e-7):
    pydantic-core writes it three times faster than `json.dumps`, with the same separators and
    escapes and text not ASCII-escaped (tests compare the two). Falls back to `canonical` for
    what pydantic-core refuses (a lone surrogate, which then fails as it always did)."""
    try:
        return to_json(value).decode()
    except PydanticSerializationError:
        return canonical(value)


def sorted_keys(value: Any) -> Any:
    """The JSON value with every dict's keys in sorted order, for `canonical_sorted`."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [sorted_keys(item) for item in value]
    return value


def chain_hash(seq: int, prev_hash: str, body: str) -> str:
    digest = hashlib.sha256(f"{seq}\n{prev_hash}\n".encode())
    digest.update(body.encode())  # the body is not copied into a joined string first
    return digest.hexdigest()


_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
CHAIN_FIELDS = frozenset({"seq", "prev_hash", "hash"})


def body_fields(values: dict[str, Any]) -> dict[str, Any]:
    """A record's field values (its `__dict__`) as `model_dump(mode="json")` gives them, without
    the chain fields, built by hand in sorted key order: `input`, `output` and `snapshot` hold
    JSON values already (that is their type), `rulebook` and `privacy` hold only strings and
    tuples of strings, and JSON writes tuples as lists. Several times faster than the dump; a
    test pins that the canonical JSON of the two is the same."""
    ref, privacy = values["rulebook"], values["privacy"]
    return {
        "decided_by": values["decided_by"],
        "input": values["input"],
        "kind": values["kind"].value,
        "library_version": values["library_version"],
        "output": values["output"],
        "privacy": {
            "generalised": privacy.generalised,
            "pseudonymised": privacy.pseudonymised,
            "removed": privacy.removed,
        },
        "record_id": values["record_id"],
        "recorded_at": _TIMESTAMP.dump_python(values["recorded_at"], mode="json"),
        "rulebook": {"fingerprint": ref.fingerprint, "id": ref.id, "version": ref.version},
        "rules_fired": values["rules_fired"],
        "snapshot": values["snapshot"],
        "v": values["v"],
    }


def body_of(record: DecisionRecordV1) -> str:
    return canonical(body_fields(record.__dict__))


def record_from(seq: int, prev_hash: str, hash_: str, body: str) -> DecisionRecordV1:
    return DecisionRecordV1.model_validate(
        {**json.loads(body), "seq": seq, "prev_hash": prev_hash, "hash": hash_}
    )


_RECENT = 4096


class Pseudonymiser:
    """Keyed, stable pseudonyms: the same id under the same key always gives the same pseudonym."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonymisation key must be at least 16 bytes")
        self._key = key
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)  # copied: the key is set up once
        # A record names its referral and children again in each decision: the recent
        # pseudonyms, kept (at most _RECENT) so that each is computed once per record.
        self._recent: dict[str, str] = {}

    def __call__(self, value: str) -> str:
        found = self._recent.get(value)
        if found is None:
            if len(self._recent) >= _RECENT:
                self._recent.clear()
            mac = self._keyed.copy()
            mac.update(value.encode())
            found = self._recent[value] = "p-" + mac.hexdigest()[:32]
        return found


def birth_date_for_age(age: int, received: date) -> str:
    try:
        return received.replace(year=received.year - age).isoformat()
    except ValueError:  # 29 February
        return received.replace(year=received.year - age, day=28).isoformat()


def minimise_referral(
    referral: Referral, pseudonym: Pseudonymiser, keep_detail: bool = False
) -> tuple[dict[str, Any], Privacy]:
    """The referral as logged: enough to replay, nothing more.

    A rule reads a child's age in whole years at receipt, whether the child is unborn, and how
    many previous referrals fall in the 12 months before receipt; timescales read the day of
    receipt. So the log keeps exactly that: each date of birth becomes the date that gives the
    same age at receipt, an expected date of birth the day of receipt, each previous referral
    in the window the day of receipt (older ones are dropped), the receipt time its day (at
    midnight, in its own offset); `since` of an open involvement is dropped, and so is the
    free-text `detail` unless the caller opts in."""
    data = referral.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    # Defaults are dropped for size, but the concerns are logged whole (with their child_ids,
    # the one field of a concern that has a default) and immediate_danger always.
    data["concerns"] = data.get("concerns", [])
    for concern in data["concerns"]:
        concern.setdefault("child_ids", [])
    data["immediate_danger"] = referral.immediate_danger
    data["referral_id"] = pseudonym(referral.referral_id)
    received = referral.received_on
    day = referral.received_at.replace(hour=0, minute=0, second=0, microsecond=0)
    generalised: list[str] = []
    removed: list[str] = []
    if day != referral.received_at:
        data["received_at"] = _TIMESTAMP.dump_python(day, mode="json")  # as the model writes it
        generalised.append("received_at")
    window_start = one_year_before(received)  # the window the facts count
    for child, original in zip(data["children"], referral.children, strict=True):
        child["child_id"] = pseudonym(original.child_id)
        if original.date_of_birth is not None:
            child["date_of_birth"] = birth_date_for_age(
                age_in_years(original.date_of_birth, received), received
            )
            generalised.append("children[].date_of_birth")
        if original.expected_date_of_birth is not None:
            child["expected_date_of_birth"] = received.isoformat()
            generalised.append("children[].expected_date_of_birth")
        if original.previous_referrals:
            recent = [d for d in original.previous_referrals if window_start <= d <= received]
            if recent:
                child["previous_referrals"] = [received.isoformat()] * len(recent)
                generalised.append("children[].previous_referrals[]")
            else:
                del child["previous_referrals"]
            if len(recent) < len(original.previous_referrals):
                removed.append("children[].previous_referrals[] (over 12 months before)")
        involvement = child.get("open_involvement")
        if involvement is not None and "since" in involvement:
            del involvement["since"]
            removed.append("children[].open_involvement.since")
    for concern in data["concerns"]:
        if concern.get("child_ids"):
            concern["child_ids"] = [pseudonym(child_id) for child_id in concern["child_ids"]]
    if "detail" in data and not keep_detail:
        del data["detail"]
        removed.append("detail")
    privacy = _referral_privacy(tuple(dict.fromkeys(generalised)), tuple(dict.fromkeys(removed)))
    return sorted_keys(data), privacy  # sorted: the record's body is written with to_json


@lru_cache(maxsize=128)
def _referral_privacy(generalised: tuple[str, ...], removed: tuple[str, ...]) -> Privacy:
    """A referral record's privacy note: one per combination, made once each (frozen models)."""
    return Privacy(
        pseudonymised=(
            "referral_id",
            "children[].child_id",
            "concerns[].child_ids[]",
            "output[].decision_id",
            "output[].referral_id",
            "output[].child_id",
        ),
        generalised=generalised,
        removed=removed,
    )


def minimise_decision(decision: Decision, pseudonym: Pseudonymiser) -> dict[str, Any]:
    """`decision.model_dump(mode="json")` with its ids pseudonymised, written out field by field
    in sorted key order (dates as ISO text, tuples as lists): the dump was most of the cost. A
    test pins that the two are equal."""
    ref = decision.rulebook
    return {
        "as_of": decision.as_of.isoformat(),
        "child_id": pseudonym(decision.child_id),
        "decision_id": pseudonym(decision.decision_id),
        "due_by": decision.due_by.isoformat(),
        "engine": decision.engine,
        "flags": list(decision.flags),
        "level": decision.level,
        "level_name": decision.level_name,
        "library_version": decision.library_version,
        "reasons": list(decision.reasons),
        "referral_id": pseudonym(decision.referral_id),
        "route": decision.route,
        "rulebook": {"fingerprint": ref.fingerprint, "id": ref.id, "version": ref.version},
        "rules_fired": list(decision.rules_fired),
        "urgency": decision.urgency,
    }


def now_utc() -> datetime:
    return datetime.now(UTC)
