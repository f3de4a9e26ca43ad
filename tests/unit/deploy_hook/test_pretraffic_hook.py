"""The CodeDeploy pre-traffic hook: its verdict on the new version's answer, and what it reports to CodeDeploy."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

import pretraffic_hook
from tests.support.tooling import REPO_ROOT

VERSION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:product-bff-dev-BffFunction:7"
HOOK_EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}
PAYLOAD = json.loads((REPO_ROOT / "events" / "bff-v2-P001.json").read_text())
PAGE: dict[str, Any] = {"product": {"id": "P001", "name": "Awesome Gadget P001"}, "reviews": [], "inventory": None}


def answer(status: int, body: object, *, base64_encoded: bool = False) -> bytes:
    text = body if isinstance(body, str) else json.dumps(body)
    if base64_encoded:
        text = base64.b64encode(text.encode()).decode()
    return json.dumps({"statusCode": status, "body": text, "isBase64Encoded": base64_encoded}).encode()


def streaming(raw: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(raw), len(raw))


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    lambda_client = boto3.client("lambda", region_name="eu-west-1")
    codedeploy = boto3.client("codedeploy", region_name="eu-west-1")
    with Stubber(lambda_client) as lambda_stub, Stubber(codedeploy) as codedeploy_stub:
        yield lambda_client, lambda_stub, codedeploy, codedeploy_stub
        lambda_stub.assert_no_pending_responses()
        codedeploy_stub.assert_no_pending_responses()


def expect_invoke(stub: Stubber, raw: bytes, function_error: str | None = None) -> None:
    response: dict[str, Any] = {"StatusCode": 200, "Payload": streaming(raw)}
    if function_error:
        response["FunctionError"] = function_error
    stub.add_response(
        "invoke",
        response,
        {"FunctionName": VERSION_ARN, "InvocationType": "RequestResponse", "Payload": json.dumps(PAYLOAD).encode()},
    )


def expect_report(stub: Stubber, status: str) -> None:
    stub.add_response(
        "put_lifecycle_event_hook_execution_status",
        {"lifecycleEventHookExecutionId": "hook-execution-1"},
        {"deploymentId": "d-ABCDEF123", "lifecycleEventHookExecutionId": "hook-execution-1", "status": status},
    )


def test_a_product_page_from_the_new_version_reports_succeeded(clients: tuple[Any, Stubber, Any, Stubber]) -> None:
    # Given the new version answers the events/ payload with a 200 and a product
    lambda_client, lambda_stub, codedeploy, codedeploy_stub = clients
    expect_invoke(lambda_stub, answer(200, PAGE))
    expect_report(codedeploy_stub, "Succeeded")
    # When the hook runs
    verdict = pretraffic_hook.run_hook(HOOK_EVENT, lambda_client, codedeploy, VERSION_ARN, PAYLOAD)
    # Then it invoked exactly that version and reported Succeeded (the stubs check both calls' parameters)
    assert verdict.passed, verdict.reason


@pytest.mark.parametrize(
    ("raw", "function_error", "reason"),
    [
        (answer(500, {"type": "about:blank", "status": 500}), None, "status 500"),
        (answer(200, {"product": None, "reviews": []}), None, "no product.id"),
        (answer(200, {"product": {"name": "no id"}}), None, "no product.id"),
        (b'{"errorMessage": "boom", "errorType": "RuntimeError"}', "Unhandled", "raised"),
        (b"not json", None, "not an API Gateway answer"),
        (answer(200, "<html>"), None, "not an API Gateway answer"),
    ],
)
def test_anything_but_a_product_page_reports_failed(
    clients: tuple[Any, Stubber, Any, Stubber], raw: bytes, function_error: str | None, reason: str
) -> None:
    lambda_client, lambda_stub, codedeploy, codedeploy_stub = clients
    expect_invoke(lambda_stub, raw, function_error)
    expect_report(codedeploy_stub, "Failed")
    verdict = pretraffic_hook.run_hook(HOOK_EVENT, lambda_client, codedeploy, VERSION_ARN, PAYLOAD)
    assert not verdict.passed
    assert reason in verdict.reason


def test_a_base64_encoded_page_is_decoded_before_judging() -> None:
    assert pretraffic_hook.judge_answer(answer(200, PAGE, base64_encoded=True)).passed


def test_an_invoke_that_fails_is_still_reported_as_failed(clients: tuple[Any, Stubber, Any, Stubber]) -> None:
    # Given Lambda refuses the invocation (e.g. the hook's role may not invoke that version)
    lambda_client, lambda_stub, codedeploy, codedeploy_stub = clients
    lambda_stub.add_client_error("invoke", service_error_code="AccessDeniedException", http_status_code=403)
    expect_report(codedeploy_stub, "Failed")
    # When the hook runs, Then CodeDeploy still hears Failed at once instead of waiting for the hook's timeout
    verdict = pretraffic_hook.run_hook(HOOK_EVENT, lambda_client, codedeploy, VERSION_ARN, PAYLOAD)
    assert not verdict.passed
    assert "ClientError" in verdict.reason


def test_the_hook_build_ships_the_events_payload_unchanged(tmp_path: Path) -> None:
    # One source of truth: the hook's Makefile copies events/bff-v2-P001.json at build time
    subprocess.run(
        [
            "make",
            "-s",
            "-f",
            "functions/deploy_hook/Makefile",
            "build-PreTrafficHook",
            f"ARTIFACTS_DIR={tmp_path}",
            f"PYTHON={sys.executable}",
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    shipped = tmp_path / pretraffic_hook.EVENT_FILE.name
    assert shipped.read_bytes() == (REPO_ROOT / "events" / "bff-v2-P001.json").read_bytes()
    assert (tmp_path / "pretraffic_hook.py").is_file()
