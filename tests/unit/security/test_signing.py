"""SigV4 for IAM-authorised downstream APIs, on the path production takes: `create_http_client` with
DOWNSTREAM_AUTH=iam builds the one OutboundHttp, whose `get` signs the request it hands to the transport. Each
signature is checked the way API Gateway checks it: recomputed from the request as it arrived."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bff.downstream.egress import AllowList
from bff.downstream.http import HttpxTransport, OutboundHttp, PerServiceTransport, create_http_client
from bff.downstream.reply import Reply
from bff.downstream.signing import downstream_auth
from bff.errors import ConfigurationError
from tests.support.settings import settings_for

pytestmark = pytest.mark.anyio

REGION = "eu-west-1"
ACCESS_KEY, SECRET_KEY, TOKEN = "AKIDTESTING", "testing-secret", "testing-session-token"
REPO = Path(__file__).resolve().parents[3]
API_HOST = "abc123.execute-api.eu-west-1.amazonaws.com"
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<credential>[^,]+), SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>\w+)"
)
SIGNATURE_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")


@pytest.fixture
def credentials_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Static keys with a session token, as Lambda gives its execution role; nothing else can answer first."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CREDENTIAL_EXPIRATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


def iam_http(host: str, sent: list[httpx.Request], auth: str = "iam") -> OutboundHttp:
    """The production client (DOWNSTREAM_AUTH=iam unless told), product service on `host`, recording transport."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    urls = {"product": f"https://{host}", "reviews": "http://reviews.test", "inventory": "http://inventory.test"}
    settings = settings_for(urls, downstream_auth=auth, aws_region=REGION)
    return create_http_client(settings, transport=HttpxTransport(httpx.MockTransport(answer)))


def recomputed(request: httpx.Request, session_token: str | None) -> tuple[str, str]:
    """The canonical request and signature botocore computes, as API Gateway does, from the request as it arrived:
    its wire path, the headers it names as signed and its x-amz-date."""
    match = AUTHORIZATION.fullmatch(request.headers["authorization"])
    assert match is not None
    signed_names = match["signed"].split(";")
    arrived = AWSRequest(
        method=request.method,
        url=f"https://{request.url.netloc.decode()}{request.url.raw_path.decode()}",
        headers={name: request.headers[name] for name in signed_names},
    )
    arrived.context["timestamp"] = request.headers["x-amz-date"]
    verifier = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, session_token), "execute-api", REGION)
    canonical = verifier.canonical_request(arrived)
    return canonical, verifier.signature(verifier.string_to_sign(arrived, canonical), arrived)


@pytest.mark.usefixtures("credentials_in_env")
@pytest.mark.parametrize("session_token", [TOKEN, None], ids=["role-session", "long-term-keys"])
async def test_a_get_to_our_api_carries_a_signature_over_the_path_as_sent(
    sent: list[httpx.Request], monkeypatch: pytest.MonkeyPatch, session_token: str | None
) -> None:
    # Given the production client in IAM mode, with or without a session token in the environment
    if session_token is None:
        monkeypatch.delenv("AWS_SESSION_TOKEN")
    async with iam_http(API_HOST, sent) as http:
        # When it GETs an id whose characters had to be percent-encoded ("a/b?c#d")
        await http.get(
            f"https://{API_HOST}/products/a%2Fb%3Fc%23d",
            {"x-correlation-id": "c-1"},
            1.0,
            service="product",
            max_body_bytes=1024,
        )
    (request,) = sent
    # Then the path went out encoded once
    assert request.url.raw_path == b"/products/a%2Fb%3Fc%23d"
    # And the signature is for our keys, region and API Gateway, over host and date (and the token, when there is one)
    match = AUTHORIZATION.fullmatch(request.headers["authorization"])
    assert match is not None
    amz_date = request.headers["x-amz-date"]
    assert match["credential"] == f"{ACCESS_KEY}/{amz_date[:8]}/{REGION}/execute-api/aws4_request"
    expected_signed = ["host", "x-amz-date"] + (["x-amz-security-token"] if session_token else [])
    assert match["signed"].split(";") == expected_signed
    assert request.headers.get("x-amz-security-token") == session_token
    # And it verifies against that wire path, encoded once more as SigV4 requires outside S3
    canonical, signature = recomputed(request, session_token)
    assert canonical.splitlines()[1] == "/products/a%252Fb%253Fc%2523d"
    assert match["sig"] == signature
    # And the caller's headers went along unsigned
    assert request.headers["x-correlation-id"] == "c-1"


