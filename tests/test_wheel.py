"""The package as a user gets it: the sdist builds the wheel, the wheel ships the Kent rulebook
and `py.typed`, installs in a fresh venv without the test toolchain, and routes from there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

import triage

REPO = Path(__file__).resolve().parent.parent
DISTRIBUTION = "frontdoor_triage"  # the file-name form of `frontdoor-triage`
BUNDLED_RULES = "triage/_bundled/rules/kent/rules.yaml"
TEST_TOOLS = ("hypothesis", "pytest", "ruff", "mypy", "pgserver", "build", "hatchling")

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


def _run(command: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(name="dist", scope="module")
def fixture_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it (as `python -m build` does by default)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)], out)
    return out


@pytest.fixture(name="wheel", scope="module")
def fixture_wheel(dist: Path) -> Path:
    (wheel,) = dist.glob(f"{DISTRIBUTION}-*.whl")
    return wheel


def _metadata(wheel: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = HeaderParser().parsestr(archive.read(name).decode())
    return headers["Name"], headers.get_all("Requires-Dist") or []


def test_installed_wheel_finds_and_loads_its_bundled_rulebook(wheel: Path, tmp_path: Path) -> None:
    """Unzipped outside the source tree, the wheel loads its own copy of rules/kent."""
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


def test_wheel_is_typed_and_named_for_the_index(wheel: Path) -> None:
    """`py.typed` ships (a consumer's mypy sees the types), under the distribution's own name."""
    with zipfile.ZipFile(wheel) as archive:
        assert "triage/py.typed" in archive.namelist()
    name, _ = _metadata(wheel)
    assert name == "frontdoor-triage"


def test_wheel_requires_no_test_tool_and_durable_only_before_python_3_13(wheel: Path) -> None:
    _, requires = _metadata(wheel)
    unconditional = [r for r in requires if "extra ==" not in r]
    names = {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].strip() for r in requires}
    assert not names & set(TEST_TOOLS), requires
    (durable,) = [r for r in unconditional if r.startswith("durable-rules")]
    assert durable.replace(" ", "") in (
        'durable-rules==2.0.28;python_version<"3.13"',
        "durable-rules==2.0.28;python_version<'3.13'",
    )


def test_sdist_holds_what_the_wheel_is_built_from(dist: Path) -> None:
    (sdist,) = dist.glob(f"{DISTRIBUTION}-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "triage/py.typed", "rules/kent/rules.yaml"):
        assert needed in names, needed


def test_wheel_installs_in_a_fresh_venv_and_routes(wheel: Path, tmp_path: Path) -> None:
    """Installed by pip with its dependencies (never the test toolchain), `triage` runs."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)],
        tmp_path,
    )

    version = _run([str(venv / "bin" / "triage"), "--version"], tmp_path)
    assert version.stdout.strip() == f"triage {triage.__version__}"
    example = REPO / "examples" / "referrals" / "police-domestic-abuse.json"
    routed = _run([str(venv / "bin" / "triage"), "route", str(example)], tmp_path)
    (line,) = routed.stdout.splitlines()
    decision = json.loads(line)
    # Current domestic abuse is Level 3; received Monday 2 March 2026, due the next working day.
    assert (decision["level"], decision["route"]) == (3, "intensive_early_help")
    assert decision["due_by"] == "2026-03-03"
    # Where durable_rules does not import (3.13+) one line says that the reference engine runs.
    said = [json.loads(line)["event"] for line in routed.stderr.splitlines()]
    assert said == ([] if sys.version_info < (3, 13) else ["engine_fallback"])
    assert decision["engine"] == ("durable" if sys.version_info < (3, 13) else "reference")

    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "json"],
        tmp_path,
    )
    names = {package["name"].lower() for package in json.loads(installed.stdout)}
    assert "frontdoor-triage" in names
    assert not names & set(TEST_TOOLS), sorted(names & set(TEST_TOOLS))
