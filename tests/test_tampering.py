"""Every tamper kind of `tests/tampering.py` on every store it applies to: outside the
documented limit verify alone catches it; inside the limit (a consistent rewrite of the whole
log and its head) the witness does. Nothing is ever left uncaught."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage import FrontDoor

from .tampering import KINDS, STORES, Kind, run_kind
from .test_audit import _new_database, fixture_pg_server

__all__ = ["fixture_pg_server"]  # the PostgreSQL server fixture, shared with the store suite

CASES = [(kind, store) for kind in KINDS for store in STORES if store in kind.stores]


@pytest.mark.parametrize(
    ("kind", "store"), CASES, ids=[f"{store}: {kind.name}" for kind, store in CASES]
)
def test_every_tamper_kind_is_caught(
    kind: Kind, store: str, tmp_path: Path, reference: FrontDoor, request: pytest.FixtureRequest
) -> None:
    pg = _new_database(request.getfixturevalue("pg_server")) if store == "postgresql" else None
    verdict = run_kind(kind, store, tmp_path, reference, pg)
    if kind.inside_limit:
        assert verdict == "caught by the witness", verdict
    else:
        assert verdict in {"caught by verify", "caught: log_unusable"}, verdict
