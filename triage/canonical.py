"""Canonical JSON and content fingerprints: one definition for rulebooks, pathways and records.

Canonical JSON here is `json.dumps` with sorted keys, no whitespace and text left as UTF-8 (not
ASCII-escaped). A fingerprint is the SHA-256 of that text, in hex.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a JSON value."""
    # check_circular=False: the same text, without tracking every container (values are trees)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
    )


def fingerprint(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a JSON value."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
