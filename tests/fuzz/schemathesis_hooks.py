"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz.schemathesis_hooks): what a real client of the signed-in
routes sends, so that generated requests reach the BFF instead of stopping at the gateway's 401.

- A bearer token on every request of an operation with `security`: BFF_TOKEN when set (a deployed stack: a token
  from its issuer with cart:read and cart:write), else one minted with the local issuer's key (tools/local_jwt.py,
  in LOCAL_JWT_DIR), which the local API's JWT authorizer trusts. Schemathesis's ignored_auth check takes it away
  again to see that the route refuses a request without it.
- A fresh Idempotency-Key (a UUID) per generated request, as a client makes one per intended write. A generated
  key that the documented pattern refuses is kept, so negative data still tests the header.
"""

from __future__ import annotations

import os
import re
import uuid
from functools import cache
from typing import Any

import schemathesis

from tools import local_jwt

TOKEN_VARIABLE = "BFF_TOKEN"
SUBJECT = "schemathesis-shopper"
SCOPES = ("cart:read", "cart:write")
AUTHORIZATION = "Authorization"
IDEMPOTENCY_KEY = "Idempotency-Key"


@cache
def bearer_token() -> str:
    """One token for the run: its 1 h lifetime outlasts any bounded run."""
    if token := os.environ.get(TOKEN_VARIABLE):
        return token
    key = local_jwt.ensure_key(local_jwt.key_dir(os.environ))
    return local_jwt.mint(key, subject=SUBJECT, scopes=SCOPES, identity=local_jwt.local_identity(os.environ))


def _idempotency_key_pattern(operation: Any) -> re.Pattern[str] | None:
    for parameter in operation.definition.raw.get("parameters", []):
        if parameter.get("name") == IDEMPOTENCY_KEY:
            return re.compile(parameter["schema"]["pattern"])
    return None


@schemathesis.hook
def map_headers(ctx: schemathesis.HookContext, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    operation = ctx.operation
    if operation is None:
        return headers
    headers = dict(headers or {})
    if operation.definition.raw.get("security"):
        headers[AUTHORIZATION] = f"Bearer {bearer_token()}"
    pattern = _idempotency_key_pattern(operation)
    offered = headers.get(IDEMPOTENCY_KEY)
    if pattern is not None and (offered is None or (isinstance(offered, str) and pattern.search(offered))):
        headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
    return headers


REVIEWS_LIMIT, INCLUDE, REVIEWS = "reviewsLimit", "include", "reviews"


@schemathesis.hook
def filter_query(ctx: schemathesis.HookContext, query: dict[str, Any] | None) -> bool:
    """Leaves out a reviewsLimit with an include that lists no reviews: the server refuses it (400), and JSON
    Schema cannot say a rule across two parameters, so the document says it in reviewsLimit's description."""
    if not query or REVIEWS_LIMIT not in query or INCLUDE not in query:
        return True
    include = query[INCLUDE]
    sections = include.split(",") if isinstance(include, str) else include
    return not isinstance(sections, list) or REVIEWS in sections
