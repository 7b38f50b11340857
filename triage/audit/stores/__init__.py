"""Three stores with one behaviour: JSON Lines, SQLite (the embedded default), PostgreSQL.

Every store appends a batch atomically under a writer lock (a file lock, SQLite's `BEGIN
IMMEDIATE`, a PostgreSQL advisory lock), assigns sequence numbers and hashes inside that lock so
that several processes writing to one log keep one valid chain, writes the log's genesis record
first and a rulebook snapshot the first time a fingerprint is used, and keeps a *head* (last seq
and hash) so that a truncated log is detected. `view` reads the head and the records as of one
moment, so a log that is being written verifies.

Reading can be split between processes: `spans` cuts the log into consecutive spans, each
described in a few bytes, and any process that opens the same log reads one back with
`span_rows`. A span is a seq range for the SQL stores (the primary key finds it) and a byte range
for JSON Lines (a seek finds it, and the file's order is kept whatever the seqs say).
"""

from __future__ import annotations

from pathlib import Path

from triage.audit.stores._base import Check, Pending, Row, Span, Store, TornTail, View
from triage.audit.stores.jsonl import JsonLinesStore
from triage.audit.stores.sql import PostgresStore, SqliteStore
from triage.errors import UsageError

__all__ = [
    "Check",
    "JsonLinesStore",
    "Pending",
    "PostgresStore",
    "Row",
    "Span",
    "SqliteStore",
    "Store",
    "TornTail",
    "View",
    "open_store",
]


def open_store(target: str | Path, create: bool = False) -> Store:
    """`x.jsonl`, `sqlite:///path` (or a path ending .sqlite/.db), or a `postgresql://` URL.

    Only a writer passes `create=True`: reading a log that does not exist is a `LogError`
    ("there is no log here"), and creates nothing."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text, create)
    if text.startswith("sqlite:///"):
        return SqliteStore(Path(text.removeprefix("sqlite:///")), create)
    path = Path(text)
    if path.suffix == ".jsonl":
        return JsonLinesStore(path, create)
    if path.suffix in {".sqlite", ".sqlite3", ".db"}:
        return SqliteStore(path, create)
    raise UsageError(
        f"cannot tell the kind of log {text!r}; "
        "use a .jsonl path, sqlite:///path or a postgresql:// URL"
    )
