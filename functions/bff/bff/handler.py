"""Lambda entry point: FastAPI through Mangum, with one HTTP client and one event loop per environment."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from mangum import Mangum
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES
from mangum.protocols.http import HTTPCycle

from bff.api.events import CannotTranslate, normalise_event, problem_answer
from bff.api.middleware import RECORDER_SCOPE_KEY
from bff.api.problems import PROBLEM_MEDIA_TYPE
from bff.composition import compose, instrument_handler
from bff.config.discovery import discover
from bff.errors import UntranslatableEventError
from bff.observability.logging import logger
from bff.observability.metrics import InvocationRecord
from bff.observability.tracing import tracing_from
from bff.snapstart import initialising_for_a_snapshot, register_hooks

# The module-level client's pool is bound to the loop it first ran on: every invocation must use this one.
_loop = asyncio.new_event_loop()
asyncio.set_event_loop(_loop)

# Tracing from OpenTelemetry's variables: on when an OTLP endpoint is set (bff.observability.tracing).
_tracing = tracing_from(os.environ)
# Outside the request path: the services' URLs from their variables or the SSM registry (bff.config.discovery).
_settings, _registry = discover(tracing=_tracing)
composition = compose(_settings, registry=_registry, tracing=_tracing)
# The shared cache's client is created and connected now, during init, on the loop that will serve; under
# SnapStart after each restore instead (bff.snapstart).
if not initialising_for_a_snapshot():
    _loop.run_until_complete(composition.warm())
settings = composition.settings
http_client = composition.http_client
app = composition.app
# lifespan="off": "auto" would run startup and shutdown on every invocation.
_mangum = Mangum(app, lifespan="off", text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, PROBLEM_MEDIA_TYPE])
# Under SnapStart: warm before the snapshot, and after each restore reconnect and reseed `random`.
snapstart_hooks = register_hooks(_loop, composition, app)


def _handle(event: dict[str, Any], context: Any, record: InvocationRecord) -> dict[str, Any]:
    asyncio.set_event_loop(_loop)
    return _guarded_mangum(event, context, record)


def _guarded_mangum(event: Any, context: Any, record: InvocationRecord) -> dict[str, Any]:
    """Mangum translates the event before the app (and its catch-all) runs; events it cannot translate get a 400,
    and anything Mangum itself raises a 500, both problem+json in the event's payload format."""
    normalised = normalise_event(event, base_path=settings.api_base_path)
    if isinstance(normalised, CannotTranslate):
        correlation_id, answer = problem_answer(event, UntranslatableEventError(normalised.reason))
        logger.set_correlation_id(correlation_id)
        logger.warning("event cannot be translated", extra={"reason": normalised.reason, "status": 400})
        return answer
    try:
        return _serve(normalised.event, context, record)
    except Exception as error:
        correlation_id, answer = problem_answer(event, error)
        logger.set_correlation_id(correlation_id)
        logger.exception("the event adapter failed", extra={"status": 500})
        return answer


def _serve(event: dict[str, Any], context: Any, record: InvocationRecord) -> dict[str, Any]:
    """Mangum's own steps (lifespan off), with the invocation's record put in the ASGI scope, where the app's edge
    finds it (bff.api.middleware.recorder_of)."""
    adapter = _mangum.infer(event, context)
    scope = adapter.scope
    scope[RECORDER_SCOPE_KEY] = record
    return adapter(HTTPCycle(scope, adapter.body)(app))


lambda_handler = instrument_handler(_handle, composition.tracing)
