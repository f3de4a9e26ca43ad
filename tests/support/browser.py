"""Headless Chromium (Debian's chromium + chromium-driver) and the demo page served beside a real local API."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.local_api import LOOPBACK, LocalApi, running_local_api
from tests.support.mock_processes import free_port
from tests.support.tooling import APP_PYTHON, REPO_ROOT, skip_locally_fail_in_ci

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
READY_TIMEOUT_S = 10.0
WARM_ATTEMPTS = 10
PAGE_DEADLINE_MS = 2000


@dataclass(frozen=True)
class DemoSite:
    """The demo page on its own origin, calling `api`, which lets that origin in through CORS."""

    origin: str
    api: LocalApi

    def page_url(self, product_id: str = "P001") -> str:
        return f"{self.origin}/?id={product_id}"


def require_chromium() -> tuple[Path, Path]:
    """Debian's chromium and chromedriver; in CI their absence is a failure, elsewhere a skip with the fix."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        skip_locally_fail_in_ci(f"{', '.join(missing)} missing: `make browser` installs chromium and chromium-driver")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    chromium, chromedriver = require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--window-size=1000,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    # An explicit driver path: Selenium Manager never runs, so nothing is downloaded.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(chromedriver)))
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def running_demo_site(
    log_dir: Path, api_env: Mapping[str, str] = {}, may_degrade: frozenset[str] = frozenset()
) -> Iterator[DemoSite]:
    """A local API allowing the demo's origin, warmed until only `may_degrade` is degraded, and the demo server."""
    port = free_port()
    origin = f"http://{LOOPBACK}:{port}"
    # A generous page deadline: a busy 2-core machine must not turn the healthy page into a degraded one.
    env = {"PAGE_DEADLINE_MS": str(PAGE_DEADLINE_MS), **api_env, "CORS_ALLOWED_ORIGINS": origin}
    with running_local_api(log_dir, env) as api:
        warm(api, may_degrade)
        with running_demo_server(port, api.base_url, log_dir):
            yield DemoSite(origin, api)


@contextmanager
def running_demo_server(port: int, api_url: str, log_dir: Path) -> Iterator[None]:
    output = log_dir / f"demo-{port}.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(APP_PYTHON), "-m", "demo", "--port", str(port), "--api", api_url],
            cwd=REPO_ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_line(process, output, "Demo ready")
        yield
    finally:
        process.terminate()
        process.wait(READY_TIMEOUT_S)


def wait_for_line(process: subprocess.Popen[bytes], output: Path, line: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if line in output.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"demo server did not print {line!r}:\n{output.read_text(errors='replace')}")


def warm(api: LocalApi, may_degrade: frozenset[str]) -> None:
    """Cold workers can miss the page deadline; the browser should meet warm ones, as a deployed API's users do."""
    degraded: list[dict[str, str]] = []
    with httpx.Client(base_url=api.base_url, timeout=10.0) as client:
        for _ in range(WARM_ATTEMPTS):
            degraded = client.get("/product-details/P001").json()["meta"]["degraded"]
            if {entry["source"] for entry in degraded} <= may_degrade:
                return
    pytest.fail(f"local API still degraded after {WARM_ATTEMPTS} requests: {degraded}")


@pytest.fixture(scope="module")
def healthy_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    with running_demo_site(tmp_path_factory.mktemp("healthy")) as site:
        yield site


@pytest.fixture(scope="module")
def reviews_failing_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    # Failing at once: three slow failed attempts would outlast the page deadline and read as a timeout instead.
    failing_reviews = {"REVIEWS_MOCK_FAULT": "error", "REVIEWS_MOCK_LATENCY_MS": "0"}
    log_dir = tmp_path_factory.mktemp("reviews-failing")
    with running_demo_site(log_dir, failing_reviews, may_degrade=frozenset({"reviews"})) as site:
        yield site
