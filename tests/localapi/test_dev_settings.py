"""What `make dev` does with what the user gives it: settings, origins, bad values, code edits, console output."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.local_api import LocalApi, launch, running_local_api, wait_until_ready
from tests.support.mock_processes import free_port
from tests.support.tooling import APP_PYTHON, REPO_ROOT, require_sam_venv

pytestmark = pytest.mark.localapi

ORIGIN = "http://127.0.0.1:8900"
EXIT_TIMEOUT_S = 60
RELOAD_WAIT_S = 10.0
COMPACT_MOCK_LINE = re.compile(r"^\d\d:\d\d:\d\d GET /\w+/P001 200 \d+ms \w+MockFunction$", re.MULTILINE)
COMPACT_PAGE_LINE = re.compile(r"^\d\d:\d\d:\d\d GET /product-details/P001 200 \d+ms BffFunction$", re.MULTILINE)


@pytest.fixture(scope="module")
def configured_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """Settings the template does not declare, an allowed origin, and the functions' raw logs."""
    settings = {
        "LOW_STOCK_THRESHOLD": "100",
        "CORS_ALLOWED_ORIGINS": ORIGIN,
        "LOCAL_VERBOSE": "1",
        "PRODUCT_SERVICE_TIMEOUT_MS": "100",  # misspelled: PRODUCT_TIMEOUT_MS
    }
    with running_local_api(tmp_path_factory.mktemp("configured"), settings) as api:
        yield api


def refused(tmp_path: Path, extra_env: dict[str, str]) -> tuple[int, LocalApi]:
    api = launch(free_port(), tmp_path, extra_env)
    return api.process.wait(EXIT_TIMEOUT_S), api


def test_a_setting_the_template_does_not_declare_reaches_the_bff(configured_api: LocalApi) -> None:
    # Given LOW_STOCK_THRESHOLD=100 in the shell of `make dev` (P001 has 14 in stock; the default threshold is 5)
    # When a complete page is served
    response = httpx.get(f"{configured_api.base_url}/product-details/P001", timeout=10)

    # Then the BFF used it
    assert response.status_code == 200
    assert response.json()["availability"] == {"inStock": True, "lowStock": True}


def test_a_misspelled_setting_in_the_shell_is_one_warning_line_with_the_closest_name(configured_api: LocalApi) -> None:
    # Given PRODUCT_SERVICE_TIMEOUT_MS in the shell, which is no setting (make dev passes only settings on)
    # Then the start says so once, naming the closest setting, and goes on
    warning = (
        "localapi: PRODUCT_SERVICE_TIMEOUT_MS is not a BFF setting and is not passed on; did you mean "
        "PRODUCT_TIMEOUT_MS?"
    )
    assert configured_api.stderr().splitlines().count(warning) == 1
    assert "Local API ready" in configured_api.stdout()


def test_a_preflight_with_a_correlation_id_is_answered_from_the_templates_cors_configuration(
    configured_api: LocalApi,
) -> None:
    # Given CORS_ALLOWED_ORIGINS set for `make dev`
    # When a page on that origin preflights a request carrying X-Correlation-Id
    response = httpx.options(
        f"{configured_api.base_url}/product-details/P001",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-correlation-id",
        },
        timeout=10,
    )

    # Then the local API answers it as HTTP API would, from template.yaml's CorsConfiguration
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "x-correlation-id" in response.headers["access-control-allow-headers"].split(",")
    assert response.headers["access-control-allow-methods"] == "GET,POST"
    assert response.headers["access-control-max-age"] == "600"


