"""Lambda entry point: FastAPI through Mangum, with one HTTP client and one event loop per environment."""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from bff.api.problems import PROBLEM_MEDIA_TYPE
from bff.composition import compose, instrument_handler
from bff.settings import Settings

# The module-level client's pool is bound to the loop it first ran on: every invocation must use this one.
_loop = asyncio.new_event_loop()
asyncio.set_event_loop(_loop)

composition = compose(Settings.from_env())
settings = composition.settings
http_client = composition.http_client
app = composition.app
# lifespan="off": "auto" would run startup and shutdown on every invocation.
_mangum = Mangum(app, lifespan="off", text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, PROBLEM_MEDIA_TYPE])


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    asyncio.set_event_loop(_loop)
    return _mangum(event, context)


lambda_handler = instrument_handler(_handle)
