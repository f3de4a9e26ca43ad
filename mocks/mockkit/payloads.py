"""Response bodies: healthy JSON, RFC 9457 problem details, and the broken variants some faults serve."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus

type JsonValue = dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None
type Document = dict[str, JsonValue] | list[JsonValue]

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def encode(value: JsonValue) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def json_reply(status: int, value: JsonValue) -> Reply:
    return Reply(status, encode(value))


def problem_reply(status: int, detail: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    problem: JsonValue = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return Reply(status, encode(problem), PROBLEM_JSON, headers)


def truncated(reply: Reply) -> Reply:
    """The first half of a JSON document: a proper prefix of an object or array is never valid JSON."""
    return Reply(reply.status, reply.body[: len(reply.body) // 2], reply.content_type, reply.headers)


def inflated(document: Document, size_bytes: int) -> Document:
    """The document grown past size_bytes once encoded, keeping its top-level type: only its size is wrong."""
    if isinstance(document, list):
        items_bytes = len(encode(document)) - len(b"[]")
        return document * (size_bytes // max(items_bytes, 1) + 1)
    return {**document, "padding": "x" * size_bytes}
