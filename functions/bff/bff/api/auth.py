"""Who is calling: the claims API Gateway's JWT authorizer verified, and nothing else.

Defense in depth: the gateway already refused bad tokens and tokens without the route's scope. These checks
hold if a route is ever deployed without the authorizer: no claims is 401, a missing scope is 403. The shopper
is the token's `sub`; a user id in the path, query, body or a header is never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bff.errors import ForbiddenError, UnauthenticatedError

CART_READ = "cart:read"
CART_WRITE = "cart:write"
# Longer subjects are not identities any issuer we accept hands out; refusing them bounds what reaches a path.
MAX_SUBJECT_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Shopper:
    sub: str
    scopes: frozenset[str]


def shopper_of(scope: Mapping[str, Any], required_scope: str) -> Shopper:
    """The shopper behind an ASGI request (Mangum puts the Lambda event under "aws.event"), holding the scope."""
    claims = _claims(scope.get("aws.event"))
    sub = claims.get("sub")
    if not isinstance(sub, str) or not _usable_subject(sub):
        raise UnauthenticatedError("This resource needs a valid bearer token.")
    scopes = _scopes(claims)
    if required_scope not in scopes:
        raise ForbiddenError(f"The token does not grant the {required_scope} scope.", scope=required_scope)
    return Shopper(sub, scopes)


def _claims(event: object) -> Mapping[str, object]:
    node: object = event
    for key in ("requestContext", "authorizer", "jwt", "claims"):
        if not isinstance(node, Mapping):
            return {}
        node = node.get(key)
    return node if isinstance(node, Mapping) else {}


def _usable_subject(sub: str) -> bool:
    # "." and ".." would be dot-segments in the cart service's path, whatever their encoding.
    return 0 < len(sub) <= MAX_SUBJECT_LENGTH and sub.isprintable() and sub.strip() == sub and sub not in {".", ".."}


def _scopes(claims: Mapping[str, object]) -> frozenset[str]:
    """`scope` (RFC 8693, space-separated) or `scp`. API Gateway passes claims as strings: an array claim arrives
    as "[a b]"."""
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("[") and text.endswith("]"):
                text = text[1:-1]
            scopes.update(part for part in text.replace(",", " ").split() if part)
    return frozenset(scopes)
