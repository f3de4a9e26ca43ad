"""The fragment cache's L2 shared by fresh BFF processes: the real handler, imported in separate interpreters,
against real mock processes and a real moto server (DynamoDB) or redis-server. And the L2 failures a page must
survive: down (a closed port), slow (a black hole) and throttled, each a miss counted in CacheErrors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bff.config.services import variable
from tests.support.fault_servers import black_hole_port, refusing_port, throttling_endpoint
from tests.support.mock_processes import MockProcess, MockServiceFactory
from tests.support.moto_server import MotoServer
from tests.support.redis_server import RedisServer
from tests.support.tooling import REPO_ROOT

pytestmark = pytest.mark.integration

TABLE = "FragmentCacheTable"
DEADLINE_MS = 500
# What a page may take beyond its deadline on a loaded machine: the response reserve and scheduling.
SLACK_MS = 150

# Invokes the real handler once per path given, in this fresh interpreter; one JSON line per answer on stderr.
INVOKE = textwrap.dedent(
    """
    import json, sys, time
    from bff.handler import lambda_handler
    from tests.support.lambda_context import FakeLambdaContext
    template = json.load(open(sys.argv[1]))
    for path in sys.argv[2:]:
        event = json.loads(json.dumps(template))
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        started = time.perf_counter()
        response = lambda_handler(event, FakeLambdaContext())
        response["elapsed_ms"] = (time.perf_counter() - started) * 1000
        sys.stderr.write(json.dumps(response) + "\\n")
    """
)


@dataclass
class Invocation:
    response: dict[str, Any]
    stdout_lines: list[dict[str, Any]]

    @property
    def status(self) -> int:
        status: int = self.response["statusCode"]
        return status

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.response["body"])
        return body

    @property
    def cache(self) -> dict[str, str]:
        """Each section's Server-Timing description (hit, miss, stale)."""
        described: dict[str, str] = {}
        for entry in self.response["headers"]["server-timing"].split(","):
            name, *params = entry.strip().split(";")
            for param in params:
                if param.startswith("desc="):
                    described[name] = param.removeprefix("desc=")
        return described

    def cache_errors(self) -> list[str]:
        """The kind of each shared-cache error: in the invocation's one line, or (at init) a document of its own."""
        in_lines = [error.split(":", 1)[1] for line in self.stdout_lines for error in line.get("cache_errors", [])]
        return in_lines + [line["Kind"] for line in self.stdout_lines if "Kind" in line and "CacheErrors" in line]


@pytest.fixture
def mocks(mock_service_factory: MockServiceFactory) -> dict[str, MockProcess]:
    """Fresh mocks at the reference latencies, so that each test counts its own requests."""
    latencies = {"product": "50", "reviews": "80", "inventory": "30"}
    return {name: mock_service_factory(name, MOCK_LATENCY_MS=latency) for name, latency in latencies.items()}


@pytest.fixture
def event_path(tmp_path: Any) -> Any:
    path = tmp_path / "event.json"
    path.write_text((REPO_ROOT / "events" / "bff-v2-P001.json").read_text())
    return path


