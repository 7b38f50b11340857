"""The `triage` command line. Every command is a thin call on the public Python API.

Exit status: 0 done; 1 the command ran and found something (lint findings); 2 the input or the
rulebook could not be used (the message names the field and the valid values; no traceback).

This package holds the group, its one error boundary and `-v`; the commands live in modules by
task, as `triage --help` lists them: `routing`, `rules`, `audit`, `demo` and `service`.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click
import structlog

from triage._install import VERSION
from triage._logging import add_log_level
from triage.cli import audit, demo, routing, rules, service
from triage.errors import TriageError, error_json


class _StderrLoggers:
    """structlog's logger factory for the command line: a logger on the current sys.stderr.
    A class, not a lambda, so that it pickles: replay's worker processes are given the
    configuration, and without a factory they would print their events to stdout, into the
    data (`replay --workers 2 --json`)."""

    def __call__(self, *args: Any) -> structlog.PrintLogger:
        return structlog.PrintLogger(sys.stderr)


def _configure_logging(verbose: bool) -> None:
    # The library never configures structlog; the command line does, and keeps stdout for data.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.INFO if verbose else logging.WARNING
        ),
        # The stream is looked up per logger, not bound now, so a host that swaps sys.stderr
        # (click's CliRunner, a test) gets the lines.
        logger_factory=_StderrLoggers(),
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


for _command in (
    routing.route,
    routing.explain,
    routing.journey,
    routing.outcome,
    rules.scenarios,
    rules.fidelity,
    rules.vocabulary,
    rules.lint,
    rules.graph,
    rules.schema,
    audit.verify,
    audit.show,
    audit.replay,
    audit.report_command,
    demo.demo,
    demo.simulate_command,
    service.serve,
):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="triage")
