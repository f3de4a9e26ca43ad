"""Where SAM's local API emulation used to answer differently from a deployed HTTP API, found by the fuzz tests.
The local API now answers as HTTP API does; each case stays under test."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import httpx
import pytest

from tests.fuzz.raw_http import send, send_bytes
from tests.support.forged_tokens import claims_for, signed
from tests.support.local_api import LocalApi
from tools import local_jwt

pytestmark = pytest.mark.localapi

NOT_FOUND = {"message": "Not Found"}


@pytest.mark.parametrize("target", ["/nope", "/product-details/P001/extra", "/carts", "/product-details/P001/reviews"])
def test_an_unmatched_route_gets_http_apis_not_found(shared_local_api: LocalApi, target: str) -> None:
    # Given a path that no route of the template matches
    # When it is requested
    response = send(shared_local_api.port, target)

    # Then the gateway answers 404 Not Found, as HTTP API does (not REST API's 403 Missing Authentication Token)
    assert (response.status, json.loads(response.body)) == (404, NOT_FOUND)
    assert response.content_type == "application/json"
    assert not response.answered_by_bff


@pytest.mark.parametrize("encoded_id", ["..%2Fadmin", "%2FP001", "P001%2F", "%2e%2e%2fadmin"])
def test_an_encoded_slash_stays_in_the_path_parameter_and_reaches_the_bff(
    shared_local_api: LocalApi, encoded_id: str
) -> None:
    # Given an id with a percent-encoded slash in it
    # When its page is requested
    response = send(shared_local_api.port, f"/product-details/{encoded_id}")

    # Then the BFF itself refuses it with its 400 problem: no redirect, and no emulator address in the answer
    assert response.status == 400
    assert response.answered_by_bff
    assert json.loads(response.body)["type"] == "urn:product-bff:problem:invalid-parameter"
    assert "location" not in response.headers
    assert b"127.0.0.1" not in response.body


def test_an_empty_segment_is_not_merged_into_a_redirect(shared_local_api: LocalApi) -> None:
    # Given a path with "//", which werkzeug would merge and 308-redirect to its own address
    # When it is requested
    response = send(shared_local_api.port, "/product-details//P001")

    # Then it is answered where it was asked, without a redirect to the emulator's address
    assert not 300 <= response.status < 400
    assert "location" not in response.headers


def test_head_on_a_get_only_route_is_not_found(shared_local_api: LocalApi) -> None:
    # Given the page route, declared for GET only
    # When it is requested with HEAD
    response = send(shared_local_api.port, "/product-details/P001", method="HEAD")

    # Then HTTP API's answer for a method no route declares: 404, and no function ran
    assert response.status == 404
    assert response.body == b""
    assert not response.answered_by_bff


def test_a_double_encoded_id_is_decoded_once_and_refused(shared_local_api: LocalApi) -> None:
    # Given P001 with its digits encoded twice (once is /product-details/P%30%30%31, which is P001)
    # When its page is requested through the local API
    response = send(shared_local_api.port, "/product-details/P%2530%2530%2531")

    # Then the BFF sees "P%30%30%31", as behind API Gateway, and refuses it: it never serves P001
    assert response.status == 400
    assert response.answered_by_bff
    assert json.loads(response.body)["type"] == "urn:product-bff:problem:invalid-parameter"


def test_a_once_encoded_id_is_the_id(shared_local_api: LocalApi) -> None:
    response = send(shared_local_api.port, "/product-details/P%30%30%31")

    assert response.status == 200
    assert json.loads(response.body)["product"]["id"] == "P001"


@pytest.mark.parametrize(
    ("target", "seen"), [("/products/P%2530%2530%2531", "P%30%30%31"), ("/carts/%2562ob", "%62ob")]
)
def test_a_mock_behind_the_local_api_decodes_its_id_once(shared_local_api: LocalApi, target: str, seen: str) -> None:
    # When a mock's route is called with a double-encoded id (a user "%62ob" is not bob)
    response = send(shared_local_api.port, target)

    # Then the mock judges the id decoded once: not a known product, not bob's cart
    assert response.status in {400, 404}
    assert repr(seen) in json.loads(response.body)["detail"]


def test_a_body_that_is_not_utf8_reaches_the_cart_mock(shared_local_api: LocalApi) -> None:
    # When a write's JSON body is not UTF-8
    response = send_bytes(
        shared_local_api.port,
        b"/carts/bob/items",
        method="POST",
        body=b'{"productId": "P\xff01", "quantity": 1}',
        headers={"Content-Type": "application/json", "Idempotency-Key": "not-utf8-1"},
    )

    # Then the mock itself refuses it (base64-decoded by Mangum), rather than the emulator answering 502
    assert response.status == 400
    assert json.loads(response.body)["detail"] == "The body is not valid JSON, or nests too deeply."


type Bearer = Callable[[str], dict[str, str]]


@pytest.fixture
def bearer(shared_local_api: LocalApi) -> Bearer:
    """The Authorization header of a valid token for a shopper, signed with the local API's key."""
    key = local_jwt.ensure_key(shared_local_api.stdout_path.parent / "jwt")
    identity = local_jwt.local_identity(os.environ)
    return lambda sub: {"Authorization": f"Bearer {signed(key, claims_for(identity, sub=sub))}"}


