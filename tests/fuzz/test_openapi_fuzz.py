"""Property-based tests of the public contract, driven by the app's own OpenAPI document and sent through the
local API, so the gateway emulation's decoding and routing stand in front of the BFF as API Gateway does."""

from __future__ import annotations

import json
import string
from collections import Counter
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bff.api.validation import PRODUCT_ID_PATTERN
from bff.core.batch import MAX_BATCH_IDS
from bff.core.models import BatchDetails, ProductDetails
from mockkit.catalogue import FIXTURE_IDS
from tests.fuzz.answers import (
    DERIVED_FIELDS,
    SECTIONS,
    check_answer,
    expected_status_for,
    expected_status_for_query,
    problem_of,
)
from tests.fuzz.contract import Operation, openapi_schema, operations_of
from tests.fuzz.raw_http import send
from tests.support.local_api import LocalApi

pytestmark = pytest.mark.localapi

PAGE_PATH = "/product-details/{productId}"

# About 150 generated requests in all; the same ones on every run, so a CI failure reproduces locally.
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

ANY_CHARACTER = st.characters(exclude_categories=["Cs"])
LONGEST_ID = 10_000
LONGEST_QUERY = 100_000


def _repeated_to(unit: str, length: int) -> str:
    return (unit * length)[:length]


arbitrary_ids = st.one_of(
    st.text(ANY_CHARACTER, max_size=80),
    st.builds(_repeated_to, st.text(ANY_CHARACTER, min_size=1, max_size=8), st.integers(65, LONGEST_ID)),
)

well_formed_ids = st.one_of(
    st.from_regex(PRODUCT_ID_PATTERN, fullmatch=True),
    st.sampled_from(sorted(FIXTURE_IDS)),
)

_QUERY_ALPHABET = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%[]"
query_strings = st.one_of(
    st.lists(st.tuples(st.text(ANY_CHARACTER, max_size=20), st.text(ANY_CHARACTER, max_size=20)), min_size=1).map(
        urlencode
    ),
    st.text(st.sampled_from(_QUERY_ALPHABET), min_size=1, max_size=200),
    st.builds(
        _repeated_to, st.text(st.sampled_from(_QUERY_ALPHABET), min_size=1, max_size=8), st.integers(201, LONGEST_QUERY)
    ),
)

LOOKALIKE_IDS = [
    "\uff30001",  # fullwidth P
    "P\uff10\uff101",  # fullwidth zeros
    "\u0420001",  # Cyrillic Er
    "\u2119001",  # double-struck P
    "P\u0301001",  # combining acute accent
    "P001\u200b",  # zero-width space
    "\u202eP001",  # right-to-left override
    "\ufeffP001",
    "P001 ",
    " P001",
    "P001\n",
    "P001\t",
    "p001",
    "P0001",
    "P001_",
    "-P001",
    "A" * 64,
    "A" * 65,
]
ENCODED_FORM_IDS = [
    # Sent once percent-encoded, so these reach the gateway as %2F, %2e%2e, %00, %0d%0a, ...
    "../",
    "..",
    ".",
    "\x00",
    "P001\x00",
    "P001\r\nX-Injected:1",
    "..%2Fadmin",
    "/P001",
    "P001/",
    # ... and these literal escapes arrive double-encoded (%252F, ...): one decoding must not make them paths.
    "%2F",
    "%2e%2e",
    "%2e%2e%2fetc%2fpasswd",
    "%00",
    "%0d%0a",
    "P001%00",
    "P001?debug=1",
    "P001#top",
    "P001;v=1",
    "P001\\",
]


@pytest.fixture(scope="module")
def page() -> Operation:
    (operation,) = [operation for operation in operations_of(openapi_schema()) if operation.path_template == PAGE_PATH]
    assert operation.method == "GET"
    assert {200, 400, 404} <= set(operation.responses)
    return operation


