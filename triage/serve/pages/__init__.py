"""The playground: server-rendered pages for practitioners, managers and auditors (issue 14).

Jinja2 templates with autoescape on, one stylesheet served from here, no script, font or image
from anywhere: the pages work with scripts off. Every POST is refused from another origin, so
another site cannot make a browser route or record through them.

- `referral`: the referral form (`/`) and the decision page, with the pathway drawn around the
  child's route (`picture`) and, for a referral recorded in the log, the manager's outcome form.
- `scenarios`: `/scenarios`, the bundled or uploaded scenario files run.
- `whatif`: `/what-if`, one indicator level or count threshold changed, tried on the log.
- `records`: `/log/record`, `/log/outcome` and `/log`: a logged decision, the manager's
  outcome, and the auditor's page.
- `_rendering`: what the pages share (templates, headers, a browser's token).

The playground (form, scenarios, what-if, thresholds) is served only by a server without
tokens, which `Settings.check` allows only on a loopback host: a practitioner's own machine.
The log's pages are served by every server with a log; with tokens they need a role.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from triage.serve.pages import records, referral, scenarios, whatif
from triage.serve.pages._rendering import TEMPLATES, ServiceOf, common, page


def install_pages(app: FastAPI, service_of: ServiceOf, *, playground: bool) -> None:
    from triage.serve.app import rulebook_summary

    records.install(app, service_of)

    @app.get("/playground.css", include_in_schema=False)
    def stylesheet() -> Response:
        css = (TEMPLATES / "playground.css").read_text(encoding="utf-8")
        return Response(css, media_type="text/css")

    if not playground:
        return
    referral.install(app, service_of)
    scenarios.install(app, service_of)
    whatif.install(app, service_of)

    @app.get("/thresholds", include_in_schema=False)
    def thresholds(request: Request) -> HTMLResponse:
        service = service_of(request)
        summary = rulebook_summary(service.rulebook)
        return page("thresholds.html", summary=summary, **common(service))


__all__ = ["install_pages"]
