"""The synthetic population: deterministic, valid at the Front Door, calibrated to national figures.

Expected values come from `shared/domain.md` (section 7 for the national figures, section 6 for
the census codes) and from the brief of issue 5, never from the generator's own constants.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from triage import FrontDoor, UsageError, load_rulebook, parse_referral, simulate
from triage.errors import RulebookInvalid
from triage.simulation import simulate_journeys
from triage.workdays import is_working_day

REPO = Path(__file__).resolve().parent.parent
TRIAGE = Path(sys.executable).with_name("triage")
SAMPLE_SIZE = 20_000
SEED = 2025
START = date(2025, 4, 1)

# Referrals by source, England, year to March 2020 (shared/domain.md section 7), in percent;
# each group's DfE census codes from shared/domain.md section 6.
SOURCE_GROUPS: dict[str, tuple[float, frozenset[str]]] = {
    "police": (28.7, frozenset({"6"})),
    "schools": (18.2, frozenset({"2A"})),
    "health": (15.0, frozenset({"3A", "3B", "3C", "3D", "3E", "3F"})),
    "LA services": (14.1, frozenset({"5A", "5B", "5C", "5D"})),
    "individuals": (8.1, frozenset({"1A", "1B", "1C", "1D"})),
    "other": (4.9, frozenset({"8"})),
    "other legal agency": (3.9, frozenset({"7"})),
    "education services": (2.1, frozenset({"2B"})),
    "anonymous": (2.1, frozenset({"9"})),
    "unknown": (1.4, frozenset({"10"})),
    "housing": (1.3, frozenset({"4"})),
}
SOURCE_TOLERANCE = 1.5  # percentage points
RE_REFERRAL_SHARE, RE_REFERRAL_TOLERANCE = 22.0, 2.0  # year to March 2024
# "Domestic violence is a factor in about half of assessments": 45-50% of referrals.
DOMESTIC_ABUSE_RANGE = (45.0, 50.0)
UNBORN_RANGE = (2.0, 3.0)  # percent of children
SIBLING_SHARE, SIBLING_TOLERANCE = 25.0, 2.0  # percent of referrals with 2-4 children
IMMEDIATE_DANGER_RANGE = (1.0, 2.0)


def share(items: Iterable[Any], test: Callable[[Any], bool]) -> float:
    """The percentage of `items` for which `test` holds."""
    found = list(items)
    return 100 * sum(map(test, found)) / len(found)


def received_on(referral: dict[str, Any]) -> date:
    return datetime.fromisoformat(referral["received_at"]).date()


def previous(referral: dict[str, Any]) -> list[date]:
    return [
        date.fromisoformat(day)
        for child in referral["children"]
        for day in child.get("previous_referrals", ())
    ]


def is_re_referral(referral: dict[str, Any]) -> bool:
    """A child of the referral was referred in the 12 months before (the census measure)."""
    return any((received_on(referral) - day).days <= 365 for day in previous(referral))


def is_domestic_abuse(referral: dict[str, Any]) -> bool:
    return any(c["indicator"].startswith("domestic_abuse") for c in referral["concerns"])


@pytest.fixture(name="sample", scope="module")
def fixture_sample() -> list[dict[str, Any]]:
    return list(simulate(SAMPLE_SIZE, SEED))


@pytest.fixture(name="children", scope="module")
def fixture_children(sample: list[dict[str, Any]]) -> list[tuple[dict[str, Any], date]]:
    """Every child of the sample, with its referral's receipt date."""
    return [(child, received_on(r)) for r in sample for child in r["children"]]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `triage` script with `args` from the repository root."""
    return subprocess.run(
        [str(TRIAGE), *args], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )


# --- Determinism ------------------------------------------------------------------------------


def test_same_seed_gives_the_same_referrals() -> None:
    first = json.dumps(list(simulate(500, 7)))

    assert json.dumps(list(simulate(500, 7))) == first


def test_different_seeds_give_different_referrals() -> None:
    one, two = list(simulate(200, 1)), list(simulate(200, 2))

    assert [r["concerns"] for r in one] != [r["concerns"] for r in two]
    assert one[0]["referral_id"] == "R-S1-1"
    assert two[0]["referral_id"] == "R-S2-1"


def test_the_global_random_generator_is_neither_read_nor_moved() -> None:
    random.seed(1)
    state = random.getstate()
    first = list(simulate(100, 5))
    assert random.getstate() == state
    random.seed(2)

    assert list(simulate(100, 5)) == first


# --- Valid at the Front Door --------------------------------------------------------------------


def test_every_simulated_referral_is_valid_and_decided_by_the_rules(
    reference: FrontDoor,
) -> None:
    """2,000 referrals route with the reference engine, none to a manual review, and the
    level mix is the brief's: most at levels 2-3, a minority at 4, some at 1."""
    rulebook = reference.rulebook
    levels: Counter[int] = Counter()
    for referral in simulate(2_000, 11):
        parse_referral(
            json.dumps(referral),
            indicators=rulebook.indicator_by_id,
            services=rulebook.service_by_id,
        )
        decisions = reference.route(referral)
        assert len(decisions) == len(referral["children"])
        assert all(d.route != "manual_review" for d in decisions), referral["referral_id"]
        levels[max(d.level or 0 for d in decisions)] += 1

    total = sum(levels.values())
    assert 100 * levels[1] / total >= 2
    assert 100 * (levels[2] + levels[3]) / total >= 60
    assert 10 <= 100 * levels[4] / total <= 30


