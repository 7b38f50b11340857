"""Reading input: one strict JSON reader for referrals, batch lines and journey events.

A line that cannot be read is that line's clear error; every other line of a batch is still
routed, printed and logged; the Python API raises only `TriageError`s."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner

from triage import FrontDoor, InputNotJson, ReferralInvalid, TriageError, parse_referral
from triage.audit.stores import open_store
from triage.cli import cli
from triage.journey import Journeys

from .conftest import concerns, make_referral

KEY = {"TRIAGE_LOG_KEY": "a synthetic key of enough length"}
DEEP = b"[" * 2000 + b"]" * 2000
HUGE_NUMBER = b'{"referral_id": ' + b"9" * 5000 + b"}"
# Each is one line that the reader must refuse, with the reason it gives.
BAD_LINES: dict[str, tuple[bytes, str]] = {
    "deep nesting": (DEEP, "nest too deeply"),
    "deep nesting inside an unknown key": (b'{"x": ' + DEEP + b"}", "nest too deeply"),
    "a number of 5000 digits": (HUGE_NUMBER, "too many digits"),
    "an invalid UTF-8 byte": (b'{"referral_id": "R-\xff"}', "byte 0xff is not UTF-8"),
    "an overlong encoding": (b'{"referral_id": "\xc0\xaf"}', "byte 0xc0 is not UTF-8"),
    "an encoded surrogate": (b'{"referral_id": "\xed\xa0\x80"}', "byte 0xed is not UTF-8"),
    "a byte order mark": (b"\xef\xbb\xbf{}", "byte order mark"),
    "UTF-16 with a BOM": ("{}".encode("utf-16"), "UTF-16 or UTF-32"),
    "UTF-16 without a BOM": ("{}".encode("utf-16-le"), "UTF-16 or UTF-32"),
    "NaN": (b'{"immediate_danger": NaN}', "NaN is not a JSON number"),
    "Infinity": (b'{"immediate_danger": -Infinity}', "-Infinity is not a JSON number"),
    "an escaped lone surrogate": (b'{"detail": "\\ud800"}', "lone surrogate"),
}


@pytest.fixture(name="restore_structlog", autouse=True)
def fixture_restore_structlog() -> Iterator[None]:
    """The CLI configures structlog onto CliRunner's stream, closed after each call: later
    tests must find the configuration they started with."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _good_lines(n: int) -> list[bytes]:
    return [
        json.dumps(
            make_referral(
                referral_id=f"R-IN-{i}",
                children=[{"child_id": f"C-IN-{i}", "date_of_birth": "2018-01-01"}],
                concerns=concerns("domestic_abuse"),
            )
        ).encode()
        for i in range(n)
    ]


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_the_api_refuses_a_bad_text_with_input_not_json(case: str, durable: FrontDoor) -> None:
    """bytes and str alike: the parser's RecursionError, ValueError or UnicodeDecodeError never
    escapes."""
    raw, reason = BAD_LINES[case]
    with pytest.raises(TriageError) as caught:
        durable.route(raw)
    assert isinstance(caught.value, InputNotJson)
    assert reason in str(caught.value)
    # The same text as str (undecodable bytes become lone surrogates): refused just the same.
    with pytest.raises(TriageError) as caught:
        durable.route(raw.decode("utf-8", "surrogateescape"))
    assert isinstance(caught.value, InputNotJson)


def test_a_str_with_a_bom_is_refused_like_bytes_with_one() -> None:
    text = "\ufeff" + json.dumps(make_referral())
    for data in (text, text.encode("utf-8")):
        with pytest.raises(InputNotJson, match="byte order mark"):
            parse_referral(data)


def test_a_str_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InputNotJson, match="lone surrogate"):
        parse_referral(json.dumps(make_referral(detail="x")).replace('"x"', '"\ud800"'))


def test_a_valid_surrogate_pair_escape_is_a_character() -> None:
    referral = parse_referral(json.dumps(make_referral(detail="\U0001f600")))
    assert referral.detail == "\U0001f600"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            '{"immediate_danger": true, "immediate_danger": false}',
            "immediate_danger",
        ),
        (
            '{"concerns": [{"indicator": "physical_abuse", "indicator": "adequate_housing"}]}',
            "concerns[0].indicator",
        ),
        ('{"children": [{}, {"flags": [], "flags": ["uasc"]}]}', "children[1].flags"),
    ],
)
def test_a_repeated_json_key_is_refused_with_its_path(text: str, where: str) -> None:
    """Review D2: last-wins turned immediate danger off and physical abuse into housing."""
    base = make_referral()
    body = json.loads(text)
    merged = json.dumps({k: v for k, v in base.items() if k not in body})[:-1]
    data = merged + ", " + text[1:]
    with pytest.raises(ReferralInvalid) as caught:
        parse_referral(data)
    problems = {p.location: p.message for p in caught.value.problems}
    assert where in problems
    assert "more than once" in problems[where]
    assert caught.value.code == "referral_invalid"


def test_the_review_d2_referral_is_refused_not_routed_low(durable: FrontDoor) -> None:
    text = (
        '{"referral_id": "R-1", "received_at": "2026-03-02T09:30:00+00:00", "source": "6", '
        '"notification": "inter_agency_referral", '
        '"children": [{"child_id": "C-1", "date_of_birth": "2019-05-01"}], '
        '"concerns": [{"indicator": "physical_abuse", "indicator": "adequate_housing", '
        '"about": "household_member"}], "consent": "given", '
        '"immediate_danger": true, "immediate_danger": false}'
    )
    with pytest.raises(ReferralInvalid) as caught:
        durable.route(text)
    assert {p.location for p in caught.value.problems} == {
        "concerns[0].indicator",
        "immediate_danger",
    }


