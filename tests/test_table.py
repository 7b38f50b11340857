"""Plain-text tables (`triage._table`): what-if matrices and the vocabulary listing."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triage._table import abbreviate, matrix, table, terminal_width

from .strategies import count_matrices, snake_names

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


@given(st.lists(snake_names, unique=True, max_size=30))
def test_abbreviations_are_unique_and_never_longer_than_the_name(names: list[str]) -> None:
    """Every name gets a label of its own, no longer than the name plus a clash digit or two."""
    short = abbreviate(names)
    assert set(short) == set(names)
    assert len(set(short.values())) == len(names)
    for name, label in short.items():
        assert label == name if len(name) <= 6 else len(label) < len(name) + 3


@given(count_matrices, st.integers(min_value=40, max_value=200))
def test_every_count_is_shown_once_in_its_row_and_column(
    counts: dict[tuple[str, str], int], width: int
) -> None:
    """Read back from the blocks, the matrix has each (before, after) count where it belongs,
    zero elsewhere, and no line wider than the width beyond the row label's own length."""
    lines = matrix(counts, "t", width=width)
    short = abbreviate(sorted({after for _, after in counts}))
    label = {value: key for key, value in short.items()}
    rows = {before for before, _ in counts}
    read: dict[tuple[str, str], int] = {}
    columns: list[str] = []
    for line in lines[1:]:
        if not line or " = " in line or line.startswith("columns:"):
            continue  # a gap between blocks, or the key
        words = line.split()
        if line.startswith(" "):  # a block's header: the row label column is blank
            columns = [label[word] for word in words]
            continue
        for column, value in zip(columns, words[1:], strict=True):
            assert (words[0], column) not in read
            read[(words[0], column)] = int(value)
    assert {key: n for key, n in read.items() if n} == {key: n for key, n in counts.items() if n}
    lead = max([len(r) for r in rows] + [len("before")])
    body = [line for line in lines[1:] if line and " = " not in line]
    assert all(len(line) <= max(width, lead + 1 + 6 + 2) for line in body)
