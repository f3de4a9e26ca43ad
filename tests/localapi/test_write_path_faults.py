"""The store-down rows of the write path's failure matrix, through `make dev`'s local API: a cart write with the
idempotency store refusing or never answering gets 503 problem+json with Retry-After within attempts x timeouts,
and the worker lives on (no emulator 502, no Lambda timeout)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.aws_faults import silent_endpoint
from tests.support.fault_servers import refusing_port
from tests.support.forged_tokens import claims_for, signed
from tests.support.local_api import LocalApi, running_local_api
from tools import local_jwt

pytestmark = pytest.mark.localapi

ATTEMPTS = 3
CONNECT_S = 0.2
STORE_READ_S = 0.2
# Attempts x (connect + read) and two backoffs, plus the local API's hop and a cold worker's first boto3 client
# on a shared machine. The finding was 26 s (refused) and no answer within 40 s (hung).
BOUND_S = ATTEMPTS * (CONNECT_S + STORE_READ_S) + 2 * 0.2 + 3.0


@dataclass(frozen=True)
class StoreDownApi:
    api: LocalApi
    key_dir: Path


@contextmanager
def store_endpoint(fault: str) -> Iterator[str]:
    if fault == "refused":
        with refusing_port() as port:
            yield f"http://127.0.0.1:{port}"
    else:
        with silent_endpoint() as endpoint:
            yield endpoint.url


@pytest.fixture(scope="module", params=["refused", "hung"])
def store_down(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreDownApi]:
    log_dir = tmp_path_factory.mktemp(f"localapi-store-{request.param}")
    with store_endpoint(request.param) as url:
        # The shell's AWS_ENDPOINT_URL_DYNAMODB reaches the BFF's workers (the registry stays on make dev's moto)
        environment = {
            "LOCAL_JWT_DIR": str(log_dir / "jwt"),
            "AWS_ENDPOINT_URL_DYNAMODB": url,
            "CONNECT_TIMEOUT_MS": str(int(CONNECT_S * 1000)),
            "IDEMPOTENCY_TIMEOUT_MS": str(int(STORE_READ_S * 1000)),
            "RETRY_MAX_ATTEMPTS": str(ATTEMPTS),
            "PAGE_DEADLINE_MS": "3000",
        }
        with running_local_api(log_dir, environment) as api:
            yield StoreDownApi(api, log_dir / "jwt")


def add_item(store_down: StoreDownApi) -> tuple[httpx.Response, float]:
    identity = local_jwt.local_identity({})
    token = signed(local_jwt.ensure_key(store_down.key_dir), claims_for(identity, scope="cart:write"))
    started = time.perf_counter()
    response = httpx.post(
        f"{store_down.api.base_url}/cart/items",
        json={"productId": "P001", "quantity": 1},
        headers={"authorization": f"Bearer {token}", "idempotency-key": f"dev-{uuid.uuid4()}"},
        timeout=60,
    )
    return response, time.perf_counter() - started


def test_a_write_with_the_store_down_is_a_fast_503_and_the_worker_lives_on(store_down: StoreDownApi) -> None:
    # When a shopper adds an item twice while the idempotency store is down
    answers = [add_item(store_down) for _ in range(2)]
    # Then each is the documented 503 problem with Retry-After, well inside the function's 5 s timeout
    for response, elapsed in answers:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith(":idempotency-unavailable")
        assert 1 <= int(response.headers["retry-after"]) <= 5
        assert elapsed < BOUND_S
    # And the product page, served by the same local API, still answers
    page = httpx.get(f"{store_down.api.base_url}/product-details/P001", timeout=10)
    assert page.status_code == 200
