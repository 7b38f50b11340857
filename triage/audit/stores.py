"""Three stores with one behaviour: JSON Lines, SQLite (the embedded default), PostgreSQL.

Every store appends a batch atomically under a writer lock (a file lock, SQLite's `BEGIN
IMMEDIATE`, a PostgreSQL advisory lock), assigns sequence numbers and hashes inside that lock so
that several processes writing to one log keep one valid chain, writes a rulebook snapshot in the
same batch the first time a fingerprint is used, and keeps a *head* (last seq and hash) so that a
truncated log is detected. Only this module imports psycopg.

Reading can be split between processes: `spans` cuts the log into consecutive spans, each
described in a few bytes, and any process that opens the same log reads one back with
`span_rows`. A span is a seq range for the SQL stores (the primary key finds it) and a byte range
for JSON Lines (a seek finds it, and the file's order is kept whatever the seqs say).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol

from triage.audit.record import GENESIS, chain_hash
from triage.errors import LogError, UsageError

SNAPSHOT = "rulebook_snapshot"
# The widest seq range (SQLite and PostgreSQL BIGINT are 64-bit): an open end of a range read
# `rows(first, last)` becomes one of these.
_LOWEST: Final = -(2**63)
_HIGHEST: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Pending:
    """A record body waiting for its place in the chain."""

    kind: str
    body: str
    fingerprint: str | None = None


class Row(NamedTuple):
    """One stored record. A named tuple: verify makes one per record, and this is the cheapest
    immutable record to make."""

    seq: int
    prev_hash: str
    hash: str
    body: str
    # 1-based place among the rows of this read: in a whole read, the place in storage order
    # (a line number for JSON Lines)
    position: int


class Span(NamedTuple):
    """Consecutive records of one log, described small enough to send to another process:
    from `start` up to but not including `stop`, in the store's own unit (seq for SQLite and
    PostgreSQL, a byte offset in the file for JSON Lines)."""

    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class TornTail:
    """Bytes after the last complete line of a JSON Lines log: a write cut short."""

    offset: int
    length: int


class Store(Protocol):
    target: str

    def append(
        self, pending: Sequence[Pending], snapshot: Pending | None = None
    ) -> list[tuple[int, str]]:
        """Append atomically; the snapshot first if its fingerprint is not stored yet."""
        ...

    def rows(self, first: int | None = None, last: int | None = None) -> Iterator[Row]:
        """The records with `first <= seq <= last` (an end left open when None: every record
        by default), in storage order."""
        ...

    def spans(self, size: int) -> Iterator[Span]:
        """The log as it is now in consecutive spans of at most `size` records that together
        hold each record once, in storage order (records appended later are in none)."""
        ...

    def span_rows(self, span: Span) -> Iterator[Row]:
        """The records of one span made by `spans` (in this process or another), in storage
        order."""
        ...

    def head(self) -> tuple[int, str] | None: ...

    def snapshot(self, fingerprint: str) -> str | None:
        """The body of the snapshot record of a rulebook, if stored."""
        ...

    def torn_tail(self) -> TornTail | None: ...

    def close(self) -> None: ...


def _chain(
    last: tuple[int, str], pending: Sequence[Pending]
) -> list[tuple[int, str, str, Pending]]:
    seq, prev = last
    out = []
    for item in pending:
        seq += 1
        digest = chain_hash(seq, prev, item.body)
        out.append((seq, prev, digest, item))
        prev = digest
    return out


# -- JSON Lines ------------------------------------------------------------------------------

_PREFIX = '{"seq":'
_RECORD = ',"record":'


def _line(seq: int, prev: str, digest: str, body: str) -> str:
    return f'{_PREFIX}{seq},"prev_hash":"{prev}","hash":"{digest}"{_RECORD}{body}}}\n'


def _parse_line(line: str, position: int) -> Row | None:
    """A stored line (ending `}\n`), or None when it is not in the stored shape."""
    try:
        cut = line.index(_RECORD)
        head = json.loads(line[:cut] + "}")
        return Row(
            int(head["seq"]),
            str(head["prev_hash"]),
            str(head["hash"]),
            line[cut + len(_RECORD) : -2],
            position,
        )
    except (ValueError, KeyError, TypeError):
        return None


_BLOCK = 1 << 20  # bytes read at a time when cutting a file into spans


def _read_lines(lines: Iterable[str]) -> Iterator[Row]:
    for position, line in enumerate(lines, start=1):
        if not line.endswith("\n"):
            return  # a torn tail: reported by torn_tail(), never read as a record
        row = _parse_line(line, position)
        yield row if row is not None else Row(-1, "", "", line, position)


class JsonLinesStore:
    """An append-only file; each batch is flushed and fsynced; `<file>.head` holds the head."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = str(path)
        self.head_path = path.with_name(path.name + ".head")
        self._fingerprints: set[str] | None = None

    def _last(self, handle: Any) -> tuple[int, str]:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return 0, GENESIS
        window = min(size, 1 << 20)
        handle.seek(size - window)
        tail = handle.read(window).decode("utf-8", errors="replace")
        if not tail.endswith("\n"):
            raise LogError(
                self.target,
                "the last line is incomplete (a write was cut short); "
                "run `triage verify` and move the torn bytes aside before appending",
            )
        last = tail[:-1].rsplit("\n", 1)[-1]
        row = _parse_line(last + "\n", 0)
        if row is None:
            raise LogError(self.target, "the last line is not a record; run `triage verify`")
        return row.seq, row.hash

    def _known(self) -> set[str]:
        if self._fingerprints is None:
            self._fingerprints = set()
            for row in self.rows():
                if '"kind":"rulebook_snapshot"' in row.body:
                    self._fingerprints.add(json.loads(row.body)["rulebook"]["fingerprint"])
        return self._fingerprints

    def append(
        self, pending: Sequence[Pending], snapshot: Pending | None = None
    ) -> list[tuple[int, str]]:
        known = self._known() if snapshot is not None else set()
        with self.path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                last = self._last(handle)
                batch = list(pending)
                if snapshot is not None and snapshot.fingerprint not in known:
                    batch.insert(0, snapshot)
                chained = _chain(last, batch)
                handle.seek(0, os.SEEK_END)
                handle.write(
                    "".join(_line(s, p, h, item.body) for s, p, h, item in chained).encode()
                )
                handle.flush()
                os.fsync(handle.fileno())
                if chained:
                    self._write_head(chained[-1][0], chained[-1][2])
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        if snapshot is not None and snapshot.fingerprint:
            known.add(snapshot.fingerprint)
        return [(s, h) for s, _, h, item in chained if item is not snapshot]

    def _write_head(self, seq: int, digest: str) -> None:
        temporary = self.head_path.with_name(self.head_path.name + ".tmp")
        temporary.write_text(json.dumps({"seq": seq, "hash": digest}), encoding="utf-8")
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        temporary.replace(self.head_path)

    def rows(self, first: int | None = None, last: int | None = None) -> Iterator[Row]:
        if not self.path.exists():
            return
        # Bytes that are not UTF-8 read as U+FFFD: a torn tail cut inside a character is then
        # reported as a torn tail, and a stored line with such bytes fails its hash (altered).
        with self.path.open("r", encoding="utf-8", errors="replace", newline="\n") as handle:
            if first is None and last is None:
                yield from _read_lines(handle)
                return
            # The file's order is not checked here (verify does that), so a range is read by
            # filtering every line; replay reads spans instead, which a seek finds.
            low, high = _LOWEST if first is None else first, _HIGHEST if last is None else last
            position = 0
            for row in _read_lines(handle):
                if low <= row.seq <= high:
                    position += 1
                    yield row._replace(position=position)

    def spans(self, size: int) -> Iterator[Span]:
        """Spans of `size` lines, found by counting newlines (no line is parsed), up to the last
        complete line of the file as it is now (a torn tail is in none, as in `rows`)."""
        _check_span_size(size)
        return self._spans(size) if self.path.exists() else iter(())

    def _spans(self, size: int) -> Iterator[Span]:
        end = self.path.stat().st_size
        start = offset = complete = 0  # the span's start, the block's, the last line's end
        lines = 0  # complete lines since `start`
        while offset < end:
            # Opened per block: no file stays open while the caller holds this generator.
            with self.path.open("rb") as handle:
                handle.seek(offset)
                block = handle.read(min(_BLOCK, end - offset))
            if not block:
                break  # the file shrank
            count = block.count(b"\n")
            at = 0
            while lines + count >= size:  # a span ends inside this block
                for _ in range(size - lines):
                    at = block.index(b"\n", at) + 1
                count -= size - lines
                yield Span(start, offset + at)
                start, lines = offset + at, 0
            if count:
                complete = offset + block.rindex(b"\n") + 1
            lines += count
            offset += len(block)
        if lines:
            yield Span(start, complete)

    def span_rows(self, span: Span) -> Iterator[Row]:
        with self.path.open("rb") as handle:
            handle.seek(span.start)
            text = handle.read(span.stop - span.start).decode("utf-8", errors="replace")
        yield from _read_lines(io.StringIO(text, newline="\n"))

    def head(self) -> tuple[int, str] | None:
        if not self.head_path.exists():
            return None
        data = json.loads(self.head_path.read_text(encoding="utf-8"))
        return int(data["seq"]), str(data["hash"])

    def snapshot(self, fingerprint: str) -> str | None:
        for row in self.rows():
            if (
                '"kind":"rulebook_snapshot"' in row.body
                and fingerprint in row.body
                and json.loads(row.body)["rulebook"]["fingerprint"] == fingerprint
            ):
                return row.body
        return None

    def torn_tail(self) -> TornTail | None:
        if not self.path.exists():
            return None
        size = self.path.stat().st_size
        with self.path.open("rb") as handle:
            window = min(size, 1 << 20)
            handle.seek(size - window)
            tail = handle.read(window)
        if not tail or tail.endswith(b"\n"):
            return None
        cut = tail.rfind(b"\n")
        length = window - (cut + 1)
        return TornTail(size - length, length)

    def close(self) -> None:
        return None


