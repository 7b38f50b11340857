"""Verifying a decision log: the chain, its head, and anchors kept outside it.

```python
report = verify_log("sqlite:///decisions.sqlite", witness="heads.jsonl")
print(report)          # one verdict: OK or NOT OK, with the first bad record named
report.to_json()       # the same, for a machine
```

What is checked, in one consistent read of the log (a writer may be appending meanwhile):
- **chain**: seqs 1, 2, 3 ... with no gap; each record links to the one before; each hash is
  that of the record's log id, seq, link, kind, fingerprint and body;
- **genesis**: the first record names the log (its id is in every hash);
- **line shape** (JSON Lines): every byte of a line is the rendering of its hashed values;
- **head**: the record at the head's seq carries the head's hash; records after the head are
  *unanchored*, a failure unless the caller says they follow a crash (`allow_unanchored_tail`);
- **anchors**: every expected head (`expect_head`) and every head in a witness file names a
  record that is still in the chain with the same hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.audit.chain import GENESIS, NOT_A_GENESIS, Genesis, chain_hash
from triage.audit.stores import Store, TornTail, open_store
from triage.audit.witness import Witness
from triage.errors import UsageError


@dataclass(frozen=True, slots=True)
class Anchor:
    """A head known from outside the log: the record `seq` must have `hash`."""

    seq: int
    hash: str
    source: str  # "--expect-head", or "witness line N"
    log_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> Anchor:
        seq, _, digest = text.partition(":")
        if not seq.isdigit() or int(seq) < 1 or len(digest) != 64:
            raise UsageError(f"an expected head is SEQ:HASH (a seq, 64 hex digits), not {text!r}")
        return cls(int(seq), digest, "the expected head")


@dataclass(frozen=True)
class VerifyReport:
    target: str
    records: int
    head: tuple[int, str] | None
    log_id: str | None = None
    first_bad: tuple[int, str] | None = None  # (position in storage order, what is wrong)
    torn_tail: TornTail | None = None
    unanchored: int = 0  # records after the head
    allow_unanchored_tail: bool = False
    anchors: int = 0  # anchors checked (expected head and witness entries)
    checks: tuple[str, ...] = field(default=())

    @property
    def chain_ok(self) -> bool:
        """Every complete record is in the chain and vouched for by the head and the anchors
        (a torn tail, bytes after the last complete record, is not part of the chain)."""
        return self.first_bad is None and (self.unanchored == 0 or self.allow_unanchored_tail)

    @property
    def ok(self) -> bool:
        return self.chain_ok and self.torn_tail is None

    def problems(self) -> list[str]:
        found = []
        if self.first_bad is not None:
            position, what = self.first_bad
            found.append(f"record at position {position}: {what}")
        if self.torn_tail is not None:
            found.append(
                f"torn tail: {self.torn_tail.length} bytes at offset {self.torn_tail.offset} "
                "after the last complete record (a write was cut short); kept, not repaired"
            )
        if self.unanchored and not self.allow_unanchored_tail:
            found.append(
                f"{self.unanchored} record(s) after the head, which no head vouches for "
                "(added to the log, or written just before a crash: after a crash, "
                "check them and pass --allow-unanchored-tail)"
            )
        return found

    def __str__(self) -> str:
        lines = [f"FAILED: {problem}" for problem in self.problems()]
        if self.unanchored and self.allow_unanchored_tail:
            lines.append(f"note: {self.unanchored} record(s) after the head, allowed (a crash)")
        head = "none" if self.head is None else f"seq {self.head[0]}, hash {self.head[1]}"
        anchors = f"; {self.anchors} anchor(s) checked" if self.anchors else ""
        verdict = "OK" if self.ok else "NOT OK"
        lines.append(
            f"{verdict}: {self.records} record(s) verified in {self.target}; head: {head}{anchors}"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "target": self.target,
            "log_id": self.log_id,
            "records": self.records,
            "head": None if self.head is None else {"seq": self.head[0], "hash": self.head[1]},
            "first_failure": self.problems()[0] if self.problems() else None,
            "problems": self.problems(),
            "unanchored": self.unanchored,
            "anchors_checked": self.anchors,
            "torn_tail": None
            if self.torn_tail is None
            else {"offset": self.torn_tail.offset, "length": self.torn_tail.length},
            "checks": list(self.checks),
        }


def verify_store(
    store: Store,
    *,
    anchors: Sequence[Anchor] = (),
    allow_unanchored_tail: bool = False,
    visit: tuple[str, Callable[[str, str], None]] | None = None,
) -> VerifyReport:
    """Walk the chain in storage order, stop at the first bad record, then judge the head and
    the anchors against the chain itself (never against the stored head alone).

    `visit = (kind, see)`: `see(kind, body)` is told of every verified record of that kind as
    the walk passes it (replay reads the managers' outcomes so, without a second pass)."""
    visit_kind, see = visit if visit is not None else (None, None)
    wanted: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        wanted.setdefault(anchor.seq, []).append(anchor)
    checks = ["chain", "genesis", "head"] + (["anchors"] if anchors else [])
    with store.view() as view:
        head = view.head
        log_id: str | None = None
        expected_seq, prev, count = 1, GENESIS, 0
        at_head: str | None = None
        bad: tuple[int, str] | None = None
        for row in view.rows:
            if row.seq < 1 or not row.exact:
                bad = (row.position, "not a record in the stored shape (edited outside its hash)")
            elif row.seq != expected_seq:
                bad = (
                    row.position,
                    f"has sequence number {row.seq} where {expected_seq} was expected "
                    "(a record was deleted, inserted or moved)",
                )
            elif row.prev_hash != prev:
                bad = (row.position, f"seq {row.seq} does not link to the record before it")
            elif row.seq == 1 and (genesis := Genesis.parse(row.kind, row.body)) is None:
                bad = (row.position, f"the log cannot be verified: {NOT_A_GENESIS}")
            else:
                if row.seq == 1 and genesis is not None:
                    log_id = genesis.log_id
                assert log_id is not None
                digest = chain_hash(log_id, row.seq, prev, row.kind, row.fingerprint, row.body)
                if digest != row.hash:
                    bad = (
                        row.position,
                        f"seq {row.seq} was edited: its hash does not match its content",
                    )
            if bad is None:
                for anchor in wanted.get(row.seq, ()):
                    if anchor.hash != row.hash:
                        bad = (
                            row.position,
                            f"seq {row.seq} is not the record {anchor.source} vouches for "
                            "(the log was rewritten)",
                        )
            if bad is not None:
                break
            if row.kind == visit_kind and see is not None:
                see(row.kind, row.body)
            if head is not None and row.seq == head[0]:
                at_head = row.hash
            prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
    if bad is None:
        bad = _judge_head(head, count, at_head)
    if bad is None:
        bad = _judge_anchors(wanted, count, log_id)
    unanchored = 0 if bad is not None or head is None else max(0, count - head[0])
    if unanchored and not store.crash_leaves_unanchored:
        # No crash leaves records after an SQL log's head: only an edit of the log does.
        bad = (
            head[0] + 1 if head is not None else 1,
            f"{unanchored} record(s) after the head, which this store moves in the same "
            "transaction as its records: the log was edited",
        )
        unanchored = 0
    return VerifyReport(
        store.target,
        count,
        head,
        log_id,
        bad,
        view.torn_tail,
        unanchored,
        allow_unanchored_tail,
        len(anchors),
        tuple(checks),
    )


def _judge_head(
    head: tuple[int, str] | None, count: int, at_head: str | None
) -> tuple[int, str] | None:
    if head is None:
        return (1, "the log has records but no head") if count else None
    if head[0] > count:
        return (
            count + 1,
            f"the log ends at seq {count} but its head says {head[0]}: "
            "records were removed from the end (truncation)",
        )
    if at_head != head[1]:
        return (
            head[0],
            f"seq {head[0]} does not carry the head's hash: the record or the head was replaced",
        )
    return None


def _judge_anchors(
    wanted: dict[int, list[Anchor]], count: int, log_id: str | None
) -> tuple[int, str] | None:
    for seq in sorted(wanted):
        for anchor in wanted[seq]:
            if anchor.log_id is not None and anchor.log_id != log_id:
                return (1, f"{anchor.source} is of another log ({anchor.log_id[:12]})")
            if seq > count:
                return (
                    count + 1,
                    f"the log ends at seq {count} but {anchor.source} vouches for seq {seq}: "
                    "records were removed or the log was replaced",
                )
    return None


def witness_anchors(path: str | Path) -> list[Anchor]:
    return [
        Anchor(entry.seq, entry.hash, f"witness line {entry.line}", entry.log_id)
        for entry in Witness(path).entries()
    ]


def verify_log(
    target: str | Path,
    *,
    expect_head: str | None = None,
    witness: str | Path | None = None,
    allow_unanchored_tail: bool = False,
) -> VerifyReport:
    """Verify the log at `target` (which must exist) against its head and the anchors given."""
    anchors = [] if expect_head is None else [Anchor.parse(expect_head)]
    if witness is not None:
        anchors.extend(witness_anchors(witness))
    store = open_store(target)
    try:
        return verify_store(store, anchors=anchors, allow_unanchored_tail=allow_unanchored_tail)
    finally:
        store.close()


def report_json(report: VerifyReport) -> str:
    return json.dumps(report.to_json(), indent=2)