def test_a_repeated_key_in_a_journey_event_is_refused() -> None:
    journeys = Journeys(engine="reference")
    text = json.dumps(
        {
            "event_id": "E-1",
            "child_id": "C-1",
            "occurred_at": "2026-05-04T10:00:00+01:00",
            "event": "review",
            "service": "team_around_the_family",
            "date_of_birth": "2015-01-01",
        }
    )
    assert journeys.validate(text).event_id == "E-1"
    with pytest.raises(ReferralInvalid, match="service: is given more than once"):
        journeys.validate(text[:-1] + ', "service": "closure"}')
    with pytest.raises(InputNotJson, match="byte order mark"):
        journeys.validate(b"\xef\xbb\xbf" + text.encode())


def _mixed_batch(tmp_path: Path) -> tuple[Path, list[bytes]]:
    good = _good_lines(6)
    bad = [raw for raw, _ in BAD_LINES.values() if b"\n" not in raw]
    assert len(bad) == len(BAD_LINES)  # UTF-16 of "{}" holds no 0x0a byte
    lines = [*good[:3], *bad, *good[3:]]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines


def test_one_bad_line_never_loses_the_others(tmp_path: Path) -> None:
    """Review D4: a deep, huge-number or non-UTF-8 line killed the batch and lost routed lines."""
    path, _ = _mixed_batch(tmp_path)
    log = tmp_path / "log.sqlite"
    result = CliRunner().invoke(
        cli, ["route", "--batch", str(path), "--log", f"sqlite:///{log}"], env=KEY
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["referral_id"] for d in printed] == [f"R-IN-{i}" for i in range(6)]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error [")]
    numbers = [int(line.split(" line ")[1].split(":")[0]) for line in errors]
    assert numbers == list(range(4, 4 + len(BAD_LINES)))
    assert all(line.startswith("error [input_not_json]") for line in errors)
    assert "Traceback" not in result.stderr
    store = open_store(f"sqlite:///{log}")
    try:
        kinds = [row.kind for row in store.rows()]
    finally:
        store.close()
    assert kinds.count("triage_decision") == 6
    assert "Traceback" not in result.stderr


def test_a_bad_batch_line_by_subprocess_exits_2_without_a_traceback(tmp_path: Path) -> None:
    path, _ = _mixed_batch(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "triage.cli", "route", "--batch", str(path)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2
    assert b"Traceback" not in run.stderr
    assert len(run.stdout.splitlines()) == 6


@pytest.mark.parametrize("case", ["a byte order mark", "UTF-16 with a BOM", "deep nesting"])
def test_a_single_bad_file_is_a_clear_error(case: str, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_bytes(BAD_LINES[case][0])
    result = CliRunner().invoke(cli, ["route", str(path)])
    assert result.exit_code == 2
    assert "error [input_not_json]" in result.stderr
    assert BAD_LINES[case][1] in result.stderr


def test_a_journey_batch_reads_bytes_per_line(tmp_path: Path) -> None:
    event: dict[str, Any] = {
        "event_id": "E-1",
        "child_id": "C-1",
        "occurred_at": "2026-05-04T10:00:00+01:00",
        "event": "review",
        "service": "team_around_the_family",
        "date_of_birth": "2015-01-01",
    }
    path = tmp_path / "events.jsonl"
    path.write_bytes(json.dumps(event).encode() + b"\n\xff\xfe\n" + json.dumps(event).encode())
    result = CliRunner().invoke(cli, ["journey", "--batch", str(path), "--engine", "reference"])
    assert result.exit_code == 2
    assert len(result.stdout.splitlines()) == 2
    assert "line 2: the journey event is not valid JSON" in result.stderr


def test_a_mapping_with_a_lone_surrogate_in_detail_is_refused() -> None:
    """Review D14: with keep_detail=True it reached the log and raised UnicodeEncodeError."""
    with pytest.raises(ReferralInvalid, match="detail: holds a lone surrogate"):
        parse_referral(make_referral(detail="text \ud800 more"))


def test_what_was_routed_is_logged_and_printed_when_a_later_line_fails_unforeseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review D4: 800 lines, a crash at line 700: 199 routed referrals were neither logged nor
    printed. A fault that is no input error still stops the run, but not before those are."""
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(_good_lines(5)) + b"\n")
    real = FrontDoor.route

    def route(self: FrontDoor, data: Any, as_of: Any = None) -> Any:
        if getattr(data, "referral_id", "") == "R-IN-3":
            raise RuntimeError("a synthetic fault")
        return real(self, data, as_of)

    monkeypatch.setattr(FrontDoor, "route", route)
    log = tmp_path / "log.sqlite"
    result = CliRunner().invoke(
        cli, ["route", "--batch", str(path), "--log", f"sqlite:///{log}"], env=KEY
    )
    assert isinstance(result.exception, RuntimeError)
    assert [json.loads(line)["referral_id"] for line in result.stdout.splitlines()] == [
        "R-IN-0",
        "R-IN-1",
        "R-IN-2",
    ]
    store = open_store(f"sqlite:///{log}")
    try:
        assert [row.kind for row in store.rows()].count("triage_decision") == 3
    finally:
        store.close()
