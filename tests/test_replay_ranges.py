"""Reading a log in pieces (range reads and spans, on every store), and replay over workers
that read their own spans: the same report as one process, whatever the store."""

from __future__ import annotations

import json
import pickle
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from triage import FrontDoor, bundled_rules_dir, simulate
from triage.audit import DecisionLog, open_store, read_records, replay_log
from triage.audit import replay as replay_module
from triage.audit.chain import GENESIS_KIND, Genesis
from triage.audit.record import now_utc
from triage.audit.replay import ReplayReport
from triage.audit.stores import JsonLinesStore, Pending, PostgresStore, Row, SqliteStore, jsonl
from triage.errors import LogError
from triage.journey import Journeys
from triage.simulation import simulate_journeys

from .conftest import edited_kent
from .test_audit import KEY, _new_database, fixture_pg_server

__all__ = ["fixture_pg_server"]  # the PostgreSQL server fixture, shared with the store suite

KINDS = ["jsonl", "sqlite", "postgresql"]
RECORDS = 23  # records in each range-read log: seqs 1..23


def _fresh(kind: str, folder: Path, request: pytest.FixtureRequest) -> str:
    if kind == "jsonl":
        return str(folder / "log.jsonl")
    if kind == "sqlite":
        return f"sqlite:///{folder / 'log.sqlite'}"
    return _new_database(request.getfixturevalue("pg_server"))


def _genesis() -> Pending:
    """The first record every log begins with (a store refuses to begin a log without one)."""
    return Pending(GENESIS_KIND, Genesis.new(b"synthetic-test-key-0001", now_utc(), "test").body())


def _chain(rows: Iterable[Row]) -> list[tuple[int, str, str, str]]:
    """What a row is, without its position (which counts the rows of one read)."""
    return [(row.seq, row.prev_hash, row.hash, row.body) for row in rows]


def _read(target: str, first: int | None = None, last: int | None = None) -> list[Row]:
    store = open_store(target)
    try:
        return list(store.rows(first, last))
    finally:
        store.close()


def _spans(target: str, size: int) -> list[list[Row]]:
    store = open_store(target)
    try:
        return [list(store.span_rows(span)) for span in store.spans(size)]
    finally:
        store.close()


@pytest.fixture(name="stored", scope="module", params=KINDS)
def fixture_stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A log of each kind holding seqs 1 to RECORDS, written in batches of several sizes."""
    target = _fresh(request.param, tmp_path_factory.mktemp(request.param), request)
    store = open_store(target, create=True)
    try:
        store.append([], genesis=_genesis())  # seq 1
        written = 1
        for size in (1, 5, 10, 6):
            bodies = [json.dumps({"kind": "x", "n": written + i}) for i in range(size)]
            store.append([Pending("triage_decision", body) for body in bodies])
            written += size
        assert written == RECORDS
    finally:
        store.close()
    return target


@pytest.fixture(name="fresh", params=KINDS)
def fixture_fresh(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new log of each kind, with no record yet (an empty file, empty tables)."""
    target = _fresh(request.param, tmp_path, request)
    if request.param == "jsonl":
        Path(target).touch()
    open_store(target, create=True).close()
    return target


# -- range reads ---------------------------------------------------------------------------------

bounds = st.none() | st.integers(min_value=-3, max_value=RECORDS + 3)


@settings(max_examples=60, deadline=None)
@given(first=bounds, last=bounds)
@example(first=None, last=None)  # all
@example(first=1, last=RECORDS)  # all, by number
@example(first=7, last=7)  # one
@example(first=RECORDS, last=RECORDS)  # the last one
@example(first=8, last=7)  # empty: the range is backwards
@example(first=RECORDS + 1, last=None)  # empty: beyond the end
@example(first=RECORDS - 2, last=RECORDS + 100)  # running beyond the end
@example(first=-5, last=0)  # empty: before the start
def test_a_range_read_gives_exactly_the_records_of_that_range(
    stored: str, first: int | None, last: int | None
) -> None:
    whole = _read(stored)
    assert [row.seq for row in whole] == list(range(1, RECORDS + 1))
    low = 1 if first is None else max(first, 1)
    high = RECORDS if last is None else min(last, RECORDS)
    expected = [row for row in whole if low <= row.seq <= high]
    got = _read(stored, first, last)
    assert _chain(got) == _chain(expected)
    assert [row.position for row in got] == list(range(1, len(got) + 1))


