"""The page's query parameters and its language: the parsing rules, and what they change through the app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bff.api.validation import PageQuery, parse_page_query
from bff.composition import build_app
from bff.downstream.http import create_http_client
from bff.errors import InvalidParameterError
from tests.support.fake_downstream import FakeDownstream, product_body, reviews_body
from tests.support.settings import settings_for

SECTIONS = ("product", "reviews", "inventory")
VALID_NAMES = "product, reviews, inventory"


@pytest.mark.parametrize(
    ("query", "parsed"),
    [
        ("", PageQuery()),
        ("include=product", PageQuery(frozenset({"product"}))),
        ("include=inventory,product", PageQuery(frozenset({"product", "inventory"}))),
        ("include=product%2Creviews", PageQuery(frozenset({"product", "reviews"}))),
        ("include=product,reviews,inventory", PageQuery(frozenset(SECTIONS))),
        ("reviewsLimit=1", PageQuery(reviews_limit=1)),
        ("reviewsLimit=50&include=reviews", PageQuery(frozenset({"reviews"}), 50)),
    ],
)
def test_known_parameters_are_accepted(query: str, parsed: PageQuery) -> None:
    assert parse_page_query(query, SECTIONS) == parsed


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("debug=1", "Unknown query parameter 'debug': this endpoint takes only include and reviewsLimit."),
        ("Include=product", "Unknown query parameter 'Include'"),
        ("include=product&", "Unknown query parameter:"),
        ("%3Cscript%3E=1", "Unknown query parameter:"),
        ("include=product&include=reviews", "Query parameter include is repeated"),
        ("reviewsLimit=2&reviewsLimit=2", "Query parameter reviewsLimit is repeated"),
        ("include=", f"include must list one or more of {VALID_NAMES}"),
        ("include", f"include must list one or more of {VALID_NAMES}"),
        ("include=price", f"include must list one or more of {VALID_NAMES}"),
        ("include=product,,reviews", "include must list"),
        ("include=product,product", "include must list"),
        ("include=product,%20reviews", "include must list"),
        ("include=Product", "include must list"),
        ("reviewsLimit=0", "reviewsLimit must be a whole number from 1 to 50"),
        ("reviewsLimit=51", "reviewsLimit must be a whole number from 1 to 50"),
        ("reviewsLimit=-1", "reviewsLimit must be"),
        ("reviewsLimit=+5", "reviewsLimit must be"),
        ("reviewsLimit=05", "reviewsLimit must be"),
        ("reviewsLimit=2.0", "reviewsLimit must be"),
        ("reviewsLimit=", "reviewsLimit must be"),
        ("reviewsLimit=%EF%BC%95", "reviewsLimit must be"),  # fullwidth 5
        ("include=product&reviewsLimit=3", "reviewsLimit needs reviews among the included sections"),
    ],
)
def test_unknown_repeated_or_out_of_range_parameters_are_refused_by_name(query: str, detail: str) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        parse_page_query(query, SECTIONS)
    assert detail in refused.value.detail


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("include", "called"),
    [("product", {"product"}), ("reviews,inventory", {"reviews", "inventory"}), ("inventory", {"inventory"})],
)
async def test_only_the_included_sections_are_fetched_and_returned(
    client: httpx.AsyncClient, fake: FakeDownstream, include: str, called: set[str]
) -> None:
    response = await client.get(f"/product-details/P001?include={include}")
    assert response.status_code == 200
    assert {service for service in SECTIONS if fake.calls_to(service)} == called
    assert set(response.json()) == called | {"reviewSummary", "availability", "meta"}
    assert response.headers["server-timing"].count("dur=") == len(called) + 1


@pytest.mark.anyio
async def test_a_page_without_the_product_survives_the_product_service_being_down(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    fake.script("product", status=503)
    response = await client.get("/product-details/P001?include=reviews")
    assert response.status_code == 200
    assert response.json()["reviewSummary"] == {"count": 2, "averageRating": 4.5}
    assert fake.calls_to("product") == []


@pytest.mark.anyio
async def test_an_unknown_section_is_refused_listing_the_valid_names_before_any_call(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    response = await client.get("/product-details/P001?include=product,price")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == "urn:product-bff:problem:invalid-parameter"
    assert VALID_NAMES in problem["detail"]
    assert fake.requests == []


@pytest.mark.anyio
async def test_reviews_limit_trims_the_list_but_not_the_summary(client: httpx.AsyncClient) -> None:
    body = (await client.get("/product-details/P001?reviewsLimit=1")).json()
    assert body["reviews"] == reviews_body("P001")[:1]
    assert body["reviewSummary"] == {"count": 2, "averageRating": 4.5}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("accept_language", "formatted"),
    [
        (None, "$99.99"),
        ("de-DE", "99,99\u00a0$"),
        ("fr-FR", "99,99\u00a0$US"),
        ("ja-JP", "$99.99"),
        ("de;q=0.9, fr;q=1", "99,99\u00a0$US"),
        ("pt-BR", "$99.99"),
    ],
)
async def test_the_price_is_formatted_for_the_negotiated_locale(
    client: httpx.AsyncClient, accept_language: str | None, formatted: str
) -> None:
    headers = {} if accept_language is None else {"accept-language": accept_language}
    response = await client.get("/product-details/P001", headers=headers)
    assert response.json()["product"]["priceFormatted"] == formatted


@pytest.mark.anyio
async def test_a_product_in_yen_has_no_minor_unit(client: httpx.AsyncClient, fake: FakeDownstream) -> None:
    fake.script("product", body={**product_body("P001"), "price": 1500, "currency": "JPY"})
    response = await client.get("/product-details/P001", headers={"accept-language": "ja-JP"})
    assert response.json()["product"] == {
        **product_body("P001"),
        "price": 1500,
        "currency": "JPY",
        "priceFormatted": "￥1,500",
    }


@pytest.mark.anyio
async def test_a_malformed_currency_from_the_service_is_a_bad_response(
    client: httpx.AsyncClient, fake: FakeDownstream
) -> None:
    fake.script("product", body={**product_body("P001"), "currency": "usd"})
    response = await client.get("/product-details/P001")
    assert response.status_code == 502


@pytest.mark.anyio
async def test_pages_with_the_product_vary_by_language_and_tag_each_language_apart(client: httpx.AsyncClient) -> None:
    english = await client.get("/product-details/P001", headers={"accept-language": "en-US"})
    german = await client.get("/product-details/P001", headers={"accept-language": "de-DE"})
    assert english.headers.get_list("vary") == german.headers.get_list("vary") == ["Accept-Language, Accept-Encoding"]
    assert english.headers["etag"] != german.headers["etag"]
    # the 304 for a client holding the German page repeats the Vary
    held = await client.get(
        "/product-details/P001", headers={"accept-language": "de-DE", "if-none-match": german.headers["etag"]}
    )
    assert held.status_code == 304
    assert held.headers.get_list("vary") == ["Accept-Language, Accept-Encoding"]


@pytest.mark.anyio
async def test_pages_without_the_product_do_not_vary_by_language(client: httpx.AsyncClient) -> None:
    response = await client.get("/product-details/P001?include=reviews,inventory", headers={"accept-language": "de"})
    assert response.headers.get_list("vary") == ["Accept-Encoding"]


def test_openapi_documents_the_parameters_and_the_derived_fields() -> None:
    settings = settings_for()
    schema = build_app(settings, create_http_client(settings)).openapi()
    operation = schema["paths"]["/product-details/{productId}"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["include"]["schema"]["items"]["enum"] == list(SECTIONS)
    assert parameters["include"]["explode"] is False
    # A plain decimal 1-50 (tests/unit/test_openapi_document.py holds the pattern to the parser)
    assert parameters["reviewsLimit"]["schema"]["type"] == "string"
    assert parameters["Accept-Language"]["in"] == "header"
    components = schema["components"]["schemas"]
    assert {"reviewSummary", "availability"} <= set(components["ProductDetails"]["properties"])
    assert {"priceFormatted", "currency"} <= set(components["PageProduct"]["properties"])
    assert set(components["ReviewSummary"]["properties"]) == {"count", "averageRating"}
    assert set(components["Availability"]["properties"]) == {"inStock", "lowStock"}
