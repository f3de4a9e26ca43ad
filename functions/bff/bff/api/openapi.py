"""The OpenAPI document: FastAPI's, built from the routes' own declarations, and completed here with what no route
declaration can say on its own.

The routes declare their statuses and headers with the response objects below (`page_responses`,
`cart_read_responses`, ...), so each status a route lists is one the route really answers through API Gateway.
`complete_document` then adds what is common to the whole API:
- the components the declarations name: response headers, request header parameters, the gateway's own
  `{"message": ...}` body, and the shopper's JWT as an OpenID Connect security scheme with its scopes;
- errors as application/problem+json, with request validation as 400 (FastAPI would document a 422 JSON body);
- the gateway's own answers (429 on every route, 404 where a path can fail to match), application/json;
- the If-None-Match and X-Correlation-Id request headers, and X-Correlation-Id on every answer of the BFF.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from bff.api.problems import PROBLEM_MEDIA_TYPE
from bff.api.validation import PRODUCT_ID_PATTERN
from bff.api.validators import ETAG_HEADER, strong_etag
from bff.core.models import Problem

type JsonObject = dict[str, Any]
type Responses = dict[int | str, JsonObject]

JSON_MEDIA_TYPE = "application/json"
SCHEMAS = "#/components/schemas/"
SECURITY_SCHEME = "shopperJwt"
SCOPES = {"cart:read": "Read the signed-in shopper's cart.", "cart:write": "Add items to the signed-in shopper's cart."}
OPENAPI_PATH = "/openapi.json"
# The document changes only with a deployment; a client revalidates it cheaply with its ETag after this long.
OPENAPI_CACHE_CONTROL = "public, max-age=300"
# The limits of POST /cart/items, which bff.api.cart enforces.
MAX_BODY_BYTES = 4 * 1024
MAX_QUANTITY = 99
# Visible ASCII but the comma: HTTP API joins a repeated header's values with commas, so a key with one may be
# two keys sent twice (`a1,a2`), and is refused rather than stored as a third. bff.api.cart checks keys with it.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x2b\x2d-\x7e]{1,255}$"
CORRELATION_ID_PATTERN = "^[A-Za-z0-9._:=+/-]{1,128}$"
"""A well-formed X-Correlation-Id is echoed; any other is replaced (bff.observability.correlation)."""


class GatewayMessage(BaseModel):
    """API Gateway's own answer, before or instead of the BFF: `{"message": "Not Found"}`, `"Unauthorized"`,
    `"Forbidden"`, `"Too Many Requests"`, `"Internal Server Error"`, `"Service Unavailable"`."""

    message: str


class NewCartItem(BaseModel):
    """The body of POST /cart/items: exactly these two fields (a user id in the body is an unknown field: 400).
    bff.api.cart.new_item parses it with the same rules; the tests hold the two to each other."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, json_schema_extra={"examples": [{"productId": "P001", "quantity": 1}]}
    )

    product_id: str = Field(
        alias="productId",
        pattern=f"^{PRODUCT_ID_PATTERN}$",
        description="An existing product's id (one that does not exist answers 422).",
    )
    quantity: int = Field(
        ge=1,
        le=MAX_QUANTITY,
        description=f"1 to {MAX_QUANTITY}. As in JSON Schema, an integer is any number without a fractional part: "
        "59.0 and 5.9e1 are 59; 59.5, a string or a boolean answers 400.",
    )


def header(name: str) -> JsonObject:
    return {"$ref": f"#/components/headers/{name}"}


def parameter(name: str) -> JsonObject:
    """A request header parameter, inline (so that every parameter has its name where it is used)."""
    return dict(REQUEST_PARAMETERS[name])


