"""The SSRF guard: only the configured downstream origins can be reached."""

from __future__ import annotations

import httpx
import pytest

from bff.downstream.egress import AllowList, allowed_hosts_for, origin_of
from bff.downstream.http import HttpxTransport, OutboundHttp

BASE_URLS = ["https://abc123.execute-api.eu-west-1.amazonaws.com", "http://127.0.0.1:8081", "http://Localhost:8082/"]
ALLOWED = allowed_hosts_for(BASE_URLS)


def test_allow_list_is_the_origin_of_each_base_url() -> None:
    assert {
        "https://abc123.execute-api.eu-west-1.amazonaws.com:443",
        "http://127.0.0.1:8081",
        "http://localhost:8082",
    } == ALLOWED


ALLOWED_URLS = [
    "https://abc123.execute-api.eu-west-1.amazonaws.com/products/P001",
    "https://ABC123.execute-api.eu-west-1.amazonaws.com:443/products/P001",
    "http://127.0.0.1:8081/products/a%2Fb",
    "http://localhost:8082/reviews/P001",
]
DENIED_URLS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://169.254.170.2/v2/credentials",
    "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
    "http://127.0.0.1:8083/inventory/P001",
    "http://127.0.0.1/products/P001",
    "https://127.0.0.1:8081/products/P001",
    "http://user:pass@127.0.0.1:8081/products/P001",
    "http://127.0.0.1:8081@169.254.169.254/",
    "http://127.0.0.1:8081\\@169.254.169.254/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:8081/",
    "//127.0.0.1:8081/products/P001",
    "/products/P001",
    "http://127.0.0.1:99999/",
    "http://127.0.0.1:8081 /x",
    "https://abc123.execute-api.eu-west-1.amazonaws.com.evil.example/products/P001",
]


@pytest.mark.parametrize("url", ALLOWED_URLS)
def test_configured_origins_are_allowed(url: str) -> None:
    assert AllowList(ALLOWED).permits(url)


@pytest.mark.parametrize("url", DENIED_URLS)
def test_anything_else_is_denied(url: str) -> None:
    assert not AllowList(ALLOWED).permits(url)


def test_runtime_api_is_reachable_only_when_configured() -> None:
    url = "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"
    assert AllowList(allowed_hosts_for(["http://127.0.0.1:9001"])).permits(url)


@pytest.mark.anyio
async def test_the_client_refuses_other_origins_as_a_connection_error() -> None:
    # Given a client guarded by the allow-list
    reached: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        reached.append(str(request.url))
        return httpx.Response(200)

    client = OutboundHttp(
        HttpxTransport(httpx.MockTransport(answer)), None, connect_timeout_s=1.0, allow_list=AllowList(ALLOWED)
    )
    # When it is asked for the metadata service, then for a configured service
    with pytest.raises(httpx.ConnectError):
        await client.get("http://169.254.169.254/latest/meta-data/", {}, 1.0, service="product", max_body_bytes=64)
    reply = await client.get("http://127.0.0.1:8081/products/P001", {}, 1.0, service="product", max_body_bytes=64)
    # Then only the configured service was reached
    assert reply.status_code == 200
    assert reached == ["http://127.0.0.1:8081/products/P001"]


@pytest.mark.parametrize(
    "url",
    [
        *ALLOWED_URLS,
        *DENIED_URLS,
        "http://127.0.0.1:8081?x=/y",
        "http://127.0.0.1:8081#/",
        "http://127.0.0.1:8081/products/P\x00",
        "http://127.0.0.1:8081/products/P\x1f",
        "http://127.0.0.1:8081/products/P\x7f",
        "http://127.0.0.1:8081/products/" + "P" * 70_000,
        "HTTP://LOCALHOST:8082/reviews/P001",
        "http://[::1]:8081/products/P001",
    ],
)
def test_the_per_call_check_agrees_with_the_full_parse(url: str) -> None:
    # The client checks only the scheme and authority (cached), which must decide exactly as parsing the URL does
    assert AllowList(ALLOWED).permits(url) == (origin_of(url) in ALLOWED)


def test_the_per_call_check_reads_a_changing_list_each_time() -> None:
    origins: set[str] = set()
    allow_list = AllowList(lambda: origins)
    assert not allow_list.permits("http://127.0.0.1:8081/products/P001")
    origins.add("http://127.0.0.1:8081")
    assert allow_list.permits("http://127.0.0.1:8081/products/P001")


@pytest.mark.parametrize(
    "url",
    [
        httpx.URL("http://169.254.169.254/latest/meta-data/"),
        httpx.URL("http://127.0.0.1:8081@169.254.169.254/"),
        httpx.URL("http://127.0.0.1:0/products/P001"),
        httpx.URL("http://127.0.0.1:65536/products/P001"),
        httpx.URL("https://xn--ls8h.la/products/P001"),
    ],
)
def test_parsed_urls_outside_the_list_are_denied_without_raising(url: httpx.URL) -> None:
    assert origin_of(url) not in ALLOWED


def test_an_idna_host_is_compared_as_it_goes_on_the_wire() -> None:
    allowed = allowed_hosts_for(["https://xn--ls8h.la"])
    assert allowed == {"https://xn--ls8h.la:443"}
    assert origin_of(httpx.URL("https://xn--ls8h.la/products/P001")) in allowed
