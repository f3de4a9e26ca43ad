"""The OpenAPI document as the app answers: errors as application/problem+json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bff.api.problems import PROBLEM_MEDIA_TYPE
from bff.core.models import Problem

_ERROR_STATUSES = (400, 404, 405, 500, 502, 503, 504)
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {status: {"model": Problem} for status in _ERROR_STATUSES}
NOT_MODIFIED_RESPONSE: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not Modified: If-None-Match names the page's current ETag. No body; the same ETag, "
        "Cache-Control and Vary."
    }
}


def problems_as_problem_json(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """The schema as the app answers: errors are application/problem+json, and request validation errors are
    400 problems (FastAPI would document them as 422 JSON)."""

    def openapi() -> dict[str, Any]:
        schema = build()
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                if "HTTPValidationError" in str(operation["responses"].get("422", "")):
                    operation["responses"].pop("422")  # FastAPI's own; a route's declared 422 stays
                for status, response in operation["responses"].items():
                    if int(status) >= 400:
                        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for unused in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(unused, None)
        return schema

    return openapi
