"""The `triage` command line. Every command is a thin call on the public Python API.

Exit status: 0 done; 1 the command ran and found something (lint findings); 2 the input or the
rulebook could not be used (the message names the field and the valid values; no traceback).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import click
import structlog

from triage import _table
from triage._base import LEVEL_NAMES
from triage._install import VERSION
from triage._logging import add_log_level
from triage.audit.log import KEY_VARIABLE, DecisionLog
from triage.audit.record import DecisionRecordV1
from triage.audit.replay import ROW_FIELDS, ReplayReport, csv_row, render_replay, replay_log
from triage.audit.show import render_record, show_record
from triage.audit.stores import open_store
from triage.audit.verify import report_json, verify_log
from triage.decision import Decision
from triage.demo import run_demo
from triage.engine import ENGINES, EngineName, FrontDoor
from triage.errors import (
    InputError,
    TriageError,
    UsageError,
    error_json,
)
from triage.journey import Journeys, TransitionDecision, decide_child
from triage.lint import lint_rulebook
from triage.loader import bundled_rules_dir, load_rulebook
from triage.pathway import drawing, load_pathway
from triage.pathway.drawing import Format
from triage.referral import Referral
from triage.report import kpi_report, render_table, to_html, to_json
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
from triage.simulation import simulate, simulate_journeys

F = TypeVar("F", bound=Callable[..., Any])


def _configure_logging(verbose: bool) -> None:
    # The library never configures structlog; the command line does, and keeps stdout for data.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.INFO if verbose else logging.WARNING
        ),
        # The stream is looked up per logger, not bound now, so a host that swaps sys.stderr
        # (click's CliRunner, a test) gets the lines.
        logger_factory=lambda *args: structlog.PrintLogger(sys.stderr),
        processors=[
            add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        cache_logger_on_first_use=False,
    )


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # Given after the subcommand (`triage route x.json -v`): the group has already configured
    # quiet logging, so only a set flag reconfigures.
    if value:
        _configure_logging(True)


VERBOSE_HELP = "Log each decision (ids and outcomes only) to stderr."


JSON_ERRORS = "triage.json_errors"


def _json_errors(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    # ctx.meta is shared by the whole context chain, so the group's boundary sees it.
    if value:
        ctx.meta[JSON_ERRORS] = True
    return value


SECTIONS: dict[str, tuple[str, ...]] = {
    "Route and explain": ("route", "explain", "journey", "outcome"),
    "Check the rules": ("scenarios", "fidelity", "vocabulary", "lint", "graph", "schema"),
    "Audit a decision log": ("verify", "show", "replay", "report"),
    "Try it out": ("demo", "simulate"),
    "Run it as a service": ("serve",),
}


def _summary(help_text: str) -> str:
    """A command's help up to the end of its first clause (`.`, `:` or `;` outside brackets),
    so that the command list never cuts a description mid-word."""
    text = " ".join(help_text.split("\n\n", 1)[0].split())
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char in ".:;" and text[index + 1 : index + 2] in {"", " "}:
            return text[:index]
    return text


class TriageGroup(click.Group):
    """The one error boundary: a `TriageError` from any command is its message on stderr and
    exit status 2 (a JSON object when the command was given `--json`), so command bodies are
    only their calls. Every command also takes `-v`, before or after its name."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        for param in cmd.params:
            # Every command's --json also turns its errors into JSON, without each command
            # having to say so.
            if param.name == "as_json" and param.callback is None:
                param.callback = _json_errors
        taken = {opt for param in cmd.params for opt in param.opts}
        if taken.isdisjoint({"-v", "--verbose"}):
            cmd.params.append(self._verbose_option())
        super().add_command(cmd, name)

    @staticmethod
    def _verbose_option() -> click.Option:
        return click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_verbose,
            help=VERBOSE_HELP,
        )

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Commands by task, not by the alphabet, each with its first whole clause."""
        listed = {name: self.get_command(ctx, name) for name in self.list_commands(ctx)}
        shown = {name: cmd for name, cmd in listed.items() if cmd is not None and not cmd.hidden}
        placed = {name for names in SECTIONS.values() for name in names}
        sections = [
            *SECTIONS.items(),
            ("Other commands", tuple(sorted(set(shown) - placed))),
        ]
        for title, names in sections:
            rows = [(name, _summary(shown[name].help or "")) for name in names if name in shown]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TriageError as error:
            if ctx.meta.get(JSON_ERRORS):
                click.echo(json.dumps(error_json(error)), err=True)
            else:
                click.echo(f"error [{error.code}]: {error.message}", err=True)
            ctx.exit(2)


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
        metavar="DATE",
        help="Apply the rules and timescales in force on this date (YYYY-MM-DD). "
        "Default: the receipt date.",
    )(function)
    function = click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default=None,
        help="durable: the durable_rules engine; "
        "reference: the pure-Python evaluator of the same rules. "
        "Default: durable where durable_rules imports (Python 3.11, 3.12), else reference.",
    )(function)
    return _rules_option(function)


def _rulebook(rules_dir: Path | None) -> Rulebook:
    return load_rulebook(rules_dir)


def _door(rules_dir: Path | None, engine: EngineName | None) -> FrontDoor:
    return FrontDoor(_rulebook(rules_dir), engine=engine)


@contextlib.contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr, drawn only on a terminal and when the total is known."""
    with click.progressbar(
        length=total or 0,
        label=label.ljust(18),
        file=sys.stderr,
        hidden=total is None or not sys.stderr.isatty(),
    ) as bar:
        yield bar.update


