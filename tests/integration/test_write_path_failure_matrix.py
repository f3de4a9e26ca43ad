"""The write path's dependencies crossed with their faults: the idempotency store (DynamoDB), the service registry
(SSM) and the cart service, each refused, hung, slow above its timeout, throttled or failing (5xx), and malformed.

Every cell asserts the answer and a bound on its time that follows from counted attempts and configured timeouts
(never a tight millisecond figure): a store or registry call takes at most connect + read timeout, and is made at
most RETRY_MAX_ATTEMPTS times. docs/resilience.md holds the same table ("Write path and AWS dependencies").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass

import boto3
import httpx
import pytest

from bff.composition import build_app
from bff.config.discovery import discover
from bff.config.services import SERVICES, variable
from bff.downstream.http import create_http_client
from bff.errors import ConfigurationError
from tests.support.aws_faults import FaultyEndpoint, error_endpoint, malformed_endpoint, silent_endpoint
from tests.support.fault_servers import delaying_proxy, refusing_port
from tests.support.gateway import GatewayClaims, claims_header
from tests.support.mock_processes import MockProcess, MockServiceFactory
from tests.support.moto_server import MotoServer
from tests.support.resilience import NO_HEDGING, closed_port_url, requests_seen_by
from tests.support.settings import settings_for

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

ATTEMPTS = 3
CONNECT_S = 0.2
STORE_READ_S = 0.2
REGISTRY_READ_S = 0.3
MAX_BACKOFF_S = 0.2
DEADLINE_MS = 3_000  # room for every attempt: the counts below are the retry policy's, not the deadline's
CART_TIMEOUT_MS = 300
SLACK_S = 1.0  # the product check, thread hand-offs and a loaded CI machine; seconds-long hangs stay far outside
ITEM = {"productId": "P001", "quantity": 1}
LIMITS = {
    "retry_max_attempts": ATTEMPTS,
    "connect_timeout_ms": int(CONNECT_S * 1000),
    "idempotency_timeout_ms": int(STORE_READ_S * 1000),
    "retry_max_delay_ms": int(MAX_BACKOFF_S * 1000),
    "page_deadline_ms": DEADLINE_MS,
    "cart_timeout_ms": CART_TIMEOUT_MS,
    **NO_HEDGING,
}


@dataclass
class Attempts:
    """What reached a faulty AWS endpoint: requests answered, or connections accepted (None: not countable)."""

    endpoint: FaultyEndpoint | None = None
    proxy_connections: Callable[[], int] | None = None

    def count(self) -> int | None:
        if self.proxy_connections is not None:
            return self.proxy_connections()
        if self.endpoint is None:
            return None
        return len(self.endpoint.requests) or self.endpoint.connections


type AwsFault = Callable[[MotoServer], AbstractContextManager[tuple[str, Attempts]]]


@contextmanager
def refused(_moto: MotoServer) -> Iterator[tuple[str, Attempts]]:
    with refusing_port() as port:
        yield f"http://127.0.0.1:{port}", Attempts()


@contextmanager
def hung(_moto: MotoServer) -> Iterator[tuple[str, Attempts]]:
    with silent_endpoint() as endpoint:
        yield endpoint.url, Attempts(endpoint)


def slow(delay_s: float) -> AwsFault:
    @contextmanager
    def behind_a_proxy(moto: MotoServer) -> Iterator[tuple[str, Attempts]]:
        with delaying_proxy(int(moto.endpoint_url.rsplit(":", 1)[1]), delay_s) as proxy:
            yield f"http://127.0.0.1:{proxy.port}", Attempts(proxy_connections=lambda: proxy.connections)

    return behind_a_proxy


def failing(status: int, code: str) -> AwsFault:
    @contextmanager
    def answering(_moto: MotoServer) -> Iterator[tuple[str, Attempts]]:
        with error_endpoint(status, code) as endpoint:
            yield endpoint.url, Attempts(endpoint)

    return answering


@contextmanager
def malformed(_moto: MotoServer) -> Iterator[tuple[str, Attempts]]:
    with malformed_endpoint() as endpoint:
        yield endpoint.url, Attempts(endpoint)


@dataclass(frozen=True)
class StoreCell:
    id: str
    fault: AwsFault
    status: int
    attempts: int | None  # store calls counted at the endpoint (None: a closed port counts nothing)
    bound_s: float  # the answer's time bound, from attempts x timeouts


BACKOFFS_S = (ATTEMPTS - 1) * MAX_BACKOFF_S
TIMED_OUT_ATTEMPTS_S = ATTEMPTS * (CONNECT_S + STORE_READ_S) + BACKOFFS_S
STORE_CELLS = [
    StoreCell("refused", refused, 503, None, BACKOFFS_S + SLACK_S),
    StoreCell("hung", hung, 503, ATTEMPTS, TIMED_OUT_ATTEMPTS_S + SLACK_S),
    StoreCell("slow-above-timeout", slow(STORE_READ_S + 0.3), 503, ATTEMPTS, TIMED_OUT_ATTEMPTS_S + SLACK_S),
    StoreCell(
        "throttled",
        failing(400, "ProvisionedThroughputExceededException"),
        503,
        ATTEMPTS,
        BACKOFFS_S + SLACK_S,
    ),
    StoreCell("5xx", failing(500, "InternalServerError"), 503, ATTEMPTS, BACKOFFS_S + SLACK_S),
    StoreCell("malformed", malformed, 503, ATTEMPTS, BACKOFFS_S + SLACK_S),
    StoreCell("slow-within-timeout", slow(0.05), 201, None, 3 * (0.05 * 4) + SLACK_S),
]


@pytest.fixture
def aws_environment(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Points DynamoDB and SSM at `url` for clients built from now on (fake credentials, the test region)."""

    def point_at(url: str) -> None:
        for name, value in moto_server.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", url)

    return point_at


