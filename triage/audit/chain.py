"""The chain format: how records are linked, and the genesis record that names a log.

Every log begins with a `log_genesis` record whose body names the log (a random `log_id`), the
format of the chain and a fingerprint of the pseudonymisation key. Every record's hash covers
the log id, so a record or a run of records copied from another log never verifies here:

    hash = SHA-256( log_id \\n seq \\n prev_hash \\n kind \\n fingerprint \\n body )   (UTF-8)

`kind` and `fingerprint` are the two values a store keeps beside the body (SQL columns, the
JSON Lines prefix) so that it can find records without parsing them; they are hashed so that
neither can be changed on its own. `fingerprint` is empty except on snapshots (of a rulebook
or a pathway), where it is the fingerprint of what the snapshot holds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64  # the prev_hash of the first record
CHAIN_FORMAT = 2  # 1: before log ids (triage 0.1), no longer read
GENESIS_KIND = "log_genesis"
SNAPSHOT_KIND = "rulebook_snapshot"
PATHWAY_SNAPSHOT_KIND = "pathway_snapshot"
SNAPSHOT_KINDS = frozenset({SNAPSHOT_KIND, PATHWAY_SNAPSHOT_KIND})


def chain_hash(
    log_id: str, seq: int, prev_hash: str, kind: str, fingerprint: str | None, body: str
) -> str:
    digest = hashlib.sha256(f"{log_id}\n{seq}\n{prev_hash}\n{kind}\n{fingerprint or ''}\n".encode())
    digest.update(body.encode())  # the body is not copied into a joined string first
    return digest.hexdigest()


def key_fingerprint(key: bytes) -> str:
    """Names a key without revealing it: a log records it, and refuses appends under another."""
    return hmac.new(key, b"triage decision log key v1", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Genesis:
    """What the first record of a log says about the log."""

    log_id: str
    key_fingerprint: str
    created_at: str
    library_version: str

    @classmethod
    def new(cls, key: bytes, created_at: datetime, library_version: str) -> Genesis:
        return cls(uuid.uuid4().hex, key_fingerprint(key), created_at.isoformat(), library_version)

    def body(self) -> str:
        fields: dict[str, Any] = {
            "chain_format": CHAIN_FORMAT,
            "created_at": self.created_at,
            "key_fingerprint": self.key_fingerprint,
            "kind": GENESIS_KIND,
            "library_version": self.library_version,
            "log_id": self.log_id,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def parse(cls, kind: str, body: str) -> Genesis | None:
        """The genesis a first record holds, or None when it is not a genesis of this format."""
        if kind != GENESIS_KIND:
            return None
        try:
            data = json.loads(body)
            if data.get("chain_format") != CHAIN_FORMAT or data.get("kind") != GENESIS_KIND:
                return None
            genesis = cls(
                str(data["log_id"]),
                str(data["key_fingerprint"]),
                str(data["created_at"]),
                str(data["library_version"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return genesis if genesis.body() == body else None


NOT_A_GENESIS = (
    "its first record is not a log_genesis record of chain format "
    f"{CHAIN_FORMAT} (a log written by triage 0.1, or not a decision log)"
)
