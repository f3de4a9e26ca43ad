"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz.schemathesis_hooks): what a real client sends, so that
generated requests reach the BFF instead of stopping at the gateway's 401. `before_call` runs before every request
of every phase (generation hooks such as map_headers do not run in the coverage phase); Schemathesis then checks
the request as sent, so a case these edits make valid is judged as valid.

- A bearer token on every request of an operation with `security`: BFF_TOKEN when set (a deployed stack: a token
  from its issuer with cart:read and cart:write), else one minted with the local issuer's key (tools/local_jwt.py,
  in LOCAL_JWT_DIR), which the local API's JWT authorizer trusts. The ignored_auth check sends its probes without
  this hook, so it still sees the route refuse a request without the token, or with a made-up one.
- A fresh Idempotency-Key (a UUID) per request, as a client makes one per intended write, in place of the generated
  one. A generated key that the documented pattern refuses is kept, and a missing one stays missing, so negative
  data and the missing_required_header check still test the header.
- No valid reviewsLimit with an include that leaves reviews out: the server refuses that pair (400), a rule across
  two parameters that JSON Schema cannot state; the document says it in reviewsLimit's description. An invalid
  reviewsLimit stays, so a negative case stays negative.

The edits are made in place: Schemathesis notices them and checks the request as sent.
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
REVIEWS_LIMIT, INCLUDE, REVIEWS = "reviewsLimit", "include", "reviews"


@cache
def bearer_token() -> str:
    """One token for the run: its 1 h lifetime outlasts any bounded run."""
    if token := os.environ.get(TOKEN_VARIABLE):
        return token
    key = local_jwt.ensure_key(local_jwt.key_dir(os.environ))
    return local_jwt.mint(key, subject=SUBJECT, scopes=SCOPES, identity=local_jwt.local_identity(os.environ))


@schemathesis.hook
def before_call(ctx: schemathesis.HookContext, case: schemathesis.Case[Any], **kwargs: Any) -> None:
    definition: dict[str, Any] = case.operation.definition.raw
    if case.headers is None:
        case.headers = {}
    headers = case.headers
    if definition.get("security"):
        headers[AUTHORIZATION] = f"Bearer {bearer_token()}"
    key_pattern = _parameter_pattern(definition, "header", IDEMPOTENCY_KEY)
    if key_pattern is not None and _valid(headers.get(IDEMPOTENCY_KEY), key_pattern):
        headers[IDEMPOTENCY_KEY] = str(uuid.uuid4())
    limit_pattern = _parameter_pattern(definition, "query", REVIEWS_LIMIT)
    query = case.query
    if query and limit_pattern is not None and _valid_limit_without_reviews(query, limit_pattern):
        del query[REVIEWS_LIMIT]


def _parameter_pattern(definition: dict[str, Any], location: str, name: str) -> re.Pattern[str] | None:
    for parameter in definition.get("parameters", []):
        if parameter.get("in") == location and parameter.get("name") == name:
            return re.compile(parameter["schema"]["pattern"])
    return None


def _valid(value: object, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.search(value) is not None


def _valid_limit_without_reviews(query: dict[str, Any], pattern: re.Pattern[str]) -> bool:
    limit, include = query.get(REVIEWS_LIMIT), query.get(INCLUDE)
    if not isinstance(limit, str) or pattern.search(limit) is None or include is None:
        return False
    sections = include.split(",") if isinstance(include, str) else include
    return isinstance(sections, list) and REVIEWS not in sections
