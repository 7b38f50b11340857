"""Check the rules: `triage vocabulary`, `schema`, `lint`, `scenarios`, `graph` and `fidelity`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

import click

from triage import _table
from triage.audit.record import DecisionRecordV1
from triage.cli.options import numbered_lines, rules_option, stream_name
from triage.decision import Decision
from triage.editions import load_editions
from triage.engine import ENGINES, EngineName
from triage.errors import UsageError
from triage.fidelity import default_cases_dir, load_cases, report_text, run_fidelity
from triage.journey import Journeys, TransitionDecision, decide_child
from triage.lint import lint_rulebook
from triage.loader import bundled_rules_dir, load_rulebook, read_revision
from triage.pathway import drawing, load_pathway
from triage.pathway.drawing import Format
from triage.referral import Referral
from triage.rulebook import LOCAL_CHOICE, Indicator, Rulebook
from triage.scenarios import (
    Outcome,
    Scenario,
    ScenarioRunner,
    read_scenarios,
    report_line,
    run_json,
    run_junit,
)


@click.command()
@click.option("--routes", is_flag=True, help="List the routes instead, in continuum order.")
@click.option(
    "--rule-ids", is_flag=True, help="List the rules instead: id, kind and title, in file order."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@rules_option
def vocabulary(routes: bool, rule_ids: bool, as_json: bool, rules_dir: Path | None) -> None:
    """List the indicators a referral can report, by level and domain: id, census codes and
    label. With --routes or --rule-ids, the ids a scenario's `route` and `rules_fired` name."""
    if routes and rule_ids:
        raise UsageError("give --routes or --rule-ids, not both")
    rulebook = load_rulebook(rules_dir)
    width = _table.terminal_width(100)
    if routes:
        data = [r.model_dump(mode="json") for r in rulebook.routes]
        lines = _table.table([(r.id, r.label) for r in rulebook.routes], ("route", "label"), width)
    elif rule_ids:
        data = [{"id": r.id, "kind": r.kind, "title": r.title} for r in rulebook.rules]
        lines = _table.table(
            [(r.id, r.kind, r.title) for r in rulebook.rules], ("rule", "kind", "title"), width
        )
    else:
        data = [i.model_dump(mode="json") for i in rulebook.indicators]
        lines = _indicator_lines(rulebook, width)
    click.echo(json.dumps(data, indent=2) if as_json else "\n".join(lines))


def _indicator_lines(rulebook: Rulebook, width: int) -> list[str]:
    """Indicators under a heading per level and a subheading per domain; one column layout
    for all, so the ids line up from group to group."""
    indicators = rulebook.indicators
    id_width = max(len(i.id) for i in indicators)
    census_width = max([len(",".join(i.census_factors)) for i in indicators] + [len("census")])
    lines = _table.table(
        [(f"{'indicator':<{id_width}}", f"{'census':<{census_width}}", "label")],
        width=width,
        indent=4,
    )
    for level in sorted({i.level for i in indicators}):
        lines += ["", f"Level {level} {rulebook.level_names.get(level, '')}".rstrip()]
        at_level = [i for i in indicators if i.level == level]
        for domain in sorted({i.domain.value for i in at_level}):
            rows = [
                (f"{i.id:<{id_width}}", f"{','.join(i.census_factors):<{census_width}}", _label(i))
                for i in sorted(at_level, key=lambda i: i.id)
                if i.domain.value == domain
            ]
            lines += [f"  {domain.replace('_', ' ')}", *_table.table(rows, width=width, indent=4)]
    return lines


def _label(indicator: Indicator) -> str:
    # The level is this rulebook's own where it says so, never passed off as the guidance's.
    if indicator.local_choice is None:
        return indicator.label
    return f"{indicator.label} [{LOCAL_CHOICE}: {indicator.local_choice}]"


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "referral": Referral.model_json_schema,
    "decision": Decision.model_json_schema,
    "rulebook": Rulebook.model_json_schema,
    "record": DecisionRecordV1.model_json_schema,
    "scenario": Scenario.model_json_schema,
}


@click.command()
@click.argument("name", type=click.Choice(sorted(SCHEMAS)))
def schema(name: str) -> None:
    """Print the JSON Schema of a referral, a decision, a rulebook, a decision-log record or a
    scenario file's scenario."""
    click.echo(json.dumps(SCHEMAS[name](), indent=2, sort_keys=True))


