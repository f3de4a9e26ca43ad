"""Exchanges the fleet's breaker state with the shared store beside each request, never in its way.

When the environment's copy is due (bff.resilience.fleet_breaker), or failures of earlier requests wait to be
reported, a sync starts as the request starts and runs while the page waits for its services (a probe's verdict
starts one during the request). When the response is ready a sync still running is cancelled (that request's,
never another's): the page never waits for the store, and nothing runs after the response (Lambda freezes the
environment then). Reports it had not sent go at the next request's start.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from bff.resilience.fleet_breaker import FleetBreakers, FleetTransitionListener

type ListenerOf = Callable[[Scope], FleetTransitionListener | None]


def _no_listener(scope: Scope) -> None:
    del scope


class FleetSyncMiddleware:
    """`listener_of(scope)` is the request's own hearer of the fleet's state changes (its recorder's), so that a
    change learnt during a request is counted in that request's one line."""

    def __init__(self, app: ASGIApp, fleet: FleetBreakers, listener_of: ListenerOf = _no_listener) -> None:
        self.app = app
        self.fleet = fleet
        self.listener_of = listener_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = self.fleet.begin_request(self.listener_of(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            await self.fleet.end_request(request)
