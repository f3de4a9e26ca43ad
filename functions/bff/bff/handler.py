"""Lambda entry point: FastAPI through Mangum, with one HTTP client and one event loop per environment."""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from bff.api import create_app
from bff.event_guard import CannotTranslate, normalise_event, problem_answer
from bff.http_client import create_http_client
from bff.observability import instrument_handler, logger
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
    return _guarded_mangum(event, context)


def _guarded_mangum(event: Any, context: Any) -> dict[str, Any]:
    """Mangum translates the event before the app (and its catch-all) runs; events it cannot translate get a 400,
    and anything Mangum itself raises a 500, both problem+json in the event's payload format."""
    verdict = normalise_event(event, base_path=settings.api_base_path)
    if isinstance(verdict, CannotTranslate):
        correlation_id, answer = problem_answer(
            event, status=400, slug="untranslatable-event", detail="The request could not be read."
        )
        logger.set_correlation_id(correlation_id)
        logger.warning("event cannot be translated", extra={"reason": verdict.reason, "status": 400})
        return answer
    try:
        return _mangum(verdict.event, context)
    except Exception:
        correlation_id, answer = problem_answer(
            event, status=500, slug="internal-error", detail="The request could not be completed."
        )
        logger.set_correlation_id(correlation_id)
        logger.exception("the event adapter failed", extra={"status": 500})
        return answer


lambda_handler = instrument_handler(_handle)