@settings(FUZZ, max_examples=70)
@given(product_id=arbitrary_ids)
def test_any_product_id_gets_a_documented_answer(
    shared_local_api: LocalApi, page: Operation, seen_statuses: Counter[tuple[str, int]], product_id: str
) -> None:
    # Given any text at all as the product id
    # When it is sent percent-encoded as the one path segment
    response = send(shared_local_api.port, page.target(product_id))

    # Then the answer is a documented status with a body that matches the schema, and leaks nothing
    check_answer(page, response, expected_status=expected_status_for(product_id), tally=seen_statuses)


@settings(FUZZ, max_examples=40)
@given(product_id=well_formed_ids)
def test_a_well_formed_id_is_a_page_or_a_404(
    shared_local_api: LocalApi, page: Operation, seen_statuses: Counter[tuple[str, int]], product_id: str
) -> None:
    # Given an id from the valid alphabet, in the mocks' catalogue or not
    # When its page is requested
    response = send(shared_local_api.port, page.target(product_id))

    # Then the BFF itself answers: the page for that very product, or a 404 problem
    assert response.answered_by_bff
    check_answer(page, response, expected_status=expected_status_for(product_id), tally=seen_statuses)
    if response.status == 200:
        product = ProductDetails.model_validate_json(response.body).product
        assert product is not None
        assert product.id == product_id


@settings(FUZZ, max_examples=40)
@given(product_id=well_formed_ids, query=query_strings)
def test_any_query_string_gets_the_answer_its_rules_give(
    shared_local_api: LocalApi,
    page: Operation,
    seen_statuses: Counter[tuple[str, int]],
    product_id: str,
    query: str,
) -> None:
    # Given a well-formed id with a non-empty query string, mostly not the page's parameters
    # When the page is requested with it
    response = send(shared_local_api.port, page.target(product_id, query))

    # Then the answer is what the documented parameter rules say: a 400 problem about the query parameter at fault
    # (or the gateway refuses an overlong request line), else the page
    check_answer(page, response, expected_status=expected_status_for_query(product_id, query), tally=seen_statuses)
    if response.answered_by_bff and response.status == 400:
        assert "query parameter" in problem_of(response).detail.lower()


def documented_queries(page: Operation) -> st.SearchStrategy[tuple[frozenset[str] | None, int | None, str]]:
    """Valid combinations of the parameters as the OpenAPI document describes them: (include, limit, query)."""
    include_schema = page.query_parameters["include"]["schema"]
    limit_schema = page.query_parameters["reviewsLimit"]["schema"]
    includes = st.none() | st.lists(st.sampled_from(include_schema["items"]["enum"]), min_size=1, unique=True)
    limits = st.none() | st.from_regex(limit_schema["pattern"], fullmatch=True).map(int)

    def query_of(
        include: list[str] | None, limit: int | None, reverse: bool
    ) -> tuple[frozenset[str] | None, int | None, str]:
        if include is not None and "reviews" not in include:
            limit = None
        pairs = [("include", ",".join(include))] if include is not None else []
        pairs += [("reviewsLimit", str(limit))] if limit is not None else []
        query = "&".join(f"{name}={value}" for name, value in (reversed(pairs) if reverse else pairs))
        return (None if include is None else frozenset(include), limit, query)

    return st.builds(query_of, includes, limits, st.booleans())


@settings(FUZZ, max_examples=30)
@given(product_id=st.sampled_from(sorted(FIXTURE_IDS)), data=st.data())
def test_documented_parameters_give_the_sections_asked_for(
    shared_local_api: LocalApi,
    page: Operation,
    seen_statuses: Counter[tuple[str, int]],
    product_id: str,
    data: st.DataObject,
) -> None:
    # Given a product of the catalogue and a valid combination of the documented parameters
    include, limit, query = data.draw(documented_queries(page))
    # When the page is requested with them
    response = send(shared_local_api.port, page.target(product_id, query))

    # Then it is the page with exactly the sections asked for, the derived values, and at most `limit` reviews
    check_answer(page, response, expected_status=200, tally=seen_statuses)
    body = json.loads(response.body)
    assert set(body) == set(include or SECTIONS) | DERIVED_FIELDS
    if limit is not None and body.get("reviews") is not None:
        assert len(body["reviews"]) <= limit
    if body.get("reviews") is not None:
        assert body["reviewSummary"]["count"] >= len(body["reviews"])


