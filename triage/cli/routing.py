"""Route and explain: `triage route`, `explain`, `journey` and `outcome`."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import IO, Any

import click

from triage.audit.log import DecisionLog
from triage.cli.options import (
    LOG_HELP,
    as_date,
    engine_options,
    numbered_lines,
    stream_name,
    witness_option,
)
from triage.decision import Decision
from triage.editions import EditionsDoor, EditionsJourneys, load_editions
from triage.engine import EngineName, FrontDoor
from triage.errors import InputError, TriageError, UsageError
from triage.journey import Journeys
from triage.loader import load_rulebook, read_revision
from triage.pathway import load_pathway
from triage.referral import Referral

BATCH_SIZE = 500


def _door(
    rules_dir: Path | None, engine: EngineName | None, go_live: Any = None
) -> FrontDoor | EditionsDoor:
    """The bundled or given rulebook's door; for a revision, the door of its editions."""
    if rules_dir is not None and read_revision(rules_dir) is not None:
        return load_editions(rules_dir, as_date(go_live)).door(engine)
    if go_live is not None:
        raise UsageError("--go-live goes with --rules naming a revision of a rulebook")
    return FrontDoor(load_rulebook(rules_dir), engine=engine)


def _journeys(
    rules_dir: Path | None, engine: EngineName | None, go_live: Any = None
) -> Journeys | EditionsJourneys:
    if rules_dir is not None and read_revision(rules_dir) is not None:
        return load_editions(rules_dir, as_date(go_live)).journeys(engine)
    if go_live is not None:
        raise UsageError("--go-live goes with --rules naming a revision of a rulebook")
    return Journeys(load_rulebook(rules_dir), engine=engine)


def _open_log(target: str | None, witness: str | None = None) -> DecisionLog | None:
    if target is None:
        if witness is not None:
            raise UsageError("--witness goes with --log")
        return None
    return DecisionLog(target, witness=witness)


@click.command()
@click.argument("file", type=click.File("rb"))
@click.option("--batch", is_flag=True, help="FILE is JSON Lines: one referral per line.")
@click.option("--log", "log_target", metavar="TARGET", default=None, help=LOG_HELP)
@witness_option
@engine_options
def route(
    file: IO[bytes],
    batch: bool,
    log_target: str | None,
    witness: str | None,
    rules_dir: Path | None,
    engine: EngineName | None,
    as_of: Any,
    go_live: Any,
) -> None:
    """Route the referral in FILE (- for standard input); print one decision per child (JSON Lines).

    FILE is UTF-8 JSON without a byte order mark. With --batch, a line that cannot be used is
    reported on stderr with its line number, the other lines are still routed (and logged, in
    batches of 500 per transaction), and the exit status is 2. With --rules a revision, each
    referral is routed on the edition in force on its as-of date (--go-live).
    """
    door = _door(rules_dir, engine, go_live)
    on = as_date(as_of)
    where = stream_name(file)
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
    door: FrontDoor | EditionsDoor,
    log: DecisionLog | None,
    file: IO[bytes],
    where: str,
    on: date | None,
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
        for number, line in numbered_lines(file):
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


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON: each decision with its explanation."
)
@click.option("--changes", is_flag=True, help="Add what single change would move each decision.")
@engine_options
def explain(
    files: tuple[IO[bytes], ...],
    as_json: bool,
    changes: bool,
    rules_dir: Path | None,
    engine: EngineName | None,
    as_of: Any,
    go_live: Any,
) -> None:
    """Route each referral FILE and explain each child's decision in plain English; with
    --changes, also what single change to the facts would move each child's level or route
    (tried with the same rules; never logged)."""
    from triage.changes import ChildChanges, render_changes, what_would_change

    door = _door(rules_dir, engine, go_live)
    decisions: list[Decision] = []
    nearby: list[ChildChanges] = []
    for file in files:
        text = file.read()
        decided = door.route(text, as_of=as_date(as_of))
        decisions += decided
        if changes:
            # A decision's as-of date is the one that chose its edition.
            one = door if isinstance(door, FrontDoor) else door.door_for(decided[0].as_of)
            nearby += what_would_change(one, text, as_of=as_date(as_of))
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


@click.command()
@click.argument("file", type=click.File("rb"))
@click.option("--batch", is_flag=True, help="FILE is JSON Lines: one journey event per line.")
@click.option("--log", "log_target", metavar="TARGET", default=None, help=LOG_HELP)
@click.option(
    "--pathway",
    "pathway_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Pathway file, checked against the rulebook. Default: the bundled Kent pathway.",
)
@witness_option
@engine_options
def journey(
    file: IO[bytes],
    batch: bool,
    log_target: str | None,
    pathway_file: Path | None,
    witness: str | None,
    rules_dir: Path | None,
    engine: EngineName | None,
    as_of: Any,
    go_live: Any,
) -> None:
    """Decide the journey event in FILE (- for standard input): step up, step down, transition,
    close or stay, by the rulebook's step rules, checked against the pathway graph. Prints one
    transition decision per event (JSON Lines). A move the pathway refuses exits 2. With --rules
    a revision, each event is decided on the edition in force on its date (the go-live move of
    an open case, `service_redesign`, on the revision); with --pathway, on that one rulebook and
    pathway."""
    if pathway_file is None:
        journeys: Journeys | EditionsJourneys = _journeys(rules_dir, engine, go_live)
    else:
        # Another council's rulebook brings its own pathway: the bundled one is Kent's.
        rulebook = load_rulebook(rules_dir)
        pathway = load_pathway(pathway_file, rulebook=rulebook)
        journeys = Journeys(rulebook, pathway, engine=engine)
    log = _open_log(log_target, witness)
    lines = list(numbered_lines(file)) if batch else [(1, file.read())]
    failed = 0
    try:
        for number, text in lines:
            try:
                event = journeys.validate(text)
                decision = journeys.decide(event, as_of=as_date(as_of))
                if log is not None:
                    log.record_transitions(journeys, [event], [decision])
            except TriageError as error:
                if not batch:
                    raise
                failed += 1
                click.echo(
                    f"error [{error.code}] {stream_name(file)} line {number}: {error.message}",
                    err=True,
                )
                continue
            click.echo(decision.model_dump_json())
    finally:
        if log is not None:
            log.close()
    if failed:
        sys.exit(2)


@click.command()
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
@witness_option
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
