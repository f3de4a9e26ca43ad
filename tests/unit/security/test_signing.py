"""SigV4 for IAM-authorised downstream APIs, checked against an independent implementation of the algorithm."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bff.downstream.signing import SigV4Auth, downstream_auth
from bff.errors import ConfigurationError

REGION = "eu-west-1"
ACCESS_KEY, SECRET_KEY, TOKEN = "AKIDTESTING", "testing-secret", "testing-session-token"
REPO = Path(__file__).resolve().parents[3]
HOST = "abc123.execute-api.eu-west-1.amazonaws.com"


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CREDENTIAL_EXPIRATION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


def client(auth: httpx.Auth, sent: list[httpx.Request]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    return httpx.Client(transport=httpx.MockTransport(answer), auth=auth, headers={"x-correlation-id": "c-1"})


def reference_signature(request: httpx.Request, canonical_uri: str) -> str:
    """SigV4 from the AWS specification, written without botocore."""
    amz_date = request.headers["x-amz-date"]
    signed = {"host": request.headers["host"], "x-amz-date": amz_date, "x-amz-security-token": TOKEN}
    canonical_request = "\n".join(
        [
            "GET",
            canonical_uri,
            "",
            "".join(f"{name}:{value}\n" for name, value in sorted(signed.items())),
            ";".join(sorted(signed)),
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{REGION}/execute-api/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = f"AWS4{SECRET_KEY}".encode()
    for part in (amz_date[:8], REGION, "execute-api", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.usefixtures("fake_credentials")
def test_signature_covers_the_percent_encoded_path_exactly_as_sent(sent: list[httpx.Request]) -> None:
    # Given a signer using the credentials of the environment
    auth = SigV4Auth(REGION)
    # When an id containing an encoded slash is requested
    client(auth, sent).get(f"https://{HOST}/products/a%2Fb")
    (request,) = sent
    # Then the path went out encoded once
    assert request.url.raw_path == b"/products/a%2Fb"
    # And the signature is the one for that wire path, encoded once more as SigV4 requires outside S3
    authorization = request.headers["authorization"]
    expected = reference_signature(request, canonical_uri="/products/a%252Fb")
    assert authorization == (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{request.headers['x-amz-date'][:8]}/{REGION}/execute-api/"
        f"aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature={expected}"
    )
    # And neither the decoded nor the unencoded path would verify
    for wrong in ("/products/a/b", "/products/a%2Fb"):
        assert reference_signature(request, canonical_uri=wrong) != expected
    assert request.headers["x-amz-security-token"] == TOKEN
    assert request.headers["x-correlation-id"] == "c-1"


@pytest.mark.usefixtures("fake_credentials")
def test_each_request_gets_a_fresh_signature_from_cached_credentials(sent: list[httpx.Request]) -> None:
    auth = SigV4Auth(REGION)
    http = client(auth, sent)
    http.get(f"https://{HOST}/products/P001")
    http.get(f"https://{HOST}/inventory/P001")
    signatures = [re.search(r"Signature=(\w+)", request.headers["authorization"]) for request in sent]
    assert all(signatures)
    assert len({match.group(1) for match in signatures if match}) == 2


def test_no_signing_in_local_mode_and_botocore_is_not_loaded() -> None:
    # Given a fresh interpreter in local mode
    probe = (
        "import sys; from bff.downstream.signing import downstream_auth; "
        "print(downstream_auth('none', None), 'botocore.auth' in sys.modules, 'botocore.session' in sys.modules)"
    )
    # When the downstream auth is chosen
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO / "functions" / "bff")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # Then nothing signs, and botocore's signer and credential chain were never imported
    assert completed.stdout.split() == ["None", "False", "False"]


def test_iam_mode_needs_a_region() -> None:
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        downstream_auth("iam", region=None)


@pytest.mark.usefixtures("fake_credentials")
def test_iam_mode_signs_with_the_environment_credentials(sent: list[httpx.Request]) -> None:
    auth = downstream_auth("iam", region=REGION)
    assert auth is not None
    client(auth, sent).get(f"https://{HOST}/reviews/P001")
    assert f"Credential={ACCESS_KEY}/" in sent[0].headers["authorization"]
