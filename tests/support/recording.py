"""The app as the handler serves it, with a recorder the test holds: the handler puts each invocation's record in
the ASGI scope (bff.handler), where the edge and the request context find it (bff.api.middleware.recorder_of)."""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from bff.api.middleware import RECORDER_SCOPE_KEY
from bff.core.recording import Recorder


def recorded(app: ASGIApp, recorder: Recorder) -> ASGIApp:
    """`app`, every request of which records into `recorder`."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, RECORDER_SCOPE_KEY: recorder}, receive, send)

    return serve


def recorded_client(app: ASGIApp, recorder: Recorder) -> httpx.AsyncClient:
    """A client of `app` whose every request records into `recorder`."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=recorded(app, recorder)), base_url="http://bff.test")
