"""HTTP API JWT authorizers, emulated: SAM's local API skips them, so routes would run with no token and no claims.

A route whose HttpApi event names a JWT authorizer (`Auth.Authorizer`, or the API's DefaultAuthorizer) is checked as
API Gateway documents it (http-api-jwt-authorizer.html, "Authorizing API requests with a JWT authorizer"):
the token is the identity source's value, bare or after "Bearer"; its algorithm and signature are checked with the
JWKS key its `kid` names (RS256 only); then `iss` equals the issuer, `aud` holds an audience (`client_id` is read only
when there is no `aud`), `exp` is in the future, `nbf` and `iat` are not; and, when the route has authorization
scopes, `scp` or `scope` holds one of them.

Refusals are API Gateway's own answers, not the function's:
- 401 `{"message":"Unauthorized"}`. Without a token, `www-authenticate: Bearer`; with one that fails,
  `Bearer scope="<route scopes>" error="invalid_token" error_description="..."`. AWS publishes one description
  ("the token does not have a valid audience", http-api-troubleshooting-jwt.html) and one more has been observed
  ("token contains an invalid number of segments"); the others are ours, in the same style.
- 403 `{"message":"Forbidden"}` for a valid token without the route's scopes, with
  `www-authenticate: Bearer scope="<route scopes>" error="insufficient_scope" error_description="expected scopes:
  [<route scopes>]"`, as captured from a deployed HTTP API.

An accepted request's event gets `requestContext.authorizer.jwt`: `claims`, each value a string as API Gateway
renders it (`render_claims`), and `scopes`, the token's scopes on a route with authorization scopes, else null.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeIs

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

ALGORITHM = "RS256"
# Where HttpApiGateway leaves an accepted request's authorizer context for the event constructor.
AUTHORIZER_CONTEXT_KEY = "localapi.authorizer_context"
UNAUTHORIZED_BODY = json.dumps({"message": "Unauthorized"}, separators=(",", ":")).encode()
FORBIDDEN_BODY = json.dumps({"message": "Forbidden"}, separators=(",", ":")).encode()
NO_AUTHORIZER = "NONE"
SEGMENTS = 3

type KeySource = Callable[[], KeySet]


class InvalidTokenError(Exception):
    """The token is refused; the message is the challenge's error_description."""


@dataclass(frozen=True)
class JwtAuthorizer:
    name: str
    issuer: str
    audiences: frozenset[str]
    keys: KeySource


@dataclass(frozen=True)
class Refusal:
    status: int
    challenge: str

    @property
    def status_line(self) -> str:
        return "401 Unauthorized" if self.status == 401 else "403 Forbidden"

    @property
    def body(self) -> bytes:
        return UNAUTHORIZED_BODY if self.status == 401 else FORBIDDEN_BODY

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(self.body))),
            ("www-authenticate", self.challenge),
        ]


@dataclass(frozen=True)
class Grant:
    claims: dict[str, str]
    scopes: list[str] | None

    def context(self) -> dict[str, Any]:
        return {"jwt": {"claims": self.claims, "scopes": self.scopes}}


@dataclass(frozen=True)
class RouteAuthorization:
    authorizer: JwtAuthorizer
    scopes: tuple[str, ...]

    def authorize(self, authorization: str | None, now: float | None = None) -> Grant | Refusal:
        token = bearer_token(authorization)
        if token is None:
            return Refusal(401, "Bearer")
        try:
            claims = verify(token, self.authorizer, time.time() if now is None else now)
        except InvalidTokenError as refused:
            return Refusal(401, self._challenge("invalid_token", str(refused)))
        token_scopes = scopes_of(claims)
        if not self.scopes:
            return Grant(render_claims(claims), None)
        if not set(token_scopes or ()) & set(self.scopes):
            expected = " ".join(self.scopes)
            return Refusal(403, self._challenge("insufficient_scope", f"expected scopes: [{expected}]"))
        return Grant(render_claims(claims), token_scopes)

    def _challenge(self, error: str, description: str) -> str:
        return f'Bearer scope="{" ".join(self.scopes)}" error="{error}" error_description="{description}"'


