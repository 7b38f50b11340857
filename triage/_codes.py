"""A referral's codes (indicators, open services) against a rulebook's vocabulary, as
problems that name the field and the valid values: for a referral the model has read, and for
raw input that failed validation, so that its codes are reported with its other problems."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from triage._input import shown_code
from triage.errors import Problem


def vocabulary_problems(
    concern_codes: Iterable[tuple[int, Any]],
    service_codes: Iterable[tuple[int, Any]],
    indicators: Collection[str],
    services: Collection[str],
) -> list[Problem]:
    """Codes outside the rulebook's vocabulary, given as (position, code) pairs."""
    problems: list[Problem] = []
    # One sorted tuple shared by every problem; the nearest ids are found only for the problems
    # a message shows (Problem.__str__), not for each of 10^5 (16 s in review D8).
    valid_indicators: tuple[str, ...] | None = None
    for index, code in concern_codes:
        if isinstance(code, str) and code not in indicators:
            valid_indicators = valid_indicators or tuple(sorted(indicators))
            problems.append(
                Problem(
                    f"concerns[{index}].indicator",
                    "is not an indicator of the rulebook",
                    value=shown_code(code),
                    valid=valid_indicators,
                    see="`triage vocabulary`",
                )
            )
    valid_services: tuple[str, ...] | None = None
    for index, code in service_codes:
        if isinstance(code, str) and code not in services:
            valid_services = valid_services or tuple(sorted(services))
            problems.append(
                Problem(
                    f"children[{index}].open_involvement.service",
                    "is not a service of the rulebook",
                    value=shown_code(code),
                    valid=valid_services,
                )
            )
    return problems


def raw_vocabulary_problems(
    data: Mapping[str, Any], indicators: Collection[str], services: Collection[str]
) -> list[Problem]:
    """Codes outside the vocabulary read from raw input that failed validation, so that they
    are reported together with its other problems (nothing of it is routed)."""
    concerns = data.get("concerns")
    concern_codes = []
    for index, concern in enumerate(concerns if isinstance(concerns, list | tuple) else ()):
        code = concern.get("indicator") if isinstance(concern, dict | Mapping) else None
        if isinstance(code, str):
            concern_codes.append((index, code.strip()))
    children = data.get("children")
    service_codes = []
    for index, child in enumerate(children if isinstance(children, list | tuple) else ()):
        involvement = child.get("open_involvement") if isinstance(child, dict | Mapping) else None
        code = involvement.get("service") if isinstance(involvement, dict | Mapping) else None
        if isinstance(code, str):
            service_codes.append((index, code.strip()))
    return vocabulary_problems(concern_codes, service_codes, indicators, services)
