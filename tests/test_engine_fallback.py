"""Where durable_rules does not import (Python 3.13 and later), the reference evaluator is the
default engine, said in one line, and the durable engine is refused by name.

Tested here by making durable_rules unimportable in a fresh interpreter (`sys.modules["durable"]
= None` makes every `import durable...` fail, as it does where the package is not installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from triage import FrontDoor

EXAMPLE = (
    Path(__file__).resolve().parent.parent / "examples" / "referrals" / "police-domestic-abuse.json"
)
NO_DURABLE = "import sys\nsys.modules['durable'] = None\n"

LIBRARY = """
import logging
from pathlib import Path

from triage import FrontDoor, UsageError
from triage.journey import Journeys

logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
referral = Path(sys.argv[1]).read_text()
door = FrontDoor()
journeys = Journeys(door.rulebook)
(decision,) = door.route(referral)
print(door.evaluator.name, journeys.evaluator.name, decision.route, decision.engine)
try:
    FrontDoor(engine="durable")
except UsageError as error:
    print(error.code, error.message)
"""

CLI = "from triage.cli import main\nmain()\n"


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_durable_the_library_runs_the_reference_engine_and_says_so_once() -> None:
    done = _python(NO_DURABLE + LIBRARY, str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    chosen, refused = done.stdout.splitlines()
    assert chosen == "reference reference intensive_early_help reference"
    assert refused.startswith("usage_error the durable engine cannot run here: durable_rules")
    assert "'reference'" in refused
    (line,) = done.stderr.splitlines()  # two evaluators made, one line said
    name, level, message = line.split(" ", 2)
    assert (name, level) == ("triage", "WARNING")
    said = json.loads(message)
    assert (said["event"], said["engine"]) == ("engine_fallback", "reference")
    assert said["reason"].startswith("durable_rules does not import on Python ")


def test_without_durable_the_cli_routes_on_reference_with_one_line_on_stderr() -> None:
    done = _python(NO_DURABLE + CLI, "route", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert (decision["route"], decision["engine"]) == ("intensive_early_help", "reference")
    (line,) = done.stderr.splitlines()
    said = json.loads(line)
    assert (said["event"], said["engine"], said["log_level"]) == (
        "engine_fallback",
        "reference",
        "warning",
    )
    assert "durable_rules does not import" in said["reason"]


def test_without_durable_the_cli_refuses_the_durable_engine_by_name() -> None:
    done = _python(NO_DURABLE + CLI, "route", "--engine", "durable", str(EXAMPLE))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error [usage_error]: the durable engine cannot run here")
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="durable_rules imports before 3.13 only")
def test_where_durable_imports_it_is_the_default_engine() -> None:
    assert FrontDoor().evaluator.name == "durable"
