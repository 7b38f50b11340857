"""Revisions as overlays: a rulebook or pathway that says only how it differs from another.

A revision directory holds a `revision:` header (the rulebook it extends, its default go-live,
why that date, its pathway) and the differences, nothing else:

- `retire: {routes: [id, ...], ...}`: items of the base that leave;
- `replace: {rules: [{id: X, with: PATCH}, ...], ...}`: an item of the base, merge-patched
  (RFC 7396: a mapping patches key by key, `null` removes a key, anything else replaces; so a
  patch may give a rule a new `id`); it keeps its place in the list;
- `add: {rules: [ITEM, ...], ...}`: new items, after the base's;
- `rulebook:`, `report:`, `simulation:`: merge patches of the base's mapping sections.

The loader (`triage.loader`, which alone reads YAML) resolves a revision into the ordinary data
of a rulebook, which is then validated as any rulebook is; the pathway loader does the same for
a pathway file that `extends` another (`triage.pathway.revision`). This module is pure data in,
data out: items travel with an origin (for the loader, a file and a line) so that a problem is
reported where it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import Field

from triage._base import IsoDate, Model

OriginT = TypeVar("OriginT")
Op = Literal["retire", "replace", "add"]
OPS: tuple[Op, ...] = ("retire", "replace", "add")
KeyOf = Callable[[Any], Hashable | None]
"""The key of a list's items (an id, or the two ends of an edge); None: the item has none."""


class RevisionHeader(Model):
    """The `revision:` header of a rulebook directory that extends another."""

    extends: str = Field(
        min_length=1,
        description="The rulebook revised: a bundled rulebook's name (kent), or a directory "
        "relative to this one (../kent).",
    )
    go_live: IsoDate = Field(description="The default first day this revision decides.")
    local_choice: str = Field(
        min_length=1, description="Why this go-live: no guidance sets a council's date."
    )
    pathway: str | None = Field(
        default=None,
        description="This revision's pathway file, relative to this directory; it `extends` "
        "the base rulebook's pathway.",
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: a mapping patches a mapping key by key (`None` removes the
    key), anything else (a list, a scalar) replaces the target whole."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


@dataclass(frozen=True, slots=True)
class Change(Generic[OriginT]):
    """One entry of an overlay's `retire`, `replace` or `add` list for one section."""

    op: Op
    section: str
    entry: Any
    origin: OriginT


@dataclass(frozen=True, slots=True)
class Found(Generic[OriginT]):
    """A problem of an overlay entry: where (its origin, then a path inside it) and what."""

    origin: OriginT
    loc: tuple[str | int, ...]
    message: str
    value: str | None = None
    valid: tuple[str, ...] = ()


def _shown(key: Hashable) -> str:
    return " -> ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def resolve_lists(
    base: Mapping[str, Sequence[tuple[Any, OriginT]]],
    changes: Sequence[Change[OriginT]],
    keys: Mapping[str, KeyOf | None],
) -> tuple[dict[str, list[tuple[Any, OriginT]]], list[Found[OriginT]]]:
    """The base's lists with the changes made: retired items left out, replaced items patched in
    their place, added items after. `keys` names each section that may change and how its items
    are keyed (None: `add` only). Problems: an entry of the wrong shape, a key the base does not
    have, an item both retired and replaced or changed twice."""
    found: list[Found[OriginT]] = []
    resolved = {section: list(items) for section, items in base.items()}
    taken: dict[tuple[str, Hashable], Op] = {}
    additions: list[Change[OriginT]] = []
    for change in changes:
        key_of = keys.get(change.section)
        if change.section not in keys:
            found.append(
                Found(
                    change.origin,
                    (),
                    "is not a list a revision may change",
                    change.section,
                    tuple(keys),
                )
            )
            continue
        if change.op == "add":
            additions.append(change)
            continue
        if key_of is None:
            found.append(Found(change.origin, (), f"can only be added to, not {change.op}d"))
            continue
        key = key_of(change.entry)
        if key is None:
            found.append(Found(change.origin, (), f"does not name the item to {change.op}"))
            continue
        items = resolved.setdefault(change.section, [])
        place = next((i for i, (item, _) in enumerate(items) if key_of(item) == key), None)
        if (change.section, key) in taken:
            earlier = taken[(change.section, key)]
            found.append(
                Found(
                    change.origin,
                    (),
                    f"{change.op}s an item this revision already {earlier}s",
                    _shown(key),
                )
            )
            continue
        if place is None:
            valid = tuple(sorted(_shown(k) for k in (key_of(i) for i, _ in items) if k is not None))
            found.append(
                Found(
                    change.origin, (), "is not an item of the rulebook revised", _shown(key), valid
                )
            )
            continue
        taken[(change.section, key)] = change.op
        if change.op == "retire":
            del items[place]
            continue
        patch = change.entry.get("with") if isinstance(change.entry, dict) else None
        if not isinstance(patch, dict) or set(change.entry) - {"with", "id", "from", "to"}:
            found.append(
                Found(
                    change.origin,
                    (),
                    "a replacement names its item and gives `with:` (a "
                    "mapping of the changed fields) and nothing else",
                )
            )
            continue
        items[place] = (merge_patch(items[place][0], patch), change.origin)
    for change in additions:
        resolved.setdefault(change.section, []).append((change.entry, change.origin))
    return resolved, found


def by_id(item: Any) -> Hashable | None:
    """The key of an item with an `id` (a retirement may give the id alone)."""
    if isinstance(item, str):
        return item
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def by_ends(item: Any) -> Hashable | None:
    """The key of an edge: its two ends."""
    if not isinstance(item, dict):
        return None
    ends = item.get("from"), item.get("to")
    return ends if all(isinstance(end, str) for end in ends) else None
