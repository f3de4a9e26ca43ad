"""The signed-in routes through the real local API: its JWT authorizer refuses what API Gateway refuses, lets a
valid token through to the function, and hands the function the claims; the product page stays public."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.support.forged_tokens import FORGERY_NAMES, claims_for, forgeries, signed
from tests.support.local_api import LocalApi, launch, running_local_api, stop, wait_until_ready
from tests.support.mock_processes import free_port
from tests.support.tooling import APP_PYTHON
from tools import local_jwt
from tools.local_jwt import LocalIdentity

pytestmark = pytest.mark.localapi

UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jwt")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, key_dir: Path) -> Iterator[LocalApi]:
    # The local API creates the key on start, as `make dev` does on first use.
    with running_local_api(tmp_path_factory.mktemp("localapi"), {"LOCAL_JWT_DIR": str(key_dir)}) as running:
        yield running


@pytest.fixture(scope="module")
def key(api: LocalApi, key_dir: Path) -> RSAKey:
    return local_jwt.ensure_key(key_dir)


@pytest.fixture(scope="module")
def identity() -> LocalIdentity:
    return local_jwt.local_identity(os.environ)


def get_cart(api: LocalApi, authorization: str | None = None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return httpx.get(f"{api.base_url}/cart", headers=headers, timeout=10)


def test_the_local_api_made_the_key_it_trusts(api: LocalApi, key_dir: Path) -> None:
    assert (key_dir / "private.pem").exists()
    assert json.loads((key_dir / "jwks.json").read_text())["keys"]
    assert "JWT authorizer ShopperJwt emulated" in api.stderr()


def test_a_valid_token_with_the_scope_reaches_the_function(api: LocalApi, key: RSAKey, identity: LocalIdentity) -> None:
    # Given alice's token with cart:read
    token = signed(key, claims_for(identity, scope="cart:read"))

    # When she asks for her cart
    response = get_cart(api, f"Bearer {token}")

    # Then the gateway let it through with her claims: the BFF answered her cart, for her eyes only
    assert response.status_code == 200
    assert response.json()["meta"] == {"degraded": []}
    assert response.headers["cache-control"] == "private, no-store"
    assert "www-authenticate" not in response.headers


def test_a_token_from_make_token_reaches_the_function(api: LocalApi, key_dir: Path) -> None:
    # Given a token as `make token SUB=alice SCOPES="cart:read cart:write"` prints it, from the same key directory
    token = local_jwt.mint(
        local_jwt.ensure_key(key_dir),
        subject="alice",
        scopes=["cart:read", "cart:write"],
        identity=local_jwt.local_identity(os.environ),
    )

    # When it is used on both cart routes
    read = get_cart(api, f"Bearer {token}")
    write = httpx.post(f"{api.base_url}/cart/items", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    # Then neither is refused by the gateway: the BFF answers the cart, and refuses the keyless, bodiless add itself
    assert read.status_code == 200
    assert write.status_code == 400
    assert write.headers["content-type"] == "application/problem+json"


def test_the_documented_cart_flow_needs_nothing_but_the_local_api(api: LocalApi, key_dir: Path) -> None:
    # Given the local API as `make dev` starts it (its own moto server and tables; nothing started by hand), and a
    # token as docs/local-api.md's cart flow mints it
    token = local_jwt.mint(
        local_jwt.ensure_key(key_dir),
        subject="cart-flow-reader",
        scopes=["cart:read", "cart:write"],
        identity=local_jwt.local_identity(os.environ),
    )
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "7c1e6a52-first-add"}

    # When the documented requests are sent: an add, the same add again (a client retry), then the cart
    first = httpx.post(
        f"{api.base_url}/cart/items", headers=headers, json={"productId": "P001", "quantity": 1}, timeout=10
    )
    retry = httpx.post(
        f"{api.base_url}/cart/items", headers=headers, json={"productId": "P001", "quantity": 1}, timeout=10
    )
    cart = get_cart(api, f"Bearer {token}")

    # Then the add is stored once and the retry replays its answer byte for byte
    assert first.status_code == 201, first.text
    assert first.headers["cache-control"] == "private, no-store"
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    assert [(item["productId"], item["quantity"]) for item in cart.json()["items"]] == [("P001", 1)]


@pytest.mark.parametrize("name", FORGERY_NAMES)
def test_a_forged_token_gets_401(api: LocalApi, key: RSAKey, identity: LocalIdentity, name: str) -> None:
    # Given a forged or broken token
    token = forgeries(key, identity)[name]()

    # When it is used
    response = get_cart(api, f"Bearer {token}")

    # Then the gateway refuses it as HTTP API does
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"].startswith('Bearer scope="cart:read" error="invalid_token" ')


def test_no_authorization_header_gets_401(api: LocalApi) -> None:
    response = get_cart(api)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_wrong_scope_gets_403(api: LocalApi, key: RSAKey, identity: LocalIdentity) -> None:
    # Given a valid token that may only read the cart
    token = signed(key, claims_for(identity, scope="cart:read"))

    # When it is used to add an item
    response = httpx.post(f"{api.base_url}/cart/items", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    # Then the gateway forbids it, naming the scope the route expects
    assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert response.headers["www-authenticate"] == (
        'Bearer scope="cart:write" error="insufficient_scope" error_description="expected scopes: [cart:write]"'
    )


def test_the_product_page_stays_public(api: LocalApi) -> None:
    # Given no token at all, and then a broken one
    # When the product page is asked for
    # Then it is served either way: it has no authorizer
    assert httpx.get(f"{api.base_url}/product-details/P001", timeout=10).status_code == 200
    broken = httpx.get(f"{api.base_url}/product-details/P001", headers={"Authorization": "Bearer x"}, timeout=10)
    assert broken.status_code == 200


ECHO_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  JwtIssuer:
    Type: String
    Default: https://issuer.echo.test
  JwtAudience:
    Type: String
    Default: echo-audience
Resources:
  EchoApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          EchoJwt:
            IdentitySource: "$request.header.Authorization"
            JwtConfiguration:
              issuer: !Ref JwtIssuer
              audience: [!Ref JwtAudience]
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.13
      Events:
        Me:
          Type: HttpApi
          Properties:
            ApiId: !Ref EchoApi
            Path: /me
            Method: GET
            Auth:
              Authorizer: EchoJwt
              AuthorizationScopes: [profile:read]
"""


