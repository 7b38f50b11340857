"""Decision and transition ids are keyed (HMAC-SHA256), never an unkeyed hash of the ids."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from triage import FrontDoor, Rulebook
from triage.decision import IdKey, derived_id

from .conftest import ID_KEY, concerns, make_referral
from .strategies import referrals

OTHER_KEY = b"another-synthetic-decision-id-key"


def test_a_separator_inside_an_id_cannot_make_two_decisions_share_an_id() -> None:
    """Parts are length-prefixed: `R\\x1fX` + `C` is not `R` + `X\\x1fC` (they collided when
    the parts were joined with `\\x1f`)."""
    one = derived_id("D-", ID_KEY, "R\x1fX", "C", "fingerprint", "2026-03-02")
    other = derived_id("D-", ID_KEY, "R", "X\x1fC", "fingerprint", "2026-03-02")
    assert one != other
    assert derived_id("D-", ID_KEY, "ab", "c") != derived_id("D-", ID_KEY, "a", "bc")
    assert derived_id("D-", ID_KEY, "a", "") != derived_id("D-", ID_KEY, "a")


def test_the_id_is_the_hmac_of_the_length_prefixed_parts() -> None:
    """Worked by hand: each part as 8-byte big-endian length and UTF-8 bytes, HMAC-SHA256."""
    message = b"\x00" * 7 + b"\x01" + b"R" + b"\x00" * 7 + b"\x02" + "é".encode()
    expected = "D-" + hmac.new(ID_KEY, message, hashlib.sha256).hexdigest()[:20]
    assert derived_id("D-", ID_KEY, "R", "é") == expected


def test_a_decision_id_cannot_be_recomputed_from_the_ids_without_the_key(kent: Rulebook) -> None:
    """The old id, sha256 of the ids and the rulebook, is not what a door gives."""
    referral = make_referral(concerns=concerns("physical_abuse"))
    (decision,) = FrontDoor(kent, engine="reference").route(referral)
    seed = "\x1f".join(("R-TEST-1", "C-TEST-1", kent.fingerprint, "2026-03-02"))
    assert decision.decision_id != "D-" + hashlib.sha256(seed.encode()).hexdigest()[:20]
    assert decision.decision_id.startswith("D-")
    assert len(decision.decision_id) == 22


@given(referral=referrals())
def test_doors_with_one_key_agree_on_ids_and_doors_with_two_keys_do_not(
    referral: dict[str, Any], kent: Rulebook, reference: FrontDoor, compiled: FrontDoor
) -> None:
    """Same key: the same ids, whatever the engine. Another key: none of the same ids."""
    ours = [d.decision_id for d in reference.route(referral)]
    assert [d.decision_id for d in compiled.route(referral)] == ours
    other = FrontDoor(kent, engine="compiled", id_key=OTHER_KEY)
    assert not set(ours) & {d.decision_id for d in other.route(referral)}


def test_a_door_without_a_key_draws_its_own(kent: Rulebook) -> None:
    """No key given: stable ids for the door's lifetime, different from another keyless door."""
    referral = make_referral(concerns=concerns("physical_abuse"))
    first, second = FrontDoor(kent, engine="reference"), FrontDoor(kent, engine="reference")
    assert first.route(referral) == first.route(referral)
    assert first.route(referral)[0].decision_id != second.route(referral)[0].decision_id


@given(
    key=st.binary(min_size=1, max_size=200),
    parts=st.lists(st.text(max_size=30), max_size=5),
)
def test_the_precomputed_key_gives_what_the_hmac_module_gives(key: bytes, parts: list[str]) -> None:
    """`IdKey` hashes the key's pads once; `hmac` redoes it per message: the same MAC, for keys
    shorter and longer than SHA-256's 64-byte block."""
    message = b"".join(len(p.encode()).to_bytes(8, "big") + p.encode() for p in parts)
    expected = "T-" + hmac.new(key, message, hashlib.sha256).hexdigest()[:20]
    assert IdKey(key).derive("T-", *parts) == expected
    assert repr(IdKey(key)) == "IdKey(...)"  # a key never reaches a log or a traceback
