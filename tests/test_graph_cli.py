"""`triage graph`, run as a user runs it: formats, files, highlights, and no Graphviz."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from triage import load_pathway
from triage.pathway import EdgeKind, drawing

REPO = Path(__file__).resolve().parent.parent
TRIAGE = Path(sys.executable).with_name("triage")
NEEDS_DOT = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz `dot` is not installed (apt-get install graphviz; CI installs it)",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the installed `triage` script with `args` from the repository root; bytes out."""
    return subprocess.run(
        [str(TRIAGE), *args],
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
        env=env,
    )


def without_dot(tmp_path: Path) -> dict[str, str]:
    """The environment with PATH set to an empty directory: no `dot` to be found."""
    empty = tmp_path / "bin"
    empty.mkdir()
    return {**os.environ, "PATH": str(empty)}


def test_graph_mermaid_prints_a_flowchart_with_every_edge_kind() -> None:
    result = run("graph", "--format", "mermaid")

    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")
    assert text.startswith("flowchart TB\n")
    for kind in EdgeKind:
        if kind is not EdgeKind.REDESIGN:  # only a revision has retired nodes (below)
            assert f'|"{kind.value.replace("_", " ")}"|' in text
    assert result.stderr == b""


def test_graph_of_a_pathway_revision_draws_its_redesign_edges() -> None:
    result = run(
        "graph",
        "--format",
        "mermaid",
        "--pathway",
        "pathways/kent-families-first.yaml",
        "--rules",
        "rules/kent-families-first",
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")
    assert 'child_in_need_plan -->|"redesign"| family_help' in text
    assert 'strategy_discussion[/"Strategy discussion and s47 enquiry"/]' in text


def test_graph_defaults_to_mermaid() -> None:
    assert run("graph").stdout == run("graph", "--format", "mermaid").stdout


def test_graph_mermaid_needs_no_graphviz(tmp_path: Path) -> None:
    result = run("graph", "--format", "mermaid", env=without_dot(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"flowchart TB")


def test_graph_dot_writes_the_out_file(tmp_path: Path) -> None:
    out = tmp_path / "kent.dot"

    result = run("graph", "--format", "dot", "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert out.read_text(encoding="utf-8") == drawing.to_dot(load_pathway())


def test_graph_highlight_draws_the_path() -> None:
    result = run("graph", "--highlight", "front_door, strategy_discussion,child_protection_plan")

    assert result.returncode == 0, result.stderr
    assert (
        b"  class child_protection_plan,front_door,strategy_discussion highlight" in result.stdout
    )


def test_graph_highlight_off_the_pathway_exits_2() -> None:
    result = run("graph", "--highlight", "front_door,closure")

    assert result.returncode == 2
    assert b"error [usage_error]: cannot highlight front_door -> closure" in result.stderr
    assert result.stdout == b""


def test_graph_broken_pathway_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (REPO / "pathways" / "kent.yaml").read_text(encoding="utf-8")
    broken.write_text(
        text.replace("to: care_leavers, kind: transition", "to: care_leaver, kind: transition")
    )

    result = run("graph", "--pathway", str(broken))

    assert result.returncode == 2
    stderr = result.stderr.decode("utf-8")
    assert stderr.startswith(f"error [pathway_invalid]: {broken} has 1 problem")
    assert f"{broken}:" in stderr
    assert "(edge children_in_care -> care_leaver): is not a node (got 'care_leaver')" in stderr


def test_graph_checks_the_pathway_against_the_rulebook(tmp_path: Path) -> None:
    """The bundled rulebook's routes must all be nodes of the pathway drawn."""
    text = (REPO / "pathways" / "kent.yaml").read_text(encoding="utf-8")
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(text.replace("manual_review", "manager_review"))

    result = run("graph", "--pathway", str(renamed))

    assert result.returncode == 2
    assert b"has no node for route manual_review of rulebook kent" in result.stderr


@NEEDS_DOT
def test_graph_svg_writes_an_svg_document(tmp_path: Path) -> None:
    out = tmp_path / "kent.svg"

    result = run("graph", "--format", "svg", "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert b"<svg" in out.read_bytes()


@NEEDS_DOT
def test_graph_png_goes_to_standard_output_when_it_is_not_a_terminal() -> None:
    result = run("graph", "--format", "png", "--highlight", "front_door,youth_justice")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(PNG_MAGIC)


def test_graph_png_refuses_to_write_to_a_terminal() -> None:
    """Binary bytes on a terminal garble it: ask for --out instead."""
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [str(TRIAGE), "graph", "--format", "png"],
            stdout=follower,
            stderr=subprocess.PIPE,
            cwd=REPO,
            timeout=120,
            check=False,
        )
    finally:
        os.close(follower)
        os.close(leader)

    assert result.returncode == 2
    assert b"png is binary: give --out FILE" in result.stderr


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_graph_without_dot_exits_2_with_the_install_hint(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"kent.{fmt}"

    result = run("graph", "--format", fmt, "--out", str(out), env=without_dot(tmp_path))

    assert result.returncode == 2
    stderr = result.stderr.decode("utf-8")
    assert stderr.startswith(f"error [graphviz_missing]: cannot draw {fmt}:")
    assert "apt-get install graphviz" in stderr
    assert "brew install graphviz" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_graph_unwritable_out_exits_2(tmp_path: Path) -> None:
    result = run("graph", "--out", str(tmp_path / "missing" / "kent.mmd"))

    assert result.returncode == 2
    assert b"error [usage_error]: cannot write" in result.stderr


def test_graph_help_documents_its_options() -> None:
    result = run("graph", "--help")

    assert result.returncode == 0
    for option in (b"--format", b"--out", b"--pathway", b"--rules", b"--highlight", b"--view"):
        assert option in result.stdout
    for option in (b"--node", b"--journey", b"--child"):
        assert option in result.stdout


def test_graph_view_draws_one_question() -> None:
    result = run("graph", "--view", "ladder", "--format", "dot")

    assert result.returncode == 0, result.stderr
    kinds = set(re.findall(rb'^  "\w+" -> "\w+" \[class="(\w+)"', result.stdout, re.M))
    assert kinds == {b"step_up", b"step_down"}


def test_graph_node_draws_the_service_view() -> None:
    result = run("graph", "--node", "youth_justice", "--format", "dot")

    assert result.returncode == 0, result.stderr
    assert result.stdout == drawing.to_dot(
        load_pathway(), view="service", node="youth_justice"
    ).encode("utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--view", "service"), b"the service view needs a node: give --node NODE"),
        (("--view", "ladder", "--node", "closure"), b"--node draws the service view"),
        (("--child", "C-1"), b"--journey FILE and --child ID go together"),
        (("--node", "tea_club"), b"'tea_club' is not a node of pathway kent"),
    ],
)
def test_graph_refuses_options_that_do_not_fit(args: tuple[str, ...], message: bytes) -> None:
    result = run("graph", *args)

    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == b""


JOURNEY_EVENTS = [
    # Synthetic child born 1 January 2015: escalating concerns at a team around the family
    # review step up to an assessment; a manager moves the case on to a child in need plan.
    {
        "event_id": "E-G-1",
        "child_id": "C-G-1",
        "occurred_at": "2026-02-10T10:00:00+00:00",
        "event": "review",
        "service": "child_and_family_assessment",
        "date_of_birth": "2015-01-01",
        "decided_by": "team manager",
        "override": {"to": "child_in_need_plan", "reason": "synthetic: assessment found need"},
    },
    {
        "event_id": "E-G-2",
        "child_id": "C-G-2",
        "occurred_at": "2026-01-20T10:00:00+00:00",
        "event": "review",
        "service": "team_around_the_family",
        "date_of_birth": "2016-01-01",
        "findings": ["outcomes_achieved"],
    },
    {
        "event_id": "E-G-0",
        "child_id": "C-G-1",
        "occurred_at": "2026-01-05T10:00:00+00:00",
        "event": "review",
        "service": "team_around_the_family",
        "date_of_birth": "2015-01-01",
        "findings": ["concerns_escalated"],
    },
]


def test_graph_journey_draws_one_childs_moves_in_date_order(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in JOURNEY_EVENTS) + "\n", encoding="utf-8")

    result = run("graph", "--journey", str(events), "--child", "C-G-1", "--format", "dot")

    assert result.returncode == 0, result.stderr
    dot = result.stdout.decode("utf-8")
    first = '"team_around_the_family" -> "child_and_family_assessment"'
    second = '"child_and_family_assessment" -> "child_in_need_plan"'
    assert first in dot
    assert second in dot
    assert 'label="1. 2026-01-05\\nstep up, by the rules"' in dot
    assert "2. 2026-02-10" in dot
    assert "override by team" in dot
    assert "C-G-1" not in dot  # the picture names no child
    assert "2 moves, 2026-01-05 to 2026-02-10" in dot


def test_graph_journey_for_a_child_not_in_the_file_exits_2(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(JOURNEY_EVENTS[1]) + "\n", encoding="utf-8")

    result = run("graph", "--journey", str(events), "--child", "C-NOBODY")

    assert result.returncode == 2
    assert b"is about the --child given" in result.stderr
    assert b"C-NOBODY" not in result.stderr
