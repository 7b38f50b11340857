"""`triage demo` runs the whole story: simulate, route, decide, log, verify, replay, report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from triage.audit import verify_log


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "triage.cli",
            "demo",
            "--n",
            "300",
            "--seed",
            "5",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "routed 300 referrals" in run.stdout
    assert "OK:" in run.stdout
    assert " 0 different" in run.stdout
    assert "REFERRALS BY REFERRING AGENCY" in run.stdout.upper()
    html = tmp_path / "report.html"
    assert html.exists()
    assert "<svg" in html.read_text(encoding="utf-8")
    assert (tmp_path / "pathway.svg").exists() or (tmp_path / "pathway.mmd").exists()
    report = verify_log(tmp_path / "decisions.sqlite")
    assert report.ok
    assert report.records > 300  # referrals, journey transitions and the rulebook snapshot
