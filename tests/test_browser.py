"""The web pages in a real headless Chromium (Debian's `chromium`, driven by Selenium through
`chromium-driver`), against a real uvicorn server over a county built as tests/test_report.py
builds it: log in through the form; the dashboard's figures equal `aidflow report --json`;
drill down from the county to a case; acknowledge an escalation from its page; a township
user is refused another township's case; the pages work with JavaScript disabled; the
dashboard fits a 1024x768 screen without horizontal scrolling; its screenshot is saved as
tests/artifacts/dashboard.png.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import select

from aidflow.clock import FrozenClock
from aidflow.files.report import summary
from aidflow.language.calendar import WorkCalendar
from aidflow.services.runtime import Runtime
from aidflow.settings import Settings
from aidflow.store.database import make_engine, upgrade
from aidflow.store.models import Escalation

from .conftest import START, WORKFLOWS, Cli, World, local, populate
from .server import running
from .test_report import build
from .test_web import PASSWORD, build_site

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


@dataclass
class Site:
    url: str
    db_url: str
    world: World
    investigation: int
    escalation: int  # tsup's, on `investigation`
    reminder: int  # li's own deadline reminder, on `investigation`


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The report test's county, then the web test's cases and passwords, on one server."""
    tmp = tmp_path_factory.mktemp("browser")
    db_url = f"sqlite:///{tmp / 'aidflow.db'}"
    engine = make_engine(db_url)
    upgrade(engine, training=True)
    world = World(
        engine, FrozenClock(START), WorkCalendar.from_file(WORKFLOWS / "policy" / "calendar.yaml")
    )
    populate(world)
    build(world, db_url, tmp)
    world.clock.set(local(2023, 10, 2, 9, 0))  # after the report's last write (its payments)
    first, _, escalation = build_site(world)
    with world.session() as s:
        reminder = s.scalar(
            select(Escalation.id).where(Escalation.case_id == first, Escalation.recipient == "li")
        )
    assert reminder is not None
    try:
        with running(Runtime(Settings(database_url=db_url), _clock=world.clock)) as url:
            yield Site(url, db_url, world, first, escalation, reminder)
    finally:
        engine.dispose()


def chromium(*, javascript: bool = True) -> WebDriver:
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and DRIVER is not None
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1024,768"):
        options.add_argument(arg)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    return webdriver.Chrome(options=options, service=DriverService(DRIVER))


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = chromium()
    yield driver
    driver.quit()


def submit(driver: WebDriver, button: WebElement) -> None:
    """Click a form's button and wait until the browser has loaded the answer."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, 60).until(expected_conditions.staleness_of(page))


def fits(driver: WebDriver) -> bool:
    """Whether the page fits the window's width (nothing to scroll sideways)."""
    return bool(
        driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    )


def log_in(driver: WebDriver, site: Site, user: str, then: str = "/dashboard") -> None:
    driver.get(f"{site.url}{then}")
    assert "/login" in driver.current_url  # no session yet: the login form, remembering `then`
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form.login button"))
    assert driver.current_url == f"{site.url}{then}"


def test_the_dashboard_equals_the_report_json_and_fits_the_screen(
    site: Site, browser: WebDriver
) -> None:
    log_in(browser, site, "sun")
    now = site.world.clock.now().strftime("%Y-%m-%dT%H:%M")
    out = Cli(site.db_url, now=now)("--lang", "zh", "report", "--format", "json", user="sun")
    assert out.exit_code == 0, out.output
    report: dict[str, Any] = json.loads(out.output)
    shown: dict[str, dict[str, Any]] = {}
    texts: dict[str, dict[str, str]] = {}
    for table in browser.find_elements(By.CSS_SELECTOR, "table.figures"):
        area = table.get_attribute("data-area") or ""
        cells = table.find_elements(By.CSS_SELECTOR, "td[data-figure]")
        shown[area] = {
            c.get_attribute("data-figure"): json.loads(c.get_attribute("data-value") or "")
            for c in cells
        }
        texts[area] = {c.get_attribute("data-figure") or "": c.text for c in cells}
    assert shown == {"total": report["total"], **report["townships"]}
    assert shown["total"]["centralized_support"]["rate"] == pytest.approx(4 / 7)
    for area, values in [("total", report["total"]), *report["townships"].items()]:
        for name, value in values.items():
            assert texts[area][name] == summary(name, value, report)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".charts svg rect.bar")) == 4 * 3
    # readable on a township office's 1024x768 screen: nothing scrolls sideways
    assert fits(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "dashboard.png"
    assert browser.save_screenshot(str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"dashboard screenshot: {target}")


def test_drill_down_from_the_county_to_a_case(site: Site, browser: WebDriver) -> None:
    log_in(browser, site, "li")
    submit(browser, browser.find_element(By.LINK_TEXT, "城关镇"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "城关镇" and fits(browser)
    submit(browser, browser.find_element(By.LINK_TEXT, "东村"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "城关镇 / 东村" and fits(browser)
    submit(browser, browser.find_element(By.CSS_SELECTOR, f'a[href="/cases/{site.investigation}"]'))
    assert browser.find_element(By.ID, "state").text.startswith("入户调查") and fits(browser)
    submit(browser, browser.find_element(By.CSS_SELECTOR, 'a[href^="/persons/"]'))
    # a caseworker owns steps of the person's programme: the full number (test_web: masking)
    assert browser.find_element(By.ID, "id-number").text == "11010519491231002X"


def test_acknowledge_an_escalation_from_its_page(site: Site, browser: WebDriver) -> None:
    log_in(browser, site, "tsup", "/escalations")
    assert fits(browser)
    row = browser.find_element(By.ID, f"escalation-{site.escalation}")
    row.find_element(By.NAME, "note").send_keys("已电话督促")
    submit(browser, row.find_element(By.TAG_NAME, "button"))
    assert browser.current_url == f"{site.url}/escalations"
    assert not browser.find_elements(By.ID, f"escalation-{site.escalation}")
    with site.world.session() as s:
        acked = s.scalars(select(Escalation).where(Escalation.id == site.escalation)).one()
    assert (acked.acknowledged_by, acked.ack_note) == ("tsup", "已电话督促")


def test_a_township_user_is_refused_another_townships_case(site: Site, browser: WebDriver) -> None:
    log_in(browser, site, "wu", f"/cases/{site.investigation}")
    # the pages speak Chinese by default; the refusal too
    assert browser.find_element(By.ID, "refusal").text == (
        f"案件 {site.investigation} 不在 wu 的辖区（河西镇）内"
    )
    assert "王秀英" not in browser.page_source


def test_the_pages_work_with_javascript_disabled(site: Site) -> None:
    driver = chromium(javascript=False)
    try:
        log_in(driver, site, "li", f"/cases/{site.investigation}")
        form = driver.find_element(
            By.CSS_SELECTOR, f'form[action="/escalations/{site.reminder}/ack"]'
        )
        form.find_element(By.NAME, "note").send_keys("done without scripts")
        submit(driver, form.find_element(By.TAG_NAME, "button"))
        assert driver.current_url == f"{site.url}/cases/{site.investigation}"
        assert "done without scripts" in driver.find_element(By.CSS_SELECTOR, "table.history").text
        driver.get(f"{site.url}/dashboard")
        assert driver.find_elements(By.CSS_SELECTOR, "table.figures")
    finally:
        driver.quit()