def _as_date(value: Any) -> date | None:
    return None if value is None else value.date()


def _name(stream: IO[Any]) -> str:
    name = getattr(stream, "name", None)  # an in-memory stdin (CliRunner) has none
    return "standard input" if name is None or name == "<stdin>" else str(name)


@click.group(
    cls=TriageGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(VERSION, prog_name="triage", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help=VERBOSE_HELP)
def cli(verbose: bool) -> None:
    """Triage children's services referrals on declarative thresholds.

    Input is the Front Door's referral form as JSON; output is one decision per child as JSON
    Lines. The bundled rulebook models Kent's continuum of need (levels 1-4).

    \b
    Exit status: 0 done; 1 a check found something (lint findings, a verify or replay
    failure, a failed scenario); 2 input, rulebook or log unusable (the message says why).
    """
    _configure_logging(verbose)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    # Bytes, decoded line by line by the library: a line that is not UTF-8 is that line's error.
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


LOG_HELP = (
    "Record every decision in a tamper-evident log: a .jsonl path, sqlite:///path or a "
    f"postgresql:// URL. Identifiers are pseudonymised with the key in ${KEY_VARIABLE}."
)
BATCH_SIZE = 500


WITNESS_HELP = (
    "Also append each new head of the log to this file (an anchor kept apart from the log): "
    "`triage verify LOG --witness FILE` then catches a rewrite of the whole log."
)


def _witness_option(function: F) -> F:
    return click.option(
        "--witness", metavar="FILE", default=None, help=WITNESS_HELP, type=click.Path()
    )(function)


def _open_log(target: str | None, witness: str | None = None) -> DecisionLog | None:
    if target is None:
        if witness is not None:
            raise UsageError("--witness goes with --log")
        return None
    return DecisionLog(target, witness=witness)


@cli.command()
@click.argument("file", type=click.File("rb"))
@click.option("--batch", is_flag=True, help="FILE is JSON Lines: one referral per line.")
@click.option("--log", "log_target", metavar="TARGET", default=None, help=LOG_HELP)
@_witness_option
@_engine_options
def route(
    file: IO[bytes],
    batch: bool,
    log_target: str | None,
    witness: str | None,
    rules_dir: Path | None,
    engine: EngineName | None,
    as_of: Any,
) -> None:
    """Route the referral in FILE (- for standard input); print one decision per child (JSON Lines).

    FILE is UTF-8 JSON without a byte order mark. With --batch, a line that cannot be used is
    reported on stderr with its line number, the other lines are still routed (and logged, in
    batches of 500 per transaction), and the exit status is 2.
    """
    door = _door(rules_dir, engine)
    on = _as_date(as_of)
    where = _name(file)
    log = _open_log(log_target, witness)
    try:
        if not batch:
            referral = door.validate(file.read())
            decisions = door.route(referral, as_of=on)
            if log is not None:
                log.record(door, [referral], [decisions], as_of=on)
            for decision in decisions:
                click.echo(decision.model_dump_json())
            return
        failed = _route_lines(door, log, file, where, on)
    finally:
        if log is not None:
            log.close()
    if failed:
        click.echo(f"{failed} line(s) of {where} were not routed; fix and resend them", err=True)
        sys.exit(2)


def _route_lines(
    door: FrontDoor, log: DecisionLog | None, file: IO[bytes], where: str, on: date | None
) -> int:
    failed = 0
    referrals: list[Referral] = []
    decided: list[tuple[Decision, ...]] = []

    def flush() -> None:
        # Taken off the lists first: a batch whose write failed is never written again by the
        # flush in `finally` (nor printed: only what was logged is printed).
        batch, outcomes = referrals[:], decided[:]
        referrals.clear()
        decided.clear()
        if log is not None and batch:
            log.record(door, batch, outcomes, as_of=on)
        for decisions in outcomes:
            for decision in decisions:
                click.echo(decision.model_dump_json())

    try:
        for number, line in _lines(file):
            try:
                referral = door.validate(line)
            except InputError as error:
                failed += 1
                click.echo(f"error [{error.code}] {where} line {number}: {error.message}", err=True)
                continue
            decisions = door.route(referral, as_of=on)
            referrals.append(referral)  # both lists or neither: a flush pairs them up
            decided.append(decisions)
            if len(referrals) >= BATCH_SIZE:
                flush()
    finally:
        # Even when something unforeseen stops the run, what was routed is logged and printed.
        flush()
    return failed


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: each decision with its explanation."
)
@click.option("--changes", is_flag=True, help="Add what single change would move each decision.")
@_engine_options
def explain(
    files: tuple[IO[bytes], ...],
    as_json: bool,
    changes: bool,
    rules_dir: Path | None,
    engine: EngineName | None,
    as_of: Any,
) -> None:
    """Route each referral FILE and explain each child's decision in plain English; with
    --changes, also what single change to the facts would move each child's level or route
    (tried with the same rules; never logged)."""
    from triage.changes import ChildChanges, render_changes, what_would_change

    door = _door(rules_dir, engine)
    decisions: list[Decision] = []
    nearby: list[ChildChanges] = []
    for file in files:
        text = file.read()
        decisions += door.route(text, as_of=_as_date(as_of))
        if changes:
            nearby += what_would_change(door, text, as_of=_as_date(as_of))
    if as_json:
        explained = [
            {"decision": d.model_dump(mode="json"), "explanation": door.explain(d)}
            | ({"changes": nearby[i].model_dump(mode="json")} if changes else {})
            for i, d in enumerate(decisions)
        ]
        click.echo(json.dumps(explained, indent=2))
        return
    blocks = [
        door.explain(d) + ("\n" + render_changes(nearby[i]) if changes else "")
        for i, d in enumerate(decisions)
    ]
    click.echo("\n\n".join(blocks))


