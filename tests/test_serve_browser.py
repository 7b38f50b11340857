"""The playground in a real browser: Playwright driving Debian's chromium (no download)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.test_serve_uvicorn import running_server

CHROMIUM = "/usr/bin/chromium"  # .ci/run installs it; Playwright never downloads a browser


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
