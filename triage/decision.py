"""A decision for one child: level, route, urgency and due date, the rules that fired and why."""

from __future__ import annotations

import hashlib
import struct

from pydantic import Field

from triage._base import IsoDate, Level, Model
from triage._install import VERSION

LIBRARY_VERSION = VERSION  # the distribution's (frontdoor-triage), see triage._install


class IdKey:
    """A key for derived ids. `derive(prefix, *parts)` is `prefix` + the first 20 hex digits of
    HMAC-SHA256 (RFC 2104) over the parts, each written as its UTF-8 length (8 bytes, big-endian)
    and bytes, so that no two lists of parts share an encoding, whatever characters the ids
    hold. Without the key an id tells nothing of its parts: ids cannot be enumerated back to
    referrals and children. The key's inner and outer pads are hashed once, here (the `hmac`
    module redoes that for every message, and costs several times more; a test compares)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def __repr__(self) -> str:
        return "IdKey(...)"  # never the key

    def derive(self, prefix: str, *parts: str) -> str:
        inner = self._inner.copy()
        for part in parts:
            data = part.encode("utf-8")
            inner.update(_LENGTH.pack(len(data)))
            inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return prefix + outer.hexdigest()[:20]


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_LENGTH = struct.Struct(">Q")


def derived_id(prefix: str, key: bytes, *parts: str) -> str:
    """`IdKey(key).derive(prefix, *parts)`, for one id."""
    return IdKey(key).derive(prefix, *parts)


class RulebookRef(Model):
    id: str
    version: str
    fingerprint: str = Field(description="SHA-256 of the canonical JSON of the rulebook.")


class Decision(Model):
    """What the Front Door should do for one child, and why. Same inputs, same decision."""

    decision_id: str = Field(
        description="HMAC-SHA256 of referral, child, rulebook and as-of date under the door's "
        "id key (a random key per FrontDoor unless one is given)."
    )
    referral_id: str
    child_id: str
    level: Level | None = Field(description="Kent continuum level 1-4; null when undecidable.")
    level_name: str | None
    route: str
    urgency: str
    due_by: IsoDate = Field(
        description="Receipt date plus the urgency's timescale in working days."
    )
    rules_fired: tuple[str, ...] = Field(
        description="Level rules, the deciding route rule, flag rules."
    )
    reasons: tuple[str, ...] = Field(description="One plain-English sentence per rule fired.")
    flags: tuple[str, ...] = ()
    as_of: IsoDate = Field(description="The date whose rules and timescales were applied.")
    engine: str
    rulebook: RulebookRef
    library_version: str