def test_simulate_draws_only_from_the_given_rulebook(
    edited_rules: Callable[..., Path],
) -> None:
    rules = edited_rules(("indicators.yaml", "- id: domestic_abuse\n", "- id: abuse_at_home\n"))
    rulebook = load_rulebook(rules)
    door = FrontDoor(rulebook, engine="reference")

    referrals = list(simulate(1_000, 3, rulebook))

    indicators = {c["indicator"] for r in referrals for c in r["concerns"]}
    assert "abuse_at_home" in indicators
    assert "domestic_abuse" not in indicators
    for referral in referrals:
        door.validate(referral)


def test_a_window_with_no_working_day_is_refused() -> None:
    with pytest.raises(UsageError, match="no working day"):
        simulate(10, 1, start=date(2025, 12, 25), days=2)  # Christmas Day and Boxing Day


def test_a_negative_number_of_referrals_is_refused() -> None:
    with pytest.raises(UsageError, match="0 or more"):
        simulate(-1, 1)


# --- Calibration (a large sample) ---------------------------------------------------------------


@pytest.mark.parametrize("group", SOURCE_GROUPS)
def test_source_mix_matches_the_national_figures(sample: list[dict[str, Any]], group: str) -> None:
    expected, codes = SOURCE_GROUPS[group]

    measured = share(sample, lambda r: r["source"] in codes)

    assert abs(measured - expected) <= SOURCE_TOLERANCE, f"{group}: {measured:.2f}%"


def test_every_census_code_of_a_group_is_used(sample: list[dict[str, Any]]) -> None:
    used = {r["source"] for r in sample}

    assert used == set().union(*(codes for _, codes in SOURCE_GROUPS.values()))


def test_re_referral_share_matches_the_national_figure(sample: list[dict[str, Any]]) -> None:
    measured = share(sample, is_re_referral)

    assert abs(measured - RE_REFERRAL_SHARE) <= RE_REFERRAL_TOLERANCE, f"{measured:.2f}%"


def test_some_children_were_referred_only_longer_ago(sample: list[dict[str, Any]]) -> None:
    older_only = share(sample, lambda r: bool(previous(r)) and not is_re_referral(r))

    assert older_only >= 5


def test_previous_referrals_are_before_receipt(sample: list[dict[str, Any]]) -> None:
    assert all(day < received_on(r) for r in sample for day in previous(r))


def test_domestic_abuse_share_is_about_half(sample: list[dict[str, Any]]) -> None:
    low, high = DOMESTIC_ABUSE_RANGE

    assert low <= share(sample, is_domestic_abuse) <= high


def test_police_referrals_are_mostly_domestic_abuse_notifications(
    sample: list[dict[str, Any]],
) -> None:
    police = [r for r in sample if r["source"] == "6"]

    assert share(police, lambda r: r["notification"] == "domestic_abuse_notification") > 50
    assert all(is_domestic_abuse(r) for r in police if r["notification"].startswith("domestic"))


