"""Every way we know to tamper with a decision log, as functions an attacker who knows the
format could run, and the verdict each must get. `tests/test_tampering.py` runs them all on every
store; `python -m tests.tampering` prints the table that `docs/reliability.md` quotes.

Each kind says whether it is **inside the documented limit** (the whole log and its head
rewritten consistently, which the log alone cannot tell and a witness kept apart catches) or
outside it (verify alone must catch it).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from triage import FrontDoor
from triage.audit import DecisionLog, verify_log
from triage.audit.chain import chain_hash
from triage.errors import LogError

Record = tuple[int, str, str, str, str | None, str]  # seq, prev, hash, kind, fingerprint, body
KEY = "synthetic-test-key-0001"
STORES = ("jsonl", "sqlite", "postgresql")


# -- reading and writing a log by hand -------------------------------------------------------


def is_sql(target: str) -> bool:
    return not target.endswith(".jsonl")


def table(target: str) -> str:
    return "records" if target.startswith("sqlite") else "triage_records"


def head_table(target: str) -> str:
    return "head" if target.startswith("sqlite") else "triage_head"


def mark(target: str) -> str:
    return "?" if target.startswith("sqlite") else "%s"


class sql:
    """A plain connection to the log's database, committed on exit."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __enter__(self) -> Any:
        if self.target.startswith("sqlite:///"):
            self.db: Any = sqlite3.connect(self.target.removeprefix("sqlite:///"))
        else:
            import psycopg

            self.db = psycopg.connect(self.target, autocommit=False)
        return self.db

    def __exit__(self, *_: object) -> None:
        self.db.commit()
        self.db.close()


def read_raw(target: str) -> list[Record]:
    if not is_sql(target):
        out = []
        for line in Path(target).read_text(encoding="utf-8").splitlines():
            cut = line.index(',"record":')
            head = json.loads(line[:cut] + "}")
            out.append(
                (
                    head["seq"],
                    head["prev_hash"],
                    head["hash"],
                    head["kind"],
                    head["fingerprint"],
                    line[cut + 10 : -1],
                )
            )
        return out
    with sql(target) as db:
        rows = db.execute(
            f"SELECT seq, prev_hash, hash, kind, fingerprint, body FROM {table(target)}"
            " ORDER BY seq"
        ).fetchall()
    return [tuple(row) for row in rows]


def write_raw(target: str, records: list[Record], head: tuple[int, str] | None = None) -> None:
    """Replace the whole log by `records` (and the head by `head`, when given)."""
    if not is_sql(target):
        lines = [
            f'{{"seq":{s},"prev_hash":"{p}","hash":"{h}","kind":{json.dumps(k)},'
            f'"fingerprint":{json.dumps(f)},"record":{b}}}\n'
            for s, p, h, k, f, b in records
        ]
        Path(target).write_text("".join(lines), encoding="utf-8")
        if head is not None:
            Path(target + ".head").write_text(json.dumps({"seq": head[0], "hash": head[1]}))
        return
    marks = ", ".join([mark(target)] * 6)
    with sql(target) as db:
        db.execute(f"DELETE FROM {table(target)}")
        for record in records:
            db.execute(f"INSERT INTO {table(target)} VALUES ({marks})", record)
        if head is not None:
            m = mark(target)
            db.execute(f"UPDATE {head_table(target)} SET seq = {m}, hash = {m}", head)


def set_head(target: str, head: tuple[int, str] | None) -> None:
    if not is_sql(target):
        path = Path(target + ".head")
        if head is None:
            path.unlink()
        else:
            path.write_text(json.dumps({"seq": head[0], "hash": head[1]}))
        return
    with sql(target) as db:
        if head is None:
            db.execute(f"DELETE FROM {head_table(target)}")
        else:
            m = mark(target)
            db.execute(f"UPDATE {head_table(target)} SET seq = {m}, hash = {m}", head)


def rechain(records: list[Record]) -> list[Record]:
    """The records with every seq, link and hash recomputed, as the tool would have written
    them: the log id read from the genesis record, which anyone can read."""
    log_id = json.loads(records[0][5])["log_id"]
    out, prev = [], "0" * 64
    for seq, (_, _, _, kind, fingerprint, body) in enumerate(records, start=1):
        digest = chain_hash(log_id, seq, prev, kind, fingerprint, body)
        out.append((seq, prev, digest, kind, fingerprint, body))
        prev = digest
    return out


