"""The demo page in headless Chromium, from its own origin, against the real local API: what a frontend sees."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import DemoSite
from tests.support.tooling import REPO_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.localapi]

README_SCREENSHOT = REPO_ROOT / "docs" / "demo.png"
RENDER_TIMEOUT_S = 10.0
SCREENSHOT_WIDTH = 1000
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def test_healthy_page_shows_product_reviews_and_stock(browser: webdriver.Chrome, healthy_site: DemoSite) -> None:
    # Given the demo page on its own origin, and a healthy local API that lets that origin in
    # When the browser opens the page for P001
    open_page(browser, healthy_site.page_url("P001"))

    # Then the page shows the product, its two reviews and the stock, none of them degraded
    assert by_testid(browser, "status").text == "200 OK"
    assert by_testid(browser, "product-name").text == "Awesome Gadget P001"
    # the BFF's priceFormatted, currency included (en-US is the first supported locale)
    assert by_testid(browser, "product-price").text == "$99.99"
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="review"]')) == 2
    assert re.fullmatch(r"\d+ in stock", by_testid(browser, "inventory-stock").text)
    assert by_testid(browser, "reviews").get_attribute("data-state") == "ok"
    assert by_testid(browser, "inventory").get_attribute("data-state") == "ok"


def test_request_with_correlation_id_passes_its_preflight(browser: webdriver.Chrome, healthy_site: DemoSite) -> None:
    # Given a page that sends X-Correlation-Id, a header that makes the browser ask first (CORS preflight), for a
    # URL no other test has fetched (the browser caches a preflight's answer per URL for its max age)
    # When the browser opens the page
    open_page(browser, healthy_site.page_url("P042"))

    # Then the local API answered the preflight (its console line), the page got its 200, and the BFF echoed the id
    console = ANSI_ESCAPE.sub("", healthy_site.api.stderr())
    assert re.search(r"^\d\d:\d\d:\d\d OPTIONS /product-details/P042 204 ", console, re.MULTILINE)
    assert by_testid(browser, "status").text == "200 OK"
    sent = by_testid(browser, "correlation-sent").text
    assert sent.startswith("demo-")
    assert by_testid(browser, "correlation-received").text == sent


def test_server_timing_is_read_from_the_performance_api(
    browser: webdriver.Chrome, healthy_site: DemoSite, tmp_path: Path
) -> None:
    # Given a page rendered from the BFF, whose responses carry Server-Timing
    open_page(browser, healthy_site.page_url("P001"))

    # When the page's own script reads the resource entry of that request
    entries = browser.execute_script(
        "return performance.getEntriesByName(arguments[0], 'resource')"
        ".flatMap((entry) => entry.serverTiming.map((metric) => [metric.name, metric.duration]));",
        f"{healthy_site.api.base_url}/product-details/P001",
    )

    # Then one metric per section plus the total is readable, and the page shows the same as a table
    durations = dict(entries)
    assert set(durations) == {"product", "reviews", "inventory", "total"}
    assert all(duration >= 0 for duration in durations.values())
    assert durations["total"] >= max(durations["product"], durations["reviews"], durations["inventory"]) - 1.0
    rows = browser.find_elements(By.CSS_SELECTOR, '[data-testid="timing-row"]')
    assert [row.get_attribute("data-name") for row in rows] == ["product", "reviews", "inventory", "total"]
    assert by_testid(browser, "server-timing-note").is_displayed() is False
    # The browser's figure and the BFF's total agree: the first holds the second plus what lies outside the BFF
    shown = re.fullmatch(
        r"\(the browser saw (\d+) ms: (\d+) ms in the BFF, (\d+) ms network, gateway and function start\)",
        by_testid(browser, "browser-duration").text,
    )
    assert shown is not None, by_testid(browser, "browser-duration").text
    browser_ms, bff_ms, outside_ms = (int(group) for group in shown.groups())
    assert abs(bff_ms - durations["total"]) <= 1
    assert browser_ms == bff_ms + outside_ms
    # The README's screenshot: the healthy page, taken only once everything on it, Server-Timing too, is right.
    # It replaces the committed one only when asked (UPDATE_SCREENSHOT=1), so a test run leaves the tree clean.
    shot = README_SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "demo.png"
    save_screenshot(browser, shot)
    assert shot.stat().st_size > 10_000


def test_failing_reviews_show_as_unavailable(browser: webdriver.Chrome, reviews_failing_site: DemoSite) -> None:
    # Given a local API whose reviews mock answers 500 (REVIEWS_MOCK_FAULT=error)
    # When the browser opens the page
    open_page(browser, reviews_failing_site.page_url("P001"))

    # Then the page still renders the product and the stock, and says the reviews are unavailable and why
    assert by_testid(browser, "status").text == "200 OK"
    assert by_testid(browser, "product-name").text == "Awesome Gadget P001"
    assert by_testid(browser, "reviews").get_attribute("data-state") == "unavailable"
    assert re.fullmatch(r"unavailable \((unavailable|circuit_open)\)", by_testid(browser, "reviews-note").text)
    assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="review"]') == []
    assert by_testid(browser, "inventory").get_attribute("data-state") == "ok"


def test_unknown_product_shows_the_problem(browser: webdriver.Chrome, healthy_site: DemoSite) -> None:
    # Given a product id the product service does not know
    # When the browser opens the page for it
    open_page(browser, healthy_site.page_url("NOPE404"))

    # Then the page shows the problem+json the BFF answered, not a product
    assert by_testid(browser, "status").text.startswith("404")
    assert by_testid(browser, "problem-status").text == "404"
    assert by_testid(browser, "problem-title").text
    assert by_testid(browser, "page").is_displayed() is False


def open_page(browser: webdriver.Chrome, url: str) -> None:
    browser.get(url)
    WebDriverWait(browser, RENDER_TIMEOUT_S).until(
        lambda driver: by_testid(driver, "status").get_attribute("data-phase") in {"ok", "error"}
    )


def by_testid(browser: webdriver.Chrome, testid: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def save_screenshot(browser: webdriver.Chrome, path: Path) -> None:
    """The whole page at a fixed width, whatever the window's own toolbars take."""
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    metrics = {"width": SCREENSHOT_WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        path.parent.mkdir(exist_ok=True)
        assert browser.get_screenshot_as_file(str(path)), f"could not write {path}"
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
