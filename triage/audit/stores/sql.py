"""The SQL stores: one `SqlStore` and what differs per database (placeholders, table names, how
an append is serialised and how a consistent read is taken). Only this module imports psycopg.

| | SQLite (the embedded default) | PostgreSQL |
|---|---|---|
| tables | `records`, `head` | `triage_records`, `triage_head` |
| append lock | `BEGIN IMMEDIATE` (WAL journal, `synchronous=FULL`) | an advisory transaction lock |
| consistent read | one read transaction (WAL snapshot) | one `REPEATABLE READ` transaction |

The head moves in the same transaction as the records it names, so in any consistent read the
head names the last record.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

from triage.audit.chain import GENESIS, SNAPSHOT_KIND, Genesis
from triage.audit.stores._base import (
    HIGHEST,
    LOWEST,
    Check,
    Pending,
    Row,
    Span,
    TornTail,
    View,
    batch_of,
    chain_batch,
    check_span_size,
    first_record_genesis,
    placed,
    snapshot_fingerprint,
)
from triage.errors import LogError, UsageError

_COLUMNS = "seq, prev_hash, hash, kind, fingerprint, body"


def _row(values: Sequence[Any], position: int) -> Row:
    seq, prev, digest, kind, fingerprint, body = values
    # A value of another type than the store writes (a body stored as a BLOB, say) was put
    # there by hand: read it as text, and fail the record.
    exact = all(isinstance(v, str) for v in (prev, digest, kind, body)) and (
        fingerprint is None or isinstance(fingerprint, str)
    )
    text = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values[1:]]
    return Row(
        int(seq), str(text[0]), str(text[1]), str(text[2]),
        None if text[3] is None else str(text[3]), str(text[4]), position, exact,
    )  # fmt: skip


class SqlStore(ABC):
    """A decision log in two tables. Subclasses say how to talk to their database."""

    RECORDS: ClassVar[str]
    HEAD: ClassVar[str]
    P: ClassVar[str]  # the parameter placeholder
    crash_leaves_unanchored = False  # the head moves in the records' transaction

    target: str

    def __init__(self) -> None:
        self._genesis: Genesis | None = None

    # -- what each database does its own way --------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]: ...

    @abstractmethod
    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]: ...

    @abstractmethod
    def _writing(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def _reading(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- shared ---------------------------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text.format(records=self.RECORDS, head=self.HEAD, p=self.P, columns=_COLUMNS)

    def _create(self) -> None:
        self._execute(
            self._sql(
                "CREATE TABLE IF NOT EXISTS {records} (seq BIGINT PRIMARY KEY,"
                " prev_hash TEXT NOT NULL, hash TEXT NOT NULL, kind TEXT NOT NULL,"
                " fingerprint TEXT, body TEXT NOT NULL)"
            )
        )
        self._execute(
            self._sql(
                "CREATE TABLE IF NOT EXISTS {head} (id INTEGER PRIMARY KEY CHECK (id = 1),"
                " seq BIGINT NOT NULL, hash TEXT NOT NULL)"
            )
        )
        self._execute(
            self._sql(
                "CREATE INDEX IF NOT EXISTS {records}_snapshots ON {records} (fingerprint)"
                " WHERE fingerprint IS NOT NULL"
            )
        )

    def genesis(self) -> Genesis | None:
        if self._genesis is None:
            found = self._execute(self._sql("SELECT {columns} FROM {records} ORDER BY seq LIMIT 1"))
            self._genesis = first_record_genesis(self.target, _row(found[0], 1) if found else None)
        return self._genesis

    def append(
        self,
        pending: Sequence[Pending],
        snapshots: Sequence[Pending] = (),
        genesis: Pending | None = None,
        check: Check | None = None,
    ) -> list[tuple[int, str]]:
        with self._writing():
            found = self._execute(self._sql("SELECT seq, hash FROM {head} WHERE id = 1"))
            last = (int(found[0][0]), str(found[0][1])) if found else (0, GENESIS)
            if check is not None:
                check(last[0])
            query = self._sql("SELECT 1 FROM {records} WHERE fingerprint = {p} LIMIT 1")
            new = [s for s in snapshots if not self._execute(query, (s.fingerprint,))]
            stored = None if last[0] == 0 else self.genesis()
            log_id, batch = batch_of(self.target, stored, pending, new, genesis)
            chained = chain_batch(log_id, last, batch)
            self._insert(
                [(s, p, h, i.kind, snapshot_fingerprint(i), i.body) for s, p, h, i in chained]
            )
            if chained:
                self._execute(
                    self._sql(
                        "INSERT INTO {head} (id, seq, hash) VALUES (1, {p}, {p})"
                        " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"
                    ),
                    (chained[-1][0], chained[-1][2]),
                )
        return placed(chained, pending)

    @abstractmethod
    def _insert(self, rows: list[tuple[Any, ...]]) -> None: ...

    def rows(self, first: int | None = None, last: int | None = None) -> Iterator[Row]:
        if first is None and last is None:
            query = self._sql("SELECT {columns} FROM {records} ORDER BY seq")
            params: tuple[int, ...] = ()
        else:
            query = self._sql(
                "SELECT {columns} FROM {records} WHERE seq BETWEEN {p} AND {p} ORDER BY seq"
            )
            params = (LOWEST if first is None else first, HIGHEST if last is None else last)
        for position, values in enumerate(self._stream(query, params), start=1):
            yield _row(values, position)

    @contextmanager
    def view(self) -> Iterator[View]:
        with self._reading():
            yield View(self.head(), self.rows(), None)

    def spans(self, size: int) -> Iterator[Span]:
        # From the stored seqs, not the head, which records can follow (a tampered head). Two
        # subqueries: SQLite finds MIN and MAX of the primary key in one step each only when
        # each is alone in its query.
        check_span_size(size)
        low, high = self._execute(
            self._sql("SELECT (SELECT MIN(seq) FROM {records}), (SELECT MAX(seq) FROM {records})")
        )[0]
        query = self._sql(
            "SELECT seq FROM {records} WHERE seq > {p} AND seq <= {p} ORDER BY seq"
            " LIMIT 1 OFFSET {p}"
        )

        def after(start: int) -> int | None:
            found = self._execute(query, (start, high, size - 1))
            return None if not found else int(found[0][0])

        return _seq_spans(low, high, after)

    def span_rows(self, span: Span) -> Iterator[Row]:
        return self.rows(span.start, span.stop - 1)

    def head(self) -> tuple[int, str] | None:
        found = self._execute(self._sql("SELECT seq, hash FROM {head} WHERE id = 1"))
        return None if not found else (int(found[0][0]), str(found[0][1]))

    def snapshot(self, fingerprint: str, kind: str = SNAPSHOT_KIND) -> str | None:
        found = self._execute(
            self._sql(
                "SELECT body FROM {records} WHERE fingerprint = {p} AND kind = {p}"
                " ORDER BY seq LIMIT 1"
            ),
            (fingerprint, kind),
        )
        return None if not found else str(found[0][0])

    def torn_tail(self) -> TornTail | None:
        return None

    @abstractmethod
    def _has_log(self) -> bool: ...


def _seq_spans(
    low: int | None, high: int | None, after: Callable[[int], int | None]
) -> Iterator[Span]:
    """Spans of the stored seqs from `low` to `high` (none for an empty log): `after(start)`
    is the stored seq a span's size of records after `start` (None past the end), found
    through the primary key. Cut from the records themselves, not from the range of their
    seqs, so that a gap (a record with a huge seq, say) makes no empty jobs. Every stored
    record up to `high` is in one span, however the seqs run."""
    if low is None or high is None:
        return
    start: int | None = int(low)
    while start is not None:
        following = after(start)
        yield Span(start, int(high) + 1 if following is None else following)
        start = following


class SqliteStore(SqlStore):
    """One file, WAL journal, `synchronous=FULL`, appends under `BEGIN IMMEDIATE`."""

    RECORDS, HEAD, P = "records", "head", "?"

    def __init__(self, path: Path, create: bool = True) -> None:
        super().__init__()
        self.target = f"sqlite:///{path}"
        self.path = path
        if path.is_dir():
            raise LogError(self.target, "this is a directory, not a database file")
        if not create and not path.is_file():
            raise LogError(self.target, "there is no log here")
        if create and not path.parent.is_dir():
            raise LogError(self.target, "its folder does not exist")
        try:
            self._db = sqlite3.connect(
                path, isolation_level=None, timeout=120, check_same_thread=False
            )
            if create:
                # A new log gets 16 KiB pages (an existing one keeps its own): a decision
                # record is about 4 KB, which spills out of a 4 KiB page into overflow pages
                # and made reading the log (verify, replay) about a third slower.
                self._db.execute("PRAGMA page_size=16384")
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            if create:
                with self._writing():
                    self._create()
            elif not self._has_log():
                raise LogError(self.target, "this database holds no decision log")
        except sqlite3.Error as error:
            raise _log_error(self.target, error) from None

    def _has_log(self) -> bool:
        return bool(
            self._execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'")
        )

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise _log_error(self.target, error) from None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        try:
            yield from self._db.execute(sql, params)
        except sqlite3.Error as error:
            raise _log_error(self.target, error) from None

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        insert = self._sql("INSERT INTO {records} ({columns}) VALUES (?, ?, ?, ?, ?, ?)")
        self._db.executemany(insert, rows)

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[None]:
        try:
            self._db.execute(begin)
            yield
            self._db.execute("COMMIT")
        except BaseException as error:
            # SQLite may have rolled back already (SQLITE_FULL does): keep the real error.
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise _log_error(self.target, error) from None
            raise

    def _writing(self) -> AbstractContextManager[None]:
        return self._transaction("BEGIN IMMEDIATE")

    def _reading(self) -> AbstractContextManager[None]:
        return self._transaction("BEGIN")

    def close(self) -> None:
        self._db.close()


def _log_error(target: str, error: Exception) -> LogError:
    # The database's own words (e.g. "database or disk is full"): they name no case data.
    words = str(error).splitlines()[0] if str(error) else type(error).__name__
    return LogError(target, f"the database refused: {words[:200]}")


_PG_LOCK = 7_310_221_804  # an arbitrary constant: the advisory lock that serialises appends


class PostgresStore(SqlStore):
    """PostgreSQL through psycopg 3: tables `triage_records` and `triage_head`."""

    RECORDS, HEAD, P = "triage_records", "triage_head", "%s"

    def __init__(self, url: str, create: bool = True) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError:
            raise UsageError(
                "a postgresql:// log needs psycopg: pip install 'frontdoor-triage[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.target = url
        try:
            self._db = psycopg.connect(url, autocommit=False)
        except psycopg.Error as error:
            raise _log_error(_safe_url(url), error) from None
        if create:
            with self._writing():
                self._create()
        elif not self._has_log():
            self._db.close()
            raise LogError(self.target, "this database holds no decision log")

    def _has_log(self) -> bool:
        found = self._execute("SELECT to_regclass('triage_records') IS NOT NULL")
        return bool(found[0][0])

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        try:
            cursor = self._db.execute(sql, params)
            found: list[Sequence[Any]] = (
                list(cursor.fetchall()) if cursor.description is not None else []
            )
            intrans = self._db.info.transaction_status == self._psycopg.pq.TransactionStatus.INTRANS
            if intrans and not self._in_transaction:
                self._db.commit()
            return found
        except self._psycopg.Error as error:
            raise _log_error(self.target, error) from None

    _in_transaction = False

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        try:
            with self._db.cursor(name="triage_rows") as cursor:  # server-side: constant memory
                cursor.itersize = 5000
                cursor.execute(sql, params)
                yield from cursor
            if not self._in_transaction:
                self._db.commit()
        except self._psycopg.Error as error:
            raise _log_error(self.target, error) from None

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(
                self._sql("INSERT INTO {records} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)"), rows
            )

    @contextmanager
    def _transaction(self, first: str, params: Sequence[Any] = ()) -> Iterator[None]:
        try:
            with self._db.transaction():
                self._in_transaction = True
                try:
                    self._db.execute(first, params)
                    yield
                finally:
                    self._in_transaction = False
        except self._psycopg.Error as error:
            raise _log_error(self.target, error) from None

    def _writing(self) -> AbstractContextManager[None]:
        return self._transaction("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK,))

    def _reading(self) -> AbstractContextManager[None]:
        return self._transaction("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def close(self) -> None:
        self._db.close()


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{tail}"
