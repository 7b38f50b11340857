"""The decision log: one behaviour on JSON Lines, SQLite and a real PostgreSQL server."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage import FrontDoor, bundled_rules_dir, load_rulebook
from triage.audit import (
    DecisionLog,
    DecisionRecordV1,
    open_store,
    read_records,
    replay_log,
    verify_log,
)
from triage.audit.record import Pseudonymiser
from triage.errors import LogError

from .conftest import concerns, edited_kent, make_referral
from .strategies import referrals

KEY = "synthetic-test-key-0001"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(name="pg_server", scope="session")
def fixture_pg_server() -> Iterator[str]:
    """A real PostgreSQL server from PyPI's pgserver, for the whole session."""
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
    import pgserver

    server = pgserver.get_server(  # type: ignore[attr-defined]
        tempfile.mkdtemp(prefix="triage-pg-"), cleanup_mode="stop"
    )
    yield server.get_uri()
    server.cleanup()


def _new_database(uri: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(uri, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return uri.replace("/postgres?", f"/{name}?")


@pytest.fixture(name="target", params=["jsonl", "sqlite", "postgresql"])
def fixture_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty log of each kind."""
    if request.param == "jsonl":
        return str(tmp_path / "log.jsonl")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.sqlite'}"
    return _new_database(request.getfixturevalue("pg_server"))


SAMPLES = [
    make_referral(
        referral_id=f"R-A-{i}", concerns=concerns(*indicators), detail="synthetic free text"
    )
    for i, indicators in enumerate(
        [
            ("physical_abuse",),
            ("occasional_truancy", "speech_language_difficulty", "parental_mental_health"),
            ("occasional_truancy", "parental_mental_health"),
            ("missing_regularly",),
            ("school_attendance_above_90",),
            ("domestic_abuse", "neglect_chronic", "persistent_absence"),
        ]
    )
]


def write_log(target: str, door: FrontDoor, samples: list[dict[str, Any]] = SAMPLES) -> None:
    with DecisionLog(target, key=KEY) as log:
        for sample in samples[:2]:
            log.route(door, sample)  # one batch each
        log.route_batch(door, samples[2:])  # the rest in one batch


def test_an_untouched_log_verifies_and_replays_identically(target: str, durable: FrontDoor) -> None:
    write_log(target, durable)
    report = verify_log(target)
    assert report.ok, str(report)
    assert report.records == len(SAMPLES) + 2  # the genesis record and one rulebook snapshot
    replayed = replay_log(target)
    assert (replayed.records, replayed.decisions, replayed.different) == (
        len(SAMPLES),
        len(SAMPLES),
        0,
    )


def test_records_carry_no_more_personal_data_than_replay_needs(
    target: str, durable: FrontDoor
) -> None:
    referral = make_referral(
        referral_id="R-PRIVATE-1",
        children=[{"child_id": "C-PRIVATE-1", "date_of_birth": "2019-05-01"}],
        concerns=concerns("missing_regularly"),
        detail="free text naming nobody real",
    )
    with DecisionLog(target, key=KEY) as log:
        (decision,) = log.route(durable, referral)
    store = open_store(target)
    try:
        records = list(read_records(store))
        raw = "".join(row.body for row in store.rows())
    finally:
        store.close()
    for secret in ("R-PRIVATE-1", "C-PRIVATE-1", "2019-05-01", "free text", decision.decision_id):
        assert secret not in raw
    record = records[-1]
    assert record.kind == "triage_decision"
    assert "referral_id" in record.privacy.pseudonymised
    assert record.privacy.removed == ("detail",)
    # the receipt time is kept to its day, each date of birth to the age at receipt (D13)
    assert record.privacy.generalised == ("received_at", "children[].date_of_birth")
    assert record.rulebook.fingerprint == durable.rulebook.fingerprint
    assert record.rules_fired == (decision.rules_fired,)
    assert replay_log(target).different == 0


def test_the_same_key_gives_the_same_pseudonym_and_another_key_another(
    tmp_path: Path, durable: FrontDoor
) -> None:
    def child_pseudonym(path: Path, key: str) -> str:
        with DecisionLog(path, key=key) as log:
            log.route(durable, SAMPLES[0])
        store = open_store(path)
        try:
            return str(list(read_records(store))[-1].output[0]["child_id"])
        finally:
            store.close()

    first = child_pseudonym(tmp_path / "a.jsonl", KEY)
    assert child_pseudonym(tmp_path / "b.jsonl", KEY) == first
    assert child_pseudonym(tmp_path / "c.jsonl", "another-synthetic-key-02") != first


def test_a_log_needs_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGE_LOG_KEY", raising=False)
    with pytest.raises(LogError, match="TRIAGE_LOG_KEY"):
        DecisionLog(tmp_path / "log.jsonl")


def test_each_record_is_a_valid_decision_record_v1(target: str, durable: FrontDoor) -> None:
    write_log(target, durable)
    store = open_store(target)
    try:
        records = list(read_records(store))
    finally:
        store.close()
    # read_records leaves out the genesis record (seq 1), which names the log
    assert [r.seq for r in records] == list(range(2, len(SAMPLES) + 3))
    assert records[0].kind == "rulebook_snapshot"
    assert records[0].snapshot is not None
    for earlier, later in itertools.pairwise(records):
        assert later.prev_hash == earlier.hash
    assert all(isinstance(r, DecisionRecordV1) for r in records)


# -- tampering, each kind, on each store ------------------------------------------------------


def _tamper_sql(target: str, statements: list[str]) -> None:
    if target.startswith("sqlite:///"):
        db = sqlite3.connect(target.removeprefix("sqlite:///"))
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()
        return
    import psycopg

    with psycopg.connect(target, autocommit=True) as pg:
        for statement in statements:
            pg.execute(statement.replace("records", "triage_records"))


def _tamper_jsonl(path: str, change: Callable[[list[str]], list[str]]) -> None:
    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
    Path(path).write_text("".join(change(lines)), encoding="utf-8")


def _contents(target: str) -> list[tuple[int, str]]:
    store = open_store(target)
    try:
        return [(row.seq, row.body) for row in store.rows()]
    finally:
        store.close()


TAMPERING: dict[str, tuple[list[str], Callable[[list[str]], list[str]]]] = {
    "edit": (
        [
            'UPDATE records SET body = replace(body, \'"route":"team_around_the_family"\', '
            '\'"route":"universal_services"\') WHERE seq = 5'
        ],
        lambda lines: [
            *lines[:4],
            lines[4].replace('"route":"team_around_the_family"', '"route":"universal_services"'),
            *lines[5:],
        ],
    ),
    "deletion": (["DELETE FROM records WHERE seq = 5"], lambda lines: [*lines[:4], *lines[5:]]),
    "insertion": (
        [
            "UPDATE records SET seq = seq + 1000 WHERE seq >= 5",
            "UPDATE records SET seq = seq - 999 WHERE seq >= 1005",
            "INSERT INTO records (seq, prev_hash, hash, kind, body) "
            "SELECT 5, prev_hash, hash, kind, body "
            "FROM records WHERE seq = 4",
        ],
        lambda lines: [*lines[:4], lines[3], *lines[4:]],
    ),
    "reordering": (
        [
            "UPDATE records SET seq = 1000 WHERE seq = 5",
            "UPDATE records SET seq = 5 WHERE seq = 6",
            "UPDATE records SET seq = 6 WHERE seq = 1000",
        ],
        lambda lines: [*lines[:4], lines[5], lines[4], *lines[6:]],
    ),
    "truncation": (["DELETE FROM records WHERE seq = 8"], lambda lines: lines[:-1]),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_every_kind_of_tampering_is_detected_at_the_first_bad_record(
    kind: str, target: str, durable: FrontDoor
) -> None:
    write_log(target, durable)
    assert verify_log(target).ok
    statements, change = TAMPERING[kind]
    before = _contents(target)
    if target.endswith(".jsonl"):
        _tamper_jsonl(target, change)
    else:
        _tamper_sql(target, statements)
    assert _contents(target) != before, "the tampering changed nothing"
    report = verify_log(target)
    assert not report.ok
    assert report.first_bad is not None
    position, what = report.first_bad
    expected_position = 8 if kind == "truncation" else 5
    assert position == expected_position, what
    if kind == "truncation":
        assert "truncation" in what


def test_verify_cli_names_the_first_bad_record_and_exits_1(
    tmp_path: Path, durable: FrontDoor
) -> None:
    target = str(tmp_path / "log.jsonl")
    write_log(target, durable)
    clean = subprocess.run(
        [sys.executable, "-m", "triage.cli", "verify", target], capture_output=True, text=True
    )
    assert clean.returncode == 0
    assert "OK: 8 record(s)" in clean.stdout
    _tamper_jsonl(target, TAMPERING["deletion"][1])
    broken = subprocess.run(
        [sys.executable, "-m", "triage.cli", "verify", target], capture_output=True, text=True
    )
    assert broken.returncode == 1
    assert "position 5" in broken.stdout


# -- several writers, crashes ------------------------------------------------------------------

WRITER = """
import sys
from triage import FrontDoor
from triage.audit import DecisionLog
sys.path.insert(0, {root!r})
from tests.conftest import make_referral, concerns
door = FrontDoor(engine="reference")
with DecisionLog(sys.argv[1], key={key!r}) as log:
    for i in range(int(sys.argv[2])):
        referral_id = f"R-{{sys.argv[3]}}-{{i}}"
        found = concerns("missing_regularly")
        log.route(door, make_referral(referral_id=referral_id, concerns=found))
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_several_processes_writing_at_once_keep_one_chain(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    target = (
        f"sqlite:///{tmp_path / 'log.sqlite'}"
        if kind == "sqlite"
        else _new_database(request.getfixturevalue("pg_server"))
    )
    script = WRITER.format(root=str(ROOT), key=KEY)
    writers = [
        subprocess.Popen([sys.executable, "-c", script, target, "40", str(n)]) for n in range(4)
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0, 0]
    report = verify_log(target)
    assert report.ok, str(report)
    # the genesis and one snapshot: the first writer's, inside its first batch
    assert report.records == 4 * 40 + 2
    store = open_store(target)
    try:
        ids = [r.input["referral"]["referral_id"] for r in read_records(store) if r.input]  # type: ignore[index,call-overload]
    finally:
        store.close()
    assert len(set(ids)) == 160  # nothing lost, nothing twice


def test_a_writer_killed_mid_write_leaves_complete_records_verifiable(tmp_path: Path) -> None:
    target = str(tmp_path / "log.jsonl")
    script = WRITER.format(root=str(ROOT), key=KEY)
    writer = subprocess.Popen([sys.executable, "-c", script, target, "100000", "0"])
    deadline = time.monotonic() + 60
    while (
        not Path(target).exists() or Path(target).stat().st_size < 200_000
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    report = verify_log(target)
    assert report.first_bad is None, str(report)  # every complete record verifies
    assert report.records > 10
    if report.torn_tail is not None:  # the kill landed inside a write: reported, never dropped
        assert not report.ok
        assert "torn tail" in str(report)


def test_a_torn_last_line_is_reported_and_blocks_appends(
    tmp_path: Path, durable: FrontDoor
) -> None:
    target = tmp_path / "log.jsonl"
    write_log(str(target), durable)
    whole = target.read_bytes()
    with target.open("ab") as handle:
        handle.write(b'{"seq":9,"prev_hash":"abc')  # a write cut short by a crash
    report = verify_log(str(target))
    assert report.first_bad is None
    assert report.records == 8
    assert report.torn_tail is not None
    assert report.torn_tail.offset == len(whole)
    assert not report.ok
    with pytest.raises(LogError, match="incomplete"), DecisionLog(target, key=KEY) as log:
        log.route(durable, SAMPLES[0])
    assert target.read_bytes().startswith(whole)  # nothing repaired, nothing lost


def test_a_torn_last_line_cut_inside_a_character_is_reported_as_torn(
    tmp_path: Path, durable: FrontDoor
) -> None:
    """A crash can cut a write between the bytes of one UTF-8 character (here the first of
    the two bytes of an e with an acute accent): still a torn tail, never a decoding crash."""
    target = tmp_path / "log.jsonl"
    write_log(str(target), durable)
    whole = target.read_bytes()
    with target.open("ab") as handle:
        handle.write('{"seq":9,"prev_hash":"abc","record":{"x":"caf\u00e9'.encode()[:-1])
    report = verify_log(str(target))
    assert report.first_bad is None
    assert report.records == 8
    assert report.torn_tail is not None
    assert report.torn_tail.offset == len(whole)
    # the decisions; the genesis and the snapshot are not decisions
    assert replay_log(str(target)).records == 8 - 2


def test_a_stored_line_with_bytes_that_are_not_utf8_fails_its_hash(
    tmp_path: Path, durable: FrontDoor
) -> None:
    target = tmp_path / "log.jsonl"
    write_log(str(target), durable)
    lines = target.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"level"', b'"lev\xffl"', 1)
    target.write_bytes(b"".join(lines))
    report = verify_log(str(target))
    assert report.first_bad is not None
    position, what = report.first_bad
    assert position == 3, what


# -- what-if -----------------------------------------------------------------------------------


@pytest.fixture(name="revised_dir", scope="module")
def fixture_revised_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kent with one threshold changed: level-2 accumulation needs 4 needs, not 3."""
    old, new = "- concerns: {level: 2, min: 3}", "- concerns: {level: 2, min: 4}"
    assert (bundled_rules_dir() / "rules.yaml").read_text(encoding="utf-8").count(old) == 1
    return edited_kent(tmp_path_factory.mktemp("revised") / "rules", ("rules.yaml", old, new))


@settings(max_examples=5, deadline=None)
@given(batch=st.lists(referrals(max_concerns=6), min_size=30, max_size=60))
def test_what_if_reports_exactly_the_children_whose_route_changes(
    batch: list[dict[str, Any]], revised_dir: Path, durable: FrontDoor, reference: FrontDoor
) -> None:
    """Raise the level-2 accumulation threshold from 3 to 4 needs: the what-if names exactly the
    children whose level or route the revised rulebook changes, computed here independently."""
    revised = FrontDoor(load_rulebook(revised_dir), engine="reference")
    pseudonym = Pseudonymiser(KEY.encode())
    expected = set()
    for n, item in enumerate(batch):
        item["referral_id"] = f"R-W-{n}"
        for old, new in zip(reference.route(item), revised.route(item), strict=True):
            if (old.level, old.route) != (new.level, new.route):
                # seq 1 is the genesis record, seq 2 the rulebook snapshot
                expected.add((n + 3, pseudonym(old.child_id)))
    with tempfile.TemporaryDirectory() as folder:
        target = f"sqlite:///{Path(folder) / 'log.sqlite'}"
        with DecisionLog(target, key=KEY) as log:
            log.route_batch(durable, batch)
        report = replay_log(target, against=revised_dir)
    assert report.decisions == sum(len(item["children"]) for item in batch)
    assert {(o.seq, o.child) for o in report.outcomes if not o.identical} == expected


def test_what_if_cli_prints_matrices_json_and_csv(
    tmp_path: Path, revised_dir: Path, durable: FrontDoor
) -> None:
    target = str(tmp_path / "log.jsonl")
    write_log(target, durable)
    base = [sys.executable, "-m", "triage.cli", "replay", target, "--against", str(revised_dir)]
    table = subprocess.run(base, capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    assert "changed: 1" in table.stdout  # SAMPLES[1]: three level-2 needs in two domains
    assert "levels (rows: before, columns: after)" in table.stdout
    summary = json.loads(
        subprocess.run([*base, "--json"], capture_output=True, text=True, check=True).stdout
    )
    assert summary["different"] == 1
    assert summary["crossing_down"] == 1
    assert [3, 2, 1] in summary["level_matrix"]
    rows = subprocess.run(
        [*base, "--csv"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert rows[0].startswith("seq,child,old_level")
    assert len(rows) == len(SAMPLES) + 1


def test_replay_with_two_workers_matches_one(tmp_path: Path, durable: FrontDoor) -> None:
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    write_log(target, durable, SAMPLES * 5)
    one = replay_log(target)
    two = replay_log(target, workers=2)
    assert (two.records, two.decisions, two.different) == (one.records, one.decisions, 0)


REPLAY_WITH_WORKERS = """
import logging, sys
import structlog
from triage.audit import replay_log

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    logger_factory=structlog.PrintLoggerFactory(sys.stderr),
)
report = replay_log(sys.argv[1], workers=2)
print("replayed", report.records, report.different)
"""


def test_replay_workers_keep_the_applications_logging_configuration(
    tmp_path: Path, reference: FrontDoor
) -> None:
    """Spawned workers start with structlog's defaults (every event printed to stdout) unless
    replay carries the application's configuration over: here, drop info events."""
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    write_log(target, reference)
    done = subprocess.run(
        [sys.executable, "-c", REPLAY_WITH_WORKERS, target],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.splitlines() == [f"replayed {len(SAMPLES)} 0"]
    assert "referral_triaged" not in done.stderr


def test_replay_takes_only_a_few_chunks_ahead_of_its_workers() -> None:
    """The parent reads the log as the workers go, not all of it at once, and keeps order."""
    from concurrent.futures import ThreadPoolExecutor

    from triage.audit.replay import _in_order

    taken: list[int] = []

    def jobs() -> Iterator[int]:
        for number in range(50):
            taken.append(number)
            yield number

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = _in_order(pool, lambda n: n * n, jobs(), ahead=4)
        first = next(results)
        assert first == 0
        assert len(taken) <= 6
        assert [first, *results] == [n * n for n in range(50)]