@pytest.mark.usefixtures("credentials_in_env")
async def test_each_request_gets_a_signature_of_its_own(sent: list[httpx.Request]) -> None:
    async with iam_http(API_HOST, sent) as http:
        for path in ("/products/P001", "/products/P002"):
            await http.get(f"https://{API_HOST}{path}", {}, 1.0, service="product", max_body_bytes=1024)
    signatures = [recomputed(request, TOKEN)[1] for request in sent]
    assert [request.headers["authorization"].rsplit("=", 1)[1] for request in sent] == signatures
    assert len(set(signatures)) == 2


@pytest.mark.usefixtures("credentials_in_env")
@pytest.mark.parametrize(
    "host",
    [
        "reviews.example.com",
        "abc123.execute-api.us-east-1.amazonaws.com",
        "abc123.execute-api.eu-west-1.amazonaws.com.evil.com",
        "execute-api.eu-west-1.amazonaws.com",
        "abc123execute-api.eu-west-1.amazonaws.com",
    ],
    ids=["other-host", "other-region", "look-alike-suffix", "no-api-id", "look-alike-prefix"],
)
async def test_only_api_gateway_of_our_region_gets_credentials(sent: list[httpx.Request], host: str) -> None:
    # Given the production client in IAM mode, with a service configured on `host`
    async with iam_http(host, sent) as http:
        # When it GETs from that service
        await http.get(f"https://{host}/products/P001", {}, 1.0, service="product", max_body_bytes=1024)
    # Then the request went out without any signature or session token
    (request,) = sent
    assert request.url.host == host
    assert [name for name in SIGNATURE_HEADERS if name in request.headers] == []


@pytest.mark.usefixtures("credentials_in_env")
async def test_local_mode_signs_nothing_even_for_our_api(sent: list[httpx.Request]) -> None:
    async with iam_http(API_HOST, sent, auth="none") as http:
        await http.get(f"https://{API_HOST}/products/P001", {}, 1.0, service="product", max_body_bytes=1024)
    (request,) = sent
    assert [name for name in SIGNATURE_HEADERS if name in request.headers] == []


def test_local_mode_never_loads_botocore() -> None:
    # Given a fresh interpreter in local mode (DOWNSTREAM_AUTH unset)
    probe = (
        "import sys; from bff.downstream.http import create_http_client; from bff.config.settings import Settings; "
        "from bff.config.services import SERVICES, variable; "
        "urls = {variable(name, 'base_url'): 'http://127.0.0.1:1' for name in SERVICES}; "
        "create_http_client(Settings.from_env(urls)); "
        "print([name for name in ('botocore', 'botocore.auth', 'botocore.session') if name in sys.modules])"
    )
    # When the outbound client is built
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO / "functions" / "bff")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # Then botocore, its signer and its credential chain were never imported
    assert completed.stdout.strip() == "[]"


def test_iam_mode_needs_a_region() -> None:
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        downstream_auth("iam", region=None)


class RecordingPool:
    """A pool behind `Transport` (like the production aiohttp one) that records the headers of each request."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        *,
        connect_timeout_s: float,
        service: str,
        max_body_bytes: int,
    ) -> Reply:
        self.sent.append((url, dict(headers)))
        return Reply(200, {}, b"{}")

    async def aclose(self) -> None:
        pass


@pytest.mark.usefixtures("credentials_in_env")
async def test_signing_is_decided_per_origin_and_signed_calls_take_the_one_path() -> None:
    # Given the production client in IAM mode over a plain-values pool (no httpx objects on the way)
    pool = RecordingPool()
    signer = downstream_auth("iam", REGION)
    allowed = AllowList({f"https://{API_HOST}:443", "http://reviews.test:80"})
    http = OutboundHttp(PerServiceTransport({"product": pool}, pool), signer, connect_timeout_s=1, allow_list=allowed)
    # When it calls our API Gateway and a service elsewhere, twice each
    for _ in range(2):
        await http.get(f"https://{API_HOST}/products/a%2Fb", {}, 1.0, service="product", max_body_bytes=64)
        await http.get("http://reviews.test/reviews/P001", {}, 1.0, service="product", max_body_bytes=64)
    # Then every call reached the same pool; only the API's carry a signature, for the Host and path they went with
    assert [url for url, _ in pool.sent] == [
        f"https://{API_HOST}/products/a%2Fb",
        "http://reviews.test/reviews/P001",
    ] * 2
    for url, headers in pool.sent:
        if url.startswith("https://"):
            assert headers["host"] == API_HOST
            arrived = httpx.Request("GET", url, headers=headers)
            assert recomputed(arrived, TOKEN)[1] == headers["authorization"].rsplit("=", 1)[1]
        else:
            assert not any(name in headers for name in SIGNATURE_HEADERS)
