"""One logged record, as the practitioner saw it: `triage show LOG SEQ|DECISION_ID`.

An auditor who has a decision id from the case system finds its record by the id's pseudonym
under the log's key (the log never holds the id itself); one who has a seq, from `verify` or
`replay`, finds it by that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from triage.audit.chain import GENESIS_KIND
from triage.audit.record import DecisionRecordV1, Pseudonymiser, record_from
from triage.audit.stores import Store, open_store
from triage.errors import LogError, UsageError


def find_record(store: Store, which: str, key: bytes | None = None) -> DecisionRecordV1:
    """The record with seq `which` (digits), or the decision record holding decision
    `which`: a pseudonym (`p-...`) as logged, or the case system's id when `key` is given."""
    if which.isdigit():
        seq = int(which)
        for row in store.rows(seq, seq):
            if row.kind == GENESIS_KIND:
                raise UsageError(f"seq {seq} is the log's genesis record, not a decision")
            return record_from(row.seq, row.prev_hash, row.hash, row.body)
        raise LogError(store.target, f"there is no record with seq {seq}")
    if which.startswith("p-"):
        pseudonym = which
    elif key is None:
        raise UsageError(
            "a decision id is found by its pseudonym: set TRIAGE_LOG_KEY to the log's key, "
            "or give the pseudonym (p-...) or the record's seq"
        )
    else:
        pseudonym = Pseudonymiser(key)(which)
    needle = f'"decision_id":"{pseudonym}"'
    for row in store.rows():
        if row.kind == "triage_decision" and needle in row.body:
            return record_from(row.seq, row.prev_hash, row.hash, row.body)
    raise LogError(store.target, "no decision record holds that decision id")


def show_record(target: str | Path, which: str, key: bytes | None = None) -> DecisionRecordV1:
    store = open_store(target)
    try:
        return find_record(store, which, key)
    finally:
        store.close()


def render_record(record: DecisionRecordV1) -> str:
    """A record in plain words: what the Front Door was told and what the rules decided."""
    ref = record.rulebook
    lines = [
        f"record seq {record.seq}: {record.kind.value}, recorded {record.recorded_at.isoformat()}",
        f"rulebook {ref.id} {ref.version} (fingerprint {ref.fingerprint[:12]}), "
        f"library {record.library_version}",
    ]
    if record.kind.value == "rulebook_snapshot":
        rules = (record.snapshot or {}).get("rules", [])
        lines.append(f"a snapshot of the whole rulebook: {len(rules)} rules")  # type: ignore[arg-type]
        return "\n".join(lines)
    given: dict[str, Any] = dict(record.input or {})
    lines.append(f"engine {given.get('engine')}, as of {given.get('as_of') or 'the receipt date'}")
    referral = given.get("referral") or given.get("event")
    if isinstance(referral, dict):
        lines.append("what was logged of the input (minimised):")
        lines.extend("  " + line for line in json.dumps(referral, indent=2).splitlines())
    for decision in record.output:
        lines.append("")
        level = decision.get("level")
        name = decision.get("level_name") or ""
        head = f"child {decision.get('child_id')}: "
        if "route" in decision:
            head += f"level {level} {name}".rstrip() if level is not None else "level not decided"
            head += f" -> {decision.get('route')}, {decision.get('urgency')}"
            head += f", due {decision.get('due_by')}"
        else:
            moved = f"{decision.get('from_service')} -> {decision.get('to_service')}"
            head += f"{decision.get('kind')}: {moved}"
        lines.append(head)
        rules = decision.get("rules_fired") or []
        lines.append(f"  rules fired: {', '.join(map(str, rules)) if rules else 'none'}")  # type: ignore[arg-type]
        flags = decision.get("flags") or []
        if flags:
            lines.append(f"  flags: {', '.join(map(str, flags))}")  # type: ignore[arg-type]
        reasons = decision.get("reasons") or []
        if reasons:
            lines.append("  why:")
            lines.extend(f"   - {reason}" for reason in reasons)  # type: ignore[union-attr]
    if record.decided_by:
        lines.append(f"\ndecided by {record.decided_by}")
    privacy = record.privacy
    lines.append(
        "\nprivacy: pseudonymised "
        + ", ".join(privacy.pseudonymised)
        + ("; generalised " + ", ".join(privacy.generalised) if privacy.generalised else "")
        + ("; removed " + ", ".join(privacy.removed) if privacy.removed else "")
    )
    return "\n".join(lines)