@cli.command()
@click.option("--routes", is_flag=True, help="List the routes instead, in continuum order.")
@click.option(
    "--rule-ids", is_flag=True, help="List the rules instead: id, kind and title, in file order."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_rules_option
def vocabulary(routes: bool, rule_ids: bool, as_json: bool, rules_dir: Path | None) -> None:
    """List the indicators a referral can report, by level and domain: id, census codes and
    label. With --routes or --rule-ids, the ids a scenario's `route` and `rules_fired` name."""
    if routes and rule_ids:
        raise UsageError("give --routes or --rule-ids, not both")
    rulebook = _rulebook(rules_dir)
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
        lines += ["", f"Level {level} {LEVEL_NAMES.get(level, '')}".rstrip()]
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


@cli.command()
@click.argument("name", type=click.Choice(sorted(SCHEMAS)))
def schema(name: str) -> None:
    """Print the JSON Schema of a referral, a decision, a rulebook, a decision-log record or a
    scenario file's scenario."""
    click.echo(json.dumps(SCHEMAS[name](), indent=2, sort_keys=True))


@cli.command()
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
    rulebook = _rulebook(rules_dir)
    findings = lint_rulebook(rulebook)
    where = rules_dir or bundled_rules_dir()
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
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo("\n".join([*map(str, findings), ""]), nl=False)
        click.echo(
            f"{where}: {len(rulebook.rules)} rules, {len(rulebook.indicators)} indicators, "
            f"{len(findings)} finding(s); fingerprint {rulebook.fingerprint[:12]}"
        )
    if findings:
        sys.exit(1)


@cli.command()
@click.argument("log_target", metavar="LOG")
@click.option(
    "--expect-head",
    metavar="SEQ:HASH",
    default=None,
    help="A head recorded earlier outside the log (an anchor): the chain's record at SEQ must "
    "still have HASH.",
)
@click.option(
    "--witness",
    metavar="FILE",
    default=None,
    type=click.Path(),
    help="A witness file written by `--witness` on route or journey: every head in it must "
    "still be in the chain.",
)
@click.option(
    "--allow-unanchored-tail",
    is_flag=True,
    help="Records after the head follow a crash (JSON Lines writes the head last): allow them.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(
    log_target: str,
    expect_head: str | None,
    witness: str | None,
    allow_unanchored_tail: bool,
    as_json: bool,
) -> None:
    """Check the hash chain of a decision LOG: exit 1 and name the first bad record on any edit,
    deletion, insertion, reordering or truncation, a head that does not match its record,
    records after the head, a torn last line, or an anchor (--expect-head, --witness) that the
    chain no longer has."""
    report = verify_log(
        log_target,
        expect_head=expect_head,
        witness=witness,
        allow_unanchored_tail=allow_unanchored_tail,
    )
    click.echo(report_json(report) if as_json else str(report))
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("log_target", metavar="LOG")
@click.argument("which", metavar="SEQ|DECISION_ID")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def show(log_target: str, which: str, as_json: bool) -> None:
    """Print one logged record as the practitioner saw it: the minimised input, each child's
    level, route and due date, the reasons and rules fired, the rulebook. WHICH is a seq, a
    decision id's pseudonym (p-...), or the case system's decision id (needs the log's key in
    $TRIAGE_LOG_KEY)."""
    key = os.environ.get(KEY_VARIABLE)
    record = show_record(log_target, which, key.encode() if key else None)
    click.echo(record.model_dump_json(indent=2) if as_json else render_record(record))


@cli.command()
@click.argument("log_target", metavar="LOG")
@click.argument("decision_id", metavar="DECISION_ID")
@click.option("--accept", is_flag=True, help="The manager accepted the recommendation.")
@click.option("--override", "route", metavar="ROUTE", default=None, help="The route decided.")
@click.option("--reason", metavar="CODE", default=None, help="A code of override_reasons.")
@click.option("--level", type=click.IntRange(1, 4), default=None, help="The level decided.")
@click.option("--note", metavar="TEXT", default=None, help="Free text (logged with --keep-detail).")
@click.option("--by", "decided_by", metavar="WHO", required=True, help="Who decided.")
@click.option("--keep-detail", is_flag=True, help="Keep the note in the log.")
@click.option(
    "--pathway",
    "pathway_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Pathway an override is checked against. Default: the bundled Kent pathway.",
)
@_witness_option
def outcome(
    log_target: str,
    decision_id: str,
    accept: bool,
    route: str | None,
    reason: str | None,
    level: int | None,
    note: str | None,
    decided_by: str,
    keep_detail: bool,
    pathway_file: Path | None,
    witness: str | None,
) -> None:
    """Record the Front Door manager's outcome for a logged decision: --accept, or --override
    ROUTE --reason CODE [--level N]. DECISION_ID is the case system's decision id (the log's key
    in $TRIAGE_LOG_KEY finds its pseudonym) or the pseudonym (p-...). Prints the record."""
    from triage.audit.outcome import parse_outcome
    from triage.pathway import load_pathway

    if accept == (route is not None):
        raise UsageError("give exactly one of --accept and --override ROUTE")
    given = parse_outcome(
        {
            "decision_id": decision_id,
            "outcome": "accepted" if accept else "overridden",
            "route": route,
            "level": level,
            "reason": reason,
            "note": note,
            "decided_by": decided_by,
        }
    )
    pathway = load_pathway(pathway_file)
    with DecisionLog(log_target, witness=witness, keep_detail=keep_detail) as log:
        record = log.record_outcome(given, pathway=pathway)
    click.echo(record.model_dump_json())


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True)
@_rules_option
@click.option(
    "--pathway",
    "pathway_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Pathway file. Default: the bundled Kent pathway.",
)
@click.option("--log", "log_target", metavar="TARGET", default=None, help=LOG_HELP)
@click.option("--keep-detail", is_flag=True, help="Keep free text (referral detail, notes).")
@click.option(
    "--engine", type=click.Choice(ENGINES), default="durable", show_default=True, help="Evaluator."
)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--tokens",
    "tokens_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File of hashed bearer tokens (ROLE SHA256HEX [name] per line).",
)
@click.option("--max-body", type=click.IntRange(min=1), default=1_048_576, show_default=True)
@click.option(
    "--hash-token",
    "token_to_hash",
    metavar="TOKEN",
    default=None,
    help="Print the SHA-256 of TOKEN for a token file, and exit.",
)
@click.option("--openapi", "print_openapi", is_flag=True, help="Print the OpenAPI document, exit.")
def serve(
    host: str,
    port: int,
    rules_dir: Path | None,
    pathway_file: Path | None,
    log_target: str | None,
    keep_detail: bool,
    engine: str,
    workers: int,
    tokens_file: str | None,
    max_body: int,
    token_to_hash: str | None,
    print_openapi: bool,
) -> None:
    """Serve the HTTP API (docs/serve.md): FastAPI on uvicorn, endpoints under /v1/. Refuses a
    non-loopback --host without tokens. Needs the serve extra: pip install 'triage[serve]'."""
    try:
        from triage.serve import Settings, create_app, hash_token, run
    except ImportError:
        raise UsageError(
            "triage serve needs the serve extra: pip install 'triage[serve]'"
        ) from None
    if token_to_hash is not None:
        click.echo(hash_token(token_to_hash))
        return
    settings = Settings(
        rules=None if rules_dir is None else str(rules_dir),
        pathway=None if pathway_file is None else str(pathway_file),
        log=log_target,
        engine=engine,
        host=host,
        tokens_file=tokens_file,
        max_body=max_body,
        keep_detail=keep_detail,
    )
    settings.check()
    if print_openapi:
        click.echo(json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True))
        return
    run(settings, port=port, workers=workers)


