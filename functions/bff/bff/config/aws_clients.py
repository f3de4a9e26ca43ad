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


def bounded_client(service: str, limits: AwsCallLimits) -> Any:
    """A boto3 client of `service` ("dynamodb", "ssm") with these timeouts and one attempt per call; its endpoint
    comes from the environment (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SSM) as usual."""
    import boto3  # noqa: PLC0415 - boto3 costs cold-start time; loaded with the first client
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        connect_timeout=limits.connect_timeout_s,
        read_timeout=limits.read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    client = boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]
    client.meta.events.register(f"before-parse.{service}", refuse_malformed_answer)
    return client


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
