"""The README works as written: its shell blocks run, in order, in a fresh copy of the
repository; its Python blocks run; its JSON block is a valid referral.

The copy holds the files git knows (tracked, or new and not ignored): no `.venv`, no log or
referrals file left from running the README by hand. The quick start's two commands,
`make demo` and `make test`, are skipped by name: the test suite is one of them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import triage
from triage import Decision, parse_referral

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SKIPPED = ("make demo", "make test")  # the quick start: the demo, and this very suite
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # where the block starts in README.md
    text: str


def readme_blocks(language: str) -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [
        Block(m[1], text.count("\n", 0, m.start()) + 1, m[2])
        for m in FENCE.finditer(text)
        if m[1] == language
    ]


def test_the_quick_start_is_exactly_make_demo_and_make_test() -> None:
    first = readme_blocks("sh")[0]
    assert first.text.split("\n")[:-1] == list(SKIPPED)


def _shell_script() -> str:
    """Every shell block in order, the quick start's commands left out, each block announced
    (stderr) so that a failure names its README line."""
    parts = ["set -euo pipefail"]
    for block in readme_blocks("sh"):
        commands = [line for line in block.text.splitlines() if line.strip() not in SKIPPED]
        if any(line.strip() for line in commands):
            parts.append(f"echo '>>> README.md line {block.line}' >&2")
            parts.extend(commands)
    return "\n".join(parts) + "\n"


def _fresh_copy(into: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # a file deleted but not yet staged is still listed
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


@pytest.mark.skipif(shutil.which("git") is None, reason="the fresh copy is made from git's list")
def test_every_readme_shell_command_runs_in_order_on_a_fresh_copy(tmp_path: Path) -> None:
    clone = _fresh_copy(tmp_path / "clone")
    assert not (clone / ".venv").exists()
    assert not (clone / "referrals.jsonl").exists()
    script = _shell_script()
    # The README's `python3` is the interpreter running these tests.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PATH": path, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # What the commands made, each checked against what the README says it makes.
    referrals = (clone / "referrals.jsonl").read_text(encoding="utf-8")
    assert len(referrals.splitlines()) == 1000
    assert (clone / "events.jsonl").stat().st_size > 0
    assert (clone / "decisions.jsonl").stat().st_size > 0
    assert (clone / "kent.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert "flowchart" in (clone / "kent.mmd").read_text(encoding="utf-8")
    assert "<html" in (clone / "report.html").read_text(encoding="utf-8").lower()
    assert list((clone / "dist").glob("frontdoor_triage-*.whl"))
    assert (clone / "my-revised-rules" / "rules.yaml").exists()
    assert "passed, 0 failed" in done.stdout
    # `--version` from the wheel installed in the copy's own .venv, without the test tools.
    assert f"triage {triage.__version__}" in done.stdout.splitlines()
    assert not (clone / ".venv" / "bin" / "pytest").exists()


# The case system's own functions that the README's embedding example calls.
class CaseSystem:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def namespace(self) -> dict[str, Any]:
        def call(name: str) -> Any:
            return lambda *args, **kwargs: self.calls.append((name, (*args, *kwargs.values())))

        names = ("show_to_referrer", "open_task", "record", "alert_front_door_manager")
        return {name: call(name) for name in names}


def test_the_embedding_example_opens_a_task_and_shows_problems_to_the_referrer() -> None:
    (block, *_) = readme_blocks("python")
    system = CaseSystem()
    namespace = system.namespace()
    exec(compile(block.text, f"README.md:{block.line}", "exec"), namespace)
    form = (REPO / "examples" / "referrals" / "police-domestic-abuse.json").read_text()

    namespace["on_referral"](form)
    # One child: Level 3 current domestic abuse, intensive early help, due the next working day.
    assert [name for name, _ in system.calls] == ["open_task", "record"]
    (_, (child, route, due)), (_, (recorded,)) = system.calls
    assert (child, route, str(due)) == ("C-1", "intensive_early_help", "2026-03-03")
    assert Decision.model_validate_json(recorded).child_id == "C-1"

    system.calls.clear()
    namespace["on_referral"](form.replace('"consent": "given"', '"consent": "maybe"'))
    ((name, (location, message, valid)),) = system.calls
    assert (name, location) == ("show_to_referrer", "consent")
    assert "given" in valid
    assert message


def test_the_other_python_blocks_run_as_they_stand() -> None:
    (_, *blocks) = readme_blocks("python")
    assert blocks
    for block in blocks:
        done = subprocess.run(
            [sys.executable, "-c", block.text],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"README.md line {block.line}: {done.stderr}"


def test_the_json_block_is_a_valid_referral() -> None:
    (block,) = readme_blocks("json")
    referral = parse_referral(block.text)
    assert referral.referral_id == "R-1"
