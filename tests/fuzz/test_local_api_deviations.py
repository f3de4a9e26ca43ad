"""Where SAM's local API emulation answers differently from API Gateway, found by the fuzz tests. Strict xfails:
when the emulation is fixed these start passing, and the marker must go."""

from __future__ import annotations

import pytest

from tests.fuzz.raw_http import send
from tests.support.local_api import LocalApi

pytestmark = pytest.mark.localapi


@pytest.mark.xfail(
    strict=True,
    reason="werkzeug merges '//' and 308-redirects to http://127.0.0.1:<port>/product-details/P001",
)
def test_an_id_with_a_leading_slash_is_refused_without_a_redirect(shared_local_api: LocalApi) -> None:
    # Given an id of "/P001", percent-encoded; the emulation decodes %2F before routing
    # When it is requested
    response = send(shared_local_api.port, "/product-details/%2FP001")

    # Then it is refused with a 4xx, not redirected to the valid id
    assert 400 <= response.status < 500


@pytest.mark.xfail(
    strict=True,
    reason="Flask adds HEAD to every GET route and SAM then finds no Lambda for it: KeyError, 502",
)
def test_head_on_the_page_is_not_a_server_error(shared_local_api: LocalApi) -> None:
    # Given the page route, declared for GET only
    # When it is requested with HEAD
    response = send(shared_local_api.port, "/product-details/P001", method="HEAD")

    # Then the answer is a client error, not a 5xx
    assert response.status < 500
