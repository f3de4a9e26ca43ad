"""The cart use case as the app calls it: binds each request's shopper, headers and Idempotency-Key into the
ports of bff.core.cart, and makes writes idempotent (bff.writes.idempotency).

Identity propagation: the BFF calls the cart service as itself (SigV4 when DOWNSTREAM_AUTH=iam); the shopper
travels as the path segment `/carts/{sub}` (percent-encoded) and as `X-User-Sub`, both from the verified claims.
The shopper's Authorization never leaves (bff.downstream.propagation sends only allow-listed headers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bff.core.cart import CartSections, CartService, CartWrite, NewItem
from bff.core.context import RequestContext
from bff.core.deadline import Deadline, page_budget_ms
from bff.core.outcomes import Failed, Fetched, JsonValue, SectionOutcome
from bff.core.policy import PageAnswer, PageDecision, PageFailure
from bff.core.service import SectionSource
from bff.errors import IdempotencyUnavailableError
from bff.resilience.caller import ResilientCaller
from bff.resilience.writes import IDEMPOTENCY_KEY_HEADER, WriteCaller
from bff.writes.idempotency import IdempotentWrites

USER_SUB_HEADER = "x-user-sub"


class WriteFailedError(Exception):
    """A write that did not happen as asked; raised inside the idempotent call so that nothing is stored."""

    def __init__(self, failure: PageFailure) -> None:
        super().__init__(failure.status)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class _Ports:
    """One request's ports: everything bound to its shopper, so the use case cannot reach another cart."""

    sections: CartSections
    reads: SectionSource
    batches: SectionSource
    cart_reads: ResilientCaller
    writes: WriteCaller
    sub: str
    context: RequestContext
    idempotency_key: str | None = None

    async def read_cart(self, deadline: Deadline) -> SectionOutcome:
        return await self.cart_reads.fetch(self.sections.cart, self.sub, deadline, self._as_shopper())

    async def add_item(self, item: NewItem, deadline: Deadline) -> Failed | Fetched:
        body = json.dumps({"productId": item.product_id, "quantity": item.quantity}).encode()
        extra = {} if self.idempotency_key is None else {IDEMPOTENCY_KEY_HEADER: self.idempotency_key}
        return await self.writes.write(self.sections.add_item, self.sub, body, deadline, self._as_shopper(extra))

    async def product(self, product_id: str, deadline: Deadline) -> SectionOutcome:
        # Product data is the same for every shopper: no user header travels with it.
        outcomes = await self.reads.fetch(self.sections.product, (product_id,), deadline, self.context)
        return outcomes[product_id]

    async def products(self, product_ids: Sequence[str], deadline: Deadline) -> Mapping[str, SectionOutcome]:
        return await self.batches.fetch(self.sections.product, product_ids, deadline, self.context)

    def _as_shopper(self, extra: Mapping[str, str] | None = None) -> RequestContext:
        """The request's context with the shopper's headers (and `extra`) added to those that travel."""
        headers = {**self.context.headers, USER_SUB_HEADER: self.sub, **(extra or {})}
        return replace(self.context, headers=headers)


class RequestCart:
    def __init__(
        self,
        service: CartService,
        sections: CartSections,
        *,
        reads: SectionSource,
        batches: SectionSource,
        cart_reads: ResilientCaller,
        writes: WriteCaller,
        idempotent: IdempotentWrites | None,
        deadline_ms: int,
        reserve_ms: int,
    ) -> None:
        self._service = service
        self._sections = sections
        self._reads = reads
        self._batches = batches
        self._cart_reads = cart_reads
        self._writes = writes
        self._idempotent = idempotent
        self._deadline_ms = deadline_ms
        self._reserve_ms = reserve_ms

    async def view(self, shopper: str, context: RequestContext) -> PageDecision:
        return await self._service.view(self._ports(shopper, context), self._deadline(context))

    async def add(self, shopper: str, context: RequestContext, item: NewItem, idempotency_key: str) -> CartWrite:
        if self._idempotent is None:
            raise IdempotencyUnavailableError("Cart changes are unavailable: their retries cannot be made safe.")
        deadline = self._deadline(context)
        ports = self._ports(shopper, context, idempotency_key)
        # Validation first: a refused item (422) or an unverifiable one (5xx) never takes the key.
        refused = await self._service.check_product(item, ports, deadline)
        if refused is not None:
            return CartWrite(refused, replayed=False)

        async def write() -> dict[str, Any]:
            # A budget of its own, from when the key is held: the idempotency store's calls (the first one loads
            # boto3) must not eat the write's time, or a cold first write would time out before it is sent.
            decision = await self._service.add(item, ports, self._deadline(context))
            if isinstance(decision, PageFailure):
                raise WriteFailedError(decision)
            # Stored as text, so a replay sends the first answer's exact bytes (Powertools re-sorts JSON keys).
            return {"status": decision.status, "body": _json_text(decision.body)}

        body: dict[str, JsonValue] = {"productId": item.product_id, "quantity": item.quantity}
        try:
            answer = await self._idempotent.run(
                user=shopper,
                key=idempotency_key,
                body=body,
                write=write,
                lambda_context=context.lambda_context,
                deadline=self._deadline(context),
            )
        except WriteFailedError as failed:
            return CartWrite(failed.failure, replayed=False)
        return CartWrite(PageAnswer({}, (), status=answer.status), replayed=answer.replayed, body_json=answer.body)

    def _ports(self, shopper: str, context: RequestContext, idempotency_key: str | None = None) -> _Ports:
        return _Ports(
            self._sections,
            self._reads,
            self._batches,
            self._cart_reads,
            self._writes,
            shopper,
            context,
            idempotency_key,
        )

    def _deadline(self, context: RequestContext) -> Deadline:
        return Deadline.after_ms(page_budget_ms(self._deadline_ms, context.lambda_remaining_ms(), self._reserve_ms))


def _json_text(body: Mapping[str, JsonValue]) -> str:
    """As Starlette's JSONResponse renders JSON."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
