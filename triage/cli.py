"""The `triage` command line. Every command is a thin call on the public Python API.

Exit status: 0 done; 1 the command ran and found something (lint findings); 2 the input or the
rulebook could not be used (the message names the field and the valid values; no traceback).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import click
import structlog

from triage.decision import Decision
from triage.engine import ENGINES, FrontDoor
from triage.errors import InputNotJson, ReferralInvalid, TriageError
from triage.lint import lint_rulebook
from triage.loader import bundled_rules_dir, load_rulebook
from triage.referral import Referral
from triage.rulebook import Rulebook

F = TypeVar("F", bound=Callable[..., Any])


def _fail(error: TriageError) -> NoReturn:
    click.echo(f"error [{error.code}]: {error.message}", err=True)
    sys.exit(2)


def _configure_logging(verbose: bool) -> None:
    # The library never configures structlog; the command line does, and keeps stdout for data.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.INFO if verbose else logging.WARNING
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        cache_logger_on_first_use=False,
    )


def _rules_option(function: F) -> F:
    return click.option(
        "--rules",
        "rules_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Rulebook directory. Default: the bundled Kent rulebook.",
    )(function)


def _engine_options(function: F) -> F:
    function = click.option(
        "--as-of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="Apply the rules and timescales in force on this date (YYYY-MM-DD). "
        "Default: the receipt date.",
    )(function)
    function = click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="durable",
        show_default=True,
        help="durable: the durable_rules engine; "
        "reference: the pure-Python evaluator of the same rules.",
    )(function)
    return _rules_option(function)


def _rulebook(rules_dir: Path | None) -> Rulebook:
    try:
        return load_rulebook(rules_dir)
    except TriageError as error:
        _fail(error)


def _door(rules_dir: Path | None, engine: str) -> FrontDoor:
    try:
        return FrontDoor(_rulebook(rules_dir), engine=engine)  # type: ignore[arg-type]
    except TriageError as error:
        _fail(error)


def _as_date(value: Any) -> date | None:
    return None if value is None else value.date()


def _name(stream: IO[str]) -> str:
    return (
        "standard input"
        if stream is sys.stdin or getattr(stream, "name", "") == "<stdin>"
        else str(stream.name)
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="triage")
@click.option(
    "-v", "--verbose", is_flag=True, help="Log each decision (ids and outcomes only) to stderr."
)
def cli(verbose: bool) -> None:
    """Triage children's services referrals on declarative thresholds.

    Input is the Front Door's referral form as JSON; output is one decision per child as JSON
    Lines. The bundled rulebook models Kent's continuum of need (levels 1-4).

    \b
    Exit status: 0 done; 1 findings (lint); 2 input or rulebook unusable.
    """
    _configure_logging(verbose)


def _lines(stream: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


@cli.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--batch", is_flag=True, help="FILE is JSON Lines: one referral per line.")
@_engine_options
def route(file: IO[str], batch: bool, rules_dir: Path | None, engine: str, as_of: Any) -> None:
    """Route the referral in FILE (- for standard input); print one decision per child (JSON Lines).

    With --batch, a line that cannot be used is reported on stderr with its line number, the
    other lines are still routed, and the exit status is 2.
    """
    door = _door(rules_dir, engine)
    on = _as_date(as_of)
    where = _name(file)
    if not batch:
        try:
            decisions = door.route(file.read(), as_of=on)
        except TriageError as error:
            _fail(error)
        for decision in decisions:
            click.echo(decision.model_dump_json())
        return
    failed = 0
    for number, line in _lines(file):
        try:
            decisions = door.route(line, as_of=on)
        except (InputNotJson, ReferralInvalid) as error:
            failed += 1
            click.echo(f"error [{error.code}] {where} line {number}: {error.message}", err=True)
            continue
        for decision in decisions:
            click.echo(decision.model_dump_json())
    if failed:
        click.echo(f"{failed} line(s) of {where} were not routed; fix and resend them", err=True)
        sys.exit(2)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.File("r", encoding="utf-8"))
@_engine_options
def explain(files: tuple[IO[str], ...], rules_dir: Path | None, engine: str, as_of: Any) -> None:
    """Route each referral FILE and explain each child's decision in plain English."""
    door = _door(rules_dir, engine)
    blocks: list[str] = []
    for file in files:
        try:
            decisions = door.route(file.read(), as_of=_as_date(as_of))
        except TriageError as error:
            _fail(error)
        blocks.extend(door.explain(decision) for decision in decisions)
    click.echo("\n\n".join(blocks))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_rules_option
def vocabulary(as_json: bool, rules_dir: Path | None) -> None:
    """List the indicators a referral can report: id, level, domain, census codes, label."""
    rulebook = _rulebook(rules_dir)
    if as_json:
        click.echo(json.dumps([i.model_dump(mode="json") for i in rulebook.indicators], indent=2))
        return
    width = max(len(i.id) for i in rulebook.indicators)
    click.echo(f"{'indicator':<{width}}  level  {'domain':<22}  {'census':<8}  label")
    for i in sorted(rulebook.indicators, key=lambda i: (i.level, i.id)):
        click.echo(
            f"{i.id:<{width}}  {i.level:<5}  {i.domain.value:<22}  "
            f"{','.join(i.census_factors):<8}  {i.label}"
        )


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "referral": Referral.model_json_schema,
    "decision": Decision.model_json_schema,
    "rulebook": Rulebook.model_json_schema,
}


@cli.command()
@click.argument("name", type=click.Choice(sorted(SCHEMAS)))
def schema(name: str) -> None:
    """Print the JSON Schema of a referral, a decision or a rulebook."""
    click.echo(json.dumps(SCHEMAS[name](), indent=2, sort_keys=True))


@cli.command()
@click.argument("rules_dir", type=click.Path(path_type=Path, file_okay=False), required=False)
def lint(rules_dir: Path | None) -> None:
    """Check a rulebook RULES_DIR (default: the bundled one): load-time validation, rules that
    can never fire, and levels, routes and indicators no rule produces or reads."""
    rulebook = _rulebook(rules_dir)
    findings = lint_rulebook(rulebook)
    for finding in findings:
        click.echo(str(finding))
    where = rules_dir or bundled_rules_dir()
    click.echo(
        f"{where}: {len(rulebook.rules)} rules, {len(rulebook.indicators)} indicators, "
        f"{len(findings)} finding(s); fingerprint {rulebook.fingerprint[:12]}"
    )
    if findings:
        sys.exit(1)


def main() -> None:
    cli(prog_name="triage")


if __name__ == "__main__":
    main()
