"""Every runnable script in `examples/` runs to the end and says what it did.

Each script runs in a subprocess, from the repository root, with a synthetic pseudonymisation
key and a temporary directory of its own. A new script is picked up by the glob and fails until
its key phrase is added to PHRASES.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))

# A phrase each script prints only when it has done its job, keyed by file name.
PHRASES = {
    "embed_in_case_system.py": "1 journey transition recorded",
    "auditor_verify_and_replay.py": "the original log verifies and replays identically",
    "threshold_what_if.py": "raising the level-2 accumulation minimum from 3 to 4 changes",
}


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.name for script in SCRIPTS])
def test_example_script_runs(script: Path, tmp_path: Path) -> None:
    assert script.name in PHRASES, f"add the key phrase of examples/{script.name} to PHRASES"
    env = {
        **os.environ,
        "TRIAGE_LOG_KEY": "synthetic-test-key-for-the-examples",
        "TMPDIR": str(tmp_path),
    }
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert PHRASES[script.name] in run.stdout, run.stdout
    assert list(tmp_path.iterdir()) == [], "a script left files behind in its temporary directory"


def test_every_phrase_names_a_script() -> None:
    assert sorted(PHRASES) == [script.name for script in SCRIPTS]


def test_every_script_documents_itself_and_runs_only_as_main() -> None:
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        assert text.startswith('"""'), f"{script.name} needs a module docstring"
        assert 'if __name__ == "__main__":' in text, script.name
