"""boto3 clients for the BFF's AWS dependencies (the idempotency store, the service registry).

Each call has an explicit connect and read timeout and one attempt: botocore's defaults (60 s timeouts, retries
with backoff up to 20 s) would let one unreachable store hold a request for tens of seconds. Retries belong to the
caller, which knows its deadline and budget. A 2xx answer whose body is not a JSON object (a proxy's page, a
truncated body) is a failure too: botocore would read it as an empty answer, and a write would pass as saved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bff.observability.tracing import NO_TRACING, Span, Tracing


class MalformedAwsAnswerError(Exception):
    """An AWS JSON endpoint answered 2xx with a body that is not a JSON object."""


@dataclass(frozen=True, slots=True)
class AwsCallLimits:
    connect_timeout_s: float
    read_timeout_s: float

    @property
    def attempt_s(self) -> float:
        """The longest one call can take: a connection, then an answer."""
        return self.connect_timeout_s + self.read_timeout_s


def bounded_client(service: str, limits: AwsCallLimits, tracing: Tracing = NO_TRACING) -> Any:
    """A boto3 client of `service` ("dynamodb", "ssm") with these timeouts and one attempt per call; its endpoint
    comes from the environment (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SSM) as usual. Each call is a CLIENT
    span of `tracing` when tracing is on."""
    import boto3  # noqa: PLC0415 - boto3 costs cold-start time; loaded with the first client
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        connect_timeout=limits.connect_timeout_s,
        read_timeout=limits.read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    client = boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]
    client.meta.events.register(f"before-parse.{service}", refuse_malformed_answer)
    if tracing.enabled:
        trace_calls(client, service, tracing)
    return client


def trace_calls(client: Any, service: str, tracing: Tracing) -> None:
    """A CLIENT span per call of this one client, from botocore's own events: the request context carries it from
    `before-call` to `after-call` (an AWS error answer included) or `after-call-error` (no answer). Ours rather
    than opentelemetry-instrumentation-botocore, which patches every botocore client of the process and would add
    a package to the layer for two clients."""

    def start(model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bff_span"] = tracing.store(f"aws.{service}", model.name, service).__enter__()

    def end(http_response: Any, parsed: Any, context: dict[str, Any], **_: Any) -> None:
        span: Span | None = context.pop("bff_span", None)
        if span is not None:
            span.set("http.response.status_code", getattr(http_response, "status_code", None))
            error = parsed.get("Error") if isinstance(parsed, dict) else None
            if isinstance(error, dict) and error.get("Code"):  # an AWS error answer (botocore raises it next)
                span.fail(str(error["Code"]))
            span.__exit__(None, None, None)

    def fail(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        span: Span | None = context.pop("bff_span", None)
        if span is not None:
            span.fail(type(exception).__name__)
            span.__exit__(None, None, None)

    client.meta.events.register(f"before-call.{service}", start)
    client.meta.events.register(f"after-call.{service}", end)
    client.meta.events.register(f"after-call-error.{service}", fail)


def refuse_malformed_answer(response_dict: dict[str, Any], **_: Any) -> None:
    """botocore's before-parse hook: a 2xx body must be a JSON object (AWS JSON protocols always send one)."""
    if not 200 <= int(response_dict.get("status_code", 0)) < 300:
        return  # error answers become botocore's ClientError, malformed or not
    try:
        document = json.loads(response_dict.get("body") or b"")
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise MalformedAwsAnswerError("the answer is not a JSON object")
