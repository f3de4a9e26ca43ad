"""A cart service with idempotent writes: `GET /carts/{userId}`, `POST /carts/{userId}/items`.

Carts and idempotency keys live in the app's memory: each process (each Lambda instance) has its own, and they
vanish when it stops.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from mockkit.ids import InvalidRequestError, require_id
from mockkit.payloads import JsonValue, Reply, json_reply, problem_reply
from mockkit.request import MAX_BODY_BYTES, MockRequest
from mockkit.routes import Answer, Route

ITEM_FIELDS = frozenset({"productId", "quantity"})
MAX_QUANTITY = 99
MAX_KEY_LENGTH = 255
# The keys remembered per user, oldest forgotten first, so that memory stays bounded.
MAX_KEYS_PER_USER = 1000
REPLAYED = ("idempotent-replayed", "true")


class RequestError(InvalidRequestError):
    """An invalid request that is not a plain 400."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True, slots=True)
class CartSpec:
    name: str = "cart"
    default_latency_ms: int = 40

    def router(self) -> CartRouter:
        return CartRouter(CartStore())


@dataclass(frozen=True, slots=True)
class NewItem:
    product_id: str
    quantity: int


class CartStore:
    def __init__(self) -> None:
        self._carts: dict[str, dict[str, int]] = {}
        self._replies: dict[str, OrderedDict[str, Reply]] = {}

    def cart(self, user_id: str) -> dict[str, JsonValue]:
        items: list[JsonValue] = [
            {"productId": product_id, "quantity": quantity}
            for product_id, quantity in self._carts.get(user_id, {}).items()
        ]
        return {"userId": user_id, "items": items}

    def add(self, user_id: str, item: NewItem, key: str | None) -> Reply:
        """The first answer for (user, key) is replayed for that key and changes nothing; keys are per user."""
        remembered = self._replies.setdefault(user_id, OrderedDict())
        if key is not None and key in remembered:
            first = remembered[key]
            return Reply(first.status, first.body, first.content_type, (*first.headers, REPLAYED))
        cart = self._carts.setdefault(user_id, {})
        cart[item.product_id] = cart.get(item.product_id, 0) + item.quantity
        reply = json_reply(201, self.cart(user_id))
        if key is not None:
            remembered[key] = reply
            if len(remembered) > MAX_KEYS_PER_USER:
                remembered.popitem(last=False)
        return reply


class CartRouter:
    def __init__(self, store: CartStore) -> None:
        self.store = store

    def match(self, segments: tuple[str, ...]) -> Route | None:
        match segments:
            case ("carts", user_id) if user_id:
                return Route("/carts/{userId}", {"GET": lambda _: self._get(user_id)})
            case ("carts", user_id, "items") if user_id:
                return Route("/carts/{userId}/items", {"POST": lambda request: self._post(user_id, request)})
            case _:
                return None

    def _get(self, user_id: str) -> Answer:
        try:
            require_id("userId", user_id)
        except InvalidRequestError as error:
            return _refused(error)
        return Answer(normal=lambda: json_reply(200, self.store.cart(user_id)), shape=lambda: self.store.cart(user_id))

    def _post(self, user_id: str, request: MockRequest) -> Answer:
        try:
            require_id("userId", user_id)
            key = _idempotency_key(request)
            item = _new_item(request)
        except InvalidRequestError as error:
            return _refused(error)
        return Answer(normal=lambda: self.store.add(user_id, item, key), shape=lambda: self.store.cart(user_id))


def _refused(error: InvalidRequestError) -> Answer:
    status = error.status if isinstance(error, RequestError) else 400
    return Answer(normal=lambda: problem_reply(status, str(error)), shape=lambda: {"userId": "", "items": []})


def _idempotency_key(request: MockRequest) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and all("!" <= char <= "~" for char in key)):
        raise RequestError(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters.")
    return key


def _new_item(request: MockRequest) -> NewItem:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise RequestError(415, "The body must be application/json.")
    if request.body.too_large:
        raise RequestError(413, f"The body must be at most {MAX_BODY_BYTES} bytes.")
    try:
        document = json.loads(request.body.content)
    except (ValueError, RecursionError):
        raise RequestError(400, "The body is not valid JSON, or nests too deeply.") from None
    if not isinstance(document, dict):
        raise RequestError(400, "The body must be a JSON object.")
    if unknown := sorted(set(document) - ITEM_FIELDS):
        raise RequestError(400, f"Unknown fields: {', '.join(unknown)}.")
    if missing := sorted(ITEM_FIELDS - set(document)):
        raise RequestError(400, f"Missing fields: {', '.join(missing)}.")
    product_id, quantity = document["productId"], document["quantity"]
    if not isinstance(product_id, str):
        raise RequestError(400, "productId must be a string.")
    require_id("productId", product_id)
    if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
        raise RequestError(400, f"quantity must be an integer from 1 to {MAX_QUANTITY}.")
    return NewItem(product_id, quantity)