@cli.command()
@click.argument("file", type=click.File("rb"))
@click.option("--batch", is_flag=True, help="FILE is JSON Lines: one journey event per line.")
@click.option("--log", "log_target", metavar="TARGET", default=None, help=LOG_HELP)
@_witness_option
@_engine_options
def journey(
    file: IO[bytes],
    batch: bool,
    log_target: str | None,
    witness: str | None,
    rules_dir: Path | None,
    engine: EngineName | None,
    as_of: Any,
) -> None:
    """Decide the journey event in FILE (- for standard input): step up, step down, transition,
    close or stay, by the rulebook's step rules, checked against the pathway graph. Prints one
    transition decision per event (JSON Lines). A move the pathway refuses exits 2."""
    journeys = Journeys(_rulebook(rules_dir), engine=engine)
    log = _open_log(log_target, witness)
    lines = list(_lines(file)) if batch else [(1, file.read())]
    failed = 0
    try:
        for number, text in lines:
            try:
                event = journeys.validate(text)
                decision = journeys.decide(event, as_of=_as_date(as_of))
                if log is not None:
                    log.record_transitions(journeys, [event], [decision])
            except TriageError as error:
                if not batch:
                    raise
                failed += 1
                click.echo(
                    f"error [{error.code}] {_name(file)} line {number}: {error.message}", err=True
                )
                continue
            click.echo(decision.model_dump_json())
    finally:
        if log is not None:
            log.close()
    if failed:
        sys.exit(2)