def run_bff(
    mocks: dict[str, MockProcess], event_path: Any, cache_environment: dict[str, str], *paths: str
) -> list[Invocation]:
    """A fresh BFF process (a cold start: the handler module imported anew) serving `paths` one after another."""
    inherited = {
        key: value for key, value in os.environ.items() if not key.startswith(("CACHE_", "AWS_", "STALE_", "PAGE_"))
    }
    environment = {
        **inherited,
        "PYTHONPATH": os.pathsep.join(str(REPO_ROOT / part) for part in ("functions/bff", "mocks", ".")),
        **{variable(name, "base_url"): mock.base_url for name, mock in mocks.items()},
        variable("cart", "base_url"): "http://127.0.0.1:9",
        "PAGE_DEADLINE_MS": str(DEADLINE_MS),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **cache_environment,
    }
    result = subprocess.run(
        [sys.executable, "-c", INVOKE, str(event_path), *paths],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    responses = [json.loads(line) for line in result.stderr.splitlines() if line.startswith('{"statusCode"')]
    assert len(responses) == len(paths), result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    # Every document belongs to the whole process; each invocation's are told apart by order only, so all go to each.
    return [Invocation(response, lines) for response in responses]


def product_requests(mocks: dict[str, MockProcess]) -> int:
    stats: dict[str, Any] = httpx.get(f"{mocks['product'].base_url}/__mock/stats").json()
    requests: int = stats["requests"]
    return requests


@pytest.fixture
def dynamodb(moto_server: MotoServer) -> dict[str, str]:
    """The BFF's environment for L2 on the moto server's table, emptied first. Moto (Python, in this test
    process's thread) answers in 5-20 ms, several times DynamoDB's own latency: its timeouts are wider."""
    moto_server.reset()
    return {
        **moto_server.environment(),
        "CACHE_TABLE_NAME": moto_server.table_name(TABLE),
        "CACHE_L2_TIMEOUT_MS": "250",
        "CACHE_L2_WRITE_TIMEOUT_MS": "250",
    }


@pytest.fixture
def redis(redis_server: RedisServer) -> dict[str, str]:
    redis_server.command("FLUSHDB")
    return {"CACHE_URL": redis_server.url}


@pytest.mark.parametrize("backend", ["dynamodb", "redis"])
def test_a_second_fresh_process_serves_p001_from_l2_with_no_product_call(
    mocks: dict[str, MockProcess], event_path: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    cache_environment: dict[str, str] = request.getfixturevalue(backend)
    # Given one BFF process that served P001 (a miss: the product service was called once)
    (first,) = run_bff(mocks, event_path, cache_environment, "/product-details/P001")
    assert (first.status, first.cache["product"]) == (200, "miss")
    assert product_requests(mocks) == 1
    # When another, fresh process (empty L1) serves P001
    (second,) = run_bff(mocks, event_path, cache_environment, "/product-details/P001")
    # Then its product section came from L2, and the product service saw no new request
    assert (second.status, second.cache["product"]) == (200, "hit"), (first.cache_errors(), second.cache_errors())
    assert second.body["product"] == first.body["product"]
    assert product_requests(mocks) == 1
    assert second.cache_errors() == []
    (document,) = [line for line in second.stdout_lines if "Responses" in line]
    assert (document.get("ProductL2Hits"), document.get("ProductL1Hits")) == ([1], None)


@pytest.mark.parametrize("backend", ["dynamodb", "redis"])
def test_a_404_stays_in_its_process_so_made_up_ids_never_fill_l2(
    mocks: dict[str, MockProcess], event_path: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    # A caller can name any number of ids that do not exist: their 404s are kept in L1 only (never written to L2),
    # so a second fresh process asks the service again
    cache_environment: dict[str, str] = request.getfixturevalue(backend)
    (first,) = run_bff(mocks, event_path, cache_environment, "/product-details/NOPE-1")
    (second,) = run_bff(mocks, event_path, cache_environment, "/product-details/NOPE-1")
    assert (first.status, second.status) == (404, 404)
    assert (first.cache["product"], second.cache["product"]) == ("miss", "miss")
    assert product_requests(mocks) == 2


@dataclass(frozen=True)
class Fault:
    name: str
    kinds: frozenset[str]


def assert_pages_are_correct_and_in_time(invocations: list[Invocation], mocks: dict[str, MockProcess]) -> None:
    for invocation in invocations:
        assert invocation.status == 200
        assert invocation.body["product"]["id"] == "P001"
        assert invocation.body["meta"]["degraded"] == []
        assert invocation.response["elapsed_ms"] < DEADLINE_MS + SLACK_MS
    # The first page was a miss in both tiers; the second an L1 hit: one product call
    assert invocations[0].cache["product"] == "miss"
    assert invocations[1].cache["product"] == "hit"
    assert product_requests(mocks) == 1


def test_l2_down_is_a_miss_and_pages_stay_correct_and_in_time(
    mocks: dict[str, MockProcess], event_path: Any, moto_server: MotoServer
) -> None:
    with refusing_port() as port:
        environment = {
            **moto_server.environment(),
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}",
            "CACHE_TABLE_NAME": "FragmentCache",
        }
        invocations = run_bff(mocks, event_path, environment, "/product-details/P001", "/product-details/P001")
    assert_pages_are_correct_and_in_time(invocations, mocks)
    errors = invocations[0].cache_errors()
    assert errors
    assert set(errors) == {"error"}


def test_l2_that_never_answers_costs_a_read_timeout_not_the_page(
    mocks: dict[str, MockProcess], event_path: Any, moto_server: MotoServer
) -> None:
    with black_hole_port() as port:
        environment = {
            **moto_server.environment(),
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}",
            "CACHE_TABLE_NAME": "FragmentCache",
        }
        invocations = run_bff(mocks, event_path, environment, "/product-details/P001", "/product-details/P001")
    assert_pages_are_correct_and_in_time(invocations, mocks)
    errors = invocations[0].cache_errors()
    assert errors
    assert set(errors) == {"timeout"}


def test_a_throttled_l2_is_a_miss_counted_as_throttled(mocks: dict[str, MockProcess], event_path: Any) -> None:
    with throttling_endpoint() as endpoint:
        environment = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint.url,
            "CACHE_TABLE_NAME": "FragmentCache",
        }
        invocations = run_bff(mocks, event_path, environment, "/product-details/P001", "/product-details/P001")
    assert_pages_are_correct_and_in_time(invocations, mocks)
    assert "throttled" in invocations[0].cache_errors()
    # The first page's reads (one call for its three sections) were throttled; then the fragment store was left
    # alone for its cool-off: no write after them, and no read from the second page. (GetItems are the init's
    # warm-up and the fleet's shared breaker state, which lives in the same table.)
    fragment_reads = [target for target in endpoint.requests if target.endswith(".BatchGetItem")]
    assert 1 <= len(fragment_reads) <= 3
    assert not [target for target in endpoint.requests if target.endswith(".BatchWriteItem")]
