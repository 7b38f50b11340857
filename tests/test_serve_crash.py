"""`triage serve` killed with SIGKILL while clients route: the log verifies afterwards and holds
every decision the server acknowledged (the load benchmark's crash run, small)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.serve import crash
from tests.conftest import concerns, make_referral


def test_a_server_killed_mid_load_loses_no_acknowledged_decision(tmp_path: Path) -> None:
    bodies = [
        json.dumps(
            make_referral(referral_id=f"R-KILL-{number}", concerns=concerns("domestic_abuse"))
        )
        for number in range(400)
    ]
    found = crash(tmp_path, bodies, clients=4, kill_after=25)
    assert found.acknowledged >= 25
    assert found.acknowledged < len(bodies)  # killed mid-load, not after the last answer
    assert found.verified
    assert found.in_log == found.acknowledged
    # genesis, the rulebook snapshot, and a record per acknowledged referral at least
    assert found.records >= found.acknowledged + 2
