"""What every page shares: the templates, the page headers, the same-site check of a form, a
bounded read of a form body, and the role a browser presents when the server has tokens.

A browser presents a token by HTTP Basic authentication: the token is the password (the user
name is not read). Browsers ask for it themselves, with no script, and send it with every
request to the server; a form posted from another site still carries it, so every POST is also
refused unless it comes from the server's own page (`same_site`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader

from triage.referral import SOURCE_ALIASES, Consent, Notification
from triage.serve.settings import Role, role_of

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="triage", charset="UTF-8"'}

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    auto_reload=False,
)

ServiceOf = Callable[[Request], Any]


def page(
    name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": PAGE_POLICY,
            "Referrer-Policy": "same-origin",
            **(headers or {}),
        },
    )


def same_site(request: Request) -> bool:
    """A form POST from this server's own page: the browser's Sec-Fetch-Site, else the Origin
    (the pages' referrer policy keeps it for same-origin requests)."""
    fetched = request.headers.get("sec-fetch-site")
    if fetched is not None:
        return fetched in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def bounded_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` bytes (counted as it arrives, so a body
    without a Content-Length is stopped too)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _presented(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password or user or None


def common(service: Any) -> dict[str, Any]:
    """What the base template and the forms read: the rulebook, the vocabulary in plain labels
    grouped by domain, and which pages this server has."""
    rulebook = service.rulebook
    indicators = sorted(rulebook.indicators, key=lambda i: (i.domain.value, i.level))
    return {
        "rulebook": rulebook,
        "domains": [(d, list(g)) for d, g in groupby(indicators, key=lambda i: i.domain.value)],
        "sources": sorted(SOURCE_ALIASES),
        "notifications": [n.value for n in Notification],
        "consents": [c.value for c in Consent],
        "routes": {r.id: r.label for r in rulebook.routes} | {"manual_review": "Manual review"},
        "playground": not service.tokens,
        "has_log": service.log is not None,
    }


def refusal(request: Request, service: Any, *roles: Role) -> HTMLResponse | None:
    """None when the browser may see the page: the server has no tokens (loopback only), or the
    token it presents has one of `roles`; else the refusal page (401 asks for the token)."""
    if not service.tokens:
        return None
    token = _presented(request.headers.get("authorization", ""))
    role = None if token is None else role_of(service.tokens, token)
    context = common(service) | {"roles": [r.value for r in roles]}
    if role is None:
        return page("refused.html", 401, BASIC_CHALLENGE, known=token is not None, **context)
    if role not in roles:
        return page("refused.html", 403, known=True, **context)
    return None
