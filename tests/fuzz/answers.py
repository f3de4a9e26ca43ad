"""What every answer through the API must look like, and what the BFF's answer to an id should be."""

from __future__ import annotations

import json
import string
from collections import Counter
from urllib.parse import unquote

from bff.core.models import Problem, ProductDetails
from mockkit.catalogue import FIXTURE_IDS
from tests.fuzz.contract import Operation
from tests.fuzz.raw_http import CORRELATION_HEADER, RawResponse

BFF_STATUSES = frozenset({200, 400, 404, 405})
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:product-bff:problem:"
LEAKS = ("Traceback", "127.0.0.1", "http://")
MAX_ID_LENGTH = 64
_ID_FIRST = frozenset(string.ascii_letters + string.digits)
_ID_REST = _ID_FIRST | {"_", "-"}


def expected_status_for(product_id: str) -> int:
    """Written from the documented rule, not from the BFF's regex: 1 to 64 ASCII letters, digits, '_' or '-',
    starting with a letter or digit; valid ids outside the mocks' catalogue are unknown products."""
    valid = (
        0 < len(product_id) <= MAX_ID_LENGTH
        and product_id[0] in _ID_FIRST
        and all(character in _ID_REST for character in product_id)
    )
    if not valid:
        return 400
    return 200 if product_id in FIXTURE_IDS else 404


QUERY_PARAMETERS = ("include", "reviewsLimit")
SECTIONS = ("product", "reviews", "inventory")
DERIVED_FIELDS = frozenset({"reviewSummary", "availability", "meta"})
REVIEWS_LIMIT_MAX = 50


def expected_status_for_query(product_id: str, query: str) -> int:
    """Written from docs/contract.md's rules: only include and reviewsLimit, each once, names case-sensitive, values
    percent-decoded; include lists sections, each once; reviewsLimit is 1 to 50 without sign or leading zeros and
    needs reviews included. A page without the product section does not need the product to exist."""
    status = expected_status_for(product_id)
    if status == 400 or not query:
        return status
    values: dict[str, str] = {}
    for element in query.split("&"):
        name, _, value = element.partition("=")
        name = unquote(name)
        if name not in QUERY_PARAMETERS or name in values:
            return 400
        values[name] = unquote(value)
    include = values.get("include")
    sections = include.split(",") if include is not None else list(SECTIONS)
    if not set(sections) <= set(SECTIONS) or len(set(sections)) != len(sections):
        return 400
    limit = values.get("reviewsLimit")
    if limit is not None:
        well_formed = limit.isascii() and limit.isdigit() and not limit.startswith("0")
        if not well_formed or int(limit) > REVIEWS_LIMIT_MAX or "reviews" not in sections:
            return 400
    return 404 if status == 404 and "product" in sections else 200


def check_answer(
    operation: Operation, response: RawResponse, *, expected_status: int, tally: Counter[tuple[str, int]]
) -> None:
    tally["bff" if response.answered_by_bff else "gateway", response.status] += 1
    text = response.body.decode("utf-8", errors="replace")
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} in a {response.status} answer: {text[:300]!r}"
    if not response.answered_by_bff:
        assert 400 <= response.status < 500, f"the gateway answered {response.status}: {text[:300]!r}"
        return
    assert response.status in BFF_STATUSES
    assert response.status == expected_status, text[:300]
    if response.status == 200:
        _check_page(operation, response)
    else:
        _check_problem(operation, response)


def problem_of(response: RawResponse) -> Problem:
    return Problem.model_validate_json(response.body)


def _check_page(operation: Operation, response: RawResponse) -> None:
    documented = operation.responses[200]
    assert documented.model is ProductDetails
    assert response.content_type in documented.content_types
    body = json.loads(response.body)
    assert set(body) <= documented.fields
    ProductDetails.model_validate(body)


def _check_problem(operation: Operation, response: RawResponse) -> None:
    assert response.content_type == PROBLEM_MEDIA_TYPE
    body = json.loads(response.body)
    documented = operation.responses.get(response.status)
    if documented is not None:
        assert documented.model is Problem
        assert response.content_type in documented.content_types
        assert set(body) <= documented.fields
    problem = Problem.model_validate(body)
    assert problem.correlation_id == response.headers[CORRELATION_HEADER]
    assert problem.status == response.status
    assert problem.type.startswith(PROBLEM_TYPE_PREFIX)