def test_a_range_read_of_an_empty_log_gives_nothing(fresh: str) -> None:
    assert _read(fresh) == []
    assert _read(fresh, 1, 10) == []
    assert _spans(fresh, 3) == []


# -- spans ---------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(size=st.integers(min_value=1, max_value=RECORDS + 2))
def test_spans_hold_every_record_once_in_storage_order(stored: str, size: int) -> None:
    spans = _spans(stored, size)
    assert all(1 <= len(span) <= size for span in spans)
    assert _chain(row for span in spans for row in span) == _chain(_read(stored))


def test_a_span_holds_at_least_one_record(stored: str) -> None:
    store = open_store(stored)
    try:
        with pytest.raises(ValueError, match="at least one record"):
            store.spans(0)
    finally:
        store.close()


# Bodies as canonical JSON keeps them (no raw newline), including U+2028, which str.splitlines
# would take for a line break.
line_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=80, deadline=None)
@given(
    batches=st.lists(st.lists(line_texts, min_size=1, max_size=6), max_size=5),
    size=st.integers(min_value=1, max_value=7),
    block=st.integers(min_value=1, max_value=64),
    torn=st.booleans(),
)
@example(batches=[["a\u2028b", "é" * 30]], size=1, block=1, torn=True)
def test_json_lines_spans_cut_at_line_ends_whatever_the_block_size(
    batches: list[list[str]], size: int, block: int, torn: bool
) -> None:
    """JSON Lines spans are found by counting newlines a block at a time: blocks that end
    inside a line, inside a UTF-8 character or right after a newline cut no record, and a torn
    tail (a write cut short) is in no span, as it is in no read."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.jsonl"
        store = open_store(path, create=True)
        store.append([], genesis=_genesis())
        for texts in batches:
            bodies = [json.dumps({"text": text}, ensure_ascii=False) for text in texts]
            store.append([Pending("triage_decision", body) for body in bodies])
        if torn:
            with path.open("ab") as handle:
                handle.write('{"seq":99,"prev_hash":"é'.encode())
        with mock.patch.object(jsonl, "_BLOCK", block):
            spans = list(store.spans(size))
        pieces = [list(store.span_rows(span)) for span in spans]
        whole = list(store.rows())
    starts = [span.start for span in spans]
    assert starts == [0, *(span.stop for span in spans[:-1])][: len(spans)]  # back to back
    assert all(1 <= len(piece) <= size for piece in pieces)
    assert _chain(row for piece in pieces for row in piece) == _chain(whole)
    assert len(whole) == 1 + sum(len(texts) for texts in batches)  # and the genesis


@settings(max_examples=30, deadline=None)
@given(
    removed=st.sets(st.integers(min_value=1, max_value=RECORDS)),
    size=st.integers(min_value=1, max_value=9),
)
@example(removed=set(range(1, RECORDS + 1)), size=4)
def test_sql_spans_hold_every_stored_record_even_with_gaps(removed: set[int], size: int) -> None:
    """Spans of the SQL stores are seq ranges from the lowest stored seq to the highest: a
    tampered log with gaps, or records after its head, still has every record in one span."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.sqlite"
        store = SqliteStore(path)
        try:
            store.append(
                [Pending("triage_decision", f'"{n}"') for n in range(RECORDS - 1)],
                genesis=_genesis(),
            )
            with sqlite3.connect(path) as db:
                db.executemany("DELETE FROM records WHERE seq = ?", [(n,) for n in removed])
                db.execute("UPDATE head SET seq = 3")  # records now follow the head
            db.close()
            spans = [list(store.span_rows(span)) for span in store.spans(size)]
            whole = list(store.rows())
        finally:
            store.close()
    assert [row.seq for row in whole] == sorted(set(range(1, RECORDS + 1)) - removed)
    assert _chain(row for span in spans for row in span) == _chain(whole)
    assert all(len(span) <= size for span in spans)
    # Cut from the stored records, not the range of their seqs: gaps make no empty spans.
    assert [len(span) for span in spans] == [
        min(size, len(whole) - at) for at in range(0, len(whole), size)
    ]


