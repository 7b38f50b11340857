"""CI runs the benchmarks at tiny sizes so that they cannot rot. Nothing here asserts a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINES = (
    "a_floor",
    "b_durable",
    "c_compiled",
    "c_reference",
    "d_durable_logged",
    "e_verify",
    "f_replay_1w",
    "f_replay_2w",
    "g_what_if_1w",
    "g_what_if_2w",
    "g_national_projection",
    "memory_small",
    "memory_large",
    "memory_what_if_kept",
    "memory_what_if_rows",
    "h_serve_16",
    "h_serve_64",
    "h_serve_killed",
)


def test_the_benchmarks_run_at_smoke_size_and_report_every_figure(tmp_path: Path) -> None:
    """`python -m benchmarks --smoke` prints the table and writes every line with a rate."""
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    lines = {line["key"]: line for line in results["lines"]}
    assert tuple(lines) == LINES
    for key, line in lines.items():
        assert line["rate"] > 0, key
        assert line["label"] in done.stdout, key
    assert lines["memory_large"]["value"] > 0
    assert lines["g_national_projection"]["value"] > 0
    assert results["params"]["smoke"] is True
    assert set(results["serve_latency_by_clients"]) == {"16", "64"}
    assert lines["h_serve_killed"]["met"] is True  # verify passed, every acknowledgement logged
    assert "referral_triaged" not in done.stdout  # info events dropped, workers included
