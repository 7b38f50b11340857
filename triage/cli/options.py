"""What several commands share: the --rules, --engine/--as-of/--go-live and --witness options, the
progress bar, and reading an input stream line by line."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from triage.audit.log import KEY_VARIABLE
from triage.engine import ENGINES

F = TypeVar("F", bound=Callable[..., Any])


LOG_HELP = (
    "Record every decision in a tamper-evident log: a .jsonl path, sqlite:///path or a "
    f"postgresql:// URL. Identifiers are pseudonymised with the key in ${KEY_VARIABLE}."
)


def rules_option(function: F) -> F:
    return click.option(
        "--rules",
        "rules_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Rulebook directory. Default: the bundled Kent rulebook.",
    )(function)


def engine_options(function: F) -> F:
    function = click.option(
        "--go-live",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        metavar="DATE",
        help="With --rules a revision (docs/rules-authoring.md, Revisions): the first day it "
        "decides; before it, the rulebook it revises. Default: the revision's own go-live.",
    )(function)
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
    return rules_option(function)


@contextlib.contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr, drawn only on a terminal and when the total is known."""
    with click.progressbar(
        length=total or 0,
        label=label.ljust(18),
        file=sys.stderr,
        hidden=total is None or not sys.stderr.isatty(),
    ) as bar:
        yield bar.update


def as_date(value: Any) -> date | None:
    return None if value is None else value.date()


def stream_name(stream: IO[Any]) -> str:
    name = getattr(stream, "name", None)  # an in-memory stdin (CliRunner) has none
    return "standard input" if name is None or name == "<stdin>" else str(name)


def numbered_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    # Bytes, decoded line by line by the library: a line that is not UTF-8 is that line's error.
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


WITNESS_HELP = (
    "Also append each new head of the log to this file (an anchor kept apart from the log): "
    "`triage verify LOG --witness FILE` then catches a rewrite of the whole log."
)


def witness_option(function: F) -> F:
    return click.option(
        "--witness", metavar="FILE", default=None, help=WITNESS_HELP, type=click.Path()
    )(function)