def test_a_record_with_a_huge_seq_makes_no_flood_of_empty_spans(tmp_path: Path) -> None:
    """A tampered row far beyond the others (seq near 2**62) costs one span, not billions."""
    path = tmp_path / "log.sqlite"
    store = SqliteStore(path)
    try:
        store.append(
            [Pending("triage_decision", f'"{n}"') for n in range(RECORDS - 1)], genesis=_genesis()
        )
        with sqlite3.connect(path) as db:
            db.execute("UPDATE records SET seq = ? WHERE seq = ?", (2**62, RECORDS))
        db.close()
        spans = list(store.spans(4))
        rows = [row.seq for span in spans for row in store.span_rows(span)]
    finally:
        store.close()
    assert len(spans) == -(-RECORDS // 4)
    assert rows == [*range(1, RECORDS), 2**62]


# -- replay over workers -------------------------------------------------------------------------

REFERRALS = 120
SPAN = 16  # records per job in these tests: a small log still makes many jobs


@pytest.fixture(name="revised", scope="module")
def fixture_revised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kent with one threshold lowered: two level-2 needs instead of three (the benchmark's)."""
    old, new = "concerns: {level: 2, min: 3}", "concerns: {level: 2, min: 2}"
    assert (bundled_rules_dir() / "rules.yaml").read_text(encoding="utf-8").count(old) == 1
    return edited_kent(tmp_path_factory.mktemp("revised") / "rules", ("rules.yaml", old, new))


@pytest.fixture(name="logged", scope="module", params=KINDS)
def fixture_logged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A log of each kind with its rulebook snapshot, and batches of routed referrals, each
    followed by the journey transitions of those referrals (which replay skips)."""
    target = _fresh(request.param, tmp_path_factory.mktemp(request.param), request)
    door = FrontDoor(engine="reference")
    journeys = Journeys(door.rulebook, pathway=None, engine="reference")
    referrals = list(simulate(REFERRALS, 11, door.rulebook))
    transitions = 0
    with DecisionLog(target, key=KEY) as log:
        for start in range(0, REFERRALS, 25):
            batch = referrals[start : start + 25]
            routed = list(zip(batch, log.route_batch(door, batch), strict=True))
            events = [journeys.validate(event) for event in simulate_journeys(routed, start)]
            if events:
                log.record_transitions(journeys, events, [journeys.decide(e) for e in events])
            transitions += len(events)
    assert transitions > SPAN, "too few journey records to show that replay skips them"
    return target


def _expected_children(target: str) -> list[tuple[int, str]]:
    """(seq, child) of every decision of every decision record, in seq order: what a report's
    outcomes name, read here without replay."""
    store = open_store(target)
    try:
        return [
            (record.seq, str(decision["child_id"]))
            for record in read_records(store)
            if record.kind == "triage_decision"
            for decision in record.output
        ]
    finally:
        store.close()


def _replay(
    target: str, workers: int, against: Path | None, verify: bool = True
) -> tuple[ReplayReport, int]:
    """The report, and the records the progress callback was told of."""
    done: list[int] = []
    with mock.patch.object(replay_module, "CHUNK", SPAN):
        report = replay_log(
            target, against=against, workers=workers, progress=done.append, verify=verify
        )
    return report, sum(done)


@pytest.mark.parametrize("what_if", [False, True], ids=["faithful", "what_if"])
def test_two_workers_give_the_same_report_as_one(logged: str, what_if: bool, revised: Path) -> None:
    against = revised if what_if else None
    one, told_one = _replay(logged, 1, against)
    two, told_two = _replay(logged, 2, against)
    assert two == one  # every field, every outcome, in the same order
    expected = _expected_children(logged)
    assert [(o.seq, o.child) for o in one.outcomes] == expected
    assert one.records == len({seq for seq, _ in expected}) == REFERRALS
    # Progress counts every record read, snapshots and journey records too: a bar sized by the
    # log's head (as the CLI and the demo size theirs) ends full.
    store = open_store(logged)
    try:
        head = store.head()
    finally:
        store.close()
    assert head is not None
    assert head[0] > REFERRALS
    assert told_one == told_two == head[0]
    if what_if:
        assert 0 < one.different < one.decisions, "the what-if should change some decisions"
    else:
        assert one.different == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_an_empty_log_replays_to_an_empty_report(fresh: str, workers: int) -> None:
    report = replay_log(fresh, workers=workers)
    assert (report.records, report.decisions, report.outcomes) == (0, 0, [])


def _drop_snapshots(target: str) -> None:
    if target.endswith(".jsonl"):
        path = Path(target)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if '"kind":"rulebook_snapshot"' not in x))
        return
    if target.startswith("sqlite:///"):
        with sqlite3.connect(target.removeprefix("sqlite:///")) as db:
            db.execute("DELETE FROM records WHERE kind = 'rulebook_snapshot'")
        db.close()
        return
    import psycopg

    with psycopg.connect(target, autocommit=True) as pg:
        pg.execute("DELETE FROM triage_records WHERE kind = 'rulebook_snapshot'")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_record_whose_snapshot_is_missing_is_named_by_its_seq(
    fresh: str, workers: int, revised: Path
) -> None:
    """Raised as a LogError from a worker too (a LogError itself does not survive pickling:
    before, two workers left the parent hanging)."""
    door = FrontDoor(engine="reference")
    with DecisionLog(fresh, key=KEY) as log:
        log.route_batch(door, list(simulate(40, 3, door.rulebook)))
    _drop_snapshots(fresh)
    # Deleting the snapshot breaks the chain, so replay refuses the log as it stands...
    with pytest.raises(LogError, match="does not verify"):
        replay_log(fresh, workers=workers)
    # ... and unverified (seq 1 is the genesis, seq 2 the deleted snapshot, 3 the first decision)
    with (
        mock.patch.object(replay_module, "CHUNK", SPAN),
        pytest.raises(LogError, match=r"record seq 3 needs rulebook snapshot [0-9a-f]{12}, not in"),
    ):
        replay_log(fresh, workers=workers, verify=False)
    what_if = replay_log(fresh, against=revised, workers=workers, verify=False)
    assert what_if.records == 40  # needs none


def test_with_workers_the_parent_reads_no_record(
    logged: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent only cuts the log into spans: the workers (fresh processes, which this patch
    does not reach) read every record. (The parent's one read of its own is the chain check
    that comes first, `verify=True` by default: switched off here, and tested elsewhere.)"""

    def refuse(*_: Any) -> Iterator[Row]:
        raise AssertionError("the parent read records")

    for kind in (JsonLinesStore, SqliteStore, PostgresStore):
        monkeypatch.setattr(kind, "rows", refuse)
        monkeypatch.setattr(kind, "span_rows", refuse)
        monkeypatch.setattr(kind, "snapshot", refuse)
    report, _ = _replay(logged, 2, None, verify=False)
    assert (report.records, report.different) == (REFERRALS, 0)
    with pytest.raises(AssertionError, match="the parent read records"):
        _replay(logged, 1, None, verify=False)


def test_each_worker_connects_to_the_log_once(pg_server: str) -> None:
    """Eleven jobs, two workers: at most three connections (the parent's, one per worker),
    counted by PostgreSQL's cumulative statistics."""
    import psycopg

    target = _new_database(pg_server)
    door = FrontDoor(engine="reference")
    with DecisionLog(target, key=KEY) as log:
        log.route_batch(door, list(simulate(100, 5, door.rulebook)))
    with psycopg.connect(target, autocommit=True) as pg:

        def sessions() -> int:
            pg.execute("SELECT pg_stat_force_next_flush()")  # count this session now
            row = pg.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            assert row is not None
            return int(row[0])

        before = sessions()
        with mock.patch.object(replay_module, "CHUNK", 10):
            assert replay_log(target, workers=2).records == 100
        deadline = time.monotonic() + 10
        while sessions() - before < 3 and time.monotonic() < deadline:  # reported at exit
            time.sleep(0.1)
        made = sessions() - before
    assert 2 <= made <= 3, f"{made} connections for 11 jobs"


REPLAY_IN_DEV_MODE = """
import sys
from triage.audit import replay_log

if __name__ == "__main__":
    report = replay_log(sys.argv[1], workers=2)
    print("replayed", report.records, report.different)
"""


def test_replay_with_workers_leaves_nothing_open(logged: str, tmp_path: Path) -> None:
    """Run with warnings as errors and Python's development mode (which the workers inherit):
    no store, file or connection is left for the garbage collector, in any process."""
    script = tmp_path / "replay_dev.py"
    script.write_text(REPLAY_IN_DEV_MODE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(script), logged],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"replayed {REFERRALS} 0"
    assert "Warning" not in done.stderr, done.stderr


def test_a_job_is_a_few_dozen_bytes_whatever_the_records(
    logged: str, revised: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the parent sends a worker per span: the log's target, the span and the options
    (before, each job carried its records: about 500 bodies)."""
    sizes: list[int] = []
    in_order = replay_module._in_order

    def measured(pool: Any, work: Any, jobs: Iterator[Any], ahead: int) -> Iterator[Any]:
        def each() -> Iterator[Any]:
            for job in jobs:
                sizes.append(len(pickle.dumps(job)))
                yield job

        return in_order(pool, work, each(), ahead)

    monkeypatch.setattr(replay_module, "_in_order", measured)
    report, _ = _replay(logged, 2, revised)
    assert report.records == REFERRALS
    assert len(sizes) > 3
    assert max(sizes) < 120 + len(logged) + len(str(revised))


@cache
def _unnamed_reported_indicator() -> str:
    """The first indicator the test's referrals report that no rule names (a vocabulary that
    grows changes which indicators 40 simulated referrals report)."""
    bundled = bundled_rules_dir()
    rules = "".join((bundled / f).read_text(encoding="utf-8") for f in ("rules.yaml", "steps.yaml"))
    for referral in simulate(40, 3, FrontDoor(engine="reference").rulebook):
        for concern in referral.get("concerns", ()):
            if not re.search(rf"\b{concern['indicator']}\b", rules):
                return str(concern["indicator"])
    raise AssertionError("the referrals report no indicator that no rule names")


@pytest.fixture(name="narrower", scope="module")
def fixture_narrower(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kent without one indicator that referrals report and no rule names."""
    bundled = bundled_rules_dir()
    lines = (bundled / "indicators.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index(f"  - id: {_unnamed_reported_indicator()}\n")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("  - id: "))
    entry = "".join(lines[start:end])
    target = tmp_path_factory.mktemp("narrower") / "rules"
    return edited_kent(target, ("indicators.yaml", entry, ""))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_referral_the_what_if_rulebook_refuses_is_named_by_its_seq(
    tmp_path: Path, workers: int, narrower: Path
) -> None:
    """An error raised in a worker reaches the parent whole (before, most of triage's errors
    could not be unpickled, and the parent hung)."""
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    door = FrontDoor(engine="reference")
    referrals = list(simulate(40, 3, door.rulebook))
    with DecisionLog(target, key=KEY) as log:
        log.route_batch(door, referrals)
    first = 3 + next(  # seq 1 the genesis, 2 the snapshot
        i
        for i, referral in enumerate(referrals)
        if any(
            c["indicator"] == _unnamed_reported_indicator() for c in referral.get("concerns", ())
        )
    )
    pattern = (
        rf"record seq {first}: its referral is not valid under the what-if rulebook: "
        r"concerns\[\d+\]\.indicator: is not an indicator of the rulebook"
    )
    with mock.patch.object(replay_module, "CHUNK", SPAN), pytest.raises(LogError, match=pattern):
        replay_log(target, against=narrower, workers=workers)
