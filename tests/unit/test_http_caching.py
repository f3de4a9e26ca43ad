"""HTTP caching to clients: Cache-Control arithmetic, ETag and If-None-Match (RFC 9110 §13.1.2), gzip, 304."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from bff.api.freshness import not_found_cache_control, page_cache_control
from bff.api.validators import encoded_etag, names_current, parse_if_none_match, strong_etag
from bff.composition import build_app
from bff.downstream.http import create_http_client
from tests.support.fake_downstream import FakeDownstream, product_body
from tests.support.settings import settings_for

LONG_DESCRIPTION = "A gadget that does everything a gadget should, and then some more. " * 40


@pytest.mark.parametrize(
    ("freshness_s", "upper_bound_s", "expected"),
    [
        ([], 60, "public, max-age=60"),
        ([None, None, None], 60, "public, max-age=60"),
        ([300.0, 60.0, 5.0], 60, "public, max-age=5"),
        ([300.0, None, 42.9], 60, "public, max-age=42"),
        ([300.0, 120.0], 60, "public, max-age=60"),
        ([math.inf], 60, "public, max-age=60"),
        ([300.0, 0.4], 60, "no-cache"),
        ([300.0, 0.0], 60, "no-cache"),
        ([-3.0], 60, "no-cache"),
        ([math.nan], 60, "no-cache"),
        ([300.0], 0, "no-cache"),
        ([], 0, "no-cache"),
    ],
)
def test_a_complete_page_is_only_as_fresh_as_its_most_volatile_section(
    freshness_s: list[float | None], upper_bound_s: int, expected: str
) -> None:
    assert page_cache_control(freshness_s, upper_bound_s, degraded=False) == expected


def test_a_degraded_or_stale_page_is_never_stored() -> None:
    assert page_cache_control([300.0, 60.0], 60, degraded=True) == "no-store"


def test_the_not_found_page_may_be_kept_for_the_negative_ttl() -> None:
    assert not_found_cache_control(30) == "public, max-age=30"
    assert not_found_cache_control(0) == "no-store"


def test_the_etag_is_a_strong_quoted_hash_of_the_body() -> None:
    tag = strong_etag(b'{"a":1}')
    assert tag == strong_etag(b'{"a":1}')
    assert tag != strong_etag(b'{"a":2}')
    assert re.fullmatch(r'"[A-Za-z0-9_-]{22}"', tag)
    assert parse_if_none_match(tag) is not None


def test_the_gzip_representation_has_its_own_tag() -> None:
    assert encoded_etag('"abc"', "gzip") == '"abc-gzip"'
    assert encoded_etag('"abc"', "GZIP") == '"abc-gzip"'
    assert encoded_etag('"abc"', None) == '"abc"'
    assert encoded_etag('"abc"', "br") == '"abc"'


@pytest.mark.parametrize(
    ("field", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ('"x",W/"abc"', True),
        (' , "x" ,, "abc" , ', True),
        ("*", True),
        (" * ", True),
        ('"x", "y"', False),
        ('"abc-gzip"', False),
        ('"ABC"', False),
        ("", False),
        (" , ", False),
        ('"a,b", "abc"', True),
        # malformed: names nothing, so the full answer is sent
        ("abc", False),
        ('w/"abc"', False),
        ('"abc', False),
        ('"abc""abc"', False),
        ('"x", *', False),
        ('"ab"c"', False),
        ('"abc" junk', False),
    ],
)
def test_if_none_match_compares_weakly_and_ignores_malformed_fields(field: str, matches: bool) -> None:
    assert names_current(field, '"abc"') is matches


def test_a_weak_current_tag_is_compared_weakly_too() -> None:
    assert names_current('"abc"', 'W/"abc"')


def test_a_comma_inside_a_tag_is_part_of_it() -> None:
    condition = parse_if_none_match('"a,b", W/"c"')
    assert condition is not None
    assert condition.opaque_tags == frozenset({'"a,b"', '"c"'})


@pytest.fixture
async def client(fake: FakeDownstream) -> AsyncIterator[httpx.AsyncClient]:
    # The page changes under these tests: no fragment cache, and sections fresh longer than the page's bound.
    settings = settings_for(
        page_deadline_ms=300,
        page_cache_max_age_s=60,
        cache_l1_max_entries=0,
        reviews_cache_ttl_s=300,
        inventory_cache_ttl_s=300,
    )
    app = build_app(settings, create_http_client(settings, transport=fake.transport()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        yield client


def long_product(fake: FakeDownstream) -> None:
    fake.script("product", body={**product_body("P001"), "description": LONG_DESCRIPTION})


@pytest.mark.anyio
async def test_a_client_holding_the_page_gets_304_without_a_body(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    # Given a complete page, fetched once
    first = await client.get("/product-details/P001", headers={"accept-encoding": "identity"})
    etag = first.headers["etag"]
    # When it is asked for again with its tag
    again = await client.get(
        "/product-details/P001", headers={"accept-encoding": "identity", "if-none-match": f'"other", {etag}'}
    )
    # Then the answer is 304, no body, with the same validator and freshness, and still a correlation id
    assert (first.status_code, again.status_code) == (200, 304)
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"] == "public, max-age=60"
    assert again.headers["vary"] == first.headers["vary"] == "Accept-Language, Accept-Encoding"
    assert "content-type" not in again.headers
    assert "content-length" not in again.headers
    assert again.headers["x-correlation-id"]
    assert len(fake.calls_to("product")) == 2


@pytest.mark.anyio
async def test_a_weak_or_wildcard_condition_also_gives_304(client: httpx.AsyncClient) -> None:
    etag = (await client.get("/product-details/P001")).headers["etag"]
    weak = await client.get("/product-details/P001", headers={"if-none-match": f"W/{etag}"})
    anything = await client.get("/product-details/P001", headers={"if-none-match": "*"})
    assert (weak.status_code, anything.status_code) == (304, 304)


@pytest.mark.anyio
async def test_a_changed_page_or_a_malformed_condition_gets_the_full_page(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    etag = (await client.get("/product-details/P001")).headers["etag"]
    fake.script("product", body={**product_body("P001"), "price": 1})
    changed = await client.get("/product-details/P001", headers={"if-none-match": etag})
    malformed = await client.get("/product-details/P001", headers={"if-none-match": etag.strip('"')})
    assert changed.status_code == 200
    assert changed.json()["product"]["price"] == 1
    assert changed.headers["etag"] != etag
    assert malformed.status_code == 200


@pytest.mark.anyio
async def test_a_degraded_page_has_a_tag_but_is_not_stored(client: httpx.AsyncClient, fake: FakeDownstream) -> None:
    fake.script("reviews", status=503)
    response = await client.get("/product-details/P001")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["etag"] == strong_etag(response.content)


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "status"), [("/product-details/P404", 404), ("/product-details/-x", 400)])
async def test_problems_never_answer_304(
    client: httpx.AsyncClient, fake: FakeDownstream, path: str, status: int
) -> None:
    fake.script("product", status=404, body={})
    response = await client.get(path, headers={"if-none-match": "*"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert "etag" not in response.headers


@pytest.mark.anyio
async def test_a_missing_product_is_kept_for_the_negative_ttl_but_a_missing_route_is_not(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    fake.script("product", status=404, body={})
    missing_product = await client.get("/product-details/P404")
    missing_route = await client.get("/nope")
    assert missing_product.headers["cache-control"] == "public, max-age=30"
    assert missing_route.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_a_negative_ttl_of_zero_keeps_the_404_out_of_caches(fake: FakeDownstream) -> None:
    settings = settings_for(negative_cache_ttl_s=0)
    app = build_app(settings, create_http_client(settings, transport=fake.transport()))
    fake.script("product", status=404, body={})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bff.test") as client:
        response = await client.get("/product-details/P404")
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_a_large_page_is_gzipped_under_its_own_tag(client: httpx.AsyncClient, fake: FakeDownstream) -> None:
    # Given a page over 1 KiB
    long_product(fake)
    # When it is asked for with and without gzip
    identity = await client.get("/product-details/P001", headers={"accept-encoding": "identity"})
    gzipped = await client.get("/product-details/P001", headers={"accept-encoding": "gzip"})
    # Then the gzip answer is the same JSON, compressed, under the identity tag plus "-gzip"
    assert len(identity.content) > 1024
    assert "content-encoding" not in identity.headers
    assert gzipped.headers["content-encoding"] == "gzip"
    assert int(gzipped.headers["content-length"]) < len(identity.content) // 2
    assert gzipped.json() == identity.json()
    assert identity.headers["etag"] == strong_etag(identity.content)
    assert gzipped.headers["etag"] == identity.headers["etag"][:-1] + '-gzip"'
    assert identity.headers.get_list("vary") == gzipped.headers.get_list("vary") == ["Accept-Language, Accept-Encoding"]


@pytest.mark.anyio
async def test_each_representation_is_revalidated_by_its_own_tag(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    long_product(fake)
    gzip_tag = (await client.get("/product-details/P001", headers={"accept-encoding": "gzip"})).headers["etag"]
    identity_tag = gzip_tag.removesuffix('-gzip"') + '"'
    held_gzip = await client.get(
        "/product-details/P001", headers={"accept-encoding": "gzip", "if-none-match": gzip_tag}
    )
    held_identity = await client.get(
        "/product-details/P001", headers={"accept-encoding": "gzip", "if-none-match": identity_tag}
    )
    assert held_gzip.status_code == 304
    assert held_gzip.headers["etag"] == gzip_tag
    assert "content-encoding" not in held_gzip.headers
    # a client that holds the identity bytes and now accepts gzip gets the gzip representation, whole
    assert held_identity.status_code == 200
    assert held_identity.headers["etag"] == gzip_tag
    assert held_identity.json()["product"]["description"] == LONG_DESCRIPTION


@pytest.mark.anyio
async def test_a_small_page_is_not_compressed_but_still_varies_by_encoding(client: httpx.AsyncClient) -> None:
    response = await client.get("/product-details/P001", headers={"accept-encoding": "gzip"})
    assert len(response.content) < 1024
    assert "content-encoding" not in response.headers
    assert response.headers["etag"] == strong_etag(response.content)
    assert response.headers.get_list("vary") == ["Accept-Language, Accept-Encoding"]
