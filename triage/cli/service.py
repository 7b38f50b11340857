"""Run it as a service: `triage serve` (the serve extra's FastAPI application)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from triage.cli.options import LOG_HELP, rules_option
from triage.engine import ENGINES
from triage.errors import UsageError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True)
@rules_option
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