def test_a_preflight_from_an_origin_not_allowed_gets_no_cors_headers(configured_api: LocalApi) -> None:
    response = httpx.options(
        f"{configured_api.base_url}/product-details/P001",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert response.status_code == 204
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_a_cross_origin_page_request_exposes_server_timing(configured_api: LocalApi) -> None:
    # Given an allowed origin
    # When it fetches a page
    response = httpx.get(f"{configured_api.base_url}/product-details/P001", headers={"Origin": ORIGIN}, timeout=10)

    # Then the answer lets the page read it and its Server-Timing
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "server-timing" in response.headers["access-control-expose-headers"].split(",")


def test_local_verbose_shows_the_functions_json_and_metrics(configured_api: LocalApi) -> None:
    # Given LOCAL_VERBOSE=1 and a page served
    httpx.get(f"{configured_api.base_url}/product-details/P001", timeout=10)

    # Then the BFF's one line per request, an EMF document, is on the console as written
    lines = re.findall(r"^BffFunction\[\d+\] (\{.*\})$", configured_api.stderr(), re.MULTILINE)
    documents = [json.loads(line) for line in lines]
    assert any("_aws" in document and document.get("route") for document in documents)


def test_the_console_shows_one_compact_line_per_request_and_no_metrics(tmp_path: Path) -> None:
    # Given `make dev` as a newcomer starts it
    with running_local_api(tmp_path) as api:
        # When one page is requested
        assert httpx.get(f"{api.base_url}/product-details/P001", timeout=10).status_code == 200
        # The mocks' lines come from their own workers' output, which may reach the console after the page's
        stop_time = time.monotonic() + 10
        while len(COMPACT_MOCK_LINE.findall(api.stderr())) < 3 and time.monotonic() < stop_time:
            time.sleep(0.05)
        console = api.stderr()

    # Then the page has its one line, the three calls to the mocks theirs, and no JSON or EMF shows
    assert len(COMPACT_PAGE_LINE.findall(console)) == 1
    for path in ("/products/P001", "/reviews/P001", "/inventory/P001"):
        assert re.search(rf"^\d\d:\d\d:\d\d GET {path} 200 \d+ms \w+MockFunction$", console, re.MULTILINE)
    assert '"_aws"' not in console
    assert '{"level"' not in console


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RETRY_MAX_ATTEMPTS", "abc"),
        ("RETRY_MAX_ATTEMPTS", "0"),
        ("PAGE_CACHE_MAX_AGE_S", "-1"),
        ("PAGE_DEADLINE_MS", "0"),
        ("PAGE_DEADLINE_MS", "abc"),
        ("PAGE_DEADLINE_MS", "-5"),
        ("SUPPORTED_LOCALES", "xx"),
    ],
)
def test_a_bad_bff_setting_stops_the_start_with_one_line_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    # Given a bad value for a BFF setting (the services' URLs left to the local registry, as always in `make dev`)
    # When `make dev` starts
    exit_code, api = refused(tmp_path, {variable: value})

    # Then it stops before "ready", with the BFF's one-line message naming that variable alone, and no traceback
    assert exit_code == 2
    assert "ready" not in api.stdout()
    (line,) = api.stderr().strip().splitlines()
    assert line.startswith(f"localapi: BffFunction: invalid BFF configuration: {variable}: ")
    assert line.endswith("; not started")
    assert line.count(";") == 1
    assert "SERVICE_URL" not in line


def test_a_bad_mock_fault_stops_the_start_with_one_line_for_its_mock(tmp_path: Path) -> None:
    # Given a fault switch that does not exist, for the reviews mock
    # When `make dev` starts
    exit_code, api = refused(tmp_path, {"REVIEWS_MOCK_FAULT": "explode"})

    # Then it stops before "ready" with one line naming the variable
    assert exit_code == 2
    assert "ready" not in api.stdout()
    (line,) = api.stderr().strip().splitlines()
    assert line.startswith("localapi: ReviewsMockFunction: MOCK_FAULT='explode' is not one of ")


def run_localapi(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(require_sam_venv() / "bin" / "python"), "-m", "localapi", *arguments],
        check=False,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT_S,
    )


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_a_bad_port_is_one_line(port: str) -> None:
    # Given PORT set to something that is not a port, as `make dev` passes it
    # When the local API starts
    result = run_localapi("--port", port)

    # Then it refuses in one line that names PORT
    assert result.returncode == 2
    assert result.stderr == f"localapi: argument --port: {port!r} is not a port number (1 to 65535); check PORT\n"


def test_port_from_the_environment_is_checked_too() -> None:
    result = run_localapi(env={"PORT": "abc"})
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "check PORT" in result.stderr


def test_another_sam_cli_version_stops_the_start_with_one_line(tmp_path: Path) -> None:
    # Given a SAM CLI whose version is not the pinned one (a distribution's metadata found first on the path)
    metadata = tmp_path / "aws_sam_cli-9.9.9.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: aws-sam-cli\nVersion: 9.9.9\n")

    # When the local API starts
    result = run_localapi("--port", str(free_port()), env={"PYTHONPATH": str(tmp_path)})

    # Then it stops with one line naming both versions and the fix
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("localapi: aws-sam-cli 9.9.9 is installed, but localapi is written against ")
    assert "tools/sam-requirements.txt" in line


RELOAD_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  VersionFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.13
      Events:
        Version:
          Type: HttpApi
          Properties:
            Path: /version
            Method: GET
"""


def write_handler(code_dir: Path, version: str) -> None:
    (code_dir / "app.py").write_text(
        textwrap.dedent(f"""
        def handler(event, context):
            return {{"statusCode": 200, "body": "{version}"}}
        """)
    )


def test_a_code_edit_is_served_without_a_restart(tmp_path: Path) -> None:
    # Given a local API serving a function from its code directory
    (tmp_path / "template.yaml").write_text(RELOAD_TEMPLATE)
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    write_handler(code_dir, "first")
    api = launch(free_port(), tmp_path, {"LOCAL_WORKER_PYTHON": str(APP_PYTHON)}, template=tmp_path / "template.yaml")
    try:
        wait_until_ready(api)
        assert httpx.get(f"{api.base_url}/version", timeout=10).text == "first"

        # When the handler is edited
        write_handler(code_dir, "second version")
        answers = []
        deadline = time.monotonic() + RELOAD_WAIT_S
        while "second version" not in answers and time.monotonic() < deadline:
            answers.append(httpx.get(f"{api.base_url}/version", timeout=10).text)
    finally:
        api.process.send_signal(signal.SIGINT)
        api.process.wait(EXIT_TIMEOUT_S)

    # Then the next requests get the new code, and the console said the workers restarted once
    assert answers[-1] == "second version"
    assert api.stderr().count("VersionFunction: code changed, its workers restart") == 1
