"""The playground in a real browser: Playwright driving Debian's chromium (no download)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import concerns, make_referral
from tests.test_serve_uvicorn import running_server
from triage import FrontDoor
from triage.audit import DecisionLog, replay_log, verify_log
from triage.report import kpi_report

CHROMIUM = "/usr/bin/chromium"  # .ci/run installs it; Playwright never downloads a browser
SERVER_KEY = "synthetic-test-key-0001"  # the TRIAGE_LOG_KEY running_server gives the server


@pytest.fixture(name="browser", scope="module")
def fixture_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(name="site", scope="module")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("site"), "--engine", "reference") as (base, _):
        yield base


@pytest.fixture(name="small_site", scope="module")
def fixture_small_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("small")
    with running_server(folder, "--engine", "reference", "--max-body", "2048") as (base, _):
        yield base


@pytest.fixture(name="page")
def fixture_page(browser: Browser) -> Iterator[Page]:
    # Scripts off: the pages must work without them; 800 px wide, as the issue asks.
    context = browser.new_context(java_script_enabled=False, viewport={"width": 800, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def test_a_domestic_abuse_referral_is_routed_with_its_reasons(page: Page, site: str) -> None:
    page.goto(site + "/")
    page.get_by_label("Received on").fill("2026-03-02")
    page.get_by_label("Date of birth", exact=True).fill("2019-05-01")
    page.get_by_text("Parenting capacity").click()  # open the domain's concerns
    page.get_by_label("Domestic abuse in the child's household level 3").check()
    page.get_by_role("button", name="Route it").click()
    heading = page.get_by_role("heading", level=2).first
    assert heading.inner_text() == "Level 3 (Intensive): Intensive early help (Early Help Unit)"
    reasons = page.locator("ul.reasons li").all_inner_texts()
    assert any("[rule level_3_intensive_early_help]" in reason for reason in reasons)
    changes = page.locator("table tbody tr").all_inner_texts()
    assert any("consent refused" in row and "Single-agency support" in row for row in changes)


def test_a_bad_date_is_shown_beside_its_field(page: Page, site: str) -> None:
    page.goto(site + "/")
    page.get_by_label("Received on").fill("2026-03-02")
    page.get_by_label("Date of birth", exact=True).fill("2027-05-01")
    page.get_by_role("button", name="Route it").click()
    field = page.locator("#date_of_birth")
    assert field.get_attribute("aria-invalid") == "true"
    message = page.locator("#date_of_birth-error")
    assert "is after the referral was received" in message.inner_text()
    assert field.get_attribute("aria-describedby") == "date_of_birth-error"


def test_the_thresholds_page_lists_every_rule_and_fits_800_pixels(page: Page, site: str) -> None:
    page.goto(site + "/thresholds")
    assert page.locator("table tbody tr").count() == 55  # 45 in rules.yaml (2.0.0), 10 in steps
    assert page.get_by_text("level_3_intensive_early_help").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 800  # no sideways scroll


def test_every_form_control_has_a_label(page: Page, site: str) -> None:
    page.goto(site + "/")
    controls = page.locator("input, select")
    unlabelled = [
        controls.nth(i).get_attribute("id")
        for i in range(controls.count())
        if page.locator(f"label[for='{controls.nth(i).get_attribute('id')}']").count() != 1
    ]
    assert unlabelled == []


def test_no_request_leaves_the_server(page: Page, site: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(site + "/")
    assert requested
    assert all(url.startswith(site) for url in requested)


# --- the scenarios page ------------------------------------------------------------------------

PASSING = """\
name: A domestic abuse referral about a 6-year-old opens intensive early help
referral:
  referral_id: R-UP-1
  received_at: 2026-03-02T09:30:00+00:00
  source: police
  notification: inter_agency_referral
  children: [{child_id: C-UP-1, date_of_birth: 2019-05-01}]
  concerns: [{indicator: domestic_abuse, about: child}]
  consent: given
  immediate_danger: false
