"""The application's wiring that is not an endpoint: security headers, the access log's
configuration, and the OpenAPI document's request-body schemas."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from fastapi import FastAPI

from triage.audit.outcome import ManagerOutcome
from triage.journey import JourneyEvent
from triage.referral import Referral

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",  # decisions are about children: no cache keeps them
    "Cross-Origin-Resource-Policy": "same-origin",
}


def add_openapi_components(app: FastAPI) -> None:
    """Add the request bodies' schemas (read by the application, not bound by FastAPI)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = original()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in (Referral, JourneyEvent, ManagerOutcome):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in schema.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components[model.__name__] = schema
        document["components"]["schemas"] = dict(sorted(components.items()))
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _only_access(_: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Below a warning, only the access log is written: the library's info events name
    decision ids, which a server's log should not collect."""
    if method in ("debug", "info") and event.get("event") != "http_request":
        raise structlog.DropEvent
    return event


def configure_logging() -> None:
    """JSON lines on stderr: the access log (route templates, status, time) and warnings.
    Called by `triage serve` (the library never configures structlog itself)."""
    structlog.configure(
        processors=[
            _only_access,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
