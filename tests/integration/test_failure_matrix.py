"""Every downstream crossed with every failure mode, against real mock processes on 127.0.0.1.

One row: one downstream behaves one way (a fresh mock process with MOCK_* set, a closed port, or the shared
healthy reference mock); the other two are the healthy reference mocks. A fresh BFF app per row keeps
breakers, budgets and the stale cache from leaking between rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto

import httpx
import pytest

from tests.support.mock_processes import MockProcess, MockServiceFactory
from tests.support.resilience import NO_HEDGING, bff_client, closed_port_url, requests_seen_by, timed_get

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

DEADLINE_MS = 400
# Scheduling slack over the deadline: the suite starts many processes on two cores; a call that waited for a hung
# service or a retry storm would still be seconds over.
SLACK_S = 0.4
RETRY_MAX_ATTEMPTS = 3
OPTIONAL_SERVICES = ("reviews", "inventory")
SERVICES = ("product", *OPTIONAL_SERVICES)


class Downstream(Enum):
    REFERENCE = auto()  # the shared healthy reference mock
    FAULTY_PROCESS = auto()  # a fresh mock process started with `mock_env`
    CLOSED_PORT = auto()  # nothing listens: connection refused


@dataclass(frozen=True)
class Fault:
    id: str
    downstream: Downstream
    optional_reason: str | None  # the meta.degraded reason of a failing optional section; None: served
    product_status: int  # the page status when this happens to the product service
    mock_env: dict[str, str] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)
    requests_seen: int | None = None  # calls the faulty mock must have seen, retries included
    earlier_requests: int = 0  # page requests made first, to put the BFF in the state under test
    deadline_ms: int = DEADLINE_MS
    min_elapsed_s: float = 0.0


FAULTS = [
    Fault("ok", Downstream.REFERENCE, None, 200),
    Fault(
        "slow-within-budget",
        Downstream.FAULTY_PROCESS,
        None,
        200,
        {"MOCK_LATENCY_MS": "250"},
        requests_seen=1,
        min_elapsed_s=0.25,
    ),
    Fault(
        "timeout",
        Downstream.FAULTY_PROCESS,
        "timeout",
        504,
        {"MOCK_FAULT": "hang"},
        requests_seen=1,
        min_elapsed_s=DEADLINE_MS / 1000 - 0.02,
    ),
    Fault("500", Downstream.FAULTY_PROCESS, "unavailable", 502, {"MOCK_FAULT": "error"}, requests_seen=1),
    Fault("503-then-ok", Downstream.FAULTY_PROCESS, None, 200, {"MOCK_FAULT": "flaky:1"}, requests_seen=2),
    Fault(
        "429-retry-after-0-retried-to-the-limit",
        Downstream.FAULTY_PROCESS,
        "unavailable",
        502,
        {"MOCK_FAULT": "429", "MOCK_RETRY_AFTER_S": "0"},
        requests_seen=RETRY_MAX_ATTEMPTS,
    ),
    Fault(
        "429-retry-after-past-the-deadline-not-retried",
        Downstream.FAULTY_PROCESS,
        "unavailable",
        502,
        {"MOCK_FAULT": "429", "MOCK_RETRY_AFTER_S": "1"},
        requests_seen=1,
    ),
    Fault(
        "malformed-json", Downstream.FAULTY_PROCESS, "bad_response", 502, {"MOCK_FAULT": "malformed"}, requests_seen=1
    ),
    Fault(
        "wrong-shape", Downstream.FAULTY_PROCESS, "bad_response", 502, {"MOCK_FAULT": "wrong-shape"}, requests_seen=1
    ),
    Fault("connection-refused", Downstream.CLOSED_PORT, "unavailable", 502),
    Fault(
        "reset-mid-body",
        Downstream.FAULTY_PROCESS,
        "unavailable",
        502,
        {"MOCK_FAULT": "reset", "MOCK_LATENCY_MS": "0"},
        requests_seen=RETRY_MAX_ATTEMPTS,
        # The mock's first reset costs it ~200 ms (uvicorn formats a traceback): three attempts need room.
        deadline_ms=1_000,
    ),
    Fault("huge-body", Downstream.FAULTY_PROCESS, "bad_response", 502, {"MOCK_FAULT": "huge"}, requests_seen=1),
    Fault(
        "body-trickles-past-the-deadline",
        Downstream.FAULTY_PROCESS,
        "timeout",
        504,
        {"MOCK_FAULT": "slow-body"},
        requests_seen=1,
        min_elapsed_s=DEADLINE_MS / 1000 - 0.02,
    ),
    Fault(
        "circuit-open",
        Downstream.FAULTY_PROCESS,
        "circuit_open",
        503,
        {"MOCK_FAULT": "error"},
        settings={"breaker_failure_threshold": 1},
        requests_seen=1,  # only the earlier request that opened the breaker got through
        earlier_requests=1,
    ),
]


def _downstream_url(
    fault: Fault, service: str, reference_mocks: dict[str, MockProcess], start: MockServiceFactory
) -> tuple[str, MockProcess | None]:
    match fault.downstream:
        case Downstream.REFERENCE:
            return reference_mocks[service].base_url, None
        case Downstream.CLOSED_PORT:
            return closed_port_url(), None
        case Downstream.FAULTY_PROCESS:
            mock = start(service, **fault.mock_env)
            return mock.base_url, mock


def _assert_served_page(response: httpx.Response, service: str, fault: Fault) -> None:
    assert response.status_code == 200
    body = response.json()
    assert body["product"]["id"] == "P001"
    if fault.optional_reason is None:
        assert body["meta"]["degraded"] == []
        assert all(body[name] is not None for name in SERVICES)
        assert response.headers["cache-control"] == "no-cache"
        return
    assert body[service] is None
    assert body["meta"]["degraded"] == [{"source": service, "reason": fault.optional_reason}]
    assert all(body[name] is not None for name in SERVICES if name != service)
    assert response.headers["cache-control"] == "no-store"


def _assert_failed_page(response: httpx.Response, fault: Fault) -> None:
    assert response.status_code == fault.product_status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == fault.product_status
    if fault.product_status == 503:
        assert 1 <= int(response.headers["retry-after"]) <= 5


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("fault", FAULTS, ids=[fault.id for fault in FAULTS])
async def test_failure_matrix(
    reference_mocks: dict[str, MockProcess],
    mock_service_factory: MockServiceFactory,
    service: str,
    fault: Fault,
) -> None:
    # Given one downstream behaving as the row says and the other two healthy
    url, faulty = _downstream_url(fault, service, reference_mocks, mock_service_factory)
    urls = {name: url if name == service else mock.base_url for name, mock in reference_mocks.items()}
    settings = {"page_deadline_ms": fault.deadline_ms, "retry_max_attempts": RETRY_MAX_ATTEMPTS, **NO_HEDGING}
    async with bff_client(urls, **settings, **fault.settings) as client:
        for _ in range(fault.earlier_requests):
            await client.get("/product-details/P001")
        # When the page is requested
        response, elapsed = await timed_get(client, "/product-details/P001")

    # Then the status, the sections and the degradation follow the policy, within the deadline
    if service == "product" and fault.product_status != 200:
        _assert_failed_page(response, fault)
    else:
        _assert_served_page(response, service, fault)
    assert fault.min_elapsed_s <= elapsed < fault.deadline_ms / 1000 + SLACK_S
    if faulty is not None and fault.requests_seen is not None:
        assert requests_seen_by(faulty) == fault.requests_seen
