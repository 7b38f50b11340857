"""A built wheel ships the Kent rulebook, and an installed copy of triage finds and loads it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import triage

REPO = Path(__file__).resolve().parent.parent
BUNDLED_RULES = "triage/_bundled/rules/kent/rules.yaml"

# Run in a fresh interpreter whose only copy of triage is the unzipped wheel (argv[1]).
CHECK_INSTALLED = """
import sys
from pathlib import Path

site, expected = Path(sys.argv[1]).resolve(), sys.argv[2]

import triage

package = Path(triage.__file__).resolve()
assert package.is_relative_to(site), f"triage imported from {package}, not the wheel"
rules = triage.bundled_rules_dir().resolve()
assert rules.is_relative_to(site), f"bundled rules at {rules}, not in the wheel"
assert "_bundled" in rules.parts, f"bundled rules at {rules}, not under _bundled"
fingerprint = triage.load_rulebook().fingerprint
assert fingerprint == expected, f"fingerprint {fingerprint} != {expected}"
pathway = triage.load_pathway(rulebook=triage.load_rulebook())
assert "_bundled" in str(triage.pathway.bundled_pathway_file()), "pathway not from the wheel"
assert pathway.entry == "front_door"
print("ok", rules)
"""


def build_wheel(out: Path) -> Path:
    """Build the project's wheel into `out`, with build isolation when hatchling is absent."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out)]
    # Without hatchling here, pip must fetch it into an isolated build environment.
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")
    result = subprocess.run(
        [*command, str(REPO)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("triage-*.whl")
    return wheel


def test_installed_wheel_finds_and_loads_its_bundled_rulebook(tmp_path: Path) -> None:
    """Unzipped outside the source tree, the wheel loads its own copy of rules/kent."""
    wheel = build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert BUNDLED_RULES in names
        site = tmp_path / "site"
        archive.extractall(site)
    expected = triage.load_rulebook(REPO / "rules" / "kent").fingerprint

    result = subprocess.run(
        [sys.executable, "-c", CHECK_INSTALLED, str(site), expected],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(site)},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok ")