def test_unborn_share_of_children(children: list[tuple[dict[str, Any], date]]) -> None:
    low, high = UNBORN_RANGE
    unborn = [(c, on) for c, on in children if "expected_date_of_birth" in c]

    assert low <= 100 * len(unborn) / len(children) <= high
    for child, on in unborn:
        due = date.fromisoformat(child["expected_date_of_birth"])
        assert on < due <= on + timedelta(days=9 * 31), "within nine months"


def test_born_children_are_0_to_17(children: list[tuple[dict[str, Any], date]]) -> None:
    ages = Counter(
        (on - date.fromisoformat(c["date_of_birth"])).days // 365.25
        for c, on in children
        if "date_of_birth" in c
    )

    assert set(ages) == set(range(18))


def test_sibling_groups(sample: list[dict[str, Any]]) -> None:
    sizes = Counter(len(r["children"]) for r in sample)
    groups = [r for r in sample if len(r["children"]) > 1]

    assert set(sizes) == {1, 2, 3, 4}
    assert abs(share(sample, lambda r: len(r["children"]) > 1) - SIBLING_SHARE) <= SIBLING_TOLERANCE
    assert share(groups, lambda r: any("child_ids" in c for c in r["concerns"])) > 25


def test_immediate_danger_is_rare(sample: list[dict[str, Any]]) -> None:
    low, high = IMMEDIATE_DANGER_RANGE

    assert low <= share(sample, lambda r: r["immediate_danger"]) <= high


def test_consent_is_mostly_given(sample: list[dict[str, Any]]) -> None:
    assert share(sample, lambda r: r["consent"] == "given") >= 70
    assert share(sample, lambda r: r["consent"] == "refused") >= 3
    assert share(sample, lambda r: r["consent"] == "not_sought") >= 3


def test_a_small_share_of_children_are_open_to_a_service(
    children: list[tuple[dict[str, Any], date]],
) -> None:
    assert 2 <= share(children, lambda pair: "open_involvement" in pair[0]) <= 15


def test_referrals_arrive_on_working_days_in_office_hours(sample: list[dict[str, Any]]) -> None:
    times = [datetime.fromisoformat(r["received_at"]) for r in sample]

    assert times == sorted(times)
    assert {t.utcoffset() for t in times} == {timedelta(0), timedelta(hours=1)}
    for moment in times:
        assert START <= moment.date() < START + timedelta(days=365)
        assert is_working_day(moment.date())
        assert 8 <= moment.hour < 18
    summer, winter = date(2025, 7, 1), date(2026, 1, 15)  # British Summer Time, then GMT
    assert {t.utcoffset() for t in times if t.date() == summer} == {timedelta(hours=1)}
    assert {t.utcoffset() for t in times if t.date() == winter} == {timedelta(0)}


def test_identifiers_are_synthetic_and_there_is_no_free_text(sample: list[dict[str, Any]]) -> None:
    for number, referral in enumerate(sample, start=1):
        assert referral["referral_id"] == f"R-S{SEED}-{number}"
        assert "detail" not in referral
        for k, child in enumerate(referral["children"], start=1):
            assert child["child_id"] == f"C-S{SEED}-{number}-{k}"
    assert re.fullmatch(r"R-S\d+-\d+", sample[-1]["referral_id"])


# --- The command line ----------------------------------------------------------------------------


def test_cli_writes_n_lines_the_same_for_a_seed() -> None:
    first = run("simulate", "--n", "60", "--seed", "4")
    second = run("simulate", "--n", "60", "--seed", "4")

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    lines = first.stdout.splitlines()
    assert len(lines) == 60
    assert [json.loads(line) for line in lines] == list(simulate(60, 4))


def test_cli_out_writes_the_same_lines_without_a_bar_off_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "referrals.jsonl"

    result = run("simulate", "--n", "60", "--seed", "4", "--out", str(out))

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
    assert out.read_text(encoding="utf-8") == run("simulate", "--n", "60", "--seed", "4").stdout


