"""The scenarios page (`/scenarios`): the bundled scenario files, or uploaded ones, run on the
server's rulebook and engine by `triage.scenarios` (the runner of `triage scenarios` and the
tests), each scenario shown passed or failed with its reasons.

An upload is a multipart form, refused whole when over the server's `--max-body`. Each file is
written, under a name of the server's making, to a temporary folder that is removed after the
run; a file that does not fit the format is shown as its error, and the others run.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.types import Message

import triage
from triage.errors import ScenarioInvalid
from triage.scenarios import Outcome, ScenarioRunner, read_scenarios, report_line
from triage.serve.pages._rendering import (
    MULTIPART,
    ServiceOf,
    bounded_body,
    common,
    media_type,
    page,
    same_site,
)

MAX_FILES = 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def bundled_scenarios() -> Path | None:
    """The scenario files that come with triage: `examples/scenarios/`, in the wheel or in a
    source checkout."""
    package = Path(triage.__file__).resolve().parent
    for folder in (package / "_bundled" / "scenarios", package.parent / "examples" / "scenarios"):
        if folder.is_dir():
            return folder
    return None


@dataclass(frozen=True)
class FileError:
    file: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Run:
    summary: str
    passed: int
    failed: int
    invalid: tuple[FileError, ...]
    outcomes: tuple[tuple[str, Outcome], ...]  # (the file as shown, its outcome)


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _problems(error: ScenarioInvalid) -> tuple[str, ...]:
    return tuple(
        (f"line {p.line}: " if p.line else "")
        + (f"{p.location}: " if p.location else "")
        + p.message
        for p in error.problems
    )


def run_scenarios(runner: ScenarioRunner, root: Path, paths: Sequence[Path]) -> Run:
    """Run the scenarios of `paths` (files or folders under `root`, which names them)."""
    loaded = read_scenarios(paths)
    outcomes = runner.run_all(loaded.scenarios)
    passed = sum(o.passed for o in outcomes)
    return Run(
        summary=report_line(outcomes, loaded.invalid),
        passed=passed,
        failed=len(outcomes) - passed,
        invalid=tuple(
            FileError(_shown(Path(error.problems[0].file or ""), root), _problems(error))
            for error in loaded.invalid
        ),
        outcomes=tuple((_shown(o.file, root), o) for o in outcomes),
    )


def _safe_name(given: str | None, number: int) -> str:
    stem = _UNSAFE.sub("-", Path(given or "").name).strip(".-")[:80] or f"upload-{number}"
    return stem if stem.endswith((".yaml", ".yml")) else f"{stem}.yaml"


async def _uploads(request: Request, body: bytes) -> list[tuple[str, bytes]]:
    """The files of a multipart body already read (and bounded) by the page."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    replayed = StarletteRequest(request.scope, receive)
    form = await replayed.form(max_files=MAX_FILES, max_fields=MAX_FILES + 5)
    files = []
    try:
        for number, item in enumerate(form.getlist("file"), start=1):
            if isinstance(item, UploadFile) and (item.filename or item.size):
                files.append((_safe_name(item.filename, number), await item.read()))
    finally:
        await form.close()
    return files


def install(app: FastAPI, service_of: ServiceOf) -> None:
    runners: dict[str, ScenarioRunner] = {}

    def runner_of(service: Any) -> ScenarioRunner:
        # One runner for the server's life: a durable engine builds its rulesets once.
        if "runner" not in runners:
            runners["runner"] = ScenarioRunner(service.rulebook, engine=service.settings.engine)
        return runners["runner"]

    def show(service: Any, status: int = 200, **context: Any) -> HTMLResponse:
        return page(
            "scenarios.html",
            status,
            bundled=bundled_scenarios() is not None,
            max_body=service.settings.max_body,
            max_files=MAX_FILES,
            **({"run": None, "errors": {}} | context),
            **common(service),
        )

    @app.get("/scenarios", include_in_schema=False)
    async def scenarios(request: Request, run: str = "") -> HTMLResponse:
        service = service_of(request)
        folder = bundled_scenarios()
        if run != "bundled" or folder is None:
            return show(service)

        def work() -> Run:
            with service.lock:
                return run_scenarios(runner_of(service), folder, [folder])

        return show(service, run=await run_in_threadpool(work), source="the bundled scenarios")

    @app.post("/scenarios", include_in_schema=False)
    async def upload(request: Request) -> HTMLResponse:
        service = service_of(request)
        if not same_site(request):
            return show(service, 403, errors={"file": "refused: the form came from another site"})
        if media_type(request) != MULTIPART:
            return show(service, 415, errors={"file": "send the files as multipart/form-data"})
        limit = service.settings.max_body
        body = await bounded_body(request, limit)
        if body is None:
            return show(service, 413, errors={"file": f"the upload is over {limit} bytes"})
        try:
            files = await _uploads(request, body)
        except (ValueError, HTTPException):  # a malformed multipart body
            files = []
        if not files:
            return show(service, 422, errors={"file": "choose one or more scenario files"})

        def work() -> Run:
            with tempfile.TemporaryDirectory(prefix="triage-scenarios-") as folder:
                root = Path(folder)
                paths = []
                for number, (name, data) in enumerate(files, start=1):
                    path = root / (name if len(files) == 1 else f"{number:02d}-{name}")
                    path.write_bytes(data)
                    paths.append(path)
                with service.lock:
                    return run_scenarios(runner_of(service), root, paths)

        names = ", ".join(name for name, _ in files)
        return show(service, run=await run_in_threadpool(work), source=f"the upload ({names})")