# -- SQL (SQLite and PostgreSQL share the statements' shape) ---------------------------------


class SqliteStore:
    """The embedded default: one file, WAL journal, `synchronous=FULL`, `BEGIN IMMEDIATE`."""

    def __init__(self, path: Path) -> None:
        self.target = f"sqlite:///{path}"
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=120, check_same_thread=False)
        # A new log gets 16 KiB pages (an existing one keeps its own; SQLite ignores this then):
        # a decision record is about 4 KB, which spills out of a 4 KiB page into overflow pages
        # and made reading the log (verify, replay) about a third slower.
        self._db.execute("PRAGMA page_size=16384")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY,"
                " prev_hash TEXT NOT NULL,"
                " hash TEXT NOT NULL, kind TEXT NOT NULL, fingerprint TEXT, body TEXT NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1),"
                " seq INTEGER NOT NULL, hash TEXT NOT NULL)"
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS snapshots ON records (fingerprint)"
                " WHERE fingerprint IS NOT NULL"
            )
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise

    def append(
        self, pending: Sequence[Pending], snapshot: Pending | None = None
    ) -> list[tuple[int, str]]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
            last = (row[0], row[1]) if row else (0, GENESIS)
            batch = list(pending)
            if (
                snapshot is not None
                and not db.execute(
                    "SELECT 1 FROM records WHERE fingerprint = ? LIMIT 1", (snapshot.fingerprint,)
                ).fetchone()
            ):
                batch.insert(0, snapshot)
            chained = _chain(last, batch)
            db.executemany(
                "INSERT INTO records (seq, prev_hash, hash, kind, fingerprint, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        s,
                        p,
                        h,
                        item.kind,
                        item.fingerprint if item.kind == SNAPSHOT else None,
                        item.body,
                    )
                    for s, p, h, item in chained
                ],
            )
            if chained:
                db.execute(
                    "INSERT INTO head (id, seq, hash) VALUES (1, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    (chained[-1][0], chained[-1][2]),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [(s, h) for s, _, h, item in chained if item is not snapshot]

    def rows(self, first: int | None = None, last: int | None = None) -> Iterator[Row]:
        if first is None and last is None:  # verify's read, as it was
            cursor = self._db.execute("SELECT seq, prev_hash, hash, body FROM records ORDER BY seq")
        else:
            cursor = self._db.execute(
                "SELECT seq, prev_hash, hash, body FROM records WHERE seq BETWEEN ? AND ?"
                " ORDER BY seq",
                _bounds(first, last),
            )
        for position, (seq, prev, digest, body) in enumerate(cursor, start=1):
            yield Row(seq, prev, digest, body, position)

    def spans(self, size: int) -> Iterator[Span]:
        # From the stored seqs, not the head, which records can follow (a tampered head). Two
        # subqueries: SQLite finds MIN and MAX of the primary key in one step each only when
        # each is alone in its query.
        _check_span_size(size)
        low, high = self._db.execute(
            "SELECT (SELECT MIN(seq) FROM records), (SELECT MAX(seq) FROM records)"
        ).fetchone()

        def after(start: int) -> int | None:
            row = self._db.execute(
                "SELECT seq FROM records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 1 OFFSET ?",
                (start, high, size - 1),
            ).fetchone()
            return None if row is None else int(row[0])

        return _seq_spans(low, high, after)

    def span_rows(self, span: Span) -> Iterator[Row]:
        return self.rows(span.start, span.stop - 1)

    def head(self) -> tuple[int, str] | None:
        row = self._db.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def snapshot(self, fingerprint: str) -> str | None:
        row = self._db.execute(
            "SELECT body FROM records WHERE fingerprint = ? ORDER BY seq LIMIT 1", (fingerprint,)
        ).fetchone()
        return None if row is None else str(row[0])

    def torn_tail(self) -> TornTail | None:
        return None

    def close(self) -> None:
        self._db.close()


def _bounds(first: int | None, last: int | None) -> tuple[int, int]:
    return (_LOWEST if first is None else first, _HIGHEST if last is None else last)


def _check_span_size(size: int) -> None:
    if size < 1:
        raise ValueError(f"a span holds at least one record, not {size}")


def _seq_spans(
    low: int | None, high: int | None, after: Callable[[int], int | None]
) -> Iterator[Span]:
    """Spans of the stored seqs from `low` to `high` (none for an empty log): `after(start)`
    is the stored seq a span's size of records after `start` (None past the end), found
    through the primary key. Cut from the records themselves, not from
    the range of their seqs, so that a gap (a record with a huge seq, say) makes no empty
    jobs. Every stored record up to `high` is in one span, however the seqs run."""
    if low is None or high is None:
        return
    start: int | None = int(low)
    while start is not None:
        following = after(start)
        yield Span(start, int(high) + 1 if following is None else following)
        start = following


_PG_LOCK = 7_310_221_804  # an arbitrary constant: the advisory lock that serialises appends


class PostgresStore:
    """PostgreSQL through psycopg 3: tables `triage_records` and `triage_head`."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise UsageError(
                "a postgresql:// log needs psycopg: pip install 'triage[postgres]'"
            ) from None
        self.target = url
        self._db = psycopg.connect(url, autocommit=False)
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK,))
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS triage_records (seq BIGINT PRIMARY KEY,"
                " prev_hash TEXT NOT NULL,"
                " hash TEXT NOT NULL, kind TEXT NOT NULL, fingerprint TEXT, body TEXT NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS triage_head (id INTEGER PRIMARY KEY CHECK (id = 1),"
                " seq BIGINT NOT NULL, hash TEXT NOT NULL)"
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS triage_snapshots ON triage_records (fingerprint)"
                " WHERE fingerprint IS NOT NULL"
            )

    def append(
        self, pending: Sequence[Pending], snapshot: Pending | None = None
    ) -> list[tuple[int, str]]:
        db = self._db
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK,))
            row = db.execute("SELECT seq, hash FROM triage_head WHERE id = 1").fetchone()
            last = (int(row[0]), str(row[1])) if row else (0, GENESIS)
            batch = list(pending)
            if (
                snapshot is not None
                and not db.execute(
                    "SELECT 1 FROM triage_records WHERE fingerprint = %s LIMIT 1",
                    (snapshot.fingerprint,),
                ).fetchone()
            ):
                batch.insert(0, snapshot)
            chained = _chain(last, batch)
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO triage_records (seq, prev_hash, hash, kind, fingerprint, body)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        (
                            s,
                            p,
                            h,
                            item.kind,
                            item.fingerprint if item.kind == SNAPSHOT else None,
                            item.body,
                        )
                        for s, p, h, item in chained
                    ],
                )
            if chained:
                db.execute(
                    "INSERT INTO triage_head (id, seq, hash) VALUES (1, %s, %s)"
                    " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                    (chained[-1][0], chained[-1][2]),
                )
        return [(s, h) for s, _, h, item in chained if item is not snapshot]

    def rows(self, first: int | None = None, last: int | None = None) -> Iterator[Row]:
        with self._db.cursor(name="triage_rows") as cursor:  # server-side: constant memory
            cursor.itersize = 5000
            if first is None and last is None:  # verify's read, as it was
                cursor.execute("SELECT seq, prev_hash, hash, body FROM triage_records ORDER BY seq")
            else:
                cursor.execute(
                    "SELECT seq, prev_hash, hash, body FROM triage_records"
                    " WHERE seq BETWEEN %s AND %s ORDER BY seq",
                    _bounds(first, last),
                )
            for position, (seq, prev, digest, body) in enumerate(cursor, start=1):
                yield Row(int(seq), str(prev), str(digest), str(body), position)
        self._db.commit()

    def spans(self, size: int) -> Iterator[Span]:
        _check_span_size(size)
        row = self._db.execute("SELECT MIN(seq), MAX(seq) FROM triage_records").fetchone()
        self._db.commit()
        assert row is not None  # an aggregate always gives one row
        high = row[1]

        def after(start: int) -> int | None:
            found = self._db.execute(
                "SELECT seq FROM triage_records WHERE seq > %s AND seq <= %s"
                " ORDER BY seq LIMIT 1 OFFSET %s",
                (start, high, size - 1),
            ).fetchone()
            self._db.commit()
            return None if found is None else int(found[0])

        return _seq_spans(row[0], high, after)

    def span_rows(self, span: Span) -> Iterator[Row]:
        return self.rows(span.start, span.stop - 1)

    def head(self) -> tuple[int, str] | None:
        row = self._db.execute("SELECT seq, hash FROM triage_head WHERE id = 1").fetchone()
        self._db.commit()
        return None if row is None else (int(row[0]), str(row[1]))

    def snapshot(self, fingerprint: str) -> str | None:
        row = self._db.execute(
            "SELECT body FROM triage_records WHERE fingerprint = %s ORDER BY seq LIMIT 1",
            (fingerprint,),
        ).fetchone()
        self._db.commit()
        return None if row is None else str(row[0])

    def torn_tail(self) -> TornTail | None:
        return None

    def close(self) -> None:
        self._db.close()


def open_store(target: str | Path) -> Store:
    """`x.jsonl`, `sqlite:///path` (or a path ending .sqlite/.db), or a `postgresql://` URL."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        return SqliteStore(Path(text.removeprefix("sqlite:///")))
    path = Path(text)
    if path.suffix == ".jsonl":
        return JsonLinesStore(path)
    if path.suffix in {".sqlite", ".sqlite3", ".db"}:
        return SqliteStore(path)
    raise UsageError(
        f"cannot tell the kind of log {text!r}; "
        "use a .jsonl path, sqlite:///path or a postgresql:// URL"
    )