def test_a_signed_in_user_whose_sub_encodes_another_never_reads_their_cart(
    shared_local_api: LocalApi, bearer: Bearer
) -> None:
    # Given bob, with an item in his cart
    added = httpx.post(
        f"{shared_local_api.base_url}/cart/items",
        headers=bearer("bob") | {"Idempotency-Key": f"bob-{time.time_ns()}"},
        json={"productId": "P001", "quantity": 1},
        timeout=10,
    )
    assert added.status_code == 201

    # When a user whose sub is "%62ob" (bob with a letter encoded) reads their cart
    response = httpx.get(f"{shared_local_api.base_url}/cart", headers=bearer("%62ob"), timeout=10)

    # Then the cart service is asked for "%62ob" (which it refuses), never for bob
    assert response.status_code >= 400
    assert "P001" not in response.text
    assert "GET /carts/%2562ob 400" in shared_local_api.stderr()


def test_a_cart_write_whose_body_is_not_utf8_gets_the_bffs_400(shared_local_api: LocalApi, bearer: Bearer) -> None:
    # When a signed-in write's JSON body is not UTF-8
    response = send_bytes(
        shared_local_api.port,
        b"/cart/items",
        method="POST",
        body=b'{"productId": "P\xff01", "quantity": 1}',
        headers=bearer("alice") | {"Content-Type": "application/json", "Idempotency-Key": f"k-{time.time_ns()}"},
    )

    # Then the BFF gets it (base64) and answers its own problem, not the emulator's 502
    assert response.status == 400
    assert response.answered_by_bff
    assert json.loads(response.body)["type"] == "urn:product-bff:problem:invalid-request"


@pytest.mark.parametrize(
    "target",
    [
        b"/product-details/%252F",
        b"/product-details/..%252Fadmin",
        b"/product-details/P001%00",
        b"/product-details/P001%0D%0AX-Injected:%201",
        b"/product-details/P\xff01",
        b"/product-details/P%FF01",
        b"/product-details/P001?include=\xff",
        b"/product-details/P001?include=%FF",
        b"/product-details/P001?reviewsLimit=%00",
        b"/product-details?ids=P001,P\xff02",
    ],
)
def test_an_encoded_or_undecodable_request_gets_the_bffs_400(shared_local_api: LocalApi, target: bytes) -> None:
    # When a path or query carries double escapes, NUL, CRLF or bytes that are not UTF-8 (raw or escaped)
    response = send_bytes(shared_local_api.port, target)

    # Then the BFF refuses it with its 400 problem: never a 5xx, an emulator answer or an injected header
    assert response.status == 400, response.body[:300]
    assert response.answered_by_bff
    assert response.content_type.startswith("application/problem+json")
    assert "x-injected" not in response.headers
