"""The HTTP contract of the BFF, through the ASGI app with in-process fake downstream services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from bff.composition import build_app
from bff.core.context import RequestContext
from bff.core.outcomes import FailureReason
from bff.core.policy import PageDecision, PageFailure
from bff.core.service import RenderedPage
from bff.core.shaping import PageOptions
from bff.downstream.http import create_http_client
from bff.observability.metrics import InvocationRecord
from tests.support.fake_downstream import FakeDownstream, inventory_body, product_body, reviews_body
from tests.support.overrides import override_pages
from tests.support.recording import recorded_client
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio


def assert_problem(response: httpx.Response, status: int, cache_control: str = "no-store") -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == cache_control
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("urn:product-bff:problem:")
    assert problem["correlationId"] == response.headers["x-correlation-id"]
    assert set(problem) <= {"type", "title", "status", "detail", "instance", "correlationId"}
    text = response.text.lower()
    for leak in ("traceback", ".test", "http://", "exception", "error:"):
        assert leak not in text
    return problem


async def test_healthy_page_combines_all_three_sections(client: httpx.AsyncClient) -> None:
    response = await client.get("/product-details/P001")
    assert response.status_code == 200
    assert response.json() == {
        "product": {**product_body("P001"), "currency": "USD", "priceFormatted": "$99.99"},
        "reviews": reviews_body("P001"),
        "inventory": inventory_body("P001"),
        "reviewSummary": {"count": 2, "averageRating": 4.5},
        "availability": {"inStock": True, "lowStock": False},
        "meta": {"degraded": []},
    }
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ({"status": 503}, "unavailable"),
        ({"error": httpx.ConnectError}, "unavailable"),
        ({"delay_s": 5.0}, "timeout"),
        ({"raw_body": b"<html>"}, "bad_response"),
        ({"body": {"stars": 5}}, "bad_response"),
    ],
)
@pytest.mark.parametrize("optional", ["reviews", "inventory"])
async def test_failed_optional_section_degrades_the_page(
    client: httpx.AsyncClient, fake: FakeDownstream, optional: str, script: dict[str, object], reason: str
) -> None:
    fake.script(optional, **script)
    response = await client.get("/product-details/P001")
    assert response.status_code == 200
    body = response.json()
    assert body[optional] is None
    assert body[{"reviews": "reviewSummary", "inventory": "availability"}[optional]] is None
    assert body["product"] == {**product_body("P001"), "currency": "USD", "priceFormatted": "$99.99"}
    assert body["meta"]["degraded"] == [{"source": optional, "reason": reason}]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("script", "status"),
    [
        ({"status": 404, "body": {}}, 404),
        ({"status": 500}, 502),
        ({"error": httpx.ConnectError}, 502),
        ({"raw_body": b"{"}, 502),
        ({"body": ["not", "a", "product"]}, 502),
        ({"delay_s": 5.0}, 504),
    ],
)
async def test_failed_product_gives_a_problem(
    client: httpx.AsyncClient, fake: FakeDownstream, script: dict[str, object], status: int
) -> None:
    fake.script("product", **script)
    response = await client.get("/product-details/P001")
    # Only a product that does not exist may be kept, for the negative TTL (NEGATIVE_CACHE_TTL_S, 30 s by default)
    problem = assert_problem(response, status, "public, max-age=30" if status == 404 else "no-store")
    assert problem["instance"] == "/product-details/P001"


@pytest.mark.parametrize(
    "path",
    [
        "/product-details/..%2Fadmin",
        "/product-details/%2e%2e%2fadmin",
        "/product-details/P001%00",
        "/product-details/P001%0D%0AX-Injected:%201",
        "/product-details/" + "A" * 10_000,
        "/product-details/%EF%BC%B0001",
        "/product-details/P001/extra",
        "/product-details/-P001",
    ],
)
async def test_invalid_id_gets_400_before_any_downstream_call(
    client: httpx.AsyncClient, fake: FakeDownstream, path: str
) -> None:
    response = await client.get(path)
    problem = assert_problem(response, 400)
    assert "productId" in str(problem["detail"])
    assert fake.requests == []


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404)
    response = await client.post("/product-details/P001")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


async def test_correlation_id_is_taken_from_the_client_and_sent_downstream(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    response = await client.get("/product-details/P001", headers={"x-correlation-id": "req-42.abc"})
    assert response.headers["x-correlation-id"] == "req-42.abc"
    assert {request.headers["x-correlation-id"] for request in fake.requests} == {"req-42.abc"}


async def test_malformed_correlation_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/product-details/P001", headers={"x-correlation-id": "bad id<script>"})
    assert response.headers["x-correlation-id"] != "bad id<script>"
    assert len(response.headers["x-correlation-id"]) == 36


async def test_unexpected_exception_becomes_a_500_problem_without_internals(
    client: httpx.AsyncClient, fake: FakeDownstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("secret internal detail at http://10.0.0.1/db")

    monkeypatch.setattr("bff.core.service.shape_page", explode)
    response = await client.get("/product-details/P001")
    problem = assert_problem(response, 500)
    assert "secret" not in response.text
    assert problem["detail"] == "The request could not be completed."


@pytest.mark.parametrize(("query", "name"), [("debug=1", "debug"), ("productId=P002", "productId"), ("x", "x")])
async def test_unknown_query_parameters_are_refused_by_name(
    client: httpx.AsyncClient, fake: FakeDownstream, query: str, name: str
) -> None:
    response = await client.get(f"/product-details/P001?{query}")
    problem = assert_problem(response, 400)
    assert problem["detail"] == f"Unknown query parameter '{name}': this endpoint takes only include and reviewsLimit."
    assert fake.requests == []


async def test_server_timing_reports_each_section_and_the_total(client: httpx.AsyncClient) -> None:
    response = await client.get("/product-details/P001")
    entries = [entry.strip().split(";dur=") for entry in response.headers["server-timing"].split(",")]
    assert [name for name, _ in entries] == ["product;desc=miss", "reviews;desc=miss", "inventory;desc=miss", "total"]
    assert all(float(duration) >= 0 for _, duration in entries)


async def cors_client(fake: FakeDownstream, origins: str, pages: object = None) -> httpx.AsyncClient:
    settings = settings_for(cors_allowed_origins=origins)
    app = build_app(settings, create_http_client(settings, transport=fake.transport()))
    if pages is not None:
        override_pages(app, pages)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test")


async def test_cors_allows_configured_origins_and_exposes_server_timing(fake: FakeDownstream) -> None:
    async with await cors_client(fake, "https://shop.example.com, https://m.shop.example.com") as client:
        response = await client.get("/product-details/P001", headers={"origin": "https://shop.example.com"})
        preflight = await client.options(
            "/product-details/P001",
            headers={"origin": "https://m.shop.example.com", "access-control-request-method": "GET"},
        )
        foreign = await client.get("/product-details/P001", headers={"origin": "https://evil.example"})
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    exposed = {name.strip() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"server-timing", "x-correlation-id"} <= exposed
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://m.shop.example.com"
    assert "access-control-allow-origin" not in foreign.headers


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/product-details/P001", headers={"origin": "https://shop.example.com"})
    assert "access-control-allow-origin" not in response.headers
    assert "timing-allow-origin" not in response.headers


async def test_allowed_origins_may_read_server_timing_from_the_performance_api(fake: FakeDownstream) -> None:
    # Given CORS lets two origins in
    async with await cors_client(fake, "https://shop.example.com, https://m.shop.example.com") as client:
        # When a page, a problem and a foreign origin's page are requested
        page = await client.get("/product-details/P001", headers={"origin": "https://m.shop.example.com"})
        problem = await client.get("/product-details/P001?x=1", headers={"origin": "https://shop.example.com"})
        foreign = await client.get("/product-details/P001", headers={"origin": "https://evil.example"})
        no_origin = await client.get("/product-details/P001")
    # Then each answer to an allowed origin names that origin, and varies by Origin once
    assert page.headers["timing-allow-origin"] == "https://m.shop.example.com"
    assert (problem.status_code, problem.headers["timing-allow-origin"]) == (400, "https://shop.example.com")
    for allowed in (page, problem):
        assert [part.strip() for part in allowed.headers["vary"].split(",")].count("Origin") == 1
    # And no other origin, nor a request without one, gets it
    assert "timing-allow-origin" not in foreign.headers
    assert "timing-allow-origin" not in no_origin.headers


async def test_the_catch_all_500_also_allows_timing_to_an_allowed_origin(
    fake: FakeDownstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the page service fails in a way nothing in the app expects
    class BrokenPages:
        async def render(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("bug")

    async with await cors_client(fake, "https://shop.example.com", BrokenPages()) as client:
        response = await client.get("/product-details/P001", headers={"origin": "https://shop.example.com"})
    assert response.status_code == 500
    assert response.headers["timing-allow-origin"] == "https://shop.example.com"
    assert "Origin" in response.headers["vary"]


def test_openapi_documents_errors_as_problem_json() -> None:
    settings = settings_for()
    schema = build_app(settings, create_http_client(settings)).openapi()
    (operation,) = schema["paths"]["/product-details/{productId}"].values()
    responses = operation["responses"]
    # 405 is never served through the gateway (it answers 404 first); 429 is the gateway's throttling
    assert set(responses) == {"200", "304", "400", "404", "422", "429", "500", "502", "503", "504"}
    assert "content" not in responses.pop("304")
    assert list(responses.pop("200")["content"]) == ["application/json"]
    assert list(responses.pop("429")["content"]) == ["application/json"]
    for response in responses.values():
        assert "application/problem+json" in response["content"]
    assert responses["400"]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert set(responses["404"]["content"]) == {"application/problem+json", "application/json"}


class FixedPages:
    """A page service that answers every request with one decision, and keeps the requests it was given."""

    def __init__(self, decision: PageDecision) -> None:
        self.decision = decision
        self.requests: list[tuple[str, Mapping[str, str]]] = []

    async def render(self, entity_id: str, context: RequestContext, options: PageOptions) -> RenderedPage:
        self.requests.append((entity_id, context.headers))
        return RenderedPage(self.decision, {"total": 1.0})


async def test_the_app_answers_what_its_page_service_decides() -> None:
    # Given an app whose page service's critical section's breaker is open, serving an invocation's record
    pages = FixedPages(PageFailure(503, "product", FailureReason.CIRCUIT_OPEN, retry_after_s=7))
    record = InvocationRecord()
    settings = settings_for()
    app = build_app(settings, create_http_client(settings))
    override_pages(app, pages)
    # When a page is requested
    async with recorded_client(app, record) as client:
        response = await client.get("/product-details/P001", headers={"x-correlation-id": "corr-1"})
    # Then the failure is a 503 problem with Retry-After (no degradation: the handler wrapper counts the
    # response), for the id and correlation id asked for, and the record names the route
    problem = assert_problem(response, 503)
    assert problem["type"].endswith(":upstream-unavailable")
    assert response.headers["retry-after"] == "7"
    assert (record.degradations, record.degraded) == ([], False)
    assert record.route == "/product-details/{productId}"
    assert [(entity_id, headers["x-correlation-id"]) for entity_id, headers in pages.requests] == [("P001", "corr-1")]
