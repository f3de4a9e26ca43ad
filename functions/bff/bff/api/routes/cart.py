"""`GET /cart` and `POST /cart/items`, for the shopper the gateway's JWT authorizer verified (rules: bff.api.cart)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from bff.api.auth import CART_READ, CART_WRITE, shopper_of
from bff.api.cart import IDEMPOTENCY_KEY_HEADER, cart_response, idempotency_key, new_item, read_json
from bff.api.deps import RequestContextDep, ServicesDep
from bff.api.openapi import cart_item_body, cart_read_responses, cart_write_responses, parameter, security
from bff.api.validation import reject_query_parameters
from bff.core.cart import CartView

router = APIRouter()


@router.get(
    "/cart",
    response_model=CartView,
    responses=cart_read_responses(),
    summary="The signed-in shopper's cart, each item with its product (scope cart:read).",
    openapi_extra={"security": security(CART_READ)},
)
async def get_cart(request: Request, context: RequestContextDep, services: ServicesDep) -> Response:
    shopper = shopper_of(request.scope, CART_READ)
    reject_query_parameters(request.url.query)
    decision = await services.carts.view(shopper.sub, context)
    return cart_response(decision, correlation_id=context.correlation_id, instance=request.url.path)


@router.post(
    "/cart/items",
    status_code=201,
    response_model=CartView,
    responses=cart_write_responses(),
    summary="Adds a product to the shopper's cart (scope cart:write; Idempotency-Key required).",
    openapi_extra={
        "security": security(CART_WRITE),
        "parameters": [parameter("IdempotencyKey")],
        "requestBody": cart_item_body(),
    },
)
async def add_cart_item(request: Request, context: RequestContextDep, services: ServicesDep) -> Response:
    shopper = shopper_of(request.scope, CART_WRITE)
    reject_query_parameters(request.url.query)
    key = idempotency_key(request.headers.getlist(IDEMPOTENCY_KEY_HEADER))
    item = new_item(await read_json(request))
    written = await services.carts.add(shopper.sub, context, item, key)
    return cart_response(
        written.decision,
        correlation_id=context.correlation_id,
        instance=request.url.path,
        replayed=written.replayed,
        body_json=written.body_json,
    )
