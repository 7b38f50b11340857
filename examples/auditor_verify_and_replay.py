"""An auditor's check of a decision log: verify the chain, replay every decision, catch tampering.

1. Builds a small decision log (SQLite, in a temporary directory): synthetic referrals from
   `triage.simulate`, routed by the bundled Kent rulebook in three batches.
2. Verifies it: every record's hash, the links between records, and the head. Prints the head,
   which an auditor records somewhere the log's writers cannot change (`--expect-head` later).
3. Replays it: each record's minimised referral is routed again with the rulebook snapshot
   stored in the log, on the recorded date, and every outcome field is compared.
4. Tampers with copies, as someone hiding a decision might: one copy has a decision's route
   edited, another has a record deleted. `verify` names the first bad record of each, and
   replay of the edited copy shows the edited decision as different.

Ids in the log are pseudonymised under `TRIAGE_LOG_KEY` (a synthetic default when unset). All
data is synthetic; everything is written to a temporary directory, removed at the end.

Run: `.venv/bin/python examples/auditor_verify_and_replay.py`
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import structlog

from triage import FrontDoor, simulate
from triage.audit import KEY_VARIABLE, DecisionLog, replay_log, verify_log
from triage.audit.replay import render_replay
from triage.errors import LogError

# Synthetic, for this example only; a real key lives apart from the log.
EXAMPLE_KEY = "synthetic-example-pseudonymisation-key"
REFERRALS = 12
BATCH = 4
SEED = 2026


def build_log(path: Path, key: str) -> None:
    door = FrontDoor()
    referrals = list(simulate(REFERRALS, seed=SEED))
    with DecisionLog(f"sqlite:///{path}", key=key) as log:
        for start in range(0, len(referrals), BATCH):
            log.route_batch(door, referrals[start : start + BATCH])
    print(f"built {path.name}: {REFERRALS} synthetic referrals in {REFERRALS // BATCH} batches")


def copy_log(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite log (the backup API copies the WAL's content too)."""
    with closing(sqlite3.connect(source)) as old, closing(sqlite3.connect(target)) as new:
        old.backup(new)


def edit_a_decision(path: Path) -> int:
    """Downgrade the first decision at level 3 or 4 to universal services; return its seq."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT seq, body FROM records WHERE kind = 'triage_decision' ORDER BY seq"
        ).fetchall()
        for seq, body in rows:
            record = json.loads(body)
            decision = record["output"][0]
            if (decision["level"] or 0) >= 3:
                print(
                    f"  editing seq {seq}: route {decision['route']} -> universal_services "
                    "(the hash is left as it was)"
                )
                decision["route"] = "universal_services"
                edited = json.dumps(record, sort_keys=True, separators=(",", ":"))
                db.execute("UPDATE records SET body = ? WHERE seq = ?", (edited, seq))
                db.commit()
                return int(seq)
    raise SystemExit("no decision at level 3 or 4 to edit in the synthetic log")


def delete_a_record(path: Path, seq: int) -> None:
    print(f"  deleting seq {seq}")
    with closing(sqlite3.connect(path)) as db:
        db.execute("DELETE FROM records WHERE seq = ?", (seq,))
        db.commit()


def main() -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    key = os.environ.get(KEY_VARIABLE) or EXAMPLE_KEY
    with tempfile.TemporaryDirectory(prefix="triage-audit-") as folder:
        log = Path(folder) / "decisions.sqlite"
        build_log(log, key)

        print("\n1. verify the log")
        report = verify_log(log)
        print(report)
        if not report.ok or report.head is None:
            return 1
        print(f"   record this anchor elsewhere: --expect-head {report.head[0]}:{report.head[1]}")

        print("\n2. replay every decision against the rulebook snapshot in the log")
        replay = replay_log(log)
        print(render_replay(replay))
        if replay.different:
            return 1

        print("\n3. tamper with a copy: edit a decision")
        edited = Path(folder) / "edited.sqlite"
        copy_log(log, edited)
        seq = edit_a_decision(edited)
        bad = verify_log(edited)
        print(bad)
        if bad.ok or bad.first_bad is None or f"seq {seq} was edited" not in bad.first_bad[1]:
            print("verify did not name the edited record")
            return 1
        try:
            replay_log(edited)
            print("replay did not refuse a log that does not verify")
            return 1
        except LogError as refused:
            print(f"   replay refuses the edited copy: {refused.message}")
        print("   replayed anyway, unverified (the edited decision no longer matches its rules):")
        print(render_replay(replay_log(edited, verify=False)))

        print("\n4. tamper with another copy: delete a record")
        deleted = Path(folder) / "deleted.sqlite"
        copy_log(log, deleted)
        delete_a_record(deleted, 3)
        gone = verify_log(deleted)
        print(gone)
        if gone.ok:
            print("verify did not notice the deleted record")
            return 1

    print("\naudit done: the original log verifies and replays identically; both copies fail")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