def test_cli_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [str(TRIAGE), "simulate", "--n", "1200", "--seed", "1", "--out", str(tmp_path / "x")],
            stdout=subprocess.PIPE,
            stderr=follower,
            cwd=REPO,
            timeout=120,
            check=False,
        )
    finally:
        os.close(follower)  # before reading: the leader then ends in an error, never blocks
    shown = b""
    try:
        while chunk := os.read(leader, 65536):
            shown += chunk
    except OSError:  # EIO: everything written to the terminal has been read
        pass
    finally:
        os.close(leader)

    assert result.returncode == 0
    assert b"simulating" in shown
    assert len((tmp_path / "x").read_text(encoding="utf-8").splitlines()) == 1200


def test_journey_events_are_deterministic_and_leave_the_referrals_alone(tmp_path: Path) -> None:
    """Journeys draw from their own random stream: asking for them changes no referral."""
    plain, first, second = tmp_path / "plain.jsonl", tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run("simulate", "--n", "150", "--seed", "4", "--out", str(plain)).returncode == 0
    with_journeys = run(
        "simulate",
        "--n",
        "150",
        "--seed",
        "4",
        "--out",
        str(first),
        "--journeys",
        str(tmp_path / "ev1.jsonl"),
    )
    assert with_journeys.returncode == 0, with_journeys.stderr
    run(
        "simulate",
        "--n",
        "150",
        "--seed",
        "4",
        "--out",
        str(second),
        "--journeys",
        str(tmp_path / "ev2.jsonl"),
    )
    assert first.read_text() == plain.read_text() == second.read_text()
    assert (tmp_path / "ev1.jsonl").read_text() == (tmp_path / "ev2.jsonl").read_text()
    assert (tmp_path / "ev1.jsonl").read_text().strip()


def test_every_journey_event_is_decided_on_the_pathway() -> None:
    """Each generated event is valid and follows its child's route: reviews of early help,
    assessments that end, protection plans that end."""
    from triage.journey import Journeys

    door = FrontDoor(engine="reference")
    journeys = Journeys(door.rulebook, engine="reference")
    routed = [(referral, door.route(referral)) for referral in simulate(400, 11)]
    events = list(simulate_journeys(routed, 11))
    services = {event["service"] for event in events}
    assert services <= {
        "team_around_the_family",
        "intensive_early_help",
        "child_and_family_assessment",
        "child_protection_plan",
    }
    assert len(services) == 4
    kinds = {journeys.decide(event).kind for event in events}
    assert {"step_down", "close"} <= kinds


# --- Council data moved out of Python, values unchanged -------------------------------------------

# SHA-256 of `triage simulate --n 200 --seed 1` (JSON Lines, as the command writes them) and of its
# `--journeys` file, made by the code before the Kent ages, service weights and follow-ups moved
# into rules/kent/simulation.yaml and British Summer Time into zoneinfo (triage/simulation.py of
# commit 261af98), run on the bundled Kent rulebook as it is now. (The digests of that code on
# rulebook 1.0.0 were taken first; the 1.1.0 vocabulary changes what a seed draws, so they were
# taken again with the same old code on it.) Only the digests are stored: not one byte changed.
# A change of the Kent vocabulary or rules changes them: take them again from that old code.
# Rulebook 2.0.0 routes some children higher, so their journeys differ: the journeys digest was
# taken again with commit 261af98's triage/simulation.py (the rest of the package as it is now,
# its cli calling simulate_journeys without the rulebook argument); the referrals' is unchanged.
SEED_1_N_200_REFERRALS = "efabf3af7cd381ea004c4f3361f638b81add831c6b61d12dcd370af937ba2f08"
SEED_1_N_200_JOURNEYS = "dd9a5896c6c3d6930f8369772a710efe530074cc9c80115a696018ff342c595f"


def test_seed_1_gives_the_referrals_and_journeys_it_gave_before_the_data_moved(
    tmp_path: Path,
) -> None:
    journeys = tmp_path / "journeys.jsonl"

    result = run("simulate", "--n", "200", "--seed", "1", "--journeys", str(journeys))

    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(result.stdout.encode()).hexdigest() == SEED_1_N_200_REFERRALS
    assert hashlib.sha256(journeys.read_bytes()).hexdigest() == SEED_1_N_200_JOURNEYS


