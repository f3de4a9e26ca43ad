"""The routes' dependencies: the request context, and the services the composition root put in `app.state`.

Routes take them as typed parameters (`context: RequestContextDep`, `services: ServicesDep`); tests replace
them with `app.dependency_overrides[services] = ...`. Every dependency is `async def`, so FastAPI calls it on the
event loop rather than in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, FastAPI, Request

from bff.api.middleware import correlation_id_of, recorder_of
from bff.api.propagation import downstream_headers
from bff.config.locales import negotiate_locale
from bff.config.settings import Settings
from bff.core.cart import CartWrite, NewItem
from bff.core.context import RequestContext
from bff.core.policy import PageDecision
from bff.core.sections import Page
from bff.core.service import PageService


class CartRequests(Protocol):
    """The cart use case (bff.writes.cart_requests), which the inbound edge may not import."""

    async def view(self, shopper: str, context: RequestContext) -> PageDecision: ...

    async def add(self, shopper: str, context: RequestContext, item: NewItem, idempotency_key: str) -> CartWrite: ...


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes call, built once by the composition root and kept in `app.state.services`.

    One dependency for all of them, not one each: every dependency FastAPI solves costs about fifty Python calls
    per request (about 80,000 instructions), and a page needs four of these."""

    settings: Settings
    page: Page
    """The product page's declaration: its sections' names and services."""
    pages: PageService
    """One page per request (`render`): each section read by id."""
    batches: PageService
    """Many pages per request (`render_many`): each section read in chunks where its service has a batch endpoint."""
    carts: CartRequests
    section_names: tuple[str, ...] = field(init=False)
    """The page's sections, as `include` names them."""
    section_services: Mapping[str, str] = field(init=False)
    """Each section's service, as the canonical log line names it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "section_names", tuple(section.name for section in self.page.sections))
        object.__setattr__(self, "section_services", {section.name: section.service for section in self.page.sections})


def provide(app: FastAPI, services: Services) -> None:
    """Puts the composed services where the `services` dependency finds them (called by the composition root)."""
    app.state.services = services


async def services(request: Request) -> Services:
    composed: Services = request.app.state.services
    return composed


ServicesDep = Annotated[Services, Depends(services)]


async def request_context(request: Request) -> RequestContext:
    """The headers that travel downstream, the correlation id, the negotiated locale, the Lambda context and the
    invocation's recorder (the trace travels in OpenTelemetry's context: bff.observability.tracing)."""
    scope = request.scope
    correlation_id = correlation_id_of(scope)
    headers = request.headers
    composed: Services = request.app.state.services
    return RequestContext(
        downstream_headers(correlation_id=correlation_id),
        correlation_id,
        negotiate_locale(headers.get("accept-language"), composed.settings.locales()),
        scope.get("aws.context"),
        recorder_of(scope),
    )


RequestContextDep = Annotated[RequestContext, Depends(request_context)]