@click.command()
@click.argument("rules_dir", type=click.Path(path_type=Path, file_okay=False), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the counts and each finding.")
@click.option(
    "--rules",
    "rules_option",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The rulebook directory, as the other commands take it (or give it as RULES_DIR).",
)
def lint(rules_dir: Path | None, as_json: bool, rules_option: Path | None) -> None:
    """Check a rulebook RULES_DIR (default: the bundled one): load-time validation, rules that
    can never fire, and levels, routes and indicators no rule produces or reads."""
    if rules_dir is not None and rules_option is not None:
        raise UsageError("give the rulebook as RULES_DIR or --rules, not both")
    rules_dir = rules_dir or rules_option
    rulebook = load_rulebook(rules_dir)
    findings = lint_rulebook(rulebook)
    where = rules_dir or bundled_rules_dir()
    # A revision: the move from the rulebook it revises is checked too (a bad one raises).
    base = None
    if read_revision(where) is not None:
        base = load_editions(where).editions[-2]
    if as_json:
        summary = {
            "rulebook": str(where),
            "rules": len(rulebook.rules),
            "indicators": len(rulebook.indicators),
            "fingerprint": rulebook.fingerprint,
            "findings": [
                {"severity": f.severity, "subject": f.subject, "message": f.message}
                for f in findings
            ],
        }
        if base is not None:
            summary["revises"] = {"id": base.rulebook.id, "version": base.rulebook.version}
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo("\n".join([*map(str, findings), ""]), nl=False)
        if base is not None:
            click.echo(
                f"revises {base.rulebook.id} {base.rulebook.version}: every service it retires "
                "has one successor at its level"
            )
        click.echo(
            f"{where}: {len(rulebook.rules)} rules, {len(rulebook.indicators)} indicators, "
            f"{len(findings)} finding(s); fingerprint {rulebook.fingerprint[:12]}"
        )
    if findings:
        sys.exit(1)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("-q", "--quiet", is_flag=True, help="Print failures and the summary line only.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON instead.")
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Also write the run as JUnit XML to FILE, for a CI system.",
)
@rules_option
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=None,
    help="The evaluator to run the scenarios on. Default: durable where durable_rules imports, "
    "else reference.",
)
def scenarios(
    paths: tuple[Path, ...],
    quiet: bool,
    as_json: bool,
    junit_file: Path | None,
    rules_dir: Path | None,
    engine: EngineName | None,
) -> None:
    """Run the scenario files and folders in PATHS (docs/scenarios.md): each failure is shown
    with the decision's reasons beside the expectation; a file that does not fit the format is
    reported and the others still run; the last line is `N passed, N failed`; exit 1 on any
    failure or unfit file."""
    loaded = read_scenarios(paths)
    runner = ScenarioRunner(load_rulebook(rules_dir), engine=engine)
    outcomes = []
    for error in loaded.invalid:
        if not as_json:
            click.echo(f"INVALID  {error.message}".replace("\n", "\n         "))
    for item in loaded.scenarios:
        outcome = runner.run(item)
        outcomes.append(outcome)
        if not as_json:
            _echo_outcome(outcome, quiet)
    if junit_file is not None:
        _write(junit_file, run_junit(outcomes, loaded.invalid))
    if as_json:
        click.echo(json.dumps(run_json(outcomes, loaded.invalid), indent=2))
    else:
        click.echo(report_line(outcomes, loaded.invalid))
    if loaded.invalid or not all(o.passed for o in outcomes):
        sys.exit(1)


def _echo_outcome(outcome: Outcome, quiet: bool) -> None:
    if outcome.passed:
        if not quiet:
            click.echo(f"PASS  {outcome.name}")
        return
    click.echo(f"FAIL  {outcome.name}  ({outcome.file})")
    if outcome.error is not None:
        click.echo(_indent(f"error [{outcome.error.code}]: {outcome.error.message}", 6))
        return
    click.echo("      expected, but:")
    click.echo("\n".join(f"        - {failure}" for failure in outcome.failures))
    click.echo("      the decision:")
    click.echo(_indent(outcome.explanation, 8))


def _indent(text: str, by: int) -> str:
    return "\n".join(" " * by + line if line else line for line in text.splitlines())