def lines_of(target: str) -> list[str]:
    return Path(target).read_text(encoding="utf-8").splitlines(keepends=True)


def put_lines(target: str, lines: list[str]) -> None:
    Path(target).write_text("".join(lines), encoding="utf-8")


# -- the log every kind starts from ----------------------------------------------------------


def referral(n: int, *indicators: str) -> dict[str, Any]:
    return {
        "referral_id": f"R-T-{n}",
        "received_at": "2026-03-02T09:30:00+00:00",
        "source": "police",
        "notification": "inter_agency_referral",
        "children": [{"child_id": f"C-T-{n}", "date_of_birth": "2019-05-01"}],
        "concerns": [{"indicator": i, "about": "child"} for i in indicators],
        "consent": "given",
        "immediate_danger": False,
    }


# seq 1 genesis, 2 snapshot, 3 physical abuse (level 4), 4-8 lower concerns
REFERRALS = [
    referral(0, "physical_abuse"),
    referral(1, "occasional_truancy", "parental_mental_health"),
    referral(2, "missing_regularly"),
    referral(3, "school_attendance_above_90"),
    referral(4, "speech_language_difficulty"),
    referral(5, "persistent_absence"),
]
FORGED_SEQ = 3


@dataclass(frozen=True)
class Context:
    target: str
    folder: Path
    door: FrontDoor
    witness: Path


def write_log(target: str, door: FrontDoor, witness: Path | None = None) -> None:
    with DecisionLog(target, key=KEY, witness=witness) as log:
        for item in REFERRALS[:3]:
            log.route(door, item)
        log.route_batch(door, REFERRALS[3:])


def level_one_body(context: Context) -> str:
    """A genuine level-1 decision record made by triage itself in a scratch log (same key)."""
    scratch = str(context.folder / "scratch.jsonl")
    if not Path(scratch).exists():
        with DecisionLog(scratch, key=KEY) as log:
            log.route(context.door, referral(99, "adequate_housing"))
    return read_raw(scratch)[-1][5]


def other_log(context: Context) -> list[Record]:
    other = str(context.folder / "other.jsonl")
    if not Path(other).exists():
        write_log(other, context.door)
    return read_raw(other)


# -- the kinds ------------------------------------------------------------------------------

Tamper = Callable[[Context], None]


@dataclass(frozen=True)
class Kind:
    name: str
    apply: Tamper
    stores: tuple[str, ...] = STORES
    inside_limit: bool = False  # the whole log and its head rewritten consistently


def _records(change: Callable[[list[Record], Context], list[Record]]) -> Tamper:
    """Change the list of records as stored (seqs, links and hashes as they are)."""

    def apply(context: Context) -> None:
        write_raw(context.target, change(read_raw(context.target), context))

    return apply


def _forged(change: Callable[[list[Record], Context], list[Record]], head: str = "keep") -> Tamper:
    """Change the records, then recompute the whole chain; the head kept, moved to the new last
    record (a consistent rewrite: the documented limit), or rolled back."""

    def apply(context: Context) -> None:
        records = rechain(change(read_raw(context.target), context))
        new_head = None if head == "keep" else (records[-1][0], records[-1][2])
        write_raw(context.target, records, head=new_head)

    return apply


def _replace_body(records: list[Record], context: Context) -> list[Record]:
    at = FORGED_SEQ - 1
    return [*records[:at], (*records[at][:5], level_one_body(context)), *records[at + 1 :]]


def _edit_body(records: list[Record], _: Context) -> list[Record]:
    at = FORGED_SEQ - 1
    body = records[at][5].replace('"level":4', '"level":1', 1)
    return [*records[:at], (*records[at][:5], body), *records[at + 1 :]]


def _field(index: int, value: Any, at: int = FORGED_SEQ) -> Callable[..., list[Record]]:
    def change(records: list[Record], _: Context) -> list[Record]:
        row = list(records[at - 1])
        row[index] = value
        return [*records[: at - 1], tuple(row), *records[at:]]  # type: ignore[list-item]

    return change


def _sql(statement: str) -> Tamper:
    def apply(context: Context) -> None:
        with sql(context.target) as db:
            db.execute(statement.format(t=table(context.target)))

    return apply