def bearer_token(authorization: str | None) -> str | None:
    """The identity source holds the token, bare or prefixed with "Bearer"; None when it holds nothing."""
    value = (authorization or "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def verify(token: str, authorizer: JwtAuthorizer, now: float) -> dict[str, Any]:
    """The token's claims, once its signature and every claim API Gateway checks hold; else InvalidTokenError."""
    if len(token.split(".")) != SEGMENTS:
        raise InvalidTokenError("token contains an invalid number of segments")
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError) as malformed:
        raise InvalidTokenError("the token is malformed") from malformed
    if header.get("alg") != ALGORITHM:
        raise InvalidTokenError("the token is not signed with a supported algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidTokenError("the token has no kid")
    try:
        key = authorizer.keys().get_by_kid(kid)
    except JoseError as unknown:
        raise InvalidTokenError("no key matches the token's kid") from unknown
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
    except BadSignatureError as forged:
        raise InvalidTokenError("the token's signature is invalid") from forged
    except (JoseError, ValueError) as malformed:
        raise InvalidTokenError("the token is malformed") from malformed
    _check_claims(claims, authorizer, now)
    return claims


def _check_claims(claims: Mapping[str, Any], authorizer: JwtAuthorizer, now: float) -> None:
    if claims.get("iss") != authorizer.issuer:
        raise InvalidTokenError("the token does not have a valid issuer")
    if not _audiences_of(claims) & authorizer.audiences:
        raise InvalidTokenError("the token does not have a valid audience")
    expires = claims.get("exp")
    if not _is_time(expires) or expires <= now:
        raise InvalidTokenError("the token has expired")
    not_before, issued_at = claims.get("nbf"), claims.get("iat")
    if not_before is not None and (not _is_time(not_before) or not_before > now):
        raise InvalidTokenError("the token is not valid yet")
    if issued_at is not None and (not _is_time(issued_at) or issued_at > now):
        raise InvalidTokenError("the token was issued in the future")


def _is_time(value: object) -> TypeIs[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _audiences_of(claims: Mapping[str, Any]) -> set[str]:
    """`aud` (a string or a list of strings) when present; `client_id` only when there is no `aud`."""
    if "aud" in claims:
        audience = claims["aud"]
        values = audience if isinstance(audience, list) else [audience]
        return {value for value in values if isinstance(value, str)}
    client_id = claims.get("client_id")
    return {client_id} if isinstance(client_id, str) else set()


def scopes_of(claims: Mapping[str, Any]) -> list[str] | None:
    """The token's scopes: `scp`, else `scope`; each a space-separated string or a list of strings."""
    for name in ("scp", "scope"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.split()
        if isinstance(value, list) and value:
            return [item for item in value if isinstance(item, str)]
    return None


def render_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Every claim as a string, as API Gateway hands them to the integration: strings as they are, numbers and
    booleans as JSON text, arrays as "[a b]" (items space-separated, not JSON), objects as JSON text; null claims
    are left out."""
    return {name: _render(value) for name, value in claims.items() if value is not None}


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(item if isinstance(item, str) else _json(item) for item in value) + "]"
    return _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def inject_authorizer_context(event: dict[str, Any], environ: Mapping[str, Any]) -> dict[str, Any]:
    """Put an accepted request's `requestContext.authorizer` into the event built for it."""
    context = environ.get(AUTHORIZER_CONTEXT_KEY)
    if context is not None:
        event.setdefault("requestContext", {})["authorizer"] = context
    return event


class JwksFile:
    """The local JWKS, read again whenever the file changes (a new key from `make token` is trusted at once);
    a missing or unreadable file is an empty key set, so every token is refused."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: int | None = None
        self._keys = KeySet([])

    def __call__(self) -> KeySet:
        try:
            stamp = self._path.stat().st_mtime_ns
        except OSError:
            return KeySet([])
        if stamp != self._stamp:
            try:
                self._keys = KeySet.import_key_set(json.loads(self._path.read_text()))
            except (OSError, ValueError, JoseError):
                self._keys = KeySet([])
            self._stamp = stamp
        return self._keys


def route_authorizations(
    template: Mapping[str, Any], parameters: Mapping[str, str], keys: KeySource
) -> dict[tuple[str, str, str], RouteAuthorization]:
    """(function, path, METHOD) -> its JWT authorization, for every HttpApi event that has one. `template` is
    parsed with its intrinsic functions as mappings ({"Ref": name}); a Ref is resolved from `parameters`."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    authorizers, defaults = _jwt_authorizers(resources, parameters, keys)
    by_route: dict[tuple[str, str, str], RouteAuthorization] = {}
    for function, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            properties = event.get("Properties") or {}
            api = _ref_name(properties.get("ApiId"))
            if event.get("Type") != "HttpApi" or api is None or "Path" not in properties:
                continue
            auth = properties.get("Auth") or {}
            name = auth.get("Authorizer") or defaults.get(api)
            authorizer = authorizers.get((api, name)) if name and name != NO_AUTHORIZER else None
            if authorizer is not None:
                scopes = auth.get("AuthorizationScopes") or authorizer[1]
                method = str(properties.get("Method", "ANY")).upper()
                by_route[function, properties["Path"], method] = RouteAuthorization(authorizer[0], tuple(scopes))
    return by_route


def _jwt_authorizers(
    resources: Mapping[str, Any], parameters: Mapping[str, str], keys: KeySource
) -> tuple[dict[tuple[str, str], tuple[JwtAuthorizer, list[str]]], dict[str, str]]:
    authorizers: dict[tuple[str, str], tuple[JwtAuthorizer, list[str]]] = {}
    defaults: dict[str, str] = {}
    for api, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        auth = (resource.get("Properties") or {}).get("Auth") or {}
        if isinstance(auth.get("DefaultAuthorizer"), str):
            defaults[api] = auth["DefaultAuthorizer"]
        for name, properties in (auth.get("Authorizers") or {}).items():
            configuration = properties.get("JwtConfiguration")
            if not isinstance(configuration, Mapping):
                continue
            authorizer = JwtAuthorizer(
                name=name,
                issuer=_resolve(configuration.get("issuer"), parameters),
                audiences=frozenset(_resolve(value, parameters) for value in _listed(configuration.get("audience"))),
                keys=keys,
            )
            authorizers[api, name] = (authorizer, list(properties.get("AuthorizationScopes") or []))
    return authorizers, defaults


def _listed(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else [value]


def _ref_name(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, Mapping) and isinstance(value.get("Ref"), str) else None


def _resolve(value: Any, parameters: Mapping[str, str]) -> str:
    if isinstance(value, str):
        return value
    name = _ref_name(value)
    if name is not None and name in parameters:
        return parameters[name]
    raise ValueError(f"cannot resolve {value!r} locally: give it a literal value or a parameter with a default")