@asynccontextmanager
async def write_path(moto: MotoServer, product: str, cart: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    config = settings_for(
        {"product": product, "cart": cart},
        idempotency_table_name=moto.table_name("IdempotencyTable"),
        **{**LIMITS, **settings},
    )
    async with create_http_client(config) as downstream:
        app = GatewayClaims(build_app(config, downstream))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
            yield client


async def add_item(client: httpx.AsyncClient, user: str = "alice") -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.post(
        "/cart/items", json=ITEM, headers={**claims_header(user), "idempotency-key": f"k-{uuid.uuid4()}"}
    )
    return response, time.perf_counter() - started


def posts_seen(cart: MockProcess) -> int:
    routes: dict[str, int] = httpx.get(f"{cart.base_url}/__mock/stats").json()["routes"]
    return sum(count for route, count in routes.items() if "items" in route)


def assert_store_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(":idempotency-unavailable")
    assert 1 <= int(response.headers["retry-after"]) <= 5


@pytest.mark.parametrize("cell", STORE_CELLS, ids=[cell.id for cell in STORE_CELLS])
async def test_idempotency_store_row(
    cell: StoreCell,
    moto_server: MotoServer,
    aws_environment: Callable[[str], None],
    reference_mocks: dict[str, MockProcess],
    mock_service_factory: MockServiceFactory,
) -> None:
    # Given the idempotency store's endpoint failing as the cell says, and healthy product and cart services
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    with cell.fault(moto_server) as (url, attempts):
        aws_environment(url)
        async with write_path(moto_server, reference_mocks["product"].base_url, cart.base_url) as client:
            # When a shopper adds an item
            response, elapsed = await add_item(client)
        counted = attempts.count()
    # Then the answer is the cell's, in time; a store that failed before the write never let the write out
    if cell.status == 503:
        assert_store_unavailable(response)
        assert posts_seen(cart) == 0
    else:
        assert response.status_code == cell.status, response.text
        assert posts_seen(cart) == 1
    assert elapsed < cell.bound_s
    if cell.attempts is not None:
        assert counted == cell.attempts


async def test_a_hung_store_gets_only_the_attempts_that_fit_in_the_requests_deadline(
    moto_server: MotoServer,
    aws_environment: Callable[[str], None],
    reference_mocks: dict[str, MockProcess],
    mock_service_factory: MockServiceFactory,
) -> None:
    # Given a hung store and a request deadline of 500 ms: room for one attempt (connect + read = 400 ms), not two
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    with silent_endpoint() as endpoint:
        aws_environment(endpoint.url)
        product = reference_mocks["product"].base_url
        async with write_path(moto_server, product, cart.base_url, page_deadline_ms=500) as client:
            # When a shopper adds an item
            response, elapsed = await add_item(client)
    # Then the store was asked once, and the answer came within the deadline (plus the product check)
    assert_store_unavailable(response)
    assert endpoint.connections == 1
    assert elapsed < 0.5 + SLACK_S


async def test_an_open_store_breaker_answers_at_once_without_calling_the_store(
    moto_server: MotoServer,
    aws_environment: Callable[[str], None],
    reference_mocks: dict[str, MockProcess],
    mock_service_factory: MockServiceFactory,
) -> None:
    # Given a throttling store that has failed two writes (six attempts: past the breaker's five)
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    with error_endpoint(400, "ProvisionedThroughputExceededException") as endpoint:
        aws_environment(endpoint.url)
        async with write_path(moto_server, reference_mocks["product"].base_url, cart.base_url) as client:
            for _ in range(2):
                assert_store_unavailable((await add_item(client))[0])
            calls_before = len(endpoint.requests)
            # When a third write comes
            response, _ = await add_item(client, user="bob")
        # Then it is 503 with Retry-After at once: the store is not called
        assert_store_unavailable(response)
        assert len(endpoint.requests) == calls_before
    assert posts_seen(cart) == 0


# --- The service registry (SSM), read at cold start ---

REGISTRY_PATH = "/bff/matrix/services/"
REGISTRY_BOUND_S = ATTEMPTS * (CONNECT_S + REGISTRY_READ_S) + (ATTEMPTS - 1) * MAX_BACKOFF_S + SLACK_S


@dataclass(frozen=True)
class RegistryCell:
    id: str
    fault: AwsFault
    discovered: bool
    attempts: int | None


REGISTRY_CELLS = [
    RegistryCell("refused", refused, False, None),
    RegistryCell("hung", hung, False, ATTEMPTS),
    RegistryCell("slow-above-timeout", slow(REGISTRY_READ_S + 0.3), False, ATTEMPTS),
    RegistryCell("throttled", failing(400, "ThrottlingException"), False, ATTEMPTS),
    RegistryCell("5xx", failing(500, "InternalServerError"), False, ATTEMPTS),
    RegistryCell("malformed", malformed, False, ATTEMPTS),
    RegistryCell("slow-within-timeout", slow(0.05), True, 1),
]


def registered(moto: MotoServer) -> dict[str, str]:
    environment = moto.environment()
    ssm = boto3.client(
        "ssm",
        endpoint_url=moto.endpoint_url,
        region_name=environment["AWS_DEFAULT_REGION"],
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
    )
    urls = {name: f"https://{name}.registry.internal" for name in SERVICES}
    for name, url in urls.items():
        ssm.put_parameter(Name=f"{REGISTRY_PATH}{name}/url", Value=url, Type="String", Overwrite=True)
    return urls


@pytest.mark.parametrize("cell", REGISTRY_CELLS, ids=[cell.id for cell in REGISTRY_CELLS])
def test_service_registry_row(
    cell: RegistryCell, moto_server: MotoServer, aws_environment: Callable[[str], None]
) -> None:
    # Given the registry's SSM endpoint failing as the cell says, and no service URL in the environment
    urls = registered(moto_server)
    environ = {
        "SERVICE_REGISTRY_PATH": REGISTRY_PATH,
        "CONNECT_TIMEOUT_MS": str(int(CONNECT_S * 1000)),
        "SERVICE_REGISTRY_TIMEOUT_MS": str(int(REGISTRY_READ_S * 1000)),
        "RETRY_MAX_ATTEMPTS": str(ATTEMPTS),
        "RETRY_MAX_DELAY_MS": str(int(MAX_BACKOFF_S * 1000)),
    }
    with cell.fault(moto_server) as (url, attempts):
        aws_environment(url)
        # When a cold start reads it
        started = time.perf_counter()
        try:
            settings, _ = discover(environ)
            outcome: object = settings.service_urls()
        except ConfigurationError as error:
            outcome = error
        elapsed = time.perf_counter() - started
        counted = attempts.count()
    # Then the cold start either finds every service or stops with one line naming the registry, in bounded time
    if cell.discovered:
        assert outcome == urls
    else:
        assert isinstance(outcome, ConfigurationError)
        assert f"cannot read the service registry {REGISTRY_PATH}" in str(outcome)
    assert elapsed < REGISTRY_BOUND_S
    if cell.attempts is not None:
        assert counted == cell.attempts


# --- The cart service ---


@dataclass(frozen=True)
class CartCell:
    id: str
    mock_env: dict[str, str] | None  # None: a closed port
    read_status: int
    write_status: int
    reads_seen: int | None
    writes_seen: int | None


CART_CELLS = [
    CartCell("refused", None, 502, 502, None, None),
    CartCell("hung", {"MOCK_FAULT": "hang"}, 504, 504, 1, 1),
    CartCell("slow-above-timeout", {"MOCK_LATENCY_MS": str(CART_TIMEOUT_MS + 400)}, 504, 504, 1, 1),
    CartCell("5xx", {"MOCK_FAULT": "error", "MOCK_LATENCY_MS": "0"}, 502, 502, 1, 1),
    # A 429 is retried for a read (its Retry-After is 0) and never for a write: it may come after the write landed.
    CartCell("throttled", {"MOCK_FAULT": "429", "MOCK_RETRY_AFTER_S": "0", "MOCK_LATENCY_MS": "0"}, 502, 502, 3, 1),
    CartCell("malformed", {"MOCK_FAULT": "malformed", "MOCK_LATENCY_MS": "0"}, 502, 502, 1, 1),
]
CART_BOUND_S = ATTEMPTS * CART_TIMEOUT_MS / 1000 + BACKOFFS_S + SLACK_S


@pytest.mark.parametrize("cell", CART_CELLS, ids=[cell.id for cell in CART_CELLS])
async def test_cart_service_row(
    cell: CartCell,
    moto_server: MotoServer,
    aws_environment: Callable[[str], None],
    reference_mocks: dict[str, MockProcess],
    mock_service_factory: MockServiceFactory,
) -> None:
    # Given a healthy store and product service, and a cart service failing as the cell says
    aws_environment(moto_server.endpoint_url)
    reader = None if cell.mock_env is None else mock_service_factory("cart", **cell.mock_env)
    writer = None if cell.mock_env is None else mock_service_factory("cart", **cell.mock_env)
    product = reference_mocks["product"].base_url
    read_url = closed_port_url() if reader is None else reader.base_url
    write_url = closed_port_url() if writer is None else writer.base_url
    # When a shopper reads the cart, and another adds an item
    async with write_path(moto_server, product, read_url) as client:
        started = time.perf_counter()
        read = await client.get("/cart", headers=claims_header("alice"))
        read_s = time.perf_counter() - started
    async with write_path(moto_server, product, write_url) as client:
        write, write_s = await add_item(client, user="bob")
    # Then both are problem+json with the cell's status, within the deadline
    assert (read.status_code, write.status_code) == (cell.read_status, cell.write_status), (read.text, write.text)
    assert read.headers["content-type"] == write.headers["content-type"] == "application/problem+json"
    assert read_s < CART_BOUND_S
    assert write_s < CART_BOUND_S
    if reader is not None and writer is not None:
        assert requests_seen_by(reader) == cell.reads_seen
        assert posts_seen(writer) == cell.writes_seen


# --- Failures are counted against the right party ---

REFUSED_SHOPPER = "bad.user"  # the cart service refuses this user id with 400 (ids are letters, digits, _ and -)


async def test_one_shopper_refused_by_the_cart_service_cannot_open_its_breaker_for_others(
    moto_server: MotoServer,
    aws_environment: Callable[[str], None],
    reference_mocks: dict[str, MockProcess],
    mock_service_factory: MockServiceFactory,
) -> None:
    aws_environment(moto_server.endpoint_url)
    cart = mock_service_factory("cart", MOCK_LATENCY_MS="0")
    async with write_path(moto_server, reference_mocks["product"].base_url, cart.base_url) as client:
        # Given one shopper whose every cart read the cart service refuses (25 times)
        refused = [await client.get("/cart", headers=claims_header(REFUSED_SHOPPER)) for _ in range(25)]
        # When other shoppers read their carts and add items
        others_read = [await client.get("/cart", headers=claims_header(f"shopper-{n}")) for n in range(3)]
        others_write = [(await add_item(client, user=f"shopper-{n}"))[0] for n in range(3)]
    # Then the refused shopper got a 4xx (their input, not an outage: no 5xx alarm counts it) each time, sent once
    # each, and nobody else noticed
    assert {response.status_code for response in refused} == {422}
    assert {response.json()["type"].rsplit(":", 1)[-1] for response in refused} == {"cart-refused"}
    assert requests_seen_by(cart) == 25 + 3 + 3
    assert [response.status_code for response in others_read] == [200, 200, 200]
    assert [response.status_code for response in others_write] == [201, 201, 201]


def test_the_matrix_covers_every_fault_of_every_row() -> None:
    faults = {"refused", "hung", "slow-above-timeout", "5xx", "throttled", "malformed"}
    assert faults <= {cell.id for cell in STORE_CELLS}
    assert faults <= {cell.id for cell in REGISTRY_CELLS}
    assert faults <= {cell.id for cell in CART_CELLS}
    assert variable("cart", "timeout_ms") == "CART_TIMEOUT_MS"