def _write(file: Path, text: str) -> None:
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {file}: {error.strerror or error}") from error


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg", "png"]),
    default="mermaid",
    show_default=True,
    help="mermaid and dot are text; svg and png are drawn by the Graphviz `dot` program.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the picture to FILE. Default: standard output.",
)
@click.option(
    "--pathway",
    "pathway_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Pathway file. Default: the bundled Kent pathway.",
)
@click.option(
    "--view",
    type=click.Choice(["whole", "routes", "ladder", "exits", "service"]),
    default=None,
    help="One question per picture: the whole pathway (default); where the entry sends a "
    "referral; step-ups and step-downs; age transitions and exits; one node (--node).",
)
@click.option(
    "--node",
    default=None,
    metavar="NODE",
    help="The service view of NODE: what leads in, and where it can go.",
)
@click.option(
    "--highlight",
    default="",
    metavar="A,B,C",
    help="Draw this path bold and coloured: node ids in order, each pair an edge.",
)
@click.option(
    "--journey",
    "journey_file",
    type=click.File("rb"),
    default=None,
    help="Draw one child's journey: FILE holds journey events (JSON Lines), decided as "
    "`triage journey --batch` decides them; give the child with --child.",
)
@click.option("--child", default=None, metavar="ID", help="The child whose --journey to draw.")
@rules_option
def graph(
    fmt: str,
    out: Path | None,
    pathway_file: Path | None,
    view: str | None,
    node: str | None,
    highlight: str,
    journey_file: IO[bytes] | None,
    child: str | None,
    rules_dir: Path | None,
) -> None:
    """Draw the pathway graph: levels as rows, edge kinds by style, with a legend.

    The pathway is checked against the rulebook (--rules, default the bundled one) first. Without
    --out the picture goes to standard output, png only when that is not a terminal.
    """
    stdout = sys.stdout.buffer
    if out is None and fmt == "png" and stdout.isatty():
        raise UsageError("png is binary: give --out FILE or redirect standard output")
    if (journey_file is None) != (child is None):
        raise UsageError("--journey FILE and --child ID go together")
    if journey_file is not None and (view or node or highlight):
        raise UsageError("a --journey is its own picture: leave out --view, --node, --highlight")
    chosen = cast(drawing.View, view or ("service" if node else "whole"))
    if node is not None and chosen != "service":
        raise UsageError(f"--node draws the service view, not --view {view}")
    rulebook = load_rulebook(rules_dir)
    path = tuple(part.strip() for part in highlight.split(",") if part.strip())
    pathway = load_pathway(pathway_file, rulebook=rulebook)
    steps: tuple[TransitionDecision, ...] = ()
    if journey_file is not None and child is not None:
        journeys = Journeys(rulebook, pathway)
        events = [journeys.validate(text) for _, text in numbered_lines(journey_file)]
        steps = decide_child(journeys, events, child)
        if not steps:
            raise UsageError(f"no event in {stream_name(journey_file)} is about the --child given")
    if fmt == "mermaid":
        mermaid = (
            drawing.journey_mermaid(pathway, steps)
            if steps
            else drawing.to_mermaid(pathway, path, view=chosen, node=node)
        )
        data = mermaid.encode("utf-8")
    else:
        dot = (
            drawing.journey_dot(pathway, steps)
            if steps
            else drawing.to_dot(pathway, path, view=chosen, node=node)
        )
        data = dot.encode("utf-8") if fmt == "dot" else drawing.render(dot, cast(Format, fmt))
    if out is None:
        stdout.write(data)
        stdout.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from error


@click.command()
@click.argument(
    "cases_dir", metavar="[DIR]", required=False, type=click.Path(path_type=Path, exists=True)
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the figures.")
@click.option("--check", is_flag=True, help="Exit 1 when a target is not met.")
@rules_option
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="durable",
    show_default=True,
    help="The evaluator to route the cases on.",
)
def fidelity(
    cases_dir: Path | None, as_json: bool, check: bool, rules_dir: Path | None, engine: str
) -> None:
    """Route the published fidelity cases in DIR (default: examples/fidelity of this
    checkout) and print exact level agreement, within one level, under-triage, severe
    under-triage, over-triage to statutory routes and manual reviews, then every
    disagreement (docs/fidelity.md)."""
    cases = load_cases([cases_dir or default_cases_dir()])
    report = run_fidelity(cases, load_rulebook(rules_dir), engine=engine)  # type: ignore[arg-type]
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report_text(report))
    if check and not all(target.met for target in report.targets()):
        sys.exit(1)