@cli.command()
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
@_rules_option
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
    runner = ScenarioRunner(_rulebook(rules_dir), engine=engine)
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


@cli.command()
@click.option(
    "--n",
    "count",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="How many synthetic referrals.",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Random seed."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the log, the HTML report and the picture. Default: a new temporary folder.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes for the replay.",
)
def demo(count: int, seed: int, out: Path | None, workers: int) -> None:
    """The whole story on the embedded defaults: simulate referrals and journeys, route and
    decide them with the Kent rulebook on durable_rules into an SQLite decision log, verify and
    replay it, print the KPI report and write the HTML report and a pathway picture."""
    folder = out if out is not None else Path(tempfile.mkdtemp(prefix="triage-demo-"))
    run_demo(folder, n=count, seed=seed, workers=workers, progress=_progress, say=click.echo)


def _progress_total(log_target: str) -> int | None:
    try:
        store = open_store(log_target)
    except TriageError:
        return None
    try:
        head = store.head()
    finally:
        store.close()
    return None if head is None else head[0]


@cli.command()
@click.argument("log_target", metavar="LOG")
@click.option(
    "--against",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="What-if: evaluate every record under this rulebook directory instead.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--engine", type=click.Choice(ENGINES), default=None, help="Override the recorded engine."
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="What-if: apply the rules in force on this date instead of each record's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the summary and every child.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: one row per child.")
@click.option(
    "--allow-unanchored-tail",
    is_flag=True,
    help="The log is verified first; allow records after its head (they follow a crash).",
)
@click.option(
    "--rows",
    "rows_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Stream one CSV row per child to this file as replay goes (memory stays flat for a "
    "national what-if); the report then lists no children.",
)
def replay(
    log_target: str,
    against: Path | None,
    workers: int,
    engine: EngineName | None,
    as_of: Any,
    as_json: bool,
    as_csv: bool,
    allow_unanchored_tail: bool,
    rows_file: Path | None,
) -> None:
    """Re-run every decision in LOG against the rulebook snapshot that made it and report identical
    or different (exit 1 on any difference); with --against, a threshold what-if: old and new level
    and route per child, transition matrices and Front Door threshold crossings."""
    if rows_file is not None and (as_json or as_csv):
        raise UsageError("--rows streams the children to a file: give it without --json or --csv")
    with ExitStack() as stack:
        rows = None
        if rows_file is not None:
            handle = stack.enter_context(rows_file.open("w", encoding="utf-8", newline=""))
            rows = csv.writer(handle, lineterminator="\n")
            rows.writerow(ROW_FIELDS)
        report = _replay_with_progress(
            log_target, against, workers, engine, as_of, allow_unanchored_tail, rows
        )
    click.echo(render_replay(report, "json" if as_json else "csv" if as_csv else "table"))
    if against is None and (report.different or report.journeys_different):
        sys.exit(1)


