"""A request context for tests that call the fetch chain below the routes."""

from __future__ import annotations

from collections.abc import Mapping

from bff.core.context import RequestContext


def request_context(headers: Mapping[str, str] | None = None) -> RequestContext:
    """A request's context outside any app: `headers` are those that travel downstream."""
    return RequestContext(headers or {}, correlation_id="test", locale="en-US")


NO_CONTEXT = request_context()
