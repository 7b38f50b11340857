"""Reading JSON input strictly, and naming input in error messages without echoing it.

One reader for single referrals, batch lines and journey events: the text must be UTF-8 with no
byte order mark (RFC 8259 8.1: JSON exchanged between systems is UTF-8, and a BOM must not be
added), so bytes and `str` given to the API and files given to the CLI are refused or read alike.
Everything that goes wrong while reading is an `InputNotJson` (text that is not usable JSON) or,
for a key repeated inside one object, a `ReferralInvalid` naming the key and its field path:
never the RecursionError, ValueError or UnicodeDecodeError of the parser underneath.
"""

from __future__ import annotations

import json
import re
from codecs import BOM_UTF8, BOM_UTF16_BE, BOM_UTF16_LE
from collections import Counter
from collections.abc import Iterable
from typing import Any

from triage.errors import InputNotJson, Problem, ReferralInvalid

SHOWN_MAX = 40
"""The longest code value or key echoed whole in a message; longer ones are cut."""

# A value shaped like a code of a closed vocabulary (indicator ids, census codes, consent
# values): letters, digits and underscores. Names, dates and free text have spaces, hyphens or
# punctuation, so they are never echoed, even when given in a code field.
_CODE_SHAPE = re.compile(r"[A-Za-z0-9_]+")
# A \u escape of a UTF-16 surrogate: legal JSON syntax, but alone it is not a character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def shown_code(value: Any) -> str | None:
    """A value fit to echo in a message, or None: only a code-shaped value, cut past 40."""
    if isinstance(value, bool | int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    if not text or not _CODE_SHAPE.fullmatch(text[: SHOWN_MAX * 2]):
        return None
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX] + "..."


def shown_key(key: str) -> str:
    """A key (a field name) as a message shows it: printable, at most 40 characters."""
    text = key if key.isprintable() else ascii(key)[1:-1]
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX] + "..."


def field_path(loc: Iterable[int | str]) -> str:
    """`('children', 0, 'consent')` -> `children[0].consent`; keys cut and made printable."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = shown_key(part)
            text += f".{shown}" if text else shown
    return text


class _Repeated(dict[str, Any]):
    """A JSON object in which some key was given more than once (marked, to be reported)."""

    repeated: tuple[str, ...] = ()


class _Refused(ValueError):
    """Raised inside the parser for a token JSON does not have (NaN, Infinity)."""


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _text_of(data: str | bytes, where: str) -> str:
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise InputNotJson(where, 1, 1, _BOM)
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as error:
            line = data.count("\n", 0, error.start) + 1
            column = error.start - (data.rfind("\n", 0, error.start) + 1) + 1
            raise InputNotJson(where, line, column, "a lone surrogate is not a character") from None
        return data
    raw = bytes(data)
    if raw.startswith(BOM_UTF8):
        raise InputNotJson(where, 1, 1, _BOM)
    if raw.startswith((BOM_UTF16_LE, BOM_UTF16_BE)) or b"\x00" in raw[:4]:
        raise InputNotJson(where, 1, 1, "this is UTF-16 or UTF-32 text; send UTF-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _position(raw, error.start)
        raise InputNotJson(
            where, line, column, f"byte 0x{raw[error.start]:02x} is not UTF-8; send UTF-8 text"
        ) from None


_BOM = "it starts with a byte order mark (BOM); send UTF-8 without one"


def load_json(data: str | bytes, where: str) -> Any:
    """Parse JSON text (UTF-8 bytes or `str`) strictly; see the module docstring."""
    text = _text_of(data, where)
    repeats = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeats
        found = dict(items)
        if len(found) == len(items):
            return found
        repeats = True
        marked = _Repeated(found)
        marked.repeated = tuple(k for k, n in Counter(k for k, _ in items).items() if n > 1)
        return marked

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise InputNotJson(where, error.lineno, error.colno, error.msg) from None
    except _Refused as error:
        raise InputNotJson(where, None, None, str(error)) from None
    except RecursionError:
        raise InputNotJson(where, None, None, "arrays or objects nest too deeply") from None
    except ValueError:  # int() past sys.get_int_max_str_digits()
        raise InputNotJson(where, None, None, "a number has too many digits") from None
    if _SURROGATE_ESCAPE.search(text) and _holds_surrogate(value):
        reason = "a \\u escape gives a lone surrogate, not a character"
        raise InputNotJson(where, None, None, reason)
    if repeats:
        raise ReferralInvalid(list(_repeated_keys(value)), where)
    return value


def _children(value: Any) -> Iterable[tuple[int | str, Any]]:
    if isinstance(value, dict):
        return value.items()
    if isinstance(value, list):
        return enumerate(value)
    return ()


def _holds_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and any("\ud800" <= c <= "\udfff" for c in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _repeated_keys(value: Any) -> Iterable[Problem]:
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), value)]
    found: list[Problem] = []
    while stack:
        path, item = stack.pop()
        if isinstance(item, _Repeated):
            found.extend(
                Problem(
                    field_path((*path, key)),
                    "is given more than once in one object; send each key once",
                )
                for key in item.repeated
            )
        stack.extend(((*path, part), child) for part, child in _children(item))
    return sorted(found, key=lambda problem: problem.location)
