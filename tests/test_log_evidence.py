"""Evidence that holds: the reproductions of `shared/reviews/reliability.md` (D1, D5, D7, D9,
D11, D12, D13, D14, D16) against the decision log, on each store where they apply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from triage import FrontDoor, simulate
from triage.audit import DecisionLog, replay_log, verify_log
from triage.audit.record import Pseudonymiser, minimise_referral
from triage.audit.show import render_record, show_record
from triage.errors import LogError, UsageError
from triage.journey import Journeys
from triage.simulation import simulate_journeys

from .conftest import concerns, make_referral
from .strategies import referrals
from .tampering import read_raw, rechain, sql, table, write_raw
from .test_audit import (
    KEY,
    ROOT,
    SAMPLES,
    _new_database,
    fixture_pg_server,
    fixture_target,
    write_log,
)

# the PostgreSQL server and the fresh log of each kind, shared with the store suite
__all__ = ["fixture_pg_server", "fixture_target"]

# SAMPLES as write_log records them: seq 1 the genesis, 2 the snapshot, 3 the physical abuse
# referral (level 4, strategy discussion), 4 and 5 single referrals, 5-8 one batch.
PHYSICAL_ABUSE_SEQ = 3
RECORDS = len(SAMPLES) + 2


@pytest.fixture(name="sql_target", params=["sqlite", "postgresql"])
def fixture_sql_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.sqlite'}"
    return _new_database(request.getfixturevalue("pg_server"))


def head_of(target: str) -> tuple[int, str]:
    report = verify_log(target)
    assert report.ok, str(report)
    assert report.head is not None
    return report.head


def level_one_body(tmp_path: Path, door: FrontDoor) -> str:
    """A genuine level-1 decision record made by triage itself in a scratch log (same key)."""
    scratch = str(tmp_path / "scratch.jsonl")
    with DecisionLog(scratch, key=KEY) as log:
        log.route(door, make_referral(concerns=concerns("adequate_housing")))
    body = read_raw(scratch)[-1][5]
    assert '"route":"universal_services"' in body
    return body


# -- D1: forgery past the head --------------------------------------------------------------------


def test_a_forged_decision_with_a_record_after_the_head_fails_verify_and_replay(
    target: str, tmp_path: Path, durable: FrontDoor
) -> None:
    """The consistent forgery of D1: a level-4 strategy discussion replaced by a genuine level-1
    record from another log, the chain recomputed, one record added after the head, the head
    left alone. Before, verify, verify --expect-head and replay all passed."""
    write_log(target, durable)
    anchor = head_of(target)
    records = read_raw(target)
    assert '"route":"strategy_discussion"' in records[PHYSICAL_ABUSE_SEQ - 1][5]
    records[PHYSICAL_ABUSE_SEQ - 1] = (
        *records[PHYSICAL_ABUSE_SEQ - 1][:5],
        level_one_body(tmp_path, durable),
    )
    forged = rechain([*records, records[-1]])
    write_raw(target, forged)

    plain = verify_log(target)
    assert not plain.ok
    assert plain.first_bad is not None
    assert "does not carry the head's hash" in plain.first_bad[1]
    anchored = verify_log(target, expect_head=f"{anchor[0]}:{anchor[1]}")
    assert not anchored.ok
    with pytest.raises(LogError, match="does not verify"):
        replay_log(target)


@pytest.mark.parametrize(
    "tamper",
    ["head rolled back 5 records", "head at seq 3 with a bogus hash", "a longer log's head"],
)
def test_a_head_that_does_not_name_the_last_record_fails_verify(
    target: str, tamper: str, tmp_path: Path, durable: FrontDoor
) -> None:
    write_log(target, durable)
    records = read_raw(target)
    if tamper == "head rolled back 5 records":
        seq, digest = records[-6][0], records[-6][2]
    elif tamper == "head at seq 3 with a bogus hash":
        seq, digest = 3, "f" * 64
    else:  # the head of a shorter log written by the same code
        shorter = str(tmp_path / "short.jsonl")
        write_log(shorter, durable, SAMPLES[:2])
        seq, digest = head_of(shorter)
    write_raw(target, records, head=(seq, digest))
    report = verify_log(target)
    assert not report.ok, str(report)
    assert "NOT OK" in str(report)


def test_records_after_a_json_lines_head_fail_unless_allowed_as_a_crash(
    tmp_path: Path, durable: FrontDoor
) -> None:
    target = str(tmp_path / "log.jsonl")
    write_log(target, durable)
    records = read_raw(target)
    write_raw(target, records, head=(records[-3][0], records[-3][2]))  # as a crash leaves it
    report = verify_log(target)
    assert not report.ok
    assert report.unanchored == 2
    assert "2 record(s) after the head" in str(report)
    allowed = verify_log(target, allow_unanchored_tail=True)
    assert allowed.ok, str(allowed)
    assert replay_log(target, allow_unanchored_tail=True).different == 0


def test_records_after_an_sql_head_are_never_allowed(tmp_path: Path, durable: FrontDoor) -> None:
    """An SQL store moves its head in the records' transaction: no crash leaves records after
    it, so allowing an unanchored tail does not apply there."""
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    write_log(target, durable)
    records = read_raw(target)
    write_raw(target, records, head=(records[-3][0], records[-3][2]))
    report = verify_log(target, allow_unanchored_tail=True)
    assert not report.ok
    assert report.first_bad is not None
    assert "the log was edited" in report.first_bad[1]


def test_an_expected_head_is_checked_against_the_chain_not_the_stored_head(
    target: str, durable: FrontDoor
) -> None:
    write_log(target, durable)
    seq, digest = head_of(target)
    assert verify_log(target, expect_head=f"{seq}:{digest}").ok
    assert verify_log(target, expect_head=f"{seq - 2}:{read_raw(target)[seq - 3][2]}").ok
    wrong = verify_log(target, expect_head=f"{seq - 2}:{'a' * 64}")
    assert not wrong.ok
    assert wrong.first_bad is not None
    assert f"seq {seq - 2} is not the record the expected head vouches for" in wrong.first_bad[1]
    beyond = verify_log(target, expect_head=f"{seq + 3}:{digest}")
    assert not beyond.ok


def test_one_verdict_per_run_on_the_command_line(tmp_path: Path, durable: FrontDoor) -> None:
    """Before, a wrong --expect-head printed `OK: ...` on stdout and `FAILED` on stderr."""
    target = str(tmp_path / "log.jsonl")
    write_log(target, durable)
    done = subprocess.run(
        [sys.executable, "-m", "triage.cli", "verify", target, "--expect-head", f"3:{'b' * 64}"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "OK:" not in done.stdout.replace("NOT OK:", "")
    assert "NOT OK:" in done.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "triage.cli", "verify", target, "--json"],
        capture_output=True,
        text=True,
    )
    assert as_json.returncode == 0
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["records"], report["first_failure"]) == (True, RECORDS, None)
    assert report["head"]["seq"] == RECORDS
    assert set(report["checks"]) >= {"chain", "genesis", "head"}


# -- D16 and D12: bytes and columns outside the hashed body ----------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        lambda line: line.replace('{"seq":', '{"approved_by":"forged","seq":', 1),
        lambda line: line[:-2] + "]\n",
        lambda line: line.replace('{"seq":5,', '{"seq":"5",', 1),
        lambda line: line.replace('"kind":"triage_decision"', '"kind":"rulebook_snapshot"', 1),
    ],
    ids=["field added to the prefix", "last brace", "seq as text", "kind"],
)
def test_an_edit_outside_the_body_of_a_json_lines_record_fails_verify(
    tmp_path: Path, durable: FrontDoor, edit: Callable[[str], str]
) -> None:
    target = tmp_path / "log.jsonl"
    write_log(str(target), durable)
    lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = edit(lines[4])
    target.write_text("".join(lines), encoding="utf-8")
    report = verify_log(str(target))
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad[0] == 5, report.first_bad[1]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {t} SET fingerprint = NULL WHERE kind = 'rulebook_snapshot'",
        "UPDATE {t} SET kind = 'journey_transition' WHERE seq = 5",
        "UPDATE {t} SET fingerprint = (SELECT fingerprint FROM {t} WHERE seq = 2) WHERE seq = 4",
    ],
    ids=["snapshot fingerprint cleared", "kind changed", "fingerprint moved to a decision"],
)
def test_an_edit_of_a_column_beside_the_body_fails_verify(
    sql_target: str, durable: FrontDoor, statement: str
) -> None:
    target = sql_target
    write_log(target, durable)
    with sql(target) as db:
        db.execute(statement.format(t=table(target)))
    report = verify_log(target)
    assert not report.ok, str(report)
    with pytest.raises(LogError):
        replay_log(target)


# -- the witness: a rewrite of the whole log and its head ----------------------------------------


def test_a_witness_catches_a_consistent_rewrite_of_the_whole_log(
    target: str, tmp_path: Path, durable: FrontDoor
) -> None:
    """Rewriting every record and the head consistently is the documented limit of a hash chain
    on its own: verify passes. A witness kept apart from the log catches it."""
    witness = tmp_path / "heads.jsonl"
    with DecisionLog(target, key=KEY, witness=witness) as log:
        for sample in SAMPLES:
            log.route(durable, sample)
    assert verify_log(target, witness=witness).ok
    entries = witness.read_text(encoding="utf-8").splitlines()
    assert len(entries) == len(SAMPLES)  # one head per append
    records = read_raw(target)
    records[PHYSICAL_ABUSE_SEQ - 1] = (
        *records[PHYSICAL_ABUSE_SEQ - 1][:5],
        level_one_body(tmp_path, durable),
    )
    forged = rechain(records)
    write_raw(target, forged, head=(forged[-1][0], forged[-1][2]))
    assert verify_log(target).ok  # the limit: the log alone cannot tell
    caught = verify_log(target, witness=witness)
    assert not caught.ok
    assert caught.first_bad is not None
    assert "witness line" in caught.first_bad[1]


def test_a_witness_catches_a_log_replaced_by_a_shorter_valid_one(
    tmp_path: Path, durable: FrontDoor
) -> None:
    target, witness = str(tmp_path / "log.jsonl"), tmp_path / "heads.jsonl"
    with DecisionLog(target, key=KEY, witness=witness) as log:
        log.route_batch(durable, SAMPLES)
    other = str(tmp_path / "other.jsonl")
    write_log(other, durable, SAMPLES[:2])
    os.replace(other, target)
    os.replace(other + ".head", target + ".head")
    assert verify_log(target).ok
    caught = verify_log(target, witness=witness)
    assert not caught.ok
    assert caught.first_bad is not None
    assert "another log" in caught.first_bad[1]


def test_a_record_copied_from_another_log_never_verifies(
    tmp_path: Path, durable: FrontDoor
) -> None:
    """Every hash covers the log's id: the same record at the same place, linked the same way,
    hashes differently in another log, so a chain cannot be spliced from two logs."""
    one, two = str(tmp_path / "one.jsonl"), str(tmp_path / "two.jsonl")
    write_log(one, durable)
    write_log(two, durable)
    first, second = read_raw(one), read_raw(two)
    spliced = [*first[:2], *second[2:]]  # the genesis and snapshot of one, the rest of two
    spliced = [(*r[:1], first[i - 1][2] if i == 2 else r[1], *r[2:]) for i, r in enumerate(spliced)]
    write_raw(one, spliced, head=(spliced[-1][0], spliced[-1][2]))
    report = verify_log(one)
    assert not report.ok
    assert report.first_bad is not None
    assert report.first_bad[0] == 3


# -- D11: a missing log is not a clean log ------------------------------------------------------


@pytest.mark.parametrize("name", ["decisons.sqlite", "decisons.jsonl", "nodir/x.sqlite"])
def test_reading_a_log_that_does_not_exist_says_so_and_creates_nothing(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    for read in (verify_log, replay_log):
        with pytest.raises(LogError, match="there is no log here"):
            read(path)
    assert not path.exists()
    done = subprocess.run(
        [sys.executable, "-m", "triage.cli", "verify", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "there is no log here" in done.stderr
    assert "Traceback" not in done.stderr
    assert not path.exists()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_text("not a database"), "the database refused"),
        (lambda p: p.mkdir(), "a directory"),
    ],
    ids=["not a database", "a directory"],
)
def test_a_sqlite_path_that_is_not_a_log_is_a_log_error(
    tmp_path: Path, make: Callable[[Path], object], words: str
) -> None:
    path = tmp_path / "x.sqlite"
    make(path)
    with pytest.raises(LogError, match=words):
        verify_log(path)


def test_a_corrupt_json_lines_head_is_a_log_error(tmp_path: Path, durable: FrontDoor) -> None:
    target = tmp_path / "log.jsonl"
    write_log(str(target), durable)
    for text in ("{bad", '{"seq": "x", "hash": "y"}', "[]"):
        Path(str(target) + ".head").write_text(text)
        with pytest.raises(LogError, match="the head file is not a head"):
            verify_log(target)


def test_a_postgresql_database_that_does_not_exist_is_a_log_error(pg_server: str) -> None:
    missing = pg_server.replace("/postgres?", "/no_such_database?")
    with pytest.raises(LogError, match="the database refused"):
        verify_log(missing)


# -- D13: keys ---------------------------------------------------------------------------------


def test_a_refused_write_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGE_LOG_KEY", raising=False)
    for name in ("log.jsonl", "log.sqlite"):
        with pytest.raises(LogError, match=r"secrets\.token_urlsafe"):
            DecisionLog(tmp_path / name)
        assert not (tmp_path / name).exists()


@pytest.mark.parametrize("key", [" " * 16, "0" * 16, "x" * 40, "fifteen-chars15"])
def test_a_weak_key_is_refused_with_a_hint(tmp_path: Path, key: str) -> None:
    with pytest.raises(LogError, match=r"secrets\.token_urlsafe"):
        DecisionLog(tmp_path / "log.jsonl", key=key)
    assert not (tmp_path / "log.jsonl").exists()


def test_appending_under_another_key_is_refused(target: str, durable: FrontDoor) -> None:
    with DecisionLog(target, key=KEY) as log:
        log.route(durable, SAMPLES[0])
    with (
        DecisionLog(target, key="another-synthetic-key-02") as other,
        pytest.raises(LogError, match="another key"),
    ):
        other.route(durable, SAMPLES[1])
    assert verify_log(target).records == 3  # genesis, snapshot, the one decision
    with DecisionLog(target, key=KEY) as log:  # the log's own key still appends
        log.route(durable, SAMPLES[1])
    assert verify_log(target).records == 4


def test_the_genesis_names_the_key_by_a_fingerprint_never_the_key(
    tmp_path: Path, durable: FrontDoor
) -> None:
    target = tmp_path / "log.jsonl"
    with DecisionLog(target, key=KEY) as log:
        log.route(durable, SAMPLES[0])
        fingerprint = log.key_fingerprint
    genesis = json.loads(read_raw(str(target))[0][5])
    assert genesis["key_fingerprint"] == fingerprint
    text = target.read_text(encoding="utf-8")
    assert KEY not in text
    assert Pseudonymiser(KEY.encode())("x") not in fingerprint


# -- D5: a log that is being written verifies ------------------------------------------------------

WRITER = """
import sys, pathlib
sys.path.insert(0, {root!r})
from triage import FrontDoor
from triage.audit import DecisionLog
from tests.conftest import make_referral, concerns
door = FrontDoor(engine="reference")
stop = pathlib.Path(sys.argv[2])
with DecisionLog(sys.argv[1], key={key!r}) as log:
    n = 0
    while not stop.exists() and n < 20000:
        batch = [make_referral(referral_id=f"R-L-{{n + i}}", concerns=concerns("missing_regularly"))
                 for i in range(5)]
        log.route_batch(door, batch)
        n += 5
