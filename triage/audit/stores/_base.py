"""What every store is: the protocol, the values it passes, and the chaining of a batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

from triage.audit.chain import NOT_A_GENESIS, SNAPSHOT_KIND, SNAPSHOT_KINDS, Genesis, chain_hash
from triage.errors import LogError

# The widest seq range (SQLite and PostgreSQL BIGINT are 64-bit): an open end of a range read
# `rows(first, last)` becomes one of these.
LOWEST: Final = -(2**63)
HIGHEST: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Pending:
    """A record body waiting for its place in the chain."""

    kind: str
    body: str
    fingerprint: str | None = None  # a snapshot's: its rulebook's or pathway's; else None


class Row(NamedTuple):
    """One stored record. A named tuple: verify makes one per record, and this is the cheapest
    immutable record to make."""

    seq: int
    prev_hash: str
    hash: str
    kind: str
    fingerprint: str | None
    body: str
    # 1-based place among the rows of this read: in a whole read, the place in storage order
    # (a line number for JSON Lines)
    position: int
    # False when the stored bytes around the hashed values are not exactly what the store
    # writes (a JSON Lines line with an edited prefix): verify fails such a record.
    exact: bool = True


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


class View(NamedTuple):
    """The log at one moment: its head and its records, read together (verify's read)."""

    head: tuple[int, str] | None
    rows: Iterator[Row]
    torn_tail: TornTail | None


# Called under the writer lock with the seq of the last stored record (0: an empty log), before
# anything is written: raising refuses the append, and nothing of it is written.
Check = Callable[[int], None]


class Store(Protocol):
    target: str
    # True where a crash can leave complete records after the head (JSON Lines writes the
    # head after the records); False where the head moves in the records' own transaction.
    crash_leaves_unanchored: bool

    def append(
        self,
        pending: Sequence[Pending],
        snapshots: Sequence[Pending] = (),
        genesis: Pending | None = None,
        check: Check | None = None,
    ) -> list[tuple[int, str]]:
        """Append atomically: first the genesis if the log is empty (refused: an append to an
        empty log without one), then each snapshot whose fingerprint is not stored yet. `check`
        runs under the same lock first, so what it finds cannot change before the write."""
        ...

    def genesis(self) -> Genesis | None:
        """What the log's first record says of the log; None for an empty log. A first record
        that is not a genesis raises `LogError`."""
        ...

    def rows(self, first: int | None = None, last: int | None = None) -> Iterator[Row]:
        """The records with `first <= seq <= last` (an end left open when None: every record
        by default), in storage order."""
        ...

    def view(self) -> AbstractContextManager[View]:
        """The head and every record as of one moment, whatever writers do meanwhile."""
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

    def snapshot(self, fingerprint: str, kind: str = SNAPSHOT_KIND) -> str | None:
        """The body of the snapshot record (of a rulebook, or of `kind`) with `fingerprint`."""
        ...

    def close(self) -> None: ...


Chained = tuple[int, str, str, Pending]  # seq, prev_hash, hash, what was pending


def chain_batch(log_id: str, last: tuple[int, str], pending: Sequence[Pending]) -> list[Chained]:
    seq, prev = last
    out = []
    for item in pending:
        seq += 1
        digest = chain_hash(log_id, seq, prev, item.kind, item.fingerprint, item.body)
        out.append((seq, prev, digest, item))
        prev = digest
    return out


def batch_of(
    target: str,
    stored: Genesis | None,
    pending: Sequence[Pending],
    new_snapshots: Sequence[Pending],
    genesis: Pending | None,
) -> tuple[str, list[Pending]]:
    """The log id to chain under and what to write, in order, for one append: the snapshots
    not stored yet first."""
    batch = [*new_snapshots, *pending]
    if stored is not None:
        return stored.log_id, batch
    new = None if genesis is None else Genesis.parse(genesis.kind, genesis.body)
    if new is None:
        raise LogError(target, "an empty log needs a genesis record first (DecisionLog writes it)")
    return new.log_id, [genesis, *batch] if genesis is not None else batch


def first_record_genesis(target: str, row: Row | None) -> Genesis | None:
    if row is None:
        return None
    genesis = Genesis.parse(row.kind, row.body) if row.seq == 1 else None
    if genesis is None:
        raise LogError(target, NOT_A_GENESIS)
    return genesis


def placed(chained: list[Chained], pending: Sequence[Pending]) -> list[tuple[int, str]]:
    """The (seq, hash) of the records the caller asked for: not the genesis or snapshots."""
    asked = {id(item) for item in pending}
    return [(s, h) for s, _, h, item in chained if id(item) in asked]


def check_span_size(size: int) -> None:
    if size < 1:
        raise ValueError(f"a span holds at least one record, not {size}")


def snapshot_fingerprint(item: Pending) -> str | None:
    return item.fingerprint if item.kind in SNAPSHOT_KINDS else None
