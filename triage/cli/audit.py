"""Audit a decision log: `triage verify`, `show`, `replay` and `report`."""

from __future__ import annotations

import csv
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from triage.audit.log import KEY_VARIABLE
from triage.audit.planning import needs_planning
from triage.audit.replay import ReplayReport, replay_log
from triage.audit.replay_report import ROW_FIELDS, csv_row, render_replay
from triage.audit.show import render_record, show_record
from triage.audit.stores import open_store
from triage.audit.verify import report_json, verify_log
from triage.cli.options import as_date, progress_bar
from triage.engine import ENGINES, EngineName
from triage.errors import TriageError, UsageError
from triage.loader import load_rulebook
from triage.report import kpi_report, render_table, to_html, to_json
from triage.report.planning import render_plan, run_planning
from triage.report.planning_page import planning_html


@click.command()
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


@click.command()
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


@click.command()
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
@click.option(
    "--plan",
    is_flag=True,
    help="What-if: the planning what-if (teams by month, section 47 work, offers, the KPI "
    "report under the new model) even when the route sets are the same; it is the default "
    "when they differ (docs/planning.md).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Planning what-if: also write the report as one HTML page to this file.",
)
@click.option(
    "--population",
    type=click.IntRange(min=1),
    default=None,
    help="Planning what-if: children under 18 in the area, for the KPI report's rates.",
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
    plan: bool,
    html_file: Path | None,
    population: int | None,
) -> None:
    """Re-run every decision in LOG against the rulebook snapshot that made it and report identical
    or different (exit 1 on any difference); with --against, a threshold what-if: old and new level
    and route per child, transition matrices and Front Door threshold crossings. When the
    revision's routes differ from the log's (or with --plan), the planning what-if: children per
    new team by month, section 47 work, offers and the KPI report under the new model."""
    if rows_file is not None and (as_json or as_csv):
        raise UsageError("--rows streams the children to a file: give it without --json or --csv")
    if against is not None and (plan or needs_planning(log_target, against)):
        fmt = "json" if as_json else "csv" if as_csv else "table"
        click.echo(
            _plan(
                log_target,
                against,
                workers,
                engine,
                as_of,
                allow_unanchored_tail,
                rows_file,
                html_file,
                population,
                fmt,
            )
        )
        return
    if html_file is not None or population is not None:
        raise UsageError("--html and --population are for the planning what-if (--against)")
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


def _plan(
    log_target: str,
    against: Path,
    workers: int,
    engine: EngineName | None,
    as_of: Any,
    allow_unanchored_tail: bool,
    rows_file: Path | None,
    html_file: Path | None,
    population: int | None,
    fmt: str,
) -> str:
    with ExitStack() as stack:
        rows = None
        if rows_file is not None:
            handle = stack.enter_context(rows_file.open("w", encoding="utf-8", newline=""))
            rows = csv.writer(handle, lineterminator="\n")
            rows.writerow(ROW_FIELDS)
        with progress_bar("replaying", _progress_total(log_target)) as progress:
            planned, kpi = run_planning(
                log_target,
                against,
                workers=workers,
                engine=engine,
                as_of=as_date(as_of),
                allow_unanchored_tail=allow_unanchored_tail,
                progress=progress,
                rows=None if rows is None else rows.writerow,
                population=population,
            )
    if html_file is not None:
        html_file.write_text(planning_html(planned, kpi), encoding="utf-8")
    return render_plan(planned, kpi, fmt)


def _replay_with_progress(
    log_target: str,
    against: Path | None,
    workers: int,
    engine: EngineName | None,
    as_of: Any,
    allow_unanchored_tail: bool,
    rows: Any,
) -> ReplayReport:
    with progress_bar("replaying", _progress_total(log_target)) as progress:
        report = replay_log(
            log_target,
            against=against,
            workers=workers,
            engine=engine,
            as_of=as_date(as_of),
            progress=progress,
            allow_unanchored_tail=allow_unanchored_tail,
            rows=None if rows is None else lambda outcome: rows.writerow(csv_row(outcome)),
        )
    return report


@click.command("report")
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
        start=as_date(start),
        end=as_date(end),
        rulebook=rulebook,
    )
    click.echo(to_json(report) if as_json else render_table(report))
    if html_file is not None:
        try:
            html_file.write_text(to_html(report), encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {html_file}: {error.strerror or error}") from error
        click.echo(f"wrote the HTML report to {html_file}", err=True)
