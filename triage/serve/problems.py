"""Errors as `application/problem+json` (RFC 9457), never a traceback, never case data.

A `TriageError` becomes a problem whose `code` is the error's code (`docs/errors.md`), with its
field problems (path, message, valid values) for the errors that list them. HTTP-level refusals
(no or a wrong token, a role that may not, a body too large, a wrong content type, an unknown
path) carry the status and a fixed title, and no code: they are not the library's errors.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from triage.errors import TriageError

PROBLEM = "application/problem+json"

STATUS: dict[str, int] = {
    "input_not_json": 400,
    "usage_error": 400,
    "referral_invalid": 422,
    "scenario_invalid": 422,
    "move_refused": 409,
    "outcome_refused": 409,
    "engine_fault": 503,
    "log_unusable": 503,
    "graphviz_missing": 503,
    "rulebook_not_found": 500,
    "rulebook_invalid": 500,
    "pathway_invalid": 500,
}

TITLES = {
    400: "Bad Request",
    401: "Not authenticated",
    403: "Not allowed for this role",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HttpRefusal(Exception):
    """An HTTP-level refusal raised by the application's own checks."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


def problem(status: int, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank" if "code" not in extra else f"urn:triage:error:{extra['code']}",
        "title": TITLES.get(status, "Error"),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return body


def error_problem(error: TriageError) -> dict[str, Any]:
    """The problem of a library error: its code and message, and its field problems."""
    status = STATUS.get(error.code, 400)
    extra: dict[str, Any] = {"code": error.code}
    problems = getattr(error, "problems", None)
    if problems:
        extra["problems"] = [
            {
                "location": item.location,
                "message": item.message,
                # Problem.value is set only for codes of a closed vocabulary (errors.py)
                **({"value": item.value} if item.value is not None else {}),
                **({"valid": list(item.valid)} if item.valid else {}),
            }
            for item in problems
        ]
    valid = getattr(error, "valid", None)
    if isinstance(valid, tuple) and valid:
        extra["valid"] = list(valid)
    return problem(status, error.message, **extra)


def respond(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    """Every error the application can meet, answered as a problem."""

    async def triage_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, TriageError)
        return respond(error_problem(error))

    async def refusal(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HttpRefusal)
        return respond(problem(error.status, error.detail), error.headers)

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        return respond(problem(error.status_code), dict(error.headers or {}))

    async def invalid_parameters(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        # Locations and messages only: pydantic's `input` may hold what was sent.
        problems = [
            {"location": ".".join(map(str, item["loc"])), "message": item["msg"]}
            for item in error.errors()
        ]
        return respond(
            problem(400, "a parameter is not valid", code="usage_error", problems=problems)
        )

    async def anything(_: Request, error: Exception) -> JSONResponse:
        return respond(problem(500, "the server could not answer this request"))

    app.add_exception_handler(TriageError, triage_error)
    app.add_exception_handler(HttpRefusal, refusal)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_parameters)
    app.add_exception_handler(Exception, anything)
