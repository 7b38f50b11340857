"""A corpus of hostile referrals, made by generators (no data files), each case carrying planted
personal data that must never come back in any output.

`generate(copies, big)` gives every case of every class; `copies` repeats each with other
planted data, `big` sets the size of the large ones (items, string length, nesting depth).
A case is `garbage` when the tool must refuse it, otherwise an edge case it may accept.
Run `python -m tests.adversarial --report` for the per-class table (tests/adversarial/run.py).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

NAMES = ("Zorya Pellingham", "Odile Fenwright", "Kasimir Thornbury", "Ines Waverley-Cole")
TEXTS = (
    "Zorya told the teacher, on the stairs, that her uncle hits her",
    "neighbour reports shouting at flat 12, Marsh Lane, most nights",
)
RECEIVED = "2026-03-02T09:30:00+00:00"


@dataclass(frozen=True, slots=True)
class Case:
    cls: str
    name: str
    payload: bytes
    garbage: bool
    planted: tuple[str, ...]


@dataclass
class _Plant:
    """The personal data planted in one case: a name, a date of birth, free text and ids."""

    name: str
    born: str
    text: str
    referral_id: str
    child_id: str

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.name, self.born, self.text, self.referral_id, self.child_id)


def _plant(rng: random.Random, n: int) -> _Plant:
    year = rng.randint(2009, 2023)
    born = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if born == "2019-05-01":  # a date the messages quote as an example
        born = "2019-05-02"
    return _Plant(
        rng.choice(NAMES),
        born,
        rng.choice(TEXTS),
        f"R-ADV-{n:05d}-Q{rng.randint(10**6, 10**7)}",
        f"C-ADV-{n:05d}-Q{rng.randint(10**6, 10**7)}",
    )


def base(plant: _Plant) -> dict[str, Any]:
    """A valid referral holding the planted data: one child, a level-2 concern."""
    return {
        "referral_id": plant.referral_id,
        "received_at": RECEIVED,
        "source": "police",
        "notification": "inter_agency_referral",
        "children": [
            {
                "child_id": plant.child_id,
                "date_of_birth": plant.born,
                "open_involvement": {"service": "intensive_early_help", "level": 3},
            }
        ],
        "concerns": [{"indicator": "domestic_abuse", "about": "parent_carer"}],
        "consent": "given",
        "immediate_danger": False,
        "detail": f"{plant.text} ({plant.name})",
    }


Variant = tuple[str, Any, bool]  # name, payload (a mapping, or bytes as sent), garbage
Generator = Callable[[_Plant, int], Iterator[Variant]]

FIELDS: tuple[tuple[str | int, ...], ...] = (
    ("referral_id",),
    ("received_at",),
    ("source",),
    ("notification",),
    ("children",),
    ("children", 0),
    ("children", 0, "child_id"),
    ("children", 0, "date_of_birth"),
    ("children", 0, "flags"),
    ("children", 0, "open_involvement"),
    ("children", 0, "open_involvement", "service"),
    ("children", 0, "open_involvement", "level"),
    ("concerns",),
    ("concerns", 0),
    ("concerns", 0, "indicator"),
    ("concerns", 0, "about"),
    ("consent",),
    ("immediate_danger",),
    ("detail",),
)
REQUIRED = {
    ("referral_id",),
    ("received_at",),
    ("source",),
    ("notification",),
    ("children",),
    ("children", 0, "child_id"),
    ("children", 0, "open_involvement", "service"),
    ("concerns", 0, "indicator"),
    ("concerns", 0, "about"),
    ("consent",),
    ("immediate_danger",),
    ("children", 0, "date_of_birth"),  # the only birth date given
}


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(data))
    target: Any = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


def _del(data: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(data))
    target: Any = copy
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return copy


_OPTIONAL = {
    ("children", 0, "open_involvement"),
    ("children", 0, "open_involvement", "level"),
    ("detail",),
}
_TEXT = {
    ("referral_id",),
    ("children", 0, "child_id"),
    ("children", 0, "date_of_birth"),
    ("detail",),
}


def wrong_types(p: _Plant, big: int) -> Iterator[Variant]:
    date_text = "2010-10-10"  # not planted: a string field may well hold it
    values: list[Any] = [7, 2.5, True, None, [], {}, [p.name], {"name": p.name}, date_text]
    for path in FIELDS:
        for value in values:
            name = f"{'.'.join(map(str, path))}={json.dumps(value)[:20]}"
            fits = (
                (value is None and path in _OPTIONAL)
                or (value == date_text and path in _TEXT)
                or (value == [] and path in {("children", 0, "flags"), ("concerns",)})
                or (value is True and path == ("immediate_danger",))
            )
            yield name, _set(base(p), path, value), not fits


def missing_fields(p: _Plant, big: int) -> Iterator[Variant]:
    for path in FIELDS:
        if path == ("children", 0, "flags"):
            continue  # not in the base referral
        garbage = path in REQUIRED or path == ("children", 0) or path == ("concerns", 0)
        yield ".".join(map(str, path)), _del(base(p), path), garbage and path != ("concerns", 0)


def extra_fields(p: _Plant, big: int) -> Iterator[Variant]:
    places: tuple[tuple[str | int, ...], ...] = (
        (),
        ("children", 0),
        ("concerns", 0),
        ("children", 0, "open_involvement"),
    )
    for place in places:
        for key in ("consent", "source", "about", "level", "notification", "name", "mother"):
            value = f"mother {p.name}, born {p.born}"
            if place == () and key in base(p):
                key = f"{key}_2"
            yield (
                f"{'.'.join(map(str, place)) or 'top'}+{key}",
                _set(base(p), (*place, key), value),
                True,
            )


def unknown_codes(p: _Plant, big: int) -> Iterator[Variant]:
    paths = (
        ("consent",),
        ("source",),
        ("notification",),
        ("concerns", 0, "about"),
        ("concerns", 0, "indicator"),
        ("children", 0, "open_involvement", "service"),
    )
    for path in paths:
        for value in (
            "nonsense",
            "domestic_abuser",
            f"{p.name}",
            f"{p.name}, born {p.born}",
            p.born,
        ):
            yield f"{path[-1]}={value[:12]}", _set(base(p), path, value), True
        yield f"{path[-1]}=flag-list", _set(base(p), ("children", 0, "flags"), [p.name]), True


ODD = {
    "nul": "\x00",
    "unit_sep": "\x1f",
    "file_sep": "\x1c",
    "zwsp": "\u200b",
    "rlm": "\u200f",
    "rlo": "\u202e",
    "bom": "\ufeff",
    "nel": "\x85",
    "ls": "\u2028",
    "ps": "\u2029",
    "del": "\x7f",
}


def odd_unicode(p: _Plant, big: int) -> Iterator[Variant]:
    for label, char in ODD.items():
        yield f"referral_id={label} only", _set(base(p), ("referral_id",), char * 3), True
        yield (
            f"child_id={label} inside",
            _set(base(p), ("children", 0, "child_id"), f"C{char}1"),
            True,
        )
        for path in (("consent",), ("concerns", 0, "indicator")):
            value = "given" if path == ("consent",) else "domestic_abuse"
            # An id-like code loses trailing Unicode white space (NEL, LS, PS), as it loses a
            # space: lenient, not harmful. A consent value is an exact enum value.
            trimmed = label in {"nel", "ls", "ps"} and path != ("consent",)
            yield f"{path[-1]}+{label}", _set(base(p), path, value + char), not trimmed
        yield f"detail+{label}", _set(base(p), ("detail",), f"{p.text}{char}"), False
    text = json.dumps(base(p))
    yield "escaped lone surrogate", text.replace('"given"', '"giv\\ud800en"').encode(), True
    yield "raw lone surrogate bytes", text.encode().replace(b"given", b"giv\xed\xa0\x80en"), True
    yield "overlong slash", text.encode().replace(b"given", b"giv\xc0\xafen"), True
    yield "latin-1 byte", text.encode().replace(b"given", b"giv\xe9n"), True


def huge_strings(p: _Plant, big: int) -> Iterator[Variant]:
    size = big * 1000
    filler = f"{p.name} {p.born} {p.text} " * (size // 80 + 1)
    for path in (("consent",), ("concerns", 0, "indicator"), ("referral_id",), ("source",)):
        yield f"{path[-1]} {size}", _set(base(p), path, filler[:size]), True
    yield f"code-shaped consent {size}", _set(base(p), ("consent",), "g" * size), True
    yield f"detail {size}", _set(base(p), ("detail",), filler[:size]), False
    yield f"unknown key name {size}", _set(base(p), ("k" * size,), p.name), True


def deep_nesting(p: _Plant, big: int) -> Iterator[Variant]:
    text = json.dumps(base(p))
    for depth in (100, 2_000, big * 100):
        arrays = "[" * depth + "]" * depth
        yield f"arrays {depth} top", arrays.encode(), True
        yield f"arrays {depth} in an unknown key", (text[:-1] + f', "x": {arrays}}}').encode(), True
        objects = '{"a": ' * depth + "1" + "}" * depth
        yield (
            f"objects {depth} as detail",
            text.replace('"detail": ', f'"detail": {objects}, "d": ').encode(),
            True,
        )


def numbers(p: _Plant, big: int) -> Iterator[Variant]:
    text = json.dumps(base(p))
    for token in ("NaN", "Infinity", "-Infinity", "1e309", "9" * 5000, "-0", "1.0", "0"):
        yield (
            f"immediate_danger={token[:10]}",
            text.replace('"immediate_danger": false', f'"immediate_danger": {token}').encode(),
            True,
        )
        yield f"level={token[:10]}", text.replace('"level": 3', f'"level": {token}').encode(), True
    yield "level=4.0", _set(base(p), ("children", 0, "open_involvement", "level"), 4.0), True


def many_items(p: _Plant, big: int) -> Iterator[Variant]:
    n = big * 10
    concern = {"indicator": "domestic_abuse", "about": "parent_carer"}
    yield f"{n} concerns", _set(base(p), ("concerns",), [concern] * n), False
    yield (
        f"{n} unknown concerns",
        _set(base(p), ("concerns",), [{"indicator": "domestic_abuser", "about": "child"}] * n),
        True,
    )
    kids = [{"child_id": f"C-{i}", "date_of_birth": p.born} for i in range(min(n, 2000))]
    yield f"{len(kids)} children", _set(base(p), ("children",), kids), False
    yield f"{n} flags", _set(base(p), ("children", 0, "flags"), ["disability"] * n), False
    yield f"{n} child_ids", _set(base(p), ("concerns", 0, "child_ids"), [p.child_id] * n), False


def duplicate_ids(p: _Plant, big: int) -> Iterator[Variant]:
    kid = {"child_id": p.child_id, "date_of_birth": p.born}
    yield "two children, one id", _set(base(p), ("children",), [kid, kid]), True
    yield (
        "ids differing by case",
        _set(base(p), ("children",), [kid, {**kid, "child_id": p.child_id.lower()}]),
        False,
    )
    yield (
        "ids differing by a trailing space",
        _set(base(p), ("children",), [kid, {**kid, "child_id": p.child_id + " "}]),
        True,
    )


def unknown_children(p: _Plant, big: int) -> Iterator[Variant]:
    for ids in (["C-NOBODY"], [p.child_id, "C-NOBODY"], [""], [p.name]):
        yield f"child_ids={ids[-1][:10]}", _set(base(p), ("concerns", 0, "child_ids"), ids), True
    yield "child_ids=the child", _set(base(p), ("concerns", 0, "child_ids"), [p.child_id]), False


def dates(p: _Plant, big: int) -> Iterator[Variant]:
    garbage = {
        "received naive": ("received_at", "2026-03-02T09:30:00"),
        "received numeric string": ("received_at", "1772443800"),
        "received year 1": ("received_at", "0001-01-10T09:30:00+00:00"),
        "received year 9999": ("received_at", "9999-12-31T09:30:00+00:00"),
        "received 2026-02-30": ("received_at", "2026-02-30T09:30:00+00:00"),
        "received offset +25:00": ("received_at", "2026-03-02T09:30:00+25:00"),
        "born in the future": ("date_of_birth", "2027-01-01"),
        "born 2026-02-30": ("date_of_birth", "2026-02-30"),
        "born as a time": ("date_of_birth", f"{p.born}T10:00:00"),
        "born as a number": ("date_of_birth", 20190501),
        "born numeric string": ("date_of_birth", "20190501"),
        "born year 1": ("date_of_birth", "0001-01-01"),
        "previous referral after receipt": ("previous_referrals", ["2026-04-01"]),
        "previous referral long before birth": ("previous_referrals", ["1990-01-01"]),
        "since after receipt": ("since", "2026-05-01"),
    }
    edge = {
        "received leap day": ("received_at", "2024-02-29T09:30:00+00:00"),
        "received +14:00": ("received_at", "2026-03-02T09:30:00+14:00"),
        "received 2099": ("received_at", "2099-03-02T09:30:00+00:00"),
        "received Z": ("received_at", "2026-03-02T09:30:00Z"),
        "born leap day": ("date_of_birth", "2020-02-29"),
        "born on receipt": ("date_of_birth", "2026-03-02"),
        "previous referral on receipt": ("previous_referrals", ["2026-03-02"]),
    }
    where = {
        "received_at": ("received_at",),
        "date_of_birth": ("children", 0, "date_of_birth"),
        "previous_referrals": ("children", 0, "previous_referrals"),
        "since": ("children", 0, "open_involvement", "since"),
    }
    for table, is_garbage in ((garbage, True), (edge, False)):
        for name, (field, value) in table.items():
            yield name, _set(base(p), where[field], value), is_garbage


def unborn(p: _Plant, big: int) -> Iterator[Variant]:
    def child(**fields: Any) -> dict[str, Any]:
        return _set(base(p), ("children", 0), {"child_id": p.child_id, **fields})

    yield "expected in 100 days", child(expected_date_of_birth="2026-06-10"), False
    yield "expected 20 days ago", child(expected_date_of_birth="2026-02-10"), False
    yield "expected a year ago", child(expected_date_of_birth="2025-03-01"), True
    yield "expected in 2040", child(expected_date_of_birth="2040-01-01"), True
    yield "expected 9999-12-31", child(expected_date_of_birth="9999-12-31"), True
    yield "both dates", child(expected_date_of_birth="2026-06-10", date_of_birth=p.born), True
    yield "neither date", child(), True
    yield (
        "unborn care leaver",
        child(expected_date_of_birth="2026-06-10", flags=["care_leaver"]),
        True,
    )
    yield (
        "unborn looked after",
        child(expected_date_of_birth="2026-06-10", flags=["looked_after"]),
        True,
    )


def ages(p: _Plant, big: int) -> Iterator[Variant]:
    for years in (17, 18, 21, 25, 26, 30, 60, 100, 2025):
        born = f"{2026 - years - 1}-06-01"  # turned `years` in 2025, before the referral
        for indicator in ("adequate_housing", "domestic_abuse", "physical_abuse"):
            data = _set(base(p), ("children", 0, "date_of_birth"), born)
            data = _set(data, ("concerns",), [{"indicator": indicator, "about": "child"}])
            yield f"age {years} {indicator}", data, years > 25


def shapes(p: _Plant, big: int) -> Iterator[Variant]:
    text = json.dumps(base(p))
    yield "no children", _set(base(p), ("children",), []), True
    yield "top-level array", f"[{text}]".encode(), True
    yield "two objects", (text + text).encode(), True
    yield "two objects on two lines", (text + "\n" + text).encode(), True
    yield "BOM", b"\xef\xbb\xbf" + text.encode(), True
    yield "UTF-16", text.encode("utf-16"), True
    yield "UTF-16 no BOM", text.encode("utf-16-le"), True
    yield "UTF-32", text.encode("utf-32"), True
    for raw in (b"", b"   ", b"null", b'"referral"', b"42", b"{}", b"{", text[:-1].encode()):
        yield f"text {raw[:8]!r}", raw, True
    yield "trailing newline and spaces", (text + "\n  \n").encode(), False


def duplicate_keys(p: _Plant, big: int) -> Iterator[Variant]:
    text = json.dumps(base(p))
    l4 = '[{"indicator": "physical_abuse", "about": "child"}]'
    yield (
        "immediate_danger true then false",
        text.replace(
            '"immediate_danger": false', '"immediate_danger": true, "immediate_danger": false'
        ).encode(),
        True,
    )
    yield (
        "concerns L4 then L1",
        text.replace('"concerns": [', f'"concerns": {l4}, "concerns": [').encode(),
        True,
    )
    yield (
        "indicator L4 then L1",
        text.replace(
            '"indicator": "domestic_abuse"',
            '"indicator": "physical_abuse", "indicator": "adequate_housing"',
        ).encode(),
        True,
    )
    yield (
        "consent twice, same value",
        text.replace('"consent": "given"', '"consent": "given", "consent": "given"').encode(),
        True,
    )
    yield (
        "child_id twice",
        text.replace(
            f'"child_id": "{p.child_id}"', f'"child_id": "{p.child_id}", "child_id": "C-OTHER"'
        ).encode(),
        True,
    )
    yield "level twice", text.replace('"level": 3', '"level": 4, "level": 1').encode(), True
    yield (
        "children twice",
        text.replace(
            '"children": [',
            f'"children": [{{"child_id": "C-2", "date_of_birth": "{p.born}"}}], "children": [',
        ).encode(),
        True,
    )


def combinations(p: _Plant, big: int) -> Iterator[Variant]:
    l4 = [{"indicator": "physical_abuse", "about": "child"}]
    data = _set(base(p), ("concerns",), l4)
    yield "L4 consent refused", _set(data, ("consent",), "refused"), False
    yield (
        "L4 open early help",
        _set(data, ("children", 0, "open_involvement"), {"service": "single_agency_support"}),
        False,
    )
    yield "L4 immediate danger", _set(data, ("immediate_danger",), True), False
    yield (
        "L4 with an L1 concern",
        _set(data, ("concerns",), [*l4, {"indicator": "adequate_housing", "about": "child"}]),
        False,
    )
    yield (
        "L4 unborn",
        _set(
            data, ("children", 0), {"child_id": p.child_id, "expected_date_of_birth": "2026-06-10"}
        ),
        False,
    )
    yield "L4 consent not sought, no danger", _set(data, ("consent",), "not_sought"), False
    yield (
        "L4 for one of two children",
        _set(
            _set(
                data,
                ("children",),
                [
                    {"child_id": p.child_id, "date_of_birth": p.born},
                    {"child_id": "C-SIB", "date_of_birth": "2012-01-01"},
                ],
            ),
            ("concerns", 0, "child_ids"),
            [p.child_id],
        ),
        False,
    )


CLASSES: tuple[tuple[str, Generator], ...] = (
    ("wrong types", wrong_types),
    ("missing fields", missing_fields),
    ("extra fields", extra_fields),
    ("unknown codes", unknown_codes),
    ("control chars / odd Unicode", odd_unicode),
    ("huge strings", huge_strings),
    ("deep nesting", deep_nesting),
    ("NaN / Infinity / huge numbers", numbers),
    ("many items", many_items),
    ("duplicate child ids", duplicate_ids),
    ("concerns naming unknown children", unknown_children),
    ("dates", dates),
    ("unborn", unborn),
    ("ages", ages),
    ("shapes", shapes),
    ("duplicate JSON keys", duplicate_keys),
    ("combinations", combinations),
)


def generate(copies: int = 1, big: int = 100, seed: int = 1) -> list[Case]:
    """Every case of every class, `copies` times with different planted data."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for copy in range(copies):
        for cls, make in CLASSES:
            plant = _plant(rng, len(cases))
            for name, payload, garbage in make(plant, big):
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                cases.append(Case(cls, f"{name} #{copy}", raw, garbage, plant.markers))
    return cases
