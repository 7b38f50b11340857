"""The decision log for auditors: tamper-evident records, faithful replay, threshold what-if.

Stores: JSON Lines (`x.jsonl`), SQLite (`sqlite:///x.sqlite`, the embedded default) and
PostgreSQL (`postgresql://...`, needs psycopg). See docs/decision-log.md.
"""

from triage.audit.log import KEY_VARIABLE, DecisionLog, read_records
from triage.audit.record import DecisionRecordV1, Privacy, RecordKind
from triage.audit.replay import ChildOutcome, ReplayReport, replay_log
from triage.audit.stores import JsonLinesStore, PostgresStore, SqliteStore, Store, open_store
from triage.audit.verify import Anchor, VerifyReport, verify_log, verify_store
from triage.audit.witness import Witness

__all__ = [
    "KEY_VARIABLE",
    "Anchor",
    "ChildOutcome",
    "DecisionLog",
    "DecisionRecordV1",
    "JsonLinesStore",
    "PostgresStore",
    "Privacy",
    "RecordKind",
    "ReplayReport",
    "SqliteStore",
    "Store",
    "VerifyReport",
    "Witness",
    "open_store",
    "read_records",
    "replay_log",
    "verify_log",
    "verify_store",
]
