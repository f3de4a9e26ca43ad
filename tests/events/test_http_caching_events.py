"""ETag, 304 and gzip through the real Lambda handler (Mangum) with HTTP API v2 events; downstream in process."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import load_event
from tests.support.fake_downstream import FakeDownstream, handler_over, product_body
from tests.support.lambda_context import FakeLambdaContext

LONG_DESCRIPTION = "A gadget that does everything a gadget should, and then some more. " * 40


@pytest.fixture(scope="module")
def fake() -> FakeDownstream:
    return FakeDownstream()


@pytest.fixture(scope="module")
def handler_module(fake: FakeDownstream) -> Iterator[ModuleType]:
    # The page changes under these tests: no fragment cache (L1 of size 0), and sections fresh for longer than the
    # page's bound, so that PAGE_CACHE_MAX_AGE_S sets max-age.
    with handler_over(
        fake,
        PAGE_CACHE_MAX_AGE_S="60",
        CACHE_L1_MAX_ENTRIES="0",
        REVIEWS_CACHE_TTL_S="300",
        INVENTORY_CACHE_TTL_S="300",
        POWERTOOLS_METRICS_DISABLED="true",
    ) as module:
        yield module


def invoke(module: ModuleType, **headers: str) -> dict[str, Any]:
    event = load_event("bff-v2-P001.json")
    event["headers"].update({name.replace("_", "-"): value for name, value in headers.items()})
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def test_a_v2_event_with_the_pages_tag_gets_304_without_a_body(handler_module: ModuleType) -> None:
    # Given a page served through the Lambda handler (small: not compressed)
    first = invoke(handler_module)
    etag = first["headers"]["etag"]
    # When API Gateway forwards a request carrying that tag in a list
    again = invoke(handler_module, if_none_match=f'W/"old", {etag}')
    # Then the answer is 304 with no body, and the same ETag, Cache-Control and Vary
    assert (first["statusCode"], again["statusCode"]) == (200, 304)
    assert json.loads(first["body"])["product"]["id"] == "P001"
    assert again.get("body", "") == ""
    assert again["isBase64Encoded"] is False
    for name in ("etag", "cache-control", "vary"):
        assert again["headers"][name] == first["headers"][name]
    assert first["headers"]["cache-control"] == "public, max-age=60"
    assert "content-length" not in again["headers"]


def test_a_large_page_is_gzipped_and_base64_encoded_for_api_gateway(
    handler_module: ModuleType, fake: FakeDownstream
) -> None:
    # Given a page over 1 KiB (a long product description)
    fake.script("product", body={**product_body("P001"), "description": LONG_DESCRIPTION})
    try:
        # When the client accepts gzip (the event says "gzip, deflate, br"), and when it does not
        compressed = invoke(handler_module)
        plain = invoke(handler_module, accept_encoding="identity")
        revalidated = invoke(handler_module, if_none_match=compressed["headers"]["etag"])
    finally:
        fake.scripts.pop("product")
    # Then Mangum hands API Gateway the gzip bytes base64-encoded, flagged so, and they decode to the same JSON
    assert compressed["statusCode"] == 200
    assert compressed["isBase64Encoded"] is True
    assert compressed["headers"]["content-encoding"] == "gzip"
    body = gzip.decompress(base64.b64decode(compressed["body"]))
    assert json.loads(body) == json.loads(plain["body"])
    assert json.loads(body)["product"]["description"] == LONG_DESCRIPTION
    assert len(plain["body"]) > 2048
    assert plain["isBase64Encoded"] is False
    assert "content-encoding" not in plain["headers"]
    # And each representation has its own strong tag; the gzip one revalidates to 304
    assert compressed["headers"]["etag"] == plain["headers"]["etag"][:-1] + '-gzip"'
    assert compressed["headers"]["vary"] == plain["headers"]["vary"] == "Accept-Language, Accept-Encoding"
    assert revalidated["statusCode"] == 304
    assert revalidated.get("body", "") == ""
    assert revalidated["headers"]["etag"] == compressed["headers"]["etag"]
