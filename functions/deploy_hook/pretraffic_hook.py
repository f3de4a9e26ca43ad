"""CodeDeploy pre-traffic hook: invoke the new BFF version once and report whether it served a product page.

CodeDeploy calls this before shifting any traffic to the version in TARGET_VERSION_ARN; reporting Failed (or not
reporting at all before the hook times out) stops the deployment and leaves the alias where it was.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger("pretraffic_hook")
logger.setLevel(logging.INFO)

EVENT_FILE = Path(__file__).with_name("pretraffic_event.json")


class LambdaInvoker(Protocol):
    def invoke(self, **kwargs: Any) -> Any: ...


class LifecycleReporter(Protocol):
    def put_lifecycle_event_hook_execution_status(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str

    @property
    def status(self) -> str:
        return "Succeeded" if self.passed else "Failed"


def check_version(invoker: LambdaInvoker, version_arn: str, event: dict[str, Any]) -> Verdict:
    """Invoke the version synchronously with an API Gateway event; pass on a 200 whose body has product.id."""
    response = invoker.invoke(
        FunctionName=version_arn, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
    )
    raw = response["Payload"].read()
    if response.get("FunctionError"):
        return Verdict(passed=False, reason=f"the function raised ({response['FunctionError']})")
    return judge_answer(raw)


def judge_answer(raw: bytes) -> Verdict:
    try:
        answer = json.loads(raw)
        status = answer["statusCode"]
        body = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            body = base64.b64decode(body).decode()
        page = json.loads(body)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        return Verdict(passed=False, reason=f"not an API Gateway answer with a JSON body ({type(error).__name__})")
    if status != 200:
        return Verdict(passed=False, reason=f"status {status}, expected 200")
    product = page.get("product") if isinstance(page, dict) else None
    if not isinstance(product, dict) or not product.get("id"):
        return Verdict(passed=False, reason="the page has no product.id")
    return Verdict(passed=True, reason=f"200 with product {product['id']}")


def run_hook(
    hook_event: dict[str, Any],
    invoker: LambdaInvoker,
    reporter: LifecycleReporter,
    version_arn: str,
    event: dict[str, Any],
) -> Verdict:
    """Check the version and always report to CodeDeploy, even when the check itself fails unexpectedly."""
    try:
        verdict = check_version(invoker, version_arn, event)
    except Exception as error:  # any failure to check is a failed check, reported, never a hang
        verdict = Verdict(passed=False, reason=f"the check failed: {type(error).__name__}")
    logger.info(
        json.dumps(
            {"message": "pre-traffic check", "version": version_arn, "status": verdict.status, "reason": verdict.reason}
        )
    )
    reporter.put_lifecycle_event_hook_execution_status(
        deploymentId=hook_event["DeploymentId"],
        lifecycleEventHookExecutionId=hook_event["LifecycleEventHookExecutionId"],
        status=verdict.status,
    )
    return verdict


def lambda_handler(hook_event: dict[str, Any], _context: object) -> dict[str, str]:
    import boto3  # noqa: PLC0415 - the Lambda runtime's boto3; imported here so tests need no AWS configuration

    verdict = run_hook(
        hook_event,
        invoker=boto3.client("lambda"),
        reporter=boto3.client("codedeploy"),
        version_arn=os.environ["TARGET_VERSION_ARN"],
        event=json.loads(EVENT_FILE.read_text()),
    )
    return {"status": verdict.status, "reason": verdict.reason}
