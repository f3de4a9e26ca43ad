"""The local API's JWT authorizer, in process: API Gateway's checks, its refusals and the claims it hands on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from localapi.http_api import HttpApiGateway, HttpApiRoute
from localapi.jwt_authorizer import (
    AUTHORIZER_CONTEXT_KEY,
    Grant,
    JwksFile,
    JwtAuthorizer,
    Refusal,
    RouteAuthorization,
    inject_authorizer_context,
    render_claims,
    route_authorizations,
)
from tests.localapi.test_http_api import Recorder, call, project_template
from tests.support.forged_tokens import FORGERY_NAMES, claims_for, forgeries, signed
from tools import local_jwt
from tools.local_jwt import LocalIdentity

IDENTITY = LocalIdentity(issuer="https://issuer.test", audience="bff-test")


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("jwt")
    local_jwt.ensure_key(directory)
    return directory


@pytest.fixture(scope="module")
def key(key_dir: Path) -> RSAKey:
    return local_jwt.ensure_key(key_dir)


def route(key_dir: Path, *scopes: str) -> RouteAuthorization:
    authorizer = JwtAuthorizer(
        "ShopperJwt", IDENTITY.issuer, frozenset({IDENTITY.audience}), JwksFile(key_dir / "jwks.json")
    )
    return RouteAuthorization(authorizer, scopes)


def test_a_valid_token_with_the_scope_is_granted_with_its_claims_as_strings(key_dir: Path, key: RSAKey) -> None:
    # Given a cart:read route and alice's token with both cart scopes
    token = signed(key, claims_for(IDENTITY))

    # When it is authorized, with the Bearer prefix
    outcome = route(key_dir, "cart:read").authorize(f"Bearer {token}")

    # Then it is granted: every claim a string, and the token's scopes listed
    assert isinstance(outcome, Grant)
    assert outcome.claims["sub"] == "alice"
    assert outcome.claims["exp"].isdigit()
    assert all(isinstance(value, str) for value in outcome.claims.values())
    assert outcome.scopes == ["cart:read", "cart:write"]


def test_a_bare_token_is_accepted_as_the_identity_source_may_hold_only_the_token(key_dir: Path, key: RSAKey) -> None:
    assert isinstance(route(key_dir, "cart:read").authorize(signed(key, claims_for(IDENTITY))), Grant)


def test_client_id_stands_for_the_audience_only_when_there_is_no_aud(key_dir: Path, key: RSAKey) -> None:
    # Given a Cognito-style access token: no aud, the app client in client_id
    cognito_style = signed(key, claims_for(IDENTITY, aud=None, client_id=IDENTITY.audience))
    # And a token whose aud is wrong but whose client_id is right
    wrong_aud = signed(key, claims_for(IDENTITY, aud="other", client_id=IDENTITY.audience))

    # Then the first is granted and the second refused, as aud wins when present
    assert isinstance(route(key_dir).authorize(cognito_style), Grant)
    assert isinstance(route(key_dir).authorize(wrong_aud), Refusal)


def test_an_audience_list_needs_one_match(key_dir: Path, key: RSAKey) -> None:
    token = signed(key, claims_for(IDENTITY, aud=["other", IDENTITY.audience]))
    assert isinstance(route(key_dir).authorize(token), Grant)


@pytest.mark.parametrize("name", FORGERY_NAMES)
def test_each_forgery_is_refused_with_401_invalid_token(key_dir: Path, key: RSAKey, name: str) -> None:
    # Given a forged or broken token
    token = forgeries(key, IDENTITY)[name]()

    # When it is presented to a route
    outcome = route(key_dir, "cart:read").authorize(f"Bearer {token}")

    # Then API Gateway's 401 comes back, naming invalid_token
    assert isinstance(outcome, Refusal)
    assert (outcome.status, outcome.body) == (401, b'{"message":"Unauthorized"}')
    assert outcome.challenge.startswith('Bearer scope="cart:read" error="invalid_token" error_description="')


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   "])
def test_no_token_gets_a_bare_bearer_challenge(key_dir: Path, header: str | None) -> None:
    outcome = route(key_dir, "cart:read").authorize(header)
    assert isinstance(outcome, Refusal)
    assert (outcome.status, outcome.challenge) == (401, "Bearer")


def test_the_published_descriptions_are_used(key_dir: Path, key: RSAKey) -> None:
    wrong_audience = signed(key, claims_for(IDENTITY, aud="someone-else"))
    assert route(key_dir).authorize(wrong_audience) == Refusal(
        401, 'Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience"'
    )
    assert route(key_dir).authorize("a.b") == Refusal(
        401, 'Bearer scope="" error="invalid_token" error_description="token contains an invalid number of segments"'
    )


@pytest.mark.parametrize("scopes", [{"scope": "cart:read"}, {"scope": None}, {"scope": None, "scp": ["orders:read"]}])
def test_a_valid_token_without_the_routes_scope_is_forbidden(key_dir: Path, key: RSAKey, scopes: Any) -> None:
    # Given a cart:write route and a valid token without cart:write
    token = signed(key, claims_for(IDENTITY, **scopes))

    # When it is authorized
    outcome = route(key_dir, "cart:write").authorize(token)

    # Then API Gateway's 403 comes back, with the scopes the route expects
    assert outcome == Refusal(
        403, 'Bearer scope="cart:write" error="insufficient_scope" error_description="expected scopes: [cart:write]"'
    )
    assert outcome.body == b'{"message":"Forbidden"}'


def test_scp_as_a_list_holds_scopes_too(key_dir: Path, key: RSAKey) -> None:
    outcome = route(key_dir, "cart:write").authorize(signed(key, claims_for(IDENTITY, scope=None, scp=["cart:write"])))
    assert isinstance(outcome, Grant)
    assert outcome.scopes == ["cart:write"]


def test_a_route_without_scopes_hands_on_null_scopes(key_dir: Path, key: RSAKey) -> None:
    outcome = route(key_dir).authorize(signed(key, claims_for(IDENTITY)))
    assert isinstance(outcome, Grant)
    assert outcome.context()["jwt"]["scopes"] is None


def test_claims_are_rendered_as_api_gateway_renders_them() -> None:
    # Given claims of every JSON type
    claims = {
        "sub": "alice",
        "exp": 1787996002,
        "ratio": 1.5,
        "email_verified": True,
        "cognito:groups": ["admin", "buyers"],
        "mixed": ["a", 1, True],
        "address": {"country": "DE"},
        "nothing": None,
    }

    # When they are rendered for the event
    # Then each is a string: arrays as "[a b]", other non-strings as JSON text, nulls left out
    assert render_claims(claims) == {
        "sub": "alice",
        "exp": "1787996002",
        "ratio": "1.5",
        "email_verified": "true",
        "cognito:groups": "[admin buyers]",
        "mixed": "[a 1 true]",
        "address": '{"country":"DE"}',
    }


def test_the_event_gets_the_claims_in_request_context_authorizer_jwt(key_dir: Path, key: RSAKey) -> None:
    # Given alice's granted request
    outcome = route(key_dir, "cart:read").authorize(f"Bearer {signed(key, claims_for(IDENTITY, groups=['a', 'b']))}")
    assert isinstance(outcome, Grant)
    event = {"version": "2.0", "requestContext": {"requestId": "r1"}}

    # When SAM's event is completed with the gateway's context
    inject_authorizer_context(event, {AUTHORIZER_CONTEXT_KEY: outcome.context()})

    # Then requestContext.authorizer.jwt holds the claims as strings and the scopes as a list
    jwt_context = event["requestContext"]["authorizer"]["jwt"]  # type: ignore[index]
    assert jwt_context["claims"]["sub"] == "alice"
    assert jwt_context["claims"]["iss"] == IDENTITY.issuer
    assert jwt_context["claims"]["groups"] == "[a b]"
    assert isinstance(jwt_context["claims"]["iat"], str)
    assert jwt_context["scopes"] == ["cart:read", "cart:write"]
    assert event["requestContext"]["requestId"] == "r1"  # type: ignore[index]


def test_an_event_of_a_public_route_gets_no_authorizer() -> None:
    event: dict[str, Any] = {"requestContext": {}}
    assert inject_authorizer_context(event, {}) == {"requestContext": {}}


def test_the_template_protects_the_cart_routes_only() -> None:
    # Given the project's template, with its parameter defaults
    parameters = local_jwt.template_parameter_defaults()

    # When its routes' authorizers are read
    authorizations = route_authorizations(project_template(), parameters, lambda: pytest.fail("no key is read"))

    # Then the cart routes need ShopperJwt with their scopes, and the product page needs nothing
    assert set(authorizations) == {("CartFunction", "/cart", "GET"), ("CartFunction", "/cart/items", "POST")}
    read, write = authorizations["CartFunction", "/cart", "GET"], authorizations["CartFunction", "/cart/items", "POST"]
    assert (read.scopes, write.scopes) == (("cart:read",), ("cart:write",))
    assert read.authorizer.name == "ShopperJwt"
    assert read.authorizer.issuer == parameters["JwtIssuer"]
    assert read.authorizer.audiences == {parameters["JwtAudience"]}


def test_a_default_authorizer_covers_routes_unless_they_say_none() -> None:
    template = {
        "Resources": {
            "Api": {
                "Type": "AWS::Serverless::HttpApi",
                "Properties": {
                    "Auth": {
                        "DefaultAuthorizer": "Jwt",
                        "Authorizers": {"Jwt": {"JwtConfiguration": {"issuer": "https://i", "audience": ["a"]}}},
                    }
                },
            },
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "Private": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}, "Path": "/p"}},
                        "Public": {
                            "Type": "HttpApi",
                            "Properties": {"ApiId": {"Ref": "Api"}, "Path": "/o", "Auth": {"Authorizer": "NONE"}},
                        },
                    }
                },
            },
        }
    }
    assert set(route_authorizations(template, {}, JwksFile(Path("/nonexistent")))) == {("Fn", "/p", "ANY")}


def test_a_new_key_in_the_jwks_file_is_trusted_without_a_restart(tmp_path: Path) -> None:
    # Given the authorizer reading a key directory, and a token from its key
    keys = JwksFile(tmp_path / "jwks.json")
    assert len(keys().keys) == 0
    token = signed(local_jwt.ensure_key(tmp_path), claims_for(IDENTITY))
    authorizer = JwtAuthorizer("J", IDENTITY.issuer, frozenset({IDENTITY.audience}), keys)

    # When the token is checked after the key appeared
    # Then it is granted
    assert isinstance(RouteAuthorization(authorizer, ()).authorize(token), Grant)


def test_the_gateway_refuses_before_the_function_and_passes_the_context_after(key_dir: Path, key: RSAKey) -> None:
    # Given the cart route behind the gateway
    seen: list[dict[str, Any]] = []

    class Function(Recorder):
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            seen.append(environ.get(AUTHORIZER_CONTEXT_KEY, {}))
            return super().__call__(environ, start_response)

    cart = HttpApiRoute.of(["GET"], "/cart", "BffFunction", None, route(key_dir, "cart:read"))
    gateway = HttpApiGateway(Function(), [cart])

    # When it is called without a token, then with one
    refused = call(gateway, "GET", "/cart")
    granted = call(gateway, "GET", "/cart", authorization=f"Bearer {signed(key, claims_for(IDENTITY))}")

    # Then the function ran once, for the token, and got its claims
    assert refused[0] == "401 Unauthorized"
    assert refused[1]["www-authenticate"] == "Bearer"
    assert json.loads(refused[2]) == {"message": "Unauthorized"}
    assert granted[0] == "200 OK"
    assert [context["jwt"]["claims"]["sub"] for context in seen] == ["alice"]
