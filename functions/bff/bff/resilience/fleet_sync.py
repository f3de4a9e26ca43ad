"""Exchanges the fleet's breaker state with the shared store beside each request, never in its way.

When the environment's copy is due (bff.resilience.fleet_breaker), a sync starts as the request starts and runs
while the page waits for its services. When the response is ready the sync is cancelled if it has not finished:
the page never waits for the store, and nothing runs after the response (Lambda freezes the environment then).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from bff.resilience.fleet_breaker import FleetBreakers


class FleetSyncMiddleware:
    def __init__(self, app: ASGIApp, fleet: FleetBreakers) -> None:
        self.app = app
        self.fleet = fleet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.fleet.is_due():
            await self.app(scope, receive, send)
            return
        sync = asyncio.get_running_loop().create_task(self.fleet.sync())
        try:
            await self.app(scope, receive, send)
        finally:
            await cut_off(sync)


async def cut_off(task: asyncio.Task[None]) -> None:
    """Cancels the task unless it has ended, and waits for it to unwind (it holds no lock and awaits nothing
    once cancelled, so this takes one turn of the loop)."""
    if not task.done():
        task.cancel()
    await asyncio.wait((task,))
    if not task.cancelled():
        task.exception()  # retrieved: sync() keeps its own errors, so this is None
