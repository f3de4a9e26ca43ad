"""Lambda entry point: FastAPI through Mangum, with one HTTP client and one event loop per environment."""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from bff.api import create_app
from bff.http_client import create_http_client
from bff.observability import instrument_handler
from bff.problems import PROBLEM_MEDIA_TYPE
from bff.settings import Settings

# The module-level client's pool is bound to the loop it first ran on: every invocation must use this one.
_loop = asyncio.new_event_loop()
asyncio.set_event_loop(_loop)

settings = Settings.from_env()
http_client = create_http_client(settings)
app = create_app(settings, http_client)
# lifespan="off": "auto" would run startup and shutdown on every invocation.
_mangum = Mangum(app, lifespan="off", text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, PROBLEM_MEDIA_TYPE])


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    asyncio.set_event_loop(_loop)
    return _mangum(event, context)


lambda_handler = instrument_handler(_handle)
