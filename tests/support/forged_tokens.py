"""Tokens for the JWT authorizer's tests: a valid one from the local key, and forgeries that must each get 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from tools.local_jwt import LocalIdentity

LIFETIME_S = 3600
FORGERY_NAMES = (
    "alg none",
    "HS256 keyed with the public key",
    "the wrong key with the same kid",
    "a payload changed after signing",
    "an unknown kid",
    "no kid",
    "the wrong issuer",
    "the wrong audience",
    "no audience and the wrong client_id",
    "expired",
    "no exp",
    "not yet valid",
    "issued in the future",
    "a truncated signature",
    "truncated to half",
    "not a JWT",
)


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def claims_for(identity: LocalIdentity, scope: str | None = "cart:read cart:write", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": identity.issuer,
        "aud": identity.audience,
        "sub": "alice",
        "iat": now,
        "nbf": now,
        "exp": now + LIFETIME_S,
        "scope": scope,
    }
    return {name: value for name, value in (claims | overrides).items() if value is not None}


def signed(key: RSAKey, claims: dict[str, Any], kid: str | None = "<the key's>") -> str:
    header = {"alg": "RS256"} | ({"kid": key.kid if kid == "<the key's>" else kid} if kid is not None else {})
    return jwt.encode(header, claims, key, algorithms=["RS256"])


def forgeries(key: RSAKey, identity: LocalIdentity) -> dict[str, Callable[[], str]]:
    """name -> a token the authorizer must refuse with 401 (built when called, so times are fresh)."""
    now = int(time.time())

    def alg_none() -> str:
        return f"{_segment({'alg': 'none', 'kid': key.kid})}.{_segment(claims_for(identity))}."

    def hs256_with_the_public_key() -> str:
        # The algorithm-confusion attack: HMAC keyed with the published public key.
        signing_input = f"{_segment({'alg': 'HS256', 'kid': key.kid})}.{_segment(claims_for(identity))}"
        secret = key.as_pem(private=False)
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    def wrong_key_same_kid() -> str:
        impostor = RSAKey.generate_key(2048, private=True)
        return signed(impostor, claims_for(identity), kid=key.kid)

    def tampered_payload() -> str:
        header, _, signature = signed(key, claims_for(identity, scope="cart:read")).split(".")
        return f"{header}.{_segment(claims_for(identity, sub='bob'))}.{signature}"

    valid = signed(key, claims_for(identity))
    made: dict[str, Callable[[], str]] = {
        "alg none": alg_none,
        "HS256 keyed with the public key": hs256_with_the_public_key,
        "the wrong key with the same kid": wrong_key_same_kid,
        "a payload changed after signing": tampered_payload,
        "an unknown kid": lambda: signed(key, claims_for(identity), kid="not-our-kid"),
        "no kid": lambda: signed(key, claims_for(identity), kid=None),
        "the wrong issuer": lambda: signed(key, claims_for(identity, iss="https://evil.example")),
        "the wrong audience": lambda: signed(key, claims_for(identity, aud="someone-else")),
        "no audience and the wrong client_id": lambda: signed(key, claims_for(identity, aud=None, client_id="x")),
        "expired": lambda: signed(key, claims_for(identity, iat=now - 7200, nbf=now - 7200, exp=now - 60)),
        "no exp": lambda: signed(key, claims_for(identity, exp=None)),
        "not yet valid": lambda: signed(key, claims_for(identity, nbf=now + 600)),
        "issued in the future": lambda: signed(key, claims_for(identity, iat=now + 600)),
        "a truncated signature": lambda: valid[:-12],
        "truncated to half": lambda: valid[: len(valid) // 2],
        "not a JWT": lambda: "not-a-token",
    }
    assert tuple(made) == FORGERY_NAMES
    return made