ACCEPT_LANGUAGE_ALPHABET = string.ascii_letters + string.digits + "-,;=.* "
PRICES = {"$99.99", "99,99\u00a0$", "99,99\u00a0$US"}


@settings(FUZZ, max_examples=30)
@given(
    accept_language=st.one_of(
        st.text(st.sampled_from(ACCEPT_LANGUAGE_ALPHABET), max_size=60),
        st.lists(
            st.tuples(st.sampled_from(["en-US", "de", "fr-FR", "ja", "pt-BR", "*", "x"]), st.floats(0, 1)), max_size=4
        ).map(lambda ranges: ", ".join(f"{tag};q={weight:.3f}" for tag, weight in ranges)),
    )
)
def test_any_accept_language_gets_a_price_in_a_supported_locale(
    shared_local_api: LocalApi, page: Operation, seen_statuses: Counter[tuple[str, int]], accept_language: str
) -> None:
    # Given any Accept-Language, well-formed or not
    # When the page is requested with it
    response = send(shared_local_api.port, page.target("P001"), headers={"accept-language": accept_language})

    # Then the page is served, priced in one of the supported locales' forms, and varies by language
    check_answer(page, response, expected_status=200, tally=seen_statuses)
    assert json.loads(response.body)["product"]["priceFormatted"] in PRICES
    assert "accept-language" in response.headers["vary"].lower()


@pytest.mark.parametrize("product_id", LOOKALIKE_IDS + ENCODED_FORM_IDS)
def test_lookalike_and_encoded_ids_are_refused_or_unknown(
    shared_local_api: LocalApi, page: Operation, seen_statuses: Counter[tuple[str, int]], product_id: str
) -> None:
    # Given an id that resembles a real one, or an encoded path trick
    # When it is sent percent-encoded as the path segment
    response = send(shared_local_api.port, page.target(product_id))

    # Then it never reaches a product: a 400 or 404 problem from the BFF, or a 4xx from the gateway
    check_answer(page, response, expected_status=expected_status_for(product_id), tally=seen_statuses)
    assert response.status != 200


BATCH_PATH = "/product-details"
id_lists = st.lists(st.one_of(well_formed_ids, arbitrary_ids.filter(lambda text: len(text) < 80)), max_size=60)


def expected_batch_status(joined: str) -> int:
    """The batch's own rule: 1 to 50 ids (duplicates included), each by the single route's rule."""
    ids = joined.split(",")
    if not joined or len(ids) > MAX_BATCH_IDS or any(expected_status_for(entity_id) == 400 for entity_id in ids):
        return 400
    return 200


@pytest.fixture(scope="module")
def batch() -> Operation:
    (operation,) = [operation for operation in operations_of(openapi_schema()) if operation.path_template == BATCH_PATH]
    assert {200, 400} <= set(operation.responses)
    assert "ids" in operation.query_parameters
    return operation


@settings(FUZZ, max_examples=40)
@given(ids=id_lists)
def test_any_list_of_ids_gets_the_batch_answer_its_rules_give(
    shared_local_api: LocalApi, batch: Operation, ids: list[str]
) -> None:
    # Given any list of ids, valid or not, known or not, duplicated or not
    joined = ",".join(ids)
    # When they are asked for in one batch
    response = send(shared_local_api.port, f"{BATCH_PATH}?ids={quote(joined, safe=',')}")
    if not response.answered_by_bff:
        assert 400 <= response.status < 500
        return
    # Then a valid list is a 200 with one item per distinct id, in order, each a page or the single route's 404
    assert response.status == expected_batch_status(joined), response.body[:300]
    if response.status != 200:
        problem_of(response)
        return
    body = BatchDetails.model_validate_json(response.body)
    assert [item.id for item in body.items] == list(dict.fromkeys(joined.split(",")))
    for item in body.items:
        assert item.status == (200 if item.id in FIXTURE_IDS else 404)
        assert (item.page is not None) == (item.status == 200)
