"""Black-box checks of the public contract; the same suite runs against a deployed stack (BFF_URL=...)."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_product_page_combines_product_reviews_and_stock(bff: httpx.Client) -> None:
    response = bff.get("/product-details/P001")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    page = response.json()
    assert set(page) == {"product", "reviews", "inventory", "reviewSummary", "availability", "meta"}
    assert page["product"]["id"] == "P001"
    assert page["product"]["name"] == "Awesome Gadget P001"
    assert isinstance(page["product"]["price"], int)
    assert all(set(review) == {"productId", "rating", "comment", "author"} for review in page["reviews"])
    assert page["inventory"]["productId"] == "P001"
    assert page["meta"] == {"degraded": []}


def test_unknown_product_is_a_404_problem(bff: httpx.Client) -> None:
    response = bff.get("/product-details/P999")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404
    assert problem["correlationId"] == response.headers["x-correlation-id"]


@pytest.mark.parametrize("bad_id", ["-P001", "bad!id", "A" * 65, "P%00", "%E2%80%AEP001"])
def test_invalid_id_is_a_400_problem(bff: httpx.Client, bad_id: str) -> None:
    response = bff.get(f"/product-details/{bad_id}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "productId" in response.json()["detail"]


def test_correlation_id_round_trips(bff: httpx.Client) -> None:
    correlation_id = f"e2e-{uuid.uuid4()}"
    response = bff.get("/product-details/P002", headers={"X-Correlation-Id": correlation_id})
    assert response.status_code == 200
    assert response.headers["x-correlation-id"] == correlation_id


def test_responses_never_leak_internals(bff: httpx.Client) -> None:
    for path in ("/product-details/P999", "/product-details/bad!id"):
        text = bff.get(path).text.lower()
        for leak in ("traceback", "exception", "127.0.0.1", "execute-api", "http://"):
            assert leak not in text


def test_the_openapi_document_is_public_and_revalidated_by_its_etag(bff: httpx.Client) -> None:
    # The contract clients generate from, served through the API as deployed: no token, cacheable, 304 on its tag
    response = bff.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert {"/product-details/{productId}", "/product-details", "/cart", "/cart/items"} <= set(document["paths"])
    assert response.headers["cache-control"].startswith("public")
    again = bff.get("/openapi.json", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