def _line(edit: Callable[[str], str], at: int = FORGED_SEQ) -> Tamper:
    def apply(context: Context) -> None:
        lines = lines_of(context.target)
        lines[at - 1] = edit(lines[at - 1])
        put_lines(context.target, lines)

    return apply


def _head(make: Callable[[list[Record]], tuple[int, str] | None]) -> Tamper:
    def apply(context: Context) -> None:
        set_head(context.target, make(read_raw(context.target)))

    return apply


def _append_forged(context: Context) -> None:
    """One more record after the head, chained correctly, the head left alone."""
    records = read_raw(context.target)
    write_raw(context.target, rechain([*records, (*records[-1][:5], level_one_body(context))]))


def _splice(context: Context) -> None:
    """This log's genesis and snapshot, the rest from another log, linked up."""
    mine, theirs = read_raw(context.target), other_log(context)
    rest = [(theirs[2][0], mine[1][2], *theirs[2][2:]), *theirs[3:]]
    write_raw(context.target, [*mine[:2], *rest], head=(rest[-1][0], rest[-1][2]))


def _replaced_whole(context: Context) -> None:
    """Another, valid log (same code, same key) put in this one's place with its head."""
    theirs = other_log(context)[:4]
    write_raw(context.target, theirs, head=(theirs[-1][0], theirs[-1][2]))


def _corrupt_head(context: Context) -> None:
    Path(context.target + ".head").write_text("{bad")


def _insert_copy(records: list[Record], _: Context) -> list[Record]:
    """A copy of record 4 inserted after it, the later records numbered on (hashes as stored)."""
    later = [(seq + 1, *rest) for seq, *rest in records[4:]]
    return [*records[:4], (5, *records[3][1:]), *later]  # type: ignore[list-item]


def _swap(records: list[Record], _: Context) -> list[Record]:
    """Records 4 and 5 change places, each taking the other's seq."""
    return [*records[:3], (4, *records[4][1:]), (5, *records[3][1:]), *records[5:]]


def _torn(context: Context) -> None:
    with Path(context.target).open("ab") as handle:
        handle.write(b'{"seq":9,"prev_hash":"ab')


KINDS: tuple[Kind, ...] = (
    Kind("edit a decision's body", _records(_edit_body)),
    Kind("replace a decision by a genuine one from another log", _records(_replace_body)),
    Kind("delete a record", _records(lambda r, _: [*r[:3], *r[4:]])),
    Kind("delete the genesis record", _records(lambda r, _: r[1:])),
    Kind("delete the rulebook snapshot", _records(lambda r, _: [r[0], *r[2:]])),
    Kind("insert a copy of a record", _records(_insert_copy)),
    Kind("swap two records", _records(_swap)),
    Kind("truncate the last record", _records(lambda r, _: r[:-1])),
    Kind("edit a record's link", _records(_field(1, "0" * 64))),
    Kind("edit a record's hash", _records(_field(2, "f" * 64))),
    Kind("edit a record's kind", _records(_field(3, "journey_transition"))),
    Kind("edit a snapshot's fingerprint", _records(_field(4, "0" * 64, at=2))),
    Kind("edit the genesis (log id)", _records(_field(5, '{"x":1}', at=1))),
    Kind("forge a decision, chain recomputed, head kept", _forged(_replace_body)),
    Kind(
        "forge a decision, recompute, one record after the head (D1)",
        _forged(lambda r, c: [*_replace_body(r, c), r[-1]]),
    ),
    Kind("a record added after the head", _append_forged),
    Kind("head rolled back 5 records", _head(lambda r: (r[-6][0], r[-6][2]))),
    Kind("head with a bogus hash", _head(lambda r: (r[-1][0], "a" * 64))),
    Kind("head beyond the last record", _head(lambda r: (r[-1][0] + 3, r[-1][2]))),
    Kind("head at seq 3 with a bogus hash", _head(lambda _: (3, "b" * 64))),
    Kind("head deleted", _head(lambda _: None)),
    Kind("records spliced from another log", _splice),
    Kind(
        "forge a decision, recompute the chain and the head",
        _forged(_replace_body, head="move"),
        inside_limit=True,
    ),
    Kind("replace the log by another valid log", _replaced_whole, inside_limit=True),
    Kind(
        "truncate and move the head back consistently",
        _forged(lambda r, _: r[:-2], head="move"),
        inside_limit=True,
    ),
    # stored bytes outside the hashed values
    Kind(
        "SQL: snapshot fingerprint column cleared",
        _sql("UPDATE {t} SET fingerprint = NULL WHERE kind = 'rulebook_snapshot'"),
        ("sqlite", "postgresql"),
    ),
    Kind(
        "SQL: kind column changed",
        _sql("UPDATE {t} SET kind = 'rulebook_snapshot' WHERE seq = 4"),
        ("sqlite", "postgresql"),
    ),
    Kind(
        "SQL: fingerprint moved to a decision",
        _sql(
            "UPDATE {t} SET fingerprint = (SELECT fingerprint FROM {t} WHERE seq = 2) WHERE seq = 4"
        ),
        ("sqlite", "postgresql"),
    ),
    Kind(
        "SQLite: a body stored as a BLOB",
        _sql("UPDATE {t} SET body = CAST(body AS BLOB) WHERE seq = 4"),
        ("sqlite",),
    ),
    Kind(
        "JSON Lines: a field added to a line's prefix",
        _line(lambda x: x.replace('{"seq":', '{"approved_by":"forged","seq":', 1)),
        ("jsonl",),
    ),
    Kind("JSON Lines: a line's last brace", _line(lambda x: x[:-2] + "]\n"), ("jsonl",)),
    Kind(
        "JSON Lines: seq written as text",
        _line(lambda x: x.replace('{"seq":3,', '{"seq":"3",', 1)),
        ("jsonl",),
    ),
    Kind(
        "JSON Lines: a space in the prefix",
        _line(lambda x: x.replace('"prev_hash":', '"prev_hash": ', 1)),
        ("jsonl",),
    ),
    Kind("JSON Lines: an empty line inserted", _line(lambda x: "\n" + x), ("jsonl",)),
    Kind("JSON Lines: a torn last line", _torn, ("jsonl",)),
    Kind("JSON Lines: a corrupt head file", _corrupt_head, ("jsonl",)),
)


