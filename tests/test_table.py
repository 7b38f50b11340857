"""Plain-text tables (`triage._table`): what-if matrices and the vocabulary listing."""

from __future__ import annotations

from collections import Counter

import pytest

from triage._table import abbreviate, matrix, table, terminal_width

ROUTES = (
    "universal_services",
    "single_agency_support",
    "team_around_the_family",
    "intensive_early_help",
)


def test_long_snake_case_names_are_abbreviated_to_their_initials() -> None:
    """Names longer than six characters become their words' initials; short ones stay."""
    assert abbreviate(["team_around_the_family", "intensive_early_help", "none", "manual"]) == {
        "team_around_the_family": "tatf",
        "intensive_early_help": "ieh",
        "none": "none",
        "manual": "manual",
    }


def test_clashing_abbreviations_get_a_digit() -> None:
    """Two names with the same initials, and a short name equal to them, stay distinct."""
    short = abbreviate(["sd", "strategy_discussion", "single_decision"])
    assert short == {"sd": "sd", "strategy_discussion": "sd2", "single_decision": "sd3"}


def test_matrix_follows_the_given_order_not_the_alphabet() -> None:
    """Rows and columns come in continuum order, with a key for the abbreviated columns; the
    counts are where the (before, after) pairs put them."""
    counts = Counter(
        {
            ("universal_services", "universal_services"): 5,
            ("team_around_the_family", "intensive_early_help"): 12,
            ("team_around_the_family", "team_around_the_family"): 3,
            ("single_agency_support", "single_agency_support"): 7,
        }
    )
    lines = matrix(counts, "routes", order=ROUTES, width=100)
    # Row labels pad to 22 (team_around_the_family); each cell is a space and 4 columns (tatf).
    assert lines[:5] == [
        "routes (rows: before, columns: after)",
        " " * 25 + "us  sas tatf  ieh",
        "universal_services" + " " * 8 + "5    0    0    0",
        "single_agency_support" + " " * 5 + "0    7    0    0",
        "team_around_the_family" + " " * 4 + "0    0    3   12",
    ]
    key = " ".join(lines[5:])
    for short, name in [("us", ROUTES[0]), ("sas", ROUTES[1]), ("tatf", ROUTES[2])]:
        assert f"{short} = {name}" in key
    assert "ieh = intensive_early_help" in key


def test_a_key_pair_is_never_split_across_lines() -> None:
    """Each `abbreviation = name` of the key stays on one line when the key wraps."""
    counts = Counter({(a, b): 1 for a in ROUTES for b in ROUTES})
    lines = matrix(counts, "routes", order=ROUTES, width=50)
    key = [line for line in lines if "=" in line]
    assert len(key) > 1
    for line in key:
        for part in line.removeprefix("columns:").split(","):
            if part.strip():
                assert " = " in part, line


def test_a_matrix_too_wide_for_the_terminal_is_split_into_blocks_of_columns() -> None:
    """At 40 columns the 4 route columns (row labels 22 wide, cells 4+1) go 3 then 1: every
    line fits and every count is still shown once."""
    counts = Counter(
        {(a, b): 10 * i + j for i, a in enumerate(ROUTES) for j, b in enumerate(ROUTES)}
    )
    lines = matrix(counts, "routes", order=ROUTES, width=40)
    body = [line for line in lines[1:] if line and "=" not in line]
    assert all(len(line) <= 40 for line in body)
    headers = [line.split() for line in body if not line.startswith(ROUTES)]
    assert headers == [["us", "sas", "tatf"], ["ieh"]]
    row = [line for line in body if line.startswith("team_around_the_family")]
    assert [line.split()[1:] for line in row] == [["20", "21", "22"], ["23"]]


def test_levels_keep_their_order_and_an_undecided_level_goes_last() -> None:
    """Levels 1-4 in order and `None` (not decided) after them; short labels get no key."""
    counts = Counter({(None, 4): 1, (2, 3): 2, (1, 1): 3})
    lines = matrix(counts, "levels", order=(1, 2, 3, 4), width=100)
    assert [line.split()[0] for line in lines[2:]] == ["1", "2", "None"]
    assert lines[1].split() == ["1", "3", "4"]
    assert not any(line.startswith("columns:") for line in lines)


def test_table_pads_columns_and_wraps_the_last_to_the_width() -> None:
    """Columns pad to their widest cell; the last column wraps under itself, within the width
    (24 columns less the 4 of `id` and its gap leave 20 for the label)."""
    lines = table([("a", "one two three four five six")], header=("id", "label"), width=24)
    assert lines == ["id  label", "a   one two three four", "    five six"]


@pytest.mark.parametrize(("columns", "limit", "expected"), [("120", 100, 100), ("70", 100, 70)])
def test_terminal_width_is_capped_by_the_limit(
    monkeypatch: pytest.MonkeyPatch, columns: str, limit: int, expected: int
) -> None:
    """`COLUMNS` gives the width, at most the limit asked for."""
    monkeypatch.setenv("COLUMNS", columns)
    assert terminal_width(limit) == expected