expect: {level: 3, route: intensive_early_help}
"""
# The same referral expected, wrongly, to go to a strategy discussion.
FAILING = PASSING.replace("opens intensive early help", "goes to a strategy discussion").replace(
    "route: intensive_early_help", "route: strategy_discussion"
)
BROKEN = PASSING.replace("expect:", "expectation:")  # not a key of the format


def test_the_bundled_scenarios_run_and_none_fails(page: Page, site: str) -> None:
    page.goto(site + "/scenarios")
    page.get_by_role("button", name="Run the bundled scenarios").click()
    summary = page.locator("#result").inner_text()
    assert summary.endswith(" passed, 0 failed"), summary
    rows = page.locator("table.scenarios tbody tr")
    assert rows.count() == int(summary.split()[0]) > 50  # 63 files in examples/scenarios
    assert page.locator("tr.failed").count() == 0


def test_uploaded_scenarios_show_pass_fail_and_the_file_that_does_not_fit(
    page: Page, site: str, tmp_path: Path
) -> None:
    files = []
    for name, text in (
        ("passing.yaml", PASSING),
        ("failing.yaml", FAILING),
        ("broken.yaml", BROKEN),
    ):
        files.append(tmp_path / name)
        files[-1].write_text(text)
    page.goto(site + "/scenarios")
    page.get_by_label("Scenario files").set_input_files(files)
    page.get_by_role("button", name="Run the uploaded files").click()
    assert page.locator("#result").inner_text() == "1 passed, 1 failed, 1 file(s) invalid"
    invalid = page.locator("ul.invalid").inner_text()
    assert "03-broken.yaml" in invalid
    assert "expectation" in invalid
    failed = page.locator("tr.failed").inner_text()
    assert "route: expected strategy_discussion, got intensive_early_help" in failed
    assert "passed" in page.locator("tr.passed").inner_text()


def test_an_upload_over_the_size_limit_is_shown_beside_the_field(
    page: Page, small_site: str, tmp_path: Path
) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(PASSING + "# padding\n" * 300)  # over the server's --max-body 2048
    page.goto(small_site + "/scenarios")
    page.get_by_label("Scenario files").set_input_files(big)
    page.get_by_role("button", name="Run the uploaded files").click()
    assert page.locator("#file-error").inner_text() == "the upload is over 2048 bytes"
    assert page.locator("#file").get_attribute("aria-describedby") == "file-error"


# --- the what-if page --------------------------------------------------------------------------

# Worked by hand: accumulated_level_2_needs makes level 3 of three or more level-2 needs across
# two or more domains. Lowered to two, the children with exactly two level-2 needs in two
# domains move from level 2 to level 3 (A and E); two in one domain (B), one need (C) and three
# needs (D, level 3 already) stay.
WHAT_IF = {
    "A": ("speech_language_difficulty", "poverty_affecting_child"),
    "B": ("speech_language_difficulty", "occasional_truancy"),
    "C": ("speech_language_difficulty",),
    "D": ("speech_language_difficulty", "poverty_affecting_child", "occasional_truancy"),
    "E": ("parental_mental_health", "bullying"),
}


@pytest.fixture(name="whatif_site", scope="module")
def fixture_whatif_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("whatif")
    target = f"sqlite:///{folder / 'log.sqlite'}"
    referrals = [
        make_referral(
            referral_id=f"R-WI-{name}",
            children=[{"child_id": f"C-WI-{name}", "date_of_birth": "2015-05-01"}],
            concerns=concerns(*needs),
        )
        for name, needs in WHAT_IF.items()
    ]
    with DecisionLog(target, key=SERVER_KEY) as log:
        log.route_batch(FrontDoor(engine="reference"), referrals)
    with running_server(folder, "--engine", "reference", "--log", target) as (base, _):
        yield base


def test_a_lowered_threshold_moves_the_children_worked_out_by_hand(
    page: Page, whatif_site: str
) -> None:
    page.goto(whatif_site + "/what-if")
    page.get_by_label("Threshold").select_option("accumulated_level_2_needs/0/min")
    page.get_by_label("New value").fill("2")
    page.get_by_role("button", name="Try the new threshold").click()
    assert page.locator("#result").inner_text() == "2 of 5 children move"
    levels = page.locator("table.matrix").first
    assert levels.locator("thead th").all_inner_texts() == ["was \\ now", "2", "3"]
    assert levels.locator("tbody tr").all_inner_texts() == ["2\t2\t2", "3\t0\t1"]
    moves = page.locator("table.moves tbody tr").all_inner_texts()
    assert len(moves) == 2
    assert all("2 → 3" in row for row in moves)
    assert page.evaluate("document.documentElement.scrollWidth") <= 800


def test_a_threshold_that_is_not_a_number_is_shown_beside_its_field(
    page: Page, whatif_site: str
) -> None:
    page.goto(
        whatif_site
        + "/what-if?change=threshold&threshold=accumulated_level_2_needs/0/min&value=two"
    )
    assert page.locator("#value-error").inner_text() == "give a whole number from 0 to 99"
    assert page.locator("#value").get_attribute("aria-invalid") == "true"


def test_without_a_log_the_what_if_page_says_how_to_start_on_the_demo_log(
    page: Page, site: str
) -> None:
    page.goto(site + "/what-if")
    command = page.locator("pre code").inner_text()
    assert command.startswith("triage demo --out triage-demo && TRIAGE_LOG_KEY=")
    assert command.endswith("triage serve --log triage-demo/decisions.sqlite")


# --- the manager's outcome and the auditor -----------------------------------------------------


@pytest.fixture(name="outcome_site", scope="module")
def fixture_outcome_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("outcome")
    log = folder / "log.sqlite"
    with running_server(folder, "--engine", "reference", "--log", f"sqlite:///{log}") as (base, _):
        yield base, log


def test_an_override_recorded_in_the_browser_is_seen_by_the_auditor_and_the_library(
    page: Page, outcome_site: tuple[str, Path]
) -> None:
    base, log = outcome_site
    page.goto(base + "/")
    page.get_by_label("Received on").fill("2026-03-02")
    page.get_by_label("Or, for an unborn child, expected date of birth").fill("2026-06-30")
    page.get_by_text("Parenting capacity").click()
    page.get_by_label("Domestic abuse in the child's household level 3").check()
    page.get_by_label("Record this referral in the decision log", exact=False).check()
    page.get_by_role("button", name="Route it").click()
    heading = page.get_by_role("heading", level=2).first
    assert heading.inner_text().startswith("Level 3 (Intensive): Child and family assessment")
    # Immediate protection needs a born child: the pathway refuses it for an unborn one.
    page.get_by_label("Override it").check()
    page.get_by_label("Route decided").select_option("emergency_protection")
    page.get_by_label("Reason (an override)").select_option("professional_judgement_risk_higher")
    page.get_by_label("Decided by").fill("fdm-synthetic-7")
    page.get_by_role("button", name="Record the outcome").click()
    refused = page.locator("#o1-route-error").inner_text()
    assert "which do not include the child's age" in refused
    assert page.locator("#o1-route").get_attribute("aria-describedby") == "o1-route-error"
    page.get_by_label("Route decided").select_option("strategy_discussion")
    page.get_by_label("Level decided").select_option("4")
    page.get_by_role("button", name="Record the outcome").click()
    assert page.get_by_role("status").inner_text() == "The outcome is recorded in the log."
    recorded = page.locator("p.recorded").last.inner_text()
    assert "Overridden" in recorded
    assert "level 4 (up the continuum" in recorded

    page.goto(base + "/log")
    assert page.locator("#verify").inner_text() == "Verify: the chain holds"
    text = page.locator("main").inner_text()
    assert "1 recommendation(s) answered: 0 accepted, 1 overridden (up the continuum 1" in text
    row = page.locator("table.outcomes tbody tr").inner_text()
    assert "overridden up: level 4, Strategy discussion" in row
    assert "professional_judgement_risk_higher" in row

    # The same file, read by the library: the outcome is in the chain and in replay's report.
    verified = verify_log(log)
    assert verified.chain_ok
    assert verified.records == 4  # genesis, rulebook snapshot, the decision, the outcome
    replayed = replay_log(log)
    assert replayed.different == 0
    assert replayed.manager is not None
    assert replayed.manager.to_json() == {
        "outcomes": 1,
        "accepted": 0,
        "overridden": 1,
        "overridden_by_direction": {"up": 1, "down": 0, "across": 0, "from_undecided": 0},
        "overridden_by_route": {"strategy_discussion": 1},
        "overridden_by_reason": {"professional_judgement_risk_higher": 1},
    }
    kpi = kpi_report(log)
    assert (kpi.decisions, kpi.referrals) == (1, 1)
    assert kpi.head is not None
    assert kpi.head[0] == 4  # the report read the log up to the outcome

    # A second outcome for the decision is refused beside the decision, never recorded.
    page.locator("table.outcomes a").first.click()
    seq = page.url.split("=")[-1]
    pseudonym = page.locator("dl dd code").first.inner_text()
    again = httpx.post(
        base + "/log/outcome",
        data={"decision_id": pseudonym, "seq": seq, "outcome": "accepted", "decided_by": "fdm-8"},
        timeout=10,
    )
    assert again.status_code == 409
    assert 'id="o1-decision_id-error">outcome refused: the decision already has an outcome' in (
        again.text
    )
    assert verify_log(log).records == 4


# --- accessibility: labels, keyboard, contrast, 800 px -----------------------------------------

PAGES = ("/", "/scenarios", "/what-if", "/thresholds", "/log", "/log/record?which=3")
FOCUSABLE = "a[href], button, input:not([type=hidden]), select, textarea, summary"
# Each focusable element by something that names it; a radio group is one Tab stop (the
# checked radio, else the first), as browsers make it.
DESCRIBE = """e => e.id
    || (e.tagName + ':' + (e.getAttribute('href') || e.textContent.trim().slice(0, 50)))"""
EXPECTED = f"""els => els.filter(e => e.type !== 'radio' || e.checked
    || (!document.querySelector(`input[name="${{e.name}}"]:checked`)
        && document.querySelector(`input[name="${{e.name}}"]`) === e)).map({DESCRIBE})"""
ACTIVE = f"""() => {{ const e = document.activeElement;
    return [({DESCRIBE})(e), e.tagName === 'SUMMARY' && !e.parentElement.open]; }}"""


def _tab_stops(page: Page) -> set[str]:
    """Every element Tab reaches from the top, opening each closed section (Enter on its summary)
    as a keyboard user does to reach the controls inside."""
    seen: list[str] = []
    for _ in range(600):
        page.keyboard.press("Tab")
        name, closed = page.evaluate(ACTIVE)
        if closed:
            page.keyboard.press("Enter")
        if seen and name == seen[0] and len(seen) > 1:
            break  # round the page and back to the first stop
        seen.append(name)
    return set(seen)


def test_every_control_of_every_page_has_a_label_and_is_reached_by_tab(
    page: Page, whatif_site: str
) -> None:
    for path in PAGES:
        page.goto(whatif_site + path)
        stops = _tab_stops(page)
        expected = set(page.eval_on_selector_all(FOCUSABLE, EXPECTED))
        assert expected - stops == set(), path
        controls = page.locator("input:not([type=hidden]), select, textarea")
        for i in range(controls.count()):
            ident = controls.nth(i).get_attribute("id")
            assert ident, path
            assert page.locator(f"label[for='{ident}']").count() == 1, (path, ident)


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text[text.index("(") + 1 : -1].split(","))


COLOURS = """sel => [...document.querySelectorAll(sel)].slice(0, 3).map(e => {
    let b = e; let bg = getComputedStyle(b).backgroundColor;
    while (b && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) {
        b = b.parentElement; bg = b ? getComputedStyle(b).backgroundColor : 'rgb(255, 255, 255)'; }
    return [getComputedStyle(e).color, bg]; })"""
TEXT = ("body", "p", "a", ".note", ".level", ".error", "button", "caption", "th", "td", "code")


def test_the_text_of_every_page_meets_aa_contrast(page: Page, whatif_site: str) -> None:
    """WCAG 2.2 AA: at least 4.5:1 for body text (the formula of SC 1.4.3, worked here)."""
    page.goto(
        whatif_site + "/what-if?change=threshold&threshold=accumulated_level_2_needs/0/min&value=2"
    )
    paths = [*PAGES, page.url.removeprefix(whatif_site)]
    for path in paths:
        page.goto(whatif_site + path)
        for selector in TEXT:
            for fore, back in page.evaluate(COLOURS, selector):
                light, dark = sorted((_luminance(_rgb(fore)), _luminance(_rgb(back))), reverse=True)
                ratio = (light + 0.05) / (dark + 0.05)
                assert ratio >= 4.5, (path, selector, fore, back, round(ratio, 2))


def test_every_page_fits_800_pixels(page: Page, whatif_site: str) -> None:
    for path in PAGES:
        page.goto(whatif_site + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 800, path


def test_the_decision_page_draws_the_pathway_around_the_route(page: Page, site: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(site + "/")
    page.get_by_label("Received on").fill("2026-03-02")
    page.get_by_label("Date of birth", exact=True).fill("2019-05-01")
    page.get_by_text("Parenting capacity").click()
    page.get_by_label("Domestic abuse in the child's household level 3").check()
    page.get_by_role("button", name="Route it").click()
    picture = page.locator("figure.pathway svg")
    assert picture.count() == 1
    assert picture.get_attribute("role") == "img"
    name = picture.get_attribute("aria-label") or ""
    assert name.startswith("The pathway around Intensive early help (Early Help Unit)")
    assert "Legend" in picture.locator("text").all_text_contents()
    # Worked from pathways/kent.yaml: the route, the 7 nodes with an edge into it and the 5
    # it has an edge to (3 of them both ways), not the whole pathway.
    drawn = picture.locator("g.node[id^='node-']").evaluate_all("gs => gs.map(g => g.id)")
    assert sorted(drawn) == [
        f"node-{node}"
        for node in sorted(
            (
                "intensive_early_help",
                "front_door",
                "manual_review",
                "team_around_the_family",
                "child_and_family_assessment",
                "strategy_discussion",
                "child_in_need_plan",
                "child_protection_plan",
                "universal_services",
                "closure",
            )
        )
    ]
    assert "Integrated Front Door (route)" in page.locator(".moves-list").inner_text()
    assert all(url.startswith(site) for url in requested)
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
