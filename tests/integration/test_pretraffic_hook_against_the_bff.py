"""The pre-traffic hook's verdict on what the real BFF handler answers, with the mocks as real processes."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

import pretraffic_hook
from tests.conftest import LambdaHandler, load_event
from tests.support.lambda_context import FakeLambdaContext

pytestmark = pytest.mark.integration


class HandlerAsLambda:
    """Lambda's Invoke, served by the handler in this process (what the hook would get from the new version)."""

    def __init__(self, handler: LambdaHandler) -> None:
        self.handler = handler

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        answer = self.handler(json.loads(kwargs["Payload"]), FakeLambdaContext())
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(answer).encode())}


def test_the_bff_passes_the_hooks_check_with_the_shipped_payload(bff_handler: LambdaHandler) -> None:
    # Given the BFF handler with healthy downstreams, and the hook's payload (events/bff-v2-P001.json)
    invoker = HandlerAsLambda(bff_handler)
    # When the hook checks it, Then the page counts as a 200 with a product
    verdict = pretraffic_hook.check_version(
        invoker, "arn:aws:lambda:eu-west-1:1:function:bff:1", load_event("bff-v2-P001.json")
    )
    assert verdict.passed, verdict.reason


def test_the_bff_fails_the_hooks_check_for_an_unknown_product(bff_handler: LambdaHandler) -> None:
    invoker = HandlerAsLambda(bff_handler)
    verdict = pretraffic_hook.check_version(
        invoker, "arn:aws:lambda:eu-west-1:1:function:bff:1", load_event("bff-v2-unknown.json")
    )
    assert not verdict.passed
    assert "status 404" in verdict.reason