def _replay_with_progress(
    log_target: str,
    against: Path | None,
    workers: int,
    engine: EngineName | None,
    as_of: Any,
    allow_unanchored_tail: bool,
    rows: Any,
) -> ReplayReport:
    with _progress("replaying", _progress_total(log_target)) as progress:
        report = replay_log(
            log_target,
            against=against,
            workers=workers,
            engine=engine,
            as_of=_as_date(as_of),
            progress=progress,
            allow_unanchored_tail=allow_unanchored_tail,
            rows=None if rows is None else lambda outcome: rows.writerow(csv_row(outcome)),
        )
    return report


@cli.command()
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
@_rules_option
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
    rulebook = _rulebook(rules_dir)
    path = tuple(part.strip() for part in highlight.split(",") if part.strip())
    pathway = load_pathway(pathway_file, rulebook=rulebook)
    steps: tuple[TransitionDecision, ...] = ()
    if journey_file is not None and child is not None:
        journeys = Journeys(rulebook, pathway)
        events = [journeys.validate(text) for _, text in _lines(journey_file)]
        steps = decide_child(journeys, events, child)
        if not steps:
            raise UsageError(f"no event in {_name(journey_file)} is about the --child given")
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


@cli.command("simulate")
@click.option(
    "--n", "count", type=click.IntRange(min=0), required=True, help="How many referrals to write."
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    required=True,
    help="The same seed (and options) gives the same referrals, byte for byte.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to FILE, with a progress bar on a terminal. Default: standard output.",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2025-04-01",
    show_default=True,
    help="The first day referrals can arrive (YYYY-MM-DD).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=365,
    show_default=True,
    help="Calendar days from --start; referrals arrive on their working days.",
)
@click.option(
    "--journeys",
    "journeys_out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the journey events that follow these referrals (reviews, plan ends, "
    "closures; each referral routed by the reference evaluator) to FILE as JSON Lines.",
)
@_rules_option
def simulate_command(
    count: int,
    seed: int,
    out: Path | None,
    start: Any,
    days: int,
    journeys_out: Path | None,
    rules_dir: Path | None,
) -> None:
    """Write N synthetic referrals as JSON Lines, calibrated to national figures for England
    (docs/simulation.md). Nothing is real: synthetic ids, no names, no free text."""
    rulebook = _rulebook(rules_dir)
    referrals = simulate(count, seed, rulebook, start=start.date(), days=days)
    if journeys_out is not None:
        kept = list(referrals)
        referrals = iter(kept)
        door = FrontDoor(rulebook, engine="reference")
        events = simulate_journeys(((r, door.route(r)) for r in kept), seed, rulebook)
        with journeys_out.open("w", encoding="utf-8", newline="\n") as file:
            file.writelines(json.dumps(event, separators=(",", ":")) + "\n" for event in events)
    lines = (json.dumps(referral, separators=(",", ":")) + "\n" for referral in referrals)
    if out is None:
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    step = 500  # redrawing the bar for every line would cost more than writing it
    try:
        with (
            out.open("w", encoding="utf-8", newline="\n") as file,
            _progress("simulating", count) as progress,
        ):
            for number, line in enumerate(lines, start=1):
                file.write(line)
                if number % step == 0:
                    progress(step)
            progress(count % step)
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror or error}") from error


