"""Where SAM's local API emulation used to answer differently from a deployed HTTP API, found by the fuzz tests.
The local API now answers as HTTP API does; each case stays under test."""

from __future__ import annotations

import json

import pytest

from tests.fuzz.raw_http import send
from tests.support.local_api import LocalApi

pytestmark = pytest.mark.localapi

NOT_FOUND = {"message": "Not Found"}


@pytest.mark.parametrize("target", ["/nope", "/product-details", "/product-details/P001/extra", "/products/P001/extra"])
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
