"""The page operation as the app's own OpenAPI document describes it, with the models that check each answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

import bff.core.models
from bff.composition import build_app
from bff.downstream.http import create_http_client
from tests.support.settings import settings_for

type JsonObject = dict[str, Any]

_SCHEMA_REF_PREFIX = "#/components/schemas/"


@dataclass(frozen=True)
class DocumentedResponse:
    content_types: frozenset[str]
    model: type[BaseModel]
    fields: frozenset[str]


@dataclass(frozen=True)
class Operation:
    method: str
    path_template: str
    path_parameter: str
    responses: Mapping[int, DocumentedResponse]
    query_parameters: Mapping[str, JsonObject]
    """Each documented query parameter's OpenAPI object, by name."""

    def target(self, parameter_value: str, query: str = "") -> str:
        """The request target with the value percent-encoded into its one path segment, '/' included."""
        path = self.path_template.replace(f"{{{self.path_parameter}}}", quote(parameter_value, safe=""))
        return f"{path}?{query}" if query else path


def openapi_schema() -> JsonObject:
    settings = settings_for()
    return build_app(settings, create_http_client(settings)).openapi()


def operations_of(schema: JsonObject) -> list[Operation]:
    components: JsonObject = schema["components"]["schemas"]
    return [
        Operation(
            method=method.upper(),
            path_template=path,
            path_parameter=_single_path_parameter(operation),
            responses=_documented_responses(operation, components),
            query_parameters={
                parameter["name"]: parameter
                for parameter in operation.get("parameters", [])
                if parameter["in"] == "query"
            },
        )
        for path, path_item in schema["paths"].items()
        for method, operation in path_item.items()
    ]


def _single_path_parameter(operation: JsonObject) -> str:
    """The operation's one path parameter, or "" for a path without any (the batch route)."""
    names = [parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "path"]
    if len(names) > 1:
        raise ValueError(f"expected at most one path parameter, found {names}")
    return str(names[0]) if names else ""


def _documented_responses(operation: JsonObject, components: JsonObject) -> dict[int, DocumentedResponse]:
    """Statuses whose schema names one of the BFF's public models; the rest (FastAPI's 422) is never sent."""
    documented = {}
    for status, response in operation["responses"].items():
        content: JsonObject = response.get("content", {})
        # The BFF's own model; a media type whose schema is API Gateway's message is the gateway's answer.
        by_name = {
            media["schema"]["$ref"].removeprefix(_SCHEMA_REF_PREFIX): media_type
            for media_type, media in content.items()
            if "$ref" in media.get("schema", {})
        }
        models = {name: getattr(bff.core.models, name, None) for name in by_name}
        bff_models = {name: m for name, m in models.items() if isinstance(m, type) and issubclass(m, BaseModel)}
        if len(bff_models) != 1:
            continue
        ((name, model),) = bff_models.items()
        documented[int(status)] = DocumentedResponse(
            content_types=frozenset({by_name[name]}),
            model=model,
            fields=frozenset(components[name]["properties"]),
        )
    return documented