def test_the_uk_offset_changes_on_the_last_sundays_of_march_and_october() -> None:
    """2025: British Summer Time from Sunday 30 March to Sunday 26 October (worked out from the
    calendar: the last Sundays of those months)."""
    referrals = list(simulate(400, 3, start=date(2025, 3, 24), days=42))
    offsets = {
        received_on(r): datetime.fromisoformat(r["received_at"]).utcoffset() for r in referrals
    }
    assert offsets[date(2025, 3, 28)] == timedelta(0)  # Friday before the change
    assert offsets[date(2025, 3, 31)] == timedelta(hours=1)  # Monday after it
    autumn = list(simulate(400, 3, start=date(2025, 10, 20), days=14))
    offsets = {received_on(r): datetime.fromisoformat(r["received_at"]).utcoffset() for r in autumn}
    assert offsets[date(2025, 10, 24)] == timedelta(hours=1)
    assert offsets[date(2025, 10, 27)] == timedelta(0)


def test_ages_and_services_come_from_the_rulebooks_simulation_section(
    edited_rules: Callable[..., Path],
) -> None:
    """An indicator the section says is only for unborn children is drawn only for them, and a
    service weighted 0 is never anyone's open involvement."""
    rules = edited_rules(
        ("simulation.yaml", "physical_abuse: [0, 17]", "physical_abuse: [-1, -1]"),
        ("simulation.yaml", "single_agency_support: 3", "single_agency_support: 0"),
    )
    rulebook = load_rulebook(rules)
    referrals = list(simulate(3_000, 8, rulebook))

    for referral in referrals:
        for concern in referral["concerns"]:
            if concern["indicator"] != "physical_abuse":
                continue
            named = concern.get("child_ids") or [c["child_id"] for c in referral["children"]]
            kids = [c for c in referral["children"] if c["child_id"] in named]
            # The ages give way only when nothing else fits (a baby of an all-unborn group).
            assert any("expected_date_of_birth" in kid for kid in kids), referral["referral_id"]
    services = {
        c["open_involvement"]["service"]
        for r in referrals
        for c in r["children"]
        if "open_involvement" in c
    }
    assert "single_agency_support" not in services
    assert "team_around_the_family" in services


def test_a_rulebook_without_a_simulation_section_still_simulates_and_has_no_journeys(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules" / "kent", rules)
    (rules / "simulation.yaml").unlink()
    (rules / "report.yaml").unlink(missing_ok=True)
    rulebook = load_rulebook(rules)
    assert rulebook.simulation is None
    door = FrontDoor(rulebook, engine="reference")

    referrals = list(simulate(300, 2, rulebook))
    for referral in referrals:
        door.validate(referral)
    routed = [(r, door.route(r)) for r in referrals]

    assert list(simulate_journeys(routed, 2, rulebook)) == []


def test_an_unknown_indicator_in_the_simulation_section_is_a_load_problem(
    edited_rules: Callable[..., Path],
) -> None:
    rules = edited_rules(("simulation.yaml", "neet: [16, 17]", "not_an_indicator: [16, 17]"))

    with pytest.raises(RulebookInvalid) as raised:
        load_rulebook(rules)

    (problem,) = raised.value.problems
    assert problem.location == "simulation.ages"
    assert problem.value == "not_an_indicator"
    assert problem.file is not None
    assert problem.file.endswith("simulation.yaml")


def test_the_simulation_package_names_no_council() -> None:
    """Kent's route, service and indicator ids are data: none appears in the simulator's code."""
    kent = load_rulebook()
    ids = (
        {i.id for i in kent.indicators}
        | {r.id for r in kent.routes}
        | {s.id for s in kent.services}
    )
    ids -= {"manual_review"}  # the fail-safe route every rulebook declares
    for path in (REPO / "triage" / "simulation").glob("*.py"):
        words = set(re.findall(r"[a-z][a-z0-9_]+", path.read_text(encoding="utf-8")))
        assert not words & ids, f"{path.name} names {sorted(words & ids)}"