@cli.command("report")
@click.argument("log_target", metavar="LOG")
@click.option(
    "--population",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Children under 18 in the area: gives the starts per 10,000 under-18s.",
)
@click.option(
    "--from",
    "start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="DATE",
    help="First day of the period (YYYY-MM-DD, inclusive): referrals by received_at, journey "
    "events by occurred_at.",
)
@click.option(
    "--to",
    "end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="DATE",
    help="Last day of the period (YYYY-MM-DD, inclusive).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Also write one self-contained HTML page with charts to FILE.",
)
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Take what the figures say and group (the rulebook's report section) and the route "
    "labels from this rulebook directory. Default: the log's own rulebook snapshot.",
)
def report_command(
    log_target: str,
    population: int | None,
    start: Any,
    end: Any,
    as_json: bool,
    html_file: Path | None,
    rules_dir: Path | None,
) -> None:
    """The KPI report of a decision LOG: the indicators of the council's plans a log can
    support (docs/report.md), each with its definition. Needs no key: it counts pseudonymised
    ids."""
    rulebook = None if rules_dir is None else load_rulebook(rules_dir)
    report = kpi_report(
        log_target,
        population=population,
        start=_as_date(start),
        end=_as_date(end),
        rulebook=rulebook,
    )
    click.echo(to_json(report) if as_json else render_table(report))
    if html_file is not None:
        try:
            html_file.write_text(to_html(report), encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {html_file}: {error.strerror or error}") from error
        click.echo(f"wrote the HTML report to {html_file}", err=True)


@cli.command()
@click.argument(
    "cases_dir", metavar="[DIR]", required=False, type=click.Path(path_type=Path, exists=True)
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the figures.")
@click.option("--check", is_flag=True, help="Exit 1 when a target is not met.")
@_rules_option
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
    # Imported here so that this command stays one self-contained block of this file.
    from triage.errors import UsageError
    from triage.fidelity import load_cases, report_text, run_fidelity

    if cases_dir is None:
        checkout = Path(__file__).resolve().parent.parent / "examples" / "fidelity"
        cases_dir = checkout if checkout.is_dir() else Path("examples") / "fidelity"
        if not cases_dir.is_dir():
            raise UsageError("no examples/fidelity here: give the cases' DIR")
    cases = load_cases([cases_dir])
    report = run_fidelity(cases, _rulebook(rules_dir), engine=engine)  # type: ignore[arg-type]
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report_text(report))
    if check and not all(target.met for target in report.targets()):
        sys.exit(1)


def main() -> None:
    cli(prog_name="triage")


if __name__ == "__main__":
    main()