# -- running one kind ------------------------------------------------------------------------


def verdict(kind: Kind, context: Context) -> str:
    """ "caught by verify", "caught by the witness", "NOT CAUGHT", or "caught: error" (verify
    refused the log with a clean LogError)."""
    kind.apply(context)
    try:
        plain = verify_log(context.target)
        witnessed = verify_log(context.target, witness=context.witness)
    except LogError:
        return "caught: log_unusable"
    if not plain.ok:
        return "caught by verify"
    if not witnessed.ok:
        return "caught by the witness"
    return "NOT CAUGHT"


def run_kind(kind: Kind, store: str, folder: Path, door: FrontDoor, pg: str | None) -> str:
    if store == "jsonl":
        target = str(folder / "log.jsonl")
    elif store == "sqlite":
        target = f"sqlite:///{folder / 'log.sqlite'}"
    else:
        assert pg is not None
        target = pg
    witness = folder / "heads.jsonl"
    write_log(target, door, witness)
    return verdict(kind, Context(target, folder, door, witness))


def report(door: FrontDoor, new_database: Callable[[], str] | None) -> list[tuple[str, ...]]:
    rows = []
    for kind in KINDS:
        cells = [kind.name, "inside" if kind.inside_limit else "outside"]
        for store in STORES:
            if store not in kind.stores or (store == "postgresql" and new_database is None):
                cells.append("-")
                continue
            with tempfile.TemporaryDirectory() as folder:
                pg = new_database() if store == "postgresql" and new_database else None
                cells.append(run_kind(kind, store, Path(folder), door, pg))
        rows.append(tuple(cells))
    return rows


def main() -> int:  # pragma: no cover - a report for the docs, run by hand
    import os
    import uuid

    import pgserver
    import psycopg

    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
    server = pgserver.get_server(tempfile.mkdtemp(prefix="triage-pg-"), cleanup_mode="stop")  # type: ignore[attr-defined]
    uri = server.get_uri()

    def new_database() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(uri, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return str(uri.replace("/postgres?", f"/{name}?"))

    door = FrontDoor(engine="reference")
    try:
        rows = report(door, new_database)
    finally:
        server.cleanup()
    print("| tamper kind | documented limit | " + " | ".join(STORES) + " |")
    print("|---|---|" + "---|" * len(STORES))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
