"""API Gateway events made safe for Mangum 0.22, before it translates them into an ASGI request.

Mangum raises on events that API Gateway or a test tool can send (a GET flagged base64 with a text body, an
`x-forwarded-port` of "443,443", a host with two colons, null headers), and then the app never runs. Each rule
below removes one way Mangum can fail, keeping what the request means:
- only API Gateway proxy events: payload 2.0 (`version` "2.0" with `requestContext.http`) or 1.0 (`httpMethod`),
  with a method and a string path; anything else cannot be translated;
- a GET or HEAD has no body: body and `isBase64Encoded` are dropped;
- any other body must be text, and when flagged base64 (only `true` counts) it must decode as Mangum decodes it;
- headers, `multiValueHeaders`, `cookies` and query parameters that are not of their type become empty, and entries
  that are not text (or cannot be encoded as UTF-8) are dropped;
- Mangum reads the server port from `host` ("name:port") or `x-forwarded-port`: a host whose port is not one integer
  becomes `requestContext.domainName` (or is dropped), and `x-forwarded-port` keeps its first integer (or is dropped);
- a missing `requestContext.identity` or `sourceIp` becomes empty; a v1 event without `resource` gets one, so that
  Mangum recognises it;
- a named HTTP API stage (`/{stage}` in front of the path; not `$default`) is stripped, and then the configured base
  path. REST events (payload 1.0 without `version`) carry the path without the stage, so only the base path applies.
The event given is never changed: the normalised one is a copy where anything changed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeIs

from bff.api.failures import failure_response
from bff.observability.correlation import CORRELATION_HEADER, correlation_id_for

type PayloadVersion = Literal["1.0", "2.0"]
_BODYLESS_METHODS: Final = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Translatable:
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CannotTranslate:
    reason: str


def payload_version(event: object) -> PayloadVersion:
    """The response format the caller expects: 2.0 only when the event says so."""
    return "2.0" if isinstance(event, Mapping) and event.get("version") == "2.0" else "1.0"


def normalise_event(event: object, *, base_path: str = "") -> Translatable | CannotTranslate:
    if not isinstance(event, Mapping):
        return CannotTranslate("the event is not a JSON object")
    context = event.get("requestContext")
    if isinstance(context, Mapping) and "elb" in context:
        return CannotTranslate("the event comes from a load balancer, not API Gateway")
    if event.get("version") == "2.0":
        return _normalise_v2(dict(event), base_path)
    if "httpMethod" in event:
        return _normalise_v1(dict(event), base_path)
    return CannotTranslate("the event is not an API Gateway proxy request")


def _normalise_v2(event: dict[str, Any], base_path: str) -> Translatable | CannotTranslate:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    if not isinstance(context, Mapping) or not isinstance(http, Mapping):
        return CannotTranslate("a payload 2.0 event without requestContext.http")
    context, http = dict(context), dict(http)
    method = http.get("method")
    path = http.get("path") if isinstance(http.get("path"), str) else event.get("rawPath")
    if not _is_method(method) or not isinstance(path, str):
        return CannotTranslate("a payload 2.0 event without a method or a path")
    path = _strip_prefixes(path, context.get("stage"), base_path)
    raw_path = event.get("rawPath")
    event["rawPath"] = _strip_prefixes(raw_path, context.get("stage"), base_path) if isinstance(raw_path, str) else path
    http.update(path=path, sourceIp=_text_or_none(http.get("sourceIp")))
    context["http"] = http
    event["requestContext"] = context
    headers = _single_value_headers(event.get("headers"))
    event["headers"] = _safe_server_headers(headers, context)
    if not isinstance(event.get("rawQueryString"), str):
        event["rawQueryString"] = ""
    cookies = event.get("cookies")
    event["cookies"] = [cookie for cookie in cookies if _is_text(cookie)] if isinstance(cookies, list) else []
    return _with_safe_body(event, method)


def _normalise_v1(event: dict[str, Any], base_path: str) -> Translatable | CannotTranslate:
    method, path = event.get("httpMethod"), event.get("path")
    if not _is_method(method) or not (path is None or isinstance(path, str)):
        return CannotTranslate("a payload 1.0 event without a method or with a path that is not text")
    raw_context = event.get("requestContext")
    context = dict(raw_context) if isinstance(raw_context, Mapping) else {}
    identity = context.get("identity")
    context["identity"] = dict(identity) if isinstance(identity, Mapping) else {}
    context["identity"]["sourceIp"] = _text_or_none(context["identity"].get("sourceIp"))
    event["requestContext"] = context
    if "resource" not in event and "version" not in event:
        event["resource"] = None
    if isinstance(path, str):
        # HTTP API's payload 1.0 (it has `version`) keeps the stage in the path; a REST API's `path` never has it.
        stage = context.get("stage") if event.get("version") == "1.0" else None
        event["path"] = _strip_prefixes(path, stage, base_path)
    headers = _safe_server_headers(_single_value_headers(event.get("headers")), context)
    multi = _multi_value_headers(event.get("multiValueHeaders"))
    event["headers"], event["multiValueHeaders"] = headers, _safe_multi_server_headers(multi, headers, context)
    event["queryStringParameters"] = _query(event.get("queryStringParameters"))
    event["multiValueQueryStringParameters"] = _multi_value_query(event.get("multiValueQueryStringParameters"))
    return _with_safe_body(event, method)


def _with_safe_body(event: dict[str, Any], method: str) -> Translatable | CannotTranslate:
    if method.upper() in _BODYLESS_METHODS:
        event["body"], event["isBase64Encoded"] = None, False
        return Translatable(event)
    body, is_base64 = event.get("body"), event.get("isBase64Encoded") is True
    event["isBase64Encoded"] = is_base64
    if body is None or body == "":
        return Translatable(event)
    if not _is_text(body):
        return CannotTranslate("the body is not text")
    if is_base64:
        try:
            base64.b64decode(body)  # as Mangum decodes it: without validate=True
        except (binascii.Error, ValueError):
            return CannotTranslate("the body is flagged base64 but does not decode")
    return Translatable(event)


def _is_method(value: object) -> TypeIs[str]:
    return isinstance(value, str) and value.isascii() and value.isalpha()


def _is_text(value: object) -> TypeIs[str]:
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry
        return False
    return True


def _text_or_none(value: object) -> str | None:
    return value if _is_text(value) else None


def _single_value_headers(raw: object) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(name).lower(): value for name, value in raw.items() if _is_text(name) and _is_text(value)}


def _multi_value_headers(raw: object) -> dict[str, list[str]]:
    if not isinstance(raw, Mapping):
        return {}
    headers: dict[str, list[str]] = {}
    for name, values in raw.items():
        if _is_text(name) and isinstance(values, list):
            headers[str(name).lower()] = [value for value in values if _is_text(value)]
    return headers


def _query(raw: object) -> dict[str, str] | None:
    if not isinstance(raw, Mapping):
        return None
    return {key: value for key, value in raw.items() if _is_text(key) and _is_text(value)}


def _multi_value_query(raw: object) -> dict[str, list[str]] | None:
    if not isinstance(raw, Mapping):
        return None
    return {
        key: [value for value in values if _is_text(value)]
        for key, values in raw.items()
        if _is_text(key) and isinstance(values, list)
    }


def _port(value: str) -> int | None:
    try:
        return int(value)  # as Mangum parses it
    except ValueError:
        return None


def _host_is_safe(host: str) -> bool:
    """Mangum splits a host on ':' into exactly a name and an integer port."""
    if ":" not in host:
        return True
    parts = host.split(":")
    return len(parts) == 2 and _port(parts[1]) is not None


def _fallback_host(context: Mapping[str, Any]) -> str | None:
    domain = context.get("domainName")
    return domain if _is_text(domain) and _host_is_safe(domain) else None


def _first_port(value: str) -> str | None:
    ports = [part.strip() for part in value.split(",") if _port(part.strip()) is not None]
    return ports[0] if ports else None


def _safe_server_headers(headers: dict[str, str], context: Mapping[str, Any]) -> dict[str, str]:
    host = headers.get("host")
    if host is not None and not _host_is_safe(host):
        _set_or_drop(headers, "host", _fallback_host(context))
    port = headers.get("x-forwarded-port")
    if port is not None and _port(port) is None:
        _set_or_drop(headers, "x-forwarded-port", _first_port(port))
    return headers


def _safe_multi_server_headers(
    multi: dict[str, list[str]], headers: Mapping[str, str], context: Mapping[str, Any]
) -> dict[str, list[str]]:
    """Mangum joins each list with ", " and lets it override the single-value header of that name."""
    for name in ("host", "x-forwarded-port"):
        if name not in multi:
            continue
        joined = ", ".join(multi[name])
        if name == "host":
            value: str | None = joined if _host_is_safe(joined) else headers.get("host") or _fallback_host(context)
        else:
            value = joined if _port(joined) is not None else _first_port(joined)
        if value is None:
            del multi[name]
        else:
            multi[name] = [value]
    return multi


def _set_or_drop(headers: dict[str, str], name: str, value: str | None) -> None:
    if value is None:
        headers.pop(name, None)
    else:
        headers[name] = value


def _strip_prefixes(path: str, stage: object, base_path: str) -> str:
    if isinstance(stage, str) and stage and stage != "$default":
        path = _strip_prefix(path, f"/{stage}")
    return _strip_prefix(path, base_path) if base_path else path


def _strip_prefix(path: str, prefix: str) -> str:
    """Only a whole leading segment: "/shop" strips "/shop/x" and "/shop", never "/shopping"."""
    if path == prefix:
        return "/"
    return path[len(prefix) :] if path.startswith(f"{prefix}/") else path


def problem_answer(event: object, failure: object) -> tuple[str, dict[str, Any]]:
    """The correlation id and an API Gateway response with the failure's problem+json body (from the one failure
    map), in the event's payload format, for events that never reach the app."""
    headers = _single_value_headers(event.get("headers")) if isinstance(event, Mapping) else {}
    raw_context = event.get("requestContext") if isinstance(event, Mapping) else None
    context = raw_context if isinstance(raw_context, Mapping) else {}
    correlation_id = correlation_id_for(headers, {"requestContext": context})
    response = failure_response(failure, correlation_id=correlation_id, instance=None)
    answer: dict[str, Any] = {
        "statusCode": response.status_code,
        "headers": {
            **dict(response.headers),
            CORRELATION_HEADER: correlation_id,
            "x-content-type-options": "nosniff",
        },
        "body": bytes(response.body).decode(),
        "isBase64Encoded": False,
    }
    if payload_version(event) == "1.0":
        answer["multiValueHeaders"] = {}
    return correlation_id, answer