RESPONSE_HEADERS: dict[str, JsonObject] = {
    "ETag": {
        "description": "Strong validator of this representation: a hash of the JSON body; the gzip-encoded body has "
        'its own tag (the same one with "-gzip" inside the quotes). Send it back in If-None-Match.',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[A-Za-z0-9_-]{22}(-gzip)?"$'},
    },
    "Cache-Control": {
        "description": "How long a browser or CDN may keep the answer: `public, max-age=N` for a complete page (the "
        "most volatile section's remaining freshness), `no-cache` at 0, `no-store` for degraded pages and problems, "
        "`private, no-store` for a shopper's cart.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Vary": {
        "description": "Accept-Encoding on every page; Accept-Language too when the answer has the product section "
        "(its priceFormatted); Origin when CORS allowed the request's origin.",
        "required": False,
        "schema": {"type": "string"},
    },
    "X-Correlation-Id": {
        "description": "This request's id in every log line and downstream call: the request's X-Correlation-Id "
        "when well formed, else API Gateway's request id. A problem's correlationId is the same.",
        "required": True,
        "schema": {"type": "string", "pattern": CORRELATION_ID_PATTERN},
    },
    "Server-Timing": {
        "description": "W3C Server Timing: the BFF's own time per section (with desc=hit|miss|stale from the "
        "fragment cache) and `total`, measured inside the function. The time a browser sees also holds the "
        "network, the gateway and, on a cold start, the function's start.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying (RFC 9110 delay-seconds).",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "WWW-Authenticate": {
        "description": 'The bearer challenge: `Bearer` without a token; with one, `error="invalid_token"` (401) or '
        '`error="insufficient_scope"` and the route\'s scope (403).',
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this answer is the stored answer of an earlier request with the same "
        "Idempotency-Key and body: nothing was written again.",
        "required": False,
        "schema": {"type": "string", "enum": ["true"]},
    },
}

REQUEST_PARAMETERS: dict[str, JsonObject] = {
    "IfNoneMatch": {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "ETags the client holds (or `*`): when one names the current representation, the answer is "
        "304 with no body. A malformed value names nothing (the full answer is sent).",
        "schema": {"type": "string"},
    },
    "CorrelationId": {
        "name": "X-Correlation-Id",
        "in": "header",
        "required": False,
        "description": "The client's id for this request, echoed in X-Correlation-Id and logged when it matches "
        "the pattern; any other value is replaced by the gateway's request id, never refused.",
        "schema": {"type": "string"},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": "1 to 255 visible ASCII characters except the comma (HTTP API joins a repeated header with "
        "commas). A new random key (a UUID) per intended write, the same key for each retry of it, kept 24 h. "
        "A retry with the same key and body gets the stored answer (Idempotent-Replayed: true); the same key with "
        "another body answers 422; while the first is still running, 409 with Retry-After.",
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    },
}


def _content(*schemas: tuple[str, str]) -> JsonObject:
    return {media_type: {"schema": {"$ref": SCHEMAS + name}} for media_type, name in schemas}


def problem(description: str, *headers: str, gateway: bool = False) -> JsonObject:
    """A response of the BFF's problem+json, or (gateway=True) of either the BFF or API Gateway: then only the
    headers both send are required."""
    content = _content((PROBLEM_MEDIA_TYPE, "Problem"))
    if gateway:
        content.update(_content((JSON_MEDIA_TYPE, "GatewayMessage")))
    return {"description": description, "content": content, "headers": {name: header(name) for name in headers}}


def gateway_refusal(description: str, *headers: str) -> JsonObject:
    """API Gateway's own answer: the function never ran."""
    return {
        "description": description,
        "content": _content((JSON_MEDIA_TYPE, "GatewayMessage")),
        "headers": {name: header(name) for name in headers},
    }


def success(description: str, *headers: str) -> JsonObject:
    """A success whose body FastAPI documents from the route's response_model."""
    return {"description": description, "headers": {name: header(name) for name in headers}}


_PAGE_HEADERS = ("ETag", "Cache-Control", "Vary", "Server-Timing")
_NOT_MODIFIED = {
    "description": "Not Modified: If-None-Match names the current ETag. No body; the same ETag, Cache-Control, "
    "Vary and Server-Timing as the 200 would have.",
    "headers": {name: header(name) for name in _PAGE_HEADERS},
}
_UPSTREAM_FAILURES: Responses = {
    502: problem("A critical service answered something unusable."),
    503: problem(
        "A critical service is unavailable (its circuit breaker is open: Retry-After says when it is tried again), "
        "or API Gateway could not reach the function (then its own JSON message).",
        "Retry-After",
        gateway=True,
    ),
    504: problem("A critical service did not answer within the deadline."),
}
_INTERNAL_ERROR = problem(
    "An unexpected error (a problem with nothing of the error in it), or the function failed and API Gateway "
    "answered its own JSON message.",
    gateway=True,
)


def page_responses() -> Responses:
    """GET /product-details/{productId}."""
    return {
        200: success(
            "The page: the sections asked for, each null (and listed in meta.degraded) when its "
            "optional service failed.",
            *_PAGE_HEADERS,
        ),
        304: _NOT_MODIFIED,
        400: problem("The id or a query parameter is invalid (the problem's detail names which)."),
        404: problem(
            "No product has this id (problem+json, cacheable for NEGATIVE_CACHE_TTL_S), or the path matches no "
            "route, e.g. an empty id (API Gateway's own JSON message).",
            gateway=True,
        ),
        422: problem("The product service refused this id although it matches the pattern."),
        500: _INTERNAL_ERROR,
        **_UPSTREAM_FAILURES,
    }


def batch_responses() -> Responses:
    """GET /product-details?ids=..."""
    return {
        200: success(
            "Every id's status and its page or problem, in request order; Cache-Control is the strictest "
            "of the items'.",
            *_PAGE_HEADERS,
        ),
        304: _NOT_MODIFIED,
        400: problem("ids or another query parameter is invalid (the detail names the first bad one)."),
        500: _INTERNAL_ERROR,
    }


_SIGNED_IN_REFUSALS: Responses = {
    401: gateway_refusal(
        "No bearer token, or one the JWT authorizer refused (signature, iss, aud, exp, nbf, iat): API Gateway's "
        '`{"message":"Unauthorized"}`. The function, reached without the authorizer, would answer a problem.',
        "WWW-Authenticate",
    ),
    403: gateway_refusal(
        'A valid token without the route\'s scope: API Gateway\'s `{"message":"Forbidden"}`.', "WWW-Authenticate"
    ),
}


def cart_read_responses() -> Responses:
    """GET /cart."""
    return {
        200: success(
            "The shopper's cart; an item whose product failed has product null and is in meta.degraded.",
            "Cache-Control",
        ),
        400: problem("A query parameter was sent: this route takes none."),
        **_SIGNED_IN_REFUSALS,
        422: problem("The cart service refused this shopper (the token's sub is not a user id it accepts)."),
        500: _INTERNAL_ERROR,
        **_UPSTREAM_FAILURES,
    }


def cart_write_responses() -> Responses:
    """POST /cart/items."""
    return {
        201: success(
            "The item is added; the answer is the whole cart. A replay of the same key and body gets the "
            "stored answer again.",
            "Cache-Control",
            "Idempotent-Replayed",
        ),
        400: problem(
            "The body is not JSON, not exactly {productId, quantity}, or either is invalid; or the "
            "Idempotency-Key is missing, repeated or malformed; or a query parameter was sent."
        ),
        **_SIGNED_IN_REFUSALS,
        409: problem("A request with this Idempotency-Key is still running: retry after Retry-After.", "Retry-After"),
        413: problem(f"The body is larger than {MAX_BODY_BYTES} bytes."),
        415: problem("The body is not application/json."),
        422: problem(
            "No product has this productId, or this Idempotency-Key was used with another body, or the cart "
            "service refused this shopper."
        ),
        500: _INTERNAL_ERROR,
        502: _UPSTREAM_FAILURES[502],
        503: problem(
            "The cart service or the idempotency store is unavailable: retry after Retry-After (the same key is "
            "safe to retry). Also API Gateway's own JSON message when it could not reach the function.",
            "Retry-After",
            gateway=True,
        ),
        504: _UPSTREAM_FAILURES[504],
    }


def openapi_document_responses() -> Responses:
    """GET /openapi.json."""
    return {
        200: {
            "description": "This document.",
            "content": {JSON_MEDIA_TYPE: {"schema": {"type": "object"}}},
            "headers": {name: header(name) for name in ("ETag", "Cache-Control", "Vary")},
        },
        304: {
            "description": "Not Modified: If-None-Match names the document's current ETag.",
            "headers": {name: header(name) for name in ("ETag", "Cache-Control")},
        },
        500: _INTERNAL_ERROR,
    }


def security(scope: str) -> list[JsonObject]:
    return [{SECURITY_SCHEME: [scope]}]


def cart_item_body() -> JsonObject:
    """The requestBody of POST /cart/items (bff.api.cart reads the body itself, to refuse what FastAPI would
    coerce), with its limits."""
    return {
        "required": True,
        "description": f"At most {MAX_BODY_BYTES} bytes (larger: 413), UTF-8 JSON without duplicate keys, NaN or "
        "Infinity (400); another media type answers 415.",
        "content": _content((JSON_MEDIA_TYPE, "NewCartItem")),
    }


_THROTTLED = gateway_refusal(
    "API Gateway throttled the request (the stage's ThrottlingRateLimit and ThrottlingBurstLimit)."
)
_EXTRA_SCHEMAS: tuple[type[BaseModel], ...] = (Problem, GatewayMessage, NewCartItem)


def complete_document(build: Callable[[], JsonObject], *, issuer: str) -> Callable[[], JsonObject]:
    """`FastAPI.openapi`, completed once (FastAPI caches the document it built; this completes it in place)."""
    completed: JsonObject | None = None

    def openapi() -> JsonObject:
        nonlocal completed
        if completed is None:
            completed = _complete(build(), issuer)
        return completed

    return openapi


def _complete(schema: JsonObject, issuer: str) -> JsonObject:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for model in _EXTRA_SCHEMAS:
        _add_model(schemas, model)
    components["headers"] = RESPONSE_HEADERS
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "openIdConnect",
            "openIdConnectUrl": f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            "description": "The shopper's access token (RS256 JWT) from the JwtIssuer identity provider, as "
            "`Authorization: Bearer <token>`. API Gateway's JWT authorizer checks it (signature, iss, aud or "
            f"client_id, exp, nbf, iat) and the route's scope in `scope` or `scp`: {', '.join(SCOPES)}.",
        }
    }
    for path, path_item in schema["paths"].items():
        for method, operation in path_item.items():
            _complete_operation(path, method, operation)
    return schema


def _add_model(schemas: JsonObject, model: type[BaseModel]) -> None:
    document = model.model_json_schema(by_alias=True, ref_template=SCHEMAS + "{model}", mode="serialization")
    for name, definition in document.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault(model.__name__, document)


def _complete_operation(path: str, method: str, operation: JsonObject) -> None:
    responses: JsonObject = operation["responses"]
    if "HTTPValidationError" in str(responses.get("422", "")):
        responses.pop("422")  # FastAPI's own; a route's declared 422 stays
    responses.setdefault("429", _THROTTLED)
    for status, response in responses.items():
        _only_problem_json(status, response)
        content = response.get("content", {})
        if "GatewayMessage" in str(content):
            continue  # API Gateway's own answer, or one either may give: these headers are not always there
        headers = response.setdefault("headers", {})
        headers["X-Correlation-Id"] = header("X-Correlation-Id")
        if PROBLEM_MEDIA_TYPE in content:
            headers["Cache-Control"] = header("Cache-Control")  # problems are never stored
    parameters: list[JsonObject] = operation.setdefault("parameters", [])
    if method == "get" and "ETag" in responses.get("200", {}).get("headers", {}):
        parameters.append(parameter("IfNoneMatch"))
    parameters.append(parameter("CorrelationId"))


def _only_problem_json(status: str, response: JsonObject) -> None:
    """A status FastAPI documented from the Problem model becomes problem+json; declared content stays."""
    content = response.get("content", {})
    if int(status) >= 400 and list(content) == [JSON_MEDIA_TYPE] and "Problem" in str(content):
        response["content"] = {PROBLEM_MEDIA_TYPE: content[JSON_MEDIA_TYPE]}


def document_bytes(document: Mapping[str, Any]) -> bytes:
    """The document as served: compact UTF-8 JSON."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def add_openapi_route(app: FastAPI) -> None:
    """GET /openapi.json: this document, public and cacheable. Its bytes and ETag are made on the first request
    (or before a SnapStart snapshot, which builds the document), never again in this environment."""
    served: tuple[bytes, str] | None = None

    @app.get(
        OPENAPI_PATH,
        responses=openapi_document_responses(),
        summary="This API's OpenAPI document: the contract clients and tests are generated from.",
    )
    async def openapi_document() -> Response:
        nonlocal served
        if served is None:
            body = document_bytes(app.openapi())
            served = (body, strong_etag(body))
        body, etag = served
        headers = {"cache-control": OPENAPI_CACHE_CONTROL, ETAG_HEADER: etag}
        return Response(body, media_type=JSON_MEDIA_TYPE, headers=headers)