def test_the_function_gets_the_claims_as_strings_in_its_event(tmp_path: Path) -> None:
    # Given a function behind a JWT authorizer that answers with its event's requestContext.authorizer
    (tmp_path / "template.yaml").write_text(ECHO_TEMPLATE)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text(
        textwrap.dedent("""
        import json

        def handler(event, context):
            return {"statusCode": 200, "body": json.dumps(event["requestContext"].get("authorizer"))}
        """)
    )
    key_dir = tmp_path / "jwt"
    extra_env = {"LOCAL_WORKER_PYTHON": str(APP_PYTHON), "LOCAL_JWT_DIR": str(key_dir), "JWT_AUDIENCE": "override"}
    api = launch(free_port(), tmp_path, extra_env, template=tmp_path / "template.yaml")
    try:
        wait_until_ready(api)
        identity = LocalIdentity(issuer="https://issuer.echo.test", audience="override")
        claims = claims_for(identity, scope="profile:read other", groups=["admin", "buyers"], verified=True)
        token = signed(local_jwt.ensure_key(key_dir), claims)

        # When it is called with a valid token
        response = httpx.get(f"{api.base_url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    finally:
        stop(api)

    # Then its event carried every claim as a string, arrays as API Gateway renders them, and the token's scopes
    assert response.status_code == 200
    jwt_context = response.json()["jwt"]
    assert jwt_context["scopes"] == ["profile:read", "other"]
    assert jwt_context["claims"] == {
        "iss": "https://issuer.echo.test",
        "aud": "override",
        "sub": "alice",
        "iat": str(claims["iat"]),
        "nbf": str(claims["nbf"]),
        "exp": str(claims["exp"]),
        "scope": "profile:read other",
        "groups": "[admin buyers]",
        "verified": "true",
    }