"""


def test_verify_beside_a_writer_gives_no_false_alarm_in_100_runs(
    target: str, tmp_path: Path, reference: FrontDoor
) -> None:
    """Before, SQLite gave false "truncation" in 23 of 25 runs and PostgreSQL in 14 of 15."""
    with DecisionLog(target, key=KEY) as log:
        log.route(reference, SAMPLES[0])
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(root=str(ROOT), key=KEY), target, str(stop)]
    )
    try:
        deadline = time.monotonic() + 60
        while verify_log(target).records <= 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the writer has begun appending
        counts = []
        for _ in range(100):
            report = verify_log(target)
            assert report.ok, str(report)
            counts.append(report.records)
        assert writer.poll() is None, "the writer stopped before verify was done"
    finally:
        stop.touch()
        writer.wait(timeout=120)
    assert counts[-1] > counts[0], "verify never ran beside an append"
    assert verify_log(target).ok


# -- D7 and D9: a full disk, a big record ----------------------------------------------------------


@pytest.fixture(name="small_disk")
def fixture_small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real full disk: a 1 MiB tmpfs (needs root, as on CI)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_a_full_disk_keeps_nothing_of_the_batch_and_says_so(
    small_disk: Path, kind: str, reference: FrontDoor
) -> None:
    path = small_disk / f"log.{kind}"
    target = str(path) if kind == "jsonl" else f"sqlite:///{path}"
    batch = [
        make_referral(referral_id=f"R-F-{n}", concerns=concerns("missing_regularly"))
        for n in range(100)
    ]
    written = 0
    with DecisionLog(target, key=KEY) as log:
        for _ in range(100):
            try:
                log.route_batch(reference, batch)
            except LogError as error:
                message = error.message
                break
            written += 1
        else:
            pytest.fail("a 1 MiB disk took 10,000 decisions")
    assert "Traceback" not in message
    if kind == "jsonl":
        assert "nothing of this batch was kept" in message
    else:
        assert "disk is full" in message
    report = verify_log(target)
    assert report.ok, str(report)  # nothing torn, nothing after the head
    decisions = report.records - 2
    assert decisions == written * len(batch)  # whole batches only


def test_a_record_over_one_mebibyte_can_be_followed_by_another(
    tmp_path: Path, reference: FrontDoor
) -> None:
    """Before, the store read only the last 1 MiB to find the last record: a bigger record made
    the log unappendable while verify said OK."""
    target = tmp_path / "big.jsonl"
    children = [{"child_id": f"C-{n}", "date_of_birth": "2015-01-01"} for n in range(1300)]
    with DecisionLog(target, key=KEY) as log:
        log.route(reference, make_referral(children=children, concerns=concerns("neglect_chronic")))
        assert target.stat().st_size > 1 << 20
        log.route(reference, SAMPLES[0])
    assert verify_log(target).records == 4
    started = time.monotonic()
    assert replay_log(target).different == 0
    assert time.monotonic() - started < 120


# -- D13: minimisation keeps what replay needs and nothing more ---------------------------------


@settings(max_examples=150, deadline=None)
@given(referral=referrals())
def test_the_minimised_referral_decides_exactly_as_the_original(
    referral: dict[str, Any], reference: FrontDoor
) -> None:
    """What the log keeps of a referral routes to the same outcome in every field that is not
    an id, and keeps no exact date but the day of receipt: ages, unborn, the 12-month count."""
    original = reference.validate(referral)
    minimal, privacy = minimise_referral(original, Pseudonymiser(KEY.encode()))
    before, after = reference.route(original), reference.route(minimal)
    ignored = {"decision_id", "referral_id", "child_id"}
    assert [d.model_dump(exclude=ignored) for d in after] == [
        d.model_dump(exclude=ignored) for d in before
    ]
    received = original.received_on.isoformat()
    for child, logged in zip(original.children, minimal["children"], strict=True):
        assert set(logged.get("previous_referrals", [])) <= {received}
        if child.expected_date_of_birth is not None:
            assert logged["expected_date_of_birth"] == received
        assert "since" not in logged.get("open_involvement", {})
    logged_at = datetime.fromisoformat(minimal["received_at"])
    assert logged_at.utcoffset() == original.received_at.utcoffset()  # the same offset
    assert (logged_at.date(), logged_at.time()) == (original.received_on, time_of_day(0))
    listed = set(privacy.generalised) | {r.split(" ")[0] for r in privacy.removed}
    if any(c.previous_referrals for c in original.children):
        assert "children[].previous_referrals[]" in listed
    if any(c.expected_date_of_birth for c in original.children):
        assert "children[].expected_date_of_birth" in listed


# -- the auditor's tools: show one decision, stream a what-if's rows ------------------------------


def test_show_finds_a_decision_by_seq_by_pseudonym_and_by_the_case_systems_id(
    tmp_path: Path, durable: FrontDoor
) -> None:
    target = tmp_path / "log.jsonl"
    with DecisionLog(target, key=KEY) as log:
        (decision,) = log.route(durable, SAMPLES[0])  # physical abuse: level 4
    by_seq = show_record(target, "3")
    pseudonym = Pseudonymiser(KEY.encode())(decision.decision_id)
    assert show_record(target, pseudonym) == by_seq
    assert show_record(target, decision.decision_id, KEY.encode()) == by_seq
    text = render_record(by_seq)
    assert "level 4 Specialist -> strategy_discussion" in text
    assert "rules fired: single_level_4_indicator" in text
    assert decision.reasons[0] in text
    assert decision.decision_id not in text  # the log holds pseudonyms only
    assert "R-A-0" not in text
    with pytest.raises(UsageError, match="genesis"):
        show_record(target, "1")
    with pytest.raises(UsageError, match="TRIAGE_LOG_KEY"):
        show_record(target, decision.decision_id)
    with pytest.raises(LogError, match="no record with seq 99"):
        show_record(target, "99")


def test_a_what_if_streams_its_rows_and_keeps_no_list_of_children(
    tmp_path: Path, durable: FrontDoor
) -> None:
    target = str(tmp_path / "log.jsonl")
    write_log(target, durable)
    whole = replay_log(target)
    streamed: list[Any] = []
    flat = replay_log(target, rows=streamed.append)
    assert flat.outcomes == []
    assert streamed == whole.outcomes
    assert (flat.decisions, flat.different, flat.level_matrix()) == (
        whole.decisions,
        whole.different,
        whole.level_matrix(),
    )
    rows = tmp_path / "rows.csv"
    done = subprocess.run(
        [sys.executable, "-m", "triage.cli", "replay", target, "--rows", str(rows)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = rows.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "seq,child,old_level,old_route,new_level,new_route,identical"
    assert len(lines) == 1 + len(SAMPLES)


# -- journeys are decided again by replay, on the pathway snapshotted in the chain --------------


def test_replay_decides_journey_records_again_on_their_snapshots(
    tmp_path: Path, reference: FrontDoor
) -> None:
    """Before, journey records were verified by the chain but never re-decided: their pathway
    was not in the log."""
    target = f"sqlite:///{tmp_path / 'log.sqlite'}"
    journeys = Journeys(reference.rulebook, engine="reference")
    referrals = list(simulate(120, 5, reference.rulebook))
    with DecisionLog(target, key=KEY) as log:
        routed = list(zip(referrals, log.route_batch(reference, referrals), strict=True))
        events = [journeys.validate(event) for event in simulate_journeys(routed, 0)]
        decided = [journeys.decide(event) for event in events]
        log.record_transitions(journeys, events, decided)
    assert len(events) > 20
    kinds = [row[3] for row in read_raw(target)]
    assert kinds.count("pathway_snapshot") == 1  # stored once, with the first journeys
    faithful = replay_log(target)
    assert (faithful.journeys, faithful.journeys_different) == (len(events), 0)

    # a moved journey record is found out, even with the chain recomputed (unverified replay)
    records = read_raw(target)
    at = kinds.index("journey_transition")
    body = json.loads(records[at][5])
    before = body["output"][0]["to_service"]
    body["output"][0]["to_service"] = (
        "universal_services" if before != "universal_services" else "closure"
    )
    edited = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    records[at] = (*records[at][:5], edited)
    forged = rechain(records)
    write_raw(target, forged, head=(forged[-1][0], forged[-1][2]))
    moved = replay_log(target, verify=False)
    assert moved.journeys_different == 1
    assert moved.journey_changes[0][0] == records[at][0]
