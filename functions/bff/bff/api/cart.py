"""The cart routes' rules (the routes: bff.api.routes.cart), for the shopper the gateway's JWT authorizer verified.

Per-user answers are `Cache-Control: private, no-store` with no ETag: no shared cache (CDN, proxy) may keep one.
The request rule: anything wrong that the request alone shows is 400 (malformed JSON, unknown or missing
fields, a bad quantity or productId, a bad Idempotency-Key); what needs the BFF's knowledge is 422 (a product
that does not exist, a key reused with another body).
"""

from __future__ import annotations

import json
import re

from fastapi import Request
from starlette.responses import JSONResponse, Response

from bff.api.failures import failure_response
from bff.api.openapi import IDEMPOTENCY_KEY_PATTERN, MAX_BODY_BYTES, MAX_QUANTITY
from bff.api.validation import validate_product_id
from bff.core.cart import NewItem
from bff.core.policy import PageDecision, PageFailure
from bff.errors import InvalidParameterError, PayloadTooLargeError, ProblemError, UnsupportedMediaTypeError

PER_USER_CACHE_CONTROL = "private, no-store"
REPLAYED_HEADER = "idempotent-replayed"
IDEMPOTENCY_KEY_HEADER = "idempotency-key"
ITEM_FIELDS = frozenset({"productId", "quantity"})
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def idempotency_key(values: list[str]) -> str:
    if len(values) != 1 or _IDEMPOTENCY_KEY.fullmatch(values[0]) is None:
        raise InvalidParameterError(
            "One Idempotency-Key header of 1 to 255 visible ASCII characters, without a comma, is required."
        )
    return values[0]


def new_item(document: object) -> NewItem:
    """{"productId": ..., "quantity": 1..99} and nothing else; a user id in the body is an unknown field."""
    if not isinstance(document, dict) or set(document) != ITEM_FIELDS:
        raise ProblemError("The body must be a JSON object with exactly productId and quantity.")
    product_id, quantity = document["productId"], document["quantity"]
    if not isinstance(product_id, str):
        raise InvalidParameterError("productId must be a string.")
    whole = whole_number(quantity)
    if whole is None or not 1 <= whole <= MAX_QUANTITY:
        raise InvalidParameterError(f"quantity must be a whole number from 1 to {MAX_QUANTITY}.")
    return NewItem(validate_product_id(product_id), whole)


def whole_number(value: object) -> int | None:
    """A JSON number with no fractional part, as JSON Schema's `integer` reads one: 59, 59.0 and 5.9e1 are all
    59, so the server accepts what a validator of the documented schema accepts. Booleans are not numbers."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


async def read_json(request: Request) -> object:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaTypeError("The body must be application/json.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"The body must be at most {MAX_BODY_BYTES} bytes.")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"The body must be at most {MAX_BODY_BYTES} bytes.")
    return parse_json(bytes(raw))


def parse_json(raw: bytes) -> object:
    """Strict JSON: UTF-8, no duplicate keys, no NaN or Infinity; nesting too deep for the parser is a 400."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProblemError("The body is not valid JSON.") from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key")
    return document


def _no_constants(name: str) -> object:
    raise ValueError(name)


def cart_response(
    decision: PageDecision, *, correlation_id: str, instance: str, replayed: bool = False, body_json: str | None = None
) -> Response:
    """A per-user answer (never kept by a shared cache), or the failure's problem."""
    if isinstance(decision, PageFailure):
        return failure_response(decision, correlation_id=correlation_id, instance=instance)
    response: Response
    if body_json is None:
        response = JSONResponse(decision.body, status_code=decision.status)
    else:
        response = Response(body_json, status_code=decision.status, media_type="application/json")
    response.headers["cache-control"] = PER_USER_CACHE_CONTROL
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response
